//! The check of a filter against a layer: what may be queried, and the type of every operand.

use super::{At, Cql2Error, Cql2ErrorKind, Expr, GeomOperand, Literal, Scalar, Source};
use crate::{FieldType, GeometryKind, LayerId};

/// The name of the spatial queryable.
pub const GEOMETRY: &str = "geometry";

/// The type of a queryable, as filters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryableType {
    Text,
    /// Integer or real: compared as numbers.
    Number,
    Integer,
    Boolean,
    Date,
    Timestamp,
    Geometry(GeometryKind),
}

/// A property a filter may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Queryable {
    pub name: &'static str,
    pub ty: QueryableType,
    pub description: &'static str,
}

/// What a layer lets filters use: `id`, its public fields except JSON ones, and `geometry` if it
/// has one (for spatial predicates).
pub fn queryables(layer: LayerId) -> Vec<Queryable> {
    let schema = layer.schema();
    let mut out = vec![Queryable { name: "id", ty: QueryableType::Text, description: "feature id" }];
    for f in schema.fields.iter().filter(|f| !f.private) {
        let ty = match f.ty {
            FieldType::Text => QueryableType::Text,
            FieldType::Integer => QueryableType::Integer,
            FieldType::Real => QueryableType::Number,
            FieldType::Boolean => QueryableType::Boolean,
            FieldType::Date => QueryableType::Date,
            FieldType::DateTime => QueryableType::Timestamp,
            FieldType::Json => continue,
        };
        out.push(Queryable { name: f.name, ty, description: f.description });
    }
    if schema.has_geometry() {
        out.push(Queryable { name: GEOMETRY, ty: QueryableType::Geometry(schema.geometry), description: "geometry" });
    }
    out
}

/// The type of a scalar operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Text,
    Number,
    Boolean,
    Date,
    Timestamp,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Text => "text",
            Ty::Number => "a number",
            Ty::Boolean => "a boolean",
            Ty::Date => "a date",
            Ty::Timestamp => "a timestamp",
        }
    }
}

struct Checker<'a> {
    layer: LayerId,
    src: Source<'a>,
}

pub(super) fn check(layer: LayerId, e: &Expr, src: Source) -> Result<(), Cql2Error> {
    Checker { layer, src }.expr(e)
}

