//! A checked CQL2 filter as a PostGIS condition. Every literal is a bound parameter (`$n`, from
//! the caller's statement); identifiers come only from the layer's static schema, after the
//! filter's check has accepted the name. Text compares by code point (`COLLATE "C"`), as the
//! GeoPackage store's evaluator does; geometries travel as EWKB with SRID 4326; distances are on
//! the sphere, after the planar index has selected by a box widened by the distance.

use geo::BoundingRect;
use urbis_core::cql2::{Expr, Filter, GeomOperand, Literal, Scalar};
use urbis_core::geodesy::expand_by_metres;
use urbis_core::{FieldType, LayerId};

use crate::query::BindValue;
use crate::{wkb, Result, StoreError};

/// The SQL condition of `filter`; `push` binds a value and returns its placeholder.
pub(crate) fn condition(filter: &Filter, push: &mut dyn FnMut(BindValue) -> String) -> Result<String> {
    Compiler { layer: filter.layer(), push }.expr(filter.expr())
}

struct Compiler<'a> {
    layer: LayerId,
    push: &'a mut dyn FnMut(BindValue) -> String,
}

/// A column name from the schema, quoted. Only names the check accepted reach here.
fn column(layer: LayerId, name: &str) -> Result<String> {
    if name == "id" || layer.schema().field(name).is_some() {
        Ok(format!("\"{name}\""))
    } else {
        Err(StoreError::UnknownField { layer, field: name.to_string() })
    }
}

