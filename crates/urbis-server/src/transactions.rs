//! OGC API – Features Part 4: create (POST), replace (PUT), update (PATCH, JSON Merge Patch) and
//! delete (DELETE) features, for callers whose token's role may edit. Every write is validated
//! as an import is (fields against the layer's schema, geometry through `check_feature`), is
//! one store transaction, and is conditional on the version read (ETags, `If-Match`), so that
//! concurrent writers cannot lose each other's changes. A refused write changes nothing.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use urbis_core::validate::{check_feature, GeometryPolicy};
use urbis_core::{Feature, LayerId, Problem, Repairs};
use urbis_store::StoreError;

use crate::auth::Editor;
use crate::features::{feature_json, BaseUrl};
use crate::{ApiError, AppState};

/// The largest feature a write accepts, in bytes of GeoJSON (a district with a detailed outline
/// is a few hundred kilobytes).
pub const MAX_FEATURE_BYTES: usize = 8 * 1024 * 1024;

/// The repairs applied to a written geometry, when there were any (`1 duplicate vertice(s)
/// removed`, …).
pub const REPAIRS_HEADER: &str = "urbis-repairs";

/// How often a write without `If-Match` is tried again when another writer changed the feature
/// between its read and its write.
const RETRIES: usize = 3;

/// The Part 4 conformance classes that these routes meet.
pub const CONFORMANCE: [&str; 4] = [
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/optimistic-locking-etags",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/collections/{id}/items", post(create))
        .route("/collections/{id}/items/{feature_id}", put(replace).patch(update).delete(remove))
        .layer(DefaultBodyLimit::max(MAX_FEATURE_BYTES))
}

/// Dossiers and their hash-chained events change through the workflow (`/dossiers/…`), which
/// appends an event for every step; a Part 4 write would bypass it. Only an admin may (to repair).
fn workflow_layers_for_admins(layer: LayerId, editor: &Editor) -> Result<(), ApiError> {
    if matches!(layer, LayerId::Permits | LayerId::PermitEvents) && editor.role != crate::auth::Role::Admin {
        return Err(ApiError::Forbidden(format!(
            "the role `{}` may not edit {} through OGC API Features: dossiers change through /dossiers/{{id}}/transitions; \
             direct edits need the role `admin`",
            editor.role,
            layer.name()
        )));
    }
    Ok(())
}

fn layer(id: &str) -> Result<LayerId, ApiError> {
    id.parse::<LayerId>().map_err(|e| ApiError::NotFound(e.to_string()))
}

/// `"tag"`, as HTTP writes an entity tag.
pub fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// The `ETag` of a read of `feature`: strong for the stored representation (CRS84), the one
/// `If-Match` takes; weak in another CRS, whose bytes differ for the same content.
pub fn etag_header(feature: &Feature, stored_crs: bool) -> String {
    let tag = quoted(&feature.etag());
    if stored_crs {
        tag
    } else {
        format!("W/{tag}")
    }
}

/// Whether `If-None-Match` holds the version of `feature` (weak comparison, `*` for any), so
/// that a read may answer 304 Not Modified.
pub fn none_match(headers: &HeaderMap, feature: &Feature) -> bool {
    let tag = feature.etag();
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        t == "*" || t.strip_prefix("W/").unwrap_or(t).trim_matches('"') == tag
    })
}

