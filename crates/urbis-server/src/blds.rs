//! Every dossier, public, as BLDS (Building and Land Development Specification): the core permits
//! dataset in CSV and GeoJSON, and the status-change companion in CSV. Each record carries the
//! statutory clock as it stands now (stage status, due date, days used, SLA violation). No personal
//! data: the records are built from the dossier's public fields only (see
//! `urbis_core::permits::blds`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use chrono::Utc;
use geo::Centroid;
use serde_json::{json, Value};
use urbis_core::domain::{self, Dossier, PermitEvent, Procedure};
use urbis_core::permits::blds::{self, BldsRecord, BldsStatusChange, Jurisdiction, RecordContext};
use urbis_core::permits::clock::statutory_clock;
use urbis_core::LayerId;
use urbis_store::Query;

use crate::features::BaseUrl;
use crate::permits::{stage_history, PermitsConfig};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    routes_with(PermitsConfig::default())
}

pub fn routes_with(config: PermitsConfig) -> Router<AppState> {
    Router::new()
        .route("/permits/blds.csv", get(core_csv))
        .route("/permits/blds.geojson", get(core_geojson))
        .route("/permits/blds-status.csv", get(status_csv))
        .layer(Extension(Arc::new(config)))
}

type Config = Extension<Arc<PermitsConfig>>;

/// The jurisdiction of a calendar id such as `cambridge_ma`: the city's name, and the state or
/// region when the id ends with a two-letter code.
pub fn jurisdiction_of(id: &str) -> Jurisdiction {
    let (name, state) = match id.rsplit_once('_') {
        Some((name, st)) if st.len() == 2 && st.chars().all(|c| c.is_ascii_alphabetic()) => {
            (name, st.to_ascii_uppercase())
        }
        _ => (id, String::new()),
    };
    let city = name
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    Jurisdiction { id: id.to_string(), city, state }
}

/// Every dossier's record and status changes, in tracking-code order. Three reads of the store
/// (dossiers, events, procedures), whatever the number of dossiers.
async fn everything(
    state: &AppState,
    config: &PermitsConfig,
    base: &str,
) -> Result<Vec<(BldsRecord, Vec<BldsStatusChange>)>, ApiError> {
    let all = Query::all();
    let (dossiers, events, procedures) = tokio::try_join!(
        state.store.query(LayerId::Permits, &all),
        state.store.query(LayerId::PermitEvents, &all),
        state.store.query(LayerId::Procedures, &all),
    )?;
    let procedures: HashMap<String, Procedure> =
        procedures.iter().filter_map(|f| domain::read::<Procedure>(f).ok()).map(|p| (p.code.clone(), p)).collect();
    let mut history: HashMap<String, Vec<(Option<String>, PermitEvent)>> = HashMap::new();
    for f in &events {
        let e = domain::read::<PermitEvent>(f)
            .map_err(|e| ApiError::Internal(format!("event `{}` cannot be read: {e}", f.id)))?;
        history.entry(e.permit_id.clone()).or_default().push((Some(f.id.clone()), e));
    }
    let place = jurisdiction_of(config.calendar.city());
    let now = Utc::now();
    let mut out = Vec::with_capacity(dossiers.len());
    for f in &dossiers {
        let d: Dossier =
            domain::read(f).map_err(|e| ApiError::Internal(format!("dossier `{}` cannot be read: {e}", f.id)))?;
        let mut evs = history.remove(&f.id).unwrap_or_default();
        evs.sort_by_key(|(_, e)| e.seq);
        let procedure = procedures.get(&d.procedure_code);
        let clock = procedure.and_then(|p| {
            statutory_clock(&config.calendar, p.processing_days, &stage_history(&evs), now, config.policy).ok()
        });
        let plain: Vec<PermitEvent> = evs.into_iter().map(|(_, e)| e).collect();
        let point = f.geometry.as_ref().and_then(|g| g.centroid()).map(|p| (p.x(), p.y()));
        let link = format!("{base}/track/{}", d.tracking_code);
        let ctx = RecordContext {
            jurisdiction: &place,
            procedure,
            events: &plain,
            clock: clock.as_ref(),
            point,
            link: &link,
            calendar: &config.calendar,
        };
        out.push((blds::record(&d, &ctx), blds::status_changes(&d, &ctx)));
    }
    out.sort_by(|a, b| a.0.permit_num.cmp(&b.0.permit_num));
    Ok(out)
}

fn csv_body<T: serde::Serialize>(rows: impl IntoIterator<Item = T>) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(vec![]);
    for r in rows {
        w.serialize(r).map_err(|e| ApiError::Internal(format!("writing BLDS CSV: {e}")))?;
    }
    w.into_inner().map_err(|e| ApiError::Internal(format!("writing BLDS CSV: {e}")))
}

fn csv_response(name: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

async fn core_csv(
    State(state): State<AppState>,
    Extension(config): Config,
    BaseUrl(base): BaseUrl,
) -> Result<Response, ApiError> {
    let all = everything(&state, &config, &base).await?;
    Ok(csv_response("permits-blds.csv", csv_body(all.into_iter().map(|(r, _)| r))?))
}

async fn status_csv(
    State(state): State<AppState>,
    Extension(config): Config,
    BaseUrl(base): BaseUrl,
) -> Result<Response, ApiError> {
    let all = everything(&state, &config, &base).await?;
    Ok(csv_response("permits-blds-status.csv", csv_body(all.into_iter().flat_map(|(_, s)| s))?))
}

async fn core_geojson(
    State(state): State<AppState>,
    Extension(config): Config,
    BaseUrl(base): BaseUrl,
) -> Result<Response, ApiError> {
    let all = everything(&state, &config, &base).await?;
    let features: Vec<Value> = all
        .into_iter()
        .map(|(r, _)| {
            let geometry = match (r.longitude, r.latitude) {
                (Some(x), Some(y)) => json!({ "type": "Point", "coordinates": [x, y] }),
                _ => Value::Null,
            };
            json!({ "type": "Feature", "id": r.permit_num, "geometry": geometry, "properties": r })
        })
        .collect();
    let body = json!({ "type": "FeatureCollection", "features": features });
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], body.to_string()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jurisdictions_from_calendar_ids() {
        let j = jurisdiction_of("cambridge_ma");
        assert_eq!((j.city.as_str(), j.state.as_str()), ("Cambridge", "MA"));
        let j = jurisdiction_of("ho_chi_minh_city");
        assert_eq!((j.city.as_str(), j.state.as_str()), ("Ho Chi Minh City", ""));
        assert_eq!(jurisdiction_of("hanoi").city, "Hanoi");
    }
}
