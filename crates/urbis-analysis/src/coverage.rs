//! Coverage: for every origin its nearest centre by travel time, the time and the network
//! distance along that path, the shortest network distance to any centre and the straight-line
//! distance; then the shares of origins and of weight (population) covered, and each centre's
//! catchment.

use geo::{Distance, Geodesic};
use rstar::primitives::GeomWithData;
use rstar::RTree;
use serde::{Deserialize, Serialize};

use crate::graph::ModeGraph;
use crate::mode::TravelMode;
use crate::origins::Origins;
use crate::paths::{nearest_centres, Direction, Metric, NodeLabels, Seed};
use crate::snap::{EdgeIndex, Snap};
use crate::{positive, AnalysisError};

/// How the walk between a point and the road it snaps to counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLeg {
    /// Walked at walking speed, whatever the mode, and added to the network distance.
    #[default]
    Walked,
    /// Reported, not counted.
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CoverageOptions {
    /// Covered within this many minutes of travel.
    pub minutes: f64,
    /// Covered within this many kilometres (network and straight line are both reported).
    pub km: f64,
    /// A point farther than this from the mode's largest component is not snapped (an origin is
    /// then unreached, a centre unusable), and said so.
    pub max_snap_m: f64,
    pub access_leg: AccessLeg,
    pub direction: Direction,
}

impl Default for CoverageOptions {
    fn default() -> Self {
        CoverageOptions {
            minutes: 30.0,
            km: 5.0,
            max_snap_m: 500.0,
            access_leg: AccessLeg::Walked,
            direction: Direction::ToCentre,
        }
    }
}

/// One origin's access to the centres. Network figures are `None` when it is not reached
/// (`unreached` says why).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OriginAccess {
    pub id: String,
    pub weight: f64,
    pub snap: Option<Snap>,
    /// Nearest centre by time (index into [`Coverage::centres`]), the seconds, and the metres
    /// along that path, access legs included.
    pub centre: Option<usize>,
    pub time_s: Option<f64>,
    pub path_m: Option<f64>,
    /// Nearest centre by network distance, and that distance.
    pub network_centre: Option<usize>,
    pub network_m: Option<f64>,
    /// Nearest centre in a straight line, and that distance (geodesic).
    pub straight_centre: Option<usize>,
    pub straight_m: Option<f64>,
    pub unreached: Option<String>,
    pub by_time: bool,
    pub by_network_km: bool,
    pub by_straight_km: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CentreAccess {
    pub id: String,
    pub snap: Option<Snap>,
    /// Why the centre takes no part in the network search (too far from the roads).
    pub unusable: Option<String>,
}

/// A count of origins and their weight, and their shares of all origins.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Share {
    pub origins: usize,
    pub weight: f64,
    pub origin_share: f64,
    pub weight_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageSummary {
    pub mode: TravelMode,
    pub minutes: f64,
    pub km: f64,
    pub origins: usize,
    pub total_weight: f64,
    pub by_time: Share,
    pub by_network_km: Share,
    pub by_straight_km: Share,
    pub by_time_or_network_km: Share,
    pub by_time_or_straight_km: Share,
    /// Origins no centre can reach on the network (too far from a road, or in another component
    /// than every centre, or against one-way streets).
    pub unreached: Share,
}

/// The origins whose nearest centre (by time) is this one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catchment {
    pub centre: String,
    pub origins: usize,
    pub weight: f64,
    /// Of those, the ones within the time limit.
    pub covered_origins: usize,
    pub covered_weight: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub origins: Vec<OriginAccess>,
    pub centres: Vec<CentreAccess>,
    pub summary: CoverageSummary,
    pub catchments: Vec<Catchment>,
    /// Every node's nearest centre by time, and by network distance.
    pub nodes_by_time: NodeLabels,
    pub nodes_by_length: NodeLabels,
}

