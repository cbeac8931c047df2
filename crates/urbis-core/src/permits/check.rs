//! The automatic parcel check: given a site and what is proposed on it, and the districts,
//! overlays, utilities and open dossiers around it, what the rules say. The rules are data: each
//! zoning district carries its limits and uses with the ordinance article they come from, and each
//! overlay over the site adds its own (a height limit, and its article to be consulted), so the
//! rules of a site are its base zone combined with its overlays. Every finding cites its source.

use geo::{BooleanOps, BoundingRect};
use geo_types::{Geometry, MultiPolygon};
use serde::Serialize;

use crate::domain::{Utility, ZoningDistrict, ZoningOverlay};
use crate::geodesy::{area_m2, distance_m};
use crate::overlap::{clip_to_rect, rect_side, RectSide};

/// A district that covers less than this share of a site only touches its edge.
pub const MIN_SHARE: f64 = 0.001;

/// The polygons of a geometry (none for points and lines).
pub fn polygons(g: &Geometry) -> MultiPolygon {
    match g {
        Geometry::MultiPolygon(m) => m.clone(),
        Geometry::Polygon(p) => MultiPolygon(vec![p.clone()]),
        Geometry::GeometryCollection(c) => MultiPolygon(c.iter().flat_map(|g| polygons(g).0).collect()),
        _ => MultiPolygon(vec![]),
    }
}

/// The share of `site` (by geodesic area) that lies in `zone`, from 0 to 1.
pub fn share_of_site(site: &MultiPolygon, zone: &Geometry) -> f64 {
    share_of_site_of_area(site, area_m2(&Geometry::MultiPolygon(site.clone())), zone)
}

/// [`share_of_site`] for a site whose area (m²) is known: measuring a large site's area on the
/// ellipsoid costs more than the overlay itself, so a site tested against many zones is
/// measured once.
pub fn share_of_site_of_area(site: &MultiPolygon, area: f64, zone: &Geometry) -> f64 {
    if area <= 0.0 {
        return 0.0;
    }
    // Well inside the zone, or clear of it (the usual cases): no overlay needed.
    match site.bounding_rect().and_then(|b| rect_side(zone, b)) {
        Some(RectSide::Inside) => return 1.0,
        Some(RectSide::Apart) => return 0.0,
        None => {}
    }
    let zone = polygons(zone);
    // A large site (a parcel along a whole street) is first cut to the zone's box, so the
    // overlay handles only its vertices near the zone.
    let clipped;
    let site = match zone.bounding_rect() {
        Some(b) if site.iter().map(|p| p.exterior().0.len()).sum::<usize>() > 256 => {
            clipped = clip_to_rect(site, b);
            &clipped
        }
        _ => site,
    };
    let inside = area_m2(&Geometry::MultiPolygon(site.intersection(&zone)));
    (inside / area).clamp(0.0, 1.0)
}

/// What an application proposes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Proposal {
    /// A use code as the zoning rules name them (`residential_multifamily`, `office`, …).
    pub use_code: Option<String>,
    pub height_m: Option<f64>,
    pub floor_area_m2: Option<f64>,
    /// Share of the lot the buildings would cover (0 to 1).
    pub lot_coverage: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Located<T> {
    pub id: String,
    pub value: T,
    pub geometry: Geometry,
}

/// Another dossier on or near the site.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherDossier {
    pub id: String,
    pub tracking_code: String,
    pub procedure_code: String,
    pub stage: String,
    /// Its history holds a decision (it may still be paying a fee before the delivery).
    pub decided: bool,
    pub parcel_codes: Vec<String>,
    pub geometry: Option<Geometry>,
}

/// Everything the check reads.
#[derive(Debug, Clone)]
pub struct CheckInput<'a> {
    /// The site: the parcels' polygons (or the geometry the applicant drew).
    pub site: &'a Geometry,
    pub parcel_codes: &'a [String],
    pub proposal: &'a Proposal,
    /// The dossier being checked, left out of the conflicts.
    pub dossier_id: Option<&'a str>,
    pub districts: &'a [Located<ZoningDistrict>],
    pub overlays: &'a [Located<ZoningOverlay>],
    pub utilities: &'a [Located<Utility>],
    pub dossiers: &'a [OtherDossier],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UseStatus {
    Permitted,
    Conditional,
    Prohibited,
}

