//! The role matrix (issue 5, part 9), on both stores: every route of the policy table
//! (`crates/urbis-server/src/policy.rs`) called by every kind of caller (anonymous, a `viewer`
//! token, the applicant of a dossier, a reviewer of its centre, a reviewer of another centre, a
//! planner, an admin), each answer's status class checked against the table, and the
//! applicant's name, e-mail and phone looked for in every answer: present exactly where the table
//! says the caller sees personal data, nowhere else (features, tiles, tracking, BLDS, dashboard,
//! Open311, the queue).
//!
//! No route escapes the table: a route without a row is refused by the middleware (500 in debug
//! builds, so every test that calls it fails), `policy::tests` checks that every `.route("…")` of
//! the crate has a row, and this test panics on a row it has no request for.
//!
//! Also: logins (argon2 passwords, generic refusals, disabled accounts, sessions ended with them,
//! five failures a minute per user name and per client address),
//! applicants by tracking code and secret, counter intake by reviewers, the users' table.

#[macro_use]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use urbis_core::permits::Stage;
use urbis_core::{Feature, LayerId};
use urbis_import::{import_file, ImportOptions, Mapping, Silent};
use urbis_server::auth::{hash_password, Auth, Role};
use urbis_server::policy::{Rule, Scope, POLICY};
use urbis_store::{Store, StoreError, User};

on_both_stores!((store, dir) => (std::sync::Arc::from(store), dir); role_matrix, logins_and_accounts, accounts_over_http);

const NAME: &str = "Zenobia Personaldatum";
const EMAIL: &str = "zenobia.personaldatum@example.invalid";
const PHONE: &str = "617-555-0177";
const JWT_SECRET: &str = "roles-test-secret-0123456789abcdefghij";
const PLANNER_TOKEN: &str = "planner-token-0123456789";
const VIEWER_TOKEN: &str = "viewer-token-0123456789";
const ELSEWHERE_TOKEN: &str = "reviewer-elsewhere-token-0123456789";
const REVIEWER_PASSWORD: &str = "reviewer-password-123";
const ADMIN_PASSWORD: &str = "admin-password-123";
/// The centre of the dossier, and another one (data-samples/one_stop_centres.geojson).
const CENTRE: &str = "osc-city-hall";
/// Near Cambridge City Hall, where the test's parcels are.
const LON: f64 = -71.1050;
const LAT: f64 = 42.3670;

fn samples(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples").join(rel)
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

/// Every kind of caller the matrix tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    /// A configured `viewer` token: signed in, no more rights than anyone.
    Viewer,
    /// The dossier's applicant, by tracking code and secret (HTTP Basic).
    Applicant,
    /// A reviewer of the dossier's centre (an account, logged in).
    ReviewerHere,
    /// A reviewer of another centre (a configured `reviewer@…` token).
    ReviewerElsewhere,
    /// A planner (a configured token under the old name `editor`).
    Planner,
    /// An admin (an account, logged in).
    Admin,
}

const CALLERS: [Caller; 7] = [
    Caller::Anonymous,
    Caller::Viewer,
    Caller::Applicant,
    Caller::ReviewerHere,
    Caller::ReviewerElsewhere,
    Caller::Planner,
    Caller::Admin,
];

impl Caller {
    fn role(self) -> Role {
        match self {
            Caller::Anonymous | Caller::Viewer => Role::Anonymous,
            Caller::Applicant => Role::Applicant,
            Caller::ReviewerHere | Caller::ReviewerElsewhere => Role::Reviewer,
            Caller::Planner => Role::Planner,
            Caller::Admin => Role::Admin,
        }
    }

    /// Whether the caller may touch the test's dossier where a route is about one dossier.
    fn in_scope(self) -> bool {
        !matches!(self, Caller::ReviewerElsewhere)
    }
}

