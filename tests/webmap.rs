//! The map end to end against `urbis serve`: every served style passes MapLibre's own validator
//! (`gl-style-validate` from web/'s pinned `@maplibre/maplibre-gl-style-spec`) and names only
//! TileJSON and glyphs that the same server answers; the glyphs decode; and the public zoning map
//! works in real headless Chromium (web/tests/zoning_map.mjs through playwright-core): rendered
//! zoning, a clicked parcel's zone in the panel, search, the layer switcher, a phone screen.
//! Screenshots go to `<target>/tmp/webmap/<store>/`. All of it on both stores.
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
use std::process::Command;

use binary::{run, start_server, urbis};
use chromium::web_dir;
use pbf_font_tools::prost::Message;
use serde_json::Value;

/// web/'s npm packages, MapLibre's style validator among them.
fn node_modules() -> std::path::PathBuf {
    chromium::node_modules(&[".bin/gl-style-validate"])
}

fn get(url: &str) -> (u16, Vec<u8>, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let r = reqwest::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = r.status().as_u16();
        let ty = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        (status, r.bytes().await.unwrap().to_vec(), ty)
    })
}

fn get_json(url: &str) -> Value {
    let (status, body, _) = get(url);
    assert_eq!(status, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

/// The demo city (built once for this run) with its map layers, on the store of the kind asked.
fn demo_store(dir: &Path, postgis: bool) -> String {
    chromium::demo_store(
        "webmap",
        dir,
        postgis,
        &["zoning_districts", "zoning_overlays", "parcels", "roads", "service_centres"],
    )
}

/// A store holding only the demo's zoning districts: enough for the styles' TileJSON.
fn zoning_store(dir: &Path, postgis: bool) -> String {
    let store = if postgis {
        let url = tokio::runtime::Runtime::new().unwrap().block_on(support::fresh_database());
        let (ok, out, err) = run(urbis().args(["migrate", "--store", &url]));
        assert!(ok, "{out}{err}");
        url
    } else {
        dir.join("zoning.gpkg").display().to_string()
    };
    binary::import_zoning(&store);
    store
}

on_both_kinds!(styles_pass_the_maplibre_validator_and_their_resources_are_served, the_zoning_map_works_in_chromium);

/// `/styles` lists every style; each passes `gl-style-validate`; its sources' TileJSON answers
/// with tiles on this server, and the glyphs of every font its labels use decode, with a real
/// glyph for "A". Wrong style ids, fonts and ranges get 404 and 400.
fn styles_pass_the_maplibre_validator_and_their_resources_are_served(postgis: bool) {
    let validator = node_modules().join(".bin/gl-style-validate");
    let dir = tempfile::tempdir().unwrap();
    let store = zoning_store(dir.path(), postgis);
    let server = start_server(Path::new(&store), &["--web-dir", web_dir().to_str().unwrap()]);
    let base = &server.url;

    let list = get_json(&format!("{base}/styles"));
    let ids: Vec<&str> = list["styles"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["zoning", "cadastral", "utilities", "permits"]);
    let mut fonts = std::collections::BTreeSet::new();
    for entry in list["styles"].as_array().unwrap() {
        let href = entry["links"][0]["href"].as_str().unwrap();
        let (status, body, ty) = get(href);
        assert_eq!((status, ty.as_str()), (200, "application/vnd.mapbox.style+json"), "{href}");
        let file = dir.path().join(format!("{}.json", entry["id"].as_str().unwrap()));
        std::fs::write(&file, &body).unwrap();
        let out = Command::new(&validator).arg(&file).output().expect("gl-style-validate runs");
        assert!(
            out.status.success(),
            "{href} fails the MapLibre style validator:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let style: Value = serde_json::from_slice(&body).unwrap();
        assert!(style["glyphs"].as_str().unwrap().starts_with(&format!("{base}/fonts/")), "{href}: glyphs elsewhere");
        for (name, source) in style["sources"].as_object().unwrap() {
            let tilejson = get_json(source["url"].as_str().unwrap());
            let tiles = tilejson["tiles"][0].as_str().unwrap();
            assert!(tiles.starts_with(&format!("{base}/tiles/")), "{href}: source {name} tiles at {tiles}");
            assert!(!tilejson["vector_layers"].as_array().unwrap().is_empty(), "{href}: {name}");
        }
        // The sprite, when a style has one, holds every pattern the style fills with.
        if let Some(sprite) = style["sprite"].as_str() {
            assert!(sprite.starts_with(&format!("{base}/styles/")), "{href}: sprite at {sprite}");
            for ratio in ["", "@2x"] {
                let index = get_json(&format!("{sprite}{ratio}.json"));
                let (status, png, ty) = get(&format!("{sprite}{ratio}.png"));
                assert_eq!((status, ty.as_str()), (200, "image/png"), "{sprite}{ratio}.png");
                assert!(png.starts_with(b"\x89PNG"), "{sprite}{ratio}.png");
                let text = String::from_utf8_lossy(&body);
                for name in text.split('"').filter(|s| s.starts_with("hatch-")) {
                    assert!(index.get(name).is_some(), "{href}: {name} is not in {sprite}{ratio}.json");
                }
            }
        }
        for layer in style["layers"].as_array().unwrap() {
            if let Some(stack) = layer.pointer("/layout/text-font").and_then(Value::as_array) {
                fonts.insert(stack.iter().map(|f| f.as_str().unwrap().to_string()).collect::<Vec<_>>().join(","));
            }
        }
    }
    assert!(!fonts.is_empty(), "no style labels anything");
    for stack in &fonts {
        let url = format!("{base}/fonts/{}/0-255.pbf", stack.replace(' ', "%20"));
        let (status, body, ty) = get(&url);
        assert_eq!((status, ty.as_str()), (200, "application/x-protobuf"), "{url}: {}", String::from_utf8_lossy(&body));
        let glyphs = pbf_font_tools::Glyphs::decode(body.as_slice()).unwrap_or_else(|e| panic!("{url}: {e}"));
        let all: Vec<_> = glyphs.stacks.iter().flat_map(|s| s.glyphs.iter()).collect();
        assert!(all.len() > 150, "{url}: {} glyphs in 0-255", all.len());
        let a = all.iter().find(|g| g.id == 'A' as u32).unwrap_or_else(|| panic!("{url}: no glyph for A"));
        // An SDF bitmap has a 3-pixel border on each side.
        let bitmap = a.bitmap.as_ref().unwrap();
        assert!(a.width > 5 && a.height > 5 && a.advance > 5, "{url}: A is {}x{}", a.width, a.height);
        assert_eq!(bitmap.len() as u32, (a.width + 6) * (a.height + 6), "{url}: A's bitmap");
    }
    // A range no DejaVu glyph covers is an empty, valid answer (MapLibre asks for it all the same).
    let (status, _, _) = get(&format!("{base}/fonts/DejaVu%20Sans%20Book/57344-57599.pbf"));
    assert_eq!(status, 200);
    let fonts_list = get_json(&format!("{base}/fonts"));
    assert!(fonts_list["fonts"].as_array().unwrap().iter().any(|f| f == "DejaVu Sans Bold"), "{fonts_list}");

    for (path, want) in [
        ("/styles/nope.json", 404),
        ("/styles/zoning", 404),
        ("/fonts/Comic%20Sans/0-255.pbf", 404),
        ("/fonts/DejaVu%20Sans%20Book/1-256.pbf", 400),
        ("/fonts/DejaVu%20Sans%20Book/0-255", 404),
        ("/map/package.json", 404),
        ("/map/node_modules/maplibre-gl/package.json", 404),
        ("/map/node%5Fmodules/maplibre-gl/package.json", 404),
        ("/map/../Cargo.toml", 404),
        ("/map/nothing-here.js", 404),
        ("/map/vendor/maplibre-gl", 404),
    ] {
        let (status, body, ty) = get(&format!("{base}{path}"));
        assert_eq!(status, want, "{path}: {}", String::from_utf8_lossy(&body));
        assert!(ty.contains("json"), "{path}: {ty}");
        let error: Value = serde_json::from_slice(&body).unwrap();
        assert!(!error["message"].as_str().unwrap().is_empty(), "{path}: {error}");
    }
    // The landing page links to the map, which the server serves with MapLibre.
    let (_, landing, _) = get_html(&format!("{base}/"));
    assert!(landing.contains("href=\"/map/\""), "{landing}");
    let (status, page, _) = get_html(&format!("{base}/map/"));
    assert!(status == 200 && page.contains("map.js"), "{status} {page}");
    let (status, _, _) = get(&format!("{base}/map/vendor/maplibre-gl/maplibre-gl.mjs"));
    assert_eq!(status, 200);
}

fn get_html(url: &str) -> (u16, String, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new().get(url).header("accept", "text/html").send().await.unwrap();
        let status = r.status().as_u16();
        let ty = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        (status, r.text().await.unwrap(), ty)
    })
}

/// A web folder without MapLibre installed: `/map/` is an HTML page (503) that says how to
/// install it, not a broken map.
#[test]
fn without_node_modules_the_map_page_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web");
    std::fs::create_dir(&web).unwrap();
    std::fs::copy(web_dir().join("index.html"), web.join("index.html")).unwrap();
    let store = dir.path().join("empty.gpkg");
    let server = start_server(&store, &["--web-dir", web.to_str().unwrap()]);
    let (status, page, ty) = get_html(&format!("{}/map/", server.url));
    assert_eq!(status, 503, "{page}");
    assert!(ty.starts_with("text/html"), "{ty}");
    assert!(page.contains("npm ci") && page.contains(&web.canonicalize().unwrap().display().to_string()), "{page}");
    // A folder that is not a web folder is refused at start, naming it.
    let (ok, _, err) =
        run(urbis().args(["serve", "--bind", "127.0.0.1:0", "--store"]).arg(&store).arg("--web-dir").arg(dir.path()));
    assert!(!ok && err.contains("no index.html"), "{err}");
}

/// The zoning map in headless Chromium (web/tests/zoning_map.mjs): rendered zoning, a clicked
/// parcel's zone in the panel, search, layers, the permalink, a phone. Screenshots are kept.
fn the_zoning_map_works_in_chromium(postgis: bool) {
    node_modules();
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path(), postgis);
    let server = start_server(Path::new(&store), &["--web-dir", web_dir().to_str().unwrap()]);
    let artefacts = chromium::artefacts("webmap", postgis);
    let summary = chromium::run_script("zoning_map.mjs", &[&server.url, &artefacts]);
    assert!(summary["rendered"]["zoning"].as_u64().unwrap() > 0, "{summary}");
    chromium::assert_screenshots(&artefacts, &["zoning-map.png", "cadastre-map.png", "zoning-map-phone.png"]);
    eprintln!("zoning map in Chromium: {summary}; screenshots in {}", artefacts.display());
}
