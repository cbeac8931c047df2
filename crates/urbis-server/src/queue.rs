//! The reviewers' queue (issue 5, part 11): `GET /dossiers`, the open dossiers most urgent first
//! (overdue, then at risk, then on time, each by due date), each with its statutory clock read by
//! the same code as the dashboard (`urbis_core::permits::dashboard::dossier_clock`),
//! filtered by centre, procedure, clock status and stage, and paged. The list holds no personal
//! data: the applicant is shown only on the dossier's own page, to the roles that may see it.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Query as UrlQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Value};
use urbis_core::domain::{self, PermitEvent, Procedure};
use urbis_core::permits::dashboard::{dossier_clock, DossierFacts};
use urbis_core::permits::{ClockStatus, Stage};
use urbis_core::{Feature, LayerId};
use urbis_store::{AttributeFilter, Comparison, Query, Store};

use crate::auth::{Principal, Role};
use crate::features::BaseUrl;
use crate::permits::{due_instant, parse_instant, stage_history, PermitsConfig};
use crate::{ApiError, AppState};

/// The parameters `GET /dossiers` takes.
const PARAMETERS: [&str; 7] = ["centre", "procedure", "status", "stage", "limit", "offset", "at"];
/// Dossiers per page unless `limit` says otherwise, and the most one page may hold.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// Most values one list parameter (`centre=a,b,…`) may hold.
const MAX_VALUES: usize = 100;

pub fn routes() -> Router<AppState> {
    Router::new().route("/dossiers", get(queue))
}

/// A clock status's colour on the reviewers' pages and the dashboard.
pub fn colour(status: ClockStatus) -> &'static str {
    match status {
        ClockStatus::OnTime => "green",
        ClockStatus::AtRisk => "yellow",
        ClockStatus::Overdue => "red",
    }
}

/// Most urgent first.
fn urgency(status: Option<ClockStatus>) -> u8 {
    match status {
        Some(ClockStatus::Overdue) => 0,
        Some(ClockStatus::AtRisk) => 1,
        Some(ClockStatus::OnTime) => 2,
        // No clock (an unknown procedure, a history without a receipt): after every clocked one.
        None => 3,
    }
}

/// What the queue was asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueRequest {
    pub centres: BTreeSet<String>,
    pub procedures: BTreeSet<String>,
    pub statuses: BTreeSet<&'static str>,
    pub stages: BTreeSet<Stage>,
    pub limit: usize,
    pub offset: usize,
    pub at: Option<DateTime<Utc>>,
}

fn bad(parameter: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::BadParameter { parameter, message: message.into() }
}

/// `a,b,c` as a set; empty values are refused.
fn list(params: &HashMap<String, String>, name: &'static str) -> Result<BTreeSet<String>, ApiError> {
    let Some(raw) = params.get(name) else { return Ok(BTreeSet::new()) };
    let values: Vec<&str> = raw.split(',').map(str::trim).collect();
    if values.iter().any(|v| v.is_empty()) {
        return Err(bad(name, format!("`{raw}` holds an empty value; give one or more values separated by commas")));
    }
    if values.len() > MAX_VALUES {
        return Err(bad(name, format!("{} values; at most {MAX_VALUES}", values.len())));
    }
    Ok(values.into_iter().map(str::to_string).collect())
}

fn count(params: &HashMap<String, String>, name: &'static str, default: usize, max: usize) -> Result<usize, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if n <= max && (name != "limit" || n > 0) => Ok(n),
            _ if name == "limit" => Err(bad(name, format!("`{s}` is not a whole number from 1 to {max}"))),
            _ => Err(bad(name, format!("`{s}` is not a whole number from 0 to {max}"))),
        },
    }
}

