//! Where an uncached tile's time goes, per zoom (z12–z16), on the demo city: the store's tile
//! read alone, this crate's encoder alone, the whole render (reads at once, then encoding), and on PostGIS one ST_AsMVT query per
//! layer (ST_AsMVTGeom with the same extent, buffer and per-zoom simplification) on the same
//! tiles, one after the other on one connection. The measurement behind the choice of encoder
//! (tiles/README.md).
//!
//! ```text
//! cargo run --release -p urbis-tiles --example tile_timing -- <demo.gpkg | postgres://…> [LAYERS] [TILES_PER_ZOOM]
//! ```
//!
//! LAYERS is comma-separated (default `parcels,zoning_districts,zoning_overlays,roads`).

use std::time::Instant;

use urbis_core::LayerId;
use urbis_tiles::{Definitions, TileId};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(location) = args.first() else {
        anyhow::bail!("usage: tile_timing <demo.gpkg | postgres://…> [LAYERS] [TILES_PER_ZOOM]");
    };
    let layers: Vec<LayerId> = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("parcels,zoning_districts,zoning_overlays,roads")
        .split(',')
        .map(|l| l.parse())
        .collect::<Result<_, _>>()?;
    let per_zoom: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    if location.starts_with("postgres") {
        // The schema of this build (a database loaded by an older one may lack a migration).
        urbis_store::postgis::migrate(location).await?;
    }
    let store = urbis_store::open(location).await?;
    let defs = Definitions::built_in();
    let extent = store.extent(LayerId::Parcels).await?.ok_or_else(|| anyhow::anyhow!("no parcels"))?;
    let pg = if location.starts_with("postgres") {
        use sqlx::Connection;
        Some(sqlx::PgConnection::connect(location).await?)
    } else {
        None
    };
    let mut pg = pg;
    println!(
        "{:>3} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "z", "tiles", "read ms", "encode ms", "render ms", "asmvt ms", "KB rust", "KB asmvt"
    );
    for z in 12..=16u8 {
        let all: Vec<TileId> = TileId::covering(extent, z).collect();
        let step = (all.len() / per_zoom).max(1);
        let tiles: Vec<TileId> = all.into_iter().step_by(step).collect();
        // The store's reads alone, then the encoder alone on what they returned.
        let started = Instant::now();
        let mut read = vec![];
        for &t in &tiles {
            for &l in &layers {
                let Some(def) = defs.get(l) else { continue };
                if let Some(rule) = def.rule(t.z) {
                    read.push((t, def, store.tile_features(l, def.query_box(t), &rule.fields).await?));
                }
            }
        }
        let query = started.elapsed().as_secs_f64() * 1000.0 / tiles.len() as f64;
        let started = Instant::now();
        for (t, def, features) in &read {
            std::hint::black_box(urbis_tiles::encode_layer(def, *t, features));
        }
        let encode = started.elapsed().as_secs_f64() * 1000.0 / tiles.len() as f64;
        let started = Instant::now();
        let mut rust_bytes = 0;
        for &t in &tiles {
            rust_bytes += urbis_tiles::render(&*store, defs, &layers, t).await?.bytes.len();
        }
        let render = started.elapsed().as_secs_f64() * 1000.0 / tiles.len() as f64;
        let (mut asmvt, mut asmvt_bytes) = (f64::NAN, 0);
        if let Some(conn) = pg.as_mut() {
            let started = Instant::now();
            for &t in &tiles {
                for &l in &layers {
                    let Some(def) = defs.get(l) else { continue };
                    let Some(rule) = def.rule(t.z) else { continue };
                    let cols: String = rule.fields.iter().map(|f| format!(", \"{f}\"")).collect();
                    let buffer = (def.buffer_px * def.pixel()) as i32;
                    let tol = rule.tolerance_px * def.pixel() * t.span() / def.extent as f64;
                    let sql = format!(
                        "WITH b AS (SELECT ST_TileEnvelope($1, $2, $3) AS env) \
                         SELECT ST_AsMVT(q, '{name}', 4096, 'geom') FROM ( \
                           SELECT id{cols}, ST_AsMVTGeom(ST_Simplify(ST_Transform(geom, 3857), {tol}, true), b.env, 4096, {buffer}, true) AS geom \
                           FROM {name}, b WHERE geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => {m}), 4326)) q \
                         WHERE geom IS NOT NULL",
                        name = l.name(),
                        m = def.buffer_px / 256.0
                    );
                    let bytes: Option<Vec<u8>> = sqlx::query_scalar(&sql)
                        .bind(t.z as i32)
                        .bind(t.x as i32)
                        .bind(t.y as i32)
                        .fetch_one(&mut *conn)
                        .await?;
                    asmvt_bytes += bytes.map_or(0, |b| b.len());
                }
            }
            asmvt = started.elapsed().as_secs_f64() * 1000.0 / tiles.len() as f64;
        }
        let kb = |b: usize| b as f64 / 1024.0 / tiles.len() as f64;
        println!(
            "{z:>3} {:>6} {query:>10.2} {encode:>10.2} {render:>10.2} {asmvt:>10.2} {:>10.1} {:>10.1}",
            tiles.len(),
            kb(rust_bytes),
            kb(asmvt_bytes)
        );
    }
    Ok(())
}
