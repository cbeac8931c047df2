//! Checks a feature against its layer before it is stored: every problem at once, each naming the
//! field, and the unambiguous repairs (duplicate vertices, ring orientation, single → multi)
//! applied and counted. Ambiguous damage (a self-intersecting ring) is a problem, unless the
//! caller asks for [`GeometryPolicy::MakeValid`], which rebuilds it and counts it as repaired.

use geo::{Coord, Geometry, LineString, MultiLineString, MultiPolygon, Polygon};
use geo::{MakeValid, Orient, Validation};
use serde::Serialize;

use crate::feature::Feature;
use crate::layer::{GeometryKind, LayerSchema};

/// What is wrong with a feature, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The field at fault: a layer field, `geometry` or `id`.
    pub field: String,
    pub reason: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Problem { field: field.into(), reason: reason.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Repairs applied to one feature or, added up, to a whole import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Repairs {
    pub closed_rings: u32,
    pub duplicate_vertices: u32,
    pub reoriented_rings: u32,
    /// Invalid polygons rebuilt by [`GeometryPolicy::MakeValid`].
    pub rebuilt_polygons: u32,
    /// Rings of fewer than 3 distinct vertices (no area) left out.
    pub dropped_degenerate_rings: u32,
}

impl Repairs {
    pub fn any(&self) -> bool {
        *self != Repairs::default()
    }

    pub fn add(&mut self, other: Repairs) {
        self.closed_rings += other.closed_rings;
        self.duplicate_vertices += other.duplicate_vertices;
        self.reoriented_rings += other.reoriented_rings;
        self.rebuilt_polygons += other.rebuilt_polygons;
        self.dropped_degenerate_rings += other.dropped_degenerate_rings;
    }
}

impl std::fmt::Display for Repairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = vec![];
        for (n, what) in [
            (self.closed_rings, "ring(s) closed"),
            (self.duplicate_vertices, "duplicate vertice(s) removed"),
            (self.reoriented_rings, "ring(s) reoriented"),
            (self.rebuilt_polygons, "invalid polygon(s) rebuilt"),
            (self.dropped_degenerate_rings, "degenerate ring(s) without area dropped"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ValidationReport {
    pub repairs: Repairs,
    pub problems: Vec<Problem>,
}

impl ValidationReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What to do with a polygon that is invalid beyond the unambiguous repairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GeometryPolicy {
    /// Report it (the default: self-intersections have no single right answer).
    #[default]
    Reject,
    /// Rebuild it with the odd-even rule (Ledoux et al.) and count it as repaired.
    MakeValid,
}

/// Checks `feature` against `schema`, repairing it in place where the repair is unambiguous.
/// Returns every problem found, so that a report can list them all at once.
pub fn check_feature(schema: &LayerSchema, feature: &mut Feature, policy: GeometryPolicy) -> ValidationReport {
    let mut report = ValidationReport::default();
    if feature.id.trim().is_empty() {
        report.problems.push(Problem::new("id", "the id is empty"));
    }
    if let Err(errors) = feature.normalise(schema) {
        for e in errors {
            let field = match &e {
                crate::FeatureError::WrongType { field, .. } | crate::FeatureError::UnknownField { field } => {
                    field.clone()
                }
            };
            report.problems.push(Problem::new(field, e.to_string()));
        }
    }
    for field in schema.fields.iter().filter(|f| f.required) {
        let empty = match feature.get(field.name) {
            None => true,
            Some(serde_json::Value::String(s)) => s.trim().is_empty(),
            Some(_) => false,
        };
        if empty {
            report.problems.push(Problem::new(field.name, "required field is missing or empty"));
        }
    }
    match feature.geometry.take() {
        None if schema.geometry_required => {
            report.problems.push(Problem::new("geometry", "the feature has no geometry"))
        }
        None => {}
        Some(_) if !schema.has_geometry() => {
            report.problems.push(Problem::new("geometry", format!("layer {} holds no geometry", schema.table)))
        }
        Some(g) => match check_geometry(schema.geometry, g, policy, &mut report.repairs) {
            Ok(g) => feature.geometry = Some(g),
            Err(mut problems) => report.problems.append(&mut problems),
        },
    }
    report
}

/// Checks and repairs one geometry for a layer of kind `kind`.
pub fn check_geometry(
    kind: GeometryKind,
    geometry: Geometry,
    policy: GeometryPolicy,
    repairs: &mut Repairs,
) -> Result<Geometry, Vec<Problem>> {
    let problem = |reason: String| vec![Problem::new("geometry", reason)];
    check_coordinates(&geometry).map_err(problem)?;
    let geometry = to_kind(kind, geometry).map_err(problem)?;
    if is_empty(&geometry) {
        return Err(problem("the geometry is empty".into()));
    }
    let geometry = remove_duplicate_vertices(geometry, repairs);
    let geometry = match geometry {
        Geometry::MultiPolygon(mp) => Geometry::MultiPolygon(check_polygons(mp, policy, repairs)?),
        Geometry::Polygon(p) => Geometry::MultiPolygon(check_polygons(MultiPolygon(vec![p]), policy, repairs)?)
            .try_into()
            .map(|mp: MultiPolygon| match mp.0.len() {
                1 => Geometry::Polygon(mp.0.into_iter().next().expect("one polygon")),
                _ => Geometry::MultiPolygon(mp),
            })
            .map_err(|_| problem("unexpected geometry".into()))?,
        Geometry::LineString(ls) if ls.0.len() < 2 => {
            return Err(problem("a line needs at least two distinct vertices".into()))
        }
        Geometry::MultiLineString(ml) if ml.0.iter().any(|l| l.0.len() < 2) => {
            return Err(problem("a line needs at least two distinct vertices".into()))
        }
        other => other,
    };
    Ok(geometry)
}

fn check_coordinates(g: &Geometry) -> Result<(), String> {
    use geo::CoordsIter;
    for (i, c) in g.coords_iter().enumerate() {
        if !c.x.is_finite() || !c.y.is_finite() {
            return Err(format!("vertex {i} is not a finite number ({}, {})", c.x, c.y));
        }
        if !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y) {
            return Err(format!(
                "vertex {i} ({}, {}) is outside longitude -180..180 / latitude -90..90: is the source CRS right?",
                c.x, c.y
            ));
        }
    }
    Ok(())
}

fn to_kind(kind: GeometryKind, g: Geometry) -> Result<Geometry, String> {
    let name = geometry_name(&g);
    let mismatch = || format!("a {name} cannot go into a layer of {}", kind.sql_name().unwrap_or("no geometry"));
    Ok(match (kind, g) {
        (GeometryKind::Point, Geometry::Point(p)) => Geometry::Point(p),
        (GeometryKind::Point, Geometry::MultiPoint(mp)) if mp.0.len() == 1 => Geometry::Point(mp.0[0]),
        (GeometryKind::MultiPolygon, Geometry::Polygon(p)) => Geometry::MultiPolygon(MultiPolygon(vec![p])),
        (GeometryKind::MultiPolygon, Geometry::MultiPolygon(mp)) => Geometry::MultiPolygon(mp),
        (GeometryKind::MultiPolygon, Geometry::Rect(r)) => Geometry::MultiPolygon(MultiPolygon(vec![r.to_polygon()])),
        (GeometryKind::MultiLineString, Geometry::LineString(l)) => Geometry::MultiLineString(MultiLineString(vec![l])),
        (GeometryKind::MultiLineString, Geometry::Line(l)) => {
            Geometry::MultiLineString(MultiLineString(vec![LineString(vec![l.start, l.end])]))
        }
        (GeometryKind::MultiLineString, Geometry::MultiLineString(m)) => Geometry::MultiLineString(m),
        (GeometryKind::Geometry, Geometry::GeometryCollection(_)) => return Err(mismatch()),
        (GeometryKind::Geometry, Geometry::Rect(r)) => Geometry::Polygon(r.to_polygon()),
        (GeometryKind::Geometry, Geometry::Triangle(t)) => Geometry::Polygon(t.to_polygon()),
        (GeometryKind::Geometry, Geometry::Line(l)) => Geometry::LineString(LineString(vec![l.start, l.end])),
        (GeometryKind::Geometry, g) => g,
        _ => return Err(mismatch()),
    })
}

pub fn geometry_name(g: &Geometry) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::Line(_) => "Line",
        Geometry::LineString(_) => "LineString",
        Geometry::Polygon(_) => "Polygon",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
        Geometry::Rect(_) => "Rect",
        Geometry::Triangle(_) => "Triangle",
    }
}

