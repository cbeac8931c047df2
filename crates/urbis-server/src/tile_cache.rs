//! The in-memory tile cache: encoded tiles by (layers, tile, filter), bounded by bytes (moka,
//! least recently used out first), kept exact by the store's change feed
//! ([`urbis_store::changes`]). Before a request is served from it, the feed is read for changes
//! committed since the last read (by this server's API, by `urbis import` in another process, by
//! QGIS on the GeoPackage); each change drops exactly the cached tiles whose query box (the tile
//! and its layer's buffer, at any zoom) meets the box of what the change touched.
//!
//! Reading the feed is one indexed query; concurrent requests share one read, and a read that
//! started after a request arrived serves it (so a commit before the request is always seen).
//! A hit does not even read it while the store's [`ChangeWatch`] says nothing was committed
//! since the last read: on PostGIS, a `LISTEN` connection counts the feed's notifications (a
//! hit costs no round trip; a change by another process is seen once its notification, sent at
//! its commit, has arrived, one loopback hop; while that connection is lost, every request
//! reads the feed as before); on the GeoPackage, `PRAGMA data_version` on a connection of the
//! watch's own (exact: it moves with any other connection's commit). A write through this
//! server's API reads the feed before its response ([`TileCache::catch_up`]), so the next
//! request never depends on a notification's timing. The watch is trusted for
//! [`TRUST_WATCH_FOR`] after each read of the feed, then the feed is read again (at most one read
//! in that time under load): a late or lost notification delays a change by at most that long.
//! A tile rendered while a change was being applied is served but not kept, so a render that
//! raced an edit never stays in the cache.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use geo_types::Rect;
use urbis_core::LayerId;
use urbis_store::changes::ChangeWatch;
use urbis_store::{Change, Store, StoreError};
use urbis_tiles::{Definitions, TileId};

/// What a cached tile is found by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    pub layers: Vec<LayerId>,
    pub tile: TileId,
    /// The filter parameters as given (language, CRS and text), or empty.
    pub filter: String,
}

/// A tile as served: its bytes (empty for a tile with no feature) and its strong ETag.
#[derive(Debug, Clone)]
pub struct CachedTile {
    pub bytes: Bytes,
    pub etag: String,
    /// `etag` as the header sent with every answer, made once.
    pub etag_header: axum::http::HeaderValue,
    pub empty: bool,
}

impl CachedTile {
    pub fn new(bytes: Bytes, etag: String, empty: bool) -> CachedTile {
        // An ETag is a quoted hex digest: always a valid header value.
        let etag_header =
            axum::http::HeaderValue::from_str(&etag).unwrap_or(axum::http::HeaderValue::from_static("\"\""));
        CachedTile { bytes, etag, etag_header, empty }
    }
}

/// Changes read at once; past that many pending, the whole cache is dropped instead.
const FEED_BATCH: u64 = 10_000;
/// Changes of one layer in one read beyond which their boxes are merged into one (a long
/// series of small edits between two requests): fewer tests per cached tile, a few more drops.
const MERGE_ABOVE: usize = 64;

pub struct TileCache {
    tiles: moka::sync::Cache<Arc<TileKey>, Arc<CachedTile>>,
    feed: tokio::sync::Mutex<Feed>,
    /// Bumped (under the write lock) whenever tiles are dropped; a render keeps its tile only if
    /// the value has not moved since the feed was read for it.
    generation: RwLock<u64>,
    /// How old a feed read may be and still serve a request; zero: every request waits for a
    /// read that started after it arrived.
    max_staleness: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Reads of the change feed since the start.
    feed_reads: AtomicU64,
    /// False for a cache of zero bytes: every tile is made anew and the feed is never read.
    enabled: bool,
    /// The store's watch, taken at the first request (`None` inside: the store has none).
    watch: std::sync::OnceLock<Option<Arc<dyn ChangeWatch>>>,
    /// The watch's token taken before the last completed read of the feed, [`NO_TOKEN`] when
    /// there was none: while the watch still answers it, a request needs no read.
    read_token: AtomicU64,
    /// When the last read of the feed started, in nanoseconds after `born`: the watch is trusted
    /// for [`TRUST_WATCH_FOR`] after a read, then the feed is read again.
    read_at_ns: AtomicU64,
    born: Instant,
}

