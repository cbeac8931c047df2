//! OpenStreetMap PBF extracts, read for the layer asked: roads from highway ways, buildings from
//! closed ways tagged `building`, service centres from public-service amenities (nodes, and the
//! centroid of closed ways). Every OSM tag is kept; the derived layer fields override tags of the
//! same name. Ids are `osm-node-<id>` / `osm-way-<id>`, stable across re-imports of an extract.

use std::path::Path;

use geo::Centroid;
use geo_types::{Coord, Geometry, LineString, Polygon};
use osmpbf::{Blob, BlobReader, BlobType, Element, PrimitiveBlock};
use rayon::prelude::*;
use serde_json::{Map, Value};
use urbis_core::LayerId;

use crate::source::{ReadError, Source, SourceFeature};

/// Amenities where public services are delivered.
pub const PUBLIC_SERVICE_AMENITIES: [&str; 15] = [
    "townhall",
    "library",
    "school",
    "post_office",
    "police",
    "fire_station",
    "community_centre",
    "courthouse",
    "social_facility",
    "hospital",
    "clinic",
    "kindergarten",
    "college",
    "university",
    "public_building",
];

#[derive(Clone, Copy, PartialEq)]
enum Wanted {
    Roads,
    Buildings,
    ServiceCentres,
}

struct Way {
    id: i64,
    refs: Vec<i64>,
    tags: Map<String, Value>,
}

