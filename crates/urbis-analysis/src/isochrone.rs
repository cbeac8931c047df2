//! What one site (an existing centre or a candidate) reaches: the origins within a time limit,
//! and its isochrones, polygons that hold every junction and every stretch of road from which the
//! site is within a cutoff. An isochrone is the union of the reachable pieces of road (edges cut
//! where the cutoff falls along them) buffered by a fixed width, so it contains every node it
//! claims by construction; the tests check that on the demo city.

use geo::{Buffer, Coord, LineString, MultiLineString, MultiPolygon};
use serde::Serialize;

use crate::coverage::{CoverageOptions, OnEdge, Travel};
use crate::graph::ModeGraph;
use crate::paths::{nearest_centres, Metric, NodeLabels};
use crate::snap::Snap;

/// One site's search: every node's time to (or from) the site, up to a limit.
pub(crate) struct SiteSearch {
    pub labels: NodeLabels,
    on_edge: OnEdge,
    site: Snap,
}

impl SiteSearch {
    pub fn new(travel: &Travel, site: &Snap, limit_s: f64) -> Self {
        let seeds = travel.seeds(0, site, Metric::TimeS);
        let labels = nearest_centres(travel.graph, &seeds, Metric::TimeS, travel.direction, limit_s);
        SiteSearch { labels, on_edge: OnEdge::new(&[(0, *site)]), site: *site }
    }

    /// Seconds between a snapped origin and the site, its access leg included; `None` if out of
    /// the search's reach.
    pub fn time_s(&self, travel: &Travel, origin: &Snap) -> Option<f64> {
        travel.best(origin, &self.labels, Metric::TimeS, &self.on_edge).map(|(t, _, _)| t + travel.leg(origin).0)
    }

    /// The stretches of every edge within `cutoff_s` of the site, as (edge, from metres, to
    /// metres) along the edge, and the nodes within it.
    pub fn reachable(&self, travel: &Travel, cutoff_s: f64) -> (Vec<(usize, f64, f64)>, Vec<usize>) {
        let g = travel.graph;
        let nodes: Vec<usize> = (0..g.node_count()).filter(|&n| self.labels.cost[n] <= cutoff_s).collect();
        let mut pieces = vec![];
        for (i, e) in g.network.edges.iter().enumerate() {
            let len = e.length_m;
            let mut intervals: Vec<(f64, f64)> = vec![];
            // From each end inwards: a point x metres in reaches the end, then the site.
            for (node, at, far) in [(e.from, 0.0, len), (e.to, len, 0.0)] {
                let left = cutoff_s - self.labels.cost[node];
                // Negative, or NaN for an unreached node (infinite cost).
                if left.is_nan() || left < 0.0 {
                    continue;
                }
                let (x, y) = travel.travel(far, at);
                let reach = match travel.part(i, x, y, Metric::TimeS) {
                    Some((full, _)) if full > 0.0 => (len * left / full).min(len),
                    Some(_) => len,
                    None => 0.0,
                };
                intervals.push(if at == 0.0 { (0.0, reach) } else { (len - reach, len) });
            }
            // The site's own edge, on both sides of the site.
            if self.site.edge == i {
                let left = cutoff_s - travel.leg(&self.site).0;
                if left >= 0.0 {
                    let o = self.site.offset_m;
                    for end in [0.0, len] {
                        let (x, y) = travel.travel(end, o);
                        if let Some((full, _)) = travel.part(i, x, y, Metric::TimeS) {
                            let span = (end - o).abs();
                            let reach = if full > 0.0 { (span * left / full).min(span) } else { span };
                            intervals.push(if end == 0.0 { (o - reach, o) } else { (o, o + reach) });
                        } else {
                            intervals.push((o, o));
                        }
                    }
                }
            }
            intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut merged: Vec<(f64, f64)> = vec![];
            for (a, b) in intervals {
                match merged.last_mut() {
                    Some(last) if a <= last.1 => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            pieces.extend(merged.into_iter().map(|(a, b)| (i, a, b)));
        }
        (pieces, nodes)
    }
}

/// An isochrone's polygon and what it claims.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Isochrone {
    /// Index of the centre (or site) in the list the run was given.
    pub centre: usize,
    pub minutes: f64,
    /// The nodes within the cutoff; the polygon contains each of them.
    pub nodes: Vec<usize>,
    /// Length of the road stretches within the cutoff, metres.
    pub road_m: f64,
    /// WGS 84.
    #[serde(skip)]
    pub polygon: MultiPolygon,
}

/// The isochrones of one snapped site (its index in `centre`) for each cutoff in minutes.
pub fn isochrones(
    graph: &ModeGraph,
    options: &CoverageOptions,
    site: &Snap,
    centre: usize,
    cutoffs_min: &[f64],
    buffer_m: f64,
) -> Vec<Isochrone> {
    let travel = Travel::new(graph, options);
    let max = cutoffs_min.iter().copied().fold(0.0, f64::max) * 60.0;
    let search = SiteSearch::new(&travel, site, max);
    cutoffs_min.iter().map(|&m| isochrone(&travel, &search, centre, m, buffer_m)).collect()
}

/// The isochrone of one site for one cutoff: the reachable stretches buffered by `buffer_m`.
pub(crate) fn isochrone(travel: &Travel, search: &SiteSearch, centre: usize, minutes: f64, buffer_m: f64) -> Isochrone {
    let g: &ModeGraph = travel.graph;
    let proj = &g.network.projection;
    let (pieces, nodes) = search.reachable(travel, minutes * 60.0);
    let mut lines = vec![];
    let mut road_m = 0.0;
    for &(edge, a, b) in &pieces {
        road_m += b - a;
        let line = substring(&g.network.edges[edge].geometry, &g.network.edges[edge].vertex_m, a, b);
        lines.push(LineString(line.0.iter().map(|c| proj.project(*c)).collect()));
    }
    // A node reached with no time left has a zero-length stretch: still a stroke of the buffer.
    for &n in &nodes {
        let c = proj.project(g.network.nodes[n].position);
        lines.push(LineString(vec![c, Coord { x: c.x + 0.01, y: c.y }]));
    }
    let buffered = MultiLineString(lines).buffer(buffer_m);
    let polygon = geo::MapCoords::map_coords(&buffered, |c| proj.unproject(c));
    Isochrone { centre, minutes, nodes, road_m, polygon }
}

/// The part of `line` from `a` to `b` metres along it (geodesic metres at each vertex given).
fn substring(line: &LineString, vertex_m: &[f64], a: f64, b: f64) -> LineString {
    let at = |m: f64| -> Coord {
        let k = vertex_m.partition_point(|&v| v < m).clamp(1, vertex_m.len() - 1);
        let (m0, m1) = (vertex_m[k - 1], vertex_m[k]);
        let t = if m1 > m0 { ((m - m0) / (m1 - m0)).clamp(0.0, 1.0) } else { 0.0 };
        let (p, q) = (line.0[k - 1], line.0[k]);
        Coord { x: p.x + t * (q.x - p.x), y: p.y + t * (q.y - p.y) }
    };
    let mut out = vec![at(a)];
    for (k, &m) in vertex_m.iter().enumerate() {
        if m > a && m < b {
            out.push(line.0[k]);
        }
    }
    out.push(at(b));
    LineString(out)
}
