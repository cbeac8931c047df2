//! Tiles and the `urbis` command, on both stores: `urbis tiles export` writes MBTiles that GDAL
//! opens (ogrinfo lists the layers and their features) and PMTiles that the pmtiles crate reads,
//! whose tiles decode with the independent decoder (tests/decode_mvt.py) and are the very tiles
//! `urbis serve` serves for the same z/x/y; and an import run by a second process while the
//! server runs is in the server's next tiles, while the tiles it did not touch stay cached.

#[allow(unused_macros)]
#[macro_use]
mod support;

mod binary;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use binary::{import_zoning, run, start_server, urbis};
use serde_json::Value;

/// Runs each named `fn(postgis: bool)` on a GeoPackage and, with `postgis-tests`, on PostGIS.
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

on_both_kinds!(
    exported_archives_open_in_gdal_and_hold_the_served_tiles,
    an_import_by_another_process_reaches_the_server
);

/// A GeoPackage file in `dir`, or a new migrated PostGIS database.
fn new_store(dir: &Path, postgis: bool) -> String {
    if !postgis {
        return dir.join("city.gpkg").display().to_string();
    }
    let url = tokio::runtime::Runtime::new().unwrap().block_on(support::fresh_database());
    let (ok, out, err) = run(urbis().args(["migrate", "--store", &url]));
    assert!(ok, "{out}{err}");
    url
}

fn samples(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples").join(rel)
}

fn import_roads(store: &str) {
    let (ok, out, err) = run(urbis()
        .args(["import", "--layer", "roads", "--store", store, "--map"])
        .arg(samples("mappings/roads.toml"))
        .arg(samples("cambridge/TRANS_Centerlines.geojson")));
    assert!(ok && out.contains("written"), "{out}{err}");
}

/// GET `url`: status, `X-Cache`, ETag, body.
fn get(url: &str) -> (u16, String, String, Vec<u8>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = reqwest::get(url).await.unwrap();
        let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let (status, cache, etag) = (r.status().as_u16(), header("x-cache"), header("etag"));
        (status, cache, etag, r.bytes().await.unwrap().to_vec())
    })
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    flate2::read::GzDecoder::new(gz).read_to_end(&mut out).unwrap();
    out
}

/// Decodes tile files with tests/decode_mvt.py, all in one run: file → layer → decoded layer.
fn decode(files: &[PathBuf]) -> serde_json::Map<String, Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/decode_mvt.py");
    let out = Command::new("python3").arg(&script).args(files).output().unwrap();
    assert!(out.status.success(), "the decoder failed: {}", String::from_utf8_lossy(&out.stderr));
    let Value::Object(m) = serde_json::from_slice(&out.stdout).unwrap() else { panic!("decoder output") };
    m
}

/// The tiles of an MBTiles file, gzip'd as stored, by (z, x, y) with y from the north.
fn mbtiles_tiles(path: &Path) -> BTreeMap<(u8, u32, u32), Vec<u8>> {
    use sqlx::{Connection, Row};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display())).await.unwrap();
        let rows = sqlx::query("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
            .fetch_all(&mut c)
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                let z: i64 = r.get(0);
                let row: i64 = r.get(2);
                let y = (1i64 << z) - 1 - row;
                ((z as u8, r.get::<i64, _>(1) as u32, y as u32), r.get::<Vec<u8>, _>(3))
            })
            .collect()
    })
}

