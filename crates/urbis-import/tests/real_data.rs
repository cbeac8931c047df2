//! The readers on the real data in `shared/data`: exact counts, mapping, joins, and
//! reprojection checked against GDAL/PROJ (an independent engine) through `ogr2ogr`.

use std::path::{Path, PathBuf};

use geo::CoordsIter;
use urbis_core::LayerId;
use urbis_import::{read_features, Checked, ImportOptions, Mapping, Silent};

fn data(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(rel)
}

async fn read(rel: &str, layer: LayerId, mapping: Mapping) -> Checked {
    let mut options = ImportOptions::new(layer);
    options.mapping = mapping;
    read_features(&data(rel), &options, &Silent).await.unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn mapping(toml: &str) -> Mapping {
    toml::from_str(toml).unwrap()
}

#[tokio::test]
async fn cambridge_parcels_topojson() {
    let c =
        read("cambridge/ASSESSING_ParcelsFY2014.topojson", LayerId::Parcels, mapping(r#"fields = { code = "ML" }"#))
            .await;
    assert_eq!((c.read, c.features.len(), c.rejected.len()), (13_116, 13_077, 39));
    // The real dirt: invalid polygons (self-intersections, degenerate rings) and one parcel
    // without a map-lot.
    let geometry = c.rejected.iter().filter(|r| r.rejections.iter().any(|x| x.field == "geometry")).count();
    let no_code = c.rejections().iter().filter(|r| r.field == "code").count();
    assert_eq!((geometry, no_code), (38, 1));
    eprintln!(
        "parcels: written {} rejected {} repaired {} {:?}",
        c.features.len(),
        c.rejected.len(),
        c.repaired,
        c.repairs
    );
    for r in c.rejected.iter().take(5) {
        eprintln!("  {:?}", r.rejections);
    }
    assert_eq!(c.read, c.features.len() as u64 + c.rejected.len() as u64);
    let f = &c.features[0];
    assert!(f.real("area_m2").unwrap() > 0.0);
    assert!(f.extra.contains_key("LOC_ID"), "{:?}", f.extra);
}

#[tokio::test]
async fn cambridge_geojson_layers() {
    let z = read(
        "cambridge/CDD_ZoningDistricts.geojson",
        LayerId::ZoningDistricts,
        mapping(r#"fields = { code = "ZONE_TYPE" }"#),
    )
    .await;
    let o = read("cambridge/CDD_ZoningOverlayDistricts.geojson", LayerId::ZoningOverlays, Mapping::default()).await;
    let p = read(
        "cambridge/CDD_SpecialPermits.geojson",
        LayerId::Permits,
        mapping(
            r#"
            id = "CaseID"
            fields = { tracking_code = "CaseID", address = "ProjectAddress", received_at = "created_date", description = "ProjectName" }
            constants = { procedure_code = "special-permit", stage = "decided" }
            "#,
        ),
    )
    .await;
    let l = read("cambridge/TRANS_Centerlines.geojson", LayerId::Roads, mapping(r#"fields = { name = "Street_Name", from_node = "FromNode", to_node = "ToNode", restriction = "Restriction" }"#)).await;
    for (name, c) in [("zoning", &z), ("overlays", &o), ("permits", &p), ("centerlines", &l)] {
        eprintln!(
            "{name}: read {} written {} rejected {} repaired {} {:?}",
            c.read,
            c.features.len(),
            c.rejected.len(),
            c.repaired,
            c.repairs
        );
        for r in c.rejected.iter().take(3) {
            eprintln!("  {:?}", r.rejections);
        }
    }
    assert_eq!(z.read, 261);
    assert_eq!(o.read, 53);
    assert_eq!(p.read, 499);
    assert_eq!(l.read, 2_643);
}

/// Counts measured once on these extracts. Roads are every way with a `highway` tag (the README's
/// counts); buildings are closed and unclosed ways tagged `building` (multipolygon relations are
/// not read), unclosed ones rejected; service centres without a name are rejected, not invented.
#[tokio::test]
async fn osm_extracts() {
    use LayerId::*;
    let expected = [
        ("osm/monaco.osm.pbf", Roads, 2_927, 3),
        ("osm/monaco.osm.pbf", Buildings, 23_370, 46),
        ("osm/monaco.osm.pbf", ServiceCentres, 71, 11),
        ("osm/liechtenstein-latest.osm.pbf", Roads, 4_660, 0),
        ("osm/liechtenstein-latest.osm.pbf", Buildings, 8_991, 2),
        ("osm/liechtenstein-latest.osm.pbf", ServiceCentres, 66, 28),
        ("osm/porto_portugal.osm.pbf", Roads, 51_349, 39),
    ];
    for (file, layer, read_count, rejected) in expected {
        let c = read(file, layer, Mapping::default()).await;
        assert_eq!((c.read, c.rejected.len()), (read_count, rejected), "{file} {layer}");
        assert!(c.features.iter().all(|f| f.id.starts_with("osm-node-") || f.id.starts_with("osm-way-")));
    }
    let roads = read("osm/monaco.osm.pbf", Roads, Mapping::default()).await;
    let motorway_or_roundabout = roads.features.iter().filter(|f| {
        f.text("class") == Some("motorway") || f.extra.get("junction").and_then(|v| v.as_str()) == Some("roundabout")
    });
    assert!(motorway_or_roundabout.clone().count() > 0);
    assert!(motorway_or_roundabout.clone().all(|f| f.integer("oneway") != Some(0)));
    assert!(roads.features.iter().all(|f| f.real("speed_kmh").is_some_and(|s| s > 0.0)));
    let centres = read("osm/monaco.osm.pbf", ServiceCentres, Mapping::default()).await;
    assert!(centres.features.iter().all(|f| urbis_import::PUBLIC_SERVICE_AMENITIES.contains(&f.text("kind").unwrap())));
    let missing = &centres.rejected[0].rejections[0];
    assert_eq!((missing.field.as_str(), missing.reason.as_str()), ("name", "required field is missing or empty"));
}

#[tokio::test]
async fn parcels_joined_with_the_assessor_table() {
    let m = format!(
        r#"
        id = "ML"
        fields = {{ code = "ML", address = "Location", land_use_code = "UseCode", land_use = "UseDescription", stories = "BldgStories", year_built = "AYBYrBuilt" }}
        join = {{ file = "{}", key = "ML", table_key = "ML" }}
        "#,
        data("cambridge/TaxFY14.csv").display()
    );
    let c = read("cambridge/ASSESSING_ParcelsFY2014.topojson", LayerId::Parcels, mapping(&m)).await;
    assert_eq!(c.read, 13_116);
    let joined = c.features.iter().filter(|f| f.text("land_use").is_some()).count();
    eprintln!("joined {joined} of {}; rejected {}", c.features.len(), c.rejected.len());
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for r in c.rejections() {
        *reasons.entry(format!("{}: {}", r.field, r.reason.chars().take(40).collect::<String>())).or_default() += 1;
    }
    eprintln!("{reasons:#?}");
    let p = c.features.iter().find(|f| f.id == "7-19").expect("parcel 7-19");
    assert_eq!(p.text("address"), Some("221 MONSIGNOR OBRIEN HWY"));
    assert_eq!(p.text("land_use"), Some("WAREHOUSE"));
    assert_eq!(p.integer("year_built"), Some(1910));
    assert!(p.extra.contains_key("TotalAppraisedParcelValue") && !p.extra.contains_key("ML"), "{:?}", p.extra);
    // "---" marks parcels without a map-lot: 58 of them, all but the first duplicates.
    let dup = c.rejections().into_iter().filter(|r| r.reason.starts_with("duplicate id")).count();
    assert_eq!((joined, c.rejected.len(), dup), (12_945, 115, 80));
}

/// GDAL/PROJ projects the districts; our readers and proj4rs must bring every vertex back.
#[tokio::test]
async fn reprojection_agrees_with_gdal() {
    let dir = tempfile::tempdir().unwrap();
    let src = data("cambridge/CDD_ZoningDistricts.geojson");
    let shp = dir.path().join("zoning_2249.shp");
    let gpkg = dir.path().join("zoning_32619.gpkg");
    for args in [
        vec!["-t_srs", "EPSG:2249", shp.to_str().unwrap(), src.to_str().unwrap()],
        vec!["-f", "GPKG", "-t_srs", "EPSG:32619", gpkg.to_str().unwrap(), src.to_str().unwrap()],
    ] {
        let out = std::process::Command::new("ogr2ogr").args(&args).output().expect("ogr2ogr (gdal-bin)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let m = mapping(r#"fields = { code = "ZONE_TYPE" }"#);
    let original = read("cambridge/CDD_ZoningDistricts.geojson", LayerId::ZoningDistricts, m.clone()).await;
    for path in [&shp, &gpkg] {
        let mut options = ImportOptions::new(LayerId::ZoningDistricts);
        options.mapping = m.clone();
        let back = read_features(path, &options, &Silent).await.unwrap();
        assert_eq!(back.features.len(), original.features.len(), "{}", path.display());
        let mut worst = 0.0f64;
        for (a, b) in original.features.iter().zip(&back.features) {
            assert_eq!(a.text("code"), b.text("code"));
            let (ga, gb) = (a.geometry.as_ref().unwrap(), b.geometry.as_ref().unwrap());
            assert_eq!(ga.coords_count(), gb.coords_count(), "{}", a.id);
            for (p, q) in ga.coords_iter().zip(gb.coords_iter()) {
                worst = worst.max((p.x - q.x).abs()).max((p.y - q.y).abs());
            }
        }
        eprintln!("{}: worst vertex difference {worst:e} degrees", path.display());
        assert!(worst < 1e-7, "{}: {worst}", path.display());
    }
}

/// With the `gdal` feature, a format only GDAL reads (FlatGeobuf here) comes in reprojected.
#[cfg(feature = "gdal")]
#[tokio::test]
async fn gdal_reads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let src = data("cambridge/CDD_ZoningOverlayDistricts.geojson");
    let fgb = dir.path().join("overlays.fgb");
    let out = std::process::Command::new("ogr2ogr")
        .args([
            "-f",
            "FlatGeobuf",
            "-lco",
            "SPATIAL_INDEX=NO",
            "-t_srs",
            "EPSG:2249",
            fgb.to_str().unwrap(),
            src.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let original =
        read("cambridge/CDD_ZoningOverlayDistricts.geojson", LayerId::ZoningOverlays, Mapping::default()).await;
    let back = read_features(&fgb, &ImportOptions::new(LayerId::ZoningOverlays), &Silent).await.unwrap();
    assert_eq!(back.read, 53);
    let a = original.features[0].geometry.as_ref().unwrap().coords_iter().next().unwrap();
    let b = back.features[0].geometry.as_ref().unwrap().coords_iter().next().unwrap();
    assert!((a.x - b.x).abs() < 1e-7 && (a.y - b.y).abs() < 1e-7, "{a:?} {b:?}");
}
