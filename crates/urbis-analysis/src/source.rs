//! Reading the layers an analysis needs from a store, whole and in id order, and a whole city's
//! coverage from them.

use urbis_core::{Feature, LayerId};
use urbis_store::{Query, Store};

use crate::coverage::{coverage, Coverage, CoverageOptions};
use crate::graph::ModeReport;
use crate::network::{NetworkOptions, NetworkReport, RoadNetwork};
use crate::origins::{Origins, ParcelWeight};
use crate::{AnalysisError, Speeds, TravelMode};

const PAGE: u64 = 10_000;

/// Every feature of `layer`, ordered by id (so that results do not depend on the store).
pub async fn read_layer(store: &dyn Store, layer: LayerId) -> Result<Vec<Feature>, AnalysisError> {
    let mut all = vec![];
    loop {
        let query =
            Query { limit: Some(PAGE), offset: all.len() as u64, order_by: vec![("id".into(), false)], ..Query::all() };
        let page = store
            .query(layer, &query)
            .await
            .map_err(|e| AnalysisError::Store { layer: layer.name().to_string(), reason: e.to_string() })?;
        let n = page.len() as u64;
        all.extend(page);
        if n < PAGE {
            return Ok(all);
        }
    }
}

/// Everything a coverage run of a whole city needs to be told.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CityCoverageRequest {
    pub mode: TravelMode,
    pub speeds: Speeds,
    pub network: NetworkOptions,
    pub coverage: CoverageOptions,
    pub parcel_weight: ParcelWeight,
    /// Only the service centres of these kinds (`kind` field); all of them if empty.
    pub centre_kinds: Vec<String>,
}

impl Default for CityCoverageRequest {
    fn default() -> Self {
        CityCoverageRequest {
            mode: TravelMode::Walk,
            speeds: Speeds::default(),
            network: NetworkOptions::default(),
            coverage: CoverageOptions::default(),
            parcel_weight: ParcelWeight::Auto,
            centre_kinds: vec![],
        }
    }
}

/// A coverage run over the store's roads, parcels and service centres, with every report.
#[derive(Debug, Clone, PartialEq)]
pub struct CityCoverage {
    pub network: NetworkReport,
    pub mode: ModeReport,
    /// Parcels that are not origins, and why; the weight field used.
    pub parcels: Origins,
    pub centres: Origins,
    pub coverage: Coverage,
}

/// Reads the roads, parcels and service centres of `store` and measures the parcels' coverage.
pub async fn city_coverage(store: &dyn Store, request: &CityCoverageRequest) -> Result<CityCoverage, AnalysisError> {
    let roads = read_layer(store, LayerId::Roads).await?;
    let net = RoadNetwork::from_roads(&roads, &request.network)?;
    let graph = net.graph(request.mode, &request.speeds)?;
    let parcels = Origins::from_parcels(&read_layer(store, LayerId::Parcels).await?, request.parcel_weight);
    let mut centre_features = read_layer(store, LayerId::ServiceCentres).await?;
    if !request.centre_kinds.is_empty() {
        centre_features.retain(|f| f.text("kind").is_some_and(|k| request.centre_kinds.iter().any(|w| w == k)));
    }
    let centres = Origins::from_points(&centre_features, None);
    if centres.origins.is_empty() {
        return Err(AnalysisError::NoCentres { kinds: request.centre_kinds.clone() });
    }
    let coverage = coverage(&graph, &parcels, &centres, &request.coverage)?;
    Ok(CityCoverage { network: net.report().clone(), mode: graph.report().clone(), parcels, centres, coverage })
}
