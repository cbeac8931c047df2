//! Damaged inputs: each is rejected (or repaired) with its index, id, field and a reason that
//! says what is wrong; the import is all-or-nothing unless told to skip, and then reports.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use geo_types::{Geometry, Point, Rect};
use urbis_core::{Feature, LayerId};
use urbis_import::{import_file, read_features, ImportError, ImportOptions, Mapping, Rejection, Silent};
use urbis_store::{LayerCount, Near, Progress, Query, Store, StoreKind};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn options(layer: LayerId, mapping: &str) -> ImportOptions {
    let mut o = ImportOptions::new(layer);
    o.mapping = toml::from_str(mapping).unwrap();
    o
}

async fn rejections(path: &Path, options: &ImportOptions) -> Vec<Rejection> {
    read_features(path, options, &Silent).await.unwrap().rejections()
}

const SQUARE: &str = "[[-71.1,42.37],[-71.099,42.37],[-71.099,42.371],[-71.1,42.371],[-71.1,42.37]]";

fn collection(features: &[String]) -> String {
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","))
}

fn zone(id: &str, code: Option<&str>, ring: &str) -> String {
    let code = code.map(|c| format!(r#""ZONE_TYPE":"{c}""#)).unwrap_or_default();
    format!(
        r#"{{"type":"Feature","id":"{id}","properties":{{{code}}},"geometry":{{"type":"Polygon","coordinates":[{ring}]}}}}"#
    )
}

const ZONE_MAPPING: &str = r#"fields = { code = "ZONE_TYPE" }"#;

#[tokio::test]
async fn unclosed_ring_is_closed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let open = "[[-71.1,42.37],[-71.099,42.37],[-71.099,42.371],[-71.1,42.371]]";
    let p = write(dir.path(), "z.geojson", &collection(&[zone("a", Some("C-1"), open)]));
    let c = read_features(&p, &options(LayerId::ZoningDistricts, ZONE_MAPPING), &Silent).await.unwrap();
    assert_eq!((c.features.len(), c.repaired, c.repairs.closed_rings), (1, 1, 1));
    // WKT in a CSV goes the same way.
    let p = write(
        dir.path(),
        "z.csv",
        "code,wkt\nC-2,\"POLYGON((-71.1 42.37,-71.099 42.37,-71.099 42.371,-71.1 42.371))\"\n",
    );
    let c = read_features(&p, &ImportOptions::new(LayerId::ZoningDistricts), &Silent).await.unwrap();
    assert_eq!((c.features.len(), c.repairs.closed_rings), (1, 1), "{:?}", c.rejections());
}

#[tokio::test]
async fn each_problem_is_named_with_index_id_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bowtie = "[[-71.1,42.37],[-71.1,42.371],[-71.099,42.37],[-71.099,42.371],[-71.1,42.37]]";
    let features = [
        zone("ok", Some("C-1"), SQUARE),
        zone("bow", Some("C-1"), bowtie),
        r#"{"type":"Feature","id":"nogeom","properties":{"ZONE_TYPE":"R-A"},"geometry":null}"#.to_string(),
        zone("ok", Some("C-2"), SQUARE),
        zone("nocode", None, SQUARE),
        r#"{"type":"Feature","id":"broken","properties":{"ZONE_TYPE":"R-B"},"geometry":{"type":"Polygon","coordinates":[[[1]]]}}"#.to_string(),
    ];
    let p = write(dir.path(), "z.geojson", &collection(&features));
    let r = rejections(&p, &options(LayerId::ZoningDistricts, ZONE_MAPPING)).await;
    let got: Vec<(u64, Option<&str>, &str)> = r.iter().map(|r| (r.index, r.id.as_deref(), r.field.as_str())).collect();
    assert_eq!(
        got,
        [
            (1, Some("bow"), "geometry"),
            (2, Some("nogeom"), "geometry"),
            (3, Some("ok"), "id"),
            (4, Some("nocode"), "code"),
            (5, Some("broken"), "geometry")
        ],
        "{r:#?}"
    );
    assert!(r[0].reason.contains("self-intersection"), "{}", r[0].reason);
    assert_eq!(r[1].reason, "the feature has no geometry");
    assert_eq!(r[2].reason, "duplicate id `ok`: feature 0 has it too");
    assert_eq!(r[3].reason, "required field is missing or empty");
    assert!(r[4].reason.contains("two or more elements"), "{}", r[4].reason);
    // Rebuilding on request repairs the bowtie instead.
    let mut o = options(LayerId::ZoningDistricts, ZONE_MAPPING);
    o.make_valid = true;
    let c = read_features(&p, &o, &Silent).await.unwrap();
    assert_eq!(c.repairs.rebuilt_polygons, 1);
}

