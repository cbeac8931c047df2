//! The reviewers' queue over HTTP on both stores (issue 5, part 11): a known set of dossiers
//! written through the store with their hash-chained histories, and `GET /dossiers` compared
//! with an order and clocks computed here from the dossiers' steps with a plain day-by-day count
//! of Cambridge's working days (data-samples/holidays.csv): most urgent first, each filter, the
//! pages followed through their `next` links, bad parameters named, no personal data, staff only.

use crate::{city, support};

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{Duration, NaiveDate};
use city::{date, days_of, holidays, instant, is_workday, workdays, App, History};
use serde_json::{json, Value};
use urbis_core::domain;
use urbis_store::Store;

on_both_stores!((store, dir) => (store); queue_of_a_known_set);

const ADMIN: &str = "queue-admin-token-0123456789";
const REVIEWER_C1: &str = "queue-reviewer-token-0123456789";
const PLANNER: &str = "queue-planner-token-0123456789";
const APPLICANT: &str = "Queue Applicant Private-Name";
const EMAIL: &str = "queue.private@example.org";
/// Monday 30 November 2026, 15:00 in Cambridge.
const AT: &str = "2026-11-30T20:00:00Z";
const TODAY: &str = "2026-11-30";

/// A dossier: centre, procedure, parcels and the stages it went through (the city's dates).
struct Spec {
    centre: &'static str,
    procedure: &'static str,
    parcels: &'static [&'static str],
    steps: &'static [(&'static str, &'static str)],
}

const SPECS: &[Spec] = &[
    Spec {
        centre: "C1",
        procedure: "P10",
        parcels: &["1A-1"],
        steps: &[("2026-11-16", "received"), ("2026-11-17", "in_review")],
    },
    Spec { centre: "C1", procedure: "P3", parcels: &["1A-2", "1A-3"], steps: &[("2026-11-20", "received")] },
    Spec { centre: "C2", procedure: "P10", parcels: &["2B-1"], steps: &[("2026-11-30", "received")] },
    Spec {
        centre: "C2",
        procedure: "P3",
        parcels: &["2B-2"],
        steps: &[("2026-11-24", "received"), ("2026-11-25", "supplement_requested")],
    },
    Spec {
        centre: "C1",
        procedure: "P10",
        parcels: &["1A-4"],
        steps: &[("2026-11-02", "received"), ("2026-11-03", "in_review")],
    },
    Spec {
        centre: "C2",
        procedure: "P10",
        parcels: &["2B-3"],
        steps: &[("2026-11-23", "received"), ("2026-11-24", "in_review")],
    },
    Spec { centre: "C1", procedure: "P3", parcels: &["1A-5"], steps: &[("2026-11-25", "received")] },
    // Closed: never in the queue.
    Spec {
        centre: "C1",
        procedure: "P10",
        parcels: &["1A-6"],
        steps: &[("2026-11-02", "received"), ("2026-11-03", "in_review"), ("2026-11-06", "decided")],
    },
    Spec {
        centre: "C2",
        procedure: "P10",
        parcels: &["2B-4"],
        steps: &[("2026-11-20", "received"), ("2026-11-24", "withdrawn")],
    },
    Spec {
        centre: "C2",
        procedure: "P3",
        parcels: &["2B-5"],
        steps: &[
            ("2026-11-18", "received"),
            ("2026-11-19", "supplement_requested"),
            ("2026-11-24", "supplement_received"),
        ],
    },
    // Same due date as the second: the earlier receipt first.
    Spec { centre: "C2", procedure: "P3", parcels: &["2B-6"], steps: &[("2026-11-19", "received")] },
];

/// What the queue should say of an open dossier.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    id: String,
    centre: &'static str,
    procedure: &'static str,
    stage: &'static str,
    days_left: i64,
    status: &'static str,
    colour: &'static str,
    paused: bool,
    received: NaiveDate,
}

/// The open dossiers, most urgent first, from the specs alone.
fn expected(h: &BTreeSet<NaiveDate>) -> Vec<Expected> {
    let today = date(TODAY);
    let mut out = vec![];
    for (n, s) in SPECS.iter().enumerate() {
        let current = s.steps.last().unwrap().1;
        if matches!(current, "decided" | "delivered" | "withdrawn") {
            continue;
        }
        let mut city = 0;
        for (i, (d, stage)) in s.steps.iter().enumerate() {
            let until = s.steps.get(i + 1).map(|(d, _)| date(d)).unwrap_or(today);
            if *stage != "supplement_requested" {
                city += workdays(h, date(d), until);
            }
        }
        let p = days_of(s.procedure);
        let left = p - city;
        let (status, colour) = if left < 0 {
            ("overdue", "red")
        } else if (left as f64) < 0.25 * p as f64 {
            ("at_risk", "yellow")
        } else {
            ("on_time", "green")
        };
        out.push(Expected {
            id: format!("CB-QUEUE-{n:02}"),
            centre: s.centre,
            procedure: s.procedure,
            stage: current,
            days_left: left,
            status,
            colour,
            paused: current == "supplement_requested",
            received: date(s.steps[0].0),
        });
    }
    // Overdue, at risk, on time; then by due date, which for one "today" orders as the days left.
    let rank = |s: &str| ["overdue", "at_risk", "on_time"].iter().position(|x| *x == s).unwrap();
    out.sort_by(|a, b| {
        (rank(a.status), a.days_left, a.received, &a.id).cmp(&(rank(b.status), b.days_left, b.received, &b.id))
    });
    out
}

