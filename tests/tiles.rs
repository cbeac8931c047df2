//! Vector tiles over HTTP on both stores, decoded by an independent decoder: the PyPI package
//! `mapbox-vector-tile` (pinned in tests/install-deps.sh), through tests/decode_mvt.py. Real data:
//! the Cambridge parcels, zoning districts and roads of `data-samples/`, imported as `urbis demo`
//! imports them. Checked: geometry types, ring winding (signed areas in tile space), coordinates
//! within the extent and the layer's buffer, no private field, a feature known from the source
//! file is in its tile, the same features and attributes from both stores, tiles under 500 KB,
//! and the HTTP side (ETag/304, 204, 400/404 naming the parameter, TileJSON, OGC API – Tiles).

#[macro_use]
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use geo::polygon;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use urbis_core::{Feature, LayerId};
use urbis_import::{import_file, ImportOptions, Mapping, Silent};
use urbis_store::Store;
use urbis_tiles::Definitions;

on_both_stores!(
    (store, dir) => (std::sync::Arc::from(store), dir);
    cambridge_tiles_decode_and_hold_what_the_source_says,
    http_behaviour_of_tiles,
);

/// The limit on any tile of parcels, zoning or roads.
const MAX_TILE_BYTES: usize = 500 * 1024;

fn samples(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples").join(rel)
}

/// Parcels, zoning districts and roads of the demo city, imported with the demo's mappings (the
/// parcels without the derived assessor table: their code only).
async fn load_cambridge(store: &dyn Store, dir: &Path) {
    let files = [
        ("cambridge/ASSESSING_ParcelsFY2014.topojson", None, LayerId::Parcels),
        ("cambridge/CDD_ZoningDistricts.geojson", Some("zoning_districts.toml"), LayerId::ZoningDistricts),
        ("cambridge/TRANS_Centerlines.geojson", Some("roads.toml"), LayerId::Roads),
    ];
    for (file, mapping, layer) in files {
        let input = dir.join(Path::new(file).file_name().unwrap());
        std::fs::copy(samples(file), &input).unwrap();
        let mut options = ImportOptions::new(layer);
        match mapping {
            Some(m) => options.mapping = Mapping::from_toml_file(&samples("mappings").join(m)).unwrap(),
            None => {
                options.mapping.fields.insert("code".into(), "ML".into());
            }
        }
        options.skip_invalid = true;
        options.make_valid = layer != LayerId::Roads;
        let s = import_file(store, &input, &options, &Silent).await.unwrap();
        assert!(s.written > 200, "{file}: {s:?}");
    }
}

