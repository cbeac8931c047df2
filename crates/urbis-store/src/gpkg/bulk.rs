//! Bulk loads into a GeoPackage layer, inside the caller's transaction: rows encoded in parallel,
//! inserted with their `fid`s chosen here, and the R*Tree written packed (see [`super::rtree`])
//! whenever the new rows are at least a fifth of the index, else kept up by one statement.
//! The GeoPackage triggers are dropped for the load and created again, from their own SQL, before
//! the transaction ends: a store edited later by urbis, GDAL or QGIS keeps its index up to date.

use sqlx::{Row, SqliteConnection};
use urbis_core::{Feature, LayerId};

use super::rtree::{self, Entry};
use super::{bind, GpkgStore};
use crate::query::{row_values, BindValue};
use crate::{wkb, Progress, Result};

/// Below this many rows, the triggers index them one by one as they would any insert.
const DEFER_INDEX_FROM: usize = 1000;
/// Rows to write into an r-tree shadow table per statement (two values a row).
const SHADOW_BATCH: usize = 2000;

/// Loads `features` into `layer` on `conn` (a transaction), emptying the layer first with
/// `replace_all`, and returns the rows written. The caller commits, or rolls back on error.
pub(super) async fn load(
    conn: &mut SqliteConnection,
    layer: LayerId,
    features: &[Feature],
    replace_all: bool,
    progress: Progress<'_>,
) -> Result<u64> {
    let t = layer.name();
    if !layer.schema().has_geometry() {
        if replace_all {
            sqlx::query(&format!("DELETE FROM {t}")).execute(&mut *conn).await?;
        }
        return GpkgStore::insert_all(conn, layer, features, progress).await;
    }
    let r = format!("rtree_{t}_geom");
    let insert_trigger = trigger_sql(conn, &format!("{r}_insert")).await?;
    let delete_trigger = trigger_sql(conn, &format!("{r}_delete")).await?;
    let node_size: Option<i64> = sqlx::query_scalar(&format!("SELECT length(data) FROM {r}_node WHERE nodeno = 1"))
        .fetch_optional(&mut *conn)
        .await?;
    let node_size = node_size.map(|n| n as usize).filter(|&n| rtree::capacity(n) >= 2);

    if replace_all {
        match (&delete_trigger, node_size) {
            // Empty the table without the trigger deleting its index entries one by one, then
            // the index at once.
            (Some(sql), Some(size)) => {
                sqlx::query(&format!("DROP TRIGGER {r}_delete")).execute(&mut *conn).await?;
                sqlx::query(&format!("DELETE FROM {t}")).execute(&mut *conn).await?;
                write_tree(conn, &r, rtree::pack(vec![], size).expect("an empty tree")).await?;
                sqlx::query(sql).execute(&mut *conn).await?;
            }
            _ => {
                sqlx::query(&format!("DELETE FROM {t}")).execute(&mut *conn).await?;
            }
        }
    }

    let base = next_fid_base(conn, t).await?;
    let existing: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {r}_rowid")).fetch_one(&mut *conn).await?;
    let packed = match (node_size, &insert_trigger) {
        (Some(_), Some(_)) => !features.is_empty() && existing as usize <= 4 * features.len(),
        _ => false,
    };
    let deferred = insert_trigger.is_some() && (packed || features.len() >= DEFER_INDEX_FROM);
    if deferred {
        sqlx::query(&format!("DROP TRIGGER {r}_insert")).execute(&mut *conn).await?;
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(if packed { features.len() } else { 0 });
    let started = std::time::Instant::now();
    let written = insert_rows(conn, layer, features, base, &mut entries, progress).await?;
    tracing::debug!(table = t, rows = written, seconds = started.elapsed().as_secs_f64(), "rows encoded and inserted");

    let tree = match node_size.filter(|_| packed) {
        Some(size) => {
            if existing > 0 {
                // The entries already there, exactly as stored (32-bit floats widen unchanged).
                let old =
                    sqlx::query(&format!("SELECT id, minx, maxx, miny, maxy FROM {r}")).fetch_all(&mut *conn).await?;
                for row in old {
                    let b: [f64; 4] = [row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?];
                    entries.push(Entry::new(row.try_get(0)?, b));
                }
            }
            rtree::pack(entries, size)
        }
        None => None,
    };
    if let Some(tree) = tree {
        let started = std::time::Instant::now();
        let count = tree.rowids.len();
        write_tree(conn, &r, tree).await?;
        tracing::debug!(index = %r, entries = count, seconds = started.elapsed().as_secs_f64(), "packed r-tree written");
    } else if deferred {
        // Not packed (or too deep to pack, which no real layer is): the new rows in one statement.
        sqlx::query(&format!(
            "INSERT OR REPLACE INTO {r} SELECT fid, ST_MinX(geom), ST_MaxX(geom), ST_MinY(geom), \
             ST_MaxY(geom) FROM {t} WHERE fid > ? AND geom NOT NULL AND NOT ST_IsEmpty(geom)"
        ))
        .bind(base)
        .execute(&mut *conn)
        .await?;
    }
    if deferred {
        let sql = insert_trigger.expect("deferred only with the trigger");
        sqlx::query(&sql).execute(&mut *conn).await?;
    }
    Ok(written)
}

/// The SQL that created a trigger, to create it again after a load.
async fn trigger_sql(conn: &mut SqliteConnection, name: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?)
}

