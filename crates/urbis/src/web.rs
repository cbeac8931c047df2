//! Where the map's pages come from: the `web/` folder (flag `--web-dir`, `URBIS_WEB_DIR`, the
//! config file's `web_dir`, else `web/` beside the current folder or the source tree this binary
//! was built from), and, for `urbis demo`, installing its JavaScript with `npm ci` when missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use urbis_server::web::WebAssets;

/// The web folder, the first of: flag or environment, config file, `./web`, the source tree's.
pub fn web_dir(flag_or_env: Option<PathBuf>, file: Option<PathBuf>) -> Option<PathBuf> {
    crate::config::pick(flag_or_env, file, || {
        let here = PathBuf::from("web");
        if here.join("index.html").is_file() {
            return Some(here);
        }
        let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
        built.join("index.html").is_file().then_some(built)
    })
}

/// What the server needs to serve the map from `dir`.
pub fn assets(dir: Option<PathBuf>) -> anyhow::Result<WebAssets> {
    let web_dir = match dir {
        Some(d) if !d.join("index.html").is_file() => {
            bail!("{} is not the map's web folder (it has no index.html)", d.display())
        }
        Some(d) => Some(d.canonicalize().with_context(|| format!("the web folder {}", d.display()))?),
        None => None,
    };
    Ok(WebAssets { web_dir, ..WebAssets::default() })
}

/// Runs `npm ci` (runtime packages only) in `dir` when MapLibre is not installed there.
pub fn install(dir: &Path) -> anyhow::Result<()> {
    if WebAssets::is_installed(dir) {
        return Ok(());
    }
    eprintln!("Installing the map's JavaScript (MapLibre GL JS) with `npm ci` in {} …", dir.display());
    let status = Command::new("npm")
        .args(["ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        // npm's report goes to stderr: stdout's first line is the server's address.
        .stdout(std::io::stderr())
        .status()
        .context("running npm (install Node.js and npm to serve the map)")?;
    if !status.success() {
        bail!("`npm ci` in {} failed ({status})", dir.display());
    }
    if !WebAssets::is_installed(dir) {
        bail!("`npm ci` in {} did not install maplibre-gl", dir.display());
    }
    Ok(())
}
