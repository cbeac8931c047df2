//! CQL2 text: the pest grammar in `cql2.pest`, its parse tree turned into [`Expr`], and back.

use geo_types::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon,
};
use pest::iterators::Pair;
use pest::Parser;

use super::{At, CmpOp, Cql2Error, Cql2ErrorKind, Expr, GeomOperand, Literal, Scalar, Source, SpatialOp};

#[derive(pest_derive::Parser)]
#[grammar = "cql2/cql2.pest"]
struct Cql2Text;

pub(super) fn parse(text: &str) -> Result<Expr, Cql2Error> {
    let src = Source::Text(text);
    let mut pairs = Cql2Text::parse(Rule::filter, text).map_err(|e| syntax_error(text, e))?;
    let filter = pairs.next().expect("the grammar's start rule");
    let or = filter.into_inner().next().expect("a filter holds an expression");
    or_expr(src, or)
}

fn syntax_error(text: &str, e: pest::error::Error<Rule>) -> Cql2Error {
    use pest::error::{ErrorVariant, InputLocation};
    let byte = match e.location {
        InputLocation::Pos(p) | InputLocation::Span((p, _)) => p,
    };
    let found = match text[byte..].chars().next() {
        None => "the end of the filter".to_string(),
        Some(_) => {
            let word: String = text[byte..].chars().take_while(|c| !c.is_whitespace()).take(12).collect();
            format!("`{word}`")
        }
    };
    let message = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } if !positives.is_empty() => {
            let mut names: Vec<&str> = positives.iter().map(|r| rule_name(*r)).collect();
            names.dedup();
            let mut seen = std::collections::HashSet::new();
            names.retain(|n| seen.insert(*n));
            format!("unexpected {found}; expected {}", names.join(", "))
        }
        ErrorVariant::ParsingError { .. } => format!("unexpected {found}"),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    Source::Text(text).error(Cql2ErrorKind::Syntax, &At::Offset(byte), format!("invalid CQL2 text: {message}"))
}

fn rule_name(r: Rule) -> &'static str {
    match r {
        Rule::EOI => "the end of the filter",
        Rule::or_expr | Rule::and_expr | Rule::not_expr | Rule::primary | Rule::filter => "a predicate",
        Rule::predicate | Rule::spatial_pred | Rule::dwithin_pred => "a predicate",
        Rule::compare_tail | Rule::cmp_op => "a comparison operator",
        Rule::like_tail | Rule::kw_like => "LIKE",
        Rule::between_tail | Rule::kw_between => "BETWEEN",
        Rule::in_tail | Rule::kw_in => "IN",
        Rule::null_tail | Rule::kw_is => "IS",
        Rule::scalar | Rule::casei | Rule::date_lit | Rule::timestamp_lit => "a property or a literal",
        Rule::string | Rule::string_body => "a quoted text",
        Rule::number => "a number",
        Rule::boolean => "TRUE or FALSE",
        Rule::property | Rule::quoted_name | Rule::bare_name => "a property name",
        Rule::geom_operand | Rule::wkt | Rule::bbox => "a geometry (WKT or BBOX) or a property",
        Rule::point_text | Rule::line_text | Rule::polygon_text => "`(`",
        Rule::coord => "coordinates",
        Rule::kw_and => "AND",
        Rule::kw_or => "OR",
        Rule::kw_not => "NOT",
        Rule::kw_null => "NULL",
        Rule::spatial_op => "a spatial operator",
        _ => "something else",
    }
}

fn at(p: &Pair<Rule>) -> At {
    At::Offset(p.as_span().start())
}

fn or_expr(src: Source, p: Pair<Rule>) -> Result<Expr, Cql2Error> {
    let mut parts = vec![];
    for q in p.into_inner().filter(|q| q.as_rule() == Rule::and_expr) {
        parts.push(and_expr(src, q)?);
    }
    Ok(if parts.len() == 1 { parts.pop().expect("one part") } else { Expr::Or(parts) })
}

