//! Where urbis keeps the city: one [`Store`] trait and its two backends, an embedded GeoPackage
//! file ([`gpkg`], the default: nothing to install) and PostGIS ([`postgis`], for production).
//! Both hold the layers of [`urbis_core::LayerId`] and behave the same; one test suite proves it.

pub mod changes;
mod cql_sql;
pub mod gpkg;
pub mod history;
pub mod postgis;
mod query;
pub mod users;
pub mod wkb;

use async_trait::async_trait;
use geo_types::{Geometry, Point, Rect};
use urbis_core::{Feature, LayerId};

pub use changes::Change;
pub use history::HistoryHead;
pub use query::{AttributeFilter, Comparison, Query};
pub use users::User;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{layer} has no feature with id `{id}`")]
    NotFound { layer: LayerId, id: String },
    #[error("{layer} already has a feature with id `{id}`")]
    DuplicateId { layer: LayerId, id: String },
    #[error("{layer}: `{field}` is not a field of this layer")]
    UnknownField { layer: LayerId, field: String },
    #[error("{layer}: invalid query: {reason}")]
    InvalidQuery { layer: LayerId, reason: String },
    #[error("{layer}, feature `{id}`: {reason}")]
    InvalidFeature { layer: LayerId, id: String, reason: String },
    #[error("cannot open the store at {location}: {reason}")]
    Open { location: String, reason: String },
    #[error("the store at {location} is not an urbis store: {reason}")]
    NotUrbis { location: String, reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored geometry of {layer} `{id}` cannot be read: {reason}")]
    Geometry { layer: LayerId, id: String, reason: String },
    /// A conditional write found the feature changed since the version the caller named.
    #[error("{layer} `{id}` has changed since that version: its ETag is now \"{current_etag}\"")]
    PreconditionFailed { layer: LayerId, id: String, current_etag: String },
    /// A dossier's history no longer ends where the writer read it: someone appended first.
    #[error("dossier `{id}` has changed meanwhile: its history was expected to end at event {expected}, it ends at event {found}")]
    HistoryConflict { id: String, expected: i64, found: i64 },
    /// Another writer held the store for longer than the store waits (30 s).
    #[error("the store is busy: another writer has held it too long; try again")]
    Busy,
    #[error("there is no user `{name}`")]
    UnknownUser { name: String },
    #[error("there is already a user `{name}`")]
    DuplicateUser { name: String },
    #[error("user `{name}`: {reason}")]
    InvalidUser { name: String, reason: String },
    #[error("the {store} store does not support {operation}")]
    Unsupported { store: &'static str, operation: &'static str },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which backend a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    GeoPackage,
    PostGis,
}

/// A layer and how many features it holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerCount {
    pub layer: LayerId,
    pub count: u64,
}

/// A feature found near something, with its distance in metres.
#[derive(Debug, Clone, PartialEq)]
pub struct Near {
    pub feature: Feature,
    pub distance_m: f64,
}

/// A feature read to be written out rather than computed on ([`Store::query_raw`]): its id and
/// fields as in [`Feature`], its geometry left as WKB and its `extra` as JSON text, so that
/// neither is decoded into values only to be encoded again.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeature {
    /// The id and the fields; no geometry, and `extra` empty.
    pub feature: Feature,
    /// The geometry as WKB (2D, lon/lat), if it has one.
    pub wkb: Option<Vec<u8>>,
    /// `extra` as the text of a JSON object; `None` when it is empty.
    pub extra_json: Option<String>,
}

/// Called during long writes with the number of features written so far.
pub type Progress<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// The storage of every layer. Writes are transactions: a call either does all it was asked or
/// nothing. Features handed to writes are expected to have passed
/// [`urbis_core::validate::check_feature`]; stores check ids and fields, not geometry.
#[async_trait]
pub trait Store: Send + Sync {
    fn kind(&self) -> StoreKind;

    /// Where the store is, with no secrets (file path, or host and database).
    fn location(&self) -> String;

    /// Every layer with its feature count.
    async fn layers(&self) -> Result<Vec<LayerCount>>;

    async fn get(&self, layer: LayerId, id: &str) -> Result<Option<Feature>>;

