//! Dashboard benchmark (issue 5, part 8): generates dossiers (100,000 by default) with their
//! hash-chained events over 16 months and 12 one-stop centres, writes them into a GeoPackage (and
//! into PostGIS when URBIS_BENCH_PG_URL names an empty database, migrated here), then times the
//! dashboard of all centres over a year: the store read (one query per layer), the aggregation,
//! and `GET /dashboard` through the whole router (no socket). Prints the figures.
//!
//! With `URBIS_BENCH_DEMO` naming the demo city's GeoPackage (`urbis demo --no-serve` builds it),
//! the GeoPackage is a copy of the demo city instead: each generated dossier is put on one of its
//! parcels (its polygon and code, drawn with the same dice), and after the dashboard `INTAKES`
//! (default 200) dossiers are filed through `POST /dossiers` on random parcels, each with its
//! parcel check, among the 100,000: mean, median and 90th percentile.
//!
//!   cargo run --release -p urbis-server --example dashboard_bench [-- DOSSIERS RUNS]
//!   URBIS_BENCH_DEMO=urbis-demo.gpkg cargo run --release -p urbis-server --example dashboard_bench
//!
//! Not a test: it asserts nothing.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use chrono::{Duration, NaiveDate, NaiveTime};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use urbis_core::domain::{self, Dossier, PermitEvent, Procedure};
use urbis_core::permits::chain;
use urbis_core::{Feature, LayerId};
use urbis_server::dashboard;
use urbis_server::permits::PermitsConfig;
use urbis_store::Store;

const CENTRES: usize = 12;
/// The year the dashboard reads, and "now" (its last day, 15:00 in Cambridge).
const FROM: &str = "2025-12-01";
const TO: &str = "2026-12-01";
const AT: &str = "2026-11-30T20:00:00Z";
const BATCH: usize = 5_000;

/// A small deterministic generator (xorshift64*): the same dossiers on every run.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

struct Generated {
    procedures: Vec<Feature>,
    centres: Vec<Feature>,
    dossiers: Vec<Feature>,
    events: Vec<Feature>,
}

fn generate(n: usize, config: &PermitsConfig) -> Generated {
    let cal = &config.calendar;
    let mut dice = Dice(0x5eed_da5b_b0a2_d001);
    let procedures: Vec<Procedure> = [("BP", 20), ("CU", 10), ("TR", 5), ("GS", 15), ("PR", 30)]
        .iter()
        .map(|(code, days)| Procedure {
            code: format!("{code}-01"),
            name: format!("{code} procedure"),
            category: "building and land use".into(),
            processing_days: *days,
            channels: vec!["online".into(), "counter".into(), "phone".into()],
            ..Default::default()
        })
        .collect();
    // Each centre has its own speed, so that the colours differ.
    let speed: Vec<f64> = (0..CENTRES).map(|i| 0.55 + 0.04 * i as f64).collect();
    let centres = (0..CENTRES)
        .map(|i| {
            Feature::new(
                format!("osc-{i:02}"),
                Some(geo_types::Point::new(-71.14 + 0.008 * i as f64, 42.35 + 0.004 * (i % 5) as f64).into()),
            )
            .with("name", format!("One-stop centre {i}"))
            .with("kind", "one_stop")
            .with("one_stop", true)
            .with("desks", 4)
        })
        .collect();
    let start = NaiveDate::from_ymd_opt(2025, 8, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let span = (last - start).num_days();
    let at = |d: NaiveDate, hour: u32| {
        let local = d.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap());
        (local - Duration::minutes(i64::from(config.utc_offset_minutes))).and_utc()
    };
    let iso = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut dossiers = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n * 5);
    for k in 0..n {
        let id = format!("CB-BENCH-{k:06}");
        let centre = (dice.next() % CENTRES as u64) as usize;
        let p = &procedures[(dice.next() % procedures.len() as u64) as usize];
        let channel = ["online", "online", "counter", "phone"][(dice.next() % 4) as usize];
        let mut day = start + Duration::days(dice.range(0, span));
        while !cal.is_working_day(day) {
            day += Duration::days(1);
        }
        let mut steps = vec![(at(day, 10), "received")];
        let review = cal.add_working_days(day, dice.range(0, 2));
        steps.push((at(review, 11), "in_review"));
        let mut current = review;
        if dice.unit() < 0.2 {
            let asked = cal.add_working_days(current, dice.range(1, 3));
            let answered = cal.add_working_days(asked, dice.range(1, 10));
            steps.push((at(asked, 12), "supplement_requested"));
            steps.push((at(answered, 12), "supplement_received"));
            current = answered;
        }
        // The centre's speed: the share of the processing time it usually takes, sometimes more.
        let mut share = speed[centre] + 0.3 * dice.unit();
        if dice.unit() < 0.05 {
            share += 0.5;
        }
        let decided = cal.add_working_days(current, ((p.processing_days as f64) * share * 0.8).round() as i64);
        let mut dossier = Dossier {
            tracking_code: id.clone(),
            procedure_code: p.code.clone(),
            applicant: Some(json!({ "name": format!("Applicant {k}") })),
            channel: Some(channel.into()),
            centre_id: Some(format!("osc-{centre:02}")),
            received_at: iso(steps[0].0),
            ..Default::default()
        };
        if dice.unit() < 0.03 {
            steps.push((at(cal.add_working_days(current, 1), 13), "withdrawn"));
        } else if decided <= last {
            steps.push((at(decided, 14), "decided"));
            dossier.decided_at = Some(iso(at(decided, 14)));
            dossier.decision = Some("approved".into());
            if dice.unit() < 0.6 {
                dossier.satisfaction = Some(dice.range(1, 5).max(dice.range(2, 5)));
            }
        }
        steps.retain(|(t, _)| t.date_naive() <= last + Duration::days(1));
        dossier.stage = steps.last().map(|(_, s)| s.to_string()).unwrap_or_default();
        let mut previous = chain::GENESIS.to_string();
        for (i, (t, stage)) in steps.iter().enumerate() {
            let mut e = PermitEvent {
                permit_id: id.clone(),
                seq: i as i64 + 1,
                at: iso(*t),
                kind: if i == 0 { "received" } else { "transition" }.into(),
                stage: Some(stage.to_string()),
                actor: Some("bench".into()),
                note: None,
                hash: None,
            };
            let hash = chain::link_hash(&previous, &e);
            e.hash = Some(hash.clone());
            previous = hash;
            events.push(domain::write(format!("{id}-{:02}", i + 1), None, &e));
        }
        dossiers.push(domain::write(id, None, &dossier));
    }
    Generated {
        procedures: procedures.iter().map(|p| domain::write(p.code.clone(), None, p)).collect(),
        centres,
        dossiers,
        events,
    }
}