fn and_expr(src: Source, p: Pair<Rule>) -> Result<Expr, Cql2Error> {
    let mut parts = vec![];
    for q in p.into_inner().filter(|q| q.as_rule() == Rule::not_expr) {
        parts.push(not_expr(src, q)?);
    }
    Ok(if parts.len() == 1 { parts.pop().expect("one part") } else { Expr::And(parts) })
}

fn not_expr(src: Source, p: Pair<Rule>) -> Result<Expr, Cql2Error> {
    let mut nots = 0;
    let mut e = None;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::kw_not => nots += 1,
            Rule::primary => e = Some(primary(src, q)?),
            _ => unreachable!("not_expr holds NOTs and a primary"),
        }
    }
    let mut e = e.expect("a primary");
    for _ in 0..nots {
        e = Expr::Not(Box::new(e));
    }
    Ok(e)
}

fn primary(src: Source, p: Pair<Rule>) -> Result<Expr, Cql2Error> {
    let q = p.into_inner().next().expect("primary has one child");
    match q.as_rule() {
        Rule::or_expr => or_expr(src, q),
        Rule::predicate => predicate(src, q),
        Rule::spatial_pred => {
            let mut it = q.into_inner();
            let op = match it.next().expect("op").as_str().to_ascii_uppercase().as_str() {
                "S_INTERSECTS" => SpatialOp::Intersects,
                "S_WITHIN" => SpatialOp::Within,
                _ => SpatialOp::Contains,
            };
            let left = geom_operand(src, it.next().expect("left"))?;
            let right = geom_operand(src, it.next().expect("right"))?;
            Ok(Expr::Spatial { op, left, right })
        }
        Rule::dwithin_pred => {
            let mut it = q.into_inner().skip(1);
            let left = geom_operand(src, it.next().expect("left"))?;
            let right = geom_operand(src, it.next().expect("right"))?;
            let m = it.next().expect("distance");
            let metres = m.as_str().parse::<f64>().unwrap_or(f64::NAN);
            if !(metres.is_finite() && metres >= 0.0) {
                return Err(src.error(Cql2ErrorKind::Invalid, &at(&m), "S_DWITHIN needs a distance in metres ≥ 0"));
            }
            Ok(Expr::DWithin { left, right, metres })
        }
        r => unreachable!("primary cannot hold {r:?}"),
    }
}

fn predicate(src: Source, p: Pair<Rule>) -> Result<Expr, Cql2Error> {
    let mut it = p.into_inner();
    let value = scalar(src, it.next().expect("a scalar"))?;
    let tail = it.next().expect("a tail");
    let rule = tail.as_rule();
    let mut parts = tail.into_inner().peekable();
    let negated = parts.peek().is_some_and(|q| q.as_rule() == Rule::kw_not);
    if negated && rule != Rule::null_tail {
        parts.next();
    }
    let mut scalars = vec![];
    let mut op = None;
    let mut null_not = false;
    for q in parts {
        match q.as_rule() {
            Rule::scalar => scalars.push(scalar(src, q)?),
            Rule::cmp_op => op = CmpOp::from_symbol(q.as_str()),
            Rule::kw_not => null_not = true,
            _ => {}
        }
    }
    let e = match rule {
        Rule::compare_tail => {
            Expr::Compare { op: op.expect("an operator"), left: value, right: scalars.pop().expect("right") }
        }
        Rule::like_tail => Expr::Like { value, pattern: scalars.pop().expect("pattern") },
        Rule::between_tail => {
            let high = scalars.pop().expect("high");
            let low = scalars.pop().expect("low");
            Expr::Between { value, low, high }
        }
        Rule::in_tail => Expr::In { value, list: scalars },
        Rule::null_tail => {
            let e = Expr::IsNull(value);
            return Ok(if null_not { Expr::Not(Box::new(e)) } else { e });
        }
        r => unreachable!("no predicate tail {r:?}"),
    };
    Ok(if negated { Expr::Not(Box::new(e)) } else { e })
}

