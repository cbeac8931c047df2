//! Shortest paths from all service centres at once: one Dijkstra whose queue starts with every
//! centre, so each node ends labelled with its nearest centre, the cost to it, and the network
//! distance along that path. Ties go to the shorter path, then to the lower centre index, so
//! results do not depend on input order beyond the centres' own.
//!
//! Ours rather than petgraph's `dijkstra`: that one is single-source and keeps only costs, while
//! this needs several sources with start costs (centres lie part-way along edges), the label of
//! the winning centre and a deterministic tie rule. The tests check it against petgraph's.

use crate::queue::{self, Frontier};

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
/// Every cost is at least zero (times and lengths of edges, access legs), so the costs expanded
/// never decrease: the queue is Dial's buckets as wide as the shortest arc when the limit is
/// finite, a radix heap otherwise ([`crate::queue`]). Labels live in three flat arrays (cost,
/// metres, centre) in the node order of [`crate::graph::SearchGraph`] (nodes near each other
/// near each other in memory), kept by the thread between searches with every entry unlabelled
/// (a search writes only the entries it labels and puts them back), the labelled ones copied
/// out in the network's order at the end. A relaxation reads the metres only on a tie of costs;
/// the queue holds (cost, node) and skips an entry whose cost is no longer its node's. A node
/// relabelled at an equal cost (a shorter path, or a lower centre) is queued and expanded
/// again, so the tie rule holds whatever order equal costs come out in. The benchmark in
/// `bench/coverage.sh` measures this function.
pub fn nearest_centres(
    graph: &ModeGraph,
    seeds: &[Seed],
    metric: Metric,
    direction: Direction,
    limit: f64,
) -> NodeLabels {
    let n = graph.node_count();
    let sg = &graph.search;
    // Towards the centre, a node's predecessor u travels u → node: the reversed graph.
    let rows = match direction {
        Direction::ToCentre => &sg.reverse,
        Direction::FromCentre => &sg.forward,
    };
    let (steps, width) = match metric {
        Metric::TimeS => (&rows.time_s, rows.min_time_s),
        Metric::LengthM => (&rows.length_m, rows.min_length_m),
    };
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.fit(n);
        scratch.clean = false;
        let out =
            queue::run(limit, width, Search { sg, rows, steps, seeds, metric, limit, labels: &mut scratch.labels });
        // (A search that panicked leaves `clean` false: the next one starts from fresh arrays.)
        scratch.clean = true;
        out
    })
}

/// A thread's labels of every node, unlabelled between searches (`f64::INFINITY`, `u32::MAX`).
#[derive(Default)]
struct Scratch {
    labels: Labels,
    /// Whether every label is unlabelled.
    clean: bool,
}

#[derive(Default)]
struct Labels {
    cost: Vec<f64>,
    length: Vec<f64>,
    centre: Vec<u32>,
}

impl Scratch {
    fn fit(&mut self, n: usize) {
        if self.labels.cost.len() != n || !self.clean {
            self.labels =
                Labels { cost: vec![f64::INFINITY; n], length: vec![f64::INFINITY; n], centre: vec![u32::MAX; n] };
            self.clean = true;
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

struct Search<'a> {
    sg: &'a crate::graph::SearchGraph,
    rows: &'a crate::graph::Rows,
    steps: &'a [f64],
    seeds: &'a [Seed],
    metric: Metric,
    limit: f64,
    labels: &'a mut Labels,
}

impl queue::Search for Search<'_> {
    type Output = NodeLabels;

    fn run(self, queue: &mut impl Frontier) -> NodeLabels {
        let Search { sg, rows, steps, seeds, metric, limit, labels } = self;
        let Labels { cost, length, centre } = labels;
        let n = cost.len();
        // The nodes labelled, for copying the labels out (and putting them back).
        let mut touched: Vec<u32> = Vec::new();
        for s in seeds {
            let (k, i) = (s.centre as u32, sg.rank[s.node] as usize);
            // Better than the node's label: by cost, then metres, then the lower centre.
            let better = s.cost < cost[i]
                || (s.cost == cost[i] && s.length_m.total_cmp(&length[i]).then(k.cmp(&centre[i])).is_lt());
            if s.cost >= 0.0 && s.cost <= limit && better {
                if centre[i] == u32::MAX {
                    touched.push(i as u32);
                }
                (cost[i], length[i], centre[i]) = (s.cost, s.length_m, k);
                queue.push(s.cost, i as u32);
            }
        }
        while let Some(node) = queue.pop(cost) {
            let (c, l, k) = (cost[node], length[node], centre[node]);
            for j in rows.of(node) {
                let (nc, i) = (c + steps[j], rows.node[j] as usize);
                let old = cost[i];
                if nc > limit || nc > old {
                    continue;
                }
                let nl = l + rows.length_m[j];
                if nc < old || nl.total_cmp(&length[i]).then(k.cmp(&centre[i])).is_lt() {
                    if centre[i] == u32::MAX {
                        touched.push(i as u32);
                    }
                    (cost[i], length[i], centre[i]) = (nc, nl, k);
                    queue.push(nc, i as u32);
                }
            }
        }
        // Copied out in the network's node numbers; the thread's labels put back.
        let mut out = NodeLabels {
            metric,
            cost: vec![f64::INFINITY; n],
            length_m: vec![f64::INFINITY; n],
            centre: vec![None; n],
        };
        for &k in &touched {
            let (k, i) = (k as usize, sg.order[k as usize] as usize);
            (out.cost[i], out.length_m[i]) = (cost[k], length[k]);
            out.centre[i] = Some(centre[k]);
            (cost[k], length[k], centre[k]) = (f64::INFINITY, f64::INFINITY, u32::MAX);
        }
        out
    }
}
