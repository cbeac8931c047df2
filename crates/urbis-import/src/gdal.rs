//! Every other format GDAL reads (DXF, KML, FlatGeobuf, File Geodatabase, MapInfo, …), behind the
//! cargo feature `gdal`. GDAL reprojects as it reads, through its own coordinate transformation
//! with the traditional GIS axis order (longitude first), so these sources come out in WGS 84.

use std::path::Path;

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{FieldValue, LayerAccess};
use gdal::Dataset;
use serde_json::{Map, Value};

use crate::source::{ReadError, Source, SourceFeature};

pub fn read(path: &Path, layer: Option<&str>, source_crs: Option<&str>) -> Result<Source, ReadError> {
    let dataset = Dataset::open(path).map_err(|e| e.to_string())?;
    let mut layer = match layer {
        Some(name) => dataset.layer_by_name(name).map_err(|_| {
            let names: Vec<String> = dataset.layers().map(|l| l.name()).collect();
            ReadError::Mapping(format!("no layer `{name}`; the file holds: {}", names.join(", ")))
        })?,
        None => dataset.layer(0).map_err(|e| format!("no vector layer: {e}"))?,
    };
    let from = match source_crs {
        Some(def) => {
            Some(SpatialRef::from_definition(def).map_err(|e| ReadError::Mapping(format!("source_crs `{def}`: {e}")))?)
        }
        None => layer.spatial_ref(),
    };
    let transform = match from {
        Some(mut from) => {
            from.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
            let mut to = SpatialRef::from_epsg(4326).map_err(|e| e.to_string())?;
            to.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
            Some(CoordTransform::new(&from, &to).map_err(|e| format!("no transformation to WGS 84: {e}"))?)
        }
        None => None,
    };
    let mut features = Vec::new();
    for (i, f) in layer.features().enumerate() {
        let geometry = match f.geometry() {
            None => Ok(None),
            Some(g) => {
                let g = match &transform {
                    Some(t) => g.transform(t).map_err(|e| format!("cannot reproject: {e}")),
                    None => Ok(g.clone()),
                };
                g.and_then(|g| g.to_geo().map(Some).map_err(|e| format!("unreadable geometry: {e}")))
            }
        };
        let id = f.fid().map(|fid| fid.to_string());
        let mut sf = SourceFeature::new(i as u64, id, geometry);
        sf.properties = f.fields().map(|(k, v)| (k, v.map(value).unwrap_or(Value::Null))).collect::<Map<_, _>>();
        features.push(sf);
    }
    Ok(Source { features, crs: None })
}

fn value(v: FieldValue) -> Value {
    let num = |x: f64| serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null);
    match v {
        FieldValue::IntegerValue(i) => Value::from(i),
        FieldValue::Integer64Value(i) => Value::from(i),
        FieldValue::RealValue(x) => num(x),
        FieldValue::StringValue(s) => Value::String(s),
        FieldValue::IntegerListValue(l) => Value::from(l),
        FieldValue::Integer64ListValue(l) => Value::from(l),
        FieldValue::RealListValue(l) => Value::Array(l.into_iter().map(num).collect()),
        FieldValue::StringListValue(l) => Value::from(l),
        FieldValue::DateValue(d) => Value::String(d.format("%Y-%m-%d").to_string()),
        FieldValue::DateTimeValue(t) => Value::String(t.to_rfc3339()),
    }
}
