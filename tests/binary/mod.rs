//! What the tests of the `urbis` command share: the binary with a clean environment, a real
//! server on a free loopback port (stopped when the test ends, passed or not), the demo city's
//! zoning districts imported as a planner would.

#![allow(dead_code)] // each test target uses part of this module

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The `urbis` binary under test, with no configuration from the environment.
pub fn urbis() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_urbis"));
    c.env("URBIS_LOG", "warn").env_remove("URBIS_STORE").env_remove("URBIS_CONFIG").env_remove("URBIS_TOKENS");
    c
}

/// Runs `cmd`; whether it succeeded, and what it printed on stdout and stderr.
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("urbis runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Imports the Cambridge zoning districts (261, the demo's mapping) into `store`.
pub fn import_zoning(store: &str) {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples");
    let (ok, out, err) = run(urbis()
        .args(["import", "--layer", "zoning_districts", "--store", store, "--map"])
        .arg(samples.join("mappings/zoning_districts.toml"))
        .arg(samples.join("cambridge/CDD_ZoningDistricts.geojson")));
    assert!(ok && out.contains("261 written"), "{out}{err}");
}

/// A running `urbis serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    /// Its root URL, without the trailing slash.
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `urbis serve` on `store` at a free loopback port, with `extra` arguments (tokens).
pub fn start_server(store: &Path, extra: &[&str]) -> Server {
    let mut child = urbis()
        .args(["serve", "--bind", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().trim_end_matches('/').to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    Server { child, url }
}
