//! `urbis demo`: builds the demo city, real City of Cambridge (MA) data from `data-samples/`,
//! into a store. Every file goes through the ordinary importer with its mapping from
//! `data-samples/mappings/`, so the demo exercises the same path a city's own data takes; what the
//! mappings cannot express (splitting a list, unique tracking codes) is tidied afterwards, and
//! the open dossiers are generated deterministically. data-samples/README.md documents it all.

mod assessor;
mod dossiers;
mod workdays;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use geo::InteriorPoint;
use geo_types::Geometry;
use serde_json::Value;
use urbis_core::domain::{self, Procedure};
use urbis_core::validate::{check_feature, GeometryPolicy};
use urbis_core::{Feature, LayerId};
use urbis_import::{import_file, ImportOptions, ImportProgress, Mapping};
use urbis_store::{LayerCount, Query, Store, StoreKind};

/// One import of the demo: a file under `data-samples/`, its mapping, its layer.
struct DemoFile {
    file: &'static str,
    mapping: &'static str,
    layer: LayerId,
    /// Polygon layers rebuild invalid polygons (counted as repaired) instead of rejecting them.
    make_valid: bool,
}

const fn file(file: &'static str, mapping: &'static str, layer: LayerId, make_valid: bool) -> DemoFile {
    DemoFile { file, mapping, layer, make_valid }
}

/// In load order. The first file of a layer empties it, so that `urbis demo` can rebuild a store.
const FILES: [DemoFile; 12] = [
    file("procedures.csv", "procedures.toml", LayerId::Procedures, false),
    file("cambridge/ASSESSING_ParcelsFY2014.topojson", "parcels.toml", LayerId::Parcels, true),
    file("cambridge/CDD_ZoningDistricts.geojson", "zoning_districts.toml", LayerId::ZoningDistricts, true),
    file("cambridge/CDD_ZoningOverlayDistricts.geojson", "zoning_overlays.toml", LayerId::ZoningOverlays, true),
    file("cambridge/TRANS_Centerlines.geojson", "roads.toml", LayerId::Roads, false),
    file("cambridge/INFRA_Hydrants.geojson", "hydrants.toml", LayerId::Utilities, false),
    file("cambridge/INFRA_UtilityPoles.geojson", "utility_poles.toml", LayerId::Utilities, false),
    file("one_stop_centres.geojson", "one_stop_centres.toml", LayerId::ServiceCentres, false),
    file("cambridge/PUBLICSAFETY_FireStations.geojson", "fire_stations.toml", LayerId::ServiceCentres, false),
    file("cambridge/LANDMARK_PublicLibraries.geojson", "libraries.toml", LayerId::ServiceCentres, false),
    file("cambridge/LANDMARK_PublicSchools.geojson", "schools.toml", LayerId::ServiceCentres, false),
    file("cambridge/CDD_SpecialPermits.geojson", "special_permits.toml", LayerId::Permits, false),
];

/// The assessor table as Cambridge publishes it; the parcels join a per-parcel table derived from
/// it (see [`assessor`]), whose file name the parcels mapping gives.
const TAX_TABLE: &str = "cambridge/TaxFY14.csv";

/// What one file brought.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadedFile {
    /// Relative to `data-samples/`.
    pub file: String,
    pub layer: LayerId,
    pub read: u64,
    pub written: u64,
    /// Features that needed a repair; `rebuilt_polygons` of them were invalid polygons rebuilt.
    pub repaired: u64,
    pub rebuilt_polygons: u32,
    pub rejected: u64,
    /// The rejected features with their reasons (GeoJSON), if any were rejected.
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DemoSummary {
    pub files: Vec<LoadedFile>,
    pub open_dossiers: u64,
    /// Open dossiers by their clock at the anchor date.
    pub open_on_time: u64,
    pub open_at_risk: u64,
    pub open_overdue: u64,
    pub closed_dossiers: u64,
    pub dossier_events: u64,
    pub seed: u64,
    /// The demo's "today", `YYYY-MM-DD`.
    pub anchor: String,
    /// Every layer with its count once the demo is built.
    pub layers: Vec<LayerCount>,
    /// The folder that holds the reports of rejected features, if any were written.
    pub reports_dir: Option<PathBuf>,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.files {
            write!(f, "{:<50} → {:<16} {:>6} written", l.file, l.layer.name(), l.written)?;
            if l.repaired > 0 {
                write!(f, ", {} repaired ({} invalid polygons rebuilt)", l.repaired, l.rebuilt_polygons)?;
            }
            if l.rejected > 0 {
                write!(f, ", {} rejected", l.rejected)?;
                if let Some(r) = &l.report {
                    write!(f, " (see {})", r.display())?;
                }
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "generated {} open dossiers ({} on time, {} at risk, {} overdue) and {} closed ones, with {} events \
             (seed {}, as of {})",
            self.open_dossiers,
            self.open_on_time,
            self.open_at_risk,
            self.open_overdue,
            self.closed_dossiers,
            self.dossier_events,
            self.seed,
            self.anchor
        )?;
        for l in &self.layers {
            writeln!(f, "  {:<16} {:>6}", l.layer.name(), l.count)?;
        }
        Ok(())
    }
}