fn is_empty(g: &Geometry) -> bool {
    match g {
        Geometry::LineString(l) => l.0.is_empty(),
        Geometry::Polygon(p) => p.exterior().0.is_empty(),
        Geometry::MultiPoint(m) => m.0.is_empty(),
        Geometry::MultiLineString(m) => m.0.is_empty() || m.0.iter().all(|l| l.0.is_empty()),
        Geometry::MultiPolygon(m) => m.0.is_empty() || m.0.iter().all(|p| p.exterior().0.is_empty()),
        Geometry::GeometryCollection(c) => c.0.is_empty(),
        _ => false,
    }
}

fn dedup_line(ls: LineString, repairs: &mut Repairs) -> LineString {
    let before = ls.0.len();
    let mut out: Vec<Coord> = Vec::with_capacity(before);
    for c in ls.0 {
        if out.last() != Some(&c) {
            out.push(c);
        }
    }
    repairs.duplicate_vertices += (before - out.len()) as u32;
    LineString(out)
}

fn dedup_polygon(p: Polygon, repairs: &mut Repairs) -> Polygon {
    let (ext, ints) = p.into_inner();
    Polygon::new(dedup_line(ext, repairs), ints.into_iter().map(|r| dedup_line(r, repairs)).collect())
}

fn remove_duplicate_vertices(g: Geometry, repairs: &mut Repairs) -> Geometry {
    match g {
        Geometry::LineString(l) => Geometry::LineString(dedup_line(l, repairs)),
        Geometry::MultiLineString(m) => {
            Geometry::MultiLineString(MultiLineString(m.0.into_iter().map(|l| dedup_line(l, repairs)).collect()))
        }
        Geometry::Polygon(p) => Geometry::Polygon(dedup_polygon(p, repairs)),
        Geometry::MultiPolygon(m) => {
            Geometry::MultiPolygon(MultiPolygon(m.0.into_iter().map(|p| dedup_polygon(p, repairs)).collect()))
        }
        other => other,
    }
}

