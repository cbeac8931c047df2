//! The glyphs the map styles' labels need, served by urbis itself (no font host):
//! `/fonts/{fontstack}/{start}-{end}.pbf`, signed-distance-field glyphs in the protobuf format
//! MapLibre reads, rendered with FreeType (`pbf_font_tools`) from the TrueType fonts of one folder
//! (default: Debian's fonts-dejavu-core) on first request and kept in memory. `/fonts` lists the
//! font names a style may use (`"DejaVu Sans Book"`, family then style).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pbf_font_tools::prost::Message;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::ApiError;

/// Where the fonts are unless told otherwise: Debian's `fonts-dejavu-core`.
pub const DEFAULT_FONTS_DIR: &str = "/usr/share/fonts/truetype/dejavu";

/// Glyph size, SDF radius and cutoff as MapLibre expects them (24 px, 8 px, 0.25).
const SIZE: usize = 24;
const RADIUS: usize = 8;
const CUTOFF: f64 = 0.25;
/// The fontstacks a client may combine in one request.
const MAX_STACK: usize = 8;

/// The fonts of one folder and the glyph ranges rendered so far.
pub struct Glyphs {
    dir: PathBuf,
    /// Font name → file, read from the folder on first use.
    fonts: OnceCell<BTreeMap<String, PathBuf>>,
    /// (font name, first code point) → its glyphs. Kept per font, not per requested stack, so
    /// that the cache is bounded by the folder's fonts (256 ranges each; DejaVu fills few).
    rendered: Mutex<HashMap<(String, u32), pbf_font_tools::Glyphs>>,
}

impl Glyphs {
    pub fn new(dir: impl Into<PathBuf>) -> Glyphs {
        Glyphs { dir: dir.into(), fonts: OnceCell::new(), rendered: Mutex::new(HashMap::new()) }
    }

    /// Every font of the folder by its name (family and style, as styles name them).
    pub async fn fonts(&self) -> Result<&BTreeMap<String, PathBuf>, ApiError> {
        self.fonts
            .get_or_try_init(|| async {
                let dir = self.dir.clone();
                tokio::task::spawn_blocking(move || scan(&dir))
                    .await
                    .map_err(|e| ApiError::Internal(format!("reading the fonts: {e}")))?
            })
            .await
    }

    /// The glyphs `start..=start+255` of the fonts named in `stack` (comma-separated; the first
    /// font that has a glyph gives it), as protobuf.
    pub async fn range(&self, stack: &str, start: u32) -> Result<Bytes, ApiError> {
        let fonts = self.fonts().await?;
        let names: Vec<&str> = stack.split(',').map(str::trim).collect();
        if names.len() > MAX_STACK {
            return Err(ApiError::BadParameter {
                parameter: "fontstack",
                message: format!("{} fonts named; at most {MAX_STACK}", names.len()),
            });
        }
        let mut ranges = vec![];
        for name in names {
            let file = fonts.get(name).ok_or_else(|| {
                let known: Vec<&str> = fonts.keys().map(String::as_str).collect();
                ApiError::NotFound(format!("no font `{name}`; the fonts are {}", known.join(", ")))
            })?;
            ranges.push(self.font_range(name, file, start).await?);
        }
        let end = start + 255;
        // A range no font covers is a valid, empty answer (MapLibre asks for the ranges of every
        // character in a label, whether a font has them or not).
        let glyphs = pbf_font_tools::combine_glyphs(ranges).unwrap_or_else(|| pbf_font_tools::Glyphs {
            stacks: vec![pbf_font_tools::Fontstack {
                name: stack.into(),
                range: format!("{start}-{end}"),
                glyphs: vec![],
            }],
        });
        Ok(Bytes::from(glyphs.encode_to_vec()))
    }

