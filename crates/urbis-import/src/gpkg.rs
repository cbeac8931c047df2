//! GeoPackage: any table of any `.gpkg` (features or plain attributes), read through sqlx. The CRS
//! comes from `gpkg_spatial_ref_sys`; geometries are the GeoPackage binary header, then WKB.

use std::path::Path;

use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{Column, ConnectOptions, Row, TypeInfo, ValueRef};

use crate::source::{ReadError, Source, SourceFeature};

pub async fn read(path: &Path, table: Option<&str>) -> Result<Source, ReadError> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| format!("cannot open as SQLite: {e}"))?;
    let contents: Vec<(String, String)> =
        sqlx::query_as("SELECT table_name, data_type FROM gpkg_contents ORDER BY table_name")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| format!("not a GeoPackage (gpkg_contents): {e}"))?;
    let table = match table {
        Some(t) => {
            contents.iter().find(|(name, _)| name.eq_ignore_ascii_case(t)).map(|(name, _)| name.clone()).ok_or_else(
                || ReadError::Mapping(format!("no table `{t}`; the GeoPackage holds: {}", names(&contents))),
            )?
        }
        None => contents
            .iter()
            .find(|(_, kind)| kind == "features")
            .or_else(|| contents.first())
            .map(|(name, _)| name.clone())
            .ok_or("the GeoPackage holds no table")?,
    };
    let geometry: Option<(String, i64)> =
        sqlx::query_as("SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?")
            .bind(&table)
            .fetch_optional(&mut conn)
            .await
            .map_err(|e| format!("gpkg_geometry_columns: {e}"))?;
    let crs = match &geometry {
        Some((_, srs_id)) => crs_of(&mut conn, *srs_id).await?,
        None => None,
    };
    let pk: Option<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?) WHERE pk = 1")
        .bind(&table)
        .fetch_optional(&mut conn)
        .await
        .map_err(|e| format!("table `{table}`: {e}"))?;
    let rows = sqlx::query(&format!("SELECT * FROM \"{}\"", table.replace('"', "\"\"")))
        .fetch_all(&mut conn)
        .await
        .map_err(|e| format!("table `{table}`: {e}"))?;
    let geom_col = geometry.as_ref().map(|(c, _)| c.as_str());
    let features = rows.iter().enumerate().map(|(i, row)| feature(i as u64, row, geom_col, pk.as_deref())).collect();
    Ok(Source { features, crs })
}

fn names(contents: &[(String, String)]) -> String {
    contents.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
}

/// `EPSG:n` where the organisation is EPSG, else the WKT definition; 0 and -1 are the
/// GeoPackage's "undefined" systems, taken as WGS 84 (validation catches a wrong guess).
async fn crs_of(conn: &mut sqlx::SqliteConnection, srs_id: i64) -> Result<Option<String>, String> {
    if srs_id == 0 || srs_id == -1 || srs_id == 4326 {
        return Ok(None);
    }
    let row: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
    )
    .bind(srs_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| format!("gpkg_spatial_ref_sys: {e}"))?;
    match row {
        Some((org, code, _)) if org.eq_ignore_ascii_case("EPSG") => Ok(Some(format!("EPSG:{code}"))),
        Some((_, _, def)) => Ok(Some(def)),
        None => Err(format!("srs_id {srs_id} is not in gpkg_spatial_ref_sys")),
    }
}

fn feature(index: u64, row: &SqliteRow, geom_col: Option<&str>, pk: Option<&str>) -> SourceFeature {
    let mut props = Map::new();
    let mut geometry = Ok(None);
    let mut id = None;
    for (i, col) in row.columns().iter().enumerate() {
        let name = col.name();
        if Some(name) == geom_col {
            geometry = match row.try_get::<Option<Vec<u8>>, _>(i) {
                Ok(Some(blob)) => decode(&blob).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(format!("geometry column: {e}")),
            };
            continue;
        }
        let value = cell(row, i);
        if Some(name) == pk {
            id = crate::source::as_key(&value);
            continue;
        }
        props.insert(name.to_string(), value);
    }
    let mut f = SourceFeature::new(index, id, geometry);
    f.properties = props;
    f
}

/// A cell as JSON by its stored type (SQLite types values, not columns).
fn cell(row: &SqliteRow, i: usize) -> Value {
    let kind = match row.try_get_raw(i) {
        Ok(raw) if raw.is_null() => return Value::Null,
        Ok(raw) => raw.type_info().name().to_string(),
        Err(_) => return Value::Null,
    };
    match kind.as_str() {
        "INTEGER" | "BOOLEAN" => row.try_get::<i64, _>(i).map(Value::from).unwrap_or(Value::Null),
        "REAL" => row
            .try_get::<f64, _>(i)
            .ok()
            .and_then(|x| serde_json::Number::from_f64(x).map(Value::Number))
            .unwrap_or(Value::Null),
        "BLOB" => row.try_get::<Vec<u8>, _>(i).map(|b| Value::String(hex(&b))).unwrap_or(Value::Null),
        _ => row.try_get::<String, _>(i).map(Value::String).unwrap_or(Value::Null),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A GeoPackage geometry blob (header, then WKB), read with the store's codec.
pub fn decode(blob: &[u8]) -> Result<geo_types::Geometry, String> {
    let parsed = urbis_store::wkb::parse_gpkg(blob)?;
    if parsed.empty {
        return Err("the geometry is empty (GeoPackage empty flag)".into());
    }
    urbis_store::wkb::from_wkb(parsed.wkb).map_err(|e| format!("unreadable WKB: {e}"))
}
