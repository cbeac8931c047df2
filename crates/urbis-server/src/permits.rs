//! The permit workflow over HTTP (issue 5, parts 1-7): the procedure catalogue, intake of a
//! dossier tied to parcels, its moves through the stage machine (each one event of a hash-chained
//! history, written with the dossier in one transaction), the automatic parcel check, and public
//! tracking that never shows personal data. The rules themselves live in `urbis_core::permits`.
//!
//! Who may act is the policy table's (`policy.rs`): its middleware refuses a role that may not
//! call a route; the handlers of one dossier ask `policy::dossier_access` for the dossier's centre
//! and whether to show the applicant's personal data; [`staff`] and [`admin`] guard the rest.

use std::sync::Arc;

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use geo::BooleanOps;
use geo_types::{Geometry, MultiPolygon};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use urbis_core::domain::{self, Dossier, PermitEvent, Procedure};
use urbis_core::permits::chain;
use urbis_core::permits::check::{self, CheckInput, Located, OtherDossier, ParcelCheck, Proposal};
use urbis_core::permits::clock::{statutory_clock, StatutoryClock};
use urbis_core::permits::{ClockPolicy, Decision, Stage, WorkingCalendar};
use urbis_core::validate::{check_feature, GeometryPolicy};
use urbis_core::{Feature, LayerId};
use urbis_store::{AttributeFilter, Comparison, HistoryHead, Query, StoreError};

use crate::auth::{Principal, Role};
use crate::features;
use crate::{ApiError, AppState};

/// Tracking codes: letters and digits that cannot be mistaken for one another (no 0/O, 1/I).
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// The channels a dossier may come through.
pub(crate) const CHANNELS: [&str; 3] = ["online", "counter", "phone"];
/// Utilities within this distance of a site are read for the protection-zone check (wider zones
/// than this are not modelled by any network we know of).
const PROTECTION_SEARCH_M: f64 = 50.0;
/// Most parcels one dossier may name or cover.
const MAX_PARCELS: usize = 50;
/// A parcel is part of a drawn site when at least this share of it lies inside.
const PARCEL_IN_SITE: f64 = 0.05;

/// How the workflow is set up: the city's working days, when a dossier is at risk, the tracking
/// codes' prefix, and the office hour dossiers fall due at.
#[derive(Debug, Clone)]
pub struct PermitsConfig {
    pub calendar: WorkingCalendar,
    pub policy: ClockPolicy,
    pub code_prefix: String,
    /// Local hour of the end of the office day on the due date.
    pub due_hour: u32,
    pub utc_offset_minutes: i32,
}

impl Default for PermitsConfig {
    /// The demo city: Cambridge (MA), its holidays from data-samples/holidays.csv, Eastern
    /// standard time, due at 17:00.
    fn default() -> Self {
        let offset = -5 * 60;
        let calendar = WorkingCalendar::from_csv("cambridge_ma", include_str!("../../../data-samples/holidays.csv"))
            .and_then(|c| c.with_utc_offset_minutes(offset))
            .unwrap_or_else(|_| WorkingCalendar::weekdays("cambridge_ma"));
        PermitsConfig {
            calendar,
            policy: ClockPolicy::default(),
            code_prefix: "CB".into(),
            due_hour: 17,
            utc_offset_minutes: offset,
        }
    }
}

pub fn routes() -> Router<AppState> {
    routes_with(PermitsConfig::default())
}

pub fn routes_with(config: PermitsConfig) -> Router<AppState> {
    Router::new()
        .route("/procedures", get(list_procedures).post(create_procedure))
        .route("/procedures/{code}", get(get_procedure).put(replace_procedure))
        .route("/dossiers", axum::routing::post(intake))
        .route("/dossiers/{id}", get(get_dossier))
        .route("/dossiers/{id}/transitions", axum::routing::post(transition))
        .route("/dossiers/{id}/check", get(get_check).post(run_check))
        .route("/track/{code}", get(track))
        .route("/track/{code}/verify", get(track_verify))
        .route("/track/{code}/rating", axum::routing::post(rate))
        .route("/track/{code}/supplement", axum::routing::post(applicant_supplement))
        .route("/track/{code}/payment", axum::routing::post(applicant_payment))
        .layer(Extension(Arc::new(config)))
}

type Config = Extension<Arc<PermitsConfig>>;

// ---------------------------------------------------------------------------------------------
// Errors: the server's ApiError, plus the workflow's own 409s with what the client needs.

#[derive(Debug)]
pub(crate) enum PermitError {
    Api(ApiError),
    Illegal { message: String, current: Stage, allowed: Vec<Stage> },
    Conflict(String),
}

impl<E: Into<ApiError>> From<E> for PermitError {
    fn from(e: E) -> Self {
        match e.into() {
            ApiError::Store(e @ StoreError::HistoryConflict { .. }) => {
                PermitError::Conflict(format!("{e}; read the dossier again and retry"))
            }
            other => PermitError::Api(other),
        }
    }
}

impl IntoResponse for PermitError {
    fn into_response(self) -> Response {
        match self {
            PermitError::Api(e) => e.into_response(),
            PermitError::Illegal { message, current, allowed } => (
                StatusCode::CONFLICT,
                Json(
                    json!({ "code": "illegal_transition", "message": message, "current": current, "allowed": allowed }),
                ),
            )
                .into_response(),
            PermitError::Conflict(message) => {
                (StatusCode::CONFLICT, Json(json!({ "code": "conflict", "message": message }))).into_response()
            }
        }
    }
}

fn bad(parameter: &'static str, message: impl Into<String>) -> PermitError {
    PermitError::Api(ApiError::BadParameter { parameter, message: message.into() })
}

// ---------------------------------------------------------------------------------------------
// Who may act. One call each, to be replaced by the policy table of part 9.

fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(v) => Ok(Some(v.to_str().map_err(|_| ApiError::Unauthorized("the token is not valid".into()))?)),
    }
}

/// Staff beside the dossier routes (intake at a counter or by phone): a reviewer or an admin.
/// The routes of one dossier ask the policy table (`policy.rs`) instead.
pub(crate) fn staff_member(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let who = state.auth.check(bearer(headers)?)?;
    if !matches!(who.role, Role::Reviewer | Role::Admin) {
        return Err(ApiError::Forbidden(format!(
            "the role `{}` may not work on dossiers; it needs `reviewer` or `admin`",
            who.role
        )));
    }
    Ok(who)
}

/// The catalogue: admins only.
fn admin(state: &AppState, headers: &HeaderMap) -> Result<Role, ApiError> {
    let role = state.auth.check(bearer(headers)?)?.role;
    if role != Role::Admin {
        return Err(ApiError::Forbidden(format!("the role `{role}` may not edit the catalogue; it needs `admin`")));
    }
    Ok(role)
}

// ---------------------------------------------------------------------------------------------
// The procedure catalogue.

fn read_procedure(f: &Feature) -> Result<Procedure, ApiError> {
    domain::read::<Procedure>(f).map_err(|e| ApiError::Internal(format!("procedure `{}` cannot be read: {e}", f.id)))
}

pub(crate) async fn procedures(state: &AppState) -> Result<Vec<Procedure>, ApiError> {
    let found = state.store.query(LayerId::Procedures, &Query::all()).await?;
    found.iter().map(read_procedure).collect()
}

pub(crate) async fn find_procedure(state: &AppState, code: &str) -> Result<Option<(Feature, Procedure)>, ApiError> {
    if let Some(f) = state.store.get(LayerId::Procedures, code).await? {
        let p = read_procedure(&f)?;
        return Ok(Some((f, p)));
    }
    let q = Query::all().filter(AttributeFilter::new("code", Comparison::Eq, code)).limit(1);
    match state.store.query(LayerId::Procedures, &q).await?.pop() {
        Some(f) => {
            let p = read_procedure(&f)?;
            Ok(Some((f, p)))
        }
        None => Ok(None),
    }
}

async fn list_procedures(State(state): State<AppState>) -> Result<Json<Value>, PermitError> {
    Ok(Json(json!({ "procedures": procedures(&state).await? })))
}

async fn get_procedure(State(state): State<AppState>, Path(code): Path<String>) -> Result<Json<Value>, PermitError> {
    match find_procedure(&state, &code).await? {
        Some((_, p)) => Ok(Json(json!(p))),
        None => Err(ApiError::NotFound(format!("no procedure has the code `{code}`")).into()),
    }
}

