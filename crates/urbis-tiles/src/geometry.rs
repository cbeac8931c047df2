//! The geometry half of a tile: WGS 84 geometry into the tile's integer grid. Per feature, in
//! this order: project into tile space (y down); clip against the tile and its buffer with geo's
//! boolean operations (skipped when the feature lies inside); simplify (Douglas–Peucker, the
//! zoom's pixel tolerance); quantise to the grid; drop what has become smaller than the minimum
//! size; repair polygons that rounding made invalid; orient rings as MVT 2.1 wants (exterior
//! rings of positive area by the surveyor's formula in tile space, i.e. clockwise on screen,
//! holes negative). Then the command stream of the spec, section 4.3.

use std::borrow::Cow;

use geo::{BooleanOps, BoundingRect, Simplify, Validation};
use geo_types::{Coord, Geometry, LineString, MultiLineString, MultiPolygon, Polygon, Rect};

use crate::tms::TileTransform;

/// A point in the tile's grid.
pub type Pt = (i32, i32);

/// A feature's geometry in the grid, ready to encode. Rings are open (no repeated first point).
#[derive(Debug, Clone, PartialEq)]
pub enum TileGeometry {
    Points(Vec<Pt>),
    Lines(Vec<Vec<Pt>>),
    /// Polygons, each an exterior ring followed by its holes.
    Polygons(Vec<Vec<Vec<Pt>>>),
}

impl TileGeometry {
    /// Area in square tile units for polygons, length for lines, 0 for points: how the feature
    /// limit ranks features.
    pub fn size(&self) -> f64 {
        match self {
            TileGeometry::Points(_) => 0.0,
            TileGeometry::Lines(ls) => ls.iter().map(|l| line_length(l)).sum(),
            TileGeometry::Polygons(ps) => ps.iter().map(|p| ring_area(&p[0])).sum(),
        }
    }
}

/// How to fit geometries into one tile.
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    pub transform: TileTransform,
    pub extent: u32,
    /// Tile units kept around the tile.
    pub buffer: f64,
    /// Douglas–Peucker tolerance in tile units.
    pub tolerance: f64,
    /// Minimum polygon area (square tile units) and line length (tile units).
    pub min_area: f64,
    pub min_length: f64,
}

impl Fit {
    fn clip_rect(&self) -> Rect {
        let (lo, hi) = (-self.buffer, self.extent as f64 + self.buffer);
        Rect::new(Coord { x: lo, y: lo }, Coord { x: hi, y: hi })
    }
}

/// A geometry in tile space, one entry per MVT geometry type it holds (a collection of points and
/// lines gives two); empty when nothing of it is left in the tile.
pub fn fit(g: &Geometry, fit: &Fit) -> Vec<TileGeometry> {
    let mut points = vec![];
    let mut lines = vec![];
    let mut polygons = vec![];
    gather(g, &mut points, &mut lines, &mut polygons);
    let mut out = vec![];
    if !points.is_empty() {
        if let Some(p) = fit_points(&points, fit) {
            out.push(p);
        }
    }
    if !lines.is_empty() {
        if let Some(l) = fit_lines(&lines, fit) {
            out.push(l);
        }
    }
    if !polygons.is_empty() {
        if let Some(p) = fit_polygons(&polygons, fit) {
            out.push(p);
        }
    }
    out
}

/// The parts of a geometry by MVT type, borrowed where they can be (they are projected into new
/// ones next: no copy of the source's coordinates).
fn gather<'a>(
    g: &'a Geometry,
    points: &mut Vec<Coord>,
    lines: &mut Vec<Cow<'a, LineString>>,
    polygons: &mut Vec<Cow<'a, Polygon>>,
) {
    match g {
        Geometry::Point(p) => points.push(p.0),
        Geometry::MultiPoint(mp) => points.extend(mp.iter().map(|p| p.0)),
        Geometry::Line(l) => lines.push(Cow::Owned(LineString(vec![l.start, l.end]))),
        Geometry::LineString(l) => lines.push(Cow::Borrowed(l)),
        Geometry::MultiLineString(m) => lines.extend(m.iter().map(Cow::Borrowed)),
        Geometry::Polygon(p) => polygons.push(Cow::Borrowed(p)),
        Geometry::MultiPolygon(m) => polygons.extend(m.iter().map(Cow::Borrowed)),
        Geometry::Rect(r) => polygons.push(Cow::Owned(r.to_polygon())),
        Geometry::Triangle(t) => polygons.push(Cow::Owned(t.to_polygon())),
        Geometry::GeometryCollection(c) => c.iter().for_each(|g| gather(g, points, lines, polygons)),
    }
}

