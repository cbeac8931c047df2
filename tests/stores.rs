//! One suite, both stores: every test here runs on the embedded GeoPackage and on PostGIS (with
//! the `postgis-tests` feature, which the README's test command turns on; then a missing PostGIS
//! fails the run instead of skipping it).

#[macro_use]
mod support;

use geo::{line_string, point, polygon, Coord, Geometry, Rect};
use serde_json::json;
use urbis_core::geodesy::haversine_m;
use urbis_core::{Feature, LayerId};
use urbis_store::{AttributeFilter, Comparison, Query, Store, StoreError};

on_both_stores!(
    (store, dir) => (&*store);
    create_get_replace_delete,
    duplicate_ids_write_nothing,
    every_field_type_round_trips,
    bbox_filters_order_and_paging,
    intersects_a_geometry,
    distances_are_in_metres,
    bulk_load_is_all_or_nothing,
    attribute_tables_hold_no_geometry,
    writes_refuse_what_does_not_fit,
    the_change_feed_is_pruned_without_losing_a_change,
);

/// A square parcel of `side` degrees with its south-west corner at (x, y).
fn square(id: &str, x: f64, y: f64, side: f64) -> Feature {
    let g: Geometry =
        polygon![(x: x, y: y), (x: x + side, y: y), (x: x + side, y: y + side), (x: x, y: y + side)].into();
    let g = Geometry::MultiPolygon(geo::MultiPolygon(vec![match g {
        Geometry::Polygon(p) => p,
        _ => unreachable!(),
    }]));
    Feature::new(id, Some(g)).with("code", id)
}

/// 10 × 10 parcels of ~50 m, 100 m apart, around Cambridge City Hall.
fn grid() -> Vec<Feature> {
    let mut out = vec![];
    for i in 0..10 {
        for j in 0..10 {
            let id = format!("p-{i}{j}");
            let mut f = square(&id, -71.11 + i as f64 * 0.0012, 42.36 + j as f64 * 0.0009, 0.0006);
            f.attributes.insert("dwelling_units".into(), json!(i * 10 + j));
            f.attributes.insert("land_use".into(), json!(if j % 2 == 0 { "Residential" } else { "Commercial" }));
            if i == 0 {
                f.attributes.insert("address".into(), json!(format!("{j} Main St")));
            }
            out.push(f);
        }
    }
    out
}