async fn create(
    BaseUrl(root): BaseUrl,
    State(state): State<AppState>,
    editor: Editor,
    Path(collection): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let layer = layer(&collection)?;
    workflow_layers_for_admins(layer, &editor)?;
    media_type(&headers, &["application/geo+json", "application/json"])?;
    let doc = parse_body(body)?;
    let mut feature = feature_from_geojson(doc, None)?;
    if feature.id.is_empty() {
        feature.id = uuid::Uuid::new_v4().to_string();
    }
    let repairs = validate(layer, &mut feature)?;
    let stored = state.store.create_one(layer, &feature).await?;
    crate::tiles::after_write(&state).await;
    tracing::info!(layer = %layer, id = %stored.id, role = %editor.role, "feature created");
    let location = format!("{root}/collections/{}/items/{}", layer.name(), encode_path_segment(&stored.id));
    let mut response = written(StatusCode::CREATED, layer, &stored, repairs);
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

async fn replace(
    State(state): State<AppState>,
    editor: Editor,
    Path((collection, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let layer = layer(&collection)?;
    workflow_layers_for_admins(layer, &editor)?;
    let condition = if_match(&headers)?;
    media_type(&headers, &["application/geo+json", "application/json"])?;
    let doc = parse_body(body)?;
    let given = feature_from_geojson(doc.clone(), Some(&id))?;
    let named_private: Vec<&str> =
        private_fields(layer).filter(|f| doc.get("properties").and_then(|p| p.get(f)).is_some()).collect();
    let (stored, repairs) = write_conditionally(&state, layer, &id, condition.as_ref(), |current| {
        let mut feature = given.clone();
        // A client that read the feature never saw its private fields: replacing keeps those it
        // does not name, rather than erasing an applicant's data on every round trip.
        for field in private_fields(layer).filter(|f| !named_private.contains(f)) {
            if let Some(v) = current.attributes.get(field) {
                feature.attributes.insert(field.to_string(), v.clone());
            }
        }
        let repairs = validate(layer, &mut feature)?;
        Ok((feature, repairs))
    })
    .await?;
    tracing::info!(layer = %layer, id = %id, role = %editor.role, "feature replaced");
    Ok(written(StatusCode::OK, layer, &stored, repairs))
}

async fn update(
    State(state): State<AppState>,
    editor: Editor,
    Path((collection, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let layer = layer(&collection)?;
    workflow_layers_for_admins(layer, &editor)?;
    let condition = if_match(&headers)?;
    media_type(&headers, &["application/merge-patch+json", "application/json"])?;
    let patch = parse_body(body)?;
    if !patch.is_object() {
        return Err(body_error("a JSON Merge Patch (RFC 7396) of a feature is a JSON object"));
    }
    let (stored, repairs) = write_conditionally(&state, layer, &id, condition.as_ref(), |current| {
        // The patch applies to the whole feature, private fields included (they may be written,
        // never read back), then the result is checked as a new feature would be.
        let mut doc = full_geojson(current);
        json_patch::merge(&mut doc, &patch);
        if doc.get("id") != Some(&Value::String(id.clone())) {
            return Err(ApiError::BadParameter {
                parameter: "id",
                message: "a PATCH cannot change a feature's id".into(),
            });
        }
        let mut feature = feature_from_geojson(doc, Some(&id))?;
        let repairs = validate(layer, &mut feature)?;
        Ok((feature, repairs))
    })
    .await?;
    tracing::info!(layer = %layer, id = %id, role = %editor.role, "feature updated");
    Ok(written(StatusCode::OK, layer, &stored, repairs))
}

async fn remove(
    State(state): State<AppState>,
    editor: Editor,
    Path((collection, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = layer(&collection)?;
    workflow_layers_for_admins(layer, &editor)?;
    let expected = match if_match(&headers)? {
        None => None,
        Some(condition) => {
            let current = state.store.get(layer, &id).await?;
            Some(condition.matching(layer, &id, current.as_ref())?)
        }
    };
    state.store.delete_checked(layer, &id, expected.flatten().as_deref()).await?;
    crate::tiles::after_write(&state).await;
    tracing::info!(layer = %layer, id = %id, role = %editor.role, "feature deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Reads the feature, checks the client's `If-Match` against it, builds the new version from it
/// and writes that only if the stored version is still the one read. Without `If-Match`, a
/// change by another writer in between makes it start again from the newer version.
async fn write_conditionally(
    state: &AppState,
    layer: LayerId,
    id: &str,
    condition: Option<&IfMatch>,
    build: impl Fn(&Feature) -> Result<(Feature, Repairs), ApiError>,
) -> Result<(Feature, Repairs), ApiError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = state.store.get(layer, id).await?;
        if let Some(c) = condition {
            c.matching(layer, id, current.as_ref())?;
        }
        let current = current.ok_or_else(|| ApiError::NotFound(format!("{layer} has no feature with id `{id}`")))?;
        let read = current.etag();
        let (feature, repairs) = build(&current)?;
        match state.store.replace_checked(layer, &feature, Some(&read)).await {
            Ok(stored) => {
                crate::tiles::after_write(state).await;
                return Ok((stored, repairs));
            }
            Err(StoreError::PreconditionFailed { .. }) if condition.is_none() && attempt < RETRIES => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The response to a successful write: the feature as stored (private fields left out), its
/// new ETag, and the repairs applied if any.
fn written(status: StatusCode, layer: LayerId, stored: &Feature, repairs: Repairs) -> Response {
    let mut response =
        (status, [(header::CONTENT_TYPE, "application/geo+json")], Json(feature_json(layer, stored))).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&quoted(&stored.etag())) {
        headers.insert(header::ETAG, v);
    }
    if repairs.any() {
        if let Ok(v) = HeaderValue::from_str(&repairs.to_string()) {
            headers.insert(HeaderName::from_static(REPAIRS_HEADER), v);
        }
    }
    response
}

/// `If-Match`: `*` (any current version) or a list of entity tags. Weak tags (`W/"…"`) never
/// match, as RFC 9110 requires strong comparison here.
#[derive(Debug, Clone, PartialEq)]
pub enum IfMatch {
    Any,
    Tags(Vec<String>),
}

impl IfMatch {
    /// The tag of `current` if the condition holds (`None` for `*`), else 412 naming the
    /// current version.
    fn matching(&self, layer: LayerId, id: &str, current: Option<&Feature>) -> Result<Option<String>, ApiError> {
        let failed = |current_etag: Option<String>| {
            let message = match &current_etag {
                Some(tag) => format!(
                    "{layer} `{id}` has changed since the version named in If-Match: its ETag is now \"{tag}\"; \
                     read it again and retry"
                ),
                None => format!("{layer} has no feature with id `{id}`, so If-Match cannot hold"),
            };
            ApiError::PreconditionFailed { message, current_etag }
        };
        let Some(current) = current else { return Err(failed(None)) };
        let tag = current.etag();
        match self {
            IfMatch::Any => Ok(None),
            IfMatch::Tags(tags) if tags.contains(&tag) => Ok(Some(tag)),
            IfMatch::Tags(_) => Err(failed(Some(tag))),
        }
    }
}

/// The `If-Match` headers of a request, if any; 400 when they are not entity tags.
pub fn if_match(headers: &HeaderMap) -> Result<Option<IfMatch>, ApiError> {
    let values: Vec<&str> = headers
        .get_all(header::IF_MATCH)
        .iter()
        .map(|v| v.to_str())
        .collect::<Result<_, _>>()
        .map_err(|_| bad_if_match())?;
    if values.is_empty() {
        return Ok(None);
    }
    let mut tags = vec![];
    for item in values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|t| !t.is_empty()) {
        if item == "*" {
            return Ok(Some(IfMatch::Any));
        }
        let (weak, rest) = match item.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, item),
        };
        let tag = rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')).ok_or_else(bad_if_match)?;
        if tag.contains('"') {
            return Err(bad_if_match());
        }
        if !weak {
            tags.push(tag.to_string());
        }
    }
    Ok(Some(IfMatch::Tags(tags)))
}

fn bad_if_match() -> ApiError {
    ApiError::BadParameter {
        parameter: "If-Match",
        message: "expected `*` or entity tags in double quotes, as the ETag header gives them".into(),
    }
}

/// 415 unless the body is declared as one of `accepted` (parameters such as charset aside).
fn media_type(headers: &HeaderMap, accepted: &[&str]) -> Result<(), ApiError> {
    let given = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = given.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if accepted.contains(&essence.as_str()) {
        return Ok(());
    }
    let given = if given.is_empty() { "none".to_string() } else { format!("`{given}`") };
    Err(ApiError::UnsupportedMediaType(format!(
        "Content-Type is {given}; this takes {}",
        accepted.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(" or ")
    )))
}

fn body_error(message: impl Into<String>) -> ApiError {
    ApiError::BadParameter { parameter: "body", message: message.into() }
}

/// The body as JSON; 413 past [`MAX_FEATURE_BYTES`], 400 naming the line and column of bad JSON.
fn parse_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: MAX_FEATURE_BYTES },
        _ => body_error(format!("cannot read the body: {e}")),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // JSON has no NaN or Infinity: name them, as a client that wrote one from a float
        // formatter deserves to know.
        let at = offset_of(&bytes, e.line(), e.column());
        let rest = bytes.get(at.saturating_sub(1)..).unwrap_or_default();
        let rest = String::from_utf8_lossy(&rest[..rest.len().min(12)]).to_string();
        let nonfinite = ["NaN", "Infinity", "-Infinity", "inf", "nan"]
            .iter()
            .any(|w| rest.trim_start().to_ascii_lowercase().starts_with(&w.to_ascii_lowercase()));
        if nonfinite {
            body_error(format!(
                "not valid JSON at line {} column {}: `{}` is not a number (coordinates and values must be finite)",
                e.line(),
                e.column(),
                rest.trim().split([',', ']', '}']).next().unwrap_or("").trim()
            ))
        } else {
            body_error(format!("not valid JSON: {e}"))
        }
    })
}

/// The byte offset of a 1-based line and column, as serde_json reports errors.
fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut at = 0;
    for _ in 1..line {
        match bytes[at..].iter().position(|b| *b == b'\n') {
            Some(i) => at += i + 1,
            None => return bytes.len(),
        }
    }
    (at + column).min(bytes.len())
}

fn private_fields(layer: LayerId) -> impl Iterator<Item = &'static str> {
    layer.schema().fields.iter().filter(|f| f.private).map(|f| f.name)
}

