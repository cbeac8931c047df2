//! `urbis`: the one binary. It parses the command line and wires the crates together; the work
//! is done in urbis-store, urbis-import and urbis-server.

mod config;
mod coverage;
mod demo;
mod progress;
mod tiles_export;
mod users;
mod web;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use urbis_core::LayerId;
use urbis_import::{ImportOptions, Mapping};

use crate::config::{pick, FileConfig, DEFAULT_BIND};

// mimalloc, not the system allocator: an import allocates and frees millions of small values
// (attributes, rings) on every core, which glibc's allocator serves far more slowly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "urbis", version, about = "Urban-planning GIS: parcels, zoning, networks, permits and service access")]
struct Cli {
    /// Config file (TOML: store, bind, data_samples). Default: ./urbis.toml if present.
    #[arg(long, global = true, env = "URBIS_CONFIG")]
    config: Option<PathBuf>,
    /// The key that signs login sessions (at least 32 characters; also `jwt_secret` in the config
    /// file). Without one, `serve` and `demo` make one up at start: sessions then end when the
    /// server stops, and servers behind one address do not accept each other's.
    #[arg(long, global = true, env = "URBIS_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Reverse proxies in front of `serve` or `demo` (IP addresses, repeat or separate with commas;
    /// also `trusted_proxies` in the config file): a request from one of them counts, for the
    /// login limit and the log, as coming from the client its `X-Forwarded-For` names.
    #[arg(long = "trusted-proxy", global = true, env = "URBIS_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<std::net::IpAddr>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the demo city (Cambridge, MA) on first run, then serve it.
    Demo {
        /// The demo GeoPackage; built if missing.
        #[arg(long, default_value = "urbis-demo.gpkg")]
        store: PathBuf,
        #[arg(long, env = "URBIS_BIND")]
        bind: Option<String>,
        /// The demo's data folder (default: data-samples/ of this repository).
        #[arg(long)]
        data_samples: Option<PathBuf>,
        /// Build the GeoPackage anew even if it exists.
        #[arg(long)]
        rebuild: bool,
        /// Build only; do not serve.
        #[arg(long)]
        no_serve: bool,
        /// The map's web folder (default: web/ here or in the source tree); its JavaScript is
        /// installed with `npm ci` when missing.
        #[arg(long, env = "URBIS_WEB_DIR")]
        web_dir: Option<PathBuf>,
        /// A token for automation, ROLE:TOKEN (roles: admin, planner, reviewer@CENTRE+CENTRE,
        /// viewer; editor is the old name of planner); repeat the flag, or separate tokens with
        /// commas in URBIS_TOKENS. Default: one planner token, generated and printed at start.
        #[arg(long = "token", env = "URBIS_TOKENS", value_delimiter = ',', hide_env_values = true)]
        tokens: Vec<String>,
    },
    /// Serve a store over HTTP.
    Serve {
        /// GeoPackage file or postgres:// URL.
        #[arg(long, env = "URBIS_STORE")]
        store: Option<String>,
        #[arg(long, env = "URBIS_BIND")]
        bind: Option<String>,
        /// A token for automation, ROLE:TOKEN (roles: admin, planner, reviewer@CENTRE+CENTRE,
        /// viewer; editor is the old name of planner; TOKEN may be an argon2 hash of the token);
        /// repeat the flag, or separate tokens with commas in URBIS_TOKENS.
        #[arg(long = "token", env = "URBIS_TOKENS", value_delimiter = ',', hide_env_values = true)]
        tokens: Vec<String>,
        /// The map's web folder, served at /map/ (default: web/ here or in the source tree).
        #[arg(long, env = "URBIS_WEB_DIR")]
        web_dir: Option<PathBuf>,
        /// The in-memory tile cache, in MiB (default 256); 0 turns it off.
        #[arg(long, env = "URBIS_TILE_CACHE_MB")]
        tile_cache_mb: Option<u64>,
    },
    /// Import a file into a layer: GeoJSON, TopoJSON, GeoPackage, Shapefile, CSV, OSM PBF
    /// (and every format GDAL reads when built with --features gdal).
    Import {
        #[arg(long, env = "URBIS_STORE")]
        store: Option<String>,
        /// parcels, zoning_districts, zoning_overlays, roads, utilities, service_centres,
        /// buildings, procedures, permits or permit_events.
        #[arg(long)]
        layer: LayerId,
        /// Mapping from source fields to layer fields (TOML).
        #[arg(long = "map")]
        mapping: Option<PathBuf>,
        /// Write the valid features; save the rejected ones with their reasons next to the input.
        #[arg(long)]
        skip_invalid: bool,
        /// Rebuild self-intersecting polygons instead of rejecting them (counted as repaired).
        #[arg(long)]
        make_valid: bool,
        /// Empty the layer first (in the same transaction).
        #[arg(long)]
        replace: bool,
        /// The source CRS when the file does not say (e.g. EPSG:2249).
        #[arg(long)]
        source_crs: Option<String>,
        /// Folder for the report of rejected features (default: next to the input).
        #[arg(long)]
        report_dir: Option<PathBuf>,
        file: PathBuf,
    },
    /// Create or update the PostGIS schema (the GeoPackage needs none).
    Migrate {
        #[arg(long, env = "URBIS_STORE")]
        store: Option<String>,
    },
    /// Service access: coverage of the parcels by the service centres on the road network,
    /// isochrones, uncovered areas, and where to put new centres (--suggest K).
    Coverage(coverage::CoverageArgs),
    /// Each layer with its feature count.
    Layers {
        #[arg(long, env = "URBIS_STORE")]
        store: Option<String>,
    },
    /// Vector tile archives: `urbis tiles export --format mbtiles|pmtiles …`.
    Tiles {
        #[command(subcommand)]
        action: tiles_export::TilesAction,
    },
    /// Staff accounts (reviewers, planners, admins) in a store: add, list, disable, enable.
    Users {
        #[command(subcommand)]
        action: users::UsersAction,
    },
    /// Audit the permits' records.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Check every dossier's hash-chained history; name the first broken link of each broken
    /// chain and exit with an error if there is any.
    Verify {
        #[arg(long, env = "URBIS_STORE")]
        store: Option<String>,
        /// Only this dossier (its id).
        #[arg(long)]
        dossier: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("URBIS_LOG").unwrap_or_else(|_| "urbis=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut file = FileConfig::load(cli.config.as_deref())?;
    // The flag or the environment beats the file.
    file.jwt_secret = cli.jwt_secret.clone().or(file.jwt_secret);
    if !cli.trusted_proxies.is_empty() {
        file.trusted_proxies = Some(cli.trusted_proxies.clone());
    }
    match cli.command {
        Command::Demo { store, bind, data_samples, rebuild, no_serve, tokens, web_dir } => {
            let samples = pick(data_samples, file.data_samples.clone(), default_samples)
                .context("cannot find the demo's data-samples/ folder: pass --data-samples")?;
            let store = build_demo(&store, &samples, rebuild).await?;
            if !no_serve {
                let mut auth = auth(tokens, &file)?;
                let bind = pick(bind, file.bind.clone(), || Some(DEFAULT_BIND.into())).unwrap_or_default();
                if auth.is_empty() {
                    // The demo is for trying things, editing included: a fresh planner token.
                    let token = format!("{:032x}", rand::random::<u128>());
                    auth = self::auth(vec![format!("planner:{token}")], &file)?;
                    eprintln!(
                        "Demo planner token (valid until urbis stops): send `Authorization: Bearer {token}` \
                         with POST, PUT, PATCH and DELETE on /collections/{{layer}}/items; --token planner:… sets your own"
                    );
                }
                // The demo's accounts, for logging in (POST /auth/login, the reviewer pages).
                let accounts = users::seed_demo(store.as_ref()).await?;
                eprintln!("Demo accounts (DEMO ONLY: known passwords; never use them on a real store):");
                for (name, role, centres, password) in &accounts {
                    let of = if centres.is_empty() { String::new() } else { format!(" of {}", centres.join(", ")) };
                    eprintln!("  {name:<28} {password:<24} {role}{of}");
                }
                let web_dir = web::web_dir(web_dir, file.web_dir.clone());
                if let Some(dir) = &web_dir {
                    // Without MapLibre the map's page says how to install it; the rest still serves.
                    if let Err(e) = web::install(dir) {
                        eprintln!("The map will not work: {e:#}");
                    }
                }
                serve(store, &bind, auth, web::assets(web_dir)?).await?;
            }
        }
        Command::Serve { store, bind, tokens, web_dir, tile_cache_mb } => {
            if let Some(mb) = tile_cache_mb.or(file.tile_cache_mb) {
                urbis_server::tiles::set_cache_mb(mb);
            }
            let auth = auth(tokens, &file)?;
            let web = web::assets(web::web_dir(web_dir, file.web_dir.clone()))?;
            let store = open(store_location(store, &file)?).await?;
            let bind = pick(bind, file.bind, || Some(DEFAULT_BIND.into())).unwrap_or_default();
            serve(store, &bind, auth, web).await?;
        }
        Command::Import {
            store,
            layer,
            mapping,
            skip_invalid,
            make_valid,
            replace,
            source_crs,
            report_dir,
            file: input,
        } => {
            let store = open(store_location(store, &file)?).await?;
            let mut mapping = match mapping {
                Some(p) => Mapping::from_toml_file(&p).map_err(|e| anyhow::anyhow!("{e}"))?,
                None => Mapping::default(),
            };
            if source_crs.is_some() {
                mapping.source_crs = source_crs;
            }
            let options = ImportOptions { layer, mapping, skip_invalid, make_valid, replace, report_dir };
            let bar =
                progress::Bar::new(input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            let started = std::time::Instant::now();
            let result = urbis_import::import_file(&*store, &input, &options, &bar).await;
            drop(bar);
            match result {
                Ok(s) => {
                    println!(
                        "{}: {} read, {} written into {} ({} repaired: {}), {} rejected{} in {:.2} s",
                        input.display(),
                        s.read,
                        s.written,
                        layer,
                        s.repaired,
                        s.repairs,
                        s.rejected,
                        s.report.as_ref().map(|r| format!(" (reasons in {})", r.display())).unwrap_or_default(),
                        started.elapsed().as_secs_f64()
                    );
                }
                Err(urbis_import::ImportError::Rejected { file, rejections }) => {
                    eprintln!("{}: {} feature(s) rejected; nothing was written:", file.display(), rejections.len());
                    for r in rejections.iter().take(50) {
                        eprintln!(
                            "  feature {} ({}): {}: {}",
                            r.index,
                            r.id.as_deref().unwrap_or("no id"),
                            r.field,
                            r.reason
                        );
                    }
                    if rejections.len() > 50 {
                        eprintln!("  … and {} more", rejections.len() - 50);
                    }
                    bail!("import refused; fix the input, or pass --skip-invalid to write the valid features and save the rest with their reasons");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::Migrate { store } => {
            let location = store_location(store, &file)?;
            if location.starts_with("postgres://") || location.starts_with("postgresql://") {
                urbis_store::postgis::migrate(&location).await?;
                println!("PostGIS schema is up to date");
            } else {
                // Opening a GeoPackage creates or checks its tables; there is nothing to migrate.
                let store = open(location).await?;
                println!("{} is an urbis GeoPackage; nothing to migrate", store.location());
            }
        }
        Command::Coverage(args) => {
            let store = open(store_location(args.store.clone(), &file)?).await?;
            coverage::command(args, &*store).await?;
        }
        Command::Layers { store } => {
            let store = open(store_location(store, &file)?).await?;
            for c in store.layers().await? {
                println!("{:<18} {:>8}", c.layer.name(), c.count);
            }
        }
        Command::Tiles { action: tiles_export::TilesAction::Export(args) } => {
            let store = open(store_location(args.store.clone(), &file)?).await?;
            tiles_export::export(&*store, args).await?;
        }
        Command::Users { action } => {
            let store = open(store_location(action.store(), &file)?).await?;
            users::command(action, store.as_ref()).await?;
        }
        Command::Audit { action: AuditAction::Verify { store, dossier } } => {
            let store = open(store_location(store, &file)?).await?;
            let report = urbis_server::permits::verify_all(store.as_ref(), dossier.as_deref()).await?;
            for broken in &report.broken {
                println!("BROKEN {broken}");
            }
            for orphan in &report.orphan_events {
                println!("ORPHAN event `{orphan}`: its dossier does not exist");
            }
            println!(
                "{} dossiers, {} histories, {} links checked: {} broken, {} orphan events",
                report.dossiers,
                report.chains,
                report.links,
                report.broken.len(),
                report.orphan_events.len()
            );
            if !report.broken.is_empty() || !report.orphan_events.is_empty() {
                bail!("{} dossier histories do not verify", report.broken.len() + report.orphan_events.len());
            }
        }
    }
    Ok(())
}

fn store_location(flag: Option<String>, file: &FileConfig) -> anyhow::Result<String> {
    pick(flag, file.store.clone(), || None).context(
        "no store given: pass --store <file.gpkg | postgres://…>, set URBIS_STORE, or put `store` in urbis.toml",
    )
}

/// The tokens that may write: from `--token` or `URBIS_TOKENS`, else the config file's `tokens`.
fn auth(flag_or_env: Vec<String>, file: &FileConfig) -> anyhow::Result<urbis_server::auth::Auth> {
    let flag_or_env = Some(flag_or_env).filter(|t| !t.is_empty());
    let specs = pick(flag_or_env, file.tokens.clone(), || None).unwrap_or_default();
    let auth = urbis_server::auth::Auth::from_specs(&specs)
        .context("the tokens given with --token, URBIS_TOKENS or `tokens`")?
        .with_trusted_proxies(file.trusted_proxies.clone().unwrap_or_default());
    match &file.jwt_secret {
        Some(secret) => {
            auth.with_jwt_secret(secret).context("the JWT secret (--jwt-secret, URBIS_JWT_SECRET or `jwt_secret`)")
        }
        None => Ok(auth),
    }
}

async fn open(location: String) -> anyhow::Result<Arc<dyn urbis_store::Store>> {
    let store = urbis_store::open(&location).await.with_context(|| format!("opening the store {location}"))?;
    Ok(Arc::from(store))
}

/// data-samples/ beside the current folder or the source tree this binary was built from.
fn default_samples() -> Option<PathBuf> {
    let here = PathBuf::from("data-samples");
    if here.join("mappings").is_dir() {
        return Some(here);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples");
    built.join("mappings").is_dir().then_some(built)
}

/// Builds the demo GeoPackage into a temporary file and moves it into place only when complete,
/// so that a failed or interrupted build never leaves a half-built city behind.
async fn build_demo(path: &Path, samples: &Path, rebuild: bool) -> anyhow::Result<Arc<dyn urbis_store::Store>> {
    if path.exists() && !rebuild {
        eprintln!("Using the demo city in {} (pass --rebuild to build it anew)", path.display());
        return open(path.display().to_string()).await;
    }
    let partial = path.with_extension("gpkg.partial");
    let _ = std::fs::remove_file(&partial);
    let started = std::time::Instant::now();
    eprintln!("Building the demo city (Cambridge, MA) into {} …", path.display());
    let store = urbis_store::gpkg::GpkgStore::open(&partial).await?;
    let bar = progress::Bar::new("demo city");
    let summary = demo::build(&store, samples, &bar).await;
    drop(bar);
    store.close().await;
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context("building the demo city"));
        }
    };
    std::fs::rename(&partial, path).with_context(|| format!("moving the demo city into {}", path.display()))?;
    eprintln!("{summary}");
    eprintln!("Built in {:.1} s", started.elapsed().as_secs_f64());
    open(path.display().to_string()).await
}

async fn serve(
    store: Arc<dyn urbis_store::Store>,
    bind: &str,
    auth: urbis_server::auth::Auth,
    web: urbis_server::web::WebAssets,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("listening on {bind}"))?;
    let addr = listener.local_addr()?;
    println!("urbis is serving {} at http://{addr}/", store.location());
    if web.web_dir.is_some() {
        // On stderr: stdout's first line is the one that scripts read the address from.
        eprintln!("The zoning map: http://{addr}/map/");
    }
    tracing::info!("configured tokens: {}", auth.summary());
    if auth.generated_secret() {
        tracing::warn!(
            "no JWT secret configured (--jwt-secret, URBIS_JWT_SECRET or `jwt_secret`): sessions end when this server \
             stops and other servers do not accept them"
        );
    }
    urbis_server::serve_with_web(store, auth, web, listener, shutdown_signal()).await?;
    eprintln!("urbis stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight, exit 0.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
