//! Imports of real files and of bad ones, on both stores: what goes in is accounted for, what
//! is refused is named (file, feature, field, reason), and a refused import changes nothing.

#[macro_use]
mod support;

use std::path::{Path, PathBuf};

use urbis_core::LayerId;
use urbis_import::{import_file, ImportError, ImportOptions, Silent};
use urbis_store::{Query, Store};

on_both_stores!(
    (store, dir) => (&*store, dir);
    cambridge_parcels_are_all_accounted_for,
    refused_imports_change_nothing,
    skip_invalid_writes_the_rest_and_reports_the_rejected,
    unclosed_rings_are_closed_and_counted,
);

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(rel)
}

#[cfg(feature = "postgis-tests")]
fn samples(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples").join(rel)
}

/// Parcels keyed by their map-lot `ML` (test fixtures, where it is unique).
fn parcel_options() -> ImportOptions {
    let mut o = cambridge_parcel_options();
    o.mapping.id = Some("ML".into());
    o
}

/// The Cambridge parcels: `ML` is the cadastral code but not unique (58 parcels are "---"), so
/// ids are the TopoJSON geometry ids.
fn cambridge_parcel_options() -> ImportOptions {
    let mut o = ImportOptions::new(LayerId::Parcels);
    o.mapping.fields.insert("code".into(), "ML".into());
    o
}

/// The whole layer, in id order, to compare stores row for row.
async fn dump(store: &dyn Store, layer: LayerId) -> Vec<urbis_core::Feature> {
    store.query(layer, &Query::all()).await.unwrap()
}

/// 13,116 parcels in the Cambridge TopoJSON: every one written, repaired or reported.
async fn cambridge_parcels_are_all_accounted_for(store: &dyn Store, dir: &Path) {
    let src = dir.join("parcels.topojson");
    std::fs::copy(shared("cambridge/ASSESSING_ParcelsFY2014.topojson"), &src).unwrap();
    let mut options = cambridge_parcel_options();
    options.skip_invalid = true;
    let s = import_file(store, &src, &options, &Silent).await.unwrap();
    assert_eq!(s.read, 13_116);
    assert_eq!(s.written + s.rejected, 13_116, "{s:?}");
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), s.written);
    if s.rejected > 0 {
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(s.report.as_ref().unwrap()).unwrap()).unwrap();
        assert_eq!(report["features"].as_array().unwrap().len() as u64, s.rejected);
    }

    // Rebuilding the invalid polygons instead: nothing rejected, the rebuilt ones counted.
    let mut options = cambridge_parcel_options();
    options.make_valid = true;
    options.replace = true;
    options.skip_invalid = true;
    let s2 = import_file(store, &src, &options, &Silent).await.unwrap();
    assert_eq!(s2.written + s2.rejected, 13_116, "{s2:?}");
    assert!(s2.rejected < s.rejected && s2.repairs.rebuilt_polygons > 0, "{s:?} then {s2:?}");
    assert_eq!(store.count(LayerId::Parcels, &Query::all()).await.unwrap(), s2.written);
    // Every parcel has its area in square metres; Cambridge is about 18.5 km² of land and water,
    // of which parcels cover most of the land.
    let parcels = dump(store, LayerId::Parcels).await;
    let total: f64 = parcels.iter().map(|f| f.real("area_m2").unwrap()).sum();
    assert!((10.0e6..18.5e6).contains(&total), "parcel area {total} m²");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn collection(features: &[&str]) -> String {
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","))
}

fn parcel(ml: &str, coords: &str) -> String {
    format!(
        r#"{{"type":"Feature","properties":{{"ML":"{ml}"}},"geometry":{{"type":"Polygon","coordinates":[{coords}]}}}}"#
    )
}

const GOOD: &str = "[[-71.1,42.36],[-71.099,42.36],[-71.099,42.361],[-71.1,42.361],[-71.1,42.36]]";
const BOWTIE: &str = "[[-71.1,42.36],[-71.1,42.361],[-71.099,42.36],[-71.099,42.361],[-71.1,42.36]]";

