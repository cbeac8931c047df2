//! The record every layer shares: a stable id, an optional WGS 84 geometry, the layer's typed
//! attributes, and `extra`, the source's other attributes kept as JSON so that nothing is dropped.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use geo_types::Geometry;
use serde_json::{Map, Value};

use crate::layer::{FieldType, LayerSchema};

#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub id: String,
    pub geometry: Option<Geometry<f64>>,
    /// Typed attributes, keyed by the layer's field names. Absent and `null` mean the same.
    pub attributes: BTreeMap<String, Value>,
    /// Every other attribute of the source, as it came.
    pub extra: Map<String, Value>,
}

/// A value that does not fit its field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    #[error("field `{field}`: expected {expected}, found {found}")]
    WrongType { field: String, expected: &'static str, found: String },
    #[error("`{field}` is not a field of this layer")]
    UnknownField { field: String },
}

impl Feature {
    pub fn new(id: impl Into<String>, geometry: Option<Geometry<f64>>) -> Self {
        Feature { id: id.into(), geometry, attributes: BTreeMap::new(), extra: Map::new() }
    }

    /// Sets a typed attribute (builder style, for code that makes features).
    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.attributes.insert(field.to_string(), value.into());
        self
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.attributes.get(field).filter(|v| !v.is_null())
    }

    pub fn text(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }

    pub fn real(&self, field: &str) -> Option<f64> {
        self.get(field).and_then(Value::as_f64)
    }

    pub fn integer(&self, field: &str) -> Option<i64> {
        self.get(field).and_then(Value::as_i64)
    }

    /// Brings every attribute to its field's canonical form (numbers from numeric text, dates in
    /// ISO form, …) and drops nulls, so that both stores hold and return the same values. Every
    /// value that does not fit is reported; the ones that fit are kept.
    pub fn normalise(&mut self, schema: &LayerSchema) -> Result<(), Vec<FeatureError>> {
        let mut out = BTreeMap::new();
        let mut errors = vec![];
        for (name, value) in std::mem::take(&mut self.attributes) {
            let Some(field) = schema.field(&name) else {
                errors.push(FeatureError::UnknownField { field: name });
                continue;
            };
            match coerce(&name, field.ty, value) {
                Ok(Some(v)) => {
                    out.insert(name, v);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        self.attributes = out;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// A strong validator of this feature's content (id, geometry, every attribute, private ones
    /// included, and `extra`): the SHA-256 of a canonical serialisation, as 32 hex digits. Equal
    /// features have equal tags whatever store they come from; any change of content changes it.
    /// The tag is bare: HTTP puts it in quotes.
    pub fn etag(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"urbis-feature-1\0");
        canonical::text(&mut out, &self.id);
        match &self.geometry {
            None => out.push(0),
            Some(g) => {
                out.push(1);
                canonical::geometry(&mut out, g);
            }
        }
        canonical::count(&mut out, self.attributes.len());
        for (name, value) in &self.attributes {
            canonical::text(&mut out, name);
            canonical::json(&mut out, value);
        }
        canonical::json(&mut out, &Value::Object(self.extra.clone()));
        let digest = Sha256::digest(&out);
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The byte form [`Feature::etag`] hashes: every item length-prefixed or tagged, so that no two
/// different features serialise alike; object keys sorted, whatever order the store kept them in.
mod canonical {
    use geo_types::{Coord, Geometry, LineString, Polygon};
    use serde_json::Value;

    pub fn count(out: &mut Vec<u8>, n: usize) {
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }

    pub fn text(out: &mut Vec<u8>, s: &str) {
        count(out, s.len());
        out.extend_from_slice(s.as_bytes());
    }

    fn real(out: &mut Vec<u8>, x: f64) {
        // -0.0 == 0.0, so they must hash alike.
        let x = if x == 0.0 { 0.0 } else { x };
        out.extend_from_slice(&x.to_bits().to_le_bytes());
    }

    fn coord(out: &mut Vec<u8>, c: &Coord) {
        real(out, c.x);
        real(out, c.y);
    }

    fn line(out: &mut Vec<u8>, l: &LineString) {
        count(out, l.0.len());
        l.0.iter().for_each(|c| coord(out, c));
    }

    fn polygon(out: &mut Vec<u8>, p: &Polygon) {
        count(out, 1 + p.interiors().len());
        line(out, p.exterior());
        p.interiors().iter().for_each(|r| line(out, r));
    }

    pub fn geometry(out: &mut Vec<u8>, g: &Geometry) {
        match g {
            Geometry::Point(p) => {
                out.push(1);
                coord(out, &p.0);
            }
            Geometry::Line(l) => {
                out.push(2);
                line(out, &LineString::from(vec![l.start, l.end]));
            }
            Geometry::LineString(l) => {
                out.push(2);
                line(out, l);
            }
            Geometry::Polygon(p) => {
                out.push(3);
                polygon(out, p);
            }
            Geometry::Rect(r) => {
                out.push(3);
                polygon(out, &r.to_polygon());
            }
            Geometry::Triangle(t) => {
                out.push(3);
                polygon(out, &t.to_polygon());
            }
            Geometry::MultiPoint(m) => {
                out.push(4);
                count(out, m.0.len());
                m.0.iter().for_each(|p| coord(out, &p.0));
            }
            Geometry::MultiLineString(m) => {
                out.push(5);
                count(out, m.0.len());
                m.0.iter().for_each(|l| line(out, l));
            }
            Geometry::MultiPolygon(m) => {
                out.push(6);
                count(out, m.0.len());
                m.0.iter().for_each(|p| polygon(out, p));
            }
            Geometry::GeometryCollection(c) => {
                out.push(7);
                count(out, c.0.len());
                c.0.iter().for_each(|g| geometry(out, g));
            }
        }
    }

    pub fn json(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Null => out.push(b'n'),
            Value::Bool(b) => out.extend_from_slice(if *b { b"t" } else { b"f" }),
            Value::Number(n) => {
                out.push(b'#');
                text(out, &n.to_string());
            }
            Value::String(s) => {
                out.push(b's');
                text(out, s);
            }
            Value::Array(items) => {
                out.push(b'[');
                count(out, items.len());
                items.iter().for_each(|i| json(out, i));
            }
            Value::Object(map) => {
                out.push(b'{');
                count(out, map.len());
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                for k in keys {
                    text(out, k);
                    json(out, &map[k]);
                }
            }
        }
    }
}

/// Coerces a value to a field type; `Ok(None)` for null or empty text.
pub fn coerce(field: &str, ty: FieldType, value: Value) -> Result<Option<Value>, FeatureError> {
    let wrong = |expected: &'static str, v: &Value| FeatureError::WrongType {
        field: field.to_string(),
        expected,
        found: short(v),
    };
    if value.is_null() {
        return Ok(None);
    }
    if let Value::String(s) = &value {
        if s.trim().is_empty() && ty != FieldType::Text {
            return Ok(None);
        }
    }
    let v = match ty {
        FieldType::Text => match value {
            Value::String(s) => Value::String(s),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            other => return Err(wrong("text", &other)),
        },
        FieldType::Integer => match &value {
            Value::Number(n) if n.is_i64() => value,
            Value::Number(n) => match n.as_f64() {
                Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Value::from(x as i64),
                _ => return Err(wrong("a whole number", &value)),
            },
            Value::String(s) => {
                let t = s.trim().replace(',', "");
                if let Ok(i) = t.parse::<i64>() {
                    Value::from(i)
                } else {
                    match t.parse::<f64>() {
                        Ok(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Value::from(x as i64),
                        _ => return Err(wrong("a whole number", &value)),
                    }
                }
            }
            Value::Bool(b) => Value::from(*b as i64),
            _ => return Err(wrong("a whole number", &value)),
        },
        FieldType::Real => match &value {
            Value::Number(n) => match n.as_f64() {
                Some(x) if x.is_finite() => Value::from(x),
                _ => return Err(wrong("a finite number", &value)),
            },
            Value::String(s) => match s.trim().replace(',', "").parse::<f64>() {
                Ok(x) if x.is_finite() => Value::from(x),
                _ => return Err(wrong("a finite number", &value)),
            },
            _ => return Err(wrong("a number", &value)),
        },
        FieldType::Boolean => match &value {
            Value::Bool(_) => value,
            Value::Number(n) if n.as_i64() == Some(0) => Value::Bool(false),
            Value::Number(n) if n.as_i64() == Some(1) => Value::Bool(true),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" => Value::Bool(true),
                "false" | "f" | "no" | "n" | "0" => Value::Bool(false),
                _ => return Err(wrong("true or false", &value)),
            },
            _ => return Err(wrong("true or false", &value)),
        },
        FieldType::Date => match &value {
            Value::String(s) => Value::String(parse_date(s).ok_or_else(|| wrong("a date (YYYY-MM-DD)", &value))?),
            _ => return Err(wrong("a date (YYYY-MM-DD)", &value)),
        },
        FieldType::DateTime => match &value {
            Value::String(s) => {
                Value::String(parse_datetime(s).ok_or_else(|| wrong("a date and time (RFC 3339)", &value))?)
            }
            Value::Number(n) => {
                // Epoch milliseconds, as Esri-born GeoJSON writes dates.
                let ms = n.as_i64().ok_or_else(|| wrong("a date and time (RFC 3339)", &value))?;
                let t = DateTime::<Utc>::from_timestamp_millis(ms)
                    .ok_or_else(|| wrong("a date and time (RFC 3339)", &value))?;
                Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
            }
            _ => return Err(wrong("a date and time (RFC 3339)", &value)),
        },
        FieldType::Json => match value {
            // Text that holds JSON (a column of a CSV or a TEXT column) becomes that JSON.
            Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
            other => other,
        },
    };
    Ok(Some(v))
}

fn parse_date(s: &str) -> Option<String> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.format("%Y-%m-%d").to_string());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%m/%d/%Y") {
        return Some(d.format("%Y-%m-%d").to_string());
    }
    parse_datetime(s).map(|t| t[..10].to_string())
}

