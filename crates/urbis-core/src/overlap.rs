//! A cheap exact answer, when there is one, to "does this polygon cover or miss this box?": the
//! common case of a parcel well inside one zoning district, or far from a district's edge, is
//! settled by walking the district's rings once, with no overlay and no edge-against-edge test.

use geo::Intersects;
use geo_types::{Coord, Geometry, Line, LineString, MultiPolygon, Polygon, Rect};

/// Where a box lies relative to an areal geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RectSide {
    /// The whole box lies in the geometry's interior.
    Inside,
    /// The box and the geometry have no point in common.
    Apart,
}

/// [`RectSide`] of `rect` against the polygons of `g`, or `None` when an edge of `g` comes into the
/// box (closed) and only an exact test can tell. Points and lines give `None`.
pub fn rect_side(g: &Geometry, rect: Rect) -> Option<RectSide> {
    let polygons = match g {
        Geometry::Polygon(p) => std::slice::from_ref(p),
        Geometry::MultiPolygon(m) => m.0.as_slice(),
        _ => return None,
    };
    let (lo, hi) = (rect.min(), rect.max());
    let meets = |l: &Line| {
        let (ax, bx) = (l.start.x.min(l.end.x), l.start.x.max(l.end.x));
        let (ay, by) = (l.start.y.min(l.end.y), l.start.y.max(l.end.y));
        // The segment's box meets the rectangle: conservatively an edge in the box.
        ax <= hi.x && bx >= lo.x && ay <= hi.y && by >= lo.y
    };
    for p in polygons {
        for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
            if ring.lines().any(|l| meets(&l)) {
                return None;
            }
        }
    }
    // No edge in the box: the box is wholly inside or wholly outside; one corner tells which.
    let corner: Coord = lo;
    Some(if g.intersects(&corner) { RectSide::Inside } else { RectSide::Apart })
}

/// The part of `polygons` inside `rect`, for measuring an area: each ring is cut by the box's four
/// sides in turn (Sutherland–Hodgman). Where a ring leaves and re-enters the box, the result may
/// run along the box's side and back: such bridges enclose nothing, so areas and overlays with
/// other polygons are those of the exact intersection. A site of thousands of vertices overlaid
/// with a zoning district keeps only the vertices near the district.
pub fn clip_to_rect(polygons: &MultiPolygon, rect: Rect) -> MultiPolygon {
    let clip_ring = |ring: &LineString| -> Option<LineString> {
        let mut pts: Vec<Coord> = ring.0.clone();
        if pts.first() == pts.last() {
            pts.pop();
        }
        let (lo, hi) = (rect.min(), rect.max());
        for side in [Side::West(lo.x), Side::East(hi.x), Side::South(lo.y), Side::North(hi.y)] {
            if pts.is_empty() {
                break;
            }
            let mut out = Vec::with_capacity(pts.len() + 4);
            let mut prev = *pts.last().expect("not empty");
            for &cur in &pts {
                match (side.keeps(prev), side.keeps(cur)) {
                    (true, true) => out.push(cur),
                    (true, false) => out.push(side.crossing(prev, cur)),
                    (false, true) => {
                        out.push(side.crossing(prev, cur));
                        out.push(cur);
                    }
                    (false, false) => {}
                }
                prev = cur;
            }
            pts = out;
        }
        if pts.len() < 3 {
            return None;
        }
        pts.push(pts[0]);
        Some(LineString(pts))
    };
    MultiPolygon(
        polygons
            .iter()
            .filter_map(|p| {
                let exterior = clip_ring(p.exterior())?;
                Some(Polygon::new(exterior, p.interiors().iter().filter_map(&clip_ring).collect()))
            })
            .collect(),
    )
}

/// A side of a clipping box: what lies on its inner side is kept.
#[derive(Clone, Copy)]
enum Side {
    West(f64),
    East(f64),
    South(f64),
    North(f64),
}

impl Side {
    fn keeps(self, c: Coord) -> bool {
        match self {
            Side::West(x) => c.x >= x,
            Side::East(x) => c.x <= x,
            Side::South(y) => c.y >= y,
            Side::North(y) => c.y <= y,
        }
    }

