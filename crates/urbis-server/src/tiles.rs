//! Vector tiles over HTTP: Mapbox Vector Tiles of one layer or several
//! (`/tiles/{layer}/{z}/{x}/{y}.mvt`, `/tiles/{a},{b}/{z}/{x}/{y}.mvt`), their TileJSON 3.0
//! (`/tiles/{layer}.json`), and OGC API – Tiles 1.0 for each collection in WebMercatorQuad
//! (`/collections/{id}/tiles…`, `/tileMatrixSets/WebMercatorQuad`). Tiles are made by
//! `urbis-tiles` from the store and kept in an in-memory cache that the store's change feed keeps
//! exact (`tile_cache.rs`): an edit or an import drops the tiles it touched, at every zoom.
//!
//! `filter` (CQL2 text, or CQL2 JSON with `filter-lang=cql2-json`; `filter-crs` for its
//! geometries) selects features as on `/collections/{id}/items`; with several layers it applies
//! to each, and must suit each one's queryables.
//!
//! Responses: 200 with the tile; **204 No Content for a tile with no feature** (no body; MapLibre
//! and OGC API – Tiles clients read it as an empty tile); a strong `ETag` (hash of the bytes) and
//! `304 Not Modified` for a matching `If-None-Match`; `Cache-Control: public, max-age=0,
//! must-revalidate`: an HTTP cache in front may keep tiles but asks again (with the ETag, a 304
//! when nothing changed) before each reuse, since an edit can change a tile at any time;
//! `X-Cache: hit|miss` tells whether the tile came from this server's cache. 400 names the
//! parameter when z, x or y is not a whole number, for a filter that cannot be used (with its
//! position) and for unknown query parameters; 404 for coordinates outside the tile matrix,
//! unknown layers and layers without geometry.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{json, Map, Value};
use urbis_core::{FieldType, LayerId};
use urbis_tiles::tms::{TileId, MAX_LATITUDE, MAX_ZOOM, ORIGIN_SHIFT};
use urbis_tiles::{Definitions, TileError, MEDIA_TYPE};

use crate::features::BaseUrl;
use crate::{ApiError, AppState};

#[path = "tile_cache.rs"]
mod cache;
pub use cache::{CachedTile, Lookup, TileCache, TileKey, TRUST_WATCH_FOR};

/// What a cache in front may do with a tile: keep it, but ask again (with its ETag) before each
/// reuse, so that it never serves a tile an edit has changed.
pub const CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";
/// The header that says whether a tile came from the server's cache (`hit`) or was made (`miss`).
pub const X_CACHE: &str = "x-cache";
/// The query parameters of a tile request.
const TILE_PARAMS: [&str; 3] = ["filter", "filter-lang", "filter-crs"];

/// The tile cache's size unless [`set_cache_mb`] says otherwise, in MiB.
pub const DEFAULT_CACHE_MB: u64 = 256;
static CACHE_MB: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(DEFAULT_CACHE_MB);

/// The size of the tile cache of the routers made from now on, in MiB; 0 turns the cache off
/// (every tile made anew: for measuring, or when an HTTP cache in front does the caching). The
/// binary sets it from `--tile-cache-mb`, `URBIS_TILE_CACHE_MB` or `tile_cache_mb` in urbis.toml.
pub fn set_cache_mb(mb: u64) {
    CACHE_MB.store(mb, std::sync::atomic::Ordering::Relaxed);
}

impl Default for TileCache {
    /// [`DEFAULT_CACHE_MB`] (or what [`set_cache_mb`] set) of tiles; before every request the
    /// store's change watch, and the change feed when the watch cannot rule out a change.
    fn default() -> TileCache {
        let mb = CACHE_MB.load(std::sync::atomic::Ordering::Relaxed);
        TileCache::new(mb.saturating_mul(1024 * 1024), Duration::ZERO)
    }
}

/// Called after a write through the API: the cache catches up with the store at once, so the
/// response to the write is sent only once the tiles it touched are dropped.
pub async fn after_write(state: &AppState) {
    if let Err(e) = state.tile_cache.catch_up(&*state.store).await {
        // The next tile request reads the feed again (and fails there if the store is down).
        tracing::warn!(error = %e, "reading the change feed after a write");
    }
}

