//! Mapbox Vector Tiles (MVT 2.1) of the city's layers, in the WebMercatorQuad grid, from either
//! store. [`render`] asks the store for the features around a tile (a box in degrees) and encodes
//! them; each layer is generalised as its definition in `tiles/` says ([`config`]); the geometry
//! work (clip, simplify, quantise, winding) is in [`geometry`]. Only the protobuf messages come
//! from a crate (geozero's generated `vector_tile.proto`).
//!
//! No HTTP here: `urbis-server` serves what this crate makes.

pub mod config;
pub mod export;
pub mod geometry;
pub mod tms;

// foldhash, not SipHash: the tag tables take a lookup per attribute of every feature, and
// their keys come from the store, not from a client that could choose colliding ones.
use foldhash::HashMap;

use geozero::mvt::{tile, Message, Tile as MvtTile};
use serde_json::Value;
use urbis_core::cql2::Filter;
use urbis_core::{Feature, FieldType, LayerId};
use urbis_store::{Query, Store, StoreError};

pub use config::{Definitions, LayerTiles, ZoomRule};
pub use tms::TileId;

/// The media type of an MVT tile.
pub const MEDIA_TYPE: &str = "application/vnd.mapbox-vector-tile";

#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// A tile coordinate outside WebMercatorQuad; `parameter` is `z`, `x` or `y`.
    #[error("{message}")]
    OutOfMatrix { parameter: &'static str, message: String },
    #[error("{layer} has no tiles (it holds no geometry)")]
    NoTiles { layer: LayerId },
    #[error("tile definition {file}: {message}")]
    Definition { file: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("encoding a tile failed: {0}")]
    Encode(String),
    #[error("writing {path}: {message}")]
    Export { path: String, message: String },
}

/// An encoded tile.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    pub bytes: Vec<u8>,
    /// Features written, over every layer.
    pub features: usize,
}