async fn create_get_replace_delete(store: &dyn Store) {
    let a = square("a", -71.1, 42.36, 0.001).with("address", "1 First St");
    let b = square("b", -71.09, 42.36, 0.001);
    store.create(LayerId::Parcels, &[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(store.get(LayerId::Parcels, "a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.get(LayerId::Parcels, "zzz").await.unwrap(), None);

    let mut a2 = square("a", -71.2, 42.4, 0.002).with("address", "2 Second St").with("dwelling_units", 4);
    a2.extra.insert("ML".into(), json!("1-23"));
    store.replace(LayerId::Parcels, &a2).await.unwrap();
    assert_eq!(store.get(LayerId::Parcels, "a").await.unwrap(), Some(a2));
    // The index follows the geometry: the old place is empty now.
    let old_place = Query::all().bbox(Rect::new(Coord { x: -71.1001, y: 42.3599 }, Coord { x: -71.0995, y: 42.3605 }));
    assert_eq!(store.count(LayerId::Parcels, &old_place).await.unwrap(), 0);

    let missing = square("nope", 0.0, 0.0, 0.001);
    assert!(matches!(store.replace(LayerId::Parcels, &missing).await, Err(StoreError::NotFound { .. })));
    store.delete(LayerId::Parcels, "b").await.unwrap();
    assert!(matches!(store.delete(LayerId::Parcels, "b").await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 1);
    let counts = store.layers().await.unwrap();
    assert_eq!(counts.len(), LayerId::ALL.len());
    assert_eq!(counts[0].count, 1);
}

async fn duplicate_ids_write_nothing(store: &dyn Store) {
    store.create(LayerId::Parcels, &[square("a", 1.0, 1.0, 0.001)]).await.unwrap();
    let batch = [square("new-1", 2.0, 2.0, 0.001), square("a", 3.0, 3.0, 0.001), square("new-2", 4.0, 4.0, 0.001)];
    match store.create(LayerId::Parcels, &batch).await {
        Err(StoreError::DuplicateId { id, .. }) => assert_eq!(id, "a"),
        other => panic!("expected a duplicate id, got {other:?}"),
    }
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 1);
    let twice = [square("x", 2.0, 2.0, 0.001), square("x", 3.0, 3.0, 0.001)];
    assert!(matches!(store.create(LayerId::Parcels, &twice).await, Err(StoreError::DuplicateId { .. })));
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 1);
}

async fn every_field_type_round_trips(store: &dyn Store) {
    let mut permit = Feature::new("d-1", Some(point!(x: -71.1, y: 42.37).into()))
        .with("tracking_code", "URB-2026-000001")
        .with("procedure_code", "BP-01")
        .with("applicant", json!({"name": "A. Resident", "phone": "+1 617 555 0100"}))
        .with("parcel_codes", json!(["1-23", "1-24"]))
        .with("proposed_height_m", 12.5)
        .with("stage", "in_review")
        .with("received_at", "2026-10-01T09:30:00Z")
        .with("satisfaction", 4);
    permit.extra.insert("source".into(), json!({"case": 7, "ok": true}));
    store.create(LayerId::Permits, std::slice::from_ref(&permit)).await.unwrap();
    // Instants come back in GeoPackage's DATETIME form, whatever form they went in.
    permit.attributes.insert("received_at".into(), json!("2026-10-01T09:30:00.000Z"));
    assert_eq!(store.get(LayerId::Permits, "d-1").await.unwrap().as_ref(), Some(&permit));

    let centre = Feature::new("c-1", Some(point!(x: -71.1055, y: 42.367).into()))
        .with("name", "City Hall")
        .with("one_stop", true)
        .with("desks", 6);
    store.create(LayerId::ServiceCentres, std::slice::from_ref(&centre)).await.unwrap();
    assert_eq!(store.get(LayerId::ServiceCentres, "c-1").await.unwrap(), Some(centre));

    // A date-time filter compares instants, not text.
    let after = Query::all().filter(AttributeFilter::new("received_at", Comparison::Gt, "2026-09-30T23:00:00Z"));
    assert_eq!(store.count(LayerId::Permits, &after).await.unwrap(), 1);

    // The same through a bulk load (COPY on PostGIS, in its binary format).
    let mut loaded = permit.clone();
    loaded.id = "d-2".into();
    loaded.attributes.insert("decided_at".into(), json!("2026-10-20T16:05:00.250Z"));
    loaded.attributes.insert("tracking_code".into(), json!("URB-2026-000002"));
    store.bulk_load(LayerId::Permits, std::slice::from_ref(&loaded), false, &|_| {}).await.unwrap();
    assert_eq!(store.get(LayerId::Permits, "d-2").await.unwrap(), Some(loaded));
}

async fn bbox_filters_order_and_paging(store: &dyn Store) {
    let all = grid();
    store.bulk_load(LayerId::Parcels, &all, false, &|_| {}).await.unwrap();
    // The box covers columns 2..=4 and rows 3..=5 (it clips squares, touching counts).
    let bbox = Rect::new(
        Coord { x: -71.11 + 2.0 * 0.0012 + 0.0003, y: 42.36 + 3.0 * 0.0009 + 0.0001 },
        Coord { x: -71.11 + 4.0 * 0.0012 + 0.0001, y: 42.36 + 5.0 * 0.0009 + 0.0001 },
    );
    let q = Query::all().bbox(bbox);
    let ids: Vec<String> = store.query(LayerId::Parcels, &q).await.unwrap().into_iter().map(|f| f.id).collect();
    let mut expect = vec![];
    for i in 2..=4 {
        for j in 3..=5 {
            expect.push(format!("p-{i}{j}"));
        }
    }
    assert_eq!(ids, expect);
    assert_eq!(store.count(LayerId::Parcels, &q).await.unwrap(), 9);

    let q = Query::all()
        .filter(AttributeFilter::new("land_use", Comparison::Eq, "Residential"))
        .filter(AttributeFilter::new("dwelling_units", Comparison::Ge, 50));
    assert_eq!(store.count(LayerId::Parcels, &q).await.unwrap(), 25);
    let q = Query::all().filter(AttributeFilter::new("address", Comparison::Like, "%Main St"));
    assert_eq!(store.count(LayerId::Parcels, &q).await.unwrap(), 10);
    let q = Query::all().filter(AttributeFilter::new("address", Comparison::IsNull, serde_json::Value::Null));
    assert_eq!(store.count(LayerId::Parcels, &q).await.unwrap(), 90);

    let mut q = Query::all().limit(3).offset(5);
    q.order_by = vec![("dwelling_units".into(), true)];
    let units: Vec<i64> =
        store.query(LayerId::Parcels, &q).await.unwrap().iter().map(|f| f.integer("dwelling_units").unwrap()).collect();
    assert_eq!(units, [94, 93, 92]);
    // Paging walks every feature exactly once.
    let mut seen = vec![];
    for page in 0..7 {
        let q = Query::all().limit(15).offset(page * 15);
        seen.extend(store.query(LayerId::Parcels, &q).await.unwrap().into_iter().map(|f| f.id));
    }
    let mut sorted: Vec<String> = all.iter().map(|f| f.id.clone()).collect();
    sorted.sort();
    assert_eq!(seen, sorted);

    let bad = Query::all().filter(AttributeFilter::new("height", Comparison::Eq, 3));
    assert!(matches!(store.query(LayerId::Parcels, &bad).await, Err(StoreError::UnknownField { .. })));
    let bad = Query::all().filter(AttributeFilter::new("dwelling_units", Comparison::Eq, "many"));
    assert!(matches!(store.count(LayerId::Parcels, &bad).await, Err(StoreError::InvalidQuery { .. })));
    let extent = store.extent(LayerId::Parcels).await.unwrap().unwrap();
    assert!((extent.min().x - -71.11).abs() < 1e-9 && (extent.max().y - (42.36 + 9.0 * 0.0009 + 0.0006)).abs() < 1e-9);
}

async fn intersects_a_geometry(store: &dyn Store) {
    store.bulk_load(LayerId::Parcels, &grid(), false, &|_| {}).await.unwrap();
    // A diagonal street through the grid touches the squares on the diagonal only.
    let street: Geometry =
        line_string![(x: -71.11 + 0.0001, y: 42.36 + 0.0001), (x: -71.11 + 0.0025, y: 42.36 + 0.00185)].into();
    let ids: Vec<String> =
        store.intersects(LayerId::Parcels, &street, None).await.unwrap().into_iter().map(|f| f.id).collect();
    assert_eq!(ids, ["p-00", "p-11", "p-22"]);
    let one = store.intersects(LayerId::Parcels, &street, Some(1)).await.unwrap();
    assert_eq!(one.len(), 1);
}

async fn distances_are_in_metres(store: &dyn Store) {
    let origin: geo::Point = point!(x: -71.1055, y: 42.3670);
    // Centres east of the origin at known great-circle distances.
    let mut centres = vec![];
    for (i, metres) in [120.0, 480.0, 950.0, 2400.0, 5100.0].iter().enumerate() {
        let dlon = metres / (111_195.08 * origin.y().to_radians().cos());
        let p = point!(x: origin.x() + dlon, y: origin.y());
        centres.push((
            Feature::new(format!("c{i}"), Some(p.into())).with("name", format!("Centre {i}")),
            haversine_m(origin, p),
        ));
    }
    let features: Vec<Feature> = centres.iter().map(|(f, _)| f.clone()).collect();
    store.create(LayerId::ServiceCentres, &features).await.unwrap();

    let near = store.nearest(LayerId::ServiceCentres, origin, 2).await.unwrap();
    assert_eq!(near.iter().map(|n| n.feature.id.as_str()).collect::<Vec<_>>(), ["c0", "c1"]);
    for n in &near {
        let expected = centres.iter().find(|(f, _)| f.id == n.feature.id).unwrap().1;
        assert!((n.distance_m - expected).abs() < 1.0, "{} m vs {expected} m", n.distance_m);
    }
    let all = store.nearest(LayerId::ServiceCentres, origin, 10).await.unwrap();
    assert_eq!(all.len(), 5);
    let within = store.within_distance(LayerId::ServiceCentres, &origin.into(), 1000.0, None).await.unwrap();
    assert_eq!(within.iter().map(|n| n.feature.id.as_str()).collect::<Vec<_>>(), ["c0", "c1", "c2"]);
    let within = store.within_distance(LayerId::ServiceCentres, &origin.into(), 5000.0, Some(10)).await.unwrap();
    assert_eq!(within.len(), 4);

    // Distance to a polygon is to its nearest edge, 0 inside.
    store.create(LayerId::Parcels, &[square("sq", -71.1050, 42.3665, 0.001)]).await.unwrap();
    let inside =
        store.within_distance(LayerId::Parcels, &point!(x: -71.1045, y: 42.3670).into(), 1.0, None).await.unwrap();
    assert_eq!(inside.len(), 1);
    assert!(inside[0].distance_m < 1e-6);
    let d = store.nearest(LayerId::Parcels, origin, 1).await.unwrap()[0].distance_m;
    let expect = haversine_m(origin, point!(x: -71.1050, y: 42.3670));
    assert!((d - expect).abs() < 0.5, "{d} vs {expect}");
}

async fn bulk_load_is_all_or_nothing(store: &dyn Store) {
    let mut many = vec![];
    for i in 0..5000 {
        many.push(square(
            &format!("b{i:05}"),
            -71.2 + (i % 100) as f64 * 0.001,
            42.3 + (i / 100) as f64 * 0.001,
            0.0005,
        ));
    }
    let last = std::sync::atomic::AtomicU64::new(0);
    let n = store
        .bulk_load(LayerId::Parcels, &many, false, &|done| last.store(done, std::sync::atomic::Ordering::Relaxed))
        .await
        .unwrap();
    assert_eq!(n, 5000);
    assert_eq!(last.load(std::sync::atomic::Ordering::Relaxed), 5000);
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 5000);
    // The spatial index holds every loaded feature: a box around row 17, columns 40 to 42.
    let b = Rect::new(
        Coord { x: -71.2 + 0.040 + 0.0001, y: 42.3 + 0.017 + 0.0001 },
        Coord { x: -71.2 + 0.042 + 0.0001, y: 42.3 + 0.017 + 0.0002 },
    );
    let ids: Vec<String> =
        store.query(LayerId::Parcels, &Query::all().bbox(b)).await.unwrap().into_iter().map(|f| f.id).collect();
    assert_eq!(ids, ["b01740", "b01741", "b01742"]);
    let near = store.nearest(LayerId::Parcels, geo::Point::new(-71.2 + 0.0995, 42.3 + 0.0495), 1).await.unwrap();
    assert_eq!(near[0].feature.id, "b04999");

    // A batch with an id already stored fails whole, even when asked to replace nothing.
    let mut bad = many[..10].to_vec();
    bad.push(square("fresh", 0.0, 0.0, 0.001));
    assert!(matches!(
        store.bulk_load(LayerId::Parcels, &bad, false, &|_| {}).await,
        Err(StoreError::DuplicateId { .. })
    ));
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 5000);
    assert_eq!(store.get(LayerId::Parcels, "fresh").await.unwrap(), None);

    // Replacing empties the layer in the same transaction; a failure keeps the old content.
    let dup = vec![square("r1", 0.0, 0.0, 0.001), square("r1", 1.0, 1.0, 0.001)];
    assert!(store.bulk_load(LayerId::Parcels, &dup, true, &|_| {}).await.is_err());
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 5000);
    let n = store.bulk_load(LayerId::Parcels, &many[..7], true, &|_| {}).await.unwrap();
    assert_eq!(n, 7);
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 7);
}