    /// Where segment `a`–`b`, which crosses this side's line, meets it.
    fn crossing(self, a: Coord, b: Coord) -> Coord {
        match self {
            Side::West(x) | Side::East(x) => Coord { x, y: a.y + (x - a.x) / (b.x - a.x) * (b.y - a.y) },
            Side::South(y) | Side::North(y) => Coord { x: a.x + (y - a.y) / (b.y - a.y) * (b.x - a.x), y },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, polygon, BooleanOps};
    use geo_types::MultiPolygon;

    fn square_with_hole() -> Geometry {
        Geometry::Polygon(polygon!(
            exterior: [(x: 0., y: 0.), (x: 10., y: 0.), (x: 10., y: 10.), (x: 0., y: 10.)],
            interiors: [[(x: 4., y: 4.), (x: 6., y: 4.), (x: 6., y: 6.), (x: 4., y: 6.)]],
        ))
    }

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Rect {
        Rect::new(coord! { x: x0, y: y0 }, coord! { x: x1, y: y1 })
    }

    #[test]
    fn tells_inside_apart_and_undecided() {
        let g = square_with_hole();
        assert_eq!(rect_side(&g, rect(1., 1., 2., 2.)), Some(RectSide::Inside));
        assert_eq!(rect_side(&g, rect(20., 20., 21., 21.)), Some(RectSide::Apart));
        // In the hole: apart.
        assert_eq!(rect_side(&g, rect(4.5, 4.5, 5.5, 5.5)), Some(RectSide::Apart));
        // The box holds the whole polygon, or crosses an edge, or touches one: undecided.
        assert_eq!(rect_side(&g, rect(-1., -1., 11., 11.)), None);
        assert_eq!(rect_side(&g, rect(9., 9., 11., 11.)), None);
        assert_eq!(rect_side(&g, rect(10., 2., 12., 3.)), None);
        assert_eq!(rect_side(&Geometry::Point(coord! { x: 1., y: 1. }.into()), rect(0., 0., 2., 2.)), None);
    }

    /// Against the exact overlay on many boxes: whenever it answers, the answer is right.
    #[test]
    fn agrees_with_the_exact_overlay() {
        let g = square_with_hole();
        let Geometry::Polygon(p) = &g else { unreachable!() };
        let mut decided = 0;
        for i in 0..24 {
            for j in 0..24 {
                let (x, y) = (-1.0 + i as f64 * 0.55, -1.0 + j as f64 * 0.55);
                let r = rect(x, y, x + 0.5, y + 0.5);
                let boxed = MultiPolygon(vec![r.to_polygon()]);
                let common = MultiPolygon(vec![p.clone()]).intersection(&boxed);
                let area: f64 = geo::Area::unsigned_area(&common);
                match rect_side(&g, r) {
                    Some(RectSide::Inside) => assert!((area - 0.25).abs() < 1e-9, "{r:?}"),
                    Some(RectSide::Apart) => assert!(area == 0.0 && !g.intersects(&r), "{r:?}"),
                    None => {}
                }
                decided += usize::from(rect_side(&g, r).is_some());
            }
        }
        assert!(decided > 300, "only {decided} boxes decided");
    }

    #[test]
    fn clipping_to_a_box_keeps_the_area_inside_it() {
        use geo::{Area, BooleanOps};
        // A comb: a ring that leaves and re-enters the box several times, with a hole.
        let mut ring = vec![Coord { x: 0.0, y: 0.0 }, Coord { x: 10.0, y: 0.0 }];
        for i in (0..5).rev() {
            let x = 2.0 * i as f64;
            ring.extend([
                Coord { x: x + 2.0, y: 10.0 },
                Coord { x: x + 1.0, y: 10.0 },
                Coord { x: x + 1.0, y: 3.0 },
                Coord { x, y: 3.0 },
            ]);
        }
        ring.push(Coord { x: 0.0, y: 0.0 });
        let hole = vec![
            Coord { x: 1.0, y: 1.0 },
            Coord { x: 1.0, y: 2.0 },
            Coord { x: 8.0, y: 2.0 },
            Coord { x: 8.0, y: 1.0 },
            Coord { x: 1.0, y: 1.0 },
        ];
        let comb = MultiPolygon(vec![Polygon::new(LineString(ring), vec![LineString(hole)])]);
        for rect in [
            Rect::new(Coord { x: -1.0, y: 5.0 }, Coord { x: 11.0, y: 8.0 }),
            Rect::new(Coord { x: 2.5, y: 0.5 }, Coord { x: 6.5, y: 20.0 }),
            Rect::new(Coord { x: 20.0, y: 20.0 }, Coord { x: 30.0, y: 30.0 }),
            Rect::new(Coord { x: -5.0, y: -5.0 }, Coord { x: 50.0, y: 50.0 }),
        ] {
            let exact = comb.intersection(&MultiPolygon(vec![rect.to_polygon()])).unsigned_area();
            let clipped = clip_to_rect(&comb, rect);
            let zone = MultiPolygon(vec![Rect::new(Coord { x: 0.5, y: 0.5 }, Coord { x: 7.0, y: 9.0 }).to_polygon()]);
            let through_clip = clipped.intersection(&zone).unsigned_area();
            let direct = comb.intersection(&MultiPolygon(vec![rect.to_polygon()])).intersection(&zone).unsigned_area();
            assert!((clipped.unsigned_area() - exact).abs() < 1e-9, "{rect:?}: {} vs {exact}", clipped.unsigned_area());
            assert!((through_clip - direct).abs() < 1e-9, "{rect:?}: {through_clip} vs {direct}");
        }
    }
}
