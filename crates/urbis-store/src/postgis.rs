//! The production store: PostGIS through sqlx. The tables come from the migrations in
//! `migrations/` (checked against the core schemas by a test); distances are on the sphere, in
//! metres, on `geography` after the planar index has selected by a widened box. Values are always bound; identifiers come only from the static
//! layer schemas.

use std::collections::HashSet;
use std::str::FromStr;

use async_trait::async_trait;
use geo::BoundingRect;
use geo_types::{Geometry, Point, Rect};
use serde_json::{Map, Value};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgDatabaseError, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Postgres, Row};
use urbis_core::geodesy::expand_by_metres;
use urbis_core::{Feature, FieldType, LayerId};

use crate::query::{column_type, filter_value, row_values, BindValue};
use crate::{wkb, Comparison, LayerCount, Near, Progress, Query, RawFeature, Result, Store, StoreError, StoreKind};

// Bulk loads (COPY, indexes built after the rows): their own file, next to this one.
#[path = "postgis_copy.rs"]
mod copy;
// A dossier's step and its event in one transaction.
mod history;
// The lean read behind a vector tile.
mod tiles;
mod users;

/// The migrations, embedded at build time (`build.rs` rebuilds when the folder changes).
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Rows per COPY message: large enough to keep the pipe full, small enough to report progress.
const COPY_CHUNK: usize = 1000;

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

pub struct PostgisStore {
    pool: PgPool,
    /// Tile reads and the change feed: a pool of their own, so that `pool`'s use tells of this
    /// process's writes (see `changes::postgis::Watch`).
    reads: PgPool,
    location: String,
}

impl PostgisStore {
    /// Connects to a migrated urbis database. A database without PostGIS or without the urbis
    /// tables is refused with [`StoreError::NotUrbis`], never altered: `urbis migrate` does that.
    pub async fn connect(url: &str) -> Result<Self> {
        let (pool, location) = pool(url, 10).await?;
        let reads = crate::changes::postgis::reads_pool(&pool);
        let store = PostgisStore { pool, reads, location };
        store.check_schema().await?;
        Ok(store)
    }

    /// The pool, for callers that run their own SQL (tiles, analysis).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn check_schema(&self) -> Result<()> {
        let not_urbis = |reason: String| StoreError::NotUrbis {
            location: self.location.clone(),
            reason: format!("{reason}; run `urbis migrate --store <url>` first"),
        };
        let postgis: Option<String> =
            sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
                .fetch_optional(&self.pool)
                .await?;
        if postgis.is_none() {
            return Err(not_urbis("the postgis extension is not installed in this database".into()));
        }
        let has_history: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&self.pool).await?;
        if !has_history {
            return Err(not_urbis("it has no urbis tables (no migration has run)".into()));
        }
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(&self.pool).await?;
        let missing: Vec<String> = MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect();
        if !missing.is_empty() {
            return Err(not_urbis(format!("migration(s) not applied: {}", missing.join(", "))));
        }
        Ok(())
    }
}

/// A pool of at most `connections` to `url`, and the location to name in errors (no password).
async fn pool(url: &str, connections: u32) -> Result<(PgPool, String)> {
    let location = location_of(url);
    let open_error = |e: sqlx::Error| StoreError::Open { location: location.clone(), reason: e.to_string() };
    let options = PgConnectOptions::from_str(url).map_err(open_error)?;
    let pool = crate::changes::postgis::counted(PgPoolOptions::new().max_connections(connections))
        .connect_with(options)
        .await
        .map_err(open_error)?;
    Ok((pool, location))
}

/// Creates the postgis extension if missing and applies every pending migration. Safe to run
/// again: applied migrations are skipped, and changed ones are refused by their checksum.
pub async fn migrate(url: &str) -> Result<()> {
    let (pool, location) = pool(url, 1).await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis").execute(&pool).await.map_err(|e| StoreError::Open {
        location: location.clone(),
        reason: format!("cannot create the postgis extension (is PostGIS installed on the server?): {e}"),
    })?;
    MIGRATOR.run(&pool).await?;
    // The change feed's triggers on every layer table, also those of migrations after its own.
    crate::changes::postgis::track(&pool).await?;
    pool.close().await;
    Ok(())
}

/// `host:port/dbname`, never the user or password.
fn location_of(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(o) => format!("{}:{}/{}", o.get_host(), o.get_port(), o.get_database().unwrap_or("")),
        // Unparseable: show the scheme only, the rest may hold a password.
        Err(_) => url.split("://").next().map(|s| format!("{s}://…")).unwrap_or_default(),
    }
}

