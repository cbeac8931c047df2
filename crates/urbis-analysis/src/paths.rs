//! Shortest paths from all service centres at once: one Dijkstra whose queue starts with every
//! centre, so each node ends labelled with its nearest centre, the cost to it, and the network
//! distance along that path. Ties go to the shorter path, then to the lower centre index, so
//! results do not depend on input order beyond the centres' own.
//!
//! Ours rather than petgraph's `dijkstra`: that one is single-source and keeps only costs, while
//! this needs several sources with start costs (centres lie part-way along edges), the label of
//! the winning centre and a deterministic tie rule. The tests check it against petgraph's.

use std::cmp::Reverse;

use radix_heap::RadixHeapMap;

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

/// Labels every node with its nearest seed's centre. `limit` stops the search past that cost
/// (nodes beyond stay unreached); `f64::INFINITY` searches the whole graph.
///
/// Every cost is at least zero (times and lengths of edges, access legs), so the costs popped
/// never decrease: the queue is a radix heap (the `radix-heap` crate) keyed by the bits of the
/// cost (a non-negative `f64`'s bits order as the number does). Labels live in three flat arrays
/// and the queue holds only (cost, node); an entry whose cost is no longer its node's is
/// skipped. A node relabelled at an equal cost (a shorter path, or a lower centre) is queued
/// and expanded again, so the tie rule holds whatever order equal costs come out in. The
/// benchmark in `bench/coverage.sh` measures this function.
pub fn nearest_centres(
    graph: &ModeGraph,
    seeds: &[Seed],
    metric: Metric,
    direction: Direction,
    limit: f64,
) -> NodeLabels {
    let n = graph.node_count();
    // Per node (cost, metres, centre), side by side: one cache line read per relaxation.
    let mut label: Vec<(f64, f64, u32)> = vec![(f64::INFINITY, f64::INFINITY, u32::MAX); n];
    // Better than the node's label: by cost, then metres, then the lower centre.
    let better = |c: f64, l: f64, k: u32, old: &(f64, f64, u32)| {
        c < old.0 || (c == old.0 && l.total_cmp(&old.1).then(k.cmp(&old.2)).is_lt())
    };
    // `+ 0.0` turns a negative zero (whose bits would sort last) into zero.
    let key = |c: f64| Reverse((c + 0.0).to_bits());
    let mut heap: RadixHeapMap<Reverse<u64>, u32> = RadixHeapMap::new();
    for s in seeds {
        let k = s.centre as u32;
        if s.cost >= 0.0 && s.cost <= limit && better(s.cost, s.length_m, k, &label[s.node]) {
            label[s.node] = (s.cost, s.length_m, k);
            heap.push(key(s.cost), s.node as u32);
        }
    }
    while let Some((Reverse(bits), node)) = heap.pop() {
        let node = node as usize;
        let (c, l, k) = label[node];
        // A stale entry: the node has had a cheaper label since.
        if bits != (c + 0.0).to_bits() {
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
            let (nc, nl) = (c + step, l + a.length_m);
            let old = &mut label[a.node as usize];
            if nc <= limit && better(nc, nl, k, old) {
                *old = (nc, nl, k);
                heap.push(key(nc), a.node);
            }
        }
    }
    NodeLabels {
        metric,
        cost: label.iter().map(|l| l.0).collect(),
        length_m: label.iter().map(|l| l.1).collect(),
        centre: label.iter().map(|l| (l.2 != u32::MAX).then_some(l.2)).collect(),
    }
}
