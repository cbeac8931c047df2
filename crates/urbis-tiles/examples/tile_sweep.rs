//! Every tile of the demo city, timed and measured: the exhaustive check of the issue's limit (no
//! tile of parcels, zoning districts or roads over 500 KB at any zoom), and on PostGIS the
//! comparison of this crate's encoder with ST_AsMVT on the parcels.
//!
//! ```text
//! urbis demo --store /tmp/demo.gpkg --no-serve
//! cargo run --release -p urbis-tiles --example tile_sweep -- /tmp/demo.gpkg [postgres://…/db]
//! ```
//!
//! With a PostgreSQL URL, the demo's parcels, zoning districts and roads are copied into that
//! (migrated, emptied) database first, then swept there too, and ST_AsMVT is timed on the same
//! parcel tiles. Exits non-zero if a tile is over the limit.

use std::time::Instant;

use urbis_core::LayerId;
use urbis_store::{Query, Store};
use urbis_tiles::{Definitions, TileId};

const LAYERS: [LayerId; 3] = [LayerId::Parcels, LayerId::ZoningDistricts, LayerId::Roads];
const MAX_BYTES: usize = 500 * 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(gpkg) = args.first() else {
        anyhow::bail!("usage: tile_sweep <demo.gpkg> [postgres://…/database]");
    };
    let store = urbis_store::open(gpkg).await?;
    let mut over = sweep(&*store, "GeoPackage").await?;
    if let Some(url) = args.get(1) {
        urbis_store::postgis::migrate(url).await?;
        let pg = urbis_store::open(url).await?;
        for layer in LAYERS {
            let features = store.query(layer, &Query::all()).await?;
            pg.bulk_load(layer, &features, true, &|_| {}).await?;
        }
        over += sweep(&*pg, "PostGIS").await?;
        compare_st_asmvt(&*pg, url).await?;
    }
    anyhow::ensure!(over == 0, "{over} tiles over {MAX_BYTES} bytes");
    Ok(())
}

/// Every tile of every zoom 0–18 that meets each layer's extent; prints one row per layer and zoom.
async fn sweep(store: &dyn Store, name: &str) -> anyhow::Result<usize> {
    let defs = Definitions::built_in();
    let mut over = 0;
    println!("\n{name}: every tile of the layer's extent, z0–18 (empty tiles counted, not encoded)");
    println!(
        "{:<17} {:>3} {:>6} {:>9} {:>11} {:>11} {:>10}",
        "layer", "z", "tiles", "non-empty", "max bytes", "mean bytes", "ms/tile"
    );
    for layer in LAYERS {
        let Some(extent) = store.extent(layer).await? else { continue };
        for z in 0..=18u8 {
            let tiles: Vec<TileId> = TileId::covering(extent, z).collect();
            let started = Instant::now();
            let (mut max, mut total, mut nonempty) = (0usize, 0usize, 0usize);
            for &t in &tiles {
                let tile = urbis_tiles::render(store, defs, &[layer], t).await?;
                if !tile.is_empty() {
                    nonempty += 1;
                    total += tile.bytes.len();
                    max = max.max(tile.bytes.len());
                }
                if tile.bytes.len() > MAX_BYTES {
                    over += 1;
                    println!("  OVER THE LIMIT: {layer} {t}: {} bytes", tile.bytes.len());
                }
            }
            let ms = started.elapsed().as_secs_f64() * 1000.0 / tiles.len() as f64;
            let mean = total.checked_div(nonempty).unwrap_or(0);
            println!("{:<17} {z:>3} {:>6} {nonempty:>9} {max:>11} {mean:>11} {ms:>10.2}", layer.name(), tiles.len());
        }
    }
    Ok(over)
}

