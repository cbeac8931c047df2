//! The change feed: every write to a layer with geometry leaves, in its own transaction, a row in
//! `urbis_changes` with the layer and the box of what it touched (old and new geometries), so
//! that a tile cache, in this process or in a server running while `urbis import` writes, drops
//! exactly the tiles a change touched. Triggers write the rows (per statement on PostGIS, from
//! the migration `20261123150000_changes.sql`; per row on the GeoPackage, created here), so a
//! write path added later is covered without knowing about the feed.
//!
//! Reading the feed is a query; a [`ChangeWatch`] says without one whether the feed may have
//! grown since the last look, so that a cache hit costs no round trip while nothing changes:
//! on PostGIS a `LISTEN urbis_changes` connection (the trigger sends `pg_notify` at commit), on
//! the GeoPackage `PRAGMA data_version` on a connection of its own (it moves whenever another
//! connection, in this process or another, commits to the file).
//!
//! The feed is pruned ([`crate::Store::prune_changes`]): rows older than [`CHANGES_KEPT`] are deleted (never the
//! newest, where a new reader starts), and `urbis_changes_pruned` remembers the last `seq`
//! deleted. A reader that last saw a `seq` below it cannot know what the deleted rows touched, so
//! it is told that every layer changed everywhere (one [`Change`] per layer, the whole world's
//! box): a tile cache that slept through a day of edits starts afresh rather than serve stale
//! tiles.

use std::sync::Arc;

use geo::BoundingRect;
use geo_types::{Coord, Rect};
use sqlx::{Row, SqliteConnection};
use urbis_core::{Feature, LayerId};

use crate::Result;

/// One change: the rows of `layer` within `bbox` (degrees) are not what they were.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Increasing in commit order.
    pub seq: i64,
    pub layer: LayerId,
    pub bbox: Rect,
}

/// Tells, without reading the feed, whether the feed may have grown.
pub trait ChangeWatch: Send + Sync {
    /// A value that moves whenever a change may have been committed since an earlier call, or
    /// `None` when the watch cannot tell at the moment (then the caller reads the feed). A
    /// caller takes the token *before* it reads the feed; while later calls return the same
    /// token, the feed holds nothing more than that read found.
    fn token(&self) -> Option<u64>;
}

/// The table, on both stores.
pub(crate) const TABLE: &str = "urbis_changes";
/// The one-row table of the last `seq` pruned, on both stores.
pub(crate) const PRUNED: &str = "urbis_changes_pruned";
/// How long a change is kept: far longer than any reader lags, short enough that a GeoPackage
/// (one row per written feature) does not grow with every import.
pub const CHANGES_KEPT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What a reader whose last `seq` is below `up_to` (the last one pruned) is told: every layer
/// with geometry changed everywhere, as change `up_to`.
fn everything(up_to: i64) -> Vec<Change> {
    let world = Rect::new(Coord { x: -180.0, y: -90.0 }, Coord { x: 180.0, y: 90.0 });
    LayerId::ALL
        .into_iter()
        .filter(|l| l.schema().has_geometry())
        .map(|layer| Change { seq: up_to, layer, bbox: world })
        .collect()
}

/// The changes after `after` that a reader is told of: [`everything`] first when rows after
/// `after` were pruned, then the rows still kept.
fn told(after: i64, up_to: i64, kept: Vec<Change>) -> Vec<Change> {
    if after >= up_to {
        return kept;
    }
    let mut out = everything(up_to);
    out.extend(kept);
    out
}

/// Seconds in `keep`, as the stores' SQL takes them.
fn seconds(keep: std::time::Duration) -> f64 {
    keep.as_secs_f64()
}

pub(crate) fn from_row(seq: i64, layer: &str, b: [f64; 4]) -> Option<Change> {
    // A row of a layer this build does not know (a newer urbis wrote it) touches no tile of ours.
    let layer: LayerId = layer.parse().ok()?;
    Some(Change { seq, layer, bbox: Rect::new(Coord { x: b[0], y: b[1] }, Coord { x: b[2], y: b[3] }) })
}

/// The box of every geometry of `features`.
pub(crate) fn extent_of(features: &[Feature]) -> Option<Rect> {
    features.iter().filter_map(|f| f.geometry.as_ref()?.bounding_rect()).reduce(union)
}

