//! The service centres' dashboard over HTTP (issue 5, part 8): `GET /dashboard` (JSON) and
//! `GET /dashboard/centres.geojson` (the centres in their colours, for the map), for a period
//! `[from, to)` of the city's dates. The figures are computed by `urbis_core::permits::dashboard`
//! from the store read once per layer (dossiers, events, procedures, centres), events grouped by
//! dossier in memory. Public figures only: counts, shares and days, never a dossier's applicant.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Query as UrlQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use geo_types::Geometry;
use serde_json::{json, Value};
use urbis_core::domain::{self, PermitEvent, Procedure};
use urbis_core::permits::dashboard::{self as board, Dashboard, DossierFacts, Figures, Thresholds};
use urbis_core::permits::ClockPolicy;
use urbis_core::{Feature, LayerId};
use urbis_store::{Query, Store, StoreError};

use crate::permits::{parse_instant, stage_history, PermitsConfig};
use crate::{ApiError, AppState};

/// The parameters both routes take.
const PARAMETERS: [&str; 6] = ["from", "to", "at", "at_risk_share", "green", "yellow"];
/// Longest period one request may ask for (a decade and a bit).
const MAX_PERIOD_DAYS: i64 = 3700;

pub fn routes() -> Router<AppState> {
    Router::new().route("/dashboard", get(dashboard_json)).route("/dashboard/centres.geojson", get(centres_geojson))
}

/// A service centre as the dashboard shows it.
#[derive(Debug, Clone)]
pub struct Centre {
    pub id: String,
    pub name: Option<String>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
}

/// What was asked: the period, "now", the thresholds.
#[derive(Debug, Clone)]
pub struct Request {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub now: DateTime<Utc>,
    pub policy: ClockPolicy,
    pub thresholds: Thresholds,
}

impl Request {
    pub fn options(&self) -> board::Options {
        board::Options { from: self.from, to: self.to, now: self.now, policy: self.policy, thresholds: self.thresholds }
    }
}

fn bad(parameter: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::BadParameter { parameter, message: message.into() }
}

fn share_param(params: &HashMap<String, String>, name: &'static str, default: f64) -> Result<f64, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(s) => match s.trim().parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
            _ => Err(bad(name, format!("`{s}` is not a share from 0 to 1 (0.98 for 98%)"))),
        },
    }
}

fn date_param(params: &HashMap<String, String>, name: &'static str) -> Result<Option<NaiveDate>, ApiError> {
    params
        .get(name)
        .map(|s| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|e| bad(name, format!("`{s}` is not a date YYYY-MM-DD: {e}")))
        })
        .transpose()
}

/// Reads the query string. Defaults: the 30 days up to and including today (the city's date),
/// now, at risk under 25% of the time left, green from 98% on time, yellow from 90%.
pub fn parse_request(params: &HashMap<String, String>, config: &PermitsConfig) -> Result<Request, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(ApiError::BadQuery {
            parameter: unknown.clone(),
            message: format!("unknown parameter; the parameters are {}", PARAMETERS.join(", ")),
        });
    }
    let now = match params.get("at") {
        None => Utc::now(),
        Some(s) => parse_instant(s).ok_or_else(|| bad("at", format!("`{s}` is not an RFC 3339 instant")))?,
    };
    let to = date_param(params, "to")?.unwrap_or_else(|| config.calendar.local_date(now) + Duration::days(1));
    let from = date_param(params, "from")?.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(bad(
            "to",
            format!("the period is empty: `to` ({to}) must come after `from` ({from}); `to` is excluded"),
        ));
    }
    if (to - from).num_days() > MAX_PERIOD_DAYS {
        return Err(bad("from", format!("a period of {} days; at most {MAX_PERIOD_DAYS}", (to - from).num_days())));
    }
    let defaults = Thresholds::default();
    let green = share_param(params, "green", defaults.green)?;
    let yellow = share_param(params, "yellow", defaults.yellow)?;
    if yellow > green {
        return Err(bad("yellow", format!("yellow ({yellow}) may not be above green ({green})")));
    }
    let thresholds = Thresholds::new(green, yellow).map_err(|e| bad("green", e.to_string()))?;
    let at_risk_share = share_param(params, "at_risk_share", config.policy.at_risk_share)?;
    Ok(Request { from, to, now, policy: ClockPolicy { at_risk_share }, thresholds })
}

