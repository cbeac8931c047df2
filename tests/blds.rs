//! Dossiers as BLDS (issue 5, part 10) on both stores: the core dataset in CSV and GeoJSON and the
//! status-change companion, read back with an independent CSV reader and checked field by field
//! against the dossiers the test wrote; the applicant's personal data appears in none of them.

#[macro_use]
mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use geo_types::{Geometry, Point};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use urbis_core::domain::{self, Dossier, PermitEvent, Procedure};
use urbis_core::permits::chain;
use urbis_core::LayerId;
use urbis_store::Store;

on_both_stores!((store, dir) => (store); exports_every_dossier_without_personal_data);

const NAME: &str = "Wilhelmina Quarterfield";
const EMAIL: &str = "wq-private@example.org";

fn procedure() -> Procedure {
    Procedure {
        code: "BLU-01".into(),
        name: "Building permit, new construction".into(),
        category: "building and land use".into(),
        processing_days: 20,
        ..Procedure::default()
    }
}

fn dossier(code: &str, stage: &str, decision: Option<&str>) -> Dossier {
    Dossier {
        tracking_code: code.into(),
        procedure_code: "BLU-01".into(),
        applicant: Some(json!({ "name": NAME, "email": EMAIL, "phone": "+1 617 555 0199" })),
        parcel_codes: vec!["127-123".into()],
        description: Some("Three-storey house".into()),
        address: Some("12 Main St".into()),
        proposed_use: Some("residential_multifamily".into()),
        channel: Some("online".into()),
        stage: stage.into(),
        // 14:00 UTC is 09:00 in Cambridge: the same calendar day.
        received_at: "2026-10-01T14:00:00Z".into(),
        decision: decision.map(str::to_string),
        decided_at: decision.map(|_| "2026-10-20T15:00:00Z".to_string()),
        ..Dossier::default()
    }
}

fn events(id: &str, steps: &[(&str, &str, &str)]) -> Vec<PermitEvent> {
    let mut out: Vec<PermitEvent> = steps
        .iter()
        .enumerate()
        .map(|(i, (at, stage, note))| PermitEvent {
            permit_id: id.into(),
            seq: i as i64 + 1,
            at: (*at).into(),
            kind: if i == 0 { "received".into() } else { "transition".into() },
            stage: Some((*stage).into()),
            actor: Some(format!("reviewer:{NAME}")),
            note: Some((*note).into()),
            hash: None,
        })
        .collect();
    chain::seal(&mut out);
    out
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String, String) {
    let res =
        app.clone().oneshot(Request::get(uri).header("host", "city.test").body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let ty = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, ty, String::from_utf8(body.to_vec()).unwrap())
}

fn rows(csv_text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers.iter().zip(rec.iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect()
        })
        .collect()
}