struct City {
    store: Arc<dyn Store>,
    router: Router,
    other_centre: String,
    /// The dossier every dossier route is called on: its id (= tracking code) and secret.
    dossier: String,
    secret: String,
    reviewer_session: String,
    admin_session: String,
    font: String,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl City {
    fn authorization(&self, caller: Caller) -> Option<String> {
        match caller {
            Caller::Anonymous => None,
            Caller::Viewer => Some(format!("Bearer {VIEWER_TOKEN}")),
            Caller::Applicant => Some(basic(&self.dossier, &self.secret)),
            Caller::ReviewerHere => Some(format!("Bearer {}", self.reviewer_session)),
            Caller::ReviewerElsewhere => Some(format!("Bearer {ELSEWHERE_TOKEN}")),
            Caller::Planner => Some(format!("Bearer {PLANNER_TOKEN}")),
            Caller::Admin => Some(format!("Bearer {}", self.admin_session)),
        }
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        authorization: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri).header("host", "city.example");
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        let request = match body {
            Some((content_type, bytes)) => request.header("content-type", content_type).body(Body::from(bytes)),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        Answer { status, location, bytes }
    }

    async fn call(&self, caller: Caller, method: &str, uri: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.send(method, uri, self.authorization(caller).as_deref(), body).await
    }

    /// Files a dossier online (anyone may) at `centre`; its tracking code and secret.
    async fn file(&self, centre: &str) -> (String, String) {
        let filing = json!({ "procedure_code": "BLU-01", "parcels": ["RL-1"], "channel": "online", "centre_id": centre,
            "proposed_use": "residential_multifamily", "proposed_height_m": 9.0,
            "applicant": { "name": NAME, "email": EMAIL, "phone": PHONE } });
        let a = self.call(Caller::Anonymous, "POST", "/dossiers", Some(filing)).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        let b = a.json();
        (b["tracking_code"].as_str().unwrap().to_string(), b["secret"].as_str().unwrap().to_string())
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// A square parcel of about 30 m, `i` squares east of the test's corner.
fn parcel(i: usize) -> Feature {
    let (x, y, d) = (LON + 0.0005 * i as f64, LAT, 0.0003);
    let ring = geo_types::LineString::from(vec![(x, y), (x + d, y), (x + d, y + d), (x, y + d), (x, y)]);
    let polygon = geo_types::Polygon::new(ring, vec![]);
    Feature::new(format!("rl-{i}"), Some(geo_types::MultiPolygon(vec![polygon]).into()))
        .with("code", format!("RL-{i}"))
        .with("address", format!("{i} Roles Way"))
}

async fn city(store: Arc<dyn Store>, dir: &Path) -> City {
    // The catalogue and the one-stop centres as the demo has them; a few parcels by hand.
    for (file, mapping, layer) in [
        ("procedures.csv", "procedures.toml", LayerId::Procedures),
        ("one_stop_centres.geojson", "one_stop_centres.toml", LayerId::ServiceCentres),
    ] {
        let input = dir.join(file);
        std::fs::copy(samples(file), &input).unwrap();
        let mut options = ImportOptions::new(layer);
        options.mapping = Mapping::from_toml_file(&samples("mappings").join(mapping)).unwrap();
        options.report_dir = Some(dir.to_path_buf());
        import_file(store.as_ref(), &input, &options, &Silent).await.unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    store.create(LayerId::Parcels, &[parcel(1), parcel(2), parcel(3)]).await.unwrap();
    let centres = store.query(LayerId::ServiceCentres, &urbis_store::Query::all()).await.unwrap();
    let other_centre = centres.iter().map(|c| c.id.clone()).find(|c| c != CENTRE).unwrap();
    assert!(centres.iter().any(|c| c.id == CENTRE));

    for (name, role, centres, password) in [
        ("reviewer-here", "reviewer", vec![CENTRE.to_string()], REVIEWER_PASSWORD),
        ("admin-one", "admin", vec![], ADMIN_PASSWORD),
    ] {
        let user = User {
            name: name.into(),
            role: role.into(),
            centres,
            password_hash: hash_password(password).unwrap(),
            created: "2026-11-23T10:00:00.000Z".into(),
            disabled: false,
        };
        store.add_user(&user).await.unwrap();
    }
    let auth = Auth::from_specs(&[
        format!("editor:{PLANNER_TOKEN}"),
        format!("viewer:{VIEWER_TOKEN}"),
        format!("reviewer@{other_centre}:{ELSEWHERE_TOKEN}"),
    ])
    .unwrap()
    .with_jwt_secret(JWT_SECRET)
    .unwrap();
    let web = urbis_server::web::WebAssets { web_dir: Some(repo("web")), ..Default::default() };
    let router = urbis_server::router_with_web(store.clone(), auth, web);
    let mut city = City {
        store,
        router,
        other_centre,
        dossier: String::new(),
        secret: String::new(),
        reviewer_session: String::new(),
        admin_session: String::new(),
        font: String::new(),
    };
    city.reviewer_session = login(&city, "reviewer-here", REVIEWER_PASSWORD).await["token"].as_str().unwrap().into();
    city.admin_session = login(&city, "admin-one", ADMIN_PASSWORD).await["token"].as_str().unwrap().into();
    (city.dossier, city.secret) = city.file(CENTRE).await;
    let fonts = city.call(Caller::Anonymous, "GET", "/fonts", None).await.json();
    city.font = fonts["fonts"][0].as_str().unwrap_or("none").to_string();
    city
}

async fn login(city: &City, user: &str, password: &str) -> Value {
    let a =
        city.call(Caller::Anonymous, "POST", "/auth/login", Some(json!({ "user": user, "password": password }))).await;
    assert_eq!(a.status, StatusCode::OK, "{user}: {}", a.text());
    a.json()
}

/// What an allowed caller gets from a route: success, or 404 where the test names a resource
/// that does not exist (a job id).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Allowed {
    Success,
    Unknown,
}

struct Call {
    uri: String,
    body: Option<(&'static str, Vec<u8>)>,
    allowed: Allowed,
}

fn get(uri: impl Into<String>) -> Call {
    Call { uri: uri.into(), body: None, allowed: Allowed::Success }
}

fn with_json(uri: impl Into<String>, content_type: &'static str, body: Value) -> Call {
    Call { uri: uri.into(), body: Some((content_type, body.to_string().into_bytes())), allowed: Allowed::Success }
}

fn unknown(uri: impl Into<String>) -> Call {
    Call { uri: uri.into(), body: None, allowed: Allowed::Unknown }
}

fn parcel_json(f: &Feature) -> Value {
    json!({ "type": "Feature", "id": f.id, "geometry": geojson::Geometry::from(f.geometry.as_ref().unwrap()),
            "properties": { "code": f.text("code"), "address": f.text("address") } })
}

/// The request that exercises a row of the table, for the `n`-th call of the matrix (writes get
/// fresh resources, made here as an admin would, so that every allowed call can succeed).
async fn request_for(city: &City, rule: &Rule, n: usize) -> Call {
    let d = &city.dossier;
    let point = json!({ "type": "Point", "coordinates": [LON + 0.0001, LAT + 0.0001] });
    let procedure = |code: &str| {
        json!({ "code": code, "name": "Roles test permit", "category": "building and land use",
            "processing_days": 5, "channels": ["online", "counter"], "documents": ["plan"] })
    };
    // A tile over the test's parcels at zoom 16 (x, y by the Web Mercator formulas).
    let (z, x, y) = (16u32, 19_823u32, 24_237u32);
    match (rule.method, rule.path) {
        ("GET", "/") => get("/"),
        ("GET", "/health") => get("/health"),
        ("GET", "/layers") => get("/layers"),
        ("POST", "/auth/login") => with_json(
            "/auth/login",
            "application/json",
            json!({ "user": "reviewer-here", "password": REVIEWER_PASSWORD }),
        ),
        ("GET", "/auth/me") => get("/auth/me"),
        ("GET", "/admin/users") => get("/admin/users"),
        ("POST", "/admin/users") => with_json(
            "/admin/users",
            "application/json",
            json!({ "name": format!("staff-{n}"), "role": "planner", "password": "a-long-enough-password" }),
        ),
        ("PATCH", "/admin/users/{name}") => {
            // An account of its own for each call (a hash the store keeps but no one logs in with).
            let user = User {
                name: format!("staff-p-{n}"),
                role: "planner".into(),
                centres: vec![],
                password_hash: "$argon2id$not-used".into(),
                created: "2026-11-23T00:00:00.000Z".into(),
                disabled: false,
            };
            city.store.add_user(&user).await.unwrap();
            with_json(format!("/admin/users/{}", user.name), "application/json", json!({ "disabled": true }))
        }
        ("GET", "/api") => get("/api"),
        ("GET", "/conformance") => get("/conformance"),
        ("GET", "/collections") => get("/collections"),
        ("GET", "/collections/{id}") => get("/collections/permits"),
        ("GET", "/collections/{id}/items") => get("/collections/permits/items?limit=1000"),
        ("GET", "/collections/{id}/items/{feature_id}") => get(format!("/collections/permits/items/{d}")),
        ("POST", "/analysis/coverage") => with_json("/analysis/coverage", "application/json", json!({})),
        ("GET", "/analysis/jobs/{id}") => unknown("/analysis/jobs/no-such-job"),
        ("GET", "/analysis/jobs/{id}/events") => unknown("/analysis/jobs/no-such-job/events"),
        ("GET", "/analysis/jobs/{id}/result") => unknown("/analysis/jobs/no-such-job/result"),
        ("GET", "/analysis/jobs/{id}/features") => unknown("/analysis/jobs/no-such-job/features"),
        ("GET", "/query/at") => get(format!("/query/at?layer=permits&lon={}&lat={}", LON + 0.0001, LAT + 0.0001)),
        ("GET", "/query/within") => get(format!("/query/within?layer=permits&lon={LON}&lat={LAT}&m=200")),
        ("POST", "/query/within") => with_json("/query/within?layer=permits&m=200", "application/json", point),
        ("GET", "/query/nearest") => get(format!("/query/nearest?layer=permits&lon={LON}&lat={LAT}&k=3")),
        ("POST", "/query/intersects") => with_json("/query/intersects?layer=permits", "application/json", point),
        ("GET", "/parcels/{id}/report") => get("/parcels/rl-1/report"),
        ("GET", "/collections/{id}/queryables") => get("/collections/permits/queryables"),
        ("POST", "/collections/{id}/items") => {
            let mut f = parcel(10 + n);
            f.id = format!("new-{n}");
            with_json("/collections/parcels/items", "application/geo+json", parcel_json(&f))
        }
        ("PUT" | "PATCH" | "DELETE", "/collections/{id}/items/{feature_id}") => {
            let f = parcel(100 + n);
            city.store.create(LayerId::Parcels, std::slice::from_ref(&f)).await.unwrap();
            let uri = format!("/collections/parcels/items/{}", f.id);
            match rule.method {
                "PUT" => with_json(uri, "application/geo+json", parcel_json(&f)),
                "PATCH" => with_json(
                    uri,
                    "application/merge-patch+json",
                    json!({ "properties": { "address": "1 Patched St" } }),
                ),
                _ => get(uri),
            }
        }
        ("GET", "/procedures") => get("/procedures"),
        ("POST", "/procedures") => with_json("/procedures", "application/json", procedure(&format!("RT-{n}"))),
        ("GET", "/procedures/{code}") => get("/procedures/BLU-01"),
        ("PUT", "/procedures/{code}") => {
            let code = format!("RP-{n}");
            let a = city.call(Caller::Admin, "POST", "/procedures", Some(procedure(&code))).await;
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
            with_json(format!("/procedures/{code}"), "application/json", procedure(&code))
        }
        ("POST", "/dossiers") => with_json(
            "/dossiers",
            "application/json",
            json!({ "procedure_code": "BLU-01", "parcels": ["RL-2"], "channel": "online", "centre_id": CENTRE,
                    "applicant": { "name": NAME, "email": EMAIL, "phone": PHONE } }),
        ),
        ("GET", "/dossiers/{id}") => get(format!("/dossiers/{d}")),
        ("POST", "/dossiers/{id}/transitions") => {
            // A fresh dossier of the same centre, moved one legal step.
            let (fresh, _) = city.file(CENTRE).await;
            with_json(format!("/dossiers/{fresh}/transitions"), "application/json", json!({ "to": "in_review" }))
        }
        ("GET", "/dossiers/{id}/check") => get(format!("/dossiers/{d}/check")),
        ("POST", "/dossiers/{id}/check") => Call {
            uri: format!("/dossiers/{d}/check"),
            body: Some(("application/json", vec![])),
            allowed: Allowed::Success,
        },
        ("GET", "/track/{code}") => get(format!("/track/{d}")),
        ("GET", "/track/{code}/verify") => get(format!("/track/{d}/verify")),
        // The applicant's answers and rating: the dossier is first brought (as its centre's
        // reviewer would) to the stage that waits for them, before every call, so that the
        // applicant's call can succeed; the others are refused before the dossier is looked at.
        ("POST", "/track/{code}/supplement") => {
            bring_to(city, Stage::SupplementRequested).await;
            with_json(format!("/track/{d}/supplement"), "application/json", json!({ "note": "plans" }))
        }
        ("POST", "/track/{code}/payment") => {
            bring_to(city, Stage::PaymentRequested).await;
            with_json(format!("/track/{d}/payment"), "application/json", json!({ "reference": format!("TX-{n}") }))
        }
        ("POST", "/track/{code}/rating") => {
            // Once, after the result.
            bring_to(city, Stage::Decided).await;
            with_json(format!("/track/{d}/rating"), "application/json", json!({ "rating": 4 }))
        }
        ("GET", "/dossiers") => get("/dossiers"),
        ("GET", "/open311/v2/discovery.{format}") => get("/open311/v2/discovery.json"),
        ("GET", "/open311/v2/services.{format}") => get("/open311/v2/services.json"),
        ("GET", "/open311/v2/services/{code}") => get("/open311/v2/services/BLU-01.json"),
        ("GET", "/open311/v2/requests.{format}") => get("/open311/v2/requests.json"),
        ("POST", "/open311/v2/requests.{format}") => with_json(
            "/open311/v2/requests.json",
            "application/json",
            json!({ "service_code": "BLU-01", "address_id": "RL-3", "first_name": "Zenobia", "last_name": "Personaldatum",
                    "email": EMAIL, "phone": PHONE, "attribute": { "centre_id": CENTRE } }),
        ),
        ("GET", "/open311/v2/requests/{id}") => get(format!("/open311/v2/requests/{d}.json")),
        ("GET", "/permits/blds.csv") => get("/permits/blds.csv"),
        ("GET", "/permits/blds.geojson") => get("/permits/blds.geojson"),
        ("GET", "/permits/blds-status.csv") => get("/permits/blds-status.csv"),
        ("GET", "/dashboard") => get("/dashboard"),
        ("GET", "/dashboard/centres.geojson") => get("/dashboard/centres.geojson"),
        ("GET", "/tiles/{layers}") => get("/tiles/permits.json"),
        ("GET", "/tiles/{layers}/{z}/{x}/{y}") => get(format!("/tiles/permits/{z}/{x}/{y}.mvt")),
        ("GET", "/tileMatrixSets") => get("/tileMatrixSets"),
        ("GET", "/tileMatrixSets/{tms}") => get("/tileMatrixSets/WebMercatorQuad"),
        ("GET", "/collections/{id}/tiles") => get("/collections/permits/tiles"),
        ("GET", "/collections/{id}/tiles/{tms}") => get("/collections/permits/tiles/WebMercatorQuad"),
        ("GET", "/collections/{id}/tiles/{tms}/{z}/{y}/{x}") => {
            get(format!("/collections/permits/tiles/WebMercatorQuad/{z}/{y}/{x}"))
        }
        ("GET", "/styles") => get("/styles"),
        ("GET", "/styles/{file}") => get("/styles/zoning.json"),
        ("GET", "/styles/sprite/{file}") => get("/styles/sprite/sprite.json"),
        ("GET", "/fonts") => get("/fonts"),
        ("GET", "/fonts/{stack}/{range}") => get(format!("/fonts/{}/0-255.pbf", city.font.replace(' ', "%20"))),
        ("GET", "/map") => Call { uri: "/map".into(), body: None, allowed: Allowed::Success },
        ("GET", "/map/") => get("/map/"),
        ("GET", "/map/{*path}") => get("/map/common.css"),
        (method, path) => panic!("the role matrix has no request for {method} {path}: add one to tests/roles.rs"),
    }
}

/// Moves the test's dossier, as its centre's reviewer, by the shortest legal path to `target`
/// (before any decision; a dossier decided already stays so).
async fn bring_to(city: &City, target: Stage) {
    let d = &city.dossier;
    let view = city.call(Caller::Admin, "GET", &format!("/dossiers/{d}"), None).await.json();
    let current: Stage = view["dossier"]["stage"].as_str().unwrap().parse().unwrap();
    if current == target || view["dossier"]["decision"].is_string() {
        return;
    }
    // Breadth first over the machine's moves.
    let mut previous: std::collections::HashMap<Stage, Stage> = Default::default();
    let mut queue = std::collections::VecDeque::from([current]);
    while let Some(s) = queue.pop_front() {
        for next in s.allowed_next_when(false) {
            if *next != current && !previous.contains_key(next) {
                previous.insert(*next, s);
                queue.push_back(*next);
            }
        }
    }
    let mut path = vec![target];
    while let Some(p) = previous.get(path.last().unwrap()).filter(|p| **p != current) {
        path.push(*p);
    }
    for step in path.into_iter().rev() {
        let mut body = json!({ "to": step.name() });
        match step {
            Stage::Decided => body["decision"] = json!("approved"),
            Stage::PaymentRequested => body["amount"] = json!(80),
            _ => {}
        }
        let a = city.call(Caller::ReviewerHere, "POST", &format!("/dossiers/{d}/transitions"), Some(body)).await;
        assert_eq!(a.status, StatusCode::OK, "to {step}: {}", a.text());
    }
}

/// The status class the table promises `caller` on `rule`.
fn expected(rule: &Rule, caller: Caller, allowed: Allowed) -> StatusCode {
    if !rule.roles.contains(&caller.role()) {
        return if caller == Caller::Anonymous { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN };
    }
    if rule.scope == Scope::Dossier && !caller.in_scope() {
        return StatusCode::FORBIDDEN;
    }
    match allowed {
        Allowed::Success => StatusCode::OK,
        Allowed::Unknown => StatusCode::NOT_FOUND,
    }
}

fn class(status: StatusCode) -> StatusCode {
    match status.as_u16() {
        200..=299 => StatusCode::OK,
        // A redirect (/map to /map/) is a success of its own kind.
        300..=399 => StatusCode::OK,
        _ => status,
    }
}

async fn role_matrix(store: Arc<dyn Store>, dir: &Path) {
    let city = city(store, dir).await;
    let mut failures = vec![];
    let mut calls = 0usize;
    let mut personal_seen = 0usize;
    for rule in POLICY {
        for caller in CALLERS {
            calls += 1;
            let call = request_for(&city, rule, calls).await;
            let method = if rule.method == "GET" && call.body.is_some() { "POST" } else { rule.method };
            let auth = city.authorization(caller);
            let answer = city.send(method, &call.uri, auth.as_deref(), call.body).await;
            let want = expected(rule, caller, call.allowed);
            if class(answer.status) != want {
                failures.push(format!(
                    "{} {} as {caller:?}: {} (expected {want}): {}",
                    rule.method,
                    call.uri,
                    answer.status,
                    answer.text().chars().take(300).collect::<String>()
                ));
                continue;
            }
            // Personal data: exactly where the table shows it to this caller.
            let sees =
                rule.personal.contains(&caller.role()) && caller.in_scope() && class(answer.status) == StatusCode::OK;
            let text = answer.text();
            let shown: Vec<&str> = [NAME, EMAIL, PHONE, "Zenobia"].into_iter().filter(|p| text.contains(p)).collect();
            if sees {
                personal_seen += 1;
                if !text.contains(NAME) || !text.contains(EMAIL) {
                    failures
                        .push(format!("{} {} as {caller:?}: personal data expected, not shown", rule.method, call.uri));
                }
            } else if !shown.is_empty() {
                failures.push(format!("{} {} as {caller:?}: personal data shown: {shown:?}", rule.method, call.uri));
            }
            // Secrets and their hashes are never served to anyone.
            if text.contains(&city.secret) || text.contains("secret_sha256") {
                failures
                    .push(format!("{} {} as {caller:?}: the applicant's secret or its hash", rule.method, call.uri));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls disagree with the policy table:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(calls, POLICY.len() * CALLERS.len());
    // The positive control: the dossier's page showed it to its applicant, its reviewer, an admin.
    assert_eq!(personal_seen, 3);

    // The permits' tiles hold the dossiers (so that their absence of personal data means something).
    let tile = city.call(Caller::Anonymous, "GET", "/tiles/permits/16/19823/24237.mvt", None).await;
    assert!(
        tile.bytes.windows(city.dossier.len()).any(|w| w == city.dossier.as_bytes()),
        "the tile misses the dossier"
    );
    let items = city.call(Caller::Admin, "GET", "/collections/permits/items?limit=1000", None).await.json();
    assert!(items["features"].as_array().is_some_and(|f| f.iter().any(|f| f["id"] == json!(city.dossier))));

    // The applicant's rating (the matrix gave 4) is on the dossier, once; the dashboard counts it.
    let d = &city.dossier;
    let rated = items["features"].as_array().unwrap().iter().find(|f| f["id"] == json!(d)).unwrap().clone();
    assert_eq!(rated["properties"]["satisfaction"], json!(4), "{rated}");
    let again = city.call(Caller::Applicant, "POST", &format!("/track/{d}/rating"), Some(json!({ "rating": 5 }))).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert!(again.text().contains("already rated 4"), "{}", again.text());
    for bad in [json!({ "rating": 7 }), json!({ "rating": 2.5 }), json!({ "rating": "5" }), json!({})] {
        let a = city.call(Caller::Applicant, "POST", &format!("/track/{d}/rating"), Some(bad.clone())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text());
    }
    // The applicant's answers are in the dossier's hash-chained history, by `applicant`; once
    // decided, the dossier waits for no documents: 409 naming its stage.
    let view = city.call(Caller::Admin, "GET", &format!("/dossiers/{d}"), None).await.json();
    let answers: Vec<(&str, &str)> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "applicant")
        .map(|e| (e["stage"].as_str().unwrap(), e["note"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(answers, [("supplement_received", "plans"), ("payment_received", answers[1].1)], "{view}");
    assert!(answers[1].1.starts_with("payment reference: TX-"), "{answers:?}");
    let verified = city.call(Caller::Anonymous, "GET", &format!("/track/{d}/verify"), None).await.json();
    assert_eq!(verified["intact"], true, "{verified}");
    let late = city.call(Caller::Applicant, "POST", &format!("/track/{d}/supplement"), Some(json!({}))).await;
    assert_eq!(
        (late.status, late.json()["current"].clone()),
        (StatusCode::CONFLICT, json!("decided")),
        "{}",
        late.text()
    );
    assert!(late.text().contains("not waiting for documents"), "{}", late.text());

    // Before the result, a rating is refused with the stage named.
    let (fresh, secret) = city.file(CENTRE).await;
    let early = city
        .send(
            "POST",
            &format!("/track/{fresh}/rating"),
            Some(&basic(&fresh, &secret)),
            Some(("application/json", br#"{"rating": 3}"#.to_vec())),
        )
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text());
    assert!(early.text().contains("`received`"), "{}", early.text());
}

async fn logins_and_accounts(store: Arc<dyn Store>, dir: &Path) {
    let city = city(store.clone(), dir).await;
    // Login: the session says who; /auth/me agrees.
    let session = login(&city, "reviewer-here", REVIEWER_PASSWORD).await;
    assert_eq!(session["role"], "reviewer");
    assert_eq!(session["user"], "reviewer-here");
    assert_eq!(session["centres"], json!([CENTRE]));
    assert!(session["expires_at"].as_str().unwrap() > "2026");
    let bearer = format!("Bearer {}", session["token"].as_str().unwrap());
    let me = city.send("GET", "/auth/me", Some(&bearer), None).await;
    assert_eq!((me.status, me.json()["role"].clone()), (StatusCode::OK, json!("reviewer")));

    // Wrong password, unknown user, a disabled account: the same 401 and the same words.
    let refuse = |user: &'static str, password: &'static str| {
        let city = &city;
        async move {
            let a = city
                .call(Caller::Anonymous, "POST", "/auth/login", Some(json!({ "user": user, "password": password })))
                .await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{user}: {}", a.text());
            a.json()["message"].as_str().unwrap().to_string()
        }
    };
    let wrong = refuse("reviewer-here", "not-the-password").await;
    assert_eq!(refuse("nobody-at-all", REVIEWER_PASSWORD).await, wrong);
    assert!(!wrong.contains("reviewer-here"));
    store.set_user_disabled("reviewer-here", true).await.unwrap();
    assert_eq!(refuse("reviewer-here", REVIEWER_PASSWORD).await, wrong);
    // Its session ends at once, on this server and any other.
    let me = city.send("GET", "/auth/me", Some(&bearer), None).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text());
    store.set_user_disabled("reviewer-here", false).await.unwrap();
    assert_eq!(city.send("GET", "/auth/me", Some(&bearer), None).await.status, StatusCode::OK);
    // A session signed with another key, or tampered with, is refused.
    let forged = {
        let t = session["token"].as_str().unwrap();
        let (head, rest) = t.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims =
            json!({ "sub": "reviewer-here", "role": "admin", "centres": [], "iat": 1, "exp": 4_000_000_000u64 });
        format!("Bearer {head}.{}.{sig}", engine.encode(claims.to_string()))
    };
    assert_eq!(city.send("GET", "/auth/me", Some(&forged), None).await.status, StatusCode::UNAUTHORIZED);
    for bad in ["Bearer nonsense-token-0123456789", "Basic bm90OmdpdmVu", "Digest x"] {
        assert_eq!(city.send("GET", "/health", Some(bad), None).await.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    // A method a route does not take is 405, whoever asks (not a policy refusal, not a 500).
    for (method, uri) in
        [("TRACE", "/health"), ("DELETE", "/collections"), ("PUT", "/auth/login"), ("POST", "/track/x")]
    {
        for caller in [Caller::Anonymous, Caller::Admin] {
            let a = city.call(caller, method, uri, None).await;
            assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri} as {caller:?}: {}", a.text());
        }
    }
    for body in [json!({ "user": "x" }), json!("text"), json!({ "user": 1, "password": 2 })] {
        assert_eq!(
            city.call(Caller::Anonymous, "POST", "/auth/login", Some(body)).await.status,
            StatusCode::BAD_REQUEST
        );
    }

    // The applicant: by tracking code and secret, as Basic or through the login.
    let applicant = login(&city, &city.dossier, &city.secret).await;
    assert_eq!((applicant["role"].clone(), applicant["dossier"].clone()), (json!("applicant"), json!(city.dossier)));
    let own = city
        .send(
            "GET",
            &format!("/dossiers/{}", city.dossier),
            Some(&format!("Bearer {}", applicant["token"].as_str().unwrap())),
            None,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text());
    assert!(own.text().contains(NAME));
    let wrong_secret = basic(&city.dossier, "0123456789abcdef0123456789abcdef");
    assert_eq!(
        city.send("GET", &format!("/dossiers/{}", city.dossier), Some(&wrong_secret), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (other, other_secret) = city.file(&city.other_centre).await;
    let a = city.send("GET", &format!("/dossiers/{other}"), Some(&basic(&city.dossier, &city.secret)), None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    let a = city.send("GET", &format!("/dossiers/{other}"), Some(&basic(&other, &other_secret)), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());

    // Planners read dossiers without personal data; reviewers only those of their centres.
    let planned = city.call(Caller::Planner, "GET", &format!("/dossiers/{other}"), None).await;
    assert_eq!(planned.status, StatusCode::OK);
    assert!(!planned.text().contains(NAME) && planned.json()["dossier"]["applicant"].is_null());
    let elsewhere = city.call(Caller::ReviewerElsewhere, "GET", &format!("/dossiers/{other}"), None).await;
    assert_eq!(elsewhere.status, StatusCode::OK);
    assert!(elsewhere.text().contains(NAME));
    assert_eq!(
        city.call(Caller::ReviewerHere, "GET", &format!("/dossiers/{other}"), None).await.status,
        StatusCode::FORBIDDEN
    );
    // Unknown dossiers are 404 for whoever may read dossiers.
    assert_eq!(
        city.call(Caller::ReviewerHere, "GET", "/dossiers/CB-NONE-NONE", None).await.status,
        StatusCode::NOT_FOUND
    );

    // Counter intake: a reviewer for their own centre, an admin for any; not a planner.
    let counter = |centre: &str| {
        json!({ "procedure_code": "BLU-01", "parcels": ["RL-1"], "channel": "counter", "centre_id": centre,
                "applicant": { "name": NAME } })
    };
    for (caller, centre, status) in [
        (Caller::Anonymous, CENTRE, StatusCode::UNAUTHORIZED),
        (Caller::Planner, CENTRE, StatusCode::FORBIDDEN),
        (Caller::ReviewerHere, city.other_centre.as_str(), StatusCode::FORBIDDEN),
        (Caller::ReviewerHere, CENTRE, StatusCode::CREATED),
        (Caller::Admin, city.other_centre.as_str(), StatusCode::CREATED),
    ] {
        let a = city.call(caller, "POST", "/dossiers", Some(counter(centre))).await;
        assert_eq!(a.status, status, "{caller:?} at {centre}: {}", a.text());
        if status == StatusCode::CREATED {
            let id = a.json()["tracking_code"].as_str().unwrap().to_string();
            let event = store
                .query(
                    LayerId::PermitEvents,
                    &urbis_store::Query::all().filter(urbis_store::AttributeFilter::new(
                        "permit_id",
                        urbis_store::Comparison::Eq,
                        id.as_str(),
                    )),
                )
                .await
                .unwrap();
            let actor = event[0].text("actor").unwrap().to_string();
            assert!(
                actor.starts_with("counter (reviewer:reviewer-here") || actor.starts_with("counter (admin:admin-one"),
                "{actor}"
            );
        }
    }
    // A transition by a reviewer names the account in the history.
    let (fresh, _) = city.file(CENTRE).await;
    let a = city
        .call(
            Caller::ReviewerHere,
            "POST",
            &format!("/dossiers/{fresh}/transitions"),
            Some(json!({ "to": "in_review" })),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let view = city.call(Caller::Admin, "GET", &format!("/dossiers/{fresh}"), None).await.json();
    assert_eq!(view["history"][1]["actor"], "reviewer:reviewer-here");

    // Analysis writes need a planner or an admin.
    let write = json!({ "write": true });
    assert_eq!(
        city.call(Caller::Anonymous, "POST", "/analysis/coverage", Some(write.clone())).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        city.call(Caller::ReviewerHere, "POST", "/analysis/coverage", Some(write)).await.status,
        StatusCode::FORBIDDEN
    );

    // The accounts in the store: unique names, listed by name, never a plain password.
    let again = User {
        name: "admin-one".into(),
        role: "admin".into(),
        centres: vec![],
        password_hash: hash_password("x-password-123").unwrap(),
        created: "2026-11-23T11:00:00.000Z".into(),
        disabled: false,
    };
    assert!(matches!(store.add_user(&again).await, Err(StoreError::DuplicateUser { .. })));
    let bad = User { name: "has space".into(), ..again.clone() };
    assert!(matches!(store.add_user(&bad).await, Err(StoreError::InvalidUser { .. })));
    assert!(matches!(store.set_user_disabled("nobody", true).await, Err(StoreError::UnknownUser { .. })));
    let users = store.list_users().await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["admin-one", "reviewer-here"]);
    assert_eq!(users[1].centres, [CENTRE]);
    assert!(users.iter().all(|u| u.password_hash.starts_with("$argon2id$") && !u.disabled));
    assert_eq!(users[0].created, "2026-11-23T10:00:00.000Z");
    let one = store.get_user("reviewer-here").await.unwrap().unwrap();
    assert_eq!(one, users[1]);
    assert!(store.get_user("nobody").await.unwrap().is_none());

    login_rate_limit(&city).await;
}

/// A login from a client address (as `axum::serve` with the connect info passes it).
async fn login_from(city: &City, address: &str, user: &str, password: &str) -> (StatusCode, Option<u64>, Value) {
    let body = json!({ "user": user, "password": password }).to_string();
    let request = Request::builder()
        .method("POST")
        .uri("/auth/login")
        .header("content-type", "application/json")
        .extension(ConnectInfo(address.parse::<SocketAddr>().unwrap()))
        .body(Body::from(body))
        .unwrap();
    let response = city.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, retry, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Five failed logins a minute per client address, twenty per user name from all addresses,
/// then 429 with Retry-After, even for the right password; other names and addresses are not held up.
async fn login_rate_limit(city: &City) {
    let limit = urbis_server::auth::LOGIN_FAILURES;
    let per_name = urbis_server::auth::LOGIN_FAILURES_PER_NAME;
    // Per user name: failures from as many addresses (one each, so no address is held up).
    for i in 0..per_name {
        let (status, _, _) = login_from(city, &format!("198.51.100.{i}:4000"), "admin-one", "wrong-password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    let (status, retry, body) = login_from(city, "198.51.100.99:4000", "admin-one", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "Retry-After: {retry:?}");
    assert_eq!(body["code"], "too_many_requests");
    assert!(body["message"].as_str().unwrap().contains("too many failed logins"), "{body}");
    // Another account is not held up by them.
    let (status, _, body) = login_from(city, "198.51.100.99:4000", "reviewer-here", REVIEWER_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Per address: five names tried from one address; a sixth name from it is refused, from
    // another address it is answered (401: no such account).
    for i in 0..limit {
        let (status, _, _) = login_from(city, "203.0.113.7:5000", &format!("guess-{i}"), "password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let (status, retry, _) = login_from(city, "203.0.113.7:5001", "guess-new", "password").await;
    assert_eq!((status, retry.is_some()), (StatusCode::TOO_MANY_REQUESTS, true));
    let (status, _, _) = login_from(city, "203.0.113.8:5000", "guess-new", "password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The right password of an account not held up, from the address that is: refused too.
    let (status, _, _) = login_from(city, "203.0.113.7:5002", "reviewer-here", REVIEWER_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // One address cannot lock a colleague out: its failures at a name leave the name usable from
    // elsewhere.
    for i in 0..limit {
        let (status, _, _) = login_from(city, "192.0.2.50:6000", "reviewer-here", "not-the-password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    let (status, _, _) = login_from(city, "192.0.2.50:6001", "reviewer-here", REVIEWER_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, body) = login_from(city, "192.0.2.51:6000", "reviewer-here", REVIEWER_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// An admin manages the staff accounts over HTTP: adds one (a password generated and shown once),
/// lists them without hashes, disables one (its session ends at once) and enables it again; bad
/// requests are named; no admin can disable their own account.
async fn accounts_over_http(store: Arc<dyn Store>, dir: &Path) {
    let city = city(store.clone(), dir).await;
    let add = |body: Value| city.call(Caller::Admin, "POST", "/admin/users", Some(body));
    let a = add(json!({ "name": "r.okafor", "role": "reviewer", "centres": [CENTRE] })).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let added = a.json();
    assert_eq!((added["role"].clone(), added["centres"].clone()), (json!("reviewer"), json!([CENTRE])));
    assert_eq!(a.location.as_deref(), Some("/admin/users/r.okafor"));
    let password = added["password"].as_str().unwrap().to_string();
    assert!(password.len() >= urbis_server::accounts::MIN_PASSWORD_CHARS, "{password}");
    // The new account logs in as what it was made.
    let session = login(&city, "r.okafor", &password).await;
    assert_eq!((session["role"].clone(), session["centres"].clone()), (json!("reviewer"), json!([CENTRE])));
    let bearer = format!("Bearer {}", session["token"].as_str().unwrap());
    // A given password is kept (as a hash) and not shown back.
    let a = add(json!({ "name": "p.lindqvist", "role": "planner", "password": "chosen-password-42" })).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert!(a.json().get("password").is_none(), "{}", a.text());
    assert_eq!(login(&city, "p.lindqvist", "chosen-password-42").await["role"], "planner");

    // The list: every account, no hash, no password.
    let list = city.call(Caller::Admin, "GET", "/admin/users", None).await;
    assert_eq!(list.status, StatusCode::OK);
    let names: Vec<String> =
        list.json()["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_string()).collect();
    for name in ["admin-one", "reviewer-here", "r.okafor", "p.lindqvist"] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }
    assert!(!list.text().contains("argon2") && !list.text().contains(&password), "{}", list.text());

    // Bad requests, each named.
    for (body, status, words) in [
        (
            json!({ "name": "r.okafor", "role": "planner", "password": "another-password-1" }),
            StatusCode::CONFLICT,
            "already",
        ),
        (json!({ "name": "x.owner", "role": "owner" }), StatusCode::BAD_REQUEST, "`role`: `owner` is not a role"),
        (
            json!({ "name": "x.applicant", "role": "applicant" }),
            StatusCode::BAD_REQUEST,
            "`role`: `applicant` has no accounts",
        ),
        (json!({ "name": "x.rev", "role": "reviewer" }), StatusCode::BAD_REQUEST, "`centres`: a reviewer needs"),
        (
            json!({ "name": "x.plan", "role": "planner", "centres": [CENTRE] }),
            StatusCode::BAD_REQUEST,
            "`centres`: only reviewers",
        ),
        (
            json!({ "name": "x.rev", "role": "reviewer", "centres": ["osc-nowhere"] }),
            StatusCode::BAD_REQUEST,
            "`centres`: `osc-nowhere`",
        ),
        (json!({ "name": "x y", "role": "admin" }), StatusCode::BAD_REQUEST, "`name`: `x y`"),
        (
            json!({ "name": "x.short", "role": "admin", "password": "short" }),
            StatusCode::BAD_REQUEST,
            "`password`: the password needs at least 12",
        ),
        (
            json!({ "name": "x.typo", "role": "admin", "pasword": "a-long-enough-password" }),
            StatusCode::BAD_REQUEST,
            "pasword",
        ),
    ] {
        let a = add(body.clone()).await;
        assert_eq!(a.status, status, "{body}: {}", a.text());
        assert!(a.json()["message"].as_str().unwrap().contains(words), "{body}: {}", a.text());
    }
    assert!(store.get_user("x.rev").await.unwrap().is_none());

    // Disabled: the session stops at once and the login fails; enabled again, it logs in.
    let patch = |name: &str, body: Value| {
        let uri = format!("/admin/users/{name}");
        let city = &city;
        async move { city.call(Caller::Admin, "PATCH", &uri, Some(body)).await }
    };
    let a = patch("r.okafor", json!({ "disabled": true })).await;
    assert_eq!((a.status, a.json()["disabled"].clone()), (StatusCode::OK, json!(true)), "{}", a.text());
    assert_eq!(city.send("GET", "/auth/me", Some(&bearer), None).await.status, StatusCode::UNAUTHORIZED);
    let refused = city
        .call(Caller::Anonymous, "POST", "/auth/login", Some(json!({ "user": "r.okafor", "password": password })))
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let a = patch("r.okafor", json!({ "disabled": false })).await;
    assert_eq!((a.status, a.json()["disabled"].clone()), (StatusCode::OK, json!(false)), "{}", a.text());
    assert_eq!(login(&city, "r.okafor", &password).await["user"], "r.okafor");
    // Not one's own account; not an account that does not exist; not a body that says nothing.
    let own = patch("admin-one", json!({ "disabled": true })).await;
    assert_eq!(own.status, StatusCode::CONFLICT, "{}", own.text());
    assert!(!store.get_user("admin-one").await.unwrap().unwrap().disabled);
    assert_eq!(patch("nobody-here", json!({ "disabled": true })).await.status, StatusCode::NOT_FOUND);
    assert_eq!(patch("r.okafor", json!({ "enabled": true })).await.status, StatusCode::BAD_REQUEST);
}
