//! Brings the formats cities hold into urbis: one reader per format,
//! a mapping from source fields to layer fields, reprojection to WGS 84, validation with
//! unambiguous repairs, and an import that is all-or-nothing unless told to skip what is invalid.
//!
//! CONTRACT (the binary and the demo builder rely on these names):
//! - [`ImportOptions`], [`Mapping`] (loaded from TOML with [`Mapping::from_toml_file`]),
//! - [`import_file`] → [`ImportSummary`] or [`ImportError`],
//! - [`ImportProgress`], implemented by the binary with indicatif.
//!
//! Code map: `format` picks the reader; one module a format (`geojson`, `topojson`,
//! `gpkg`, `shapefile`, `csv`, `osm`, `gdal` behind the cargo feature) turns a file into
//! source features; `crs` reprojects them to WGS 84; `mapping` makes layer features of them;
//! `check` validates and repairs; `report` writes what was rejected.

mod check;
mod crs;
mod csv;
mod format;
#[cfg(feature = "gdal")]
mod gdal;
mod geojson;
mod gpkg;
mod mapping;
mod osm;
mod report;
mod shapefile;
mod source;
mod topojson;

use std::path::{Path, PathBuf};

use urbis_core::{LayerId, Repairs};
use urbis_store::Store;

/// How a source's fields become a layer's fields.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Source field that holds the stable id. Without it, ids are `<layer>-<n>` by position,
    /// or the source's own feature id where the format has one.
    pub id: Option<String>,
    /// layer field → source field.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
    /// layer field → constant value (e.g. `network = "water"` for a hydrant file).
    #[serde(default)]
    pub constants: std::collections::BTreeMap<String, toml::Value>,
    /// layer field → (source value → layer value): recodes values, e.g. a permit's `CaseStatus`
    /// "Approved" → stage "decided". Source values not listed pass through unchanged.
    #[serde(default)]
    pub values: std::collections::BTreeMap<String, std::collections::BTreeMap<String, toml::Value>>,
    /// The source CRS when the file does not say (EPSG code like `EPSG:2249`, or a PROJ string).
    pub source_crs: Option<String>,
    /// CSV: the column with WKT, or the longitude and latitude columns.
    pub wkt_column: Option<String>,
    pub lon_column: Option<String>,
    pub lat_column: Option<String>,
    /// The layer of a multi-layer source to read (GeoPackage table, TopoJSON object, GDAL layer).
    pub source_layer: Option<String>,
    /// Joins a table (CSV) onto the features by key, before mapping: its columns are then
    /// source fields like the file's own.
    pub join: Option<Join>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    /// The table, relative to the mapping file.
    pub file: PathBuf,
    /// The key in the features.
    pub key: String,
    /// The key in the table.
    pub table_key: String,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The layer to write. An OSM extract is read for the layer asked: roads from highways,
    /// buildings from building polygons, service centres from amenity points.
    pub layer: LayerId,
    pub mapping: Mapping,
    /// Write the valid features and report the rejected ones to `<input>.rejected.geojson`
    /// (in `report_dir` if given, else next to the input).
    pub skip_invalid: bool,
    /// Rebuild invalid polygons (odd-even rule) instead of rejecting them; counted as repaired.
    pub make_valid: bool,
    /// Empty the layer first (in the same transaction).
    pub replace: bool,
    /// Where the report of rejected features goes (default: next to the input).
    pub report_dir: Option<PathBuf>,
}

/// One feature that could not be imported, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rejection {
    /// Position in the source, from 0.
    pub index: u64,
    /// The source's id for it, if it had one.
    pub id: Option<String>,
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ImportSummary {
    pub file: PathBuf,
    pub layer: LayerId,
    pub read: u64,
    pub written: u64,
    /// Features that needed at least one repair (also counted in `written`).
    pub repaired: u64,
    pub repairs: Repairs,
    pub rejected: u64,
    /// Where rejected features were saved with their reasons.
    pub report: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: cannot read: {reason}")]
    Unreadable { file: PathBuf, reason: String },
    #[error("{file}: unsupported format (known: GeoJSON, TopoJSON, GeoPackage, Shapefile, CSV, OSM PBF{})", if cfg!(feature = "gdal") { ", and what GDAL reads" } else { "; build with --features gdal for the rest" })]
    UnsupportedFormat { file: PathBuf },
    #[error("{file}: coordinate reference system: {reason}")]
    Crs { file: PathBuf, reason: String },
    #[error("{file}: mapping: {reason}")]
    Mapping { file: PathBuf, reason: String },
    #[error("{file}: {} feature(s) rejected, nothing written; first: feature {} ({}): {}: {}", rejections.len(), rejections[0].index, rejections[0].id.as_deref().unwrap_or("no id"), rejections[0].field, rejections[0].reason)]
    Rejected { file: PathBuf, rejections: Vec<Rejection> },
    #[error("{file}: cannot write the report of rejected features: {reason}")]
    Report { file: PathBuf, reason: String },
    #[error("{file}: writing to the store failed, nothing written: {source}")]
    Store { file: PathBuf, source: urbis_store::StoreError },
}

