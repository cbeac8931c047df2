//! The WebMercatorQuad tile matrix set (OGC 17-083r4, the `z/x/y` grid of web maps): tile ids,
//! their bounds in EPSG:3857 metres and in degrees, and the projection of WGS 84 coordinates into a
//! tile's own y-down space.

use geo_types::{Coord, Rect};

use crate::TileError;

/// WGS 84 semi-major axis, the sphere EPSG:3857 projects on.
pub const EARTH_RADIUS: f64 = 6_378_137.0;
/// Half the side of the square the projection maps the world on, in metres.
pub const ORIGIN_SHIFT: f64 = std::f64::consts::PI * EARTH_RADIUS;
/// The latitude at which the projected world is square; nothing beyond it is in any tile.
pub const MAX_LATITUDE: f64 = 85.051_128_779_806_59;
/// The deepest tile matrix the server declares (WebMercatorQuad defines 0–24).
pub const MAX_ZOOM: u8 = 24;

/// One tile: zoom `z`, column `x` (from the west), row `y` (from the north).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileId {
    /// A tile of the matrix set; [`TileError::OutOfMatrix`] names the coordinate that is not.
    pub fn new(z: u32, x: u64, y: u64) -> Result<TileId, TileError> {
        if z > MAX_ZOOM as u32 {
            return Err(TileError::OutOfMatrix {
                parameter: "z",
                message: format!("zoom {z} is past the deepest tile matrix, {MAX_ZOOM}"),
            });
        }
        let n = 1u64 << z;
        for (parameter, v) in [("x", x), ("y", y)] {
            if v >= n {
                return Err(TileError::OutOfMatrix {
                    parameter,
                    message: format!("{parameter} = {v} is outside zoom {z}, whose tiles are numbered 0 to {}", n - 1),
                });
            }
        }
        Ok(TileId { z: z as u8, x: x as u32, y: y as u32 })
    }

    /// How many tiles a row (or column) of this zoom has.
    pub fn matrix_size(self) -> u32 {
        1u32 << self.z
    }

    /// The side of the tile in metres of EPSG:3857.
    pub fn span(self) -> f64 {
        2.0 * ORIGIN_SHIFT / self.matrix_size() as f64
    }

    /// `(min x, min y, max x, max y)` in EPSG:3857 metres.
    pub fn bounds_mercator(self) -> [f64; 4] {
        let span = self.span();
        let min_x = -ORIGIN_SHIFT + self.x as f64 * span;
        let max_y = ORIGIN_SHIFT - self.y as f64 * span;
        [min_x, max_y - span, min_x + span, max_y]
    }

    /// The tile widened by `buffer` of its own side on each side (0.0 for the tile alone), in
    /// WGS 84 degrees, clamped to the projection's limits: the box to ask a store for.
    pub fn bbox_degrees(self, buffer: f64) -> Rect {
        let [x0, y0, x1, y1] = self.bounds_mercator();
        let pad = self.span() * buffer;
        let clamp = |v: f64| v.clamp(-ORIGIN_SHIFT, ORIGIN_SHIFT);
        let (lon0, lat0) = mercator_to_lonlat(clamp(x0 - pad), clamp(y0 - pad));
        let (lon1, lat1) = mercator_to_lonlat(clamp(x1 + pad), clamp(y1 + pad));
        Rect::new(Coord { x: lon0, y: lat0 }, Coord { x: lon1, y: lat1 })
    }

    /// The tile that holds a point at zoom `z` (points beyond the latitude limits fall in the
    /// first or last row).
    pub fn containing(lon: f64, lat: f64, z: u8) -> TileId {
        let (mx, my) = lonlat_to_mercator(lon, lat);
        let n = 1u64 << z;
        let span = 2.0 * ORIGIN_SHIFT / n as f64;
        let x = (((mx + ORIGIN_SHIFT) / span).floor() as i64).clamp(0, n as i64 - 1) as u32;
        let y = (((ORIGIN_SHIFT - my) / span).floor() as i64).clamp(0, n as i64 - 1) as u32;
        TileId { z, x, y }
    }

    /// Every tile of zoom `z` that meets a box in degrees.
    pub fn covering(bbox: Rect, z: u8) -> impl Iterator<Item = TileId> {
        let a = TileId::containing(bbox.min().x, bbox.max().y, z);
        let b = TileId::containing(bbox.max().x, bbox.min().y, z);
        (a.x..=b.x).flat_map(move |x| (a.y..=b.y).map(move |y| TileId { z, x, y }))
    }
}

impl std::fmt::Display for TileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// WGS 84 degrees to EPSG:3857 metres; latitudes are clamped to [`MAX_LATITUDE`].
pub fn lonlat_to_mercator(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-MAX_LATITUDE, MAX_LATITUDE);
    let x = lon.to_radians() * EARTH_RADIUS;
    let y = (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln() * EARTH_RADIUS;
    (x, y)
}

/// EPSG:3857 metres to WGS 84 degrees.
pub fn mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = (x / EARTH_RADIUS).to_degrees();
    let lat = (2.0 * (y / EARTH_RADIUS).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
    (lon, lat)
}