    /// One font's glyphs from `start`, rendered once.
    async fn font_range(&self, name: &str, file: &Path, start: u32) -> Result<pbf_font_tools::Glyphs, ApiError> {
        let key = (name.to_string(), start);
        if let Some(g) = self.rendered.lock().map_err(|_| poisoned())?.get(&key) {
            return Ok(g.clone());
        }
        let file = file.to_path_buf();
        let glyphs = tokio::task::spawn_blocking(move || {
            pbf_font_tools::glyph_range_for_font(&file, start, start + 255, SIZE, RADIUS, CUTOFF)
                .map_err(|e| ApiError::Internal(format!("rendering {} from {start}: {e}", file.display())))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("rendering glyphs: {e}")))??;
        self.rendered.lock().map_err(|_| poisoned())?.insert(key, glyphs.clone());
        Ok(glyphs)
    }
}

fn poisoned() -> ApiError {
    ApiError::Internal("the glyph cache lock is poisoned".into())
}

/// The TrueType and OpenType fonts of `dir` by name; an unreadable file is skipped with a warning.
fn scan(dir: &Path) -> Result<BTreeMap<String, PathBuf>, ApiError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| ApiError::Internal(format!("the fonts folder {}: {e}", dir.display())))?;
    let library =
        pbf_font_tools::freetype::Library::init().map_err(|e| ApiError::Internal(format!("starting FreeType: {e}")))?;
    let mut out = BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_font = path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "ttf" | "otf"));
        if !is_font {
            continue;
        }
        match library.new_face(&path, 0) {
            Ok(face) => {
                let Some(family) = face.family_name() else { continue };
                let name = match face.style_name() {
                    Some(style) => format!("{family} {style}"),
                    None => family,
                };
                out.entry(name).or_insert(path);
            }
            Err(e) => tracing::warn!("skipping the font {}: {e}", path.display()),
        }
    }
    if out.is_empty() {
        return Err(ApiError::Internal(format!("no TrueType font in {}", dir.display())));
    }
    Ok(out)
}

pub fn routes(glyphs: Arc<Glyphs>) -> Router<crate::AppState> {
    Router::new().route("/fonts", get(list)).route("/fonts/{stack}/{range}", get(range)).with_state(glyphs)
}

async fn list(State(glyphs): State<Arc<Glyphs>>) -> Result<Json<serde_json::Value>, ApiError> {
    let names: Vec<&String> = glyphs.fonts().await?.keys().collect();
    Ok(Json(json!({ "fonts": names })))
}

/// Parses `{start}-{end}.pbf`: a range of 256 code points starting at a multiple of 256.
fn parse_range(text: &str) -> Result<u32, ApiError> {
    let bad = |message: String| ApiError::BadParameter { parameter: "range", message };
    let Some(range) = text.strip_suffix(".pbf") else {
        return Err(ApiError::NotFound(format!(
            "no `{text}`: glyphs are at /fonts/{{fontstack}}/{{start}}-{{end}}.pbf"
        )));
    };
    let (start, end) = range
        .split_once('-')
        .and_then(|(s, e)| Some((s.parse::<u32>().ok()?, e.parse::<u32>().ok()?)))
        .ok_or_else(|| bad(format!("`{range}` is not a range `start-end` of whole numbers")))?;
    if start % 256 != 0 || end != start + 255 || end > 0xFFFF {
        return Err(bad(format!("`{range}`: a range is 256 code points from a multiple of 256, up to 65535")));
    }
    Ok(start)
}

async fn range(
    State(glyphs): State<Arc<Glyphs>>,
    UrlPath((stack, range)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    let start = parse_range(&range)?;
    let bytes = glyphs.range(&stack, start).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-protobuf"), (header::CACHE_CONTROL, "public, max-age=86400")], bytes)
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_256_code_points_from_a_multiple_of_256() {
        assert_eq!(parse_range("0-255.pbf").unwrap(), 0);
        assert_eq!(parse_range("65280-65535.pbf").unwrap(), 65280);
        for bad in ["1-256.pbf", "0-511.pbf", "65536-65791.pbf", "a-b.pbf", "0255.pbf"] {
            assert!(matches!(parse_range(bad), Err(ApiError::BadParameter { .. })), "{bad}");
        }
        assert!(matches!(parse_range("0-255"), Err(ApiError::NotFound(_))));
    }
}