/// Reads the query string (the centres and procedures named are checked against the store later).
pub fn parse_request(params: &HashMap<String, String>) -> Result<QueueRequest, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(ApiError::BadQuery {
            parameter: unknown.clone(),
            message: format!("unknown parameter; the parameters are {}", PARAMETERS.join(", ")),
        });
    }
    let mut statuses = BTreeSet::new();
    for s in list(params, "status")? {
        let known = [ClockStatus::OnTime, ClockStatus::AtRisk, ClockStatus::Overdue]
            .into_iter()
            .find(|c| c.name() == s || colour(*c) == s)
            .ok_or_else(|| {
                bad("status", format!("`{s}` is not a status; the statuses are on_time, at_risk, overdue"))
            })?;
        statuses.insert(known.name());
    }
    let mut stages = BTreeSet::new();
    for s in list(params, "stage")? {
        let stage: Stage =
            s.parse().map_err(|e: urbis_core::permits::stage::UnknownName| bad("stage", e.to_string()))?;
        if !stage.is_open() {
            let open: Vec<&str> = Stage::ALL.iter().filter(|s| s.is_open()).map(|s| s.name()).collect();
            return Err(bad(
                "stage",
                format!("`{s}` is not an open stage; the queue holds open dossiers: {}", open.join(", ")),
            ));
        }
        stages.insert(stage);
    }
    let at = match params.get("at") {
        None => None,
        Some(s) => Some(parse_instant(s.trim()).ok_or_else(|| bad("at", format!("`{s}` is not an RFC 3339 instant")))?),
    };
    Ok(QueueRequest {
        centres: list(params, "centre")?,
        procedures: list(params, "procedure")?,
        statuses,
        stages,
        limit: count(params, "limit", DEFAULT_LIMIT, MAX_LIMIT)?,
        offset: count(params, "offset", 0, usize::MAX / 2)?,
        at,
    })
}

/// One open dossier in the queue: what a reviewer needs to pick it, nothing personal.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueEntry {
    pub id: String,
    pub tracking_code: String,
    pub procedure_code: String,
    pub procedure_name: Option<String>,
    pub stage: String,
    pub centre_id: Option<String>,
    pub centre_name: Option<String>,
    pub parcel_codes: Vec<String>,
    pub channel: Option<String>,
    pub received_at: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub due_at: Option<String>,
    pub days_left: Option<i64>,
    pub paused: bool,
    pub status: Option<&'static str>,
    pub colour: Option<&'static str>,
    #[serde(skip)]
    urgency: u8,
}

