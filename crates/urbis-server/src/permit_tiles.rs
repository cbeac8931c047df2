//! The permits layer in tiles: one point per dossier (inside its site), with its clock status as
//! of the request (`clock_status`: on_time, at_risk, overdue, closed, or no_clock for an open
//! dossier whose procedure is unknown), for the heat map: computed at encode time from the
//! dossier, its events and its procedure by the dashboard's own code ([`dossier_status`]), never
//! stored, so it is never stale. The other layers of a tile are made as `urbis-tiles` makes them.
//!
//! Caching: the status is a function of the city's date (the clock counts whole working days),
//! so a tile holding permits is cached under that date as well ([`as_of_key`]): the tile cache
//! serves it until the city's day ends and makes it anew the next day, while the change feed
//! still drops it at once when a dossier in it moves (a transition rewrites the dossier row).
//! Clients revalidate every tile (`max-age=0, must-revalidate`); the ETag is the bytes' hash, so
//! a status that changed overnight changes the ETag. A procedure's processing time edited through
//! `/procedures` drops every cached permits tile (the change feed knows no table without
//! geometry).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use geo::InteriorPoint;
use geo_types::Geometry;
use geozero::mvt::tile;
use urbis_core::cql2::{Expr, Filter, Literal, Scalar};
use urbis_core::permits::dashboard::dossier_status;
use urbis_core::{Feature, LayerId};
use urbis_store::{AttributeFilter, Comparison, Query, Store, StoreError};
use urbis_tiles::{Definitions, Tile, TileError, TileId};

use crate::dashboard::{clock_event, facts_of, processing_days};
use crate::permits::PermitsConfig;

/// The attribute the permits layer gains in tiles.
pub const STATUS_FIELD: &str = "clock_status";
/// Up to this many dossiers, their events are read one dossier at a time (an indexed lookup);
/// beyond, with `permit_id IN (…)` queries (SQL on PostGIS; on the GeoPackage a scan of the events
/// evaluated in Rust, cheaper than hundreds of lookups).
const FEW: usize = 64;
/// Events are read for this many dossiers per query.
const IDS_PER_QUERY: usize = 500;

/// What distinguishes a tile holding permits in the cache: the city's date its statuses hold for.
pub fn as_of_key(config: &PermitsConfig, now: DateTime<Utc>) -> String {
    format!("\u{1f}as_of={}", config.calendar.local_date(now))
}

/// Each dossier's status at `now`, by id.
pub async fn statuses(
    store: &dyn Store,
    config: &PermitsConfig,
    dossiers: &[Feature],
    now: DateTime<Utc>,
) -> Result<HashMap<String, &'static str>, StoreError> {
    if dossiers.is_empty() {
        return Ok(HashMap::new());
    }
    let procedures = store.query(LayerId::Procedures, &Query::all()).await?;
    let days = processing_days(&procedures);
    let mut events: HashMap<String, Vec<(Option<String>, urbis_core::domain::PermitEvent)>> = HashMap::new();
    if dossiers.len() <= FEW {
        // A few dossiers (a close-up tile): one indexed lookup each.
        for f in dossiers {
            let q = Query::all().filter(AttributeFilter::new("permit_id", Comparison::Eq, f.id.as_str()));
            let list = store.query(LayerId::PermitEvents, &q).await?.iter().map(|e| (None, clock_event(e))).collect();
            events.insert(f.id.clone(), list);
        }
    }
    let many = if dossiers.len() <= FEW { &[][..] } else { dossiers };
    for chunk in many.chunks(IDS_PER_QUERY) {
        let list = chunk.iter().map(|f| Scalar::literal(Literal::Text(f.id.clone()))).collect();
        let expr = Expr::In { value: Scalar::property("permit_id"), list };
        let filter = Filter::new(LayerId::PermitEvents, expr)
            .map_err(|e| StoreError::InvalidQuery { layer: LayerId::PermitEvents, reason: e.to_string() })?;
        for f in store.query(LayerId::PermitEvents, &Query::all().cql2(filter)).await? {
            if let Some(id) = f.text("permit_id") {
                events.entry(id.to_string()).or_default().push((None, clock_event(&f)));
            }
        }
    }
    let mut out = HashMap::with_capacity(dossiers.len());
    for f in dossiers {
        let mut history = events.remove(&f.id).unwrap_or_default();
        history.sort_by_key(|(_, e)| e.seq);
        let Some(facts) = facts_of(f, &history, &days) else { continue };
        out.insert(f.id.clone(), dossier_status(&facts, &config.calendar, config.policy, now).name());
    }
    Ok(out)
}

