//! The embedded store: one GeoPackage 1.3 file through sqlx-sqlite, readable by GDAL and QGIS
//! as it is. Spatial reads go through the GeoPackage R*Tree; exact tests run in Rust (registered
//! as SQL functions where paging needs them inside SQL).

mod bulk;
mod functions;
mod history;
mod reader;
mod rtree;
mod schema;
mod users;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use geo::BoundingRect;
use geo_types::{Coord, Geometry, Point, Rect};
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Sqlite, SqlitePool};
use urbis_core::geodesy::{distance_m, expand_by_metres};
use urbis_core::near::NearIndex;
use urbis_core::overlap::{rect_side, RectSide};
use urbis_core::{Feature, FieldType, LayerId};

use crate::query::{column_type, filter_value, row_values, BindValue};
use crate::{wkb, LayerCount, Near, Progress, Query, Result, Store, StoreError, StoreKind};

pub struct GpkgStore {
    pool: SqlitePool,
    /// Reads go through here (see `reader.rs`); writes through `pool`.
    reader: Arc<reader::Reader>,
    path: PathBuf,
}

/// Where a read runs (see `GpkgStore::read`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cost {
    Small,
    Large,
}

/// Pages up to this many features are read on the calling thread.
const SMALL_PAGE: u64 = 1000;

/// Layers added after the first release of the store, in the order they came: opening a store
/// written before one of them creates it.
const ADDED_LATER: [LayerId; 1] = [LayerId::CoverageResults];

/// How long a read or write waits for another writer to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

type SqlQuery<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

