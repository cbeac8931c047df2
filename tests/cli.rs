//! The `urbis` command end to end, as a planner runs it: import real data into a GeoPackage that
//! GDAL then reads, serve it and stop cleanly, refuse bad input without touching the store.

#[allow(unused_macros)]
#[macro_use]
mod support;

mod binary;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use binary::{import_zoning, run, start_server, urbis};
use std::time::Duration;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(rel)
}

/// Imports the Cambridge parcels (code = ML) into `store` with the extra flags given; returns
/// what `urbis import` printed.
fn import_cambridge_parcels(dir: &Path, store: &Path, flags: &[&str]) -> String {
    let input = dir.join("parcels.topojson");
    std::fs::copy(shared("cambridge/ASSESSING_ParcelsFY2014.topojson"), &input).unwrap();
    let map = dir.join("parcels.toml");
    std::fs::write(&map, "[fields]\ncode = \"ML\"\n").unwrap();
    let (ok, out, err) = run(urbis()
        .args(["import", "--layer", "parcels"])
        .args(flags)
        .arg("--store")
        .arg(store)
        .arg("--map")
        .arg(&map)
        .arg(&input));
    assert!(ok, "{out}{err}");
    out
}

/// The number after `Feature Count: ` in ogrinfo's summary of one layer.
fn ogr_count(gpkg: &Path, layer: &str) -> u64 {
    let out = Command::new("ogrinfo").args(["-ro", "-so"]).arg(gpkg).arg(layer).output().expect("ogrinfo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no feature count for {layer} in:\n{text}"))
}

#[test]
fn import_cambridge_parcels_then_gdal_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("city.gpkg");
    let out = import_cambridge_parcels(dir.path(), &store, &["--skip-invalid"]);
    // "…: 13116 read, N written into parcels (R repaired: …), J rejected …"
    let before = |word: &str| -> u64 {
        let words: Vec<&str> = out.split([' ', '(', ',']).filter(|w| !w.is_empty()).collect();
        let at = words.iter().position(|w| *w == word).unwrap_or_else(|| panic!("no `{word}` in {out}"));
        words[at - 1].parse().unwrap()
    };
    let (read, written, rejected) = (before("read"), before("written"), before("rejected"));
    assert_eq!(read, 13_116, "{out}");
    assert_eq!(written + rejected, 13_116, "{out}");
    assert_eq!(ogr_count(&store, "parcels"), written);
    if rejected > 0 {
        assert!(out.contains("parcels.topojson.rejected.geojson"), "{out}");
    }
    let (ok, out, _) = run(urbis().args(["layers", "--store"]).arg(&store));
    assert!(ok);
    assert!(
        out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["parcels", &written.to_string()]),
        "{out}"
    );
}

#[test]
fn a_refused_import_names_the_feature_and_leaves_the_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("city.gpkg");
    let good = dir.path().join("good.geojson");
    std::fs::write(&good, r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"a","properties":{"name":"City Hall"},"geometry":{"type":"Point","coordinates":[-71.1055,42.367]}}]}"#).unwrap();
    let (ok, out, err) = run(urbis().args(["import", "--layer", "service_centres", "--store"]).arg(&store).arg(&good));
    assert!(ok, "{out}{err}");
    let before = std::fs::read(&store).unwrap();
    let bad = dir.path().join("bad.geojson");
    std::fs::write(&bad, r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"b","properties":{"name":"Annex"},"geometry":{"type":"Point","coordinates":[-71.1,42.37]}},{"type":"Feature","id":"c","properties":{},"geometry":{"type":"Point","coordinates":[-71.1,95.0]}}]}"#).unwrap();
    let (ok, _, err) = run(urbis().args(["import", "--layer", "service_centres", "--store"]).arg(&store).arg(&bad));
    assert!(!ok);
    assert!(err.contains("bad.geojson") && err.contains("feature 1 (c)"), "{err}");
    assert!(err.contains("name: required field is missing"), "{err}");
    assert!(err.contains("latitude"), "{err}");
    assert_eq!(std::fs::read(&store).unwrap(), before, "the store changed");
}

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("city.gpkg");
    let mut server = start_server(&store, &[]);
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");

    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(std::time::Instant::now() < deadline, "urbis did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn config_file_errors_name_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("urbis.toml");
    std::fs::write(&cfg, "stor = 'x.gpkg'\n").unwrap();
    let (ok, _, err) = run(urbis().arg("--config").arg(&cfg).arg("layers"));
    assert!(!ok);
    assert!(err.contains("urbis.toml") && err.contains("unknown field `stor`"), "{err}");
    // With a good file, the store comes from it.
    std::fs::write(&cfg, format!("store = '{}'\n", dir.path().join("c.gpkg").display())).unwrap();
    let (ok, out, err) = run(urbis().arg("--config").arg(&cfg).arg("layers"));
    assert!(ok, "{err}");
    assert!(out.contains("parcels"), "{out}");
}

