//! What the tests of urbis's pages in headless Chromium share (tests/webmap.rs,
//! tests/coverage_view.rs, tests/reviewer_e2e.rs): the web folder and its npm packages, the demo
//! city built once per test binary (copied for a GeoPackage test, its layers moved into a fresh
//! PostGIS database for a PostGIS one), a folder for screenshots, and a script of `web/tests/`
//! run with Node (playwright-core driving Debian's chromium) whose last line is a JSON summary.
//!
//! A test target takes it with `#[path = "support/chromium.rs"] mod chromium;` beside
//! `mod support;` and `mod binary;`: it runs the `urbis` binary.
//!
//! Needs what `tests/install-deps.sh` installs: Debian's chromium and fonts-dejavu-core, Node.js,
//! and web/node_modules (`npm ci` in web/). Missing ones fail the test and say how to install them.

#![allow(dead_code)] // each test target uses part of this module

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::binary::{run, urbis};

/// Runs each named `fn(postgis: bool)` on the GeoPackage store and, with the `postgis-tests`
/// feature, on PostGIS.
#[allow(unused_macros)]
macro_rules! on_both_kinds {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn gpkg() {
                super::$name(false);
            }

            #[cfg(feature = "postgis-tests")]
            #[test]
            fn postgis() {
                super::$name(true);
            }
        }
    )*};
}

/// The repository's `web/` folder.
pub fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web").canonicalize().unwrap()
}

/// web/'s npm packages, with `extra` files of them that a test needs besides MapLibre and
/// playwright-core; says how to install them when missing (never skipped).
pub fn node_modules(extra: &[&str]) -> PathBuf {
    let modules = web_dir().join("node_modules");
    for m in ["maplibre-gl/dist/maplibre-gl.mjs", "playwright-core/package.json"].iter().chain(extra) {
        assert!(
            modules.join(m).exists(),
            "{} is missing: run `bash tests/install-deps.sh` (npm ci in web/)",
            modules.join(m).display()
        );
    }
    modules
}

/// `<target>/tmp/<name>`, where a test target keeps its demo city and screenshots.
pub fn target_tmp(name: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

/// Where a test's screenshots go: `<target>/tmp/<name>/<store kind>/`.
pub fn artefacts(name: &str, postgis: bool) -> PathBuf {
    target_tmp(name).join(if postgis { "postgis" } else { "gpkg" })
}

/// The demo city as `urbis demo` builds it, once per test binary, in `<target>/tmp/<name>/`.
pub fn demo_gpkg(name: &str) -> PathBuf {
    static DEMO: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DEMO.get_or_init(|| {
        let gpkg = target_tmp(name).join("demo.gpkg");
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples");
        let (ok, out, err) = run(urbis()
            .args(["demo", "--no-serve", "--rebuild", "--store"])
            .arg(&gpkg)
            .arg("--data-samples")
            .arg(&samples));
        assert!(ok, "urbis demo: {out}{err}");
        gpkg
    })
    .clone()
}

/// A store of the demo city for one test: a copy of the GeoPackage of its own (a server must
/// not see another test's writes), or a fresh PostGIS database holding the demo's `layers`,
/// copied through `urbis import` as a city would move to PostGIS.
pub fn demo_store(name: &str, dir: &Path, postgis: bool, layers: &[&str]) -> String {
    let gpkg = demo_gpkg(name);
    if !postgis {
        let copy = dir.join("demo.gpkg");
        std::fs::copy(&gpkg, &copy).unwrap();
        return copy.display().to_string();
    }
    let url = tokio::runtime::Runtime::new().unwrap().block_on(crate::support::fresh_database());
    let (ok, out, err) = run(urbis().args(["migrate", "--store", &url]));
    assert!(ok, "{out}{err}");
    for layer in layers {
        let mapping = dir.join(format!("{layer}.toml"));
        std::fs::write(&mapping, format!("id = \"id\"\nsource_layer = \"{layer}\"\n")).unwrap();
        let (ok, out, err) =
            run(urbis().args(["import", "--layer", layer, "--store", &url, "--map"]).arg(&mapping).arg(&gpkg));
        assert!(ok, "copying {layer} to PostGIS: {out}{err}");
    }
    url
}

/// Runs `web/tests/<script>` with Node and `args`; fails the test with what it printed unless it
/// succeeds, and returns the JSON summary on its last line.
pub fn run_script(script: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Value {
    let mut command = Command::new("node");
    command.arg(web_dir().join("tests").join(script)).current_dir(web_dir());
    for a in args {
        command.arg(a);
    }
    let out = command.output().expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script} failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{script}: the last line is not a JSON summary ({e}):\n{stdout}"))
}

/// Asserts that each screenshot in `folder` was written and holds a picture (over 10 kB).
pub fn assert_screenshots(folder: &Path, names: &[&str]) {
    for shot in names {
        let len = std::fs::metadata(folder.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 10_000, "{}: {len} bytes", folder.join(shot).display());
    }
}
