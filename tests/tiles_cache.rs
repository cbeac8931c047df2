//! The tile cache's hit path on both stores: while nothing is committed, a hit reads nothing from
//! the store (the store's change watch says so: `PRAGMA data_version` on the GeoPackage, LISTEN
//! and this process's use of its pool on PostGIS; only once per `TRUST_WATCH_FOR` is the feed
//! read all the same), and a change is still seen: by this process
//! through the store at the very next request, by another writer (a second store on the same
//! file; on PostGIS a plain connection of its own, as `urbis import` or psql would) at the next
//! request on the GeoPackage and once its notification has arrived on PostGIS; and, on PostGIS,
//! while the LISTEN connection is lost and after it is back.

#[macro_use]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use geo::polygon;
use urbis_core::{Feature, LayerId};
use urbis_server::tiles::{CachedTile, Lookup, TileCache, TileKey, TRUST_WATCH_FOR};
use urbis_store::{Store, StoreError};
use urbis_tiles::TileId;

const LON: f64 = -71.1056;
const LAT: f64 = 42.3671;
const Z: u8 = 15;

fn district(id: &str, dx: f64) -> Feature {
    let (x, y) = (LON + dx, LAT);
    let p = polygon![(x: x, y: y), (x: x + 0.0005, y: y), (x: x + 0.0005, y: y + 0.0005), (x: x, y: y + 0.0005)];
    Feature::new(id, Some(geo::MultiPolygon(vec![p]).into())).with("code", id)
}

/// The cache in front of `store`; each render reads the tile's districts from the store and
/// keeps their ids as the tile's bytes.
struct Probe {
    cache: TileCache,
    store: Arc<dyn Store>,
    renders: AtomicU64,
}

impl Probe {
    fn new(store: Arc<dyn Store>) -> Probe {
        Probe { cache: TileCache::new(1 << 20, Duration::ZERO), store, renders: AtomicU64::new(0) }
    }

    async fn get(&self) -> (Vec<String>, Lookup) {
        let tile = TileId::containing(LON, LAT, Z);
        let key = TileKey { layers: vec![LayerId::ZoningDistricts], tile, filter: String::new() };
        let store = self.store.clone();
        let render = || async move {
            self.renders.fetch_add(1, Ordering::Relaxed);
            let bbox = tile.bbox_degrees(0.0);
            let features = store.tile_features(LayerId::ZoningDistricts, bbox, &["code"]).await?;
            let ids: Vec<String> = features.iter().map(|f| f.id.clone()).collect();
            Ok::<_, StoreError>(CachedTile::new(ids.join(",").into(), format!("\"{}\"", ids.len()), false))
        };
        let (t, lookup) = self.cache.get_or_render(&*self.store, key, render).await.unwrap();
        let ids = String::from_utf8(t.bytes.to_vec()).unwrap();
        (ids.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(), lookup)
    }

