//! `POST /analysis/coverage` as a job on the demo city's data, on both stores: 202 and a job URL,
//! progress and Server-Sent Events, a result equal to the run the command line makes (both call
//! urbis-analysis's `run` with the same request), the same result for the same inputs, writing
//! only with an editor's token, and bad requests refused by name.

#[macro_use]
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use urbis_core::LayerId;
use urbis_import::{import_file, ImportOptions, Mapping, Silent};
use urbis_store::Store;

on_both_stores!(
    (store, dir) => (std::sync::Arc::from(store));
    coverage_jobs,
);

const EDITOR: &str = "editor-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

fn samples(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples").join(rel)
}

async fn import(store: &dyn Store, layer: LayerId, file: &str, mapping: &str) {
    let mut options = ImportOptions::new(layer);
    options.mapping = Mapping::from_toml_file(&samples(mapping)).unwrap();
    options.make_valid = true;
    options.skip_invalid = true;
    let reports = tempfile::tempdir().unwrap();
    options.report_dir = Some(reports.path().to_path_buf());
    import_file(store, &samples(file), &options, &Silent).await.unwrap_or_else(|e| panic!("{file}: {e}"));
}

async fn call(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri).header(header::HOST, "example.test");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = app.clone().oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Starts a job and waits for it; returns its final status and result.
async fn finish(app: &Router, body: &str, token: Option<&str>) -> (Value, Value) {
    let (status, text) = call(app, "POST", "/analysis/coverage", token, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let started: Value = serde_json::from_str(&text).unwrap();
    let href = started["href"].as_str().unwrap();
    assert!(href.starts_with("http://example.test/analysis/jobs/"), "{href}");
    let path = href.trim_start_matches("http://example.test");
    for _ in 0..600 {
        let (s, text) = call(app, "GET", path, None, "").await;
        assert_eq!(s, StatusCode::OK);
        let st: Value = serde_json::from_str(&text).unwrap();
        if st["state"] != "running" {
            let (rs, result) = call(app, "GET", &format!("{path}/result"), None, "").await;
            assert_eq!(rs, StatusCode::OK, "{result}");
            return (st, serde_json::from_str(&result).unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the job did not finish in a minute");
}

async fn coverage_jobs(store: Arc<dyn Store>) {
    import(&*store, LayerId::Roads, "cambridge/TRANS_Centerlines.geojson", "mappings/roads.toml").await;
    for (file, mapping) in [
        ("cambridge/PUBLICSAFETY_FireStations.geojson", "mappings/fire_stations.toml"),
        ("cambridge/LANDMARK_PublicLibraries.geojson", "mappings/libraries.toml"),
    ] {
        import(&*store, LayerId::ServiceCentres, file, mapping).await;
    }
    let mut options = ImportOptions::new(LayerId::Parcels);
    options.mapping.fields.insert("code".into(), "ML".into());
    options.make_valid = true;
    options.skip_invalid = true;
    let reports = tempfile::tempdir().unwrap();
    options.report_dir = Some(reports.path().to_path_buf());
    import_file(&*store, &samples("cambridge/ASSESSING_ParcelsFY2014.topojson"), &options, &Silent).await.unwrap();

    let auth = urbis_server::auth::Auth::from_specs(&[format!("editor:{EDITOR}"), format!("viewer:{VIEWER}")]).unwrap();
    let app = urbis_server::router_with_auth(store.clone(), auth);
    let body = json!({
        "mode": "walk",
        "coverage": { "minutes": 10.0, "km": 1.0 },
        "cutoffs_min": [10.0],
        "suggest": 2,
        "candidates": { "from": "grid", "spacing_m": 800.0 },
    })
    .to_string();

    // The API's figures are the command line's: the same run on the same request.
    let (status, result) = finish(&app, &body, None).await;
    assert_eq!(status["state"], "done");
    assert_eq!(status["written"], Value::Null);
    assert!(status["result"].as_str().unwrap().ends_with("/result"));
    let request: urbis_analysis::run::CoverageRunRequest = serde_json::from_str(&body).unwrap();
    let direct = urbis_analysis::run::run(&*store, &request, &urbis_analysis::run::NoProgress).await.unwrap();
    // (Through JSON text both ways: serde_json's float parser may round the last digit.)
    let direct: Value = serde_json::from_str(&serde_json::to_string(&direct.report).unwrap()).unwrap();
    if result != direct {
        let (a, b) = (result.as_object().unwrap(), direct.as_object().unwrap());
        let differ: Vec<&String> = a.keys().filter(|k| a[*k] != b[*k]).collect();
        panic!("the API's report differs from the run's in {differ:?}");
    }
    let by_time = &result["summary"]["by_time"];
    assert!(by_time["origins"].as_u64().unwrap() > 0 && by_time["origin_share"].as_f64().unwrap() < 1.0);
    // Same inputs, same result.
    let (_, again) = finish(&app, &body, None).await;
    assert_eq!(again, result);

    // Progress events: the last one is `end`, with the final state.
    let (status, text) = call(&app, "POST", "/analysis/coverage", None, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let href: Value = serde_json::from_str(&text).unwrap();
    let events = href["events"].as_str().unwrap().trim_start_matches("http://example.test").to_string();
    let (s, stream) = call(&app, "GET", &events, None, "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(stream.contains("event: progress") || stream.starts_with("event: end"), "{stream}");
    let last = stream.trim_end().lines().rev().find(|l| l.starts_with("data:")).unwrap();
    let last: Value = serde_json::from_str(last.trim_start_matches("data:").trim()).unwrap();
    assert_eq!(last["state"], "done");
    assert!(stream.contains("event: end"));

    // Writing needs an editor.
    let write =
        json!({ "mode": "walk", "coverage": { "minutes": 10.0, "km": 1.0 }, "cutoffs_min": [10.0], "write": true })
            .to_string();
    assert_eq!(call(&app, "POST", "/analysis/coverage", None, &write).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, "POST", "/analysis/coverage", Some(VIEWER), &write).await.0, StatusCode::FORBIDDEN);
    let (status, _) = finish(&app, &write, Some(EDITOR)).await;
    assert_eq!(status["state"], "done");
    let written = status["written"].as_u64().unwrap();
    assert_eq!(store.count(LayerId::CoverageResults, &urbis_store::Query::all()).await.unwrap(), written);
    // And the layer is served like any other.
    let (s, text) = call(&app, "GET", "/collections/coverage_results/items?kind=isochrone&limit=100", None, "").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let items: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(items["features"].as_array().unwrap().len(), 15);

    // Bad requests, refused at once and by name.
    let (s, text) = call(&app, "POST", "/analysis/coverage", None, "{\"mode\": \"fly\"}").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(text.contains("fly"), "{text}");
    let (s, text) = call(&app, "POST", "/analysis/coverage", None, "{\"coverage\": {\"minutes\": -1}}").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(text.contains("time limit (minutes)"), "{text}");
    let (s, text) = call(&app, "POST", "/analysis/coverage", None, "{\"speeds\": {\"walk_kmh\": 0}}").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(text.contains("walking speed"), "{text}");
    // A run that fails on the data: the job says why.
    let (status, _) = {
        let (s, text) = call(&app, "POST", "/analysis/coverage", None, "{\"centre_kinds\": [\"hospital\"]}").await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let v: Value = serde_json::from_str(&text).unwrap();
        let path = v["href"].as_str().unwrap().trim_start_matches("http://example.test").to_string();
        let mut last = Value::Null;
        for _ in 0..600 {
            last = serde_json::from_str(&call(&app, "GET", &path, None, "").await.1).unwrap();
            if last["state"] != "running" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let r = call(&app, "GET", &format!("{path}/result"), None, "").await;
        assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY);
        (last, r.1)
    };
    assert_eq!(status["state"], "failed");
    assert_eq!(status["error"], "there is no service centre of kind hospital to measure access to");
    assert_eq!(call(&app, "GET", "/analysis/jobs/nope", None, "").await.0, StatusCode::NOT_FOUND);
}