/// The fid after which new rows are numbered: past every fid the table has had, as
/// AUTOINCREMENT numbers them.
async fn next_fid_base(conn: &mut SqliteConnection, t: &str) -> Result<i64> {
    let max: i64 = sqlx::query_scalar(&format!(
        "SELECT max(coalesce((SELECT max(fid) FROM {t}), 0), \
         coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{t}'), 0))"
    ))
    .fetch_one(&mut *conn)
    .await?;
    Ok(max)
}

/// One row's values (fid first, then the layer's columns) and its index entry, the box taken
/// from the encoded header as ST_MinX… would read it.
fn encode(layer: LayerId, fid: i64, f: &Feature) -> Result<(Vec<BindValue>, Option<Entry>)> {
    let mut values = row_values(layer, f, wkb::to_gpkg)?;
    let entry = match values.get(1) {
        Some(BindValue::Blob(Some(blob))) => match wkb::gpkg_envelope(blob) {
            Some((false, envelope)) => Some(Entry::new(fid, envelope)),
            _ => None,
        },
        _ => None,
    };
    values.insert(0, BindValue::Integer(Some(fid)));
    Ok((values, entry))
}

/// Inserts the rows, numbered from `base + 1`, in multi-row statements, and collects their index
/// entries. Each batch is encoded here while SQLite (on its connection's own thread) inserts the
/// previous one, so that encoding and inserting run on two cores at once.
async fn insert_rows(
    conn: &mut SqliteConnection,
    layer: LayerId,
    features: &[Feature],
    base: i64,
    entries: &mut Vec<Entry>,
    progress: Progress<'_>,
) -> Result<u64> {
    let schema = layer.schema();
    let per_row = 3 + schema.fields.len() + usize::from(schema.has_geometry());
    let batch = (30_000 / per_row).clamp(1, 200);
    let one = format!("({})", vec!["?"; per_row].join(", "));
    let full_sql = values_sql(layer, &one, batch);
    let chunks: Vec<&[Feature]> = features.chunks(batch).collect();
    let encode_chunk = |k: usize, entries: &mut Vec<Entry>| -> Result<Vec<Vec<BindValue>>> {
        let first = base + 1 + (k * batch) as i64;
        let mut rows = Vec::with_capacity(chunks[k].len());
        for (i, f) in chunks[k].iter().enumerate() {
            let (values, entry) = encode(layer, first + i as i64, f)?;
            entries.extend(entry);
            rows.push(values);
        }
        Ok(rows)
    };
    if chunks.is_empty() {
        return Ok(0);
    }
    let mut ready = encode_chunk(0, entries)?;
    let mut written = 0u64;
    for (k, chunk) in chunks.iter().enumerate() {
        let sql = if chunk.len() == batch { full_sql.clone() } else { values_sql(layer, &one, chunk.len()) };
        let mut q = sqlx::query(&sql);
        for values in std::mem::take(&mut ready) {
            for v in values {
                q = bind(q, v);
            }
        }
        // The insert is handed to SQLite's thread first; the next batch is encoded meanwhile.
        let (done, next) = futures::join!(q.execute(&mut *conn), async {
            (k + 1 < chunks.len()).then(|| encode_chunk(k + 1, entries))
        });
        if let Err(e) = done {
            return Err(GpkgStore::duplicate_in(conn, layer, chunk, e).await);
        }
        if let Some(next) = next {
            ready = next?;
        }
        written += chunk.len() as u64;
        progress(written);
    }
    Ok(written)
}

fn values_sql(layer: LayerId, one: &str, rows: usize) -> String {
    format!("INSERT INTO {} (fid, {}) VALUES {}", layer.name(), GpkgStore::columns(layer), vec![one; rows].join(", "))
}

/// Replaces the content of the r-tree `r`'s shadow tables with `tree`.
async fn write_tree(conn: &mut SqliteConnection, r: &str, tree: rtree::Packed) -> Result<()> {
    for shadow in ["node", "rowid", "parent"] {
        sqlx::query(&format!("DELETE FROM {r}_{shadow}")).execute(&mut *conn).await?;
    }
    for chunk in tree.nodes.chunks(SHADOW_BATCH / 4) {
        let sql = format!("INSERT INTO {r}_node (nodeno, data) VALUES {}", vec!["(?, ?)"; chunk.len()].join(", "));
        let mut q = sqlx::query(&sql);
        for (n, blob) in chunk {
            q = q.bind(*n).bind(blob.as_slice());
        }
        q.execute(&mut *conn).await?;
    }
    for (table, pairs) in [("rowid (rowid, nodeno)", &tree.rowids), ("parent (nodeno, parentnode)", &tree.parents)] {
        for chunk in pairs.chunks(SHADOW_BATCH) {
            let sql = format!("INSERT INTO {r}_{table} VALUES {}", vec!["(?, ?)"; chunk.len()].join(", "));
            let mut q = sqlx::query(&sql);
            for (a, b) in chunk {
                q = q.bind(*a).bind(*b);
            }
            q.execute(&mut *conn).await?;
        }
    }
    Ok(())
}
