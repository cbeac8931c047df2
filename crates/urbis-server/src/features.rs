//! OGC API – Features, Part 1 (Core, GeoJSON): the collections of the city and their items, with
//! bbox, limit and offset paging and next/prev links. Conformance is declared only for what is
//! served here; filtering, CRS and transactions come later. Private fields (an applicant's
//! personal data) never leave the server.

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use urbis_core::crs::Crs;
use urbis_core::{Feature, LayerId};
use urbis_store::{AttributeFilter, Comparison, Query};

use crate::geojson_out::GeoJsonFeature;
use crate::{ApiError, AppState};

/// Where this server is reached, as the client sees it (`X-Forwarded-Proto`/`-Host` behind a
/// proxy, else the Host header): links are absolute, as OGC API clients such as GDAL expect.
pub struct BaseUrl(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let host = header("x-forwarded-host").or_else(|| header("host")).unwrap_or_else(|| "localhost".into());
        let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
        Ok(BaseUrl(format!("{scheme}://{host}")))
    }
}

/// The most items one page may hold; larger `limit`s are refused, not silently cut.
pub const MAX_LIMIT: u64 = 10_000;
const DEFAULT_LIMIT: u64 = 100;

/// Every conformance class the server meets, each only for what is really served.
pub fn conformance_classes() -> Vec<&'static str> {
    let mut all = vec![
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    ];
    all.extend(crate::filter::CONFORMANCE);
    all.extend(crate::transactions::CONFORMANCE);
    all.extend(crate::tiles::conformance());
    all
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api", get(api))
        .route("/conformance", get(conformance))
        .route("/collections", get(collections))
        .route("/collections/{id}", get(collection))
        .route("/collections/{id}/items", get(items))
        .route("/collections/{id}/items/{feature_id}", get(item))
}

/// The landing page's links, for `/` when a client asks for JSON.
pub fn landing_json(base: &str) -> Value {
    json!({
        "title": "urbis",
        "description": "Urban-planning GIS: parcels, zoning, networks, permits and service access",
        "links": [
            { "href": format!("{base}/"), "rel": "self", "type": "application/json", "title": "this document" },
            { "href": format!("{base}/api"), "rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0", "title": "the API definition" },
            { "href": format!("{base}/conformance"), "rel": "conformance", "type": "application/json", "title": "conformance classes" },
            { "href": format!("{base}/collections"), "rel": "data", "type": "application/json", "title": "the city's layers" },
        ],
    })
}