struct Fetched {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

async fn fetch(store: &Arc<dyn Store>, uri: &str, headers: &[(&str, &str)]) -> Fetched {
    let mut req = Request::get(uri).header("host", "city.example:8080");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = urbis_server::router(store.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Fetched { status, headers, body }
}

async fn fetch_json(store: &Arc<dyn Store>, uri: &str) -> (StatusCode, Value) {
    let f = fetch(store, uri, &[("accept", "application/json")]).await;
    (f.status, serde_json::from_slice(&f.body).unwrap_or(Value::Null))
}

/// Decodes tile files with tests/decode_mvt.py: file path → layer → decoded layer.
fn decode(files: &[PathBuf]) -> serde_json::Map<String, Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/decode_mvt.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("running python3 {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "the decoder failed (is mapbox-vector-tile installed? bash tests/install-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let Value::Object(m) = serde_json::from_slice(&out.stdout).unwrap() else { panic!("decoder output") };
    m
}

/// The slippy-map tile of a point, by the textbook formula (not the crate's code).
fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = 2f64.powi(z as i32);
    let phi = lat.to_radians();
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let y = ((1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
    (x, y)
}

/// A point's position inside tile z/x/y in tile units (extent 4096, y down), same formula.
fn tile_position(lon: f64, lat: f64, z: u32, x: u32, y: u32) -> (f64, f64) {
    let n = 2f64.powi(z as i32);
    let phi = lat.to_radians();
    let fx = (lon + 180.0) / 360.0 * n;
    let fy = (1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0 * n;
    ((fx - x as f64) * 4096.0, (fy - y as f64) * 4096.0)
}

fn point_in_ring(p: (f64, f64), ring: &[Value]) -> bool {
    let pts: Vec<(f64, f64)> = ring.iter().map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap())).collect();
    let mut inside = false;
    let mut j = pts.len() - 1;
    for i in 0..pts.len() {
        let (xi, yi) = pts[i];
        let (xj, yj) = pts[j];
        if (yi > p.1) != (yj > p.1) && p.0 < (xj - xi) * (p.1 - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn polygons_of(geometry: &Value) -> Vec<Vec<Value>> {
    match geometry["type"].as_str() {
        Some("Polygon") => vec![geometry["coordinates"].as_array().unwrap().clone()],
        Some("MultiPolygon") => {
            geometry["coordinates"].as_array().unwrap().iter().map(|p| p.as_array().unwrap().clone()).collect()
        }
        _ => vec![],
    }
}

/// Every coordinate of a decoded geometry.
fn coordinates(v: &Value, out: &mut Vec<(f64, f64)>) {
    match v {
        Value::Array(a) if a.len() == 2 && a[0].is_number() => {
            out.push((a[0].as_f64().unwrap(), a[1].as_f64().unwrap()))
        }
        Value::Array(a) => a.iter().for_each(|x| coordinates(x, out)),
        _ => {}
    }
}

/// What every decoded tile must satisfy, whatever the store: types, winding, bounds, fields.
fn check_decoded(name: &str, z: u8, tile: &serde_json::Map<String, Value>) -> usize {
    let defs = Definitions::built_in();
    let mut features = 0;
    for (layer_name, layer) in tile {
        let layer_id: LayerId = layer_name.parse().unwrap();
        let def = defs.get(layer_id).unwrap();
        let rule = def.rule(z).unwrap_or_else(|| panic!("{name}: {layer_name} is below its minimum zoom"));
        assert_eq!(layer["extent"], 4096, "{name}");
        assert_eq!(layer["version"], 2, "{name}");
        let limit = 4096.0 + def.buffer_px * 16.0;
        let low = -def.buffer_px * 16.0;
        for f in layer["features"].as_array().unwrap() {
            features += 1;
            let ty = f["geometry"]["type"].as_str().unwrap();
            let expected: &[&str] = match layer_id {
                LayerId::Roads => &["LineString", "MultiLineString"],
                LayerId::Permits => {
                    &["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"]
                }
                _ => &["Polygon", "MultiPolygon"],
            };
            assert!(expected.contains(&ty), "{name} {layer_name}: a {ty}");
            let mut cs = vec![];
            coordinates(&f["geometry"]["coordinates"], &mut cs);
            for (x, y) in cs {
                assert!(x >= low && x <= limit && y >= low && y <= limit, "{name} {layer_name}: ({x}, {y}) outside");
            }
            if let Some(areas) = f.get("ring_areas") {
                for polygon in areas.as_array().unwrap() {
                    let rings = polygon.as_array().unwrap();
                    assert!(rings[0].as_f64().unwrap() > 0.0, "{name} {layer_name}: exterior not clockwise: {rings:?}");
                    for hole in &rings[1..] {
                        assert!(hole.as_f64().unwrap() < 0.0, "{name} {layer_name}: hole wound as an exterior");
                    }
                }
            }
            for key in f["properties"].as_object().unwrap().keys() {
                assert!(
                    key == "id" || rule.fields.contains(&key.as_str()),
                    "{name} {layer_name}: `{key}` not kept at z{z}"
                );
                assert!(!layer_id.schema().field(key).is_some_and(|f| f.private), "{name}: private `{key}`");
            }
        }
    }
    features
}

/// The sample of tiles both stores serve: the city centre and its neighbours at every zoom the
/// issue names (10–18) and below.
fn sample_tiles() -> Vec<(u8, u32, u32)> {
    let (lon, lat) = (-71.1056, 42.3736); // Cambridge: between City Hall and Harvard
    let mut out = vec![];
    for z in [8u8, 10, 11, 12, 13, 14, 15, 16, 17, 18] {
        let (x, y) = tile_of(lon, lat, z as u32);
        out.push((z, x, y));
        if (14..=16).contains(&z) {
            out.push((z, x + 1, y));
            out.push((z, x, y + 1));
        }
    }
    out
}

/// Fetches tiles of `layers` into `dir` and decodes them.
async fn fetch_and_decode(
    store: &Arc<dyn Store>,
    dir: &Path,
    tag: &str,
    layers: &str,
    tiles: &[(u8, u32, u32)],
) -> Vec<((u8, u32, u32), Fetched, serde_json::Map<String, Value>)> {
    let mut fetched = vec![];
    let mut files = vec![];
    for &(z, x, y) in tiles {
        let f = fetch(store, &format!("/tiles/{layers}/{z}/{x}/{y}.mvt"), &[]).await;
        assert!(f.status == StatusCode::OK || f.status == StatusCode::NO_CONTENT, "{z}/{x}/{y}: {}", f.status);
        let path = dir.join(format!("{tag}-{z}-{x}-{y}.mvt"));
        std::fs::write(&path, &f.body).unwrap();
        files.push(path);
        fetched.push(((z, x, y), f));
    }
    let mut decoded = decode(&files);
    fetched
        .into_iter()
        .zip(files)
        .map(|((t, f), path)| {
            let Value::Object(m) = decoded.remove(&path.display().to_string()).unwrap() else { panic!() };
            (t, f, m)
        })
        .collect()
}

async fn cambridge_tiles_decode_and_hold_what_the_source_says(store: Arc<dyn Store>, dir: &Path) {
    load_cambridge(&*store, dir).await;
    let tiles = sample_tiles();
    let all = fetch_and_decode(&store, dir, "all", "parcels,zoning_districts,roads", &tiles).await;
    let mut total = 0;
    for ((z, x, y), f, decoded) in &all {
        let name = format!("{z}/{x}/{y}");
        total += check_decoded(&name, *z, decoded);
        assert!(f.body.len() <= 3 * MAX_TILE_BYTES, "{name}: {} bytes", f.body.len());
        // Layers below their minimum zoom are left out, the others are there.
        for layer in [LayerId::Parcels, LayerId::ZoningDistricts, LayerId::Roads] {
            let minzoom = Definitions::built_in().get(layer).unwrap().minzoom;
            assert_eq!(decoded.contains_key(layer.name()), *z >= minzoom, "{name}: {:?}", decoded.keys());
        }
    }
    assert!(total > 1000, "only {total} features in the sample");
    // Each layer alone stays under the limit on the sample (the exhaustive sweep is the
    // tile_sweep example).
    for layer in ["parcels", "zoning_districts", "roads"] {
        for &(z, x, y) in &tiles {
            let f = fetch(&store, &format!("/tiles/{layer}/{z}/{x}/{y}.mvt"), &[]).await;
            assert!(f.body.len() <= MAX_TILE_BYTES, "{layer} {z}/{x}/{y}: {} bytes", f.body.len());
        }
    }

    // A zoning district known from the source file: a point inside it, the tile it falls in by the
    // textbook formula, the decoded district of that code whose polygon holds the point.
    let text = std::fs::read_to_string(samples("cambridge/CDD_ZoningDistricts.geojson")).unwrap();
    let source: geojson::FeatureCollection = text.parse().unwrap();
    let mut checked = 0;
    for feature in source.features.iter().step_by(37) {
        let code = feature.property("ZONE_TYPE").and_then(|v| v.as_str()).unwrap().to_string();
        let g: geo_types::Geometry = feature.geometry.clone().unwrap().try_into().unwrap();
        let Some(p) = geo::InteriorPoint::interior_point(&g) else { continue };
        for z in [12u32, 15, 17] {
            let (x, y) = tile_of(p.x(), p.y(), z);
            let pos = tile_position(p.x(), p.y(), z, x, y);
            let got = fetch_and_decode(&store, dir, "known", "zoning_districts", &[(z as u8, x, y)]).await;
            let layer = &got[0].2["zoning_districts"];
            let found = layer["features"].as_array().unwrap().iter().any(|f| {
                f["properties"]["code"] == code.as_str()
                    && polygons_of(&f["geometry"]).iter().any(|poly| point_in_ring(pos, poly[0].as_array().unwrap()))
            });
            assert!(found, "district {code} at ({}, {}) is not in tile {z}/{x}/{y}", p.x(), p.y());
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked}");
}

/// Both stores, one test: the same tiles decode to the same features with the same attributes
/// and geometry, byte for byte.
#[cfg(feature = "postgis-tests")]
#[tokio::test]
async fn same_tiles_from_both_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let gpkg: Arc<dyn Store> = Arc::from(support::gpkg(tmp.path()).await);
    let pg: Arc<dyn Store> = Arc::from(support::postgis().await);
    load_cambridge(&*gpkg, tmp.path()).await;
    load_cambridge(&*pg, tmp.path()).await;
    let tiles = sample_tiles();
    let a = fetch_and_decode(&gpkg, tmp.path(), "gpkg", "parcels,zoning_districts,roads", &tiles).await;
    let b = fetch_and_decode(&pg, tmp.path(), "pg", "parcels,zoning_districts,roads", &tiles).await;
    let mut compared = 0;
    for ((t, fa, da), (_, fb, db)) in a.iter().zip(&b) {
        assert_eq!(da.keys().collect::<Vec<_>>(), db.keys().collect::<Vec<_>>(), "{t:?}");
        for (layer, la) in da {
            let (fa_, fb_) = (la["features"].as_array().unwrap(), db[layer]["features"].as_array().unwrap());
            assert_eq!(fa_.len(), fb_.len(), "{t:?} {layer}: feature counts differ");
            for (x, y) in fa_.iter().zip(fb_) {
                assert_eq!(x["properties"], y["properties"], "{t:?} {layer}");
                assert_eq!(x["geometry"], y["geometry"], "{t:?} {layer} {}", x["properties"]["id"]);
                compared += 1;
            }
        }
        assert_eq!(fa.headers.get("etag"), fb.headers.get("etag"), "{t:?}: the same tile has the same ETag");
    }
    assert!(compared > 1000, "{compared}");
}

async fn http_behaviour_of_tiles(store: Arc<dyn Store>, dir: &Path) {
    // A small city: four parcels and a permit whose applicant is private.
    // Inside z16 tile of the permit: from its north-west corner, by the textbook formula.
    let (tx, ty) = tile_of(-71.0995, 42.3704, 16);
    let n = 2f64.powi(16);
    let west = tx as f64 / n * 360.0 - 180.0;
    let north = (std::f64::consts::PI * (1.0 - 2.0 * ty as f64 / n)).sinh().atan().to_degrees();
    let mut parcels = vec![];
    for i in 0..4 {
        let (x, y) = (west + 0.0005 + i as f64 * 0.001, north - 0.002);
        let p = polygon![(x: x, y: y), (x: x + 0.0008, y: y), (x: x + 0.0008, y: y + 0.0008), (x: x, y: y + 0.0008)];
        parcels.push(
            Feature::new(format!("p{i}"), Some(geo::MultiPolygon(vec![p]).into())).with("code", format!("C-{i}")),
        );
    }
    store.create(LayerId::Parcels, &parcels).await.unwrap();
    let permit = Feature::new("d1", Some(geo::Point::new(-71.0995, 42.3704).into()))
        .with("tracking_code", "T-1")
        .with("procedure_code", "BP")
        .with("stage", "received")
        .with("received_at", "2024-05-01T09:30:00.000Z")
        .with("applicant", serde_json::json!({ "name": "A. Person", "phone": "555" }));
    store.create(LayerId::Permits, &[permit]).await.unwrap();

    let (x, y) = tile_of(-71.0995, 42.3704, 16);
    let uri = format!("/tiles/parcels,permits/16/{x}/{y}.mvt");
    let first = fetch(&store, &uri, &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["content-type"], "application/vnd.mapbox-vector-tile");
    let etag = first.headers["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    let cc = first.headers["cache-control"].to_str().unwrap();
    assert!(cc.contains("max-age=") && cc.contains("must-revalidate"), "{cc}");
    let again = fetch(&store, &uri, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let other = fetch(&store, &uri, &[("if-none-match", "\"something-else\"")]).await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body, first.body);
    // Gzip when asked (the server's compression layer), same tile once inflated.
    let gz = fetch(&store, &uri, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.headers.get("content-encoding").map(|v| v.to_str().unwrap()), Some("gzip"));

    let path = dir.join("small.mvt");
    std::fs::write(&path, &first.body).unwrap();
    let decoded = decode(std::slice::from_ref(&path));
    let tile = decoded[&path.display().to_string()].as_object().unwrap();
    check_decoded("small", 16, tile);
    let permits = tile["permits"]["features"].as_array().unwrap();
    assert_eq!(permits.len(), 1);
    assert_eq!(permits[0]["properties"]["tracking_code"], "T-1");
    assert!(permits[0]["properties"].get("applicant").is_none());
    assert!(!String::from_utf8_lossy(&first.body).contains("A. Person"), "private data in the tile bytes");
    let codes: Vec<_> =
        tile["parcels"]["features"].as_array().unwrap().iter().map(|f| f["properties"]["code"].clone()).collect();
    assert_eq!(codes.len(), 4, "{codes:?}");

    // The OGC API route serves the same tile (row before column).
    let ogc = fetch(&store, &format!("/collections/parcels/tiles/WebMercatorQuad/16/{y}/{x}"), &[]).await;
    let xyz = fetch(&store, &format!("/tiles/parcels/16/{x}/{y}.mvt"), &[]).await;
    assert_eq!(ogc.status, StatusCode::OK);
    assert_eq!(ogc.body, xyz.body);

    // Empty tiles: 204 with no body; below a layer's minimum zoom too.
    let empty = fetch(&store, "/tiles/parcels/16/0/0.mvt", &[]).await;
    assert_eq!(empty.status, StatusCode::NO_CONTENT);
    assert!(empty.body.is_empty() && empty.headers.contains_key("etag"));
    let (lx, ly) = tile_of(-71.0995, 42.3704, 10);
    assert_eq!(fetch(&store, &format!("/tiles/parcels/10/{lx}/{ly}.mvt"), &[]).await.status, StatusCode::NO_CONTENT);

    // Errors: 400 naming the parameter, 404 outside the matrix or for unknown layers; never 5xx.
    for (uri, status, parameter) in [
        ("/tiles/parcels/abc/0/0.mvt", StatusCode::BAD_REQUEST, Some("z")),
        ("/tiles/parcels/3/-1/0.mvt", StatusCode::BAD_REQUEST, Some("x")),
        ("/tiles/parcels/3/0/1.5.mvt", StatusCode::BAD_REQUEST, Some("y")),
        ("/collections/parcels/tiles/WebMercatorQuad/3/x/0", StatusCode::BAD_REQUEST, Some("tileRow")),
        ("/tiles/parcels/25/0/0.mvt", StatusCode::NOT_FOUND, None),
        ("/tiles/parcels/3/8/0.mvt", StatusCode::NOT_FOUND, None),
        ("/tiles/parcels/3/0/8.mvt", StatusCode::NOT_FOUND, None),
        ("/collections/parcels/tiles/WebMercatorQuad/3/8/0", StatusCode::NOT_FOUND, None),
        ("/tiles/nowhere/3/0/0.mvt", StatusCode::NOT_FOUND, None),
        ("/tiles/procedures/3/0/0.mvt", StatusCode::NOT_FOUND, None),
        ("/tiles/parcels/3/0/0.png", StatusCode::NOT_FOUND, None),
        ("/collections/parcels/tiles/OtherQuad/3/0/0", StatusCode::NOT_FOUND, None),
        ("/tiles/nowhere.json", StatusCode::NOT_FOUND, None),
    ] {
        let (got, body) = fetch_json(&store, uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{uri}: {body}");
        if let Some(p) = parameter {
            assert_eq!(body["parameter"], p, "{uri}: {body}");
        }
    }
    let (_, body) = fetch_json(&store, "/tiles/parcels/25/0/0.mvt").await;
    assert!(body["message"].as_str().unwrap().contains("`z`"), "{body}");

    // TileJSON 3.0: absolute URLs, zooms, bounds from the store, fields without private ones.
    let (status, tj) = fetch_json(&store, "/tiles/parcels,permits.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(tj["tiles"][0], "http://city.example:8080/tiles/parcels,permits/{z}/{x}/{y}.mvt");
    assert_eq!(tj["minzoom"], 12);
    let b: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let expected =
        [west + 0.0005, (north - 0.002).min(42.3704), (west + 0.0043).max(-71.0995), 42.3704f64.max(north - 0.0012)];
    assert!(b.iter().zip(expected).all(|(b, e)| (b - e).abs() < 1e-6), "{b:?} ≠ {expected:?}");
    let layers = tj["vector_layers"].as_array().unwrap();
    assert_eq!(layers[0]["id"], "parcels");
    assert_eq!(layers[0]["fields"]["code"], "String");
    assert!(layers[1]["fields"].get("tracking_code").is_some() && layers[1]["fields"].get("applicant").is_none());

    // OGC API – Tiles metadata.
    let (status, sets) = fetch_json(&store, "/collections/parcels/tiles").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sets["tilesets"][0]["dataType"], "vector");
    let (_, ts) = fetch_json(&store, "/collections/parcels/tiles/WebMercatorQuad").await;
    let item = ts["links"].as_array().unwrap().iter().find(|l| l["rel"] == "item").unwrap();
    assert_eq!(
        item["href"],
        "http://city.example:8080/collections/parcels/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
    );
    assert_eq!(ts["tileMatrixSetURI"], "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad");
    let limits = ts["tileMatrixSetLimits"].as_array().unwrap();
    let z16 = limits.iter().find(|l| l["tileMatrix"] == "16").unwrap();
    assert!(z16["minTileCol"].as_u64().unwrap() <= x as u64 && x as u64 <= z16["maxTileCol"].as_u64().unwrap());
    let (status, tms) = fetch_json(&store, "/tileMatrixSets/WebMercatorQuad").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tms["tileMatrices"].as_array().unwrap().len(), 25);
    let (status, _) = fetch_json(&store, "/collections/procedures/tiles").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // What the lead merges into /conformance and /api.
    assert!(urbis_server::tiles::conformance().contains(&"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt"));
    assert!(urbis_server::tiles::openapi_paths()
        ["/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"]
        .is_object());
}