/// A table or column name, quoted. The names come from the static schemas, never from input.
fn ident(name: &str) -> String {
    format!("\"{name}\"")
}

/// The columns read for a feature, in the order [`decode`] expects. Dates and instants are
/// formatted by the server so that they come back exactly as the GeoPackage store keeps them.
fn select_list(layer: LayerId) -> String {
    let schema = layer.schema();
    let mut cols = vec!["\"id\"".to_string()];
    if schema.has_geometry() {
        cols.push("ST_AsBinary(\"geom\")".into());
    }
    for f in schema.fields {
        let c = ident(f.name);
        cols.push(match f.ty {
            FieldType::Date => format!("to_char({c}, 'YYYY-MM-DD')"),
            FieldType::DateTime => format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"),
            _ => c,
        });
    }
    cols.push("\"extra\"".into());
    cols.join(", ")
}

fn decode(layer: LayerId, row: &PgRow) -> Result<Feature> {
    let (mut feature, wkb, extra) = decode_head(layer, row)?;
    if let Some(bytes) = wkb {
        let read = wkb::from_wkb(bytes);
        feature.geometry =
            Some(read.map_err(|reason| StoreError::Geometry { layer, id: feature.id.clone(), reason })?);
    }
    feature.extra = match row.try_get::<Value, _>(extra)? {
        Value::Object(m) => m,
        // Written by hand outside urbis: keep it rather than lose it.
        Value::Null => Map::new(),
        other => Map::from_iter([("extra".to_string(), other)]),
    };
    Ok(feature)
}

/// A row of [`select_list`] with `extra` as text (the list ends with it) as a [`RawFeature`].
fn decode_raw(layer: LayerId, row: &PgRow) -> Result<RawFeature> {
    let (feature, wkb, extra) = decode_head(layer, row)?;
    let text: String = row.try_get(extra)?;
    // As `decode` reads it: null is empty, anything but an object is kept under `extra`.
    let extra_json = match text.as_bytes().first() {
        _ if text == "{}" || text == "null" => None,
        Some(b'{') => Some(text),
        _ => Some(format!("{{\"extra\":{text}}}")),
    };
    Ok(RawFeature { feature, wkb: wkb.map(<[u8]>::to_vec), extra_json })
}

/// The value of a typed attribute column, `None` when SQL NULL or (a non-finite float) JSON null:
/// JSON has no NaN.
pub(crate) fn column_value(row: &PgRow, col: usize, ty: FieldType) -> Result<Option<Value>, sqlx::Error> {
    let v = match ty {
        FieldType::Text | FieldType::Date | FieldType::DateTime => {
            row.try_get::<Option<String>, _>(col)?.map(Value::String)
        }
        FieldType::Integer => row.try_get::<Option<i64>, _>(col)?.map(Value::from),
        FieldType::Real => row.try_get::<Option<f64>, _>(col)?.map(Value::from),
        FieldType::Boolean => row.try_get::<Option<bool>, _>(col)?.map(Value::Bool),
        FieldType::Json => row.try_get::<Option<Value>, _>(col)?,
    };
    Ok(v.filter(|v| !v.is_null()))
}

/// The id, the geometry's WKB and the fields of a row of [`select_list`], and the index of its
/// last column (`extra`).
fn decode_head(layer: LayerId, row: &PgRow) -> Result<(Feature, Option<&[u8]>, usize)> {
    let schema = layer.schema();
    let mut i = 0;
    let mut next = || {
        i += 1;
        i - 1
    };
    let id: String = row.try_get(next())?;
    let wkb = if schema.has_geometry() { row.try_get::<Option<&[u8]>, _>(next())? } else { None };
    let mut feature = Feature::new(id, None);
    for f in schema.fields {
        if let Some(v) = column_value(row, next(), f.ty)? {
            feature.attributes.insert(f.name.to_string(), v);
        }
    }
    Ok((feature, wkb, next()))
}

/// A statement under construction: SQL text with `$n` placeholders and the values they take.
#[derive(Default)]
struct Statement {
    binds: Vec<BindValue>,
}

impl Statement {
    /// Adds a value and returns its placeholder.
    fn push(&mut self, v: BindValue) -> String {
        self.binds.push(v);
        format!("${}", self.binds.len())
    }

    /// A placeholder cast to the column's type where the value travels as text.
    fn push_typed(&mut self, ty: FieldType, v: BindValue) -> String {
        let p = self.push(v);
        match ty {
            FieldType::Date => format!("{p}::date"),
            FieldType::DateTime => format!("{p}::timestamptz"),
            FieldType::Json => format!("{p}::jsonb"),
            _ => p,
        }
    }

