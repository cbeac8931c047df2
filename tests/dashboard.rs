//! The service centres' dashboard over HTTP on both stores (issue 5, part 8): a small known set of
//! dossiers written through the store, each with its hash-chained history, and every figure of
//! `GET /dashboard` and `GET /dashboard/centres.geojson` compared with a computation made here
//! from the dossiers' steps with a plain day-by-day count of Cambridge's working days (read from
//! data-samples/holidays.csv); bad parameters are 400s that name the parameter; no personal data.

use crate::{city, support};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::NaiveDate;
use city::{date, days_of, holidays, instant, workdays, App, History};
use serde_json::{json, Value};
use urbis_core::domain;
use urbis_store::Store;

on_both_stores!((store, dir) => (store); known_set);

const APPLICANT: &str = "Dashboard Applicant Secret-Name";

/// One dossier of the known set: its centre, channel, procedure, the stages it went through (the
/// city's dates, at 10:00 in Cambridge, 15:00 UTC) and its rating.
struct Spec {
    centre: &'static str,
    channel: &'static str,
    procedure: &'static str,
    steps: &'static [(&'static str, &'static str)],
    rating: Option<i64>,
}

const SPECS: &[Spec] = &[
    // C1: decided in 4 days of 10: on time.
    Spec {
        centre: "C1",
        channel: "online",
        procedure: "P10",
        steps: &[("2026-11-02", "received"), ("2026-11-03", "in_review"), ("2026-11-06", "decided")],
        rating: Some(5),
    },
    // C1: 3 days, decided after 9 (the 11th a holiday): late.
    Spec {
        centre: "C1",
        channel: "counter",
        procedure: "P3",
        steps: &[("2026-11-02", "received"), ("2026-11-03", "in_review"), ("2026-11-16", "decided")],
        rating: Some(2),
    },
    // C1: a supplement paused the clock 5 days; 2 of the city's days, 7 in all.
    Spec {
        centre: "C1",
        channel: "phone",
        procedure: "P10",
        steps: &[
            ("2026-11-16", "received"),
            ("2026-11-17", "supplement_requested"),
            ("2026-11-24", "supplement_received"),
            ("2026-11-25", "decided"),
            ("2026-11-25", "delivered"),
        ],
        rating: Some(4),
    },
    // C1: open, 3 days, 4 used by the 30th (26th and 27th holidays): overdue.
    Spec { centre: "C1", channel: "online", procedure: "P3", steps: &[("2026-11-20", "received")], rating: None },
    // C1: open, 10 days, 8 used: 2 left, under a quarter: at risk.
    Spec {
        centre: "C1",
        channel: "counter",
        procedure: "P10",
        steps: &[("2026-11-16", "received"), ("2026-11-17", "in_review")],
        rating: None,
    },
    // C2: received in October, decided in November on time.
    Spec {
        centre: "C2",
        channel: "online",
        procedure: "P10",
        steps: &[("2026-10-26", "received"), ("2026-11-02", "decided")],
        rating: Some(4),
    },
    // C2: withdrawn: received in the period, neither open nor decided.
    Spec {
        centre: "C2",
        channel: "online",
        procedure: "P10",
        steps: &[("2026-11-20", "received"), ("2026-11-24", "withdrawn")],
        rating: None,
    },
    // C2: received on the last day, open, on time.
    Spec { centre: "C2", channel: "counter", procedure: "P10", steps: &[("2026-11-30", "received")], rating: None },
    // C2: received after "now": not seen.
    Spec { centre: "C2", channel: "online", procedure: "P10", steps: &[("2026-12-01", "received")], rating: None },
    // C2: decided in October: outside the period (but its rating not counted either).
    Spec {
        centre: "C2",
        channel: "counter",
        procedure: "P3",
        steps: &[("2026-10-01", "received"), ("2026-10-20", "decided")],
        rating: Some(1),
    },
];

const FROM: &str = "2026-11-01";
const TO: &str = "2026-12-01";
/// Monday 30 November, 15:00 in Cambridge.
const AT: &str = "2026-11-30T20:00:00Z";

#[derive(Debug, Default, Clone)]
struct Expected {
    received: u64,
    received_online: u64,
    decided: u64,
    on_time: u64,
    open: u64,
    at_risk: u64,
    overdue: u64,
    processing: Vec<i64>,
    ratings: Vec<i64>,
}

