//! Plain JSON answers to "what is here?": the parcel at a point, the zoning district and the
//! overlays over it, the nearest road and the nearest service centre, with distances in metres;
//! the features of a layer within a distance of a point or a posted geometry, the k nearest to a
//! point, and those that intersect a posted geometry.

use axum::body::Bytes;
use axum::extract::{Query as UrlQuery, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use geo::CoordsIter;
use geo_types::{Geometry, Point};
use serde::Deserialize;
use serde_json::{json, Value};
use urbis_core::validate::GeometryPolicy;
use urbis_core::{GeometryKind, LayerId};

use crate::features::feature_json;
use crate::{ApiError, AppState};

/// The most features one spatial query returns; more is refused, not cut.
const MAX_FEATURES: u64 = 10_000;
/// The farthest a distance query reaches, in metres.
const MAX_DISTANCE_M: f64 = 100_000.0;
/// The most vertices a posted geometry may have (the cost of the query grows with it).
const MAX_VERTICES: usize = 100_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/query/at", get(at))
        .route("/query/within", get(within_point).post(within_geometry))
        .route("/query/nearest", get(nearest))
        .route("/query/intersects", post(intersects))
}

#[derive(Debug, Deserialize)]
struct LayerParams {
    layer: Option<String>,
    lon: Option<String>,
    lat: Option<String>,
    m: Option<String>,
    k: Option<String>,
    limit: Option<String>,
}

fn layer_param(text: Option<&str>) -> Result<LayerId, ApiError> {
    let text = text.ok_or(ApiError::BadParameter { parameter: "layer", message: "is required".into() })?;
    let layer: LayerId = text.parse().map_err(|e: urbis_core::layer::UnknownLayer| ApiError::BadParameter {
        parameter: "layer",
        message: e.to_string(),
    })?;
    if !layer.schema().has_geometry() {
        return Err(ApiError::BadParameter {
            parameter: "layer",
            message: format!("{} has no geometry", layer.name()),
        });
    }
    Ok(layer)
}

fn number(name: &'static str, text: Option<&str>, default: Option<f64>, min: f64, max: f64) -> Result<f64, ApiError> {
    let Some(text) = text else {
        return default.ok_or(ApiError::BadParameter { parameter: name, message: "is required".into() });
    };
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(v),
        _ => Err(ApiError::BadParameter {
            parameter: name,
            message: format!("`{text}` is not a number in {min}..{max}"),
        }),
    }
}

fn whole(name: &'static str, text: Option<&str>, default: u64, max: u64) -> Result<u64, ApiError> {
    let n = number(name, text, Some(default as f64), 1.0, max as f64)?;
    if n.fract() != 0.0 {
        return Err(ApiError::BadParameter { parameter: name, message: format!("{n} is not a whole number") });
    }
    Ok(n as u64)
}

/// A GeoJSON geometry (or a Feature's geometry) from a request body, in WGS 84, checked.
pub(crate) fn posted_geometry(body: &[u8]) -> Result<Geometry, ApiError> {
    let bad = |message: String| ApiError::BadParameter { parameter: "body", message };
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let geometry = match value.get("type").and_then(Value::as_str) {
        Some("Feature") => value.get("geometry").cloned().unwrap_or(Value::Null),
        _ => value,
    };
    let g: geojson::Geometry =
        serde_json::from_value(geometry).map_err(|e| bad(format!("not a GeoJSON geometry: {e}")))?;
    let g: Geometry = g.try_into().map_err(|e: geojson::Error| bad(format!("not a usable geometry: {e}")))?;
    if g.coords_count() > MAX_VERTICES {
        return Err(bad(format!("{} vertices; at most {MAX_VERTICES}", g.coords_count())));
    }
    // The checks and unambiguous repairs of an import (closing rings, orientation, duplicate
    // vertices); what stays invalid (a ring of two points, a self-intersection) is refused.
    let mut repairs = urbis_core::Repairs::default();
    urbis_core::validate::check_geometry(GeometryKind::Geometry, g, GeometryPolicy::Reject, &mut repairs)
        .map_err(|problems| bad(problems.iter().map(|p| p.reason.as_str()).collect::<Vec<_>>().join("; ")))
}