impl GpkgStore {
    /// Opens an urbis GeoPackage, creating it (with every layer, empty) if the file is missing or
    /// empty. A GeoPackage that is not an urbis store is refused, never altered.
    pub async fn open(path: &Path) -> Result<Self> {
        let location = path.display().to_string();
        let is_new = std::fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true);
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| StoreError::Open { location: location.clone(), reason: e.to_string() })?
            .create_if_missing(true)
            // A rollback journal, not WAL: the file alone is the GeoPackage, as GIS tools expect.
            .journal_mode(SqliteJournalMode::Delete)
            .busy_timeout(BUSY_TIMEOUT)
            // A bulk load touches every page of the table and its R*Tree: a page cache that holds
            // them (64 MiB) keeps SQLite from spilling half-written pages to the file mid-transaction.
            .pragma("cache_size", "-65536")
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    let mut handle = conn.lock_handle().await?;
                    // SAFETY: the handle is live and locked to us for the duration of the call.
                    unsafe { functions::register(handle.as_raw_handle()) }
                        .map_err(|e| sqlx::Error::Configuration(e.into()))?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open { location: location.clone(), reason: e.to_string() })?;
        let store = GpkgStore { pool, reader: Arc::new(reader::Reader::new(path)), path: path.to_path_buf() };
        if is_new {
            store.create_schema().await?;
        } else {
            store.check_schema().await?;
        }
        // The change feed (crate::changes), also into stores made before it existed.
        for statement in crate::changes::gpkg::statements() {
            sqlx::query(&statement).execute(&store.pool).await?;
        }
        // The staff accounts (crate::users), also into stores made before they existed.
        sqlx::query(&users::statement()).execute(&store.pool).await?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection, so that the file can be copied or opened by another program.
    pub async fn close(&self) {
        self.reader.close();
        self.pool.close().await;
    }

    async fn create_schema(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for statement in schema::create_statements() {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn check_schema(&self) -> Result<()> {
        let not_urbis = |reason: String| StoreError::NotUrbis { location: self.location(), reason };
        let app: i64 = sqlx::query_scalar("PRAGMA application_id")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| not_urbis(format!("not a SQLite file ({e})")))?;
        if app != schema::APPLICATION_ID {
            return Err(not_urbis(format!("application id is {app:#x}, not GeoPackage's 0x47504b47")));
        }
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT table_name FROM gpkg_contents").fetch_all(&self.pool).await?;
        let missing: Vec<&str> =
            LayerId::ALL.iter().map(|l| l.name()).filter(|t| !tables.iter().any(|x| x == t)).collect();
        // Layers that later versions of urbis added are created in a store an earlier version wrote
        // (all of them in one transaction); any other missing layer means it is not an urbis store.
        let (newer, lacking): (Vec<&str>, Vec<&str>) =
            missing.into_iter().partition(|t| ADDED_LATER.iter().any(|l| l.name() == *t));
        if !lacking.is_empty() {
            return Err(not_urbis(format!("it lacks the layer table(s) {}", lacking.join(", "))));
        }
        if !newer.is_empty() {
            let mut tx = self.pool.begin().await?;
            for layer in ADDED_LATER.iter().filter(|l| newer.contains(&l.name())) {
                for statement in schema::layer_statements(*layer) {
                    sqlx::query(&statement).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            tracing::info!(store = %self.location(), layers = %newer.join(", "), "added the layers this version of urbis has");
        }
        Ok(())
    }

    fn columns(layer: LayerId) -> String {
        let schema = layer.schema();
        let mut cols = vec!["id".to_string()];
        if schema.has_geometry() {
            cols.push("geom".into());
        }
        cols.extend(schema.fields.iter().map(|f| f.name.to_string()));
        cols.push("extra".into());
        cols.join(", ")
    }

    /// `WHERE …` for a query, pushing the values to bind.
    fn where_clause(layer: LayerId, q: &Query, binds: &mut Vec<BindValue>) -> Result<String> {
        let mut conds = vec![];
        if let Some(b) = q.bbox {
            if !layer.schema().has_geometry() {
                return Err(StoreError::InvalidQuery {
                    layer,
                    reason: "this layer has no geometry to filter by bbox".into(),
                });
            }
            conds.push(format!(
                "fid IN (SELECT id FROM rtree_{}_geom WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?) \
                 AND urbis_intersects_box(geom, ?, ?, ?, ?)",
                layer.name()
            ));
            for v in [b.max().x, b.min().x, b.max().y, b.min().y, b.min().x, b.min().y, b.max().x, b.max().y] {
                binds.push(BindValue::Real(Some(v)));
            }
        }
        for f in &q.filters {
            column_type(layer, &f.field)?;
            match filter_value(layer, f)? {
                Some(v) => {
                    conds.push(format!("{} {} ?", f.field, f.op.sql()));
                    binds.push(v);
                }
                None => conds.push(format!("{} {}", f.field, f.op.sql())),
            }
        }
        Ok(if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) })
    }

    fn order_clause(layer: LayerId, q: &Query) -> Result<String> {
        let mut keys = vec![];
        for (field, desc) in &q.order_by {
            let dir = if *desc { "DESC" } else { "ASC" };
            if field == "id" {
                // The id is unique: nothing after it changes the order.
                keys.push(format!("id {dir}"));
                return Ok(format!(" ORDER BY {}", keys.join(", ")));
            }
            if column_type(layer, field)? == FieldType::Json {
                return Err(StoreError::InvalidQuery { layer, reason: format!("cannot sort by JSON field `{field}`") });
            }
            keys.push(format!("{field} {dir} NULLS LAST"));
        }
        keys.push("id".into());
        Ok(format!(" ORDER BY {}", keys.join(", ")))
    }

    async fn fetch(&self, layer: LayerId, sql: &str, binds: Vec<BindValue>) -> Result<Vec<Feature>> {
        let sql = sql.to_string();
        self.read(Cost::Small, move |r| r.features(layer, &sql, &binds)).await
    }

    /// A read of many rows (a large page, a filter evaluated over a table), run off the async
    /// workers so that it does not hold up the requests queued behind it.
    async fn fetch_many(&self, layer: LayerId, sql: &str, binds: Vec<BindValue>) -> Result<Vec<Feature>> {
        let sql = sql.to_string();
        self.read(Cost::Large, move |r| r.features(layer, &sql, &binds)).await
    }

    /// Runs a read on the reader's connections. First on this thread: a read of the GeoPackage is
    /// a few hundred microseconds of CPU, less than the thread hand-offs it would take to run it
    /// anywhere else. If a writer (perhaps another process) holds the file, it is retried on the
    /// blocking pool, every few milliseconds for up to 30 seconds, so that no async worker waits.
    async fn read<T: Send + 'static>(
        &self,
        cost: Cost,
        f: impl Fn(&reader::Reader) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        if cost == Cost::Small {
            match f(&self.reader) {
                Err(StoreError::Busy) => {}
                done => return done,
            }
        }
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
            loop {
                match f(&reader) {
                    Err(StoreError::Busy) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    done => return done,
                }
            }
        })
        .await
        .map_err(|e| StoreError::Database(sqlx::Error::Protocol(format!("a read was cancelled: {e}"))))?
    }

    /// Every feature a query with a CQL2 filter selects, in its order, before paging: the rows its
    /// other conditions select (only those whose index box meets the box the filter implies, if
    /// any), then the filter evaluated on each.
    async fn matching(&self, layer: LayerId, q: &Query, filter: &urbis_core::cql2::Filter) -> Result<Vec<Feature>> {
        let mut binds = vec![];
        let mut sql = format!("SELECT {} FROM {}", Self::columns(layer), layer.name());
        let mut conds = Self::where_clause(layer, q, &mut binds)?;
        if let Some(r) = filter.implied_bbox() {
            conds += if conds.is_empty() { " WHERE " } else { " AND " };
            conds += &format!(
                "fid IN (SELECT id FROM rtree_{}_geom WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?)",
                layer.name()
            );
            binds.extend([r.max().x, r.min().x, r.max().y, r.min().y].map(|v| BindValue::Real(Some(v))));
        }
        sql += &conds;
        sql += &Self::order_clause(layer, q)?;
        let mut rows = self.fetch_many(layer, &sql, binds).await?;
        rows.retain(|f| filter.matches(f));
        Ok(rows)
    }

    /// Features whose index box meets `rect`: the candidates of every spatial read.
    async fn candidates(&self, layer: LayerId, rect: Rect) -> Result<Vec<Feature>> {
        if !layer.schema().has_geometry() {
            return Err(StoreError::InvalidQuery { layer, reason: "this layer has no geometry".into() });
        }
        let sql = format!(
            "SELECT {} FROM {t} WHERE fid IN (SELECT id FROM rtree_{t}_geom \
             WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?) ORDER BY id",
            Self::columns(layer),
            t = layer.name()
        );
        let binds = [rect.max().x, rect.min().x, rect.max().y, rect.min().y].map(|v| BindValue::Real(Some(v)));
        self.fetch(layer, &sql, binds.to_vec()).await
    }

    /// [`Self::candidates`] for a question about one geometry ("within `metres` of it"): the
    /// R*Tree's boxes are read first and tested against the prepared geometry, and only the
    /// features whose box may reach it are loaded. A parcel along a whole street has a box as large
    /// as the city; without this every road and hydrant in that box was read to be measured.
    async fn candidates_near(
        &self,
        layer: LayerId,
        rect: Rect,
        index: Arc<NearIndex>,
        metres: f64,
    ) -> Result<Vec<Feature>> {
        if !layer.schema().has_geometry() {
            return Err(StoreError::InvalidQuery { layer, reason: "this layer has no geometry".into() });
        }
        let t = layer.name();
        let boxes = format!(
            "SELECT id, minx, maxx, miny, maxy FROM rtree_{t}_geom WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?"
        );
        let rows = format!(
            "SELECT {} FROM {t} WHERE fid IN (SELECT value FROM json_each(?)) ORDER BY id",
            Self::columns(layer)
        );
        let binds = [rect.max().x, rect.min().x, rect.max().y, rect.min().y].map(|v| BindValue::Real(Some(v)));
        self.read(Cost::Small, move |r| {
            let near = r.boxes(&boxes, &binds, |b| index.may_reach(b, metres))?;
            if near.is_empty() {
                return Ok(vec![]);
            }
            let ids =
                serde_json::to_string(&near).map_err(|e| StoreError::Database(sqlx::Error::Protocol(e.to_string())))?;
            r.features(layer, &rows, &[BindValue::Text(Some(ids))])
        })
        .await
    }

    fn insert_sql(layer: LayerId, rows: usize) -> String {
        let schema = layer.schema();
        let n = 2 + schema.fields.len() + usize::from(schema.has_geometry());
        let one = format!("({})", vec!["?"; n].join(", "));
        format!("INSERT INTO {} ({}) VALUES {}", layer.name(), Self::columns(layer), vec![one; rows].join(", "))
    }

    async fn insert_all(
        tx: &mut sqlx::SqliteConnection,
        layer: LayerId,
        features: &[Feature],
        progress: Progress<'_>,
    ) -> Result<u64> {
        let schema = layer.schema();
        let per_row = 2 + schema.fields.len() + usize::from(schema.has_geometry());
        // Several rows per statement: fewer round trips to SQLite's worker thread.
        let batch = (30_000 / per_row).clamp(1, 200);
        let mut written = 0u64;
        for chunk in features.chunks(batch) {
            let sql = Self::insert_sql(layer, chunk.len());
            let mut q = sqlx::query(&sql);
            for f in chunk {
                for b in row_values(layer, f, wkb::to_gpkg)? {
                    q = bind(q, b);
                }
            }
            if let Err(e) = q.execute(&mut *tx).await {
                return Err(Self::duplicate_in(tx, layer, chunk, e).await);
            }
            written += chunk.len() as u64;
            progress(written);
        }
        Ok(written)
    }

    /// Turns a unique violation into the id at fault (a batch fails as a whole, so look it up).
    async fn duplicate_in(
        tx: &mut sqlx::SqliteConnection,
        layer: LayerId,
        chunk: &[Feature],
        e: sqlx::Error,
    ) -> StoreError {
        let unique = matches!(&e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation);
        if !unique {
            return e.into();
        }
        let mut seen = std::collections::HashSet::new();
        for f in chunk {
            if !seen.insert(f.id.as_str()) {
                return StoreError::DuplicateId { layer, id: f.id.clone() };
            }
            let exists: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 FROM {} WHERE id = ?", layer.name()))
                .bind(&f.id)
                .fetch_optional(&mut *tx)
                .await
                .ok()
                .flatten();
            if exists.is_some() {
                return StoreError::DuplicateId { layer, id: f.id.clone() };
            }
        }
        e.into()
    }

    /// Keeps gpkg_contents' extent and last change true, as GIS clients read them.
    async fn touch_contents(tx: &mut sqlx::SqliteConnection, layer: LayerId) -> Result<()> {
        let t = layer.name();
        let sql = if layer.schema().has_geometry() {
            format!(
                "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'), \
                 min_x = (SELECT min(minx) FROM rtree_{t}_geom), max_x = (SELECT max(maxx) FROM rtree_{t}_geom), \
                 min_y = (SELECT min(miny) FROM rtree_{t}_geom), max_y = (SELECT max(maxy) FROM rtree_{t}_geom) \
                 WHERE table_name = '{t}'"
            )
        } else {
            format!(
                "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = '{t}'"
            )
        };
        sqlx::query(&sql).execute(&mut *tx).await?;
        Ok(())
    }

    fn nearest_first(mut found: Vec<Near>, limit: Option<u64>) -> Vec<Near> {
        found.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then_with(|| a.feature.id.cmp(&b.feature.id)));
        if let Some(n) = limit {
            found.truncate(n as usize);
        }
        found
    }
}