/// The API definition (OpenAPI 3.0), self-contained: no external `$ref`, for offline clients.
/// Each collection has its own paths, so that its filterable fields and its time are described.
pub fn api_document() -> Value {
    let json_response = |description: &str, media: &str| json!({ "description": description, "content": { media: { "schema": { "type": "object" } } } });
    let error = json!({
        "description": "a JSON error naming what is wrong",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    });
    let crs_values = Crs::ALL.map(|c| c.uri());
    let crs_param = |name: &str, description: &str| {
        json!({
        "name": name, "in": "query", "required": false, "description": description,
        "schema": { "type": "string", "enum": crs_values, "default": Crs::Crs84.uri() } })
    };
    let f_param = json!({ "name": "f", "in": "query", "required": false,
        "schema": { "type": "string", "enum": ["json", "geojson"] } });
    let content_crs = json!({ "Content-Crs": { "description": "the CRS of the geometries, as <URI>", "schema": { "type": "string" } } });
    let geojson_ok = |description: &str| {
        json!({ "description": description, "headers": content_crs.clone(),
        "content": { "application/geo+json": { "schema": { "type": "object" } } } })
    };
    let mut paths = Map::new();
    paths.insert("/".into(), json!({ "get": { "summary": "landing page (HTML for a browser, JSON with `f=json`)", "operationId": "landing",
        "parameters": [{ "name": "f", "in": "query", "required": false, "schema": { "type": "string", "enum": ["json", "html"] } }],
        "responses": { "200": { "description": "links to the API", "content": {
            "application/json": { "schema": { "type": "object" } }, "text/html": { "schema": { "type": "string" } } } } } } }));
    paths.insert(
        "/api".into(),
        json!({ "get": { "summary": "this API definition", "operationId": "api",
        "responses": { "200": json_response("OpenAPI 3.0", "application/vnd.oai.openapi+json;version=3.0") } } }),
    );
    paths.insert(
        "/conformance".into(),
        json!({ "get": { "summary": "conformance classes", "operationId": "conformance",
        "responses": { "200": json_response("conformance classes met", "application/json") } } }),
    );
    paths.insert(
        "/collections".into(),
        json!({ "get": { "summary": "the layers", "operationId": "collections",
        "responses": { "200": json_response("every layer", "application/json"), "500": error.clone() } } }),
    );
    for layer in LayerId::ALL {
        let s = layer.schema();
        let name = layer.name();
        paths.insert(
            format!("/collections/{name}"),
            json!({ "get": { "summary": format!("{}: the collection", s.title),
            "operationId": format!("collection_{name}"),
            "responses": { "200": json_response("the layer", "application/json") } } }),
        );
        let mut params = vec![
            f_param.clone(),
            json!({ "name": "limit", "in": "query", "required": false,
              "schema": { "type": "integer", "minimum": 0, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT } }),
            json!({ "name": "offset", "in": "query", "required": false,
              "schema": { "type": "integer", "minimum": 0, "default": 0 } }),
            json!({ "name": "properties", "in": "query", "required": false, "style": "form", "explode": false,
              "description": "the properties to return",
              "schema": { "type": "array", "items": { "type": "string", "enum": public_fields(layer).chain(["extra"]).collect::<Vec<_>>() } } }),
            json!({ "name": "sortby", "in": "query", "required": false,
              "description": "properties to sort by in turn, comma-separated, `-` before one for descending",
              "schema": { "type": "string", "pattern": "^[+-]?[a-z_0-9]+(,[+-]?[a-z_0-9]+)*$" } }),
            crs_param("crs", "the CRS of the returned geometries"),
            json!({ "name": "numberMatched", "in": "query", "required": false,
              "description": "`exact` to count every match; by default very large results are estimated (and flagged)",
              "schema": { "type": "string", "enum": ["exact", "estimate"] } }),
        ];
        if s.has_geometry() {
            params.push(json!({ "name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
              "description": "minx,miny,maxx,maxy in bbox-crs (minlat,minlon,maxlat,maxlon in EPSG:4326)",
              "schema": { "type": "array", "minItems": 4, "maxItems": 4, "items": { "type": "number" } } }));
            params.push(crs_param("bbox-crs", "the CRS of bbox"));
        }
        if let Some(extra) = crate::filter::openapi_parameters().as_array() {
            params.extend(extra.iter().cloned());
        }
        if let Some(field) = layer.time_field() {
            params.push(json!({ "name": "datetime", "in": "query", "required": false,
              "description": format!("an instant or an interval start/end (`..` for open) on `{}`", field.name),
              "schema": { "type": "string" } }));
        }
        for field in s.fields.iter().filter(|f| queryable_field(layer, f.name).is_some()) {
            params.push(json!({ "name": field.name, "in": "query", "required": false,
              "description": format!("features whose {} equals this", field.description), "schema": field_schema(field.ty) }));
        }
        paths.insert(
            format!("/collections/{name}/items"),
            json!({ "get": { "summary": format!("{}: features", s.title),
            "operationId": format!("items_{name}"), "parameters": params,
            "responses": { "200": geojson_ok("a page of features"), "400": error.clone(), "500": error.clone() } } }),
        );
        paths.insert(format!("/collections/{name}/items/{{featureId}}"), json!({ "get": { "summary": format!("{}: one feature", s.title),
            "operationId": format!("item_{name}"),
            "parameters": [{ "name": "featureId", "in": "path", "required": true, "schema": { "type": "string" } },
                           f_param.clone(), crs_param("crs", "the CRS of the returned geometry")],
            "responses": { "200": geojson_ok("the feature"), "400": error.clone(), "404": error.clone(), "500": error.clone() } } }));
    }
    let q = |name: &str, required: bool, schema: Value, description: &str| {
        json!({
        "name": name, "in": "query", "required": required, "description": description, "schema": schema })
    };
    let lon = q("lon", true, json!({ "type": "number", "minimum": -180, "maximum": 180 }), "WGS 84 longitude");
    let lat = q("lat", true, json!({ "type": "number", "minimum": -90, "maximum": 90 }), "WGS 84 latitude");
    let spatial_layers: Vec<&str> =
        LayerId::ALL.into_iter().filter(|l| l.schema().has_geometry()).map(|l| l.name()).collect();
    let layer_param = q("layer", true, json!({ "type": "string", "enum": spatial_layers }), "the layer to search");
    let metres = q("m", true, json!({ "type": "number", "minimum": 0, "maximum": 100_000 }), "distance in metres");
    let limit = q(
        "limit",
        false,
        json!({ "type": "integer", "minimum": 1, "maximum": 10_000, "default": 1000 }),
        "most features returned",
    );
    let geometry_body = json!({ "required": true, "description": "a GeoJSON geometry or Feature, WGS 84",
        "content": { "application/geo+json": { "schema": { "type": "object" } }, "application/json": { "schema": { "type": "object" } } } });
    let plain = |summary: &str, id: &str, params: Vec<Value>| {
        json!({ "summary": summary, "operationId": id, "parameters": params,
        "responses": { "200": json_response("the answer", "application/json"), "400": error.clone(), "500": error.clone() } })
    };
    let with_body = |summary: &str, id: &str, params: Vec<Value>| {
        let mut op = plain(summary, id, params);
        op["requestBody"] = geometry_body.clone();
        op
    };
    paths.insert(
        "/health".into(),
        json!({ "get": { "summary": "is the server and its store up", "operationId": "health",
        "responses": { "200": json_response("ok", "application/json"), "500": error.clone() } } }),
    );
    paths.insert(
        "/layers".into(),
        json!({ "get": { "summary": "every layer with its feature count", "operationId": "layers",
        "responses": { "200": json_response("the layers", "application/json"), "500": error.clone() } } }),
    );
    paths.insert("/query/at".into(), json!({ "get": plain("what is at a point: parcel, zoning, overlays, nearest road and service centre", "query_at", vec![lon.clone(), lat.clone()]) }));
    paths.insert("/query/within".into(), json!({
        "get": plain("features within a distance of a point, nearest first", "query_within_point", vec![layer_param.clone(), lon.clone(), lat.clone(), metres.clone(), limit.clone()]),
        "post": with_body("features within a distance of a posted geometry, nearest first", "query_within_geometry", vec![layer_param.clone(), metres, limit.clone()]),
    }));
    paths.insert("/query/nearest".into(), json!({ "get": plain("the k features nearest to a point", "query_nearest",
        vec![layer_param.clone(), lon, lat, q("k", false, json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 1 }), "how many")]) }));
    paths.insert("/query/intersects".into(), json!({ "post": with_body("features that intersect a posted geometry", "query_intersects", vec![layer_param, limit]) }));
    let mut report = plain(
        "the parcel report: area, zoning, overlays, roads, utilities, permits, nearest service centre",
        "parcel_report",
        vec![
            json!({ "name": "parcel", "in": "path", "required": true, "description": "parcel id or cadastral code", "schema": { "type": "string" } }),
            q(
                "utilities_m",
                false,
                json!({ "type": "number", "minimum": 0, "maximum": 1000, "default": 30 }),
                "how far to look for utilities, in metres",
            ),
        ],
    );
    report["responses"]["404"] = error.clone();
    paths.insert("/parcels/{parcel}/report".into(), json!({ "get": report }));
    // The other parts' operations, merged path by path and method by method.
    for fragment in [
        crate::queryables::openapi_paths(),
        crate::transactions::openapi_paths(),
        crate::tiles::openapi_paths(),
        crate::permits::openapi_paths(),
        crate::queue::openapi_paths(),
        crate::open311::openapi_paths(),
        crate::auth::openapi_paths(),
        crate::accounts::openapi_paths(),
    ] {
        for (path, operations) in fragment.as_object().into_iter().flatten() {
            let entry = paths.entry(path.clone()).or_insert_with(|| json!({}));
            for (method, operation) in operations.as_object().into_iter().flatten() {
                entry[method] = operation.clone();
            }
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "urbis", "version": env!("CARGO_PKG_VERSION"),
                  "description": "OGC API - Features (Part 1: Core, GeoJSON; Part 2: CRS; Part 3: Filtering with CQL2; \
                    Part 4: create, replace, update, delete), OGC API - Tiles and spatial queries over the city's layers" },
        "paths": paths,
        "components": {
            "schemas": { "Error": {
                "type": "object", "required": ["code", "message"],
                "properties": { "code": { "type": "string" }, "message": { "type": "string" }, "parameter": { "type": "string" } }
            } },
            "securitySchemes": crate::auth::security_schemes(),
        },
    })
}