/// Maps WGS 84 coordinates into one tile's space: `0..extent` on both axes, y down, still
/// fractional (quantising comes later).
#[derive(Debug, Clone, Copy)]
pub struct TileTransform {
    min_x: f64,
    max_y: f64,
    scale: f64,
}

impl TileTransform {
    pub fn new(tile: TileId, extent: u32) -> TileTransform {
        let [min_x, _, _, max_y] = tile.bounds_mercator();
        TileTransform { min_x, max_y, scale: extent as f64 / tile.span() }
    }

    pub fn apply(&self, c: Coord) -> Coord {
        let (x, y) = lonlat_to_mercator(c.x, c.y);
        Coord { x: (x - self.min_x) * self.scale, y: (self.max_y - y) * self.scale }
    }

    /// The inverse of [`TileTransform::apply`]: tile units back to degrees.
    pub fn invert(&self, c: Coord) -> Coord {
        let (lon, lat) = mercator_to_lonlat(self.min_x + c.x / self.scale, self.max_y - c.y / self.scale);
        Coord { x: lon, y: lat }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_tile_spans_the_projection() {
        let t = TileId::new(0, 0, 0).unwrap();
        let [x0, y0, x1, y1] = t.bounds_mercator();
        assert!((x0 + ORIGIN_SHIFT).abs() < 1e-6 && (y1 - ORIGIN_SHIFT).abs() < 1e-6);
        assert!((x1 - ORIGIN_SHIFT).abs() < 1e-6 && (y0 + ORIGIN_SHIFT).abs() < 1e-6);
        let b = t.bbox_degrees(0.0);
        assert!((b.min().x + 180.0).abs() < 1e-9 && (b.max().x - 180.0).abs() < 1e-9);
        assert!((b.max().y - MAX_LATITUDE).abs() < 1e-9 && (b.min().y + MAX_LATITUDE).abs() < 1e-9);
        // A buffer cannot push the box past the projection's limits.
        let b = t.bbox_degrees(0.25);
        assert!(b.max().y <= MAX_LATITUDE + 1e-9 && b.min().x >= -180.0 - 1e-9);
    }

    #[test]
    fn a_known_tile_of_cambridge() {
        // Cambridge City Hall (-71.1056, 42.3671), by the slippy-map formula
        // x = floor((lon+180)/360·2^z), y = floor((1−ln(tan φ + sec φ)/π)/2·2^z): z14 tile 4955/6059.
        let (lon, lat) = (-71.1056_f64, 42.3671_f64);
        let n = 2f64.powi(14);
        let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
        let phi = lat.to_radians();
        let y = ((1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
        assert_eq!((x, y), (4955, 6059));
        assert_eq!(TileId::containing(lon, lat, 14), TileId { z: 14, x, y });
        let b = TileId { z: 14, x, y }.bbox_degrees(0.0);
        assert!(b.min().x <= lon && lon < b.max().x && b.min().y <= lat && lat < b.max().y);
    }

    #[test]
    fn transform_is_y_down_and_inverts() {
        let t = TileId { z: 14, x: 4956, y: 6057 };
        let tr = TileTransform::new(t, 4096);
        let b = t.bbox_degrees(0.0);
        let nw = tr.apply(Coord { x: b.min().x, y: b.max().y });
        let se = tr.apply(Coord { x: b.max().x, y: b.min().y });
        assert!(nw.x.abs() < 1e-6 && nw.y.abs() < 1e-6, "{nw:?}");
        assert!((se.x - 4096.0).abs() < 1e-6 && (se.y - 4096.0).abs() < 1e-6, "{se:?}");
        let c = Coord { x: -71.1, y: 42.37 };
        let back = tr.invert(tr.apply(c));
        assert!((back.x - c.x).abs() < 1e-9 && (back.y - c.y).abs() < 1e-9);
    }

    #[test]
    fn out_of_matrix_names_the_coordinate() {
        assert!(matches!(TileId::new(25, 0, 0), Err(TileError::OutOfMatrix { parameter: "z", .. })));
        assert!(matches!(TileId::new(3, 8, 0), Err(TileError::OutOfMatrix { parameter: "x", .. })));
        assert!(matches!(TileId::new(3, 0, 8), Err(TileError::OutOfMatrix { parameter: "y", .. })));
        assert!(TileId::new(24, (1 << 24) - 1, 0).is_ok());
    }

    #[test]
    fn covering_finds_every_tile_of_a_box() {
        let t = TileId { z: 15, x: 9912, y: 12114 };
        let b = t.bbox_degrees(0.0);
        let inner = Rect::new(
            Coord { x: b.min().x + 1e-7, y: b.min().y + 1e-7 },
            Coord { x: b.max().x - 1e-7, y: b.max().y - 1e-7 },
        );
        assert_eq!(TileId::covering(inner, 15).collect::<Vec<_>>(), vec![t]);
        assert_eq!(TileId::covering(inner, 16).count(), 4);
    }
}
