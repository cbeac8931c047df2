//! The packed R*Tree that GeoPackage bulk loads write into SQLite's r-tree shadow tables: SQLite's
//! own `rtreecheck()` accepts it, it holds exactly the entries SQLite would have stored (compared
//! with an r-tree SQLite builds itself from the same boxes), window queries through it equal a
//! brute-force scan, and the GeoPackage triggers keep it up to date after later edits.
//! GeoPackage only: PostGIS has no such index (its bulk load is tested in `tests/stores.rs`).

use std::collections::BTreeSet;
use std::path::Path;

use geo::{BoundingRect, Intersects};
use geo_types::{coord, Geometry, LineString, MultiLineString, Rect};
use sqlx::{Connection, Row, SqliteConnection};
use urbis_core::{Feature, LayerId};
use urbis_store::gpkg::GpkgStore;
use urbis_store::{Query, Store};

/// Deterministic pseudo-random numbers in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` short roads scattered over Cambridge, ids `<prefix>-<i>`.
fn roads(prefix: &str, n: usize, seed: u64) -> Vec<Feature> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|i| {
            let x = -71.16 + rng.next() * 0.08;
            let y = 42.35 + rng.next() * 0.05;
            let line = LineString::from(vec![
                (x, y),
                (x + rng.next() * 0.002, y + rng.next() * 0.001),
                (x + rng.next() * 0.003, y - rng.next() * 0.002),
            ]);
            Feature::new(format!("{prefix}-{i}"), Some(MultiLineString(vec![line]).into()))
        })
        .collect()
}

async fn open(dir: &Path) -> (GpkgStore, SqliteConnection) {
    let path = dir.join("city.gpkg");
    let store = GpkgStore::open(&path).await.unwrap();
    let conn = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    (store, conn)
}

async fn rtreecheck(conn: &mut SqliteConnection) -> String {
    sqlx::query_scalar("SELECT rtreecheck('rtree_roads_geom')").fetch_one(&mut *conn).await.unwrap()
}

fn bounds(g: &Geometry) -> [f64; 4] {
    let r = g.bounding_rect().unwrap();
    [r.min().x, r.max().x, r.min().y, r.max().y]
}