/// How long after a read of the feed a hit may rely on the store's watch alone. Past it the next
/// request reads the feed (at most one read in this time under load): a change whose notice is
/// late (a notification delayed on a loaded machine) or lost (a connection dropped unnoticed) is
/// seen at most this long after its commit, and a request that follows another process's write
/// after a pause longer than this (as `urbis import` then a request does) sees it exactly.
pub const TRUST_WATCH_FOR: Duration = Duration::from_millis(50);

/// No token: the next request reads the feed.
const NO_TOKEN: u64 = u64::MAX;

#[derive(Default)]
struct Feed {
    /// The last change applied; `None` before the first read.
    seq: Option<i64>,
    read_at: Option<Instant>,
}

/// Whether a tile came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
}

impl Lookup {
    pub fn as_str(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
        }
    }
}

impl TileCache {
    /// A cache of at most `max_bytes` of tiles (keys included) that reads the change feed before
    /// every request, or at most every `max_staleness`. With `max_bytes` zero nothing is kept
    /// (every request renders its tile) and the feed is never read.
    pub fn new(max_bytes: u64, max_staleness: Duration) -> TileCache {
        let tiles = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Arc<TileKey>, v: &Arc<CachedTile>| {
                let bytes = 96 + k.layers.len() * 2 + k.filter.len() + v.etag.len() + v.bytes.len();
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .build();
        TileCache {
            tiles,
            feed: tokio::sync::Mutex::new(Feed::default()),
            generation: RwLock::new(0),
            max_staleness,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            feed_reads: AtomicU64::new(0),
            enabled: max_bytes > 0,
            watch: std::sync::OnceLock::new(),
            read_token: AtomicU64::new(NO_TOKEN),
            read_at_ns: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// The tile of `key`, from the cache when the store has not changed it since it was made,
    /// else from `render` (kept for next time).
    pub async fn get_or_render<F, Fut, E>(
        &self,
        store: &dyn Store,
        key: TileKey,
        render: F,
    ) -> Result<(Arc<CachedTile>, Lookup), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<CachedTile, E>>,
        E: From<StoreError>,
    {
        if !self.enabled {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Ok((Arc::new(render().await?), Lookup::Miss));
        }
        self.up_to_date(store).await?;
        if let Some(t) = self.tiles.get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((t, Lookup::Hit));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // Taken after the feed was read: a drop between the read and here is of changes that
        // the render, which starts later, sees.
        let generation = *self.generation.read().unwrap_or_else(|e| e.into_inner());
        let tile = Arc::new(render().await?);
        // Under the read lock: no drop runs between the check and the insert.
        let current = self.generation.read().unwrap_or_else(|e| e.into_inner());
        if *current == generation {
            self.tiles.insert(Arc::new(key), tile.clone());
        }
        Ok((tile, Lookup::Miss))
    }

    /// Before a request: the cache as of the store now. Without a read of the feed when the
    /// store's watch says nothing was committed since the last read.
    async fn up_to_date(&self, store: &dyn Store) -> Result<(), StoreError> {
        let watch = self.watch.get_or_init(|| store.change_watch());
        if let Some(t) = watch.as_ref().and_then(|w| w.token()) {
            if self.read_token.load(Ordering::Acquire) == t && self.watch_trusted() {
                return Ok(());
            }
        }
        self.read_feed(store, watch.as_deref(), false).await.map(|_| ())
    }

    /// Reads the change feed (unless a read that started after this call, or within
    /// `max_staleness`, did) and drops the tiles the changes touched, whatever the store's
    /// watch says: after a write through the API. Returns the generation the cache is at
    /// afterwards.
    pub async fn catch_up(&self, store: &dyn Store) -> Result<u64, StoreError> {
        if !self.enabled {
            return Ok(0);
        }
        let watch = self.watch.get_or_init(|| store.change_watch());
        self.read_feed(store, watch.as_deref(), true).await
    }

    async fn read_feed(
        &self,
        store: &dyn Store,
        watch: Option<&dyn ChangeWatch>,
        force: bool,
    ) -> Result<u64, StoreError> {
        let arrived = Instant::now();
        let mut feed = self.feed.lock().await;
        // Taken before the read: a commit after it moves the token again.
        let token = watch.and_then(|w| w.token());
        // Another request read the feed while this one waited for the lock.
        let known =
            !force && token.is_some_and(|t| self.read_token.load(Ordering::Acquire) == t) && self.watch_trusted();
        let fresh = known || feed.read_at.is_some_and(|t| t >= arrived || t.elapsed() < self.max_staleness);
        if !fresh {
            let started = Instant::now();
            self.feed_reads.fetch_add(1, Ordering::Relaxed);
            match feed.seq {
                // The cache is empty until the first read: start from the feed's end.
                None => feed.seq = Some(store.last_change().await?),
                Some(seq) => {
                    let changes = store.changes_since(seq, FEED_BATCH + 1).await?;
                    if changes.len() as u64 > FEED_BATCH {
                        let last = store.last_change().await?;
                        self.drop_tiles(|_| true);
                        tracing::info!(from = seq, to = last, "many changes: every cached tile dropped");
                        feed.seq = Some(last);
                    } else if let Some(last) = changes.last().map(|c| c.seq) {
                        let changes = merged(changes);
                        let dropped = self.drop_tiles(|k| touched(k, &changes));
                        tracing::debug!(changes = changes.len(), dropped, "tile cache caught up with the store");
                        feed.seq = Some(last);
                    }
                }
            }
            feed.read_at = Some(started);
            let ns = u64::try_from(started.saturating_duration_since(self.born).as_nanos()).unwrap_or(u64::MAX);
            self.read_at_ns.store(ns, Ordering::Release);
            self.read_token.store(token.unwrap_or(NO_TOKEN), Ordering::Release);
        }
        drop(feed);
        Ok(*self.generation.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Drops every cached tile `which` selects; returns how many.
    fn drop_tiles(&self, which: impl Fn(&TileKey) -> bool) -> usize {
        let mut generation = self.generation.write().unwrap_or_else(|e| e.into_inner());
        *generation += 1;
        let mut n = 0;
        for (k, _) in self.tiles.iter() {
            if which(&k) {
                self.tiles.invalidate(&*k);
                n += 1;
            }
        }
        n
    }

    /// Drops every cached tile that holds `layer` (a change the feed cannot see, such as a
    /// procedure's processing time that every dossier's status depends on); returns how many.
    pub fn drop_layer(&self, layer: LayerId) -> usize {
        self.drop_tiles(|k| k.layers.contains(&layer))
    }

    /// Whether the last read of the feed started less than [`TRUST_WATCH_FOR`] ago.
    fn watch_trusted(&self) -> bool {
        let now = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX);
        now.saturating_sub(self.read_at_ns.load(Ordering::Acquire)) < TRUST_WATCH_FOR.as_nanos() as u64
    }

    /// How many times the change feed was read since the start.
    pub fn feed_reads(&self) -> u64 {
        self.feed_reads.load(Ordering::Relaxed)
    }

    /// (hits, misses) since the start.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

/// The changes, with those of a layer that has very many merged into one box.
fn merged(changes: Vec<Change>) -> Vec<Change> {
    let mut by_layer: std::collections::BTreeMap<LayerId, Vec<Change>> = Default::default();
    for c in changes {
        by_layer.entry(c.layer).or_default().push(c);
    }
    let mut out = vec![];
    for (_, mut cs) in by_layer {
        if cs.len() > MERGE_ABOVE {
            let seq = cs.iter().map(|c| c.seq).max().unwrap_or(0);
            let layer = cs[0].layer;
            let bbox = cs.iter().map(|c| c.bbox).reduce(union).expect("non-empty");
            cs = vec![Change { seq, layer, bbox }];
        }
        out.extend(cs);
    }
    out
}

fn union(a: Rect, b: Rect) -> Rect {
    Rect::new(
        geo_types::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
        geo_types::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
    )
}

/// Whether a change can alter the tile of `key`: a layer of the tile, at a zoom where it is in
/// tiles, whose query box (the tile and the layer's buffer) meets the changed box.
pub fn touched(key: &TileKey, changes: &[Change]) -> bool {
    changes.iter().any(|c| {
        key.layers.contains(&c.layer)
            && Definitions::built_in()
                .get(c.layer)
                .is_some_and(|def| def.rule(key.tile.z).is_some() && boxes_meet(def.query_box(key.tile), c.bbox))
    })
}

/// Closed boxes meeting, with a margin far below any tile's size for the rounding of the
/// projection's round trip.
fn boxes_meet(a: Rect, b: Rect) -> bool {
    const EPS: f64 = 1e-9;
    a.min().x <= b.max().x + EPS
        && b.min().x <= a.max().x + EPS
        && a.min().y <= b.max().y + EPS
        && b.min().y <= a.max().y + EPS
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::coord;

    fn change(layer: LayerId, x0: f64, y0: f64, x1: f64, y1: f64) -> Change {
        Change { seq: 1, layer, bbox: Rect::new(coord! { x: x0, y: y0 }, coord! { x: x1, y: y1 }) }
    }

    #[test]
    fn a_change_touches_the_tiles_around_it_at_every_zoom_and_no_other() {
        let (lon, lat) = (-71.1056, 42.3671);
        let c = change(LayerId::Parcels, lon, lat, lon + 1e-5, lat + 1e-5);
        let def = Definitions::built_in().get(LayerId::Parcels).unwrap();
        for z in def.minzoom..=24 {
            let t = TileId::containing(lon, lat, z);
            let key = |tile: TileId, layers: Vec<LayerId>| TileKey { layers, tile, filter: String::new() };
            assert!(touched(&key(t, vec![LayerId::Roads, LayerId::Parcels]), std::slice::from_ref(&c)), "z{z}");
            assert!(!touched(&key(t, vec![LayerId::Roads]), std::slice::from_ref(&c)), "z{z}");
            // Two tiles away is beyond any buffer.
            let far = TileId { x: t.x + 2, ..t };
            assert!(!touched(&key(far, vec![LayerId::Parcels]), std::slice::from_ref(&c)), "z{z}");
        }
        // Below the layer's minimum zoom it is in no tile.
        let low = TileId::containing(lon, lat, def.minzoom - 1);
        assert!(!touched(&TileKey { layers: vec![LayerId::Parcels], tile: low, filter: String::new() }, &[c]));
    }

    #[test]
    fn the_buffer_counts() {
        // A change just east of a tile, inside its buffer (4 px of 256 = 1/64 of the side).
        let t = TileId { z: 16, x: 19826, y: 24228 };
        let b = t.bbox_degrees(0.0);
        let w = b.max().x - b.min().x;
        let key = TileKey { layers: vec![LayerId::Parcels], tile: t, filter: String::new() };
        let inside = change(LayerId::Parcels, b.max().x + w / 128.0, b.min().y, b.max().x + w / 100.0, b.max().y);
        let outside = change(LayerId::Parcels, b.max().x + w / 32.0, b.min().y, b.max().x + w / 20.0, b.max().y);
        assert!(touched(&key, &[inside]));
        assert!(!touched(&key, &[outside]));
    }

    /// `--tile-cache-mb 0`: every request renders, nothing is kept; any other size keeps tiles.
    #[tokio::test]
    async fn a_cache_of_zero_bytes_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = urbis_store::open(&dir.path().join("t.gpkg").display().to_string()).await.unwrap();
        let key =
            || TileKey { layers: vec![LayerId::Parcels], tile: TileId { z: 14, x: 1, y: 1 }, filter: String::new() };
        let renders = AtomicU64::new(0);
        let render = || async {
            renders.fetch_add(1, Ordering::Relaxed);
            Ok::<_, StoreError>(CachedTile::new(Bytes::from_static(b"x"), "\"e\"".into(), false))
        };
        let off = TileCache::new(0, Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(off.get_or_render(&*store, key(), render).await.unwrap().1, Lookup::Miss);
        }
        assert_eq!((renders.load(Ordering::Relaxed), off.counts()), (3, (0, 3)));
        let on = TileCache::new(1 << 20, Duration::ZERO);
        assert_eq!(on.get_or_render(&*store, key(), render).await.unwrap().1, Lookup::Miss);
        assert_eq!(on.get_or_render(&*store, key(), render).await.unwrap().1, Lookup::Hit);
        assert_eq!(renders.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn many_changes_of_a_layer_merge() {
        let mut cs: Vec<Change> = (0..100).map(|i| change(LayerId::Roads, i as f64, 0.0, i as f64, 1.0)).collect();
        cs.push(change(LayerId::Parcels, 5.0, 5.0, 6.0, 6.0));
        let m = merged(cs);
        assert_eq!(m.len(), 2);
        let roads = m.iter().find(|c| c.layer == LayerId::Roads).unwrap();
        assert_eq!((roads.bbox.min().x, roads.bbox.max().x), (0.0, 99.0));
    }
}