    fn query<'q>(&self, sql: &'q str) -> PgQuery<'q> {
        let mut q = sqlx::query(sql);
        for b in &self.binds {
            q = match b.clone() {
                BindValue::Text(v) => q.bind(v),
                BindValue::Integer(v) => q.bind(v),
                BindValue::Real(v) => q.bind(v),
                BindValue::Boolean(v) => q.bind(v),
                BindValue::Blob(v) => q.bind(v),
            };
        }
        q
    }
}

fn no_geometry(layer: LayerId) -> StoreError {
    StoreError::InvalidQuery { layer, reason: "this layer has no geometry".into() }
}

/// `$n` limits are bigint; a limit past i64::MAX means no limit anyway.
fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The `WHERE` clause of a query (empty if it has no conditions).
fn where_clause(layer: LayerId, q: &Query, st: &mut Statement) -> Result<String> {
    let mut conds = vec![];
    if let Some(b) = q.bbox {
        if !layer.schema().has_geometry() {
            return Err(no_geometry(layer));
        }
        let [x0, y0, x1, y1] = [b.min().x, b.min().y, b.max().x, b.max().y].map(|v| st.push(BindValue::Real(Some(v))));
        let envelope = format!("ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4326)");
        // A feature whose box lies inside the envelope meets it: only the others need the exact
        // test (GEOS), which is most of the cost of a bbox page otherwise.
        conds
            .push(format!("\"geom\" && {envelope} AND (\"geom\" @ {envelope} OR ST_Intersects(\"geom\", {envelope}))"));
    }
    for f in &q.filters {
        let ty = column_type(layer, &f.field)?;
        let value = filter_value(layer, f)?;
        // column_type has checked the name against the schema: it is an identifier, not input.
        let col = ident(&f.field);
        let col = if ty == FieldType::Text { format!("{col} COLLATE \"C\"") } else { col };
        conds.push(match (f.op, value) {
            (Comparison::IsNull | Comparison::IsNotNull, _) | (_, None) => format!("{col} {}", f.op.sql()),
            // No escape character, as in SQLite: `\` is an ordinary character in a pattern.
            (Comparison::Like, Some(v)) => format!("{col} LIKE {} ESCAPE ''", st.push_typed(ty, v)),
            (op, Some(v)) => format!("{col} {} {}", op.sql(), st.push_typed(ty, v)),
        });
    }
    if let Some(filter) = crate::query::cql2_filter(layer, q)? {
        conds.push(crate::cql_sql::condition(&filter, &mut |v| st.push(v))?);
    }
    Ok(if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) })
}

/// Text is ordered by code point ("C"), as SQLite's binary collation does in the GeoPackage
/// store; ties and the default order are by id.
fn order_clause(layer: LayerId, q: &Query) -> Result<String> {
    let mut keys = vec![];
    for (field, desc) in &q.order_by {
        let dir = if *desc { "DESC" } else { "ASC" };
        if field == "id" {
            // The id is unique: nothing after it changes the order.
            keys.push(format!("\"id\" COLLATE \"C\" {dir}"));
            return Ok(format!(" ORDER BY {}", keys.join(", ")));
        }
        let ty = column_type(layer, field)?;
        if ty == FieldType::Json {
            return Err(StoreError::InvalidQuery { layer, reason: format!("cannot sort by JSON field `{field}`") });
        }
        let collate = if ty == FieldType::Text { " COLLATE \"C\"" } else { "" };
        keys.push(format!("{}{collate} {dir} NULLS LAST", ident(field)));
    }
    keys.push("\"id\" COLLATE \"C\"".into());
    Ok(format!(" ORDER BY {}", keys.join(", ")))
}

/// The column list of writes, in [`row_values`] order.
fn write_columns(layer: LayerId) -> Vec<&'static str> {
    let schema = layer.schema();
    let mut cols = vec!["id"];
    if schema.has_geometry() {
        cols.push("geom");
    }
    cols.extend(schema.fields.iter().map(|f| f.name));
    cols.push("extra");
    cols
}

/// The SQL expression for the value of a write column, given its placeholder.
fn write_expr(layer: LayerId, col: &str, placeholder: &str) -> String {
    match col {
        "geom" => format!("ST_GeomFromEWKB({placeholder})"),
        "extra" => format!("{placeholder}::jsonb"),
        _ => match layer.schema().field(col).map(|f| f.ty) {
            Some(FieldType::Date) => format!("{placeholder}::date"),
            Some(FieldType::DateTime) => format!("{placeholder}::timestamptz"),
            Some(FieldType::Json) => format!("{placeholder}::jsonb"),
            _ => placeholder.to_string(),
        },
    }
}