/// The due date of a dossier with `left` days to go today: that many working days on.
fn due_date(h: &BTreeSet<NaiveDate>, left: i64) -> NaiveDate {
    let mut d = date(TODAY);
    let mut to_go = left;
    while to_go > 0 {
        d += Duration::days(1);
        if is_workday(h, d) {
            to_go -= 1;
        }
    }
    d
}

async fn write_set(store: &dyn Store) {
    city::write_procedures(store, &[("P10", 10), ("P3", 3)], &["online", "counter"]).await;
    city::write_centres(store, &[("C1", -71.105, 42.373), ("C2", -71.08, 42.36)]).await;
    for (n, s) in SPECS.iter().enumerate() {
        let id = format!("CB-QUEUE-{n:02}");
        let mut dossier = domain::Dossier {
            tracking_code: id.clone(),
            procedure_code: s.procedure.into(),
            applicant: Some(json!({ "name": APPLICANT, "email": EMAIL })),
            parcel_codes: s.parcels.iter().map(|p| p.to_string()).collect(),
            description: Some(format!("extension for {APPLICANT}")),
            channel: Some("online".into()),
            centre_id: Some(s.centre.into()),
            received_at: instant(s.steps[0].0),
            ..Default::default()
        };
        let mut history = History::new(&id);
        for (i, (day, stage)) in s.steps.iter().enumerate() {
            let e = city::step(&mut dossier, i, day, stage, Some(format!("called {APPLICANT}")));
            history.append(store, &dossier, Some(geo_types::Point::new(-71.1, 42.37).into()), e).await;
        }
    }
}

async fn get(app: &App, uri: &str, token: Option<&str>) -> (StatusCode, Value, String) {
    let a = app.call("GET", uri, token, None).await;
    (a.status, a.body, a.text)
}

