//! Tile archives for use without a server: MBTiles 1.3 (SQLite, through sqlx) and PMTiles v3 (the
//! `pmtiles` crate), of the same tiles the server serves, gzip'd. Only tiles that hold features
//! are written: the tiles to try come from each feature's own coverage (the tiles whose query box
//! meets its geometry, zoom by zoom), and a tile the encoder leaves empty is skipped.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use futures::{StreamExt, TryStreamExt};
use geo::{BoundingRect, Intersects};
use geo_types::{Coord, Rect};
use serde_json::{json, Map, Value};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use urbis_core::{FieldType, LayerId};
use urbis_store::{Query, Store};

use crate::tms::{TileId, MAX_LATITUDE};
use crate::{render, Definitions, TileError};

/// The archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    MbTiles,
    PmTiles,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "mbtiles" => Ok(Format::MbTiles),
            "pmtiles" => Ok(Format::PmTiles),
            other => Err(format!("`{other}` is not an archive format; use mbtiles or pmtiles")),
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct Export {
    pub layers: Vec<LayerId>,
    pub minzoom: u8,
    pub maxzoom: u8,
    pub format: Format,
    pub out: PathBuf,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    /// Tiles tried (the features' coverage) and tiles written (those left holding a feature).
    pub tried: u64,
    pub tiles: u64,
    /// Bytes of gzip'd tiles.
    pub bytes: u64,
}

/// Tiles made at once: the store answers several queries while the encoder works.
const CONCURRENCY: usize = 4;

fn failed(out: &Path, message: impl std::fmt::Display) -> TileError {
    TileError::Export { path: out.display().to_string(), message: message.to_string() }
}