/// A GeoJSON Feature as a layer's feature: `properties` holds the layer's fields and `extra`
/// (the source's other attributes). Values are checked later, by [`validate`]. The id comes
/// from the URL when one is given (the body may repeat it, not contradict it).
fn feature_from_geojson(doc: Value, url_id: Option<&str>) -> Result<Feature, ApiError> {
    let Value::Object(mut doc) = doc else {
        return Err(body_error("expected a GeoJSON Feature: a JSON object with \"type\": \"Feature\""));
    };
    if doc.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(body_error(
            "expected a GeoJSON Feature (\"type\": \"Feature\"); collections are written one feature at a time",
        ));
    }
    let body_id = match doc.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(ApiError::BadParameter {
                parameter: "id",
                message: format!("an id is a string or a number, not {other}"),
            })
        }
    };
    let id = match (url_id, body_id) {
        (Some(url), Some(body)) if url != body => {
            return Err(ApiError::BadParameter {
                parameter: "id",
                message: format!("the body's id `{body}` is not the id in the URL, `{url}`"),
            })
        }
        (Some(url), _) => url.to_string(),
        (None, Some(body)) => body,
        (None, None) => String::new(),
    };
    let geometry = match doc.remove("geometry") {
        None | Some(Value::Null) => None,
        Some(g) => {
            let g: geojson::Geometry = serde_json::from_value(g).map_err(|e| ApiError::BadParameter {
                parameter: "geometry",
                message: format!("not a GeoJSON geometry: {e}"),
            })?;
            let g: geo_types::Geometry = g.try_into().map_err(|e: geojson::Error| ApiError::BadParameter {
                parameter: "geometry",
                message: format!("not a usable geometry: {e}"),
            })?;
            Some(g)
        }
    };
    let mut feature = Feature::new(id, geometry);
    match doc.remove("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(props)) => {
            for (name, value) in props {
                if name == "extra" {
                    feature.extra = match value {
                        Value::Object(m) => m,
                        Value::Null => Map::new(),
                        other => {
                            return Err(ApiError::InvalidFeature {
                                message: format!("extra: expected an object of other attributes, found {other}"),
                                problems: vec![Problem::new("extra", "expected an object of other attributes")],
                            })
                        }
                    };
                } else {
                    feature.attributes.insert(name, value);
                }
            }
        }
        Some(_) => {
            return Err(ApiError::BadParameter { parameter: "properties", message: "expected an object".into() })
        }
    }
    Ok(feature)
}

