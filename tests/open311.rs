//! Open311 GeoReport v2 over the permit workflow, on both stores (issue 5, part 10): discovery
//! and the services read against data-samples/procedures.csv, requests filed as a form and as
//! JSON on real Cambridge parcels (by a point inside one, by its cadastral code), read back with
//! the due date of `/track` and the stage history as notes, errors in Open311's format, and no
//! personal data in any answer.

use crate::{city, support};

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use city::{samples, Answer, App};
use geo::{Contains, InteriorPoint};
use serde_json::{json, Value};
use urbis_core::LayerId;
use urbis_store::{AttributeFilter, Comparison, Query, Store};

const STAFF: &str = "admin-token-0123456789";

on_both_stores!((store, dir) => (std::sync::Arc::from(store), dir); open311_end_to_end);

async fn send(server: &App, request: axum::http::Request<Body>) -> Answer {
    server.send(request).await
}

fn builder(method: &str, uri: &str) -> axum::http::request::Builder {
    App::request(method, uri)
}

async fn get(store: &App, uri: &str) -> Answer {
    store.fetch(uri).await
}

async fn post_form(store: &App, fields: &[(&str, &str)]) -> Answer {
    let body = serde_urlencoded::to_string(fields).unwrap();
    let request = builder("POST", "/open311/v2/requests.json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send(store, request).await
}

async fn post_json(store: &App, uri: &str, token: Option<&str>, body: Value) -> Answer {
    let mut b = builder("POST", uri).header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    send(store, b.body(Body::from(body.to_string())).unwrap()).await
}

/// An Open311 error: the status, and an array of one `{code, description}` with that code.
fn assert_open311_error(a: &Answer, status: StatusCode, mentions: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    let errors = a.body.as_array().unwrap_or_else(|| panic!("not an Open311 error array: {}", a.text));
    assert_eq!(errors.len(), 1, "{}", a.text);
    assert_eq!(errors[0]["code"].as_u64(), Some(u64::from(status.as_u16())), "{}", a.text);
    let d = errors[0]["description"].as_str().unwrap();
    assert!(d.contains(mentions), "`{d}` should mention `{mentions}`");
}

/// A procedure as data-samples/procedures.csv lists it: code, name, category, channels, documents.
type Listed = (String, String, String, Vec<String>, Vec<String>);

/// The procedures as data-samples/procedures.csv lists them.
fn catalogue() -> Vec<Listed> {
    let mut reader = csv::Reader::from_path(samples("procedures.csv")).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let list = |i: usize| serde_json::from_str::<Vec<String>>(&r[i]).unwrap();
            (r[0].to_string(), r[1].to_string(), r[2].to_string(), list(6), list(7))
        })
        .collect()
}

async fn parcel(store: &App, code: &str) -> geo_types::Geometry {
    let q = Query::all().filter(AttributeFilter::new("code", Comparison::Eq, code));
    store.query(LayerId::Parcels, &q).await.unwrap()[0].geometry.clone().unwrap()
}

