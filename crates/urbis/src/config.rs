//! Settings, from lowest to highest precedence: built-in defaults, the config file
//! (`--config`, `URBIS_CONFIG`, or `./urbis.toml` if present), environment variables
//! (`URBIS_STORE`, `URBIS_BIND`, `URBIS_TOKENS`, `URBIS_TILE_CACHE_MB`, read by clap), then flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// The config file. Every key is optional.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// GeoPackage path or `postgres://` URL.
    pub store: Option<String>,
    /// Address to listen on.
    pub bind: Option<String>,
    /// The demo's data folder.
    pub data_samples: Option<PathBuf>,
    /// Tokens for automation, each `ROLE:TOKEN` (admin, planner, `reviewer@CENTRE+CENTRE`,
    /// viewer; `editor` is the old name of planner); TOKEN may be an argon2 hash of the token.
    pub tokens: Option<Vec<String>>,
    /// The map's web folder (served at /map/).
    pub web_dir: Option<PathBuf>,
    /// The in-memory tile cache of `urbis serve`, in MiB (default 256; 0 turns it off).
    pub tile_cache_mb: Option<u64>,
    /// The key that signs login sessions (at least 32 characters); see `--jwt-secret`.
    pub jwt_secret: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client; see `--trusted-proxy`.
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
}

impl FileConfig {
    /// Reads the config file named, or `./urbis.toml` if it exists, or nothing.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None if Path::new("urbis.toml").exists() => PathBuf::from("urbis.toml"),
            None => return Ok(FileConfig::default()),
        };
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }
}

/// The first value that is set: flag or environment (clap merges those), then file, then default.
pub fn pick<T: Clone>(flag_or_env: Option<T>, file: Option<T>, default: impl FnOnce() -> Option<T>) -> Option<T> {
    flag_or_env.or(file).or_else(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beats_default() {
        assert_eq!(pick(Some(1), Some(2), || Some(3)), Some(1));
        assert_eq!(pick(None, Some(2), || Some(3)), Some(2));
        assert_eq!(pick(None, None, || Some(3)), Some(3));
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let err = toml::from_str::<FileConfig>("stor = 'x.gpkg'").unwrap_err().to_string();
        assert!(err.contains("unknown field `stor`"), "{err}");
        let ok: FileConfig = toml::from_str("store = 'x.gpkg'\nbind = '127.0.0.1:9000'").unwrap();
        assert_eq!(ok.bind.as_deref(), Some("127.0.0.1:9000"));
        let with_tokens: FileConfig = toml::from_str("tokens = ['editor:0123456789abcdef']").unwrap();
        assert_eq!(with_tokens.tokens, Some(vec!["editor:0123456789abcdef".to_string()]));
    }
}
