//! What one site (an existing centre or a candidate) reaches: the origins within a time limit,
//! and its isochrones, polygons that hold every junction and every stretch of road from which the
//! site is within a cutoff. An isochrone is traced on a grid over the reached network (see
//! [`isochrones_of`]), so it contains every node it claims by construction; the tests check that
//! on the demo city and on a real city's network for every node and cutoff.

use std::time::Instant;

use geo::{Coord, LineString, MapCoords, MultiPolygon, Polygon};
use serde::Serialize;

use crate::coverage::{CoverageOptions, Travel};
use crate::graph::ModeGraph;
use crate::paths::{Direction, Metric};
use crate::queue::{self, Frontier};
use crate::snap::Snap;

/// One site's search: every node's time to (or from) the site, up to a limit.
///
/// Only times: unlike [`crate::paths::nearest_centres`] it keeps no metres and no centre (there
/// is one), so its labels are one array of seconds, and a node is queued again only for a
/// strictly lower time. The times are the same numbers as that search's for the same seeds.
pub(crate) struct SiteSearch {
    /// Seconds between each node and the site (`INFINITY`: beyond the limit).
    cost: Vec<f64>,
    site: Snap,
}

/// The search of [`SiteSearch::new`]: times only, a node queued again only for a strictly lower
/// time (on the queue of `crate::queue`, as in `nearest_centres`).
struct Times<'a> {
    rows: &'a crate::graph::Rows,
    rank: &'a [u32],
    seeds: &'a [crate::paths::Seed],
    limit_s: f64,
    cost: &'a mut [f64],
}

impl queue::Search for Times<'_> {
    type Output = ();

    fn run(self, queue: &mut impl Frontier) {
        let Times { rows, rank, seeds, limit_s, cost } = self;
        for s in seeds {
            let i = rank[s.node] as usize;
            if s.cost >= 0.0 && s.cost <= limit_s && s.cost < cost[i] {
                cost[i] = s.cost;
                queue.push(s.cost, i as u32);
            }
        }
        while let Some(node) = queue.pop(cost) {
            let c = cost[node];
            for j in rows.of(node) {
                let (nc, i) = (c + rows.time_s[j], rows.node[j]);
                let old = &mut cost[i as usize];
                if nc < *old && nc <= limit_s {
                    *old = nc;
                    queue.push(nc, i);
                }
            }
        }
    }
}

impl SiteSearch {
    pub fn new(travel: &Travel, site: &Snap, limit_s: f64) -> Self {
        let g = travel.graph;
        let sg = &g.search;
        let rows = match travel.direction {
            Direction::ToCentre => &sg.reverse,
            Direction::FromCentre => &sg.forward,
        };
        // By the search's node numbers (see `SearchGraph`), put back in the network's below.
        let mut cost = vec![f64::INFINITY; g.node_count()];
        let seeds = travel.seeds(0, site, Metric::TimeS);
        queue::run(limit_s, rows.min_time_s, Times { rows, rank: &sg.rank, seeds: &seeds, limit_s, cost: &mut cost });
        let cost = sg.rank.iter().map(|&k| cost[k as usize]).collect::<Vec<_>>();
        SiteSearch { cost, site: *site }
    }

    /// Seconds between a snapped origin and the site, its access leg included; `None` if out of
    /// the search's reach.
    pub fn time_s(&self, travel: &Travel, origin: &Snap) -> Option<f64> {
        let e = &travel.graph.network.edges[origin.edge];
        let mut best = f64::INFINITY;
        // Through either end of the origin's edge.
        for (node, at) in [(e.from, 0.0), (e.to, e.length_m)] {
            let (x, y) = travel.travel(origin.offset_m, at);
            if let Some((cost, _)) = travel.part(origin.edge, x, y, Metric::TimeS) {
                best = best.min(cost + self.cost[node]);
            }
        }
        // Along the edge to a site on the same edge.
        if origin.edge == self.site.edge {
            let (x, y) = travel.travel(origin.offset_m, self.site.offset_m);
            if let Some((cost, _)) = travel.part(origin.edge, x, y, Metric::TimeS) {
                best = best.min(cost + travel.leg(&self.site).0);
            }
        }
        best.is_finite().then(|| best + travel.leg(origin).0)
    }