fn project_ls(ls: &LineString, t: &TileTransform) -> LineString {
    LineString(ls.0.iter().map(|c| t.apply(*c)).collect())
}

fn round(c: Coord) -> Pt {
    (c.x.round() as i32, c.y.round() as i32)
}

fn fit_points(points: &[Coord], fit: &Fit) -> Option<TileGeometry> {
    let r = fit.clip_rect();
    let mut out: Vec<Pt> = points
        .iter()
        .map(|c| fit.transform.apply(*c))
        .filter(|c| c.x >= r.min().x && c.x <= r.max().x && c.y >= r.min().y && c.y <= r.max().y)
        .map(round)
        .collect();
    out.dedup();
    (!out.is_empty()).then_some(TileGeometry::Points(out))
}

/// Where a projected geometry lies against the clip box.
enum Placement {
    Outside,
    Inside,
    Across,
}

fn placement(bbox: Option<Rect>, clip: &Rect) -> Placement {
    let Some(b) = bbox else { return Placement::Outside };
    if b.max().x < clip.min().x || b.min().x > clip.max().x || b.max().y < clip.min().y || b.min().y > clip.max().y {
        Placement::Outside
    } else if b.min().x >= clip.min().x
        && b.max().x <= clip.max().x
        && b.min().y >= clip.min().y
        && b.max().y <= clip.max().y
    {
        Placement::Inside
    } else {
        Placement::Across
    }
}

/// Which sides of `clip` a point lies beyond: one bit per side (Cohen–Sutherland), 0 inside.
fn outcode(c: Coord, clip: &Rect) -> u8 {
    (c.x < clip.min().x) as u8
        | ((c.x > clip.max().x) as u8) << 1
        | ((c.y < clip.min().y) as u8) << 2
        | ((c.y > clip.max().y) as u8) << 3
}

/// `line` with fewer vertices but the same part inside `clip`: a run of vertices all beyond the
/// same side of the box becomes its first and last vertex. The run and the segment that replaces
/// it lie in the same open half-plane outside the box, so the part of a line inside the box is
/// unchanged, and so is the winding number of every point of the box about a ring (the loop the
/// run and the segment make does not wind around any point outside that half-plane): clipping
/// gives the same result, and costs what the vertices near the tile cost. A district of a
/// thousand vertices crossing a z16 tile keeps a few dozen. First and last vertices are kept (a
/// ring stays closed). `None` when every vertex is beyond one side (nothing of it is inside).
fn reduce(line: &LineString, clip: &Rect) -> Option<LineString> {
    let cs = &line.0;
    if cs.len() < 4 {
        return Some(line.clone());
    }
    let codes: Vec<u8> = cs.iter().map(|c| outcode(*c, clip)).collect();
    if codes.iter().fold(0xff, |a, c| a & c) != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(cs.len());
    out.push(cs[0]);
    let (mut anchor, mut tail, mut acc) = (0, 0, codes[0]);
    for i in 1..cs.len() {
        if acc & codes[i] != 0 {
            // Beyond a side shared by the whole run since the anchor: swallowed for now.
            acc &= codes[i];
            tail = i;
            continue;
        }
        if tail != anchor {
            // The run ends at `tail`, which starts the next one.
            out.push(cs[tail]);
            anchor = tail;
            acc = codes[tail] & codes[i];
            if acc != 0 {
                tail = i;
                continue;
            }
        }
        out.push(cs[i]);
        (anchor, tail, acc) = (i, i, codes[i]);
    }
    if tail != anchor {
        out.push(cs[tail]);
    }
    Some(LineString(out))
}

