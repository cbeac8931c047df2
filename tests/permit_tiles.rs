//! The permits tile layer coloured by clock status (issue 5, part 8), on both stores: dossiers on
//! real Cambridge parcels (one received long ago on a 3-day procedure, one filed now, one
//! decided), their tiles decoded by the independent `mapbox-vector-tile` (tests/decode_mvt.py),
//! each dossier's `clock_status` checked against what `/track` says of its clock, with stage,
//! procedure and centre and no personal data; the cached tile dropped when a dossier moves.

use crate::{city, support};

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use city::{tile_of, App, History};
use geo::InteriorPoint;
use serde_json::{json, Value};
use urbis_core::domain::{Dossier, PermitEvent};
use urbis_core::LayerId;
use urbis_store::{AttributeFilter, Comparison, Query, Store};

const STAFF: &str = "admin-token-0123456789";

on_both_stores!((store, dir) => (std::sync::Arc::from(store), dir); permits_tiles_carry_the_clock_status);

/// The permits layer's features of a tile, decoded by tests/decode_mvt.py, by their `id`.
fn decode_permits(dir: &Path, name: &str, bytes: &[u8]) -> std::collections::BTreeMap<String, Value> {
    let file = dir.join(format!("{name}.mvt"));
    std::fs::write(&file, bytes).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/decode_mvt.py");
    let out = std::process::Command::new("python3").arg(&script).arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "the decoder failed (is mapbox-vector-tile installed? bash tests/install-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoded: Value = serde_json::from_slice(&out.stdout).unwrap();
    let layer = &decoded[file.to_str().unwrap()]["permits"];
    layer["features"]
        .as_array()
        .unwrap_or_else(|| panic!("no permits layer in {name}: {decoded}"))
        .iter()
        .map(|f| (f["properties"]["id"].as_str().unwrap().to_string(), f["properties"].clone()))
        .collect()
}

async fn parcel_point(store: &Arc<dyn Store>, code: &str) -> (geo_types::Geometry, geo_types::Point) {
    let q = Query::all().filter(AttributeFilter::new("code", Comparison::Eq, code));
    let g = store.query(LayerId::Parcels, &q).await.unwrap()[0].geometry.clone().unwrap();
    let p = g.interior_point().unwrap();
    (g, p)
}

async fn permits_tiles_carry_the_clock_status(store: Arc<dyn Store>, dir: &Path) {
    city::load_permit_city(store.as_ref(), dir).await;
    let app = App::new(store.clone(), &[format!("admin:{STAFF}")]);

    // An old dossier: received on 5 January 2026 on bulky waste collection (3 working days),
    // still received: long overdue. Written with its first event, as intake writes it.
    let (old_site, old_point) = parcel_point(&store, "127-123").await;
    let received = "2026-01-05T15:00:00.000Z";
    let dossier = Dossier {
        tracking_code: "CB-OLD1-0001".into(),
        procedure_code: "USG-03".into(),
        applicant: Some(json!({ "name": "Zoltan Quixote-Testperson", "phone": "617-555-0142" })),
        parcel_codes: vec!["127-123".into()],
        channel: Some("counter".into()),
        centre_id: Some("osc-city-hall".into()),
        stage: "received".into(),
        received_at: received.into(),
        ..Default::default()
    };
    let event = PermitEvent {
        at: received.into(),
        kind: "received".into(),
        stage: Some("received".into()),
        ..Default::default()
    };
    History::new("CB-OLD1-0001").append(store.as_ref(), &dossier, Some(old_site), event).await;

    // Two filed now next door, on 127-122 and 127-124; the second is then decided.
    let mut codes = vec!["CB-OLD1-0001".to_string()];
    for parcel in ["127-122", "127-124"] {
        let filed = app
            .call(
                "POST",
                "/dossiers",
                None,
                Some(json!({ "procedure_code": "BLU-01", "parcels": [parcel], "centre_id": "osc-city-hall",
                "applicant": { "name": "Wilhelmina Testcaller", "email": "w.testcaller@example.invalid" } })),
            )
            .await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        codes.push(filed.body["tracking_code"].as_str().unwrap().to_string());
    }
    for (to, decision) in [("in_review", None), ("decided", Some("approved"))] {
        let r = app
            .call(
                "POST",
                &format!("/dossiers/{}/transitions", codes[2]),
                Some(STAFF),
                Some(json!({ "to": to, "decision": decision })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    // What /track says of each clock: the status a tile must carry (closed once decided).
    let mut expected = vec![];
    for code in &codes {
        let t = app.call("GET", &format!("/track/{code}"), None, None).await;
        let clock = &t.body["clock"];
        let status =
            if clock["stopped"] == true { "closed".to_string() } else { clock["status"].as_str().unwrap().into() };
        expected.push(status);
    }
    assert_eq!(expected, ["overdue", "on_time", "closed"], "the test's dossiers as /track sees them");

    let tilejson = app.call("GET", "/tiles/permits.json", None, None).await;
    assert_eq!(tilejson.body["vector_layers"][0]["fields"]["clock_status"], "String", "{}", tilejson.body);

    let (lon, lat) = (old_point.x(), old_point.y());
    for z in [12, 16] {
        let (x, y) = tile_of(lon, lat, z);
        let uri = format!("/tiles/permits/{z}/{x}/{y}.mvt");
        let tile = app.call("GET", &uri, None, None).await;
        assert_eq!(tile.status, StatusCode::OK, "{uri}");
        let features = decode_permits(dir, &format!("z{z}"), &tile.bytes);
        for (code, status) in codes.iter().zip(&expected) {
            let f = features.get(code).unwrap_or_else(|| panic!("{code} not in {uri}: {features:?}"));
            assert_eq!(f["clock_status"].as_str(), Some(status.as_str()), "{code} in {uri}: {f}");
            assert!(f["stage"].is_string() && f["procedure_code"].is_string(), "{f}");
            assert_eq!(f["centre_id"], "osc-city-hall", "{f}");
        }
        let text = String::from_utf8_lossy(&tile.bytes);
        for personal in ["Zoltan", "Wilhelmina", "617-555", "example.invalid", "secret", "counter"] {
            assert!(!text.contains(personal), "{uri} holds `{personal}`");
        }
    }

    // Cached, and dropped when a dossier in it moves: the one filed now is withdrawn.
    let (x, y) = tile_of(lon, lat, 16);
    let uri = format!("/tiles/permits,parcels/16/{x}/{y}.mvt");
    assert_eq!(app.call("GET", &uri, None, None).await.header("x-cache"), "miss");
    let again = app.call("GET", &uri, None, None).await;
    assert_eq!(again.header("x-cache"), "hit");
    assert_eq!(decode_permits(dir, "before", &again.bytes)[&codes[1]]["clock_status"], "on_time");
    let r = app
        .call("POST", &format!("/dossiers/{}/transitions", codes[1]), Some(STAFF), Some(json!({ "to": "withdrawn" })))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after = app.call("GET", &uri, None, None).await;
    assert_eq!(after.header("x-cache"), "miss");
    assert_eq!(decode_permits(dir, "after", &after.bytes)[&codes[1]]["clock_status"], "closed");
}
