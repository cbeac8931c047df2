//! A reviewer's day on the demo city, end to end against `urbis serve` in real headless Chromium
//! (web/tests/reviewer.mjs through playwright-core; issue 5, "It must show"): a reviewer signs in
//! on web/reviewer.html, opens the most urgent dossier of their queue, runs and sees its parcel
//! check, moves it to a decision with the buttons the page offers (a second, stale tab's move is
//! refused, naming the new stage and the allowed moves); the public tracking page
//! (web/track.html) then shows the new stage and nothing of the applicant, in its text or in any
//! response; the applicant of another dossier, decided meanwhile, rates the service there with
//! the secret. Afterwards the API agrees: the dossier is decided, its hash chain intact, its public
//! record free of personal data, the rating kept. Then an admin manages the staff accounts on
//! web/admin.html (web/tests/admin.mjs): adds a planner (the password the server made up, shown
//! once, logs in) and a reviewer, is told why a reviewer without a centre is refused, disables the
//! planner; the API agrees. Screenshots of the dossier page, the dashboard and the accounts go to
//! `<target>/tmp/reviewer_e2e/<store>/`.
//!
//! Needs what `tests/install-deps.sh` installs: Debian's chromium and fonts-dejavu-core, Node.js,
//! and web/node_modules (`npm ci` in web/).

#[allow(unused_macros)]
#[macro_use]
mod support;

mod binary;

#[macro_use]
#[path = "support/chromium.rs"]
mod chromium;

use std::path::Path;

use binary::start_server;
use serde_json::{json, Value};

/// The reviewer signing in: an account of the busiest one-stop centre, added to the demo store
/// the way a city adds one (`urbis users add … --password-stdin`).
const CENTRE: &str = "osc-city-hall";
const REVIEWER: &str = "reviewer-e2e";
const PASSWORD: &str = "e2e-reviewer-password-4711";
/// The admin of the accounts page, added the same way.
const ADMIN: &str = "admin-e2e";
const ADMIN_PASSWORD: &str = "e2e-admin-password-0815";

