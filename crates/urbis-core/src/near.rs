//! One geometry asked about many: "which of these candidates lie within d metres of it (or
//! touch it)?". The geometry is projected once into a local metric projection and its segments
//! are put in an R*-tree, so that each candidate costs the few segments near it rather than all
//! of them. A parcel that follows a whole street (thousands of vertices, a box as large as the
//! city) asked for the roads it fronts is the case this is for: measured one by one, every road
//! in its box was compared with every one of its segments.
//!
//! The projection is the equirectangular one of [`LocalProjection`], centred on the geometry's
//! box: within a city its error stays under a tenth of a percent. It is affine, so "touches or
//! not" is decided as in degrees.

use geo::{BoundingRect, Coord, CoordsIter, Distance, Euclidean, Geometry, Line, LinesIter, MapCoords, Polygon};
use rstar::primitives::Line as TreeLine;
use rstar::{RTree, AABB};

use crate::geodesy::LocalProjection;

/// A geometry prepared for many distance and intersection questions.
pub struct NearIndex {
    proj: LocalProjection,
    segments: RTree<TreeLine<[f64; 2]>>,
    /// Its polygons, projected: a candidate inside one is at distance 0 without touching a
    /// segment.
    polygons: Vec<Polygon>,
    /// Whether the geometry is polygons only (every segment a ring's).
    polygonal: bool,
    empty: bool,
}

fn xy(c: Coord) -> [f64; 2] {
    [c.x, c.y]
}

fn line_of(s: &TreeLine<[f64; 2]>) -> Line {
    Line::new(Coord { x: s.from[0], y: s.from[1] }, Coord { x: s.to[0], y: s.to[1] })
}

/// The pieces of a projected geometry to measure from: its segments, and its lone points as
/// segments of no length.
fn pieces(g: &Geometry) -> Vec<Line> {
    let mut out: Vec<Line> = vec![];
    add_pieces(g, &mut out);
    out
}

fn add_pieces(g: &Geometry, out: &mut Vec<Line>) {
    match g {
        Geometry::Point(p) => out.push(Line::new(p.0, p.0)),
        Geometry::MultiPoint(mp) => out.extend(mp.iter().map(|p| Line::new(p.0, p.0))),
        Geometry::Line(l) => out.push(*l),
        // A line of one repeated point has no segment but is still somewhere.
        Geometry::LineString(ls) if ls.0.len() == 1 => out.push(Line::new(ls.0[0], ls.0[0])),
        Geometry::LineString(ls) => out.extend(ls.lines_iter()),
        Geometry::MultiLineString(mls) => out.extend(mls.lines_iter()),
        Geometry::Polygon(p) => out.extend(p.lines_iter()),
        Geometry::MultiPolygon(mp) => out.extend(mp.lines_iter()),
        Geometry::Rect(r) => out.extend(r.lines_iter()),
        Geometry::Triangle(t) => out.extend(t.lines_iter()),
        Geometry::GeometryCollection(gc) => gc.iter().for_each(|g| add_pieces(g, out)),
    }
}

fn polygons_of(g: &Geometry) -> Vec<Polygon> {
    match g {
        Geometry::Polygon(p) => vec![p.clone()],
        Geometry::MultiPolygon(mp) => mp.0.clone(),
        Geometry::Rect(r) => vec![r.to_polygon()],
        Geometry::Triangle(t) => vec![t.to_polygon()],
        Geometry::GeometryCollection(gc) => gc.iter().flat_map(polygons_of).collect(),
        _ => vec![],
    }
}

/// Whether `p` lies inside (or on) any of `polygons`.
fn inside_any(polygons: &[Polygon], p: Coord) -> bool {
    use geo::Intersects;
    polygons.iter().any(|poly| poly.intersects(&p))
}

impl NearIndex {
    pub fn new(geometry: &Geometry) -> Self {
        let Some(rect) = geometry.bounding_rect() else {
            return NearIndex {
                proj: LocalProjection::new(Coord { x: 0.0, y: 0.0 }),
                segments: RTree::new(),
                polygons: vec![],
                polygonal: false,
                empty: true,
            };
        };
        let proj = LocalProjection::new(rect.center());
        let projected = geometry.map_coords(|c| proj.project(c));
        let segments =
            RTree::bulk_load(pieces(&projected).into_iter().map(|l| TreeLine::new(xy(l.start), xy(l.end))).collect());
        let polygonal = matches!(projected, Geometry::Polygon(_) | Geometry::MultiPolygon(_));
        NearIndex { proj, segments, polygons: polygons_of(&projected), polygonal, empty: false }
    }