/// Builds `temp.reference`, an r-tree SQLite fills itself row by row with the exact boxes of
/// `features` (keyed by the fids the store gave them), and checks that the store's index holds
/// the same entries, bit for bit, and answers window queries the same.
async fn same_as_sqlite_would_build(conn: &mut SqliteConnection, features: &[Feature]) {
    sqlx::query("DROP TABLE IF EXISTS temp.reference").execute(&mut *conn).await.unwrap();
    sqlx::query("CREATE VIRTUAL TABLE temp.reference USING rtree(id, minx, maxx, miny, maxy)")
        .execute(&mut *conn)
        .await
        .unwrap();
    for f in features {
        let fid: i64 =
            sqlx::query_scalar("SELECT fid FROM roads WHERE id = ?").bind(&f.id).fetch_one(&mut *conn).await.unwrap();
        let [a, b, c, d] = bounds(f.geometry.as_ref().unwrap());
        sqlx::query("INSERT INTO temp.reference VALUES (?, ?, ?, ?, ?)")
            .bind(fid)
            .bind(a)
            .bind(b)
            .bind(c)
            .bind(d)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let all = |table: &str| format!("SELECT id, minx, maxx, miny, maxy FROM {table} ORDER BY id");
    let rows = |rs: Vec<sqlx::sqlite::SqliteRow>| -> Vec<(i64, [f64; 4])> {
        rs.iter().map(|r| (r.get(0), [r.get(1), r.get(2), r.get(3), r.get(4)])).collect()
    };
    let ours = rows(sqlx::query(&all("rtree_roads_geom")).fetch_all(&mut *conn).await.unwrap());
    let theirs = rows(sqlx::query(&all("temp.reference")).fetch_all(&mut *conn).await.unwrap());
    assert_eq!(ours.len(), features.len());
    assert_eq!(ours, theirs, "the packed index holds other boxes than SQLite would store");
    let mut rng = Lcg(99);
    for _ in 0..40 {
        let (x, y) = (-71.17 + rng.next() * 0.09, 42.34 + rng.next() * 0.06);
        let (w, h) = (rng.next() * 0.02, rng.next() * 0.02);
        let window = |table: &str| {
            format!("SELECT id FROM {table} WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ? ORDER BY id")
        };
        let mut found = vec![];
        for table in ["rtree_roads_geom", "temp.reference"] {
            let ids: Vec<i64> = sqlx::query_scalar(&window(table))
                .bind(x + w)
                .bind(x)
                .bind(y + h)
                .bind(y)
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            found.push(ids);
        }
        // Brute force over the stored boxes: what a full scan of the entries finds.
        let brute: Vec<i64> = ours
            .iter()
            .filter(|(_, b)| b[0] <= x + w && b[1] >= x && b[2] <= y + h && b[3] >= y)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(found[0], brute, "index search differs from a scan of its entries");
        assert_eq!(found[0], found[1]);
    }
}

/// The features a bbox query must return, by brute force over the geometries.
fn brute_bbox(features: &[Feature], rect: Rect) -> BTreeSet<String> {
    features.iter().filter(|f| f.geometry.as_ref().unwrap().intersects(&rect)).map(|f| f.id.clone()).collect()
}

async fn check_queries(store: &GpkgStore, features: &[Feature]) {
    let mut rng = Lcg(7);
    for _ in 0..20 {
        let (x, y) = (-71.17 + rng.next() * 0.09, 42.34 + rng.next() * 0.06);
        let rect = Rect::new(coord! { x: x, y: y }, coord! { x: x + rng.next() * 0.01, y: y + rng.next() * 0.01 });
        let got: BTreeSet<String> = store
            .query(LayerId::Roads, &Query { bbox: Some(rect), ..Query::default() })
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(got, brute_bbox(features, rect));
    }
}

async fn triggers(conn: &mut SqliteConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'roads' ORDER BY name")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

/// The GeoPackage's six R*Tree triggers, and the change feed's three (see changes.rs): a bulk load
/// that pauses them must put every one back.
const TRIGGERS: [&str; 9] = [
    "rtree_roads_geom_delete",
    "rtree_roads_geom_insert",
    "rtree_roads_geom_update1",
    "rtree_roads_geom_update2",
    "rtree_roads_geom_update3",
    "rtree_roads_geom_update4",
    "urbis_changes_roads_delete",
    "urbis_changes_roads_insert",
    "urbis_changes_roads_update",
];

#[tokio::test]
async fn a_bulk_load_writes_a_packed_index_sqlite_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut conn) = open(dir.path()).await;
    let features = roads("r", 6000, 1);
    assert_eq!(store.bulk_load(LayerId::Roads, &features, false, &|_| {}).await.unwrap(), 6000);
    assert_eq!(rtreecheck(&mut conn).await, "ok");
    // 6000 entries at 51 a node: 118 leaves, 3 inner nodes and the root, all but the root with a parent.
    let depth: String =
        sqlx::query_scalar("SELECT hex(substr(data, 1, 2)) FROM rtree_roads_geom_node WHERE nodeno = 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let nodes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rtree_roads_geom_node").fetch_one(&mut conn).await.unwrap();
    let parents: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rtree_roads_geom_parent").fetch_one(&mut conn).await.unwrap();
    assert_eq!(depth, "0002");
    assert_eq!((nodes, parents), (122, 121));
    assert_eq!(triggers(&mut conn).await, TRIGGERS);
    same_as_sqlite_would_build(&mut conn, &features).await;
    check_queries(&store, &features).await;
    // The extent in gpkg_contents comes from the index.
    let min_x: f64 = sqlx::query_scalar("SELECT min_x FROM gpkg_contents WHERE table_name = 'roads'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let exact = features.iter().map(|f| bounds(f.geometry.as_ref().unwrap())[0]).fold(f64::INFINITY, f64::min);
    assert!(min_x <= exact && exact - min_x < 1e-5);
}

#[tokio::test]
async fn the_triggers_keep_a_packed_index_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut conn) = open(dir.path()).await;
    let mut features = roads("r", 3000, 2);
    store.bulk_load(LayerId::Roads, &features, false, &|_| {}).await.unwrap();
    // Inserts (through the trigger, below the bulk threshold), deletes, and geometry updates.
    let more = roads("late", 300, 3);
    store.create(LayerId::Roads, &more).await.unwrap();
    features.extend(more);
    for i in (0..3000).step_by(7) {
        store.delete(LayerId::Roads, &format!("r-{i}")).await.unwrap();
    }
    features.retain(|f| !(f.id.starts_with("r-") && f.id[2..].parse::<usize>().unwrap().is_multiple_of(7)));
    let moved = roads("r", 3000, 4);
    for i in (1..3000).step_by(11).filter(|i| i % 7 != 0) {
        let mut f = moved[i].clone();
        store.replace(LayerId::Roads, &f).await.unwrap();
        f.id = format!("r-{i}");
        let at = features.iter().position(|g| g.id == f.id).unwrap();
        features[at] = f;
    }
    assert_eq!(rtreecheck(&mut conn).await, "ok");
    assert_eq!(triggers(&mut conn).await, TRIGGERS);
    same_as_sqlite_would_build(&mut conn, &features).await;
    check_queries(&store, &features).await;
}