async fn write(store: &dyn Store, g: &Generated) -> anyhow::Result<()> {
    store.create(LayerId::Procedures, &g.procedures).await?;
    store.create(LayerId::ServiceCentres, &g.centres).await?;
    for chunk in g.dossiers.chunks(BATCH) {
        store.create(LayerId::Permits, chunk).await?;
    }
    for chunk in g.events.chunks(BATCH) {
        store.create(LayerId::PermitEvents, chunk).await?;
    }
    Ok(())
}

fn line(name: &str, f: &Value) -> String {
    let pct = |v: &Value| v.as_f64().map(|x| format!("{:.1}%", 100.0 * x)).unwrap_or_else(|| "—".into());
    let num = |v: &Value| v.as_f64().map(|x| format!("{x:.1}")).unwrap_or_else(|| "—".into());
    format!(
        "{name:<22} {:>6} rec {:>6} dec {:>7} on time {:>6} open {:>5} at risk {:>5} overdue {:>6} online  days mean {:>5} p90 {:>3}  satisfaction {} (n {}, ≥4 {})  {}",
        f["received"],
        f["decided"],
        pct(&f["on_time_rate"]),
        f["open"],
        f["open_at_risk"],
        f["open_overdue"],
        pct(&f["online_share"]),
        num(&f["processing_days_mean"]),
        f["processing_days_p90"],
        num(&f["satisfaction"]["mean"]),
        f["satisfaction"]["count"],
        pct(&f["satisfaction"]["share_4_or_more"]),
        f["colour"].as_str().unwrap_or("?"),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let config = PermitsConfig::default();
    let t = Instant::now();
    let mut g = generate(n, &config);
    println!("generated {} dossiers, {} events in {:.2?}", g.dossiers.len(), g.events.len(), t.elapsed());

    let dir = tempfile::tempdir()?;
    let mut stores: Vec<(&str, Arc<dyn Store>)> = vec![];
    let path = dir.path().join("bench.gpkg");
    let demo = std::env::var("URBIS_BENCH_DEMO").ok();
    if let Some(d) = &demo {
        std::fs::copy(d, &path)?;
    }
    let gpkg: Arc<dyn Store> = Arc::from(urbis_store::open(&path.display().to_string()).await?);
    // On the demo city: the catalogue and a centre to file at, then the dossiers on its parcels.
    let mut intake_with: Option<(String, String, Vec<String>)> = None;
    if demo.is_some() {
        let all = urbis_store::Query::all();
        let procedure = gpkg.query(LayerId::Procedures, &all.clone().limit(1)).await?.pop().map(|p| p.id);
        let centre = gpkg
            .query(LayerId::ServiceCentres, &all)
            .await?
            .into_iter()
            .find(|c| c.get("one_stop").and_then(Value::as_bool) == Some(true))
            .map(|c| c.id);
        let parcels: Vec<Feature> = gpkg
            .query(LayerId::Parcels, &all)
            .await?
            .into_iter()
            .filter(|p| p.geometry.is_some() && p.text("code").is_some())
            .collect();
        let mut dice = Dice(0x00d0_551e_75ee_d001);
        for d in &mut g.dossiers {
            let p = &parcels[(dice.next() % parcels.len() as u64) as usize];
            d.geometry = p.geometry.clone();
            d.attributes.insert("parcel_codes".into(), json!([p.text("code")]));
        }
        let codes = parcels.iter().filter_map(|p| p.text("code").map(str::to_string)).collect();
        intake_with = procedure.zip(centre).map(|(p, c)| (p, c, codes));
    }
    stores.push(("GeoPackage", gpkg));
    if let Ok(url) = std::env::var("URBIS_BENCH_PG_URL") {
        urbis_store::postgis::migrate(&url).await?;
        stores.push(("PostGIS", Arc::from(urbis_store::open(&url).await?)));
    }
    let params: std::collections::HashMap<String, String> =
        [("from", FROM), ("to", TO), ("at", AT)].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let request = dashboard::parse_request(&params, &config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let uri = format!("/dashboard?from={FROM}&to={TO}&at={}", AT.replace(':', "%3A"));
    for (name, store) in stores {
        let t = Instant::now();
        write(store.as_ref(), &g).await?;
        println!("{name}: written in {:.2?}", t.elapsed());
        for run in 1..=runs {
            let t = Instant::now();
            let (centres, facts) = dashboard::load(store.as_ref()).await?;
            let read = t.elapsed();
            let t = Instant::now();
            let ids: Vec<String> = centres.iter().map(|c| c.id.clone()).collect();
            let d = urbis_core::permits::dashboard::dashboard(&config.calendar, &request.options(), &ids, &facts)?;
            let aggregate = t.elapsed();
            let t = Instant::now();
            let response =
                urbis_server::router(store.clone()).oneshot(Request::builder().uri(&uri).body(Body::empty())?).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            let http = t.elapsed();
            println!(
                "{name}: run {run}: read {} dossiers in {read:.2?}, aggregated {} centres in {aggregate:.2?}; GET /dashboard {status} {} bytes in {http:.2?}",
                facts.len(),
                d.centres.len(),
                body.len()
            );
            if run == runs {
                let v: Value = serde_json::from_slice(&body)?;
                println!("{name}: dashboard {FROM} to {TO} (excluded) at {AT}:");
                println!("{}", line("overall", &v["overall"]));
                for c in v["centres"].as_array().into_iter().flatten() {
                    println!("{}", line(c["id"].as_str().unwrap_or("?"), &c["figures"]));
                }
            }
        }
        if let (Some((procedure, centre, codes)), "GeoPackage") = (&intake_with, name) {
            let n: usize = std::env::var("INTAKES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
            let router = urbis_server::router(store.clone());
            let mut dice = Dice(0x1a7a_ce00_5eed_0001);
            let mut ms = vec![];
            for k in 0..n {
                let code = &codes[(dice.next() % codes.len() as u64) as usize];
                let filing = json!({ "procedure_code": procedure, "parcels": [code], "channel": "online",
                    "centre_id": centre, "proposed_use": "residential_multifamily", "proposed_height_m": 12.0,
                    "applicant": { "name": format!("Bench applicant {k}"), "email": "bench@example.org" } });
                let request = Request::builder()
                    .method("POST")
                    .uri("/dossiers")
                    .header("content-type", "application/json")
                    .body(Body::from(filing.to_string()))?;
                let t = Instant::now();
                let response = router.clone().oneshot(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                anyhow::ensure!(
                    status.is_success(),
                    "intake {k} on {code}: {status} {}",
                    String::from_utf8_lossy(&body)
                );
            }
            ms.sort_by(f64::total_cmp);
            let pick = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
            println!(
                "{name}: {n} intakes with their parcel check among {} dossiers: mean {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
                g.dossiers.len(),
                ms.iter().sum::<f64>() / ms.len() as f64,
                pick(0.5),
                pick(0.9),
                ms[ms.len() - 1]
            );
        }
    }
    Ok(())
}
