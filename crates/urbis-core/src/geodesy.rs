//! Distances and areas in metres, never in degrees: geodesic area, and a local azimuthal
//! projection around a point for distances between any two geometries within a city.

use geo::{Coord, Distance, Euclidean, GeodesicArea, Geometry, MapCoords, Point, Rect};

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Geodesic area of a geometry in square metres (0 for points and lines).
pub fn area_m2(g: &Geometry) -> f64 {
    g.geodesic_area_unsigned()
}

/// An equirectangular projection centred on `origin`, in metres. Within a few tens of kilometres of
/// the origin its distance error stays under a tenth of a percent, enough to rank and threshold
/// distances inside a city.
#[derive(Debug, Clone, Copy)]
pub struct LocalProjection {
    origin: Coord,
    kx: f64,
    ky: f64,
}

impl LocalProjection {
    pub fn new(origin: Coord) -> Self {
        let ky = EARTH_RADIUS_M.to_radians(); // metres per degree of latitude
        let kx = ky * origin.y.to_radians().cos();
        LocalProjection { origin, kx, ky }
    }

    pub fn project(&self, c: Coord) -> Coord {
        Coord { x: (c.x - self.origin.x) * self.kx, y: (c.y - self.origin.y) * self.ky }
    }

    pub fn unproject(&self, c: Coord) -> Coord {
        Coord { x: c.x / self.kx + self.origin.x, y: c.y / self.ky + self.origin.y }
    }

    pub fn project_geometry(&self, g: &Geometry) -> Geometry {
        g.map_coords(|c| self.project(c))
    }

    /// Metres between two geometries, measured in this projection.
    pub fn distance_m(&self, a: &Geometry, b: &Geometry) -> f64 {
        Euclidean.distance(&self.project_geometry(a), &self.project_geometry(b))
    }
}

/// Metres between two geometries. From a point, the great-circle distance to the closest point
/// of the other geometry (the closest point found in a local projection); otherwise the distance
/// in a projection centred between them.
pub fn distance_m(a: &Geometry, b: &Geometry) -> f64 {
    use geo::{BoundingRect, ClosestPoint};
    if let Geometry::Point(p) = a {
        let proj = LocalProjection::new(p.0);
        let target = proj.project_geometry(b);
        let closest = match target.closest_point(&Point::new(0.0, 0.0)) {
            geo::Closest::Intersection(_) => return 0.0,
            geo::Closest::SinglePoint(c) => c,
            geo::Closest::Indeterminate => return f64::NAN,
        };
        return haversine_m(*p, Point(proj.unproject(closest.0)));
    }
    let centre = match (a.bounding_rect(), b.bounding_rect()) {
        (Some(ra), Some(rb)) => {
            Coord { x: (ra.center().x + rb.center().x) / 2.0, y: (ra.center().y + rb.center().y) / 2.0 }
        }
        _ => return f64::NAN,
    };
    LocalProjection::new(centre).distance_m(a, b)
}

/// A box in degrees that holds every point within `metres` of `rect`: the prefilter for
/// "within distance" on an index of boxes.
pub fn expand_by_metres(rect: Rect, metres: f64) -> Rect {
    let dlat = (metres / EARTH_RADIUS_M).to_degrees();
    let worst_lat = rect.max().y.abs().max(rect.min().y.abs()).min(89.0) + dlat;
    let dlon = dlat / worst_lat.min(89.9).to_radians().cos();
    Rect::new(
        Coord { x: (rect.min().x - dlon).max(-180.0), y: (rect.min().y - dlat).max(-90.0) },
        Coord { x: (rect.max().x + dlon).min(180.0), y: (rect.max().y + dlat).min(90.0) },
    )
}

/// Great-circle metres between two points.
pub fn haversine_m(a: Point, b: Point) -> f64 {
    geo::Haversine.distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{point, polygon};

    #[test]
    fn local_distance_agrees_with_haversine_within_a_city() {
        let a = point!(x: -71.1055, y: 42.3670);
        let b = point!(x: -71.0810, y: 42.3625);
        let local = distance_m(&a.into(), &b.into());
        let gc = haversine_m(a, b);
        assert!((local - gc).abs() / gc < 1e-3, "{local} vs {gc}");
    }

    #[test]
    fn distance_from_a_point_to_a_polygon_is_to_its_nearest_edge() {
        let sq: Geometry = polygon![(x: 0.0, y: 0.0), (x: 0.01, y: 0.0), (x: 0.01, y: 0.01), (x: 0.0, y: 0.01)].into();
        let inside = point!(x: 0.005, y: 0.005);
        assert_eq!(distance_m(&inside.into(), &sq), 0.0);
        let west = point!(x: -0.01, y: 0.005);
        let d = distance_m(&west.into(), &sq);
        let expect = haversine_m(west, point!(x: 0.0, y: 0.005));
        assert!((d - expect).abs() < 0.01, "{d} vs {expect}");
    }

    #[test]
    fn area_of_a_hundred_metre_square() {
        // On the ellipsoid at the equator a degree of latitude is 110,574 m, of longitude 111,320 m.
        let (dx, dy) = (100.0 / 111_320.0, 100.0 / 110_574.0);
        let p: Geometry = polygon![(x: 0., y: 0.), (x: dx, y: 0.), (x: dx, y: dy), (x: 0., y: dy)].into();
        assert!((area_m2(&p) - 10_000.0).abs() < 20.0, "{}", area_m2(&p));
    }

    #[test]
    fn expanded_box_holds_the_distance() {
        let r = Rect::new(Coord { x: -71.1, y: 42.3 }, Coord { x: -71.1, y: 42.3 });
        let e = expand_by_metres(r, 1000.0);
        let east = point!(x: e.max().x, y: 42.3);
        assert!(haversine_m(point!(x: -71.1, y: 42.3), east) >= 1000.0);
    }
}