pub(crate) fn union(a: Rect, b: Rect) -> Rect {
    Rect::new(
        Coord { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
        Coord { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
    )
}

/// The GeoPackage side: a plain table (not registered in `gpkg_contents`: it is no layer) and
/// three row triggers per layer with geometry.
pub(crate) mod gpkg {
    use super::*;

    pub fn statements() -> Vec<String> {
        let mut s = vec![format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (seq INTEGER PRIMARY KEY AUTOINCREMENT, layer TEXT NOT NULL, \
             min_x REAL NOT NULL, min_y REAL NOT NULL, max_x REAL NOT NULL, max_y REAL NOT NULL, \
             at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
        )];
        s.push(format!(
            "CREATE TABLE IF NOT EXISTS {PRUNED} (id INTEGER PRIMARY KEY CHECK (id = 1), up_to INTEGER NOT NULL)"
        ));
        for layer in LayerId::ALL.into_iter().filter(|l| l.schema().has_geometry()) {
            s.extend(triggers(layer));
        }
        s
    }

    fn note(layer: LayerId, row: &str) -> String {
        format!(
            "INSERT INTO {TABLE} (layer, min_x, min_y, max_x, max_y) SELECT '{t}', ST_MinX({row}.geom), \
             ST_MinY({row}.geom), ST_MaxX({row}.geom), ST_MaxY({row}.geom) \
             WHERE {row}.geom IS NOT NULL AND NOT ST_IsEmpty({row}.geom);",
            t = layer.name()
        )
    }

    /// `(name, sql)` of the triggers of a layer.
    fn named_triggers(layer: LayerId) -> Vec<(String, String)> {
        let t = layer.name();
        ["insert", "update", "delete"]
            .into_iter()
            .map(|op| {
                let body = match op {
                    "insert" => note(layer, "NEW"),
                    "delete" => note(layer, "OLD"),
                    _ => format!("{} {}", note(layer, "OLD"), note(layer, "NEW")),
                };
                let name = format!("urbis_changes_{t}_{op}");
                let sql = format!(
                    "CREATE TRIGGER IF NOT EXISTS {name} AFTER {} ON {t} FOR EACH ROW BEGIN {body} END",
                    op.to_uppercase()
                );
                (name, sql)
            })
            .collect()
    }

    fn triggers(layer: LayerId) -> Vec<String> {
        named_triggers(layer).into_iter().map(|(_, sql)| sql).collect()
    }

    /// Before a bulk load: the row triggers are dropped (one row for the whole load is written
    /// by [`resume`] instead of one per feature), and the box of what `replace_all` removes is
    /// taken.
    pub async fn pause(conn: &mut SqliteConnection, layer: LayerId, replace_all: bool) -> Result<Option<Rect>> {
        if !layer.schema().has_geometry() {
            return Ok(None);
        }
        for (name, _) in named_triggers(layer) {
            sqlx::query(&format!("DROP TRIGGER IF EXISTS {name}")).execute(&mut *conn).await?;
        }
        if !replace_all {
            return Ok(None);
        }
        let t = layer.name();
        let row = sqlx::query(&format!(
            "SELECT min(ST_MinX(geom)), min(ST_MinY(geom)), max(ST_MaxX(geom)), max(ST_MaxY(geom)) FROM {t} \
             WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom)"
        ))
        .fetch_one(&mut *conn)
        .await?;
        Ok(crate::query::extent_from([row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?]))
    }

    /// After a bulk load, in its transaction: one change for the removed and loaded features,
    /// and the triggers back.
    pub async fn resume(
        conn: &mut SqliteConnection,
        layer: LayerId,
        removed: Option<Rect>,
        loaded: &[Feature],
    ) -> Result<()> {
        if !layer.schema().has_geometry() {
            return Ok(());
        }
        let touched = match (removed, extent_of(loaded)) {
            (Some(a), Some(b)) => Some(union(a, b)),
            (a, b) => a.or(b),
        };
        if let Some(b) = touched {
            sqlx::query(&format!("INSERT INTO {TABLE} (layer, min_x, min_y, max_x, max_y) VALUES (?, ?, ?, ?, ?)"))
                .bind(layer.name())
                .bind(b.min().x)
                .bind(b.min().y)
                .bind(b.max().x)
                .bind(b.max().y)
                .execute(&mut *conn)
                .await?;
        }
        for sql in triggers(layer) {
            sqlx::query(&sql).execute(&mut *conn).await?;
        }
        Ok(())
    }

    pub async fn since(pool: &sqlx::SqlitePool, after: i64, limit: u64) -> Result<Vec<Change>> {
        // One read transaction: the rows and the mark agree.
        let mut tx = pool.begin().await?;
        let up_to: i64 =
            sqlx::query_scalar(&format!("SELECT coalesce(max(up_to), 0) FROM {PRUNED}")).fetch_one(&mut *tx).await?;
        let rows = sqlx::query(&format!(
            "SELECT seq, layer, min_x, min_y, max_x, max_y FROM {TABLE} WHERE seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(after)
        .bind(limit.min(i64::MAX as u64) as i64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut out = vec![];
        for r in rows {
            let b = [r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?];
            out.extend(from_row(r.try_get(0)?, r.try_get::<&str, _>(1)?, b));
        }
        Ok(told(after, up_to, out))
    }

    /// [`crate::Store::prune_changes`] in a write transaction of the store's.
    pub async fn prune(conn: &mut SqliteConnection, keep: std::time::Duration) -> Result<u64> {
        let up_to: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT max(seq) FROM {TABLE} WHERE at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%f seconds', ?)) \
             AND seq < (SELECT max(seq) FROM {TABLE})"
        ))
        .bind(seconds(keep))
        .fetch_one(&mut *conn)
        .await?;
        let Some(up_to) = up_to else { return Ok(0) };
        let deleted =
            sqlx::query(&format!("DELETE FROM {TABLE} WHERE seq <= ?")).bind(up_to).execute(&mut *conn).await?;
        sqlx::query(&format!(
            "INSERT INTO {PRUNED} (id, up_to) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET up_to = max(up_to, excluded.up_to)"
        ))
        .bind(up_to)
        .execute(&mut *conn)
        .await?;
        Ok(deleted.rows_affected())
    }

    pub async fn last(pool: &sqlx::SqlitePool) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, Option<i64>>(&format!("SELECT max(seq) FROM {TABLE}"))
            .fetch_one(pool)
            .await?
            .unwrap_or(0))
    }

    /// `PRAGMA data_version` of a read-only connection that never writes: SQLite changes it
    /// whenever another connection (the store's writers, `urbis import`, QGIS) commits to the
    /// file. One shared lock and a look at the file's change counter, no query of a table.
    pub struct Watch {
        conn: std::sync::Mutex<rusqlite::Connection>,
    }

    impl ChangeWatch for Watch {
        fn token(&self) -> Option<u64> {
            let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            // Busy (a writer is committing) or any other error: the caller reads the feed.
            conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0)).ok().map(|v| v as u64)
        }
    }

    /// A watch of the file at `path`, or `None` if it cannot be opened (the feed is read then).
    pub fn watch(path: &std::path::Path) -> Option<Arc<dyn ChangeWatch>> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| tracing::warn!(path = %path.display(), error = %e, "no change watch on the GeoPackage"))
        .ok()?;
        // Never wait inside SQLite: a file being committed to answers `None` (read the feed).
        conn.busy_timeout(std::time::Duration::ZERO).ok()?;
        Some(Arc::new(Watch { conn: std::sync::Mutex::new(conn) }))
    }
}