const TMS_ID: &str = "WebMercatorQuad";
const TMS_URI: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";
const CRS_3857: &str = "http://www.opengis.net/def/crs/EPSG/0/3857";
const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const REL_TILING_SCHEME: &str = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme";
const REL_TILESETS_VECTOR: &str = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tiles/{layers}", get(tilejson))
        .route("/tiles/{layers}/{z}/{x}/{y}", get(xyz_tile))
        .route("/tileMatrixSets", get(tile_matrix_sets))
        .route("/tileMatrixSets/{tms}", get(tile_matrix_set))
        .route("/collections/{id}/tiles", get(tilesets))
        .route("/collections/{id}/tiles/{tms}", get(tileset))
        .route("/collections/{id}/tiles/{tms}/{z}/{y}/{x}", get(ogc_tile))
}

/// The conformance classes of OGC API – Tiles 1.0 and of the Tile Matrix Set standard (2.0) that
/// these routes meet, for `/conformance`.
pub fn conformance() -> Vec<&'static str> {
    vec![
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
        "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
    ]
}

/// The OpenAPI 3.0 path items of these routes, to merge into `/api`'s `paths` (errors refer to
/// `#/components/schemas/Error`, which `/api` defines).
pub fn openapi_paths() -> Value {
    let error = json!({ "description": "a JSON error naming what is wrong",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let int_param = |name: &str, description: &str| {
        json!({ "name": name, "in": "path", "required": true, "description": description,
            "schema": { "type": "integer", "minimum": 0 } })
    };
    let str_param = |name: &str, description: &str, values: Option<Vec<&str>>| {
        let mut schema = json!({ "type": "string" });
        if let Some(v) = values {
            schema["enum"] = json!(v);
        }
        json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema })
    };
    let tiled: Vec<&str> = Definitions::built_in().layers().map(|d| d.layer.name()).collect();
    let tile_ok = json!({
        "200": { "description": "the tile (MVT 2.1)", "headers": {
            "ETag": { "schema": { "type": "string" } }, "Cache-Control": { "schema": { "type": "string" } } },
            "content": { MEDIA_TYPE: { "schema": { "type": "string", "format": "binary" } } } },
        "204": { "description": "the tile holds no feature" },
        "304": { "description": "the tile has not changed since the ETag given in If-None-Match" },
        "400": error.clone(),
        "404": error.clone(),
    });
    let json_ok = |description: &str| {
        json!({ "200": { "description": description, "content": { "application/json": { "schema": { "type": "object" } } } },
            "404": error.clone() })
    };
    let inm = json!({ "name": "If-None-Match", "in": "header", "required": false, "schema": { "type": "string" } });
    let filter_params: Vec<Value> = crate::filter::openapi_parameters().as_array().cloned().unwrap_or_default();
    let xyz_params: Vec<Value> = [
        str_param("layers", &format!("one layer or several, comma-separated: {}", tiled.join(", ")), None),
        int_param("z", "zoom, 0–24"),
        int_param("x", "column, from the west"),
        int_param("y", "row, from the north"),
        inm.clone(),
    ]
    .into_iter()
    .chain(filter_params.clone())
    .collect();
    let ogc_params: Vec<Value> = [
        str_param("collectionId", "collection", Some(tiled.clone())),
        str_param("tileMatrixSetId", "tile matrix set", Some(vec![TMS_ID])),
        int_param("tileMatrix", "zoom, 0–24"),
        int_param("tileRow", "row, from the north"),
        int_param("tileCol", "column, from the west"),
        inm,
    ]
    .into_iter()
    .chain(filter_params)
    .collect();
    json!({
        "/tiles/{layers}/{z}/{x}/{y}.mvt": { "get": {
            "summary": "a Mapbox Vector Tile of one layer or several (comma-separated), in WebMercatorQuad z/x/y",
            "operationId": "xyzTile",
            "parameters": xyz_params,
            "responses": tile_ok.clone() } },
        "/tiles/{layers}.json": { "get": {
            "summary": "TileJSON 3.0 of one layer or several (comma-separated)", "operationId": "tileJson",
            "parameters": [str_param("layers", "one layer or several, comma-separated", None)],
            "responses": json_ok("TileJSON 3.0.0") } },
        "/tileMatrixSets": { "get": { "summary": "the tile matrix sets offered", "operationId": "tileMatrixSets",
            "responses": json_ok("the list") } },
        "/tileMatrixSets/{tileMatrixSetId}": { "get": { "summary": "a tile matrix set (OGC TMS 2.0 JSON)",
            "operationId": "tileMatrixSet", "parameters": [str_param("tileMatrixSetId", "tile matrix set", Some(vec![TMS_ID]))],
            "responses": json_ok("the definition") } },
        "/collections/{collectionId}/tiles": { "get": { "summary": "the tilesets of a collection", "operationId": "collectionTilesets",
            "parameters": [str_param("collectionId", "collection", Some(tiled.clone()))], "responses": json_ok("the tilesets") } },
        "/collections/{collectionId}/tiles/{tileMatrixSetId}": { "get": { "summary": "a collection's tileset metadata",
            "operationId": "collectionTileset",
            "parameters": [str_param("collectionId", "collection", Some(tiled.clone())),
                str_param("tileMatrixSetId", "tile matrix set", Some(vec![TMS_ID]))],
            "responses": json_ok("the tileset") } },
        "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": { "get": {
            "summary": "a vector tile of a collection", "operationId": "collectionTile",
            "parameters": ogc_params,
            "responses": tile_ok } },
    })
}