/// The coverage of `origins` by `centres` on `graph`.
pub fn coverage(
    graph: &ModeGraph,
    origins: &Origins,
    centres: &Origins,
    options: &CoverageOptions,
) -> Result<Coverage, AnalysisError> {
    positive("time limit (minutes)", options.minutes)?;
    positive("distance limit (km)", options.km)?;
    positive("largest snapping distance (m)", options.max_snap_m)?;
    if centres.origins.is_empty() {
        return Err(AnalysisError::NoCentres { kinds: vec![] });
    }
    let index = EdgeIndex::new(graph);
    let travel = Travel::new(graph, options);
    let snap_within = |p| travel.snap_within(&index, p, options.max_snap_m);
    let centre_access: Vec<CentreAccess> = centres
        .origins
        .iter()
        .map(|c| match snap_within(c.point) {
            Ok(s) => CentreAccess { id: c.id.clone(), snap: Some(s), unusable: None },
            Err(why) => CentreAccess { id: c.id.clone(), snap: index.snap(c.point), unusable: Some(why) },
        })
        .collect();
    if centre_access.iter().all(|c| c.unusable.is_some()) {
        return Err(AnalysisError::NoUsableCentre {
            centres: centres.origins.len(),
            mode: graph.mode,
            max_snap_m: options.max_snap_m,
            first: centre_access.first().map(|c| format!("{}: {}", c.id, c.unusable.as_deref().unwrap_or(""))),
        });
    }
    for c in centre_access.iter().filter(|c| c.unusable.is_some()) {
        tracing::warn!(centre = %c.id, reason = c.unusable.as_deref().unwrap_or(""), "service centre left out");
    }
    let usable: Vec<(usize, Snap)> = centre_access
        .iter()
        .enumerate()
        .filter_map(|(ci, c)| match (&c.snap, &c.unusable) {
            (Some(s), None) => Some((ci, *s)),
            _ => None,
        })
        .collect();
    let seeds =
        |metric: Metric| -> Vec<Seed> { usable.iter().flat_map(|(ci, s)| travel.seeds(*ci, s, metric)).collect() };
    let by_time = nearest_centres(graph, &seeds(Metric::TimeS), Metric::TimeS, options.direction, f64::INFINITY);
    let by_length = nearest_centres(graph, &seeds(Metric::LengthM), Metric::LengthM, options.direction, f64::INFINITY);
    let on_edge = OnEdge::new(&usable);
    let leg = |s: &Snap| travel.leg(s);
    let best = |s: &Snap, labels: &NodeLabels, metric: Metric| travel.best(s, labels, metric, &on_edge);

    let straight = StraightLine::new(graph, centres);
    let limit_s = options.minutes * 60.0;
    let limit_m = options.km * 1000.0;
    let mut out = Vec::with_capacity(origins.origins.len());
    for o in &origins.origins {
        let (straight_centre, straight_m) = match straight.nearest(o.point) {
            Some((c, m)) => (Some(c), Some(m)),
            None => (None, None),
        };
        let mut a = OriginAccess {
            id: o.id.clone(),
            weight: o.weight,
            snap: None,
            centre: None,
            time_s: None,
            path_m: None,
            network_centre: None,
            network_m: None,
            straight_centre,
            straight_m,
            unreached: None,
            by_time: false,
            by_network_km: false,
            by_straight_km: straight_m.is_some_and(|m| m <= limit_m),
        };
        match snap_within(o.point) {
            Err(why) => a.unreached = Some(why),
            Ok(s) => {
                let (leg_s, leg_m) = leg(&s);
                a.snap = Some(s);
                if let Some((t, m, c)) = best(&s, &by_time, Metric::TimeS) {
                    a.centre = Some(c);
                    a.time_s = Some(t + leg_s);
                    a.path_m = Some(m + leg_m);
                    a.by_time = t + leg_s <= limit_s;
                } else {
                    a.unreached = Some(format!("no service centre can be reached on the {} network", graph.mode));
                }
                if let Some((m, _, c)) = best(&s, &by_length, Metric::LengthM) {
                    a.network_centre = Some(c);
                    a.network_m = Some(m + leg_m);
                    a.by_network_km = m + leg_m <= limit_m;
                }
            }
        }
        out.push(a);
    }
    let summary = summarise(graph.mode, options, &out);
    let mut catchments: Vec<Catchment> = centre_access
        .iter()
        .map(|c| Catchment { centre: c.id.clone(), origins: 0, weight: 0.0, covered_origins: 0, covered_weight: 0.0 })
        .collect();
    for a in &out {
        if let Some(c) = a.centre {
            let k = &mut catchments[c];
            k.origins += 1;
            k.weight += a.weight;
            if a.by_time {
                k.covered_origins += 1;
                k.covered_weight += a.weight;
            }
        }
    }
    Ok(Coverage {
        origins: out,
        centres: centre_access,
        summary,
        catchments,
        nodes_by_time: by_time,
        nodes_by_length: by_length,
    })
}

