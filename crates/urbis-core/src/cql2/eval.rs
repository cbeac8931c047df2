//! The evaluator: a checked filter on one feature, with SQL's three-valued logic (`None` is
//! unknown) so that it agrees with a database evaluating the same filter.

use std::cmp::Ordering;

use geo::{Contains, Intersects, Within};
use geo_types::Geometry;
use serde_json::Value;

use super::{CmpOp, Expr, GeomOperand, Literal, Scalar, SpatialOp};
use crate::{Feature, FieldType, LayerId};

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Text(String),
    Number(f64),
    Boolean(bool),
    /// Dates (`YYYY-MM-DD`) and timestamps (RFC 3339 UTC with milliseconds) in their canonical
    /// text, which orders as they do.
    Time(String),
}

impl Val {
    fn cmp(&self, other: &Val) -> Option<Ordering> {
        match (self, other) {
            (Val::Text(a), Val::Text(b)) | (Val::Time(a), Val::Time(b)) => Some(a.cmp(b)),
            (Val::Number(a), Val::Number(b)) => a.partial_cmp(b),
            (Val::Boolean(a), Val::Boolean(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

pub(super) fn eval(layer: LayerId, e: &Expr, f: &Feature) -> Option<bool> {
    match e {
        Expr::And(parts) => {
            let mut result = Some(true);
            for p in parts {
                match eval(layer, p, f) {
                    Some(false) => return Some(false),
                    None => result = None,
                    Some(true) => {}
                }
            }
            result
        }
        Expr::Or(parts) => {
            let mut result = Some(false);
            for p in parts {
                match eval(layer, p, f) {
                    Some(true) => return Some(true),
                    None => result = None,
                    Some(false) => {}
                }
            }
            result
        }
        Expr::Not(x) => eval(layer, x, f).map(|b| !b),
        Expr::Compare { op, left, right } => {
            let ord = value(layer, left, f)?.cmp(&value(layer, right, f)?)?;
            Some(match op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::Ne => ord != Ordering::Equal,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
            })
        }
        Expr::Like { value: v, pattern } => match (value(layer, v, f)?, value(layer, pattern, f)?) {
            (Val::Text(t), Val::Text(p)) => Some(like(&t, &p)),
            _ => None,
        },
        Expr::Between { value: v, low, high } => {
            let x = value(layer, v, f)?;
            let lo = value(layer, low, f).and_then(|l| x.cmp(&l)).map(|o| o != Ordering::Less);
            let hi = value(layer, high, f).and_then(|h| x.cmp(&h)).map(|o| o != Ordering::Greater);
            // `lo AND hi`, as SQL defines BETWEEN.
            match (lo, hi) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            }
        }
        Expr::In { value: v, list } => {
            let x = value(layer, v, f)?;
            let mut result = Some(false);
            for item in list {
                match value(layer, item, f).and_then(|y| x.cmp(&y)) {
                    Some(Ordering::Equal) => return Some(true),
                    None => result = None,
                    Some(_) => {}
                }
            }
            result
        }
        Expr::IsNull(s) => Some(value(layer, s, f).is_none()),
        Expr::Spatial { op, left, right } => {
            let (a, b) = (geometry(left, f)?, geometry(right, f)?);
            Some(match op {
                SpatialOp::Intersects => a.intersects(b),
                SpatialOp::Within => a.is_within(b),
                SpatialOp::Contains => a.contains(b),
            })
        }
        Expr::DWithin { left, right, metres } => {
            let (a, b) = (geometry(left, f)?, geometry(right, f)?);
            // From the literal, as the stores' `within_distance` measures.
            let d = if matches!(left, GeomOperand::Literal { .. }) {
                crate::geodesy::distance_m(a, b)
            } else {
                crate::geodesy::distance_m(b, a)
            };
            d.is_finite().then_some(d <= *metres)
        }
    }
}

fn geometry<'a>(o: &'a GeomOperand, f: &'a Feature) -> Option<&'a Geometry> {
    match o {
        GeomOperand::Literal { geometry, .. } => Some(geometry),
        GeomOperand::Property { .. } => f.geometry.as_ref(),
    }
}

fn value(layer: LayerId, s: &Scalar, f: &Feature) -> Option<Val> {
    match s {
        Scalar::Literal { value, .. } => Some(match value {
            Literal::Text(t) => Val::Text(t.clone()),
            Literal::Integer(i) => Val::Number(*i as f64),
            Literal::Real(x) => Val::Number(*x),
            Literal::Boolean(b) => Val::Boolean(*b),
            Literal::Date(d) | Literal::Timestamp(d) => Val::Time(d.clone()),
        }),
        Scalar::Casei(x) => match value(layer, x, f)? {
            Val::Text(t) => Some(Val::Text(t.to_lowercase())),
            other => Some(other),
        },
        Scalar::Property { name, .. } if name == "id" => Some(Val::Text(f.id.clone())),
        Scalar::Property { name, .. } => {
            let ty = layer.schema().field(name)?.ty;
            let v = f.get(name)?;
            match (ty, v) {
                (FieldType::Text, Value::String(s)) => Some(Val::Text(s.clone())),
                (FieldType::Integer | FieldType::Real, Value::Number(n)) => n.as_f64().map(Val::Number),
                (FieldType::Boolean, Value::Bool(b)) => Some(Val::Boolean(*b)),
                (FieldType::Date | FieldType::DateTime, Value::String(s)) => Some(Val::Time(s.clone())),
                _ => None,
            }
        }
    }
}

/// SQL `LIKE`: `%` any run of characters, `_` any one, `\` makes the next one literal.
pub(super) fn like(text: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Any,
        One,
        Char(char),
    }
    let mut toks = vec![];
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        toks.push(match c {
            '%' => Tok::Any,
            '_' => Tok::One,
            '\\' => Tok::Char(it.next().unwrap_or('\\')),
            c => Tok::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // matched[j]: the first i characters of text match the first j tokens.
    let mut matched = vec![false; toks.len() + 1];
    matched[0] = true;
    for j in 1..=toks.len() {
        matched[j] = matched[j - 1] && toks[j - 1] == Tok::Any;
    }
    for &c in &text {
        let mut next = vec![false; toks.len() + 1];
        for j in 1..=toks.len() {
            next[j] = match toks[j - 1] {
                Tok::Any => next[j - 1] || matched[j],
                Tok::One => matched[j - 1],
                Tok::Char(p) => matched[j - 1] && p == c,
            };
        }
        matched = next;
    }
    matched[toks.len()]
}
