//! `urbis coverage` and `POST /analysis/coverage` give the same figures for the demo city's data:
//! the command's `--out` report and the job's result are compared whole, on both stores. The
//! figures themselves are recomputed by brute force in urbis-analysis's tests.

#[macro_use]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use urbis_core::LayerId;
use urbis_import::{import_file, ImportOptions, Mapping, Silent};
use urbis_store::Store;

on_both_stores!(
    (store, dir) => (store, dir);
    cli_and_api_report_the_same_coverage,
);

fn samples(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples").join(rel)
}

async fn import(store: &dyn Store, layer: LayerId, file: &str, mapping: Option<&str>) {
    let mut options = ImportOptions::new(layer);
    if let Some(m) = mapping {
        options.mapping = Mapping::from_toml_file(&samples(m)).unwrap();
    } else {
        options.mapping.fields.insert("code".into(), "ML".into());
    }
    options.make_valid = true;
    options.skip_invalid = true;
    let reports = tempfile::tempdir().unwrap();
    options.report_dir = Some(reports.path().to_path_buf());
    import_file(store, &samples(file), &options, &Silent).await.unwrap_or_else(|e| panic!("{file}: {e}"));
}

async fn cli_and_api_report_the_same_coverage(store: Box<dyn Store>, dir: &Path) {
    import(&*store, LayerId::Roads, "cambridge/TRANS_Centerlines.geojson", Some("mappings/roads.toml")).await;
    import(
        &*store,
        LayerId::ServiceCentres,
        "cambridge/PUBLICSAFETY_FireStations.geojson",
        Some("mappings/fire_stations.toml"),
    )
    .await;
    import(
        &*store,
        LayerId::ServiceCentres,
        "cambridge/LANDMARK_PublicLibraries.geojson",
        Some("mappings/libraries.toml"),
    )
    .await;
    import(&*store, LayerId::Parcels, "cambridge/ASSESSING_ParcelsFY2014.topojson", None).await;

    // The command opens the store by its location; PostGIS's leaves out the user, so the URL is
    // rebuilt from the test server's.
    let location = match store.kind() {
        urbis_store::StoreKind::PostGis => {
            let name = store.location().rsplit('/').next().unwrap().to_string();
            support::with_database(&support::admin_url(), &name)
        }
        urbis_store::StoreKind::GeoPackage => store.location(),
    };
    let out = dir.join("report.json");
    let cli = Command::new(env!("CARGO_BIN_EXE_urbis"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["coverage", "--store", &location, "--mode", "drive", "--minutes", "5", "--km", "2"])
        .args(["--cutoffs", "3,5", "--suggest", "2", "--candidates", "grid:1000", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&cli.stderr));
    assert!(stdout.contains("by time or network km"), "{stdout}");
    let from_cli: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();

    let store: Arc<dyn Store> = Arc::from(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(urbis_server::serve(store.clone(), listener, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let body = json!({
        "mode": "drive",
        "coverage": { "minutes": 5.0, "km": 2.0 },
        "cutoffs_min": [3.0, 5.0],
        "suggest": 2,
        "candidates": { "from": "grid", "spacing_m": 1000.0 },
    });
    let res = client.post(format!("http://{addr}/analysis/coverage")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let href = res.json::<Value>().await.unwrap()["href"].as_str().unwrap().to_string();
    let mut from_api = Value::Null;
    for _ in 0..600 {
        let status: Value = client.get(&href).send().await.unwrap().json().await.unwrap();
        if status["state"] == "done" {
            from_api = client.get(format!("{href}/result")).send().await.unwrap().json().await.unwrap();
            break;
        }
        assert_eq!(status["state"], "running", "{status}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert_eq!(from_api["summary"], from_cli["summary"]);
    assert_eq!(from_api["centres"], from_cli["centres"]);
    assert_eq!(from_api, from_cli);
    let share = from_cli["summary"]["by_time"]["origin_share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 1.0, "{share}");
}
