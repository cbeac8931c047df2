//! Reads of the GeoPackage store, straight through SQLite's C API (rusqlite) on the caller's
//! thread. sqlx-sqlite runs every connection on a worker thread of its own and hands each command
//! and each row across threads; a parcel report asks half a dozen small questions, and those
//! hand-offs cost more than the questions. Here a read takes an idle connection, steps its
//! statement to the end, decodes the rows into features and gives the connection back: no thread
//! is woken. Writes stay on sqlx (its transactions and the bulk loader).
//!
//! Connections are read-only and share the file with the writers through SQLite's own locking
//! (a read that finds a writer committing is retried until it passes, or for 30 s).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Map, Value};
use urbis_core::{Feature, FieldType, LayerId};

use super::functions;
use crate::query::BindValue;
use crate::{wkb, Result, StoreError};

/// Idle connections kept for reuse; more may be open at once under load (they are then closed).
const KEEP_IDLE: usize = 8;
/// Prepared statements kept per connection (a handful of shapes per layer).
const STATEMENT_CACHE: usize = 128;

pub(crate) struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Reader {
    pub(crate) fn new(path: &Path) -> Self {
        Reader { path: path.to_path_buf(), idle: Mutex::new(vec![]) }
    }

    fn open(&self) -> Result<Connection> {
        let failed = |reason: String| StoreError::Open { location: self.path.display().to_string(), reason };
        let conn =
            Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| failed(e.to_string()))?;
        // No waiting inside SQLite: a read that finds the file locked returns `Busy` at once, and
        // the store retries it off the async workers (see `GpkgStore::read`).
        conn.busy_timeout(Duration::ZERO).map_err(|e| failed(e.to_string()))?;
        conn.pragma_update(None, "cache_size", -65536).map_err(|e| failed(e.to_string()))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // SAFETY: the handle belongs to `conn`, which this thread alone uses during the call.
        unsafe {
            let handle = std::ptr::NonNull::new(conn.handle()).ok_or_else(|| failed("no connection handle".into()))?;
            functions::register(handle).map_err(failed)?;
        }
        Ok(conn)
    }

    /// Runs `f` on an idle connection (opening one if none is idle).
    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEEP_IDLE {
            idle.push(conn);
        }
        out
    }

    /// The features a `SELECT` of [`super::GpkgStore::columns`] returns, in its order.
    pub(crate) fn features(&self, layer: LayerId, sql: &str, binds: &[BindValue]) -> Result<Vec<Feature>> {
        self.with(|conn| {
            let mut st = conn.prepare_cached(sql).map_err(database)?;
            bind_all(&mut st, binds)?;
            let mut rows = st.raw_query();
            let mut out = vec![];
            while let Some(row) = rows.next().map_err(database)? {
                out.push(decode(layer, row)?);
            }
            Ok(out)
        })
    }

    /// The ids of the R*Tree entries a query returns (`id, minx, maxx, miny, maxy`) whose box
    /// `keep` accepts.
    pub(crate) fn boxes(&self, sql: &str, binds: &[BindValue], keep: impl Fn(geo::Rect) -> bool) -> Result<Vec<i64>> {
        self.with(|conn| {
            let mut st = conn.prepare_cached(sql).map_err(database)?;
            bind_all(&mut st, binds)?;
            let mut rows = st.raw_query();
            let mut out = vec![];
            while let Some(row) = rows.next().map_err(database)? {
                let v = |i: usize| row.get::<_, f64>(i).map_err(database);
                let rect = geo::Rect::new(geo::coord! { x: v(1)?, y: v(3)? }, geo::coord! { x: v(2)?, y: v(4)? });
                if keep(rect) {
                    out.push(row.get::<_, i64>(0).map_err(database)?);
                }
            }
            Ok(out)
        })
    }

    /// The single integer a query returns (a count).
    pub(crate) fn integer(&self, sql: &str, binds: &[BindValue]) -> Result<i64> {
        self.with(|conn| {
            let mut st = conn.prepare_cached(sql).map_err(database)?;
            bind_all(&mut st, binds)?;
            let mut rows = st.raw_query();
            let row = rows.next().map_err(database)?.ok_or_else(|| database(rusqlite::Error::QueryReturnedNoRows))?;
            row.get::<_, i64>(0).map_err(database)
        })
    }

    /// Four nullable reals (an extent).
    pub(crate) fn reals4(&self, sql: &str) -> Result<[Option<f64>; 4]> {
        self.with(|conn| {
            conn.query_row(sql, [], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?])).map_err(database)
        })
    }
}

