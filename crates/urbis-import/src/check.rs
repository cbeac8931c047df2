//! Every feature through the layer's checks: mapping, reprojection already done, the core's
//! validation with its unambiguous repairs, duplicate ids, and the parcel area. A feature either
//! comes out ready to store or as a rejection that says what is wrong, where.

use std::collections::HashMap;

use geo::CoordsIter;
use geo_types::Geometry;
use serde_json::{Map, Value};
use urbis_core::validate::{check_feature, GeometryPolicy};
use urbis_core::{Feature, LayerId, Repairs};

use crate::source::SourceFeature;
use crate::{ImportOptions, ImportProgress, Rejection};

/// The outcome of reading and checking a source, before anything is written.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub read: u64,
    /// Ready to store, in source order.
    pub features: Vec<Feature>,
    pub rejected: Vec<RejectedFeature>,
    /// Features that needed at least one repair.
    pub repaired: u64,
    pub repairs: Repairs,
}

impl Checked {
    /// Every rejection of every rejected feature, in source order.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.rejected.iter().flat_map(|r| r.rejections.iter().cloned()).collect()
    }
}

/// A feature that cannot be imported, with what the report needs to show it.
#[derive(Debug, Clone)]
pub struct RejectedFeature {
    pub rejections: Vec<Rejection>,
    /// Its attributes as the source had them.
    pub properties: Map<String, Value>,
    /// Its geometry in WGS 84 if it could be read and every vertex is a finite number.
    pub geometry: Option<Geometry>,
}

/// One source feature after mapping and checking, before ids are compared across the file.
struct Outcome {
    /// The source feature, its properties taken by the mapping (see `taken`).
    source: SourceFeature,
    /// The properties the mapping took: with `feature.extra`, the source's own again.
    taken: Map<String, Value>,
    feature: Feature,
    problems: Vec<(String, String)>,
    repairs: Repairs,
}

/// Checks every feature (in parallel: each is independent), then compares ids across the file
/// in source order, so that the first of two features with one id is kept and the second named.
pub fn check(features: Vec<SourceFeature>, options: &ImportOptions, progress: &dyn ImportProgress) -> Checked {
    use rayon::prelude::*;
    let schema = options.layer.schema();
    let policy = if options.make_valid { GeometryPolicy::MakeValid } else { GeometryPolicy::Reject };
    let mut out = Checked { read: features.len() as u64, ..Checked::default() };
    let done = std::sync::atomic::AtomicU64::new(0);
    let outcomes: Vec<Outcome> = features
        .into_par_iter()
        .map(|source| {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n.is_multiple_of(1000) {
                progress.advance(n);
            }
            check_one(schema, options, policy, source)
        })
        .collect();
    progress.advance(out.read);
    let mut seen: HashMap<String, u64> = HashMap::with_capacity(outcomes.len());
    for Outcome { source, taken, feature, mut problems, repairs } in outcomes {
        if !feature.id.is_empty() {
            if let Some(first) = seen.get(&feature.id) {
                problems.push(("id".into(), format!("duplicate id `{}`: feature {first} has it too", feature.id)));
            } else {
                seen.insert(feature.id.clone(), source.index);
            }
        }
        if problems.is_empty() {
            if repairs.any() {
                out.repaired += 1;
            }
            out.repairs.add(repairs);
            out.features.push(feature);
        } else {
            // Fields in the order the checks found them, the id first as the source gave it.
            problems.sort_by_key(|(field, _)| field != "id");
            let id = if feature.id.is_empty() { source.id.clone() } else { Some(feature.id.clone()) };
            let rejections = problems
                .into_iter()
                .map(|(field, reason)| Rejection { index: source.index, id: id.clone(), field, reason })
                .collect();
            let geometry =
                source.geometry.ok().flatten().filter(|g| g.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite()));
            let properties = crate::mapping::restore(&feature.extra, taken);
            out.rejected.push(RejectedFeature { rejections, properties, geometry });
        }
    }
    out
}

fn check_one(
    schema: &'static urbis_core::LayerSchema,
    options: &ImportOptions,
    policy: GeometryPolicy,
    mut source: SourceFeature,
) -> Outcome {
    let geometry = source.geometry.clone().ok().flatten();
    let (mut feature, id_problem, taken) = crate::mapping::apply(schema, &options.mapping, &mut source, geometry);
    let mut problems: Vec<(String, String)> = vec![];
    if let Err(reason) = &source.geometry {
        problems.push(("geometry".into(), reason.clone()));
    }
    if let Some(reason) = id_problem {
        problems.push(("id".into(), reason));
    }
    let report = check_feature(schema, &mut feature, policy);
    for p in report.problems {
        // Already said more precisely above.
        let said = (p.field == "geometry" && source.geometry.is_err()) || problems.iter().any(|(f, _)| *f == p.field);
        if !said {
            problems.push((p.field, p.reason));
        }
    }
    let mut repairs = report.repairs;
    repairs.closed_rings += source.closed_rings;
    // The parcel's area, here where every core shares the work (geodesic areas are not cheap).
    if problems.is_empty() && options.layer == LayerId::Parcels && feature.get("area_m2").is_none() {
        if let Some(g) = &feature.geometry {
            let area = urbis_core::geodesy::area_m2(g);
            feature.attributes.insert("area_m2".into(), Value::from((area * 100.0).round() / 100.0));
        }
    }
    Outcome { source, taken, feature, problems, repairs }
}
