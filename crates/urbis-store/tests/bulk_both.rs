//! Bulk loads through their fast paths (the packed R*Tree of the GeoPackage, the indexes built
//! after COPY on PostGIS) give both stores the same answers, and on PostGIS the indexes are back,
//! as the migrations define them, after a load, a failed load and a replacing load.
//!
//! The PostGIS half needs `--features urbis-store/postgis-tests` and `URBIS_TEST_PG_URL`
//! (`bash tests/run.sh -p urbis-store` provides both).

#![cfg(feature = "postgis-tests")]

#[path = "../../../tests/support/mod.rs"]
mod support;

use geo_types::{coord, point, Geometry, LineString, MultiLineString, Rect};
use sqlx::{Connection, PgConnection};
use urbis_core::{Feature, LayerId};
use urbis_store::gpkg::GpkgStore;
use urbis_store::postgis::{migrate, PostgisStore};
use urbis_store::{Query, Store, StoreError};

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn roads(prefix: &str, n: usize, seed: u64) -> Vec<Feature> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|i| {
            let x = -71.16 + rng.next() * 0.08;
            let y = 42.35 + rng.next() * 0.05;
            let line = LineString::from(vec![(x, y), (x + rng.next() * 0.002, y + rng.next() * 0.001)]);
            Feature::new(format!("{prefix}-{i:05}"), Some(MultiLineString(vec![line]).into()))
                .with("class", if i % 3 == 0 { "primary" } else { "residential" })
        })
        .collect()
}

/// Name and definition of every index of `roads`, as the server holds them.
async fn indexes(url: &str) -> Vec<(String, String)> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = 'roads' AND schemaname = current_schema() \
         ORDER BY indexname",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

async fn answers(store: &dyn Store) -> Vec<String> {
    let mut out = vec![];
    let mut rng = Lcg(11);
    for _ in 0..10 {
        let (x, y) = (-71.17 + rng.next() * 0.09, 42.34 + rng.next() * 0.06);
        let rect = Rect::new(coord! { x: x, y: y }, coord! { x: x + 0.004, y: y + 0.004 });
        let q = Query { bbox: Some(rect), ..Query::default() };
        let hits = store.query(LayerId::Roads, &q).await.unwrap();
        out.push(format!("bbox {:?}", hits.iter().map(|f| f.id.as_str()).collect::<Vec<_>>()));
        let p = point!(x: x, y: y);
        let near = store.nearest(LayerId::Roads, p, 5).await.unwrap();
        out.push(format!("nearest {:?}", near.iter().map(|n| n.feature.id.as_str()).collect::<Vec<_>>()));
        let within = store.within_distance(LayerId::Roads, &Geometry::Point(p), 150.0, None).await.unwrap();
        out.push(format!("within {:?}", within.iter().map(|n| n.feature.id.as_str()).collect::<Vec<_>>()));
    }
    out.push(format!("count {}", store.count(LayerId::Roads, &Query::default()).await.unwrap()));
    out
}

#[tokio::test]
async fn fast_bulk_loads_answer_the_same_on_both_stores_and_keep_the_indexes() {
    let url = support::fresh_database().await;
    migrate(&url).await.unwrap();
    let pg = PostgisStore::connect(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gpkg = GpkgStore::open(&dir.path().join("city.gpkg")).await.unwrap();
    let migrated = indexes(&url).await;
    assert!(migrated.iter().any(|(n, _)| n == "roads_geom_idx"), "{migrated:?}");

    let first = roads("a", 4000, 1);
    for store in [&pg as &dyn Store, &gpkg] {
        assert_eq!(store.bulk_load(LayerId::Roads, &first, false, &|_| {}).await.unwrap(), 4000);
    }
    assert_eq!(indexes(&url).await, migrated, "indexes after a load into an empty table");
    let a = answers(&pg).await;
    assert_eq!(a, answers(&gpkg).await);
    assert!(a.iter().any(|s| s.starts_with("within [\"a-")), "the queries find something: {a:?}");

    // A replacing load that fails (a duplicate id) changes nothing, indexes included, and names
    // the id (on PostGIS it shows when the unique index is built again after the rows).
    let mut bad = roads("b", 3000, 2);
    bad.push(bad[10].clone());
    for store in [&pg as &dyn Store, &gpkg] {
        match store.bulk_load(LayerId::Roads, &bad, true, &|_| {}).await {
            Err(StoreError::DuplicateId { layer, id }) => assert_eq!((layer, id.as_str()), (LayerId::Roads, "b-00010")),
            other => panic!("expected DuplicateId, got {other:?}"),
        }
    }
    assert_eq!(indexes(&url).await, migrated, "indexes after a failed load");
    assert_eq!(answers(&pg).await, a);
    assert_eq!(answers(&gpkg).await, a);

    // A replacing load, then a load onto the filled table (indexes kept up row by row).
    bad.pop();
    let more = roads("c", 1500, 3);
    for store in [&pg as &dyn Store, &gpkg] {
        store.bulk_load(LayerId::Roads, &bad, true, &|_| {}).await.unwrap();
        store.bulk_load(LayerId::Roads, &more, false, &|_| {}).await.unwrap();
    }
    assert_eq!(indexes(&url).await, migrated, "indexes after a replacing load");
    let b = answers(&pg).await;
    assert_eq!(b, answers(&gpkg).await);
    assert!(b.contains(&"count 4500".to_string()));
    assert_ne!(a, b);
}