fn collection(layer: LayerId, found: Vec<urbis_store::Near>) -> Value {
    let features: Vec<Value> = found
        .iter()
        .map(|n| {
            let mut f = feature_json(layer, &n.feature);
            f["distance_m"] = json!((n.distance_m * 100.0).round() / 100.0);
            f
        })
        .collect();
    json!({ "type": "FeatureCollection", "layer": layer.name(), "numberReturned": features.len(), "features": features })
}

fn point_of(p: &LayerParams) -> Result<Point, ApiError> {
    Ok(Point::new(coordinate("lon", p.lon.as_deref(), 180.0)?, coordinate("lat", p.lat.as_deref(), 90.0)?))
}

/// `GET /query/within?layer=&lon=&lat=&m=`: features within `m` metres of a point, nearest first.
async fn within_point(
    State(state): State<AppState>,
    UrlQuery(p): UrlQuery<LayerParams>,
) -> Result<Json<Value>, ApiError> {
    let layer = layer_param(p.layer.as_deref())?;
    let here: Geometry = point_of(&p)?.into();
    let metres = number("m", p.m.as_deref(), None, 0.0, MAX_DISTANCE_M)?;
    let limit = whole("limit", p.limit.as_deref(), 1000, MAX_FEATURES)?;
    let found = state.store.within_distance(layer, &here, metres, Some(limit)).await?;
    Ok(Json(collection(layer, found)))
}

/// `POST /query/within?layer=&m=` with a GeoJSON geometry: features within `m` metres of it.
async fn within_geometry(
    State(state): State<AppState>,
    UrlQuery(p): UrlQuery<LayerParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let layer = layer_param(p.layer.as_deref())?;
    let metres = number("m", p.m.as_deref(), None, 0.0, MAX_DISTANCE_M)?;
    let limit = whole("limit", p.limit.as_deref(), 1000, MAX_FEATURES)?;
    let geometry = posted_geometry(&body)?;
    let found = state.store.within_distance(layer, &geometry, metres, Some(limit)).await?;
    Ok(Json(collection(layer, found)))
}

/// `GET /query/nearest?layer=&lon=&lat=&k=`: the `k` features nearest to a point.
async fn nearest(State(state): State<AppState>, UrlQuery(p): UrlQuery<LayerParams>) -> Result<Json<Value>, ApiError> {
    let layer = layer_param(p.layer.as_deref())?;
    let point = point_of(&p)?;
    let k = whole("k", p.k.as_deref(), 1, 1000)?;
    let found = state.store.nearest(layer, point, k).await?;
    Ok(Json(collection(layer, found)))
}

/// `POST /query/intersects?layer=` with a GeoJSON geometry: the features that intersect it.
async fn intersects(
    State(state): State<AppState>,
    UrlQuery(p): UrlQuery<LayerParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let layer = layer_param(p.layer.as_deref())?;
    let limit = whole("limit", p.limit.as_deref(), 1000, MAX_FEATURES)?;
    let geometry = posted_geometry(&body)?;
    // One more than allowed tells whether the answer was complete.
    let found = state.store.intersects(layer, &geometry, Some(limit + 1)).await?;
    if found.len() as u64 > limit {
        return Err(ApiError::BadParameter {
            parameter: "limit",
            message: format!(
                "more than {limit} features intersect; raise limit (at most {MAX_FEATURES}) or post a smaller geometry"
            ),
        });
    }
    let features: Vec<Value> = found.iter().map(|f| feature_json(layer, f)).collect();
    Ok(Json(
        json!({ "type": "FeatureCollection", "layer": layer.name(), "numberReturned": features.len(), "features": features }),
    ))
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