fn insert_sql(layer: LayerId) -> String {
    let cols = write_columns(layer);
    let exprs: Vec<String> =
        cols.iter().enumerate().map(|(i, c)| write_expr(layer, c, &format!("${}", i + 1))).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        ident(layer.name()),
        cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", "),
        exprs.join(", ")
    )
}

/// `ERROR: duplicate key value violates unique constraint "parcels_id_key"`, with its detail
/// `Key (id)=(P-1) already exists.`, becomes [`StoreError::DuplicateId`]. Other errors pass.
fn duplicate_id(layer: LayerId, e: &sqlx::Error) -> Option<String> {
    let db = e.as_database_error()?.try_downcast_ref::<PgDatabaseError>()?;
    if db.code() != "23505" {
        return None;
    }
    let detail = db.detail().unwrap_or("");
    let id = detail.strip_prefix("Key (id)=(").and_then(|s| s.strip_suffix(") already exists."));
    match id {
        Some(id) => Some(id.to_string()),
        // The detail is withheld from roles without read access: still a duplicate, id unknown.
        None if db.constraint() == Some(&format!("{}_id_key", layer.name())) => Some(String::new()),
        None => None,
    }
}

/// Maps a write error, finding the duplicate id among `features` if the server did not name it.
fn write_error(layer: LayerId, features: &[Feature], e: sqlx::Error) -> StoreError {
    match duplicate_id(layer, &e) {
        Some(id) if !id.is_empty() => StoreError::DuplicateId { layer, id },
        Some(_) => {
            let mut seen = HashSet::new();
            let id = features.iter().find(|f| !seen.insert(f.id.as_str())).map(|f| f.id.clone()).unwrap_or_default();
            StoreError::DuplicateId { layer, id }
        }
        None => e.into(),
    }
}

/// One CSV field for COPY: quoted (so an empty text is not NULL), quotes doubled.
fn csv_field(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
}

/// The NULL marker of our COPY; never confused with a value because values are always quoted.
const COPY_NULL: &str = "\\N";

fn csv_row(out: &mut String, values: &[BindValue]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            BindValue::Text(Some(s)) => csv_field(out, s),
            BindValue::Integer(Some(n)) => csv_field(out, &n.to_string()),
            // Rust prints the shortest text that reads back as the same f64.
            BindValue::Real(Some(x)) => csv_field(out, &x.to_string()),
            BindValue::Boolean(Some(b)) => csv_field(out, if *b { "t" } else { "f" }),
            // PostGIS reads hex EWKB as geometry input, SRID included.
            BindValue::Blob(Some(bytes)) => csv_field(out, &hex(bytes)),
            _ => out.push_str(COPY_NULL),
        }
    }
    out.push('\n');
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Sends `features` through COPY on `conn` and returns the rows written: in COPY's binary format
/// when every column's type is one it writes (`copy::Binary`), else as CSV. Any error
/// aborts the COPY; the caller's transaction then rolls back.
async fn copy_features(
    conn: &mut PgConnection,
    layer: LayerId,
    features: &[Feature],
    progress: Progress<'_>,
) -> Result<u64> {
    let columns = write_columns(layer);
    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let binary = copy::binary_columns(conn, layer, &columns).await?;
    // E'\\N' is `\N` whatever standard_conforming_strings says; it must equal COPY_NULL.
    let format = if binary.is_some() { "FORMAT binary" } else { "FORMAT csv, NULL E'\\\\N'" };
    let sql = format!("COPY {} ({}) FROM STDIN WITH ({format})", ident(layer.name()), cols.join(", "));
    let mut copy = conn.copy_in_raw(&sql).await?;
    let mut sent = 0u64;
    let mut buf: Vec<u8> = Vec::new();
    let mut text = String::new();
    if binary.is_some() {
        buf.extend_from_slice(copy::BINARY_HEADER);
    }
    for chunk in features.chunks(COPY_CHUNK) {
        text.clear();
        for f in chunk {
            let row = row_values(layer, f, wkb::to_ewkb).and_then(|values| match &binary {
                Some(types) => copy::binary_row(&mut buf, layer, f, &columns, types, &values),
                None => {
                    csv_row(&mut text, &values);
                    Ok(())
                }
            });
            if let Err(e) = row {
                // The server answers an abort with an error of its own; ours is the one to report.
                let _ = copy.abort(e.to_string()).await;
                return Err(e);
            }
        }
        if binary.is_none() {
            buf.extend_from_slice(text.as_bytes());
        }
        if let Err(e) = copy.send(buf.as_slice()).await {
            let _ = copy.abort("urbis: sending rows failed").await;
            return Err(e.into());
        }
        buf.clear();
        sent += chunk.len() as u64;
        progress(sent);
    }
    // The binary format's trailer, a field count of -1 (after the header, if no row went).
    if binary.is_some() {
        buf.extend_from_slice(&(-1i16).to_be_bytes());
        if let Err(e) = copy.send(buf.as_slice()).await {
            let _ = copy.abort("urbis: sending rows failed").await;
            return Err(e.into());
        }
    }
    copy.finish().await.map_err(|e| write_error(layer, features, e))
}