/// Where a rule comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// `zoning_districts` or `zoning_overlays`.
    pub layer: &'static str,
    pub id: String,
    pub name: String,
    pub article: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistrictFinding {
    pub id: String,
    pub code: String,
    pub name: Option<String>,
    pub share: f64,
    pub article: Option<String>,
    /// `None` when nothing is proposed.
    pub use_status: Option<UseStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitFinding {
    /// `height_m`, `floor_area_ratio` or `lot_coverage`.
    pub limit: &'static str,
    pub proposed: f64,
    pub allowed: f64,
    pub complies: bool,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverlayFinding {
    pub id: String,
    pub name: String,
    pub kind: Option<String>,
    pub article: Option<String>,
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtectionFinding {
    pub utility: String,
    pub network: String,
    pub kind: Option<String>,
    pub protection_m: f64,
    pub distance_m: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictFinding {
    pub id: String,
    pub tracking_code: String,
    pub procedure_code: String,
    pub stage: String,
    /// The parcels both dossiers name (empty when only their sites overlap).
    pub shared_parcels: Vec<String>,
}

/// The answer of the check. `issues` lists, in words and with their articles, what a reviewer
/// must look at; an empty list means nothing in the application conflicts with the rules found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParcelCheck {
    pub site_area_m2: f64,
    pub proposal: Proposal,
    pub districts: Vec<DistrictFinding>,
    /// The strictest status over the districts (prohibited if prohibited in any).
    pub use_status: Option<UseStatus>,
    pub limits: Vec<LimitFinding>,
    pub overlays: Vec<OverlayFinding>,
    pub protection_zones: Vec<ProtectionFinding>,
    pub open_dossiers: Vec<ConflictFinding>,
    pub issues: Vec<String>,
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

fn cite(article: &Option<String>) -> String {
    article.as_deref().map(|a| format!(" ({a})")).unwrap_or_default()
}

/// Runs the check.
pub fn check_parcel(input: &CheckInput<'_>) -> ParcelCheck {
    let site = polygons(input.site);
    let site_area = area_m2(&Geometry::MultiPolygon(site.clone()));
    let proposal = input.proposal;
    let mut issues = vec![];

    let mut districts: Vec<DistrictFinding> = vec![];
    let mut governing: Vec<&Located<ZoningDistrict>> = vec![];
    for d in input.districts {
        let share = share_of_site_of_area(&site, site_area, &d.geometry);
        if share <= MIN_SHARE {
            continue;
        }
        let use_status = proposal.use_code.as_deref().map(|u| {
            if d.value.permitted_uses.iter().any(|p| p == u) {
                UseStatus::Permitted
            } else if d.value.conditional_uses.iter().any(|p| p == u) {
                UseStatus::Conditional
            } else {
                UseStatus::Prohibited
            }
        });
        match (use_status, proposal.use_code.as_deref()) {
            (Some(UseStatus::Prohibited), Some(u)) => issues.push(format!(
                "the use `{u}` is not permitted in district {}{}",
                d.value.code,
                cite(&d.value.article)
            )),
            (Some(UseStatus::Conditional), Some(u)) => issues.push(format!(
                "the use `{u}` needs a special permit in district {}{}",
                d.value.code,
                cite(&d.value.article)
            )),
            _ => {}
        }
        districts.push(DistrictFinding {
            id: d.id.clone(),
            code: d.value.code.clone(),
            name: d.value.name.clone(),
            share: round(share, 3),
            article: d.value.article.clone(),
            use_status,
        });
        governing.push(d);
    }
    districts.sort_by(|a, b| b.share.total_cmp(&a.share).then_with(|| a.id.cmp(&b.id)));
    let use_status = districts.iter().filter_map(|d| d.use_status).max();

    let mut overlays = vec![];
    let mut crossed: Vec<&Located<ZoningOverlay>> = vec![];
    for o in input.overlays {
        let share = share_of_site_of_area(&site, site_area, &o.geometry);
        if share <= MIN_SHARE {
            continue;
        }
        issues.push(format!(
            "the site lies in the {} overlay `{}`: its rules apply{}",
            o.value.kind.as_deref().unwrap_or("zoning"),
            o.value.name,
            cite(&o.value.article)
        ));
        overlays.push(OverlayFinding {
            id: o.id.clone(),
            name: o.value.name.clone(),
            kind: o.value.kind.clone(),
            article: o.value.article.clone(),
            share: round(share, 3),
        });
        crossed.push(o);
    }

    // Limits: every district over the site and every overlay with a limit, each against the
    // proposal; the strictest one governs, and each is listed with its article.
    let mut limits = vec![];
    let district_source = |d: &Located<ZoningDistrict>| Source {
        layer: "zoning_districts",
        id: d.id.clone(),
        name: d.value.code.clone(),
        article: d.value.article.clone(),
    };
    let far = match (proposal.floor_area_m2, site_area > 0.0) {
        (Some(fa), true) => Some(fa / site_area),
        _ => None,
    };
    for d in &governing {
        let candidates = [
            ("height_m", proposal.height_m, d.value.max_height_m),
            ("floor_area_ratio", far, d.value.max_far),
            ("lot_coverage", proposal.lot_coverage, d.value.max_lot_coverage),
        ];
        for (limit, proposed, allowed) in candidates {
            if let (Some(p), Some(a)) = (proposed, allowed) {
                limits.push(LimitFinding {
                    limit,
                    proposed: round(p, 3),
                    allowed: a,
                    complies: p <= a + 1e-9,
                    source: district_source(d),
                });
            }
        }
    }
    for o in &crossed {
        if let (Some(p), Some(a)) = (proposal.height_m, o.value.max_height_m) {
            limits.push(LimitFinding {
                limit: "height_m",
                proposed: round(p, 3),
                allowed: a,
                complies: p <= a + 1e-9,
                source: Source {
                    layer: "zoning_overlays",
                    id: o.id.clone(),
                    name: o.value.name.clone(),
                    article: o.value.article.clone(),
                },
            });
        }
    }
    for l in limits.iter().filter(|l| !l.complies) {
        let (what, unit) = match l.limit {
            "height_m" => ("a height of", " m"),
            "floor_area_ratio" => ("a floor-area ratio of", ""),
            _ => ("a lot coverage of", ""),
        };
        issues.push(format!(
            "{what} {}{unit} exceeds the limit of {}{unit} in {}{}",
            l.proposed,
            l.allowed,
            l.source.name,
            cite(&l.source.article)
        ));
    }

    let mut protection_zones = vec![];
    let site_geometry = Geometry::MultiPolygon(site.clone());
    for u in input.utilities {
        let Some(width) = u.value.protection_m.filter(|w| *w > 0.0) else { continue };
        let d = distance_m(&u.geometry, &site_geometry);
        if d.is_finite() && d <= width {
            issues.push(format!(
                "the site crosses the {width} m protection zone of {} {} `{}`",
                u.value.network,
                u.value.kind.as_deref().unwrap_or("utility"),
                u.id
            ));
            protection_zones.push(ProtectionFinding {
                utility: u.id.clone(),
                network: u.value.network.clone(),
                kind: u.value.kind.clone(),
                protection_m: width,
                distance_m: round(d, 1),
            });
        }
    }

    let mut open_dossiers = vec![];
    for o in input.dossiers {
        if Some(o.id.as_str()) == input.dossier_id
            || o.decided
            || matches!(o.stage.as_str(), "decided" | "delivered" | "withdrawn")
        {
            continue;
        }
        let shared: Vec<String> = o.parcel_codes.iter().filter(|c| input.parcel_codes.contains(c)).cloned().collect();
        let overlaps = o.geometry.as_ref().is_some_and(|g| {
            let polys = polygons(g);
            if polys.0.is_empty() {
                geo::Intersects::intersects(g, &site_geometry)
            } else {
                share_of_site(&site, g) > MIN_SHARE
            }
        });
        if shared.is_empty() && !overlaps {
            continue;
        }
        issues.push(format!("dossier {} ({}) is open on the same site", o.tracking_code, o.procedure_code));
        open_dossiers.push(ConflictFinding {
            id: o.id.clone(),
            tracking_code: o.tracking_code.clone(),
            procedure_code: o.procedure_code.clone(),
            stage: o.stage.clone(),
            shared_parcels: shared,
        });
    }
    open_dossiers.sort_by(|a, b| a.id.cmp(&b.id));

    ParcelCheck {
        site_area_m2: round(site_area, 1),
        proposal: proposal.clone(),
        districts,
        use_status,
        limits,
        overlays,
        protection_zones,
        open_dossiers,
        issues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{point, polygon};

    /// A square of `side` degrees from (x, y).
    fn square(x: f64, y: f64, side: f64) -> Geometry {
        polygon![(x: x, y: y), (x: x + side, y: y), (x: x + side, y: y + side), (x: x, y: y + side)].into()
    }

    #[test]
    fn districts_uses_limits_overlays_utilities_and_conflicts() {
        let site = square(-71.1000, 42.3700, 0.0010);
        let codes = vec!["1-1".to_string()];
        let district = |id: &str, code: &str, g: Geometry, height: f64| Located {
            id: id.into(),
            value: ZoningDistrict {
                code: code.into(),
                max_height_m: Some(height),
                max_far: Some(1.0),
                permitted_uses: vec!["residential_single".into()],
                conditional_uses: vec!["office".into()],
                article: Some("Article 5".into()),
                ..Default::default()
            },
            geometry: g,
        };
        // West half in A, east half in B; an overlay over the north quarter.
        let districts = [
            district("a", "A", polygon![(x: -71.1010, y: 42.3690), (x: -71.0995, y: 42.3690), (x: -71.0995, y: 42.3720), (x: -71.1010, y: 42.3720)].into(), 12.0),
            district("b", "B", square(-71.0995, 42.3690, 0.0030), 20.0),
            district("far", "C", square(-71.0000, 42.0000, 0.001), 1.0),
        ];
        let overlays = [Located {
            id: "h".into(),
            value: ZoningOverlay {
                name: "Old Town".into(),
                kind: Some("heritage".into()),
                article: Some("Article 20.50".into()),
                max_height_m: Some(10.0),
                ..Default::default()
            },
            geometry: square(-71.1010, 42.37075, 0.0020),
        }];
        let utilities = [
            Located {
                id: "w1".into(),
                value: Utility { network: "water".into(), protection_m: Some(5.0), ..Default::default() },
                geometry: point!(x: -71.1000, y: 42.36998).into(), // about 2 m south of the site
            },
            Located {
                id: "w2".into(),
                value: Utility { network: "water".into(), protection_m: Some(5.0), ..Default::default() },
                geometry: point!(x: -71.1000, y: 42.3690).into(), // about 110 m south
            },
        ];
        let dossiers = [
            OtherDossier {
                id: "self".into(),
                tracking_code: "self".into(),
                procedure_code: "BLU-01".into(),
                stage: "received".into(),
                decided: false,
                parcel_codes: codes.clone(),
                geometry: None,
            },
            OtherDossier {
                id: "d1".into(),
                tracking_code: "CB-1".into(),
                procedure_code: "BLU-02".into(),
                stage: "in_review".into(),
                decided: false,
                parcel_codes: codes.clone(),
                geometry: None,
            },
            OtherDossier {
                id: "d2".into(),
                tracking_code: "CB-2".into(),
                procedure_code: "BLU-02".into(),
                stage: "decided".into(),
                decided: true,
                parcel_codes: codes.clone(),
                geometry: None,
            },
            OtherDossier {
                id: "d3".into(),
                tracking_code: "CB-3".into(),
                procedure_code: "BLU-02".into(),
                stage: "payment_requested".into(),
                decided: true,
                parcel_codes: codes.clone(),
                geometry: None,
            },
        ];
        let proposal = Proposal {
            use_code: Some("office".into()),
            height_m: Some(15.0),
            floor_area_m2: Some(1000.0),
            lot_coverage: None,
        };
        let out = check_parcel(&CheckInput {
            site: &site,
            parcel_codes: &codes,
            proposal: &proposal,
            dossier_id: Some("self"),
            districts: &districts,
            overlays: &overlays,
            utilities: &utilities,
            dossiers: &dossiers,
        });
        let shares: Vec<(&str, f64)> = out.districts.iter().map(|d| (d.code.as_str(), d.share)).collect();
        assert_eq!(shares.len(), 2);
        assert!((shares[0].1 - 0.5).abs() < 0.01 && (shares[1].1 - 0.5).abs() < 0.01, "{shares:?}");
        assert_eq!(out.use_status, Some(UseStatus::Conditional));
        let broken: Vec<(&str, &str)> =
            out.limits.iter().filter(|l| !l.complies).map(|l| (l.limit, l.source.name.as_str())).collect();
        assert_eq!(broken, vec![("height_m", "A"), ("height_m", "Old Town")]);
        assert!(out.limits.iter().any(|l| l.limit == "floor_area_ratio" && l.complies));
        assert_eq!(out.overlays.len(), 1);
        assert!((out.overlays[0].share - 0.25).abs() < 0.01);
        assert_eq!(out.protection_zones.iter().map(|p| p.utility.as_str()).collect::<Vec<_>>(), vec!["w1"]);
        assert_eq!(out.open_dossiers.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), vec!["d1"]);
        assert!(out.issues.iter().any(|i| i.contains("Article 20.50")), "{:?}", out.issues);
        assert!(out.issues.contains(&"a height of 15 m exceeds the limit of 12 m in A (Article 5)".to_string()));
    }
}
