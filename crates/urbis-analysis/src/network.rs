//! The road network: one edge per road line, nodes at junctions. Two ends are one junction when
//! they lie within a small snapping tolerance of each other, or when the source gives them the
//! same `from_node`/`to_node` id and they are near enough for the id to be believed. Roads that cannot be used (no geometry, a
//! point, a line of one position) are listed with the reason, never dropped silently.

use std::collections::HashMap;

use geo::{Coord, Distance, Geodesic, Geometry, LineString, Point};
use petgraph::unionfind::UnionFind;
use rstar::primitives::GeomWithData;
use rstar::RTree;
use serde::{Deserialize, Serialize};
use urbis_core::geodesy::LocalProjection;
use urbis_core::Feature;

use crate::graph::ModeGraph;
use crate::mode::{Speeds, TravelMode};
use crate::{positive, AnalysisError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkOptions {
    /// Ends closer than this (metres) are one junction.
    pub snap_tolerance_m: f64,
    /// Also join ends that the source's `from_node`/`to_node` name alike, where a road has both.
    pub use_source_nodes: bool,
    /// A source node id joins two ends only if they lie within this many metres; ends farther
    /// from the node their id names are joined by geometry instead, and listed. (Cambridge's
    /// centrelines reuse a few ids for ends kilometres apart: trusted, they would be shortcuts.)
    pub source_node_tolerance_m: f64,
    /// Cut lines at inner vertices that another line (or the line itself) also passes through,
    /// at exactly the same coordinates: junctions in the middle of a way, as in OpenStreetMap.
    /// Lines that cross without a shared vertex (bridges, tunnels) stay apart.
    pub split_at_shared_vertices: bool,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            snap_tolerance_m: 1.0,
            use_source_nodes: true,
            source_node_tolerance_m: 10.0,
            split_at_shared_vertices: true,
        }
    }
}

/// Direction rule of a road for drivers (`oneway` field: 0, 1, -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OneWay {
    Both,
    /// Only in the digitised direction.
    Forward,
    /// Only against it.
    Backward,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// WGS 84 longitude/latitude.
    pub position: Coord,
    /// The source's node id, when the node comes from `from_node`/`to_node`.
    pub source_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    /// The road feature's id.
    pub road_id: String,
    /// Which line of a multi-line road, from 0.
    pub part: usize,
    /// Which piece of that line, from 0, when it was cut at junctions along it.
    pub piece: usize,
    pub from: usize,
    pub to: usize,
    /// Geodesic length on the WGS 84 ellipsoid, metres.
    pub length_m: f64,
    pub class: Option<String>,
    pub speed_kmh: Option<f64>,
    pub oneway: OneWay,
    pub restriction: Option<String>,
    /// The line as digitised, `from` to `to`, in WGS 84.
    pub geometry: LineString,
    /// Geodesic metres from the start to each vertex (first 0, last `length_m`).
    pub(crate) vertex_m: Vec<f64>,
}

/// A road, or one line of it, that is not in the network, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnjoinedRoad {
    pub id: String,
    pub reason: String,
}

/// A road end whose source node id names a junction too far away to be the same place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeMismatch {
    pub road_id: String,
    pub node_id: String,
    /// Metres between this end and the first end that carried the id.
    pub distance_m: f64,
}

/// Connected components of a network (directions ignored).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentReport {
    pub count: usize,
    pub largest_nodes: usize,
    pub largest_edges: usize,
    pub largest_length_m: f64,
    pub total_length_m: f64,
    /// Share of the network's length in the largest component, 0 to 1.
    pub largest_length_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkReport {
    pub roads: usize,
    pub nodes: usize,
    pub edges: usize,
    pub components: ComponentReport,
    pub unjoined: Vec<UnjoinedRoad>,
    /// Pieces of roads, between junctions closer than the snapping tolerance, that became part of
    /// one junction (the rest of the road is in the network).
    pub collapsed: Vec<UnjoinedRoad>,
    /// Road ends farther than the source-node tolerance from the node their source id names:
    /// joined by geometry instead.
    pub source_node_mismatches: Vec<NodeMismatch>,
    /// Roads with a one-way value other than 0, 1 or -1, taken as two-way.
    pub unknown_oneway: usize,
}

#[derive(Debug, Clone)]
pub struct RoadNetwork {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub(crate) projection: LocalProjection,
    report: NetworkReport,
}

/// One usable line of a road, before its ends are made nodes.
struct Part<'a> {
    feature: &'a Feature,
    part: usize,
    line: LineString,
    piece: usize,
    /// The source's node ids of the start and the end, where it gives them.
    source_nodes: [Option<String>; 2],
}