    /// Asks until ten hits in a row read nothing from the store (on PostGIS the listener connects
    /// after the first request); fails after `within`.
    async fn settle(&self, within: Duration) {
        let start = Instant::now();
        let mut quiet = 0;
        while quiet < 10 {
            assert!(start.elapsed() < within, "hits still read the change feed after {within:?}");
            let before = self.cache.feed_reads();
            self.get().await;
            quiet = if self.cache.feed_reads() == before { quiet + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Asks until the tile holds `id`; returns after how long. Fails after `within`.
    async fn until_shown(&self, id: &str, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.get().await.0.contains(&id.to_string()) {
                return start.elapsed();
            }
            assert!(start.elapsed() < within, "`{id}` not in the tile after {within:?}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// What both stores must do; `outside` writes `id` as another process would.
async fn hits_read_nothing_until_a_change<F, Fut>(store: Arc<dyn Store>, exact_outside: bool, outside: F)
where
    F: Fn(Feature) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    store.create(LayerId::ZoningDistricts, &[district("a", 0.0)]).await.unwrap();
    let probe = Probe::new(store.clone());
    assert_eq!(probe.get().await, (vec!["a".to_string()], Lookup::Miss));
    probe.settle(Duration::from_secs(10)).await;
    // At most one read per TRUST_WATCH_FOR (and one more for the window under way).
    let (reads, started) = (probe.cache.feed_reads(), Instant::now());
    for _ in 0..200 {
        assert_eq!(probe.get().await.1, Lookup::Hit);
    }
    let allowed = 1 + (started.elapsed().as_nanos() / TRUST_WATCH_FOR.as_nanos()) as u64;
    let read = probe.cache.feed_reads() - reads;
    assert!(read <= allowed, "200 hits read the feed {read} times while nothing changed (allowed {allowed})");
    assert_eq!(probe.renders.load(Ordering::Relaxed), 1);

    // This process, through the store but not the API: the very next request.
    store.create(LayerId::ZoningDistricts, &[district("b", 0.0001)]).await.unwrap();
    assert_eq!(probe.get().await, (vec!["a".to_string(), "b".to_string()], Lookup::Miss));
    probe.settle(Duration::from_secs(10)).await;

    // Another writer.
    outside(district("c", 0.0002)).await;
    if exact_outside {
        assert_eq!(probe.get().await.0, ["a", "b", "c"]);
    } else {
        let after = probe.until_shown("c", Duration::from_secs(5)).await;
        eprintln!("a write by another connection was seen {after:?} after its commit");
    }
    probe.settle(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn gpkg() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::from(support::gpkg(dir.path()).await);
    // A second store on the same file: its own connections, as `urbis import` has.
    let other: Arc<dyn Store> = Arc::from(support::gpkg(dir.path()).await);
    hits_read_nothing_until_a_change(store, true, |f| {
        let other = other.clone();
        async move {
            other.create(LayerId::ZoningDistricts, &[f]).await.unwrap();
        }
    })
    .await;
}

#[cfg(feature = "postgis-tests")]
mod postgis {
    use sqlx::Connection;

    use super::*;

    /// A write on a plain connection of its own, as another process's would be.
    async fn insert(url: &str, f: &Feature) {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        let wkt = match f.geometry.as_ref().unwrap() {
            geo_types::Geometry::MultiPolygon(mp) => {
                let ring: Vec<String> = mp.0[0].exterior().coords().map(|c| format!("{} {}", c.x, c.y)).collect();
                format!("MULTIPOLYGON((({})))", ring.join(", "))
            }
            _ => unreachable!(),
        };
        sqlx::query("INSERT INTO zoning_districts (id, code, geom) VALUES ($1, $1, ST_GeomFromText($2, 4326))")
            .bind(&f.id)
            .bind(wkt)
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }

    #[tokio::test]
    async fn postgis() {
        let url = support::fresh_database().await;
        urbis_store::postgis::migrate(&url).await.unwrap();
        let store: Arc<dyn Store> = Arc::new(urbis_store::postgis::PostgisStore::connect(&url).await.unwrap());
        let u = url.clone();
        hits_read_nothing_until_a_change(store.clone(), false, move |f| {
            let u = u.clone();
            async move { insert(&u, &f).await }
        })
        .await;
    }

    /// The LISTEN connection lost: until it is back every request reads the feed, and a write
    /// by another process is seen; once it is back, hits read nothing again.
    #[tokio::test]
    async fn postgis_listener_lost() {
        let url = support::fresh_database().await;
        urbis_store::postgis::migrate(&url).await.unwrap();
        let store: Arc<dyn Store> = Arc::new(urbis_store::postgis::PostgisStore::connect(&url).await.unwrap());
        store.create(LayerId::ZoningDistricts, &[district("a", 0.0)]).await.unwrap();
        let probe = Probe::new(store.clone());
        probe.get().await;
        probe.settle(Duration::from_secs(10)).await;
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query = 'LISTEN \"urbis_changes\"'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert_eq!(killed, [true], "one listener");
        // Seen as lost: the feed is read on every request.
        let start = Instant::now();
        loop {
            let before = probe.cache.feed_reads();
            probe.get().await;
            if probe.cache.feed_reads() > before {
                let before = probe.cache.feed_reads();
                probe.get().await;
                if probe.cache.feed_reads() > before {
                    break;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(5), "the lost listener was not noticed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        insert(&url, &district("c", 0.0002)).await;
        assert_eq!(probe.get().await.0, ["a", "c"]);
        // Back (it reconnects after half a second): hits read nothing again, and notice writes.
        probe.settle(Duration::from_secs(10)).await;
        insert(&url, &district("d", 0.0003)).await;
        probe.until_shown("d", Duration::from_secs(5)).await;
        admin.close().await.unwrap();
    }
}