/// Ring orientation as RFC 7946 and GeoPackage readers expect: exterior counter-clockwise,
/// holes clockwise. Then validity (OGC simple features).
fn check_polygons(
    mp: MultiPolygon,
    policy: GeometryPolicy,
    repairs: &mut Repairs,
) -> Result<MultiPolygon, Vec<Problem>> {
    use geo::algorithm::winding_order::{Winding, WindingOrder};
    // Rings with fewer than 3 distinct vertices enclose no area: dropping them leaves the same
    // surface, so it is an unambiguous repair, as long as some polygon remains.
    let mut kept = Vec::with_capacity(mp.0.len());
    for p in mp.0 {
        let (exterior, interiors) = p.into_inner();
        if exterior.0.len() < 4 {
            repairs.dropped_degenerate_rings += 1 + interiors.len() as u32;
            continue;
        }
        let before = interiors.len();
        let interiors: Vec<LineString> = interiors.into_iter().filter(|r| r.0.len() >= 4).collect();
        repairs.dropped_degenerate_rings += (before - interiors.len()) as u32;
        kept.push(Polygon::new(exterior, interiors));
    }
    if kept.is_empty() {
        return Err(vec![Problem::new(
            "geometry",
            "every ring has fewer than 3 distinct vertices: the polygon has no area",
        )]);
    }
    let mp = MultiPolygon(kept);
    for p in &mp.0 {
        for (ri, ring) in std::iter::once(p.exterior()).chain(p.interiors()).enumerate() {
            let want = if ri == 0 { WindingOrder::CounterClockwise } else { WindingOrder::Clockwise };
            if ring.winding_order().is_some_and(|w| w != want) {
                repairs.reoriented_rings += 1;
            }
        }
    }
    let mp = mp.orient(geo::orient::Direction::Default);
    if plainly_valid(&mp) || is_valid(&mp) {
        return Ok(mp);
    }
    // The quick checks agree with the general validator (see the tests), so the polygon is
    // invalid here: rebuilding it first spares the validator's report (a tenth of a second on a
    // right of way of thousands of vertices) unless it is needed to say why.
    if policy == GeometryPolicy::MakeValid {
        if let Some(fixed) = rebuild(&mp) {
            repairs.rebuilt_polygons += 1;
            return Ok(fixed);
        }
    }
    let errors = mp.validation_errors();
    if errors.is_empty() {
        return Ok(mp);
    }
    match policy {
        GeometryPolicy::MakeValid => {
            Err(errors.iter().map(|e| Problem::new("geometry", format!("{e} (and could not be rebuilt)"))).collect())
        }
        GeometryPolicy::Reject => Err(errors.iter().map(|e| Problem::new("geometry", e.to_string())).collect()),
    }
}

