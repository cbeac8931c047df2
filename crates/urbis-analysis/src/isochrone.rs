//! What one site (an existing centre or a candidate) reaches: the origins within a time limit,
//! and its isochrones, polygons that hold every junction and every stretch of road from which the
//! site is within a cutoff. An isochrone is traced on a grid over the reached network (see
//! [`isochrones_of`]), so it contains every node it claims by construction; the tests check that
//! on the demo city and on a real city's network for every node and cutoff.

use std::sync::OnceLock;

use contour::ContourBuilder;
use geo::{Coord, MapCoords, MultiPolygon};
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
    /// The nodes the search reached, in node order, and the edges with a reached end or the
    /// site on them, in edge order: found when first needed (the isochrones need them, a
    /// candidate site's search does not).
    reached: OnceLock<(Vec<u32>, Vec<u32>)>,
}

impl SiteSearch {
    pub fn new(travel: &Travel, site: &Snap, limit_s: f64) -> Self {
        let seeds = travel.seeds(0, site, Metric::TimeS);
        let labels = nearest_centres(travel.graph, &seeds, Metric::TimeS, travel.direction, limit_s);
        SiteSearch { labels, on_edge: OnEdge::new(&[(0, *site)]), site: *site, reached: OnceLock::new() }
    }

    /// The reached nodes and the edges the isochrones look at.
    fn reached(&self, g: &ModeGraph) -> (&[u32], &[u32]) {
        let (nodes, edges) = self.reached.get_or_init(|| {
            let nodes: Vec<u32> =
                (0..g.node_count()).filter(|&n| self.labels.centre[n].is_some()).map(|n| n as u32).collect();
            let mut edges: Vec<u32> = nodes
                .iter()
                .flat_map(|&n| g.out_arcs(n as usize).iter().chain(g.in_arcs(n as usize)).map(|a| a.edge))
                .chain([self.site.edge as u32])
                .collect();
            edges.sort_unstable();
            edges.dedup();
            (nodes, edges)
        });
        (nodes, edges)
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
        let (reached, edges) = self.reached(g);
        let nodes: Vec<usize> =
            reached.iter().map(|&n| n as usize).filter(|&n| self.labels.cost[n] <= cutoff_s).collect();
        let mut pieces = vec![];
        for &i in edges {
            let (i, e) = (i as usize, &g.network.edges[i as usize]);
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

    /// Points of the reached network within `max_s` of the site, in the network's local
    /// projection: every reached node, and points along each edge with a reached end at most
    /// `step_m` apart (projected metres), each with the least time from it to the site.
    pub fn samples(&self, travel: &Travel, max_s: f64, step_m: f64) -> Vec<Sample> {
        let g = travel.graph;
        let proj = &g.network.projection;
        let (reached, edges) = self.reached(g);
        let mut out = vec![];
        for &n in reached {
            let t = self.labels.cost[n as usize];
            if t <= max_s {
                let c = proj.project(g.network.nodes[n as usize].position);
                out.push(Sample { x: c.x, y: c.y, t });
            }
        }
        // Per edge, the time at a point m metres along it is the least of some (t0, rate, m0):
        // t0 + rate · |m − m0|, for each way out of the edge (an end, or the site on it).
        let mut ways: Vec<(f64, f64, f64, f64, f64)> = vec![];
        for &i in edges {
            let (i, e) = (i as usize, &g.network.edges[i as usize]);
            let len = e.length_m;
            ways.clear();
            for (node, at, far) in [(e.from, 0.0, len), (e.to, len, 0.0)] {
                let t0 = self.labels.cost[node];
                if t0.is_nan() || t0 > max_s {
                    continue;
                }
                let (x, y) = travel.travel(far, at);
                if let Some((full, _)) = travel.part(i, x, y, Metric::TimeS) {
                    let rate = if len > 0.0 { full / len } else { 0.0 };
                    ways.push((t0, rate, at, at.min(far), at.max(far)));
                }
            }
            if self.site.edge == i {
                let t0 = travel.leg(&self.site).0;
                let o = self.site.offset_m;
                for end in [0.0, len] {
                    let span = (end - o).abs();
                    let (x, y) = travel.travel(end, o);
                    if let Some((full, _)) = travel.part(i, x, y, Metric::TimeS) {
                        let rate = if span > 0.0 { full / span } else { 0.0 };
                        ways.push((t0, rate, o, o.min(end), o.max(end)));
                    }
                }
            }
            if ways.is_empty() {
                continue;
            }
            let time = |m: f64| {
                ways.iter()
                    .filter(|w| m >= w.3 && m <= w.4)
                    .map(|w| w.0 + w.1 * (m - w.2).abs())
                    .fold(f64::INFINITY, f64::min)
            };
            let line = &e.geometry.0;
            let mut p = proj.project(line[0]);
            // Segment by segment: its far vertex and the metres at both of its vertices.
            for (c, m) in line.iter().skip(1).zip(e.vertex_m.windows(2)) {
                let q = proj.project(*c);
                let (m0, m1) = (m[0], m[1]);
                let steps = ((q.x - p.x).hypot(q.y - p.y) / step_m).ceil().max(1.0) as usize;
                for s in 0..=steps {
                    let f = s as f64 / steps as f64;
                    let t = time(m0 + f * (m1 - m0));
                    if t <= max_s {
                        out.push(Sample { x: p.x + f * (q.x - p.x), y: p.y + f * (q.y - p.y), t });
                    }
                }
                p = q;
            }
        }
        out
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
    /// The side of the grid's cells the polygon was traced on, metres (the cell size asked for,
    /// or larger where the grid would otherwise exceed [`MAX_CELLS`]).
    pub cell_m: f64,
    /// WGS 84.
    #[serde(skip)]
    pub polygon: MultiPolygon,
}

/// The most cells an isochrone grid may have (512 × 512, 2 MB of `f64`): a larger reach coarsens
/// the cells, so that an outline has at most about 512 steps across its extent.
pub const MAX_CELLS: usize = 512 * 512;

/// The isochrones of one snapped site (its index in `centre`) for each cutoff in minutes, traced
/// on a grid of `cell_m` metres: one bounded search for all cutoffs.
pub fn isochrones(
    graph: &ModeGraph,
    options: &CoverageOptions,
    site: &Snap,
    centre: usize,
    cutoffs_min: &[f64],
    cell_m: f64,
) -> Vec<Isochrone> {
    let travel = Travel::new(graph, options);
    let max = cutoffs_min.iter().copied().fold(0.0, f64::max) * 60.0;
    let search = SiteSearch::new(&travel, site, max);
    isochrones_of(&travel, &search, centre, cutoffs_min, cell_m)
}

/// The isochrones of one searched site for every cutoff (minutes).
///
/// The reached network is rasterised onto a square grid of `cell_m` metres in the network's local
/// projection: every reached node, and points along every edge with a reached end no farther
/// apart than half a cell, each carrying the time from it to the site (a point on an edge: the
/// better of its two ends' times plus the part of the edge between, or the direct way to a site
/// on the same edge). Each grid point keeps the least time of the points nearest to it, then
/// the least of its 3 × 3 neighbourhood (a dilation by one cell), and marching squares (the
/// `contour` crate) trace, for each cutoff, the outline of the grid points within it.
///
/// Containment: a claimed node lies within half a cell (in x and in y) of its nearest grid
/// point, whose eight neighbours are all within the cutoff after the dilation, so the four grid
/// squares around that point are wholly inside and the node at least half a cell from the
/// outline. The outline stays within two cells in x and in y of the reached roads (half a cell to
/// the nearest grid point, one of dilation, half of marching squares).
pub(crate) fn isochrones_of(
    travel: &Travel,
    search: &SiteSearch,
    centre: usize,
    cutoffs_min: &[f64],
    cell_m: f64,
) -> Vec<Isochrone> {
    let g: &ModeGraph = travel.graph;
    let max_s = cutoffs_min.iter().copied().fold(0.0, f64::max) * 60.0;
    // The cell first, from the reached vertices alone: a wide reach coarsens it, and the points
    // along the edges need only be half of the cell actually used apart (a finer sampling would
    // fall on the same grid points).
    let cell = Grid::new(&search.samples(travel, max_s, f64::INFINITY), cell_m).cell;
    let samples = search.samples(travel, max_s, cell / 2.0);
    let grid = Grid::new(&samples, cell);
    let proj = &g.network.projection;
    let thresholds: Vec<f64> = cutoffs_min.iter().map(|m| -m * 60.0).collect();
    let values = grid.values(&samples);
    let contours = ContourBuilder::new(grid.nx, grid.ny, false)
        .x_origin(grid.x0 - grid.cell / 2.0)
        .y_origin(grid.y0 - grid.cell / 2.0)
        .x_step(grid.cell)
        .y_step(grid.cell)
        .contours(&values, &thresholds);
    let mut polygons: Vec<MultiPolygon> = match contours {
        Ok(c) => c.into_iter().map(|c| c.into_inner().0).collect(),
        // Only a grid of the wrong size fails, which `Grid` rules out.
        Err(e) => {
            tracing::error!(error = %e, "isochrone outline");
            vec![MultiPolygon(vec![]); cutoffs_min.len()]
        }
    };
    cutoffs_min
        .iter()
        .zip(polygons.iter_mut())
        .map(|(&minutes, polygon)| {
            let (pieces, nodes) = search.reachable(travel, minutes * 60.0);
            let road_m = pieces.iter().map(|&(_, a, b)| b - a).sum();
            let polygon = std::mem::replace(polygon, MultiPolygon(vec![])).map_coords(|c| proj.unproject(c));
            Isochrone { centre, minutes, nodes, road_m, cell_m: grid.cell, polygon }
        })
        .collect()
}

/// A point of the reached network in the local projection, and its time to the site.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    x: f64,
    y: f64,
    t: f64,
}

/// The grid of an isochrone: point (i, j) at (x0 + i·cell, y0 + j·cell), with two empty rows and
/// columns around the samples' extent.
struct Grid {
    x0: f64,
    y0: f64,
    cell: f64,
    nx: usize,
    ny: usize,
}

impl Grid {
    const PAD: f64 = 2.0;

    fn new(samples: &[Sample], cell_m: f64) -> Grid {
        let (mut lo, mut hi) = (Coord { x: f64::MAX, y: f64::MAX }, Coord { x: f64::MIN, y: f64::MIN });
        for s in samples {
            lo = Coord { x: lo.x.min(s.x), y: lo.y.min(s.y) };
            hi = Coord { x: hi.x.max(s.x), y: hi.y.max(s.y) };
        }
        if samples.is_empty() {
            (lo, hi) = (Coord { x: 0.0, y: 0.0 }, Coord { x: 0.0, y: 0.0 });
        }
        let (w, h) = (hi.x - lo.x, hi.y - lo.y);
        let size = |cell: f64| ((w / cell).ceil() + 1.0 + 2.0 * Self::PAD, (h / cell).ceil() + 1.0 + 2.0 * Self::PAD);
        let mut cell = cell_m;
        while {
            let (nx, ny) = size(cell);
            nx * ny > MAX_CELLS as f64
        } {
            cell *= 1.25;
        }
        let (nx, ny) = size(cell);
        Grid { x0: lo.x - Self::PAD * cell, y0: lo.y - Self::PAD * cell, cell, nx: nx as usize, ny: ny as usize }
    }

    /// Minus the least time at each grid point after the dilation (`-∞`: nothing near), the
    /// values the contours are traced on (a point is inside a cutoff's outline when its value is
    /// at least minus the cutoff).
    fn values(&self, samples: &[Sample]) -> Vec<f64> {
        let (nx, ny) = (self.nx, self.ny);
        let mut t = vec![f64::INFINITY; nx * ny];
        for s in samples {
            let i = ((s.x - self.x0) / self.cell).round() as usize;
            let j = ((s.y - self.y0) / self.cell).round() as usize;
            let k = j * nx + i.min(nx - 1);
            if s.t < t[k] {
                t[k] = s.t;
            }
        }
        // Dilation by one cell: the least of each 3 × 3 neighbourhood, by rows then by columns.
        let mut rows = vec![f64::INFINITY; nx * ny];
        for j in 0..ny {
            let r = &t[j * nx..(j + 1) * nx];
            for i in 0..nx {
                let mut m = r[i];
                if i > 0 {
                    m = m.min(r[i - 1]);
                }
                if i + 1 < nx {
                    m = m.min(r[i + 1]);
                }
                rows[j * nx + i] = m;
            }
        }
        for j in 0..ny {
            for i in 0..nx {
                let mut m = rows[j * nx + i];
                if j > 0 {
                    m = m.min(rows[(j - 1) * nx + i]);
                }
                if j + 1 < ny {
                    m = m.min(rows[(j + 1) * nx + i]);
                }
                t[j * nx + i] = -m;
            }
        }
        t
    }
}