/// Parses the date-time forms met in city data and returns RFC 3339 in UTC with milliseconds,
/// the form GeoPackage prescribes for DATETIME (`2024-05-01T09:30:00.000Z`).
pub fn parse_datetime(s: &str) -> Option<String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Millis, true));
    }
    // PostgreSQL's text form: `2024-05-01 09:30:00+00`.
    for fmt in ["%Y-%m-%d %H:%M:%S%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Millis, true));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f", "%Y/%m/%d %H:%M:%S%#z"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true));
        }
    }
    for fmt in ["%Y-%m-%d", "%m/%d/%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true));
        }
    }
    None
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coercion_brings_values_to_their_field_type() {
        assert_eq!(coerce("n", FieldType::Integer, json!("1,204")).unwrap(), Some(json!(1204)));
        assert_eq!(coerce("n", FieldType::Integer, json!(3.0)).unwrap(), Some(json!(3)));
        assert!(coerce("n", FieldType::Integer, json!(3.5)).is_err());
        assert_eq!(coerce("x", FieldType::Real, json!("2.5")).unwrap(), Some(json!(2.5)));
        assert_eq!(coerce("x", FieldType::Real, json!(" ")).unwrap(), None);
        assert_eq!(coerce("b", FieldType::Boolean, json!("Y")).unwrap(), Some(json!(true)));
        assert_eq!(coerce("d", FieldType::Date, json!("5/3/2012")).unwrap(), Some(json!("2012-05-03")));
        assert_eq!(
            coerce("t", FieldType::DateTime, json!("2024-05-01 09:30:00+02")).unwrap(),
            Some(json!("2024-05-01T07:30:00.000Z"))
        );
        assert_eq!(
            coerce("t", FieldType::DateTime, json!(1_336_003_200_000i64)).unwrap(),
            Some(json!("2012-05-03T00:00:00.000Z"))
        );
        assert_eq!(coerce("j", FieldType::Json, json!("[\"a\"]")).unwrap(), Some(json!(["a"])));
        let err = coerce("height", FieldType::Real, json!("tall")).unwrap_err().to_string();
        assert_eq!(err, "field `height`: expected a finite number, found \"tall\"");
    }

    #[test]
    fn etags_follow_content_not_key_order() {
        use geo_types::{polygon, MultiPolygon};
        let square = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)];
        let base =
            Feature::new("p1", Some(MultiPolygon(vec![square]).into())).with("code", "1-2").with("area_m2", 12.5);
        let tag = base.etag();
        assert_eq!(tag.len(), 32);
        assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(base.clone().etag(), tag, "a function of content only");

        let mut a = base.clone();
        a.extra = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": null}}"#).unwrap();
        let mut b = base.clone();
        b.extra = serde_json::from_str(r#"{"a": {"x": null, "y": [1, 2]}, "b": 1}"#).unwrap();
        assert_eq!(a.etag(), b.etag(), "object key order is not content");
        assert_ne!(a.etag(), tag);

        let changed = [
            base.clone().with("area_m2", 12.6),
            base.clone().with("code", "1-3"),
            base.clone().with("address", "1 Main St"),
            Feature { id: "p2".into(), ..base.clone() },
            Feature { geometry: None, ..base.clone() },
            Feature { geometry: Some(geo_types::Point::new(0.0, 0.0).into()), ..base.clone() },
        ];
        for c in &changed {
            assert_ne!(c.etag(), tag, "{c:?}");
        }
        // A text "1" and a number 1 differ; an id and a field value cannot run into each other.
        assert_ne!(base.clone().with("extra_n", "1").etag(), base.clone().with("extra_n", 1).etag());
        assert_ne!(Feature::new("ab", None).with("c", "d").etag(), Feature::new("a", None).with("bc", "d").etag());
    }
}
