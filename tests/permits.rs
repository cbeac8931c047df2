//! The permit workflow over HTTP on both stores (issue 5, parts 1-7): intake on real Cambridge
//! parcels with its parcel check compared with an independent computation, the whole stage machine,
//! the statutory clock with Cambridge's holidays and pauses for a supplement and a payment, the
//! applicant's answers (documents supplied, payment made), public tracking that never
//! shows the applicant, and a history tampered with in SQL and caught.

#[macro_use]
mod support;
#[path = "support/city.rs"]
mod city;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use geo::{Area, BooleanOps, Centroid, Intersects};
use geo_types::{Geometry, MultiPolygon};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::Connection;
use tower::ServiceExt;
use urbis_core::geodesy::LocalProjection;
use urbis_core::permits::chain;
use urbis_core::{domain, LayerId};
use urbis_store::{HistoryHead, Query, Store};

const EDITOR: &str = "editor-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

/// Where the test's store is, so that a test can reach past urbis with plain SQL.
enum Backend {
    Gpkg(PathBuf),
    Postgis(String),
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn gpkg() {
                let tmp = tempfile::tempdir().unwrap();
                let path = tmp.path().join("t.gpkg");
                let store = urbis_store::gpkg::GpkgStore::open(&path).await.unwrap();
                super::$name(std::sync::Arc::new(store), super::Backend::Gpkg(path), tmp.path()).await;
            }

            #[cfg(feature = "postgis-tests")]
            #[tokio::test]
            async fn postgis() {
                let tmp = tempfile::tempdir().unwrap();
                let url = super::support::fresh_database().await;
                urbis_store::postgis::migrate(&url).await.unwrap();
                let store = urbis_store::postgis::PostgisStore::connect(&url).await.unwrap();
                super::$name(std::sync::Arc::new(store), super::Backend::Postgis(url), tmp.path()).await;
            }
        }
    )*};
}

on_both_backends!(workflow_on_cambridge_parcels, clock_with_holidays_and_pauses);

use city::samples;

/// Parcels (map-lot as code), zoning districts with their rules, overlays, hydrants (3 m
/// protection), the procedure catalogue and the one-stop centres, with the demo's mappings.
async fn load_city(store: &dyn Store, dir: &Path) {
    let files: [city::Sample; 6] = [
        ("cambridge/ASSESSING_ParcelsFY2014.topojson", None, LayerId::Parcels),
        ("cambridge/CDD_ZoningDistricts.geojson", Some("zoning_districts.toml"), LayerId::ZoningDistricts),
        ("cambridge/CDD_ZoningOverlayDistricts.geojson", Some("zoning_overlays.toml"), LayerId::ZoningOverlays),
        ("cambridge/INFRA_Hydrants.geojson", Some("hydrants.toml"), LayerId::Utilities),
        ("procedures.csv", Some("procedures.toml"), LayerId::Procedures),
        ("one_stop_centres.geojson", Some("one_stop_centres.toml"), LayerId::ServiceCentres),
    ];
    city::import_samples(store, dir, &files).await;
}

struct Answer {
    status: StatusCode,
    body: Value,
    text: String,
}

async fn call(store: &Arc<dyn Store>, method: &str, uri: &str, token: Option<&str>, body: Option<Value>) -> Answer {
    call_accepting(store, method, uri, token, body, "application/json").await
}