/// Most city polygons are one ring without holes: such a polygon is valid exactly when its ring
/// is simple and encloses some area. Checking that directly (see [`ring_is_simple`]) is much
/// cheaper than the general validator's graph of intersections, for rings of any size (a street's
/// right of way has 20,000 vertices); anything else goes to the general validator.
fn plainly_valid(mp: &MultiPolygon) -> bool {
    match mp.0.as_slice() {
        [p] => plain_polygon(p),
        _ => false,
    }
}

fn plain_polygon(p: &Polygon) -> bool {
    use geo::Area;
    p.interiors().is_empty() && p.unsigned_area() > 0.0 && ring_is_simple(p.exterior())
}

/// The general validator's verdict on a multipolygon (every part valid; no two parts overlapping
/// or sharing a line), reached faster: plain parts are checked as [`plainly_valid`] does, and two
/// parts are related only if their boxes meet (the validator relates every pair, which for the
/// hundreds of parts a rebuilt right of way can have is most of an import's time).
fn is_valid(mp: &MultiPolygon) -> bool {
    use geo::coordinate_position::CoordPos;
    use geo::dimensions::Dimensions;
    use geo::{BoundingRect, Relate};
    let boxes: Vec<Option<geo::Rect>> = mp.0.iter().map(|p| p.bounding_rect()).collect();
    let apart = |a: Option<geo::Rect>, b: Option<geo::Rect>| match (a, b) {
        (Some(a), Some(b)) => {
            a.max().x < b.min().x || b.max().x < a.min().x || a.max().y < b.min().y || b.max().y < a.min().y
        }
        _ => false,
    };
    for (i, p) in mp.0.iter().enumerate() {
        if !plain_polygon(p) && !p.is_valid() {
            return false;
        }
        for (j, q) in mp.0.iter().enumerate().skip(i + 1) {
            if apart(boxes[i], boxes[j]) {
                continue;
            }
            let im = p.relate(q);
            if im.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional
                || im.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional
            {
                return false;
            }
        }
    }
    true
}

/// A closed ring is simple when no two of its segments meet except consecutive ones at their
/// shared vertex. Only segments whose boxes overlap can meet: the segments are swept in order of
/// their left ends, and each is tested against those that start before it ends (a few, in city
/// shapes), not against all of them.
fn ring_is_simple(ring: &LineString) -> bool {
    use geo::line_intersection::{line_intersection, LineIntersection};
    let segments: Vec<geo::Line> = ring.lines().collect();
    let n = segments.len();
    let left = |s: &geo::Line| s.start.x.min(s.end.x);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| left(&segments[a]).total_cmp(&left(&segments[b])));
    for (k, &a) in order.iter().enumerate() {
        let sa = segments[a];
        let right = sa.start.x.max(sa.end.x);
        let (low, high) = (sa.start.y.min(sa.end.y), sa.start.y.max(sa.end.y));
        for &b in &order[k + 1..] {
            let sb = segments[b];
            if left(&sb) > right {
                break;
            }
            if sb.start.y.max(sb.end.y) < low || sb.start.y.min(sb.end.y) > high {
                continue;
            }
            let (i, j) = (a.min(b), a.max(b));
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            let shared = if j == i + 1 { segments[i].end } else { segments[i].start };
            // Consecutive segments meet at their shared vertex, nowhere else (collinear
            // neighbours, common in parcels, meet there too, as a zero-length overlap).
            let touches_only_at_shared = |p: geo::Coord, q: geo::Coord| adjacent && p == shared && q == shared;
            let fine = match line_intersection(segments[i], segments[j]) {
                None => true,
                Some(LineIntersection::Collinear { intersection }) => {
                    touches_only_at_shared(intersection.start, intersection.end)
                }
                Some(LineIntersection::SinglePoint { intersection, .. }) => {
                    touches_only_at_shared(intersection, intersection)
                }
            };
            if !fine {
                return false;
            }
        }
    }
    true
}