/// Layers named in a path segment (`parcels` or `parcels,roads`): each must exist and have tiles.
fn parse_layers(text: &str) -> Result<Vec<LayerId>, ApiError> {
    let mut out = vec![];
    for name in text.split(',') {
        let layer: LayerId =
            name.parse().map_err(|e: urbis_core::layer::UnknownLayer| ApiError::NotFound(e.to_string()))?;
        if Definitions::built_in().get(layer).is_none() {
            return Err(ApiError::NotFound(format!("{layer} has no tiles (it holds no geometry)")));
        }
        if out.contains(&layer) {
            return Err(ApiError::BadParameter { parameter: "layers", message: format!("{layer} is named twice") });
        }
        out.push(layer);
    }
    Ok(out)
}

/// A tile coordinate from the path; 400 naming it when it is not a whole number, 404 (naming it)
/// when it is outside WebMercatorQuad.
fn parse_tile(z: (&'static str, &str), x: (&'static str, &str), y: (&'static str, &str)) -> Result<TileId, ApiError> {
    let number = |(parameter, text): (&'static str, &str)| {
        text.parse::<u64>().map_err(|_| ApiError::BadParameter {
            parameter,
            message: format!("`{text}` is not a tile coordinate (a whole number from 0)"),
        })
    };
    let (zv, xv, yv) = (number(z)?, number(x)?, number(y)?);
    let zv = u32::try_from(zv).unwrap_or(u32::MAX);
    TileId::new(zv, xv, yv).map_err(|e| match e {
        TileError::OutOfMatrix { parameter, message } => {
            let name = match parameter {
                "z" => z.0,
                "x" => x.0,
                _ => y.0,
            };
            ApiError::NotFound(format!("no such tile: {message} (parameter `{name}`)"))
        }
        other => ApiError::NotFound(other.to_string()),
    })
}

async fn xyz_tile(
    State(state): State<AppState>,
    Path((layers, z, x, y)): Path<(String, String, String, String)>,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
    IfNoneMatch(if_none): IfNoneMatch,
) -> Result<Response, ApiError> {
    let Some(y) = y.strip_suffix(".mvt") else {
        return Err(ApiError::NotFound(format!("tiles are at …/{{z}}/{{x}}/{{y}}.mvt; `{y}` lacks the .mvt suffix")));
    };
    let layers = parse_layers(&layers)?;
    let tile = parse_tile(("z", &z), ("x", &x), ("y", y))?;
    let filter = TileFilter::parse(&layers, pairs)?;
    respond(&state, &layers, tile, filter, if_none.as_ref()).await
}

async fn ogc_tile(
    State(state): State<AppState>,
    Path((id, tms, z, row, col)): Path<(String, String, String, String, String)>,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
    IfNoneMatch(if_none): IfNoneMatch,
) -> Result<Response, ApiError> {
    let layers = parse_layers(&id)?;
    if layers.len() != 1 {
        return Err(ApiError::NotFound(format!("no collection `{id}`")));
    }
    check_tms(&tms)?;
    let tile = parse_tile(("tileMatrix", &z), ("tileCol", &col), ("tileRow", &row))?;
    let filter = TileFilter::parse(&layers, pairs)?;
    respond(&state, &layers, tile, filter, if_none.as_ref()).await
}

/// The request's `If-None-Match`, if any (the only header a tile answer depends on), taken
/// without copying the others.
struct IfNoneMatch(Option<HeaderMap>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(header::IF_NONE_MATCH).iter().peekable();
        if values.peek().is_none() {
            return Ok(IfNoneMatch(None));
        }
        let mut only = HeaderMap::new();
        for v in values {
            only.append(header::IF_NONE_MATCH, v.clone());
        }
        Ok(IfNoneMatch(Some(only)))
    }
}

