//! CQL2 JSON: `{"op": "and", "args": [...]}`, `{"property": "name"}`, `{"date": "…"}`,
//! `{"timestamp": "…"}`, `{"bbox": […]}` and GeoJSON geometries. Errors carry a JSON pointer.

use geo_types::Geometry;
use serde_json::{json, Value};

use super::{At, CmpOp, Cql2Error, Cql2ErrorKind, Expr, GeomOperand, Literal, Scalar, Source, SpatialOp};

fn err(ptr: &str, message: impl Into<String>) -> Cql2Error {
    Source::Json.error(Cql2ErrorKind::Syntax, &At::Pointer(ptr.to_string()), message)
}

fn invalid(ptr: &str, message: impl Into<String>) -> Cql2Error {
    Source::Json.error(Cql2ErrorKind::Invalid, &At::Pointer(ptr.to_string()), message)
}

pub(super) fn parse(v: &Value) -> Result<Expr, Cql2Error> {
    expr(v, "")
}

/// The `args` of an operation with exactly `n` of them.
fn args<'a>(v: &'a Value, ptr: &str, op: &str, n: Option<usize>) -> Result<&'a [Value], Cql2Error> {
    let a = v.get("args").and_then(Value::as_array).ok_or_else(|| err(ptr, format!("`{op}` needs an `args` array")))?;
    if let Some(n) = n {
        if a.len() != n {
            return Err(err(&format!("{ptr}/args"), format!("`{op}` takes {n} arguments, not {}", a.len())));
        }
    }
    Ok(a)
}