/// The public fields of a layer, in schema order.
fn public_fields(layer: LayerId) -> impl Iterator<Item = &'static str> {
    layer.schema().fields.iter().filter(|f| !f.private).map(|f| f.name)
}

/// The JSON Schema of a field's values as a query parameter.
fn field_schema(ty: urbis_core::FieldType) -> Value {
    use urbis_core::FieldType::*;
    match ty {
        Integer => json!({ "type": "integer" }),
        Real => json!({ "type": "number" }),
        Boolean => json!({ "type": "boolean" }),
        Date => json!({ "type": "string", "format": "date" }),
        DateTime => json!({ "type": "string", "format": "date-time" }),
        Text | Json => json!({ "type": "string" }),
    }
}

async fn api() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/vnd.oai.openapi+json;version=3.0")], Json(api_document()))
}

async fn conformance() -> Json<Value> {
    Json(json!({ "conformsTo": conformance_classes() }))
}

fn layer(id: &str) -> Result<LayerId, ApiError> {
    id.parse::<LayerId>().map_err(|e| ApiError::NotFound(e.to_string()))
}

async fn collection_json(state: &AppState, root: &str, layer: LayerId) -> Result<Value, ApiError> {
    let s = layer.schema();
    let base = format!("{root}/collections/{}", layer.name());
    let mut out = json!({
        "id": layer.name(),
        "title": s.title,
        "description": s.description,
        "itemType": "feature",
        "crs": Crs::ALL.map(|c| c.uri()),
        "storageCrs": Crs::Crs84.uri(),
        "links": [
            { "href": base, "rel": "self", "type": "application/json", "title": s.title },
            { "href": format!("{base}/items"), "rel": "items", "type": "application/geo+json", "title": s.title },
            { "href": format!("{base}/queryables"), "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
              "type": "application/schema+json", "title": "what a filter may name" },
        ],
    });
    if let Some(e) = state.store.extent(layer).await? {
        out["extent"]["spatial"] = json!({
            "bbox": [[e.min().x, e.min().y, e.max().x, e.max().y]],
            "crs": Crs::Crs84.uri(),
        });
    }
    if let Some(field) = layer.time_field() {
        let ends = |desc: bool| {
            let q = Query { order_by: vec![(field.name.to_string(), desc)], limit: Some(1), ..Query::all() }
                .filter(AttributeFilter::new(field.name, Comparison::IsNotNull, Value::Null));
            let store = state.store.clone();
            async move { store.query(layer, &q).await }
        };
        let value = |found: Vec<Feature>| found.first().and_then(|f| f.attributes.get(field.name).cloned());
        let (first, last) = (value(ends(false).await?), value(ends(true).await?));
        if first.is_some() {
            out["extent"]["temporal"] = json!({
                "interval": [[first, last]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            });
        }
    }
    Ok(out)
}

async fn collections(BaseUrl(root): BaseUrl, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let all =
        futures::future::try_join_all(LayerId::ALL.into_iter().map(|l| collection_json(&state, &root, l))).await?;
    Ok(Json(json!({
        "collections": all,
        "crs": Crs::ALL.map(|c| c.uri()),
        "links": [{ "href": format!("{root}/collections"), "rel": "self", "type": "application/json" }],
    })))
}

async fn collection(
    BaseUrl(root): BaseUrl,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(collection_json(&state, &root, layer(&id)?).await?))
}