/// The CQL2 filter of a tile request, read for each of its layers by the same code as `/items`
/// reads it, and the parameters as given (the cache tells filtered tiles apart by them).
#[derive(Debug, Default)]
struct TileFilter {
    per_layer: Vec<Option<urbis_core::cql2::Filter>>,
    key: String,
}

impl TileFilter {
    fn parse(layers: &[LayerId], pairs: Vec<(String, String)>) -> Result<TileFilter, ApiError> {
        let mut given: [Option<String>; 3] = Default::default();
        for (name, value) in pairs {
            let Some(i) = TILE_PARAMS.iter().position(|p| *p == name) else {
                return Err(ApiError::BadQuery {
                    parameter: name,
                    message: format!("unknown parameter; a tile takes {}", TILE_PARAMS.join(", ")),
                });
            };
            if given[i].replace(value).is_some() {
                return Err(ApiError::BadQuery { parameter: name, message: "given more than once".into() });
            }
        }
        let [text, lang, crs] = &given;
        let mut per_layer = Vec::with_capacity(layers.len());
        for &layer in layers {
            let f = crate::filter::from_params_in(layer, text.as_deref(), lang.as_deref(), crs.as_deref()).map_err(
                |e| match e {
                    // With several layers, say which one the filter does not suit.
                    ApiError::BadParameter { parameter, message } if layers.len() > 1 => {
                        ApiError::BadParameter { parameter, message: format!("for layer {layer}: {message}") }
                    }
                    e => e,
                },
            )?;
            per_layer.push(f);
        }
        let key = match text {
            Some(t) => format!("{}\u{1f}{}\u{1f}{t}", lang.as_deref().unwrap_or(""), crs.as_deref().unwrap_or("")),
            None => String::new(),
        };
        Ok(TileFilter { per_layer, key })
    }
}

fn check_tms(tms: &str) -> Result<(), ApiError> {
    if tms == TMS_ID {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no tile matrix set `{tms}`; the one offered is {TMS_ID}")))
    }
}

async fn respond(
    state: &AppState,
    layers: &[LayerId],
    tile: TileId,
    filter: TileFilter,
    if_none: Option<&HeaderMap>,
) -> Result<Response, ApiError> {
    let mut key = TileKey { layers: layers.to_vec(), tile, filter: filter.key };
    // Permits carry their clock status as of today: such tiles are cached for the city's day.
    let permits = layers.contains(&LayerId::Permits).then(|| (crate::permits::PermitsConfig::default(), Utc::now()));
    if let Some((config, now)) = &permits {
        key.filter.push_str(&crate::permit_tiles::as_of_key(config, *now));
    }
    let store = state.store.clone();
    let render = || async move {
        let rendered = match &permits {
            Some((config, now)) => {
                crate::permit_tiles::render(&*store, config, layers, &filter.per_layer, tile, *now).await
            }
            None => {
                urbis_tiles::render_filtered(&*store, Definitions::built_in(), layers, &filter.per_layer, tile).await
            }
        };
        match rendered {
            Ok(t) => {
                let (etag, empty) = (format!("\"{}\"", t.etag()), t.is_empty());
                Ok(CachedTile::new(t.bytes.into(), etag, empty))
            }
            Err(TileError::Store(e)) => Err(ApiError::Store(e)),
            Err(e @ (TileError::OutOfMatrix { .. } | TileError::NoTiles { .. })) => {
                Err(ApiError::NotFound(e.to_string()))
            }
            Err(e) => Err(ApiError::Internal(format!("tile {tile}: {e}"))),
        }
    };
    let (rendered, lookup): (Arc<CachedTile>, Lookup) =
        state.tile_cache.get_or_render(&*state.store, key, render).await?;
    let common = |status: StatusCode| {
        let mut r = status.into_response();
        let h = r.headers_mut();
        h.insert(header::ETAG, rendered.etag_header.clone());
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        h.insert(X_CACHE, HeaderValue::from_static(lookup.as_str()));
        r
    };
    if if_none.is_some_and(|h| if_none_match(h, &rendered.etag)) {
        return Ok(common(StatusCode::NOT_MODIFIED));
    }
    if rendered.empty {
        return Ok(common(StatusCode::NO_CONTENT));
    }
    let mut r = common(StatusCode::OK);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    *r.body_mut() = axum::body::Body::from(rendered.bytes.clone());
    Ok(r)
}