/// The rules of a trip between a snapped point and the network, shared by the coverage, the
/// isochrones and the location of new centres, so that all of them measure alike.
pub(crate) struct Travel<'g> {
    pub graph: &'g ModeGraph<'g>,
    access_leg: AccessLeg,
    pub direction: Direction,
    walk_mps: f64,
}

/// The usable centres (or sites) snapped onto each edge, for origins that reach one without
/// passing a node.
pub(crate) struct OnEdge(std::collections::HashMap<usize, Vec<(usize, Snap)>>);

impl OnEdge {
    pub fn new(sites: &[(usize, Snap)]) -> Self {
        let mut m: std::collections::HashMap<usize, Vec<(usize, Snap)>> = std::collections::HashMap::new();
        for (i, s) in sites {
            m.entry(s.edge).or_default().push((*i, *s));
        }
        OnEdge(m)
    }
}

impl<'g> Travel<'g> {
    pub fn new(graph: &'g ModeGraph<'g>, options: &CoverageOptions) -> Self {
        Travel {
            graph,
            access_leg: options.access_leg,
            direction: options.direction,
            walk_mps: graph.speeds.walk_kmh / 3.6,
        }
    }

    /// The snap of `p`, or why it is too far from the network.
    pub fn snap_within(&self, index: &EdgeIndex, p: geo::Point, max_snap_m: f64) -> Result<Snap, String> {
        let s = index.snap(p).ok_or_else(|| "the network has no usable edge".to_string())?;
        if s.distance_m > max_snap_m {
            Err(format!(
                "{:.0} m from the nearest road of the {} network (limit {} m)",
                s.distance_m, self.graph.mode, max_snap_m
            ))
        } else {
            Ok(s)
        }
    }

    /// The access leg as (seconds, metres).
    pub fn leg(&self, snap: &Snap) -> (f64, f64) {
        match self.access_leg {
            AccessLeg::Walked => (snap.distance_m / self.walk_mps, snap.distance_m),
            AccessLeg::Ignored => (0.0, 0.0),
        }
    }

    fn leg_cost(&self, snap: &Snap, metric: Metric) -> f64 {
        let (s, m) = self.leg(snap);
        if metric == Metric::TimeS {
            s
        } else {
            m
        }
    }

    /// A part of an edge, from `from_m` to `to_m` metres along it, as (cost, metres) in the
    /// travel direction, or None if the mode may not go that way.
    pub fn part(&self, edge: usize, from_m: f64, to_m: f64, metric: Metric) -> Option<(f64, f64)> {
        let e = &self.graph.network.edges[edge];
        let metres = (to_m - from_m).abs();
        if metres == 0.0 {
            // Standing at the end of an edge needs no travel on it, whatever its direction.
            return Some((0.0, 0.0));
        }
        let full = if to_m >= from_m { self.graph.forward_s[edge] } else { self.graph.backward_s[edge] };
        if !full.is_finite() {
            return None;
        }
        let cost = match metric {
            Metric::TimeS => full * metres / e.length_m,
            Metric::LengthM => metres,
        };
        Some((cost, metres))
    }

    /// (from, to) in travel order, given (point of the origin's side, point of the centre's side):
    /// resident → centre, or centre → resident.
    pub fn travel(&self, a: f64, b: f64) -> (f64, f64) {
        match self.direction {
            Direction::ToCentre => (a, b),
            Direction::FromCentre => (b, a),
        }
    }

    /// A centre's entries into the network at the two ends of its edge.
    pub fn seeds(&self, centre: usize, s: &Snap, metric: Metric) -> Vec<Seed> {
        let (_, leg_m) = self.leg(s);
        let leg_cost = self.leg_cost(s, metric);
        let e = &self.graph.network.edges[s.edge];
        let mut seeds = vec![];
        for (node, at) in [(e.from, 0.0), (e.to, e.length_m)] {
            let (x, y) = self.travel(at, s.offset_m);
            if let Some((cost, metres)) = self.part(s.edge, x, y, metric) {
                seeds.push(Seed { node, cost: cost + leg_cost, length_m: metres + leg_m, centre });
            }
        }
        seeds
    }