/// `properties=a,b`: the layer fields to return (each must exist).
fn parse_properties(layer: LayerId, text: &str) -> Result<Vec<String>, ApiError> {
    let mut names = vec![];
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let known = name == "extra" || layer.schema().fields.iter().any(|f| f.name == name && !f.private);
        if !known {
            return Err(ApiError::BadParameter {
                parameter: "properties",
                message: format!("`{name}` is not a property of {}", layer.name()),
            });
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// `sortby=a,-b`: fields to sort by in turn, each ascending (`+` or nothing) or descending (`-`);
/// ties, and the default order, are by id.
fn parse_sortby(layer: LayerId, text: &str) -> Result<Vec<(String, bool)>, ApiError> {
    let bad = |message: String| ApiError::BadParameter { parameter: "sortby", message };
    let mut keys: Vec<(String, bool)> = vec![];
    for key in text.split(',').map(str::trim) {
        let (name, desc) = match key.as_bytes().first() {
            Some(b'-') => (&key[1..], true),
            Some(b'+') => (&key[1..], false),
            _ => (key, false),
        };
        let sortable = name == "id"
            || layer
                .schema()
                .fields
                .iter()
                .any(|f| f.name == name && !f.private && f.ty != urbis_core::FieldType::Json);
        if !sortable {
            return Err(bad(format!("`{name}` is not a sortable property of {}", layer.name())));
        }
        if keys.iter().any(|(k, _)| k == name) {
            return Err(bad(format!("`{name}` is given twice")));
        }
        keys.push((name.to_string(), desc));
    }
    Ok(keys)
}

/// `minx,miny,maxx,maxy` in `crs` (in its axis order: `minlat,minlon,maxlat,maxlon` in EPSG:4326),
/// as a longitude/latitude box; a box that crosses the antimeridian is not handled yet.
fn parse_bbox(text: &str, crs: Crs) -> Result<geo_types::Rect, ApiError> {
    let bad = |why: &str| ApiError::BadParameter { parameter: "bbox", message: format!("`{text}`: {why}") };
    let order = match crs {
        Crs::Epsg4326 => "minlat,minlon,maxlat,maxlon",
        _ => "minx,miny,maxx,maxy",
    };
    let v: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad(&format!("expected four numbers: {order}")))?;
    if v.len() != 4 {
        return Err(bad(&format!("expected four numbers: {order} (three-dimensional boxes are not supported)")));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(bad("every number must be finite"));
    }
    if v[0] > v[2] || v[1] > v[3] {
        return Err(bad(&format!("the lower corner comes first: {order}")));
    }
    if crs == Crs::Crs84 && (v[0] < -180.0 || v[2] > 180.0 || v[1] < -90.0 || v[3] > 90.0) {
        return Err(bad("longitudes lie in -180..180 and latitudes in -90..90"));
    }
    crs.bbox_to_lonlat([v[0], v[1], v[2], v[3]]).map_err(|e| bad(&format!("{e} (bbox-crs is {crs})")))
}

fn parse_count(name: &'static str, text: Option<&str>, default: u64, max: u64) -> Result<u64, ApiError> {
    let Some(text) = text else { return Ok(default) };
    let n: u64 = text.trim().parse().map_err(|_| ApiError::BadParameter {
        parameter: name,
        message: format!("`{text}` is not a whole number ≥ 0"),
    })?;
    if n > max {
        return Err(ApiError::BadParameter {
            parameter: name,
            message: format!("{n} is more than the maximum, {max}"),
        });
    }
    Ok(n)
}

/// A feature as GeoJSON, without private fields; `extra` keeps the source's other attributes.
pub fn feature_json(layer: LayerId, f: &Feature) -> Value {
    feature_json_in(layer, f, Crs::Crs84)
}

/// [`feature_json`] with the geometry in `crs`.
pub fn feature_json_in(layer: LayerId, f: &Feature, crs: Crs) -> Value {
    serde_json::to_value(GeoJsonFeature { layer, feature: f, crs, only: None }).unwrap_or(Value::Null)
}

/// The query parameters of `/items`, each at most once. Besides these, a layer field's name
/// filters on equality (`?code=127-123`), as OGC API Features Part 1 recommends.
const ITEMS_PARAMS: [&str; 13] = [
    "f",
    "bbox",
    "bbox-crs",
    "crs",
    "datetime",
    "limit",
    "offset",
    "properties",
    "sortby",
    "filter",
    "filter-lang",
    "filter-crs",
    "numberMatched",
];

/// Above this many matches (by the store's estimate), `numberMatched` is the estimate, flagged as
/// such, unless the client asks `numberMatched=exact`: counting millions of rows for every page
/// costs more than the page.
const ESTIMATE_ABOVE: u64 = 100_000;

/// The query string as name → value, refusing repeated and unknown parameters by name.
fn params_of(layer: LayerId, pairs: Vec<(String, String)>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (name, value) in pairs {
        let known = ITEMS_PARAMS.contains(&name.as_str()) || queryable_field(layer, &name).is_some();
        if !known {
            return Err(ApiError::BadQuery {
                parameter: name.clone(),
                message: format!(
                    "unknown parameter; {} takes {} or one of its fields ({})",
                    layer.name(),
                    ITEMS_PARAMS.join(", "),
                    layer.schema().fields.iter().filter(|f| !f.private).map(|f| f.name).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(ApiError::BadQuery { parameter: name, message: "given more than once".into() });
        }
    }
    Ok(out)
}

/// A field that `?field=value` may filter on: public and not JSON.
fn queryable_field(layer: LayerId, name: &str) -> Option<&'static urbis_core::Field> {
    layer.schema().field(name).filter(|f| !f.private && f.ty != urbis_core::FieldType::Json)
}

/// A CRS parameter (`crs`, `bbox-crs`, `filter-crs`), CRS84 when absent.
pub fn parse_crs(parameter: &'static str, text: Option<&str>) -> Result<Crs, ApiError> {
    text.map(|t| Crs::parse(t).map_err(|e| ApiError::BadParameter { parameter, message: e.to_string() }))
        .transpose()
        .map(|c| c.unwrap_or(Crs::Crs84))
}

/// `datetime`: an instant or an interval `start/end` (either end may be `..` or empty), in RFC 3339
/// or as a date, against the layer's time field.
fn datetime_filters(layer: LayerId, text: &str) -> Result<Vec<AttributeFilter>, ApiError> {
    let bad = |message: String| ApiError::BadParameter { parameter: "datetime", message };
    let field = layer.time_field().ok_or_else(|| bad(format!("{} has no time to filter by", layer.name())))?;
    let instant = |t: &str, end: bool| -> Result<Option<String>, ApiError> {
        let t = t.trim();
        if t.is_empty() || t == ".." {
            return Ok(None);
        }
        // A date alone covers its whole day.
        let full = if t.len() == 10 {
            if end {
                format!("{t}T23:59:59.999Z")
            } else {
                format!("{t}T00:00:00Z")
            }
        } else {
            t.to_string()
        };
        urbis_core::feature::parse_datetime(&full).map(Some).ok_or_else(|| {
            bad(format!("`{t}` is not an RFC 3339 date-time (2026-11-02T09:00:00Z) or a date (2026-11-02)"))
        })
    };
    let name = field.name.to_string();
    match text.split_once('/') {
        None => {
            let (from, to) = (instant(text, false)?, instant(text, true)?);
            let (Some(from), Some(to)) = (from, to) else {
                return Err(bad("an instant cannot be open (`..`); write an interval `start/end`".into()));
            };
            Ok(vec![
                AttributeFilter::new(name.clone(), Comparison::Ge, from),
                AttributeFilter::new(name, Comparison::Le, to),
            ])
        }
        Some((a, b)) => {
            let (from, to) = (instant(a, false)?, instant(b, true)?);
            if let (Some(f), Some(t)) = (&from, &to) {
                if f > t {
                    return Err(bad(format!("`{text}`: the interval ends before it starts")));
                }
            }
            let mut out = vec![];
            if let Some(f) = from {
                out.push(AttributeFilter::new(name.clone(), Comparison::Ge, f));
            }
            if let Some(t) = to {
                out.push(AttributeFilter::new(name, Comparison::Le, t));
            }
            Ok(out)
        }
    }
}

/// `numberMatched=exact|estimate`: how to count; by default exact unless the store estimates more
/// than [`ESTIMATE_ABOVE`].
/// `numberMatched`: how the client wants the matches counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CountMode {
    /// Exact, unless the store estimates more than [`ESTIMATE_ABOVE`].
    Auto,
    Exact,
    Estimate,
}

fn parse_count_mode(text: Option<&str>) -> Result<CountMode, ApiError> {
    match text {
        None => Ok(CountMode::Auto),
        Some("exact") => Ok(CountMode::Exact),
        Some("estimate") => Ok(CountMode::Estimate),
        Some(other) => Err(ApiError::BadParameter {
            parameter: "numberMatched",
            message: format!("`{other}`: use `exact` or `estimate`"),
        }),
    }
}

/// The number of matches, and whether it is an estimate.
async fn number_matched(
    state: &AppState,
    layer: LayerId,
    query: &Query,
    mode: CountMode,
) -> Result<(u64, bool), ApiError> {
    let estimate = match mode {
        CountMode::Auto => state.store.count_estimate(layer, query).await?.filter(|e| *e > ESTIMATE_ABOVE),
        CountMode::Exact => None,
        CountMode::Estimate => state.store.count_estimate(layer, query).await?,
    };
    Ok(match estimate {
        Some(e) => (e, true),
        None => (state.store.count(layer, query).await?, false),
    })
}

fn check_format(params: &BTreeMap<String, String>) -> Result<(), ApiError> {
    match params.get("f").map(String::as_str) {
        None | Some("json" | "geojson") => Ok(()),
        Some(other) => Err(ApiError::BadParameter {
            parameter: "f",
            message: format!("`{other}`: this resource is served as GeoJSON only (`f=json`)"),
        }),
    }
}

/// The headers of a GeoJSON response in `crs`. Features change through the API at any moment, so
/// a cache (QGIS keeps one on disk) must ask again before reusing an answer.
fn geojson_headers(crs: Crs) -> [(header::HeaderName, String); 3] {
    [
        (header::CONTENT_TYPE, "application/geo+json".to_string()),
        (header::HeaderName::from_static("content-crs"), format!("<{}>", crs.uri())),
        (header::CACHE_CONTROL, "no-cache".to_string()),
    ]
}

async fn items(
    BaseUrl(root): BaseUrl,
    State(state): State<AppState>,
    Path(id): Path<String>,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
) -> Result<impl IntoResponse, ApiError> {
    let layer = layer(&id)?;
    let params = params_of(layer, pairs)?;
    let param = |name: &str| params.get(name).map(String::as_str);
    check_format(&params)?;
    let crs = parse_crs("crs", param("crs"))?;
    let limit = parse_count("limit", param("limit"), DEFAULT_LIMIT, MAX_LIMIT)?;
    let offset = parse_count("offset", param("offset"), 0, u64::MAX / 2)?;
    let mut query = Query::all().offset(offset);
    let only = param("properties").map(|p| parse_properties(layer, p)).transpose()?;
    if let Some(sortby) = param("sortby") {
        query.order_by = parse_sortby(layer, sortby)?;
    }
    if let Some(b) = param("bbox") {
        if !layer.schema().has_geometry() {
            return Err(ApiError::BadParameter {
                parameter: "bbox",
                message: format!("{} has no geometry to filter by", layer.name()),
            });
        }
        let bbox_crs = parse_crs("bbox-crs", param("bbox-crs"))?;
        query = query.bbox(parse_bbox(b, bbox_crs)?);
    } else if param("bbox-crs").is_some() {
        return Err(ApiError::BadParameter { parameter: "bbox-crs", message: "given without a bbox".into() });
    }
    if let Some(dt) = param("datetime") {
        query.filters.extend(datetime_filters(layer, dt)?);
    }
    for (name, value) in &params {
        if let Some(field) = queryable_field(layer, name) {
            let v = urbis_core::feature::coerce(field.name, field.ty, Value::String(value.clone()))
                .map_err(|e| ApiError::BadQuery { parameter: name.clone(), message: e.to_string() })?
                .unwrap_or(Value::Null);
            query.filters.push(AttributeFilter::new(field.name, Comparison::Eq, v));
        }
    }
    query.cql2 = crate::filter::from_params_in(layer, param("filter"), param("filter-lang"), param("filter-crs"))?;
    // One more than the page tells whether there is a next page without counting.
    query.limit = Some(limit + 1);
    let count_mode = parse_count_mode(param("numberMatched"))?;
    // The store counts the matches as it reads the page where that costs little (at most as many
    // as it would count exactly anyway).
    // As the store keeps them where it can hand them over so (WKB and JSON text, written out as
    // they are), else as features.
    let (mut features, counted) = match state.store.query_raw(layer, &query, ESTIMATE_ABOVE).await? {
        Some((raw, counted)) => (Rows::Raw(raw), counted),
        None => {
            let (features, counted) = state.store.query_counted(layer, &query, ESTIMATE_ABOVE).await?;
            (Rows::Features(features), counted)
        }
    };
    let more = features.len() as u64 > limit;
    features.truncate(limit as usize);
    query.limit = Some(limit);
    // The last page knows the count already: what came before it and what it holds.
    let (matched, estimated) = if !more && (offset == 0 || !features.is_empty()) {
        (offset + features.len() as u64, false)
    } else if let Some(n) = counted {
        (n, false)
    } else {
        number_matched(&state, layer, &query, count_mode).await?
    };
    let base = format!("{root}/collections/{}/items", layer.name());
    let page = |offset: u64| {
        let mut q = format!("{base}?limit={limit}&offset={offset}");
        for (name, value) in params.iter().filter(|(n, _)| !matches!(n.as_str(), "limit" | "offset")) {
            q += &format!("&{}={}", encode_query_value(name), encode_query_value(value));
        }
        q
    };
    let mut links = vec![json!({ "href": page(offset), "rel": "self", "type": "application/geo+json" })];
    if more {
        links.push(json!({ "href": page(offset + limit), "rel": "next", "type": "application/geo+json" }));
    }
    if offset > 0 {
        links
            .push(json!({ "href": page(offset.saturating_sub(limit)), "rel": "prev", "type": "application/geo+json" }));
    }
    // One buffer of about the page's size (growing it by doubling copies most of a megabyte):
    // the features, then the rest of the page.
    let internal = |e: String| ApiError::Internal(format!("writing the page: {e}"));
    let mut bytes = Vec::with_capacity(features.size_hint());
    bytes.extend_from_slice(br#"{"type":"FeatureCollection","features":["#);
    features.write(&mut bytes, layer, crs, only.as_deref()).map_err(internal)?;
    bytes.extend_from_slice(b"],");
    let tail = PageTail {
        number_matched: matched,
        number_returned: features.len(),
        number_matched_is_estimate: estimated.then_some(true),
        time_stamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        links,
    };
    let tail = serde_json::to_vec(&tail).map_err(|e| internal(e.to_string()))?;
    // The tail's members, without its opening brace.
    bytes.extend_from_slice(&tail[1..]);
    Ok((geojson_headers(crs), bytes))
}

/// The features of a page, as the store gave them.
enum Rows {
    Features(Vec<Feature>),
    Raw(Vec<urbis_store::RawFeature>),
}

impl Rows {
    fn len(&self) -> usize {
        match self {
            Rows::Features(f) => f.len(),
            Rows::Raw(r) => r.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn truncate(&mut self, n: usize) {
        match self {
            Rows::Features(f) => f.truncate(n),
            Rows::Raw(r) => r.truncate(n),
        }
    }

    /// About how many bytes the page takes, a little more rather than less.
    fn size_hint(&self) -> usize {
        match self {
            Rows::Features(f) => crate::geojson_out::size_hint(f),
            Rows::Raw(r) => crate::geojson_out::raw_size_hint(r),
        }
    }

    /// The features as GeoJSON, separated by commas.
    fn write(&self, out: &mut Vec<u8>, layer: LayerId, crs: Crs, only: Option<&[String]>) -> Result<(), String> {
        match self {
            Rows::Features(features) => {
                for (i, feature) in features.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut *out, &GeoJsonFeature { layer, feature, crs, only })
                        .map_err(|e| e.to_string())?;
                }
            }
            Rows::Raw(raw) => {
                for (i, feature) in raw.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    crate::geojson_out::write_raw_feature(out, layer, feature, crs, only)?;
                }
            }
        }
        Ok(())
    }
}

/// A page of `/items` after its features (`type` and `features` come first, written by hand).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PageTail {
    number_matched: u64,
    number_returned: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    number_matched_is_estimate: Option<bool>,
    time_stamp: String,
    links: Vec<Value>,
}

/// Percent-encodes what a query value may not hold as it is (`+` would read as a space).
fn encode_query_value(v: &str) -> String {
    v.chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' | '.' | '~' | ',' => c.to_string(),
            other => other.to_string().bytes().map(|b| format!("%{b:02X}")).collect(),
        })
        .collect()
}