/// Builds the demo city from `samples` (the `data-samples/` folder) into `store`, replacing what
/// the demo's layers held.
pub async fn build(store: &dyn Store, samples: &Path, progress: &dyn ImportProgress) -> anyhow::Result<DemoSummary> {
    anyhow::ensure!(
        samples.join("mappings").is_dir(),
        "{} is not the demo's data folder (it has no mappings/); run from a clone of urbis or pass its data-samples folder",
        samples.display()
    );
    // Inputs are copied to a work folder before import, because the importer writes its report
    // of rejected features next to its input and data-samples/ must stay as cloned (and may be
    // read-only when installed). The reports are then moved next to the store.
    let work = tempfile::tempdir().context("cannot create a work folder")?;
    let reports_dir = reports_dir(store);
    let mut files = Vec::with_capacity(FILES.len());
    let mut emptied: HashSet<LayerId> = HashSet::new();
    for demo_file in &FILES {
        progress.phase(&format!("{} → {}", demo_file.file, demo_file.layer), None);
        let mapping_path = samples.join("mappings").join(demo_file.mapping);
        let mut mapping = Mapping::from_toml_file(&mapping_path)?;
        if demo_file.layer == LayerId::Parcels {
            join_derived_assessor_table(&mut mapping, &samples.join(TAX_TABLE), work.path())?;
        }
        let source = samples.join(demo_file.file);
        let input = work.path().join(source.file_name().unwrap_or(source.as_os_str()));
        std::fs::copy(&source, &input).with_context(|| format!("cannot copy {}", source.display()))?;

        let mut options = ImportOptions::new(demo_file.layer);
        options.mapping = mapping;
        // Nothing is dropped silently: what cannot be imported is reported, file by file.
        options.skip_invalid = true;
        options.make_valid = demo_file.make_valid;
        options.replace = emptied.insert(demo_file.layer);
        let summary = import_file(store, &input, &options, progress)
            .await
            .with_context(|| format!("demo: importing {}", demo_file.file))?;
        let report = match summary.report {
            Some(report) => Some(keep_report(&report, &reports_dir)?),
            None => None,
        };
        files.push(LoadedFile {
            file: demo_file.file.to_string(),
            layer: demo_file.layer,
            read: summary.read,
            written: summary.written,
            repaired: summary.repaired,
            rebuilt_polygons: summary.repairs.rebuilt_polygons,
            rejected: summary.rejected,
            report,
        });
    }

    progress.phase("tidying roads and permit history", None);
    rewrite(store, LayerId::Roads, progress, |f| {
        drop_empty_text(f);
        for node in ["from_node", "to_node"] {
            // Node numbers are stored as decimals in the source (1097.0); the network joins on them.
            if let Some(Value::String(s)) = f.attributes.get_mut(node) {
                if let Some(whole) = s.strip_suffix(".0") {
                    *s = whole.to_string();
                }
            }
        }
    })
    .await?;
    tidy_permit_history(store, progress).await?;

    progress.phase("generating dossiers", None);
    let plan = dossiers::Plan::demo()?;
    let generated = generate_dossiers(store, &plan).await?;
    let open_dossiers = plan.open as u64;
    let closed_dossiers = plan.closed as u64;
    let mut permits = Vec::with_capacity(generated.dossiers.len());
    for g in &generated.dossiers {
        let f = domain::write(g.dossier.tracking_code.clone(), Some(Geometry::Point(g.site)), &g.dossier);
        permits.push(checked(LayerId::Permits, f)?);
    }
    let mut events = Vec::with_capacity(generated.events.len());
    for e in &generated.events {
        events.push(checked(LayerId::PermitEvents, domain::write(format!("{}-{:02}", e.permit_id, e.seq), None, e))?);
    }
    progress.phase("writing dossiers", Some(permits.len() as u64));
    store.bulk_load(LayerId::Permits, &permits, false, &|n| progress.advance(n)).await?;
    progress.phase("writing dossier events", Some(events.len() as u64));
    let dossier_events = store.bulk_load(LayerId::PermitEvents, &events, true, &|n| progress.advance(n)).await?;

    let any_report = files.iter().any(|f| f.report.is_some());
    Ok(DemoSummary {
        files,
        open_dossiers,
        open_on_time: generated.on_time as u64,
        open_at_risk: generated.at_risk as u64,
        open_overdue: generated.overdue as u64,
        closed_dossiers,
        dossier_events,
        seed: plan.seed,
        anchor: plan.anchor.to_string(),
        layers: store.layers().await?,
        reports_dir: any_report.then_some(reports_dir),
    })
}