impl RoadNetwork {
    /// Builds the network from road features (the roads layer's fields: `class`, `speed_kmh`,
    /// `oneway`, `from_node`, `to_node`, `restriction`). Fails only when no road is usable.
    pub fn from_roads(roads: &[Feature], options: &NetworkOptions) -> Result<RoadNetwork, AnalysisError> {
        positive("snapping tolerance (m)", options.snap_tolerance_m)?;
        positive("source node tolerance (m)", options.source_node_tolerance_m)?;
        let mut unjoined = vec![];
        let mut unknown_oneway = 0;
        let mut parts = vec![];
        for road in roads {
            let lines: Vec<&LineString> = match &road.geometry {
                None => {
                    unjoined.push(UnjoinedRoad { id: road.id.clone(), reason: "no geometry".into() });
                    continue;
                }
                Some(Geometry::LineString(l)) => vec![l],
                Some(Geometry::MultiLineString(m)) => m.0.iter().collect(),
                Some(other) => {
                    unjoined.push(UnjoinedRoad {
                        id: road.id.clone(),
                        reason: format!("not a line but a {}", kind(other)),
                    });
                    continue;
                }
            };
            if lines.is_empty() {
                unjoined.push(UnjoinedRoad { id: road.id.clone(), reason: "empty geometry".into() });
                continue;
            }
            let mut usable = vec![];
            for (i, l) in lines.iter().enumerate() {
                let where_ = if lines.len() > 1 { format!("line {i}: ") } else { String::new() };
                if l.0.iter().any(|c| !c.x.is_finite() || !c.y.is_finite()) {
                    unjoined.push(UnjoinedRoad {
                        id: road.id.clone(),
                        reason: format!("{where_}a coordinate is not a number"),
                    });
                    continue;
                }
                let mut coords: Vec<Coord> = Vec::with_capacity(l.0.len());
                for c in &l.0 {
                    if coords.last() != Some(c) {
                        coords.push(*c);
                    }
                }
                if coords.len() < 2 {
                    unjoined.push(UnjoinedRoad {
                        id: road.id.clone(),
                        reason: format!("{where_}degenerate: fewer than two distinct positions"),
                    });
                    continue;
                }
                usable.push((i, LineString(coords)));
            }
            let source_nodes = match (road.text("from_node"), road.text("to_node")) {
                (Some(a), Some(b)) if options.use_source_nodes && usable.len() == 1 && lines.len() == 1 => {
                    Some((a.trim().to_string(), b.trim().to_string())).filter(|(a, b)| !a.is_empty() && !b.is_empty())
                }
                _ => None,
            };
            for (i, line) in usable {
                let source_nodes = source_nodes.clone().map(|(a, b)| [Some(a), Some(b)]).unwrap_or_default();
                parts.push(Part { feature: road, part: i, piece: 0, line, source_nodes });
            }
        }
        // The same network whatever order the roads come in: which end first carries a node id
        // decides which ends that id may join.
        parts.sort_by(|a, b| (&a.feature.id, a.part).cmp(&(&b.feature.id, b.part)));
        if options.split_at_shared_vertices {
            parts = split_at_shared_vertices(parts);
        }
        if parts.is_empty() {
            return Err(AnalysisError::NoNetwork {
                roads: roads.len(),
                unjoined: unjoined.len(),
                first: unjoined.first().map(|u| format!("{}: {}", u.id, u.reason)),
            });
        }
        let projection = LocalProjection::new(centre(&parts));
        // Every end of every line, and which ends are one junction: those within the snapping
        // tolerance of each other, and those the source gives the same node id (if near enough).
        let tol = options.snap_tolerance_m;
        let ends: Vec<Coord> =
            parts.iter().flat_map(|p| [p.line.0[0], *p.line.0.last().expect("two positions")]).collect();
        let xy: Vec<[f64; 2]> = ends
            .iter()
            .map(|&c| {
                let p = projection.project(c);
                [p.x, p.y]
            })
            .collect();
        let mut junctions = UnionFind::<usize>::new(ends.len());
        let index: RTree<GeomWithData<[f64; 2], usize>> =
            RTree::bulk_load(xy.iter().enumerate().map(|(i, &p)| GeomWithData::new(p, i)).collect());
        for (i, p) in xy.iter().enumerate() {
            for near in index.locate_within_distance(*p, tol * tol) {
                junctions.union(i, near.data);
            }
        }
        let mut mismatches = vec![];
        let mut first_with_id: HashMap<&str, usize> = HashMap::new();
        for (i, p) in parts.iter().enumerate() {
            for (k, key) in p.source_nodes.iter().enumerate() {
                let Some(key) = key.as_deref() else { continue };
                let end = 2 * i + k;
                let first = *first_with_id.entry(key).or_insert(end);
                let apart = (xy[first][0] - xy[end][0]).hypot(xy[first][1] - xy[end][1]);
                if apart <= options.source_node_tolerance_m {
                    junctions.union(first, end);
                } else {
                    let road_id = p.feature.id.clone();
                    mismatches.push(NodeMismatch { road_id, node_id: key.to_string(), distance_m: apart });
                }
            }
        }
        // One node per junction, at its first end, numbered in order of first appearance.
        let mut nodes: Vec<Node> = vec![];
        let mut node_of_set: HashMap<usize, usize> = HashMap::new();
        let mut node_of_end = vec![0usize; ends.len()];
        for (i, &c) in ends.iter().enumerate() {
            let set = junctions.find(i);
            node_of_end[i] = *node_of_set.entry(set).or_insert_with(|| {
                nodes.push(Node { position: c, source_id: None });
                nodes.len() - 1
            });
            let p = &parts[i / 2];
            let n = node_of_end[i];
            if nodes[n].source_id.is_none() {
                nodes[n].source_id.clone_from(&p.source_nodes[i % 2]);
            }
        }
        let mut parts_of_road: HashMap<String, usize> = HashMap::new();
        for p in &parts {
            *parts_of_road.entry(p.feature.id.clone()).or_default() += 1;
        }
        let mut collapsed = vec![];
        let mut edges = vec![];
        for (pi, p) in parts.into_iter().enumerate() {
            let ids = [node_of_end[2 * pi], node_of_end[2 * pi + 1]];
            let mut vertex_m = Vec::with_capacity(p.line.0.len());
            let mut total = 0.0;
            vertex_m.push(0.0);
            for w in p.line.0.windows(2) {
                total += Geodesic.distance(Point(w[0]), Point(w[1]));
                vertex_m.push(total);
            }
            let id = &p.feature.id;
            if ids[0] == ids[1] && total <= tol {
                // Shorter than the tolerance between two junctions that snapping made one: the
                // junction stands for it. A road that is nothing else is unjoined.
                let only = parts_of_road.get(id.as_str()).is_none_or(|&n| n <= 1);
                let list = if only { &mut unjoined } else { &mut collapsed };
                let piece = if only { String::new() } else { format!("line {} piece {}: ", p.part, p.piece) };
                list.push(UnjoinedRoad {
                    id: id.clone(),
                    reason: format!("{piece}degenerate: {total:.2} m long, both ends at one junction"),
                });
                continue;
            }
            let oneway = match p.feature.integer("oneway").or_else(|| p.feature.real("oneway").map(|v| v as i64)) {
                None | Some(0) => OneWay::Both,
                Some(1) => OneWay::Forward,
                Some(-1) => OneWay::Backward,
                Some(_) => {
                    unknown_oneway += 1;
                    OneWay::Both
                }
            };
            edges.push(Edge {
                road_id: id.clone(),
                part: p.part,
                piece: p.piece,
                from: ids[0],
                to: ids[1],
                length_m: total,
                class: p.feature.text("class").map(str::to_string),
                speed_kmh: p.feature.real("speed_kmh"),
                oneway,
                restriction: p.feature.text("restriction").filter(|r| !r.is_empty()).map(str::to_string),
                geometry: p.line,
                vertex_m,
            });
        }
        if edges.is_empty() {
            return Err(AnalysisError::NoNetwork {
                roads: roads.len(),
                unjoined: unjoined.len(),
                first: unjoined.first().map(|u| format!("{}: {}", u.id, u.reason)),
            });
        }
        // Same order whatever order the store returned the roads in.
        edges.sort_by(|a, b| (&a.road_id, a.part, a.piece).cmp(&(&b.road_id, b.part, b.piece)));
        let all: Vec<usize> = (0..edges.len()).collect();
        let (_, components) = components(nodes.len(), &edges, &all);
        let report = NetworkReport {
            roads: roads.len(),
            nodes: nodes.len(),
            edges: edges.len(),
            components,
            unjoined,
            collapsed,
            source_node_mismatches: mismatches,
            unknown_oneway,
        };
        tracing::debug!(
            nodes = report.nodes,
            edges = report.edges,
            components = report.components.count,
            "road network built"
        );
        Ok(RoadNetwork { nodes, edges, projection, report })
    }

