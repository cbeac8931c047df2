//! MapLibre style documents: the four maps of `styles/` (public zoning, cadastral, utilities,
//! permits), compiled in, listed at `/styles` and served at `/styles/{id}.json`.
//!
//! The files name urbis's own resources by absolute paths (`/tiles/…json`, `/fonts/…`), so they
//! stay valid wherever urbis runs; each answer turns those paths into absolute URLs on the
//! request's base (as the OGC API links are), because MapLibre resolves a TileJSON's or the
//! glyphs' URL against the page, not the style, and other clients (QGIS) need absolute URLs.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::features::BaseUrl;
use crate::{ApiError, AppState};

/// The media type of a MapLibre (Mapbox GL) style.
pub const MEDIA_TYPE: &str = "application/vnd.mapbox.style+json";

/// Every built-in style: its id and its document as written in `styles/`.
pub const BUILT_IN: [(&str, &str); 4] = [
    ("zoning", include_str!("../../../styles/zoning.json")),
    ("cadastral", include_str!("../../../styles/cadastral.json")),
    ("utilities", include_str!("../../../styles/utilities.json")),
    ("permits", include_str!("../../../styles/permits.json")),
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/styles", get(list)).route("/styles/{file}", get(style))
}

/// The style `id` with every root-relative URL made absolute on `root`; `None` for an unknown id.
pub fn style_document(id: &str, root: &str) -> Option<Value> {
    let (_, text) = BUILT_IN.iter().find(|(name, _)| *name == id)?;
    // The files are checked at build by the tests (`every_built_in_style_is_json`); a broken one
    // is a bug, answered with 500 by the caller.
    let mut doc: Value = serde_json::from_str(text).ok()?;
    let absolute = |v: &mut Value| {
        if let Some(s) = v.as_str().filter(|s| s.starts_with('/')) {
            *v = Value::String(format!("{root}{s}"));
        }
    };
    for key in ["glyphs", "sprite"] {
        if let Some(v) = doc.get_mut(key) {
            absolute(v);
        }
    }
    if let Some(sources) = doc.get_mut("sources").and_then(Value::as_object_mut) {
        for source in sources.values_mut() {
            if let Some(url) = source.get_mut("url") {
                absolute(url);
            }
            if let Some(tiles) = source.get_mut("tiles").and_then(Value::as_array_mut) {
                tiles.iter_mut().for_each(absolute);
            }
        }
    }
    Some(doc)
}

async fn list(BaseUrl(root): BaseUrl) -> Json<Value> {
    let styles: Vec<Value> = BUILT_IN
        .iter()
        .filter_map(|(id, _)| {
            let doc = style_document(id, &root)?;
            Some(json!({
                "id": id,
                "title": doc.get("name"),
                "description": doc.pointer("/metadata/urbis:description"),
                "links": [{ "rel": "stylesheet", "type": MEDIA_TYPE, "href": format!("{root}/styles/{id}.json") }],
            }))
        })
        .collect();
    Json(json!({
        "styles": styles,
        "links": [{ "rel": "self", "type": "application/json", "href": format!("{root}/styles") }],
    }))
}

async fn style(BaseUrl(root): BaseUrl, Path(file): Path<String>) -> Result<Response, ApiError> {
    let known = || BUILT_IN.iter().map(|(id, _)| *id).collect::<Vec<_>>().join(", ");
    let Some(id) = file.strip_suffix(".json") else {
        return Err(ApiError::NotFound(format!(
            "no `/styles/{file}`: a style is at /styles/{{id}}.json ({})",
            known()
        )));
    };
    if !BUILT_IN.iter().any(|(name, _)| *name == id) {
        return Err(ApiError::NotFound(format!("no style `{id}`; the styles are {}", known())));
    }
    let doc =
        style_document(id, &root).ok_or_else(|| ApiError::Internal(format!("the built-in style {id} is not JSON")))?;
    Ok(([(header::CONTENT_TYPE, MEDIA_TYPE)], Json(doc)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_style_is_json_with_absolute_urls() {
        for (id, _) in BUILT_IN {
            let doc = style_document(id, "http://h:1").unwrap_or_else(|| panic!("{id} is not JSON"));
            assert_eq!(doc["version"], 8, "{id}");
            assert!(doc["glyphs"].as_str().unwrap().starts_with("http://h:1/fonts/{fontstack}/{range}.pbf"), "{id}");
            if let Some(sprite) = doc.get("sprite") {
                assert_eq!(sprite, "http://h:1/styles/sprite/sprite", "{id}");
            }
            for (name, source) in doc["sources"].as_object().unwrap() {
                let url = source["url"].as_str().unwrap_or_else(|| panic!("{id}: source {name} has no url"));
                assert!(url.starts_with("http://h:1/tiles/") && url.ends_with(".json"), "{id}: {url}");
            }
        }
    }

    /// Every layer of every style draws a layer that its source's tiles carry, and filters and
    /// labels only on fields the tiles carry at some zoom (`tiles/`): a typo would draw nothing
    /// without any error in the browser.
    #[test]
    fn styles_use_only_layers_and_fields_the_tiles_carry() {
        let defs = urbis_tiles::Definitions::built_in();
        for (id, _) in BUILT_IN {
            let doc = style_document(id, "").unwrap();
            for layer in doc["layers"].as_array().unwrap() {
                let Some(source_layer) = layer.get("source-layer").and_then(Value::as_str) else { continue };
                let source = layer["source"].as_str().unwrap();
                let url = doc["sources"][source]["url"].as_str().unwrap();
                let names = url.trim_start_matches("/tiles/").trim_end_matches(".json");
                assert!(names.split(',').any(|n| n == source_layer), "{id}: {source_layer} is not in {url}");
                let layer_id: urbis_core::LayerId = source_layer.parse().unwrap();
                let def = defs.get(layer_id).unwrap();
                let mut fields: Vec<&str> = def.all_fields().into_iter().map(|f| f.name).collect();
                fields.push("id");
                // Attributes the server computes per tile (the permits' clock status).
                fields.extend(urbis_tiles::config::COMPUTED.iter().filter(|(l, _)| *l == layer_id).map(|(_, n)| *n));
                let mut used = vec![];
                collect_get(layer, &mut used);
                for f in used {
                    assert!(
                        fields.contains(&f.as_str()),
                        "{id}: layer {} reads `{f}`, not in {source_layer}'s tiles",
                        layer["id"]
                    );
                }
            }
        }
    }

    /// The field names of every `["get", name]` in an expression tree.
    fn collect_get(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Array(items) => {
                if let [Value::String(op), Value::String(name)] = items.as_slice() {
                    if op == "get" {
                        out.push(name.clone());
                    }
                }
                items.iter().for_each(|i| collect_get(i, out));
            }
            Value::Object(map) => map.values().for_each(|i| collect_get(i, out)),
            _ => {}
        }
    }
}