    /// Per edge with a way within `max_s` to the site, the ways: each a (t0, rate, at, lo, hi),
    /// the time at a point m metres along the edge being t0 + rate · |m − at| for m in [lo, hi]
    /// (from an end of the edge, or from the site on it), the least over the ways. As
    /// (edge, first way) and the ways side by side, in edge order.
    fn ways(&self, travel: &Travel, max_s: f64) -> (Vec<(u32, u32)>, Vec<Way>) {
        let g = travel.graph;
        let mut edges = vec![];
        let mut ways = vec![];
        for (i, &(from, to, len)) in g.projected().ends.iter().enumerate() {
            let first = ways.len();
            // `travel.part` in time, without reading the rest of the edge.
            let part = |from_m: f64, to_m: f64| {
                let metres = (to_m - from_m).abs();
                if metres == 0.0 {
                    return Some(0.0);
                }
                let full = if to_m >= from_m { g.forward_s[i] } else { g.backward_s[i] };
                full.is_finite().then(|| full * metres / len)
            };
            for (node, at, far) in [(from as usize, 0.0, len), (to as usize, len, 0.0)] {
                let t0 = self.cost[node];
                if t0 > max_s {
                    continue;
                }
                let (x, y) = travel.travel(far, at);
                if let Some(full) = part(x, y) {
                    let rate = if len > 0.0 { full / len } else { 0.0 };
                    ways.push(Way { t0, rate, at, lo: at.min(far), hi: at.max(far) });
                }
            }
            if self.site.edge == i {
                let t0 = travel.leg(&self.site).0;
                let o = self.site.offset_m;
                if t0 <= max_s {
                    for end in [0.0, len] {
                        let span = (end - o).abs();
                        let (x, y) = travel.travel(end, o);
                        if let Some((full, _)) = travel.part(i, x, y, Metric::TimeS) {
                            let rate = if span > 0.0 { full / span } else { 0.0 };
                            ways.push(Way { t0, rate, at: o, lo: o.min(end), hi: o.max(end) });
                        }
                    }
                }
            }
            if ways.len() > first {
                edges.push((i as u32, first as u32));
            }
        }
        (edges, ways)
    }
}

/// One way out of an edge towards the site (see [`SiteSearch::ways`]).
#[derive(Debug, Clone, Copy)]
struct Way {
    t0: f64,
    rate: f64,
    at: f64,
    lo: f64,
    hi: f64,
}

impl Way {
    /// The stretch of its range within `cutoff_s`, metres along the edge.
    fn within(&self, cutoff_s: f64) -> Option<(f64, f64)> {
        let left = cutoff_s - self.t0;
        if left < 0.0 {
            return None;
        }
        let span = self.hi - self.lo;
        let r = if self.rate > 0.0 { (left / self.rate).min(span) } else { span };
        Some(if self.at == self.lo { (self.lo, self.lo + r) } else { (self.hi - r, self.hi) })
    }
}

/// Seconds spent in each stage of the isochrones, summed over the calls that were given it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct IsochroneStages {
    /// The bounded search from the site.
    pub search_s: f64,
    /// The reach sets: the nodes and road length within each cutoff.
    pub reach_s: f64,
    /// The grid's extent, and the nodes and edges rasterised onto it.
    pub raster_s: f64,
    /// The dilation by one cell.
    pub dilate_s: f64,
    /// Marching squares, for every cutoff.
    pub contour_s: f64,
    /// The outlines back to WGS 84.
    pub unproject_s: f64,
}

impl IsochroneStages {
    pub fn total_s(&self) -> f64 {
        self.search_s + self.reach_s + self.raster_s + self.dilate_s + self.contour_s + self.unproject_s
    }
}