/// The tile `tile` of `layers`, as [`urbis_tiles::render_filtered`] makes it, the permits layer
/// with each dossier's status at `now`.
pub async fn render(
    store: &dyn Store,
    config: &PermitsConfig,
    layers: &[LayerId],
    filters: &[Option<Filter>],
    tile: TileId,
    now: DateTime<Utc>,
) -> Result<Tile, TileError> {
    let defs = Definitions::built_in();
    let mut sources = Vec::with_capacity(layers.len());
    for (i, &layer) in layers.iter().enumerate() {
        let def = defs.get(layer).ok_or(TileError::NoTiles { layer })?;
        if def.rule(tile.z).is_none() {
            continue;
        }
        let mut query = Query::all().bbox(def.query_box(tile));
        query.cql2 = filters.get(i).cloned().flatten();
        let mut features = store.query(layer, &query).await?;
        let status = match layer {
            LayerId::Permits => {
                // One point per dossier, inside its site: seen at every zoom, one circle each.
                for f in &mut features {
                    f.geometry = f.geometry.as_ref().and_then(|g| g.interior_point()).map(Geometry::Point);
                }
                statuses(store, config, &features, now).await?
            }
            _ => HashMap::new(),
        };
        sources.push((def.clone(), features, status));
    }
    // Clipping and simplifying are CPU work: off the async threads.
    tokio::task::spawn_blocking(move || {
        let layers: Vec<tile::Layer> = sources
            .iter()
            .filter_map(|(def, features, status)| {
                let mut layer = urbis_tiles::encode_layer(def, tile, features)?;
                if def.layer == LayerId::Permits {
                    add_tag(&mut layer, STATUS_FIELD, |id| status.get(id).copied());
                }
                Some(layer)
            })
            .collect();
        urbis_tiles::encode(layers)
    })
    .await
    .map_err(|e| TileError::Encode(e.to_string()))
}

/// Adds `key` to every feature of an encoded layer for which `value_of` its `id` attribute gives
/// a value.
fn add_tag(layer: &mut tile::Layer, key: &str, value_of: impl Fn(&str) -> Option<&'static str>) {
    let Some(id_key) = layer.keys.iter().position(|k| k == "id") else { return };
    let key_index = match layer.keys.iter().position(|k| k == key) {
        Some(i) => i,
        None => {
            layer.keys.push(key.to_string());
            layer.keys.len() - 1
        }
    };
    let mut value_index: HashMap<&'static str, u32> = HashMap::new();
    for i in 0..layer.features.len() {
        let id = layer.features[i]
            .tags
            .chunks_exact(2)
            .find(|kv| kv[0] as usize == id_key)
            .and_then(|kv| layer.values.get(kv[1] as usize))
            .and_then(|v| v.string_value.clone());
        let Some(value) = id.as_deref().and_then(&value_of) else { continue };
        let v = *value_index.entry(value).or_insert_with(|| {
            layer.values.push(tile::Value { string_value: Some(value.to_string()), ..Default::default() });
            (layer.values.len() - 1) as u32
        });
        layer.features[i].tags.extend([key_index as u32, v]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_added_by_id() {
        let mut layer = tile::Layer {
            version: 2,
            name: "permits".into(),
            keys: vec!["id".into(), "stage".into()],
            values: vec![
                tile::Value { string_value: Some("A".into()), ..Default::default() },
                tile::Value { string_value: Some("received".into()), ..Default::default() },
                tile::Value { string_value: Some("B".into()), ..Default::default() },
            ],
            features: vec![
                tile::Feature { tags: vec![0, 0, 1, 1], ..Default::default() },
                tile::Feature { tags: vec![0, 2, 1, 1], ..Default::default() },
                tile::Feature { tags: vec![1, 1], ..Default::default() },
            ],
            extent: Some(4096),
        };
        add_tag(&mut layer, STATUS_FIELD, |id| match id {
            "A" | "B" => Some("overdue"),
            _ => None,
        });
        assert_eq!(layer.keys, ["id", "stage", STATUS_FIELD]);
        assert_eq!(layer.values.len(), 4, "one value written once");
        assert_eq!(layer.features[0].tags, [0, 0, 1, 1, 2, 3]);
        assert_eq!(layer.features[1].tags, [0, 2, 1, 1, 2, 3]);
        assert_eq!(layer.features[2].tags, [1, 1]);
    }
}