/// The PostGIS side: the table and triggers come from the migration; [`postgis::track`] puts the
/// triggers on every layer table (also those of later migrations).
pub(crate) mod postgis {
    use std::sync::atomic::{AtomicU64, Ordering};

    use sqlx::postgres::PgPoolOptions;
    use sqlx::PgPool;

    use super::*;

    pub async fn track(pool: &PgPool) -> Result<()> {
        for layer in LayerId::ALL.into_iter().filter(|l| l.schema().has_geometry()) {
            sqlx::query("SELECT urbis_track_changes($1::text::regclass)").bind(layer.name()).execute(pool).await?;
        }
        Ok(())
    }

    pub async fn since(pool: &PgPool, after: i64, limit: u64) -> Result<Vec<Change>> {
        // The mark and the rows in one statement (one snapshot): the mark's row comes back even
        // when no change does.
        let rows = sqlx::query(&format!(
            "SELECT p.up_to, c.seq, c.layer, c.min_x, c.min_y, c.max_x, c.max_y FROM {PRUNED} AS p \
             LEFT JOIN LATERAL (SELECT * FROM {TABLE} WHERE seq > $1 ORDER BY seq LIMIT $2) AS c ON true \
             ORDER BY c.seq"
        ))
        .bind(after)
        .bind(limit.min(i64::MAX as u64) as i64)
        .fetch_all(pool)
        .await?;
        let mut up_to = 0;
        let mut out = vec![];
        for r in rows {
            up_to = r.try_get(0)?;
            if let Some(seq) = r.try_get::<Option<i64>, _>(1)? {
                let b = [r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, r.try_get(6)?];
                out.extend(from_row(seq, r.try_get::<&str, _>(2)?, b));
            }
        }
        Ok(told(after, up_to, out))
    }