/// Whether `If-None-Match` names `etag` (or is `*`): RFC 9110's weak comparison, as GET uses.
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/") == etag
    })
}

/// A layer field's type as TileJSON's `vector_layers` describe it.
fn field_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Integer | FieldType::Real => "Number",
        FieldType::Boolean => "Boolean",
        _ => "String",
    }
}

/// The union of the layers' extents, clamped to what WebMercatorQuad covers, `[w, s, e, n]`.
async fn bounds(state: &AppState, layers: &[LayerId]) -> Result<Option<[f64; 4]>, ApiError> {
    let mut out: Option<[f64; 4]> = None;
    for &l in layers {
        if let Some(r) = state.store.extent(l).await? {
            let b = [r.min().x, r.min().y.max(-MAX_LATITUDE), r.max().x, r.max().y.min(MAX_LATITUDE)];
            out = Some(match out {
                None => b,
                Some(o) => [o[0].min(b[0]), o[1].min(b[1]), o[2].max(b[2]), o[3].max(b[3])],
            });
        }
    }
    Ok(out)
}

async fn tilejson(
    BaseUrl(root): BaseUrl,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(names) = name.strip_suffix(".json") else {
        return Err(ApiError::NotFound(format!("no `/tiles/{name}`: TileJSON is at /tiles/{{layer}}.json")));
    };
    let layers = parse_layers(names)?;
    let defs: Vec<_> = layers.iter().filter_map(|&l| Definitions::built_in().get(l)).collect();
    let minzoom = defs.iter().map(|d| d.minzoom).min().unwrap_or(0);
    let maxzoom = defs.iter().map(|d| d.maxzoom).max().unwrap_or(MAX_ZOOM);
    let vector_layers: Vec<Value> = defs
        .iter()
        .map(|d| {
            let mut fields = Map::new();
            fields.insert("id".into(), json!("String"));
            for f in d.all_fields() {
                fields.insert(f.name.into(), json!(field_type(f.ty)));
            }
            if d.layer == LayerId::Permits {
                fields.insert(crate::permit_tiles::STATUS_FIELD.into(), json!("String"));
            }
            json!({ "id": d.layer.name(), "description": d.layer.schema().description,
                "minzoom": d.minzoom, "maxzoom": d.maxzoom, "fields": fields })
        })
        .collect();
    let bounds = bounds(&state, &layers).await?.unwrap_or([-180.0, -MAX_LATITUDE, 180.0, MAX_LATITUDE]);
    let center_zoom = minzoom.max(13).min(maxzoom);
    let titles: Vec<&str> = layers.iter().map(|l| l.schema().title).collect();
    Ok(Json(json!({
        "tilejson": "3.0.0",
        "name": format!("urbis: {}", titles.join(", ")),
        "scheme": "xyz",
        "tiles": [format!("{root}/tiles/{names}/{{z}}/{{x}}/{{y}}.mvt")],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0, center_zoom],
        "vector_layers": vector_layers,
    })))
}

