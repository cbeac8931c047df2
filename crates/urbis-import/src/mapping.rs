//! From source fields to layer fields: explicit renames, same-name matches (ignoring case),
//! constants, value recoding, the id, and a joined table. Whatever the layer has no field for
//! goes to `extra` unchanged, so an import never drops an attribute.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::{Map, Value};
use urbis_core::{Feature, LayerSchema};

use crate::source::{as_key, lookup, SourceFeature};
use crate::{ImportError, Join, Mapping};

impl Mapping {
    /// Loads a mapping from TOML; a join table's path is resolved against the mapping's folder.
    pub fn from_toml_file(path: &Path) -> Result<Mapping, ImportError> {
        let err = |reason: String| ImportError::Mapping { file: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let mut mapping: Mapping = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        if let Some(join) = &mut mapping.join {
            if join.file.is_relative() {
                let folder = path.parent().unwrap_or(Path::new(""));
                join.file = folder.join(&join.file);
            }
        }
        Ok(mapping)
    }

    /// Mistakes that would otherwise silently leave a field empty: a name that is not a layer
    /// field, or a source field that no feature has.
    pub(crate) fn check(&self, schema: &LayerSchema, features: &[SourceFeature]) -> Result<(), String> {
        let keys = self.fields.keys().chain(self.constants.keys()).chain(self.values.keys());
        for k in keys {
            if schema.field(k).is_none() {
                let known: Vec<_> = schema.fields.iter().map(|f| f.name).collect();
                return Err(format!("`{k}` is not a field of {}; its fields are: {}", schema.table, known.join(", ")));
            }
        }
        if features.is_empty() {
            return Ok(());
        }
        let present = |name: &str| features.iter().any(|f| lookup(&f.properties, name).is_some());
        for (field, source) in &self.fields {
            if !present(source) {
                return Err(format!("`{field}` = `{source}`, but no feature has a field `{source}`{}", hint(features)));
            }
        }
        if let Some(id) = &self.id {
            if !present(id) {
                return Err(format!("id = `{id}`, but no feature has a field `{id}`{}", hint(features)));
            }
        }
        Ok(())
    }
}

fn hint(features: &[SourceFeature]) -> String {
    let names: BTreeSet<&String> = features.iter().take(100).flat_map(|f| f.properties.keys()).collect();
    let names: Vec<&str> = names.into_iter().map(String::as_str).collect();
    format!("; the source's fields are: {}", names.join(", "))
}

/// A joined table, keyed. A key with several rows (condominium units under one parcel) takes the
/// first row and records how many there were in `urbis:join_rows`.
pub struct JoinTable {
    key: String,
    rows: HashMap<String, (Map<String, Value>, usize)>,
}

impl JoinTable {
    pub fn load(join: &Join) -> Result<JoinTable, String> {
        let (headers, rows) =
            crate::csv::read_table(&join.file).map_err(|e| format!("join table {}: {e}", join.file.display()))?;
        let k = headers.iter().position(|h| h.eq_ignore_ascii_case(&join.table_key)).ok_or_else(|| {
            format!(
                "join table {} has no column `{}`; its columns are: {}",
                join.file.display(),
                join.table_key,
                headers.join(", ")
            )
        })?;
        let mut table: HashMap<String, (Map<String, Value>, usize)> = HashMap::new();
        for row in rows {
            let key = row.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
            table.entry(key).and_modify(|(_, n)| *n += 1).or_insert_with(|| (crate::csv::properties(&headers, row), 1));
        }
        Ok(JoinTable { key: join.key.clone(), rows: table })
    }