/// Derives the per-parcel assessor table into `work` and points the mapping's join at it.
fn join_derived_assessor_table(mapping: &mut Mapping, tax_table: &Path, work: &Path) -> anyhow::Result<()> {
    let join = mapping.join.as_mut().context("the parcels mapping has no [join]")?;
    let name = join.file.file_name().context("the parcels mapping's join names no file")?;
    let derived = work.join(name);
    assessor::write_csv(&assessor::derive(tax_table)?, &derived)?;
    join.file = derived;
    Ok(())
}

/// Next to a GeoPackage (`urbis-demo.gpkg`, or `urbis-demo.gpkg.partial` while the binary builds
/// it → `urbis-demo.rejected/`), else in the temporary folder.
fn reports_dir(store: &dyn Store) -> PathBuf {
    if store.kind() == StoreKind::GeoPackage {
        let path = PathBuf::from(store.location());
        if let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) {
            let name = name.strip_suffix(".partial").unwrap_or(&name);
            let stem = name.strip_suffix(".gpkg").unwrap_or(name);
            return path.with_file_name(format!("{stem}.rejected"));
        }
    }
    std::env::temp_dir().join("urbis-demo.rejected")
}

fn keep_report(report: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let target = dir.join(report.file_name().unwrap_or(report.as_os_str()));
    // A rename fails across file systems (the work folder is usually on /tmp): copy instead.
    if std::fs::rename(report, &target).is_err() {
        std::fs::copy(report, &target).with_context(|| format!("cannot keep the report {}", report.display()))?;
    }
    Ok(target)
}

/// Reads a whole layer, changes every feature, checks it again and writes the layer back in one
/// transaction.
async fn rewrite(
    store: &dyn Store,
    layer: LayerId,
    progress: &dyn ImportProgress,
    mut change: impl FnMut(&mut Feature),
) -> anyhow::Result<u64> {
    let mut features = store.query(layer, &Query::all()).await?;
    for f in &mut features {
        change(f);
    }
    let features = features.into_iter().map(|f| checked(layer, f)).collect::<anyhow::Result<Vec<_>>>()?;
    Ok(store.bulk_load(layer, &features, true, &|n| progress.advance(n)).await?)
}

fn checked(layer: LayerId, mut f: Feature) -> anyhow::Result<Feature> {
    let report = check_feature(layer.schema(), &mut f, GeometryPolicy::Reject);
    if !report.is_ok() {
        let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        anyhow::bail!("demo: {layer} `{}` is invalid: {}", f.id, problems.join("; "));
    }
    Ok(f)
}

/// Recoding can only map a value to another, so "no value" comes out of a mapping as "".
fn drop_empty_text(f: &mut Feature) {
    f.attributes.retain(|_, v| v.as_str() != Some(""));
}

