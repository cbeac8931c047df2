//! The parcel report: everything a reviewer or a resident asks of one parcel, in one answer —
//! its area, the zoning district(s) with their limits and uses and the share of the parcel in
//! each, the overlays over it, the roads it fronts, the utilities near it and the protection
//! zones it crosses, the permits on it, and the nearest service centre.

use axum::extract::{Path, Query as UrlQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use urbis_core::geodesy::area_m2;
use urbis_core::permits::check::{polygons, share_of_site_of_area};
use urbis_core::permits::Stage;
use urbis_core::{Feature, LayerId};
use urbis_store::{AttributeFilter, Comparison, Query};

use crate::features::feature_json;
use crate::{ApiError, AppState};

/// Roads within this distance of a parcel's boundary are the roads it fronts.
const FRONTAGE_M: f64 = 15.0;
const DEFAULT_UTILITIES_M: f64 = 30.0;

pub fn routes() -> Router<AppState> {
    Router::new().route("/parcels/{id}/report", get(report))
}

#[derive(Debug, Deserialize)]
struct ReportParams {
    /// How far to look for utilities, metres (default 30).
    utilities_m: Option<String>,
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

/// The parcel by id, or else by cadastral code.
async fn find_parcel(state: &AppState, key: &str) -> Result<Feature, ApiError> {
    if let Some(f) = state.store.get(LayerId::Parcels, key).await? {
        return Ok(f);
    }
    let by_code = Query::all().filter(AttributeFilter::new("code", Comparison::Eq, key)).limit(2);
    let mut found = state.store.query(LayerId::Parcels, &by_code).await?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ApiError::NotFound(format!("no parcel has the id or cadastral code `{key}`"))),
        _ => Err(ApiError::NotFound(format!(
            "several parcels have the cadastral code `{key}`; ask by id (see /collections/parcels/items?…)"
        ))),
    }
}

async fn report(
    State(state): State<AppState>,
    Path(key): Path<String>,
    UrlQuery(params): UrlQuery<ReportParams>,
) -> Result<Json<Value>, ApiError> {
    let utilities_m = match params.utilities_m.as_deref() {
        None => DEFAULT_UTILITIES_M,
        Some(t) => match t.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && (0.0..=1000.0).contains(&v) => v,
            _ => {
                return Err(ApiError::BadParameter {
                    parameter: "utilities_m",
                    message: format!("`{t}` is not a distance in metres from 0 to 1000"),
                })
            }
        },
    };
    let parcel = find_parcel(&state, &key).await?;
    let Some(shape) = parcel.geometry.clone() else {
        return Err(ApiError::NotFound(format!("parcel `{}` has no geometry to report on", parcel.id)));
    };
    let store = &state.store;
    let area = area_m2(&shape);
    let site = polygons(&shape);

    // Every question to the store at once: on PostGIS they run on several connections.
    let centroid = geo::Centroid::centroid(&shape);
    let (districts, overlays_found, roads_found, utilities_found, permits_found, centre_found) = tokio::try_join!(
        store.intersects(LayerId::ZoningDistricts, &shape, Some(20)),
        store.intersects(LayerId::ZoningOverlays, &shape, Some(50)),
        store.within_distance(LayerId::Roads, &shape, FRONTAGE_M, Some(20)),
        store.within_distance(LayerId::Utilities, &shape, utilities_m, Some(200)),
        store.intersects(LayerId::Permits, &shape, Some(500)),
        async {
            match centroid {
                Some(c) => store.nearest(LayerId::ServiceCentres, c, 1).await,
                None => Ok(vec![]),
            }
        },
    )?;

    // Zoning: each district over the parcel, with the share of the parcel inside it (the same
    // measure the permits' parcel check uses).
    let mut zoning = vec![];
    for district in districts {
        let share = district.geometry.as_ref().map(|g| share_of_site_of_area(&site, area, g)).unwrap_or(0.0);
        // A district that only touches the boundary does not zone the parcel.
        if share > urbis_core::permits::check::MIN_SHARE {
            let mut f = feature_json(LayerId::ZoningDistricts, &district);
            f["share"] = json!(round(share.min(1.0), 3));
            f["geometry"] = Value::Null;
            zoning.push(f);
        }
    }
    zoning.sort_by(|a, b| b["share"].as_f64().partial_cmp(&a["share"].as_f64()).unwrap_or(std::cmp::Ordering::Equal));

    let overlays: Vec<Value> = overlays_found
        .iter()
        .map(|f| {
            let mut j = feature_json(LayerId::ZoningOverlays, f);
            j["geometry"] = Value::Null;
            j
        })
        .collect();

    let near = |layer: LayerId, found: Vec<urbis_store::Near>| -> Vec<Value> {
        found
            .iter()
            .map(|n| {
                let mut j = feature_json(layer, &n.feature);
                j["distance_m"] = json!(round(n.distance_m, 1));
                j["geometry"] = Value::Null;
                j
            })
            .collect()
    };
    let roads = near(LayerId::Roads, roads_found);
    // A protection zone is crossed when the parcel lies within the utility's protection width.
    let protection: Vec<Value> = utilities_found
        .iter()
        .filter(|n| n.feature.real("protection_m").is_some_and(|w| n.distance_m <= w))
        .map(|n| {
            json!({
                "utility": n.feature.id,
                "network": n.feature.text("network"),
                "kind": n.feature.text("kind"),
                "protection_m": n.feature.real("protection_m"),
                "distance_m": round(n.distance_m, 1),
            })
        })
        .collect();
    let utilities = near(LayerId::Utilities, utilities_found);

    // Permits on the parcel: by its code, or by a site that falls on it.
    let code = parcel.text("code").unwrap_or_default().to_string();
    let mut permits: Vec<Value> = permits_found
        .iter()
        .filter(|p| {
            let codes = p.get("parcel_codes").and_then(Value::as_array);
            codes.is_none_or(|c| c.is_empty() || c.iter().any(|v| v.as_str() == Some(code.as_str())))
        })
        .map(|p| {
            let mut j = feature_json(LayerId::Permits, p);
            // A fee paid after the decision does not reopen it.
            let decided = p.text("decision").is_some();
            let open = p.text("stage").and_then(|s| s.parse::<Stage>().ok()).is_some_and(|s| s.is_open_when(decided));
            j["open"] = json!(open);
            j
        })
        .collect();
    permits.sort_by(|a, b| {
        let key = |v: &Value| v["properties"]["received_at"].as_str().unwrap_or("").to_string();
        key(b).cmp(&key(a))
    });

    let centre = near(LayerId::ServiceCentres, centre_found).pop();

    let mut parcel_json = feature_json(LayerId::Parcels, &parcel);
    parcel_json["properties"]["area_m2"] = json!(round(area, 1));
    Ok(Json(json!({
        "parcel": parcel_json,
        "area_m2": round(area, 1),
        "zoning_districts": zoning,
        "zoning_overlays": overlays,
        "fronts_roads": roads,
        "utilities": { "within_m": utilities_m, "features": utilities },
        "protection_zones_crossed": protection,
        "permits": permits,
        "nearest_service_centre": centre,
    })))
}