impl Checker<'_> {
    fn invalid(&self, at: &At, message: impl Into<String>) -> Cql2Error {
        self.src.error(Cql2ErrorKind::Invalid, at, message)
    }

    fn unknown(&self, name: &str, at: &At) -> Cql2Error {
        let names: Vec<&str> = queryables(self.layer).iter().map(|q| q.name).collect();
        self.src.error(
            Cql2ErrorKind::UnknownProperty(name.to_string()),
            at,
            format!("unknown property `{name}` of {}; the queryables are: {}", self.layer, names.join(", ")),
        )
    }

    fn expr(&self, e: &Expr) -> Result<(), Cql2Error> {
        match e {
            Expr::And(v) | Expr::Or(v) => v.iter().try_for_each(|x| self.expr(x)),
            Expr::Not(x) => self.expr(x),
            Expr::Compare { op, left, right } => {
                let t = self.same(left, right)?;
                if t == Ty::Boolean && !matches!(op, super::CmpOp::Eq | super::CmpOp::Ne) {
                    return Err(
                        self.invalid(left.at(), format!("booleans compare with = and <> only, not {}", op.symbol()))
                    );
                }
                Ok(())
            }
            Expr::Like { value, pattern } => {
                for s in [value, pattern] {
                    let t = self.scalar(s)?;
                    if t != Ty::Text {
                        return Err(
                            self.invalid(s.at(), format!("LIKE works on text; {} is {}", describe(s), t.name()))
                        );
                    }
                }
                Ok(())
            }
            Expr::Between { value, low, high } => {
                let t = self.same(value, low)?;
                self.same(value, high)?;
                if t == Ty::Boolean {
                    return Err(self.invalid(value.at(), "BETWEEN does not apply to booleans"));
                }
                Ok(())
            }
            Expr::In { value, list } => list.iter().try_for_each(|s| self.same(value, s).map(|_| ())),
            Expr::IsNull(s) => self.scalar(s).map(|_| ()),
            Expr::Spatial { left, right, .. } | Expr::DWithin { left, right, .. } => {
                self.operand(left)?;
                self.operand(right)
            }
        }
    }

    /// Both operands' type, which must be one.
    fn same(&self, a: &Scalar, b: &Scalar) -> Result<Ty, Cql2Error> {
        let (ta, tb) = (self.scalar(a)?, self.scalar(b)?);
        if ta == tb {
            return Ok(ta);
        }
        // Point at the literal: that is the one to change.
        let (culprit, other, t_culprit, t_other) =
            if matches!(b, Scalar::Literal { .. }) { (b, a, tb, ta) } else { (a, b, ta, tb) };
        let hint = match (t_other, culprit) {
            (Ty::Date, Scalar::Literal { value: Literal::Text(_), .. }) => "; write DATE('YYYY-MM-DD')",
            (Ty::Timestamp, Scalar::Literal { value: Literal::Text(_) | Literal::Date(_), .. }) => {
                "; write TIMESTAMP('2026-11-02T09:00:00Z')"
            }
            _ => "",
        };
        Err(self.invalid(
            culprit.at(),
            format!(
                "{} is {}, {} is {}: they cannot be compared{hint}",
                describe(other),
                t_other.name(),
                describe(culprit),
                t_culprit.name()
            ),
        ))
    }

    fn scalar(&self, s: &Scalar) -> Result<Ty, Cql2Error> {
        match s {
            Scalar::Literal { value, .. } => Ok(match value {
                Literal::Text(_) => Ty::Text,
                Literal::Integer(_) | Literal::Real(_) => Ty::Number,
                Literal::Boolean(_) => Ty::Boolean,
                Literal::Date(_) => Ty::Date,
                Literal::Timestamp(_) => Ty::Timestamp,
            }),
            Scalar::Casei(x) => {
                let t = self.scalar(x)?;
                if t != Ty::Text {
                    return Err(self.invalid(x.at(), format!("CASEI works on text; {} is {}", describe(x), t.name())));
                }
                Ok(Ty::Text)
            }
            Scalar::Property { name, at } => {
                if name == "id" {
                    return Ok(Ty::Text);
                }
                if name == GEOMETRY && self.layer.schema().has_geometry() {
                    return Err(self.invalid(at, "`geometry` is used in spatial predicates (S_INTERSECTS, …) only"));
                }
                let field =
                    self.layer.schema().field(name).filter(|f| !f.private).ok_or_else(|| self.unknown(name, at))?;
                Ok(match field.ty {
                    FieldType::Text => Ty::Text,
                    FieldType::Integer | FieldType::Real => Ty::Number,
                    FieldType::Boolean => Ty::Boolean,
                    FieldType::Date => Ty::Date,
                    FieldType::DateTime => Ty::Timestamp,
                    FieldType::Json => {
                        return Err(self.invalid(at, format!("`{name}` holds JSON and cannot be used in a filter")))
                    }
                })
            }
        }
    }

    fn operand(&self, o: &GeomOperand) -> Result<(), Cql2Error> {
        match o {
            GeomOperand::Literal { .. } => Ok(()),
            GeomOperand::Property { name, at } if name == GEOMETRY => {
                if self.layer.schema().has_geometry() {
                    Ok(())
                } else {
                    Err(self.invalid(at, format!("{} has no geometry", self.layer)))
                }
            }
            GeomOperand::Property { name, at } => {
                if self.layer.schema().field(name).is_some_and(|f| !f.private) || name == "id" {
                    Err(self.invalid(at, format!("`{name}` is not a geometry; spatial predicates take `geometry`")))
                } else {
                    Err(self.unknown(name, at))
                }
            }
        }
    }
}

fn describe(s: &Scalar) -> String {
    match s {
        Scalar::Property { name, .. } => format!("`{name}`"),
        Scalar::Casei(x) => format!("CASEI({})", describe(x)),
        Scalar::Literal { value, .. } => match value {
            Literal::Text(t) => format!("'{t}'"),
            Literal::Integer(i) => i.to_string(),
            Literal::Real(x) => x.to_string(),
            Literal::Boolean(b) => b.to_string().to_uppercase(),
            Literal::Date(d) => format!("DATE('{d}')"),
            Literal::Timestamp(t) => format!("TIMESTAMP('{t}')"),
        },
    }
}
