//! TopoJSON: arcs decoded here (quantised, delta-encoded, shared between neighbours) into the
//! same raw coordinates GeoJSON gives, joined straight into geo-types, with ring closure counted
//! on the raw rings as GeoJSON's is.
//! We decode ourselves rather than through the `topojson` crate, whose types are geojson 0.23.

use geo_types::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon,
};
use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::source::{as_key, close_ring, Source, SourceFeature};

/// Reads the object named `object` (or the only one, or the first in name order) of a topology.
pub fn read(doc: &Value, object: Option<&str>) -> Result<Source, String> {
    let arcs = decode_arcs(doc)?;
    let objects = doc.get("objects").and_then(Value::as_object).ok_or("a Topology without `objects`")?;
    let (_, obj) = match object {
        Some(name) => objects.get_key_value(name).ok_or_else(|| {
            format!(
                "no object `{name}`; the topology holds: {}",
                objects.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?,
        None => objects.iter().next().ok_or("the topology has no objects")?,
    };
    let members: Vec<&Value> = match obj.get("type").and_then(Value::as_str) {
        Some("GeometryCollection") => {
            obj.get("geometries").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
        }
        _ => vec![obj],
    };
    // Members are independent of each other: built on every core, kept in file order.
    let features = members.into_par_iter().enumerate().map(|(i, g)| feature(i as u64, g, &arcs)).collect();
    Ok(Source { features, crs: None })
}

fn feature(index: u64, g: &Value, arcs: &[Vec<Coord>]) -> SourceFeature {
    let id = g.get("id").and_then(as_key);
    let mut closed = 0;
    let geometry = match g.get("type").and_then(Value::as_str) {
        None | Some("null") => Ok(None),
        Some(_) => geometry(g, arcs, &mut closed).map(Some),
    };
    let mut f = SourceFeature::new(index, id, geometry);
    f.closed_rings = closed;
    f.properties = g.get("properties").and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
    f
}

/// A member's geometry, straight into geo-types (no GeoJSON positions in between: one
/// allocation a line, not one a vertex), open rings closed and counted as GeoJSON's are.
fn geometry(g: &Value, arcs: &[Vec<Coord>], closed: &mut u32) -> Result<Geometry, String> {
    let kind = g.get("type").and_then(Value::as_str).unwrap_or_default();
    let coords = || g.get("coordinates").ok_or_else(|| format!("a {kind} without coordinates"));
    let arc_refs = || g.get("arcs").ok_or_else(|| format!("a {kind} without arcs"));
    Ok(match kind {
        "Point" => Geometry::Point(Point(point(coords()?)?)),
        "MultiPoint" => Geometry::MultiPoint(MultiPoint(
            list(coords()?)?.iter().map(|p| point(p).map(Point)).collect::<Result<_, _>>()?,
        )),
        "LineString" => Geometry::LineString(chain(arc_refs()?, arcs)?),
        "MultiLineString" => Geometry::MultiLineString(MultiLineString(
            list(arc_refs()?)?.iter().map(|l| chain(l, arcs)).collect::<Result<_, _>>()?,
        )),
        "Polygon" => Geometry::Polygon(polygon(arc_refs()?, arcs, closed)?),
        "MultiPolygon" => Geometry::MultiPolygon(MultiPolygon(
            list(arc_refs()?)?.iter().map(|p| polygon(p, arcs, closed)).collect::<Result<_, _>>()?,
        )),
        "GeometryCollection" => Geometry::GeometryCollection(GeometryCollection(
            list(g.get("geometries").ok_or("a GeometryCollection without geometries")?)?
                .iter()
                .map(|m| geometry(m, arcs, closed))
                .collect::<Result<_, _>>()?,
        )),
        other => return Err(format!("unknown TopoJSON geometry type `{other}`")),
    })
}

fn list(v: &Value) -> Result<&Vec<Value>, String> {
    v.as_array().ok_or_else(|| format!("expected an array, found {v}"))
}

fn position(v: &Value) -> Result<Vec<f64>, String> {
    list(v)?.iter().map(|n| n.as_f64().ok_or_else(|| format!("`{n}` is not a number"))).collect()
}

/// A position of a point: its first two numbers (as GeoJSON's are read).
fn point(v: &Value) -> Result<Coord, String> {
    match position(v)?[..] {
        [x, y, ..] => Ok(Coord { x, y }),
        ref p => Err(format!("a position needs two numbers, found {}", p.len())),
    }
}

fn polygon(v: &Value, arcs: &[Vec<Coord>], closed: &mut u32) -> Result<Polygon, String> {
    let mut rings = list(v)?.iter().map(|r| chain(r, arcs).map(|r| close_ring(r, closed)));
    let exterior = rings.next().transpose()?.unwrap_or_else(|| LineString(vec![]));
    Ok(Polygon::new(exterior, rings.collect::<Result<_, _>>()?))
}

/// Joins arcs into one line: arc `~i` (written `-i-1`) is arc `i` reversed, and each arc after
/// the first starts where the previous ended, so its first position is dropped.
fn chain(v: &Value, arcs: &[Vec<Coord>]) -> Result<LineString, String> {
    let refs = list(v)?;
    let mut out: Vec<Coord> = Vec::with_capacity(refs.len() * 8);
    for r in refs {
        let i = r.as_i64().ok_or_else(|| format!("arc index `{r}` is not an integer"))?;
        let (k, reversed) = if i < 0 { ((!i) as usize, true) } else { (i as usize, false) };
        let arc = arcs.get(k).ok_or_else(|| format!("arc {i} does not exist ({} arcs)", arcs.len()))?;
        let skip = usize::from(!out.is_empty());
        if reversed {
            out.extend(arc.iter().rev().skip(skip));
        } else {
            out.extend(arc.iter().skip(skip));
        }
    }
    Ok(LineString(out))
}

/// Arcs in real coordinates: with a `transform`, positions are quantised and delta-encoded.
fn decode_arcs(doc: &Value) -> Result<Vec<Vec<Coord>>, String> {
    let transform = match doc.get("transform") {
        None => None,
        Some(t) => {
            let pair = |k: &str| -> Result<[f64; 2], String> {
                let p = position(t.get(k).ok_or_else(|| format!("transform without `{k}`"))?)?;
                match p[..] {
                    [a, b] => Ok([a, b]),
                    _ => Err(format!("transform `{k}` needs two numbers")),
                }
            };
            Some((pair("scale")?, pair("translate")?))
        }
    };
    let arcs = doc.get("arcs").map(list).transpose()?.map(|a| a.as_slice()).unwrap_or_default();
    arcs.par_iter()
        .enumerate()
        .map(|(ai, arc)| {
            let arc = list(arc)?;
            let mut out = Vec::with_capacity(arc.len());
            let (mut x, mut y) = (0.0, 0.0);
            for p in arc {
                let number = |n: &Value| n.as_f64().ok_or_else(|| format!("arc {ai}: `{n}` is not a number"));
                let p = list(p).map_err(|e| format!("arc {ai}: {e}"))?;
                let (Some(px), Some(py)) = (p.first(), p.get(1)) else {
                    // The rest of the position (a height) is not kept, but must be numbers too.
                    p.iter().try_for_each(|n| number(n).map(|_| ()))?;
                    return Err(format!("arc {ai}: a position needs two numbers"));
                };
                let (px, py) = (number(px)?, number(py)?);
                p[2..].iter().try_for_each(|n| number(n).map(|_| ()))?;
                out.push(match transform {
                    Some(([sx, sy], [tx, ty])) => {
                        x += px;
                        y += py;
                        Coord { x: x * sx + tx, y: y * sy + ty }
                    }
                    None => Coord { x: px, y: py },
                });
            }
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::CoordsIter;
    use serde_json::json;

    #[test]
    fn shared_and_reversed_arcs_make_closed_rings() {
        // Two squares sharing their middle edge (arc 1), the second walks it backwards.
        let topo = json!({
            "type": "Topology",
            "transform": {"scale": [1, 1], "translate": [10, 20]},
            "arcs": [[[1, 0], [-1, 0], [0, 1], [1, 0]], [[1, 1], [0, -1]], [[1, 1], [1, 0], [0, -1], [-1, 0]]],
            "objects": {"sq": {"type": "GeometryCollection", "geometries": [
                {"type": "Polygon", "arcs": [[0, 1]], "id": 7, "properties": {"k": "a"}},
                {"type": "Polygon", "arcs": [[-2, 2]]}
            ]}}
        });
        let s = read(&topo, None).unwrap();
        assert_eq!(s.features.len(), 2);
        assert_eq!(s.features[0].id.as_deref(), Some("7"));
        let g = s.features[0].geometry.clone().unwrap().unwrap();
        let geo_types::Geometry::Polygon(p) = g else { panic!() };
        let xy: Vec<(f64, f64)> = p.exterior().0.iter().map(|c| (c.x, c.y)).collect();
        assert_eq!(xy, [(11., 20.), (10., 20.), (10., 21.), (11., 21.), (11., 20.)]);
        assert_eq!(s.features[0].closed_rings, 0);
        assert_eq!(s.features[1].geometry.clone().unwrap().unwrap().coords_count(), 5);
    }
}
