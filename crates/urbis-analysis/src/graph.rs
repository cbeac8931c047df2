//! The network as one mode travels it: the time of every edge in each direction it may be used,
//! adjacency in both directions (compressed rows), and the components of the usable edges.

use serde::Serialize;

use crate::mode::{Speeds, TravelMode};
use crate::network::{components, ComponentReport, RoadNetwork};
use crate::AnalysisError;

/// One traversal of an edge, as stored in a node's adjacency row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Arc {
    /// The node at the other end.
    pub node: u32,
    pub edge: u32,
    pub time_s: f64,
    pub length_m: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeReport {
    pub mode: TravelMode,
    /// Edges this mode may use (in at least one direction).
    pub usable_edges: usize,
    /// Drivable roads whose own speed was zero or negative: their class default was used.
    pub speed_defaulted: usize,
    pub components: ComponentReport,
}

#[derive(Debug, Clone)]
pub struct ModeGraph<'n> {
    pub network: &'n RoadNetwork,
    pub mode: TravelMode,
    pub speeds: Speeds,
    /// Seconds to travel each edge along its digitised direction (`INFINITY`: not allowed).
    pub forward_s: Vec<f64>,
    /// Seconds against it.
    pub backward_s: Vec<f64>,
    /// Component of each node among the usable edges (0 is the largest; `None`: unusable node).
    pub component: Vec<Option<u32>>,
    out_start: Vec<u32>,
    out_arcs: Vec<Arc>,
    /// The arcs again, for the searches: nodes renumbered along a Z-order curve of their
    /// positions, so that nodes near each other sit near each other in memory.
    pub(crate) search: SearchGraph,
    report: ModeReport,
    /// The network in its local projection, made when the isochrones first need it.
    projected: std::sync::OnceLock<Projected>,
}

/// The nodes and the edges' vertices in the network's local projection (metres), made once per
/// graph rather than once per isochrone.
#[derive(Debug, Clone)]
pub(crate) struct Projected {
    pub nodes: Vec<geo::Coord>,
    /// Every edge's vertices, edge after edge: edge i's are `vertices[start[i]..start[i + 1]]`.
    pub vertices: Vec<geo::Coord>,
    pub start: Vec<u32>,
    /// Projected metres from each edge's first vertex to each of its vertices, side by side with
    /// `vertices`.
    pub along: Vec<f64>,
    /// Geodesic metres from each edge's start to each of its vertices (the edges' `vertex_m`),
    /// side by side with `vertices`.
    pub metres: Vec<f64>,
    /// Each edge's (from, to, metres), apart from the rest of the edge.
    pub ends: Vec<(u32, u32, f64)>,
    /// Each edge's bounding box: (min x, min y, max x, max y).
    pub bbox: Vec<[f64; 4]>,
}

impl<'n> ModeGraph<'n> {
    pub fn new(network: &'n RoadNetwork, mode: TravelMode, speeds: &Speeds) -> Result<Self, AnalysisError> {
        speeds.check()?;
        let n = network.nodes.len();
        let mut forward_s = vec![f64::INFINITY; network.edges.len()];
        let mut backward_s = vec![f64::INFINITY; network.edges.len()];
        let mut usable = vec![];
        let mut speed_defaulted = 0;
        let mut out: Vec<(u32, Arc)> = vec![];
        for (i, e) in network.edges.iter().enumerate() {
            let Some((mps, defaulted)) = speeds.on(mode, e) else { continue };
            speed_defaulted += defaulted as usize;
            let time = e.length_m / mps;
            let arc = |node: usize| Arc { node: node as u32, edge: i as u32, time_s: time, length_m: e.length_m };
            if Speeds::allows(mode, e, true) {
                forward_s[i] = time;
                out.push((e.from as u32, arc(e.to)));
            }
            if Speeds::allows(mode, e, false) {
                backward_s[i] = time;
                out.push((e.to as u32, arc(e.from)));
            }
            usable.push(i);
        }
        if usable.is_empty() {
            return Err(AnalysisError::NoRoadsForMode { mode });
        }
        let (component, components) = components(n, &network.edges, &usable);
        let (out_start, out_arcs) = rows(n, out.iter().map(|&(from, a)| (from, a)));
        let search = SearchGraph::new(network, &out_start, &out_arcs);
        let report = ModeReport { mode, usable_edges: usable.len(), speed_defaulted, components };
        Ok(ModeGraph {
            network,
            mode,
            speeds: speeds.clone(),
            forward_s,
            backward_s,
            component,
            out_start,
            out_arcs,
            search,
            report,
            projected: std::sync::OnceLock::new(),
        })
    }

    pub fn report(&self) -> &ModeReport {
        &self.report
    }

    pub fn node_count(&self) -> usize {
        self.network.nodes.len()
    }

    /// Arcs leaving `node`, each to the node it reaches.
    pub(crate) fn out_arcs(&self, node: usize) -> &[Arc] {
        &self.out_arcs[self.out_start[node] as usize..self.out_start[node + 1] as usize]
    }