/// The queue for a request: the matching open dossiers in order, and how many matched in all.
pub async fn compute(
    store: &dyn Store,
    config: &PermitsConfig,
    request: &QueueRequest,
    now: DateTime<Utc>,
) -> Result<(Vec<QueueEntry>, usize), ApiError> {
    // Closed dossiers are left out by the store; the other filters are cheap in memory.
    let mut open = Query::all();
    for s in Stage::ALL.iter().filter(|s| !s.is_open()) {
        open = open.filter(AttributeFilter::new("stage", Comparison::Ne, s.name()));
    }
    let all = Query::all();
    let (permits, events, procedures, centres) = tokio::try_join!(
        store.query(LayerId::Permits, &open),
        store.query(LayerId::PermitEvents, &all),
        store.query(LayerId::Procedures, &all),
        store.query(LayerId::ServiceCentres, &all),
    )?;
    let centre_names: HashMap<&str, Option<&str>> = centres.iter().map(|c| (c.id.as_str(), c.text("name"))).collect();
    if let Some(c) = request.centres.iter().find(|c| !centre_names.contains_key(c.as_str())) {
        return Err(bad("centre", format!("no service centre has the id `{c}`")));
    }
    let mut catalogue: HashMap<String, Procedure> = HashMap::new();
    for f in &procedures {
        if let Ok(p) = domain::read::<Procedure>(f) {
            catalogue.insert(f.id.clone(), p.clone());
            catalogue.insert(p.code.clone(), p);
        }
    }
    if let Some(p) = request.procedures.iter().find(|p| !catalogue.contains_key(p.as_str())) {
        return Err(bad("procedure", format!("no procedure has the code `{p}`")));
    }
    let selected: Vec<&Feature> = permits
        .iter()
        .filter(|f| f.text("stage").and_then(|s| s.parse::<Stage>().ok()).is_some_and(Stage::is_open))
        // Paying a fee after the decision: decided, not in the queue.
        .filter(|f| f.text("decision").is_none())
        .filter(|f| request.centres.is_empty() || f.text("centre_id").is_some_and(|c| request.centres.contains(c)))
        .filter(|f| {
            request.procedures.is_empty() || f.text("procedure_code").is_some_and(|p| request.procedures.contains(p))
        })
        .filter(|f| {
            request.stages.is_empty()
                || f.text("stage").and_then(|s| s.parse().ok()).is_some_and(|s| request.stages.contains(&s))
        })
        .collect();
    let wanted: BTreeSet<&str> = selected.iter().map(|f| f.id.as_str()).collect();
    let mut by_dossier: HashMap<&str, Vec<(Option<String>, PermitEvent)>> = HashMap::new();
    for f in &events {
        let Some(permit_id) = f.text("permit_id").filter(|p| wanted.contains(p)) else { continue };
        let event = PermitEvent {
            seq: f.integer("seq").unwrap_or(0),
            at: f.text("at").unwrap_or_default().to_string(),
            stage: f.text("stage").map(str::to_string),
            ..Default::default()
        };
        by_dossier.entry(permit_id).or_default().push((None, event));
    }
    let mut entries: Vec<QueueEntry> = Vec::with_capacity(selected.len());
    for f in selected {
        let procedure_code = f.text("procedure_code").unwrap_or_default().to_string();
        let procedure = catalogue.get(&procedure_code);
        let history = match by_dossier.get_mut(f.id.as_str()) {
            Some(list) => {
                list.sort_by_key(|(_, e)| e.seq);
                stage_history(list)
            }
            None => vec![],
        };
        // The dashboard's reading of the clock (its history up to `now`), for one dossier.
        let facts = f.text("received_at").and_then(parse_instant).map(|received| DossierFacts {
            centre_id: f.text("centre_id").map(str::to_string),
            online: f.text("channel") == Some("online"),
            received,
            decided: f.text("decided_at").and_then(parse_instant),
            satisfaction: None,
            processing_days: procedure.map(|p| p.processing_days),
            history,
        });
        let clock = facts.and_then(|d| dossier_clock(&d, &config.calendar, config.policy, now));
        let status = clock.as_ref().map(|c| c.status);
        if !request.statuses.is_empty() && !status.is_some_and(|s| request.statuses.contains(s.name())) {
            continue;
        }
        let centre_id = f.text("centre_id").map(str::to_string);
        entries.push(QueueEntry {
            id: f.id.clone(),
            tracking_code: f.text("tracking_code").unwrap_or(&f.id).to_string(),
            procedure_name: procedure.map(|p| p.name.clone()),
            procedure_code,
            stage: f.text("stage").unwrap_or_default().to_string(),
            centre_name: centre_id.as_deref().and_then(|c| centre_names.get(c).copied().flatten()).map(str::to_string),
            centre_id,
            parcel_codes: f
                .get("parcel_codes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            channel: f.text("channel").map(str::to_string),
            received_at: f.text("received_at").map(str::to_string),
            due_date: clock.as_ref().map(|c| c.due),
            due_at: clock.as_ref().map(|c| due_instant(config, c.due)),
            days_left: clock.as_ref().map(|c| c.days_left),
            paused: clock.as_ref().is_some_and(|c| c.paused),
            status: status.map(ClockStatus::name),
            colour: status.map(colour),
            urgency: urgency(status),
        });
    }
    entries.sort_by(|a, b| {
        let key = |e: &QueueEntry| (e.urgency, e.due_date, e.received_at.clone());
        key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
    });
    let total = entries.len();
    let page: Vec<QueueEntry> = entries.into_iter().skip(request.offset).take(request.limit).collect();
    Ok((page, total))
}

/// The query string of a page of the same request.
fn page_query(params: &HashMap<String, String>, offset: usize) -> String {
    let mut pairs: Vec<(&str, String)> =
        params.iter().filter(|(k, _)| k.as_str() != "offset").map(|(k, v)| (k.as_str(), v.clone())).collect();
    pairs.push(("offset", offset.to_string()));
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A reviewer's queue is that of their centres: by default, and any other centre asked for is
/// refused (403). The policy table (`policy.rs`) lets only reviewers and admins here.
fn centres_for(who: &Principal, request: &mut QueueRequest) -> Result<(), ApiError> {
    if who.role != Role::Reviewer {
        return Ok(());
    }
    if request.centres.is_empty() {
        request.centres = who.centres.iter().cloned().collect();
    }
    if let Some(c) = request.centres.iter().find(|c| !who.centres.contains(c)) {
        return Err(ApiError::Forbidden(format!(
            "centre `{c}` is not one of yours; your centres are {}",
            who.centres.join(", ")
        )));
    }
    Ok(())
}

async fn queue(
    State(state): State<AppState>,
    who: Principal,
    BaseUrl(base): BaseUrl,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut request = parse_request(&params)?;
    centres_for(&who, &mut request)?;
    let config = PermitsConfig::default();
    let now = request.at.unwrap_or_else(Utc::now);
    let (page, total) = compute(state.store.as_ref(), &config, &request, now).await?;
    let mut links =
        vec![json!({ "rel": "self", "href": format!("{base}/dossiers?{}", page_query(&params, request.offset)) })];
    if request.offset + page.len() < total {
        let next = request.offset + request.limit;
        links.push(json!({ "rel": "next", "href": format!("{base}/dossiers?{}", page_query(&params, next)) }));
    }
    if request.offset > 0 {
        let prev = request.offset.saturating_sub(request.limit);
        links.push(json!({ "rel": "prev", "href": format!("{base}/dossiers?{}", page_query(&params, prev)) }));
    }
    Ok(Json(json!({
        "at": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "total": total,
        "limit": request.limit,
        "offset": request.offset,
        "returned": page.len(),
        "dossiers": page,
        "links": links,
    })))
}

/// `GET /dossiers` for the API description (merged into /api by features.rs).
pub fn openapi_paths() -> Value {
    let error = json!({ "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let list = |name: &str, d: &str| json!({ "name": name, "in": "query", "required": false, "description": d, "schema": { "type": "string" } });
    let number = |name: &str, d: &str, min: usize, max: usize| {
        json!({ "name": name, "in": "query", "required": false, "description": d,
        "schema": { "type": "integer", "minimum": min, "maximum": max } })
    };
    let mut at = list("at", "the instant to read the clocks at (RFC 3339); now by default");
    at["schema"]["format"] = json!("date-time");
    json!({ "/dossiers": { "get": {
        "summary": "the reviewers' queue: open dossiers most urgent first (overdue, at risk, on time; each by due date), no personal data",
        "operationId": "dossiers_queue",
        "security": [{ "bearerAuth": [] }],
        "parameters": [
            list("centre", "service centre ids, comma separated (a reviewer: theirs by default, no other)"),
            list("procedure", "procedure codes, comma separated"),
            list("status", "clock statuses, comma separated: on_time, at_risk, overdue (or green, yellow, red)"),
            list(
                "stage",
                "open stages, comma separated: received, in_review, supplement_requested, supplement_received, payment_requested, payment_received",
            ),
            number("limit", "dossiers per page (default 50)", 1, MAX_LIMIT),
            number("offset", "dossiers to skip", 0, usize::MAX / 2),
            at,
        ],
        "responses": {
            "200": { "description": "a page of the queue, with its total and next/prev links",
                     "content": { "application/json": { "schema": { "type": "object" } } } },
            "400": error, "401": error, "403": error,
        },
    } } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> HashMap<String, String> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parameters_are_read_and_bad_ones_named() {
        let r = parse_request(&params(&[("centre", "a, b"), ("status", "red,at_risk"), ("limit", "5")])).unwrap();
        assert_eq!(r.centres, ["a".to_string(), "b".to_string()].into_iter().collect());
        assert_eq!(r.statuses, ["overdue", "at_risk"].into_iter().collect());
        assert_eq!((r.limit, r.offset), (5, 0));
        for (q, parameter) in [
            (("limit", "0"), "limit"),
            (("limit", "1001"), "limit"),
            (("offset", "-1"), "offset"),
            (("status", "late"), "status"),
            (("stage", "decided"), "stage"),
            (("stage", "nowhere"), "stage"),
            (("centre", "a,,b"), "centre"),
            (("at", "noon"), "at"),
            (("colour", "red"), "colour"),
        ] {
            let e = parse_request(&params(&[q])).unwrap_err();
            let named = match &e {
                ApiError::BadParameter { parameter, .. } => parameter.to_string(),
                ApiError::BadQuery { parameter, .. } => parameter.clone(),
                other => panic!("{other:?}"),
            };
            assert_eq!(named, parameter, "{q:?}: {e}");
        }
    }

    #[test]
    fn next_links_keep_the_request() {
        let q = page_query(&params(&[("centre", "osc a"), ("offset", "3"), ("limit", "2")]), 5);
        assert_eq!(q, "centre=osc%20a&limit=2&offset=5");
    }
}