async fn item(
    BaseUrl(root): BaseUrl,
    State(state): State<AppState>,
    Path((id, feature_id)): Path<(String, String)>,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let layer = layer(&id)?;
    let mut crs = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "crs" if crs.is_none() => crs = Some(parse_crs("crs", Some(value))?),
            "f" if matches!(value.as_str(), "json" | "geojson") => {}
            _ => {
                return Err(ApiError::BadQuery {
                    parameter: name.clone(),
                    message: "a feature takes `crs` and `f=json`, each once".into(),
                })
            }
        }
    }
    let crs = crs.unwrap_or(Crs::Crs84);
    let feature = state
        .store
        .get(layer, &feature_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{} has no feature with id `{feature_id}`", layer.name())))?;
    // The stored version's ETag, for If-Match on writes (Part 4); If-None-Match gets 304.
    let etag = crate::transactions::etag_header(&feature, crs == Crs::Crs84);
    if crate::transactions::none_match(&headers, &feature) {
        return Ok((axum::http::StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let mut body = feature_json_in(layer, &feature, crs);
    body["links"] = json!([
        { "href": format!("{root}/collections/{}/items/{}", layer.name(), feature_id), "rel": "self", "type": "application/geo+json" },
        { "href": format!("{root}/collections/{}", layer.name()), "rel": "collection", "type": "application/json" },
    ]);
    Ok((geojson_headers(crs), [(header::ETAG, etag)], Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bboxes_are_checked_and_named() {
        assert!(parse_bbox("-71.2,42.3,-71.0,42.4", Crs::Crs84).is_ok());
        let lat_first = parse_bbox("42.3,-71.2,42.4,-71.0", Crs::Epsg4326).unwrap();
        assert_eq!(lat_first, parse_bbox("-71.2,42.3,-71.0,42.4", Crs::Crs84).unwrap());
        assert!(parse_bbox("10,100,20,120", Crs::Epsg4326).is_ok(), "latitudes 10..20, longitudes 100..120");
        assert!(parse_bbox("100,10,120,20", Crs::Epsg4326).is_err(), "a latitude of 100");
        for bad in ["1,2,3", "a,b,c,d", "-71.0,42.4,-71.2,42.3", "0,0,200,10", "1,2,3,4,5,6", "NaN,0,1,1"] {
            let err = parse_bbox(bad, Crs::Crs84).unwrap_err().to_string();
            assert!(err.contains("bbox"), "{bad}: {err}");
        }
        assert!(parse_count("limit", Some("1000000000"), 10, MAX_LIMIT).is_err());
        assert!(parse_count("limit", Some("-1"), 10, MAX_LIMIT).is_err());
        assert_eq!(parse_count("limit", None, 10, MAX_LIMIT).unwrap(), 10);
    }
}