    pub fn report(&self) -> &NetworkReport {
        &self.report
    }

    /// The network as travelled by `mode` at `speeds`.
    pub fn graph(&self, mode: TravelMode, speeds: &Speeds) -> Result<ModeGraph<'_>, AnalysisError> {
        ModeGraph::new(self, mode, speeds)
    }
}

/// Lines cut at their inner vertices that occur more than once in all the lines.
fn split_at_shared_vertices(parts: Vec<Part<'_>>) -> Vec<Part<'_>> {
    let key = |c: &Coord| (c.x.to_bits(), c.y.to_bits());
    let mut seen: HashMap<(u64, u64), u32> = HashMap::new();
    for c in parts.iter().flat_map(|p| p.line.0.iter()) {
        *seen.entry(key(c)).or_default() += 1;
    }
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        let n = p.line.0.len();
        let mut bounds: Vec<usize> = vec![0];
        bounds.extend((1..n - 1).filter(|&i| seen[&key(&p.line.0[i])] >= 2));
        bounds.push(n - 1);
        if bounds.len() == 2 {
            out.push(p);
            continue;
        }
        let last = bounds.len() - 2;
        for (k, w) in bounds.windows(2).enumerate() {
            out.push(Part {
                feature: p.feature,
                part: p.part,
                piece: k,
                line: LineString(p.line.0[w[0]..=w[1]].to_vec()),
                source_nodes: [
                    if k == 0 { p.source_nodes[0].clone() } else { None },
                    if k == last { p.source_nodes[1].clone() } else { None },
                ],
            });
        }
    }
    out
}

