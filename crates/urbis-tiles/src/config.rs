//! How each layer is generalised in tiles, read from the repository's `tiles/` folder (one TOML per
//! layer, documented in `tiles/README.md`). The definitions are compiled into the binary, so a
//! server needs no files beside it; [`Definitions::from_dir`] reads another folder.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use urbis_core::LayerId;

use crate::tms::MAX_ZOOM;
use crate::TileError;

/// The side of a tile in "pixels", the unit tolerances and buffers are given in: a standard 256-px
/// tile, so one pixel is `extent / 256` tile units (16 with the default extent 4096).
pub const TILE_PIXELS: f64 = 256.0;

/// The definitions in `tiles/`, as compiled in.
const BUILT_IN: [(&str, &str); 9] = [
    ("parcels.toml", include_str!("../../../tiles/parcels.toml")),
    ("zoning_districts.toml", include_str!("../../../tiles/zoning_districts.toml")),
    ("zoning_overlays.toml", include_str!("../../../tiles/zoning_overlays.toml")),
    ("roads.toml", include_str!("../../../tiles/roads.toml")),
    ("utilities.toml", include_str!("../../../tiles/utilities.toml")),
    ("service_centres.toml", include_str!("../../../tiles/service_centres.toml")),
    ("buildings.toml", include_str!("../../../tiles/buildings.toml")),
    ("permits.toml", include_str!("../../../tiles/permits.toml")),
    ("coverage_results.toml", include_str!("../../../tiles/coverage_results.toml")),
];

/// Attributes no store holds that the server computes for each tile it serves, by layer: a
/// definition may name them among its fields; [`crate::encode_layer`] leaves them out (so do
/// exported archives) and the server adds them (the permits' clock status as of the request).
pub const COMPUTED: [(LayerId, &str); 1] = [(LayerId::Permits, "clock_status")];

/// One layer's file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerFile {
    layer: String,
    minzoom: u8,
    maxzoom: u8,
    #[serde(default = "default_buffer")]
    buffer_px: f64,
    #[serde(default = "default_extent")]
    extent: u32,
    #[serde(rename = "zoom")]
    zooms: Vec<ZoomFile>,
}

fn default_buffer() -> f64 {
    4.0
}

fn default_extent() -> u32 {
    4096
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoomFile {
    from: u8,
    fields: Vec<String>,
    #[serde(default = "default_tolerance")]
    tolerance_px: f64,
    #[serde(default)]
    feature_limit: Option<usize>,
    #[serde(default = "default_min_size")]
    min_size_px: f64,
}

fn default_tolerance() -> f64 {
    1.0
}

fn default_min_size() -> f64 {
    1.0
}

/// How one layer goes into tiles.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTiles {
    pub layer: LayerId,
    /// Below it, the layer is left out of tiles (a tile of it alone is empty).
    pub minzoom: u8,
    /// The deepest zoom clients should request (they overzoom past it); deeper tiles are still
    /// served, generalised as at the last range.
    pub maxzoom: u8,
    /// Geometry kept around the tile, in pixels, so that lines and fills join across tiles.
    pub buffer_px: f64,
    /// The tile's grid, 4096 unless the file says otherwise.
    pub extent: u32,
    /// Zoom ranges in order, each from its `from` to the next one's.
    pub zooms: Vec<ZoomRule>,
}

/// The generalisation of a range of zooms.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoomRule {
    pub from: u8,
    /// The attributes written, in this order (never private ones).
    pub fields: Vec<&'static str>,
    /// Douglas–Peucker tolerance, in pixels.
    pub tolerance_px: f64,
    /// At most this many features in one tile; the largest are kept.
    pub feature_limit: Option<usize>,
    /// Polygons with less area than this many square pixels, and lines shorter than this many
    /// pixels, are left out.
    pub min_size_px: f64,
}

impl LayerTiles {
    /// The rule of zoom `z`, or `None` below the layer's minimum zoom.
    pub fn rule(&self, z: u8) -> Option<&ZoomRule> {
        if z < self.minzoom {
            return None;
        }
        self.zooms.iter().rev().find(|r| r.from <= z)
    }