/// Adds the time since `*t` to `slot` and restarts `*t`.
fn lap(t: &mut Instant, slot: &mut f64) {
    let now = Instant::now();
    *slot += now.duration_since(*t).as_secs_f64();
    *t = now;
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
    isochrones_profiled(graph, options, site, centre, cutoffs_min, cell_m, &mut IsochroneStages::default())
}

/// [`isochrones`], adding the time of each stage to `stages` (for the benchmarks).
pub fn isochrones_profiled(
    graph: &ModeGraph,
    options: &CoverageOptions,
    site: &Snap,
    centre: usize,
    cutoffs_min: &[f64],
    cell_m: f64,
    stages: &mut IsochroneStages,
) -> Vec<Isochrone> {
    let t = Instant::now();
    let travel = Travel::new(graph, options);
    let max = cutoffs_min.iter().copied().fold(0.0, f64::max) * 60.0;
    let search = SiteSearch::new(&travel, site, max);
    stages.search_s += t.elapsed().as_secs_f64();
    isochrones_timed(&travel, &search, centre, cutoffs_min, cell_m, stages)
}

/// The isochrones of one searched site for every cutoff (minutes).
pub(crate) fn isochrones_of(
    travel: &Travel,
    search: &SiteSearch,
    centre: usize,
    cutoffs_min: &[f64],
    cell_m: f64,
) -> Vec<Isochrone> {
    isochrones_timed(travel, search, centre, cutoffs_min, cell_m, &mut IsochroneStages::default())
}

