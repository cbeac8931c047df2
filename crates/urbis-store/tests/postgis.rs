//! The PostGIS backend on a real server: its tables against the core schemas, and what only
//! this backend does (COPY, KNN on geography, server-side errors). The behaviour both stores
//! share is tested once for both in the top-level `tests/stores.rs`.
//!
//! Run with `bash tests/run.sh -p urbis-store`, which starts a throwaway PostGIS; without
//! `URBIS_TEST_PG_URL` these tests fail rather than skip.

#![cfg(feature = "postgis-tests")]

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use geo_types::{coord, point, Coord, Geometry, LineString, MultiLineString, MultiPolygon, Point, Polygon, Rect};
use serde_json::json;
use sqlx::{Connection, PgConnection, Row};
use urbis_core::{Feature, FieldType, GeometryKind, LayerId};
use urbis_store::postgis::{migrate, PostgisStore};
use urbis_store::{AttributeFilter, Comparison, Query, Store, StoreError, StoreKind};

/// PostGIS's sphere for `use_spheroid => false`: the mean radius (2a + b) / 3 of WGS 84.
const SPHERE_RADIUS_M: f64 = 6_371_008.771_415_06;

async fn fresh() -> (String, PostgisStore) {
    let url = support::fresh_database().await;
    migrate(&url).await.unwrap();
    let store = PostgisStore::connect(&url).await.unwrap();
    (url, store)
}

fn square(id: &str, x: f64, y: f64, side: f64) -> Feature {
    let ring = LineString::from(vec![(x, y), (x + side, y), (x + side, y + side), (x, y + side), (x, y)]);
    Feature::new(id, Some(MultiPolygon(vec![Polygon::new(ring, vec![])]).into())).with("code", id)
}

fn ids(features: &[Feature]) -> Vec<&str> {
    features.iter().map(|f| f.id.as_str()).collect()
}

/// What information_schema must say of a column of each field type.
fn sql_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Text => "text",
        FieldType::Integer => "bigint",
        FieldType::Real => "double precision",
        FieldType::Boolean => "boolean",
        FieldType::Date => "date",
        FieldType::DateTime => "timestamp with time zone",
        FieldType::Json => "jsonb",
    }
}

