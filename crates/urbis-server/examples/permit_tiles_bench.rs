//! What the clock status costs the permits tiles: the mean time to make a permits tile with each
//! dossier's status (through the router, an empty cache for every request, so every one renders)
//! against the same tile made by `urbis-tiles` alone (no status), on a store given by its location
//! (a demo city: `urbis demo` writes one), at the tile of the permits' centre at z12, z14 and z16.
//!
//!   cargo run --release -p urbis-server --example permit_tiles_bench -- STORE [ROUNDS]
//!
//! The store is only read. Not a test: it asserts nothing.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;
use urbis_core::LayerId;
use urbis_store::Store;
use urbis_tiles::{Definitions, TileId};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let location = args.get(1).ok_or_else(|| anyhow::anyhow!("usage: permit_tiles_bench STORE [ROUNDS]"))?;
    let rounds: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let store: Arc<dyn Store> = Arc::from(urbis_store::open(location).await?);
    let extent = store.extent(LayerId::Permits).await?.ok_or_else(|| anyhow::anyhow!("no permits in {location}"))?;
    let (lon, lat) = ((extent.min().x + extent.max().x) / 2.0, (extent.min().y + extent.max().y) / 2.0);
    let dossiers = store.count(LayerId::Permits, &urbis_store::Query::all()).await?;
    println!("{location}: {dossiers} dossiers; tiles at ({lon:.4}, {lat:.4}); {rounds} rounds each");
    for z in [12u8, 14, 16] {
        let tile = TileId::containing(lon, lat, z);
        let uri = format!("/tiles/permits/{}/{}/{}.mvt", tile.z, tile.x, tile.y);
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..rounds {
            let router = urbis_server::router(store.clone());
            let request = Request::builder().uri(&uri).header("host", "bench").body(Body::empty())?;
            let response = router.oneshot(request).await?;
            bytes = response.into_body().collect().await?.to_bytes().len();
        }
        let with_status = started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);
        let started = Instant::now();
        let mut plain = 0;
        for _ in 0..rounds {
            plain = urbis_tiles::render(&*store, Definitions::built_in(), &[LayerId::Permits], tile).await?.bytes.len();
        }
        let without = started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);
        println!(
            "z{z} {uri}: with clock status {with_status:.1} ms ({bytes} bytes), urbis-tiles alone {without:.1} ms ({plain} bytes)"
        );
    }
    Ok(())
}