fn fit_lines(lines: &[Cow<LineString>], fit: &Fit) -> Option<TileGeometry> {
    let projected = MultiLineString(lines.iter().map(|l| project_ls(l, &fit.transform)).collect());
    let clip = fit.clip_rect();
    let clipped = match placement(projected.bounding_rect(), &clip) {
        Placement::Outside => return None,
        Placement::Inside => projected,
        Placement::Across => {
            let reduced = MultiLineString(projected.0.iter().filter_map(|l| reduce(l, &clip)).collect());
            clip.to_polygon().clip(&reduced, false)
        }
    };
    let mut out = vec![];
    for l in clipped.0 {
        let l = if fit.tolerance > 0.0 { l.simplify(fit.tolerance) } else { l };
        let mut pts: Vec<Pt> = l.0.iter().map(|c| round(*c)).collect();
        pts.dedup();
        if pts.len() >= 2 && line_length(&pts) >= fit.min_length {
            out.push(pts);
        }
    }
    (!out.is_empty()).then_some(TileGeometry::Lines(out))
}

fn fit_polygons(polygons: &[Cow<Polygon>], fit: &Fit) -> Option<TileGeometry> {
    let t = &fit.transform;
    let projected = MultiPolygon(
        polygons
            .iter()
            .map(|p| {
                Polygon::new(project_ls(p.exterior(), t), p.interiors().iter().map(|r| project_ls(r, t)).collect())
            })
            .collect(),
    );
    let clip = fit.clip_rect();
    let clipped = match placement(projected.bounding_rect(), &clip) {
        Placement::Outside => return None,
        Placement::Inside => projected,
        Placement::Across => {
            // A polygon whose exterior is beyond one side goes, holes and all (they lie inside it).
            let reduced = MultiPolygon(
                projected
                    .0
                    .iter()
                    .filter_map(|p| {
                        let exterior = reduce(p.exterior(), &clip)?;
                        Some(Polygon::new(exterior, p.interiors().iter().filter_map(|r| reduce(r, &clip)).collect()))
                    })
                    .collect(),
            );
            reduced.intersection(&clip.to_polygon())
        }
    };
    let simplified = if fit.tolerance > 0.0 { clipped.simplify(fit.tolerance) } else { clipped };
    let mut polys = quantise(&simplified, fit.min_area);
    if polys.is_empty() {
        return None;
    }
    // Rounding to the grid (and simplifying) can make rings touch or cross: rebuild those with a
    // union, which resolves self-intersections, and round again.
    if !is_valid(&polys) {
        let repaired = to_multipolygon(&polys).union(&MultiPolygon::<f64>(vec![]));
        polys = quantise(&repaired, fit.min_area);
        if !is_valid(&polys) {
            tracing::debug!("a polygon is still invalid after its repair and a second rounding; written so");
        }
        if polys.is_empty() {
            return None;
        }
    }
    for p in &mut polys {
        for (i, ring) in p.iter_mut().enumerate() {
            let a = signed_area(ring);
            if (i == 0) != (a > 0.0) {
                ring.reverse();
            }
        }
    }
    Some(TileGeometry::Polygons(polys))
}

/// Rounds every ring to the grid, removes repeated points, and drops rings with less area than
/// `min_area` (a polygon whose exterior is dropped goes with its holes).
fn quantise(mp: &MultiPolygon, min_area: f64) -> Vec<Vec<Vec<Pt>>> {
    let ring = |ls: &LineString| -> Option<Vec<Pt>> {
        let mut pts: Vec<Pt> = ls.0.iter().map(|c| round(*c)).collect();
        pts.dedup();
        while pts.len() > 1 && pts.first() == pts.last() {
            pts.pop();
        }
        (pts.len() >= 3 && ring_area(&pts) >= min_area.max(f64::MIN_POSITIVE)).then_some(pts)
    };
    mp.0.iter()
        .filter_map(|p| {
            let ext = ring(p.exterior())?;
            let mut rings = vec![ext];
            rings.extend(p.interiors().iter().filter_map(ring));
            Some(rings)
        })
        .collect()
}

