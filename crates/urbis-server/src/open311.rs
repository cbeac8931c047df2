//! Open311 GeoReport v2 (issue 5, part 10) over the permit workflow, so that a call centre or a
//! third-party app files into the same queue as `POST /dossiers`, through the same intake
//! ([`permits::file_dossier`]).
//!
//! - `GET /open311/v2/discovery.json`: the endpoint, its formats and its specification;
//! - `GET /open311/v2/services.json`: the procedure catalogue, one service per procedure
//!   (`group` = its category; `type` `realtime` when it may be filed online, else `batch`: staff
//!   file it for the applicant with a staff `api_key`); `GET /open311/v2/services/{code}.json`: its
//!   attributes (where the site is, the channel, the centre, the proposal where the category
//!   builds, and the required documents as informational attributes);
//! - `POST /open311/v2/requests.json` (form-urlencoded as the specification says, or JSON): files
//!   a dossier; the site is `lat` + `long` (the parcel under the point), `address_string` (the
//!   parcels at that address), `address_id` or `attribute[parcels]` (cadastral codes,
//!   comma-separated); `attribute[channel]` is online (default), counter or phone; `api_key`, when
//!   given, is a staff bearer token (needed for counter and phone). The answer's
//!   `service_request_id` is the tracking code, and the urbis extension field `secret` carries the
//!   applicant's secret, shown once (Open311's `token` is not used: the id is returned at once);
//! - `GET /open311/v2/requests.json` (`service_request_id` list, `service_code`, `start_date`,
//!   `end_date`, `status` open/closed; by default the last 90 days, at most 1,000) and
//!   `GET /open311/v2/requests/{id}.json`: status, notes, dates (`expected_datetime` is the
//!   statutory due date of the clock, as on `/track`), address and the site's centroid; with
//!   `extensions=true`, `extended_attributes` hold the channel, the stage, the clock and the stage
//!   history as `notes`.
//!
//! No GET ever shows personal data (the applicant's name, email or phone, the actors and the
//! reviewers' notes of the history): only the public fields of `/track`. Every `.json` route has
//! a `.xml` twin. Errors are Open311's: an array of `{code, description}`, `code` the HTTP status.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use geo::Centroid;
use serde_json::{json, Map, Value};
use urbis_core::domain::{self, PermitEvent, Procedure};
use urbis_core::permits::clock::{statutory_clock, StatutoryClock};
use urbis_core::permits::Stage;
use urbis_core::{Feature, LayerId};
use urbis_store::{AttributeFilter, Comparison, Query};

use crate::features::BaseUrl;
use crate::permits::{self, Filing, PermitError, PermitsConfig};
use crate::{ApiError, AppState};

const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";
/// Requests listed by default: those received in the last this many days.
const DEFAULT_WINDOW_DAYS: i64 = 90;
/// Most requests one list returns.
const MAX_REQUESTS: usize = 1000;
/// The categories whose procedures build: they take the proposal's attributes.
const BUILDING_CATEGORIES: [&str; 1] = ["building and land use"];
/// `attribute[...]` codes a request may carry besides the documents.
const ATTRIBUTES: [&str; 7] = [
    "parcels",
    "channel",
    "centre_id",
    "proposed_use",
    "proposed_height_m",
    "proposed_floor_area_m2",
    "proposed_lot_coverage",
];
/// The request parameters of `POST requests` (Open311's, and `attribute[...]`).
const POST_PARAMS: [&str; 15] = [
    "api_key",
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
];
const LIST_PARAMS: [&str; 8] = [
    "service_request_id",
    "service_code",
    "start_date",
    "end_date",
    "status",
    "extensions",
    "jurisdiction_id",
    "api_key",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/discovery.{format}", get(discovery))
        .route("/open311/v2/services.{format}", get(services))
        .route("/open311/v2/services/{code}", get(service_definition))
        .route("/open311/v2/requests.{format}", get(list_requests).post(post_request))
        .route("/open311/v2/requests/{id}", get(one_request))
}

// ---------------------------------------------------------------------------------------------
// Formats and errors.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

fn format_of(ext: &str) -> Result<Format> {
    match ext {
        "json" => Ok(Format::Json),
        "xml" => Ok(Format::Xml),
        other => Err(Open311Error::new(
            StatusCode::NOT_FOUND,
            format!("no format `{other}`; the formats are json and xml (…/services.json)"),
        )),
    }
}

/// `name.json` → (`name`, JSON).
fn split_format(segment: &str) -> Result<(&str, Format)> {
    match segment.rsplit_once('.') {
        Some((name, ext)) if !name.is_empty() => Ok((name, format_of(ext)?)),
        _ => Err(Open311Error::new(StatusCode::NOT_FOUND, format!("`{segment}` lacks its format: add .json or .xml"))),
    }
}