    /// Features matching the query, ordered by id unless the query says otherwise.
    async fn query(&self, layer: LayerId, query: &Query) -> Result<Vec<Feature>>;

    /// How many features match the query (limit and offset ignored).
    async fn count(&self, layer: LayerId, query: &Query) -> Result<u64>;

    /// A cheap estimate of [`Store::count`] with no scan (the query planner's row estimate on
    /// PostGIS), or `None` where the store has none and the caller should count.
    async fn count_estimate(&self, _layer: LayerId, _query: &Query) -> Result<Option<u64>> {
        Ok(None)
    }

    /// [`Store::query`], and the number of all its matches (limit and offset ignored) when the
    /// store can count them in the same read at little cost: when its estimate is at most
    /// `count_up_to` and the read must meet every match anyway (a page of a box, in order).
    /// `None` otherwise, or when the page is empty; the caller then asks [`Store::count`].
    async fn query_counted(
        &self,
        layer: LayerId,
        query: &Query,
        _count_up_to: u64,
    ) -> Result<(Vec<Feature>, Option<u64>)> {
        Ok((self.query(layer, query).await?, None))
    }

    /// [`Store::query_counted`] as [`RawFeature`]s, where the store reads them so for less than
    /// it reads features; `None` where it does not (the caller then asks `query_counted`).
    async fn query_raw(
        &self,
        _layer: LayerId,
        _query: &Query,
        _count_up_to: u64,
    ) -> Result<Option<(Vec<RawFeature>, Option<u64>)>> {
        Ok(None)
    }

    /// Adds features; fails with [`StoreError::DuplicateId`] if any id exists, writing none.
    async fn create(&self, layer: LayerId, features: &[Feature]) -> Result<()>;

    /// Replaces a feature by id; [`StoreError::NotFound`] if it does not exist.
    async fn replace(&self, layer: LayerId, feature: &Feature) -> Result<()>;

    /// Deletes a feature by id; [`StoreError::NotFound`] if it does not exist.
    async fn delete(&self, layer: LayerId, id: &str) -> Result<()>;

    /// Adds one feature and returns it as stored, read back in the same transaction, so that its
    /// [`Feature::etag`](urbis_core::Feature::etag) is the one later reads give.
    /// [`StoreError::DuplicateId`] if the id exists.
    async fn create_one(&self, _layer: LayerId, _feature: &Feature) -> Result<Feature> {
        Err(StoreError::Unsupported { store: "this", operation: "single creates returning the stored feature" })
    }

    /// Replaces a feature only if its stored version still has the ETag `expected_etag` (any
    /// version when `None`): one transaction reads the row, holding it against other writers
    /// (`SELECT … FOR UPDATE` on PostGIS, a write transaction on SQLite), compares, writes, and
    /// returns the feature as stored. [`StoreError::PreconditionFailed`] with the current ETag
    /// when it differs, [`StoreError::NotFound`] when there is no such feature; nothing is
    /// written then.
    async fn replace_checked(
        &self,
        _layer: LayerId,
        _feature: &Feature,
        _expected_etag: Option<&str>,
    ) -> Result<Feature> {
        Err(StoreError::Unsupported { store: "this", operation: "conditional replaces" })
    }

    /// Deletes a feature only if its stored version still has the ETag `expected_etag` (any
    /// version when `None`), in one transaction as [`Store::replace_checked`] does.
    async fn delete_checked(&self, _layer: LayerId, _id: &str, _expected_etag: Option<&str>) -> Result<()> {
        Err(StoreError::Unsupported { store: "this", operation: "conditional deletes" })
    }

    /// Features whose geometry intersects `geometry`, ordered by id.
    async fn intersects(&self, layer: LayerId, geometry: &Geometry, limit: Option<u64>) -> Result<Vec<Feature>>;

    /// Features within `metres` of `geometry`, nearest first.
    async fn within_distance(
        &self,
        layer: LayerId,
        geometry: &Geometry,
        metres: f64,
        limit: Option<u64>,
    ) -> Result<Vec<Near>>;

    /// The `k` features nearest to `point`, nearest first.
    async fn nearest(&self, layer: LayerId, point: Point, k: u64) -> Result<Vec<Near>>;