#[tokio::test]
async fn loads_onto_an_index_that_has_entries_and_replacing_loads_keep_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut conn) = open(dir.path()).await;
    // A small layer, then a larger load onto it: the whole index is packed again.
    let mut features = roads("a", 500, 5);
    store.bulk_load(LayerId::Roads, &features, false, &|_| {}).await.unwrap();
    let b = roads("b", 4000, 6);
    store.bulk_load(LayerId::Roads, &b, false, &|_| {}).await.unwrap();
    features.extend(b);
    assert_eq!(rtreecheck(&mut conn).await, "ok");
    same_as_sqlite_would_build(&mut conn, &features).await;
    // A small load onto a large index: its entries go in through SQLite's own inserts.
    let c = roads("c", 1200, 7);
    store.bulk_load(LayerId::Roads, &c, false, &|_| {}).await.unwrap();
    features.extend(c);
    assert_eq!(rtreecheck(&mut conn).await, "ok");
    same_as_sqlite_would_build(&mut conn, &features).await;
    check_queries(&store, &features).await;
    // A failed load (a duplicate id) leaves index and table as they were.
    let dup = roads("a", 2000, 8);
    assert!(store.bulk_load(LayerId::Roads, &dup, false, &|_| {}).await.is_err());
    assert_eq!(rtreecheck(&mut conn).await, "ok");
    assert_eq!(triggers(&mut conn).await, TRIGGERS);
    same_as_sqlite_would_build(&mut conn, &features).await;
    // Replacing everything: the old entries are gone, the new ones packed, fids never reused.
    let max_fid: i64 = sqlx::query_scalar("SELECT max(fid) FROM roads").fetch_one(&mut conn).await.unwrap();
    let d = roads("d", 2500, 9);
    store.bulk_load(LayerId::Roads, &d, true, &|_| {}).await.unwrap();
    let min_fid: i64 = sqlx::query_scalar("SELECT min(fid) FROM roads").fetch_one(&mut conn).await.unwrap();
    assert!(min_fid > max_fid);
    assert_eq!(rtreecheck(&mut conn).await, "ok");
    assert_eq!(triggers(&mut conn).await, TRIGGERS);
    same_as_sqlite_would_build(&mut conn, &d).await;
    check_queries(&store, &d).await;
    // And replacing with nothing leaves an empty, valid index.
    store.bulk_load(LayerId::Roads, &[], true, &|_| {}).await.unwrap();
    assert_eq!(rtreecheck(&mut conn).await, "ok");
    same_as_sqlite_would_build(&mut conn, &[]).await;
}