/// An error as Open311 gives it: `[{code, description}]`, `code` the HTTP status.
#[derive(Debug)]
pub struct Open311Error {
    status: StatusCode,
    description: String,
    format: Format,
}

impl Open311Error {
    fn new(status: StatusCode, description: impl Into<String>) -> Open311Error {
        Open311Error { status, description: description.into(), format: Format::Json }
    }

    fn bad(description: impl Into<String>) -> Open311Error {
        Open311Error::new(StatusCode::BAD_REQUEST, description)
    }

    fn in_format(mut self, format: Format) -> Open311Error {
        self.format = format;
        self
    }
}

/// The Open311 names of intake's parameters.
fn open311_name(parameter: &str) -> String {
    match parameter {
        "procedure_code" => "service_code".into(),
        "point" => "lat/long".into(),
        "address" => "address_string".into(),
        "applicant" => "first_name/last_name".into(),
        "site" | "parcels" => "attribute[parcels]".into(),
        "body" => "body".into(),
        other => format!("attribute[{other}]"),
    }
}

impl From<ApiError> for Open311Error {
    fn from(e: ApiError) -> Self {
        let description = match &e {
            ApiError::BadParameter { parameter, message } => format!("{}: {message}", open311_name(parameter)),
            other => other.to_string(),
        };
        // The server's own mapping decides the status (and logs a 5xx, whose details stay there).
        let status = e.into_response().status();
        let description = if status.is_server_error() {
            "internal error; the server log has the details".to_string()
        } else {
            description
        };
        Open311Error::new(status, description)
    }
}

impl From<PermitError> for Open311Error {
    fn from(e: PermitError) -> Self {
        match e {
            PermitError::Api(e) => e.into(),
            PermitError::Illegal { message, .. } | PermitError::Conflict(message) => {
                Open311Error::new(StatusCode::CONFLICT, message)
            }
        }
    }
}

impl From<urbis_store::StoreError> for Open311Error {
    fn from(e: urbis_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let body = json!([{ "code": self.status.as_u16(), "description": self.description }]);
        let mut r = respond(self.format, "errors", &body);
        *r.status_mut() = self.status;
        r
    }
}

type Result<T> = std::result::Result<T, Open311Error>;

/// The element each array's items are written as in XML.
fn item_name(array: &str) -> &str {
    match array {
        "services" => "service",
        "service_requests" => "request",
        "errors" => "error",
        "attributes" => "attribute",
        "values" => "value",
        "endpoints" => "endpoint",
        "formats" => "format",
        "notes" => "note",
        "stages" => "stage",
        _ => "item",
    }
}

/// A JSON answer in XML as Open311's examples write it: the root named for the resource, each
/// array item an element named for the array's singular, each field an element.
fn to_xml(root: &str, value: &Value) -> String {
    use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
    fn write(w: &mut quick_xml::Writer<Vec<u8>>, name: &str, v: &Value) {
        // Writing to a Vec cannot fail.
        let _ = w.write_event(Event::Start(BytesStart::new(name)));
        match v {
            Value::Null => {}
            Value::Array(items) => items.iter().for_each(|i| write(w, item_name(name), i)),
            Value::Object(m) => m.iter().for_each(|(k, v)| write(w, k, v)),
            Value::String(s) => {
                let _ = w.write_event(Event::Text(BytesText::new(s)));
            }
            other => {
                let _ = w.write_event(Event::Text(BytesText::new(&other.to_string())));
            }
        }
        let _ = w.write_event(Event::End(BytesEnd::new(name)));
    }
    let mut w = quick_xml::Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
    write(&mut w, root, value);
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

fn respond(format: Format, root: &str, body: &Value) -> Response {
    match format {
        Format::Json => axum::Json(body.clone()).into_response(),
        Format::Xml => {
            let mut r = to_xml(root, body).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
            r
        }
    }
}

/// Text a store can keep and compare: no NUL nor other control characters (bar tab and newlines).
fn plain(name: &str, value: &str) -> Result<()> {
    if value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(Open311Error::bad(format!("{name}: holds a control character")));
    }
    Ok(())
}