impl Tile {
    /// A strong validator of the bytes: the first 128 bits of their SHA-256, in hex (bare; HTTP
    /// puts it in quotes).
    pub fn etag(&self) -> String {
        use sha2::{Digest, Sha256};
        Sha256::digest(&self.bytes)[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.features == 0
    }
}

/// The tile `tile` of `layers` (in that order, one MVT layer each, named as the layer), read from
/// `store` and generalised per `defs`. A layer below its minimum zoom, or with nothing in the
/// tile, is left out; a tile with no feature at all has empty bytes.
pub async fn render(
    store: &dyn Store,
    defs: &Definitions,
    layers: &[LayerId],
    tile: TileId,
) -> Result<Tile, TileError> {
    render_filtered(store, defs, layers, &vec![None; layers.len()], tile).await
}

/// [`render`] with a CQL2 filter per layer (`filters[i]` for `layers[i]`, `None` for every
/// feature): a layer's features in the tile are those the filter selects, as on `/items`.
pub async fn render_filtered(
    store: &dyn Store,
    defs: &Definitions,
    layers: &[LayerId],
    filters: &[Option<Filter>],
    tile: TileId,
) -> Result<Tile, TileError> {
    let mut wanted = vec![];
    for (i, &layer) in layers.iter().enumerate() {
        let def = defs.get(layer).ok_or(TileError::NoTiles { layer })?;
        if def.rule(tile.z).is_some() {
            wanted.push((def.clone(), filters.get(i).cloned().flatten()));
        }
    }
    // The layers' reads at once (each takes its own connection on PostGIS). Without a filter, the
    // store's lean tile read: only the fields written at this zoom.
    let reads = wanted.iter().map(|(def, filter)| async move {
        let bbox = def.query_box(tile);
        match (filter, def.rule(tile.z)) {
            (None, Some(rule)) => store.tile_features(def.layer, bbox, &rule.fields).await,
            _ => {
                let mut query = Query::all().bbox(bbox);
                query.cql2 = filter.clone();
                store.query(def.layer, &query).await
            }
        }
    });
    let read = futures::future::try_join_all(reads).await?;
    let sources: Vec<_> = wanted.into_iter().map(|(def, _)| def).zip(read).collect();
    // Clipping and simplifying are CPU work: off the async threads.
    tokio::task::spawn_blocking(move || {
        let layers: Vec<_> = sources.iter().filter_map(|(def, features)| encode_layer(def, tile, features)).collect();
        Ok(encode(layers))
    })
    .await
    .map_err(|e| TileError::Encode(e.to_string()))?
}

/// The protobuf bytes of a tile made of `layers`.
pub fn encode(layers: Vec<tile::Layer>) -> Tile {
    let features = layers.iter().map(|l| l.features.len()).sum();
    if features == 0 {
        return Tile { bytes: vec![], features: 0 };
    }
    Tile { bytes: MvtTile { layers }.encode_to_vec(), features }
}

/// One MVT layer of `features` in `tile`, or `None` when none is left in it (or the zoom is
/// below the layer's minimum). Features are written in the order given (stores give id order);
/// when more than the zoom's feature limit remain, the largest are kept.
pub fn encode_layer(def: &LayerTiles, tile: TileId, features: &[Feature]) -> Option<tile::Layer> {
    let rule = def.rule(tile.z)?;
    let px = def.pixel();
    let fit = geometry::Fit {
        transform: tms::TileTransform::new(tile, def.extent),
        extent: def.extent,
        buffer: def.buffer_px * px,
        tolerance: rule.tolerance_px * px,
        min_area: rule.min_size_px * px * rule.min_size_px * px,
        min_length: rule.min_size_px * px,
    };
    let mut fitted: Vec<(usize, geometry::TileGeometry)> = vec![];
    for (i, f) in features.iter().enumerate() {
        let Some(g) = &f.geometry else { continue };
        fitted.extend(geometry::fit(g, &fit).into_iter().map(|tg| (i, tg)));
    }
    if let Some(limit) = rule.feature_limit {
        if fitted.len() > limit {
            tracing::debug!(layer = %def.layer, %tile, features = fitted.len(), limit, "feature limit reached");
            // Largest first (ties in the given order), then back to the given order.
            let mut order: Vec<usize> = (0..fitted.len()).collect();
            order.sort_by(|&a, &b| fitted[b].1.size().total_cmp(&fitted[a].1.size()).then(a.cmp(&b)));
            let mut keep = vec![false; fitted.len()];
            order.into_iter().take(limit).for_each(|i| keep[i] = true);
            let mut k = keep.into_iter();
            fitted.retain(|_| k.next().unwrap_or(false));
        }
    }
    if fitted.is_empty() {
        return None;
    }
    let mut tags = Tags::default();
    let mut out = Vec::with_capacity(fitted.len());
    for (i, g) in fitted {
        let f = &features[i];
        let mut t = vec![];
        tags.push(&mut t, "id", tile::Value { string_value: Some(f.id.clone()), ..Default::default() });
        for name in &rule.fields {
            let Some(field) = def.layer.schema().field(name).filter(|f| !f.private) else { continue };
            if let Some(v) = f.get(name).and_then(|v| value(field.ty, v)) {
                tags.push(&mut t, name, v);
            }
        }
        let (ty, geometry) = geometry::commands(&g);
        out.push(tile::Feature { id: f.id.parse::<u64>().ok(), tags: t, r#type: Some(ty), geometry });
    }
    Some(tile::Layer {
        version: 2,
        name: def.layer.name().to_string(),
        features: out,
        keys: tags.keys,
        values: tags.values,
        extent: Some(def.extent),
    })
}

/// An attribute as an MVT value: text, dates and JSON as strings, integers as `int`, reals as
/// `double`, booleans as `bool`.
fn value(ty: FieldType, v: &Value) -> Option<tile::Value> {
    let mut out = tile::Value::default();
    match (ty, v) {
        (_, Value::Null) => return None,
        (FieldType::Integer, v) => out.int_value = Some(v.as_i64()?),
        (FieldType::Real, v) => out.double_value = Some(v.as_f64()?),
        (FieldType::Boolean, v) => out.bool_value = Some(v.as_bool()?),
        (_, Value::String(s)) => out.string_value = Some(s.clone()),
        (_, v) => out.string_value = Some(v.to_string()),
    }
    Some(out)
}

/// The key and value tables of a layer, each entry written once.
#[derive(Default)]
struct Tags {
    keys: Vec<String>,
    key_index: HashMap<String, u32>,
    values: Vec<tile::Value>,
    value_index: HashMap<ValueKey, u32>,
}

#[derive(PartialEq, Eq, Hash)]
enum ValueKey {
    Str(String),
    Int(i64),
    Double(u64),
    Bool(bool),
}

impl Tags {
    fn push(&mut self, tags: &mut Vec<u32>, key: &str, v: tile::Value) {
        let k = match self.key_index.get(key) {
            Some(&k) => k,
            None => {
                self.keys.push(key.to_string());
                self.key_index.insert(key.to_string(), self.keys.len() as u32 - 1);
                self.keys.len() as u32 - 1
            }
        };
        let vk = if let Some(s) = &v.string_value {
            ValueKey::Str(s.clone())
        } else if let Some(i) = v.int_value {
            ValueKey::Int(i)
        } else if let Some(d) = v.double_value {
            ValueKey::Double(d.to_bits())
        } else {
            ValueKey::Bool(v.bool_value.unwrap_or(false))
        };
        let idx = match self.value_index.get(&vk) {
            Some(&i) => i,
            None => {
                self.values.push(v);
                self.value_index.insert(vk, self.values.len() as u32 - 1);
                self.values.len() as u32 - 1
            }
        };
        tags.push(k);
        tags.push(idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;
    use geo_types::{Coord, MultiPolygon};

    #[test]
    fn a_layer_keeps_its_zoom_fields_and_never_private_ones() {
        let defs = Definitions::built_in();
        let def = defs.get(LayerId::Permits).unwrap();
        let tile = TileId { z: 16, x: 19826, y: 24228 };
        let tr = tms::TileTransform::new(tile, 4096);
        let c = tr.invert(Coord { x: 2048.0, y: 2048.0 });
        let f = Feature::new("7", Some(geo_types::Point::new(c.x, c.y).into()))
            .with("tracking_code", "P-1")
            .with("stage", "received")
            .with("applicant", serde_json::json!({"name": "A. Person"}))
            .with("proposed_height_m", 12.5);
        let layer = encode_layer(def, tile, &[f]).unwrap();
        assert_eq!(layer.name, "permits");
        assert!(layer.keys.contains(&"tracking_code".to_string()));
        assert!(layer.keys.contains(&"proposed_height_m".to_string()));
        assert!(!layer.keys.iter().any(|k| k == "applicant"));
        assert_eq!(layer.features[0].id, Some(7));
        assert_eq!(layer.features[0].geometry, vec![9, 4096, 4096]);
        // Below the layer's minimum zoom: nothing.
        let low = TileId::containing(c.x, c.y, 10);
        assert!(encode_layer(def, low, &[Feature::new("7", Some(geo_types::Point::new(c.x, c.y).into()))]).is_none());
    }

    #[test]
    fn the_feature_limit_keeps_the_largest() {
        let mut def = Definitions::built_in().get(LayerId::Parcels).unwrap().clone();
        def.zooms.iter_mut().for_each(|z| z.feature_limit = Some(2));
        let tile = TileId { z: 16, x: 19826, y: 24228 };
        let tr = tms::TileTransform::new(tile, 4096);
        let sq = |id: &str, x: f64, s: f64| {
            let a = tr.invert(Coord { x, y: 100.0 });
            let b = tr.invert(Coord { x: x + s, y: 100.0 + s });
            let p = polygon![(x: a.x, y: a.y), (x: b.x, y: a.y), (x: b.x, y: b.y), (x: a.x, y: b.y)];
            Feature::new(id, Some(MultiPolygon(vec![p]).into()))
        };
        let fs = [sq("a", 0.0, 100.0), sq("b", 500.0, 300.0), sq("c", 1000.0, 200.0)];
        let layer = encode_layer(&def, tile, &fs).unwrap();
        let ids: Vec<_> =
            layer.features.iter().map(|f| layer.values[f.tags[1] as usize].string_value.clone().unwrap()).collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[test]
    fn values_are_shared_and_typed() {
        let mut tags = Tags::default();
        let mut t = vec![];
        let s = |v: &str| tile::Value { string_value: Some(v.into()), ..Default::default() };
        tags.push(&mut t, "a", s("x"));
        tags.push(&mut t, "b", s("x"));
        tags.push(&mut t, "a", tile::Value { int_value: Some(3), ..Default::default() });
        assert_eq!(t, [0, 0, 1, 0, 0, 1]);
        assert_eq!(value(FieldType::Json, &serde_json::json!(["a"])).unwrap().string_value.as_deref(), Some("[\"a\"]"));
        assert_eq!(value(FieldType::Real, &serde_json::json!(2)).unwrap().double_value, Some(2.0));
        assert!(value(FieldType::Text, &Value::Null).is_none());
    }
}