fn scalar(src: Source, p: Pair<Rule>) -> Result<Scalar, Cql2Error> {
    let q = p.into_inner().next().expect("scalar has one child");
    let here = at(&q);
    let lit = |value| Ok(Scalar::Literal { value, at: here.clone() });
    match q.as_rule() {
        Rule::casei => Ok(Scalar::Casei(Box::new(scalar(src, q.into_inner().nth(1).expect("inner"))?))),
        Rule::date_lit => {
            let s = q.into_inner().nth(1).expect("string");
            let text = unquote(&s);
            match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                Ok(d) => lit(Literal::Date(d.format("%Y-%m-%d").to_string())),
                Err(_) => Err(src.error(
                    Cql2ErrorKind::Invalid,
                    &at(&s),
                    format!("`{text}` is not a date; DATE takes 'YYYY-MM-DD'"),
                )),
            }
        }
        Rule::timestamp_lit => {
            let s = q.into_inner().nth(1).expect("string");
            let text = unquote(&s);
            match chrono::DateTime::parse_from_rfc3339(&text) {
                Ok(t) => lit(Literal::Timestamp(
                    t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                )),
                Err(_) => Err(src.error(
                    Cql2ErrorKind::Invalid,
                    &at(&s),
                    format!("`{text}` is not a timestamp; TIMESTAMP takes RFC 3339, e.g. '2026-11-02T09:00:00Z'"),
                )),
            }
        }
        Rule::string => lit(Literal::Text(unquote(&q))),
        Rule::number => lit(number(src, &q)?),
        Rule::boolean => lit(Literal::Boolean(q.as_str().eq_ignore_ascii_case("true"))),
        Rule::property => Ok(Scalar::Property { name: property_name(&q), at: here }),
        r => unreachable!("no scalar {r:?}"),
    }
}

fn number(src: Source, p: &Pair<Rule>) -> Result<Literal, Cql2Error> {
    let s = p.as_str();
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Literal::Integer(i));
    }
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Literal::Real(x)),
        _ => Err(src.error(Cql2ErrorKind::Invalid, &at(p), format!("`{s}` is not a finite number"))),
    }
}

fn unquote(p: &Pair<Rule>) -> String {
    let s = p.as_str();
    s[1..s.len() - 1].replace("''", "'")
}

fn property_name(p: &Pair<Rule>) -> String {
    let s = p.as_str();
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s).to_string()
}

fn geom_operand(src: Source, p: Pair<Rule>) -> Result<GeomOperand, Cql2Error> {
    let q = p.into_inner().next().expect("one child");
    let here = at(&q);
    match q.as_rule() {
        Rule::property => Ok(GeomOperand::Property { name: property_name(&q), at: here }),
        Rule::bbox => {
            let nums: Vec<f64> =
                q.clone().into_inner().skip(1).map(|n| n.as_str().parse::<f64>().unwrap_or(f64::NAN)).collect();
            let [x0, y0, x1, y1] = match nums.as_slice() {
                [a, b, c, d] => [*a, *b, *c, *d],
                [a, b, _, d, e, _] => [*a, *b, *d, *e],
                _ => return Err(src.error(Cql2ErrorKind::Invalid, &here, "BBOX takes 4 numbers (or 6 with heights)")),
            };
            if nums.iter().any(|v| !v.is_finite()) || x0 > x1 || y0 > y1 {
                return Err(src.error(
                    Cql2ErrorKind::Invalid,
                    &here,
                    "BBOX takes min x, min y, max x, max y with min ≤ max",
                ));
            }
            Ok(GeomOperand::Literal { geometry: bbox_polygon(x0, y0, x1, y1), at: here })
        }
        Rule::wkt => Ok(GeomOperand::Literal { geometry: wkt(src, q)?, at: here }),
        r => unreachable!("no geometry operand {r:?}"),
    }
}

/// A box as the polygon it stands for (both stores and GeoJSON know polygons, not boxes).
pub(super) fn bbox_polygon(x0: f64, y0: f64, x1: f64, y1: f64) -> Geometry {
    Polygon::new(LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]), vec![]).into()
}

