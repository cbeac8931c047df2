//! Bulk loads into PostGIS, inside the caller's transaction. Rows go in through COPY; into an
//! empty table (a first load or a replacing one) every index is dropped first and built again
//! from its own definition once the rows are in, which costs far less than growing it row by row:
//! the secondary indexes (GiST on geometry, B-tree on codes), and the primary key and the unique
//! id too (their constraints, added again by their own definitions). A duplicate id then shows
//! when the unique index is built, and is reported by name as it would be on arrival. Everything
//! happens in the transaction: a failed load leaves the table and its indexes as they were.

use sqlx::postgres::PgDatabaseError;
use sqlx::PgConnection;
use urbis_core::{Feature, LayerId};

use super::{copy_features, ident};
use crate::{Progress, Result, StoreError};

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
    let mut constraints: Vec<(String, String)> = vec![];
    if empty && features.len() >= REBUILD_INDEXES_FROM {
        // Every index that backs no constraint (those of the constraints go with them, below).
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
        // The primary key and the unique id, unless another table's foreign key needs them.
        constraints = sqlx::query_as(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = $1::text::regclass AND contype IN ('p', 'u') \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.confrelid = $1::text::regclass) \
             ORDER BY contype, conname",
        )
        .bind(&t)
        .fetch_all(&mut *conn)
        .await?;
        for (name, _) in &constraints {
            sqlx::query(&format!("ALTER TABLE {t} DROP CONSTRAINT {}", ident(name))).execute(&mut *conn).await?;
        }
    }
    let n = copy_features(conn, layer, features, progress).await?;
    let started = std::time::Instant::now();
    if !constraints.is_empty() {
        let adds: Vec<String> = constraints
            .iter()
            .map(|(name, definition)| format!("ADD CONSTRAINT {} {definition}", ident(name)))
            .collect();
        sqlx::query(&format!("ALTER TABLE {t} {}", adds.join(", ")))
            .execute(&mut *conn)
            .await
            .map_err(|e| duplicate_on_build(layer, features, e))?;
    }
    for (_, definition) in &rebuild {
        sqlx::query(definition).execute(&mut *conn).await?;
    }
    if !rebuild.is_empty() || !constraints.is_empty() {
        tracing::debug!(
            table = %t,
            indexes = rebuild.len() + constraints.len(),
            seconds = started.elapsed().as_secs_f64(),
            "indexes built"
        );
    }
    Ok(n)
}

/// A unique index built over the loaded rows fails with `Key (id)=(…) is duplicated.`: that is
/// [`StoreError::DuplicateId`], named as the server names it (or found among the features when
/// the server withholds the detail). Other errors pass.
fn duplicate_on_build(layer: LayerId, features: &[Feature], e: sqlx::Error) -> StoreError {
    let Some(db) = e.as_database_error().and_then(|d| d.try_downcast_ref::<PgDatabaseError>()) else {
        return e.into();
    };
    if db.code() != "23505" {
        return e.into();
    }
    let named = db.detail().and_then(|d| d.strip_prefix("Key (id)=(")).and_then(|d| d.strip_suffix(") is duplicated."));
    let id = match named {
        Some(id) => id.to_string(),
        None => {
            let mut seen = std::collections::HashSet::new();
            match features.iter().find(|f| !seen.insert(f.id.as_str())) {
                Some(f) => f.id.clone(),
                // Not the id (a duplicate of another unique column): the server's own words.
                None => return e.into(),
            }
        }
    };
    StoreError::DuplicateId { layer, id }
}