    /// Metres from the prepared geometry to `other` if they are at most `max_m` apart (0 when
    /// they touch or one holds the other); `None` when farther, or when either is empty.
    pub fn within(&self, other: &Geometry, max_m: f64) -> Option<f64> {
        if self.empty || other.coords_iter().next().is_none() {
            return None;
        }
        let other = other.map_coords(|c| self.proj.project(c));
        let mut best = f64::INFINITY;
        for piece in pieces(&other) {
            let reach = best.min(max_m);
            let lo = [piece.start.x.min(piece.end.x) - reach, piece.start.y.min(piece.end.y) - reach];
            let hi = [piece.start.x.max(piece.end.x) + reach, piece.start.y.max(piece.end.y) + reach];
            for s in self.segments.locate_in_envelope_intersecting(&AABB::from_corners(lo, hi)) {
                let d = Euclidean.distance(&line_of(s), &piece);
                if d < best {
                    best = d;
                    if best == 0.0 {
                        return Some(0.0);
                    }
                }
            }
        }
        // Apart at the boundaries, but one may hold the other whole.
        let first = other.coords_iter().next()?;
        if self.holds(first) {
            return Some(0.0);
        }
        let theirs = polygons_of(&other);
        if !theirs.is_empty() {
            let mine = self.segments.iter().next().map(|s| Coord { x: s.from[0], y: s.from[1] })?;
            if inside_any(&theirs, mine) {
                return Some(0.0);
            }
        }
        (best <= max_m).then_some(best)
    }