fn is_one_stop(f: &Feature) -> bool {
    match f.get("one_stop") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

fn centre_of(f: &Feature) -> Centre {
    let (lon, lat) = match &f.geometry {
        Some(Geometry::Point(p)) => (Some(p.x()), Some(p.y())),
        _ => (None, None),
    };
    Centre { id: f.id.clone(), name: f.text("name").map(str::to_string), lon, lat }
}

/// Each procedure's processing days, by its id and by its code.
pub(crate) fn processing_days(procedures: &[Feature]) -> HashMap<String, i64> {
    let mut days: HashMap<String, i64> = HashMap::new();
    for f in procedures {
        if let Ok(p) = domain::read::<Procedure>(f) {
            days.insert(f.id.clone(), p.processing_days);
            days.insert(p.code, p.processing_days);
        }
    }
    days
}

/// An event with only the fields the clock needs, read straight from its feature.
pub(crate) fn clock_event(f: &Feature) -> PermitEvent {
    PermitEvent {
        seq: f.integer("seq").unwrap_or(0),
        at: f.text("at").unwrap_or_default().to_string(),
        stage: f.text("stage").map(str::to_string),
        ..Default::default()
    }
}

/// What the dashboard needs of a dossier, from its feature and its events in order; `None`
/// without a time of receipt.
pub(crate) fn facts_of(
    f: &Feature,
    events: &[(Option<String>, PermitEvent)],
    days: &HashMap<String, i64>,
) -> Option<DossierFacts> {
    let received = f.text("received_at").and_then(parse_instant)?;
    Some(DossierFacts {
        centre_id: f.text("centre_id").map(str::to_string),
        online: f.text("channel") == Some("online"),
        received,
        decided: f.text("decided_at").and_then(parse_instant),
        satisfaction: f.integer("satisfaction"),
        processing_days: f.text("procedure_code").and_then(|c| days.get(c).copied()),
        history: if events.is_empty() { vec![] } else { stage_history(events) },
    })
}

/// The dossiers' facts and the centres, read with one query per layer. The centres are the
/// one-stop ones and any other a dossier names, by id.
pub async fn load(store: &dyn Store) -> Result<(Vec<Centre>, Vec<DossierFacts>), StoreError> {
    let all = Query::all();
    let (permits, events, procedures, centres) = tokio::try_join!(
        store.query(LayerId::Permits, &all),
        store.query(LayerId::PermitEvents, &all),
        store.query(LayerId::Procedures, &all),
        store.query(LayerId::ServiceCentres, &all),
    )?;
    let days = processing_days(&procedures);
    // Events by dossier: only the fields the clock needs, read straight from the features.
    let mut by_dossier: HashMap<&str, Vec<(Option<String>, PermitEvent)>> = HashMap::new();
    for f in &events {
        let Some(permit_id) = f.text("permit_id") else { continue };
        by_dossier.entry(permit_id).or_default().push((None, clock_event(f)));
    }
    let mut referenced: BTreeSet<&str> = BTreeSet::new();
    let mut facts = Vec::with_capacity(permits.len());
    for f in &permits {
        let events = match by_dossier.get_mut(f.id.as_str()) {
            Some(list) => {
                list.sort_by_key(|(_, e)| e.seq);
                list.as_slice()
            }
            None => &[],
        };
        let Some(d) = facts_of(f, events, &days) else { continue };
        if let Some(c) = f.text("centre_id") {
            referenced.insert(c);
        }
        facts.push(d);
    }
    let mut listed: Vec<Centre> =
        centres.iter().filter(|c| is_one_stop(c) || referenced.contains(c.id.as_str())).map(centre_of).collect();
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((listed, facts))
}

/// The dashboard of the store for a request.
pub async fn compute(
    store: &dyn Store,
    config: &PermitsConfig,
    request: &Request,
) -> Result<(Vec<Centre>, Dashboard), ApiError> {
    let (centres, facts) = load(store).await?;
    let ids: Vec<String> = centres.iter().map(|c| c.id.clone()).collect();
    let started = std::time::Instant::now();
    let d =
        board::dashboard(&config.calendar, &request.options(), &ids, &facts).map_err(|e| bad("from", e.to_string()))?;
    tracing::debug!(dossiers = facts.len(), elapsed_ms = started.elapsed().as_millis() as u64, "dashboard computed");
    Ok((centres, d))
}

fn figures_json(f: &Figures) -> Value {
    json!(f)
}

fn period_json(config: &PermitsConfig, r: &Request) -> Value {
    json!({
        "from": r.from, "to": r.to, "to_excluded": true,
        "at": r.now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "calendar": config.calendar.city(),
    })
}

fn thresholds_json(r: &Request) -> Value {
    json!({ "green": r.thresholds.green, "yellow": r.thresholds.yellow, "at_risk_share": r.policy.at_risk_share })
}

/// The JSON of `GET /dashboard`.
pub fn to_json(config: &PermitsConfig, r: &Request, centres: &[Centre], d: &Dashboard) -> Value {
    let list: Vec<Value> = centres
        .iter()
        .zip(&d.centres)
        .map(|(c, f)| {
            json!({ "id": c.id, "name": c.name, "lon": c.lon, "lat": c.lat, "colour": f.figures.colour,
                    "figures": figures_json(&f.figures) })
        })
        .collect();
    json!({
        "period": period_json(config, r),
        "thresholds": thresholds_json(r),
        "overall": figures_json(&d.overall),
        "centres": list,
        "dossiers_of_other_centres": d.dossiers_of_other_centres,
        "histories_without_clock": d.broken_histories,
    })
}

/// The centres as a GeoJSON FeatureCollection, each with its colour and figures.
pub fn to_geojson(config: &PermitsConfig, r: &Request, centres: &[Centre], d: &Dashboard) -> Value {
    let features: Vec<Value> = centres
        .iter()
        .zip(&d.centres)
        .map(|(c, f)| {
            let geometry = match (c.lon, c.lat) {
                (Some(x), Some(y)) => json!({ "type": "Point", "coordinates": [x, y] }),
                _ => Value::Null,
            };
            let mut properties = json!(f.figures);
            if let Some(m) = properties.as_object_mut() {
                m.insert("name".into(), json!(c.name));
                m.insert("colour".into(), json!(f.figures.colour));
            }
            json!({ "type": "Feature", "id": c.id, "geometry": geometry, "properties": properties })
        })
        .collect();
    json!({
        "type": "FeatureCollection",
        "period": period_json(config, r),
        "thresholds": thresholds_json(r),
        "features": features,
    })
}

type Params = UrlQuery<HashMap<String, String>>;

async fn dashboard_json(State(state): State<AppState>, UrlQuery(params): Params) -> Result<Json<Value>, ApiError> {
    let config = PermitsConfig::default();
    let r = parse_request(&params, &config)?;
    let (centres, d) = compute(state.store.as_ref(), &config, &r).await?;
    Ok(Json(to_json(&config, &r, &centres, &d)))
}

async fn centres_geojson(State(state): State<AppState>, UrlQuery(params): Params) -> Result<Response, ApiError> {
    let config = PermitsConfig::default();
    let r = parse_request(&params, &config)?;
    let (centres, d) = compute(state.store.as_ref(), &config, &r).await?;
    let body = to_geojson(&config, &r, &centres, &d);
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], Json(body)).into_response())
}