/// The conditional writes of Part 4 editing: the row is read `FOR UPDATE`, so that a concurrent
/// writer waits for this transaction and then finds the new version (and a changed ETag).
async fn current_if(tx: &mut PgConnection, layer: LayerId, id: &str, expected: Option<&str>) -> Result<Feature> {
    let sql = format!("SELECT {} FROM {} WHERE \"id\" = $1 FOR UPDATE", select_list(layer), ident(layer.name()));
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await?;
    let current = row
        .map(|r| decode(layer, &r))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound { layer, id: id.to_string() })?;
    match expected {
        Some(e) if current.etag() != e => {
            Err(StoreError::PreconditionFailed { layer, id: id.to_string(), current_etag: current.etag() })
        }
        _ => Ok(current),
    }
}

/// `UPDATE … SET every column but the id … WHERE id = $1 RETURNING` the columns [`decode`] reads.
fn update_returning_sql(layer: LayerId) -> String {
    let cols = write_columns(layer);
    let sets: Vec<String> = cols
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| format!("{} = {}", ident(c), write_expr(layer, c, &format!("${}", i + 1))))
        .collect();
    format!("UPDATE {} SET {} WHERE \"id\" = $1 RETURNING {}", ident(layer.name()), sets.join(", "), select_list(layer))
}

#[async_trait]
impl Store for PostgisStore {
    fn kind(&self) -> StoreKind {
        StoreKind::PostGis
    }

    async fn add_user(&self, user: &crate::User) -> Result<()> {
        self.add_user_row(user).await
    }

    async fn get_user(&self, name: &str) -> Result<Option<crate::User>> {
        self.user_row(name).await
    }

    async fn list_users(&self) -> Result<Vec<crate::User>> {
        self.user_rows().await
    }

