//! CSV: one row a feature, every column a source field (text; the mapping's field types coerce
//! it). Geometry from a WKT column or from longitude/latitude columns, named by the mapping or
//! found by their usual names; a table without them is a table without geometry (procedures).

use std::path::Path;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::source::{from_wkt, Source, SourceFeature};
use crate::Mapping;

const WKT_NAMES: [&str; 5] = ["wkt", "geometry", "geom", "the_geom", "wkt_geom"];
const LON_NAMES: [&str; 5] = ["lon", "lng", "longitude", "long", "x"];
const LAT_NAMES: [&str; 3] = ["lat", "latitude", "y"];

enum GeometryColumns {
    None,
    Wkt(usize),
    LonLat(usize, usize),
}

pub fn read(path: &Path, mapping: &Mapping) -> Result<Source, String> {
    let (headers, rows) = read_table(path)?;
    let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let named = |name: &Option<String>| -> Result<Option<usize>, String> {
        match name {
            None => Ok(None),
            Some(n) => {
                find(n).map(Some).ok_or_else(|| format!("no column `{n}`; the columns are: {}", headers.join(", ")))
            }
        }
    };
    let first_of = |names: &[&str]| names.iter().find_map(|n| find(n));
    let columns = match (named(&mapping.wkt_column)?, named(&mapping.lon_column)?, named(&mapping.lat_column)?) {
        (Some(w), _, _) => GeometryColumns::Wkt(w),
        (None, Some(x), Some(y)) => GeometryColumns::LonLat(x, y),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err("the mapping names only one of lon_column and lat_column".into())
        }
        (None, None, None) => match (first_of(&WKT_NAMES), first_of(&LON_NAMES), first_of(&LAT_NAMES)) {
            (Some(w), _, _) => GeometryColumns::Wkt(w),
            (None, Some(x), Some(y)) => GeometryColumns::LonLat(x, y),
            _ => GeometryColumns::None,
        },
    };
    let features = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut closed = 0;
            let geometry = match &columns {
                GeometryColumns::None => Ok(None),
                GeometryColumns::Wkt(w) => wkt_cell(row.get(*w).map(String::as_str).unwrap_or(""), &mut closed),
                GeometryColumns::LonLat(x, y) => lon_lat(row.get(*x), row.get(*y)),
            };
            let mut f = SourceFeature::new(i as u64, None, geometry);
            f.closed_rings = closed;
            f.properties = properties(&headers, row);
            // The geometry columns are the geometry, not attributes; a rejection's reason
            // quotes their bad values.
            let used = match &columns {
                GeometryColumns::None => vec![],
                GeometryColumns::Wkt(w) => vec![*w],
                GeometryColumns::LonLat(x, y) => vec![*x, *y],
            };
            for c in used {
                f.properties.remove(&headers[c]);
            }
            f
        })
        .collect();
    Ok(Source { features, crs: None })
}

/// Every row as text cells; also used for join tables.
pub fn read_table(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_path(path).map_err(|e| e.to_string())?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    Ok((headers, rows))
}

/// Empty cells are absent values, not empty text.
pub fn properties(headers: &[String], row: Vec<String>) -> Map<String, Value> {
    headers
        .iter()
        .zip(row)
        .map(|(h, v)| (h.clone(), if v.is_empty() { Value::Null } else { Value::String(v) }))
        .collect()
}

fn wkt_cell(cell: &str, closed: &mut u32) -> Result<Option<geo_types::Geometry>, String> {
    if cell.trim().is_empty() {
        return Ok(None);
    }
    let w = wkt::Wkt::<f64>::from_str(cell.trim()).map_err(|e| format!("unreadable WKT: {e}"))?;
    from_wkt(&w, closed).map(Some)
}

/// "NaN" parses to a number on purpose: validation then says the vertex is not finite.
fn lon_lat(x: Option<&String>, y: Option<&String>) -> Result<Option<geo_types::Geometry>, String> {
    let x = x.map(|s| s.trim()).unwrap_or("");
    let y = y.map(|s| s.trim()).unwrap_or("");
    if x.is_empty() && y.is_empty() {
        return Ok(None);
    }
    let num = |s: &str, what: &str| s.parse::<f64>().map_err(|_| format!("{what} `{s}` is not a number"));
    Ok(Some(geo_types::Geometry::Point(geo_types::Point::new(num(x, "longitude")?, num(y, "latitude")?))))
}
