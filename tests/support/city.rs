//! The test city the HTTP tests of the permit workflow share (tests/open311.rs, tests/permit_tiles.rs,
//! tests/queue.rs, tests/dashboard.rs, tests/tiles.rs): the real files of `data-samples/` imported
//! as `urbis demo` imports them, small hand-made procedures and centres, dossiers written through
//! the store with their hash-chained histories, and one router answering requests in process.
//!
//! A test target takes it with `#[path = "support/city.rs"] mod city;` beside `mod support;`.

#![allow(dead_code)] // each test target uses part of this module

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use urbis_core::permits::chain;
use urbis_core::{domain, Feature, LayerId};
use urbis_import::{import_file, ImportOptions, ImportSummary, Mapping, Silent};
use urbis_store::{HistoryHead, Store};

/// A file of `data-samples/`.
pub fn samples(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples").join(rel)
}

/// A sample to import: its path under `data-samples/`, its mapping under `data-samples/mappings/`
/// (`None`: the parcels', the map-lot `ML` as their code) and the layer it fills.
pub type Sample = (&'static str, Option<&'static str>, LayerId);

/// The permit city: parcels (map-lot as code), the procedure catalogue and the one-stop centres.
pub const PERMIT_CITY: [Sample; 3] = [
    ("cambridge/ASSESSING_ParcelsFY2014.topojson", None, LayerId::Parcels),
    ("procedures.csv", Some("procedures.toml"), LayerId::Procedures),
    ("one_stop_centres.geojson", Some("one_stop_centres.toml"), LayerId::ServiceCentres),
];

/// The map of the demo city: parcels (their code only, without the derived assessor table),
/// zoning districts and roads.
pub const MAP_LAYERS: [Sample; 3] = [
    ("cambridge/ASSESSING_ParcelsFY2014.topojson", None, LayerId::Parcels),
    ("cambridge/CDD_ZoningDistricts.geojson", Some("zoning_districts.toml"), LayerId::ZoningDistricts),
    ("cambridge/TRANS_Centerlines.geojson", Some("roads.toml"), LayerId::Roads),
];

/// Imports each sample (copied into `dir` first, its report of skipped rows written there) as the
/// demo does: invalid rows skipped, the polygons of parcels, zoning districts and overlays made valid. Each must
/// write something; the summaries, in order.
pub async fn import_samples(store: &dyn Store, dir: &Path, files: &[Sample]) -> Vec<ImportSummary> {
    let mut summaries = vec![];
    for &(file, mapping, layer) in files {
        let input = dir.join(Path::new(file).file_name().unwrap());
        std::fs::copy(samples(file), &input).unwrap_or_else(|e| panic!("copying {file}: {e}"));
        let mut options = ImportOptions::new(layer);
        match mapping {
            Some(m) => options.mapping = Mapping::from_toml_file(&samples("mappings").join(m)).unwrap(),
            None => {
                options.mapping.fields.insert("code".into(), "ML".into());
            }
        }
        options.skip_invalid = true;
        options.make_valid = matches!(layer, LayerId::Parcels | LayerId::ZoningDistricts | LayerId::ZoningOverlays);
        options.report_dir = Some(dir.to_path_buf());
        let s = import_file(store, &input, &options, &Silent).await.unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(s.written > 0, "{file}: {s:?}");
        summaries.push(s);
    }
    summaries
}

/// [`PERMIT_CITY`] imported into `store`.
pub async fn load_permit_city(store: &dyn Store, dir: &Path) {
    import_samples(store, dir, &PERMIT_CITY).await;
}

/// Writes a procedure of `days` working days, coded `code`, per pair, offered on `channels`.
pub async fn write_procedures(store: &dyn Store, procedures: &[(&str, i64)], channels: &[&str]) {
    for &(code, days) in procedures {
        let p = domain::Procedure {
            code: code.into(),
            name: format!("{days}-day procedure"),
            category: "building and land use".into(),
            processing_days: days,
            channels: channels.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        };
        store.create(LayerId::Procedures, &[domain::write(code, None, &p)]).await.unwrap();
    }
}

/// Writes a one-stop centre named "Centre ID" per `(id, lon, lat)`.
pub async fn write_centres(store: &dyn Store, centres: &[(&str, f64, f64)]) {
    let centres: Vec<Feature> = centres
        .iter()
        .map(|(id, x, y)| {
            Feature::new(*id, Some(geo_types::Point::new(*x, *y).into()))
                .with("name", format!("Centre {id}"))
                .with("kind", "one_stop")
                .with("one_stop", true)
        })
        .collect();
    store.create(LayerId::ServiceCentres, &centres).await.unwrap();
}

/// A dossier's hash-chained history being written through the store, one event at a time.
pub struct History {
    id: String,
    head: Option<HistoryHead>,
}

impl History {
    /// A dossier with no history yet.
    pub fn new(id: impl Into<String>) -> History {
        History { id: id.into(), head: None }
    }