#[tokio::test]
async fn migrations_match_the_core_schemas() {
    let (url, _store) = fresh().await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    for layer in LayerId::ALL {
        let schema = layer.schema();
        // (name, type, nullable), in table order.
        let mut expected = vec![("fid".to_string(), "bigint".to_string(), false), ("id".into(), "text".into(), false)];
        if schema.has_geometry() {
            expected.push(("geom".into(), "geometry".into(), !schema.geometry_required));
        }
        for f in schema.fields {
            expected.push((f.name.to_string(), sql_type(f.ty).to_string(), true));
        }
        expected.push(("extra".into(), "jsonb".into(), false));

        let rows = sqlx::query(
            "SELECT column_name::text, CASE WHEN data_type = 'USER-DEFINED' THEN udt_name::text ELSE data_type::text END, \
             is_nullable = 'YES' FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(layer.name())
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let actual: Vec<(String, String, bool)> =
            rows.iter().map(|r| (r.get::<String, _>(0), r.get::<String, _>(1), r.get::<bool, _>(2))).collect();
        assert_eq!(actual, expected, "table {layer} differs from urbis-core's schema (migrations/ vs layer.rs)");

        // The geometry column's declared type and SRID.
        let declared: Option<(String, i32)> = sqlx::query_as(
            "SELECT type::text, srid FROM geometry_columns WHERE f_table_name = $1 AND f_geometry_column = 'geom'",
        )
        .bind(layer.name())
        .fetch_optional(&mut conn)
        .await
        .unwrap();
        match schema.geometry {
            GeometryKind::None => assert_eq!(declared, None, "{layer}"),
            kind => assert_eq!(declared, Some((kind.sql_name().unwrap().to_string(), 4326)), "{layer}"),
        }

        // Every layer with geometry has a planar index, and no geography index (distances select
        // through the planar one; see migrations/20261123170000_no_geography_indexes.sql).
        let indexes: Vec<String> = sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE tablename = $1")
            .bind(layer.name())
            .fetch_all(&mut conn)
            .await
            .unwrap();
        if schema.has_geometry() {
            assert!(indexes.iter().any(|d| d.contains("USING gist (geom)")), "{layer}: {indexes:?}");
            assert!(!indexes.iter().any(|d| d.contains("geography")), "{layer}: {indexes:?}");
        }
    }
    for (table, column) in [
        ("parcels", "code"),
        ("zoning_districts", "code"),
        ("permits", "tracking_code"),
        ("permit_events", "permit_id"),
        ("procedures", "code"),
    ] {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE $2")
            .bind(table)
            .bind(format!("%USING btree ({column})"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 1, "no btree index on {table}.{column}");
    }
}

#[tokio::test]
async fn a_database_without_the_migrations_is_refused() {
    let url = support::fresh_database().await;
    match PostgisStore::connect(&url).await {
        Err(e @ StoreError::NotUrbis { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("urbis migrate --store"), "{msg}");
            assert!(!msg.contains("postgres@"), "the location shows no user: {msg}");
        }
        Err(other) => panic!("expected NotUrbis, got {other}"),
        Ok(_) => panic!("an empty database was accepted"),
    }
    // Migrating twice is harmless.
    migrate(&url).await.unwrap();
    migrate(&url).await.unwrap();
    let store = PostgisStore::connect(&url).await.unwrap();
    assert_eq!(store.kind(), StoreKind::PostGis);
    assert!(store.location().starts_with("127.0.0.1:") || store.location().contains(':'), "{}", store.location());
    assert!(store.location().ends_with(url.rsplit('/').next().unwrap()), "{}", store.location());
}

#[tokio::test]
async fn create_get_replace_delete_and_duplicates() {
    let (_, store) = fresh().await;
    let mut a = square("a", 10.0, 50.0, 0.01)
        .with("address", "")
        .with("area_m2", 1234.5)
        .with("dwelling_units", 3)
        .with("public_owner", false);
    a.extra.insert("note".into(), json!({"from": "import", "n": [1, 2.5, null]}));
    store.create(LayerId::Parcels, std::slice::from_ref(&a)).await.unwrap();
    // The empty text stays empty text; absent fields stay absent.
    assert_eq!(store.get(LayerId::Parcels, "a").await.unwrap(), Some(a.clone()));

    let instant = Feature::new("e-1", None)
        .with("permit_id", "d-1")
        .with("seq", 1)
        .with("at", "2024-05-01T09:30:00.000Z")
        .with("kind", "received");
    store.create(LayerId::PermitEvents, std::slice::from_ref(&instant)).await.unwrap();
    assert_eq!(store.get(LayerId::PermitEvents, "e-1").await.unwrap(), Some(instant));

    let a2 = square("a", 11.0, 51.0, 0.02).with("land_use", "Residential");
    store.replace(LayerId::Parcels, &a2).await.unwrap();
    assert_eq!(store.get(LayerId::Parcels, "a").await.unwrap(), Some(a2));

    match store.create(LayerId::Parcels, &[square("b", 0.0, 0.0, 1.0), square("a (2)", 0.0, 0.0, 1.0), a.clone()]).await
    {
        Err(StoreError::DuplicateId { layer, id }) => assert_eq!((layer, id.as_str()), (LayerId::Parcels, "a")),
        other => panic!("expected DuplicateId, got {other:?}"),
    }
    // Ids with parentheses are read back whole from the server's message.
    store.create(LayerId::Parcels, &[square("x (1)", 0.0, 0.0, 1.0)]).await.unwrap();
    match store.create(LayerId::Parcels, &[square("x (1)", 0.0, 0.0, 1.0)]).await {
        Err(StoreError::DuplicateId { id, .. }) => assert_eq!(id, "x (1)"),
        other => panic!("expected DuplicateId, got {other:?}"),
    }
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 2);

    assert!(matches!(
        store.replace(LayerId::Parcels, &square("zz", 0.0, 0.0, 1.0)).await,
        Err(StoreError::NotFound { .. })
    ));
    store.delete(LayerId::Parcels, "x (1)").await.unwrap();
    assert!(matches!(store.delete(LayerId::Parcels, "x (1)").await, Err(StoreError::NotFound { .. })));

    // What PostGIS would refuse is refused first, naming the feature.
    let polygon =
        Feature::new("poly", Some(Polygon::new(LineString::from(vec![(0., 0.), (1., 0.), (0., 1.)]), vec![]).into()));
    match store.create(LayerId::Parcels, &[polygon]).await {
        Err(StoreError::InvalidFeature { id, reason, .. }) => assert!(id == "poly" && reason.contains("MULTIPOLYGON")),
        other => panic!("expected InvalidFeature, got {other:?}"),
    }
    let no_geometry = Feature::new("none", None).with("code", "none");
    assert!(matches!(store.create(LayerId::Parcels, &[no_geometry]).await, Err(StoreError::InvalidFeature { .. })));
    let unknown = square("u", 0.0, 0.0, 1.0).with("height", 3);
    assert!(matches!(store.create(LayerId::Parcels, &[unknown]).await, Err(StoreError::UnknownField { .. })));
    let wrong_type = square("w", 0.0, 0.0, 1.0).with("dwelling_units", "many");
    assert!(matches!(store.create(LayerId::Parcels, &[wrong_type]).await, Err(StoreError::InvalidFeature { .. })));
    // A permit may have no site yet.
    let permit = Feature::new("d-1", None).with("tracking_code", "T-1").with("stage", "received");
    store.create(LayerId::Permits, std::slice::from_ref(&permit)).await.unwrap();
    assert_eq!(store.get(LayerId::Permits, "d-1").await.unwrap(), Some(permit));
}

#[tokio::test]
async fn query_by_bbox_filters_order_and_pages() {
    let (_, store) = fresh().await;
    // Ids and names whose byte order differs from a natural-language collation.
    let names = [("B", "b"), ("a", "B"), ("Z", "a"), ("_x", "Ä"), ("a-1", "z")];
    let mut features = vec![];
    for (i, (id, name)) in names.iter().enumerate() {
        let x = i as f64;
        let mut f = square(id, x, 0.0, 0.5).with("land_use", *name).with("stories", i as f64 * 1.5);
        if i % 2 == 0 {
            f.attributes.insert("dwelling_units".into(), json!(i as i64 * 10));
        }
        features.push(f);
    }
    store.create(LayerId::Parcels, &features).await.unwrap();

    let all = store.query(LayerId::Parcels, &Query::all()).await.unwrap();
    assert_eq!(ids(&all), ["B", "Z", "_x", "a", "a-1"]);

    // A box touching the edge of one square and inside another.
    let q = Query::all().bbox(Rect::new(coord! { x: 1.5, y: 0.2 }, coord! { x: 2.2, y: 0.3 }));
    assert_eq!(ids(&store.query(LayerId::Parcels, &q).await.unwrap()), ["Z", "a"]);

    let mut q = Query::all();
    q.order_by = vec![("land_use".into(), false)];
    assert_eq!(ids(&store.query(LayerId::Parcels, &q).await.unwrap()), ["a", "Z", "B", "a-1", "_x"]);
    q.order_by = vec![("dwelling_units".into(), true)];
    // Descending, absent values last, ties by id.
    assert_eq!(ids(&store.query(LayerId::Parcels, &q).await.unwrap()), ["a-1", "Z", "B", "_x", "a"]);
    q.order_by = vec![("id".into(), true)];
    assert_eq!(ids(&store.query(LayerId::Parcels, &q).await.unwrap()), ["a-1", "a", "_x", "Z", "B"]);
    q = q.limit(2).offset(1);
    assert_eq!(ids(&store.query(LayerId::Parcels, &q).await.unwrap()), ["a", "_x"]);
    assert_eq!(store.count(LayerId::Parcels, &q).await.unwrap(), 5);

    let q = Query::all().filter(AttributeFilter::new("land_use", Comparison::Lt, "a")).filter(AttributeFilter::new(
        "stories",
        Comparison::Ge,
        1.5,
    ));
    assert_eq!(ids(&store.query(LayerId::Parcels, &q).await.unwrap()), ["a"]);
    let q = Query::all().filter(AttributeFilter::new("id", Comparison::Like, "a%"));
    assert_eq!(ids(&store.query(LayerId::Parcels, &q).await.unwrap()), ["a", "a-1"]);
    // LIKE is case-sensitive and has no escape character.
    let q = Query::all().filter(AttributeFilter::new("id", Comparison::Like, "A%"));
    assert_eq!(store.count(LayerId::Parcels, &q).await.unwrap(), 0);
    store.create(LayerId::Parcels, &[square("back\\slash", 9.0, 9.0, 0.1)]).await.unwrap();
    let q = Query::all().filter(AttributeFilter::new("id", Comparison::Like, "back\\%"));
    assert_eq!(ids(&store.query(LayerId::Parcels, &q).await.unwrap()), ["back\\slash"]);
    let q = Query::all().filter(AttributeFilter::new("dwelling_units", Comparison::IsNotNull, json!(null)));
    assert_eq!(store.count(LayerId::Parcels, &q).await.unwrap(), 3);
    let q = Query::all().filter(AttributeFilter::new("dwelling_units", Comparison::Ne, 20));
    assert_eq!(store.count(LayerId::Parcels, &q).await.unwrap(), 2);

    // Values are bound, never spliced: a hostile value is just a value.
    let q = Query::all().filter(AttributeFilter::new("land_use", Comparison::Eq, "x'; DROP TABLE parcels; --"));
    assert_eq!(store.count(LayerId::Parcels, &q).await.unwrap(), 0);
    let hostile = Query::all().filter(AttributeFilter::new("code\"; DROP TABLE parcels; --", Comparison::Eq, 1));
    assert!(matches!(store.count(LayerId::Parcels, &hostile).await, Err(StoreError::UnknownField { .. })));
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 6);

    let mut by_json = Query::all();
    by_json.order_by = vec![("applicant".into(), false)];
    assert!(matches!(store.query(LayerId::Permits, &by_json).await, Err(StoreError::InvalidQuery { .. })));
    let bbox_without_geometry = Query::all().bbox(Rect::new(coord! { x: 0., y: 0. }, coord! { x: 1., y: 1. }));
    assert!(matches!(
        store.count(LayerId::Procedures, &bbox_without_geometry).await,
        Err(StoreError::InvalidQuery { .. })
    ));

    // Instants compare as instants, whatever the offset they are written with.
    let event = |id: &str, at: &str| {
        Feature::new(id, None).with("permit_id", "d").with("seq", 1).with("at", at).with("kind", "note")
    };
    store
        .create(
            LayerId::PermitEvents,
            &[event("e1", "2024-05-01T09:30:00.000Z"), event("e2", "2024-05-02T00:00:00.000Z")],
        )
        .await
        .unwrap();
    let q = Query::all().filter(AttributeFilter::new("at", Comparison::Lt, "2024-05-01 12:00:00+02"));
    assert_eq!(ids(&store.query(LayerId::PermitEvents, &q).await.unwrap()), ["e1"]);
}