fn add_account(store: &str, name: &str, role: &str, password: &str) {
    use std::io::Write;
    let mut command = binary::urbis();
    command.args(["users", "add", "--store", store, "--name", name, "--role", role]);
    if role == "reviewer" {
        command.args(["--centre", CENTRE]);
    }
    let mut child = command
        .arg("--password-stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "urbis users add: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn call(method: reqwest::Method, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut r = reqwest::Client::new().request(method, url).header("accept", "application/json");
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// What the pages read, copied into PostGIS from the demo's GeoPackage.
const DEMO_LAYERS: &[&str] = &[
    "parcels",
    "buildings",
    "roads",
    "zoning_districts",
    "zoning_overlays",
    "utilities",
    "service_centres",
    "procedures",
    "permits",
    "permit_events",
];

on_both_kinds!(a_reviewer_decides_the_most_urgent_dossier);

fn a_reviewer_decides_the_most_urgent_dossier(postgis: bool) {
    chromium::node_modules(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = chromium::demo_store("reviewer_e2e", dir.path(), postgis, DEMO_LAYERS);
    add_account(&store, REVIEWER, "reviewer", PASSWORD);
    add_account(&store, ADMIN, "admin", ADMIN_PASSWORD);
    let web = chromium::web_dir();
    let server = start_server(Path::new(&store), &["--web-dir", web.to_str().unwrap()]);
    let base = &server.url;

    // The reviewer's own session, through the API: what the page will be checked against.
    let (status, text) = call(
        reqwest::Method::POST,
        &format!("{base}/auth/login"),
        None,
        Some(json!({ "user": REVIEWER, "password": PASSWORD })),
    );
    assert_eq!(status, 200, "{text}");
    let login = json_of(&text);
    let token = login["token"].as_str().unwrap().to_string();
    assert_eq!(login["centres"], json!([CENTRE]), "{login}");

    let artefacts = chromium::artefacts("reviewer_e2e", postgis);
    let summary = chromium::run_script("reviewer.mjs", &[base, &artefacts, &REVIEWER, &PASSWORD]);
    chromium::assert_screenshots(
        &artefacts,
        &["dossier.png", "dossier-phone.png", "tracking.png", "rating.png", "dashboard.png"],
    );

    // The API agrees with what the browser did.
    let id = summary["dossier"]["id"].as_str().unwrap();
    let code = summary["dossier"]["tracking_code"].as_str().unwrap();
    assert_eq!(summary["moves"].as_array().unwrap().last().unwrap(), "decided", "{summary}");
    // The stale page's move was refused with the stage the dossier is in and the allowed moves.
    assert!(
        summary["refused"].as_str().is_some_and(|r| r.contains("`decided`") && r.contains("delivered")),
        "{summary}"
    );
    assert!(summary["tracking"]["verified"].as_str().is_some_and(|v| v.starts_with("Intact")), "{summary}");
    let (status, text) = call(reqwest::Method::GET, &format!("{base}/dossiers/{id}"), Some(&token), None);
    assert_eq!(status, 200, "{text}");
    let dossier = json_of(&text);
    assert_eq!(dossier["dossier"]["stage"], "decided", "{dossier}");
    assert_eq!(dossier["dossier"]["decision"], "approved_with_conditions", "{dossier}");
    assert_eq!(dossier["allowed_transitions"], json!(["payment_requested", "delivered"]), "{dossier}");
    assert!(dossier["parcel_check"]["result"]["districts"].as_array().is_some_and(|d| !d.is_empty()), "{dossier}");
    let name = dossier["dossier"]["applicant"]["name"].as_str().unwrap().to_string();
    let (status, text) = call(reqwest::Method::GET, &format!("{base}/track/{code}"), None, None);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json_of(&text)["stage"], "decided");
    assert!(!text.contains(&name), "the public record names the applicant: {text}");
    let (_, text) = call(reqwest::Method::GET, &format!("{base}/track/{code}/verify"), None, None);
    assert_eq!(json_of(&text)["intact"], true, "{text}");
    // It left the reviewer's queue (open dossiers only).
    let (_, text) = call(reqwest::Method::GET, &format!("{base}/dossiers?limit=1000"), Some(&token), None);
    assert!(!json_of(&text)["dossiers"].as_array().unwrap().iter().any(|d| d["id"] == id), "still queued");
    // The applicant's rating given on the tracking page is the dossier's, for the dashboard.
    let rated = summary["rating"]["tracking_code"].as_str().unwrap();
    let (status, text) = call(reqwest::Method::GET, &format!("{base}/collections/permits/items/{rated}"), None, None);
    assert_eq!(status, 200, "{text}");
    assert_eq!(json_of(&text)["properties"]["satisfaction"], 5, "{text}");
    eprintln!("reviewer in Chromium: {summary}; screenshots in {}", artefacts.display());

    // The admin's page of accounts.
    let accounts =
        chromium::run_script("admin.mjs", &[base, &artefacts, &ADMIN, &ADMIN_PASSWORD, &REVIEWER, &PASSWORD]);
    chromium::assert_screenshots(&artefacts, &["admin.png", "admin-phone.png"]);
    assert_eq!(accounts["reviewerDenied"], true, "{accounts}");
    let (status, text) = call(
        reqwest::Method::POST,
        &format!("{base}/auth/login"),
        None,
        Some(json!({ "user": ADMIN, "password": ADMIN_PASSWORD })),
    );
    assert_eq!(status, 200, "{text}");
    let admin_token = json_of(&text)["token"].as_str().unwrap().to_string();
    let (status, text) = call(reqwest::Method::GET, &format!("{base}/admin/users"), Some(&admin_token), None);
    assert_eq!(status, 200, "{text}");
    let users = json_of(&text)["users"].as_array().unwrap().clone();
    let user = |name: &str| users.iter().find(|u| u["name"] == name).cloned().unwrap_or(Value::Null);
    assert_eq!(user("planner-e2e")["disabled"], true, "{text}");
    assert_eq!(user("reviewer-e2e-2")["centres"], json!([accounts["added"]["centre"]]), "{text}");
    assert_eq!(user("reviewer-nowhere"), Value::Null, "{text}");
    assert_eq!(users.len() as u64, accounts["accounts"].as_u64().unwrap() + 2, "{text}");
    eprintln!("admin in Chromium: {accounts}");
}