fn kind(g: &Geometry) -> &'static str {
    match g {
        Geometry::Point(_) => "point",
        Geometry::MultiPoint(_) => "multipoint",
        Geometry::Polygon(_) | Geometry::Rect(_) | Geometry::Triangle(_) => "polygon",
        Geometry::MultiPolygon(_) => "multipolygon",
        Geometry::GeometryCollection(_) => "geometry collection",
        Geometry::Line(_) | Geometry::LineString(_) | Geometry::MultiLineString(_) => "line",
    }
}

fn centre(parts: &[Part]) -> Coord {
    let (mut min, mut max) = (Coord { x: f64::MAX, y: f64::MAX }, Coord { x: f64::MIN, y: f64::MIN });
    for c in parts.iter().flat_map(|p| p.line.0.iter()) {
        min = Coord { x: min.x.min(c.x), y: min.y.min(c.y) };
        max = Coord { x: max.x.max(c.x), y: max.y.max(c.y) };
    }
    Coord { x: (min.x + max.x) / 2.0, y: (min.y + max.y) / 2.0 }
}

/// The component of every node (`None` for nodes no listed edge touches) and their report,
/// over the edges listed, directions ignored. Components are numbered from 0 by falling size
/// (then by lowest node), so component 0 is the largest.
pub(crate) fn components(nodes: usize, edges: &[Edge], used: &[usize]) -> (Vec<Option<u32>>, ComponentReport) {
    let mut sets = UnionFind::<usize>::new(nodes);
    let mut touched = vec![false; nodes];
    for &e in used {
        sets.union(edges[e].from, edges[e].to);
        touched[edges[e].from] = true;
        touched[edges[e].to] = true;
    }
    // root → (nodes, edges, length, lowest node)
    let mut stats: HashMap<usize, (usize, usize, f64, usize)> = HashMap::new();
    for n in (0..nodes).filter(|&n| touched[n]) {
        let s = stats.entry(sets.find(n)).or_insert((0, 0, 0.0, n));
        s.0 += 1;
    }
    let mut total = 0.0;
    for &e in used {
        let s = stats.get_mut(&sets.find(edges[e].from)).expect("every used node has a set");
        s.1 += 1;
        s.2 += edges[e].length_m;
        total += edges[e].length_m;
    }
    let mut order: Vec<(usize, (usize, usize, f64, usize))> = stats.into_iter().collect();
    order.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .3.cmp(&b.1 .3)));
    let number: HashMap<usize, u32> = order.iter().enumerate().map(|(i, (root, _))| (*root, i as u32)).collect();
    let of_node = (0..nodes).map(|n| if touched[n] { Some(number[&sets.find(n)]) } else { None }).collect();
    let largest = order.first().map(|o| o.1).unwrap_or((0, 0, 0.0, 0));
    let report = ComponentReport {
        count: order.len(),
        largest_nodes: largest.0,
        largest_edges: largest.1,
        largest_length_m: largest.2,
        total_length_m: total,
        largest_length_share: if total > 0.0 { largest.2 / total } else { 0.0 },
    };
    (of_node, report)
}
