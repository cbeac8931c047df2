//! CQL2 filters (OGC API - Features - Part 3): a typed syntax tree, parsers for CQL2 text and
//! CQL2 JSON, the check of a filter against a layer's schema, and an evaluator on [`Feature`].
//!
//! The stores take a checked [`Filter`]: PostGIS compiles it to parameterised SQL, the GeoPackage
//! store evaluates it here. The same tree will filter vector tiles.
//!
//! Semantics follow SQL: a comparison with a missing value is *unknown*, `NOT` of unknown is
//! unknown, and a feature matches only when the whole filter is *true*. Text compares by code
//! point; `LIKE` is case-sensitive with `%`, `_` and `\` as escape; `CASEI` lowers case.
//! `S_DWITHIN(geometry, <geometry>, <metres>)` measures on the sphere, in metres.

mod check;
mod eval;
mod json;
mod text;

use std::fmt;

use geo_types::{Geometry, Rect};

use crate::LayerId;

pub use check::{queryables, Queryable, QueryableType};

/// A filter's syntax tree. Positions ([`At`]) say where each property and literal was written,
/// for errors; they take no part in equality.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        op: CmpOp,
        left: Scalar,
        right: Scalar,
    },
    /// `value LIKE pattern`.
    Like {
        value: Scalar,
        pattern: Scalar,
    },
    /// `value BETWEEN low AND high`, both ends included.
    Between {
        value: Scalar,
        low: Scalar,
        high: Scalar,
    },
    In {
        value: Scalar,
        list: Vec<Scalar>,
    },
    IsNull(Scalar),
    Spatial {
        op: SpatialOp,
        left: GeomOperand,
        right: GeomOperand,
    },
    /// Within `metres` of each other, on the sphere.
    DWithin {
        left: GeomOperand,
        right: GeomOperand,
        metres: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator as CQL2 text and SQL write it.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    fn from_symbol(s: &str) -> Option<CmpOp> {
        Some(match s {
            "=" => CmpOp::Eq,
            "<>" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpatialOp {
    Intersects,
    /// The left operand lies within the right one.
    Within,
    /// The left operand contains the right one.
    Contains,
}

impl SpatialOp {
    /// The CQL2 name, e.g. `S_INTERSECTS`.
    pub fn name(self) -> &'static str {
        match self {
            SpatialOp::Intersects => "S_INTERSECTS",
            SpatialOp::Within => "S_WITHIN",
            SpatialOp::Contains => "S_CONTAINS",
        }
    }
}

/// A value in a scalar predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Property {
        name: String,
        at: At,
    },
    Literal {
        value: Literal,
        at: At,
    },
    /// `CASEI(…)`: the text in lower case.
    Casei(Box<Scalar>),
}

impl Scalar {
    pub fn property(name: &str) -> Scalar {
        Scalar::Property { name: name.to_string(), at: At::Unknown }
    }

    pub fn literal(value: Literal) -> Scalar {
        Scalar::Literal { value, at: At::Unknown }
    }

    fn at(&self) -> &At {
        match self {
            Scalar::Property { at, .. } | Scalar::Literal { at, .. } => at,
            Scalar::Casei(s) => s.at(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Integer(i64),
    Real(f64),
    Boolean(bool),
    /// `YYYY-MM-DD`.
    Date(String),
    /// RFC 3339 in UTC with milliseconds, the form the stores keep (`2026-11-02T09:00:00.000Z`).
    Timestamp(String),
}

/// An operand of a spatial predicate: the `geometry` property or a geometry literal (WGS 84).
#[derive(Debug, Clone, PartialEq)]
pub enum GeomOperand {
    Property { name: String, at: At },
    Literal { geometry: Geometry, at: At },
}

/// Where something was written: a character offset in CQL2 text or a JSON pointer in CQL2 JSON.
#[derive(Debug, Clone, Default)]
pub enum At {
    Offset(usize),
    Pointer(String),
    #[default]
    Unknown,
}

/// Positions are for error messages: two trees that differ only in them are the same filter.
impl PartialEq for At {
    fn eq(&self, _: &At) -> bool {
        true
    }
}

/// What is wrong with a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cql2ErrorKind {
    /// Not CQL2 text or CQL2 JSON.
    Syntax,
    /// The filter names a property the layer does not have (or does not let anyone query).
    UnknownProperty(String),
    /// Well-formed, but it does not fit the layer: wrong type, LIKE on a number, …
    Invalid,
}

/// A filter that cannot be used, with what is wrong and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}{}", where_suffix(.location))]
pub struct Cql2Error {
    pub kind: Cql2ErrorKind,
    pub message: String,
    /// Where in the filter; [`At::Unknown`] for a tree built in code.
    pub location: Location,
}

/// A place in the source of a filter, ready to show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Location {
    /// A character (not byte) offset from 0 in CQL2 text, with the text around it.
    Text { offset: usize, context: String },
    /// A JSON pointer (RFC 6901) into CQL2 JSON.
    Json { pointer: String },
    #[default]
    Unknown,
}

fn where_suffix(l: &Location) -> String {
    match l {
        Location::Text { offset, context } => format!(" (at character {offset}: {context})"),
        Location::Json { pointer } => format!(" (at JSON pointer `{pointer}`)"),
        Location::Unknown => String::new(),
    }
}

/// The source a filter came from, to turn an [`At`] into a [`Location`].
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    Text(&'a str),
    Json,
    Tree,
}

impl Source<'_> {
    pub(crate) fn locate(self, at: &At) -> Location {
        match (self, at) {
            (Source::Text(text), At::Offset(byte)) => Location::Text {
                offset: text[..(*byte).min(text.len())].chars().count(),
                context: context(text, *byte),
            },
            (_, At::Pointer(p)) => Location::Json { pointer: p.clone() },
            _ => Location::Unknown,
        }
    }

    pub(crate) fn error(self, kind: Cql2ErrorKind, at: &At, message: impl Into<String>) -> Cql2Error {
        Cql2Error { kind, message: message.into(), location: self.locate(at) }
    }
}

/// Up to 20 characters on each side of a byte offset, with a `⟨here⟩` mark at it.
fn context(text: &str, byte: usize) -> String {
    let byte = (byte.min(text.len())..=text.len()).find(|b| text.is_char_boundary(*b)).unwrap_or(text.len());
    let before: String = {
        let mut v: Vec<char> = text[..byte].chars().rev().take(20).collect();
        v.reverse();
        v.into_iter().collect()
    };
    let after: String = text[byte..].chars().take(20).collect();
    let lead = if text[..byte].chars().count() > 20 { "…" } else { "" };
    let tail = if text[byte..].chars().count() > 20 { "…" } else { "" };
    format!("`{lead}{before}⟨here⟩{after}{tail}`")
}

impl Expr {
    /// Parses CQL2 text. The tree is not yet checked against a layer: see [`Filter::new`].
    pub fn parse_text(text: &str) -> Result<Expr, Cql2Error> {
        text::parse(text)
    }

    /// Parses CQL2 JSON.
    pub fn parse_json(json: &str) -> Result<Expr, Cql2Error> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| Cql2Error {
            kind: Cql2ErrorKind::Syntax,
            message: format!("not JSON: {e}"),
            location: Location::Unknown,
        })?;
        json::parse(&value)
    }

    /// Reads CQL2 JSON already parsed.
    pub fn from_json(value: &serde_json::Value) -> Result<Expr, Cql2Error> {
        json::parse(value)
    }

    /// The filter as CQL2 JSON.
    pub fn to_json(&self) -> serde_json::Value {
        json::write(self)
    }

    /// The filter as CQL2 text (parenthesised so that it reads back to the same tree).
    pub fn to_text(&self) -> String {
        text::write(self)
    }

    /// Visits every geometry literal.
    pub fn visit_geometries(&self, f: &mut impl FnMut(&Geometry)) {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.visit_geometries(f)),
            Expr::Not(e) => e.visit_geometries(f),
            Expr::Spatial { left, right, .. } | Expr::DWithin { left, right, .. } => {
                for o in [left, right] {
                    if let GeomOperand::Literal { geometry, .. } = o {
                        f(geometry);
                    }
                }
            }
            _ => {}
        }
    }

    /// Replaces every geometry literal by what `f` makes of it (e.g. reprojected from the
    /// request's `filter-crs` to WGS 84); stops at the first error.
    pub fn try_map_geometries<E>(&mut self, f: &mut impl FnMut(&Geometry) -> Result<Geometry, E>) -> Result<(), E> {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter_mut().try_for_each(|e| e.try_map_geometries(f)),
            Expr::Not(e) => e.try_map_geometries(f),
            Expr::Spatial { left, right, .. } | Expr::DWithin { left, right, .. } => {
                for o in [left, right] {
                    if let GeomOperand::Literal { geometry, .. } = o {
                        *geometry = f(geometry)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A box (WGS 84) that the geometry of every matching feature intersects, when the filter
    /// implies one: a spatial predicate between `geometry` and a literal, alone or in a conjunction
    /// (or in every branch of a disjunction). For index prefiltering; `None` when nothing is implied.
    pub fn implied_bbox(&self) -> Option<Rect> {
        use geo::BoundingRect;
        match self {
            Expr::Spatial { left, right, .. } => match (left, right) {
                (GeomOperand::Property { .. }, GeomOperand::Literal { geometry, .. })
                | (GeomOperand::Literal { geometry, .. }, GeomOperand::Property { .. }) => geometry.bounding_rect(),
                _ => None,
            },
            Expr::DWithin { left, right, metres } => match (left, right) {
                (GeomOperand::Property { .. }, GeomOperand::Literal { geometry, .. })
                | (GeomOperand::Literal { geometry, .. }, GeomOperand::Property { .. }) => {
                    geometry.bounding_rect().map(|r| crate::geodesy::expand_by_metres(r, *metres))
                }
                _ => None,
            },
            // Every part must hold: any implied box will do; the intersection of all is the tightest.
            Expr::And(parts) => {
                parts.iter().filter_map(Expr::implied_bbox).reduce(|a, b| intersection(a, b).unwrap_or(a))
            }
            // One part must hold: only a box implied by every part bounds them all.
            Expr::Or(parts) => {
                let boxes: Option<Vec<Rect>> = parts.iter().map(Expr::implied_bbox).collect();
                boxes?.into_iter().reduce(|a, b| {
                    Rect::new(
                        geo_types::Coord { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                        geo_types::Coord { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                    )
                })
            }
            _ => None,
        }
    }
}

fn intersection(a: Rect, b: Rect) -> Option<Rect> {
    let (x0, y0) = (a.min().x.max(b.min().x), a.min().y.max(b.min().y));
    let (x1, y1) = (a.max().x.min(b.max().x), a.max().y.min(b.max().y));
    (x0 <= x1 && y0 <= y1).then(|| Rect::new(geo_types::Coord { x: x0, y: y0 }, geo_types::Coord { x: x1, y: y1 }))
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A filter checked against a layer: every property exists and is queryable, every literal has
/// the type of what it is compared with. What the stores accept.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    layer: LayerId,
    expr: Expr,
}

impl Filter {
    /// Checks a tree against `layer`.
    pub fn new(layer: LayerId, expr: Expr) -> Result<Filter, Cql2Error> {
        check::check(layer, &expr, Source::Tree)?;
        Ok(Filter { layer, expr })
    }

    /// Parses CQL2 text and checks it against `layer`; errors point into the text.
    pub fn from_text(layer: LayerId, text: &str) -> Result<Filter, Cql2Error> {
        let expr = text::parse(text)?;
        check::check(layer, &expr, Source::Text(text))?;
        Ok(Filter { layer, expr })
    }

    /// Parses CQL2 JSON and checks it against `layer`; errors carry a JSON pointer.
    pub fn from_json(layer: LayerId, json: &str) -> Result<Filter, Cql2Error> {
        let expr = Expr::parse_json(json)?;
        check::check(layer, &expr, Source::Json)?;
        Ok(Filter { layer, expr })
    }

    pub fn layer(&self) -> LayerId {
        self.layer
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// This filter for another layer, checked against it (a filter is written for one layer).
    pub fn for_layer(&self, layer: LayerId) -> Result<Filter, Cql2Error> {
        if layer == self.layer {
            return Ok(self.clone());
        }
        Filter::new(layer, self.expr.clone())
    }

    /// Whether a feature of the filter's layer matches (the filter is true for it).
    pub fn matches(&self, feature: &crate::Feature) -> bool {
        eval::eval(self.layer, &self.expr, feature) == Some(true)
    }

    /// See [`Expr::implied_bbox`].
    pub fn implied_bbox(&self) -> Option<Rect> {
        self.expr.implied_bbox()
    }

    /// Replaces every geometry literal in place (they stay geometries, so the check holds).
    pub fn map_geometries(&mut self, mut f: impl FnMut(&mut Geometry)) {
        let _ = self.expr.try_map_geometries(&mut |g| {
            let mut g = g.clone();
            f(&mut g);
            Ok::<_, std::convert::Infallible>(g)
        });
    }

    /// [`Filter::map_geometries`] with a transformation that can fail; the filter is unchanged
    /// if it does.
    pub fn try_map_geometries<E>(&mut self, mut f: impl FnMut(&Geometry) -> Result<Geometry, E>) -> Result<(), E> {
        let mut expr = self.expr.clone();
        expr.try_map_geometries(&mut f)?;
        self.expr = expr;
        Ok(())
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

#[cfg(test)]
mod tests;