fn ids(v: &Value) -> Vec<String> {
    v["dossiers"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect()
}

async fn queue_of_a_known_set(store: Box<dyn Store>) {
    let store: Arc<dyn Store> = Arc::from(store);
    write_set(store.as_ref()).await;
    let store = App::new(
        store,
        &[format!("admin:{ADMIN}"), format!("reviewer@C1:{REVIEWER_C1}"), format!("planner:{PLANNER}")],
    );
    let h = holidays();
    let want = expected(&h);
    let at = format!("at={}", AT.replace(':', "%3A"));

    // The whole queue: order, clocks, nothing closed, nothing personal.
    let (status, v, text) = get(&store, &format!("/dossiers?{at}"), Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(v["total"].as_u64(), Some(want.len() as u64), "{text}");
    assert_eq!(ids(&v), want.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), "{text}");
    for (d, e) in v["dossiers"].as_array().unwrap().iter().zip(&want) {
        let what = &e.id;
        assert_eq!(d["tracking_code"], e.id.as_str());
        assert_eq!(d["centre_id"], e.centre, "{what}");
        assert_eq!(d["centre_name"], format!("Centre {}", e.centre), "{what}");
        assert_eq!(d["procedure_code"], e.procedure, "{what}");
        assert_eq!(d["procedure_name"], format!("{}-day procedure", days_of(e.procedure)), "{what}");
        assert_eq!(d["stage"], e.stage, "{what}");
        assert_eq!(d["days_left"].as_i64(), Some(e.days_left), "{what}: {d}");
        assert_eq!((d["status"].as_str(), d["colour"].as_str()), (Some(e.status), Some(e.colour)), "{what}: {d}");
        assert_eq!(d["paused"].as_bool(), Some(e.paused), "{what}");
        assert!(!d["parcel_codes"].as_array().unwrap().is_empty(), "{what}");
        if e.days_left >= 0 {
            assert_eq!(d["due_date"].as_str(), Some(due_date(&h, e.days_left).to_string().as_str()), "{what}: {d}");
        }
        assert!(d["due_at"].as_str().unwrap().starts_with(d["due_date"].as_str().unwrap()), "{what}: {d}");
    }
    // Every colour is there, and the known set's hand count agrees with the plain one.
    let statuses: Vec<&str> = want.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        ["overdue", "overdue", "overdue", "at_risk", "at_risk", "on_time", "on_time", "on_time", "on_time"]
    );
    assert_eq!(want[0].id, "CB-QUEUE-04", "the oldest, most overdue first");
    // Due dates never go down within a status.
    let dossiers = v["dossiers"].as_array().unwrap();
    for pair in dossiers.windows(2) {
        if pair[0]["status"] == pair[1]["status"] {
            assert!(pair[0]["due_date"].as_str() <= pair[1]["due_date"].as_str(), "{} then {}", pair[0], pair[1]);
        }
    }
    assert!(!text.contains(APPLICANT) && !text.contains(EMAIL) && !text.contains("applicant"), "personal data: {text}");

    // Filters, alone and together, against the same expectation.
    let filtered =
        |keep: &dyn Fn(&Expected) -> bool| want.iter().filter(|e| keep(e)).map(|e| e.id.clone()).collect::<Vec<_>>();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("centre=C1", filtered(&|e| e.centre == "C1")),
        ("centre=C1,C2", filtered(&|_| true)),
        ("procedure=P3", filtered(&|e| e.procedure == "P3")),
        ("status=overdue", filtered(&|e| e.status == "overdue")),
        ("status=red,yellow", filtered(&|e| e.status != "on_time")),
        ("stage=supplement_requested", filtered(&|e| e.stage == "supplement_requested")),
        ("stage=received,in_review", filtered(&|e| matches!(e.stage, "received" | "in_review"))),
        (
            "centre=C2&procedure=P3&status=on_time",
            filtered(&|e| e.centre == "C2" && e.procedure == "P3" && e.status == "on_time"),
        ),
    ];
    for (q, expected_ids) in cases {
        assert!(!expected_ids.is_empty() || q.contains("on_time"), "{q}: the known set should exercise it");
        let (status, v, text) = get(&store, &format!("/dossiers?{at}&{q}"), Some(ADMIN)).await;
        assert_eq!(status, StatusCode::OK, "{q}: {text}");
        assert_eq!(ids(&v), expected_ids, "{q}");
        assert_eq!(v["total"].as_u64(), Some(expected_ids.len() as u64), "{q}");
    }

    // Pages of 2, followed through `next`: the same queue, in the same order, then no `next`.
    let mut uri = format!("/dossiers?{at}&limit=2");
    let mut seen = vec![];
    let mut pages = 0;
    loop {
        let (status, v, text) = get(&store, &uri, Some(ADMIN)).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {text}");
        assert!(v["returned"].as_u64().unwrap() <= 2);
        assert_eq!(v["total"].as_u64(), Some(want.len() as u64));
        seen.extend(ids(&v));
        pages += 1;
        let next = v["links"].as_array().unwrap().iter().find(|l| l["rel"] == "next").map(|l| l["href"].clone());
        match next {
            Some(href) => {
                let href = href.as_str().unwrap();
                uri = href.strip_prefix("http://city.example").unwrap_or_else(|| panic!("{href}")).to_string();
            }
            None => break,
        }
        assert!(pages < 20, "the pages never end");
    }
    assert_eq!(pages, want.len().div_ceil(2));
    assert_eq!(seen, want.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    let (_, past, _) = get(&store, &format!("/dossiers?{at}&offset=100"), Some(ADMIN)).await;
    assert_eq!((past["returned"].as_u64(), past["total"].as_u64()), (Some(0), Some(want.len() as u64)));

    // Bad parameters: 400 naming the parameter.
    for (q, parameter) in [
        ("centre=C9", "centre"),
        ("centre=C1,", "centre"),
        ("procedure=P99", "procedure"),
        ("status=late", "status"),
        ("stage=decided", "stage"),
        ("stage=somewhere", "stage"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("offset=-2", "offset"),
        ("at=yesterday", "at"),
        ("order=due", "order"),
    ] {
        let (status, body, text) = get(&store, &format!("/dossiers?{q}"), Some(ADMIN)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {text}");
        assert_eq!(body["parameter"], parameter, "{q}: {text}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{q}: {text}");
    }

    // A reviewer's queue is their centres' by default; another centre is refused.
    let (status, v, text) = get(&store, &format!("/dossiers?{at}"), Some(REVIEWER_C1)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(ids(&v), filtered(&|e| e.centre == "C1"));
    let (status, v, text) = get(&store, &format!("/dossiers?{at}&centre=C1&status=overdue"), Some(REVIEWER_C1)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(ids(&v), filtered(&|e| e.centre == "C1" && e.status == "overdue"));
    for q in ["centre=C2", "centre=C1,C2"] {
        let (status, _, text) = get(&store, &format!("/dossiers?{q}"), Some(REVIEWER_C1)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{q}: {text}");
        assert!(text.contains("C2"), "{q}: {text}");
    }

    // Reviewers and admins only: no token 401, a planner 403.
    let (status, _, text) = get(&store, "/dossiers", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    let (status, _, text) = get(&store, "/dossiers", Some(PLANNER)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
}