fn check_params(given: &[(String, String)], allowed: &[&str]) -> Result<()> {
    for (name, value) in given {
        plain(name, name)?;
        plain(name, value)?;
    }
    if let Some((name, _)) = given.iter().find(|(n, _)| !allowed.contains(&n.as_str()) && !n.starts_with("attribute["))
    {
        return Err(Open311Error::bad(format!(
            "unknown parameter `{name}`; the parameters are {}",
            allowed.join(", ")
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Discovery and services.

async fn discovery(BaseUrl(base): BaseUrl, Path(ext): Path<String>) -> Result<Response> {
    let format = format_of(&ext)?;
    let body = json!({
        "changeset": "2026-11-23T00:00:00Z",
        "contact": "The city's one-stop service centres",
        "key_service": "Staff tokens are issued by the city; anyone may file online without one",
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": format!("{base}/open311/v2"),
            "changeset": "2026-11-23T00:00:00Z",
            "type": "production",
            "formats": ["application/json", "text/xml"],
        }],
    });
    Ok(respond(format, "discovery", &body))
}

fn offered_online(p: &Procedure) -> bool {
    p.channels.is_empty() || p.channels.iter().any(|c| c == "online")
}

fn service_json(p: &Procedure) -> Value {
    let fee = p.fee.map(|f| format!("; fee {f:.2}")).unwrap_or_default();
    let mut keywords: Vec<String> = p.category.split_whitespace().filter(|w| w.len() > 3).map(str::to_string).collect();
    keywords.extend(p.channels.iter().cloned());
    json!({
        "service_code": p.code,
        "service_name": p.name,
        "description": format!("{}: decided within {} working days{fee}; {} document(s) required",
            p.name, p.processing_days, p.documents.len()),
        "metadata": true,
        "type": if offered_online(p) { "realtime" } else { "batch" },
        "keywords": keywords.join(","),
        "group": p.category,
    })
}

async fn services(State(state): State<AppState>, Path(ext): Path<String>) -> Result<Response> {
    let format = format_of(&ext)?;
    let mut list = permits::procedures(&state).await.map_err(|e| Open311Error::from(e).in_format(format))?;
    list.sort_by(|a, b| a.code.cmp(&b.code));
    let body: Vec<Value> = list.iter().map(service_json).collect();
    Ok(respond(format, "services", &Value::Array(body)))
}

fn attribute(code: &str, datatype: &str, required: bool, order: usize, description: &str) -> Value {
    json!({ "variable": true, "code": code, "datatype": datatype, "required": required,
            "datatype_description": Value::Null, "order": order, "description": description })
}

async fn service_definition(State(state): State<AppState>, Path(segment): Path<String>) -> Result<Response> {
    let (code, format) = split_format(&segment)?;
    let with_format = |e: Open311Error| e.in_format(format);
    plain("service_code", code).map_err(with_format)?;
    let Some((_, p)) = permits::find_procedure(&state, code).await.map_err(|e| with_format(e.into()))? else {
        return Err(with_format(Open311Error::new(
            StatusCode::NOT_FOUND,
            format!("service_code: no service has the code `{code}`"),
        )));
    };
    let centres = state.store.query(LayerId::ServiceCentres, &Query::all()).await.map_err(|e| with_format(e.into()))?;
    let mut attrs = vec![attribute(
        "parcels",
        "string",
        false,
        1,
        "Cadastral codes of the parcels, comma-separated (or give lat and long, address_string or address_id)",
    )];
    let channels: Vec<Value> = permits::CHANNELS
        .iter()
        .filter(|c| p.channels.is_empty() || p.channels.iter().any(|o| o == *c))
        .map(|c| json!({ "key": c, "name": c }))
        .collect();
    let mut channel = attribute("channel", "singlevaluelist", false, 2, "How the request comes in (default online)");
    channel["values"] = Value::Array(channels);
    attrs.push(channel);
    let mut centre = attribute("centre_id", "singlevaluelist", false, 3, "The service centre that receives it");
    let mut values: Vec<(String, Value)> = centres
        .iter()
        .map(|c| (c.id.clone(), json!({ "key": c.id, "name": c.text("name").unwrap_or(&c.id) })))
        .collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    centre["values"] = Value::Array(values.into_iter().map(|(_, v)| v).collect());
    attrs.push(centre);
    if BUILDING_CATEGORIES.contains(&p.category.as_str()) {
        for (code, datatype, description) in [
            ("proposed_use", "string", "Proposed use (the zoning's use code)"),
            ("proposed_height_m", "number", "Proposed height in metres"),
            ("proposed_floor_area_m2", "number", "Proposed gross floor area in square metres"),
            ("proposed_lot_coverage", "number", "Proposed lot coverage, a share from 0 to 1"),
        ] {
            let n = attrs.len() + 1;
            attrs.push(attribute(code, datatype, false, n, description));
        }
    }
    for d in &p.documents {
        let n = attrs.len() + 1;
        let mut a = attribute(&format!("document_{n}"), "string", false, n, &format!("Required document: {d}"));
        a["variable"] = json!(false);
        attrs.push(a);
    }
    let body = json!({ "service_code": p.code, "attributes": attrs });
    Ok(respond(format, "service_definition", &body))
}

// ---------------------------------------------------------------------------------------------
// Filing a request.

/// A posted request's parameters, from a form or a JSON object (`attribute` may be an object or
/// `attribute[code]` keys).
fn posted_params(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| Open311Error::bad(format!("body: not JSON: {e}")))?;
        let Value::Object(m) = value else {
            return Err(Open311Error::bad("body: a request is a JSON object of the Open311 parameters"));
        };
        let text = |v: &Value| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(other.to_string()),
        };
        let mut out = vec![];
        for (k, v) in m {
            match (k.as_str(), v) {
                ("attribute", Value::Object(attrs)) => {
                    for (a, v) in attrs {
                        let t =
                            text(&v).map_err(|t| Open311Error::bad(format!("attribute[{a}]: `{t}` is not a value")))?;
                        out.push((format!("attribute[{a}]"), t));
                    }
                }
                (_, Value::Null) => {}
                (_, v) => {
                    let t = text(&v).map_err(|t| Open311Error::bad(format!("{k}: `{t}` is not a value")))?;
                    out.push((k, t));
                }
            }
        }
        Ok(out)
    } else if content_type.is_empty() || content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map_err(|e| Open311Error::bad(format!("body: not a form: {e}")))
    } else {
        Err(Open311Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("body: `{content_type}`; send application/x-www-form-urlencoded or application/json"),
        ))
    }
}