/// Progress of a long import, shown by the caller.
pub trait ImportProgress: Send + Sync {
    /// A new phase (`reading`, `checking`, `writing`) with its size if known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `done` units of the current phase are finished.
    fn advance(&self, done: u64);
}

/// Progress that shows nothing.
pub struct Silent;

impl ImportOptions {
    pub fn new(layer: LayerId) -> Self {
        ImportOptions {
            layer,
            mapping: Mapping::default(),
            skip_invalid: false,
            make_valid: false,
            replace: false,
            report_dir: None,
        }
    }
}

impl ImportProgress for Silent {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}

pub use check::{Checked, RejectedFeature};
pub use osm::PUBLIC_SERVICE_AMENITIES;

/// Reads, reprojects, maps and checks a file without writing anything: what [`import_file`]
/// would write, and what it would reject.
pub async fn read_features(
    path: &Path,
    options: &ImportOptions,
    progress: &dyn ImportProgress,
) -> Result<Checked, ImportError> {
    let file = || path.to_path_buf();
    progress.phase("reading", None);
    let started = std::time::Instant::now();
    let format = format::detect(path)?;
    let mut source = format::read(path, format, options).await?;
    tracing::debug!(file = %path.display(), features = source.features.len(), seconds = started.elapsed().as_secs_f64(), "read");
    // GDAL reprojects as it reads; everything else is reprojected here. The mapping's CRS
    // overrides the file's: it is how a user corrects a file that declares the wrong one.
    if format != format::Format::Gdal {
        if let Some(declared) = options.mapping.source_crs.as_deref().or(source.crs.as_deref()) {
            let reprojection = crs::Reprojection::from_declared(declared)
                .map_err(|reason| ImportError::Crs { file: file(), reason })?;
            if !reprojection.is_identity() {
                for f in &mut source.features {
                    if let Ok(Some(g)) = &mut f.geometry {
                        if let Err(e) = reprojection.apply(g) {
                            f.geometry = Err(e);
                        }
                    }
                }
            }
        }
    }
    if let Some(join) = &options.mapping.join {
        let table = mapping::JoinTable::load(join).map_err(|reason| ImportError::Mapping { file: file(), reason })?;
        for f in &mut source.features {
            table.apply(&mut f.properties);
        }
    }
    options
        .mapping
        .check(options.layer.schema(), &source.features)
        .map_err(|reason| ImportError::Mapping { file: file(), reason })?;
    progress.phase("checking", Some(source.features.len() as u64));
    let started = std::time::Instant::now();
    let checked = check::check(source.features, options, progress);
    progress.advance(checked.read);
    tracing::debug!(file = %path.display(), seconds = started.elapsed().as_secs_f64(), "checked");
    Ok(checked)
}

/// Imports one file into a layer of the store: all or nothing, unless `skip_invalid`.
pub async fn import_file(
    store: &dyn Store,
    path: &Path,
    options: &ImportOptions,
    progress: &dyn ImportProgress,
) -> Result<ImportSummary, ImportError> {
    let checked = read_features(path, options, progress).await?;
    if !checked.rejected.is_empty() && !options.skip_invalid {
        return Err(ImportError::Rejected { file: path.to_path_buf(), rejections: checked.rejections() });
    }
    let report = match checked.rejected.is_empty() {
        true => None,
        false => Some(
            report::write(path, options.report_dir.as_deref(), &checked.rejected)
                .map_err(|reason| ImportError::Report { file: path.to_path_buf(), reason })?,
        ),
    };
    progress.phase("writing", Some(checked.features.len() as u64));
    let advance = |done: u64| progress.advance(done);
    let started = std::time::Instant::now();
    let written = store
        .bulk_load(options.layer, &checked.features, options.replace, &advance)
        .await
        .map_err(|source| ImportError::Store { file: path.to_path_buf(), source })?;
    tracing::debug!(file = %path.display(), written, seconds = started.elapsed().as_secs_f64(), "written");
    Ok(ImportSummary {
        file: path.to_path_buf(),
        layer: options.layer,
        read: checked.read,
        written,
        repaired: checked.repaired,
        repairs: checked.repairs,
        rejected: checked.rejected.len() as u64,
        report,
    })
}
