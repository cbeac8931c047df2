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
    in_start: Vec<u32>,
    in_arcs: Vec<Arc>,
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
        let (in_start, in_arcs) = rows(n, out.iter().map(|&(from, a)| (a.node, Arc { node: from, ..a })));
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
            in_start,
            in_arcs,
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

    /// Arcs arriving at `node`, each from the node it leaves (the reversed graph's arcs).
    pub(crate) fn in_arcs(&self, node: usize) -> &[Arc] {
        &self.in_arcs[self.in_start[node] as usize..self.in_start[node + 1] as usize]
    }

    /// The network in its local projection.
    pub(crate) fn projected(&self) -> &Projected {
        self.projected.get_or_init(|| {
            let proj = &self.network.projection;
            let nodes = self.network.nodes.iter().map(|n| proj.project(n.position)).collect();
            let mut vertices: Vec<geo::Coord> = vec![];
            let mut along = vec![];
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
                start.push(vertices.len() as u32);
                bbox.push(b);
            }
            Projected { nodes, vertices, start, along, bbox }
        })
    }

    /// Every allowed traversal as (from node, to node, edge, seconds): the graph's arc list, for
    /// export (e.g. to pgRouting) and checks.
    pub fn arcs(&self) -> impl Iterator<Item = (usize, usize, usize, f64)> + '_ {
        (0..self.node_count())
            .flat_map(move |n| self.out_arcs(n).iter().map(move |a| (n, a.node as usize, a.edge as usize, a.time_s)))
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