/// A posted procedure, checked as the catalogue's schema wants it.
fn procedure_from_body(body: &[u8], code_in_path: Option<&str>) -> Result<Feature, PermitError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad("body", format!("not JSON: {e}")))?;
    let p: Procedure = serde_json::from_value(value).map_err(|e| bad("body", format!("not a procedure: {e}")))?;
    if p.code.trim().is_empty() || p.name.trim().is_empty() {
        return Err(bad("body", "a procedure needs a code and a name"));
    }
    if let Some(c) = code_in_path {
        if c != p.code {
            return Err(bad("code", format!("the path names `{c}`, the body `{}`", p.code)));
        }
    }
    if p.processing_days < 0 || p.processing_days > 3650 {
        return Err(bad("processing_days", "from 0 to 3650 working days"));
    }
    if let Some(c) = p.channels.iter().find(|c| !CHANNELS.contains(&c.as_str())) {
        return Err(bad("channels", format!("`{c}` is not a channel; the channels are {}", CHANNELS.join(", "))));
    }
    let mut f = domain::write(p.code.clone(), None, &p);
    let report = check_feature(&urbis_core::layer::PROCEDURES, &mut f, GeometryPolicy::Reject);
    if !report.is_ok() {
        let message = report.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        return Err(PermitError::Api(ApiError::InvalidFeature { message, problems: report.problems }));
    }
    Ok(f)
}