    /// [`crate::Store::prune_changes`], in one transaction. The trigger's advisory lock is taken first,
    /// so that no change is numbered while the mark moves.
    pub async fn prune(pool: &PgPool, keep: std::time::Duration) -> Result<u64> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('urbis_changes'))").execute(&mut *tx).await?;
        let up_to: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT max(seq) FROM {TABLE} WHERE at < now() - make_interval(secs => $1) \
             AND seq < (SELECT max(seq) FROM {TABLE})"
        ))
        .bind(seconds(keep))
        .fetch_one(&mut *tx)
        .await?;
        let Some(up_to) = up_to else { return Ok(0) };
        let deleted =
            sqlx::query(&format!("DELETE FROM {TABLE} WHERE seq <= $1")).bind(up_to).execute(&mut *tx).await?;
        sqlx::query(&format!("UPDATE {PRUNED} SET up_to = greatest(up_to, $1)")).bind(up_to).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(deleted.rows_affected())
    }

    /// A change of `layer` within `bbox`, written in the caller's transaction as the trigger
    /// writes one: numbered under the same advisory lock (so `seq` stays in commit order), and
    /// announced to the listeners at commit.
    pub async fn note(conn: &mut sqlx::PgConnection, layer: LayerId, bbox: Rect) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('urbis_changes'))").execute(&mut *conn).await?;
        sqlx::query(&format!("INSERT INTO {TABLE} (layer, min_x, min_y, max_x, max_y) VALUES ($1, $2, $3, $4, $5)"))
            .bind(layer.name())
            .bind(bbox.min().x)
            .bind(bbox.min().y)
            .bind(bbox.max().x)
            .bind(bbox.max().y)
            .execute(&mut *conn)
            .await?;
        sqlx::query("SELECT pg_notify('urbis_changes', '')").execute(&mut *conn).await?;
        Ok(())
    }

    pub async fn last(pool: &PgPool) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, Option<i64>>(&format!("SELECT max(seq) FROM {TABLE}"))
            .fetch_one(pool)
            .await?
            .unwrap_or(0))
    }

    /// The channel the trigger notifies (migration `20261123210000_changes_notify.sql`).
    pub const CHANNEL: &str = "urbis_changes";
    /// Set in the state while the listener is not listening: the token is `None` then.
    const DOWN: u64 = 1 << 63;
    /// How long the listener waits before it connects again after losing its connection.
    const RECONNECT_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

    /// Connections taken from the store pools of this process ([`counted`]), new or idle.
    static USES: AtomicU64 = AtomicU64::new(0);

    /// The store's pool options, counting every connection taken from the pool in [`USES`].
    /// Every write of the store runs on a connection of that pool (tile reads and the feed
    /// have [`reads_pool`]).
    pub(crate) fn counted(options: PgPoolOptions) -> PgPoolOptions {
        options
            .after_connect(|_, _| {
                USES.fetch_add(1, Ordering::SeqCst);
                Box::pin(async { Ok(()) })
            })
            .before_acquire(|_, _| {
                USES.fetch_add(1, Ordering::SeqCst);
                Box::pin(async { Ok(true) })
            })
    }

    /// The pool of tile reads and of the change feed: the options of the store's pool, not
    /// counted, as many connections (opened when first needed).
    pub(crate) fn reads_pool(store: &PgPool) -> PgPool {
        PgPoolOptions::new()
            .max_connections(store.options().get_max_connections())
            .connect_lazy_with((*store.connect_options()).clone())
    }

    /// Two sources of news: writes by this process, and writes by any other.
    ///
    /// - This process writes through the store's pool only: while a connection of it is out
    ///   the token is `None`, and taking one moves [`USES`]. A write that ended before a request
    ///   arrived either still holds its connection (sqlx gives it back in a task of its own) or
    ///   took it after the last read's token: exact, whatever the timing.
    /// - Other processes (`urbis import`, another server, psql): a connection of its own
    ///   `LISTEN`s on [`CHANNEL`] and counts notifications (and reconnections), with [`DOWN`] set
    ///   while it is not listening. PostgreSQL queues the notification before the commit
    ///   completes and signals the listener before the writer hears that its commit is done; it
    ///   reaches this process one loopback hop later (well under a millisecond), which bounds
    ///   how long such a change can go unseen. While the connection is lost (and until it
    ///   listens again) the token is `None`, so every request reads the feed; once it listens
    ///   again the count moves, so the next request reads the feed once for what it missed.
    pub struct Watch {
        state: AtomicU64,
        store: PgPool,
        task: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
    }

    impl ChangeWatch for Watch {
        fn token(&self) -> Option<u64> {
            let s = self.state.load(Ordering::SeqCst);
            if s & DOWN != 0 {
                return None;
            }
            let uses = USES.load(Ordering::SeqCst);
            // A connection out (a write may be under way, or done and not yet given back).
            if self.store.size() as usize != self.store.num_idle() {
                return None;
            }
            if USES.load(Ordering::SeqCst) != uses {
                return None;
            }
            // Both only grow: the sum moves when either does.
            Some(s.wrapping_add(uses) & !DOWN)
        }
    }

    impl Drop for Watch {
        fn drop(&mut self) {
            if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
                task.abort();
            }
        }
    }

    /// Starts the listener on the tokio runtime of the caller (`None` outside one). It connects
    /// with `pool`'s options on a pool of one connection of its own (the store's pool keeps all
    /// of its connections). Until it listens, the token is `None`.
    pub fn watch(pool: &PgPool) -> Option<Arc<dyn ChangeWatch>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let options = (*pool.connect_options()).clone();
        let own =
            PgPoolOptions::new().max_connections(1).max_lifetime(None).idle_timeout(None).connect_lazy_with(options);
        let watch =
            Arc::new(Watch { state: AtomicU64::new(DOWN), store: pool.clone(), task: std::sync::Mutex::new(None) });
        let weak = Arc::downgrade(&watch);
        let task = runtime.spawn(listen(own, weak));
        *watch.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
        Some(watch)
    }

    /// Marks the watch down and bumps its count; false when the watch is gone.
    fn set(watch: &std::sync::Weak<Watch>, down: bool) -> bool {
        let Some(w) = watch.upgrade() else { return false };
        let s = w.state.load(Ordering::Acquire);
        let next = ((s & !DOWN) + 1) & !DOWN;
        w.state.store(if down { next | DOWN } else { next }, Ordering::Release);
        true
    }

    async fn listen(pool: PgPool, watch: std::sync::Weak<Watch>) {
        loop {
            let listener = async {
                let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                l.ignore_pool_close_event(true);
                l.eager_reconnect(false);
                l.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            }
            .await;
            let mut listener = match listener {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "change feed: cannot LISTEN; the feed is read on every tile request");
                    tokio::time::sleep(RECONNECT_AFTER).await;
                    continue;
                }
            };
            // Listening: whatever was committed before now is in the feed, after now notifies.
            if !set(&watch, false) {
                return;
            }
            tracing::debug!("change feed: listening for {CHANNEL}");
            // A notification moves the count; `None` or an error: the connection is lost.
            while let Ok(Some(_)) = listener.try_recv().await {
                if !set(&watch, false) {
                    return;
                }
            }
            tracing::warn!("change feed: the LISTEN connection was lost; the feed is read on every tile request");
            if !set(&watch, true) {
                return;
            }
            drop(listener);
            tokio::time::sleep(RECONNECT_AFTER).await;
        }
    }
}
