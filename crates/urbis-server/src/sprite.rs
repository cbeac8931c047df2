//! The styles' sprite: the hatching patterns that overlay districts are filled with, served at
//! `/styles/sprite.json` and `.png` (and `@2x` for dense screens). A style names a pattern by
//! its colour, `hatch-RRGGBB`; the sprite holds one pattern for every such name in the built-in
//! styles, drawn here (diagonal lines on transparency), so that a new colour needs no image file.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use crate::{ApiError, AppState};

/// The prefix of a pattern's name; six hex digits of colour follow.
const PREFIX: &str = "hatch-";
/// A pattern's side in pixels at pixel ratio 1; a line every `SIDE / 2` pixels.
const SIDE: u32 = 8;

pub fn routes() -> Router<AppState> {
    // `/styles/sprite.json` would otherwise be taken for the style `sprite`.
    Router::new().route("/styles/sprite/{file}", get(sprite_file))
}

/// Every `hatch-RRGGBB` name that a built-in style uses, sorted, each once.
pub fn pattern_names() -> &'static [(String, [u8; 3])] {
    static NAMES: OnceLock<Vec<(String, [u8; 3])>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut found = std::collections::BTreeMap::new();
        for (_, text) in crate::styles::BUILT_IN {
            if let Ok(doc) = serde_json::from_str::<Value>(text) {
                collect(&doc, &mut found);
            }
        }
        found.into_iter().collect()
    })
}

fn collect(v: &Value, out: &mut std::collections::BTreeMap<String, [u8; 3]>) {
    match v {
        Value::String(s) => {
            if let Some(rgb) = s.strip_prefix(PREFIX).and_then(parse_rgb) {
                out.insert(s.clone(), rgb);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect(i, out)),
        _ => {}
    }
}

fn parse_rgb(hex: &str) -> Option<[u8; 3]> {
    if hex.len() != 6 || !hex.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// The sprite's index: each pattern's place in the image.
fn index(ratio: u32) -> Value {
    let side = SIDE * ratio;
    let mut map = Map::new();
    for (i, (name, _)) in pattern_names().iter().enumerate() {
        map.insert(
            name.clone(),
            json!({ "x": i as u32 * side, "y": 0, "width": side, "height": side, "pixelRatio": ratio }),
        );
    }
    Value::Object(map)
}

/// The sprite's image: the patterns side by side, RGBA.
fn image(ratio: u32) -> Result<Vec<u8>, ApiError> {
    let side = SIDE * ratio;
    let names = pattern_names();
    let width = side * names.len().max(1) as u32;
    let mut pixels = vec![0u8; (width * side * 4) as usize];
    for (i, (_, rgb)) in names.iter().enumerate() {
        for y in 0..side {
            for x in 0..side {
                // Lines from bottom left to top right, `ratio` pixels wide, that tile seamlessly.
                if (x + y) % (side / 2) < ratio {
                    let at = ((y * width + i as u32 * side + x) * 4) as usize;
                    pixels[at..at + 4].copy_from_slice(&[rgb[0], rgb[1], rgb[2], 200]);
                }
            }
        }
    }
    let mut out = vec![];
    let mut encoder = png::Encoder::new(&mut out, width, side);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| ApiError::Internal(format!("the sprite's PNG: {e}")))?;
    writer.write_image_data(&pixels).map_err(|e| ApiError::Internal(format!("the sprite's PNG: {e}")))?;
    writer.finish().map_err(|e| ApiError::Internal(format!("the sprite's PNG: {e}")))?;
    Ok(out)
}

async fn sprite_file(Path(file): Path<String>) -> Result<Response, ApiError> {
    let cache = (header::CACHE_CONTROL, "public, max-age=3600");
    match file.as_str() {
        "sprite.json" => Ok(([cache], axum::Json(index(1))).into_response()),
        "sprite@2x.json" => Ok(([cache], axum::Json(index(2))).into_response()),
        "sprite.png" => Ok(([cache, (header::CONTENT_TYPE, "image/png")], image(1)?).into_response()),
        "sprite@2x.png" => Ok(([cache, (header::CONTENT_TYPE, "image/png")], image(2)?).into_response()),
        other => Err(ApiError::NotFound(format!(
            "no `/styles/sprite/{other}`: the sprite is sprite.json and sprite.png (and @2x)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_the_styles_name_is_in_the_sprite_and_decodes() {
        let names = pattern_names();
        assert!(names.len() >= 4, "{names:?}");
        for ratio in [1, 2] {
            let png = image(ratio).unwrap();
            let decoder = png::Decoder::new(std::io::Cursor::new(png));
            let reader = decoder.read_info().unwrap();
            let info = reader.info();
            assert_eq!((info.width, info.height), (SIDE * ratio * names.len() as u32, SIDE * ratio));
            let index = index(ratio);
            for (name, _) in names {
                assert_eq!(index[name]["pixelRatio"], ratio, "{name}");
            }
        }
        assert_eq!(parse_rgb("7b3f00"), Some([0x7b, 0x3f, 0x00]));
        assert_eq!(parse_rgb("7b3f0"), None);
        assert_eq!(parse_rgb("zz3f00"), None);
    }
}