impl Compiler<'_> {
    fn expr(&mut self, e: &Expr) -> Result<String> {
        Ok(match e {
            Expr::And(parts) | Expr::Or(parts) => {
                let sep = if matches!(e, Expr::And(_)) { " AND " } else { " OR " };
                let parts = parts.iter().map(|p| self.expr(p)).collect::<Result<Vec<_>>>()?;
                format!("({})", parts.join(sep))
            }
            Expr::Not(x) => format!("(NOT {})", self.expr(x)?),
            Expr::Compare { op, left, right } => {
                let collate = self.collate(left);
                format!("({}{collate} {} {})", self.scalar(left)?, op.symbol(), self.scalar(right)?)
            }
            // `\` escapes, as in CQL2 and PostgreSQL's default.
            Expr::Like { value, pattern } => format!("({} LIKE {})", self.scalar(value)?, self.scalar(pattern)?),
            Expr::Between { value, low, high } => {
                let collate = self.collate(value);
                format!("({}{collate} BETWEEN {} AND {})", self.scalar(value)?, self.scalar(low)?, self.scalar(high)?)
            }
            Expr::In { value, list } => {
                let collate = self.collate(value);
                let v = self.scalar(value)?;
                let items = list.iter().map(|s| self.scalar(s)).collect::<Result<Vec<_>>>()?;
                format!("({v}{collate} IN ({}))", items.join(", "))
            }
            Expr::IsNull(s) => format!("({} IS NULL)", self.scalar(s)?),
            Expr::Spatial { op, left, right } => {
                let f = match op {
                    urbis_core::cql2::SpatialOp::Intersects => "ST_Intersects",
                    urbis_core::cql2::SpatialOp::Within => "ST_Within",
                    urbis_core::cql2::SpatialOp::Contains => "ST_Contains",
                };
                format!("{f}({}, {})", self.operand(left)?, self.operand(right)?)
            }
            Expr::DWithin { left, right, metres } => {
                // The layer's geometry against a literal: first the planar index, by the literal's
                // box widened by the distance (a prefilter that never cuts off a match).
                let literal_box = match (left, right) {
                    (GeomOperand::Property { .. }, GeomOperand::Literal { geometry, .. })
                    | (GeomOperand::Literal { geometry, .. }, GeomOperand::Property { .. }) => geometry.bounding_rect(),
                    _ => None,
                };
                let (a, b) = (self.operand(left)?, self.operand(right)?);
                let m = (self.push)(BindValue::Real(Some(*metres)));
                // `false`: on the sphere, as the GeoPackage store measures.
                let exact = format!("ST_DWithin({a}::geography, {b}::geography, {m}, false)");
                match literal_box.filter(|_| metres.is_finite() && *metres >= 0.0) {
                    Some(r) => {
                        let r = expand_by_metres(r, metres * (1.0 + 1e-6) + 1.0);
                        let [x0, y0, x1, y1] =
                            [r.min().x, r.min().y, r.max().x, r.max().y].map(|v| (self.push)(BindValue::Real(Some(v))));
                        format!("(\"geom\" && ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4326) AND {exact})")
                    }
                    None => exact,
                }
            }
        })
    }

    /// Text compares by code point on both stores.
    fn collate(&self, s: &Scalar) -> &'static str {
        if self.is_text(s) {
            " COLLATE \"C\""
        } else {
            ""
        }
    }

    fn is_text(&self, s: &Scalar) -> bool {
        match s {
            Scalar::Casei(_) => true,
            Scalar::Literal { value, .. } => matches!(value, Literal::Text(_)),
            Scalar::Property { name, .. } => {
                name == "id" || self.layer.schema().field(name).is_some_and(|f| f.ty == FieldType::Text)
            }
        }
    }

    fn scalar(&mut self, s: &Scalar) -> Result<String> {
        Ok(match s {
            Scalar::Property { name, .. } => column(self.layer, name)?,
            Scalar::Casei(x) => format!("lower({})", self.scalar(x)?),
            Scalar::Literal { value, .. } => match value {
                Literal::Text(t) => (self.push)(BindValue::Text(Some(t.clone()))),
                Literal::Integer(i) => (self.push)(BindValue::Integer(Some(*i))),
                Literal::Real(x) => (self.push)(BindValue::Real(Some(*x))),
                Literal::Boolean(b) => (self.push)(BindValue::Boolean(Some(*b))),
                Literal::Date(d) => format!("{}::date", (self.push)(BindValue::Text(Some(d.clone())))),
                Literal::Timestamp(t) => format!("{}::timestamptz", (self.push)(BindValue::Text(Some(t.clone())))),
            },
        })
    }

    fn operand(&mut self, o: &GeomOperand) -> Result<String> {
        Ok(match o {
            GeomOperand::Property { .. } => "\"geom\"".to_string(),
            GeomOperand::Literal { geometry, .. } => {
                let ewkb = wkb::to_ewkb(geometry).map_err(|reason| StoreError::InvalidQuery {
                    layer: self.layer,
                    reason: format!("a geometry of the filter cannot be encoded: {reason}"),
                })?;
                format!("ST_GeomFromEWKB({})", (self.push)(BindValue::Blob(Some(ewkb))))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(layer: LayerId, text: &str) -> (String, Vec<BindValue>) {
        let f = Filter::from_text(layer, text).unwrap();
        let mut binds = vec![];
        let s = condition(&f, &mut |v| {
            binds.push(v);
            format!("${}", binds.len())
        })
        .unwrap();
        (s, binds)
    }

    #[test]
    fn literals_are_bound_never_spliced() {
        let (s, b) = sql(LayerId::Parcels, "address = 'x''; DROP TABLE parcels; --' OR land_use LIKE 'R%'");
        assert_eq!(s, "((\"address\" COLLATE \"C\" = $1) OR (\"land_use\" LIKE $2))");
        assert_eq!(b[0], BindValue::Text(Some("x'; DROP TABLE parcels; --".into())));
        let (s, b) = sql(
            LayerId::Permits,
            "NOT received_at BETWEEN TIMESTAMP('2026-01-01T00:00:00Z') AND TIMESTAMP('2026-02-01T00:00:00Z') \
             AND S_DWITHIN(geometry, POINT(1 2), 50)",
        );
        assert_eq!(
            s,
            "((NOT (\"received_at\" BETWEEN $1::timestamptz AND $2::timestamptz)) AND \
             (\"geom\" && ST_MakeEnvelope($5, $6, $7, $8, 4326) AND \
             ST_DWithin(\"geom\"::geography, ST_GeomFromEWKB($3)::geography, $4, false)))"
        );
        assert_eq!(b.len(), 8);
        assert_eq!(b[3], BindValue::Real(Some(50.0)));
    }
}
