//! Shortest paths from all service centres at once: one Dijkstra whose queue starts with every
//! centre, so each node ends labelled with its nearest centre, the cost to it, and the network
//! distance along that path. Ties go to the shorter path, then to the lower centre index, so
//! results do not depend on input order beyond the centres' own.
//!
//! Ours rather than petgraph's `dijkstra`: that one is single-source and keeps only costs, while
//! this needs several sources with start costs (centres lie part-way along edges), the label of
//! the winning centre and a deterministic tie rule. The tests check it against petgraph's.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use crate::graph::ModeGraph;

/// Which way people travel between an origin and a centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the origin to the centre (a resident going to the service): the search runs from the
    /// centres over the reversed graph, so one-way streets are taken as the resident drives them.
    #[default]
    ToCentre,
    /// From the centre to the origin (a service going out, e.g. a fire engine).
    FromCentre,
}

/// What a search minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    TimeS,
    LengthM,
}

/// A centre's entry into the network at one node: the cost and metres from that node to the
/// centre (part of an edge, and the centre's access leg).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seed {
    pub node: usize,
    pub cost: f64,
    pub length_m: f64,
    pub centre: usize,
}

/// The result for every node; `centre[n] == None` where no centre can be reached.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLabels {
    pub metric: Metric,
    pub cost: Vec<f64>,
    pub length_m: Vec<f64>,
    pub centre: Vec<Option<u32>>,
}

#[derive(Clone, Copy, PartialEq)]
struct Label {
    cost: f64,
    length_m: f64,
    centre: u32,
}

impl Label {
    fn better(&self, other: &Label) -> bool {
        self.order(other) == Ordering::Less
    }

    fn order(&self, other: &Label) -> Ordering {
        self.cost
            .total_cmp(&other.cost)
            .then(self.length_m.total_cmp(&other.length_m))
            .then(self.centre.cmp(&other.centre))
    }
}

struct Queued(Label, u32);

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    // BinaryHeap is a max-heap: the best label must compare greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.order(&self.0).then(other.1.cmp(&self.1))
    }
}

/// Labels every node with its nearest seed's centre. `limit` stops the search past that cost
/// (nodes beyond stay unreached); `f64::INFINITY` searches the whole graph.
pub fn nearest_centres(
    graph: &ModeGraph,
    seeds: &[Seed],
    metric: Metric,
    direction: Direction,
    limit: f64,
) -> NodeLabels {
    let n = graph.node_count();
    let none = Label { cost: f64::INFINITY, length_m: f64::INFINITY, centre: u32::MAX };
    let mut best = vec![none; n];
    let mut done = vec![false; n];
    let mut heap = BinaryHeap::new();
    for s in seeds {
        let l = Label { cost: s.cost, length_m: s.length_m, centre: s.centre as u32 };
        if l.cost <= limit && l.better(&best[s.node]) {
            best[s.node] = l;
            heap.push(Queued(l, s.node as u32));
        }
    }
    while let Some(Queued(label, node)) = heap.pop() {
        let node = node as usize;
        if done[node] || label != best[node] {
            continue;
        }
        done[node] = true;
        // Towards the centre, a node's predecessor u travels u → node: the reversed graph.
        let arcs = match direction {
            Direction::ToCentre => graph.in_arcs(node),
            Direction::FromCentre => graph.out_arcs(node),
        };
        for a in arcs {
            let step = match metric {
                Metric::TimeS => a.time_s,
                Metric::LengthM => a.length_m,
            };
            let next = Label { cost: label.cost + step, length_m: label.length_m + a.length_m, centre: label.centre };
            let to = a.node as usize;
            if !done[to] && next.cost <= limit && next.better(&best[to]) {
                best[to] = next;
                heap.push(Queued(next, a.node));
            }
        }
    }
    NodeLabels {
        metric,
        cost: best.iter().map(|l| l.cost).collect(),
        length_m: best.iter().map(|l| l.length_m).collect(),
        centre: best.iter().map(|l| (l.centre != u32::MAX).then_some(l.centre)).collect(),
    }
}