/// The figures the dashboard should give, from the specs alone.
fn expected(h: &BTreeSet<NaiveDate>) -> BTreeMap<&'static str, Expected> {
    let (from, to, today) = (date(FROM), date(TO), date("2026-11-30"));
    let mut out: BTreeMap<&'static str, Expected> = BTreeMap::new();
    for s in SPECS {
        let steps: Vec<(NaiveDate, &str)> =
            s.steps.iter().map(|(d, st)| (date(d), *st)).filter(|(d, _)| *d <= today).collect();
        if steps.is_empty() {
            continue;
        }
        let e = out.entry(s.centre).or_default();
        let received = steps[0].0;
        if received >= from && received < to {
            e.received += 1;
            e.received_online += u64::from(s.channel == "online");
        }
        // The city's days: those of every open stage but the wait for a supplement.
        let mut city = 0;
        for (i, (d, stage)) in steps.iter().enumerate() {
            let until = steps.get(i + 1).map(|(d, _)| *d).unwrap_or(today);
            let counts = !matches!(*stage, "supplement_requested" | "decided" | "delivered" | "withdrawn");
            if counts {
                city += workdays(h, *d, until);
            }
        }
        let p = days_of(s.procedure);
        let current = steps.last().unwrap().1;
        if let Some((decided, _)) = steps.iter().find(|(_, st)| *st == "decided") {
            if *decided >= from && *decided < to {
                e.decided += 1;
                e.on_time += u64::from(city <= p);
                e.processing.push(workdays(h, received, *decided));
                e.ratings.extend(s.rating);
            }
        } else if !matches!(current, "withdrawn") {
            e.open += 1;
            let left = p - city;
            if left < 0 {
                e.overdue += 1;
            } else if (left as f64) < 0.25 * p as f64 {
                e.at_risk += 1;
            }
        }
    }
    let all = out.values().fold(Expected::default(), |mut a, e| {
        a.received += e.received;
        a.received_online += e.received_online;
        a.decided += e.decided;
        a.on_time += e.on_time;
        a.open += e.open;
        a.at_risk += e.at_risk;
        a.overdue += e.overdue;
        a.processing.extend(&e.processing);
        a.ratings.extend(&e.ratings);
        a
    });
    out.insert("overall", all);
    out
}

fn close(a: &Value, b: Option<f64>, what: &str) {
    match (a.as_f64(), b) {
        (Some(x), Some(y)) => assert!((x - y).abs() < 1e-9, "{what}: {x} vs {y}"),
        (None, None) => assert!(a.is_null(), "{what}: {a}"),
        (x, y) => panic!("{what}: {x:?} vs {y:?}"),
    }
}

/// Compares one centre's figures (or the overall ones) with the expectation.
fn check(f: &Value, e: &Expected, what: &str) {
    let n = |k: &str| f[k].as_u64().unwrap_or_else(|| panic!("{what}.{k}: {f}"));
    assert_eq!(
        (n("received"), n("received_online"), n("decided"), n("decided_on_time")),
        (e.received, e.received_online, e.decided, e.on_time),
        "{what}: {f}"
    );
    assert_eq!((n("open"), n("open_at_risk"), n("open_overdue")), (e.open, e.at_risk, e.overdue), "{what}: {f}");
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    close(&f["online_share"], ratio(e.received_online, e.received), &format!("{what} online_share"));
    let rate = ratio(e.on_time, e.decided);
    close(&f["on_time_rate"], rate, &format!("{what} on_time_rate"));
    let mut p = e.processing.clone();
    p.sort();
    let mean = (!p.is_empty()).then(|| p.iter().sum::<i64>() as f64 / p.len() as f64);
    close(&f["processing_days_mean"], mean, &format!("{what} mean"));
    // Nearest rank: the smallest value with at least 90% of them at or below it.
    let p90 = p.iter().copied().find(|v| p.iter().filter(|w| *w <= v).count() * 10 >= p.len() * 9);
    assert_eq!(f["processing_days_p90"].as_i64(), p90, "{what} p90: {f}");
    let s = &f["satisfaction"];
    assert_eq!(s["count"].as_u64(), Some(e.ratings.len() as u64), "{what}: {f}");
    let rmean = (!e.ratings.is_empty()).then(|| e.ratings.iter().sum::<i64>() as f64 / e.ratings.len() as f64);
    close(&s["mean"], rmean, &format!("{what} satisfaction"));
    let four = ratio(e.ratings.iter().filter(|r| **r >= 4).count() as u64, e.ratings.len() as u64);
    close(&s["share_4_or_more"], four, &format!("{what} share ≥ 4"));
    let colour = match rate {
        None => "grey",
        Some(r) if r >= 0.98 => "green",
        Some(r) if r >= 0.90 => "yellow",
        Some(_) => "red",
    };
    assert_eq!(f["colour"], colour, "{what}: {f}");
}

/// Writes the procedures, three one-stop centres (C3 receives nothing) and the specs' dossiers.
async fn write_set(store: &dyn Store) {
    city::write_procedures(store, &[("P10", 10), ("P3", 3)], &["online", "counter", "phone"]).await;
    city::write_centres(store, &[("C1", -71.105, 42.373), ("C2", -71.08, 42.36), ("C3", -71.12, 42.39)]).await;
    for (n, s) in SPECS.iter().enumerate() {
        let id = format!("CB-DASH-{n:04}");
        let mut dossier = domain::Dossier {
            tracking_code: id.clone(),
            procedure_code: s.procedure.into(),
            applicant: Some(json!({ "name": APPLICANT, "email": "secret@example.org" })),
            channel: Some(s.channel.into()),
            centre_id: Some(s.centre.into()),
            received_at: instant(s.steps[0].0),
            ..Default::default()
        };
        let mut history = History::new(&id);
        for (i, (day, stage)) in s.steps.iter().enumerate() {
            let e = city::step(&mut dossier, i, day, stage, None);
            if *stage == "delivered" {
                dossier.satisfaction = s.rating;
            }
            if i + 1 == s.steps.len() && dossier.decided_at.is_some() {
                dossier.satisfaction = s.rating;
            }
            history.append(store, &dossier, None, e).await;
        }
    }
}

