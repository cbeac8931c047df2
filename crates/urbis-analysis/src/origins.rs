//! Where trips start: parcels weighted by the people they house, or the points of any layer.
//! Each origin is one point (a polygon's interior point, so it lies inside the parcel).

use geo::{Geometry, InteriorPoint, Point};
use serde::{Deserialize, Serialize};
use urbis_core::Feature;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Origin {
    pub id: String,
    /// WGS 84.
    pub point: Point,
    pub weight: f64,
}

/// A feature that is not an origin, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OriginProblem {
    pub id: String,
    pub reason: String,
}

/// How parcels are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParcelWeight {
    /// `population` if any parcel has it, else `dwelling_units` if any has them, else one each.
    Auto,
    Population,
    DwellingUnits,
    One,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Origins {
    pub origins: Vec<Origin>,
    pub problems: Vec<OriginProblem>,
    /// The field the weights came from (`None`: one per origin).
    pub weight_field: Option<String>,
    /// Origins whose weight field was empty: weighted 0 (they still count as origins).
    pub weight_missing: usize,
}

impl Origins {
    /// Parcels as origins, weighted as asked.
    pub fn from_parcels(parcels: &[Feature], weight: ParcelWeight) -> Origins {
        let field = match weight {
            ParcelWeight::Population => Some("population"),
            ParcelWeight::DwellingUnits => Some("dwelling_units"),
            ParcelWeight::One => None,
            ParcelWeight::Auto => {
                ["population", "dwelling_units"].into_iter().find(|f| parcels.iter().any(|p| p.get(f).is_some()))
            }
        };
        Origins::from_points(parcels, field)
    }

    /// The features of any layer as origins, weighted by `weight_field` (or one each). A feature
    /// without geometry, or with a negative or non-numeric weight, is listed as a problem.
    pub fn from_points(features: &[Feature], weight_field: Option<&str>) -> Origins {
        let mut out = Origins {
            origins: vec![],
            problems: vec![],
            weight_field: weight_field.map(str::to_string),
            weight_missing: 0,
        };
        for f in features {
            let problem = |reason: String| OriginProblem { id: f.id.clone(), reason };
            let Some(g) = &f.geometry else {
                out.problems.push(problem("no geometry".into()));
                continue;
            };
            let Some(point) = representative_point(g) else {
                out.problems.push(problem("empty geometry".into()));
                continue;
            };
            if !point.x().is_finite() || !point.y().is_finite() {
                out.problems.push(problem("a coordinate is not a number".into()));
                continue;
            }
            let weight = match weight_field {
                None => 1.0,
                Some(field) => match f.get(field) {
                    None => {
                        out.weight_missing += 1;
                        0.0
                    }
                    Some(v) => match v.as_f64() {
                        Some(w) if w.is_finite() && w >= 0.0 => w,
                        _ => {
                            out.problems.push(problem(format!("`{field}` is {v}, not a weight (a number, 0 or more)")));
                            continue;
                        }
                    },
                },
            };
            out.origins.push(Origin { id: f.id.clone(), point, weight });
        }
        out
    }

    pub fn total_weight(&self) -> f64 {
        self.origins.iter().map(|o| o.weight).sum()
    }
}

/// A point of the geometry: itself for a point, the interior point otherwise.
fn representative_point(g: &Geometry) -> Option<Point> {
    match g {
        Geometry::Point(p) => Some(*p),
        other => other.interior_point(),
    }
}