/// The special permits as the mapping left them: several rows share a case number (one row per
/// building of a case), MapLots is text ("34-16, 34-111"), open cases have an empty decision.
async fn tidy_permit_history(store: &dyn Store, progress: &dyn ImportProgress) -> anyhow::Result<u64> {
    let features = store.query(LayerId::Permits, &Query::all()).await?;
    let mut sites: HashMap<String, usize> = HashMap::new();
    for f in &features {
        *sites.entry(f.text("tracking_code").unwrap_or_default().to_string()).or_default() += 1;
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(features.len());
    for mut f in features {
        drop_empty_text(&mut f);
        let case = f.text("tracking_code").unwrap_or_default().to_string();
        let n = seen.entry(case.clone()).or_default();
        *n += 1;
        let code = if sites.get(&case).copied().unwrap_or(0) > 1 { format!("{case}-{n:02}") } else { case };
        f.id = code.clone();
        f.attributes.insert("tracking_code".into(), Value::String(code));
        if let Some(lots) = f.attributes.remove("parcel_codes") {
            f.attributes.insert("parcel_codes".into(), Value::from(split_lots(&lots)));
        }
        out.push(checked(LayerId::Permits, f)?);
    }
    Ok(store.bulk_load(LayerId::Permits, &out, true, &|n| progress.advance(n)).await?)
}

/// "34-16, 34-111" → ["34-16", "34-111"]; a list stays a list.
fn split_lots(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().flat_map(split_lots).collect(),
        Value::String(s) => s.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        Value::Null => vec![],
        other => vec![other.to_string()],
    }
}