    async fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        self.set_user_row_disabled(name, disabled).await
    }

    async fn append_event(
        &self,
        dossier: &Feature,
        event: &Feature,
        expected: Option<&crate::HistoryHead>,
    ) -> Result<()> {
        self.append_event_in_one(dossier, event, expected).await
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    async fn layers(&self) -> Result<Vec<LayerCount>> {
        let mut out = Vec::with_capacity(LayerId::ALL.len());
        for layer in LayerId::ALL {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", ident(layer.name())))
                .fetch_one(&self.pool)
                .await?;
            out.push(LayerCount { layer, count: n.max(0) as u64 });
        }
        Ok(out)
    }

    async fn get(&self, layer: LayerId, id: &str) -> Result<Option<Feature>> {
        let sql = format!("SELECT {} FROM {} WHERE \"id\" = $1", select_list(layer), ident(layer.name()));
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| decode(layer, &r)).transpose()
    }

    async fn query(&self, layer: LayerId, q: &Query) -> Result<Vec<Feature>> {
        let (rows, _) = self.page(layer, q, false, false).await?;
        rows.iter().map(|r| decode(layer, r)).collect()
    }

    async fn query_counted(&self, layer: LayerId, q: &Query, count_up_to: u64) -> Result<(Vec<Feature>, Option<u64>)> {
        let count = self.count_in_page(layer, q, count_up_to).await?;
        let (rows, matched) = self.page(layer, q, count, false).await?;
        Ok((rows.iter().map(|r| decode(layer, r)).collect::<Result<_>>()?, matched))
    }

    async fn query_raw(
        &self,
        layer: LayerId,
        q: &Query,
        count_up_to: u64,
    ) -> Result<Option<(Vec<RawFeature>, Option<u64>)>> {
        let count = self.count_in_page(layer, q, count_up_to).await?;
        let (rows, matched) = self.page(layer, q, count, true).await?;
        Ok(Some((rows.iter().map(|r| decode_raw(layer, r)).collect::<Result<_>>()?, matched)))
    }

    async fn count(&self, layer: LayerId, q: &Query) -> Result<u64> {
        let mut st = Statement::default();
        let sql = format!("SELECT count(*) FROM {}{}", ident(layer.name()), where_clause(layer, q, &mut st)?);
        let n: i64 = st.query(&sql).fetch_one(&self.pool).await?.try_get(0)?;
        Ok(n.max(0) as u64)
    }

    async fn count_estimate(&self, layer: LayerId, q: &Query) -> Result<Option<u64>> {
        let mut st = Statement::default();
        let sql =
            format!("EXPLAIN (FORMAT JSON) SELECT 1 FROM {}{}", ident(layer.name()), where_clause(layer, q, &mut st)?);
        let plan: serde_json::Value = st.query(&sql).fetch_one(&self.pool).await?.try_get(0)?;
        Ok(plan.pointer("/0/Plan/Plan Rows").and_then(serde_json::Value::as_f64).map(|n| n.max(0.0).round() as u64))
    }

    async fn create(&self, layer: LayerId, features: &[Feature]) -> Result<()> {
        // Check every feature before writing any, so a bad one fails fast with its own error.
        let rows = features.iter().map(|f| row_values(layer, f, wkb::to_ewkb)).collect::<Result<Vec<_>>>()?;
        let sql = insert_sql(layer);
        let mut tx = self.pool.begin().await?;
        for values in rows {
            let st = Statement { binds: values };
            if let Err(e) = st.query(&sql).execute(&mut *tx).await {
                return Err(write_error(layer, features, e));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn replace(&self, layer: LayerId, feature: &Feature) -> Result<()> {
        let values = row_values(layer, feature, wkb::to_ewkb)?;
        let cols = write_columns(layer);
        // values[0] is the id: it moves to the WHERE clause as $1, the rest follow.
        let sets: Vec<String> = cols
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, c)| format!("{} = {}", ident(c), write_expr(layer, c, &format!("${}", i + 1))))
            .collect();
        let sql = format!("UPDATE {} SET {} WHERE \"id\" = $1", ident(layer.name()), sets.join(", "));
        let st = Statement { binds: values };
        let done = st.query(&sql).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { layer, id: feature.id.clone() });
        }
        Ok(())
    }

    async fn delete(&self, layer: LayerId, id: &str) -> Result<()> {
        let sql = format!("DELETE FROM {} WHERE \"id\" = $1", ident(layer.name()));
        let done = sqlx::query(&sql).bind(id).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { layer, id: id.to_string() });
        }
        Ok(())
    }

    async fn create_one(&self, layer: LayerId, feature: &Feature) -> Result<Feature> {
        let st = Statement { binds: row_values(layer, feature, wkb::to_ewkb)? };
        let sql = format!("{} RETURNING {}", insert_sql(layer), select_list(layer));
        let row = st
            .query(&sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| write_error(layer, std::slice::from_ref(feature), e))?;
        decode(layer, &row)
    }

    async fn replace_checked(&self, layer: LayerId, feature: &Feature, expected_etag: Option<&str>) -> Result<Feature> {
        let st = Statement { binds: row_values(layer, feature, wkb::to_ewkb)? };
        let sql = update_returning_sql(layer);
        let mut tx = self.pool.begin().await?;
        current_if(&mut tx, layer, &feature.id, expected_etag).await?;
        let row = st.query(&sql).fetch_one(&mut *tx).await?;
        let stored = decode(layer, &row)?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn delete_checked(&self, layer: LayerId, id: &str, expected_etag: Option<&str>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        current_if(&mut tx, layer, id, expected_etag).await?;
        sqlx::query(&format!("DELETE FROM {} WHERE \"id\" = $1", ident(layer.name())))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn intersects(&self, layer: LayerId, geometry: &Geometry, limit: Option<u64>) -> Result<Vec<Feature>> {
        if !layer.schema().has_geometry() {
            return Err(no_geometry(layer));
        }
        let ewkb = wkb::to_ewkb(geometry).map_err(|reason| StoreError::InvalidQuery { layer, reason })?;
        let mut st = Statement::default();
        let g = format!("ST_GeomFromEWKB({})", st.push(BindValue::Blob(Some(ewkb))));
        let mut sql = format!(
            "SELECT {} FROM {} WHERE ST_Intersects(\"geom\", {g}) ORDER BY \"id\" COLLATE \"C\"",
            select_list(layer),
            ident(layer.name())
        );
        if let Some(n) = limit {
            sql += &format!(" LIMIT {}", st.push(BindValue::Integer(Some(as_i64(n)))));
        }
        let rows = st.query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(|r| decode(layer, r)).collect()
    }

    async fn within_distance(
        &self,
        layer: LayerId,
        geometry: &Geometry,
        metres: f64,
        limit: Option<u64>,
    ) -> Result<Vec<Near>> {
        if !layer.schema().has_geometry() {
            return Err(no_geometry(layer));
        }
        if !(metres.is_finite() && metres >= 0.0) {
            return Err(StoreError::InvalidQuery {
                layer,
                reason: format!("distance must be metres ≥ 0, not {metres}"),
            });
        }
        let Some(bbox) = geometry.bounding_rect() else { return Ok(vec![]) };
        let ewkb = wkb::to_ewkb(geometry).map_err(|reason| StoreError::InvalidQuery { layer, reason })?;
        self.near(layer, &ewkb, bbox, metres, limit).await
    }

    async fn nearest(&self, layer: LayerId, point: Point, k: u64) -> Result<Vec<Near>> {
        if !layer.schema().has_geometry() {
            return Err(no_geometry(layer));
        }
        if k == 0 {
            return Ok(vec![]);
        }
        let ewkb =
            wkb::to_ewkb(&Geometry::Point(point)).map_err(|reason| StoreError::InvalidQuery { layer, reason })?;
        // The planar index scan (KNN `<->` in degrees) finds k features; the farthest of them, in
        // metres, bounds the k-th nearest from above, so every feature within that distance is
        // fetched and ranked exactly, by distance then id.
        let mut st = Statement::default();
        let g = format!("ST_GeomFromEWKB({})", st.push(BindValue::Blob(Some(ewkb.clone()))));
        let sql = format!(
            "SELECT max(ST_Distance(knn.\"geom\"::geography, {g}::geography, false)) FROM (\
                SELECT \"geom\" FROM {t} WHERE \"geom\" IS NOT NULL ORDER BY \"geom\" <-> {g} LIMIT {k}) AS knn",
            t = ident(layer.name()),
            k = st.push(BindValue::Integer(Some(as_i64(k)))),
        );
        let bound: Option<f64> = st.query(&sql).fetch_one(&self.pool).await?.try_get(0)?;
        let Some(bound) = bound else { return Ok(vec![]) };
        let at = Rect::new(point.0, point.0);
        self.near(layer, &ewkb, at, bound * (1.0 + 1e-9) + 1e-6, Some(k)).await
    }

    async fn bulk_load(
        &self,
        layer: LayerId,
        features: &[Feature],
        replace_all: bool,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let n = copy::load(&mut tx, layer, features, replace_all, progress).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn tile_features(&self, layer: LayerId, bbox: Rect, fields: &[&str]) -> Result<Vec<Feature>> {
        tiles::tile_features(&self.reads, layer, bbox, fields).await
    }

    async fn extent(&self, layer: LayerId) -> Result<Option<Rect>> {
        if !layer.schema().has_geometry() {
            return Ok(None);
        }
        // The aggregate box of the exact coordinates (the test of bulk_load checks it is not
        // rounded to the 32-bit floats of the index boxes).
        let t = ident(layer.name());
        let row = sqlx::query(&format!(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(\"geom\") AS e FROM {t}) AS x"
        ))
        .fetch_one(&self.pool)
        .await?;
        Ok(crate::query::extent_from([row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?]))
    }

    async fn changes_since(&self, after: i64, limit: u64) -> Result<Vec<crate::Change>> {
        crate::changes::postgis::since(&self.reads, after, limit).await
    }

    async fn last_change(&self) -> Result<i64> {
        crate::changes::postgis::last(&self.reads).await
    }

    async fn prune_changes(&self, keep: std::time::Duration) -> Result<u64> {
        crate::changes::postgis::prune(&self.pool, keep).await
    }

    fn change_watch(&self) -> Option<std::sync::Arc<dyn crate::changes::ChangeWatch>> {
        crate::changes::postgis::watch(&self.pool)
    }
}

impl PostgisStore {
    /// Whether a page of `q` should count its matches as it reads them ([`Store::query_counted`]).
    /// A box's page is read from the index, all its matches sorted for the page: counting them on
    /// the way (a window over the sorted rows) costs next to nothing, where a second query would
    /// run the exact intersection test on every match again. Not when they are too many to hold:
    /// the planner's estimate says so beforehand.
    async fn count_in_page(&self, layer: LayerId, q: &Query, count_up_to: u64) -> Result<bool> {
        Ok(q.bbox.is_some() && self.count_estimate(layer, q).await?.is_some_and(|n| n <= count_up_to))
    }

    /// The rows of a page of `q` (with `raw`, `extra` as text), and with `count` the number of
    /// all its matches (none if the page is empty).
    async fn page(&self, layer: LayerId, q: &Query, count: bool, raw: bool) -> Result<(Vec<PgRow>, Option<u64>)> {
        let mut st = Statement::default();
        let mut sql = format!("SELECT {}", select_list(layer));
        if raw {
            // The list ends with `extra`.
            sql += "::text";
        }
        if count {
            sql += ", count(*) OVER ()";
        }
        sql += &format!(" FROM {}", ident(layer.name()));
        sql += &where_clause(layer, q, &mut st)?;
        sql += &order_clause(layer, q)?;
        if let Some(limit) = q.limit {
            sql += &format!(" LIMIT {}", st.push(BindValue::Integer(Some(as_i64(limit)))));
        }
        if q.offset > 0 {
            sql += &format!(" OFFSET {}", st.push(BindValue::Integer(Some(as_i64(q.offset)))));
        }
        let rows = st.query(&sql).fetch_all(&self.pool).await?;
        let matched = match rows.first() {
            // The window's column comes after those the decoders read.
            Some(row) if count => Some(row.try_get::<i64, _>(row.len() - 1)?.max(0) as u64),
            _ => None,
        };
        Ok((rows, matched))
    }

    /// Features within `metres` of a geometry (its EWKB and box), nearest first: the planar GiST
    /// index selects by the box widened by the distance, then the sphere decides.
    async fn near(
        &self,
        layer: LayerId,
        ewkb: &[u8],
        bbox: Rect,
        metres: f64,
        limit: Option<u64>,
    ) -> Result<Vec<Near>> {
        let mut st = Statement::default();
        let g = format!("ST_GeomFromEWKB({})::geography", st.push(BindValue::Blob(Some(ewkb.to_vec()))));
        let m = st.push(BindValue::Real(Some(metres)));
        // A hair wider than the distance: the box is a prefilter and must never cut off a match.
        let b = expand_by_metres(bbox, metres * (1.0 + 1e-6) + 1.0);
        let [x0, y0, x1, y1] = [b.min().x, b.min().y, b.max().x, b.max().y].map(|v| st.push(BindValue::Real(Some(v))));
        // `false`: on the sphere, the same model as the GeoPackage store's distances.
        let mut sql = format!(
            "SELECT {cols}, ST_Distance(\"geom\"::geography, {g}, false) AS distance_m FROM {t} \
             WHERE \"geom\" && ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4326) \
             AND ST_DWithin(\"geom\"::geography, {g}, {m}, false) \
             ORDER BY distance_m, \"id\" COLLATE \"C\"",
            cols = select_list(layer),
            t = ident(layer.name()),
        );
        if let Some(n) = limit {
            sql += &format!(" LIMIT {}", st.push(BindValue::Integer(Some(as_i64(n)))));
        }
        self.fetch_near(layer, &sql, &st).await
    }

    /// Runs a distance query whose last column is `distance_m`.
    async fn fetch_near(&self, layer: LayerId, sql: &str, st: &Statement) -> Result<Vec<Near>> {
        let rows = st.query(sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let feature = decode(layer, r)?;
                let distance_m: f64 = r.try_get("distance_m")?;
                Ok(Near { feature, distance_m })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_hides_the_credentials() {
        assert_eq!(location_of("postgres://alice:s3cret@db.example:6543/city"), "db.example:6543/city");
        assert_eq!(location_of("postgresql://localhost/urbis"), "localhost:5432/urbis");
        assert!(!location_of("postgres://alice:s3cret@[bad").contains("s3cret"));
    }

    #[test]
    fn copy_rows_quote_values_and_mark_nulls() {
        let mut out = String::new();
        csv_row(
            &mut out,
            &[
                BindValue::Text(Some("a \"b\",\nc".into())),
                BindValue::Text(Some(String::new())),
                BindValue::Text(None),
                BindValue::Integer(Some(-3)),
                BindValue::Real(Some(0.1)),
                BindValue::Boolean(Some(false)),
                BindValue::Blob(Some(vec![0x01, 0xab])),
            ],
        );
        assert_eq!(out, "\"a \"\"b\"\",\nc\",\"\",\\N,\"-3\",\"0.1\",\"f\",\"01AB\"\n");
    }

    #[test]
    fn write_sql_casts_typed_columns() {
        let sql = insert_sql(LayerId::PermitEvents);
        assert!(sql.starts_with("INSERT INTO \"permit_events\" (\"id\", \"permit_id\", \"seq\", \"at\","), "{sql}");
        assert!(sql.contains("$4::timestamptz") && sql.ends_with("$10::jsonb)"), "{sql}");
        let sql = insert_sql(LayerId::Parcels);
        assert!(sql.contains("ST_GeomFromEWKB($2)"), "{sql}");
    }
}