    /// Loads many features in one transaction, as fast as the backend allows (COPY on PostGIS,
    /// large prepared batches on SQLite). With `replace_all` the layer is emptied first, in the same
    /// transaction. All or nothing.
    async fn bulk_load(
        &self,
        layer: LayerId,
        features: &[Feature],
        replace_all: bool,
        progress: Progress<'_>,
    ) -> Result<u64>;

    /// The extent of a layer, if it has features with geometry.
    async fn extent(&self, layer: LayerId) -> Result<Option<Rect>>;

    /// The read behind a vector tile: the features of `layer` that meet `bbox`, in id order,
    /// with their geometry and only the attributes named in `fields` (no `extra`). A store may
    /// also return features whose bounding box meets `bbox` but whose geometry does not (the
    /// tile encoder's clip drops them). By default, [`Store::query`] with the box.
    async fn tile_features(&self, layer: LayerId, bbox: Rect, fields: &[&str]) -> Result<Vec<Feature>> {
        let mut features = self.query(layer, &Query::all().bbox(bbox)).await?;
        for f in &mut features {
            f.attributes.retain(|k, _| fields.contains(&k.as_str()));
            f.extra.clear();
        }
        Ok(features)
    }

    /// Records a step of a dossier (a permit) in one transaction ([`history`]): checks that its
    /// history in `permit_events` still ends at `expected` (has no event, and the dossier does not
    /// exist yet, when `None`), appends `event` (the next `seq`), and creates or replaces the
    /// dossier. [`StoreError::HistoryConflict`] when the history moved meanwhile; nothing is
    /// written then. Events are only ever appended.
    async fn append_event(&self, _dossier: &Feature, _event: &Feature, _expected: Option<&HistoryHead>) -> Result<()> {
        Err(StoreError::Unsupported { store: "this", operation: "dossier histories" })
    }

    /// The change feed ([`changes`]): the changes committed after `after`, in commit order, at
    /// most `limit` of them.
    async fn changes_since(&self, _after: i64, _limit: u64) -> Result<Vec<Change>> {
        Err(StoreError::Unsupported { store: "this", operation: "a change feed" })
    }

    /// Deletes the changes older than `keep` from the feed, never the newest, and remembers the
    /// last `seq` deleted ([`changes`]); the number deleted.
    async fn prune_changes(&self, _keep: std::time::Duration) -> Result<u64> {
        Err(StoreError::Unsupported { store: "this", operation: "a change feed" })
    }

    /// The `seq` of the last change committed (0 when there is none).
    async fn last_change(&self) -> Result<i64> {
        Err(StoreError::Unsupported { store: "this", operation: "a change feed" })
    }

    /// A new watch that tells without a query whether the change feed may have grown
    /// ([`changes::ChangeWatch`]); `None` when this store has none (read the feed each time).
    fn change_watch(&self) -> Option<std::sync::Arc<dyn changes::ChangeWatch>> {
        None
    }

    /// Adds a staff account ([`users`]); [`StoreError::DuplicateUser`] if the name is taken.
    async fn add_user(&self, _user: &User) -> Result<()> {
        Err(StoreError::Unsupported { store: "this", operation: "users" })
    }

    /// The account named `name`, disabled or not.
    async fn get_user(&self, _name: &str) -> Result<Option<User>> {
        Err(StoreError::Unsupported { store: "this", operation: "users" })
    }

    /// Every account, by name.
    async fn list_users(&self) -> Result<Vec<User>> {
        Err(StoreError::Unsupported { store: "this", operation: "users" })
    }

    /// Disables (or enables again) an account; [`StoreError::UnknownUser`] if there is none.
    async fn set_user_disabled(&self, _name: &str, _disabled: bool) -> Result<()> {
        Err(StoreError::Unsupported { store: "this", operation: "users" })
    }
}

/// Opens a store from its location: `postgres://…` or `postgresql://…` for PostGIS, anything else
/// is a GeoPackage file path (created if missing).
pub async fn open(location: &str) -> Result<Box<dyn Store>> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        Ok(Box::new(postgis::PostgisStore::connect(location).await?))
    } else {
        let path = location.strip_prefix("gpkg:").unwrap_or(location);
        Ok(Box::new(gpkg::GpkgStore::open(std::path::Path::new(path)).await?))
    }
}