/// Writes the archive; `progress(done, total)` after each tile tried. The file is written next
/// to `out` and moved there at the end, so a failed export leaves no half archive behind.
pub async fn export(
    store: &dyn Store,
    defs: &Definitions,
    what: &Export,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<Written, TileError> {
    if what.minzoom > what.maxzoom || what.maxzoom > crate::tms::MAX_ZOOM {
        return Err(failed(
            &what.out,
            format!("minzoom {} and maxzoom {} must satisfy minzoom ≤ maxzoom ≤ 24", what.minzoom, what.maxzoom),
        ));
    }
    for &layer in &what.layers {
        defs.get(layer).ok_or(TileError::NoTiles { layer })?;
    }
    let mut tiles: Vec<TileId> =
        coverage(store, defs, &what.layers, what.minzoom, what.maxzoom).await?.into_iter().collect();
    if what.format == Format::PmTiles {
        // PMTiles' own order (Hilbert within each zoom): a clustered archive.
        tiles.sort_by_key(|t| pmtiles_coord(*t).map(|c| u64::from(pmtiles::TileId::from(c))).unwrap_or(u64::MAX));
    }
    let bounds = bounds(store, &what.layers).await?;
    let metadata = metadata(defs, what, bounds);
    // Written next to `out` and moved there at the end: a failed export leaves no half archive.
    let part = what.out.with_extension("part");
    let _ = std::fs::remove_file(&part);
    let result = write_archive(store, defs, what, tiles, &metadata, &part, progress).await;
    match result {
        Ok(w) => {
            std::fs::rename(&part, &what.out).map_err(|e| failed(&what.out, e))?;
            Ok(w)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

async fn write_archive(
    store: &dyn Store,
    defs: &Definitions,
    what: &Export,
    tiles: Vec<TileId>,
    metadata: &Metadata,
    part: &Path,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<Written, TileError> {
    let total = tiles.len() as u64;
    let mut sink = match what.format {
        Format::MbTiles => Sink::Mb(MbTiles::create(part, metadata).await?),
        Format::PmTiles => Sink::Pm(Box::new(pmtiles_writer(part, metadata).map_err(|e| failed(&what.out, e))?)),
    };
    let mut written = Written { tried: total, ..Written::default() };
    let mut done = 0u64;
    let layers = &what.layers;
    let mut made = futures::stream::iter(tiles)
        .map(|t| async move { render(store, defs, layers, t).await.map(|tile| (t, tile)) })
        .buffered(CONCURRENCY);
    while let Some((t, tile)) = made.try_next().await? {
        done += 1;
        progress(done, total);
        if tile.is_empty() {
            continue;
        }
        let gz = gzip(&tile.bytes).map_err(|e| failed(&what.out, e))?;
        written.tiles += 1;
        written.bytes += gz.len() as u64;
        match &mut sink {
            Sink::Mb(mb) => mb.put(t, &gz).await.map_err(|e| failed(&what.out, e))?,
            Sink::Pm(w) => pmtiles_coord(t)
                .and_then(|c| w.add_tile(c, &gz).map_err(|e| e.to_string()))
                .map_err(|e| failed(&what.out, e))?,
        }
    }
    match sink {
        Sink::Mb(mb) => mb.finish().await.map_err(|e| failed(&what.out, e))?,
        Sink::Pm(w) => w.finalize().map_err(|e| failed(&what.out, e))?,
    }
    Ok(written)
}

enum Sink {
    Mb(MbTiles),
    Pm(Box<pmtiles::PmTilesStreamWriter<std::io::BufWriter<std::fs::File>>>),
}

/// Every tile of `layers` from `minzoom` to `maxzoom` that some feature's geometry reaches (within
/// the layer's buffer), at the zooms where the layer is in tiles, in z/x/y order.
pub async fn coverage(
    store: &dyn Store,
    defs: &Definitions,
    layers: &[LayerId],
    minzoom: u8,
    maxzoom: u8,
) -> Result<BTreeSet<TileId>, TileError> {
    let mut out = BTreeSet::new();
    for &layer in layers {
        let def = defs.get(layer).ok_or(TileError::NoTiles { layer })?;
        let features = store.query(layer, &Query::all()).await?;
        for z in minzoom.max(def.minzoom)..=maxzoom {
            for f in &features {
                let Some(g) = &f.geometry else { continue };
                let Some(b) = g.bounding_rect() else { continue };
                // The tiles whose query box may meet the feature: its box widened by a buffer
                // (less than a tile), then each checked against the geometry itself.
                for t in TileId::covering(widen(b, z), z) {
                    if !out.contains(&t) && g.intersects(&def.query_box(t)) {
                        out.insert(t);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A box widened by one tile of zoom `z` on each side (more than any buffer), in the projection's
/// metres where tiles are squares, clamped to the projection.
fn widen(b: Rect, z: u8) -> Rect {
    use crate::tms::{lonlat_to_mercator, mercator_to_lonlat, ORIGIN_SHIFT};
    let span = 2.0 * ORIGIN_SHIFT / (1u64 << z) as f64;
    let (x0, y0) = lonlat_to_mercator(b.min().x, b.min().y);
    let (x1, y1) = lonlat_to_mercator(b.max().x, b.max().y);
    let clamp = |v: f64| v.clamp(-ORIGIN_SHIFT, ORIGIN_SHIFT);
    let (lon0, lat0) = mercator_to_lonlat(clamp(x0 - span), clamp(y0 - span));
    let (lon1, lat1) = mercator_to_lonlat(clamp(x1 + span), clamp(y1 + span));
    Rect::new(Coord { x: lon0, y: lat0.max(-MAX_LATITUDE) }, Coord { x: lon1, y: lat1.min(MAX_LATITUDE) })
}

async fn bounds(store: &dyn Store, layers: &[LayerId]) -> Result<Option<Rect>, TileError> {
    let mut out: Option<Rect> = None;
    for &l in layers {
        if let Some(r) = store.extent(l).await? {
            out = Some(match out {
                None => r,
                Some(o) => Rect::new(
                    Coord { x: o.min().x.min(r.min().x), y: o.min().y.min(r.min().y) },
                    Coord { x: o.max().x.max(r.max().x), y: o.max().y.max(r.max().y) },
                ),
            });
        }
    }
    Ok(out)
}

/// The archive's metadata, as MBTiles 1.3 names it (PMTiles takes the same as its JSON).
struct Metadata {
    name: String,
    minzoom: u8,
    maxzoom: u8,
    bounds: [f64; 4],
    center: [f64; 3],
    /// `{"vector_layers": […]}`, as TileJSON describes the layers.
    json: Value,
}

fn metadata(defs: &Definitions, what: &Export, bounds: Option<Rect>) -> Metadata {
    let b = bounds.map(|r| [r.min().x, r.min().y.max(-MAX_LATITUDE), r.max().x, r.max().y.min(MAX_LATITUDE)]);
    let b = b.unwrap_or([-180.0, -MAX_LATITUDE, 180.0, MAX_LATITUDE]);
    let vector_layers: Vec<Value> = what
        .layers
        .iter()
        .filter_map(|&l| defs.get(l))
        .map(|d| {
            let mut fields = Map::new();
            fields.insert("id".into(), json!("String"));
            for f in d.all_fields() {
                let ty = match f.ty {
                    FieldType::Integer | FieldType::Real => "Number",
                    FieldType::Boolean => "Boolean",
                    _ => "String",
                };
                fields.insert(f.name.into(), json!(ty));
            }
            json!({ "id": d.layer.name(), "description": d.layer.schema().description,
                "minzoom": d.minzoom.max(what.minzoom), "maxzoom": what.maxzoom, "fields": fields })
        })
        .collect();
    let titles: Vec<&str> = what.layers.iter().map(|l| l.schema().title).collect();
    Metadata {
        name: format!("urbis: {}", titles.join(", ")),
        minzoom: what.minzoom,
        maxzoom: what.maxzoom,
        bounds: b,
        center: [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, what.minzoom.max(13).min(what.maxzoom) as f64],
        json: json!({ "vector_layers": vector_layers }),
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 2), flate2::Compression::default());
    e.write_all(bytes)?;
    e.finish()
}

/// An MBTiles 1.3 file being written, in one transaction.
struct MbTiles {
    conn: SqliteConnection,
}

impl MbTiles {
    async fn create(path: &Path, m: &Metadata) -> Result<MbTiles, TileError> {
        let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
        let mut conn = SqliteConnection::connect_with(&options).await.map_err(|e| failed(path, e))?;
        let b = m.bounds;
        let rows: Vec<(&str, String)> = vec![
            ("name", m.name.clone()),
            ("format", "pbf".into()),
            ("type", "overlay".into()),
            ("version", "1".into()),
            ("description", "Vector tiles of an urbis store".into()),
            ("minzoom", m.minzoom.to_string()),
            ("maxzoom", m.maxzoom.to_string()),
            ("bounds", format!("{},{},{},{}", b[0], b[1], b[2], b[3])),
            ("center", format!("{},{},{}", m.center[0], m.center[1], m.center[2])),
            ("json", m.json.to_string()),
        ];
        let setup = async {
            sqlx::query("PRAGMA application_id = 0x4d504258").execute(&mut conn).await?;
            sqlx::query("BEGIN").execute(&mut conn).await?;
            sqlx::query("CREATE TABLE metadata (name TEXT NOT NULL, value TEXT)").execute(&mut conn).await?;
            sqlx::query(
                "CREATE TABLE tiles (zoom_level INTEGER NOT NULL, tile_column INTEGER NOT NULL, \
                 tile_row INTEGER NOT NULL, tile_data BLOB NOT NULL)",
            )
            .execute(&mut conn)
            .await?;
            for (name, value) in rows {
                sqlx::query("INSERT INTO metadata (name, value) VALUES (?, ?)")
                    .bind(name)
                    .bind(value)
                    .execute(&mut conn)
                    .await?;
            }
            Ok::<_, sqlx::Error>(())
        };
        setup.await.map_err(|e| failed(path, e))?;
        Ok(MbTiles { conn })
    }

    async fn put(&mut self, t: TileId, gz: &[u8]) -> Result<(), sqlx::Error> {
        // MBTiles rows count from the south (TMS).
        let row = (1u32 << t.z) - 1 - t.y;
        sqlx::query("INSERT INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES (?, ?, ?, ?)")
            .bind(t.z as i64)
            .bind(t.x as i64)
            .bind(row as i64)
            .bind(gz)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn finish(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
            .execute(&mut self.conn)
            .await?;
        sqlx::query("COMMIT").execute(&mut self.conn).await?;
        self.conn.close().await
    }
}

fn pmtiles_coord(t: TileId) -> Result<pmtiles::TileCoord, String> {
    pmtiles::TileCoord::new(t.z, t.x, t.y).map_err(|e| e.to_string())
}

fn pmtiles_writer(
    path: &Path,
    m: &Metadata,
) -> Result<pmtiles::PmTilesStreamWriter<std::io::BufWriter<std::fs::File>>, String> {
    use pmtiles::{Compression, PmTilesWriter, TileType};
    let b = m.bounds;
    let mut metadata = m.json.clone();
    metadata["name"] = json!(m.name);
    metadata["format"] = json!("pbf");
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    PmTilesWriter::new(TileType::Mvt)
        .precompressed(Compression::Gzip)
        .min_zoom(m.minzoom)
        .max_zoom(m.maxzoom)
        .bounds(b[0], b[1], b[2], b[3])
        .center(m.center[0], m.center[1])
        .center_zoom(m.center[2] as u8)
        .metadata(metadata.to_string())
        .create(std::io::BufWriter::new(file))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name() {
        assert_eq!("mbtiles".parse::<Format>(), Ok(Format::MbTiles));
        assert_eq!("pmtiles".parse::<Format>(), Ok(Format::PmTiles));
        assert!("zip".parse::<Format>().unwrap_err().contains("mbtiles or pmtiles"));
    }

    #[test]
    fn widened_boxes_reach_the_neighbouring_tiles() {
        let t = TileId { z: 15, x: 9912, y: 12114 };
        let b = t.bbox_degrees(0.0);
        let inner = Rect::new(
            Coord { x: b.min().x + 1e-7, y: b.min().y + 1e-7 },
            Coord { x: b.max().x - 1e-7, y: b.max().y - 1e-7 },
        );
        let around: Vec<TileId> = TileId::covering(widen(inner, 15), 15).collect();
        assert_eq!(around.len(), 9, "{around:?}");
        assert!(around.contains(&TileId { z: 15, x: 9911, y: 12113 }) && around.contains(&t));
    }
}
