//! Shapefile: the `.shp` with its `.dbf` attributes and, when present, the `.prj` CRS (WKT).

use std::path::Path;

use serde_json::{Map, Value};
use shapefile::dbase::FieldValue;

use crate::source::{Source, SourceFeature};

pub fn read(path: &Path) -> Result<Source, String> {
    let mut reader = shapefile::Reader::from_path(path).map_err(|e| e.to_string())?;
    let mut features = Vec::new();
    for (i, item) in reader.iter_shapes_and_records().enumerate() {
        let (shape, record) = item.map_err(|e| format!("record {i}: {e}"))?;
        let geometry = match shape {
            shapefile::Shape::NullShape => Ok(None),
            shape => geo_types::Geometry::<f64>::try_from(shape).map(Some).map_err(|e| e.to_string()),
        };
        let mut f = SourceFeature::new(i as u64, None, geometry);
        f.properties = record.into_iter().map(|(k, v)| (k, value(v))).collect::<Map<_, _>>();
        features.push(f);
    }
    let prj = path.with_extension("prj");
    let crs = match std::fs::read_to_string(&prj) {
        Ok(wkt) if !wkt.trim().is_empty() => Some(wkt),
        _ => None,
    };
    Ok(Source { features, crs })
}

fn value(v: FieldValue) -> Value {
    let num = |x: f64| serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null);
    match v {
        FieldValue::Character(s) => s.map(Value::String).unwrap_or(Value::Null),
        FieldValue::Memo(s) => Value::String(s),
        FieldValue::Numeric(x) => x.map(num).unwrap_or(Value::Null),
        FieldValue::Float(x) => x.map(|x| num(f64::from(x))).unwrap_or(Value::Null),
        FieldValue::Double(x) | FieldValue::Currency(x) => num(x),
        FieldValue::Integer(i) => Value::from(i),
        FieldValue::Logical(b) => b.map(Value::Bool).unwrap_or(Value::Null),
        FieldValue::Date(d) => {
            d.map(|d| Value::String(format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))).unwrap_or(Value::Null)
        }
        FieldValue::DateTime(t) => {
            let (d, h) = (t.date(), t.time());
            Value::String(format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                d.year(),
                d.month(),
                d.day(),
                h.hours(),
                h.minutes(),
                h.seconds()
            ))
        }
    }
}