/// The isochrones of one searched site for every cutoff (minutes), timed by stage.
///
/// The reached network is rasterised once onto a square grid of `cell_m` metres in the network's
/// local projection: every reached node, and points along every edge with a way to the site
/// within the largest cutoff, no farther apart along the edge than one cell, each carrying the
/// time from it to the site (a point on an edge: the better of its two ends' times plus the part
/// of the edge between, or the direct way to a site on the same edge). Each grid point keeps the
/// least time of the points nearest to it, then the least of its 3 × 3 neighbourhood (a dilation
/// by one cell), and marching squares (the `contour` crate) trace, on that one grid, for each
/// cutoff the outline of the grid points within it. The grid covers the reached nodes and the
/// boxes of the edges sampled; a wide reach coarsens its cells (see [`MAX_CELLS`]).
///
/// Containment: a claimed node lies within half a cell (in x and in y) of its nearest grid
/// point, whose eight neighbours are all within the cutoff after the dilation, so the four grid
/// squares around that point are wholly inside and the node at least half a cell from the
/// outline. Points along an edge one cell apart fall on grid points at most one step apart
/// (diagonals included), which the dilation joins, so a reached road is not cut into pieces. The
/// outline stays within two cells in x and in y of the reached roads (half a cell to the nearest
/// grid point, one of dilation, half of marching squares).
fn isochrones_timed(
    travel: &Travel,
    search: &SiteSearch,
    centre: usize,
    cutoffs_min: &[f64],
    cell_m: f64,
    stages: &mut IsochroneStages,
) -> Vec<Isochrone> {
    let mut t = Instant::now();
    let g: &ModeGraph = travel.graph;
    let max_s = cutoffs_min.iter().copied().fold(0.0, f64::max) * 60.0;
    let cutoffs_s: Vec<f64> = cutoffs_min.iter().map(|m| m * 60.0).collect();

    // The reach sets: nodes and road length within each cutoff.
    let reached: Vec<u32> =
        search.cost.iter().enumerate().filter(|(_, &c)| c <= max_s).map(|(n, _)| n as u32).collect();
    let (edges, ways) = search.ways(travel, max_s);
    let mut road_m = vec![0.0; cutoffs_s.len()];
    let ways_of = |k: usize| {
        let (_, first) = edges[k];
        let last = edges.get(k + 1).map_or(ways.len(), |e| e.1 as usize);
        &ways[first as usize..last]
    };
    for k in 0..edges.len() {
        let w = ways_of(k);
        // The edge's whole length: an end's way spans it.
        let whole = w.iter().fold(0.0, |m: f64, w| m.max(w.hi - w.lo));
        for (c, total) in cutoffs_s.iter().zip(road_m.iter_mut()) {
            // At most four stretches (two ends, two sides of the site): their union's length.
            let mut parts = [(0.0, 0.0); 4];
            let mut n = 0;
            for p in w.iter().filter_map(|w| w.within(*c)) {
                parts[n] = p;
                n += 1;
            }
            let parts = &mut parts[..n];
            // Most often one stretch is the whole edge.
            if parts.iter().any(|p| p.1 - p.0 == whole) {
                *total += whole;
                continue;
            }
            parts.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            let mut end = f64::NEG_INFINITY;
            for &(a, b) in parts.iter() {
                *total += (b - end.max(a)).max(0.0);
                end = end.max(b);
            }
        }
    }
    let nodes: Vec<Vec<usize>> = cutoffs_s
        .iter()
        .map(|&c| reached.iter().map(|&n| n as usize).filter(|&n| search.cost[n] <= c).collect())
        .collect();
    lap(&mut t, &mut stages.reach_s);

    // The grid over the reached nodes and the sampled edges' boxes, then the points on it.
    let pr = g.projected();
    let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for &n in &reached {
        let p = pr.nodes[n as usize];
        b = [b[0].min(p.x), b[1].min(p.y), b[2].max(p.x), b[3].max(p.y)];
    }
    for &(i, _) in &edges {
        let e = pr.bbox[i as usize];
        b = [b[0].min(e[0]), b[1].min(e[1]), b[2].max(e[2]), b[3].max(e[3])];
    }
    let grid = Grid::new(b, cell_m);
    // The grid's buffer is kept from one isochrone to the next on this thread (a fresh one of a
    // few MB costs its page faults every time).
    let mut time = GRID_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
    time.clear();
    time.resize(grid.nx * grid.ny, f64::INFINITY);
    for &n in &reached {
        grid.put(&mut time, pr.nodes[n as usize], search.cost[n as usize]);
    }
    let step = grid.cell;
    for (k, &(i, _)) in edges.iter().enumerate() {
        let w = ways_of(k);
        let i = i as usize;
        let at = |m: f64| {
            w.iter()
                .filter(|w| m >= w.lo && m <= w.hi)
                .map(|w| w.t0 + w.rate * (m - w.at).abs())
                .fold(f64::INFINITY, f64::min)
        };
        let (a, z) = (pr.start[i] as usize, pr.start[i + 1] as usize);
        let (vs, along) = (&pr.vertices[a..z], &pr.along[a..z]);
        let vm = &pr.metres[a..z];
        if vs.is_empty() {
            continue;
        }
        let mut put = |c: geo::Coord, m: f64| {
            let tm = at(m);
            if tm <= max_s {
                grid.put(&mut time, c, tm);
            }
        };
        // Points every `step` projected metres along the line (its ends are nodes, put above,
        // with times no greater than the edge gives them), and the site on its own edge.
        if search.site.edge == i {
            put(g.network.projection.project(search.site.at.0), search.site.offset_m);
        }
        let mut next = step;
        let mut v = 0;
        while next < along[along.len() - 1] {
            while along[v + 1] < next {
                v += 1;
            }
            let (p, q, d) = (vs[v], vs[v + 1], along[v + 1] - along[v]);
            let f = if d > 0.0 { (next - along[v]) / d } else { 0.0 };
            put(geo::Coord { x: p.x + f * (q.x - p.x), y: p.y + f * (q.y - p.y) }, vm[v] + f * (vm[v + 1] - vm[v]));
            next += step;
        }
    }
    lap(&mut t, &mut stages.raster_s);

    let values = grid.dilate(time);
    lap(&mut t, &mut stages.dilate_s);

    let polygons: Vec<MultiPolygon> = cutoffs_s.iter().map(|&c| grid.outline(&values, -c)).collect();
    GRID_BUFFER.with(|b| *b.borrow_mut() = values);
    lap(&mut t, &mut stages.contour_s);

    let proj = &g.network.projection;
    let out = cutoffs_min
        .iter()
        .zip(polygons)
        .zip(nodes.into_iter().zip(road_m))
        .map(|((&minutes, polygon), (nodes, road_m))| Isochrone {
            centre,
            minutes,
            nodes,
            road_m,
            cell_m: grid.cell,
            polygon: polygon.map_coords(|c| proj.unproject(c)),
        })
        .collect();
    lap(&mut t, &mut stages.unproject_s);
    out
}

