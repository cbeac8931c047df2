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

/// Makes the layer's feature from a source feature. `Err` names the id problem (field `id`).
pub fn apply(
    schema: &LayerSchema,
    mapping: &Mapping,
    source: &SourceFeature,
    geometry: Option<geo_types::Geometry>,
) -> (Feature, Option<String>) {
    let mut extra = source.properties.clone();
    let mut id_problem = None;
    let id = match &mapping.id {
        Some(name) => match lookup(&source.properties, name).and_then(|(k, v)| Some((k.clone(), as_key(v)?))) {
            Some((key, id)) if !id.trim().is_empty() => {
                // The id is the id; keeping it in `extra` too would store it twice.
                extra.remove(&key);
                id
            }
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
        let mut value = match lookup(&source.properties, source_name) {
            Some((key, v)) => {
                let key = key.clone();
                extra.remove(&key);
                v.clone()
            }
            None => Value::Null,
        };
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
    (feature, id_problem)
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
