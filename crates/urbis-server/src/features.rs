//! OGC API – Features, Part 1 (Core, GeoJSON): the collections of the city and their items, with
//! bbox, limit and offset paging and next/prev links. Conformance is declared only for what is
//! served here; filtering, CRS and transactions come later. Private fields (an applicant's
//! personal data) never leave the server.

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use urbis_core::{Feature, LayerId};
use urbis_store::Query;

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

const CONFORMANCE: [&str; 2] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
];

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
async fn api() -> impl IntoResponse {
    let json_response = |description: &str, media: &str| json!({ "description": description, "content": { media: { "schema": { "type": "object" } } } });
    let error = json!({
        "description": "a JSON error naming what is wrong",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    });
    let collection_id = json!({
        "name": "collectionId", "in": "path", "required": true,
        "schema": { "type": "string", "enum": LayerId::ALL.map(|l| l.name()) }
    });
    let doc = json!({
        "openapi": "3.0.3",
        "info": { "title": "urbis", "version": env!("CARGO_PKG_VERSION"),
                  "description": "OGC API - Features (Part 1: Core, GeoJSON) over the city's layers" },
        "paths": {
            "/": { "get": { "summary": "landing page", "operationId": "landing",
                "responses": { "200": json_response("links to the API", "application/json") } } },
            "/api": { "get": { "summary": "this API definition", "operationId": "api",
                "responses": { "200": json_response("OpenAPI 3.0", "application/vnd.oai.openapi+json;version=3.0") } } },
            "/conformance": { "get": { "summary": "conformance classes", "operationId": "conformance",
                "responses": { "200": json_response("conformance classes met", "application/json") } } },
            "/collections": { "get": { "summary": "the layers", "operationId": "collections",
                "responses": { "200": json_response("every layer", "application/json") } } },
            "/collections/{collectionId}": { "get": { "summary": "one layer", "operationId": "collection",
                "parameters": [collection_id.clone()],
                "responses": { "200": json_response("the layer", "application/json"), "404": error.clone() } } },
            "/collections/{collectionId}/items": { "get": { "summary": "features of a layer", "operationId": "items",
                "parameters": [
                    collection_id.clone(),
                    { "name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
                      "schema": { "type": "array", "minItems": 4, "maxItems": 4, "items": { "type": "number" } } },
                    { "name": "limit", "in": "query", "required": false,
                      "schema": { "type": "integer", "minimum": 0, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT } },
                    { "name": "offset", "in": "query", "required": false,
                      "schema": { "type": "integer", "minimum": 0, "default": 0 } },
                    { "name": "properties", "in": "query", "required": false, "style": "form", "explode": false,
                      "description": "the properties to return",
                      "schema": { "type": "array", "items": { "type": "string" } } },
                    { "name": "sortby", "in": "query", "required": false,
                      "description": "one property to sort by, `-` before it for descending",
                      "schema": { "type": "string", "pattern": "^[+-]?[a-z_0-9]+$" } },
                ],
                "responses": { "200": json_response("a page of features", "application/geo+json"),
                               "400": error.clone(), "404": error.clone() } } },
            "/collections/{collectionId}/items/{featureId}": { "get": { "summary": "one feature", "operationId": "item",
                "parameters": [collection_id, { "name": "featureId", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": json_response("the feature", "application/geo+json"), "404": error } } },
        },
        "components": { "schemas": { "Error": {
            "type": "object", "required": ["code", "message"],
            "properties": { "code": { "type": "string" }, "message": { "type": "string" }, "parameter": { "type": "string" } }
        } } },
    });
    ([(header::CONTENT_TYPE, "application/vnd.oai.openapi+json;version=3.0")], Json(doc))
}

async fn conformance() -> Json<Value> {
    Json(json!({ "conformsTo": CONFORMANCE }))
}

fn layer(id: &str) -> Result<LayerId, ApiError> {
    id.parse::<LayerId>().map_err(|e| ApiError::NotFound(e.to_string()))
}

fn collection_json(root: &str, layer: LayerId) -> Value {
    let s = layer.schema();
    let base = format!("{root}/collections/{}", layer.name());
    json!({
        "id": layer.name(),
        "title": s.title,
        "description": s.description,
        "itemType": "feature",
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "links": [
            { "href": base, "rel": "self", "type": "application/json", "title": s.title },
            { "href": format!("{base}/items"), "rel": "items", "type": "application/geo+json", "title": s.title },
        ],
    })
}

async fn collections(BaseUrl(root): BaseUrl) -> Json<Value> {
    let all: Vec<Value> = LayerId::ALL.into_iter().map(|l| collection_json(&root, l)).collect();
    Json(json!({
        "collections": all,
        "links": [{ "href": format!("{root}/collections"), "rel": "self", "type": "application/json" }],
    }))
}

async fn collection(BaseUrl(root): BaseUrl, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(collection_json(&root, layer(&id)?)))
}

#[derive(Debug, Deserialize)]
struct ItemsParams {
    bbox: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    properties: Option<String>,
    sortby: Option<String>,
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

/// `sortby=field` or `+field` (ascending) or `-field` (descending); one field for now.
fn parse_sortby(layer: LayerId, text: &str) -> Result<(String, bool), ApiError> {
    let bad = |message: String| ApiError::BadParameter { parameter: "sortby", message };
    let keys: Vec<&str> = text.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
    let [key] = keys.as_slice() else {
        return Err(bad(format!("`{text}`: give exactly one field to sort by (several are not supported yet)")));
    };
    let (name, desc) = match key.as_bytes().first() {
        Some(b'-') => (&key[1..], true),
        Some(b'+') => (&key[1..], false),
        _ => (*key, false),
    };
    let sortable = name == "id"
        || layer.schema().fields.iter().any(|f| f.name == name && !f.private && f.ty != urbis_core::FieldType::Json);
    if !sortable {
        return Err(bad(format!("`{name}` is not a sortable property of {}", layer.name())));
    }
    Ok((name.to_string(), desc))
}

/// `minx,miny,maxx,maxy` in CRS84; a box that crosses the antimeridian is not handled yet.
fn parse_bbox(text: &str) -> Result<geo_types::Rect, ApiError> {
    let bad = |why: &str| ApiError::BadParameter { parameter: "bbox", message: format!("`{text}`: {why}") };
    let v: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("expected four numbers: minx,miny,maxx,maxy"))?;
    if v.len() != 4 {
        return Err(bad("expected four numbers: minx,miny,maxx,maxy (three-dimensional boxes are not supported)"));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(bad("every number must be finite"));
    }
    let (minx, miny, maxx, maxy) = (v[0], v[1], v[2], v[3]);
    if minx > maxx || miny > maxy {
        return Err(bad("the lower corner comes first: minx ≤ maxx and miny ≤ maxy"));
    }
    if minx < -180.0 || maxx > 180.0 || miny < -90.0 || maxy > 90.0 {
        return Err(bad("longitudes lie in -180..180 and latitudes in -90..90"));
    }
    Ok(geo_types::Rect::new((minx, miny), (maxx, maxy)))
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
    let schema = layer.schema();
    let mut properties = Map::new();
    for field in schema.fields.iter().filter(|field| !field.private) {
        if let Some(v) = f.attributes.get(field.name) {
            properties.insert(field.name.to_string(), v.clone());
        }
    }
    if !f.extra.is_empty() {
        properties.insert("extra".into(), Value::Object(f.extra.clone()));
    }
    let geometry = f.geometry.as_ref().map(|g| json!(geojson::Geometry::from(g))).unwrap_or(Value::Null);
    json!({ "type": "Feature", "id": f.id, "geometry": geometry, "properties": properties })
}

async fn items(
    BaseUrl(root): BaseUrl,
    State(state): State<AppState>,
    Path(id): Path<String>,
    UrlQuery(params): UrlQuery<ItemsParams>,
) -> Result<impl IntoResponse, ApiError> {
    let layer = layer(&id)?;
    let limit = parse_count("limit", params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let offset = parse_count("offset", params.offset.as_deref(), 0, u64::MAX / 2)?;
    let mut query = Query::all().limit(limit).offset(offset);
    let only = params.properties.as_deref().map(|p| parse_properties(layer, p)).transpose()?;
    if let Some(sortby) = params.sortby.as_deref() {
        query.order_by = Some(parse_sortby(layer, sortby)?);
    }
    if let Some(b) = params.bbox.as_deref() {
        if !layer.schema().has_geometry() {
            return Err(ApiError::BadParameter {
                parameter: "bbox",
                message: format!("{} has no geometry to filter by", layer.name()),
            });
        }
        query = query.bbox(parse_bbox(b)?);
    }
    let features = state.store.query(layer, &query).await?;
    let matched = state.store.count(layer, &query).await?;
    let base = format!("{root}/collections/{}/items", layer.name());
    let page = |offset: u64| {
        let mut q = format!("{base}?limit={limit}&offset={offset}");
        for (name, value) in [("bbox", &params.bbox), ("properties", &params.properties), ("sortby", &params.sortby)] {
            if let Some(v) = value {
                q += &format!("&{name}={}", encode_query_value(v));
            }
        }
        q
    };
    let mut links = vec![json!({ "href": page(offset), "rel": "self", "type": "application/geo+json" })];
    if offset + (features.len() as u64) < matched {
        links.push(json!({ "href": page(offset + limit), "rel": "next", "type": "application/geo+json" }));
    }
    if offset > 0 {
        links
            .push(json!({ "href": page(offset.saturating_sub(limit)), "rel": "prev", "type": "application/geo+json" }));
    }
    let body = json!({
        "type": "FeatureCollection",
        "features": features.iter().map(|f| select(feature_json(layer, f), only.as_deref())).collect::<Vec<_>>(),
        "numberMatched": matched,
        "numberReturned": features.len(),
        "links": links,
    });
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], Json(body)))
}

/// Keeps only the named properties of a GeoJSON feature.
fn select(mut feature: Value, only: Option<&[String]>) -> Value {
    if let (Some(only), Some(props)) = (only, feature.get_mut("properties").and_then(Value::as_object_mut)) {
        props.retain(|k, _| only.iter().any(|o| o == k));
    }
    feature
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
) -> Result<impl IntoResponse, ApiError> {
    let layer = layer(&id)?;
    let feature = state
        .store
        .get(layer, &feature_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{} has no feature with id `{feature_id}`", layer.name())))?;
    let mut body = feature_json(layer, &feature);
    body["links"] = json!([
        { "href": format!("{root}/collections/{}/items/{}", layer.name(), feature_id), "rel": "self", "type": "application/geo+json" },
        { "href": format!("{root}/collections/{}", layer.name()), "rel": "collection", "type": "application/json" },
    ]);
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], Json(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bboxes_are_checked_and_named() {
        assert!(parse_bbox("-71.2,42.3,-71.0,42.4").is_ok());
        for bad in ["1,2,3", "a,b,c,d", "-71.0,42.4,-71.2,42.3", "0,0,200,10", "1,2,3,4,5,6", "NaN,0,1,1"] {
            let err = parse_bbox(bad).unwrap_err().to_string();
            assert!(err.contains("bbox"), "{bad}: {err}");
        }
        assert!(parse_count("limit", Some("1000000000"), 10, MAX_LIMIT).is_err());
        assert!(parse_count("limit", Some("-1"), 10, MAX_LIMIT).is_err());
        assert_eq!(parse_count("limit", None, 10, MAX_LIMIT).unwrap(), 10);
    }
}