/// The parcels at z14–z17: this crate's encoder over the PostGIS store against one ST_AsMVT query
/// per tile (ST_AsMVTGeom with the same extent and buffer), on the same tiles; and whether
/// ST_AsMVT's tile holds the same features.
async fn compare_st_asmvt(store: &dyn Store, url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let defs = Definitions::built_in();
    let def = defs.get(LayerId::Parcels).expect("parcels have tiles");
    let extent = store.extent(LayerId::Parcels).await?.expect("parcels");
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let buffer = (def.buffer_px * def.pixel()) as i32;
    let sql = format!(
        "WITH b AS (SELECT ST_TileEnvelope($1, $2, $3) AS env), \
         q AS (SELECT id, code, land_use, ST_AsMVTGeom(ST_Transform(geom, 3857), b.env, 4096, {buffer}, true) AS geom \
               FROM parcels, b WHERE geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => {m}), 4326)) \
         SELECT ST_AsMVT(q, 'parcels', 4096, 'geom') FROM q",
        m = def.buffer_px / 256.0
    );
    println!("\nPostGIS, parcels: urbis-tiles (store query + Rust encoder) vs ST_AsMVT (one SQL query), same tiles");
    println!(
        "{:>3} {:>6} {:>13} {:>13} {:>14} {:>7} {:>10} {:>10} {:>10}",
        "z", "tiles", "query ms/tile", "rust ms/tile", "asmvt ms/tile", "ratio", "features", "only rust", "only asmvt"
    );
    for z in 14..=17u8 {
        // A fixed sample: at most 200 tiles per zoom, spread over the extent.
        let all: Vec<TileId> = TileId::covering(extent, z).collect();
        let step = (all.len() / 200).max(1);
        let tiles: Vec<TileId> = all.into_iter().step_by(step).collect();
        // The store's share of urbis' time: the same queries alone.
        let started = Instant::now();
        for &t in &tiles {
            let bbox = t.bbox_degrees(def.buffer_px / urbis_tiles::config::TILE_PIXELS);
            store.query(LayerId::Parcels, &Query::all().bbox(bbox)).await?;
        }
        let query = started.elapsed().as_secs_f64() * 1000.0 / tiles.len() as f64;
        let started = Instant::now();
        let mut rust_tiles = vec![];
        for &t in &tiles {
            rust_tiles.push(urbis_tiles::render(store, defs, &[LayerId::Parcels], t).await?.bytes);
        }
        let rust = started.elapsed().as_secs_f64() * 1000.0 / tiles.len() as f64;
        let started = Instant::now();
        let mut asmvt_tiles = vec![];
        for &t in &tiles {
            let bytes: Option<Vec<u8>> = sqlx::query_scalar(&sql)
                .bind(t.z as i32)
                .bind(t.x as i32)
                .bind(t.y as i32)
                .fetch_one(&mut conn)
                .await?;
            asmvt_tiles.push(bytes.unwrap_or_default());
        }
        let asmvt = started.elapsed().as_secs_f64() * 1000.0 / tiles.len() as f64;
        let (mut features, mut only_rust, mut only_asmvt) = (0, 0, 0);
        for (r, a) in rust_tiles.iter().zip(&asmvt_tiles) {
            let (r, a) = (ids(r), ids(a));
            features += r.len();
            only_rust += r.difference(&a).count();
            only_asmvt += a.difference(&r).count();
        }
        println!(
            "{z:>3} {:>6} {query:>13.2} {rust:>13.2} {asmvt:>14.2} {:>7.2} {features:>10} {only_rust:>10} {only_asmvt:>10}",
            tiles.len(),
            rust / asmvt,
        );
    }
    println!(
        "(ratio > 1: ST_AsMVT is faster. features: parcels in urbis' tiles; only …: ids in one tile and not the other)"
    );
    Ok(())
}

/// The `id` attributes of a tile's features.
fn ids(bytes: &[u8]) -> std::collections::HashSet<String> {
    use geozero::mvt::{Message, Tile};
    let mut out = std::collections::HashSet::new();
    let Ok(tile) = Tile::decode(bytes) else { return out };
    for layer in tile.layers {
        let Some(key) = layer.keys.iter().position(|k| k == "id") else { continue };
        for f in &layer.features {
            for pair in f.tags.chunks(2) {
                if pair[0] as usize == key {
                    if let Some(v) = layer.values.get(pair[1] as usize).and_then(|v| v.string_value.clone()) {
                        out.insert(v);
                    }
                }
            }
        }
    }
    out
}
