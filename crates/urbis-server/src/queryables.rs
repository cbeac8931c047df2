//! `GET /collections/{id}/queryables` (OGC API Features Part 3): what a CQL2 filter on a
//! collection may name, as a JSON Schema. The list is the core's [`queryables`], the same one the
//! filter check uses, so that the document and the checks cannot disagree.

use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use urbis_core::cql2::{queryables, QueryableType};
use urbis_core::{GeometryKind, LayerId};

use crate::features::BaseUrl;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/collections/{id}/queryables", get(queryables_route))
}

async fn queryables_route(BaseUrl(root): BaseUrl, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let layer = id.parse::<LayerId>().map_err(|e| ApiError::NotFound(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/schema+json")], Json(document(&root, layer))))
}

/// The queryables of a layer as a JSON Schema (2020-12), `$id` under `root` (the server's base URL).
pub fn document(root: &str, layer: LayerId) -> Value {
    let mut properties = Map::new();
    for q in queryables(layer) {
        let mut p = match q.ty {
            QueryableType::Text => json!({ "type": "string" }),
            QueryableType::Number => json!({ "type": "number" }),
            QueryableType::Integer => json!({ "type": "integer" }),
            QueryableType::Boolean => json!({ "type": "boolean" }),
            QueryableType::Date => json!({ "type": "string", "format": "date" }),
            QueryableType::Timestamp => json!({ "type": "string", "format": "date-time" }),
            QueryableType::Geometry(kind) => {
                let format = match kind {
                    GeometryKind::Point => "geometry-point",
                    GeometryKind::MultiLineString => "geometry-multilinestring",
                    GeometryKind::MultiPolygon => "geometry-multipolygon",
                    GeometryKind::Geometry | GeometryKind::None => "geometry-any",
                };
                json!({ "format": format, "x-ogc-role": "primary-geometry" })
            }
        };
        p["title"] = json!(q.name);
        p["description"] = json!(q.description);
        if q.name == "id" {
            p["x-ogc-role"] = json!("id");
        }
        properties.insert(q.name.to_string(), p);
    }
    let s = layer.schema();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{root}/collections/{}/queryables", layer.name()),
        "type": "object",
        "title": s.title,
        "description": format!("What a CQL2 filter on {} may name.", layer.name()),
        "properties": properties,
        "additionalProperties": false,
    })
}

/// The OpenAPI paths of the queryables of every collection, to merge into `/api`'s `paths`.
pub fn openapi_paths() -> Value {
    let mut paths = Map::new();
    for layer in LayerId::ALL {
        let name = layer.name();
        paths.insert(
            format!("/collections/{name}/queryables"),
            json!({ "get": {
                "summary": format!("{}: what a filter may name", layer.schema().title),
                "operationId": format!("queryables_{name}"),
                "responses": {
                    "200": { "description": "the queryables, as a JSON Schema",
                             "content": { "application/schema+json": { "schema": { "type": "object" } } } },
                } } }),
        );
    }
    Value::Object(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[tokio::test]
    async fn the_route_answers_json_schema_or_404() {
        let r = queryables_route(BaseUrl("http://h".into()), Path("permits".into())).await.into_response();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/schema+json");
        let body = axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, document("http://h", LayerId::Permits));
        let r = queryables_route(BaseUrl("http://h".into()), Path("parcel".into())).await.into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn documents_list_the_queryables_with_types() {
        let d = document("http://h", LayerId::Permits);
        assert_eq!(d["$id"], "http://h/collections/permits/queryables");
        assert_eq!(d["type"], "object");
        assert_eq!(d["properties"]["received_at"]["format"], "date-time");
        assert_eq!(d["properties"]["satisfaction"]["type"], "integer");
        assert_eq!(d["properties"]["proposed_height_m"]["type"], "number");
        assert_eq!(d["properties"]["geometry"]["format"], "geometry-any");
        assert_eq!(d["properties"]["geometry"]["x-ogc-role"], "primary-geometry");
        assert!(d["properties"].get("applicant").is_none(), "private");
        assert!(d["properties"].get("parcel_codes").is_none(), "JSON cannot be filtered");
        let d = document("http://h", LayerId::Procedures);
        assert!(d["properties"].get("geometry").is_none());
        assert_eq!(document("", LayerId::Parcels)["properties"]["geometry"]["format"], "geometry-multipolygon");
        // Every queryable it lists is accepted by the filter check.
        for layer in LayerId::ALL {
            let d = document("", layer);
            for (name, p) in d["properties"].as_object().unwrap() {
                let f = if p.get("x-ogc-role") == Some(&json!("primary-geometry")) {
                    format!("S_INTERSECTS({name}, POINT(0 0))")
                } else {
                    format!("\"{name}\" IS NULL")
                };
                urbis_core::cql2::Filter::from_text(layer, &f).unwrap_or_else(|e| panic!("{layer} {f}: {e}"));
            }
        }
    }
}