/// A state of the store to compare before and after: the file's bytes for a GeoPackage, every
/// row of every layer for PostGIS.
async fn snapshot(store: &dyn Store) -> String {
    match store.kind() {
        urbis_store::StoreKind::GeoPackage => {
            use sha2::Digest;
            format!("{:x}", sha2::Sha256::digest(std::fs::read(store.location()).unwrap()))
        }
        urbis_store::StoreKind::PostGis => {
            let mut s = String::new();
            for layer in LayerId::ALL {
                s += &format!("{:?}", dump(store, layer).await);
            }
            s
        }
    }
}

async fn refused_imports_change_nothing(store: &dyn Store, dir: &Path) {
    let first = write(dir, "first.geojson", &collection(&[&parcel("1-1", GOOD)]));
    import_file(store, &first, &parcel_options(), &Silent).await.unwrap();
    let before = snapshot(store).await;

    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("self-intersection", collection(&[&parcel("2-1", GOOD), &parcel("2-2", BOWTIE)]), "2-2", "intersect"),
        (
            "empty geometry",
            collection(&[r#"{"type":"Feature","properties":{"ML":"3-1"},"geometry":{"type":"Polygon","coordinates":[]}}"#]),
            "3-1",
            "empty",
        ),
        ("no geometry", collection(&[r#"{"type":"Feature","properties":{"ML":"4-1"},"geometry":null}"#]), "4-1", "no geometry"),
        (
            "out of range (a projected CRS declared as WGS 84)",
            collection(&[&parcel("5-1", "[[765000,2959000],[765100,2959000],[765100,2959100],[765000,2959000]]")]),
            "5-1",
            "outside",
        ),
        ("duplicate id in the file", collection(&[&parcel("6-1", GOOD), &parcel("6-1", GOOD)]), "6-1", "id"),
        (
            "missing required field",
            collection(&[&r#"{"type":"Feature","properties":{"ML":"7-1","code":""},"geometry":{"type":"Polygon","coordinates":[GOOD]}}"#.replace("GOOD", GOOD)]),
            "7-1",
            "required",
        ),
    ];
    for (what, text, id, reason) in cases {
        let path = write(dir, "bad.geojson", &text);
        let mut options = parcel_options();
        if what == "missing required field" {
            options.mapping.fields.insert("code".into(), "code".into());
        }
        match import_file(store, &path, &options, &Silent).await {
            Err(ImportError::Rejected { file, rejections }) => {
                assert_eq!(file, path, "{what}");
                let r = rejections
                    .iter()
                    .find(|r| r.id.as_deref() == Some(id))
                    .unwrap_or_else(|| panic!("{what}: {rejections:?}"));
                assert!(r.reason.to_lowercase().contains(reason) || r.field.contains(reason), "{what}: {r:?}");
            }
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
        assert_eq!(snapshot(store).await, before, "{what} changed the store");
    }

    // An id already in the store: refused by the store, rolled back whole.
    let clash = write(dir, "clash.geojson", &collection(&[&parcel("8-1", GOOD), &parcel("1-1", GOOD)]));
    match import_file(store, &clash, &parcel_options(), &Silent).await {
        Err(ImportError::Store { source, .. }) => assert!(source.to_string().contains("1-1"), "{source}"),
        other => panic!("expected a store refusal, got {other:?}"),
    }
    assert_eq!(snapshot(store).await, before);

    // A truncated file and an unknown format say so, and change nothing.
    let truncated = write(dir, "cut.geojson", &collection(&[&parcel("9-1", GOOD)])[..60]);
    assert!(matches!(
        import_file(store, &truncated, &parcel_options(), &Silent).await,
        Err(ImportError::Unreadable { .. })
    ));
    let unknown = write(dir, "notes.txt", "parcel 1-1 is green");
    assert!(import_file(store, &unknown, &parcel_options(), &Silent).await.is_err());
    // NaN coordinates in a CSV.
    let csv = write(dir, "nan.csv", "ML,lon,lat\n10-1,NaN,42.36\n");
    let mut options = ImportOptions::new(LayerId::ServiceCentres);
    options.mapping.fields.insert("name".into(), "ML".into());
    match import_file(store, &csv, &options, &Silent).await {
        Err(ImportError::Rejected { rejections, .. }) => assert_eq!(rejections[0].field, "geometry", "{rejections:?}"),
        other => panic!("expected NaN to be refused, got {other:?}"),
    }
    assert_eq!(snapshot(store).await, before);
}

async fn skip_invalid_writes_the_rest_and_reports_the_rejected(store: &dyn Store, dir: &Path) {
    let path =
        write(dir, "mixed.geojson", &collection(&[&parcel("1", GOOD), &parcel("2", BOWTIE), &parcel("3", GOOD)]));
    let mut options = parcel_options();
    options.skip_invalid = true;
    let s = import_file(store, &path, &options, &Silent).await.unwrap();
    assert_eq!((s.read, s.written, s.rejected), (3, 2, 1));
    let report = s.report.expect("a report of the rejected");
    assert_eq!(report, dir.join("mixed.geojson.rejected.geojson"));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let f = &doc["features"][0];
    assert_eq!(f["properties"]["ML"], "2");
    assert_eq!(f["properties"]["urbis:index"], 1);
    assert!(f["properties"]["urbis:reason"].as_str().unwrap().contains("intersect"), "{f}");
    let ids: Vec<String> = dump(store, LayerId::Parcels).await.into_iter().map(|f| f.id).collect();
    assert_eq!(ids, ["1", "3"]);
}

async fn unclosed_rings_are_closed_and_counted(store: &dyn Store, dir: &Path) {
    let open = "[[-71.1,42.36],[-71.099,42.36],[-71.099,42.361],[-71.1,42.361]]";
    let path = write(dir, "open.geojson", &collection(&[&parcel("1", open)]));
    let s = import_file(store, &path, &parcel_options(), &Silent).await.unwrap();
    assert_eq!((s.written, s.repaired, s.repairs.closed_rings), (1, 1, 1), "{s:?}");
}

/// The same file into both stores gives the same features, attribute for attribute and vertex
/// for vertex.
#[cfg(feature = "postgis-tests")]
#[tokio::test]
async fn both_stores_hold_the_same_city() {
    let dir = tempfile::tempdir().unwrap();
    let gpkg = support::gpkg(dir.path()).await;
    let pg = support::postgis().await;
    let layers = [
        (LayerId::Parcels, samples("cambridge/ASSESSING_ParcelsFY2014.topojson"), None),
        (
            LayerId::ZoningDistricts,
            samples("cambridge/CDD_ZoningDistricts.geojson"),
            Some(samples("mappings/zoning_districts.toml")),
        ),
        (LayerId::Roads, samples("cambridge/TRANS_Centerlines.geojson"), Some(samples("mappings/roads.toml"))),
        (LayerId::Roads, shared("osm/monaco.osm.pbf"), None),
    ];
    for (layer, file, mapping) in layers {
        let mut options = ImportOptions::new(layer);
        options.make_valid = true;
        options.replace = true;
        options.skip_invalid = true;
        // Reports of rejected features go to the test's folder, never into data-samples/.
        options.report_dir = Some(dir.path().to_path_buf());
        match mapping {
            Some(m) => options.mapping = urbis_import::Mapping::from_toml_file(&m).unwrap(),
            None if layer == LayerId::Parcels => {
                options.mapping.fields.insert("code".into(), "ML".into());
            }
            None => {}
        }
        let a = import_file(&*gpkg, &file, &options, &Silent).await.unwrap();
        let b = import_file(&*pg, &file, &options, &Silent).await.unwrap();
        assert_eq!(a.written, b.written, "{}", file.display());
        let (fa, fb) = (dump(&*gpkg, layer).await, dump(&*pg, layer).await);
        assert_eq!(fa.len() as u64, a.written);
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(x, y, "{} differs between the stores", x.id);
        }
    }
}