#[tokio::test]
async fn distances_are_metres_on_the_sphere() {
    let (_, store) = fresh().await;
    // On the equator and on a meridian a great-circle distance is R × angle: computable by hand.
    let metres = |degrees: f64| SPHERE_RADIUS_M * degrees.to_radians();
    let centre = |id: &str, x: f64, y: f64| Feature::new(id, Some(point! { x: x, y: y }.into())).with("name", id);
    store
        .create(
            LayerId::ServiceCentres,
            &[
                centre("east", 0.002, 0.0),
                centre("west", -0.002, 0.0),
                centre("north", 0.0, 0.003),
                centre("far", 0.05, 0.0),
            ],
        )
        .await
        .unwrap();
    let origin = point! { x: 0.0, y: 0.0 };

    let near = store.nearest(LayerId::ServiceCentres, origin, 3).await.unwrap();
    let got: Vec<(&str, f64)> = near.iter().map(|n| (n.feature.id.as_str(), n.distance_m)).collect();
    // east and west are equally far: ties go by id.
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), ["east", "west", "north"]);
    for ((_, d), expected) in got.iter().zip([metres(0.002), metres(0.002), metres(0.003)]) {
        assert!((d - expected).abs() < 1e-6, "{d} m vs {expected} m");
    }
    // A tie at the k-th place also goes to the smaller id, not to the index's choice.
    let one = store.nearest(LayerId::ServiceCentres, origin, 1).await.unwrap();
    assert_eq!(one[0].feature.id, "east");
    assert_eq!(store.nearest(LayerId::ServiceCentres, origin, 10).await.unwrap().len(), 4);
    assert!(store.nearest(LayerId::ServiceCentres, origin, 0).await.unwrap().is_empty());

    let within = store.within_distance(LayerId::ServiceCentres, &origin.into(), metres(0.0025), None).await.unwrap();
    assert_eq!(within.iter().map(|n| n.feature.id.as_str()).collect::<Vec<_>>(), ["east", "west"]);
    let within = store.within_distance(LayerId::ServiceCentres, &origin.into(), 6000.0, Some(3)).await.unwrap();
    assert_eq!(within.iter().map(|n| n.feature.id.as_str()).collect::<Vec<_>>(), ["east", "west", "north"]);
    let far = store.within_distance(LayerId::ServiceCentres, &origin.into(), 6000.0, None).await.unwrap();
    assert!((far[3].distance_m - metres(0.05)).abs() < 1e-5, "{}", far[3].distance_m);
    assert!(matches!(
        store.within_distance(LayerId::ServiceCentres, &origin.into(), -1.0, None).await,
        Err(StoreError::InvalidQuery { .. })
    ));

    // From a point to a line: the perpendicular to the equator, a meridian arc.
    let road =
        Feature::new("equator", Some(MultiLineString(vec![LineString::from(vec![(-1.0, 0.0), (1.0, 0.0)])]).into()));
    store.create(LayerId::Roads, &[road]).await.unwrap();
    let from = point! { x: 0.3, y: 0.004 };
    let near = store.nearest(LayerId::Roads, from, 1).await.unwrap();
    assert!((near[0].distance_m - metres(0.004)).abs() < 1e-3, "{}", near[0].distance_m);
    let geometry: Geometry = from.into();
    assert_eq!(store.within_distance(LayerId::Roads, &geometry, metres(0.004) - 0.01, None).await.unwrap().len(), 0);
    assert_eq!(store.within_distance(LayerId::Roads, &geometry, metres(0.004) + 0.01, None).await.unwrap().len(), 1);
    let crossing: Geometry = LineString::from(vec![(0.5, -1.0), (0.5, 1.0)]).into();
    assert_eq!(ids(&store.intersects(LayerId::Roads, &crossing, None).await.unwrap()), ["equator"]);

    assert!(matches!(store.nearest(LayerId::Procedures, origin, 1).await, Err(StoreError::InvalidQuery { .. })));
}

