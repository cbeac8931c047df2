//! Which reader a file needs: by extension first, then by content (JSON `type`, SQLite magic),
//! and with the `gdal` feature anything else GDAL can open.

use std::io::Read;
use std::path::Path;

use crate::source::{ReadError, Source};
use crate::{ImportError, ImportOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// GeoJSON or TopoJSON: told apart by the document's `type`.
    Json,
    GeoPackage,
    Shapefile,
    Csv,
    OsmPbf,
    #[cfg_attr(not(feature = "gdal"), allow(dead_code))]
    Gdal,
}

pub fn detect(path: &Path) -> Result<Format, ImportError> {
    let unreadable = |reason: String| ImportError::Unreadable { file: path.to_path_buf(), reason };
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let ext = name.rsplit('.').next().unwrap_or_default();
    let by_name = match ext {
        "geojson" | "json" | "topojson" => Some(Format::Json),
        "gpkg" => Some(Format::GeoPackage),
        "shp" => Some(Format::Shapefile),
        "csv" => Some(Format::Csv),
        "pbf" => Some(Format::OsmPbf),
        _ => None,
    };
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).map_err(|e| unreadable(e.to_string()))?;
    if let Some(format) = by_name {
        return Ok(format);
    }
    let head = &head[..n];
    if head.starts_with(b"SQLite format 3") {
        return Ok(Format::GeoPackage);
    }
    if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Ok(Format::Json);
    }
    if cfg!(feature = "gdal") {
        Ok(Format::Gdal)
    } else {
        Err(ImportError::UnsupportedFormat { file: path.to_path_buf() })
    }
}

/// Reads the whole source with the reader its format needs.
pub async fn read(path: &Path, format: Format, options: &ImportOptions) -> Result<Source, ImportError> {
    let file = || path.to_path_buf();
    let mapping = &options.mapping;
    let result: Result<Source, ReadError> = match format {
        Format::Json => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ImportError::Unreadable { file: file(), reason: e.to_string() })?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| ImportError::Unreadable { file: file(), reason: format!("not valid JSON: {e}") })?;
            match doc.get("type").and_then(serde_json::Value::as_str) {
                Some("Topology") => crate::topojson::read(&doc, mapping.source_layer.as_deref()).map_err(|e| {
                    if e.starts_with("no object") {
                        ReadError::Mapping(e)
                    } else {
                        ReadError::Unreadable(e)
                    }
                }),
                Some("FeatureCollection" | "Feature") => crate::geojson::read(doc).map_err(ReadError::from),
                _ => return Err(ImportError::UnsupportedFormat { file: file() }),
            }
        }
        Format::GeoPackage => crate::gpkg::read(path, mapping.source_layer.as_deref()).await,
        Format::Shapefile => crate::shapefile::read(path).map_err(ReadError::from),
        Format::Csv => crate::csv::read(path, mapping).map_err(ReadError::from),
        Format::OsmPbf => crate::osm::read(path, options.layer),
        #[cfg(feature = "gdal")]
        Format::Gdal => crate::gdal::read(path, mapping.source_layer.as_deref(), mapping.source_crs.as_deref()),
        #[cfg(not(feature = "gdal"))]
        Format::Gdal => return Err(ImportError::UnsupportedFormat { file: file() }),
    };
    result.map_err(|e| match e {
        ReadError::Unreadable(reason) => ImportError::Unreadable { file: file(), reason },
        ReadError::Mapping(reason) => ImportError::Mapping { file: file(), reason },
    })
}
