//! A cheap exact answer, when there is one, to "does this polygon cover or miss this box?": the
//! common case of a parcel well inside one zoning district, or far from a district's edge, is
//! settled by walking the district's rings once, with no overlay and no edge-against-edge test.

use geo::Intersects;
use geo_types::{Coord, Geometry, Line, Rect};

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
}