/// Rebuilds an invalid multipolygon: first by triangulation with the odd-even rule (Ledoux et
/// al.), then, if that result is still invalid, by resolving it as a union of its own parts.
fn rebuild(mp: &MultiPolygon) -> Option<MultiPolygon> {
    let valid = |m: &MultiPolygon| !m.0.is_empty() && is_valid(m);
    if let Ok(fixed) = mp.make_valid() {
        let fixed = canonical(fixed.orient(geo::orient::Direction::Default));
        if valid(&fixed) {
            return Some(fixed);
        }
    }
    let unioned = canonical(geo::algorithm::bool_ops::unary_union(mp.0.iter()).orient(geo::orient::Direction::Default));
    valid(&unioned).then_some(unioned)
}

/// The rebuilt shape in one canonical form (each ring starting at its lowest vertex, polygons and
/// holes in vertex order), so that the same input always gives the same stored geometry: the
/// rebuild's own output order depends on hashing.
fn canonical(mp: MultiPolygon) -> MultiPolygon {
    fn key(c: &Coord) -> (f64, f64) {
        (c.x, c.y)
    }
    fn rotate(ring: LineString) -> LineString {
        let mut pts = ring.0;
        if pts.len() < 2 {
            return LineString(pts);
        }
        pts.pop(); // the closing vertex
        let start = (0..pts.len())
            .min_by(|&a, &b| key(&pts[a]).partial_cmp(&key(&pts[b])).unwrap_or(std::cmp::Ordering::Equal))
            .unwrap_or(0);
        pts.rotate_left(start);
        pts.push(pts[0]);
        LineString(pts)
    }
    let first = |r: &LineString| r.0.first().map(key).unwrap_or((f64::NAN, f64::NAN));
    let mut polygons: Vec<Polygon> =
        mp.0.into_iter()
            .map(|p| {
                let (ext, ints) = p.into_inner();
                let mut ints: Vec<LineString> = ints.into_iter().map(rotate).collect();
                ints.sort_by(|a, b| first(a).partial_cmp(&first(b)).unwrap_or(std::cmp::Ordering::Equal));
                Polygon::new(rotate(ext), ints)
            })
            .collect();
    polygons.sort_by(|a, b| first(a.exterior()).partial_cmp(&first(b.exterior())).unwrap_or(std::cmp::Ordering::Equal));
    MultiPolygon(polygons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{PARCELS, ROADS, SERVICE_CENTRES};
    use geo::{line_string, point, polygon};

    fn parcel(g: Geometry) -> Feature {
        Feature::new("p1", Some(g)).with("code", "1-1")
    }

    #[test]
    fn clockwise_exterior_is_reoriented_and_promoted_to_multi() {
        let cw = polygon![(x: 0., y: 0.), (x: 0., y: 0.001), (x: 0.001, y: 0.001), (x: 0.001, y: 0.)];
        let mut f = parcel(cw.into());
        let r = check_feature(&PARCELS, &mut f, GeometryPolicy::Reject);
        assert!(r.is_ok(), "{:?}", r.problems);
        assert_eq!(r.repairs.reoriented_rings, 1);
        assert!(matches!(f.geometry, Some(Geometry::MultiPolygon(_))));
    }

    #[test]
    fn duplicate_vertices_are_removed_and_counted() {
        let p = polygon![(x: 0., y: 0.), (x: 0.001, y: 0.), (x: 0.001, y: 0.), (x: 0.001, y: 0.001), (x: 0., y: 0.001)];
        let mut f = parcel(p.into());
        let r = check_feature(&PARCELS, &mut f, GeometryPolicy::Reject);
        assert!(r.is_ok());
        assert_eq!(r.repairs.duplicate_vertices, 1);
    }

    fn bowtie_again() -> Geometry {
        polygon![(x: 0., y: 0.), (x: 0., y: 0.001), (x: 0.001, y: 0.), (x: 0.001, y: 0.001)].into()
    }

    #[test]
    fn bowtie_is_rejected_unless_rebuilding_is_asked_for() {
        let bowtie = polygon![(x: 0., y: 0.), (x: 0., y: 0.001), (x: 0.001, y: 0.), (x: 0.001, y: 0.001)];
        let mut f = parcel(bowtie.clone().into());
        let r = check_feature(&PARCELS, &mut f, GeometryPolicy::Reject);
        assert!(!r.is_ok());
        assert!(r.problems[0].reason.contains("intersect"), "{:?}", r.problems);
        let mut f = parcel(bowtie.into());
        let r = check_feature(&PARCELS, &mut f, GeometryPolicy::MakeValid);
        assert!(r.is_ok(), "{:?}", r.problems);
        assert_eq!(r.repairs.rebuilt_polygons, 1);
        // The same input always rebuilds to the same vertices.
        for _ in 0..5 {
            let mut again = parcel(bowtie_again());
            check_feature(&PARCELS, &mut again, GeometryPolicy::MakeValid);
            assert_eq!(again.geometry, f.geometry);
        }
    }

    #[test]
    fn the_quick_check_agrees_with_the_general_validator() {
        use geo::Area;
        let mut cases: Vec<Polygon> = vec![
            polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.), (x: 0., y: 1.)],
            polygon![(x: 0., y: 0.), (x: 0., y: 1.), (x: 1., y: 0.), (x: 1., y: 1.)], // bowtie
            polygon![(x: 0., y: 0.), (x: 2., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.)], // spike back on itself
            polygon![(x: 0., y: 0.), (x: 2., y: 0.), (x: 2., y: 2.), (x: 1., y: 0.), (x: 0., y: 2.)], // touches itself
            polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 2., y: 0.)],                 // no area
            polygon![(x: 0., y: 0.), (x: 3., y: 0.), (x: 3., y: 3.), (x: 2., y: 1.), (x: 1., y: 2.), (x: 0., y: 3.)],
            polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 2., y: 0.), (x: 2., y: 2.), (x: 0., y: 2.)], // collinear run
        ];
        // A large ring (a right of way has tens of thousands of vertices), then the same ring
        // with one vertex pulled across the far side: the crossing is between distant segments.
        let wavy = |pull: bool| -> Polygon {
            let n = 3000;
            let mut ring: Vec<Coord> = (0..n)
                .map(|k| {
                    let t = k as f64 / n as f64 * std::f64::consts::TAU;
                    let r = 10.0 + 0.1 * (t * 40.0).sin();
                    Coord { x: r * t.cos(), y: r * t.sin() }
                })
                .collect();
            if pull {
                ring[10] = Coord { x: -20.0, y: 0.5 };
            }
            Polygon::new(LineString(ring), vec![])
        };
        assert!(!wavy(true).is_valid(), "the pulled vertex makes the ring cross itself");
        cases.push(wavy(false));
        cases.push(wavy(true));
        for p in cases {
            let mp = MultiPolygon(vec![p.clone()]).orient(geo::orient::Direction::Default);
            let quick = plainly_valid(&mp);
            // The quick check may pass a polygon to the general validator, never pass an invalid one.
            assert!(!quick || mp.is_valid(), "{p:?}");
            // Ordinary valid polygons take the quick path (geo also calls a ring without area valid;
            // the quick check does not, and leaves it to the general validator).
            if mp.is_valid() && p.unsigned_area() > 0.0 {
                assert!(quick, "{p:?} is valid but not plainly so");
            }
        }
    }

    #[test]
    fn the_faster_multipolygon_check_agrees_with_the_general_validator() {
        let square =
            |x: f64, y: f64, s: f64| polygon![(x: x, y: y), (x: x + s, y: y), (x: x + s, y: y + s), (x: x, y: y + s)];
        let bowtie = polygon![(x: 5., y: 5.), (x: 5., y: 6.), (x: 6., y: 5.), (x: 6., y: 6.)];
        let holed = Polygon::new(square(0., 0., 10.).exterior().clone(), vec![square(2., 2., 6.).exterior().clone()]);
        let cases: Vec<(Vec<Polygon>, bool)> = vec![
            (vec![square(0., 0., 1.), square(3., 0., 1.)], true),  // apart
            (vec![square(0., 0., 1.), square(1., 1., 1.)], true),  // touch at a point
            (vec![square(0., 0., 1.), square(1., 0., 1.)], false), // share an edge
            (vec![square(0., 0., 2.), square(1., 1., 2.)], false), // overlap
            (vec![holed.clone(), square(3., 3., 2.)], true),       // inside the hole
            (vec![holed, square(0.5, 0.5, 1.)], false),            // inside the part
            (vec![square(0., 0., 1.), bowtie], false),             // a part is invalid
        ];
        for (parts, expected) in cases {
            let mp = MultiPolygon(parts).orient(geo::orient::Direction::Default);
            assert_eq!(mp.is_valid(), expected, "{mp:?}");
            assert_eq!(is_valid(&mp), expected, "{mp:?}");
        }
    }

    #[test]
    fn a_part_without_area_is_dropped_and_counted() {
        let good = polygon![(x: 0., y: 0.), (x: 0.001, y: 0.), (x: 0.001, y: 0.001), (x: 0., y: 0.001)];
        let sliver = polygon![(x: 0.002, y: 0.), (x: 0.003, y: 0.), (x: 0.002, y: 0.)];
        let mut f = parcel(Geometry::MultiPolygon(MultiPolygon(vec![good, sliver.clone()])));
        let r = check_feature(&PARCELS, &mut f, GeometryPolicy::Reject);
        assert!(r.is_ok(), "{:?}", r.problems);
        assert_eq!(r.repairs.dropped_degenerate_rings, 1);
        assert!(matches!(&f.geometry, Some(Geometry::MultiPolygon(m)) if m.0.len() == 1));
        let mut f = parcel(sliver.into());
        let r = check_feature(&PARCELS, &mut f, GeometryPolicy::Reject);
        assert!(r.problems[0].reason.contains("no area"), "{:?}", r.problems);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut f = Feature::new("", Some(point!(x: 200.0, y: 10.0).into())).with("code", "x");
        let r = check_feature(&SERVICE_CENTRES, &mut f, GeometryPolicy::Reject);
        let fields: Vec<_> = r.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["id", "code", "name", "geometry"], "{:?}", r.problems);
    }

    #[test]
    fn a_wrong_value_does_not_hide_the_others() {
        let mut f = Feature::new("p", None).with("code", "1-1").with("stories", "tall").with("year_built", "1890");
        let r = check_feature(&PARCELS, &mut f, GeometryPolicy::Reject);
        let fields: Vec<_> = r.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["stories", "geometry"], "{:?}", r.problems);
        assert_eq!(f.integer("year_built"), Some(1890));
    }

    #[test]
    fn nan_empty_and_wrong_kinds_are_named() {
        let mut f = Feature::new("r", Some(point!(x: f64::NAN, y: 1.0).into()));
        let r = check_feature(&ROADS, &mut f, GeometryPolicy::Reject);
        assert!(r.problems[0].reason.contains("not a finite number"));
        let mut f = Feature::new("r", Some(point!(x: 1.0, y: 1.0).into()));
        let r = check_feature(&ROADS, &mut f, GeometryPolicy::Reject);
        assert_eq!(r.problems[0].reason, "a Point cannot go into a layer of MULTILINESTRING");
        let mut f = Feature::new("r", Some(line_string![(x: 1.0, y: 1.0), (x: 1.0, y: 1.0)].into()));
        let r = check_feature(&ROADS, &mut f, GeometryPolicy::Reject);
        assert!(r.problems[0].reason.contains("two distinct"), "{:?}", r.problems);
        let mut f = parcel(Geometry::MultiPolygon(MultiPolygon(vec![])));
        let r = check_feature(&PARCELS, &mut f, GeometryPolicy::Reject);
        assert_eq!(r.problems[0].reason, "the geometry is empty");
    }
}
