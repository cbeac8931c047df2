//! Shortest paths from all service centres at once: one Dijkstra whose queue starts with every
//! centre, so each node ends labelled with its nearest centre, the cost to it, and the network
//! distance along that path. Ties go to the shorter path, then to the lower centre index, so
//! results do not depend on input order beyond the centres' own.
//!
//! Ours rather than petgraph's `dijkstra`: that one is single-source and keeps only costs, while
//! this needs several sources with start costs (centres lie part-way along edges), the label of
//! the winning centre and a deterministic tie rule. The tests check it against petgraph's.

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

/// A label as a heap key: cost and metres as the bits of non-negative `f64`s (which order as
/// the numbers do), then the centre, then the node. `Reverse` makes the max-heap pop the least.
type Key = std::cmp::Reverse<(u64, u64, u32, u32)>;

fn key(cost: f64, length_m: f64, centre: u32, node: u32) -> Key {
    // `+ 0.0` turns a negative zero (whose bits would sort last) into zero.
    std::cmp::Reverse(((cost + 0.0).to_bits(), (length_m + 0.0).to_bits(), centre, node))
}

/// Labels every node with its nearest seed's centre. `limit` stops the search past that cost
/// (nodes beyond stay unreached); `f64::INFINITY` searches the whole graph.
///
/// Every cost is at least zero (times and lengths of edges, access legs), so a node's label is
/// final when it is popped: a later relaxation cannot be strictly better, which is why no
/// "settled" flags are kept. Labels are kept in three flat arrays and the heap holds plain
/// integer keys, for speed (the benchmark in `bench/coverage.sh` measures this function).
pub fn nearest_centres(
    graph: &ModeGraph,
    seeds: &[Seed],
    metric: Metric,
    direction: Direction,
    limit: f64,
) -> NodeLabels {
    let n = graph.node_count();
    let mut cost = vec![f64::INFINITY; n];
    let mut length = vec![f64::INFINITY; n];
    let mut centre = vec![u32::MAX; n];
    let better = |c: f64, l: f64, k: u32, node: usize, cost: &[f64], length: &[f64], centre: &[u32]| {
        c.total_cmp(&cost[node]).then(l.total_cmp(&length[node])).then(k.cmp(&centre[node])).is_lt()
    };
    let mut heap: BinaryHeap<Key> = BinaryHeap::new();
    for s in seeds {
        let k = s.centre as u32;
        if s.cost <= limit && better(s.cost, s.length_m, k, s.node, &cost, &length, &centre) {
            cost[s.node] = s.cost;
            length[s.node] = s.length_m;
            centre[s.node] = k;
            heap.push(key(s.cost, s.length_m, k, s.node as u32));
        }
    }
    while let Some(std::cmp::Reverse((c, l, k, node))) = heap.pop() {
        let node = node as usize;
        let (c, l) = (f64::from_bits(c), f64::from_bits(l));
        // A stale entry: the node has had a better label since.
        if c != cost[node] || l != length[node] || k != centre[node] {
            continue;
        }
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
            let (nc, nl, to) = (c + step, l + a.length_m, a.node as usize);
            if nc <= limit && better(nc, nl, k, to, &cost, &length, &centre) {
                cost[to] = nc;
                length[to] = nl;
                centre[to] = k;
                heap.push(key(nc, nl, k, a.node));
            }
        }
    }
    NodeLabels {
        metric,
        cost,
        length_m: length,
        centre: centre.into_iter().map(|k| (k != u32::MAX).then_some(k)).collect(),
    }
}
