//! `urbis tiles export`: the store's vector tiles into an MBTiles or PMTiles archive, with a
//! progress bar; the work is `urbis_tiles::export`.

use std::path::PathBuf;

use anyhow::Context;
use urbis_core::LayerId;
use urbis_import::ImportProgress;
use urbis_store::Store;
use urbis_tiles::export::{Export, Format};
use urbis_tiles::Definitions;

use crate::progress;

#[derive(clap::Subcommand)]
pub enum TilesAction {
    /// Write the tiles that hold features (gzip'd MVT, as the server serves them) into an
    /// MBTiles or PMTiles archive, with TileJSON-style metadata (vector_layers, bounds, center).
    Export(ExportArgs),
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[arg(long, env = "URBIS_STORE")]
    pub store: Option<String>,
    /// mbtiles or pmtiles.
    #[arg(long)]
    format: Format,
    /// The layers, comma-separated, one MVT layer each (default: every layer with tiles).
    #[arg(long, value_delimiter = ',')]
    layers: Vec<LayerId>,
    /// The first zoom (default: the lowest minimum zoom of the layers).
    #[arg(long)]
    minzoom: Option<u8>,
    /// The last zoom (default: the highest maximum zoom of the layers).
    #[arg(long)]
    maxzoom: Option<u8>,
    /// The archive to write (replaced if it exists).
    out: PathBuf,
}

pub async fn export(store: &dyn Store, args: ExportArgs) -> anyhow::Result<()> {
    let defs = Definitions::built_in();
    let layers: Vec<LayerId> =
        if args.layers.is_empty() { defs.layers().map(|d| d.layer).collect() } else { args.layers };
    let mut zooms = (u8::MAX, 0u8);
    for &l in &layers {
        let d = defs.get(l).with_context(|| format!("{l} has no tiles (it holds no geometry)"))?;
        zooms = (zooms.0.min(d.minzoom), zooms.1.max(d.maxzoom));
    }
    let what = Export {
        layers,
        minzoom: args.minzoom.unwrap_or(zooms.0),
        maxzoom: args.maxzoom.unwrap_or(zooms.1),
        format: args.format,
        out: args.out,
    };
    let bar = progress::Bar::new(what.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let started = std::time::Instant::now();
    let on_tile = |done: u64, total: u64| {
        if done == 1 {
            bar.phase("tiles", Some(total));
        }
        bar.advance(done);
    };
    let written = urbis_tiles::export::export(store, defs, &what, &on_tile).await;
    drop(bar);
    let written = written?;
    println!(
        "{}: {} tiles ({} tried), {:.1} MB gzip'd, zooms {}–{}, in {:.1} s",
        what.out.display(),
        written.tiles,
        written.tried,
        written.bytes as f64 / 1e6,
        what.minzoom,
        what.maxzoom,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
