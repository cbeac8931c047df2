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
use crate::query::BindValue;
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
    // Replacing the layer, the table is ours alone until commit (TRUNCATE's lock): the change
    // feed's row for the new rows is written here, with their extent computed from the
    // features, instead of by the statement trigger (which would first gather every new row in
    // a transition table and then take their extent: a tenth of the load of Porto's roads).
    let note_here = replace_all && layer.schema().has_geometry();
    if note_here {
        sqlx::query(&format!("ALTER TABLE {t} DISABLE TRIGGER urbis_changes_insert")).execute(&mut *conn).await?;
    }
    let n = copy_features(conn, layer, features, progress).await?;
    if note_here {
        sqlx::query(&format!("ALTER TABLE {t} ENABLE TRIGGER urbis_changes_insert")).execute(&mut *conn).await?;
        if let Some(b) = crate::changes::extent_of(features) {
            crate::changes::postgis::note(conn, layer, b).await?;
        }
    }
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

/// The start of COPY's binary format: its signature, no flags, no header extension.
pub(super) const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// A column's type, as COPY's binary format writes its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Binary {
    Text,
    /// EWKB, as PostGIS receives a geometry.
    Geometry,
    Int8,
    Float8,
    Bool,
    Jsonb,
    Date,
    Timestamptz,
}

/// The binary writer of each of `columns`, or `None` if one has a type it does not write (then
/// the rows go as CSV, which the server parses for any type).
pub(super) async fn binary_columns(
    conn: &mut PgConnection,
    layer: LayerId,
    columns: &[&str],
) -> Result<Option<Vec<Binary>>> {
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT attname::text, atttypid::regtype::text FROM pg_attribute \
         WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped",
    )
    .bind(ident(layer.name()))
    .fetch_all(&mut *conn)
    .await?;
    Ok(columns
        .iter()
        .map(|c| {
            let (_, ty) = types.iter().find(|(name, _)| name == c)?;
            Some(match ty.as_str() {
                "text" => Binary::Text,
                "geometry" => Binary::Geometry,
                "bigint" => Binary::Int8,
                "double precision" => Binary::Float8,
                "boolean" => Binary::Bool,
                "jsonb" => Binary::Jsonb,
                "date" => Binary::Date,
                "timestamp with time zone" => Binary::Timestamptz,
                _ => return None,
            })
        })
        .collect())
}

/// Appends one row in COPY's binary format: the number of fields, then each as its length and
/// bytes (-1: NULL). A value that does not fit its column is refused naming the feature and field.
pub(super) fn binary_row(
    out: &mut Vec<u8>,
    layer: LayerId,
    feature: &Feature,
    columns: &[&str],
    types: &[Binary],
    values: &[BindValue],
) -> Result<()> {
    out.extend_from_slice(&(values.len() as i16).to_be_bytes());
    let field = |bytes: &[u8], out: &mut Vec<u8>| {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    for ((value, ty), column) in values.iter().zip(types).zip(columns) {
        let refuse = |what: &str| StoreError::InvalidFeature {
            layer,
            id: feature.id.clone(),
            reason: format!("field `{column}`: {what}"),
        };
        match (ty, value) {
            (_, BindValue::Text(None) | BindValue::Integer(None) | BindValue::Real(None))
            | (_, BindValue::Boolean(None) | BindValue::Blob(None)) => out.extend_from_slice(&(-1i32).to_be_bytes()),
            (Binary::Text, BindValue::Text(Some(s))) => field(s.as_bytes(), out),
            (Binary::Geometry, BindValue::Blob(Some(b))) => field(b, out),
            (Binary::Int8, BindValue::Integer(Some(n))) => field(&n.to_be_bytes(), out),
            (Binary::Float8, BindValue::Real(Some(x))) => field(&x.to_bits().to_be_bytes(), out),
            (Binary::Bool, BindValue::Boolean(Some(b))) => field(&[u8::from(*b)], out),
            (Binary::Jsonb, BindValue::Text(Some(s))) => {
                // jsonb's binary form: version 1, then the JSON text.
                out.extend_from_slice(&(s.len() as i32 + 1).to_be_bytes());
                out.push(1);
                out.extend_from_slice(s.as_bytes());
            }
            (Binary::Date, BindValue::Text(Some(s))) => {
                let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| refuse(&format!("`{s}` is not a date (YYYY-MM-DD)")))?;
                let days = (day - PG_EPOCH.date()).num_days();
                field(&(days as i32).to_be_bytes(), out);
            }
            (Binary::Timestamptz, BindValue::Text(Some(s))) => {
                let at = chrono::DateTime::parse_from_rfc3339(s)
                    .map_err(|_| refuse(&format!("`{s}` is not a date and time")))?
                    .naive_utc();
                let micros = (at - PG_EPOCH).num_microseconds().ok_or_else(|| refuse("out of range"))?;
                field(&micros.to_be_bytes(), out);
            }
            (ty, v) => return Err(refuse(&format!("{v:?} cannot be written to a {ty:?} column"))),
        }
    }
    Ok(())
}

/// PostgreSQL's epoch for dates and times: 2000-01-01 00:00 UTC.
const PG_EPOCH: chrono::NaiveDateTime = match chrono::NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d.and_time(chrono::NaiveTime::MIN),
    None => panic!("2000-01-01 is a date"),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Dates count days and instants microseconds from 2000-01-01 UTC; NULL is length -1; a value
    /// that is not what its column holds is refused naming the feature and field.
    #[test]
    fn binary_rows_as_the_server_reads_them() {
        let f = Feature::new("p-1", None);
        let mut out = vec![];
        let values = [
            BindValue::Text(Some("2000-01-02".into())),
            BindValue::Text(Some("2000-01-01T00:00:01.500Z".into())),
            BindValue::Integer(None),
            BindValue::Text(Some("{}".into())),
        ];
        let types = [Binary::Date, Binary::Timestamptz, Binary::Int8, Binary::Jsonb];
        binary_row(&mut out, LayerId::Permits, &f, &["d", "t", "n", "j"], &types, &values).unwrap();
        let mut expected = vec![0, 4, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 8];
        expected.extend_from_slice(&1_500_000i64.to_be_bytes());
        expected.extend_from_slice(&[255, 255, 255, 255, 0, 0, 0, 3, 1, b'{', b'}']);
        assert_eq!(out, expected);
        let err = binary_row(
            &mut out,
            LayerId::Permits,
            &f,
            &["d"],
            &[Binary::Date],
            &[BindValue::Text(Some("5/3/2012".into()))],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("p-1") && err.contains("field `d`") && err.contains("5/3/2012"), "{err}");
    }
}