async fn get(app: &App, uri: &str) -> (StatusCode, Value, String) {
    let a = app.fetch(uri).await;
    (a.status, a.body, a.text)
}

async fn known_set(store: Box<dyn Store>) {
    let store: Arc<dyn Store> = Arc::from(store);
    write_set(store.as_ref()).await;
    let store = App::new::<&str>(store, &[]);
    let h = holidays();
    let want = expected(&h);
    let query = format!("from={FROM}&to={TO}&at={}", AT.replace(':', "%3A"));

    let (status, v, text) = get(&store, &format!("/dashboard?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!((v["period"]["from"].as_str(), v["period"]["to"].as_str()), (Some(FROM), Some(TO)));
    assert_eq!((v["thresholds"]["green"].as_f64(), v["thresholds"]["yellow"].as_f64()), (Some(0.98), Some(0.90)));
    let centres = v["centres"].as_array().unwrap();
    let ids: Vec<&str> = centres.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["C1", "C2", "C3"]);
    for c in centres {
        let id = c["id"].as_str().unwrap();
        let e = want.get(id).cloned().unwrap_or_default();
        check(&c["figures"], &e, id);
        assert_eq!(c["colour"], c["figures"]["colour"]);
        assert_eq!(c["name"], format!("Centre {id}"));
    }
    check(&v["overall"], &want["overall"], "overall");
    // The hand count agrees with the plain one: C1 decided 3, 2 on time (red), one at risk and
    // one overdue; C2 decided 1 on time (green); C3 nothing (grey, not green).
    let c1 = &centres[0]["figures"];
    assert_eq!((c1["decided"].as_u64(), c1["decided_on_time"].as_u64()), (Some(3), Some(2)));
    assert_eq!((c1["open_at_risk"].as_u64(), c1["open_overdue"].as_u64()), (Some(1), Some(1)));
    assert_eq!((c1["processing_days_p90"].as_i64(), c1["processing_days_mean"].as_f64()), (Some(9), Some(20.0 / 3.0)));
    assert_eq!(
        (centres[0]["colour"].as_str(), centres[1]["colour"].as_str(), centres[2]["colour"].as_str()),
        (Some("red"), Some("green"), Some("grey"))
    );
    assert_eq!(v["overall"]["received"].as_u64(), Some(7), "{v}");
    assert!(!text.contains(APPLICANT) && !text.contains("secret@"), "personal data in {text}");

    // Thresholds: with green at 60%, C1's 2 of 3 is green.
    let (_, v2, _) = get(&store, &format!("/dashboard?{query}&green=0.6&yellow=0.5")).await;
    assert_eq!(v2["centres"][0]["colour"], "green");
    // At risk under 10% left: C1's open dossier with 2 of 10 left is no longer at risk.
    let (_, v3, _) = get(&store, &format!("/dashboard?{query}&at_risk_share=0.1")).await;
    assert_eq!(v3["centres"][0]["figures"]["open_at_risk"].as_u64(), Some(0));

    // The map: the same centres, points, colours and figures.
    let (status, g, text) = get(&store, &format!("/dashboard/centres.geojson?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(g["type"], "FeatureCollection");
    let features = g["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    for (f, c) in features.iter().zip(centres) {
        assert_eq!(f["id"], c["id"]);
        assert_eq!(f["geometry"]["type"], "Point");
        assert_eq!(f["geometry"]["coordinates"][0].as_f64(), c["lon"].as_f64());
        assert_eq!(f["properties"]["colour"], c["colour"]);
        assert_eq!(f["properties"]["received"], c["figures"]["received"]);
        assert_eq!(f["properties"]["on_time_rate"], c["figures"]["on_time_rate"]);
    }
    assert!(!text.contains(APPLICANT));

    // Bad parameters: 400 naming the parameter.
    for (q, parameter) in [
        ("from=2026-13-01", "from"),
        ("to=tomorrow", "to"),
        ("from=2026-12-01&to=2026-11-01", "to"),
        ("from=2026-11-01&to=2026-11-01", "to"),
        ("green=1.5", "green"),
        ("yellow=x", "yellow"),
        ("green=0.8&yellow=0.9", "yellow"),
        ("at_risk_share=-1", "at_risk_share"),
        ("at=noon", "at"),
        ("colour=blue", "colour"),
        ("from=1900-01-01&to=2026-01-01", "from"),
    ] {
        for path in ["/dashboard", "/dashboard/centres.geojson"] {
            let (status, body, text) = get(&store, &format!("{path}?{q}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{q}: {text}");
            assert_eq!(body["parameter"], parameter, "{path}?{q}: {text}");
        }
    }
}