/// QGIS (Debian python3-qgis, headless) opens the demo city as it is: every layer valid, with the
/// store's count, its geometry type and EPSG:4326.
#[test]
fn qgis_opens_the_demo_city() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("demo.gpkg");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples");
    let (ok, out, err) =
        run(urbis().args(["demo", "--no-serve", "--store"]).arg(&store).arg("--data-samples").arg(&samples));
    assert!(ok, "{out}{err}");
    let (ok, layers, err) = run(urbis().args(["layers", "--store"]).arg(&store));
    assert!(ok, "{err}");
    let counts: Vec<(String, u64)> = layers
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect();
    assert_eq!(counts.len(), urbis_core::LayerId::ALL.len(), "{layers}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/qgis_layers.py");
    let runtime = dir.path().join("xdg");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(&store)
        .args(counts.iter().map(|(name, _)| name.as_str()))
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("python3 with python3-qgis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "QGIS failed: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // GDAL (under QGIS) complains of values that do not follow the GeoPackage format.
    assert!(!stderr.contains("Non-conformant"), "{stderr}");
    let json_line = stdout.lines().rev().find(|l| l.starts_with('{')).expect("QGIS printed its view");
    let seen: serde_json::Value = serde_json::from_str(json_line).unwrap();
    for (name, count) in &counts {
        let layer = &seen[name];
        assert_eq!(layer["valid"], true, "{name}: {layer}");
        assert_eq!(layer["count"], *count, "{name}: {layer}");
        let layer_id: urbis_core::LayerId = name.parse().unwrap();
        let expected = match layer_id.schema().geometry {
            urbis_core::GeometryKind::None => "NoGeometry",
            urbis_core::GeometryKind::Point => "Point",
            urbis_core::GeometryKind::MultiLineString => "MultiLineString",
            urbis_core::GeometryKind::MultiPolygon => "MultiPolygon",
            // A layer of any geometry: QGIS names the type of what it holds (the demo's
            // utilities are all points, its permits' sites polygons and points).
            urbis_core::GeometryKind::Geometry => layer["geometry"].as_str().unwrap_or("NoGeometry"),
        };
        assert_eq!(layer["geometry"], expected, "{name}: {layer}");
        // QGIS cannot name the type of an empty layer of any geometry (the demo writes no
        // coverage results): it opens it as a table, which is all it can be until it has rows.
        let empty_any = layer_id.schema().geometry == urbis_core::GeometryKind::Geometry && *count == 0;
        if layer_id.schema().has_geometry() && !empty_any {
            assert_ne!(layer["geometry"], "NoGeometry", "{name}: {layer}");
        }
        if expected != "NoGeometry" {
            assert_eq!(layer["crs"], "EPSG:4326", "{name}: {layer}");
        }
    }
    assert!(seen["parcels"]["count"].as_u64().unwrap() > 13_000);
}

/// A store for the client tests: a GeoPackage file in `dir`, or a new migrated PostGIS database.
fn new_store(dir: &Path, postgis: bool) -> String {
    if !postgis {
        return dir.join("city.gpkg").display().to_string();
    }
    let url = tokio::runtime::Runtime::new().unwrap().block_on(support::fresh_database());
    let (ok, out, err) = run(urbis().args(["migrate", "--store", &url]));
    assert!(ok, "{out}{err}");
    url
}