    /// Appends `event` (given its dossier, number and hash here; event `ID-01`, `ID-02`, …) with
    /// the dossier as it stands after it, on `geometry`.
    pub async fn append(
        &mut self,
        store: &dyn Store,
        dossier: &domain::Dossier,
        geometry: Option<geo_types::Geometry>,
        mut event: domain::PermitEvent,
    ) {
        event.permit_id = self.id.clone();
        event.seq = self.head.as_ref().map_or(0, |h| h.seq) + 1;
        let previous = self.head.as_ref().and_then(|h| h.hash.clone()).unwrap_or_else(|| chain::GENESIS.into());
        event.hash = Some(chain::link_hash(&previous, &event));
        let ef = domain::write(format!("{}-{:02}", self.id, event.seq), None, &event);
        let df = domain::write(self.id.clone(), geometry, dossier);
        store
            .append_event(&df, &ef, self.head.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{} event {}: {e}", self.id, event.seq));
        self.head = Some(HistoryHead { seq: event.seq, hash: event.hash.clone() });
    }
}

/// The slippy-map tile of a point, by the textbook formula (not the crate's code).
pub fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = 2f64.powi(z as i32);
    let phi = lat.to_radians();
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let y = ((1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
    (x, y)
}

/// Step `i` of a made-up history, on `day` (10:00 in Cambridge): `dossier` moves to `stage` (a
/// decision approves it that day) and the step's event is returned, "received" first and
/// "transition" after, by the actor "test" with `note`, ready for [`History::append`].
pub fn step(
    dossier: &mut domain::Dossier,
    i: usize,
    day: &str,
    stage: &str,
    note: Option<String>,
) -> domain::PermitEvent {
    dossier.stage = stage.to_string();
    if stage == "decided" {
        dossier.decided_at = Some(instant(day));
        dossier.decision = Some("approved".into());
    }
    domain::PermitEvent {
        at: instant(day),
        kind: if i == 0 { "received" } else { "transition" }.into(),
        stage: Some(stage.to_string()),
        actor: Some("test".into()),
        note,
        ..Default::default()
    }
}

/// An answer of the server, its body also as text and as JSON (`Null` when it is not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub text: String,
    pub body: Value,
}

impl Answer {
    /// A header's value, empty when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

/// The server under test: one router for the whole test (its token hashes made once, its tile
/// cache living across requests), its store beside it.
pub struct App {
    pub router: axum::Router,
    pub store: Arc<dyn Store>,
}

impl std::ops::Deref for App {
    type Target = Arc<dyn Store>;
    fn deref(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

impl App {
    /// The server with the tokens of `specs` (`ROLE:TOKEN`, as the configuration holds them).
    pub fn new<S: AsRef<str>>(store: Arc<dyn Store>, specs: &[S]) -> App {
        let auth = urbis_server::auth::Auth::from_specs(specs).unwrap();
        App { router: urbis_server::router_with_auth(store.clone(), auth), store }
    }

    /// A request to the server as the city's host names it.
    pub fn request(method: &str, uri: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(uri).header("host", "city.example")
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, headers, bytes, text, body }
    }

    /// `method uri`, with `token` as bearer and `body` as JSON when given.
    pub async fn call(&self, method: &str, uri: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = App::request(method, uri);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        let request = match body {
            Some(b) => request.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        self.send(request).await
    }

    /// `GET uri`, anonymous (not `get`: that is the store's, through `Deref`).
    pub async fn fetch(&self, uri: &str) -> Answer {
        self.call("GET", uri, None, None).await
    }
}

/// A date written `YYYY-MM-DD`.
pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("date {s}: {e}"))
}

/// 10:00 in Cambridge (15:00 UTC) on `day`, as the store writes instants.
pub fn instant(day: &str) -> String {
    format!("{day}T15:00:00.000Z")
}

/// The working days of the hand-made procedures of [`write_procedures`] coded `P10` and `P3`.
pub fn days_of(procedure: &str) -> i64 {
    match procedure {
        "P10" => 10,
        "P3" => 3,
        other => panic!("{other}"),
    }
}

/// Cambridge's holidays, straight from data-samples/holidays.csv.
pub fn holidays() -> BTreeSet<NaiveDate> {
    let mut reader = csv::Reader::from_path(samples("holidays.csv")).unwrap();
    reader.records().map(Result::unwrap).filter(|r| &r[0] == "cambridge_ma").map(|r| date(&r[1])).collect()
}

/// Neither a weekend nor one of `holidays`.
pub fn is_workday(holidays: &BTreeSet<NaiveDate>, d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&d)
}

/// Working days in `(a, b]`, counted one day at a time (the tests' plain count, not the crate's).
pub fn workdays(holidays: &BTreeSet<NaiveDate>, a: NaiveDate, b: NaiveDate) -> i64 {
    let mut n = 0;
    let mut d = a;
    while d < b {
        d += Duration::days(1);
        n += i64::from(is_workday(holidays, d));
    }
    n
}