/// Commits on success; on failure rolls back at once (not when the connection is next used),
/// so that no other connection finds the file locked by a failed write.
async fn finish<T>(tx: sqlx::Transaction<'_, Sqlite>, result: Result<T>) -> Result<T> {
    match result {
        Ok(v) => {
            tx.commit().await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::error!(error = %rollback, "rolling back a failed write");
            }
            Err(e)
        }
    }
}

fn bind(q: SqlQuery<'_>, v: BindValue) -> SqlQuery<'_> {
    match v {
        BindValue::Text(s) => q.bind(s),
        BindValue::Integer(i) => q.bind(i),
        BindValue::Real(x) => q.bind(x),
        BindValue::Boolean(b) => q.bind(b),
        BindValue::Blob(b) => q.bind(b),
    }
}

/// The conditional writes of Part 4 editing: each in one write transaction (`BEGIN IMMEDIATE`
/// takes SQLite's write lock at once), so that no other writer comes between the check and the
/// write.
impl GpkgStore {
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn get_in(tx: &mut sqlx::SqliteConnection, layer: LayerId, id: &str) -> Result<Option<Feature>> {
        let sql = format!("SELECT {} FROM {} WHERE id = ?", Self::columns(layer), layer.name());
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await?;
        row.map(|r| reader::decode_cells(layer, |i| reader::sqlx_cell(&r, i))).transpose()
    }

    /// The stored feature, if its ETag is `expected` (or `expected` is `None`).
    async fn current_if(
        tx: &mut sqlx::SqliteConnection,
        layer: LayerId,
        id: &str,
        expected: Option<&str>,
    ) -> Result<Feature> {
        let current =
            Self::get_in(tx, layer, id).await?.ok_or_else(|| StoreError::NotFound { layer, id: id.to_string() })?;
        match expected {
            Some(e) if current.etag() != e => {
                Err(StoreError::PreconditionFailed { layer, id: id.to_string(), current_etag: current.etag() })
            }
            _ => Ok(current),
        }
    }

    fn update_sql(layer: LayerId) -> String {
        let schema = layer.schema();
        let mut sets = vec![];
        if schema.has_geometry() {
            sets.push("geom = ?".to_string());
        }
        sets.extend(schema.fields.iter().map(|f| format!("{} = ?", f.name)));
        sets.push("extra = ?".into());
        format!("UPDATE {} SET {} WHERE id = ?", layer.name(), sets.join(", "))
    }
}

#[async_trait]
impl Store for GpkgStore {
    fn kind(&self) -> StoreKind {
        StoreKind::GeoPackage
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
        self.path.display().to_string()
    }

    async fn layers(&self) -> Result<Vec<LayerCount>> {
        let mut out = vec![];
        for layer in LayerId::ALL {
            let n: i64 =
                sqlx::query_scalar(&format!("SELECT count(*) FROM {}", layer.name())).fetch_one(&self.pool).await?;
            out.push(LayerCount { layer, count: n as u64 });
        }
        Ok(out)
    }

    async fn get(&self, layer: LayerId, id: &str) -> Result<Option<Feature>> {
        let sql = format!("SELECT {} FROM {} WHERE id = ?", Self::columns(layer), layer.name());
        Ok(self.fetch(layer, &sql, vec![BindValue::Text(Some(id.to_string()))]).await?.pop())
    }

    async fn query(&self, layer: LayerId, q: &Query) -> Result<Vec<Feature>> {
        if let Some(filter) = crate::query::cql2_filter(layer, q)? {
            let found = self.matching(layer, q, &filter).await?;
            let skip = usize::try_from(q.offset).unwrap_or(usize::MAX);
            let take = q.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
            return Ok(found.into_iter().skip(skip).take(take).collect());
        }
        let mut binds = vec![];
        let mut sql = format!("SELECT {} FROM {}", Self::columns(layer), layer.name());
        sql += &Self::where_clause(layer, q, &mut binds)?;
        sql += &Self::order_clause(layer, q)?;
        sql += " LIMIT ? OFFSET ?";
        binds.push(BindValue::Integer(Some(q.limit.map(|l| l.min(i64::MAX as u64) as i64).unwrap_or(-1))));
        binds.push(BindValue::Integer(Some(q.offset.min(i64::MAX as u64) as i64)));
        if q.limit.is_some_and(|l| l <= SMALL_PAGE) {
            self.fetch(layer, &sql, binds).await
        } else {
            self.fetch_many(layer, &sql, binds).await
        }
    }

    async fn count(&self, layer: LayerId, q: &Query) -> Result<u64> {
        if let Some(filter) = crate::query::cql2_filter(layer, q)? {
            return Ok(self.matching(layer, q, &filter).await?.len() as u64);
        }
        let mut binds = vec![];
        let sql = format!("SELECT count(*) FROM {}{}", layer.name(), Self::where_clause(layer, q, &mut binds)?);
        let n = self.read(Cost::Small, move |r| r.integer(&sql, &binds)).await?;
        Ok(n as u64)
    }

    async fn create(&self, layer: LayerId, features: &[Feature]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let written = async {
            Self::insert_all(&mut tx, layer, features, &|_| {}).await?;
            Self::touch_contents(&mut tx, layer).await
        }
        .await;
        finish(tx, written).await
    }

    async fn replace(&self, layer: LayerId, feature: &Feature) -> Result<()> {
        let sql = Self::update_sql(layer);
        let mut values = row_values(layer, feature, wkb::to_gpkg)?;
        let id = values.remove(0);
        values.push(id);
        let mut tx = self.pool.begin().await?;
        let mut q = sqlx::query(&sql);
        for v in values {
            q = bind(q, v);
        }
        let result = async {
            if q.execute(&mut *tx).await?.rows_affected() == 0 {
                return Err(StoreError::NotFound { layer, id: feature.id.clone() });
            }
            Self::touch_contents(&mut tx, layer).await
        }
        .await;
        finish(tx, result).await
    }

    async fn delete(&self, layer: LayerId, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let result = async {
            let sql = format!("DELETE FROM {} WHERE id = ?", layer.name());
            if sqlx::query(&sql).bind(id).execute(&mut *tx).await?.rows_affected() == 0 {
                return Err(StoreError::NotFound { layer, id: id.to_string() });
            }
            Self::touch_contents(&mut tx, layer).await
        }
        .await;
        finish(tx, result).await
    }

    async fn create_one(&self, layer: LayerId, feature: &Feature) -> Result<Feature> {
        let mut tx = self.begin_write().await?;
        let result = async {
            Self::insert_all(&mut tx, layer, std::slice::from_ref(feature), &|_| {}).await?;
            Self::touch_contents(&mut tx, layer).await?;
            Self::current_if(&mut tx, layer, &feature.id, None).await
        }
        .await;
        finish(tx, result).await
    }

    async fn replace_checked(&self, layer: LayerId, feature: &Feature, expected_etag: Option<&str>) -> Result<Feature> {
        // Encode before taking the lock: a value that does not fit fails without waiting.
        let mut values = row_values(layer, feature, wkb::to_gpkg)?;
        let id = values.remove(0);
        values.push(id);
        let sql = Self::update_sql(layer);
        let mut tx = self.begin_write().await?;
        let result = async {
            Self::current_if(&mut tx, layer, &feature.id, expected_etag).await?;
            let mut q = sqlx::query(&sql);
            for v in values {
                q = bind(q, v);
            }
            q.execute(&mut *tx).await?;
            Self::touch_contents(&mut tx, layer).await?;
            Self::current_if(&mut tx, layer, &feature.id, None).await
        }
        .await;
        finish(tx, result).await
    }

    async fn delete_checked(&self, layer: LayerId, id: &str, expected_etag: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = async {
            Self::current_if(&mut tx, layer, id, expected_etag).await?;
            sqlx::query(&format!("DELETE FROM {} WHERE id = ?", layer.name())).bind(id).execute(&mut *tx).await?;
            Self::touch_contents(&mut tx, layer).await
        }
        .await;
        finish(tx, result).await
    }

    async fn intersects(&self, layer: LayerId, geometry: &Geometry, limit: Option<u64>) -> Result<Vec<Feature>> {
        let Some(rect) = geometry.bounding_rect() else { return Ok(vec![]) };
        let index = Arc::new(NearIndex::new(geometry));
        let mut hits: Vec<Feature> = self
            .candidates_near(layer, rect, index.clone(), 0.0)
            .await?
            .into_iter()
            .filter(|f| {
                f.geometry.as_ref().is_some_and(|g| match rect_side(g, rect) {
                    Some(side) => side == RectSide::Inside,
                    None => index.intersects(g),
                })
            })
            .collect();
        if let Some(n) = limit {
            hits.truncate(n as usize);
        }
        Ok(hits)
    }

    async fn within_distance(
        &self,
        layer: LayerId,
        geometry: &Geometry,
        metres: f64,
        limit: Option<u64>,
    ) -> Result<Vec<Near>> {
        if !(metres.is_finite() && metres >= 0.0) {
            return Err(StoreError::InvalidQuery {
                layer,
                reason: format!("distance must be metres ≥ 0, not {metres}"),
            });
        }
        let Some(rect) = geometry.bounding_rect() else { return Ok(vec![]) };
        // A point is measured on the sphere; anything larger through an index of its segments,
        // so that a long parcel costs the few segments near each candidate (and candidates whose
        // box is not near any are not read).
        let found = if let Geometry::Point(_) = geometry {
            self.candidates(layer, expand_by_metres(rect, metres))
                .await?
                .into_iter()
                .filter_map(|f| {
                    let d = distance_m(geometry, f.geometry.as_ref()?);
                    (d <= metres).then_some(Near { feature: f, distance_m: d })
                })
                .collect()
        } else {
            let index = Arc::new(NearIndex::new(geometry));
            self.candidates_near(layer, expand_by_metres(rect, metres), index.clone(), metres)
                .await?
                .into_iter()
                .filter_map(|f| {
                    let d = index.within(f.geometry.as_ref()?, metres)?;
                    Some(Near { feature: f, distance_m: d })
                })
                .collect()
        };
        Ok(Self::nearest_first(found, limit))
    }

    async fn nearest(&self, layer: LayerId, point: Point, k: u64) -> Result<Vec<Near>> {
        if k == 0 {
            return Ok(vec![]);
        }
        if !layer.schema().has_geometry() {
            return Err(StoreError::InvalidQuery { layer, reason: "this layer has no geometry".into() });
        }
        let sql = format!("SELECT count(*) FROM rtree_{}_geom", layer.name());
        let total = self.read(Cost::Small, move |r| r.integer(&sql, &[])).await?;
        let at = Rect::new(Coord::from(point), Coord::from(point));
        let query: Geometry = point.into();
        // Widen the search until k features lie within the searched radius, or all are searched.
        let mut radius = 200.0;
        loop {
            let candidates = self.candidates(layer, expand_by_metres(at, radius)).await?;
            let all = candidates.len() as i64 >= total || radius > 2.1e7;
            let found: Vec<Near> = candidates
                .into_iter()
                .filter_map(|f| {
                    let d = distance_m(&query, f.geometry.as_ref()?);
                    Some(Near { feature: f, distance_m: d })
                })
                .collect();
            let inside = found.iter().filter(|n| n.distance_m <= radius).count() as u64;
            if inside >= k || all {
                return Ok(Self::nearest_first(found, Some(k)));
            }
            radius *= 4.0;
        }
    }

    async fn bulk_load(
        &self,
        layer: LayerId,
        features: &[Feature],
        replace_all: bool,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let written = async {
            let removed = crate::changes::gpkg::pause(&mut tx, layer, replace_all).await?;
            let n = bulk::load(&mut tx, layer, features, replace_all, progress).await?;
            crate::changes::gpkg::resume(&mut tx, layer, removed, features).await?;
            Self::touch_contents(&mut tx, layer).await?;
            Ok(n)
        }
        .await;
        finish(tx, written).await
    }

    async fn extent(&self, layer: LayerId) -> Result<Option<Rect>> {
        if !layer.schema().has_geometry() {
            return Ok(None);
        }
        // The index boxes are rounded outwards to 32-bit floats; take the exact envelopes.
        let t = layer.name();
        let sql =
            format!("SELECT min(ST_MinX(geom)), min(ST_MinY(geom)), max(ST_MaxX(geom)), max(ST_MaxY(geom)) FROM {t}");
        Ok(crate::query::extent_from(self.read(Cost::Large, move |r| r.reals4(&sql)).await?))
    }

    async fn changes_since(&self, after: i64, limit: u64) -> Result<Vec<crate::Change>> {
        crate::changes::gpkg::since(&self.pool, after, limit).await
    }

    async fn last_change(&self) -> Result<i64> {
        crate::changes::gpkg::last(&self.pool).await
    }

    async fn prune_changes(&self, keep: std::time::Duration) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let result = crate::changes::gpkg::prune(&mut tx, keep).await;
        finish(tx, result).await
    }

    fn change_watch(&self) -> Option<std::sync::Arc<dyn crate::changes::ChangeWatch>> {
        crate::changes::gpkg::watch(&self.path)
    }
}
