//! A whole coverage run over a store, as the command line and the server start it: the coverage,
//! the isochrones of every centre, the uncovered areas, which centre could close with the least
//! loss, and optionally where to put `k` new centres. The report is plain data (the same for the
//! CLI and the API, by construction); the features go to the `coverage_results` layer in one
//! transaction.

use geo::{Area, Coord, Geometry, MapCoords, MultiPolygon, Point, Polygon};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use urbis_core::{Feature, LayerId};
use urbis_store::Store;

use crate::coverage::{coverage, Catchment, CentreAccess, CoverageSummary, Travel};
use crate::graph::ModeReport;
use crate::isochrone::{isochrones_of, Isochrone, SiteSearch};
use crate::location::{self, CoverInstance, Selection};
use crate::network::{NetworkReport, RoadNetwork};
use crate::origins::{OriginProblem, Origins};
use crate::snap::{EdgeIndex, Snap};
use crate::source::{read_layer, CityCoverageRequest};
use crate::{positive, AnalysisError};

/// Where candidate sites for new centres come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case", deny_unknown_fields)]
pub enum CandidateSource {
    /// Parcels whose `public_owner` is true (their interior points).
    PublicParcels,
    /// A square grid over the network's extent, `spacing_m` apart.
    Grid { spacing_m: f64 },
    /// The features of a layer (their points), optionally only those of one `kind`.
    Layer { layer: String, kind: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CoverageRunRequest {
    #[serde(flatten)]
    pub city: CityCoverageRequest,
    /// Isochrone cutoffs, minutes.
    pub cutoffs_min: Vec<f64>,
    /// Side of the grid cells isochrones are traced on, metres (see
    /// [`crate::isochrone::isochrones_of`]): the outline lies within two cells of the reached
    /// roads.
    #[serde(alias = "isochrone_buffer_m")]
    pub isochrone_cell_m: f64,
    /// How many new centres to suggest (0: none).
    pub suggest: usize,
    pub candidates: CandidateSource,
    /// At most this many candidates (the first ones, in id or grid order).
    pub max_candidates: usize,
    /// Also solve the integer programme exactly (warm-started by greedy).
    pub exact: bool,
    pub exact_time_limit_s: f64,
}

impl Default for CoverageRunRequest {
    fn default() -> Self {
        CoverageRunRequest {
            city: CityCoverageRequest::default(),
            cutoffs_min: vec![10.0, 20.0, 30.0],
            isochrone_cell_m: 20.0,
            suggest: 0,
            candidates: CandidateSource::PublicParcels,
            max_candidates: 1000,
            exact: true,
            exact_time_limit_s: 20.0,
        }
    }
}

/// Told of each stage and of progress within it.
pub trait RunProgress: Send + Sync {
    fn stage(&self, name: &str, done: u64, total: u64);
}

/// Ignores progress.
pub struct NoProgress;
impl RunProgress for NoProgress {
    fn stage(&self, _: &str, _: u64, _: u64) {}
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CentreReport {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub snap_m: Option<f64>,
    pub unusable: Option<String>,
    pub catchment: Catchment,
    /// Per cutoff: origins and weight this centre alone reaches within it.
    pub reach: Vec<Reach>,
    /// Weight that only this centre covers within the time limit: lost if it closed.
    pub closure_loss_origins: usize,
    pub closure_loss_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reach {
    pub minutes: f64,
    pub origins: usize,
    pub weight: f64,
    pub nodes: usize,
    pub road_km: f64,
    pub area_km2: f64,
}

/// Population by travel time to the nearest centre, in bins of `width_min`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeBin {
    pub from_min: f64,
    pub to_min: f64,
    pub origins: usize,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UncoveredReport {
    /// What "uncovered" means here.
    pub criterion: String,
    pub parcels: usize,
    pub weight: f64,
    pub polygons: usize,
    pub area_km2: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuggestedSite {
    pub id: String,
    pub lon: f64,
    pub lat: f64,
    /// Weight newly covered by this site, after the ones before it.
    pub gain: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SolutionReport {
    pub sites: Vec<SuggestedSite>,
    pub covered_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuggestionReport {
    pub k: usize,
    pub candidates: usize,
    /// Candidates too far from the network to be used, and the first of them.
    pub candidates_unusable: usize,
    /// Uncovered demand (origins not within the time limit of any centre).
    pub demand_origins: usize,
    pub demand_weight: f64,
    /// Of that demand, what no candidate can reach within the time limit (known before solving).
    pub unreachable_origins: usize,
    pub unreachable_weight: f64,
    pub greedy: SolutionReport,
    /// Greedy improved by vertex-substitution swaps.
    pub swapped: SolutionReport,
    pub exact: Option<SolutionReport>,
    pub exact_proven_optimal: Option<bool>,
    /// (exact − swapped) / exact, where the exact programme ran.
    pub gap: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageReport {
    pub request: CoverageRunRequest,
    pub network: NetworkReport,
    pub mode: ModeReport,
    pub parcel_problems: Vec<OriginProblem>,
    pub weight_field: Option<String>,
    pub centre_problems: Vec<OriginProblem>,
    pub summary: CoverageSummary,
    pub centres: Vec<CentreReport>,
    pub by_travel_time: Vec<TimeBin>,
    pub uncovered: UncoveredReport,
    /// The centre whose closing loses the least covered weight.
    pub least_loss_closure: Option<String>,
    pub suggestion: Option<SuggestionReport>,
}

/// The report and the features of the `coverage_results` layer.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageRun {
    pub report: CoverageReport,
    pub features: Vec<Feature>,
}

const BIN_MIN: f64 = 5.0;

/// What one centre reaches: the origins within the time limit, and per cutoff its isochrone with
/// the origins and weight within it.
type CentreReach = (Vec<usize>, Vec<(Isochrone, usize, f64)>);

/// Runs the whole analysis on the store's roads, parcels and service centres.
pub async fn run(
    store: &dyn Store,
    request: &CoverageRunRequest,
    progress: &dyn RunProgress,
) -> Result<CoverageRun, AnalysisError> {
    check(request)?;
    progress.stage("reading", 0, 3);
    let roads = read_layer(store, LayerId::Roads).await?;
    progress.stage("reading", 1, 3);
    let parcel_features = read_layer(store, LayerId::Parcels).await?;
    progress.stage("reading", 2, 3);
    let mut centre_features = read_layer(store, LayerId::ServiceCentres).await?;
    let kinds = &request.city.centre_kinds;
    if !kinds.is_empty() {
        centre_features.retain(|f| f.text("kind").is_some_and(|k| kinds.iter().any(|w| w == k)));
    }
    let candidate_features = match &request.candidates {
        CandidateSource::Layer { layer, kind } if request.suggest > 0 => {
            let id: LayerId = layer.parse().map_err(|e: urbis_core::layer::UnknownLayer| {
                AnalysisError::InvalidInput { what: "candidates.layer".into(), reason: e.to_string() }
            })?;
            let mut f = read_layer(store, id).await?;
            if let Some(k) = kind {
                f.retain(|x| x.text("kind") == Some(k.as_str()));
            }
            f
        }
        _ => vec![],
    };
    progress.stage("reading", 3, 3);
    compute(request, &roads, &parcel_features, &centre_features, &candidate_features, progress)
}

/// Every parameter of a request that can be checked without the data: the limits, the speeds,
/// the run's own figures. (The API refuses a bad request at once rather than as a failed job.)
pub fn validate(request: &CoverageRunRequest) -> Result<(), AnalysisError> {
    let c = &request.city.coverage;
    positive("time limit (minutes)", c.minutes)?;
    positive("distance limit (km)", c.km)?;
    positive("largest snapping distance (m)", c.max_snap_m)?;
    request.city.speeds.check()?;
    check(request)
}

/// The run's own parameters, each finite and above zero, or an error naming it.
fn check(request: &CoverageRunRequest) -> Result<(), AnalysisError> {
    for &c in &request.cutoffs_min {
        positive("isochrone cutoff (minutes)", c)?;
    }
    positive("isochrone cell size (m)", request.isochrone_cell_m)?;
    positive("exact solver time limit (s)", request.exact_time_limit_s)?;
    if let CandidateSource::Grid { spacing_m } = request.candidates {
        positive("candidate grid spacing (m)", spacing_m)?;
    }
    Ok(())
}

/// [`run`] on features already read (every list in id order).
pub fn compute(
    request: &CoverageRunRequest,
    roads: &[Feature],
    parcel_features: &[Feature],
    centre_features: &[Feature],
    candidate_features: &[Feature],
    progress: &dyn RunProgress,
) -> Result<CoverageRun, AnalysisError> {
    check(request)?;
    let city = &request.city;
    progress.stage("network", 0, 1);
    let net = RoadNetwork::from_roads(roads, &city.network)?;
    let graph = net.graph(city.mode, &city.speeds)?;
    let parcels = Origins::from_parcels(parcel_features, city.parcel_weight);
    let centres = Origins::from_points(centre_features, None);
    if centres.origins.is_empty() {
        return Err(AnalysisError::NoCentres { kinds: city.centre_kinds.clone() });
    }
    progress.stage("network", 1, 1);
    progress.stage("shortest paths", 0, 1);
    let cov = coverage(&graph, &parcels, &centres, &city.coverage)?;
    progress.stage("shortest paths", 1, 1);
    let options = &city.coverage;
    let limit_s = options.minutes * 60.0;
    let travel = Travel::new(&graph, options);
    let index = EdgeIndex::new(&graph);
    let snaps: Vec<Option<Snap>> =
        cov.origins.iter().map(|o| if o.unreached.is_some() && o.time_s.is_none() { None } else { o.snap }).collect();
    let all: Vec<usize> = (0..snaps.len()).collect();

    // Per centre: one bounded search, its isochrones, and the origins it reaches in time.
    let max_cut = request.cutoffs_min.iter().copied().fold(options.minutes, f64::max) * 60.0;
    let mut features = vec![];
    let mut centre_reports = vec![];
    let mut cover_count = vec![0u32; snaps.len()];
    let mut alone: Vec<Vec<usize>> = vec![];
    let mode = graph.mode.name();
    let by_id: std::collections::HashMap<&str, &Feature> = centre_features.iter().map(|f| (f.id.as_str(), f)).collect();
    // The centres side by side (rayon), each with what it reaches and its isochrones.
    let done = std::sync::atomic::AtomicU64::new(0);
    let total = cov.centres.len() as u64;
    progress.stage("isochrones", 0, total);
    let per_centre: Vec<CentreReach> = cov
        .centres
        .par_iter()
        .enumerate()
        .map(|(ci, c)| {
            let CentreAccess { snap: Some(s), unusable: None, .. } = c else { return (vec![], vec![]) };
            let search = SiteSearch::new(&travel, s, max_cut);
            let times: Vec<Option<f64>> =
                snaps.iter().map(|o| o.as_ref().and_then(|o| search.time_s(&travel, o))).collect();
            let within = all.iter().copied().filter(|&i| times[i].is_some_and(|t| t <= limit_s)).collect();
            let isos = isochrones_of(&travel, &search, ci, &request.cutoffs_min, request.isochrone_cell_m)
                .into_iter()
                .map(|iso| {
                    let inside = all.iter().copied().filter(|&i| times[i].is_some_and(|t| t <= iso.minutes * 60.0));
                    let (count, weight) = inside.fold((0, 0.0), |(n, w), i| (n + 1, w + cov.origins[i].weight));
                    (iso, count, weight)
                })
                .collect();
            let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress.stage("isochrones", k, total);
            (within, isos)
        })
        .collect();
    for ((ci, c), (within, isos)) in cov.centres.iter().enumerate().zip(per_centre) {
        let mut reach = vec![];
        for (iso, origins, weight) in isos {
            let minutes = iso.minutes;
            let area_km2 = area_km2(&net, &iso.polygon);
            reach.push(Reach {
                minutes,
                origins,
                weight,
                nodes: iso.nodes.len(),
                road_km: iso.road_m / 1000.0,
                area_km2,
            });
            features.push(
                Feature::new(format!("isochrone-{}-{}min", c.id, minutes), Some(Geometry::MultiPolygon(iso.polygon)))
                    .with("kind", "isochrone")
                    .with("mode", mode)
                    .with("centre", c.id.as_str())
                    .with("minutes", minutes)
                    .with("weight", weight)
                    .with("area_km2", area_km2),
            );
        }
        for &i in &within {
            cover_count[i] += 1;
        }
        alone.push(within);
        let f = by_id.get(c.id.as_str());
        centre_reports.push(CentreReport {
            id: c.id.clone(),
            name: f.and_then(|f| f.text("name")).map(str::to_string),
            kind: f.and_then(|f| f.text("kind")).map(str::to_string),
            snap_m: c.snap.map(|s| s.distance_m),
            unusable: c.unusable.clone(),
            catchment: cov.catchments[ci].clone(),
            reach,
            closure_loss_origins: 0,
            closure_loss_weight: 0.0,
        });
    }
    progress.stage("isochrones", cov.centres.len() as u64, cov.centres.len() as u64);
    // What closing each centre loses: the origins in time that no other centre reaches in time.
    for (r, within) in centre_reports.iter_mut().zip(&alone) {
        let lost: Vec<usize> = within.iter().copied().filter(|&i| cover_count[i] == 1).collect();
        r.closure_loss_origins = lost.len();
        r.closure_loss_weight = lost.iter().map(|&i| cov.origins[i].weight).sum::<f64>() + 0.0;
    }
    let least_loss_closure = centre_reports
        .iter()
        .filter(|r| r.unusable.is_none())
        .min_by(|a, b| {
            a.closure_loss_weight
                .total_cmp(&b.closure_loss_weight)
                .then(a.closure_loss_origins.cmp(&b.closure_loss_origins))
        })
        .map(|r| r.id.clone());

    // Population by travel time.
    let top = cov.origins.iter().filter_map(|o| o.time_s).fold(0.0, f64::max) / 60.0;
    let bins = ((top / BIN_MIN).floor() as usize + 1).min(1000);
    let mut by_travel_time: Vec<TimeBin> = (0..bins)
        .map(|b| TimeBin { from_min: b as f64 * BIN_MIN, to_min: (b + 1) as f64 * BIN_MIN, origins: 0, weight: 0.0 })
        .collect();
    for o in &cov.origins {
        if let Some(t) = o.time_s {
            let b = ((t / 60.0 / BIN_MIN).floor() as usize).min(bins - 1);
            by_travel_time[b].origins += 1;
            by_travel_time[b].weight += o.weight;
        }
    }

    // Every parcel's access, and the uncovered areas (the union of the uncovered parcels).
    progress.stage("uncovered areas", 0, 1);
    let geometry_of: std::collections::HashMap<&str, &Geometry> =
        parcel_features.iter().filter_map(|f| f.geometry.as_ref().map(|g| (f.id.as_str(), g))).collect();
    let mut uncovered_polygons: Vec<Polygon> = vec![];
    let (mut uncovered_parcels, mut uncovered_weight) = (0, 0.0);
    let centre_id = |i: Option<usize>| i.map(|i| cov.centres[i].id.clone());
    for (o, origin) in cov.origins.iter().zip(&parcels.origins) {
        let mut f = Feature::new(format!("access-{}", o.id), Some(Geometry::Point(origin.point)))
            .with("kind", "access")
            .with("mode", mode)
            .with("parcel", o.id.as_str())
            .with("weight", o.weight)
            .with("covered_time", o.by_time)
            .with("covered_km", o.by_network_km);
        for (field, v) in [
            ("time_min", o.time_s.map(|t| t / 60.0)),
            ("network_km", o.network_m.map(|m| m / 1000.0)),
            ("straight_km", o.straight_m.map(|m| m / 1000.0)),
        ] {
            if let Some(v) = v {
                f = f.with(field, v);
            }
        }
        if let Some(c) = centre_id(o.centre) {
            f = f.with("centre", c);
        }
        if let Some(c) = o.straight_centre.map(|i| centres.origins[i].id.clone()) {
            f = f.with("straight_centre", c);
        }
        if let Some(u) = &o.unreached {
            f = f.with("unreached", u.as_str());
        }
        features.push(f);
        if !(o.by_time || o.by_network_km) {
            uncovered_parcels += 1;
            uncovered_weight += o.weight;
            match geometry_of.get(o.id.as_str()) {
                Some(Geometry::Polygon(p)) => uncovered_polygons.push(p.clone()),
                Some(Geometry::MultiPolygon(m)) => uncovered_polygons.extend(m.0.iter().cloned()),
                _ => {}
            }
        }
    }
    let union: MultiPolygon = geo::unary_union(&uncovered_polygons);
    let mut uncovered_area = 0.0;
    for (k, p) in union.0.iter().enumerate() {
        let area_km2 = area_km2(&net, p);
        uncovered_area += area_km2;
        features.push(
            Feature::new(
                format!("uncovered-{:05}", k + 1),
                Some(Geometry::MultiPolygon(MultiPolygon(vec![p.clone()]))),
            )
            .with("kind", "uncovered")
            .with("mode", mode)
            .with("minutes", options.minutes)
            .with("km", options.km)
            .with("area_km2", area_km2),
        );
    }
    progress.stage("uncovered areas", 1, 1);
    let uncovered = UncoveredReport {
        criterion: format!(
            "parcels neither within {} minutes by {} nor within {} km on the network; the union of their polygons",
            options.minutes, mode, options.km
        ),
        parcels: uncovered_parcels,
        weight: uncovered_weight,
        polygons: union.0.len(),
        area_km2: uncovered_area,
    };

    let suggestion = if request.suggest > 0 {
        Some(suggest(
            request,
            &travel,
            &index,
            &graph_extent(&net),
            parcel_features,
            candidate_features,
            &cov,
            &snaps,
            progress,
        )?)
    } else {
        None
    };

    let report = CoverageReport {
        request: request.clone(),
        network: net.report().clone(),
        mode: graph.report().clone(),
        parcel_problems: parcels.problems.clone(),
        weight_field: parcels.weight_field.clone(),
        centre_problems: centres.problems.clone(),
        summary: cov.summary.clone(),
        centres: centre_reports,
        by_travel_time,
        uncovered,
        least_loss_closure,
        suggestion,
    };
    Ok(CoverageRun { report, features })
}

/// Area in km² in the network's local projection (orientation-proof, unlike a geodesic area of
/// rings that the boolean operations may give clockwise).
fn area_km2<G: MapCoords<f64, f64, Output = G> + Area<f64>>(net: &RoadNetwork, g: &G) -> f64 {
    g.map_coords(|c| net.projection.project(c)).unsigned_area() / 1e6
}

fn graph_extent(net: &RoadNetwork) -> geo::Rect {
    let (mut lo, mut hi) = (Coord { x: f64::MAX, y: f64::MAX }, Coord { x: f64::MIN, y: f64::MIN });
    for n in &net.nodes {
        lo = Coord { x: lo.x.min(n.position.x), y: lo.y.min(n.position.y) };
        hi = Coord { x: hi.x.max(n.position.x), y: hi.y.max(n.position.y) };
    }
    geo::Rect::new(lo, hi)
}

/// Candidate sites as (id, point).
fn candidates(
    source: &CandidateSource,
    extent: &geo::Rect,
    travel: &Travel,
    parcels: &[Feature],
    layer: &[Feature],
) -> Vec<(String, Point)> {
    match source {
        CandidateSource::PublicParcels => {
            let public: Vec<Feature> = parcels
                .iter()
                .filter(|p| p.get("public_owner") == Some(&serde_json::Value::Bool(true)))
                .cloned()
                .collect();
            Origins::from_points(&public, None).origins.into_iter().map(|o| (o.id, o.point)).collect()
        }
        CandidateSource::Layer { .. } => {
            Origins::from_points(layer, None).origins.into_iter().map(|o| (o.id, o.point)).collect()
        }
        CandidateSource::Grid { spacing_m } => {
            let proj = &travel.graph.network.projection;
            let (a, b) = (proj.project(extent.min()), proj.project(extent.max()));
            let mut out = vec![];
            let (mut row, mut y) = (0, a.y);
            while y <= b.y {
                let (mut col, mut x) = (0, a.x);
                while x <= b.x {
                    out.push((format!("grid-{row}-{col}"), Point(proj.unproject(Coord { x, y }))));
                    x += spacing_m;
                    col += 1;
                }
                y += spacing_m;
                row += 1;
            }
            out
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn suggest(
    request: &CoverageRunRequest,
    travel: &Travel,
    index: &EdgeIndex,
    extent: &geo::Rect,
    parcels: &[Feature],
    layer: &[Feature],
    cov: &crate::Coverage,
    snaps: &[Option<Snap>],
    progress: &dyn RunProgress,
) -> Result<SuggestionReport, AnalysisError> {
    let options = &request.city.coverage;
    let limit_s = options.minutes * 60.0;
    let mut sites = candidates(&request.candidates, extent, travel, parcels, layer);
    sites.truncate(request.max_candidates);
    // Demand: origins not within the time limit that the network reaches at all.
    let demand: Vec<usize> =
        (0..cov.origins.len()).filter(|&i| !cov.origins[i].by_time && snaps[i].is_some()).collect();
    let weights: Vec<f64> = demand.iter().map(|&i| cov.origins[i].weight).collect();
    // One bounded search per candidate, side by side (rayon); the lists kept in candidate order.
    let done = std::sync::atomic::AtomicU64::new(0);
    let reached: Vec<Option<Vec<u32>>> = sites
        .par_iter()
        .map(|(_, p)| {
            let s = travel.snap_within(index, *p, options.max_snap_m).ok()?;
            let search = SiteSearch::new(travel, &s, limit_s);
            let c: Vec<u32> = demand
                .iter()
                .enumerate()
                .filter(|(_, &i)| {
                    snaps[i].as_ref().and_then(|o| search.time_s(travel, o)).is_some_and(|t| t <= limit_s)
                })
                .map(|(d, _)| d as u32)
                .collect();
            let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            progress.stage("candidates", k, sites.len() as u64);
            Some(c)
        })
        .collect();
    let mut covers = vec![];
    let mut usable = vec![];
    let mut unusable = 0;
    for (k, c) in reached.into_iter().enumerate() {
        match c {
            Some(c) => {
                covers.push(c);
                usable.push(k);
            }
            None => unusable += 1,
        }
    }
    progress.stage("candidates", sites.len() as u64, sites.len() as u64);
    let instance = CoverInstance { demand: weights, covers };
    let (unreachable_origins, unreachable_weight) = instance.unreachable();
    tracing::info!(unreachable_origins, unreachable_weight, "demand no candidate can reach");
    progress.stage("choosing sites", 0, 1);
    let k = request.suggest;
    let greedy = location::greedy(&instance, k);
    let swapped = location::improve_by_swaps(&instance, &greedy);
    let exact = if request.exact {
        Some(location::exact(&instance, k, Some(&swapped), request.exact_time_limit_s)?)
    } else {
        None
    };
    progress.stage("choosing sites", 1, 1);
    let show = |s: &Selection| SolutionReport {
        sites: s
            .picks
            .iter()
            .map(|p| {
                let (id, pt) = &sites[usable[p.candidate]];
                SuggestedSite { id: id.clone(), lon: pt.x(), lat: pt.y(), gain: p.gain }
            })
            .collect(),
        covered_weight: s.covered,
    };
    let gap = exact.as_ref().map(|e| {
        if e.selection.covered > 0.0 {
            (e.selection.covered - swapped.covered) / e.selection.covered
        } else {
            0.0
        }
    });
    Ok(SuggestionReport {
        k,
        candidates: sites.len(),
        candidates_unusable: unusable,
        demand_origins: demand.len(),
        demand_weight: instance.demand.iter().sum(),
        unreachable_origins,
        unreachable_weight,
        greedy: show(&greedy),
        swapped: show(&swapped),
        exact_proven_optimal: exact.as_ref().map(|e| e.proven_optimal),
        exact: exact.as_ref().map(|e| show(&e.selection)),
        gap,
    })
}

/// Writes a run's features to the `coverage_results` layer, replacing the previous run's, in one
/// transaction.
pub async fn write(store: &dyn Store, run: &CoverageRun) -> Result<u64, AnalysisError> {
    store
        .bulk_load(LayerId::CoverageResults, &run.features, true, &|_| {})
        .await
        .map_err(|e| AnalysisError::Store { layer: LayerId::CoverageResults.name().into(), reason: e.to_string() })
}

/// What adding or removing one centre would change, answered from one prepared state: the
/// origins' snaps and, per origin, how many centres reach it within the time limit. Adding a
/// centre is one bounded search from it; removing one needs no search at all.
pub struct WhatIf<'g> {
    travel: Travel<'g>,
    index: EdgeIndex<'g>,
    max_snap_m: f64,
    limit_s: f64,
    snaps: Vec<Option<Snap>>,
    weights: Vec<f64>,
    count: Vec<u32>,
    within: Vec<Vec<u32>>,
}

/// Origins and weight gained (adding) or lost (removing).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    pub origins: usize,
    pub weight: f64,
}

impl<'g> WhatIf<'g> {
    /// Prepares from a coverage of `graph` with `options` (one bounded search per usable centre).
    pub fn new(graph: &'g crate::ModeGraph<'g>, options: &crate::CoverageOptions, cov: &crate::Coverage) -> Self {
        let travel = Travel::new(graph, options);
        let index = EdgeIndex::new(graph);
        let limit_s = options.minutes * 60.0;
        let snaps: Vec<Option<Snap>> =
            cov.origins.iter().map(|o| if o.time_s.is_some() { o.snap } else { None }).collect();
        let mut count = vec![0u32; snaps.len()];
        let mut within = vec![];
        for c in &cov.centres {
            let mut w = vec![];
            if let (Some(s), None) = (&c.snap, &c.unusable) {
                let search = SiteSearch::new(&travel, s, limit_s);
                for (i, o) in snaps.iter().enumerate() {
                    if o.as_ref().and_then(|o| search.time_s(&travel, o)).is_some_and(|t| t <= limit_s) {
                        w.push(i as u32);
                        count[i] += 1;
                    }
                }
            }
            within.push(w);
        }
        let weights = cov.origins.iter().map(|o| o.weight).collect();
        WhatIf { travel, index, max_snap_m: options.max_snap_m, limit_s, snaps, weights, count, within }
    }

    /// What a new centre at `p` would newly cover within the time limit.
    pub fn add(&self, p: Point) -> Result<Change, AnalysisError> {
        let s = self
            .travel
            .snap_within(&self.index, p, self.max_snap_m)
            .map_err(|reason| AnalysisError::InvalidInput { what: "the new centre".into(), reason })?;
        let search = SiteSearch::new(&self.travel, &s, self.limit_s);
        let mut change = Change { origins: 0, weight: 0.0 };
        for (i, o) in self.snaps.iter().enumerate() {
            if self.count[i] == 0
                && o.as_ref().and_then(|o| search.time_s(&self.travel, o)).is_some_and(|t| t <= self.limit_s)
            {
                change.origins += 1;
                change.weight += self.weights[i];
            }
        }
        Ok(change)
    }

    /// What closing centre `centre` (its index) would leave uncovered.
    pub fn remove(&self, centre: usize) -> Change {
        let mut change = Change { origins: 0, weight: 0.0 };
        for &i in self.within.get(centre).into_iter().flatten() {
            if self.count[i as usize] == 1 {
                change.origins += 1;
                change.weight += self.weights[i as usize];
            }
        }
        change
    }
}
