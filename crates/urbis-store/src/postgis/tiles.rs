//! The read behind a vector tile on PostGIS ([`Store::tile_features`](crate::Store::tile_features)):
//! only the id, the geometry and the attributes the tile writes at its zoom, and only the index's
//! box test. The exact test (GEOS) and the `extra` document were most of a tile query's time
//! (z14 parcels: 39 ms against 8 ms); the encoder's clip drops what meets the box but not the tile.

use geo_types::Rect;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use urbis_core::{Feature, FieldType, LayerId};

use super::ident;
use crate::{wkb, Result, StoreError};

/// The statement of one layer and field list: the same text each time, so that each connection
/// prepares it once (sqlx keeps prepared statements per connection).
fn statement(layer: LayerId, fields: &[&str]) -> Result<(String, Vec<FieldType>)> {
    let schema = layer.schema();
    if !schema.has_geometry() {
        return Err(StoreError::InvalidQuery { layer, reason: "this layer has no geometry".into() });
    }
    let mut cols = vec!["\"id\"".to_string(), "ST_AsBinary(\"geom\")".to_string()];
    let mut types = vec![];
    for name in fields {
        let Some(f) = schema.field(name) else {
            return Err(StoreError::InvalidQuery { layer, reason: format!("no field `{name}`") });
        };
        let c = ident(f.name);
        // As the store's other reads format them, so that a tile is the same from either store.
        cols.push(match f.ty {
            FieldType::Date => format!("to_char({c}, 'YYYY-MM-DD')"),
            FieldType::DateTime => format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"),
            _ => c,
        });
        types.push(f.ty);
    }
    let sql = format!(
        "SELECT {} FROM {} WHERE \"geom\" && ST_MakeEnvelope($1, $2, $3, $4, 4326) ORDER BY \"id\" COLLATE \"C\"",
        cols.join(", "),
        ident(layer.name())
    );
    Ok((sql, types))
}

pub(super) async fn tile_features(pool: &PgPool, layer: LayerId, bbox: Rect, fields: &[&str]) -> Result<Vec<Feature>> {
    let (sql, types) = statement(layer, fields)?;
    let rows = sqlx::query(&sql)
        .bind(bbox.min().x)
        .bind(bbox.min().y)
        .bind(bbox.max().x)
        .bind(bbox.max().y)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| decode(layer, fields, &types, r)).collect()
}

fn decode(layer: LayerId, fields: &[&str], types: &[FieldType], row: &PgRow) -> Result<Feature> {
    let id: String = row.try_get(0)?;
    // Borrowed from the row: no copy of the WKB before it is decoded.
    let geometry = match row.try_get::<Option<&[u8]>, _>(1)? {
        Some(bytes) => {
            Some(wkb::from_wkb(bytes).map_err(|reason| StoreError::Geometry { layer, id: id.clone(), reason })?)
        }
        None => None,
    };
    let mut feature = Feature::new(id, geometry);
    for (i, (name, ty)) in fields.iter().zip(types).enumerate() {
        if let Some(v) = super::column_value(row, i + 2, *ty)? {
            feature.attributes.insert(name.to_string(), v);
        }
    }
    Ok(feature)
}