/// Whether quantised polygons are valid (OGC simple features). A lone ring of up to 64 vertices,
/// the common case (a parcel), is checked here exactly in integers; anything else by geo.
fn is_valid(polys: &[Vec<Vec<Pt>>]) -> bool {
    if let [p] = polys {
        if let [ring] = p.as_slice() {
            if ring.len() <= 64 {
                return simple_ring(ring);
            }
        }
    }
    to_multipolygon(polys).is_valid()
}

/// An open ring is simple when no two of its edges meet, except neighbours at their shared vertex
/// (and then not folding back along each other), and it encloses some area.
fn simple_ring(r: &[Pt]) -> bool {
    let n = r.len();
    if n < 3 || signed_area(r) == 0.0 {
        return false;
    }
    let orient = |a: Pt, b: Pt, c: Pt| -> i64 {
        let v = (b.0 as i64 - a.0 as i64) * (c.1 as i64 - a.1 as i64)
            - (b.1 as i64 - a.1 as i64) * (c.0 as i64 - a.0 as i64);
        v.signum()
    };
    let within =
        |a: Pt, b: Pt, c: Pt| c.0 >= a.0.min(b.0) && c.0 <= a.0.max(b.0) && c.1 >= a.1.min(b.1) && c.1 <= a.1.max(b.1);
    let meet = |p1: Pt, p2: Pt, q1: Pt, q2: Pt| -> bool {
        let (d1, d2, d3, d4) = (orient(q1, q2, p1), orient(q1, q2, p2), orient(p1, p2, q1), orient(p1, p2, q2));
        (d1 * d2 < 0 && d3 * d4 < 0)
            || (d1 == 0 && within(q1, q2, p1))
            || (d2 == 0 && within(q1, q2, p2))
            || (d3 == 0 && within(p1, p2, q1))
            || (d4 == 0 && within(p1, p2, q2))
    };
    for i in 0..n {
        let (a, b) = (r[i], r[(i + 1) % n]);
        for j in i + 1..n {
            let (c, d) = (r[j], r[(j + 1) % n]);
            if j == i + 1 || (i == 0 && j == n - 1) {
                // Neighbours share one vertex; they must not overlap along a line.
                let (shared, p, q) = if j == i + 1 { (b, a, d) } else { (a, b, c) };
                let along = orient(shared, p, q) == 0
                    && (p.0 - shared.0) as i64 * (q.0 - shared.0) as i64
                        + (p.1 - shared.1) as i64 * (q.1 - shared.1) as i64
                        > 0;
                if along {
                    return false;
                }
            } else if meet(a, b, c, d) {
                return false;
            }
        }
    }
    true
}

fn to_multipolygon(polys: &[Vec<Vec<Pt>>]) -> MultiPolygon {
    let ls = |r: &Vec<Pt>| {
        let mut c: Vec<Coord> = r.iter().map(|&(x, y)| Coord { x: x as f64, y: y as f64 }).collect();
        c.push(c[0]);
        LineString(c)
    };
    MultiPolygon(polys.iter().map(|p| Polygon::new(ls(&p[0]), p[1..].iter().map(ls).collect())).collect())
}

/// The surveyor's formula: the signed area of an open ring in tile units. Positive
/// means clockwise on screen (y down), which MVT 2.1 requires of exterior rings.
pub fn signed_area(ring: &[Pt]) -> f64 {
    let n = ring.len();
    let mut sum = 0i64;
    for i in 0..n {
        let (x0, y0) = ring[i];
        let (x1, y1) = ring[(i + 1) % n];
        sum += x0 as i64 * y1 as i64 - x1 as i64 * y0 as i64;
    }
    sum as f64 / 2.0
}

fn ring_area(ring: &[Pt]) -> f64 {
    signed_area(ring).abs()
}