fn expr(v: &Value, ptr: &str) -> Result<Expr, Cql2Error> {
    let Some(obj) = v.as_object() else {
        return Err(err(ptr, format!("expected a predicate object `{{\"op\": …, \"args\": […]}}`, found {}", kind(v))));
    };
    let Some(op) = obj.get("op").and_then(Value::as_str) else {
        return Err(err(ptr, "a predicate needs an `op`"));
    };
    let at = |i: usize| format!("{ptr}/args/{i}");
    let lower = op.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "and" | "or" => {
            let a = args(v, ptr, op, None)?;
            if a.len() < 2 {
                return Err(err(&format!("{ptr}/args"), format!("`{op}` takes at least 2 arguments")));
            }
            let parts = a.iter().enumerate().map(|(i, x)| expr(x, &at(i))).collect::<Result<Vec<_>, _>>()?;
            if lower == "and" {
                Expr::And(parts)
            } else {
                Expr::Or(parts)
            }
        }
        "not" => Expr::Not(Box::new(expr(&args(v, ptr, op, Some(1))?[0], &at(0))?)),
        "=" | "<>" | "<" | "<=" | ">" | ">=" => {
            let a = args(v, ptr, op, Some(2))?;
            Expr::Compare {
                op: CmpOp::from_symbol(op).expect("listed"),
                left: scalar(&a[0], &at(0))?,
                right: scalar(&a[1], &at(1))?,
            }
        }
        "like" => {
            let a = args(v, ptr, op, Some(2))?;
            Expr::Like { value: scalar(&a[0], &at(0))?, pattern: scalar(&a[1], &at(1))? }
        }
        "between" => {
            let a = args(v, ptr, op, Some(3))?;
            Expr::Between { value: scalar(&a[0], &at(0))?, low: scalar(&a[1], &at(1))?, high: scalar(&a[2], &at(2))? }
        }
        "in" => {
            let a = args(v, ptr, op, Some(2))?;
            let items = a[1].as_array().ok_or_else(|| err(&at(1), "`in` takes a value and an array of values"))?;
            if items.is_empty() {
                return Err(err(&at(1), "`in` needs at least one value"));
            }
            let list = items
                .iter()
                .enumerate()
                .map(|(i, x)| scalar(x, &format!("{}/{i}", at(1))))
                .collect::<Result<_, _>>()?;
            Expr::In { value: scalar(&a[0], &at(0))?, list }
        }
        "isnull" => Expr::IsNull(scalar(&args(v, ptr, op, Some(1))?[0], &at(0))?),
        "s_intersects" | "s_within" | "s_contains" => {
            let a = args(v, ptr, op, Some(2))?;
            let op = match lower.as_str() {
                "s_intersects" => SpatialOp::Intersects,
                "s_within" => SpatialOp::Within,
                _ => SpatialOp::Contains,
            };
            Expr::Spatial { op, left: operand(&a[0], &at(0))?, right: operand(&a[1], &at(1))? }
        }
        "s_dwithin" => {
            let a = args(v, ptr, op, Some(3))?;
            let metres = a[2].as_f64().filter(|m| m.is_finite() && *m >= 0.0);
            let Some(metres) = metres else {
                return Err(invalid(&at(2), "`s_dwithin` needs a distance in metres ≥ 0"));
            };
            Expr::DWithin { left: operand(&a[0], &at(0))?, right: operand(&a[1], &at(1))?, metres }
        }
        _ => {
            return Err(err(
                &format!("{ptr}/op"),
                format!(
                    "unknown operator `{op}`; the operators are and, or, not, =, <>, <, <=, >, >=, like, between, \
                     in, isNull, s_intersects, s_within, s_contains, s_dwithin"
                ),
            ))
        }
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn scalar(v: &Value, ptr: &str) -> Result<Scalar, Cql2Error> {
    let at = At::Pointer(ptr.to_string());
    let lit = |value| Ok(Scalar::Literal { value, at: at.clone() });
    match v {
        Value::String(s) => lit(Literal::Text(s.clone())),
        Value::Bool(b) => lit(Literal::Boolean(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => lit(Literal::Integer(i)),
            (None, Some(x)) if x.is_finite() => lit(Literal::Real(x)),
            _ => Err(invalid(ptr, format!("{n} is not a finite number"))),
        },
        Value::Object(o) => {
            if let Some(p) = o.get("property") {
                let name = p.as_str().ok_or_else(|| err(&format!("{ptr}/property"), "a property name is a string"))?;
                return Ok(Scalar::Property { name: name.to_string(), at });
            }
            if let Some(d) = o.get("date") {
                let text = d.as_str().unwrap_or_default();
                return match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                    Ok(d) => lit(Literal::Date(d.format("%Y-%m-%d").to_string())),
                    Err(_) => Err(invalid(&format!("{ptr}/date"), format!("{d} is not a date 'YYYY-MM-DD'"))),
                };
            }
            if let Some(t) = o.get("timestamp") {
                let text = t.as_str().unwrap_or_default();
                return match chrono::DateTime::parse_from_rfc3339(text) {
                    Ok(t) => lit(Literal::Timestamp(
                        t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    )),
                    Err(_) => Err(invalid(&format!("{ptr}/timestamp"), format!("{t} is not an RFC 3339 timestamp"))),
                };
            }
            if o.get("op").and_then(Value::as_str).is_some_and(|op| op.eq_ignore_ascii_case("casei")) {
                let a = args(v, ptr, "casei", Some(1))?;
                return Ok(Scalar::Casei(Box::new(scalar(&a[0], &format!("{ptr}/args/0"))?)));
            }
            Err(err(
                ptr,
                "expected a property `{\"property\": …}`, a literal, `{\"date\": …}`, `{\"timestamp\": …}` or casei",
            ))
        }
        other => Err(err(ptr, format!("expected a property or a literal, found {}", kind(other)))),
    }
}

fn operand(v: &Value, ptr: &str) -> Result<GeomOperand, Cql2Error> {
    let at = At::Pointer(ptr.to_string());
    let Some(o) = v.as_object() else {
        return Err(err(ptr, format!("expected a property or a GeoJSON geometry, found {}", kind(v))));
    };
    if let Some(p) = o.get("property") {
        let name = p.as_str().ok_or_else(|| err(&format!("{ptr}/property"), "a property name is a string"))?;
        return Ok(GeomOperand::Property { name: name.to_string(), at });
    }
    if let Some(b) = o.get("bbox") {
        let nums: Option<Vec<f64>> = b.as_array().map(|a| a.iter().map(Value::as_f64).collect()).unwrap_or(None);
        let [x0, y0, x1, y1] = match nums.as_deref() {
            Some([a, b, c, d]) => [*a, *b, *c, *d],
            Some([a, b, _, d, e, _]) => [*a, *b, *d, *e],
            _ => return Err(invalid(&format!("{ptr}/bbox"), "a bbox is an array of 4 numbers (or 6 with heights)")),
        };
        if x0 > x1 || y0 > y1 {
            return Err(invalid(&format!("{ptr}/bbox"), "a bbox is min x, min y, max x, max y with min ≤ max"));
        }
        return Ok(GeomOperand::Literal { geometry: super::text::bbox_polygon(x0, y0, x1, y1), at });
    }
    let geometry = geojson::Geometry::from_json_value(v.clone())
        .map_err(|e| invalid(ptr, format!("not a GeoJSON geometry: {e}")))
        .and_then(|g| Geometry::try_from(g).map_err(|e| invalid(ptr, format!("not a usable geometry: {e}"))))?;
    Ok(GeomOperand::Literal { geometry, at })
}

// ---- writing ----

pub(super) fn write(e: &Expr) -> Value {
    let op = |name: &str, args: Vec<Value>| json!({ "op": name, "args": args });
    match e {
        Expr::And(v) => op("and", v.iter().map(write).collect()),
        Expr::Or(v) => op("or", v.iter().map(write).collect()),
        Expr::Not(x) => op("not", vec![write(x)]),
        Expr::Compare { op: o, left, right } => op(o.symbol(), vec![scalar_json(left), scalar_json(right)]),
        Expr::Like { value, pattern } => op("like", vec![scalar_json(value), scalar_json(pattern)]),
        Expr::Between { value, low, high } => {
            op("between", vec![scalar_json(value), scalar_json(low), scalar_json(high)])
        }
        Expr::In { value, list } => {
            op("in", vec![scalar_json(value), Value::Array(list.iter().map(scalar_json).collect())])
        }
        Expr::IsNull(s) => op("isNull", vec![scalar_json(s)]),
        Expr::Spatial { op: o, left, right } => {
            op(&o.name().to_ascii_lowercase(), vec![operand_json(left), operand_json(right)])
        }
        Expr::DWithin { left, right, metres } => {
            op("s_dwithin", vec![operand_json(left), operand_json(right), json!(metres)])
        }
    }
}

fn scalar_json(s: &Scalar) -> Value {
    match s {
        Scalar::Property { name, .. } => json!({ "property": name }),
        Scalar::Casei(x) => json!({ "op": "casei", "args": [scalar_json(x)] }),
        Scalar::Literal { value, .. } => match value {
            Literal::Text(t) => json!(t),
            Literal::Integer(i) => json!(i),
            Literal::Real(x) => json!(x),
            Literal::Boolean(b) => json!(b),
            Literal::Date(d) => json!({ "date": d }),
            Literal::Timestamp(t) => json!({ "timestamp": t }),
        },
    }
}

fn operand_json(o: &GeomOperand) -> Value {
    match o {
        GeomOperand::Property { name, .. } => json!({ "property": name }),
        GeomOperand::Literal { geometry, .. } => {
            serde_json::to_value(geojson::Geometry::from(geometry)).unwrap_or(Value::Null)
        }
    }
}