    /// Adds the table's columns to a feature's properties; the feature's own values win.
    pub fn apply(&self, props: &mut Map<String, Value>) {
        let Some(key) = lookup(props, &self.key).and_then(|(_, v)| as_key(v)) else { return };
        let Some((row, n)) = self.rows.get(key.trim()) else { return };
        for (k, v) in row {
            if lookup(props, k).is_none() {
                props.insert(k.clone(), v.clone());
            }
        }
        if *n > 1 {
            props.insert("urbis:join_rows".into(), Value::from(*n));
        }
    }
}

/// Makes the layer's feature from a source feature, taking its properties (not copying them:
/// an OSM way has a dozen tags, and copying every one of them for every feature was much of an
/// import's time). `Err` names the id problem (field `id`). The properties the layer's fields and
/// the id took come back as the third value: with the feature's `extra` they are the source's
/// properties again (see [`restore`]), for the report of a rejected feature.
pub fn apply(
    schema: &LayerSchema,
    mapping: &Mapping,
    source: &mut SourceFeature,
    geometry: Option<geo_types::Geometry>,
) -> (Feature, Option<String>, Map<String, Value>) {
    // `extra` and `taken` together always hold the source's properties: every look-up sees them
    // all, as it would the source's own map (a source field can feed two layer fields).
    let mut extra = std::mem::take(&mut source.properties);
    let mut taken = Map::new();
    let mut id_problem = None;
    let id = match &mapping.id {
        Some(name) => match take(&mut extra, &mut taken, name).and_then(as_key) {
            Some(id) if !id.trim().is_empty() => id,
            _ => {
                id_problem = Some(format!("the id field `{name}` is missing or empty"));
                String::new()
            }
        },
        None => source.id.clone().unwrap_or_else(|| format!("{}-{}", schema.table, source.index)),
    };
    let mut feature = Feature::new(id, geometry);
    for field in schema.fields {
        let source_name = mapping.fields.get(field.name).map(String::as_str).unwrap_or(field.name);
        let mut value = take(&mut extra, &mut taken, source_name).cloned().unwrap_or(Value::Null);
        if let Some(recode) = mapping.values.get(field.name) {
            if let Some(new) = as_key(&value).and_then(|k| recode.get(&k)) {
                value = toml_to_json(new);
            }
        }
        if value.is_null() {
            if let Some(c) = mapping.constants.get(field.name) {
                value = toml_to_json(c);
            }
        }
        if !value.is_null() {
            feature.attributes.insert(field.name.to_string(), value);
        }
    }
    feature.extra = extra;
    (feature, id_problem, taken)
}

/// The source's properties again, from what [`apply`] left in `extra` and what it took.
pub fn restore(extra: &Map<String, Value>, taken: Map<String, Value>) -> Map<String, Value> {
    let mut props = extra.clone();
    props.extend(taken);
    props
}

/// Looks `name` up as [`lookup`] does in the source's properties (held in `extra` and `taken`
/// together: exactly first, then ignoring case, the first such key in key order), moves it to
/// `taken` if it was still in `extra`, and returns its value.
fn take<'a>(extra: &mut Map<String, Value>, taken: &'a mut Map<String, Value>, name: &str) -> Option<&'a Value> {
    let key = if extra.contains_key(name) || taken.contains_key(name) {
        name.to_string()
    } else {
        let first = |m: &Map<String, Value>| m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
        match (first(extra), first(taken)) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        }
    };
    if let Some((k, v)) = extra.remove_entry(&key) {
        taken.insert(k, v);
    }
    taken.get(&key)
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().expect("an object").clone()
    }

    #[test]
    fn fields_are_taken_and_the_source_properties_restored() {
        let schema = urbis_core::LayerId::Parcels.schema();
        let mut mapping = Mapping { id: Some("ml".into()), ..Mapping::default() };
        // One source field feeds the id and a field; `address` is found ignoring case.
        mapping.fields.insert("code".into(), "ML".into());
        mapping.fields.insert("address".into(), "Addr".into());
        let original = props(json!({"ML": "12-34", "ADDR": "1 Main St", "other": 7, "more": [1, 2]}));
        let mut source = SourceFeature::new(3, None, Ok(None));
        source.properties = original.clone();
        let (feature, problem, taken) = apply(schema, &mapping, &mut source, None);
        assert_eq!(problem, None);
        assert_eq!(feature.id, "12-34");
        assert_eq!(feature.get("code"), Some(&json!("12-34")));
        assert_eq!(feature.get("address"), Some(&json!("1 Main St")));
        assert_eq!(feature.extra, props(json!({"other": 7, "more": [1, 2]})));
        assert!(source.properties.is_empty(), "taken, not copied");
        assert_eq!(restore(&feature.extra, taken), original);
    }

    #[test]
    fn an_exact_name_wins_over_one_that_differs_in_case() {
        let schema = urbis_core::LayerId::Parcels.schema();
        let mut source = SourceFeature::new(0, Some("p1".into()), Ok(None));
        source.properties = props(json!({"CODE": "upper", "code": "exact"}));
        let (feature, _, taken) = apply(schema, &Mapping::default(), &mut source, None);
        assert_eq!(feature.get("code"), Some(&json!("exact")));
        assert_eq!(feature.extra, props(json!({"CODE": "upper"})));
        assert_eq!(restore(&feature.extra, taken), props(json!({"CODE": "upper", "code": "exact"})));
    }
}