fn line_length(l: &[Pt]) -> f64 {
    l.windows(2).map(|w| (((w[1].0 - w[0].0) as f64).powi(2) + ((w[1].1 - w[0].1) as f64).powi(2)).sqrt()).sum()
}

/// The MVT geometry commands (spec 4.3) of a fitted geometry, with its `GeomType` number.
pub fn commands(g: &TileGeometry) -> (i32, Vec<u32>) {
    const MOVE_TO: u32 = 1;
    const LINE_TO: u32 = 2;
    const CLOSE_PATH: u32 = 7;
    let command = |id: u32, count: usize| (id & 0x7) | ((count as u32) << 3);
    let zigzag = |v: i32| ((v << 1) ^ (v >> 31)) as u32;
    let mut out = vec![];
    let mut cursor = (0i32, 0i32);
    let push = |out: &mut Vec<u32>, p: Pt, cursor: &mut Pt| {
        out.push(zigzag(p.0 - cursor.0));
        out.push(zigzag(p.1 - cursor.1));
        *cursor = p;
    };
    match g {
        TileGeometry::Points(ps) => {
            out.push(command(MOVE_TO, ps.len()));
            for &p in ps {
                push(&mut out, p, &mut cursor);
            }
            (1, out)
        }
        TileGeometry::Lines(ls) => {
            for l in ls {
                out.push(command(MOVE_TO, 1));
                push(&mut out, l[0], &mut cursor);
                out.push(command(LINE_TO, l.len() - 1));
                for &p in &l[1..] {
                    push(&mut out, p, &mut cursor);
                }
            }
            (2, out)
        }
        TileGeometry::Polygons(ps) => {
            for ring in ps.iter().flatten() {
                out.push(command(MOVE_TO, 1));
                push(&mut out, ring[0], &mut cursor);
                out.push(command(LINE_TO, ring.len() - 1));
                for &p in &ring[1..] {
                    push(&mut out, p, &mut cursor);
                }
                out.push(command(CLOSE_PATH, 1));
            }
            (3, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tms::TileId;
    use geo::{line_string, polygon};

    /// Star-shaped rings and zigzag lines around and across a box, from a fixed seed: the part
    /// inside the box is the same with or without [`reduce`] (same area, same length).
    #[test]
    fn reducing_keeps_what_is_inside_the_box() {
        use geo::{Area, Euclidean, Length};
        let clip = Rect::new(Coord { x: 0.0, y: 0.0 }, Coord { x: 100.0, y: 100.0 });
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut reduced_some = 0;
        for case in 0..300 {
            let (cx, cy) = (rnd() * 300.0 - 100.0, rnd() * 300.0 - 100.0);
            let n = 8 + (rnd() * 200.0) as usize;
            let mut ring: Vec<Coord> = (0..n)
                .map(|i| {
                    let a = i as f64 / n as f64 * std::f64::consts::TAU;
                    let r = 20.0 + rnd() * 180.0;
                    Coord { x: cx + r * a.cos(), y: cy + r * a.sin() }
                })
                .collect();
            ring.push(ring[0]);
            let ring = LineString(ring);
            let poly = MultiPolygon(vec![Polygon::new(ring.clone(), vec![])]);
            let whole = poly.intersection(&clip.to_polygon()).unsigned_area();
            let part = match reduce(&ring, &clip) {
                Some(r) => {
                    assert!(r.0.len() <= ring.0.len() && r.0.first() == r.0.last(), "case {case}");
                    reduced_some += (r.0.len() < ring.0.len()) as usize;
                    MultiPolygon(vec![Polygon::new(r, vec![])]).intersection(&clip.to_polygon()).unsigned_area()
                }
                None => 0.0,
            };
            assert!((whole - part).abs() <= 1e-6 * whole.max(1.0), "case {case}: area {whole} became {part}");
            let line =
                LineString((0..n).map(|_| Coord { x: rnd() * 400.0 - 150.0, y: rnd() * 400.0 - 150.0 }).collect());
            let lines = MultiLineString(vec![line.clone()]);
            let whole = Euclidean.length(&clip.to_polygon().clip(&lines, false));
            let part = reduce(&line, &clip)
                .map(|l| Euclidean.length(&clip.to_polygon().clip(&MultiLineString(vec![l]), false)))
                .unwrap_or(0.0);
            assert!((whole - part).abs() <= 1e-6 * whole.max(1.0), "case {case}: length {whole} became {part}");
        }
        assert!(reduced_some > 100, "{reduced_some}");
    }

    /// A ft for z14 tile 4956/6057 of Cambridge.
    fn cambridge() -> (TileId, Fit) {
        let tile = TileId { z: 14, x: 4956, y: 6057 };
        let ft = Fit {
            transform: TileTransform::new(tile, 4096),
            extent: 4096,
            buffer: 64.0,
            tolerance: 0.0,
            min_area: 0.0,
            min_length: 0.0,
        };
        (tile, ft)
    }

    /// Degrees of a tile-space point.
    fn deg(ft: &Fit, x: f64, y: f64) -> (f64, f64) {
        let c = ft.transform.invert(Coord { x, y });
        (c.x, c.y)
    }

    fn square(ft: &Fit, x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon {
        let (a, b) = deg(ft, x0, y0);
        let (c, d) = deg(ft, x1, y1);
        // Counter-clockwise in degrees (north up) as GeoJSON wants: its tile-space winding is the
        // opposite, which the ft must turn.
        polygon![(x: a, y: d), (x: c, y: d), (x: c, y: b), (x: a, y: b)]
    }

    #[test]
    fn polygons_are_clipped_to_the_buffer_and_wound_for_y_down() {
        let (_, ft) = cambridge();
        let mut p = square(&ft, -1000.0, 100.0, 500.0, 600.0);
        // With a hole, which must come out with the other winding.
        let (a, b) = deg(&ft, 200.0, 200.0);
        let (c, d) = deg(&ft, 300.0, 300.0);
        p.interiors_push(line_string![(x: a, y: b), (x: c, y: b), (x: c, y: d), (x: a, y: d), (x: a, y: b)]);
        let out = fit_polygons(&[Cow::Owned(p)], &ft).unwrap();
        let TileGeometry::Polygons(ps) = out else { panic!() };
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].len(), 2);
        assert!(signed_area(&ps[0][0]) > 0.0, "exterior must be clockwise on screen: {:?}", ps[0][0]);
        assert!(signed_area(&ps[0][1]) < 0.0, "holes the other way: {:?}", ps[0][1]);
        let min_x = ps[0][0].iter().map(|p| p.0).min().unwrap();
        assert_eq!(min_x, -64, "clipped at the buffer's edge");
        assert!((signed_area(&ps[0][0]) - 564.0 * 500.0).abs() < 600.0, "{}", signed_area(&ps[0][0]));
    }

    #[test]
    fn lines_are_clipped_and_features_outside_vanish() {
        let (_, ft) = cambridge();
        let (a, b) = deg(&ft, -5000.0, 2048.0);
        let (c, d) = deg(&ft, 2048.0, 2048.0);
        let g: Geometry = LineString::from(vec![(a, b), (c, d)]).into();
        let out = fit(&g, &ft);
        let [TileGeometry::Lines(ls)] = out.as_slice() else { panic!("{out:?}") };
        assert_eq!(ls[0].iter().map(|p| p.0).min(), Some(-64));
        let far = square(&ft, 9000.0, 9000.0, 9100.0, 9100.0);
        assert!(fit_polygons(&[Cow::Owned(far)], &ft).is_none());
    }

    #[test]
    fn features_smaller_than_the_minimum_are_dropped() {
        let (_, mut ft) = cambridge();
        ft.min_area = 256.0;
        ft.min_length = 16.0;
        let small = square(&ft, 100.0, 100.0, 110.0, 110.0); // 100 units², under a pixel²
        assert!(fit_polygons(&[Cow::Owned(small)], &ft).is_none());
        let big = square(&ft, 100.0, 100.0, 130.0, 130.0);
        assert!(fit_polygons(&[Cow::Owned(big)], &ft).is_some());
        let (a, b) = deg(&ft, 10.0, 10.0);
        let (c, d) = deg(&ft, 20.0, 10.0);
        let short: Geometry = LineString::from(vec![(a, b), (c, d)]).into();
        assert!(fit(&short, &ft).is_empty());
    }

    #[test]
    fn simplification_removes_vertices_within_tolerance() {
        let (_, mut ft) = cambridge();
        ft.tolerance = 8.0;
        let pts: Vec<(f64, f64)> =
            (0..=100).map(|i| deg(&ft, i as f64 * 20.0, 1000.0 + (i % 2) as f64 * 3.0)).collect();
        let g: Geometry = LineString::from(pts).into();
        let out = fit(&g, &ft);
        let [TileGeometry::Lines(ls)] = out.as_slice() else { panic!("{out:?}") };
        assert_eq!(ls[0].len(), 2, "{:?}", ls[0]);
    }

    #[test]
    fn quantisation_keeps_polygons_valid() {
        let (_, ft) = cambridge();
        // A bow-tie once rounded: two vertices 0.3 units apart across the other edge.
        let pts = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (50.2, 49.9), (49.8, 50.1), (0.0, 100.0)];
        let ring: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| deg(&ft, x + 1000.0, y + 1000.0)).collect();
        let p = Polygon::new(LineString::from(ring), vec![]);
        let TileGeometry::Polygons(ps) = fit_polygons(&[Cow::Owned(p)], &ft).unwrap() else { panic!() };
        assert!(to_multipolygon(&ps).is_valid(), "{ps:?}");
        for p in &ps {
            assert!(signed_area(&p[0]) > 0.0);
        }
    }

    #[test]
    fn the_exact_ring_check_agrees_with_geo() {
        assert!(simple_ring(&[(0, 0), (10, 0), (10, 10), (0, 10)]));
        assert!(!simple_ring(&[(0, 0), (10, 10), (10, 0), (0, 10)]), "bow-tie");
        assert!(!simple_ring(&[(0, 0), (10, 0), (5, 0), (5, 5)]), "fold back");
        // Rings of 4 to 8 vertices on a 6 × 6 grid, from a fixed pseudo-random sequence.
        let mut seed = 0x2545_f491_u64;
        let mut next = |m: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) % m) as i32
        };
        let (mut simple, mut not) = (0, 0);
        for _ in 0..3000 {
            let n = 4 + next(5) as usize;
            let mut ring: Vec<Pt> = (0..n).map(|_| (next(6), next(6))).collect();
            ring.dedup();
            while ring.len() > 1 && ring.first() == ring.last() {
                ring.pop();
            }
            // Rings without area never get this far (quantise drops them); geo calls some valid.
            if ring.len() < 3 || signed_area(&ring) == 0.0 {
                continue;
            }
            let geo_says = to_multipolygon(&[vec![ring.clone()]]).is_valid();
            assert_eq!(simple_ring(&ring), geo_says, "{ring:?}");
            if geo_says {
                simple += 1;
            } else {
                not += 1;
            }
        }
        assert!(simple > 100 && not > 100, "{simple} {not}");
    }

    #[test]
    fn command_stream_follows_the_spec() {
        // The spec's own example (4.3.5): a polygon with exterior (3,6) (8,12) (20,34).
        let g = TileGeometry::Polygons(vec![vec![vec![(3, 6), (8, 12), (20, 34)]]]);
        assert_eq!(commands(&g), (3, vec![9, 6, 12, 18, 10, 12, 24, 44, 15]));
        // Points (4.3.5 example 2): (5,7) and (3,2).
        assert_eq!(commands(&TileGeometry::Points(vec![(5, 7), (3, 2)])), (1, vec![17, 10, 14, 3, 9]));
        // A line (example 3): (2,2) (2,10) (10,10).
        assert_eq!(
            commands(&TileGeometry::Lines(vec![vec![(2, 2), (2, 10), (10, 10)]])),
            (2, vec![9, 4, 4, 18, 0, 16, 16, 0])
        );
    }
}