fn database(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => StoreError::Busy,
        _ => StoreError::Database(sqlx::Error::Protocol(format!("SQLite: {e}"))),
    }
}

fn bind_all(st: &mut rusqlite::CachedStatement<'_>, binds: &[BindValue]) -> Result<()> {
    for (i, b) in binds.iter().enumerate() {
        let at = i + 1;
        let r = match b {
            BindValue::Text(v) => st.raw_bind_parameter(at, v.as_deref()),
            BindValue::Integer(v) => st.raw_bind_parameter(at, v),
            BindValue::Real(v) => st.raw_bind_parameter(at, v),
            BindValue::Boolean(v) => st.raw_bind_parameter(at, v),
            BindValue::Blob(v) => st.raw_bind_parameter(at, v.as_deref()),
        };
        r.map_err(database)?;
    }
    Ok(())
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
    }
}

/// A row of `id, geom?, fields…, extra` as a feature.
fn decode(layer: LayerId, row: &rusqlite::Row<'_>) -> Result<Feature> {
    decode_cells(layer, |i| row.get_ref(i).map_err(database))
}

/// A row of `id, geom?, fields…, extra` as a feature, from its cells as SQLite typed them: the
/// one decoding of a feature row, for these reads and for the reads inside sqlx's write
/// transactions ([`sqlx_cell`]).
pub(crate) fn decode_cells<'r>(layer: LayerId, cell: impl Fn(usize) -> Result<ValueRef<'r>>) -> Result<Feature> {
    let schema = layer.schema();
    let id = text(cell(0)?).unwrap_or_default();
    let mut col = 1;
    let geometry = if schema.has_geometry() {
        col += 1;
        match cell(1)? {
            ValueRef::Blob(blob) => {
                Some(wkb::from_gpkg(blob).map_err(|reason| StoreError::Geometry { layer, id: id.clone(), reason })?)
            }
            _ => None,
        }
    } else {
        None
    };
    let mut feature = Feature::new(id, geometry);
    for f in schema.fields {
        let v = cell(col)?;
        col += 1;
        let value = match (f.ty, v) {
            (_, ValueRef::Null) => None,
            (FieldType::Text | FieldType::Date | FieldType::DateTime, v) => text(v).map(Value::String),
            (FieldType::Integer, ValueRef::Integer(i)) => Some(Value::from(i)),
            (FieldType::Integer, ValueRef::Real(x)) => Some(Value::from(x as i64)),
            (FieldType::Real, ValueRef::Real(x)) => Some(Value::from(x)),
            (FieldType::Real, ValueRef::Integer(i)) => Some(Value::from(i as f64)),
            (FieldType::Boolean, ValueRef::Integer(i)) => Some(Value::Bool(i != 0)),
            (FieldType::Json, v) => text(v).map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s))),
            (_, other) => {
                return Err(StoreError::InvalidFeature {
                    layer,
                    id: feature.id.clone(),
                    reason: format!("field `{}` holds a {:?} value", f.name, other.data_type()),
                })
            }
        };
        if let Some(v) = value {
            feature.attributes.insert(f.name.to_string(), v);
        }
    }
    feature.extra =
        text(cell(col)?).and_then(|s| serde_json::from_str::<Map<String, Value>>(&s).ok()).unwrap_or_default();
    Ok(feature)
}

/// Cell `i` of a row read through sqlx, as SQLite typed it.
pub(crate) fn sqlx_cell(row: &sqlx::sqlite::SqliteRow, i: usize) -> Result<ValueRef<'_>> {
    use sqlx::{Row, TypeInfo, ValueRef as _};
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(ValueRef::Null);
    }
    let name = raw.type_info().name().to_string();
    Ok(match name.as_str() {
        "INTEGER" | "BOOLEAN" => ValueRef::Integer(row.try_get_unchecked::<i64, _>(i)?),
        "REAL" => ValueRef::Real(row.try_get_unchecked::<f64, _>(i)?),
        "BLOB" => ValueRef::Blob(row.try_get_unchecked::<&[u8], _>(i)?),
        _ => ValueRef::Text(row.try_get_unchecked::<&str, _>(i)?.as_bytes()),
    })
}

impl Reader {
    /// Closes the idle connections (so that another program may take the file).
    pub(crate) fn close(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