/// Twice the signed area of a closed ring, with the sign the `contour` crate gives its rings:
/// positive for an outer ring, negative for a hole.
fn ring_area(ring: &[Coord]) -> f64 {
    ring.windows(2).map(|w| w[0].y * w[1].x - w[0].x * w[1].y).sum::<f64>()
        + ring.last().zip(ring.first()).map_or(0.0, |(a, b)| a.y * b.x - a.x * b.y)
}

/// Whether `p` is inside the closed ring (even-odd rule; `p` is never on it here: a hole's
/// vertex is on no other ring).
fn ring_contains(ring: &[Coord], p: Coord) -> bool {
    let mut inside = false;
    let mut j = ring.len().wrapping_sub(1);
    for (i, a) in ring.iter().enumerate() {
        let b = ring[j];
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
        j = i;
    }
    inside
}

thread_local! {
    /// The last isochrone grid's values on this thread, for the next one to reuse.
    static GRID_BUFFER: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The grid of an isochrone: point (i, j) at (x0 + i·cell, y0 + j·cell), with two empty rows and
/// columns around the extent it was made for.
struct Grid {
    x0: f64,
    y0: f64,
    cell: f64,
    /// 1 / cell.
    per_m: f64,
    nx: usize,
    ny: usize,
}

impl Grid {
    const PAD: f64 = 2.0;

    /// Over the box (min x, min y, max x, max y); an empty box makes a grid of empty cells.
    fn new(b: [f64; 4], cell_m: f64) -> Grid {
        let [x0, y0, x1, y1] = if b[0] <= b[2] && b[1] <= b[3] { b } else { [0.0; 4] };
        let (w, h) = (x1 - x0, y1 - y0);
        let size = |cell: f64| ((w / cell).ceil() + 1.0 + 2.0 * Self::PAD, (h / cell).ceil() + 1.0 + 2.0 * Self::PAD);
        let mut cell = cell_m;
        while {
            let (nx, ny) = size(cell);
            nx * ny > MAX_CELLS as f64
        } {
            cell *= 1.25;
        }
        let (nx, ny) = size(cell);
        Grid {
            x0: x0 - Self::PAD * cell,
            y0: y0 - Self::PAD * cell,
            cell,
            per_m: 1.0 / cell,
            nx: nx as usize,
            ny: ny as usize,
        }
    }

    /// Keeps `t` at the grid point nearest to `c` if it is the least there yet.
    #[inline]
    fn put(&self, time: &mut [f64], c: geo::Coord, t: f64) {
        // Rounded to the nearest (every point is inside the grid: never negative).
        let i = (((c.x - self.x0) * self.per_m + 0.5) as usize).min(self.nx - 1);
        let j = (((c.y - self.y0) * self.per_m + 0.5) as usize).min(self.ny - 1);
        let k = j * self.nx + i;
        if t < time[k] {
            time[k] = t;
        }
    }

    /// The outline of the grid points whose value is at least `threshold`, in projected metres:
    /// marching squares (the `contour` crate's rings) over the smallest window of the grid that
    /// holds them, each hole given to the smallest outer ring around it.
    fn outline(&self, values: &[f64], threshold: f64) -> MultiPolygon {
        let nx = self.nx;
        let (mut i0, mut j0, mut i1, mut j1) = (usize::MAX, usize::MAX, 0, 0);
        for (j, row) in values.chunks_exact(nx).enumerate() {
            if let Some(first) = row.iter().position(|&v| v >= threshold) {
                let last = row.iter().rposition(|&v| v >= threshold).unwrap_or(first);
                (i0, i1) = (i0.min(first), i1.max(last));
                (j0, j1) = (j0.min(j), j);
            }
        }
        if i0 > i1 {
            return MultiPolygon(vec![]);
        }
        // The window with one point more on each side (outside the grid counts as outside).
        let (i0, j0, i1, j1) =
            (i0.saturating_sub(1), j0.saturating_sub(1), (i1 + 1).min(nx - 1), (j1 + 1).min(self.ny - 1));
        let w = i1 - i0 + 1;
        let window: Vec<f64> = (j0..=j1).flat_map(|j| values[j * nx + i0..=j * nx + i1].iter().copied()).collect();
        let rings = match contour::contour_rings(&window, threshold, w, j1 - j0 + 1) {
            Ok(r) => r,
            // Only a window of the wrong size fails, which the lines above rule out.
            Err(e) => {
                tracing::error!(error = %e, "isochrone outline");
                return MultiPolygon(vec![]);
            }
        };
        // Ring coordinates count cells of the window, a grid point at its cell's centre.
        let (ox, oy) = (self.x0 + (i0 as f64 - 0.5) * self.cell, self.y0 + (j0 as f64 - 0.5) * self.cell);
        let mut outer = vec![];
        let mut holes = vec![];
        for ring in rings {
            let ring: Vec<Coord> =
                ring.iter().map(|p| Coord { x: ox + p.x * self.cell, y: oy + p.y * self.cell }).collect();
            let a = ring_area(&ring);
            if a > 0.0 {
                let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
                for p in &ring {
                    b = [b[0].min(p.x), b[1].min(p.y), b[2].max(p.x), b[3].max(p.y)];
                }
                outer.push((a, b, Polygon::new(LineString(ring), vec![])));
            } else if !ring.is_empty() {
                holes.push(ring);
            }
        }
        // Smallest first: the first outer ring around a hole is the one it belongs to; a hole
        // whose point lies in the box of one outer ring only is that ring's without testing.
        outer.sort_by(|a, b| a.0.total_cmp(&b.0));
        for hole in holes {
            let p = hole[0];
            let around: Vec<usize> = (0..outer.len())
                .filter(|&k| {
                    let b = outer[k].1;
                    p.x >= b[0] && p.x <= b[2] && p.y >= b[1] && p.y <= b[3]
                })
                .collect();
            let Some(&last) = around.last() else { continue };
            let k = around[..around.len() - 1]
                .iter()
                .copied()
                .find(|&k| ring_contains(&outer[k].2.exterior().0, p))
                .unwrap_or(last);
            outer[k].2.interiors_push(LineString(hole));
        }
        MultiPolygon(outer.into_iter().map(|o| o.2).collect())
    }

    /// Minus the least time of each grid point's 3 × 3 neighbourhood (`-∞`: nothing near), the
    /// values the contours are traced on (a point is inside a cutoff's outline when its value is
    /// at least minus the cutoff).
    fn dilate(&self, mut t: Vec<f64>) -> Vec<f64> {
        let (nx, ny) = (self.nx, self.ny);
        // By rows in place (one row aside), then by columns in place (the row above aside).
        let mut row = vec![f64::INFINITY; nx];
        for r in t.chunks_exact_mut(nx) {
            row.copy_from_slice(r);
            for i in 0..nx {
                let mut m = row[i];
                if i > 0 {
                    m = m.min(row[i - 1]);
                }
                if i + 1 < nx {
                    m = m.min(row[i + 1]);
                }
                r[i] = m;
            }
        }
        let mut above = vec![f64::INFINITY; nx];
        for j in 0..ny {
            let (r, below) = t[j * nx..].split_at_mut(nx);
            for i in 0..nx {
                let mut m = r[i].min(above[i]);
                if j + 1 < ny {
                    m = m.min(below[i]);
                }
                above[i] = r[i];
                r[i] = -m;
            }
        }
        t
    }
}
