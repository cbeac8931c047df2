//! GeoJSON: a FeatureCollection (or one Feature), read feature by feature so that one broken
//! geometry rejects that feature, not the file. The legacy `crs` member is honoured.

use serde_json::Value;

use crate::source::{from_geojson, Source, SourceFeature};

/// Reads a parsed GeoJSON document. `Err` when it is not GeoJSON features at all.
pub fn read(doc: Value) -> Result<Source, String> {
    let crs = legacy_crs(&doc);
    let features = match doc {
        Value::Object(mut o) => match o.get("type").and_then(Value::as_str) {
            Some("FeatureCollection") => match o.remove("features") {
                Some(Value::Array(fs)) => fs,
                _ => return Err("a FeatureCollection without a `features` array".into()),
            },
            Some("Feature") => vec![Value::Object(o)],
            Some(other) => return Err(format!("GeoJSON of type `{other}`, expected a FeatureCollection")),
            None => return Err("no `type` member: not GeoJSON".into()),
        },
        _ => return Err("not a JSON object: not GeoJSON".into()),
    };
    let features = features.into_iter().enumerate().map(|(i, f)| feature(i as u64, f)).collect();
    Ok(Source { features, crs })
}

fn feature(index: u64, value: Value) -> SourceFeature {
    let Value::Object(mut o) = value else {
        return SourceFeature::new(index, None, Err("the feature is not a JSON object".into()));
    };
    let id = o.get("id").and_then(crate::source::as_key);
    let mut closed = 0;
    let geometry = match o.remove("geometry") {
        None | Some(Value::Null) => Ok(None),
        Some(g) => geojson::Geometry::from_json_value(g)
            .map_err(|e| format!("unreadable GeoJSON geometry: {e}"))
            .and_then(|g| from_geojson(&g.value, &mut closed))
            .map(Some),
    };
    let mut f = SourceFeature::new(index, id, geometry);
    f.closed_rings = closed;
    if let Some(Value::Object(props)) = o.remove("properties") {
        f.properties = props;
    }
    f
}

/// `"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2249"}}` (GeoJSON 2008).
pub fn legacy_crs(doc: &Value) -> Option<String> {
    let crs = doc.get("crs")?;
    crs.pointer("/properties/name").or_else(|| crs.pointer("/properties/code")).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(format!("EPSG:{n}")),
        _ => None,
    })
}