/// The feature as GeoJSON with every field, private ones included: the document a PATCH merges
/// into. Never sent to a client.
fn full_geojson(f: &Feature) -> Value {
    let mut properties: Map<String, Value> = f.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if !f.extra.is_empty() {
        properties.insert("extra".into(), Value::Object(f.extra.clone()));
    }
    let geometry = f.geometry.as_ref().map(|g| json!(geojson::Geometry::from(g))).unwrap_or(Value::Null);
    json!({ "type": "Feature", "id": f.id, "geometry": geometry, "properties": properties })
}

/// The checks of an import: every field against the layer's schema (unknown, wrong type,
/// required and missing), the geometry's validity, with the unambiguous repairs applied.
fn validate(layer: LayerId, feature: &mut Feature) -> Result<Repairs, ApiError> {
    let report = check_feature(layer.schema(), feature, GeometryPolicy::Reject);
    if report.is_ok() {
        return Ok(report.repairs);
    }
    let listed: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    Err(ApiError::InvalidFeature {
        message: format!("{layer} feature `{}` is refused: {}", feature.id, listed.join("; ")),
        problems: report.problems,
    })
}

/// Percent-encodes an id for a URL path segment.
fn encode_path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The write operations for the API definition, per collection as `/api` lists them, with the
/// bearer security scheme they need (see `auth::security_schemes`).
pub fn openapi_paths() -> Value {
    let error = |description: &str| {
        json!({ "description": description,
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
    };
    let etag_header =
        json!({ "ETag": { "description": "the strong ETag of the stored version", "schema": { "type": "string" } } });
    let repairs_header =
        json!({ "description": "the unambiguous geometry repairs applied, if any", "schema": { "type": "string" } });
    let feature_body = |media: &[&str]| {
        let content: Map<String, Value> = media
            .iter()
            .map(|m| (m.to_string(), json!({ "schema": { "type": "object", "required": ["type"],
                "properties": { "type": { "type": "string", "enum": ["Feature"] }, "id": { "type": "string" },
                                "geometry": { "type": "object", "nullable": true }, "properties": { "type": "object" } } } })))
            .collect();
        json!({ "required": true, "content": content })
    };
    let if_match = json!({ "name": "If-Match", "in": "header", "required": false,
        "description": "write only if the stored version still has this ETag (or `*`: any version); 412 otherwise. Without it the write is unconditional",
        "schema": { "type": "string" } });
    let feature_id = json!({ "name": "featureId", "in": "path", "required": true, "schema": { "type": "string" } });
    let security = json!([{ "bearerAuth": [] }]);
    let stored = |description: &str| {
        json!({ "description": description, "headers": { "ETag": etag_header["ETag"], "Urbis-Repairs": repairs_header },
                "content": { "application/geo+json": { "schema": { "type": "object" } } } })
    };
    let mut paths = Map::new();
    for layer in LayerId::ALL {
        let name = layer.name();
        let title = layer.schema().title;
        paths.insert(
            format!("/collections/{name}/items"),
            json!({ "post": {
                "summary": format!("{title}: add a feature (its id from the body, or generated)"),
                "operationId": format!("create_{name}"),
                "security": security,
                "requestBody": feature_body(&["application/geo+json", "application/json"]),
                "responses": {
                    "201": { "description": "created", "headers": {
                        "Location": { "description": "the new feature's URL", "schema": { "type": "string" } },
                        "ETag": etag_header["ETag"], "Urbis-Repairs": repairs_header },
                        "content": { "application/geo+json": { "schema": { "type": "object" } } } },
                    "400": error("a field is unknown, of the wrong type or missing (named in `parameter` and `errors`), or the body is not a GeoJSON Feature"),
                    "401": error("no valid bearer token"),
                    "403": error("the token's role may not edit"),
                    "404": error("no such collection"),
                    "409": error("a feature with this id exists"),
                    "413": error("the body is larger than the limit"),
                    "415": error("the body is not declared as GeoJSON"),
                    "422": error("the geometry is invalid (not finite, out of range, self-intersecting, …)"),
                } } }),
        );
        let common = |code: &str| -> Value {
            let mut r = json!({
                "400": error("bad body, field or If-Match header"),
                "401": error("no valid bearer token"),
                "403": error("the token's role may not edit"),
                "404": error("no such collection or feature"),
                "412": error("If-Match does not name the current version; the ETag header gives the current one"),
            });
            if code != "delete" {
                r["413"] = error("the body is larger than the limit");
                r["415"] = error("wrong Content-Type");
                r["422"] = error("the geometry is invalid");
            }
            r
        };
        let mut put_responses = common("put");
        put_responses["200"] = stored("replaced; the feature as stored");
        let mut patch_responses = common("patch");
        patch_responses["200"] = stored("updated; the feature as stored");
        let mut delete_responses = common("delete");
        delete_responses["204"] = json!({ "description": "deleted" });
        paths.insert(
            format!("/collections/{name}/items/{{featureId}}"),
            json!({
                "put": { "summary": format!("{title}: replace a feature (private fields it does not name are kept)"),
                         "operationId": format!("replace_{name}"), "security": security,
                         "parameters": [feature_id, if_match], "requestBody": feature_body(&["application/geo+json", "application/json"]),
                         "responses": put_responses },
                "patch": { "summary": format!("{title}: update a feature with a JSON Merge Patch (RFC 7396)"),
                           "operationId": format!("update_{name}"), "security": security,
                           "parameters": [feature_id, if_match], "requestBody": feature_body(&["application/merge-patch+json"]),
                           "responses": patch_responses },
                "delete": { "summary": format!("{title}: delete a feature"),
                            "operationId": format!("delete_{name}"), "security": security,
                            "parameters": [feature_id, if_match], "responses": delete_responses },
            }),
        );
    }
    Value::Object(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn if_match_lists_are_read() {
        assert_eq!(if_match(&headers(&[])).unwrap(), None);
        assert_eq!(if_match(&headers(&["*"])).unwrap(), Some(IfMatch::Any));
        assert_eq!(
            if_match(&headers(&["\"a\", W/\"b\"", "\"c\""])).unwrap(),
            Some(IfMatch::Tags(vec!["a".into(), "c".into()]))
        );
        for bad in ["a", "\"a", "W/b", "\"a\"b\""] {
            assert!(if_match(&headers(&[bad])).is_err(), "{bad}");
        }
    }

    #[test]
    fn nan_in_a_body_is_named() {
        let body = Ok(Bytes::from_static(
            b"{\"type\":\"Feature\",\n\"geometry\":{\"type\":\"Point\",\"coordinates\":[NaN,42.3]}}",
        ));
        let err = parse_body(body).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("`NaN` is not a number"), "{err}");
        let err = parse_body(Ok(Bytes::from_static(b"{\"a\": }"))).unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn openapi_names_every_write_and_its_errors() {
        let paths = openapi_paths();
        let item = &paths["/collections/parcels/items/{featureId}"];
        for method in ["put", "patch", "delete"] {
            assert_eq!(item[method]["security"][0]["bearerAuth"], json!([]), "{method}");
            assert!(item[method]["responses"]["412"].is_object(), "{method}");
        }
        assert!(paths["/collections/permits/items"]["post"]["responses"]["201"]["headers"]["Location"].is_object());
        assert_eq!(crate::auth::security_schemes()["bearerAuth"]["scheme"], "bearer");
    }
}