    /// Whether a projected point lies inside one of the prepared polygons. For a geometry made
    /// only of polygons, by counting the segments a ray from the point crosses (the index finds
    /// them); otherwise polygon by polygon.
    fn holds(&self, p: Coord) -> bool {
        if self.polygons.is_empty() {
            return false;
        }
        if !self.polygonal {
            return inside_any(&self.polygons, p);
        }
        let ray = AABB::from_corners([p.x, p.y], [f64::MAX, p.y]);
        let crossings = self
            .segments
            .locate_in_envelope_intersecting(&ray)
            .filter(|s| {
                let (a, b) = (s.from, s.to);
                (a[1] > p.y) != (b[1] > p.y) && p.x < a[0] + (p.y - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
            })
            .count();
        crossings % 2 == 1
    }

    /// Whether the prepared geometry and `other` share at least a point.
    pub fn intersects(&self, other: &Geometry) -> bool {
        self.within(other, 0.0).is_some()
    }

    /// Whether anything inside `rect` (degrees) could be within `max_m` of the prepared
    /// geometry: false only when nothing there can be, so that a candidate known by its box alone
    /// (an R*Tree entry) can be passed over before it is read. True when one of the geometry's
    /// segments has its box within `max_m` of the rectangle's, or when the rectangle lies inside
    /// one of its polygons.
    pub fn may_reach(&self, rect: geo::Rect, max_m: f64) -> bool {
        if self.empty {
            return false;
        }
        // The projection is affine and keeps the axes: a box stays a box.
        let (a, b) = (self.proj.project(rect.min()), self.proj.project(rect.max()));
        let lo = [a.x.min(b.x) - max_m, a.y.min(b.y) - max_m];
        let hi = [a.x.max(b.x) + max_m, a.y.max(b.y) + max_m];
        if self.segments.locate_in_envelope_intersecting(&AABB::from_corners(lo, hi)).next().is_some() {
            return true;
        }
        // No segment near: the rectangle is wholly inside a polygon, or wholly apart.
        self.holds(self.proj.project(rect.center()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy::distance_m;
    use geo::{line_string, point, polygon, Intersects};

    /// A long thin polygon with many vertices, like a street parcel, and candidates around it.
    fn street() -> Geometry {
        let n = 2000;
        let mut ring: Vec<Coord> =
            (0..=n).map(|i| Coord { x: -71.12 + 0.04 * i as f64 / n as f64, y: 42.37 }).collect();
        ring.extend((0..=n).rev().map(|i| Coord { x: -71.12 + 0.04 * i as f64 / n as f64, y: 42.3702 }));
        ring.push(ring[0]);
        Geometry::Polygon(Polygon::new(ring.into(), vec![]))
    }

    #[test]
    fn agrees_with_measuring_one_by_one() {
        let street = street();
        let index = NearIndex::new(&street);
        let candidates: Vec<Geometry> = vec![
            point!(x: -71.10, y: 42.3701).into(),                                  // inside
            point!(x: -71.10, y: 42.3705).into(),                                  // 33 m north
            point!(x: -71.10, y: 42.3730).into(),                                  // far
            point!(x: -71.13, y: 42.3701).into(),                                  // beyond the west end
            line_string![(x: -71.11, y: 42.369), (x: -71.11, y: 42.371)].into(),   // crosses
            line_string![(x: -71.11, y: 42.3704), (x: -71.09, y: 42.3704)].into(), // parallel, 22 m
            polygon![(x: -71.2, y: 42.3), (x: -71.0, y: 42.3), (x: -71.0, y: 42.5), (x: -71.2, y: 42.5)].into(), // holds it
        ];
        for c in &candidates {
            let one_by_one = distance_m(&street, c);
            for max in [0.0, 15.0, 30.0, 500.0] {
                let got = index.within(c, max);
                if one_by_one <= max - 0.05 {
                    let d = got.unwrap_or_else(|| panic!("{c:?} at {one_by_one} m missed at max {max}"));
                    assert!((d - one_by_one).abs() <= 0.05 + 1e-3 * one_by_one, "{c:?}: {d} vs {one_by_one}");
                } else if one_by_one > max + 0.05 {
                    assert!(got.is_none(), "{c:?} at {one_by_one} m found within {max}");
                }
            }
            assert_eq!(index.intersects(c), street.intersects(c), "{c:?}");
        }
    }

    #[test]
    fn a_point_query_and_empty_geometries() {
        let p: Geometry = point!(x: -71.1, y: 42.37).into();
        let index = NearIndex::new(&p);
        let q: Geometry = point!(x: -71.1, y: 42.3701).into();
        let d = index.within(&q, 20.0).unwrap();
        assert!((d - 11.1).abs() < 0.1, "{d}");
        assert!(index.within(&q, 5.0).is_none());
        let empty: Geometry = Geometry::MultiPoint(geo::MultiPoint(vec![]));
        assert!(index.within(&empty, 1e9).is_none());
        assert!(NearIndex::new(&empty).within(&q, 1e9).is_none());
    }

    /// The box test never passes over a geometry that `within` would find, and does pass over
    /// boxes far from the geometry.
    #[test]
    fn the_box_test_keeps_every_candidate_within_reach() {
        let index = NearIndex::new(&street());
        let hole_free = NearIndex::new(&Geometry::Polygon(polygon![
            (x: -71.10, y: 42.36), (x: -71.08, y: 42.36), (x: -71.08, y: 42.38), (x: -71.10, y: 42.38), (x: -71.10, y: 42.36)
        ]));
        let mut passed_over = 0;
        for (i, j) in (0..60).flat_map(|i| (0..60).map(move |j| (i, j))) {
            let x = -71.13 + 0.001 * f64::from(i);
            let y = 42.355 + 0.0005 * f64::from(j);
            let candidate = Geometry::LineString(line_string![(x: x, y: y), (x: x + 0.0004, y: y + 0.0002)]);
            let rect = candidate.bounding_rect().unwrap();
            for (name, prepared) in [("street", &index), ("square", &hole_free)] {
                for metres in [0.0, 30.0, 250.0] {
                    if prepared.within(&candidate, metres).is_some() {
                        assert!(prepared.may_reach(rect, metres), "{name} {metres} m: ({x}, {y}) passed over");
                    } else if !prepared.may_reach(rect, metres) {
                        passed_over += 1;
                    }
                }
            }
        }
        // Most boxes are far from both: the test does pass over them.
        assert!(passed_over > 10_000, "{passed_over}");
        // A box wholly inside the square, far from its edges, may reach it (it is inside).
        let inner = geo::Rect::new(Coord { x: -71.091, y: 42.369 }, Coord { x: -71.089, y: 42.371 });
        assert!(hole_free.may_reach(inner, 0.0));
        assert!(!NearIndex::new(&Geometry::GeometryCollection(Default::default())).may_reach(inner, 1e9));
    }
}
