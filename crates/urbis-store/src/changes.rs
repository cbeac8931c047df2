//! The change feed: every write to a layer with geometry leaves, in its own transaction, a row in
//! `urbis_changes` with the layer and the box of what it touched (old and new geometries), so
//! that a tile cache, in this process or in a server running while `urbis import` writes, drops
//! exactly the tiles a change touched. Triggers write the rows (per statement on PostGIS, from
//! the migration `20261123150000_changes.sql`; per row on the GeoPackage, created here), so a
//! write path added later is covered without knowing about the feed.

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

/// The table, on both stores.
pub(crate) const TABLE: &str = "urbis_changes";

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
        let rows = sqlx::query(&format!(
            "SELECT seq, layer, min_x, min_y, max_x, max_y FROM {TABLE} WHERE seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(after)
        .bind(limit.min(i64::MAX as u64) as i64)
        .fetch_all(pool)
        .await?;
        let mut out = vec![];
        for r in rows {
            let b = [r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?];
            out.extend(from_row(r.try_get(0)?, r.try_get::<&str, _>(1)?, b));
        }
        Ok(out)
    }

    pub async fn last(pool: &sqlx::SqlitePool) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, Option<i64>>(&format!("SELECT max(seq) FROM {TABLE}"))
            .fetch_one(pool)
            .await?
            .unwrap_or(0))
    }
}

/// The PostGIS side: the table and triggers come from the migration; [`postgis::track`] puts the
/// triggers on every layer table (also those of later migrations).
pub(crate) mod postgis {
    use sqlx::PgPool;

    use super::*;

    pub async fn track(pool: &PgPool) -> Result<()> {
        for layer in LayerId::ALL.into_iter().filter(|l| l.schema().has_geometry()) {
            sqlx::query("SELECT urbis_track_changes($1::text::regclass)").bind(layer.name()).execute(pool).await?;
        }
        Ok(())
    }

    pub async fn since(pool: &PgPool, after: i64, limit: u64) -> Result<Vec<Change>> {
        let rows = sqlx::query(&format!(
            "SELECT seq, layer, min_x, min_y, max_x, max_y FROM {TABLE} WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(limit.min(i64::MAX as u64) as i64)
        .fetch_all(pool)
        .await?;
        let mut out = vec![];
        for r in rows {
            let b = [r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?];
            out.extend(from_row(r.try_get(0)?, r.try_get::<&str, _>(1)?, b));
        }
        Ok(out)
    }

    pub async fn last(pool: &PgPool) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, Option<i64>>(&format!("SELECT max(seq) FROM {TABLE}"))
            .fetch_one(pool)
            .await?
            .unwrap_or(0))
    }
}
