//! What every reader hands over: features as the source holds them (its own id, its attributes
//! untouched, a geometry or the reason it could not be read), plus the CRS the source declares.
//! Ring closure is counted here, on raw coordinates, because geo-types closes rings silently.

use geo_types::{Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};
use serde_json::{Map, Value};

/// One feature as read, before mapping and checks.
#[derive(Debug, Clone)]
pub struct SourceFeature {
    /// Position in the source, from 0.
    pub index: u64,
    /// The format's own id (GeoJSON `id`, OSM `osm-way-…`, GeoPackage primary key), if any.
    pub id: Option<String>,
    /// `Ok(None)`: the feature has no geometry; `Err`: it has one that could not be read.
    pub geometry: Result<Option<Geometry>, String>,
    /// Rings that were open in the source and closed on reading.
    pub closed_rings: u32,
    pub properties: Map<String, Value>,
}

impl SourceFeature {
    pub fn new(index: u64, id: Option<String>, geometry: Result<Option<Geometry>, String>) -> Self {
        SourceFeature { index, id, geometry, closed_rings: 0, properties: Map::new() }
    }
}

/// A whole source as read.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub features: Vec<SourceFeature>,
    /// The CRS the file declares (EPSG code, PROJ string or WKT); `None`: WGS 84 by convention
    /// of the format, or already reprojected by the reader (GDAL).
    pub crs: Option<String>,
}

/// Converts GeoJSON coordinates to geo-types, closing open rings and counting them.
/// Positions with fewer than two numbers are errors, not silently dropped vertices.
pub fn from_geojson(value: &geojson::Value, closed: &mut u32) -> Result<Geometry, String> {
    use geojson::Value as V;
    Ok(match value {
        V::Point(p) => Geometry::Point(Point(position(p)?)),
        V::MultiPoint(ps) => {
            Geometry::MultiPoint(MultiPoint(ps.iter().map(|p| position(p).map(Point)).collect::<Result<_, _>>()?))
        }
        V::LineString(l) => Geometry::LineString(line(l)?),
        V::MultiLineString(ls) => {
            Geometry::MultiLineString(MultiLineString(ls.iter().map(|l| line(l)).collect::<Result<_, _>>()?))
        }
        V::Polygon(rings) => Geometry::Polygon(polygon(rings, closed)?),
        V::MultiPolygon(ps) => {
            Geometry::MultiPolygon(MultiPolygon(ps.iter().map(|p| polygon(p, closed)).collect::<Result<_, _>>()?))
        }
        V::GeometryCollection(gs) => Geometry::GeometryCollection(geo_types::GeometryCollection(
            gs.iter().map(|g| from_geojson(&g.value, closed)).collect::<Result<_, _>>()?,
        )),
    })
}

fn position(p: &[f64]) -> Result<Coord, String> {
    match p {
        [x, y, ..] => Ok(Coord { x: *x, y: *y }),
        _ => Err(format!("a position needs two numbers, found {}", p.len())),
    }
}

fn line(l: &[Vec<f64>]) -> Result<LineString, String> {
    Ok(LineString(l.iter().map(|p| position(p)).collect::<Result<_, _>>()?))
}

fn polygon(rings: &[Vec<Vec<f64>>], closed: &mut u32) -> Result<Polygon, String> {
    let mut rings = rings.iter().map(|r| line(r).map(|r| close_ring(r, closed)));
    let exterior = rings.next().transpose()?.unwrap_or_else(|| LineString(vec![]));
    Ok(Polygon::new(exterior, rings.collect::<Result<_, _>>()?))
}

/// Closes a ring whose last vertex is not its first, counting it.
pub fn close_ring(mut ring: LineString, closed: &mut u32) -> LineString {
    if let (Some(first), Some(last)) = (ring.0.first().copied(), ring.0.last()) {
        if first != *last {
            ring.0.push(first);
            *closed += 1;
        }
    }
    ring
}

/// Converts parsed WKT to geo-types with the same ring closing as GeoJSON.
pub fn from_wkt(w: &wkt::Wkt<f64>, closed: &mut u32) -> Result<Geometry, String> {
    use wkt::Wkt as W;
    let coord = |c: &wkt::types::Coord<f64>| Coord { x: c.x, y: c.y };
    let line = |l: &wkt::types::LineString<f64>| LineString(l.0.iter().map(coord).collect());
    let polygon = |p: &wkt::types::Polygon<f64>, closed: &mut u32| {
        let mut rings = p.0.iter().map(|r| close_ring(line(r), closed));
        let exterior = rings.next().unwrap_or_else(|| LineString(vec![]));
        Polygon::new(exterior, rings.collect())
    };
    Ok(match w {
        W::Point(p) => match &p.0 {
            Some(c) => Geometry::Point(Point(coord(c))),
            None => Geometry::MultiPoint(MultiPoint(vec![])),
        },
        W::LineString(l) => Geometry::LineString(line(l)),
        W::Polygon(p) => Geometry::Polygon(polygon(p, closed)),
        W::MultiPoint(m) => {
            Geometry::MultiPoint(MultiPoint(m.0.iter().filter_map(|p| p.0.as_ref()).map(|c| Point(coord(c))).collect()))
        }
        W::MultiLineString(m) => Geometry::MultiLineString(MultiLineString(m.0.iter().map(line).collect())),
        W::MultiPolygon(m) => Geometry::MultiPolygon(MultiPolygon(m.0.iter().map(|p| polygon(p, closed)).collect())),
        W::GeometryCollection(c) => Geometry::GeometryCollection(geo_types::GeometryCollection(
            c.0.iter().map(|g| from_wkt(g, closed)).collect::<Result<_, _>>()?,
        )),
    })
}

/// A property value as text, for ids and join keys: strings as they are, numbers in their
/// shortest form, nothing for null.
pub fn as_key(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 && !n.is_i64() && !n.is_u64() => (f as i64).to_string(),
            _ => n.to_string(),
        }),
        other => Some(other.to_string()),
    }
}

/// Looks a property up by name, exactly first, then ignoring case.
pub fn lookup<'a>(props: &'a Map<String, Value>, name: &str) -> Option<(&'a String, &'a Value)> {
    props.get_key_value(name).or_else(|| props.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
}

/// Why a reader gave up on a whole source.
#[derive(Debug)]
pub enum ReadError {
    /// The file is damaged or not what its name says.
    Unreadable(String),
    /// The file is fine but the mapping asks for something it does not hold.
    Mapping(String),
}

impl From<String> for ReadError {
    fn from(reason: String) -> Self {
        ReadError::Unreadable(reason)
    }
}

impl From<&str> for ReadError {
    fn from(reason: &str) -> Self {
        ReadError::Unreadable(reason.to_string())
    }
}