async fn writes_refuse_what_does_not_fit(store: &dyn Store) {
    let wrong_type = square("a", 1.0, 1.0, 0.001).with("dwelling_units", "many");
    match store.create(LayerId::Parcels, &[wrong_type]).await {
        Err(StoreError::InvalidFeature { id, reason, .. }) => {
            assert_eq!(id, "a");
            assert!(reason.contains("dwelling_units"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let point_parcel = Feature::new("b", Some(point!(x: 1.0, y: 1.0).into())).with("code", "b");
    match store.create(LayerId::Parcels, &[point_parcel]).await {
        Err(StoreError::InvalidFeature { reason, .. }) => assert!(reason.contains("MULTIPOLYGON"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let unknown = square("c", 1.0, 1.0, 0.001).with("colour", "red");
    assert!(matches!(store.create(LayerId::Parcels, &[unknown]).await, Err(StoreError::UnknownField { .. })));
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), 0);
}

async fn attribute_tables_hold_no_geometry(store: &dyn Store) {
    let p = Feature::new("BP-01", None)
        .with("code", "BP-01")
        .with("name", "Building permit")
        .with("category", "building and land use")
        .with("processing_days", 20)
        .with("channels", json!(["online", "counter"]));
    store.create(LayerId::Procedures, std::slice::from_ref(&p)).await.unwrap();
    assert_eq!(store.get(LayerId::Procedures, "BP-01").await.unwrap(), Some(p));
    let with_geometry = Feature::new("X", Some(point!(x: 0.0, y: 0.0).into())).with("code", "X");
    assert!(store.create(LayerId::Procedures, &[with_geometry]).await.is_err());
    assert!(store.nearest(LayerId::Procedures, point!(x: 0.0, y: 0.0), 1).await.is_err());
    assert_eq!(store.extent(LayerId::Procedures).await.unwrap(), None);
}

/// The embedded store is a GeoPackage that GDAL reads as it is: every layer, its count, its
/// geometry type and its SRS. And what GDAL writes into it, urbis reads back.
#[tokio::test]
async fn gdal_reads_and_writes_the_geopackage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.gpkg");
    let store = urbis_store::gpkg::GpkgStore::open(&path).await.unwrap();
    store.bulk_load(LayerId::Parcels, &grid(), false, &|_| {}).await.unwrap();
    store.close().await;

    // GDAL's own GeoPackage validator (Debian python3-gdal) finds nothing to say.
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_gpkg.py"])
        .arg(&path)
        .output()
        .expect("GDAL's validate_gpkg.py runs");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "validate_gpkg.py: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-so", "-al"])
        .arg(&path)
        .output()
        .expect("ogrinfo (gdal-bin) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ogrinfo failed: {}", String::from_utf8_lossy(&out.stderr));
    for layer in LayerId::ALL {
        assert!(text.contains(&format!("Layer name: {}", layer.name())), "{layer} missing in:\n{text}");
    }
    let parcels = text.split("Layer name: ").find(|s| s.starts_with("parcels\n")).unwrap();
    assert!(parcels.contains("Geometry: Multi Polygon"), "{parcels}");
    assert!(parcels.contains("Feature Count: 100"), "{parcels}");
    assert!(parcels.contains("WGS 84"), "{parcels}");
    assert!(parcels.contains("dwelling_units: Integer"), "{parcels}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("ERROR"), "{}", String::from_utf8_lossy(&out.stderr));

    // GDAL appends a parcel, maintaining the R*Tree through the triggers with its own functions.
    let input = dir.path().join("new.geojson");
    std::fs::write(
        &input,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"gdal-1","code":"G-1"},
        "geometry":{"type":"MultiPolygon","coordinates":[[[[-71.0,42.0],[-70.99,42.0],[-70.99,42.01],[-71.0,42.0]]]]}}]}"#,
    )
    .unwrap();
    let out = std::process::Command::new("ogr2ogr")
        .args(["-append", "-nln", "parcels"])
        .arg(&path)
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = urbis_store::gpkg::GpkgStore::open(&path).await.unwrap();
    let found = store.intersects(LayerId::Parcels, &point!(x: -70.995, y: 42.002).into(), None).await.unwrap();
    assert_eq!(found.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["gdal-1"]);
}