async fn call_accepting(
    store: &Arc<dyn Store>,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
    accept: &str,
) -> Answer {
    let auth = urbis_server::auth::Auth::from_specs(&[
        // The staff token of the workflow: a reviewer of the centre the test's dossiers go to.
        format!("reviewer@osc-city-hall:{EDITOR}"),
        format!("admin:{ADMIN}"),
        format!("viewer:{VIEWER}"),
    ])
    .unwrap();
    let mut request =
        Request::builder().method(method).uri(uri).header("accept", accept).header("host", "city.example");
    if let Some(t) = token {
        // An applicant's `Basic …` as it is; a staff token as a bearer.
        let value = if t.starts_with("Basic ") { t.to_string() } else { format!("Bearer {t}") };
        request = request.header("authorization", value);
    }
    let request = match body {
        Some(b) => request.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = urbis_server::router_with_auth(store.clone(), auth).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

fn polygons(g: &Geometry) -> MultiPolygon {
    urbis_core::permits::check::polygons(g)
}

/// The share of `site` in `zone`, measured independently of the check: planar areas in a local
/// metric projection (the check uses geodesic areas on the ellipsoid).
fn planar_share(site: &MultiPolygon, zone: &Geometry) -> f64 {
    let origin = site.centroid().unwrap().0;
    let proj = LocalProjection::new(origin);
    let s = polygons(&proj.project_geometry(&Geometry::MultiPolygon(site.clone())));
    let z = polygons(&proj.project_geometry(zone));
    s.intersection(&z).unsigned_area() / s.unsigned_area()
}

/// The row of data-samples/zoning_rules.csv for a district code, read straight from the file.
fn zoning_rule(code: &str) -> csv::StringRecord {
    let mut reader = csv::Reader::from_path(samples("zoning_rules.csv")).unwrap();
    reader.records().map(Result::unwrap).find(|r| &r[0] == code).unwrap_or_else(|| panic!("no rule for {code}"))
}

async fn workflow_on_cambridge_parcels(store: Arc<dyn Store>, backend: Backend, dir: &Path) {
    load_city(store.as_ref(), dir).await;

    // --- The catalogue: public to read, admins to edit.
    let list = call(&store, "GET", "/procedures", None, None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["procedures"].as_array().map(Vec::len), Some(30));
    let new = json!({ "code": "TST-01", "name": "Test permit", "category": "building and land use",
        "processing_days": 5, "channels": ["online", "counter"], "documents": ["plan"] });
    assert_eq!(
        call(&store, "POST", "/procedures", Some(EDITOR), Some(new.clone())).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(call(&store, "POST", "/procedures", None, Some(new.clone())).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&store, "POST", "/procedures", Some(ADMIN), Some(new.clone())).await.status, StatusCode::CREATED);
    assert_eq!(call(&store, "POST", "/procedures", Some(ADMIN), Some(new.clone())).await.status, StatusCode::CONFLICT);
    let mut edited = new.clone();
    edited["processing_days"] = json!(-3);
    let r = call(&store, "PUT", "/procedures/TST-01", Some(ADMIN), Some(edited.clone())).await;
    assert_eq!((r.status, r.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("processing_days")));
    edited["processing_days"] = json!(8);
    assert_eq!(call(&store, "PUT", "/procedures/TST-01", Some(ADMIN), Some(edited)).await.status, StatusCode::OK);
    assert_eq!(call(&store, "GET", "/procedures/TST-01", None, None).await.body["processing_days"], 8);

    // --- Intake on a real parcel: 23 Rockwell St (127-123), a multifamily proposal 14 m high.
    let name = "Zoltan Quixote-Testperson";
    let email = "zoltan.quixote@example.invalid";
    let filing = json!({
        "procedure_code": "BLU-01", "parcels": ["127-123"], "channel": "online", "centre_id": "osc-city-hall",
        "proposed_use": "residential_multifamily", "proposed_height_m": 14.0, "proposed_floor_area_m2": 900.0,
        "applicant": { "name": name, "email": email, "phone": "617-555-0142" },
    });
    let filed = call(&store, "POST", "/dossiers", None, Some(filing.clone())).await;
    assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.text);
    let code = filed.body["tracking_code"].as_str().unwrap().to_string();
    let secret = filed.body["secret"].as_str().unwrap().to_string();
    assert!(code.starts_with("CB-") && code.len() == 12, "{code}");
    assert!(secret.len() >= 32);

    // The check, against an independent computation over every district, overlay and hydrant.
    let check = &filed.body["parcel_check"];
    let parcel = store
        .query(
            LayerId::Parcels,
            &Query::all().filter(urbis_store::AttributeFilter::new("code", urbis_store::Comparison::Eq, "127-123")),
        )
        .await
        .unwrap();
    let site = polygons(parcel[0].geometry.as_ref().unwrap());
    let districts = store.query(LayerId::ZoningDistricts, &Query::all()).await.unwrap();
    let mut expected: Vec<(String, f64)> = districts
        .iter()
        .filter_map(|d| {
            let share = planar_share(&site, d.geometry.as_ref().unwrap());
            (share > 0.001).then(|| (d.text("code").unwrap().to_string(), share))
        })
        .collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    let got: Vec<(String, f64)> = check["districts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap().to_string(), d["share"].as_f64().unwrap()))
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
    for ((gc, gs), (ec, es)) in got.iter().zip(&expected) {
        assert_eq!(gc, ec);
        assert!((gs - es).abs() < 0.005, "{gc}: {gs} vs {es}");
    }
    for d in check["districts"].as_array().unwrap() {
        let rule = zoning_rule(d["code"].as_str().unwrap());
        let permitted: Vec<String> = serde_json::from_str(&rule[11]).unwrap();
        let conditional: Vec<String> = serde_json::from_str(&rule[12]).unwrap();
        let status = if permitted.iter().any(|u| u == "residential_multifamily") {
            "permitted"
        } else if conditional.iter().any(|u| u == "residential_multifamily") {
            "conditional"
        } else {
            "prohibited"
        };
        assert_eq!(d["use_status"], status, "{d}");
        assert_eq!(d["article"].as_str(), Some(&rule[13]));
        let height: f64 = rule[3].parse().unwrap();
        let limit = check["limits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["limit"] == "height_m" && l["source"]["name"] == d["code"])
            .unwrap();
        assert_eq!((limit["allowed"].as_f64(), limit["complies"].as_bool()), (Some(height), Some(14.0 <= height)));
    }
    let overlays = store.query(LayerId::ZoningOverlays, &Query::all()).await.unwrap();
    let mut expected_overlays: Vec<String> = overlays
        .iter()
        .filter(|o| planar_share(&site, o.geometry.as_ref().unwrap()) > 0.001)
        .map(|o| o.id.clone())
        .collect();
    expected_overlays.sort();
    let mut got_overlays: Vec<String> =
        check["overlays"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_string()).collect();
    got_overlays.sort();
    assert_eq!(got_overlays, expected_overlays);
    let hydrants = store.query(LayerId::Utilities, &Query::all()).await.unwrap();
    let site_geometry = Geometry::MultiPolygon(site.clone());
    let proj = LocalProjection::new(site.centroid().unwrap().0);
    let mut expected_zones: Vec<String> = hydrants
        .iter()
        .filter(|h| proj.distance_m(h.geometry.as_ref().unwrap(), &site_geometry) <= 3.0 - 0.05)
        .map(|h| h.id.clone())
        .collect();
    expected_zones.sort();
    let got_zones: Vec<String> = check["protection_zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["utility"].as_str().unwrap().to_string())
        .collect();
    for z in &expected_zones {
        assert!(got_zones.contains(z), "{z} missing from {got_zones:?}");
    }

    // A second dossier on the same parcel sees the first as open on the site; a drawn site finds
    // the parcels it covers, as a brute-force pass over every parcel does.
    let second = call(&store, "POST", "/dossiers", None, Some(filing.clone())).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    let conflicts: Vec<&str> = second.body["parcel_check"]["open_dossiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["tracking_code"].as_str().unwrap())
        .collect();
    assert_eq!(conflicts, vec![code.as_str()]);
    let c = site.centroid().unwrap();
    let d = 0.0006;
    let ring = vec![(c.x() - d, c.y() - d), (c.x() + d, c.y() - d), (c.x() + d, c.y() + d), (c.x() - d, c.y() + d)];
    let drawn: Geometry = geo_types::Polygon::new(geo_types::LineString::from(ring), vec![]).into();
    let mut by_site = filing.clone();
    by_site.as_object_mut().unwrap().remove("parcels");
    by_site["site"] = json!(geojson::Geometry::from(&drawn));
    let third = call(&store, "POST", "/dossiers", None, Some(by_site)).await;
    assert_eq!(third.status, StatusCode::CREATED, "{}", third.text);
    let all_parcels = store.query(LayerId::Parcels, &Query::all()).await.unwrap();
    let drawn_polys = polygons(&drawn);
    let mut covered: Vec<String> = all_parcels
        .iter()
        .filter(|p| p.geometry.as_ref().unwrap().intersects(&drawn))
        .filter(|p| {
            planar_share(&polygons(p.geometry.as_ref().unwrap()), &Geometry::MultiPolygon(drawn_polys.clone())) >= 0.06
        })
        .map(|p| p.text("code").unwrap().to_string())
        .collect();
    covered.sort();
    covered.dedup();
    let mut resolved: Vec<String> =
        third.body["parcel_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    resolved.sort();
    assert!(covered.len() > 1, "{covered:?}");
    for c in &covered {
        assert!(resolved.contains(c), "{c} missing from {resolved:?}");
    }

    // Bad intake: each refused with the parameter at fault.
    for (change, parameter) in [
        (json!({ "procedure_code": "NOPE" }), "procedure_code"),
        (json!({ "parcels": ["no-such-parcel"] }), "parcels"),
        (json!({ "channel": "fax" }), "channel"),
        (json!({ "centre_id": "nowhere" }), "centre_id"),
        (json!({ "proposed_height_m": -1.0 }), "proposed_height_m"),
        (json!({ "applicant": "someone" }), "applicant"),
        (json!({ "site": { "type": "Point", "coordinates": [-71.1, 42.37] }, "parcels": [] }), "site"),
    ] {
        let mut body = filing.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = call(&store, "POST", "/dossiers", None, Some(body)).await;
        assert_eq!((r.status, r.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some(parameter)), "{}", r.text);
    }
    let r = call(
        &store,
        "POST",
        "/dossiers",
        None,
        Some(json!({ "procedure_code": "BLU-01", "applicant": { "name": "x" }, "colour": 1 })),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // At a counter, staff file.
    let mut counter = filing.clone();
    counter["channel"] = json!("counter");
    assert_eq!(call(&store, "POST", "/dossiers", None, Some(counter.clone())).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&store, "POST", "/dossiers", Some(EDITOR), Some(counter)).await.status, StatusCode::CREATED);

    // --- The stage machine, every move through the API.
    let path = format!("/dossiers/{code}/transitions");
    let go = |to: &str, decision: Option<&str>| {
        let mut b = json!({ "to": to, "note": format!("to {to}"), "actor": "a.moreau" });
        if let Some(d) = decision {
            b["decision"] = json!(d);
        }
        b
    };
    assert_eq!(call(&store, "POST", &path, None, Some(go("in_review", None))).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&store, "POST", &path, Some(VIEWER), Some(go("in_review", None))).await.status,
        StatusCode::FORBIDDEN
    );
    let illegal = call(&store, "POST", &path, Some(EDITOR), Some(go("decided", Some("approved")))).await;
    assert_eq!(illegal.status, StatusCode::CONFLICT);
    assert_eq!(illegal.body["current"], "received");
    assert_eq!(illegal.body["allowed"], json!(["in_review", "withdrawn"]));
    assert!(illegal.body["message"].as_str().unwrap().contains("from `received` it may move to: in_review, withdrawn"));
    let r = call(&store, "POST", &path, Some(EDITOR), Some(go("reviewed", None))).await;
    assert_eq!((r.status, r.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("to")));
    for to in ["in_review", "supplement_requested", "supplement_received", "supplement_requested"] {
        let r = call(&store, "POST", &path, Some(EDITOR), Some(go(to, None))).await;
        assert_eq!(r.status, StatusCode::OK, "{to}: {}", r.text);
        assert_eq!(r.body["stage"], to);
    }

    // The applicant answers, by tracking code and secret: the documents are supplied.
    let applicant = format!("Basic {}", base64_of(&format!("{code}:{secret}")));
    let wrong = format!("Basic {}", base64_of(&format!("{code}:not-the-secret")));
    let supplied = format!("/track/{code}/supplement");
    let paid = format!("/track/{code}/payment");
    let note = json!({ "note": "plans attached" });
    assert_eq!(call(&store, "POST", &supplied, None, Some(note.clone())).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&store, "POST", &supplied, Some(&wrong), Some(note.clone())).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Staff do not answer for the applicant here; another dossier's applicant may not either.
    assert_eq!(call(&store, "POST", &supplied, Some(EDITOR), Some(note.clone())).await.status, StatusCode::FORBIDDEN);
    let second_code = second.body["tracking_code"].as_str().unwrap();
    let second_secret = second.body["secret"].as_str().unwrap();
    let other = format!("Basic {}", base64_of(&format!("{second_code}:{second_secret}")));
    assert_eq!(call(&store, "POST", &supplied, Some(&other), Some(note.clone())).await.status, StatusCode::FORBIDDEN);
    // Not waiting for a payment: 409 naming the stage.
    let r = call(&store, "POST", &paid, Some(&applicant), Some(json!({ "reference": "TX-1" }))).await;
    assert_eq!(
        (r.status, r.body["current"].as_str()),
        (StatusCode::CONFLICT, Some("supplement_requested")),
        "{}",
        r.text
    );
    assert!(r.body["message"].as_str().unwrap().contains("not waiting for a payment"), "{}", r.text);
    let r = call(&store, "POST", &supplied, Some(&applicant), Some(json!({ "note": 3 }))).await;
    assert_eq!((r.status, r.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("body")));
    let t = call(&store, "GET", &format!("/track/{code}"), None, None).await;
    assert_eq!(
        (t.body["waiting_for"]["what"].as_str(), t.body["applicant_actions"].clone()),
        (Some("documents"), json!(["supplement"]))
    );
    let r = call(&store, "POST", &supplied, Some(&applicant), Some(note.clone())).await;
    assert_eq!((r.status, r.body["stage"].as_str()), (StatusCode::OK, Some("supplement_received")), "{}", r.text);
    let r = call(&store, "POST", &supplied, Some(&applicant), Some(note.clone())).await;
    assert_eq!((r.status, r.body["current"].as_str()), (StatusCode::CONFLICT, Some("supplement_received")));

    // A payment during the review: a stated amount; a bad one, or one with another move, is 400.
    let mut ask = go("payment_requested", None);
    ask["amount"] = json!(-5);
    let r = call(&store, "POST", &path, Some(EDITOR), Some(ask.clone())).await;
    assert_eq!((r.status, r.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("amount")));
    let mut stray = go("decided", Some("approved"));
    stray["amount"] = json!(10);
    let r = call(&store, "POST", &path, Some(EDITOR), Some(stray)).await;
    assert_eq!((r.status, r.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("amount")));
    ask["amount"] = json!(250.5);
    let r = call(&store, "POST", &path, Some(EDITOR), Some(ask)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["clock"]["paused"].as_bool(), r.body["allowed_transitions"].clone()),
        (Some(true), json!(["payment_received", "withdrawn"]))
    );
    let t = call(&store, "GET", &format!("/track/{code}"), None, None).await;
    assert_eq!(
        (t.body["waiting_for"]["what"].as_str(), t.body["waiting_for"]["amount"].as_f64()),
        (Some("payment"), Some(250.5))
    );
    // Everything that lists stages knows it: the reviewers' queue (paused, neither at risk nor
    // overdue), Open311 (open, waiting for the applicant's payment), BLDS (in review).
    let queue = call(&store, "GET", "/dossiers?stage=payment_requested", Some(EDITOR), None).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.text);
    let entry = queue.body["dossiers"].as_array().unwrap().iter().find(|d| d["id"] == json!(code)).cloned();
    let entry = entry.unwrap_or_else(|| panic!("not queued: {}", queue.text));
    assert_eq!((entry["paused"].as_bool(), entry["status"].as_str()), (Some(true), Some("on_time")), "{entry}");
    let o = call(&store, "GET", &format!("/open311/v2/requests/{code}.json"), None, None).await;
    assert_eq!(o.body[0]["status"], "open", "{}", o.text);
    assert!(o.body[0]["status_notes"].as_str().unwrap().contains("waiting for the applicant's payment"), "{}", o.text);
    let blds = call(&store, "GET", "/permits/blds.geojson", None, None).await;
    let record = blds.body["features"].as_array().unwrap().iter().find(|f| f["properties"]["PermitNum"] == json!(code));
    assert_eq!(
        record.map(|f| f["properties"]["StatusCurrentMapped"].clone()),
        Some(json!("In Review")),
        "{}",
        blds.text
    );
    let r = call(&store, "POST", &paid, Some(&applicant), Some(json!({ "reference": " " }))).await;
    assert_eq!((r.status, r.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("reference")));
    let r = call(&store, "POST", &paid, Some(&applicant), Some(json!({ "reference": "TX-2026-0042" }))).await;
    assert_eq!((r.status, r.body["stage"].as_str()), (StatusCode::OK, Some("payment_received")), "{}", r.text);
    assert_eq!(
        r.body["allowed_transitions"],
        json!(["supplement_requested", "payment_requested", "decided", "withdrawn"])
    );

    let r = call(&store, "POST", &path, Some(EDITOR), Some(go("decided", None))).await;
    assert_eq!((r.status, r.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("decision")));
    let r = call(&store, "POST", &path, Some(EDITOR), Some(go("decided", Some("approved_with_conditions")))).await;
    assert_eq!(
        (r.status, r.body["allowed_transitions"].clone()),
        (StatusCode::OK, json!(["payment_requested", "delivered"]))
    );
    let r = call(&store, "POST", &path, Some(EDITOR), Some(go("withdrawn", None))).await;
    assert_eq!(
        (r.status, r.body["allowed"].clone()),
        (StatusCode::CONFLICT, json!(["payment_requested", "delivered"]))
    );
    // A fee due before the result is handed over: the procedure's (BLU-01, 1,500) by default;
    // paid, the dossier may only be delivered.
    let r = call(&store, "POST", &path, Some(EDITOR), Some(go("payment_requested", None))).await;
    assert_eq!(
        (r.status, r.body["allowed_transitions"].clone()),
        (StatusCode::OK, json!(["payment_received"])),
        "{}",
        r.text
    );
    assert_eq!((r.body["clock"]["stopped"].as_bool(), r.body["clock"]["paused"].as_bool()), (Some(true), Some(false)));
    let t = call(&store, "GET", &format!("/track/{code}"), None, None).await;
    assert_eq!(t.body["waiting_for"]["amount"].as_f64(), Some(1500.0));
    assert_eq!(t.body["applicant_actions"], json!(["payment", "rating"]));
    // Decided: closed in Open311 and out of the queue while the fee is awaited.
    let o = call(&store, "GET", &format!("/open311/v2/requests/{code}.json"), None, None).await;
    assert_eq!(o.body[0]["status"], "closed", "{}", o.text);
    let queue = call(&store, "GET", "/dossiers?limit=1000", Some(EDITOR), None).await;
    assert!(!queue.body["dossiers"].as_array().unwrap().iter().any(|d| d["id"] == json!(code)), "{}", queue.text);
    // … and not open in its parcel's report either.
    let report = call(&store, "GET", "/parcels/127-123/report", None, None).await;
    let on_it = report.body["permits"].as_array().unwrap().iter().find(|p| p["id"] == json!(code));
    assert_eq!(on_it.map(|p| p["open"].clone()), Some(json!(false)), "{}", report.text);
    let r = call(&store, "POST", &path, Some(EDITOR), Some(go("delivered", None))).await;
    assert_eq!((r.status, r.body["allowed"].clone()), (StatusCode::CONFLICT, json!(["payment_received"])));
    let r =
        call(&store, "POST", &paid, Some(&applicant), Some(json!({ "reference": "TX-2026-0043", "note": "by card" })))
            .await;
    assert_eq!((r.status, r.body["allowed_transitions"].clone()), (StatusCode::OK, json!(["delivered"])), "{}", r.text);
    assert_eq!(call(&store, "POST", &path, Some(ADMIN), Some(go("delivered", None))).await.status, StatusCode::OK);
    let r = call(&store, "POST", &path, Some(EDITOR), Some(go("in_review", None))).await;
    assert_eq!((r.status, r.body["allowed"].clone()), (StatusCode::CONFLICT, json!([])));
    let r = call(
        &store,
        "POST",
        &format!("/dossiers/{second_code}/transitions"),
        Some(EDITOR),
        Some(go("withdrawn", None)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        call(&store, "POST", "/dossiers/CB-NONE-NONE/transitions", Some(EDITOR), Some(go("in_review", None)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The reviewer's view: everything, the applicant included; each move an event with actor,
    // time and note; the stored check; the check run again is recorded too.
    let view = call(&store, "GET", &format!("/dossiers/{code}"), Some(EDITOR), None).await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.text);
    assert_eq!(view.body["dossier"]["applicant"]["name"], name);
    assert!(view.body["dossier"]["applicant"].get("secret_sha256").is_none());
    assert_eq!(view.body["dossier"]["stage"], "delivered");
    assert_eq!(view.body["dossier"]["decision"], "approved_with_conditions");
    let history = view.body["history"].as_array().unwrap();
    assert_eq!(history.len(), 1 + 11);
    assert_eq!(history[1]["actor"], "reviewer:a.moreau");
    assert_eq!(history[1]["note"], "to in_review");
    assert_eq!(
        (history[5]["actor"].as_str(), history[5]["note"].as_str()),
        (Some("applicant"), Some("plans attached"))
    );
    assert_eq!(history[6]["note"], "payment due: 250.5: to payment_requested");
    assert_eq!(
        (history[7]["actor"].as_str(), history[7]["note"].as_str()),
        (Some("applicant"), Some("payment reference: TX-2026-0042"))
    );
    assert_eq!(history[8]["note"], "approved_with_conditions: to decided");
    assert_eq!(history[10]["note"], "payment reference: TX-2026-0043: by card");
    assert!(history.iter().all(|e| e["hash"].as_str().is_some_and(|h| h.len() == 64)), "{history:?}");
    assert!(view.body["parcel_check"]["result"]["districts"].is_array());
    assert_eq!(call(&store, "GET", &format!("/dossiers/{code}"), None, None).await.status, StatusCode::UNAUTHORIZED);
    let rerun = call(&store, "POST", &format!("/dossiers/{code}/check"), Some(EDITOR), None).await;
    assert_eq!(rerun.status, StatusCode::OK, "{}", rerun.text);
    assert_eq!(rerun.body["result"]["districts"], check["districts"]);
    let stored = call(&store, "GET", &format!("/dossiers/{code}/check"), Some(EDITOR), None).await;
    assert_eq!(stored.body["checked_at"], rerun.body["checked_at"]);

    // --- Public tracking: the procedure, the stages with dates, the due date, the centre; never
    // the applicant, the secret or its hash, in JSON or in HTML.
    let t = call(&store, "GET", &format!("/track/{code}"), None, None).await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(t.body["procedure"]["code"], "BLU-01");
    assert_eq!(t.body["stage"], "delivered");
    assert_eq!(t.body["centre"]["id"], "osc-city-hall");
    assert!(t.body["due_at"].is_string());
    assert_eq!(t.body["stages"].as_array().map(Vec::len), Some(12));
    let whose: Vec<&str> =
        t.body["stages"].as_array().unwrap().iter().map(|s| s["whose_days"].as_str().unwrap()).collect();
    assert_eq!(
        whose,
        [
            "city",
            "city",
            "applicant",
            "city",
            "applicant",
            "city",
            "applicant",
            "city",
            "stopped",
            "stopped",
            "stopped",
            "stopped"
        ]
    );
    assert_eq!((t.body["waiting_for"].clone(), t.body["applicant_actions"].clone()), (Value::Null, json!(["rating"])));
    let page = call_accepting(&store, "GET", &format!("/track/{code}"), None, None, "text/html").await;
    assert!(page.text.starts_with("<!doctype html>") && page.text.contains("delivered"), "{}", page.text);
    let hash = view.body.to_string(); // the reviewer's view has no hash either; check the store's row
    assert!(!hash.contains("secret_sha256"));
    let row = store.get(LayerId::Permits, &code).await.unwrap().unwrap();
    let secret_hash = row.get("applicant").unwrap()["secret_sha256"].as_str().unwrap().to_string();
    for text in [
        &t.text,
        &page.text,
        &call(&store, "GET", &format!("/track/{code}/verify"), None, None).await.text,
        &call(&store, "GET", "/collections/permits/items?limit=10000", None, None).await.text,
    ] {
        for private in [name, email, "617-555-0142", secret.as_str(), secret_hash.as_str()] {
            assert!(!text.contains(private), "`{private}` appears in a public answer");
        }
    }

    // The BLDS status history publishes the city's notes, never the applicant's words.
    let history_csv = call(&store, "GET", "/permits/blds-status.csv", None, None).await.text;
    assert!(history_csv.contains("payment due: 250.5"), "{history_csv}");
    for words in ["plans attached", "TX-2026-0042", "by card"] {
        assert!(!history_csv.contains(words), "`{words}` in the BLDS status history");
    }

    // --- Verification, then tampering with SQL behind urbis's back.
    let v = call(&store, "GET", &format!("/track/{code}/verify"), None, None).await;
    assert_eq!((v.body["intact"].as_bool(), v.body["links"].as_u64()), (Some(true), Some(13)), "{}", v.text);
    let audit = urbis_server::permits::verify_all(store.as_ref(), None).await.unwrap();
    assert!(audit.broken.is_empty() && (audit.chains, audit.links) == (4, 13 + 2 + 1 + 1), "{audit:?}");
    let target = format!("{code}-03");
    let sql = "UPDATE permit_events SET note = 'nothing was missing' WHERE id = ";
    match &backend {
        Backend::Gpkg(path) => {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
            let done = sqlx::query(&format!("{sql}?")).bind(&target).execute(&mut conn).await.unwrap();
            assert_eq!(done.rows_affected(), 1);
            conn.close().await.unwrap();
        }
        Backend::Postgis(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let done = sqlx::query(&format!("{sql}$1")).bind(&target).execute(&mut conn).await.unwrap();
            assert_eq!(done.rows_affected(), 1);
            conn.close().await.unwrap();
        }
    }
    let v = call(&store, "GET", &format!("/track/{code}/verify"), None, None).await;
    assert_eq!(v.body["intact"], false, "{}", v.text);
    assert_eq!(v.body["broken_at"]["seq"], 3);
    assert_eq!(v.body["broken_at"]["event_id"], target.as_str());
    assert!(v.body["message"].as_str().unwrap().contains(&format!("history breaks at event 3 (`{target}`)")));
    let audit = urbis_server::permits::verify_all(store.as_ref(), None).await.unwrap();
    assert_eq!(audit.broken.len(), 1, "{audit:?}");
    assert_eq!((audit.broken[0].permit_id.as_str(), audit.broken[0].seq), (code.as_str(), 3));
    // The other dossiers' chains still hold.
    let v = call(&store, "GET", &format!("/track/{second_code}/verify"), None, None).await;
    assert_eq!(v.body["intact"], true);
}

/// A dossier of the procedure TST-10 whose history is written at the given instants, each event
/// sealed onto the chain as the API would.
async fn write_history(store: &dyn Store, id: &str, steps: &[(&str, &str)]) {
    let mut dossier = domain::Dossier {
        tracking_code: id.into(),
        procedure_code: "TST-10".into(),
        applicant: Some(json!({ "name": "Clock Tester" })),
        stage: "received".into(),
        received_at: at(steps[0].0),
        ..Default::default()
    };
    let mut head: Option<HistoryHead> = None;
    for (i, (when, stage)) in steps.iter().enumerate() {
        dossier.stage = stage.to_string();
        let mut e = domain::PermitEvent {
            permit_id: id.into(),
            seq: i as i64 + 1,
            at: at(when),
            kind: if i == 0 { "received" } else { "transition" }.into(),
            stage: Some(stage.to_string()),
            actor: Some("test".into()),
            note: None,
            hash: None,
        };
        let previous = head.as_ref().and_then(|h| h.hash.clone()).unwrap_or_else(|| chain::GENESIS.into());
        e.hash = Some(chain::link_hash(&previous, &e));
        let ef = domain::write(format!("{id}-{:02}", i + 1), None, &e);
        let df = domain::write(id, None, &dossier);
        store.append_event(&df, &ef, head.as_ref()).await.unwrap();
        head = Some(HistoryHead { seq: e.seq, hash: e.hash.clone() });
    }
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn at(s: &str) -> String {
    format!("{s}.000Z")
}

/// A dossier whose history is written at chosen instants (the API records "now"), then read
/// through the API at chosen instants: Cambridge's calendar (Veterans Day, 11 November 2026) and a
/// supplement pause.
async fn clock_with_holidays_and_pauses(store: Arc<dyn Store>, _backend: Backend, _dir: &Path) {
    let procedure = domain::Procedure {
        code: "TST-10".into(),
        name: "Ten-day permit".into(),
        category: "building and land use".into(),
        processing_days: 10,
        channels: vec!["online".into()],
        ..Default::default()
    };
    store.create(LayerId::Procedures, &[domain::write("TST-10", None, &procedure)]).await.unwrap();
    let id = "CB-TEST-0001";
    write_history(
        store.as_ref(),
        id,
        &[
            ("2026-11-02T15:00:00", "received"),
            ("2026-11-03T15:00:00", "in_review"),
            ("2026-11-05T15:00:00", "supplement_requested"),
            ("2026-11-10T15:00:00", "supplement_received"),
        ],
    )
    .await;
    let read_of = |id: &'static str, when: &str| {
        let store = store.clone();
        let uri = format!("/dossiers/{id}?at={}", at(when).replace(':', "%3A"));
        async move { call(&store, "GET", &uri, Some(ADMIN), None).await.body }
    };
    let read = |when: &str| {
        let store = store.clone();
        let uri = format!("/dossiers/{id}?at={}", at(when).replace(':', "%3A"));
        async move { call(&store, "GET", &uri, Some(ADMIN), None).await.body }
    };
    // Thursday 12 November: the city's days are the 3rd, the 4th and 5th, and the 12th (the 11th
    // is Veterans Day); the 6th, 9th and 10th were the applicant's. Due Friday 20 November.
    let v = read("2026-11-12T20:00:00").await;
    let v_first = v["clock"].clone();
    let c = &v["clock"];
    assert_eq!(
        (c["city_days"].as_i64(), c["applicant_days"].as_i64(), c["days_left"].as_i64()),
        (Some(4), Some(3), Some(6)),
        "{v}"
    );
    assert_eq!((c["due_date"].as_str(), c["status"].as_str()), (Some("2026-11-20"), Some("on_time")));
    assert_eq!(c["due_at"], "2026-11-20T22:00:00.000Z");
    let owners: Vec<(&str, i64, &str)> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["working_days"].as_i64().unwrap(), s["owner"].as_str().unwrap()))
        .collect();
    assert_eq!(
        owners,
        vec![
            ("received", 1, "city"),
            ("in_review", 2, "city"),
            ("supplement_requested", 3, "applicant"),
            ("supplement_received", 1, "city")
        ]
    );
    // Wednesday 18th: 2 of 10 days left, under a quarter: at risk. Monday 23rd: overdue.
    let v = read("2026-11-18T20:00:00").await;
    assert_eq!((v["clock"]["days_left"].as_i64(), v["clock"]["status"].as_str()), (Some(2), Some("at_risk")));
    let v = read("2026-11-23T20:00:00").await;
    assert_eq!((v["clock"]["days_left"].as_i64(), v["clock"]["status"].as_str()), (Some(-1), Some("overdue")));
    // The public page tells the same due date and whose days each stage's were.
    let t =
        call(&store, "GET", &format!("/track/{id}?at={}", at("2026-11-12T20:00:00").replace(':', "%3A")), None, None)
            .await;
    assert_eq!(t.body["due_at"], "2026-11-20T22:00:00.000Z");
    assert_eq!(t.body["stages"][2]["whose_days"], "applicant");
    assert!(!t.text.contains("Clock Tester"));
    let bad = call(&store, "GET", &format!("/dossiers/{id}?at=yesterday"), Some(ADMIN), None).await;
    assert_eq!((bad.status, bad.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("at")));

    // The same days waiting for a payment instead: the same figures, the applicant's days.
    write_history(
        store.as_ref(),
        "CB-TEST-0002",
        &[
            ("2026-11-02T15:00:00", "received"),
            ("2026-11-03T15:00:00", "in_review"),
            ("2026-11-05T15:00:00", "payment_requested"),
            ("2026-11-10T15:00:00", "payment_received"),
        ],
    )
    .await;
    let p = read_of("CB-TEST-0002", "2026-11-12T20:00:00").await;
    for field in ["city_days", "applicant_days", "days_left", "due_date", "due_at", "status"] {
        assert_eq!(p["clock"][field], v_first[field], "{field}: {p}");
    }
    assert_eq!(
        (p["stages"][2]["stage"].as_str(), p["stages"][2]["owner"].as_str()),
        (Some("payment_requested"), Some("applicant"))
    );
    assert_eq!(p["allowed_transitions"], json!(["supplement_requested", "payment_requested", "decided", "withdrawn"]));

    // Both pauses, around Veterans Day: the city's days are the 3rd, 4th, 6th, 9th, 16th, 17th;
    // the 5th (documents) and the 10th, 12th, 13th (payment) the applicant's; due Monday 23rd.
    write_history(
        store.as_ref(),
        "CB-TEST-0003",
        &[
            ("2026-11-02T15:00:00", "received"),
            ("2026-11-03T15:00:00", "in_review"),
            ("2026-11-04T15:00:00", "supplement_requested"),
            ("2026-11-05T15:00:00", "supplement_received"),
            ("2026-11-09T15:00:00", "payment_requested"),
            ("2026-11-13T15:00:00", "payment_received"),
        ],
    )
    .await;
    let b = read_of("CB-TEST-0003", "2026-11-17T20:00:00").await;
    let c = &b["clock"];
    assert_eq!(
        (c["city_days"].as_i64(), c["applicant_days"].as_i64(), c["days_left"].as_i64(), c["due_date"].as_str()),
        (Some(6), Some(4), Some(4), Some("2026-11-23")),
        "{b}"
    );
    let owners: Vec<(&str, i64, &str)> = b["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["working_days"].as_i64().unwrap(), s["owner"].as_str().unwrap()))
        .collect();
    assert_eq!(
        owners,
        [
            ("received", 1, "city"),
            ("in_review", 1, "city"),
            ("supplement_requested", 1, "applicant"),
            ("supplement_received", 2, "city"),
            ("payment_requested", 3, "applicant"),
            ("payment_received", 2, "city")
        ]
    );

    // Waiting for a payment long after the days ran short: paused, neither at risk nor overdue.
    write_history(
        store.as_ref(),
        "CB-TEST-0004",
        &[
            ("2026-11-02T15:00:00", "received"),
            ("2026-11-03T15:00:00", "in_review"),
            ("2026-11-13T15:00:00", "payment_requested"),
        ],
    )
    .await;
    let w = read_of("CB-TEST-0004", "2026-12-15T20:00:00").await;
    let c = &w["clock"];
    assert_eq!(
        (c["paused"].as_bool(), c["status"].as_str(), c["city_days"].as_i64(), c["days_left"].as_i64()),
        (Some(true), Some("on_time"), Some(8), Some(2)),
        "{w}"
    );
    let t = call(&store, "GET", "/track/CB-TEST-0004", None, None).await;
    assert_eq!(
        (t.body["waiting_for"]["what"].as_str(), t.body["waiting_for"]["amount"].clone()),
        (Some("payment"), Value::Null)
    );

    // Every dossier is trackable: an unknown code is a clear 404.
    let missing = call(&store, "GET", "/track/CB-NOPE-NOPE", None, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
