//! The browser pages of `web/` (the public zoning map, more to come) at `/map/`, served from a
//! folder on disk as they are (plain ES modules, no build step), with MapLibre GL JS from that
//! folder's `node_modules` (installed by `npm ci`, which `urbis demo` runs) at
//! `/map/vendor/maplibre-gl/`. When MapLibre is missing, `/map/` is an error page that says how to
//! install it. The folder's tests, package files and other modules are not served.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use tower_http::services::ServeDir;

use crate::glyphs::{Glyphs, DEFAULT_FONTS_DIR};
use crate::AppState;

/// Where the map's files and the fonts come from.
#[derive(Clone, Debug)]
pub struct WebAssets {
    /// The `web/` folder; `None`: no pages are served (`/map/` answers 404 saying so).
    pub web_dir: Option<PathBuf>,
    /// The folder of TrueType fonts the glyphs are rendered from.
    pub fonts_dir: PathBuf,
}

impl Default for WebAssets {
    fn default() -> Self {
        WebAssets { web_dir: None, fonts_dir: DEFAULT_FONTS_DIR.into() }
    }
}

impl WebAssets {
    /// MapLibre GL JS's built files under `web_dir`.
    pub fn maplibre_dir(web_dir: &Path) -> PathBuf {
        web_dir.join("node_modules/maplibre-gl/dist")
    }

    /// Whether `web_dir` holds the map and its installed MapLibre.
    pub fn is_installed(web_dir: &Path) -> bool {
        Self::maplibre_dir(web_dir).join("maplibre-gl.mjs").is_file()
    }
}

/// `/styles`, `/fonts` and, with a web folder, `/map/`.
pub fn routes(assets: WebAssets) -> Router<AppState> {
    let router = Router::new()
        .merge(crate::styles::routes())
        .merge(crate::sprite::routes())
        .merge(crate::glyphs::routes(Arc::new(Glyphs::new(assets.fonts_dir.clone()))))
        .route("/map", get(|| async { Redirect::permanent("/map/") }));
    let Some(dir) = assets.web_dir else {
        return router.route("/map/", get(no_pages));
    };
    let pages: Router<AppState> =
        Router::new().route("/map/", get(page)).route("/map/{*path}", get(file)).with_state(Arc::new(dir));
    router.merge(pages)
}

/// A file of the web folder (`/map/vendor/maplibre-gl/…`: of MapLibre's `dist/`); 404 for what
/// is not the pages' (tests, npm's files and modules).
async fn file(
    State(dir): State<Arc<PathBuf>>,
    axum::extract::Path(decoded): axum::extract::Path<String>,
    request: Request,
) -> Response {
    let path = request.uri().path().strip_prefix("/map").unwrap_or("/").to_string();
    // Judged on the decoded path, as the file server reads it (`node%5Fmodules` is node_modules).
    let first = decoded.trim_start_matches('/').split('/').next().unwrap_or("");
    if matches!(first, "node_modules" | "tests" | "package.json" | "package-lock.json") {
        return (StatusCode::NOT_FOUND, format!("`/map{path}` is not a page of the map")).into_response();
    }
    if first == "index.html" {
        return page(State(dir)).await;
    }
    let (root, rest) = match path.strip_prefix("/vendor/maplibre-gl") {
        Some("") => (WebAssets::maplibre_dir(&dir), "/".to_string()),
        Some(rest) => (WebAssets::maplibre_dir(&dir), rest.to_string()),
        None => (dir.to_path_buf(), path),
    };
    let (mut parts, body) = request.into_parts();
    let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    parts.uri = match format!("{rest}{query}").parse() {
        Ok(uri) => uri,
        Err(_) => return (StatusCode::BAD_REQUEST, "a path that is not a URI").into_response(),
    };
    match ServeDir::new(root).try_call(Request::from_parts(parts, body)).await {
        Ok(response) => response.into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (StatusCode::NOT_FOUND, format!("`/map{rest}` is not a page of the map")).into_response()
        }
        Err(e) => crate::ApiError::Internal(format!("reading `/map{rest}`: {e}")).into_response(),
    }
}

async fn no_pages() -> Response {
    (StatusCode::NOT_FOUND, "this server was started without the web/ folder, so it serves no map").into_response()
}

/// The map's page, or an error page that says how to install MapLibre when it is missing.
async fn page(State(dir): State<Arc<PathBuf>>) -> Response {
    if !WebAssets::is_installed(&dir) {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>urbis: the map is not installed</title></head>\
             <body style=\"font-family:sans-serif;max-width:40rem;margin:2rem auto\"><h1>The map is not installed</h1>\
             <p>MapLibre GL JS is missing from <code>{}</code>. Install it with</p><pre>cd {} &amp;&amp; npm ci</pre>\
             <p>(<code>urbis demo</code> does this itself), then reload this page.</p></body></html>",
            html_escape(&WebAssets::maplibre_dir(&dir).display().to_string()),
            html_escape(&dir.display().to_string()),
        );
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response();
    }
    match tokio::fs::read_to_string(dir.join("index.html")).await {
        Ok(text) => ([(header::CACHE_CONTROL, "no-cache")], Html(text)).into_response(),
        Err(e) => {
            crate::ApiError::Internal(format!("reading {}: {e}", dir.join("index.html").display())).into_response()
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
