//! TopoJSON: arcs decoded here (quantised, delta-encoded, shared between neighbours) into the
//! same raw coordinates GeoJSON gives, so that ring closure is seen before geo-types hides it.
//! We decode ourselves rather than through the `topojson` crate, whose types are geojson 0.23.

use geojson::Value as G;
use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::source::{as_key, from_geojson, Source, SourceFeature};

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

fn feature(index: u64, g: &Value, arcs: &[Vec<Vec<f64>>]) -> SourceFeature {
    let id = g.get("id").and_then(as_key);
    let mut closed = 0;
    let geometry = match g.get("type").and_then(Value::as_str) {
        None | Some("null") => Ok(None),
        Some(_) => geometry(g, arcs).and_then(|v| from_geojson(&v, &mut closed)).map(Some),
    };
    let mut f = SourceFeature::new(index, id, geometry);
    f.closed_rings = closed;
    f.properties = g.get("properties").and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
    f
}

fn geometry(g: &Value, arcs: &[Vec<Vec<f64>>]) -> Result<G, String> {
    let kind = g.get("type").and_then(Value::as_str).unwrap_or_default();
    let coords = || g.get("coordinates").ok_or_else(|| format!("a {kind} without coordinates"));
    let arc_refs = || g.get("arcs").ok_or_else(|| format!("a {kind} without arcs"));
    Ok(match kind {
        "Point" => G::Point(position(coords()?)?),
        "MultiPoint" => G::MultiPoint(list(coords()?)?.iter().map(position).collect::<Result<_, _>>()?),
        "LineString" => G::LineString(chain(arc_refs()?, arcs)?),
        "MultiLineString" => {
            G::MultiLineString(list(arc_refs()?)?.iter().map(|l| chain(l, arcs)).collect::<Result<_, _>>()?)
        }
        "Polygon" => G::Polygon(rings(arc_refs()?, arcs)?),
        "MultiPolygon" => G::MultiPolygon(list(arc_refs()?)?.iter().map(|p| rings(p, arcs)).collect::<Result<_, _>>()?),
        "GeometryCollection" => G::GeometryCollection(
            list(g.get("geometries").ok_or("a GeometryCollection without geometries")?)?
                .iter()
                .map(|m| geometry(m, arcs).map(geojson::Geometry::new))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("unknown TopoJSON geometry type `{other}`")),
    })
}

fn list(v: &Value) -> Result<&Vec<Value>, String> {
    v.as_array().ok_or_else(|| format!("expected an array, found {v}"))
}

fn position(v: &Value) -> Result<Vec<f64>, String> {
    list(v)?.iter().map(|n| n.as_f64().ok_or_else(|| format!("`{n}` is not a number"))).collect()
}

fn rings(v: &Value, arcs: &[Vec<Vec<f64>>]) -> Result<Vec<Vec<Vec<f64>>>, String> {
    list(v)?.iter().map(|r| chain(r, arcs)).collect()
}

/// Joins arcs into one line: arc `~i` (written `-i-1`) is arc `i` reversed, and each arc after
/// the first starts where the previous ended, so its first position is dropped.
fn chain(v: &Value, arcs: &[Vec<Vec<f64>>]) -> Result<Vec<Vec<f64>>, String> {
    let mut out: Vec<Vec<f64>> = vec![];
    for r in list(v)? {
        let i = r.as_i64().ok_or_else(|| format!("arc index `{r}` is not an integer"))?;
        let (k, reversed) = if i < 0 { ((!i) as usize, true) } else { (i as usize, false) };
        let arc = arcs.get(k).ok_or_else(|| format!("arc {i} does not exist ({} arcs)", arcs.len()))?;
        let skip = usize::from(!out.is_empty());
        if reversed {
            out.extend(arc.iter().rev().skip(skip).cloned());
        } else {
            out.extend(arc.iter().skip(skip).cloned());
        }
    }
    Ok(out)
}

/// Arcs in real coordinates: with a `transform`, positions are quantised and delta-encoded.
fn decode_arcs(doc: &Value) -> Result<Vec<Vec<Vec<f64>>>, String> {
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
            let mut out = Vec::new();
            let (mut x, mut y) = (0.0, 0.0);
            for p in list(arc)? {
                let p = position(p).map_err(|e| format!("arc {ai}: {e}"))?;
                let (Some(&px), Some(&py)) = (p.first(), p.get(1)) else {
                    return Err(format!("arc {ai}: a position needs two numbers"));
                };
                out.push(match transform {
                    Some(([sx, sy], [tx, ty])) => {
                        x += px;
                        y += py;
                        vec![x * sx + tx, y * sy + ty]
                    }
                    None => vec![px, py],
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