    /// The network in its local projection.
    pub(crate) fn projected(&self) -> &Projected {
        self.projected.get_or_init(|| {
            let proj = &self.network.projection;
            let nodes = self.network.nodes.iter().map(|n| proj.project(n.position)).collect();
            let mut vertices: Vec<geo::Coord> = vec![];
            let mut along = vec![];
            let mut metres = vec![];
            let mut ends = vec![];
            let mut start = vec![0u32];
            let mut bbox = vec![];
            for e in &self.network.edges {
                let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
                let mut m = 0.0;
                for (k, c) in e.geometry.0.iter().enumerate() {
                    let p = proj.project(*c);
                    b = [b[0].min(p.x), b[1].min(p.y), b[2].max(p.x), b[3].max(p.y)];
                    if k > 0 {
                        let q = vertices[vertices.len() - 1];
                        m += (p.x - q.x).hypot(p.y - q.y);
                    }
                    vertices.push(p);
                    along.push(m);
                }
                // A line's vertices and their metres go together (one metre count a vertex).
                metres.extend((0..e.geometry.0.len()).map(|k| e.vertex_m.get(k).copied().unwrap_or(e.length_m)));
                ends.push((e.from as u32, e.to as u32, e.length_m));
                start.push(vertices.len() as u32);
                bbox.push(b);
            }
            Projected { nodes, vertices, start, along, metres, ends, bbox }
        })
    }

    /// Every allowed traversal as (from node, to node, edge, seconds): the graph's arc list, for
    /// export (e.g. to pgRouting) and checks.
    pub fn arcs(&self) -> impl Iterator<Item = (usize, usize, usize, f64)> + '_ {
        (0..self.node_count())
            .flat_map(move |n| self.out_arcs(n).iter().map(move |a| (n, a.node as usize, a.edge as usize, a.time_s)))
    }
}

/// The graph as the searches read it: node k is `order[k]` of the network (`rank` is the
/// inverse), and each direction's arcs are compressed rows of three arrays, so that a relaxation
/// reads 12 bytes of arc (the metres only when it improves a label).
#[derive(Debug, Clone)]
pub(crate) struct SearchGraph {
    pub order: Vec<u32>,
    pub rank: Vec<u32>,
    /// Arcs leaving each node.
    pub forward: Rows,
    /// Arcs arriving at each node, from the node they leave.
    pub reverse: Rows,
}

#[derive(Debug, Clone)]
pub(crate) struct Rows {
    pub start: Vec<u32>,
    pub node: Vec<u32>,
    pub time_s: Vec<f64>,
    pub length_m: Vec<f64>,
    /// The smallest positive `time_s` and `length_m` (infinite without one): the width of a
    /// search's buckets (`crate::queue::Buckets`).
    pub min_time_s: f64,
    pub min_length_m: f64,
}

impl Rows {
    fn new(n: usize, arcs: &[(u32, u32, f64, f64)]) -> Rows {
        let mut start = vec![0u32; n + 1];
        for a in arcs {
            start[a.0 as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let m = arcs.len();
        let (mut node, mut time_s, mut length_m) = (vec![0u32; m], vec![0.0; m], vec![0.0; m]);
        for &(from, to, t, l) in arcs {
            let k = fill[from as usize] as usize;
            (node[k], time_s[k], length_m[k]) = (to, t, l);
            fill[from as usize] += 1;
        }
        let min_positive = |v: &[f64]| v.iter().copied().filter(|x| *x > 0.0).fold(f64::INFINITY, f64::min);
        let (min_time_s, min_length_m) = (min_positive(&time_s), min_positive(&length_m));
        Rows { start, node, time_s, length_m, min_time_s, min_length_m }
    }

    /// The index range of node `k`'s arcs.
    #[inline]
    pub fn of(&self, k: usize) -> std::ops::Range<usize> {
        self.start[k] as usize..self.start[k + 1] as usize
    }
}

impl SearchGraph {
    fn new(network: &RoadNetwork, out_start: &[u32], out_arcs: &[Arc]) -> SearchGraph {
        let n = network.nodes.len();
        // Z-order of positions quantised to 16 bits a coordinate over the network's extent.
        let (mut lo, mut hi) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
        for p in network.nodes.iter().map(|n| n.position) {
            (lo, hi) = ((lo.0.min(p.x), lo.1.min(p.y)), (hi.0.max(p.x), hi.1.max(p.y)));
        }
        let q = |v: f64, a: f64, b: f64| if b > a { ((v - a) / (b - a) * 65535.0) as u64 } else { 0 };
        let spread = |mut v: u64| {
            v &= 0xffff;
            v = (v | (v << 8)) & 0x00ff_00ff;
            v = (v | (v << 4)) & 0x0f0f_0f0f;
            v = (v | (v << 2)) & 0x3333_3333;
            (v | (v << 1)) & 0x5555_5555
        };
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&i| {
            let p = network.nodes[i as usize].position;
            (spread(q(p.x, lo.0, hi.0)) | spread(q(p.y, lo.1, hi.1)) << 1, i)
        });
        let mut rank = vec![0u32; n];
        for (k, &i) in order.iter().enumerate() {
            rank[i as usize] = k as u32;
        }
        let mut fwd = Vec::with_capacity(out_arcs.len());
        let mut rev = Vec::with_capacity(out_arcs.len());
        for (from, &k) in rank.iter().enumerate() {
            for a in &out_arcs[out_start[from] as usize..out_start[from + 1] as usize] {
                let to = rank[a.node as usize];
                fwd.push((k, to, a.time_s, a.length_m));
                rev.push((to, k, a.time_s, a.length_m));
            }
        }
        SearchGraph { order, rank, forward: Rows::new(n, &fwd), reverse: Rows::new(n, &rev) }
    }
}

/// Compressed rows: `start[n]..start[n + 1]` indexes node n's arcs, kept in input order.
fn rows(n: usize, arcs: impl Iterator<Item = (u32, Arc)> + Clone) -> (Vec<u32>, Vec<Arc>) {
    let mut start = vec![0u32; n + 1];
    for (from, _) in arcs.clone() {
        start[from as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut out = vec![Arc { node: 0, edge: 0, time_s: 0.0, length_m: 0.0 }; start[n] as usize];
    for (from, a) in arcs {
        out[fill[from as usize] as usize] = a;
        fill[from as usize] += 1;
    }
    (start, out)
}