async fn open311_end_to_end(store: Arc<dyn Store>, dir: &Path) {
    city::load_permit_city(store.as_ref(), dir).await;
    let store = App::new(store, &[format!("admin:{STAFF}")]);

    // --- Discovery.
    let d = get(&store, "/open311/v2/discovery.json").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    let endpoint = &d.body["endpoints"][0];
    assert_eq!(endpoint["specification"], "http://wiki.open311.org/GeoReport_v2");
    assert_eq!(endpoint["url"], "http://city.example/open311/v2");
    assert!(endpoint["formats"].as_array().unwrap().contains(&json!("application/json")));
    let x = get(&store, "/open311/v2/discovery.xml").await;
    assert!(x.header("content-type").starts_with("text/xml"), "{}", x.header("content-type"));
    assert!(x.text.starts_with("<?xml") && x.text.contains("<endpoints><endpoint>"), "{}", x.text);

    // --- Services: one per procedure of the catalogue, grouped by category.
    let expected = catalogue();
    let s = get(&store, "/open311/v2/services.json").await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.text);
    let services = s.body.as_array().unwrap();
    assert_eq!(services.len(), expected.len());
    for (code, name, category, channels, _) in &expected {
        let service = services.iter().find(|v| v["service_code"] == code.as_str()).unwrap();
        assert_eq!(service["service_name"], name.as_str());
        assert_eq!(service["group"], category.as_str());
        assert_eq!(service["metadata"], true);
        let kind = if channels.iter().any(|c| c == "online") { "realtime" } else { "batch" };
        assert_eq!(service["type"], kind, "{code}");
    }
    let x = get(&store, "/open311/v2/services.xml").await;
    assert_eq!(x.status, StatusCode::OK);
    assert_eq!(x.text.matches("<service>").count(), expected.len());

    // A building permit's definition: where, how, the proposal, and its documents (informational).
    let (_, _, _, channels, documents) = expected.iter().find(|p| p.0 == "BLU-01").unwrap();
    let def = get(&store, "/open311/v2/services/BLU-01.json").await;
    assert_eq!(def.status, StatusCode::OK, "{}", def.text);
    assert_eq!(def.body["service_code"], "BLU-01");
    let attrs = def.body["attributes"].as_array().unwrap();
    let attr = |code: &str| attrs.iter().find(|a| a["code"] == code).unwrap_or_else(|| panic!("{code}: {attrs:?}"));
    assert_eq!(attr("proposed_height_m")["datatype"], "number");
    let offered: Vec<&str> =
        attr("channel")["values"].as_array().unwrap().iter().map(|v| v["key"].as_str().unwrap()).collect();
    assert_eq!(offered, channels.iter().map(String::as_str).collect::<Vec<_>>());
    let centres = store.count(LayerId::ServiceCentres, &Query::all()).await.unwrap();
    assert_eq!(attr("centre_id")["values"].as_array().unwrap().len() as u64, centres);
    let informational: Vec<&str> = attrs
        .iter()
        .filter(|a| a["variable"] == false)
        .map(|a| a["description"].as_str().unwrap().trim_start_matches("Required document: "))
        .collect();
    assert_eq!(informational, documents.iter().map(String::as_str).collect::<Vec<_>>());
    let orders: Vec<u64> = attrs.iter().map(|a| a["order"].as_u64().unwrap()).collect();
    assert_eq!(orders, (1..=attrs.len() as u64).collect::<Vec<_>>());
    // Not a building procedure: no proposal attributes.
    let tree = get(&store, "/open311/v2/services/USG-01.json").await;
    assert!(!tree.text.contains("proposed_height_m"), "{}", tree.text);
    assert_open311_error(&get(&store, "/open311/v2/services/NOPE-9.json").await, StatusCode::NOT_FOUND, "NOPE-9");
    assert_open311_error(&get(&store, "/open311/v2/services.yaml").await, StatusCode::NOT_FOUND, "yaml");

    // --- A request filed as a form, on a point inside 23 Rockwell St (127-123).
    let site = parcel(&store, "127-123").await;
    let inside = site.interior_point().unwrap();
    let (lat, long) = (inside.y().to_string(), inside.x().to_string());
    let person = [
        ("first_name", "Zoltan"),
        ("last_name", "Quixote-Testperson"),
        ("email", "zoltan.quixote@example.invalid"),
        ("phone", "617-555-0142"),
    ];
    let mut form: Vec<(&str, &str)> = vec![
        ("service_code", "BLU-02"),
        ("lat", &lat),
        ("long", &long),
        ("description", "Kitchen and porch repair"),
        ("attribute[proposed_height_m]", "9"),
        ("attribute[proposed_use]", "residential_two_family"),
    ];
    form.extend(person);
    let filed = post_form(&store, &form).await;
    assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.text);
    let first = &filed.body[0];
    let id = first["service_request_id"].as_str().unwrap().to_string();
    let secret = first["secret"].as_str().unwrap().to_string();
    assert!(id.starts_with("CB-") && secret.len() >= 32, "{first}");
    assert!(!filed.text.contains("Zoltan") && !filed.text.contains("617-555"), "{}", filed.text);

    // The same intake as POST /dossiers: the dossier is on the parcel, online, with the proposal.
    let dossier = store.get(LayerId::Permits, &id).await.unwrap().unwrap();
    assert_eq!(dossier.get("parcel_codes"), Some(&json!(["127-123"])));
    assert_eq!(dossier.text("channel"), Some("online"));
    assert_eq!(dossier.real("proposed_height_m"), Some(9.0));
    assert_eq!(dossier.get("applicant").unwrap()["email"], "zoltan.quixote@example.invalid");

    // --- A request filed as JSON by the call centre (phone): a staff key is needed.
    let by_phone = json!({ "service_code": "USG-01", "address_id": "127-123", "first_name": "Wilhelmina",
        "last_name": "Testcaller", "phone": "617-555-0199", "attribute": { "channel": "phone" } });
    let refused = post_json(&store, "/open311/v2/requests.json", None, by_phone.clone()).await;
    assert_open311_error(&refused, StatusCode::UNAUTHORIZED, "");
    let mut keyed = by_phone.clone();
    keyed["api_key"] = json!("not-a-known-key-000000");
    assert_open311_error(
        &post_json(&store, "/open311/v2/requests.json", None, keyed.clone()).await,
        StatusCode::UNAUTHORIZED,
        "",
    );
    keyed["api_key"] = json!(STAFF);
    let phoned = post_json(&store, "/open311/v2/requests.json", None, keyed).await;
    assert_eq!(phoned.status, StatusCode::CREATED, "{}", phoned.text);
    let second = phoned.body[0]["service_request_id"].as_str().unwrap().to_string();
    assert_eq!(store.get(LayerId::Permits, &second).await.unwrap().unwrap().text("channel"), Some("phone"));

    // --- Reading one back: expected_datetime is /track's due date; the site's centroid.
    let one = get(&store, &format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    let r = &one.body[0];
    let track = get(&store, &format!("/track/{id}")).await;
    assert_eq!(track.status, StatusCode::OK);
    assert_eq!(r["expected_datetime"], track.body["due_at"]);
    assert!(r["expected_datetime"].is_string());
    assert_eq!(r["service_request_id"], id.as_str());
    assert_eq!(r["status"], "open");
    assert_eq!(r["service_code"], "BLU-02");
    assert_eq!(r["service_name"], expected.iter().find(|p| p.0 == "BLU-02").unwrap().1.as_str());
    assert_eq!(r["requested_datetime"], track.body["received_at"]);
    assert_eq!(r["description"], "Kitchen and porch repair");
    let centroid = geo_types::Point::new(r["long"].as_f64().unwrap(), r["lat"].as_f64().unwrap());
    assert!(site.contains(&centroid) || geo::Intersects::intersects(&site, &centroid), "{centroid:?}");
    assert!(r.get("extended_attributes").is_none());

    // Two moves by a reviewer: they appear, in order, as notes.
    for to in ["in_review", "supplement_requested"] {
        let moved = post_json(
            &store,
            &format!("/dossiers/{id}/transitions"),
            Some(STAFF),
            json!({ "to": to, "note": "Reviewer Ursula Secretnote asks for plans" }),
        )
        .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    }
    let ext = get(&store, &format!("/open311/v2/requests/{id}.json?extensions=true")).await;
    assert_eq!(ext.status, StatusCode::OK, "{}", ext.text);
    let e = &ext.body[0]["extended_attributes"];
    assert_eq!(e["channel"], "online");
    assert_eq!(e["stage"], "supplement_requested");
    let stages: Vec<&str> = e["notes"].as_array().unwrap().iter().map(|n| n["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["received", "in_review", "supplement_requested"]);
    let times: Vec<&str> = e["notes"].as_array().unwrap().iter().map(|n| n["datetime"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(ext.body[0]["updated_datetime"].as_str(), times.last().copied());
    let track = get(&store, &format!("/track/{id}")).await;
    assert_eq!(ext.body[0]["expected_datetime"], track.body["due_at"]);
    assert!(ext.body[0]["status_notes"].as_str().unwrap().contains("waiting for the applicant"));
    let phoned = get(&store, &format!("/open311/v2/requests/{second}.json?extensions=true")).await;
    assert_eq!(phoned.body[0]["extended_attributes"]["channel"], "phone");

    // --- Lists.
    let ids = |a: &Answer| -> Vec<String> {
        let mut v: Vec<String> = a
            .body
            .as_array()
            .unwrap_or_else(|| panic!("{}", a.text))
            .iter()
            .map(|r| r["service_request_id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let mut both = vec![id.clone(), second.clone()];
    both.sort();
    assert_eq!(ids(&get(&store, "/open311/v2/requests.json").await), both);
    assert_eq!(ids(&get(&store, "/open311/v2/requests.json?status=open").await), both);
    assert!(ids(&get(&store, "/open311/v2/requests.json?status=closed").await).is_empty());
    assert_eq!(ids(&get(&store, "/open311/v2/requests.json?service_code=BLU-02").await), std::slice::from_ref(&id));
    assert_eq!(ids(&get(&store, &format!("/open311/v2/requests.json?service_request_id={second},{id}")).await), both);
    assert!(ids(&get(
        &store,
        "/open311/v2/requests.json?start_date=2099-01-01T00:00:00Z&end_date=2099-02-01T00:00:00Z"
    )
    .await)
    .is_empty());
    assert!(ids(&get(&store, "/open311/v2/requests.json?end_date=2020-01-01").await).is_empty());
    // Withdrawn: closed.
    let w =
        post_json(&store, &format!("/dossiers/{second}/transitions"), Some(STAFF), json!({ "to": "withdrawn" })).await;
    assert_eq!(w.status, StatusCode::OK, "{}", w.text);
    assert_eq!(ids(&get(&store, "/open311/v2/requests.json?status=closed").await), std::slice::from_ref(&second));
    let xml = get(&store, &format!("/open311/v2/requests/{id}.xml")).await;
    assert_eq!(xml.status, StatusCode::OK);
    assert!(
        xml.text.contains("<service_requests><request>")
            && xml.text.contains(&format!("<service_request_id>{id}</service_request_id>")),
        "{}",
        xml.text
    );

    // --- Errors, in Open311's format.
    let mut no_service = form.clone();
    no_service[0] = ("service_code", "NOPE-9");
    assert_open311_error(&post_form(&store, &no_service).await, StatusCode::BAD_REQUEST, "service_code");
    let nowhere: Vec<(&str, &str)> = form.iter().copied().filter(|(k, _)| *k != "lat" && *k != "long").collect();
    assert_open311_error(&post_form(&store, &nowhere).await, StatusCode::BAD_REQUEST, "location");
    let mut at_sea = form.clone();
    at_sea[1] = ("lat", "0");
    at_sea[2] = ("long", "0");
    assert_open311_error(&post_form(&store, &at_sea).await, StatusCode::BAD_REQUEST, "lat/long");
    let mut odd = form.clone();
    odd.push(("attribute[colour]", "red"));
    assert_open311_error(&post_form(&store, &odd).await, StatusCode::BAD_REQUEST, "attribute[colour]");
    let mut tall = form.clone();
    tall[4] = ("attribute[proposed_height_m]", "tall");
    assert_open311_error(&post_form(&store, &tall).await, StatusCode::BAD_REQUEST, "proposed_height_m");
    let anonymous: Vec<(&str, &str)> =
        form.iter().copied().filter(|(k, _)| !["first_name", "last_name"].contains(k)).collect();
    assert_open311_error(&post_form(&store, &anonymous).await, StatusCode::BAD_REQUEST, "first_name");
    let mut unknown_code = by_phone.clone();
    unknown_code["address_id"] = json!("999-999-NONE");
    unknown_code["attribute"] = json!({});
    assert_open311_error(
        &post_json(&store, "/open311/v2/requests.json", None, unknown_code).await,
        StatusCode::BAD_REQUEST,
        "999-999-NONE",
    );
    assert_open311_error(
        &get(&store, "/open311/v2/requests.json?status=pending").await,
        StatusCode::BAD_REQUEST,
        "status",
    );
    assert_open311_error(&get(&store, "/open311/v2/requests.json?colour=red").await, StatusCode::BAD_REQUEST, "colour");
    assert_open311_error(
        &get(&store, "/open311/v2/requests.json?service_code=NOPE-9").await,
        StatusCode::BAD_REQUEST,
        "NOPE-9",
    );
    assert_open311_error(
        &get(&store, "/open311/v2/requests.json?start_date=yesterday").await,
        StatusCode::BAD_REQUEST,
        "start_date",
    );
    assert_open311_error(
        &get(&store, "/open311/v2/requests/CB-NONE-NONE.json").await,
        StatusCode::NOT_FOUND,
        "CB-NONE-NONE",
    );
    let xml_error = get(&store, "/open311/v2/requests/CB-NONE-NONE.xml").await;
    assert_eq!(xml_error.status, StatusCode::NOT_FOUND);
    assert!(xml_error.header("content-type").starts_with("text/xml"), "{}", xml_error.header("content-type"));
    assert!(
        xml_error.text.starts_with("<?xml") && xml_error.text.contains("<errors><error><code>404</code>"),
        "{}",
        xml_error.text
    );
    let bad_type = send(
        &store,
        builder("POST", "/open311/v2/requests.json")
            .header("content-type", "text/plain")
            .body(Body::from("x"))
            .unwrap(),
    )
    .await;
    assert_open311_error(&bad_type, StatusCode::UNSUPPORTED_MEDIA_TYPE, "text/plain");
    // Nothing of those was filed.
    assert_eq!(store.count(LayerId::Permits, &Query::all()).await.unwrap(), 2);

    // --- No personal data in any GET, in any format, with or without extensions.
    let personal = [
        "Zoltan",
        "Quixote",
        "zoltan.quixote",
        "617-555",
        "Wilhelmina",
        "Testcaller",
        "Ursula",
        "Secretnote",
        "secret_sha256",
        "admin",
        secret.as_str(),
    ];
    for uri in [
        "/open311/v2/requests.json".to_string(),
        "/open311/v2/requests.json?extensions=true".to_string(),
        "/open311/v2/requests.xml?extensions=true".to_string(),
        format!("/open311/v2/requests/{id}.json?extensions=true"),
        format!("/open311/v2/requests/{second}.xml?extensions=true"),
    ] {
        let a = get(&store, &uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text);
        for p in personal {
            assert!(!a.text.contains(p), "{uri} shows `{p}`: {}", a.text);
        }
    }

    // --- The routes are described in /api.
    let api = get(&store, "/api").await;
    for path in [
        "/open311/v2/services.{format}",
        "/open311/v2/requests.{format}",
        "/open311/v2/requests/{service_request_id}.json",
    ] {
        assert!(api.body["paths"].get(path).is_some(), "{path} missing from /api");
    }
}
