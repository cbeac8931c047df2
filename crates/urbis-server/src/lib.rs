//! The urbis HTTP server (axum). For now it tells whether it is up and what the store holds;
//! OGC API Features, tiles and the web client are added route by route on this base.

pub mod accounts;
pub mod analysis;
pub mod auth;
pub mod blds;
pub mod dashboard;
mod error;
pub mod features;
pub mod filter;
mod geojson_out;
mod glyphs;
mod json_errors;
pub mod open311;
mod permit_tiles;
pub mod permits;
pub mod policy;
pub mod queryables;
pub mod queue;
mod report;
mod spatial;
mod sprite;
mod styles;
pub mod tiles;
pub mod transactions;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use urbis_store::Store;

pub use error::ApiError;

/// What every handler may use. One shared allocation: axum clones the state for each extractor
/// of each request, and one reference count costs less than three.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Arc<dyn Store>,
    /// Who is calling: configured tokens, sessions, applicants (auth.rs); what they may do is
    /// policy.rs.
    pub auth: Arc<auth::Auth>,
    /// Encoded tiles, kept exact by the store's change feed (see `tile_cache.rs`).
    pub tile_cache: Arc<tiles::TileCache>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Every route of the server, with no tokens: reads only, every write refused (401).
pub fn router(store: Arc<dyn Store>) -> Router {
    router_with_auth(store, auth::Auth::none())
}

/// Every route of the server; writes are accepted from the tokens of `auth` whose role may edit.
pub fn router_with_auth(store: Arc<dyn Store>, auth: auth::Auth) -> Router {
    router_with_web(store, auth, web::WebAssets::default())
}

/// [`router_with_auth`] with the map's pages and fonts from `web`.
pub fn router_with_web(store: Arc<dyn Store>, auth: auth::Auth, web: web::WebAssets) -> Router {
    let state =
        AppState(Arc::new(Shared { store, auth: Arc::new(auth), tile_cache: Arc::new(tiles::TileCache::default()) }));
    Router::new()
        .route("/", get(landing))
        .route("/health", get(health))
        .route("/layers", get(layers))
        .merge(auth::routes())
        .merge(features::routes())
        .merge(analysis::routes())
        .merge(accounts::routes())
        .merge(spatial::routes())
        .merge(report::routes())
        .merge(queryables::routes())
        .merge(transactions::routes())
        .merge(permits::routes())
        .merge(queue::routes())
        .merge(open311::routes())
        .merge(blds::routes())
        .merge(dashboard::routes())
        .merge(tiles::routes())
        .merge(web::routes(web))
        // Who is calling, and whether their role may call the route (policy.rs).
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), policy::enforce))
        .with_state(state)
        // From the innermost out: limits, then errors made JSON, then compression, CORS, tracing.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Bodies past the limit get 413 before a handler reads them.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // A request that runs longer than this is cut off (503); its query is cancelled with it.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::map_response(json_errors::json_errors))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(tower_http::cors::CorsLayer::permissive())
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// The largest request body accepted (a posted geometry or feature), in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How long one request may take.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(no_delay(listener), router(store).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// [`serve`] with the tokens that may write.
pub async fn serve_with_auth(
    store: Arc<dyn Store>,
    auth: auth::Auth,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        no_delay(listener),
        router_with_auth(store, auth).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// [`serve_with_auth`] with the map's pages and fonts from `web`.
pub async fn serve_with_web(
    store: Arc<dyn Store>,
    auth: auth::Auth,
    web: web::WebAssets,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let housekeeping = tokio::spawn(prune_changes(store.clone()));
    let served = axum::serve(
        no_delay(listener),
        router_with_web(store, auth, web).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    housekeeping.abort();
    served
}

/// The listener with `TCP_NODELAY` on every connection: an answer goes out when it is written,
/// not held back (Nagle) until the client acknowledges the previous segment.
fn no_delay(listener: TcpListener) -> axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    fn set(tcp: &mut tokio::net::TcpStream) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY could not be set");
        }
    }
    listener.tap_io(set as fn(&mut tokio::net::TcpStream))
}

/// Prunes the store's change feed at start and every hour while the server runs (keeping
/// [`urbis_store::changes::CHANGES_KEPT`]); servers sharing a store may all do it.
async fn prune_changes(store: Arc<dyn Store>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        match store.prune_changes(urbis_store::changes::CHANGES_KEPT).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "pruned the change feed"),
            Err(urbis_store::StoreError::Unsupported { .. }) => return,
            Err(e) => tracing::warn!(error = %e, "pruning the change feed failed; trying again in an hour"),
        }
    }
}

async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    // A store that cannot answer makes the server unhealthy, not "ok".
    state.store.layers().await?;
    Ok(Json(json!({ "status": "ok", "store": format!("{:?}", state.store.kind()) })))
}

async fn layers(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let counts = state.store.layers().await?;
    let layers: Vec<_> = counts
        .iter()
        .map(|c| {
            let s = c.layer.schema();
            json!({
                "id": c.layer.name(),
                "title": s.title,
                "description": s.description,
                "geometry": s.geometry.sql_name(),
                "count": c.count,
            })
        })
        .collect();
    Ok(Json(json!({ "layers": layers })))
}

/// HTML for a person, JSON (OGC API landing page) for a client that asks for it.
async fn landing(
    features::BaseUrl(root): features::BaseUrl,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    let accept = headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    // A browser asks for HTML; every other client (GDAL, OWSLib, curl) gets the JSON landing page.
    let wants_json = match params.get("f").map(String::as_str) {
        Some("json") => true,
        Some("html") => false,
        _ => !accept.contains("text/html"),
    };
    if wants_json {
        return Ok(Json(features::landing_json(&root)).into_response());
    }
    let counts = state.store.layers().await?;
    let rows: String = counts
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{}</td><td>{}</td><td style=\"text-align:right\">{}</td></tr>",
                c.layer.name(),
                c.layer.schema().title,
                c.count
            )
        })
        .collect();
    Ok(Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>urbis</title></head><body style=\"font-family:sans-serif;max-width:48rem;margin:2rem auto\">\
         <h1>urbis</h1><p>Urban-planning GIS. Store: {}.</p>\
         <table><thead><tr><th>layer</th><th>title</th><th>features</th></tr></thead><tbody>{rows}</tbody></table>\
         <p><a href=\"/map/\">The zoning map</a> · <a href=\"/map/reviewer.html\">reviewers</a> · \
         <a href=\"/map/dashboard.html\">dashboard</a> · <a href=\"/map/track.html\">track a dossier</a> · \
         <a href=\"/map/coverage.html\">service access</a> · <a href=\"/map/admin.html\">accounts</a> · \
         <a href=\"/styles\">map styles</a></p>\
         <p><a href=\"/collections\">/collections</a> (OGC API – Features) · <a href=\"/api\">/api</a> · \
         <a href=\"/layers\">/layers</a> · <a href=\"/health\">/health</a></p></body></html>",
        html_escape(&state.store.location())
    ))
    .into_response())
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(html_escape("<a href=\"x\">&"), "&lt;a href=&quot;x&quot;&gt;&amp;");
    }
}