    /// The box (degrees) a tile of this layer is made from: the tile and its buffer. A feature
    /// outside it is in no way part of the tile, so an edit outside it leaves the tile as it was.
    pub fn query_box(&self, tile: crate::TileId) -> geo_types::Rect {
        tile.bbox_degrees(self.buffer_px / TILE_PIXELS)
    }

    /// Tile units per pixel.
    pub fn pixel(&self) -> f64 {
        self.extent as f64 / TILE_PIXELS
    }

    /// Every field some zoom writes, in schema order.
    pub fn all_fields(&self) -> Vec<&'static urbis_core::Field> {
        self.layer.schema().fields.iter().filter(|f| self.zooms.iter().any(|z| z.fields.contains(&f.name))).collect()
    }
}

/// The definition of every layer that has tiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Definitions {
    layers: BTreeMap<LayerId, LayerTiles>,
}

impl Definitions {
    /// The definitions compiled in from `tiles/` (checked by this crate's tests, so never failing).
    pub fn built_in() -> &'static Definitions {
        static DEFS: std::sync::OnceLock<Definitions> = std::sync::OnceLock::new();
        DEFS.get_or_init(|| {
            Definitions::from_texts(BUILT_IN.iter().map(|(n, t)| (n.to_string(), t.to_string())))
                .unwrap_or_else(|e| panic!("the tile definitions compiled in from tiles/ are wrong: {e}"))
        })
    }

    /// Every `*.toml` of a folder.
    pub fn from_dir(dir: &Path) -> Result<Definitions, TileError> {
        let bad = |file: String, message: String| TileError::Definition { file, message };
        let entries = std::fs::read_dir(dir).map_err(|e| bad(dir.display().to_string(), e.to_string()))?;
        let mut texts = vec![];
        for entry in entries {
            let path = entry.map_err(|e| bad(dir.display().to_string(), e.to_string()))?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text =
                    std::fs::read_to_string(&path).map_err(|e| bad(path.display().to_string(), e.to_string()))?;
                texts.push((path.display().to_string(), text));
            }
        }
        Definitions::from_texts(texts)
    }

    /// Parses and checks definitions given as `(file name, text)`.
    pub fn from_texts(texts: impl IntoIterator<Item = (String, String)>) -> Result<Definitions, TileError> {
        let mut layers = BTreeMap::new();
        for (file, text) in texts {
            let def = parse(&file, &text)?;
            if layers.contains_key(&def.layer) {
                return Err(TileError::Definition { file, message: format!("{} is defined twice", def.layer) });
            }
            layers.insert(def.layer, def);
        }
        Ok(Definitions { layers })
    }

    pub fn get(&self, layer: LayerId) -> Option<&LayerTiles> {
        self.layers.get(&layer)
    }

    pub fn layers(&self) -> impl Iterator<Item = &LayerTiles> {
        self.layers.values()
    }
}