/// The store's count of a layer, from `urbis layers`.
fn stored(store: &str, layer: &str) -> u64 {
    let (ok, layers, err) = run(urbis().args(["layers", "--store", store]));
    assert!(ok, "{err}");
    layers
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == layer).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {layer} in {layers}"))
}

/// Runs each named `fn(postgis: bool)` as a test on a GeoPackage and, with the `postgis-tests`
/// feature, on PostGIS.
macro_rules! on_both_kinds {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn gpkg() {
                super::$name(false);
            }

            #[cfg(feature = "postgis-tests")]
            #[test]
            fn postgis() {
                super::$name(true);
            }
        }
    )*};
}

on_both_kinds!(
    gdal_reads_every_parcel_through_ogc_api_features,
    owslib_reads_what_the_source_file_holds,
    schemathesis_finds_no_5xx_and_no_answer_the_api_document_does_not_allow
);

/// GDAL's OGC API – Features client lists every collection and reads every parcel, page by
/// page through the `next` links, and finds as many as the store holds.
fn gdal_reads_every_parcel_through_ogc_api_features(postgis: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path(), postgis);
    import_cambridge_parcels(dir.path(), Path::new(&store), &["--skip-invalid", "--make-valid"]);
    let server = start_server(Path::new(&store), &[]);
    let url = &server.url;
    let oapif = format!("OAPIF:{url}");

    let listing = Command::new("ogrinfo").args(["-ro", "-q"]).arg(&oapif).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    for layer in urbis_core::LayerId::ALL {
        assert!(listing.contains(&format!(": {} (title:", layer.name())), "{layer} missing from:\n{listing}");
    }
    let read = Command::new("ogrinfo").args(["-ro", "-al", "-q"]).arg(&oapif).arg("parcels").output().unwrap();
    let text = String::from_utf8_lossy(&read.stdout);
    let features = text.lines().filter(|l| l.starts_with("OGRFeature(parcels)")).count();
    drop(server);
    assert!(!String::from_utf8_lossy(&read.stderr).contains("ERROR"), "{}", String::from_utf8_lossy(&read.stderr));
    assert_eq!(features as u64, stored(&store, "parcels"));
    assert_eq!(features, 13_114);
}

/// OWSLib (PyPI) reads the collections, the queryables, and bbox and CQL2 (text and JSON) queries
/// on the Cambridge zoning districts; `tests/owslib_client.py` computes every expected answer from
/// the source file itself, with shapely.
fn owslib_reads_what_the_source_file_holds(postgis: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path(), postgis);
    import_zoning(&store);
    let server = start_server(Path::new(&store), &[]);
    let url = &server.url;
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
    let out = Command::new("python3")
        .arg(tests.join("owslib_client.py"))
        .arg(url)
        .arg(tests.join("../data-samples/cambridge/CDD_ZoningDistricts.geojson"))
        .args(urbis_core::LayerId::ALL.map(|l| l.name()))
        .output()
        .expect("python3 with OWSLib (tests/install-deps.sh installs it) runs");
    drop(server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "OWSLib check failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["ok"], true, "{stdout}");
    assert!(last["bbox"].as_u64().unwrap() > 5, "{stdout}");
}

/// schemathesis (PyPI) generates requests from `/api` for every operation and finds no server
/// error and no answer (status, content type, headers, body) that the document does not allow.
fn schemathesis_finds_no_5xx_and_no_answer_the_api_document_does_not_allow(postgis: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path(), postgis);
    import_zoning(&store);
    let server = start_server(Path::new(&store), &[]);
    let url = &server.url;
    let out = Command::new("python3")
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("{url}/api"))
        .arg(format!("--url={url}"))
        .args([
            "--checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            "--phases=examples,coverage,fuzzing",
            "--max-examples=25",
            "--seed=20261123",
            "--generation-deterministic",
            "--suppress-health-check=all",
            // One worker: hypothesis under threads trips a CPython 3.11 AST bug.
            "--workers=1",
            "--no-color",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(dir.path())
        .output()
        .expect("python3 with schemathesis (tests/install-deps.sh installs it) runs");
    drop(server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found problems:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("passed"), "{stdout}");
}
