//! Reading the layers an analysis needs from a store, whole and in id order.

use urbis_core::{Feature, LayerId};
use urbis_store::{Query, Store};

use crate::AnalysisError;

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
