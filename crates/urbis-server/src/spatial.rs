//! Plain JSON answers to "what is here?": the parcel at a point, the zoning district and the
//! overlays over it, the nearest road and the nearest service centre, with distances in metres.

use axum::extract::{Query as UrlQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use geo_types::{Geometry, Point};
use serde::Deserialize;
use serde_json::{json, Value};
use urbis_core::LayerId;

use crate::features::feature_json;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/query/at", get(at))
}

#[derive(Debug, Deserialize)]
struct AtParams {
    lon: Option<String>,
    lat: Option<String>,
}

fn coordinate(name: &'static str, text: Option<&str>, range: f64) -> Result<f64, ApiError> {
    let text = text.ok_or(ApiError::BadParameter { parameter: name, message: "is required".into() })?;
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= range => Ok(v),
        _ => Err(ApiError::BadParameter {
            parameter: name,
            message: format!("`{text}` is not a number in -{range}..{range} (WGS 84 degrees)"),
        }),
    }
}

async fn at(State(state): State<AppState>, UrlQuery(params): UrlQuery<AtParams>) -> Result<Json<Value>, ApiError> {
    let lon = coordinate("lon", params.lon.as_deref(), 180.0)?;
    let lat = coordinate("lat", params.lat.as_deref(), 90.0)?;
    let point = Point::new(lon, lat);
    let here: Geometry = point.into();
    let store = &state.store;
    let features = |layer: LayerId, found: Vec<urbis_core::Feature>| -> Vec<Value> {
        found.iter().map(|f| feature_json(layer, f)).collect()
    };
    let nearest = |layer: LayerId, found: Vec<urbis_store::Near>| -> Value {
        found
            .first()
            .map(|n| json!({ "distance_m": (n.distance_m * 10.0).round() / 10.0, "feature": feature_json(layer, &n.feature) }))
            .unwrap_or(Value::Null)
    };
    let parcels = store.intersects(LayerId::Parcels, &here, Some(5)).await?;
    let zoning = store.intersects(LayerId::ZoningDistricts, &here, Some(5)).await?;
    let overlays = store.intersects(LayerId::ZoningOverlays, &here, Some(50)).await?;
    let road = store.nearest(LayerId::Roads, point, 1).await?;
    let centre = store.nearest(LayerId::ServiceCentres, point, 1).await?;
    Ok(Json(json!({
        "lon": lon,
        "lat": lat,
        "parcels": features(LayerId::Parcels, parcels),
        "zoning_districts": features(LayerId::ZoningDistricts, zoning),
        "zoning_overlays": features(LayerId::ZoningOverlays, overlays),
        "nearest_road": nearest(LayerId::Roads, road),
        "nearest_service_centre": nearest(LayerId::ServiceCentres, centre),
    })))
}