fn number(name: &str, text: &str) -> Result<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| Open311Error::bad(format!("{name}: `{text}` is not a number")))
}

/// The parameters as a filing, every one checked; unknown attributes refused.
fn filing_of(params: Vec<(String, String)>) -> Result<(Filing, Option<String>)> {
    let mut one: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in params {
        plain(&k, &k)?;
        plain(&k, &v)?;
        if !POST_PARAMS.contains(&k.as_str()) {
            let code = k.strip_prefix("attribute[").and_then(|r| r.strip_suffix(']'));
            match code {
                Some(c) if ATTRIBUTES.contains(&c) || c.starts_with("document_") => {}
                Some(c) => {
                    return Err(Open311Error::bad(format!(
                        "attribute[{c}]: not an attribute of these services; they are {}",
                        ATTRIBUTES.join(", ")
                    )))
                }
                None => {
                    return Err(Open311Error::bad(format!(
                        "unknown parameter `{k}`; the parameters are {} and attribute[…]",
                        POST_PARAMS.join(", ")
                    )))
                }
            }
        }
        if one.insert(k.clone(), v).is_some() {
            return Err(Open311Error::bad(format!("{k}: given more than once")));
        }
    }
    let get = |k: &str| one.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let attr = |k: &str| get(&format!("attribute[{k}]"));
    let Some(service_code) = get("service_code") else {
        return Err(Open311Error::bad("service_code: required (GET services.json lists them)"));
    };
    let point = match (get("lat"), get("long")) {
        (None, None) => None,
        (Some(lat), Some(long)) => Some(geo_types::Point::new(number("long", &long)?, number("lat", &lat)?)),
        _ => return Err(Open311Error::bad("lat/long: give both, or neither")),
    };
    let mut parcels: Vec<String> = attr("parcels")
        .map(|s| s.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect())
        .unwrap_or_default();
    // Open311's address_id is the city's own key of a place: here, a parcel's cadastral code.
    if let Some(id) = get("address_id") {
        parcels.push(id);
    }
    let address = get("address_string");
    if point.is_none() && address.is_none() && parcels.is_empty() {
        return Err(Open311Error::bad(
            "location: required; give lat and long, address_string, address_id (a cadastral code) or attribute[parcels]",
        ));
    }
    let name = [get("first_name"), get("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let mut applicant = Map::new();
    if !name.is_empty() {
        applicant.insert("name".into(), json!(name));
    }
    for k in ["email", "phone", "device_id", "account_id"] {
        if let Some(v) = get(k) {
            applicant.insert(k.into(), json!(v));
        }
    }
    if name.is_empty() {
        return Err(Open311Error::bad("first_name/last_name: a dossier needs its applicant's name"));
    }
    let real = |k: &str| attr(k).map(|v| number(&format!("attribute[{k}]"), &v)).transpose();
    let filing = Filing {
        procedure_code: service_code,
        parcels,
        site: None,
        point,
        address,
        channel: attr("channel"),
        centre_id: attr("centre_id"),
        description: get("description"),
        proposed_use: attr("proposed_use"),
        proposed_height_m: real("proposed_height_m")?,
        proposed_floor_area_m2: real("proposed_floor_area_m2")?,
        proposed_lot_coverage: real("proposed_lot_coverage")?,
        applicant: Value::Object(applicant),
    };
    Ok((filing, get("api_key")))
}

async fn post_request(
    State(state): State<AppState>,
    Path(ext): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response> {
    let format = format_of(&ext)?;
    let answer = async {
        let (filing, api_key) = filing_of(posted_params(&headers, &body)?)?;
        // The api_key is a staff token, as a bearer token would be.
        let mut headers = headers.clone();
        if let Some(k) = api_key {
            if headers.contains_key(header::AUTHORIZATION) {
                return Err(Open311Error::bad("api_key: give the key or an Authorization header, not both"));
            }
            let v = HeaderValue::from_str(&format!("Bearer {k}"))
                .map_err(|_| Open311Error::new(StatusCode::FORBIDDEN, "api_key: not a valid key"))?;
            headers.insert(header::AUTHORIZATION, v);
        }
        let config = PermitsConfig::default();
        let filed = permits::file_dossier(&state, &config, &headers, filing).await?;
        crate::tiles::after_write(&state).await;
        Ok(json!([{
            "service_request_id": filed.code,
            "service_notice": format!("Received; due by {} at the latest. Keep the secret: it is shown only once.", filed.due_at),
            "account_id": Value::Null,
            "expected_datetime": filed.due_at,
            "secret": filed.secret,
        }]))
    }
    .await
    .map_err(|e: Open311Error| e.in_format(format))?;
    let mut r = respond(format, "service_requests", &answer);
    *r.status_mut() = StatusCode::CREATED;
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Reading requests: public fields only.

/// What answering about dossiers needs besides them: the procedures and the centres by id.
struct Context {
    config: PermitsConfig,
    procedures: HashMap<String, Procedure>,
    centres: HashMap<String, String>,
    now: DateTime<Utc>,
}

async fn context(state: &AppState) -> Result<Context> {
    let mut procedures = HashMap::new();
    for p in permits::procedures(state).await? {
        procedures.insert(p.code.clone(), p);
    }
    let centres = state
        .store
        .query(LayerId::ServiceCentres, &Query::all())
        .await?
        .into_iter()
        .map(|c| {
            let name = c.text("name").unwrap_or(&c.id).to_string();
            (c.id, name)
        })
        .collect();
    Ok(Context { config: PermitsConfig::default(), procedures, centres, now: Utc::now() })
}

/// Open: not decided, delivered or withdrawn, nor paying a fee after its decision.
fn is_open(f: &Feature) -> bool {
    f.text("stage").and_then(|s| s.parse::<Stage>().ok()).is_none_or(Stage::is_open) && f.text("decision").is_none()
}

/// One dossier as an Open311 service request (no personal data: the fields of `/track`).
fn request_json(c: &Context, f: &Feature, events: &[(Option<String>, PermitEvent)], extensions: bool) -> Value {
    let code = f.text("procedure_code").unwrap_or_default();
    let procedure = c.procedures.get(code);
    let history = permits::stage_history(events);
    let clock: Option<StatutoryClock> = match (procedure, history.is_empty()) {
        (Some(p), false) => {
            statutory_clock(&c.config.calendar, p.processing_days, &history, c.now, c.config.policy).ok()
        }
        _ => None,
    };
    let expected =
        clock.as_ref().map(|k| permits::due_instant(&c.config, k.due)).or_else(|| f.text("due_at").map(str::to_string));
    let stage = f.text("stage").unwrap_or_default();
    let mut notes = vec![stage.replace('_', " ")];
    if let Some(d) = f.text("decision") {
        notes.push(format!("decision: {}", d.replace('_', " ")));
    }
    if let Some(k) = &clock {
        if k.stopped {
            notes.push(if k.status.name() == "overdue" { "decided late".into() } else { "decided in time".into() });
        } else if !k.paused {
            notes.push(format!("{}, {} working day(s) left", k.status.name().replace('_', " "), k.days_left));
        }
    }
    // Waiting for the applicant: the clock stands still before the decision (stopped after it).
    match stage {
        "supplement_requested" => notes.push("waiting for the applicant's documents (clock stopped)".into()),
        "payment_requested" => notes.push("waiting for the applicant's payment (clock stopped)".into()),
        _ => {}
    }
    let (lat, long) = match f.geometry.as_ref().and_then(|g| g.centroid()) {
        Some(p) => (json!(p.y()), json!(p.x())),
        None => (Value::Null, Value::Null),
    };
    let updated = events.last().map(|(_, e)| e.at.clone()).or_else(|| f.text("received_at").map(str::to_string));
    let mut out = json!({
        "service_request_id": f.text("tracking_code").unwrap_or(&f.id),
        "status": if is_open(f) { "open" } else { "closed" },
        "status_notes": notes.join("; "),
        "service_name": procedure.map(|p| p.name.as_str()),
        "service_code": code,
        "description": f.text("description"),
        "agency_responsible": f.text("centre_id").map(|id| c.centres.get(id).cloned().unwrap_or_else(|| id.to_string())),
        "service_notice": Value::Null,
        "requested_datetime": f.text("received_at"),
        "updated_datetime": updated,
        "expected_datetime": expected,
        "address": f.text("address"),
        "address_id": Value::Null,
        "zipcode": Value::Null,
        "lat": lat,
        "long": long,
        "media_url": Value::Null,
    });
    if extensions {
        // The stage history as notes: when, what and the stage, as /track shows it (never who
        // acted nor what a reviewer wrote).
        let notes: Vec<Value> = events
            .iter()
            .map(|(_, e)| {
                let stage = e.stage.as_deref().unwrap_or_default();
                json!({ "datetime": e.at, "type": e.kind, "stage": stage,
                        "summary": match e.kind.as_str() {
                            "received" => "request received".to_string(),
                            "transition" => format!("moved to {}", stage.replace('_', " ")),
                            other => other.replace('_', " "),
                        } })
            })
            .collect();
        out["extended_attributes"] = json!({
            "channel": f.text("channel"),
            "stage": f.text("stage"),
            "decision": f.text("decision"),
            "centre_id": f.text("centre_id"),
            "parcel_codes": f.get("parcel_codes"),
            "clock": clock.as_ref().map(|k| json!({
                "status": if k.stopped { "closed" } else { k.status.name() },
                "processing_days": k.processing_days, "city_days": k.city_days,
                "applicant_days": k.applicant_days, "days_left": k.days_left, "paused": k.paused,
                "due_date": k.due, "calendar": c.config.calendar.city() })),
            "notes": notes,
        });
    }
    out
}

fn flag(params: &HashMap<String, String>, name: &str) -> Result<bool> {
    match params.get(name).map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" || v == "1" => Ok(true),
        Some(v) if v == "false" || v == "0" || v.is_empty() => Ok(false),
        Some(v) => Err(Open311Error::bad(format!("{name}: `{v}` is not true or false"))),
    }
}

/// A w3 datetime (with its zone), or a date (the city's midnight).
fn instant(config: &PermitsConfig, name: &str, text: &str) -> Result<DateTime<Utc>> {
    if let Some(t) = permits::parse_instant(text.trim()) {
        return Ok(t);
    }
    let d = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        Open311Error::bad(format!("{name}: `{text}` is not a date-time such as 2026-11-05T08:15:30-05:00"))
    })?;
    let local = d.and_time(chrono::NaiveTime::MIN);
    Ok((local - Duration::minutes(i64::from(config.utc_offset_minutes))).and_utc())
}

/// The events of several dossiers, grouped, in order: one query per dossier for a few, else one
/// query for all.
async fn events_by_dossier(
    state: &AppState,
    ids: &[String],
) -> Result<HashMap<String, Vec<(Option<String>, PermitEvent)>>> {
    let mut out: HashMap<String, Vec<(Option<String>, PermitEvent)>> = HashMap::new();
    if ids.len() <= 20 {
        for id in ids {
            out.insert(id.clone(), permits::events_of(state, id).await?);
        }
        return Ok(out);
    }
    let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    for f in state.store.query(LayerId::PermitEvents, &Query::all()).await? {
        let Some(pid) = f.text("permit_id").filter(|p| wanted.contains(p)) else { continue };
        let e = domain::read::<PermitEvent>(&f)
            .map_err(|e| ApiError::Internal(format!("event `{}` cannot be read: {e}", f.id)))?;
        out.entry(pid.to_string()).or_default().push((Some(f.id.clone()), e));
    }
    for list in out.values_mut() {
        list.sort_by_key(|(_, e)| e.seq);
    }
    Ok(out)
}

async fn list_requests(
    State(state): State<AppState>,
    Path(ext): Path<String>,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
) -> Result<Response> {
    let format = format_of(&ext)?;
    let body = list(&state, pairs).await.map_err(|e| e.in_format(format))?;
    Ok(respond(format, "service_requests", &body))
}

async fn list(state: &AppState, pairs: Vec<(String, String)>) -> Result<Value> {
    check_params(&pairs, &LIST_PARAMS)?;
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in pairs {
        if k.starts_with("attribute[") {
            return Err(Open311Error::bad(format!("unknown parameter `{k}`")));
        }
        if params.insert(k.clone(), v).is_some() {
            return Err(Open311Error::bad(format!("{k}: given more than once")));
        }
    }
    let c = context(state).await?;
    let extensions = flag(&params, "extensions")?;
    let statuses: Vec<String> = match params.get("status") {
        None => vec![],
        Some(s) => s.split(',').map(|x| x.trim().to_ascii_lowercase()).filter(|x| !x.is_empty()).collect(),
    };
    if let Some(s) = statuses.iter().find(|s| *s != "open" && *s != "closed") {
        return Err(Open311Error::bad(format!("status: `{s}` is not open or closed")));
    }
    if let Some(code) = params.get("service_code") {
        for one in code.split(',').map(str::trim) {
            if !c.procedures.contains_key(one) {
                return Err(Open311Error::bad(format!("service_code: no service has the code `{one}`")));
            }
        }
    }
    let mut found: Vec<Feature> = vec![];
    if let Some(ids) = params.get("service_request_id") {
        // Asked by id: the other filters do not apply (as the specification says).
        let ids: Vec<&str> = ids.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if ids.len() > MAX_REQUESTS {
            return Err(Open311Error::bad(format!("service_request_id: {} ids; at most {MAX_REQUESTS}", ids.len())));
        }
        for id in ids {
            let q = Query::all().filter(AttributeFilter::new("tracking_code", Comparison::Eq, id)).limit(1);
            found.extend(state.store.query(LayerId::Permits, &q).await?);
        }
    } else {
        let end = match params.get("end_date") {
            Some(t) => instant(&c.config, "end_date", t)?,
            None => c.now,
        };
        let start = match params.get("start_date") {
            Some(t) => instant(&c.config, "start_date", t)?,
            None => end - Duration::days(DEFAULT_WINDOW_DAYS),
        };
        if start > end {
            return Err(Open311Error::bad("start_date: after end_date"));
        }
        let mut q = Query::all()
            .filter(AttributeFilter::new("received_at", Comparison::Ge, permits::rfc3339(start)))
            .filter(AttributeFilter::new("received_at", Comparison::Le, permits::rfc3339(end)));
        q.order_by = vec![("received_at".into(), false)];
        if let Some(code) = params.get("service_code").filter(|c| !c.contains(',')) {
            q = q.filter(AttributeFilter::new("procedure_code", Comparison::Eq, code.trim()));
        }
        found = state.store.query(LayerId::Permits, &q).await?;
        if let Some(codes) = params.get("service_code") {
            let codes: Vec<&str> = codes.split(',').map(str::trim).collect();
            found.retain(|f| codes.contains(&f.text("procedure_code").unwrap_or_default()));
        }
        if !statuses.is_empty() {
            found.retain(|f| statuses.iter().any(|s| (s == "open") == is_open(f)));
        }
        found.truncate(MAX_REQUESTS);
    }
    let ids: Vec<String> = found.iter().map(|f| f.id.clone()).collect();
    let events = events_by_dossier(state, &ids).await?;
    let list: Vec<Value> = found
        .iter()
        .map(|f| request_json(&c, f, events.get(&f.id).map(Vec::as_slice).unwrap_or_default(), extensions))
        .collect();
    Ok(Value::Array(list))
}

async fn one_request(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
) -> Result<Response> {
    let (id, format) = split_format(&segment)?;
    let body = async {
        plain("service_request_id", id)?;
        check_params(&pairs, &["extensions", "jurisdiction_id", "api_key"])?;
        let params: HashMap<String, String> = pairs.into_iter().collect();
        let extensions = flag(&params, "extensions")?;
        let f = permits::find_dossier(&state, id).await.map_err(|e| match Open311Error::from(e) {
            e if e.status == StatusCode::NOT_FOUND => {
                Open311Error::new(StatusCode::NOT_FOUND, format!("service_request_id: no request `{id}`"))
            }
            e => e,
        })?;
        let c = context(&state).await?;
        let events = permits::events_of(&state, &f.id).await?;
        Ok(Value::Array(vec![request_json(&c, &f, &events, extensions)]))
    }
    .await
    .map_err(|e: Open311Error| e.in_format(format))?;
    Ok(respond(format, "service_requests", &body))
}

// ---------------------------------------------------------------------------------------------
// The API description, merged into /api by features.rs.

pub fn openapi_paths() -> Value {
    let errors = json!({ "description": "Open311 errors: an array of {code, description}",
        "content": { "application/json": { "schema": { "type": "array", "items": { "type": "object",
            "properties": { "code": { "type": "integer" }, "description": { "type": "string" } } } } },
            "text/xml": { "schema": { "type": "string" } } } });
    let array = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": { "type": "array", "items": { "type": "object" } } }, "text/xml": { "schema": { "type": "string" } } } });
    let object = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": { "type": "object" } }, "text/xml": { "schema": { "type": "string" } } } });
    let format = json!({ "name": "format", "in": "path", "required": true, "schema": { "type": "string", "enum": ["json", "xml"] } });
    let query = |name: &str, d: &str| json!({ "name": name, "in": "query", "required": false, "description": d, "schema": { "type": "string" } });
    let form_fields: Map<String, Value> = POST_PARAMS
        .iter()
        .map(|p| (p.to_string(), json!({ "type": "string" })))
        .chain(ATTRIBUTES.iter().map(|a| (format!("attribute[{a}]"), json!({ "type": "string" }))))
        .collect();
    let post_body = json!({ "required": true, "content": {
        "application/x-www-form-urlencoded": { "schema": { "type": "object", "required": ["service_code"], "properties": form_fields.clone() } },
        "application/json": { "schema": { "type": "object", "required": ["service_code"], "properties": form_fields } } } });
    json!({
        "/open311/v2/discovery.{format}": { "get": { "summary": "Open311 GeoReport v2 service discovery",
            "operationId": "open311_discovery", "parameters": [format.clone()], "responses": { "200": object("the endpoints"), "404": errors.clone() } } },
        "/open311/v2/services.{format}": { "get": { "summary": "Open311 services: the procedure catalogue",
            "operationId": "open311_services", "parameters": [format.clone()], "responses": { "200": array("the services"), "404": errors.clone() } } },
        "/open311/v2/services/{service_code}.json": { "get": { "summary": "an Open311 service definition: its attributes (site, channel, centre, proposal, required documents); also .xml",
            "operationId": "open311_service_definition",
            "parameters": [{ "name": "service_code", "in": "path", "required": true, "schema": { "type": "string" } }],
            "responses": { "200": object("the service definition"), "400": errors.clone(), "404": errors.clone() } } },
        "/open311/v2/requests.{format}": {
            "get": { "summary": "Open311 service requests (dossiers), public fields only; extensions=true adds the channel, clock and stage history",
                "operationId": "open311_requests",
                "parameters": [format.clone(), query("service_request_id", "comma-separated ids (tracking codes)"),
                    query("service_code", "comma-separated service codes"), query("start_date", "w3 date-time"),
                    query("end_date", "w3 date-time"), query("status", "open, closed or both"),
                    query("extensions", "true for extended_attributes"), query("jurisdiction_id", "ignored: one jurisdiction")],
                "responses": { "200": array("the requests"), "400": errors.clone(), "404": errors.clone() } },
            "post": { "summary": "file an Open311 service request: a dossier through the same intake as POST /dossiers; returns service_request_id (the tracking code) and the urbis extension `secret`",
                "operationId": "open311_request_create", "parameters": [format.clone()], "requestBody": post_body,
                "responses": { "201": array("service_request_id, expected_datetime, secret"), "400": errors.clone(),
                    "401": errors.clone(), "403": errors.clone(), "404": errors.clone(), "409": errors.clone(),
                    "413": errors.clone(), "415": errors.clone(), "422": errors.clone() } } },
        "/open311/v2/requests/{service_request_id}.json": { "get": { "summary": "one Open311 service request (an array of one), public fields only; also .xml",
            "operationId": "open311_request",
            "parameters": [{ "name": "service_request_id", "in": "path", "required": true, "schema": { "type": "string" } },
                query("extensions", "true for extended_attributes")],
            "responses": { "200": array("the request"), "400": errors.clone(), "404": errors } } },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_names_items_by_their_array() {
        let x = to_xml("services", &json!([{ "service_code": "A<1", "metadata": true }]));
        assert!(
            x.contains(
                "<services><service><metadata>true</metadata><service_code>A&lt;1</service_code></service></services>"
            ),
            "{x}"
        );
    }

    #[test]
    fn a_filing_needs_a_service_a_place_and_a_name() {
        let p = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        let e = filing_of(p(&[("lat", "42.37"), ("long", "-71.1"), ("first_name", "A")])).unwrap_err();
        assert!(e.description.starts_with("service_code"), "{e:?}");
        let e = filing_of(p(&[("service_code", "X"), ("first_name", "A")])).unwrap_err();
        assert!(e.description.starts_with("location"), "{e:?}");
        let e = filing_of(p(&[("service_code", "X"), ("lat", "42.37"), ("first_name", "A")])).unwrap_err();
        assert!(e.description.starts_with("lat/long"), "{e:?}");
        let e = filing_of(p(&[
            ("service_code", "X"),
            ("address_id", "1-2"),
            ("attribute[colour]", "red"),
            ("first_name", "A"),
        ]))
        .unwrap_err();
        assert!(e.description.contains("attribute[colour]"), "{e:?}");
        let (f, key) = filing_of(p(&[
            ("service_code", "X"),
            ("lat", "42.37"),
            ("long", "-71.1"),
            ("first_name", "Ada"),
            ("last_name", "Lovelace"),
            ("attribute[proposed_height_m]", "12.5"),
            ("api_key", "k"),
        ]))
        .unwrap();
        assert_eq!((f.point.unwrap().x(), f.point.unwrap().y()), (-71.1, 42.37));
        assert_eq!(f.applicant["name"], "Ada Lovelace");
        assert_eq!(f.proposed_height_m, Some(12.5));
        assert_eq!(key.as_deref(), Some("k"));
    }
}