    /// Best (cost, metres, centre) from a snapped origin under one metric, its own access leg
    /// not included.
    pub fn best(&self, s: &Snap, labels: &NodeLabels, metric: Metric, on_edge: &OnEdge) -> Option<(f64, f64, usize)> {
        let e = &self.graph.network.edges[s.edge];
        let mut found: Option<(f64, f64, usize)> = None;
        let mut consider = |cand: (f64, f64, usize)| {
            let better = match found {
                None => true,
                Some(f) => cand.0.total_cmp(&f.0).then(cand.1.total_cmp(&f.1)).then(cand.2.cmp(&f.2)).is_lt(),
            };
            if better {
                found = Some(cand);
            }
        };
        for (node, at) in [(e.from, 0.0), (e.to, e.length_m)] {
            let Some(centre) = labels.centre[node] else { continue };
            let (x, y) = self.travel(s.offset_m, at);
            if let Some((cost, metres)) = self.part(s.edge, x, y, metric) {
                consider((cost + labels.cost[node], metres + labels.length_m[node], centre as usize));
            }
        }
        for (ci, cs) in on_edge.0.get(&s.edge).into_iter().flatten() {
            let (x, y) = self.travel(s.offset_m, cs.offset_m);
            if let Some((cost, metres)) = self.part(s.edge, x, y, metric) {
                let (_, leg_m) = self.leg(cs);
                consider((cost + self.leg_cost(cs, metric), metres + leg_m, *ci));
            }
        }
        found
    }
}

fn summarise(mode: TravelMode, options: &CoverageOptions, access: &[OriginAccess]) -> CoverageSummary {
    let total_weight: f64 = access.iter().map(|a| a.weight).sum();
    let n = access.len();
    let share = |pick: &dyn Fn(&OriginAccess) -> bool| {
        let (mut count, mut weight) = (0, 0.0);
        for a in access.iter().filter(|a| pick(a)) {
            count += 1;
            weight += a.weight;
        }
        Share {
            origins: count,
            weight,
            origin_share: if n > 0 { count as f64 / n as f64 } else { 0.0 },
            weight_share: if total_weight > 0.0 { weight / total_weight } else { 0.0 },
        }
    };
    CoverageSummary {
        mode,
        minutes: options.minutes,
        km: options.km,
        origins: n,
        total_weight,
        by_time: share(&|a| a.by_time),
        by_network_km: share(&|a| a.by_network_km),
        by_straight_km: share(&|a| a.by_straight_km),
        by_time_or_network_km: share(&|a| a.by_time || a.by_network_km),
        by_time_or_straight_km: share(&|a| a.by_time || a.by_straight_km),
        unreached: share(&|a| a.time_s.is_none()),
    }
}

/// Nearest centre in a straight line: candidates from an R*-tree in the local projection, the
/// winner by geodesic distance among those the projection cannot tell apart.
struct StraightLine<'a> {
    graph: &'a ModeGraph<'a>,
    centres: &'a Origins,
    tree: RTree<GeomWithData<[f64; 2], usize>>,
}

impl<'a> StraightLine<'a> {
    fn new(graph: &'a ModeGraph<'a>, centres: &'a Origins) -> Self {
        let proj = &graph.network.projection;
        let points = centres
            .origins
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let xy = proj.project(c.point.0);
                GeomWithData::new([xy.x, xy.y], i)
            })
            .collect();
        StraightLine { graph, centres, tree: RTree::bulk_load(points) }
    }

    fn nearest(&self, p: geo::Point) -> Option<(usize, f64)> {
        let xy = self.graph.network.projection.project(p.0);
        let q = [xy.x, xy.y];
        let mut best: Option<(usize, f64)> = None;
        let mut first: Option<f64> = None;
        for c in self.tree.nearest_neighbor_iter_with_distance_2(&q) {
            let projected = c.1.sqrt();
            let bound = *first.get_or_insert(projected);
            // The projection is within 0.1 % over a city: past 1 % more, no candidate can win.
            if projected > bound * 1.01 + 1.0 {
                break;
            }
            let m = Geodesic.distance(p, self.centres.origins[c.0.data].point);
            if best.is_none_or(|b| m < b.1 || (m == b.1 && c.0.data < b.0)) {
                best = Some((c.0.data, m));
            }
        }
        best
    }
}