/// Pruning deletes old changes but the newest; a reader that last saw a pruned `seq` is told
/// that every layer changed everywhere, one that is up to date only of what followed.
async fn the_change_feed_is_pruned_without_losing_a_change(store: &dyn Store) {
    use std::time::Duration;
    let start = store.last_change().await.unwrap();
    for i in 0..3 {
        store
            .create(LayerId::Parcels, &[square(&format!("p{i}"), -71.1 + 0.01 * f64::from(i), 42.36, 0.001)])
            .await
            .unwrap();
    }
    let written = store.changes_since(start, 100).await.unwrap();
    assert_eq!(written.len(), 3, "{written:?}");
    let last = store.last_change().await.unwrap();
    // Nothing is a day old: nothing pruned.
    assert_eq!(store.prune_changes(Duration::from_secs(86_400)).await.unwrap(), 0);
    assert_eq!(store.changes_since(start, 100).await.unwrap(), written);

    tokio::time::sleep(Duration::from_millis(20)).await;
    let pruned = store.prune_changes(Duration::ZERO).await.unwrap();
    assert!(pruned >= 2, "{pruned}");
    // The newest is kept: a new reader starts after it, as before.
    assert_eq!(store.last_change().await.unwrap(), last);
    assert!(store.changes_since(last, 100).await.unwrap().is_empty());
    // A reader behind the pruned rows: every layer with geometry, the whole world, then the kept row.
    let behind = store.changes_since(start, 100).await.unwrap();
    let layers = LayerId::ALL.into_iter().filter(|l| l.schema().has_geometry()).count();
    assert_eq!(behind.len(), layers + 1, "{behind:?}");
    let up_to = behind[0].seq;
    assert!(start < up_to && up_to < last, "{behind:?}");
    for c in &behind[..layers] {
        assert_eq!((c.seq, c.bbox.min().x, c.bbox.max().y), (up_to, -180.0, 90.0), "{c:?}");
    }
    assert!(behind[..layers].iter().any(|c| c.layer == LayerId::Parcels));
    assert_eq!(behind[layers], *written.last().unwrap());
    // A reader at the mark or after it: only what followed.
    assert_eq!(store.changes_since(up_to, 100).await.unwrap(), vec![written.last().unwrap().clone()]);
    // Pruning again finds nothing more to delete (the newest stays), and a later write is told as usual.
    assert_eq!(store.prune_changes(Duration::ZERO).await.unwrap(), 0);
    store
        .create(
            LayerId::Roads,
            &[Feature::new(
                "r",
                Some(geo::MultiLineString(vec![line_string![(x: -71.1, y: 42.36), (x: -71.09, y: 42.37)]]).into()),
            )],
        )
        .await
        .unwrap();
    let next = store.changes_since(last, 100).await.unwrap();
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0].layer, LayerId::Roads);
}