fn exported_archives_open_in_gdal_and_hold_the_served_tiles(postgis: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path(), postgis);
    import_zoning(&store);
    import_roads(&store);
    let (minzoom, maxzoom) = ("10", "14");
    let mb = dir.path().join("city.mbtiles");
    let pm = dir.path().join("city.pmtiles");
    for (format, out) in [("mbtiles", &mb), ("pmtiles", &pm)] {
        let (ok, stdout, err) = run(urbis()
            .args(["tiles", "export", "--store", &store, "--format", format, "--layers", "zoning_districts,roads"])
            .args(["--minzoom", minzoom, "--maxzoom", maxzoom])
            .arg(out));
        assert!(ok && stdout.contains("tiles"), "{stdout}{err}");
    }

    // GDAL's MBTiles driver: the metadata, both layers, and their features at the deepest zoom.
    let info = Command::new("ogrinfo").args(["-ro", "-al", "-so"]).arg(&mb).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("format=pbf") && info.contains("maxzoom=14"), "{info}");
    for layer in ["zoning_districts", "roads"] {
        let count = info
            .split("Layer name: ")
            .find(|s| s.starts_with(layer))
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Feature Count: ")))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("ogrinfo shows no feature count for {layer}: {info}"));
        assert!(count > 100, "{layer}: {count} features");
    }
    // GDAL names the layers from the metadata's `json` (vector_layers); its fields are there too.
    let json: Value = {
        use sqlx::Connection;
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", mb.display())).await.unwrap();
            let text: String =
                sqlx::query_scalar("SELECT value FROM metadata WHERE name = 'json'").fetch_one(&mut c).await.unwrap();
            serde_json::from_str(&text).unwrap()
        })
    };
    let zoning = &json["vector_layers"][0];
    assert_eq!((zoning["id"].as_str(), zoning["fields"]["code"].as_str()), (Some("zoning_districts"), Some("String")));
    // Every tile: decodes, holds features, and is the tile the server serves for that z/x/y.
    let tiles = mbtiles_tiles(&mb);
    assert!(tiles.len() >= 20, "{} tiles", tiles.len());
    assert!(tiles.keys().any(|t| t.0 == 10) && tiles.keys().any(|t| t.0 == 14));
    let server = start_server(Path::new(&store), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reader = rt.block_on(pmtiles::AsyncPmTilesReader::new_with_path(&pm)).unwrap();
    let header = reader.get_header();
    assert_eq!((header.min_zoom, header.max_zoom), (10, 14));
    let metadata: Value = serde_json::from_str(&rt.block_on(reader.get_metadata()).unwrap()).unwrap();
    let ids: Vec<&str> =
        metadata["vector_layers"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["zoning_districts", "roads"]);
    let mut files = vec![];
    for (&(z, x, y), gz) in &tiles {
        let mvt = gunzip(gz);
        let (status, _, _, served) = get(&format!("{}/tiles/zoning_districts,roads/{z}/{x}/{y}.mvt", server.url));
        assert_eq!(status, 200, "{z}/{x}/{y}");
        assert!(served == mvt, "{z}/{x}/{y}: the archive's tile is not the served one");
        let coord = pmtiles::TileCoord::new(z, x, y).unwrap();
        let from_pm =
            rt.block_on(reader.get_tile(coord)).unwrap().unwrap_or_else(|| panic!("{z}/{x}/{y} not in the PMTiles"));
        assert!(gunzip(&from_pm) == mvt, "{z}/{x}/{y}: the PMTiles tile differs");
        let path = dir.path().join(format!("{z}-{x}-{y}.mvt"));
        std::fs::write(&path, &mvt).unwrap();
        files.push(path);
    }
    // No tile holds features that the archives left out: the served pyramid around the city at
    // z12 has features only where the archive has tiles.
    let (z, cx, cy) = (12u8, 1238u32, 1514u32);
    for x in cx - 2..=cx + 2 {
        for y in cy - 2..=cy + 2 {
            let (status, _, _, _) = get(&format!("{}/tiles/zoning_districts,roads/{z}/{x}/{y}.mvt", server.url));
            assert_eq!(status == 200, tiles.contains_key(&(z, x, y)), "{z}/{x}/{y}: served {status}");
        }
    }
    let decoded = decode(&files);
    for (file, tile) in &decoded {
        let n: usize = tile.as_object().unwrap().values().map(|l| l["features"].as_array().unwrap().len()).sum();
        assert!(n > 0, "{file}: no feature");
    }
    assert_eq!(decoded.len(), tiles.len());

    // Bad requests of the command: named.
    let (ok, _, err) = run(urbis().args(["tiles", "export", "--store", &store, "--format", "zip"]).arg(&mb));
    assert!(!ok && err.contains("mbtiles or pmtiles"), "{err}");
    let (ok, _, err) = run(urbis()
        .args(["tiles", "export", "--store", &store, "--format", "mbtiles", "--layers", "procedures"])
        .arg(dir.path().join("x.mbtiles")));
    assert!(!ok && err.contains("procedures"), "{err}");
    let (ok, _, err) = run(urbis()
        .args(["tiles", "export", "--store", &store, "--format", "mbtiles", "--minzoom", "9", "--maxzoom", "3"])
        .arg(dir.path().join("x.mbtiles")));
    assert!(!ok && err.contains("minzoom"), "{err}");
    assert!(!dir.path().join("x.mbtiles").exists() && !dir.path().join("x.part").exists());
}

fn an_import_by_another_process_reaches_the_server(postgis: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path(), postgis);
    import_roads(&store);
    let server = start_server(Path::new(&store), &[]);
    // A tile of central Cambridge (z14) with its roads, and one of the zoning districts alone
    // (z16, north-west corner of the city, where the zoning import changes nothing).
    let centre = format!("{}/tiles/zoning_districts,roads/14/4955/6059.mvt", server.url);
    let first = get(&centre);
    assert_eq!((first.0, first.1.as_str()), (200, "miss"));
    let cached = get(&centre);
    assert_eq!((cached.0, cached.1.as_str(), &cached.2), (200, "hit", &first.2));
    let zoning_only = format!("{}/tiles/zoning_districts/15/9911/12118.mvt", server.url);
    let empty = get(&zoning_only);
    assert_eq!((empty.0, empty.1.as_str()), (204, "miss"));
    // Far away (another city): untouched by the import.
    let far = format!("{}/tiles/zoning_districts,roads/14/100/100.mvt", server.url);
    assert_eq!(get(&far).1, "miss");
    assert_eq!(get(&far).1, "hit");

    // `urbis import` in its own process, while the server runs.
    import_zoning(&store);
    let after = get(&centre);
    assert_eq!((after.0, after.1.as_str()), (200, "miss"));
    assert_ne!(after.2, first.2, "the ETag must change with the tile");
    let path = dir.path().join("after.mvt");
    std::fs::write(&path, &after.3).unwrap();
    let decoded = decode(std::slice::from_ref(&path));
    let layers = decoded[&path.display().to_string()].as_object().unwrap();
    assert!(layers["zoning_districts"]["features"].as_array().unwrap().len() > 5, "{:?}", layers.keys());
    let now = get(&zoning_only);
    assert_eq!((now.0, now.1.as_str()), (200, "miss"), "the imported districts are not in the tile");
    assert_eq!(get(&far).1, "hit", "a tile the import did not touch was dropped");
}