async fn generate_dossiers(store: &dyn Store, plan: &dossiers::Plan) -> anyhow::Result<dossiers::Generated> {
    let parcels: Vec<dossiers::ParcelSite> = store
        .query(LayerId::Parcels, &Query::all())
        .await?
        .into_iter()
        .filter_map(|f| {
            let code = f.text("code")?.to_string();
            // Placeholder codes ("---", "ROAD") are no parcel anyone applies for.
            if !code.chars().any(|c| c.is_ascii_digit()) {
                return None;
            }
            let location = f.geometry.as_ref()?.interior_point()?;
            Some(dossiers::ParcelSite {
                code,
                address: f.text("address").map(str::to_string),
                land_use_code: f.text("land_use_code").map(str::to_string),
                location,
            })
        })
        .collect();
    let procedures = store
        .query(LayerId::Procedures, &Query::all())
        .await?
        .iter()
        .map(domain::read::<Procedure>)
        .collect::<Result<Vec<_>, _>>()
        .context("demo: a procedure of the catalogue cannot be read")?;
    let centres: Vec<dossiers::Centre> = store
        .query(LayerId::ServiceCentres, &Query::all())
        .await?
        .into_iter()
        .filter(|f| f.get("one_stop").and_then(Value::as_bool) == Some(true))
        .filter_map(|f| {
            let location = f.geometry.as_ref()?.interior_point()?;
            let desks = f.integer("desks").and_then(|d| u32::try_from(d).ok()).unwrap_or(1);
            Some(dossiers::Centre { id: f.id, location, desks })
        })
        .collect();
    dossiers::generate(&parcels, &procedures, &centres, plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl DemoSummary {
        fn count(&self, layer: LayerId) -> u64 {
            self.layers.iter().find(|l| l.layer == layer).map(|l| l.count).unwrap_or(0)
        }
    }

    fn samples() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples")
    }

    #[test]
    fn map_lots_become_lists() {
        assert_eq!(split_lots(&Value::from("34-16, 34-111")), vec!["34-16", "34-111"]);
        assert_eq!(split_lots(&Value::from("267.4-291")), vec!["267.4-291"]);
        assert_eq!(split_lots(&serde_json::json!(["1A-30"])), vec!["1A-30"]);
    }

    #[test]
    fn every_mapping_loads_and_every_file_is_there() {
        for f in &FILES {
            let m = Mapping::from_toml_file(&samples().join("mappings").join(f.mapping));
            assert!(m.is_ok(), "{}: {:?}", f.mapping, m.err());
            assert!(samples().join(f.file).is_file(), "{} is missing", f.file);
        }
        assert!(samples().join(TAX_TABLE).is_file());
        assert!(samples().join("cambridge/LICENSE.md").is_file());
    }

    /// The whole demo into a fresh GeoPackage, with the exact counts the data gives.
    #[tokio::test]
    async fn demo_builds() {
        let dir = tempfile::tempdir().unwrap();
        let store = urbis_store::gpkg::GpkgStore::open(&dir.path().join("demo.gpkg")).await.unwrap();
        let summary = build(&store, &samples(), &urbis_import::Silent).await.unwrap();
        let file = |name: &str| summary.files.iter().find(|f| f.file.ends_with(name)).unwrap().clone();

        // 13,116 parcels, every one accounted for: 37 invalid polygons rebuilt; rejected and
        // reported: 1 whose every ring has fewer than 3 distinct vertices (no area at all), and
        // 1 without a map-lot (`ML`).
        let parcels = file("ASSESSING_ParcelsFY2014.topojson");
        assert_eq!(
            (parcels.read, parcels.written, parcels.rebuilt_polygons, parcels.rejected),
            (13_116, 13_114, 37, 2)
        );
        let report = std::fs::read_to_string(parcels.report.as_ref().unwrap()).unwrap();
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        assert_eq!(report["features"].as_array().map(Vec::len), Some(2));
        assert_eq!(summary.count(LayerId::Parcels), 13_114);
        assert_eq!(summary.count(LayerId::ZoningDistricts), 261);
        assert_eq!(summary.count(LayerId::ZoningOverlays), 53);
        assert_eq!(summary.count(LayerId::Roads), 2_643);
        assert_eq!(summary.count(LayerId::Utilities), 1_960 + 2_457);
        assert_eq!(summary.count(LayerId::ServiceCentres), 4 + 8 + 7 + 18);
        assert_eq!(summary.count(LayerId::Procedures), 30);
        assert_eq!(summary.count(LayerId::Permits), 499 + 600 + 180);
        assert_eq!(summary.count(LayerId::PermitEvents), summary.dossier_events);
        assert_eq!(summary.open_on_time + summary.open_at_risk + summary.open_overdue, 600);
        assert_eq!(summary.count(LayerId::Buildings), 0);
        for f in summary.files.iter().filter(|f| !f.file.ends_with(".topojson")) {
            assert_eq!(f.rejected, 0, "{}: {:?}", f.file, f.report);
        }

        // Joined and derived values arrived.
        let by_code = |code: &str| {
            Query::all().filter(urbis_store::AttributeFilter::new("code", urbis_store::Comparison::Eq, code))
        };
        let house = store.query(LayerId::Parcels, &by_code("127-123")).await.unwrap();
        assert_eq!(house[0].integer("dwelling_units"), Some(3));
        assert_eq!(house[0].real("population"), Some(6.9));
        assert_eq!(house[0].integer("year_built"), Some(1854));
        assert_eq!(house[0].text("address"), Some("23 Rockwell St"));
        let city_hall = store.query(LayerId::Parcels, &by_code("118-33")).await.unwrap();
        assert_eq!(city_hall[0].get("public_owner"), Some(&Value::Bool(true)));
        let road = store.get(LayerId::Roads, "Cambrid_St_29").await.unwrap().unwrap();
        assert_eq!(
            (road.text("class"), road.real("speed_kmh"), road.text("from_node")),
            (Some("secondary"), Some(32.0), Some("1097"))
        );
        assert!(road.get("restriction").is_none());
        let zone = store.query(LayerId::ZoningDistricts, &Query::all().limit(1)).await.unwrap();
        assert!(zone[0].real("max_height_m").is_some() && zone[0].get("permitted_uses").is_some_and(Value::is_array));
        let permit = store.get(LayerId::Permits, "PB-179-01").await.unwrap().unwrap();
        assert_eq!(permit.get("parcel_codes"), Some(&serde_json::json!(["1A-30"])));

        // Two builds are identical.
        let again = tempfile::tempdir().unwrap();
        let store2 = urbis_store::gpkg::GpkgStore::open(&again.path().join("demo.gpkg")).await.unwrap();
        build(&store2, &samples(), &urbis_import::Silent).await.unwrap();
        let a = store.query(LayerId::Permits, &Query::all()).await.unwrap();
        let b = store2.query(LayerId::Permits, &Query::all()).await.unwrap();
        assert_eq!(a, b);
    }
}