fn parse(file: &str, text: &str) -> Result<LayerTiles, TileError> {
    let bad = |message: String| TileError::Definition { file: file.to_string(), message };
    let raw: LayerFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    let layer: LayerId = raw.layer.parse().map_err(|e: urbis_core::layer::UnknownLayer| bad(e.to_string()))?;
    let schema = layer.schema();
    if !schema.has_geometry() {
        return Err(bad(format!("{layer} has no geometry and cannot be tiled")));
    }
    if raw.minzoom > raw.maxzoom || raw.maxzoom > MAX_ZOOM {
        return Err(bad(format!(
            "minzoom {} and maxzoom {} must satisfy 0 ≤ minzoom ≤ maxzoom ≤ {MAX_ZOOM}",
            raw.minzoom, raw.maxzoom
        )));
    }
    if !(0.0..=128.0).contains(&raw.buffer_px) {
        return Err(bad(format!("buffer_px = {} must be between 0 and 128", raw.buffer_px)));
    }
    if !(256..=65_536).contains(&raw.extent) {
        return Err(bad(format!("extent = {} must be between 256 and 65536", raw.extent)));
    }
    if raw.zooms.is_empty() || raw.zooms[0].from != raw.minzoom {
        return Err(bad(format!("the first [[zoom]] must start at minzoom ({})", raw.minzoom)));
    }
    let mut zooms = vec![];
    let mut previous: Option<u8> = None;
    for z in raw.zooms {
        if previous.is_some_and(|p| z.from <= p) {
            return Err(bad(format!("[[zoom]] from = {} must come after the previous range", z.from)));
        }
        previous = Some(z.from);
        if !(0.0..=64.0).contains(&z.tolerance_px) || !(0.0..=64.0).contains(&z.min_size_px) {
            return Err(bad(format!("zoom {}: tolerance_px and min_size_px must be between 0 and 64", z.from)));
        }
        if z.feature_limit == Some(0) {
            return Err(bad(format!("zoom {}: feature_limit must be at least 1", z.from)));
        }
        let mut fields = vec![];
        for name in &z.fields {
            if let Some((_, computed)) = COMPUTED.iter().find(|(l, n)| *l == layer && n == name) {
                fields.push(*computed);
                continue;
            }
            let field = schema
                .field(name)
                .ok_or_else(|| bad(format!("zoom {}: `{name}` is not a field of {layer}", z.from)))?;
            if field.private {
                return Err(bad(format!("zoom {}: `{name}` is private and never goes into tiles", z.from)));
            }
            fields.push(field.name);
        }
        zooms.push(ZoomRule {
            from: z.from,
            fields,
            tolerance_px: z.tolerance_px,
            feature_limit: z.feature_limit,
            min_size_px: z.min_size_px,
        });
    }
    Ok(LayerTiles {
        layer,
        minzoom: raw.minzoom,
        maxzoom: raw.maxzoom,
        buffer_px: raw.buffer_px,
        extent: raw.extent,
        zooms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layer_with_geometry_has_a_definition_and_they_parse() {
        let defs = Definitions::built_in();
        for l in LayerId::ALL {
            assert_eq!(defs.get(l).is_some(), l.schema().has_geometry(), "{l}");
        }
        // The folder on disk and the compiled-in copy agree.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tiles");
        assert_eq!(&Definitions::from_dir(&dir).unwrap(), defs);
        for d in defs.layers() {
            for f in d.all_fields() {
                assert!(!f.private, "{} {}", d.layer, f.name);
            }
        }
    }

    #[test]
    fn rules_by_zoom() {
        let d = parse(
            "t.toml",
            "layer = \"parcels\"\nminzoom = 12\nmaxzoom = 18\n[[zoom]]\nfrom = 12\nfields = [\"code\"]\n\
             [[zoom]]\nfrom = 15\nfields = [\"code\", \"address\"]\ntolerance_px = 0.5\nfeature_limit = 10\n",
        )
        .unwrap();
        assert!(d.rule(11).is_none());
        assert_eq!(d.rule(12).unwrap().fields, ["code"]);
        assert_eq!(d.rule(14).unwrap().tolerance_px, 1.0);
        assert_eq!(d.rule(15).unwrap().fields, ["code", "address"]);
        assert_eq!(d.rule(22).unwrap().feature_limit, Some(10));
        assert_eq!(d.pixel(), 16.0);
    }

    #[test]
    fn bad_definitions_are_named() {
        let err = |text: &str| parse("x.toml", text).unwrap_err().to_string();
        let head = "layer = \"permits\"\nminzoom = 12\nmaxzoom = 18\n";
        let e = err(&format!("{head}[[zoom]]\nfrom = 12\nfields = [\"applicant\"]\n"));
        assert!(e.contains("x.toml") && e.contains("`applicant` is private"), "{e}");
        let e = err(&format!("{head}[[zoom]]\nfrom = 12\nfields = [\"nope\"]\n"));
        assert!(e.contains("`nope` is not a field of permits"), "{e}");
        let e = err(&format!("{head}[[zoom]]\nfrom = 13\nfields = []\n"));
        assert!(e.contains("must start at minzoom"), "{e}");
        let e = err("layer = \"procedures\"\nminzoom = 1\nmaxzoom = 2\n[[zoom]]\nfrom = 1\nfields = []\n");
        assert!(e.contains("no geometry"), "{e}");
        let e = err(&format!("{head}colour = 1\n[[zoom]]\nfrom = 12\nfields = []\n"));
        assert!(e.contains("colour"), "{e}");
    }
}