async fn create_procedure(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PermitError> {
    admin(&state, &headers)?;
    let f = procedure_from_body(&body, None)?;
    if find_procedure(&state, &f.id).await?.is_some() {
        return Err(PermitError::Api(ApiError::Store(StoreError::DuplicateId {
            layer: LayerId::Procedures,
            id: f.id,
        })));
    }
    state.store.create(LayerId::Procedures, std::slice::from_ref(&f)).await?;
    state.tile_cache.drop_layer(LayerId::Permits);
    Ok((StatusCode::CREATED, Json(json!(read_procedure(&f)?))).into_response())
}

async fn replace_procedure(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, PermitError> {
    admin(&state, &headers)?;
    let mut f = procedure_from_body(&body, Some(&code))?;
    let Some((stored, _)) = find_procedure(&state, &code).await? else {
        return Err(ApiError::NotFound(format!("no procedure has the code `{code}`")).into());
    };
    f.id = stored.id;
    state.store.replace(LayerId::Procedures, &f).await?;
    // Every dossier's status in the tiles depends on its procedure's processing time.
    state.tile_cache.drop_layer(LayerId::Permits);
    Ok(Json(json!(read_procedure(&f)?)))
}

// ---------------------------------------------------------------------------------------------
// Intake.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntakeBody {
    procedure_code: String,
    #[serde(default)]
    parcels: Vec<String>,
    site: Option<Value>,
    channel: Option<String>,
    centre_id: Option<String>,
    description: Option<String>,
    proposed_use: Option<String>,
    proposed_height_m: Option<f64>,
    proposed_floor_area_m2: Option<f64>,
    proposed_lot_coverage: Option<f64>,
    applicant: Value,
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new tracking code (40 random bits) and secret (122 random bits), from UUID v4s.
fn new_code_and_secret(prefix: &str) -> (String, String) {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut code = format!("{prefix}-");
    for (i, b) in bytes.iter().take(8).enumerate() {
        if i == 4 {
            code.push('-');
        }
        code.push(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char);
    }
    (code, uuid::Uuid::new_v4().simple().to_string())
}

fn polygons_of(g: &Geometry) -> MultiPolygon {
    check::polygons(g)
}

/// The parcels a dossier is about: by cadastral code, or those a drawn site covers.
async fn resolve_parcels(
    state: &AppState,
    codes: &[String],
    site: Option<&Value>,
) -> Result<(Vec<Feature>, Option<Geometry>), PermitError> {
    if codes.len() > MAX_PARCELS {
        return Err(bad("parcels", format!("{} parcels; at most {MAX_PARCELS}", codes.len())));
    }
    let mut parcels: Vec<Feature> = vec![];
    let mut unique: Vec<&String> = codes.iter().collect();
    unique.sort();
    unique.dedup();
    for code in unique {
        let q = Query::all().filter(AttributeFilter::new("code", Comparison::Eq, code.as_str())).limit(20);
        let found = state.store.query(LayerId::Parcels, &q).await?;
        if found.is_empty() {
            return Err(bad("parcels", format!("no parcel has the cadastral code `{code}`")));
        }
        parcels.extend(found);
    }
    let drawn = match site {
        None | Some(Value::Null) => None,
        Some(v) => {
            let body = serde_json::to_vec(v).map_err(|e| bad("site", e.to_string()))?;
            let g = crate::spatial::posted_geometry(&body).map_err(|e| bad("site", e.to_string()))?;
            if polygons_of(&g).0.is_empty() {
                return Err(bad("site", "a site is a Polygon or MultiPolygon"));
            }
            let candidates = state.store.intersects(LayerId::Parcels, &g, Some(500)).await?;
            let site = polygons_of(&g);
            for p in candidates {
                let inside = p
                    .geometry
                    .as_ref()
                    .map(|pg| check::share_of_site(&polygons_of(pg), &Geometry::MultiPolygon(site.clone())))
                    .unwrap_or(0.0);
                if inside >= PARCEL_IN_SITE && !parcels.iter().any(|q: &Feature| q.id == p.id) {
                    parcels.push(p);
                }
            }
            if parcels.is_empty() {
                return Err(bad("site", "the site covers no parcel"));
            }
            Some(g)
        }
    };
    if parcels.is_empty() {
        return Err(bad("parcels", "name the parcels (cadastral codes) or draw the site"));
    }
    if parcels.len() > MAX_PARCELS {
        return Err(bad("site", format!("the site covers {} parcels; at most {MAX_PARCELS}", parcels.len())));
    }
    Ok((parcels, drawn))
}

fn union_of(parcels: &[Feature]) -> Geometry {
    let mut all = MultiPolygon(vec![]);
    for p in parcels {
        if let Some(g) = &p.geometry {
            all = if all.0.is_empty() { polygons_of(g) } else { all.union(&polygons_of(g)) };
        }
    }
    Geometry::MultiPolygon(all)
}

async fn intake(
    State(state): State<AppState>,
    Extension(config): Config,
    headers: HeaderMap,
    features::BaseUrl(base): features::BaseUrl,
    body: axum::body::Bytes,
) -> Result<Response, PermitError> {
    let body: IntakeBody = serde_json::from_slice(&body).map_err(|e| bad("body", format!("not a dossier: {e}")))?;
    let filing = Filing {
        procedure_code: body.procedure_code,
        parcels: body.parcels,
        site: body.site,
        point: None,
        address: None,
        channel: body.channel,
        centre_id: body.centre_id,
        description: body.description,
        proposed_use: body.proposed_use,
        proposed_height_m: body.proposed_height_m,
        proposed_floor_area_m2: body.proposed_floor_area_m2,
        proposed_lot_coverage: body.proposed_lot_coverage,
        applicant: body.applicant,
    };
    let filed = file_dossier(&state, &config, &headers, filing).await?;
    let code = filed.code;
    let body = json!({
        "id": code,
        "tracking_code": code,
        "secret": filed.secret,
        "stage": "received",
        "due_at": filed.due_at,
        "parcel_codes": filed.parcel_codes,
        "parcel_check": filed.check,
        "links": [
            { "rel": "tracking", "href": format!("{base}/track/{code}") },
            { "rel": "verify", "href": format!("{base}/track/{code}/verify") },
        ],
    });
    Ok((StatusCode::CREATED, [(header::LOCATION, format!("{base}/dossiers/{code}"))], Json(body)).into_response())
}

/// A dossier to file, however it came in (`POST /dossiers`, Open311's `POST requests`).
#[derive(Debug, Default)]
pub(crate) struct Filing {
    pub procedure_code: String,
    /// Cadastral codes.
    pub parcels: Vec<String>,
    /// A drawn site (GeoJSON geometry).
    pub site: Option<Value>,
    /// A point the site's parcel lies under (Open311's lat/long).
    pub point: Option<geo_types::Point>,
    /// The address of the site's parcels (Open311's address_string).
    pub address: Option<String>,
    /// online (default), counter or phone.
    pub channel: Option<String>,
    pub centre_id: Option<String>,
    pub description: Option<String>,
    pub proposed_use: Option<String>,
    pub proposed_height_m: Option<f64>,
    pub proposed_floor_area_m2: Option<f64>,
    pub proposed_lot_coverage: Option<f64>,
    /// The applicant's personal data: an object with at least a `name`.
    pub applicant: Value,
}

/// A dossier just filed.
#[derive(Debug)]
pub(crate) struct Filed {
    pub code: String,
    /// Shown once; only its hash is kept.
    pub secret: String,
    pub due_at: String,
    pub parcel_codes: Vec<String>,
    pub check: ParcelCheck,
}

/// Intake, the one code path of every channel: checks the filing, finds its parcels, runs the
/// parcel check and writes the dossier with its first event (one transaction).
pub(crate) async fn file_dossier(
    state: &AppState,
    config: &PermitsConfig,
    headers: &HeaderMap,
    body: Filing,
) -> Result<Filed, PermitError> {
    let channel = body.channel.clone().unwrap_or_else(|| "online".into());
    if !CHANNELS.contains(&channel.as_str()) {
        return Err(bad("channel", format!("`{channel}` is not a channel; the channels are {}", CHANNELS.join(", "))));
    }
    // Online, anyone files; at a counter or by phone, staff file for the applicant.
    let actor = match channel.as_str() {
        "online" => "online portal".to_string(),
        other => {
            // A reviewer files for their own centres.
            let who = staff_member(state, headers)?;
            if who.role == Role::Reviewer && !who.reviews(body.centre_id.as_deref()) {
                return Err(PermitError::Api(ApiError::Forbidden(format!(
                    "a reviewer files at a counter or by phone for their own centres ({}); name one as `centre_id`",
                    who.centres.join(", ")
                ))));
            }
            let desk = if other == "phone" { "call centre" } else { "counter" };
            format!("{desk} ({})", who.actor())
        }
    };
    let Some((_, procedure)) = find_procedure(state, &body.procedure_code).await? else {
        return Err(bad("procedure_code", format!("no procedure has the code `{}`", body.procedure_code)));
    };
    if !procedure.channels.is_empty() && !procedure.channels.contains(&channel) {
        return Err(bad(
            "channel",
            format!(
                "procedure {} is not offered {channel}; it is offered: {}",
                procedure.code,
                procedure.channels.join(", ")
            ),
        ));
    }
    if let Some(c) = &body.centre_id {
        if state.store.get(LayerId::ServiceCentres, c).await?.is_none() {
            return Err(bad("centre_id", format!("no service centre has the id `{c}`")));
        }
    }
    for (name, v, max) in [
        ("proposed_height_m", body.proposed_height_m, 1000.0),
        ("proposed_floor_area_m2", body.proposed_floor_area_m2, 10_000_000.0),
        ("proposed_lot_coverage", body.proposed_lot_coverage, 1.0),
    ] {
        if v.is_some_and(|v| !(v.is_finite() && (0.0..=max).contains(&v))) {
            return Err(bad(name, format!("must be a number from 0 to {max}")));
        }
    }
    let mut applicant = match body.applicant {
        Value::Object(m) if m.get("name").and_then(Value::as_str).is_some_and(|n| !n.trim().is_empty()) => m,
        _ => return Err(bad("applicant", "the applicant is an object with at least a `name`")),
    };
    let mut codes = body.parcels.clone();
    codes.extend(parcels_at(state, body.point, body.address.as_deref()).await?);
    let (parcels, drawn) = resolve_parcels(state, &codes, body.site.as_ref()).await?;
    let mut parcel_codes: Vec<String> = parcels.iter().filter_map(|p| p.text("code").map(str::to_string)).collect();
    parcel_codes.sort();
    parcel_codes.dedup();
    let site = drawn.unwrap_or_else(|| union_of(&parcels));
    let address = parcels.iter().find_map(|p| p.text("address").map(str::to_string));

    let now = Utc::now();
    let (mut code, mut secret) = new_code_and_secret(&config.code_prefix);
    for _ in 0..5 {
        if state.store.get(LayerId::Permits, &code).await?.is_none() {
            break;
        }
        (code, secret) = new_code_and_secret(&config.code_prefix);
    }
    // Only the secret's hash is kept, with the applicant's personal data (a private field).
    applicant.insert("secret_sha256".into(), json!(hex(&Sha256::digest(secret.as_bytes()))));
    let dossier = Dossier {
        tracking_code: code.clone(),
        procedure_code: procedure.code.clone(),
        applicant: Some(Value::Object(applicant)),
        parcel_codes: parcel_codes.clone(),
        description: body.description.clone().or_else(|| Some(procedure.name.clone())),
        address,
        proposed_use: body.proposed_use.clone(),
        proposed_height_m: body.proposed_height_m,
        proposed_floor_area_m2: body.proposed_floor_area_m2,
        channel: Some(channel),
        centre_id: body.centre_id.clone(),
        stage: Stage::Received.name().into(),
        received_at: rfc3339(now),
        ..Default::default()
    };
    let proposal = Proposal {
        use_code: body.proposed_use,
        height_m: body.proposed_height_m,
        floor_area_m2: body.proposed_floor_area_m2,
        lot_coverage: body.proposed_lot_coverage,
    };
    let result = parcel_check(state, &site, &parcel_codes, &proposal, Some(&code)).await?;
    let mut feature = domain::write(code.clone(), Some(site), &dossier);
    set_check(&mut feature, &result, now, &proposal);
    let history = vec![(now, Stage::Received)];
    let clock = clock_of(config, procedure.processing_days, &history, now)?;
    let due_at = due_instant(config, clock.due);
    feature.attributes.insert("due_at".into(), json!(due_at));

    let event = PermitEvent {
        permit_id: code.clone(),
        seq: 1,
        at: rfc3339(now),
        kind: "received".into(),
        stage: Some(Stage::Received.name().into()),
        actor: Some(actor),
        note: Some(format!("filed; parcel check: {} issue(s)", result.issues.len())),
        hash: None,
    };
    append(state, feature, event, None).await?;
    Ok(Filed { code, secret, due_at, parcel_codes, check: result })
}

/// The cadastral codes of the parcels under a point and of those at an address (exactly as
/// written, else in capitals as the assessor writes them).
async fn parcels_at(
    state: &AppState,
    point: Option<geo_types::Point>,
    address: Option<&str>,
) -> Result<Vec<String>, PermitError> {
    let mut codes = vec![];
    if let Some(p) = point {
        if !(p.x().is_finite()
            && p.y().is_finite()
            && (-180.0..=180.0).contains(&p.x())
            && (-90.0..=90.0).contains(&p.y()))
        {
            return Err(bad("point", format!("({}, {}) is not a longitude and latitude", p.x(), p.y())));
        }
        let found = state.store.intersects(LayerId::Parcels, &Geometry::Point(p), Some(5)).await?;
        if found.is_empty() {
            return Err(bad("point", format!("no parcel lies at longitude {}, latitude {}", p.x(), p.y())));
        }
        codes.extend(found.iter().filter_map(|f| f.text("code").map(str::to_string)));
    }
    if let Some(a) = address.map(str::trim).filter(|a| !a.is_empty()) {
        let mut found = vec![];
        for written in [a.to_string(), a.to_uppercase()] {
            let q = Query::all().filter(AttributeFilter::new("address", Comparison::Eq, written.as_str())).limit(20);
            found = state.store.query(LayerId::Parcels, &q).await?;
            if !found.is_empty() {
                break;
            }
        }
        if found.is_empty() {
            return Err(bad("address", format!("no parcel has the address `{a}`")));
        }
        codes.extend(found.iter().filter_map(|f| f.text("code").map(str::to_string)));
    }
    Ok(codes)
}

/// The due date's end of office day, as an instant.
pub(crate) fn due_instant(config: &PermitsConfig, due: NaiveDate) -> String {
    let local = due.and_hms_opt(config.due_hour.min(23), 0, 0).unwrap_or_else(|| due.and_time(chrono::NaiveTime::MIN));
    let utc = local - chrono::Duration::minutes(i64::from(config.utc_offset_minutes));
    rfc3339(utc.and_utc())
}

fn set_check(feature: &mut Feature, result: &ParcelCheck, at: DateTime<Utc>, proposal: &Proposal) {
    feature.extra.insert("parcel_check".into(), json!({ "checked_at": rfc3339(at), "result": result }));
    if let Some(c) = proposal.lot_coverage {
        feature.extra.insert("proposed_lot_coverage".into(), json!(c));
    }
}

/// Seals the event onto the history's end and writes it with the dossier, in one transaction.
async fn append(
    state: &AppState,
    mut dossier: Feature,
    mut event: PermitEvent,
    head: Option<&HistoryHead>,
) -> Result<(), PermitError> {
    let previous = head.and_then(|h| h.hash.clone()).unwrap_or_else(|| chain::GENESIS.to_string());
    event.hash = Some(chain::link_hash(&previous, &event));
    let mut event_feature = domain::write(format!("{}-{:02}", event.permit_id, event.seq), None, &event);
    for (layer, f) in [(LayerId::Permits, &mut dossier), (LayerId::PermitEvents, &mut event_feature)] {
        let report = check_feature(layer.schema(), f, GeometryPolicy::Reject);
        if !report.is_ok() {
            let message = report.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            return Err(PermitError::Api(ApiError::InvalidFeature { message, problems: report.problems }));
        }
    }
    state.store.append_event(&dossier, &event_feature, head).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading a dossier and its history.

/// A dossier by id, or else by tracking code.
pub(crate) async fn find_dossier(state: &AppState, key: &str) -> Result<Feature, PermitError> {
    if let Some(f) = state.store.get(LayerId::Permits, key).await? {
        return Ok(f);
    }
    let q = Query::all().filter(AttributeFilter::new("tracking_code", Comparison::Eq, key)).limit(1);
    state
        .store
        .query(LayerId::Permits, &q)
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("no dossier has the id or tracking code `{key}`")).into())
}

/// A dossier's events in order, with the ids they are stored under.
pub(crate) async fn events_of(state: &AppState, id: &str) -> Result<Vec<(Option<String>, PermitEvent)>, PermitError> {
    let q = Query::all().filter(AttributeFilter::new("permit_id", Comparison::Eq, id));
    let found = state.store.query(LayerId::PermitEvents, &q).await?;
    let mut events = found
        .iter()
        .map(|f| {
            domain::read::<PermitEvent>(f)
                .map(|e| (Some(f.id.clone()), e))
                .map_err(|e| ApiError::Internal(format!("event `{}` cannot be read: {e}", f.id)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    events.sort_by_key(|(_, e)| e.seq);
    Ok(events)
}

fn head_of(events: &[(Option<String>, PermitEvent)]) -> Option<HistoryHead> {
    events.last().map(|(_, e)| HistoryHead { seq: e.seq, hash: e.hash.clone() })
}

/// The stage each event brought the dossier to, for the clock (events that change no stage, a
/// parcel check say, are left out).
pub(crate) fn stage_history(events: &[(Option<String>, PermitEvent)]) -> Vec<(DateTime<Utc>, Stage)> {
    let mut out: Vec<(DateTime<Utc>, Stage)> = vec![];
    for (_, e) in events {
        let (Some(at), Some(stage)) = (parse_instant(&e.at), e.stage.as_deref().and_then(|s| s.parse::<Stage>().ok()))
        else {
            continue;
        };
        if out.last().map(|(_, s)| *s) != Some(stage) {
            out.push((at, stage));
        }
    }
    out
}

fn clock_of(
    config: &PermitsConfig,
    processing_days: i64,
    history: &[(DateTime<Utc>, Stage)],
    now: DateTime<Utc>,
) -> Result<StatutoryClock, PermitError> {
    statutory_clock(&config.calendar, processing_days, history, now, config.policy)
        .map_err(|e| PermitError::Api(ApiError::Internal(format!("the dossier's clock: {e}"))))
}

fn clock_json(config: &PermitsConfig, c: &StatutoryClock) -> Value {
    json!({
        "processing_days": c.processing_days,
        "started": c.started,
        "due_date": c.due,
        "due_at": due_instant(config, c.due),
        "city_days": c.city_days,
        "applicant_days": c.applicant_days,
        "days_left": c.days_left,
        "paused": c.paused,
        "stopped": c.stopped,
        "status": c.status,
        "calendar": config.calendar.city(),
    })
}

#[derive(Debug, Deserialize)]
struct AtParams {
    /// The instant to read the clock at (RFC 3339); now by default.
    at: Option<String>,
}

fn at_param(p: &AtParams) -> Result<DateTime<Utc>, PermitError> {
    match p.at.as_deref() {
        None => Ok(Utc::now()),
        Some(s) => parse_instant(s).ok_or_else(|| bad("at", format!("`{s}` is not an RFC 3339 instant"))),
    }
}

async fn get_dossier(
    State(state): State<AppState>,
    Extension(config): Config,
    who: Principal,
    Path(id): Path<String>,
    UrlQuery(params): UrlQuery<AtParams>,
) -> Result<Json<Value>, PermitError> {
    let now = at_param(&params)?;
    let f = find_dossier(&state, &id).await?;
    // Personal data only for its applicant, its centre's reviewers and admins.
    let personal = crate::policy::dossier_access(&who, &Method::GET, "/dossiers/{id}", &f)?;
    let events = events_of(&state, &f.id).await?;
    let d: Dossier = domain::read(&f).map_err(|e| ApiError::Internal(format!("dossier `{id}`: {e}")))?;
    let procedure = find_procedure(&state, &d.procedure_code).await?.map(|(_, p)| p);
    let history = stage_history(&events);
    let clock = match (&procedure, history.is_empty()) {
        (Some(p), false) => Some(clock_of(&config, p.processing_days, &history, now)?),
        _ => None,
    };
    let stage = d.stage.parse::<Stage>().ok();
    let mut applicant = if personal { d.applicant.clone().unwrap_or(Value::Null) } else { Value::Null };
    if let Some(m) = applicant.as_object_mut() {
        m.remove("secret_sha256");
    }
    Ok(Json(json!({
        "id": f.id,
        "dossier": { "tracking_code": d.tracking_code, "procedure_code": d.procedure_code, "applicant": applicant,
            "parcel_codes": d.parcel_codes, "description": d.description, "address": d.address,
            "proposed_use": d.proposed_use, "proposed_height_m": d.proposed_height_m,
            "proposed_floor_area_m2": d.proposed_floor_area_m2, "channel": d.channel, "centre_id": d.centre_id,
            "stage": d.stage, "received_at": d.received_at, "due_at": d.due_at, "decided_at": d.decided_at,
            "decision": d.decision },
        "site": f.geometry.as_ref().map(|g| json!(geojson::Geometry::from(g))),
        "procedure": procedure,
        "allowed_transitions": stage.map(|s| s.allowed_next_when(was_decided(&events)).to_vec()).unwrap_or_default(),
        "payment_due": f.extra.get("payment_due"),
        "clock": clock.as_ref().map(|c| clock_json(&config, c)),
        "stages": clock.as_ref().map(|c| json!(c.stages)),
        "history": events.iter().map(|(_, e)| json!({ "seq": e.seq, "at": e.at, "kind": e.kind, "stage": e.stage,
            "actor": e.actor, "note": e.note, "hash": e.hash })).collect::<Vec<_>>(),
        "parcel_check": f.extra.get("parcel_check"),
    })))
}

// ---------------------------------------------------------------------------------------------
// Transitions.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionBody {
    to: String,
    decision: Option<String>,
    note: Option<String>,
    /// Who acts, as the reviewer names themself (recorded with the token's role).
    actor: Option<String>,
    /// With `payment_requested`: the amount due (the procedure's fee by default).
    amount: Option<f64>,
}

/// The largest amount a payment request may ask.
const MAX_AMOUNT: f64 = 1e9;

/// Whether a dossier's history holds its decision (a payment asked after it leads to the
/// delivery).
fn was_decided(events: &[(Option<String>, PermitEvent)]) -> bool {
    stage_history(events).iter().any(|(_, s)| *s == Stage::Decided)
}

fn check_note(note: Option<&str>) -> Result<(), PermitError> {
    if note.is_some_and(|n| n.chars().count() > 4000) {
        return Err(bad("note", "at most 4,000 characters"));
    }
    Ok(())
}

/// An applicant's note, checked, trimmed, and dropped when blank.
fn applicant_note(note: Option<String>) -> Result<Option<String>, PermitError> {
    check_note(note.as_deref())?;
    Ok(note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()))
}

/// The dossier `key` for a step by `who` on `route` (refused unless the policy lets them), and
/// its history. The history's end is read first, then the dossier: a step written in between
/// makes ours conflict.
async fn for_a_step(
    state: &AppState,
    who: &Principal,
    route: &str,
    key: &str,
) -> Result<(Feature, Vec<(Option<String>, PermitEvent)>), PermitError> {
    let f0 = find_dossier(state, key).await?;
    crate::policy::dossier_access(who, &Method::POST, route, &f0)?;
    let events = events_of(state, &f0.id).await?;
    let f = state
        .store
        .get(LayerId::Permits, &f0.id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dossier has the id or tracking code `{key}`")))?;
    Ok((f, events))
}

async fn transition(
    State(state): State<AppState>,
    Extension(config): Config,
    who: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, PermitError> {
    let role = who.role;
    let body: TransitionBody =
        serde_json::from_slice(&body).map_err(|e| bad("body", format!("not a transition: {e}")))?;
    let to: Stage = body.to.parse().map_err(|e: urbis_core::permits::stage::UnknownName| bad("to", e.to_string()))?;
    let decision = match body.decision.as_deref() {
        None => None,
        Some(d) => Some(d.parse::<Decision>().map_err(|e| bad("decision", e.to_string()))?),
    };
    check_note(body.note.as_deref())?;
    if let Some(a) = body.amount {
        if to != Stage::PaymentRequested {
            return Err(bad(
                "amount",
                format!("an amount is given only with a move to `payment_requested`, not to `{to}`"),
            ));
        }
        if !(a.is_finite() && a > 0.0 && a <= MAX_AMOUNT) {
            return Err(bad("amount", format!("`{a}` is not an amount: a number above 0 and at most {MAX_AMOUNT}")));
        }
    }
    let (f, events) = for_a_step(&state, &who, "/dossiers/{id}/transitions", &id).await?;
    let current = current_stage(&f)?;
    let decided = was_decided(&events);
    if let Err(e) = current.check_move_when(decided, to, decision) {
        let message = e.to_string();
        return Err(match e {
            urbis_core::permits::TransitionError::Illegal { from, allowed, .. } => {
                PermitError::Illegal { message, current: from, allowed }
            }
            _ => bad("decision", message),
        });
    }
    let actor = match body.actor.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => format!("{role}:{a}"),
        None => who.actor(),
    };
    let step = Step { to, decision, actor, note: body.note, amount: body.amount, reference: None };
    Ok(Json(apply_step(&state, &config, f, &events, step).await?))
}

fn current_stage(f: &Feature) -> Result<Stage, PermitError> {
    let name = f.text("stage").unwrap_or_default();
    name.parse().map_err(|_| {
        PermitError::Api(ApiError::Internal(format!("dossier `{}` is in an unknown stage `{name}`", f.id)))
    })
}

/// One move of a dossier, checked by the caller.
struct Step {
    to: Stage,
    decision: Option<Decision>,
    actor: String,
    note: Option<String>,
    /// A payment request's amount (else the procedure's fee).
    amount: Option<f64>,
    /// A payment's reference, as the applicant gives it.
    reference: Option<String>,
}

/// Writes a checked move: the dossier's new stage, decision, due date and payment, with its
/// event sealed onto the history, in one transaction.
async fn apply_step(
    state: &AppState,
    config: &PermitsConfig,
    mut f: Feature,
    events: &[(Option<String>, PermitEvent)],
    step: Step,
) -> Result<Value, PermitError> {
    let Step { to, decision, actor, note, amount, reference } = step;
    let now = Utc::now();
    let head = head_of(events);
    let seq = head.as_ref().map(|h| h.seq).unwrap_or(0) + 1;
    f.attributes.insert("stage".into(), json!(to.name()));
    if let Some(d) = decision {
        f.attributes.insert("decision".into(), json!(d.name()));
        f.attributes.insert("decided_at".into(), json!(rfc3339(now)));
    }
    let mut history = stage_history(events);
    history.push((now, to));
    let procedure = find_procedure(state, f.text("procedure_code").unwrap_or_default()).await?.map(|(_, p)| p);
    let mut detail = None;
    match to {
        Stage::PaymentRequested => {
            let Some(amount) = amount.or_else(|| procedure.as_ref().and_then(|p| p.fee)).filter(|a| *a > 0.0) else {
                return Err(bad("amount", "the dossier's procedure has no fee: state the `amount` due"));
            };
            f.extra.insert("payment_due".into(), json!({ "amount": amount, "requested_at": rfc3339(now) }));
            detail = Some(format!("payment due: {amount}"));
        }
        Stage::PaymentReceived => {
            if let Some(Value::Object(mut due)) = f.extra.remove("payment_due") {
                due.insert("paid_at".into(), json!(rfc3339(now)));
                f.extra.insert("payment_made".into(), Value::Object(due));
            }
            detail = reference.map(|r| format!("payment reference: {r}"));
        }
        _ => {}
    }
    let clock = match procedure {
        Some(p) => {
            let c = clock_of(config, p.processing_days, &history, now)?;
            f.attributes.insert("due_at".into(), json!(due_instant(config, c.due)));
            Some(c)
        }
        None => None,
    };
    let note = match (decision.map(|d| d.to_string()).or(detail), note) {
        (Some(d), Some(n)) => Some(format!("{d}: {n}")),
        (Some(d), None) => Some(d),
        (None, n) => n,
    };
    let event = PermitEvent {
        permit_id: f.id.clone(),
        seq,
        at: rfc3339(now),
        kind: "transition".into(),
        stage: Some(to.name().into()),
        actor: Some(actor),
        note,
        hash: None,
    };
    append(state, f.clone(), event, head.as_ref()).await?;
    let decided = decision.is_some() || history.iter().any(|(_, s)| *s == Stage::Decided);
    Ok(json!({
        "id": f.id,
        "tracking_code": f.text("tracking_code"),
        "stage": to,
        "seq": seq,
        "allowed_transitions": to.allowed_next_when(decided),
        "clock": clock.as_ref().map(|c| clock_json(config, c)),
    }))
}

// ---------------------------------------------------------------------------------------------
// The applicant's answers: the documents supplied, the payment made.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SupplementBody {
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentBody {
    /// The payment's reference (a receipt or transfer number).
    reference: String,
    note: Option<String>,
}

/// `POST /track/{code}/supplement`: the applicant says the documents asked for are supplied
/// (supplement_requested → supplement_received).
async fn applicant_supplement(
    State(state): State<AppState>,
    Extension(config): Config,
    who: Principal,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, PermitError> {
    let body: SupplementBody = if body.iter().all(u8::is_ascii_whitespace) {
        SupplementBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad("body", format!("expected {{\"note\": \"…\"}}: {e}")))?
    };
    let note = applicant_note(body.note)?;
    answer(&state, &config, &who, &code, "/track/{code}/supplement", Stage::SupplementRequested, note, None).await
}

/// `POST /track/{code}/payment`: the applicant has paid what was asked, with the payment's
/// reference (payment_requested → payment_received).
async fn applicant_payment(
    State(state): State<AppState>,
    Extension(config): Config,
    who: Principal,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, PermitError> {
    let body: PaymentBody = serde_json::from_slice(&body)
        .map_err(|e| bad("body", format!("expected {{\"reference\": \"…\", \"note\": \"…\"}}: {e}")))?;
    let reference = body.reference.trim().to_string();
    if reference.is_empty() || reference.chars().count() > 200 || reference.chars().any(char::is_control) {
        return Err(bad("reference", "the payment's reference: 1 to 200 characters, no control characters"));
    }
    let note = applicant_note(body.note)?;
    answer(&state, &config, &who, &code, "/track/{code}/payment", Stage::PaymentRequested, note, Some(reference)).await
}

/// Moves a dossier that waits for its applicant at `waiting` to the stage the answer brings;
/// 409 naming the stage when it does not wait for that.
#[allow(clippy::too_many_arguments)]
async fn answer(
    state: &AppState,
    config: &PermitsConfig,
    who: &Principal,
    code: &str,
    route: &str,
    waiting: Stage,
    note: Option<String>,
    reference: Option<String>,
) -> Result<Json<Value>, PermitError> {
    let (f, events) = for_a_step(state, who, route, code).await?;
    let current = current_stage(&f)?;
    let Some(to) = waiting.applicant_answer() else {
        return Err(PermitError::Api(ApiError::Internal(format!("`{waiting}` waits for no answer"))));
    };
    let decided = was_decided(&events);
    if current != waiting {
        let what = if waiting == Stage::PaymentRequested { "a payment" } else { "documents" };
        return Err(PermitError::Illegal {
            message: format!(
                "dossier `{code}` is not waiting for {what} from its applicant: it is at stage `{current}` (the answer is taken at `{waiting}`)"
            ),
            current,
            allowed: current.allowed_next_when(decided).to_vec(),
        });
    }
    current.check_move_when(decided, to, None).map_err(|e| PermitError::Api(ApiError::Internal(e.to_string())))?;
    let step = Step { to, decision: None, actor: "applicant".into(), note, amount: None, reference };
    Ok(Json(apply_step(state, config, f, &events, step).await?))
}

// ---------------------------------------------------------------------------------------------
// The parcel check.

/// Reads what the check needs around `site` and runs it.
async fn parcel_check(
    state: &AppState,
    site: &Geometry,
    parcel_codes: &[String],
    proposal: &Proposal,
    dossier_id: Option<&str>,
) -> Result<ParcelCheck, PermitError> {
    let store = &state.store;
    let (districts, overlays, utilities, permits) = tokio::try_join!(
        store.intersects(LayerId::ZoningDistricts, site, Some(50)),
        store.intersects(LayerId::ZoningOverlays, site, Some(50)),
        store.within_distance(LayerId::Utilities, site, PROTECTION_SEARCH_M, Some(500)),
        store.intersects(LayerId::Permits, site, Some(500)),
    )?;
    let located = |fs: Vec<Feature>| -> Vec<(String, Feature, Geometry)> {
        fs.into_iter().filter_map(|f| f.geometry.clone().map(|g| (f.id.clone(), f, g))).collect()
    };
    let read_err = |what: &str, id: &str, e: serde_json::Error| ApiError::Internal(format!("{what} `{id}`: {e}"));
    let mut d_in = vec![];
    for (id, f, g) in located(districts) {
        let value = domain::read(&f).map_err(|e| read_err("zoning district", &id, e))?;
        d_in.push(Located { id, value, geometry: g });
    }
    let mut o_in = vec![];
    for (id, f, g) in located(overlays) {
        let value = domain::read(&f).map_err(|e| read_err("overlay", &id, e))?;
        o_in.push(Located { id, value, geometry: g });
    }
    let mut u_in = vec![];
    for n in utilities {
        if let Some(g) = n.feature.geometry.clone() {
            let value = domain::read(&n.feature).map_err(|e| read_err("utility", &n.feature.id, e))?;
            u_in.push(Located { id: n.feature.id.clone(), value, geometry: g });
        }
    }
    // Other dossiers: those whose site (a parcel's polygons, or a point inside the parcel) lies
    // on this one; the check tells shared parcels from mere overlaps.
    let others: Vec<Feature> = permits;
    let dossiers: Vec<OtherDossier> = others
        .iter()
        .map(|f| OtherDossier {
            id: f.id.clone(),
            tracking_code: f.text("tracking_code").unwrap_or(&f.id).to_string(),
            procedure_code: f.text("procedure_code").unwrap_or_default().to_string(),
            stage: f.text("stage").unwrap_or_default().to_string(),
            decided: f.text("decision").is_some(),
            parcel_codes: f
                .get("parcel_codes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            geometry: f.geometry.clone(),
        })
        .collect();
    Ok(check::check_parcel(&CheckInput {
        site,
        parcel_codes,
        proposal,
        dossier_id,
        districts: &d_in,
        overlays: &o_in,
        utilities: &u_in,
        dossiers: &dossiers,
    }))
}

fn proposal_of(f: &Feature) -> Proposal {
    Proposal {
        use_code: f.text("proposed_use").map(str::to_string),
        height_m: f.real("proposed_height_m"),
        floor_area_m2: f.real("proposed_floor_area_m2"),
        lot_coverage: f.extra.get("proposed_lot_coverage").and_then(Value::as_f64),
    }
}

async fn get_check(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, PermitError> {
    let f = find_dossier(&state, &id).await?;
    crate::policy::dossier_access(&who, &Method::GET, "/dossiers/{id}/check", &f)?;
    match f.extra.get("parcel_check") {
        Some(c) => Ok(Json(c.clone())),
        None => Err(ApiError::NotFound(format!(
            "dossier `{id}` has not been checked yet; POST /dossiers/{id}/check runs the check"
        ))
        .into()),
    }
}

/// Runs the check again on the dossier's site and stores it with the dossier, recorded in its
/// history as a `parcel_check` event (the stage does not change).
async fn run_check(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, PermitError> {
    let f0 = find_dossier(&state, &id).await?;
    crate::policy::dossier_access(&who, &Method::POST, "/dossiers/{id}/check", &f0)?;
    let events = events_of(&state, &f0.id).await?;
    let mut f = state
        .store
        .get(LayerId::Permits, &f0.id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dossier has the id `{id}`")))?;
    let Some(site) = f.geometry.clone() else {
        return Err(PermitError::Api(ApiError::NotFound(format!("dossier `{id}` has no site to check"))));
    };
    let site = match &site {
        // A dossier filed on a point (the demo's) is checked on the parcels it names.
        Geometry::Point(_) => {
            let codes: Vec<String> = domain::read::<Dossier>(&f).map(|d| d.parcel_codes).unwrap_or_default();
            let (parcels, _) = resolve_parcels(&state, &codes, None).await?;
            union_of(&parcels)
        }
        other => other.clone(),
    };
    let codes: Vec<String> = domain::read::<Dossier>(&f).map(|d| d.parcel_codes).unwrap_or_default();
    let proposal = proposal_of(&f);
    let result = parcel_check(&state, &site, &codes, &proposal, Some(&f.id)).await?;
    let now = Utc::now();
    set_check(&mut f, &result, now, &proposal);
    let head = head_of(&events);
    let event = PermitEvent {
        permit_id: f.id.clone(),
        seq: head.as_ref().map(|h| h.seq).unwrap_or(0) + 1,
        at: rfc3339(now),
        kind: "parcel_check".into(),
        stage: f.text("stage").map(str::to_string),
        actor: Some(who.actor()),
        note: Some(format!("{} issue(s)", result.issues.len())),
        hash: None,
    };
    append(&state, f, event, head.as_ref()).await?;
    Ok(Json(json!({ "checked_at": rfc3339(now), "result": result })))
}

// ---------------------------------------------------------------------------------------------
// Public tracking: no personal data, ever. Only the fields named here are served.

async fn tracking_json(
    state: &AppState,
    config: &PermitsConfig,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Value, PermitError> {
    let f = find_dossier(state, code).await?;
    let events = events_of(state, &f.id).await?;
    let procedure_code = f.text("procedure_code").unwrap_or_default().to_string();
    let procedure = find_procedure(state, &procedure_code).await?.map(|(_, p)| p);
    let history = stage_history(&events);
    let clock = match (&procedure, history.is_empty()) {
        (Some(p), false) => Some(clock_of(config, p.processing_days, &history, now)?),
        _ => None,
    };
    let centre = match f.text("centre_id") {
        Some(c) => state.store.get(LayerId::ServiceCentres, c).await?.map(|s| {
            json!({ "id": s.id, "name": s.text("name"), "address": s.text("address"),
                    "opening_hours": s.text("opening_hours") })
        }),
        None => None,
    };
    let stages: Vec<Value> = match &clock {
        Some(c) => c
            .stages
            .iter()
            .map(|s| {
                json!({ "stage": s.stage, "from": rfc3339(s.from), "until": s.until.map(rfc3339),
                        "working_days": s.working_days, "whose_days": s.owner })
            })
            .collect(),
        None => vec![],
    };
    Ok(json!({
        "tracking_code": f.text("tracking_code").unwrap_or(&f.id),
        "procedure": procedure.as_ref().map(|p| json!({ "code": p.code, "name": p.name, "category": p.category,
            "processing_days": p.processing_days })).unwrap_or_else(|| json!({ "code": procedure_code })),
        "stage": f.text("stage"),
        "decision": f.text("decision"),
        "received_at": f.text("received_at"),
        "decided_at": f.text("decided_at"),
        "due_at": clock.as_ref().map(|c| due_instant(config, c.due)).or_else(|| f.text("due_at").map(str::to_string)),
        "centre": centre,
        "clock": clock.as_ref().map(|c| clock_json(config, c)),
        "stages": stages,
        "history": events.iter().map(|(_, e)| json!({ "seq": e.seq, "at": e.at, "kind": e.kind, "stage": e.stage }))
            .collect::<Vec<_>>(),
        "waiting_for": waiting_for(&f, &events),
        "applicant_actions": applicant_actions(&f),
    }))
}

/// What the dossier waits for from its applicant, if anything: documents, or a payment (with
/// its amount, which is the procedure's fee or what the city stated, never personal data).
fn waiting_for(f: &Feature, events: &[(Option<String>, PermitEvent)]) -> Value {
    let stage = f.text("stage").and_then(|s| s.parse::<Stage>().ok());
    let since = events.iter().rev().find(|(_, e)| e.stage.as_deref() == stage.map(Stage::name)).map(|(_, e)| &e.at);
    match stage {
        Some(Stage::SupplementRequested) => json!({ "what": "documents", "since": since }),
        Some(Stage::PaymentRequested) => json!({ "what": "payment", "since": since,
            "amount": f.extra.get("payment_due").and_then(|d| d.get("amount")) }),
        _ => Value::Null,
    }
}

/// The applicant's actions that apply now (each needs the tracking code and the secret):
/// `supplement` and `payment` answer a request, `rating` once the result is out and not yet rated.
pub(crate) fn applicant_actions(f: &Feature) -> Vec<&'static str> {
    match f.text("stage").and_then(|s| s.parse::<Stage>().ok()) {
        Some(Stage::SupplementRequested) => vec!["supplement"],
        Some(Stage::PaymentRequested) if !result_out(f) => vec!["payment"],
        Some(Stage::PaymentRequested) if f.integer("satisfaction").is_none() => vec!["payment", "rating"],
        Some(Stage::PaymentRequested) => vec!["payment"],
        _ if result_out(f) && f.integer("satisfaction").is_none() => vec!["rating"],
        _ => vec![],
    }
}

/// The result is out: decided or delivered, or paying a fee after the decision.
fn result_out(f: &Feature) -> bool {
    matches!(f.text("stage"), Some("decided" | "delivered")) || f.text("decision").is_some()
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

fn esc(v: &Value) -> String {
    let s = match v {
        Value::Null => "—".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn tracking_html(t: &Value) -> String {
    let rows: String = t["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:right\">{}</td><td>{}</td></tr>",
                esc(&s["stage"]),
                esc(&s["from"]),
                esc(&s["until"]),
                esc(&s["working_days"]),
                esc(&s["whose_days"])
            )
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Dossier {code}</title></head><body style=\"font-family:sans-serif;max-width:48rem;margin:2rem auto\">\
         <h1>Dossier {code}</h1>\
         <dl><dt>Procedure</dt><dd>{proc_name} ({proc_code})</dd><dt>Stage</dt><dd id=\"stage\">{stage}</dd>\
         <dt>Decision</dt><dd>{decision}</dd><dt>Received</dt><dd>{received}</dd><dt>Due</dt><dd>{due}</dd>\
         <dt>Status</dt><dd>{status}</dd><dt>Service centre</dt><dd>{centre}</dd></dl>\
         <h2>History</h2><table><thead><tr><th>stage</th><th>from</th><th>until</th><th>working days</th>\
         <th>whose days</th></tr></thead><tbody>{rows}</tbody></table>\
         <p><a href=\"/track/{code}/verify\">Check that this history is intact</a></p></body></html>",
        code = esc(&t["tracking_code"]),
        proc_name = esc(&t["procedure"]["name"]),
        proc_code = esc(&t["procedure"]["code"]),
        stage = esc(&t["stage"]),
        decision = esc(&t["decision"]),
        received = esc(&t["received_at"]),
        due = esc(&t["due_at"]),
        status = esc(&t["clock"]["status"]),
        centre = esc(&t["centre"]["name"]),
    )
}

async fn track(
    State(state): State<AppState>,
    Extension(config): Config,
    headers: HeaderMap,
    Path(code): Path<String>,
    UrlQuery(params): UrlQuery<AtParams>,
) -> Result<Response, PermitError> {
    let t = tracking_json(&state, &config, &code, at_param(&params)?).await?;
    if wants_html(&headers) {
        return Ok(Html(tracking_html(&t)).into_response());
    }
    Ok(Json(t).into_response())
}

#[derive(Debug, Deserialize)]
struct RatingBody {
    rating: Value,
}

/// The applicant's rating of the service, 1 to 5, once the result is out (decided or
/// delivered), given once: the dashboard's satisfaction. The applicant signs in with the
/// tracking code and secret (HTTP Basic, or a session from the login).
async fn rate(
    State(state): State<AppState>,
    who: Principal,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, PermitError> {
    let body: RatingBody =
        serde_json::from_slice(&body).map_err(|e| bad("body", format!("expected {{\"rating\": 1 to 5}}: {e}")))?;
    let rating = match body.rating.as_i64() {
        Some(r) if (1..=5).contains(&r) && body.rating.is_i64() => r,
        _ => return Err(bad("rating", format!("`{}` is not a whole number from 1 to 5", body.rating))),
    };
    let mut f = find_dossier(&state, &code).await?;
    crate::policy::dossier_access(&who, &Method::POST, "/track/{code}/rating", &f)?;
    let stage = f.text("stage").unwrap_or_default().to_string();
    if !result_out(&f) {
        return Err(PermitError::Conflict(format!(
            "the service is rated once the result is out (decided or delivered); dossier `{code}` is at stage `{stage}`"
        )));
    }
    if let Some(given) = f.integer("satisfaction") {
        return Err(PermitError::Conflict(format!("dossier `{code}` was already rated {given}")));
    }
    let etag = f.etag();
    f.attributes.insert("satisfaction".into(), json!(rating));
    state.store.replace_checked(LayerId::Permits, &f, Some(&etag)).await?;
    Ok(Json(json!({ "tracking_code": f.text("tracking_code"), "satisfaction": rating })))
}

/// Checks a dossier's chain; `Ok` with the number of links, or the first broken one.
pub async fn verify_dossier(
    store: &dyn urbis_store::Store,
    dossier: &Feature,
) -> Result<Result<usize, chain::BrokenLink>, StoreError> {
    let q = Query::all().filter(AttributeFilter::new("permit_id", Comparison::Eq, dossier.id.as_str()));
    let found = store.query(LayerId::PermitEvents, &q).await?;
    let mut events = vec![];
    for f in &found {
        match domain::read::<PermitEvent>(f) {
            Ok(e) => events.push((Some(f.id.clone()), e)),
            Err(e) => {
                return Ok(Err(chain::BrokenLink {
                    permit_id: dossier.id.clone(),
                    seq: f.integer("seq").unwrap_or(0),
                    event_id: Some(f.id.clone()),
                    error: chain::ChainError::HashMismatch {
                        stored: Some(format!("unreadable event: {e}")),
                        computed: String::new(),
                    },
                }))
            }
        }
    }
    events.sort_by_key(|(_, e)| e.seq);
    Ok(chain::verify_with_head(&dossier.id, dossier.text("stage").unwrap_or_default(), &events))
}

/// What `urbis audit verify` found over a whole store.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AuditReport {
    pub dossiers: usize,
    /// Dossiers with at least one event, each chain checked.
    pub chains: usize,
    pub links: usize,
    pub broken: Vec<chain::BrokenLink>,
    /// Events whose dossier does not exist.
    pub orphan_events: Vec<String>,
}

/// Checks every dossier's chain, reading the store once per layer (`dossier`: only that one).
pub async fn verify_all(store: &dyn urbis_store::Store, dossier: Option<&str>) -> Result<AuditReport, StoreError> {
    let all = Query::all();
    let (permits, events) = match dossier {
        Some(id) => {
            let q = Query::all().filter(AttributeFilter::new("permit_id", Comparison::Eq, id));
            let d = store
                .get(LayerId::Permits, id)
                .await?
                .ok_or_else(|| StoreError::NotFound { layer: LayerId::Permits, id: id.to_string() })?;
            (vec![d], store.query(LayerId::PermitEvents, &q).await?)
        }
        None => tokio::try_join!(store.query(LayerId::Permits, &all), store.query(LayerId::PermitEvents, &all))?,
    };
    let mut by_dossier: std::collections::HashMap<String, Vec<(Option<String>, PermitEvent)>> = Default::default();
    let mut report = AuditReport { dossiers: permits.len(), ..Default::default() };
    for f in &events {
        match domain::read::<PermitEvent>(f) {
            Ok(e) => by_dossier.entry(e.permit_id.clone()).or_default().push((Some(f.id.clone()), e)),
            Err(e) => report.broken.push(chain::BrokenLink {
                permit_id: f.text("permit_id").unwrap_or_default().to_string(),
                seq: f.integer("seq").unwrap_or(0),
                event_id: Some(f.id.clone()),
                error: chain::ChainError::HashMismatch {
                    stored: Some(format!("unreadable event: {e}")),
                    computed: String::new(),
                },
            }),
        }
    }
    for d in &permits {
        let Some(mut history) = by_dossier.remove(&d.id) else { continue };
        history.sort_by_key(|(_, e)| e.seq);
        report.chains += 1;
        match chain::verify_with_head(&d.id, d.text("stage").unwrap_or_default(), &history) {
            Ok(n) => report.links += n,
            Err(broken) => report.broken.push(broken),
        }
    }
    let mut orphans: Vec<String> = by_dossier.into_values().flatten().filter_map(|(id, _)| id).collect();
    orphans.sort();
    report.orphan_events = orphans;
    Ok(report)
}

async fn track_verify(State(state): State<AppState>, Path(code): Path<String>) -> Result<Json<Value>, PermitError> {
    let f = find_dossier(&state, &code).await?;
    let tracking = f.text("tracking_code").unwrap_or(&f.id).to_string();
    Ok(Json(match verify_dossier(state.store.as_ref(), &f).await? {
        Ok(n) => json!({ "tracking_code": tracking, "intact": true, "links": n }),
        Err(broken) => json!({
            "tracking_code": tracking, "intact": false, "message": broken.to_string(),
            "broken_at": { "seq": broken.seq, "event_id": broken.event_id, "problem": broken.error },
        }),
    }))
}

// ---------------------------------------------------------------------------------------------
// The API description, merged into /api by features.rs.

pub fn openapi_paths() -> Value {
    let error = json!({ "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let ok =
        |d: &str| json!({ "description": d, "content": { "application/json": { "schema": { "type": "object" } } } });
    let path_param = |name: &str, d: &str| json!({ "name": name, "in": "path", "required": true, "description": d, "schema": { "type": "string" } });
    let body = json!({ "required": true, "content": { "application/json": { "schema": { "type": "object" } } } });
    let secured = json!([{ "bearerAuth": [] }]);
    // Its applicant reads a dossier too, by tracking code and secret.
    let readers = json!([{ "bearerAuth": [] }, { "applicantBasic": [] }]);
    let mut paths = Map::new();
    paths.insert("/procedures".into(), json!({
        "get": { "summary": "the procedure catalogue", "operationId": "procedures_list", "responses": { "200": ok("the procedures") } },
        "post": { "summary": "add a procedure (admin)", "operationId": "procedures_create", "security": secured, "requestBody": body,
                  "responses": { "201": ok("the procedure"), "400": error, "401": error, "403": error, "409": error } },
    }));
    paths.insert("/procedures/{code}".into(), json!({
        "get": { "summary": "one procedure", "operationId": "procedures_get", "parameters": [path_param("code", "procedure code")],
                 "responses": { "200": ok("the procedure"), "404": error } },
        "put": { "summary": "replace a procedure (admin)", "operationId": "procedures_replace", "security": secured,
                 "parameters": [path_param("code", "procedure code")], "requestBody": body,
                 "responses": { "200": ok("the procedure"), "400": error, "401": error, "403": error, "404": error } },
    }));
    paths.insert("/dossiers".into(), json!({
        "post": { "summary": "file a dossier: procedure, parcels (cadastral codes) or a site geometry, proposal, channel, centre, applicant; returns the tracking code and a secret",
                  "operationId": "dossiers_intake", "requestBody": body,
                  "responses": { "201": ok("tracking code, secret, due date and parcel check"), "400": error, "401": error, "403": error, "422": error } },
    }));
    paths.insert("/dossiers/{id}".into(), json!({
        "get": { "summary": "a dossier for its applicant, its centre's reviewers (with personal data), planners and admins: data, history, clock, allowed transitions, parcel check", "operationId": "dossiers_get",
                 "security": readers.clone(), "parameters": [path_param("id", "dossier id or tracking code")],
                 "responses": { "200": ok("the dossier"), "401": error, "403": error, "404": error } },
    }));
    paths.insert("/dossiers/{id}/transitions".into(), json!({
        "post": { "summary": "move a dossier to another stage (`to`, `decision` for `decided`, `note`; `amount` for `payment_requested`, the procedure's fee by default)", "operationId": "dossiers_transition",
                  "security": secured, "parameters": [path_param("id", "dossier id or tracking code")], "requestBody": body,
                  "responses": { "200": ok("the new stage"), "400": error, "401": error, "403": error, "404": error,
                                 "409": ok("an illegal transition (with the current and the allowed stages) or a concurrent change") } },
    }));
    paths.insert("/dossiers/{id}/check".into(), json!({
        "get": { "summary": "the stored parcel check", "operationId": "dossiers_check_get", "security": readers,
                 "parameters": [path_param("id", "dossier id or tracking code")],
                 "responses": { "200": ok("the check"), "401": error, "403": error, "404": error } },
        "post": { "summary": "run the parcel check again and store it", "operationId": "dossiers_check_run", "security": secured,
                  "parameters": [path_param("id", "dossier id or tracking code")],
                  "responses": { "200": ok("the check"), "401": error, "403": error, "404": error, "409": error } },
    }));
    paths.insert("/track/{code}".into(), json!({
        "get": { "summary": "public tracking: procedure, stage history with dates, due date, centre; no personal data (HTML for a browser)",
                 "operationId": "track", "parameters": [path_param("code", "tracking code")],
                 "responses": { "200": ok("the dossier's public record"), "404": error } },
    }));
    paths.insert("/track/{code}/verify".into(), json!({
        "get": { "summary": "check the dossier's hash-chained history; names the first broken link", "operationId": "track_verify",
                 "parameters": [path_param("code", "tracking code")],
                 "responses": { "200": ok("intact, or the first broken link"), "404": error } },
    }));
    paths.insert("/track/{code}/rating".into(), json!({
        "post": { "summary": "the applicant rates the service 1 to 5, once the result is out (decided or delivered), once",
                  "operationId": "track_rating", "security": [{ "applicantBasic": [] }, { "bearerAuth": [] }],
                  "parameters": [path_param("code", "tracking code")],
                  "requestBody": { "required": true, "content": { "application/json": { "schema": {
                      "type": "object", "required": ["rating"],
                      "properties": { "rating": { "type": "integer", "minimum": 1, "maximum": 5 } } } } } },
                  "responses": { "200": ok("the rating kept"), "400": error, "401": error, "403": error, "404": error,
                                 "409": ok("before the result, or already rated") } },
    }));
    let answer = |op: &str, summary: &str, schema: Value| {
        json!({ "post": { "summary": summary, "operationId": op, "security": [{ "applicantBasic": [] }, { "bearerAuth": [] }],
            "parameters": [path_param("code", "tracking code")],
            "requestBody": { "required": op == "track_payment", "content": { "application/json": { "schema": schema } } },
            "responses": { "200": ok("the new stage, allowed transitions and clock"), "400": error, "401": error,
                           "403": error, "404": error,
                           "409": ok("the dossier is not waiting for this (with the current and the allowed stages)") } } })
    };
    paths.insert("/track/{code}/supplement".into(), answer("track_supplement",
        "the applicant says the documents asked for are supplied: supplement_requested → supplement_received; the clock runs again",
        json!({ "type": "object", "properties": { "note": { "type": "string", "maxLength": 4000 } } })));
    paths.insert("/track/{code}/payment".into(), answer("track_payment",
        "the applicant has paid what was asked, with the payment's reference: payment_requested → payment_received",
        json!({ "type": "object", "required": ["reference"], "properties": {
            "reference": { "type": "string", "minLength": 1, "maxLength": 200 }, "note": { "type": "string", "maxLength": 4000 } } })));
    Value::Object(paths)
}
