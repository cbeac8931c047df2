//! Bulk loads into PostGIS, inside the caller's transaction. Rows go in through COPY; into an
//! empty table (a first load or a replacing one) the secondary indexes (GiST on geometry, B-tree
//! on codes) are dropped first and built again from their own definitions once
//! the rows are in, which costs far less than growing them row by row. The unique index on `id`
//! stays, so that a duplicate id is still reported by name as the row arrives. Everything happens
//! in the transaction: a failed load leaves the table and its indexes as they were.

use sqlx::PgConnection;
use urbis_core::{Feature, LayerId};

use super::{copy_features, ident};
use crate::{Progress, Result};

/// Below this many rows, indexes are kept up row by row (rebuilding would cost more).
const REBUILD_INDEXES_FROM: usize = 1000;

pub(super) async fn load(
    conn: &mut PgConnection,
    layer: LayerId,
    features: &[Feature],
    replace_all: bool,
    progress: Progress<'_>,
) -> Result<u64> {
    let t = ident(layer.name());
    if replace_all {
        // Transactional like DELETE, but leaves no dead rows and index entries behind for the
        // COPY to wade through. Nothing references the layer tables (no foreign keys).
        sqlx::query(&format!("TRUNCATE {t}")).execute(&mut *conn).await?;
    }
    let empty: bool =
        sqlx::query_scalar(&format!("SELECT NOT EXISTS (SELECT 1 FROM {t})")).fetch_one(&mut *conn).await?;
    let mut rebuild: Vec<(String, String)> = vec![];
    if empty && features.len() >= REBUILD_INDEXES_FROM {
        // Every index that backs no constraint (the primary key and the unique id stay).
        rebuild = sqlx::query_as(
            "SELECT x.indexrelid::regclass::text, pg_get_indexdef(x.indexrelid) FROM pg_index x \
             WHERE x.indrelid = $1::text::regclass \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) \
             ORDER BY 1",
        )
        .bind(&t)
        .fetch_all(&mut *conn)
        .await?;
        // Room for the index builds to sort in memory.
        sqlx::query("SET LOCAL maintenance_work_mem = '256MB'").execute(&mut *conn).await?;
        for (name, _) in &rebuild {
            sqlx::query(&format!("DROP INDEX {name}")).execute(&mut *conn).await?;
        }
    }
    let n = copy_features(conn, layer, features, progress).await?;
    let started = std::time::Instant::now();
    for (_, definition) in &rebuild {
        sqlx::query(definition).execute(&mut *conn).await?;
    }
    if !rebuild.is_empty() {
        tracing::debug!(table = %t, indexes = rebuild.len(), seconds = started.elapsed().as_secs_f64(), "indexes built");
    }
    Ok(n)
}