async fn tile_matrix_sets(BaseUrl(root): BaseUrl) -> Json<Value> {
    Json(json!({
        "tileMatrixSets": [{
            "id": TMS_ID, "title": "Google Maps Compatible for the World", "uri": TMS_URI,
            "links": [{ "rel": "self", "type": "application/json", "href": format!("{root}/tileMatrixSets/{TMS_ID}") }],
        }],
        "links": [{ "rel": "self", "type": "application/json", "href": format!("{root}/tileMatrixSets") }],
    }))
}

/// WebMercatorQuad as OGC TMS 2.0 JSON: 256-pixel tiles, matrices 0 to 24.
pub fn web_mercator_quad() -> Value {
    let matrices: Vec<Value> = (0..=MAX_ZOOM)
        .map(|z| {
            let n = 1u64 << z;
            let cell = 2.0 * ORIGIN_SHIFT / 256.0 / n as f64;
            json!({
                "id": z.to_string(),
                // The standard pixel of 0.28 mm.
                "scaleDenominator": cell / 0.000_28,
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-ORIGIN_SHIFT, ORIGIN_SHIFT],
                "tileWidth": 256, "tileHeight": 256,
                "matrixWidth": n, "matrixHeight": n,
            })
        })
        .collect();
    json!({
        "id": TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": CRS_3857,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "boundingBox": { "lowerLeft": [-ORIGIN_SHIFT, -ORIGIN_SHIFT], "upperRight": [ORIGIN_SHIFT, ORIGIN_SHIFT], "crs": CRS_3857 },
        "tileMatrices": matrices,
    })
}

async fn tile_matrix_set(Path(tms): Path<String>) -> Result<Json<Value>, ApiError> {
    check_tms(&tms)?;
    Ok(Json(web_mercator_quad()))
}

/// One tileset's summary, as `/collections/{id}/tiles` lists it.
fn tileset_ref(root: &str, layer: LayerId) -> Value {
    json!({
        "title": format!("{} (vector tiles, {TMS_ID})", layer.schema().title),
        "dataType": "vector",
        "crs": CRS_3857,
        "tileMatrixSetURI": TMS_URI,
        "links": [
            { "rel": "self", "type": "application/json", "href": format!("{root}/collections/{}/tiles/{TMS_ID}", layer.name()) },
            { "rel": REL_TILING_SCHEME, "type": "application/json", "href": format!("{root}/tileMatrixSets/{TMS_ID}") },
        ],
    })
}

fn one_collection(id: &str) -> Result<LayerId, ApiError> {
    let layers = parse_layers(id)?;
    match layers.as_slice() {
        [l] => Ok(*l),
        _ => Err(ApiError::NotFound(format!("no collection `{id}`"))),
    }
}

async fn tilesets(BaseUrl(root): BaseUrl, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let layer = one_collection(&id)?;
    Ok(Json(json!({
        "tilesets": [tileset_ref(&root, layer)],
        "links": [
            { "rel": "self", "type": "application/json", "href": format!("{root}/collections/{}/tiles", layer.name()) },
            { "rel": "collection", "type": "application/json", "href": format!("{root}/collections/{}", layer.name()) },
        ],
    })))
}