fn wkt(src: Source, p: Pair<Rule>) -> Result<Geometry, Cql2Error> {
    let q = p.into_inner().next().expect("one geometry");
    let rule = q.as_rule();
    let here = at(&q);
    let mut it = q.into_inner().filter(|x| x.as_rule() != Rule::kw_z).skip(1);
    Ok(match rule {
        Rule::point => Point(coord_of(src, it.next().expect("point text").into_inner().next().expect("coord"))?).into(),
        Rule::linestring => line(src, it.next().expect("line"))?.into(),
        Rule::polygon => polygon(src, it.next().expect("polygon"))?.into(),
        Rule::multipoint => MultiPoint(
            it.map(|x| {
                let c = if x.as_rule() == Rule::point_text { x.into_inner().next().expect("coord") } else { x };
                coord_of(src, c).map(Point)
            })
            .collect::<Result<_, _>>()?,
        )
        .into(),
        Rule::multilinestring => MultiLineString(it.map(|x| line(src, x)).collect::<Result<_, _>>()?).into(),
        Rule::multipolygon => MultiPolygon(it.map(|x| polygon(src, x)).collect::<Result<_, _>>()?).into(),
        Rule::collection => {
            Geometry::GeometryCollection(GeometryCollection(it.map(|x| wkt(src, x)).collect::<Result<Vec<_>, _>>()?))
        }
        r => return Err(src.error(Cql2ErrorKind::Syntax, &here, format!("unsupported geometry {r:?}"))),
    })
}

fn coord_of(src: Source, p: Pair<Rule>) -> Result<Coord, Cql2Error> {
    let here = at(&p);
    let v: Vec<f64> = p.into_inner().map(|n| n.as_str().parse::<f64>().unwrap_or(f64::NAN)).collect();
    if v.iter().any(|x| !x.is_finite()) {
        return Err(src.error(Cql2ErrorKind::Invalid, &here, "coordinates must be finite numbers"));
    }
    Ok(Coord { x: v[0], y: v[1] })
}

fn line(src: Source, p: Pair<Rule>) -> Result<LineString, Cql2Error> {
    Ok(LineString(p.into_inner().map(|c| coord_of(src, c)).collect::<Result<_, _>>()?))
}

fn polygon(src: Source, p: Pair<Rule>) -> Result<Polygon, Cql2Error> {
    let here = at(&p);
    let mut rings = p.into_inner().map(|r| line(src, r)).collect::<Result<Vec<_>, _>>()?;
    for r in &rings {
        if r.0.len() < 4 || r.0.first() != r.0.last() {
            return Err(src.error(
                Cql2ErrorKind::Invalid,
                &here,
                "a polygon ring needs at least 4 positions, the last equal to the first",
            ));
        }
    }
    let exterior = rings.remove(0);
    Ok(Polygon::new(exterior, rings))
}

// ---- writing ----

pub(super) fn write(e: &Expr) -> String {
    let mut out = String::new();
    expr(&mut out, e);
    out
}

fn expr(out: &mut String, e: &Expr) {
    match e {
        Expr::And(v) | Expr::Or(v) => {
            let sep = if matches!(e, Expr::And(_)) { " AND " } else { " OR " };
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                out.push('(');
                expr(out, x);
                out.push(')');
            }
        }
        Expr::Not(x) => {
            out.push_str("NOT (");
            expr(out, x);
            out.push(')');
        }
        Expr::Compare { op, left, right } => {
            scalar_text(out, left);
            out.push_str(&format!(" {} ", op.symbol()));
            scalar_text(out, right);
        }
        Expr::Like { value, pattern } => {
            scalar_text(out, value);
            out.push_str(" LIKE ");
            scalar_text(out, pattern);
        }
        Expr::Between { value, low, high } => {
            scalar_text(out, value);
            out.push_str(" BETWEEN ");
            scalar_text(out, low);
            out.push_str(" AND ");
            scalar_text(out, high);
        }
        Expr::In { value, list } => {
            scalar_text(out, value);
            out.push_str(" IN (");
            for (i, s) in list.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                scalar_text(out, s);
            }
            out.push(')');
        }
        Expr::IsNull(s) => {
            scalar_text(out, s);
            out.push_str(" IS NULL");
        }
        Expr::Spatial { op, left, right } => {
            out.push_str(op.name());
            out.push('(');
            operand_text(out, left);
            out.push_str(", ");
            operand_text(out, right);
            out.push(')');
        }
        Expr::DWithin { left, right, metres } => {
            out.push_str("S_DWITHIN(");
            operand_text(out, left);
            out.push_str(", ");
            operand_text(out, right);
            out.push_str(&format!(", {})", real(*metres)));
        }
    }
}

