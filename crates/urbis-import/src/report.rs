//! The report of rejected features, `<input>.rejected.geojson` next to the input: each feature
//! with its source attributes and `urbis:index`, `urbis:id`, `urbis:field`, `urbis:reason`, so that
//! it can be opened in QGIS next to the data, fixed and imported again.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::check::RejectedFeature;

/// `<dir>/<input file name>.rejected.geojson`, where dir is `dir` or else the input's folder.
pub fn path_for(input: &Path, dir: Option<&Path>) -> PathBuf {
    let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "import".into());
    let file = format!("{name}.rejected.geojson");
    match dir {
        Some(d) => d.join(file),
        None => input.with_file_name(file),
    }
}

/// Several problems of one feature are joined (`; `) so that the report keeps one row a feature.
pub fn write(input: &Path, dir: Option<&Path>, rejected: &[RejectedFeature]) -> Result<PathBuf, String> {
    let path = path_for(input, dir);
    let features: Vec<Value> = rejected
        .iter()
        .map(|r| {
            let mut props = r.properties.clone();
            let first = r.rejections.first();
            let join = |f: fn(&crate::Rejection) -> &str| r.rejections.iter().map(f).collect::<Vec<_>>().join("; ");
            props.insert("urbis:index".into(), json!(first.map(|x| x.index)));
            props.insert("urbis:id".into(), json!(first.and_then(|x| x.id.clone())));
            props.insert("urbis:field".into(), json!(join(|x| x.field.as_str())));
            props.insert("urbis:reason".into(), json!(join(|x| x.reason.as_str())));
            let geometry = r.geometry.as_ref().map(|g| json!(geojson::Geometry::from(g))).unwrap_or(Value::Null);
            json!({"type": "Feature", "geometry": geometry, "properties": props})
        })
        .collect();
    let doc = json!({"type": "FeatureCollection", "features": features});
    let text = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