async fn tileset(
    BaseUrl(root): BaseUrl,
    State(state): State<AppState>,
    Path((id, tms)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let layer = one_collection(&id)?;
    check_tms(&tms)?;
    let def = Definitions::built_in().get(layer).ok_or_else(|| ApiError::NotFound(format!("{layer} has no tiles")))?;
    let base = format!("{root}/collections/{}", layer.name());
    let mut properties: Map<String, Value> = def
        .all_fields()
        .into_iter()
        .map(|f| {
            let ty = match f.ty {
                FieldType::Integer => "integer",
                FieldType::Real => "number",
                FieldType::Boolean => "boolean",
                _ => "string",
            };
            (f.name.to_string(), json!({ "type": ty, "description": f.description }))
        })
        .collect();
    if layer == LayerId::Permits {
        properties.insert(
            crate::permit_tiles::STATUS_FIELD.into(),
            json!({ "type": "string", "enum": ["on_time", "at_risk", "overdue", "closed", "no_clock"],
                    "description": "the statutory clock's status as of the request (computed, never stored)" }),
        );
    }
    let dimension = match layer.schema().geometry {
        urbis_core::GeometryKind::Point => json!(0),
        urbis_core::GeometryKind::MultiLineString => json!(1),
        urbis_core::GeometryKind::MultiPolygon => json!(2),
        _ => Value::Null,
    };
    let mut out = json!({
        "title": format!("{} (vector tiles, {TMS_ID})", layer.schema().title),
        "dataType": "vector",
        "crs": CRS_3857,
        "tileMatrixSetURI": TMS_URI,
        "layers": [{
            "id": layer.name(), "title": layer.schema().title, "description": layer.schema().description,
            "dataType": "vector", "geometryDimension": dimension,
            "minTileMatrix": def.minzoom.to_string(), "maxTileMatrix": def.maxzoom.to_string(),
            "propertiesSchema": { "type": "object", "properties": properties },
        }],
        "links": [
            { "rel": "self", "type": "application/json", "href": format!("{base}/tiles/{TMS_ID}") },
            { "rel": REL_TILING_SCHEME, "type": "application/json", "href": format!("{root}/tileMatrixSets/{TMS_ID}") },
            { "rel": "collection", "type": "application/json", "href": base.clone() },
            { "rel": REL_TILESETS_VECTOR, "type": "application/json", "href": format!("{base}/tiles") },
            { "rel": "item", "type": MEDIA_TYPE, "templated": true,
              "href": format!("{base}/tiles/{TMS_ID}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}") },
        ],
    });
    if let Some(b) = bounds(&state, &[layer]).await? {
        out["boundingBox"] = json!({ "lowerLeft": [b[0], b[1]], "upperRight": [b[2], b[3]], "crs": CRS84 });
        let rect = geo_types::Rect::new(geo_types::coord! { x: b[0], y: b[1] }, geo_types::coord! { x: b[2], y: b[3] });
        let limits: Vec<Value> = (def.minzoom..=def.maxzoom)
            .map(|z| {
                let nw = TileId::containing(rect.min().x, rect.max().y, z);
                let se = TileId::containing(rect.max().x, rect.min().y, z);
                json!({ "tileMatrix": z.to_string(), "minTileRow": nw.y, "maxTileRow": se.y,
                    "minTileCol": nw.x, "maxTileCol": se.x })
            })
            .collect();
        out["tileMatrixSetLimits"] = json!(limits);
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_coordinates_are_checked_by_name() {
        let e = parse_tile(("z", "a"), ("x", "0"), ("y", "0")).unwrap_err().to_string();
        assert!(e.contains("`z`") && e.contains("`a`"), "{e}");
        let e = parse_tile(("tileMatrix", "3"), ("tileCol", "0"), ("tileRow", "8")).unwrap_err();
        assert!(matches!(&e, ApiError::NotFound(m) if m.contains("`tileRow`")), "{e}");
        let e = parse_tile(("z", "99999999999"), ("x", "0"), ("y", "0")).unwrap_err();
        assert!(matches!(&e, ApiError::NotFound(m) if m.contains("`z`")), "{e}");
        assert_eq!(parse_tile(("z", "2"), ("x", "3"), ("y", "1")).unwrap(), TileId { z: 2, x: 3, y: 1 });
    }

    #[test]
    fn layers_must_exist_and_have_geometry() {
        assert_eq!(parse_layers("parcels,roads").unwrap(), [LayerId::Parcels, LayerId::Roads]);
        assert!(matches!(parse_layers("parcel"), Err(ApiError::NotFound(_))));
        assert!(matches!(parse_layers("procedures"), Err(ApiError::NotFound(_))));
        assert!(matches!(parse_layers("roads,roads"), Err(ApiError::BadParameter { parameter: "layers", .. })));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"abc\""));
        assert!(if_none_match(&h, "\"abc\""));
        assert!(!if_none_match(&h, "\"ab\""));
    }

    #[test]
    fn the_matrix_set_has_25_levels() {
        let t = web_mercator_quad();
        let m = t["tileMatrices"].as_array().unwrap();
        assert_eq!(m.len(), 25);
        assert_eq!(m[0]["scaleDenominator"].as_f64().unwrap().round(), 559_082_264.0);
        assert_eq!(m[24]["matrixWidth"], json!(1u64 << 24));
    }
}