fn real(x: f64) -> String {
    // `{:?}` is the shortest text that reads back to the same f64, and always has a `.` or `e`.
    format!("{x:?}")
}

fn scalar_text(out: &mut String, s: &Scalar) {
    match s {
        Scalar::Property { name, .. } => {
            out.push('"');
            out.push_str(name);
            out.push('"');
        }
        Scalar::Casei(x) => {
            out.push_str("CASEI(");
            scalar_text(out, x);
            out.push(')');
        }
        Scalar::Literal { value, .. } => match value {
            Literal::Text(t) => out.push_str(&quote(t)),
            Literal::Integer(i) => out.push_str(&i.to_string()),
            Literal::Real(x) => out.push_str(&real(*x)),
            Literal::Boolean(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
            Literal::Date(d) => out.push_str(&format!("DATE({})", quote(d))),
            Literal::Timestamp(t) => out.push_str(&format!("TIMESTAMP({})", quote(t))),
        },
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn operand_text(out: &mut String, o: &GeomOperand) {
    match o {
        GeomOperand::Property { name, .. } => {
            out.push('"');
            out.push_str(name);
            out.push('"');
        }
        GeomOperand::Literal { geometry, .. } => geometry_text(out, geometry),
    }
}

fn coords_text(out: &mut String, cs: &[Coord]) {
    out.push('(');
    for (i, c) in cs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("{} {}", real(c.x), real(c.y)));
    }
    out.push(')');
}

fn polygon_text(out: &mut String, p: &Polygon) {
    out.push('(');
    coords_text(out, &p.exterior().0);
    for r in p.interiors() {
        out.push_str(", ");
        coords_text(out, &r.0);
    }
    out.push(')');
}

fn list<T>(out: &mut String, items: &[T], mut f: impl FnMut(&mut String, &T)) {
    out.push('(');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        f(out, x);
    }
    out.push(')');
}

/// WKT of a geometry, coordinates written so that they read back exactly.
pub(super) fn geometry_text(out: &mut String, g: &Geometry) {
    match g {
        Geometry::Point(p) => {
            out.push_str("POINT");
            coords_text(out, &[p.0]);
        }
        Geometry::LineString(l) => {
            out.push_str("LINESTRING");
            coords_text(out, &l.0);
        }
        Geometry::Line(l) => {
            out.push_str("LINESTRING");
            coords_text(out, &[l.start, l.end]);
        }
        Geometry::Polygon(p) => {
            out.push_str("POLYGON");
            polygon_text(out, p);
        }
        Geometry::Rect(r) => polygon_text_of(out, &r.to_polygon()),
        Geometry::Triangle(t) => polygon_text_of(out, &t.to_polygon()),
        Geometry::MultiPoint(m) => {
            out.push_str("MULTIPOINT");
            list(out, &m.0, |o, p| coords_text(o, &[p.0]));
        }
        Geometry::MultiLineString(m) => {
            out.push_str("MULTILINESTRING");
            list(out, &m.0, |o, l| coords_text(o, &l.0));
        }
        Geometry::MultiPolygon(m) => {
            out.push_str("MULTIPOLYGON");
            list(out, &m.0, polygon_text);
        }
        Geometry::GeometryCollection(c) => {
            out.push_str("GEOMETRYCOLLECTION");
            list(out, &c.0, geometry_text);
        }
    }
}

fn polygon_text_of(out: &mut String, p: &Polygon) {
    out.push_str("POLYGON");
    polygon_text(out, p);
}