pub fn read(path: &Path, layer: LayerId) -> Result<Source, ReadError> {
    let wanted = match layer {
        LayerId::Roads => Wanted::Roads,
        LayerId::Buildings => Wanted::Buildings,
        LayerId::ServiceCentres => Wanted::ServiceCentres,
        other => {
            return Err(ReadError::Mapping(format!(
                "an OSM extract gives roads, buildings or service_centres, not {other}"
            )))
        }
    };
    // Blocks are inflated and decoded on every core, each into its nodes, points and kept ways;
    // they are then joined in file order, so that features come out in the order of the file.
    let blobs: Vec<Blob> =
        BlobReader::from_path(path).map_err(|e| e.to_string())?.collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let blocks: Vec<Block> = blobs
        .par_iter()
        .map(|blob| match blob.get_type() {
            BlobType::OsmData => blob.to_primitiveblock().map(|b| read_block(&b, wanted)),
            _ => Ok(Block::default()),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    drop(blobs);
    let mut nodes: Vec<(i64, Coord)> = Vec::with_capacity(blocks.iter().map(|b| b.nodes.len()).sum());
    let mut points: Vec<(i64, Coord, Map<String, Value>)> = Vec::new();
    let mut ways: Vec<Way> = Vec::new();
    for block in blocks {
        nodes.extend(block.nodes);
        points.extend(block.points);
        ways.extend(block.ways);
    }
    let nodes = NodeIndex::new(nodes);

    let mut features = Vec::with_capacity(points.len() + ways.len());
    for (id, c, tags) in points {
        let props = service_centre(tags);
        let mut f = SourceFeature::new(
            features.len() as u64,
            Some(format!("osm-node-{id}")),
            Ok(Some(Geometry::Point(c.into()))),
        );
        f.properties = props;
        features.push(f);
    }
    // Ways are placed and tagged on every core (each looks its nodes up on its own), in file order.
    let first = features.len() as u64;
    let ways: Vec<SourceFeature> =
        ways.into_par_iter().enumerate().map(|(i, way)| way_feature(first + i as u64, way, wanted, &nodes)).collect();
    features.extend(ways);
    Ok(Source { features, crs: None })
}

/// The feature a kept way makes for the layer asked.
fn way_feature(index: u64, way: Way, wanted: Wanted, nodes: &NodeIndex) -> SourceFeature {
    let line = resolve(&way, nodes);
    let closed = way.refs.len() >= 4 && way.refs.first() == way.refs.last();
    let (geometry, props) = match wanted {
        Wanted::Roads => (line.map(|l| Some(Geometry::LineString(l))), road(way.tags)),
        Wanted::Buildings if closed => {
            (line.map(|l| Some(Geometry::Polygon(Polygon::new(l, vec![])))), building(way.tags))
        }
        Wanted::Buildings => (Err(format!("building way {} is not closed", way.id)), building(way.tags)),
        Wanted::ServiceCentres if closed => (
            line.and_then(|l| {
                Polygon::new(l, vec![])
                    .centroid()
                    .map(|p| Some(Geometry::Point(p)))
                    .ok_or_else(|| "the way has no area".to_string())
            }),
            service_centre(way.tags),
        ),
        Wanted::ServiceCentres => (
            line.and_then(|l| {
                l.centroid().map(|p| Some(Geometry::Point(p))).ok_or_else(|| "the way is empty".to_string())
            }),
            service_centre(way.tags),
        ),
    };
    let mut f = SourceFeature::new(index, Some(format!("osm-way-{}", way.id)), geometry);
    f.properties = props;
    f
}

/// What one block of the file holds for the layer asked.
#[derive(Default)]
struct Block {
    nodes: Vec<(i64, Coord)>,
    points: Vec<(i64, Coord, Map<String, Value>)>,
    ways: Vec<Way>,
}

fn read_block(block: &PrimitiveBlock, wanted: Wanted) -> Block {
    let mut out = Block::default();
    // Every node places the ways; a public-service amenity node is a candidate centre too. The
    // tags are read only when centres are wanted.
    let node = |out: &mut Block, id: i64, c: Coord, tags: &dyn Fn() -> Map<String, Value>| {
        out.nodes.push((id, c));
        if wanted == Wanted::ServiceCentres {
            let tags = tags();
            if public_service(&tags) {
                out.points.push((id, c, tags));
            }
        }
    };
    block.for_each_element(|element| match element {
        Element::Node(n) => node(&mut out, n.id(), Coord { x: n.lon(), y: n.lat() }, &|| tag_map(n.tags())),
        Element::DenseNode(n) => node(&mut out, n.id(), Coord { x: n.lon(), y: n.lat() }, &|| tag_map(n.tags())),
        Element::Way(w) => {
            // Decide on the raw tags; copy them only for the ways kept.
            let keep = match wanted {
                Wanted::Roads => w.tags().any(|(k, _)| k == "highway"),
                Wanted::Buildings => w.tags().any(|(k, v)| k == "building" && v != "no"),
                Wanted::ServiceCentres => {
                    w.tags().any(|(k, v)| k == "amenity" && PUBLIC_SERVICE_AMENITIES.contains(&v))
                }
            };
            if keep {
                out.ways.push(Way { id: w.id(), refs: w.refs().collect(), tags: tag_map(w.tags()) });
            }
        }
        Element::Relation(_) => {}
    });
    out
}

/// Node coordinates by id: sorted once (extracts are already sorted), then found by bisection.
/// Of two nodes with one id, the later in the file counts.
struct NodeIndex(Vec<(i64, Coord)>);

impl NodeIndex {
    fn new(mut nodes: Vec<(i64, Coord)>) -> Self {
        if !nodes.windows(2).all(|w| w[0].0 < w[1].0) {
            nodes.sort_by_key(|n| n.0); // stable: the later of equal ids stays later
            nodes.reverse();
            nodes.dedup_by_key(|n| n.0); // keeps the first of a run, the later in the file
            nodes.reverse();
        }
        NodeIndex(nodes)
    }

    fn get(&self, id: i64) -> Option<Coord> {
        self.0.binary_search_by_key(&id, |n| n.0).ok().map(|i| self.0[i].1)
    }
}

fn tag_map<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> Map<String, Value> {
    tags.map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect()
}

fn tag<'a>(tags: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    tags.get(key).and_then(Value::as_str)
}

fn public_service(tags: &Map<String, Value>) -> bool {
    tag(tags, "amenity").is_some_and(|a| PUBLIC_SERVICE_AMENITIES.contains(&a))
}

/// An extract cut at a border keeps ways whose nodes lie outside it: such a way is reported,
/// not silently shortened.
fn resolve(way: &Way, nodes: &NodeIndex) -> Result<LineString, String> {
    way.refs
        .iter()
        .map(|r| nodes.get(*r).ok_or_else(|| format!("node {r} of way {} is not in the extract", way.id)))
        .collect::<Result<Vec<_>, _>>()
        .map(LineString)
}

fn road(mut tags: Map<String, Value>) -> Map<String, Value> {
    let class = tag(&tags, "highway").unwrap_or_default().to_string();
    let speed = tag(&tags, "maxspeed").and_then(parse_speed).unwrap_or_else(|| default_speed(&class));
    let oneway = oneway(&tags, &class);
    let restriction = restriction(&tags);
    tags.insert("class".into(), Value::String(class));
    tags.insert("speed_kmh".into(), Value::from(speed));
    tags.insert("oneway".into(), Value::from(oneway));
    if let Some(r) = restriction {
        tags.insert("restriction".into(), Value::String(r));
    }
    tags
}

/// `50`, `50 km/h`, `30 mph`, `walk`; zone codes (`FR:urban`) and `none` fall back to the class.
pub fn parse_speed(s: &str) -> Option<f64> {
    let s = s.trim().to_ascii_lowercase();
    if s == "walk" {
        return Some(5.0);
    }
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let v: f64 = digits.parse().ok()?;
    let v = if s.contains("mph") { v * 1.609_344 } else { v };
    (v > 0.0).then_some(v)
}

/// Typical speeds where no limit is tagged, km/h. Foot-only classes get walking speed.
pub fn default_speed(class: &str) -> f64 {
    match class.trim_end_matches("_link") {
        "motorway" => 110.0,
        "trunk" => 90.0,
        "primary" => 60.0,
        "secondary" => 50.0,
        "tertiary" => 40.0,
        "unclassified" | "residential" | "road" => 30.0,
        "service" | "track" | "busway" | "bus_guideway" => 20.0,
        "living_street" => 10.0,
        "cycleway" => 15.0,
        _ => 5.0,
    }
}

/// 1 with the digitised direction, -1 against it, 0 both ways. Roundabouts and motorways are
/// one-way unless tagged otherwise.
fn oneway(tags: &Map<String, Value>, class: &str) -> i64 {
    match tag(tags, "oneway") {
        Some("yes" | "1" | "true") => 1,
        Some("-1" | "reverse") => -1,
        Some("no" | "0" | "false") => 0,
        _ => {
            let roundabout = matches!(tag(tags, "junction"), Some("roundabout" | "circular"));
            i64::from(roundabout || class == "motorway" || class == "motorway_link")
        }
    }
}

/// The most specific access tag that forbids or limits motor traffic, as `key=value`.
fn restriction(tags: &Map<String, Value>) -> Option<String> {
    ["motor_vehicle", "motorcar", "vehicle", "access"].iter().find_map(|k| {
        tag(tags, k)
            .filter(|v| !matches!(*v, "yes" | "permissive" | "designated" | "public"))
            .map(|v| format!("{k}={v}"))
    })
}

fn building(mut tags: Map<String, Value>) -> Map<String, Value> {
    let kind = tag(&tags, "building").map(str::to_string);
    let levels = tag(&tags, "building:levels").and_then(|s| s.trim().replace(',', ".").parse::<f64>().ok());
    let height = tag(&tags, "height").and_then(parse_metres);
    let address = address(&tags);
    for (k, v) in [
        ("kind", kind.map(Value::String)),
        ("levels", levels.map(Value::from)),
        ("height_m", height.map(Value::from)),
        ("address", address.map(Value::String)),
    ] {
        if let Some(v) = v {
            tags.insert(k.into(), v);
        }
    }
    tags
}

/// `12`, `12 m`, `12.5m`; feet (`40'`, `40 ft`) converted.
fn parse_metres(s: &str) -> Option<f64> {
    let t = s.trim().to_ascii_lowercase();
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let v: f64 = digits.parse().ok()?;
    Some(if t.contains('\'') || t.contains("ft") { v * 0.3048 } else { v })
}

fn address(tags: &Map<String, Value>) -> Option<String> {
    let street = tag(tags, "addr:street").or_else(|| tag(tags, "addr:place"));
    let number = tag(tags, "addr:housenumber");
    match (street, number) {
        (Some(s), Some(n)) => Some(format!("{s} {n}")),
        (Some(s), None) => Some(s.to_string()),
        (None, Some(n)) => Some(n.to_string()),
        (None, None) => None,
    }
}

/// A nameless amenity keeps no name: validation reports it rather than urbis inventing one.
fn service_centre(mut tags: Map<String, Value>) -> Map<String, Value> {
    let kind = tag(&tags, "amenity").map(str::to_string);
    let name = ["name", "official_name", "short_name"].iter().find_map(|k| tag(&tags, k)).map(str::to_string);
    let address = address(&tags);
    for (k, v) in [("kind", kind), ("name", name), ("address", address)] {
        if let Some(v) = v {
            tags.insert(k.into(), Value::String(v));
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse_or_fall_back() {
        assert_eq!(parse_speed("50"), Some(50.0));
        assert_eq!(parse_speed("30 mph").map(|v| v.round()), Some(48.0));
        assert_eq!(parse_speed("FR:urban"), None);
        assert_eq!(default_speed("primary_link"), 60.0);
        assert_eq!(parse_metres("12.5 m"), Some(12.5));
    }
}
