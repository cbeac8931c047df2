//! The coordinate reference systems urbis serves besides its storage CRS (WGS 84 longitude,
//! latitude): the same in EPSG:4326's official latitude-first axis order, and Web Mercator
//! (EPSG:3857), the CRS of web maps. Named by their OGC URIs, as OGC API Features Part 2 does.
//!
//! Web Mercator is the spherical formula on the WGS 84 semi-major axis, as EPSG defines it, so no
//! projection library is needed for it.

use std::f64::consts::PI;
use std::fmt;

use geo::MapCoords;
use geo_types::{Coord, Geometry, Rect};

/// WGS 84 semi-major axis, the sphere radius of Web Mercator.
const EARTH_RADIUS: f64 = 6_378_137.0;
/// Web Mercator covers latitudes up to this (the square world).
pub const MERCATOR_MAX_LAT: f64 = 85.051_128_779_806_59;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crs {
    /// WGS 84, longitude then latitude: what urbis stores and GeoJSON speaks.
    Crs84,
    /// WGS 84 with EPSG's axis order: latitude then longitude.
    Epsg4326,
    /// Web Mercator, metres, easting then northing.
    Epsg3857,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{given}` is not a CRS urbis serves; use one of: {}", Crs::ALL.map(|c| c.uri()).join(", "))]
pub struct UnknownCrs {
    pub given: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("({x}, {y}) lies outside the area of {crs}")]
pub struct OutOfArea {
    pub crs: Crs,
    pub x: f64,
    pub y: f64,
}

impl Crs {
    pub const ALL: [Crs; 3] = [Crs::Crs84, Crs::Epsg4326, Crs::Epsg3857];

    pub fn uri(self) -> &'static str {
        match self {
            Crs::Crs84 => "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            Crs::Epsg4326 => "http://www.opengis.net/def/crs/EPSG/0/4326",
            Crs::Epsg3857 => "http://www.opengis.net/def/crs/EPSG/0/3857",
        }
    }

    /// Accepts the OGC URI, its safe-CURIE form (`[EPSG:3857]`) and the short `EPSG:3857` / `CRS84`.
    pub fn parse(text: &str) -> Result<Crs, UnknownCrs> {
        let t = text.trim();
        let t = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(t);
        let t = t.strip_prefix("https://").map(|s| format!("http://{s}")).unwrap_or_else(|| t.to_string());
        let found = Crs::ALL.into_iter().find(|c| {
            t == c.uri()
                || match c {
                    Crs::Crs84 => t.eq_ignore_ascii_case("CRS84") || t.eq_ignore_ascii_case("OGC:CRS84"),
                    Crs::Epsg4326 => t.eq_ignore_ascii_case("EPSG:4326"),
                    Crs::Epsg3857 => t.eq_ignore_ascii_case("EPSG:3857"),
                }
        });
        found.ok_or_else(|| UnknownCrs { given: text.to_string() })
    }

    /// A position in this CRS from WGS 84 longitude/latitude.
    pub fn from_lonlat(self, c: Coord) -> Coord {
        match self {
            Crs::Crs84 => c,
            Crs::Epsg4326 => Coord { x: c.y, y: c.x },
            Crs::Epsg3857 => {
                let lat = c.y.clamp(-MERCATOR_MAX_LAT, MERCATOR_MAX_LAT).to_radians();
                Coord { x: EARTH_RADIUS * c.x.to_radians(), y: EARTH_RADIUS * (PI / 4.0 + lat / 2.0).tan().ln() }
            }
        }
    }

    /// WGS 84 longitude/latitude from a position in this CRS; refuses positions outside the CRS's
    /// area (so that a mistaken axis order is an error, not a feature in the wrong hemisphere).
    pub fn to_lonlat(self, c: Coord) -> Result<Coord, OutOfArea> {
        let out = || OutOfArea { crs: self, x: c.x, y: c.y };
        let ll = match self {
            Crs::Crs84 => c,
            Crs::Epsg4326 => Coord { x: c.y, y: c.x },
            Crs::Epsg3857 => {
                let half = PI * EARTH_RADIUS;
                if !(c.x.abs() <= half * (1.0 + 1e-9) && c.y.abs() <= half * (1.0 + 1e-9)) {
                    return Err(out());
                }
                Coord {
                    x: (c.x / EARTH_RADIUS).to_degrees(),
                    y: (2.0 * (c.y / EARTH_RADIUS).exp().atan() - PI / 2.0).to_degrees(),
                }
            }
        };
        if ll.x.is_finite() && ll.y.is_finite() && ll.x.abs() <= 180.0 + 1e-9 && ll.y.abs() <= 90.0 + 1e-9 {
            Ok(Coord { x: ll.x.clamp(-180.0, 180.0), y: ll.y.clamp(-90.0, 90.0) })
        } else {
            Err(out())
        }
    }

    /// A geometry stored in WGS 84, expressed in this CRS.
    pub fn geometry_from_lonlat(self, g: &Geometry) -> Geometry {
        if self == Crs::Crs84 {
            return g.clone();
        }
        g.map_coords(|c| self.from_lonlat(c))
    }

    /// A geometry given in this CRS, in WGS 84.
    pub fn geometry_to_lonlat(self, g: &Geometry) -> Result<Geometry, OutOfArea> {
        if self == Crs::Crs84 {
            return Ok(g.clone());
        }
        g.try_map_coords(|c| self.to_lonlat(c))
    }

    /// A box given in this CRS as `[minx, miny, maxx, maxy]` (in the CRS's axis order), as a WGS 84
    /// longitude/latitude box.
    pub fn bbox_to_lonlat(self, b: [f64; 4]) -> Result<Rect, OutOfArea> {
        let a = self.to_lonlat(Coord { x: b[0], y: b[1] })?;
        let c = self.to_lonlat(Coord { x: b[2], y: b[3] })?;
        Ok(Rect::new(a, c))
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        for c in Crs::ALL {
            assert_eq!(Crs::parse(c.uri()).unwrap(), c);
            assert_eq!(Crs::parse(&format!("[{}]", c.uri())).unwrap(), c);
        }
        assert_eq!(Crs::parse("EPSG:3857").unwrap(), Crs::Epsg3857);
        assert_eq!(Crs::parse("[EPSG:4326]").unwrap(), Crs::Epsg4326);
        let err = Crs::parse("EPSG:2249").unwrap_err().to_string();
        assert!(err.contains("EPSG:2249") && err.contains("3857"), "{err}");
    }

    #[test]
    fn web_mercator_matches_known_values() {
        // The square world's corner.
        let m = Crs::Epsg3857.from_lonlat(Coord { x: 180.0, y: MERCATOR_MAX_LAT });
        assert!((m.x - 20_037_508.342_789_244).abs() < 1e-6, "{m:?}");
        assert!((m.y - 20_037_508.342_789_244).abs() < 1e-3, "{m:?}");
        // A point in Cambridge, as GDAL/PROJ gives it:
        // `echo -71.1056 42.3656 | gdaltransform -s_srs "+proj=longlat +datum=WGS84" -t_srs EPSG:3857`
        let c = Crs::Epsg3857.from_lonlat(Coord { x: -71.1056, y: 42.3656 });
        assert!((c.x - -7_915_439.184_550_19).abs() < 1e-6 && (c.y - 5_215_902.854_497_21).abs() < 1e-6, "{c:?}");
    }

    #[test]
    fn round_trips_and_axis_order() {
        let p = Coord { x: -71.1056, y: 42.3656 };
        for crs in Crs::ALL {
            let back = crs.to_lonlat(crs.from_lonlat(p)).unwrap();
            assert!((back.x - p.x).abs() < 1e-9 && (back.y - p.y).abs() < 1e-9, "{crs}");
        }
        assert_eq!(Crs::Epsg4326.from_lonlat(p), Coord { x: 42.3656, y: -71.1056 });
        // Longitude-first numbers read as EPSG:4326 put the latitude out of range: an error.
        assert!(Crs::Epsg4326.to_lonlat(Coord { x: 142.3, y: -71.1 }).is_err());
        assert!(Crs::Epsg3857.to_lonlat(Coord { x: 3e7, y: 0.0 }).is_err());
    }
}