#[tokio::test]
async fn bulk_load_copies_thousands_and_rolls_back_on_a_duplicate() {
    let (_, store) = fresh().await;
    let mut many = vec![];
    for i in 0..3500 {
        let x = -71.2 + (i % 70) as f64 * 0.001;
        let y = 42.3 + (i / 70) as f64 * 0.001;
        let mut f = square(&format!("g{i:05}"), x, y, 0.0005)
            .with("address", format!("{i} \"Quoted\", Street\nSecond line"))
            .with("dwelling_units", i as i64)
            .with("area_m2", 0.1 + i as f64)
            .with("public_owner", i % 3 == 0);
        if i % 7 == 0 {
            f.attributes.insert("land_use".into(), json!("\\N"));
        }
        f.extra.insert("source_row".into(), json!(i));
        many.push(f);
    }
    let calls = AtomicU64::new(0);
    let last = AtomicU64::new(0);
    let n = store
        .bulk_load(LayerId::Parcels, &many, false, &|done| {
            calls.fetch_add(1, Ordering::Relaxed);
            last.store(done, Ordering::Relaxed);
        })
        .await
        .unwrap();
    assert_eq!(n, 3500);
    assert_eq!(last.load(Ordering::Relaxed), 3500);
    assert!(calls.load(Ordering::Relaxed) > 1, "progress is reported along the way");
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 3500);
    // Every value came through CSV intact: quotes, commas, newlines, the NULL marker as text.
    let stored: BTreeMap<String, Feature> =
        store.query(LayerId::Parcels, &Query::all()).await.unwrap().into_iter().map(|f| (f.id.clone(), f)).collect();
    for f in &many {
        assert_eq!(stored.get(&f.id), Some(f));
    }
    // The extent is exact, not rounded to the 32-bit floats of PostGIS's cached boxes.
    let extent = store.extent(LayerId::Parcels).await.unwrap().unwrap();
    assert_eq!(extent.min(), Coord { x: -71.2, y: 42.3 });
    assert_eq!(extent.max(), Coord { x: -71.2 + 69.0 * 0.001 + 0.0005, y: 42.3 + 49.0 * 0.001 + 0.0005 });

    // An id already stored: nothing of the batch is written.
    let mut batch: Vec<Feature> = (0..2000).map(|i| square(&format!("new{i}"), 0.0, 0.0, 0.001)).collect();
    batch.push(many[1234].clone());
    match store.bulk_load(LayerId::Parcels, &batch, false, &|_| {}).await {
        Err(StoreError::DuplicateId { id, .. }) => assert_eq!(id, "g01234"),
        other => panic!("expected DuplicateId, got {other:?}"),
    }
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 3500);
    assert_eq!(store.get(LayerId::Parcels, "new0").await.unwrap(), None);

    // With replace_all the delete is rolled back too.
    let twice = [square("r", 0.0, 0.0, 0.001), square("r", 1.0, 1.0, 0.001)];
    assert!(matches!(
        store.bulk_load(LayerId::Parcels, &twice, true, &|_| {}).await,
        Err(StoreError::DuplicateId { .. })
    ));
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 3500);
    // A feature that cannot be written stops the COPY and leaves the layer as it was.
    let mut bad = many[..5].to_vec();
    bad.push(Feature::new("pt", Some(Point::new(0.0, 0.0).into())));
    assert!(matches!(
        store.bulk_load(LayerId::Parcels, &bad, true, &|_| {}).await,
        Err(StoreError::InvalidFeature { .. })
    ));
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 3500);

    // The connection is usable after the failed COPYs, and replace_all replaces.
    let n = store.bulk_load(LayerId::Parcels, &many[..10], true, &|_| {}).await.unwrap();
    assert_eq!(n, 10);
    let counts = store.layers().await.unwrap();
    assert_eq!(counts.iter().map(|c| c.layer).collect::<Vec<_>>(), LayerId::ALL);
    assert_eq!(counts[0].count, 10);
    assert!(counts[1..].iter().all(|c| c.count == 0));

    // Attribute tables load through COPY too, instants included.
    let events: Vec<Feature> = (1..=300)
        .map(|i| {
            Feature::new(format!("e{i:03}"), None)
                .with("permit_id", "d-1")
                .with("seq", i)
                .with("at", format!("2024-05-01T09:{:02}:{:02}Z", i / 60, i % 60))
                .with("kind", "note")
                .with("note", json!(null))
        })
        .collect();
    assert_eq!(store.bulk_load(LayerId::PermitEvents, &events, false, &|_| {}).await.unwrap(), 300);
    let e = store.get(LayerId::PermitEvents, "e061").await.unwrap().unwrap();
    assert_eq!(e.text("at"), Some("2024-05-01T09:01:01.000Z"));
    assert_eq!(e.get("note"), None);
    assert_eq!(store.extent(LayerId::PermitEvents).await.unwrap(), None);
}
