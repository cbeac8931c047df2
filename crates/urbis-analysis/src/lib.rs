//! Service-access analysis: how far every parcel (or any point) is from the nearest service
//! centre on the real road network, and what share of the population a set of centres covers.
//!
//! The steps, one module each:
//! - [`network`]: the road network built from the roads layer (junctions at shared end points or
//!   the source's node ids), with its connected components and the roads that could not be joined;
//! - [`mode`] and [`graph`]: travel times per mode (walk, cycle, drive) over that network;
//! - [`origins`] and [`snap`]: parcels or points as weighted origins, snapped to the nearest edge;
//! - [`paths`]: one multi-source Dijkstra from all centres at once;
//! - [`coverage`]: per origin its nearest centre, time and distances; shares covered; catchments;
//! - [`isochrone`]: what one centre reaches within each cutoff, as polygons;
//! - [`location`]: where to put new centres (maximal covering: greedy, swaps, exact);
//! - [`source`]: reading the layers from a [`urbis_store::Store`];
//! - [`run`]: a whole run over a store (report, isochrones, uncovered areas, suggestions) and
//!   its results written to the `coverage_results` layer.
//!
//! ```
//! use geo::{line_string, Geometry, MultiLineString, point};
//! use urbis_analysis::{coverage, network, origins, Speeds, TravelMode};
//! use urbis_core::Feature;
//!
//! let road = |id: &str, l| Feature::new(id, Some(Geometry::from(MultiLineString(vec![l]))));
//! let roads = [road("a", line_string![(x: 0.0, y: 0.0), (x: 0.01, y: 0.0)])];
//! let net = network::RoadNetwork::from_roads(&roads, &network::NetworkOptions::default()).unwrap();
//! let walk = net.graph(TravelMode::Walk, &Speeds::default()).unwrap();
//! let homes = origins::Origins::from_points(&[Feature::new("h", Some(point!(x: 0.0, y: 0.0).into()))], None);
//! let centres = origins::Origins::from_points(&[Feature::new("c", Some(point!(x: 0.01, y: 0.0).into()))], None);
//! let result = coverage::coverage(&walk, &homes, &centres, &coverage::CoverageOptions::default()).unwrap();
//! // 1,113 m at 4.8 km/h: about 14 minutes.
//! assert!((result.origins[0].time_s.unwrap() / 60.0 - 13.9).abs() < 0.1);
//! assert_eq!(result.summary.by_time.origins, 1);
//! ```

pub mod coverage;
pub mod graph;
pub mod isochrone;
pub mod location;
pub mod mode;
pub mod network;
pub mod origins;
pub mod paths;
pub mod queue;
pub mod run;
pub mod snap;
pub mod source;

pub use coverage::{coverage, Coverage, CoverageOptions, CoverageSummary};
pub use graph::ModeGraph;
pub use mode::{Speeds, TravelMode};
pub use network::{NetworkOptions, NetworkReport, RoadNetwork};
pub use origins::{Origin, Origins, ParcelWeight};

/// What can stop an analysis. Problems with single features (a road that cannot be joined, a
/// parcel without geometry) are not errors: they are listed in the reports and the rest goes on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error("{what} must be a finite number above zero, got {value}")]
    InvalidParameter { what: String, value: f64 },
    #[error("the roads layer has no road that can be used for a network ({roads} read, {unjoined} unusable{})", first.as_ref().map(|f| format!("; first: {f}")).unwrap_or_default())]
    NoNetwork { roads: usize, unjoined: usize, first: Option<String> },
    #[error("no road can be used when travelling by {mode}")]
    NoRoadsForMode { mode: TravelMode },
    #[error("none of the {centres} service centre(s) is within {max_snap_m} m of the {mode} network{}", first.as_ref().map(|f| format!(" (first: {f})")).unwrap_or_default())]
    NoUsableCentre { centres: usize, mode: TravelMode, max_snap_m: f64, first: Option<String> },
    #[error("there is no service centre{} to measure access to", if kinds.is_empty() { String::new() } else { format!(" of kind {}", kinds.join(" or ")) })]
    NoCentres { kinds: Vec<String> },
    #[error("{what}: {reason}")]
    InvalidInput { what: String, reason: String },
    #[error("the integer programme could not be solved: {reason}")]
    Solver { reason: String },
    #[error("reading layer {layer}: {reason}")]
    Store { layer: String, reason: String },
}

/// A finite, strictly positive parameter, or an error naming it.
pub(crate) fn positive(what: &str, value: f64) -> Result<f64, AnalysisError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(AnalysisError::InvalidParameter { what: what.to_string(), value })
    }
}

#[cfg(test)]
mod tests;