async fn exports_every_dossier_without_personal_data(store: Box<dyn Store>) {
    let store: Arc<dyn Store> = Arc::from(store);
    store.create(LayerId::Procedures, &[domain::write("BLU-01", None, &procedure())]).await.unwrap();
    let site = Some(Geometry::Point(Point::new(-71.1100, 42.3700)));
    let done = dossier("CB-TEST-0001", "delivered", Some("approved_with_conditions"));
    let open = dossier("CB-TEST-0002", "in_review", None);
    let withdrawn = dossier("CB-TEST-0003", "withdrawn", None);
    store
        .create(
            LayerId::Permits,
            &[
                domain::write("d1", site.clone(), &done),
                domain::write("d2", site.clone(), &open),
                domain::write("d3", None, &withdrawn),
            ],
        )
        .await
        .unwrap();
    let mut all = events(
        "d1",
        &[
            ("2026-10-01T14:00:00Z", "received", "filed online"),
            ("2026-10-02T14:00:00Z", "in_review", "assigned"),
            ("2026-10-20T15:00:00Z", "decided", "approved_with_conditions: works 7-18 h"),
            ("2026-10-22T15:00:00Z", "delivered", "sent by e-mail"),
        ],
    );
    all.extend(events("d2", &[("2026-10-01T14:00:00Z", "received", ""), ("2026-10-05T14:00:00Z", "in_review", "")]));
    all.extend(events(
        "d3",
        &[("2026-10-01T14:00:00Z", "received", ""), ("2026-10-06T16:00:00Z", "withdrawn", "applicant withdrew")],
    ));
    let features: Vec<_> = all.iter().map(|e| domain::write(format!("{}-{}", e.permit_id, e.seq), None, e)).collect();
    store.create(LayerId::PermitEvents, &features).await.unwrap();

    let app = urbis_server::router(store.clone());

    // The core dataset, CSV.
    let (status, ty, text) = get(&app, "/permits/blds.csv").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(ty.starts_with("text/csv"), "{ty}");
    let core = rows(&text);
    assert_eq!(core.len(), 3, "{text}");
    let by = |code: &str| core.iter().find(|r| r["PermitNum"] == code).unwrap_or_else(|| panic!("{code} missing"));
    for required in [
        "PermitNum",
        "Description",
        "AppliedDate",
        "IssuedDate",
        "CompletedDate",
        "StatusCurrent",
        "OriginalAddress1",
        "OriginalAddress2",
        "OriginalCity",
        "OriginalState",
        "OriginalZip",
        "PermitType",
        "PermitTypeMapped",
        "StatusCurrentMapped",
        "StatusDate",
        "Latitude",
        "Longitude",
        "PIN",
        "ProposedUse",
        "HousingUnits",
        "EstProjectCost",
        "Link",
        "Stage",
        "StageStatus",
        "DueDate",
        "DaysUsed",
        "SlaViolations",
    ] {
        assert!(core[0].contains_key(required), "no column {required}: {:?}", core[0].keys());
    }
    let d1 = by("CB-TEST-0001");
    assert_eq!(d1["AppliedDate"], "2026-10-01");
    assert_eq!(d1["IssuedDate"], "2026-10-20");
    assert_eq!(d1["CompletedDate"], "2026-10-22");
    assert_eq!(d1["StatusCurrentMapped"], "Permit Issued");
    assert_eq!(d1["StatusDate"], "2026-10-22");
    assert_eq!(d1["OriginalAddress1"], "12 Main St");
    assert_eq!((d1["OriginalCity"].as_str(), d1["OriginalState"].as_str()), ("Cambridge", "MA"));
    assert_eq!(d1["PermitTypeMapped"], "Building");
    assert_eq!(d1["PIN"], "127-123");
    assert_eq!(d1["Link"], "http://city.test/track/CB-TEST-0001");
    assert_eq!((d1["Longitude"].parse::<f64>().unwrap(), d1["Latitude"].parse::<f64>().unwrap()), (-71.11, 42.37));
    // Decided on 20 October, 13 Cambridge working days after receipt (Columbus Day, 12 October, a
    // holiday): on time, no violation.
    assert_eq!(d1["StageStatus"], "on_time");
    assert_eq!(d1["SlaViolations"], "0");
    let d2 = by("CB-TEST-0002");
    assert_eq!(d2["StatusCurrentMapped"], "In Review");
    assert_eq!((d2["IssuedDate"].as_str(), d2["CompletedDate"].as_str()), ("", ""));
    assert!(!d2["DueDate"].is_empty() && !d2["StageStatus"].is_empty(), "{d2:?}");
    let d3 = by("CB-TEST-0003");
    assert_eq!(d3["StatusCurrentMapped"], "Permit Cancelled");
    assert_eq!(d3["CompletedDate"], "2026-10-06");
    assert_eq!((d3["Latitude"].as_str(), d3["Longitude"].as_str()), ("", ""));

    // The status changes: one row per change of stage.
    let (status, _, text) = get(&app, "/permits/blds-status.csv").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let changes = rows(&text);
    let of = |code: &str| -> Vec<(String, String, String)> {
        changes
            .iter()
            .filter(|r| r["PermitNum"] == code)
            .map(|r| (r["StatusPrevious"].clone(), r["StatusNew"].clone(), r["StatusPreviousDate"].clone()))
            .collect()
    };
    let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        of("CB-TEST-0001"),
        [
            t("received", "in_review", "2026-10-02"),
            t("in_review", "decided", "2026-10-20"),
            t("decided", "delivered", "2026-10-22")
        ]
    );
    assert_eq!(of("CB-TEST-0003"), [t("received", "withdrawn", "2026-10-06")]);
    assert_eq!(changes.len(), 5, "{text}");

    // GeoJSON: the same records, with their points.
    let (status, ty, text) = get(&app, "/permits/blds.geojson").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(ty.starts_with("application/geo+json"), "{ty}");
    let fc: Value = serde_json::from_str(&text).unwrap();
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    let f1 = features.iter().find(|f| f["id"] == "CB-TEST-0001").unwrap();
    assert_eq!(f1["geometry"], json!({ "type": "Point", "coordinates": [-71.11, 42.37] }));
    assert_eq!(f1["properties"]["StatusCurrentMapped"], "Permit Issued");

    // Never the applicant: not in any export (the actor's name is staff, and not exported either).
    for uri in ["/permits/blds.csv", "/permits/blds-status.csv", "/permits/blds.geojson"] {
        let (_, _, text) = get(&app, uri).await;
        for private in [NAME, EMAIL, "555 0199", "Wilhelmina"] {
            assert!(!text.contains(private), "{uri} shows `{private}`");
        }
    }
}