#[tokio::test]
async fn nan_coordinates_in_a_csv() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "c.csv", "name,lon,lat\nTown hall,-71.105,42.366\nLost,NaN,NaN\nTypo,abc,42\n");
    let r = rejections(&p, &ImportOptions::new(LayerId::ServiceCentres)).await;
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!((r[0].index, r[0].id.as_deref(), r[0].field.as_str()), (1, Some("service_centres-1"), "geometry"));
    assert!(r[0].reason.contains("not a finite number"), "{}", r[0].reason);
    assert_eq!(r[1].reason, "longitude `abc` is not a number");
}

#[tokio::test]
async fn projected_coordinates_declared_as_wgs84() {
    let dir = tempfile::tempdir().unwrap();
    // Massachusetts state-plane feet, but the file says EPSG:4326.
    let doc = r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:4326"}},"features":[
        {"type":"Feature","id":7,"properties":{"name":"City Hall"},"geometry":{"type":"Point","coordinates":[763412.5,2958220.1]}}]}"#;
    let p = write(dir.path(), "wrong.geojson", doc);
    let r = rejections(&p, &ImportOptions::new(LayerId::ServiceCentres)).await;
    assert_eq!((r[0].index, r[0].id.as_deref(), r[0].field.as_str()), (0, Some("7"), "geometry"));
    assert!(r[0].reason.contains("outside longitude") && r[0].reason.contains("CRS"), "{}", r[0].reason);
    // Said right in the mapping, the same file comes in at Cambridge City Hall.
    let c = read_features(&p, &options(LayerId::ServiceCentres, r#"source_crs = "EPSG:2249""#), &Silent).await.unwrap();
    let Some(Geometry::Point(pt)) = &c.features[0].geometry else { panic!("{:?}", c.rejections()) };
    assert!((pt.x() - -71.105).abs() < 0.01 && (pt.y() - 42.366).abs() < 0.01, "{pt:?}");
    // An unknown CRS is an error of the whole file.
    let err = read_features(&p, &options(LayerId::ServiceCentres, r#"source_crs = "EPSG:99999""#), &Silent)
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::Crs { .. }), "{err}");
}

#[tokio::test]
async fn truncated_corrupt_and_unknown_files() {
    let dir = tempfile::tempdir().unwrap();
    let full = collection(&[zone("a", Some("C-1"), SQUARE)]);
    let p = write(dir.path(), "cut.geojson", &full[..full.len() / 2]);
    let err = read_features(&p, &ImportOptions::new(LayerId::ZoningDistricts), &Silent).await.unwrap_err();
    assert!(matches!(err, ImportError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("cut.geojson") && err.to_string().contains("EOF"), "{err}");
    let p = write(dir.path(), "junk.gpkg", "this is no database, just text that is long enough");
    let err = read_features(&p, &ImportOptions::new(LayerId::ZoningDistricts), &Silent).await.unwrap_err();
    assert!(matches!(err, ImportError::Unreadable { .. }) && err.to_string().contains("junk.gpkg"), "{err}");
    let p = write(dir.path(), "junk.pbf", "not a protobuf");
    let err = read_features(&p, &ImportOptions::new(LayerId::Roads), &Silent).await.unwrap_err();
    assert!(matches!(err, ImportError::Unreadable { .. }), "{err}");
    let p = write(dir.path(), "notes.xyz", "hello");
    let err = read_features(&p, &ImportOptions::new(LayerId::Roads), &Silent).await.unwrap_err();
    if cfg!(feature = "gdal") {
        assert!(matches!(err, ImportError::Unreadable { .. }), "{err}");
    } else {
        assert!(matches!(err, ImportError::UnsupportedFormat { .. }), "{err}");
    }
}

#[tokio::test]
async fn mapping_mistakes_and_joins_relative_to_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "z.geojson", &collection(&[zone("a", Some("C-1"), SQUARE)]));
    let err = read_features(&p, &options(LayerId::ZoningDistricts, r#"fields = { code = "ZONE" }"#), &Silent)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no feature has a field `ZONE`") && err.to_string().contains("ZONE_TYPE"),
        "{err}"
    );
    let err = read_features(&p, &options(LayerId::ZoningDistricts, r#"constants = { colour = "red" }"#), &Silent)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`colour` is not a field of zoning_districts"), "{err}");
    // A join table next to the mapping file, named relatively.
    std::fs::create_dir(dir.path().join("m")).unwrap();
    write(&dir.path().join("m"), "names.csv", "zone,label,height\nC-1,Business,24\n");
    let m = write(
        &dir.path().join("m"),
        "zoning.toml",
        "[fields]\ncode = \"ZONE_TYPE\"\nname = \"label\"\nmax_height_m = \"height\"\n[values.category]\n[join]\nfile = \"names.csv\"\nkey = \"ZONE_TYPE\"\ntable_key = \"zone\"\n",
    );
    let mut o = ImportOptions::new(LayerId::ZoningDistricts);
    o.mapping = Mapping::from_toml_file(&m).unwrap();
    let c = read_features(&p, &o, &Silent).await.unwrap();
    assert_eq!(c.features[0].text("name"), Some("Business"));
    assert_eq!(c.features[0].real("max_height_m"), Some(24.0));
    let bad = write(dir.path(), "bad.toml", "fields = { code = 3 }\n");
    let err = Mapping::from_toml_file(&bad).unwrap_err().to_string();
    assert!(err.contains("bad.toml") && err.contains("invalid type"), "{err}");
}

#[tokio::test]
async fn values_are_recoded_and_constants_fill_in() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "h.csv", "ID,TYPE,lon,lat\nh1,HYD,-71.1,42.37\nh2,POLE,-71.1,42.371\n");
    let m = r#"
        id = "ID"
        fields = { kind = "TYPE" }
        constants = { network = "water" }
        values = { kind = { HYD = "hydrant" } }
    "#;
    let c = read_features(&p, &options(LayerId::Utilities, m), &Silent).await.unwrap();
    let kinds: Vec<_> = c.features.iter().map(|f| (f.id.as_str(), f.text("kind"), f.text("network"))).collect();
    assert_eq!(kinds, [("h1", Some("hydrant"), Some("water")), ("h2", Some("POLE"), Some("water"))]);
    assert!(c.features[0].extra.is_empty(), "{:?}", c.features[0].extra);
}

/// A store that keeps what it is given, to see what an import writes.
#[derive(Default)]
struct Memory {
    loaded: Mutex<Vec<Feature>>,
}

#[async_trait]
impl Store for Memory {
    fn kind(&self) -> StoreKind {
        StoreKind::GeoPackage
    }
    fn location(&self) -> String {
        "memory".into()
    }
    async fn layers(&self) -> urbis_store::Result<Vec<LayerCount>> {
        Ok(vec![])
    }
    async fn get(&self, _: LayerId, _: &str) -> urbis_store::Result<Option<Feature>> {
        Ok(None)
    }
    async fn query(&self, _: LayerId, _: &Query) -> urbis_store::Result<Vec<Feature>> {
        Ok(vec![])
    }
    async fn count(&self, _: LayerId, _: &Query) -> urbis_store::Result<u64> {
        Ok(0)
    }
    async fn create(&self, _: LayerId, _: &[Feature]) -> urbis_store::Result<()> {
        Ok(())
    }
    async fn replace(&self, _: LayerId, _: &Feature) -> urbis_store::Result<()> {
        Ok(())
    }
    async fn delete(&self, _: LayerId, _: &str) -> urbis_store::Result<()> {
        Ok(())
    }
    async fn intersects(&self, _: LayerId, _: &Geometry, _: Option<u64>) -> urbis_store::Result<Vec<Feature>> {
        Ok(vec![])
    }
    async fn within_distance(
        &self,
        _: LayerId,
        _: &Geometry,
        _: f64,
        _: Option<u64>,
    ) -> urbis_store::Result<Vec<Near>> {
        Ok(vec![])
    }
    async fn nearest(&self, _: LayerId, _: Point, _: u64) -> urbis_store::Result<Vec<Near>> {
        Ok(vec![])
    }
    async fn bulk_load(
        &self,
        _: LayerId,
        features: &[Feature],
        _: bool,
        progress: Progress<'_>,
    ) -> urbis_store::Result<u64> {
        self.loaded.lock().unwrap().extend_from_slice(features);
        progress(features.len() as u64);
        Ok(features.len() as u64)
    }
    async fn extent(&self, _: LayerId) -> urbis_store::Result<Option<Rect>> {
        Ok(None)
    }
}

#[tokio::test]
async fn all_or_nothing_unless_skipping_then_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let features = [zone("a", Some("C-1"), SQUARE), zone("b", None, SQUARE), zone("c", Some("R-A"), SQUARE)];
    let p = write(dir.path(), "z.geojson", &collection(&features));
    let store = Memory::default();
    let mut o = options(LayerId::ZoningDistricts, ZONE_MAPPING);
    let err = import_file(&store, &p, &o, &Silent).await.unwrap_err();
    let ImportError::Rejected { rejections, .. } = &err else { panic!("{err}") };
    assert_eq!(rejections.len(), 1);
    assert!(store.loaded.lock().unwrap().is_empty(), "nothing may be written");
    assert!(err.to_string().contains("feature 1 (b): code: required field is missing or empty"), "{err}");

    o.skip_invalid = true;
    let s = import_file(&store, &p, &o, &Silent).await.unwrap();
    assert_eq!((s.read, s.written, s.rejected), (3, 2, 1));
    let report = s.report.unwrap();
    assert_eq!(report, dir.path().join("z.geojson.rejected.geojson"));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let f = &doc["features"][0];
    assert_eq!(f["properties"]["urbis:index"], 1);
    assert_eq!(f["properties"]["urbis:id"], "b");
    assert_eq!(f["properties"]["urbis:field"], "code");
    assert_eq!(f["geometry"]["type"], "Polygon");
    assert_eq!(store.loaded.lock().unwrap().len(), 2);
}
