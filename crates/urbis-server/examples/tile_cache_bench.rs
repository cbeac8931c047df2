//! Tile cache benchmark: requests per second and latency for one busy tile (parcels, zoning
//! districts and roads of the demo city at City Hall), served from the cache (hit) and made
//! anew (miss: a router with an empty cache for each request, so every one renders), through the
//! whole router (extractors, the store's change watch before each request, headers) but no
//! socket.
//!
//!   cargo run --release -p urbis-server --example tile_cache_bench [-- SECONDS CONCURRENCY]
//!
//! On a GeoPackage built from data-samples/, and on PostGIS too when URBIS_BENCH_PG_URL names a
//! migrated, empty database. Not a test: it asserts nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use urbis_core::LayerId;
use urbis_import::{import_file, ImportOptions, Mapping, Silent};
use urbis_store::Store;

const TILE: &str = "/tiles/parcels,zoning_districts,roads/15/9911/12118.mvt";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let dir = tempfile::tempdir()?;
    let mut stores: Vec<(&str, Arc<dyn Store>)> = vec![];
    let gpkg: Arc<dyn Store> =
        Arc::from(urbis_store::open(&dir.path().join("bench.gpkg").display().to_string()).await?);
    stores.push(("GeoPackage", gpkg));
    if let Ok(url) = std::env::var("URBIS_BENCH_PG_URL") {
        stores.push(("PostGIS", Arc::from(urbis_store::open(&url).await?)));
    }
    for (name, store) in stores {
        load(&*store, dir.path()).await?;
        let cached = urbis_server::router(store.clone());
        let first = call(&cached, TILE).await;
        println!("{name}: tile {TILE}: {} bytes", first.1);
        let hit = run(seconds, concurrency, {
            let cached = cached.clone();
            move || {
                let r = cached.clone();
                async move { call(&r, TILE).await }
            }
        })
        .await;
        let miss = run(seconds, concurrency, {
            let store = store.clone();
            move || {
                let r = urbis_server::router(store.clone());
                async move { call(&r, TILE).await }
            }
        })
        .await;
        println!("{name}: hit  {hit}");
        println!("{name}: miss {miss}");
    }
    Ok(())
}

async fn load(store: &dyn Store, dir: &Path) -> anyhow::Result<()> {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples");
    for (file, mapping, layer) in [
        ("cambridge/ASSESSING_ParcelsFY2014.topojson", None, LayerId::Parcels),
        ("cambridge/CDD_ZoningDistricts.geojson", Some("zoning_districts.toml"), LayerId::ZoningDistricts),
        ("cambridge/TRANS_Centerlines.geojson", Some("roads.toml"), LayerId::Roads),
    ] {
        let input = dir.join(Path::new(file).file_name().unwrap_or_default());
        std::fs::copy(samples.join(file), &input)?;
        let mut options = ImportOptions::new(layer);
        match mapping {
            Some(m) => options.mapping = Mapping::from_toml_file(&samples.join("mappings").join(m))?,
            None => {
                options.mapping.fields.insert("code".into(), "ML".into());
            }
        }
        options.skip_invalid = true;
        options.make_valid = layer != LayerId::Roads;
        options.replace = true;
        import_file(store, &input, &options, &Silent).await?;
    }
    Ok(())
}

/// One request: (status, body bytes, whether it was a cache hit).
async fn call(router: &axum::Router, uri: &str) -> (StatusCode, usize, bool) {
    let req = Request::get(uri).header("host", "bench").body(Body::empty()).expect("a request");
    let Ok(r) = router.clone().oneshot(req).await;
    let hit = r.headers().get("x-cache").is_some_and(|v| v == "hit");
    let status = r.status();
    let n = r.into_body().collect().await.map(|b| b.to_bytes().len()).unwrap_or(0);
    (status, n, hit)
}

struct Figures {
    requests: usize,
    hits: usize,
    seconds: f64,
    p50: Duration,
    p99: Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>9.0} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  ({} requests, {} from the cache)",
            self.requests as f64 / self.seconds,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.requests,
            self.hits
        )
    }
}

/// `concurrency` clients sending requests made by `make` back to back for `seconds`.
async fn run<F, Fut>(seconds: u64, concurrency: usize, make: F) -> Figures
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (StatusCode, usize, bool)> + Send,
{
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..concurrency {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            let mut hits = 0;
            while Instant::now() < end {
                let t = Instant::now();
                let (status, _, hit) = make().await;
                assert_eq!(status, StatusCode::OK);
                lat.push(t.elapsed());
                hits += usize::from(hit);
            }
            (lat, hits)
        }));
    }
    let mut all = vec![];
    let mut hits = 0;
    for t in tasks {
        let (lat, h) = t.await.expect("a client");
        all.extend(lat);
        hits += h;
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied();
    Figures { requests: all.len(), hits, seconds, p50: at(0.5).unwrap_or_default(), p99: at(0.99).unwrap_or_default() }
}
