//! The coverage analysis view (web/coverage.html) end to end against `urbis serve` on the demo
//! city, in real headless Chromium (web/tests/coverage_view.mjs through playwright-core): a
//! walking analysis started from the form, its progress, every figure shown equal to the API's
//! report for the same request, the isochrones, uncovered areas and suggested sites drawn on the
//! map, a refused value, a phone. Also the job's features route that the view draws from. The
//! screenshots go to `<target>/tmp/coverage_view/<store>/`. Both stores.
//!
//! Needs what `tests/install-deps.sh` installs: Debian's chromium and fonts-dejavu-core, Node.js,
//! and web/node_modules (`npm ci` in web/).

#[allow(unused_macros)]
#[macro_use]
mod support;

mod binary;

#[macro_use]
#[path = "support/chromium.rs"]
mod chromium;

use std::path::Path;

use binary::start_server;
use chromium::web_dir;
use serde_json::Value;

/// The demo city (built once for this run) with what the analysis reads, on the store asked.
fn demo_store(dir: &Path, postgis: bool) -> String {
    chromium::demo_store("coverage_view", dir, postgis, &["parcels", "roads", "service_centres"])
}

/// One request to the server: status, JSON body and content type.
fn request(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value, String) {
    let (status, text, ty) = request_text(method, url, body);
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}")), ty)
}

/// One request to the server: status, body as sent and content type.
fn request_text(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, String, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut r = reqwest::Client::new().request(method, url);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = r.status().as_u16();
        let ty = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = r.text().await.unwrap();
        (status, text, ty)
    })
}

on_both_kinds!(the_coverage_view_works_in_chromium);

/// The job's features (what the view draws) hold the isochrones of every usable centre for each
/// cutoff and the uncovered areas the report counts, nothing else; then the view in Chromium.
fn the_coverage_view_works_in_chromium(postgis: bool) {
    chromium::node_modules(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path(), postgis);
    let server = start_server(Path::new(&store), &["--web-dir", web_dir().to_str().unwrap()]);
    let base = &server.url;

    // The features route: 409 while the job runs (or already done), then the collection.
    // The request the view's form is filled with (web/tests/coverage_view.mjs's REQUEST).
    let req = serde_json::json!({
        "mode": "walk", "coverage": { "minutes": 10, "km": 1 }, "cutoffs_min": [5, 10], "suggest": 2, "exact": false
    });
    let (status, job, _) = request(reqwest::Method::POST, &format!("{base}/analysis/coverage"), Some(req));
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    let (status, early, _) = request(reqwest::Method::GET, &format!("{base}/analysis/jobs/{id}/features"), None);
    assert!(status == 409 || status == 200, "{status} {early}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (_, s, _) = request(reqwest::Method::GET, &format!("{base}/analysis/jobs/{id}"), None);
        if s["state"] == "done" {
            break;
        }
        assert_eq!(s["state"], "running", "{s}");
        assert!(std::time::Instant::now() < deadline, "the job did not end: {s}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The report as the server wrote it (serde_json's default parsing may move a float by an ulp).
    let (_, report_text, _) = request_text(reqwest::Method::GET, &format!("{base}/analysis/jobs/{id}/result"), None);
    let report: Value = serde_json::from_str(&report_text).unwrap();
    let (status, features, ty) = request(reqwest::Method::GET, &format!("{base}/analysis/jobs/{id}/features"), None);
    assert_eq!((status, ty.as_str()), (200, "application/geo+json"), "{features}");
    assert_eq!(features["type"], "FeatureCollection");
    let all = features["features"].as_array().unwrap();
    let kind = |k: &str| all.iter().filter(|f| f["properties"]["kind"] == k).collect::<Vec<_>>();
    let (isochrones, uncovered) = (kind("isochrone"), kind("uncovered"));
    assert_eq!(isochrones.len() + uncovered.len(), all.len(), "only isochrones and uncovered areas");
    assert_eq!(uncovered.len() as u64, report["uncovered"]["polygons"].as_u64().unwrap());
    assert!(!uncovered.is_empty(), "the demo city has no uncovered area at 10 min / 1 km");
    for centre in report["centres"].as_array().unwrap().iter().filter(|c| c["unusable"].is_null()) {
        for minutes in [5.0, 10.0] {
            let iso = isochrones
                .iter()
                .find(|f| f["properties"]["centre"] == centre["id"] && f["properties"]["minutes"] == minutes)
                .unwrap_or_else(|| panic!("no {minutes}-minute isochrone of {}", centre["id"]));
            let reach = centre["reach"].as_array().unwrap().iter().find(|r| r["minutes"] == minutes).unwrap();
            assert_eq!(iso["properties"]["weight"], reach["weight"], "{}", centre["id"]);
            assert_eq!(iso["geometry"]["type"], "MultiPolygon");
            // WGS 84, in the Cambridge area.
            let lon = iso["geometry"]["coordinates"][0][0][0][0].as_f64().unwrap();
            assert!((-71.3..-70.9).contains(&lon), "{lon}");
        }
    }
    let (status, missing, _) = request(reqwest::Method::GET, &format!("{base}/analysis/jobs/nope/features"), None);
    assert_eq!(status, 404, "{missing}");

    // The view in Chromium, its figures checked against this report.
    let expected = dir.path().join("report.json");
    std::fs::write(&expected, &report_text).unwrap();
    let artefacts = chromium::artefacts("coverage_view", postgis);
    let summary = chromium::run_script("coverage_view.mjs", &[base, &artefacts, &expected]);
    assert!(summary["drawn"]["isochrones"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["drawn"]["uncovered"].as_u64().unwrap() > 0, "{summary}");
    chromium::assert_screenshots(&artefacts, &["coverage-view.png", "coverage-view-phone.png"]);
    eprintln!("coverage view in Chromium: {summary}; screenshots in {}", artefacts.display());
}
