//! CQL2 filters on both stores, on real Cambridge data: the street centrelines (2,643 lines) as
//! roads and the Planning Board special permits (499 points, with dates) as permits. Each filter's
//! result is checked against the same selection computed here in plain Rust from the source
//! GeoJSON (not through urbis' evaluator), and, with PostGIS, the two stores must give the same ids.

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use geo::{Contains, Coord, Geometry, Intersects, LineString, MultiLineString, Point, Polygon};
use serde_json::{Map, Value};
use urbis_core::cql2::{Cql2ErrorKind, Expr, Filter};
use urbis_core::{Feature, LayerId};
use urbis_store::{AttributeFilter, Comparison, Query, Store, StoreError};

on_both_stores!(
    (store, dir) => (&*store);
    roads_filters_match_plain_rust,
    permit_filters_match_plain_rust,
    filters_combine_with_bbox_equality_order_and_paging,
    unknown_properties_are_refused_by_name,
    quotes_in_literals_are_bound_not_spliced,
);

fn samples(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples").join(rel)
}

/// The source features: their GeoJSON properties and geometry.
struct Source {
    id: String,
    props: Map<String, Value>,
    geometry: Geometry,
}

fn coord(v: &Value) -> Coord {
    Coord { x: v[0].as_f64().unwrap(), y: v[1].as_f64().unwrap() }
}

fn line(v: &Value) -> LineString {
    LineString(v.as_array().unwrap().iter().map(coord).collect())
}

fn read(file: &str, id_key: &str) -> Vec<Source> {
    let text = std::fs::read_to_string(samples(file)).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let g = &f["geometry"];
            let c = &g["coordinates"];
            let geometry: Geometry = match g["type"].as_str().unwrap() {
                "Point" => Point(coord(c)).into(),
                "LineString" => MultiLineString(vec![line(c)]).into(),
                "MultiLineString" => MultiLineString(c.as_array().unwrap().iter().map(line).collect()).into(),
                other => panic!("{other}"),
            };
            let props = f["properties"].as_object().unwrap().clone();
            Source { id: props[id_key].as_str().unwrap().to_string(), props, geometry }
        })
        .collect()
}

fn text(p: &Map<String, Value>, k: &str) -> Option<String> {
    p.get(k).and_then(Value::as_str).map(str::to_string)
}

fn roads() -> Vec<Source> {
    read("cambridge/TRANS_Centerlines.geojson", "ID")
}

fn road_feature(s: &Source) -> Feature {
    let mut f = Feature::new(&s.id, Some(s.geometry.clone()));
    let p = &s.props;
    for (field, key) in [("name", "Street"), ("class", "Street_Type"), ("restriction", "Restriction")] {
        if let Some(v) = text(p, key) {
            f = f.with(field, v);
        }
    }
    if let Some(d) = text(p, "Direction") {
        f = f.with("oneway", d.parse::<i64>().unwrap());
    }
    for (field, key) in [("from_node", "FromNode"), ("to_node", "ToNode")] {
        if let Some(n) = p.get(key).and_then(Value::as_f64) {
            f = f.with(field, format!("{n}"));
        }
    }
    f
}

fn permits() -> Vec<Source> {
    read("cambridge/CDD_SpecialPermits.geojson", "GlobalID")
}

fn permit_feature(s: &Source) -> Feature {
    let p = &s.props;
    let day = |k: &str| text(p, k).map(|d| format!("{d}T00:00:00.000Z"));
    let mut f = Feature::new(&s.id, Some(s.geometry.clone()))
        .with("tracking_code", text(p, "CaseID").unwrap())
        .with("procedure_code", text(p, "CaseType").unwrap())
        .with("stage", text(p, "CaseStatus").unwrap())
        .with("received_at", day("created_date").unwrap());
    for (field, key) in [("description", "ProjectName"), ("address", "ProjectAddress")] {
        if let Some(v) = text(p, key) {
            f = f.with(field, v);
        }
    }
    if let Some(d) = day("last_edited_date") {
        f = f.with("decided_at", d);
    }
    f
}

async fn load(store: &dyn Store, layer: LayerId, features: Vec<Feature>) {
    let n = store.bulk_load(layer, &features, true, &|_| {}).await.unwrap();
    assert_eq!(n as usize, features.len());
}

/// Ids a store returns for a CQL2 text filter, checking its count agrees.
async fn ids(store: &dyn Store, layer: LayerId, filter: &str) -> Vec<String> {
    let f = Filter::from_text(layer, filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let q = Query::all().cql2(f);
    let found: Vec<String> = store.query(layer, &q).await.unwrap().into_iter().map(|f| f.id).collect();
    assert_eq!(store.count(layer, &q).await.unwrap() as usize, found.len(), "count of {filter}");
    found
}

fn expected(src: &[Source], keep: impl Fn(&Source) -> bool) -> Vec<String> {
    let set: BTreeSet<String> = src.iter().filter(|s| keep(s)).map(|s| s.id.clone()).collect();
    set.into_iter().collect()
}

fn dir(s: &Source) -> Option<i64> {
    text(&s.props, "Direction").map(|d| d.parse::<i64>().unwrap())
}

type Case = (&'static str, Box<dyn Fn(&Source) -> bool>);

fn road_cases() -> Vec<Case> {
    // A box over Central Square, and a polygon around Harvard Yard.
    let central = geo::Rect::new(Coord { x: -71.106, y: 42.362 }, Coord { x: -71.100, y: 42.367 }).to_polygon();
    let yard = Polygon::new(
        LineString::from(vec![
            (-71.1200, 42.3720),
            (-71.1140, 42.3720),
            (-71.1150, 42.3760),
            (-71.1200, 42.3750),
            (-71.1200, 42.3720),
        ]),
        vec![],
    );
    let (c2, y2, y3) = (central.clone(), yard.clone(), yard.clone());
    vec![
        ("name = 'Massachusetts Ave'", Box::new(move |s| text(&s.props, "Street").as_deref() == Some("Massachusetts Ave"))),
        ("name <> 'Massachusetts Ave'", Box::new(move |s| text(&s.props, "Street").is_some_and(|n| n != "Massachusetts Ave"))),
        ("name < 'C'", Box::new(move |s| text(&s.props, "Street").is_some_and(|n| n.as_str() < "C"))),
        ("name >= 'W'", Box::new(move |s| text(&s.props, "Street").is_some_and(|n| n.as_str() >= "W"))),
        ("name LIKE '%Ave'", Box::new(move |s| text(&s.props, "Street").is_some_and(|n| n.ends_with("Ave")))),
        ("name NOT LIKE 'M%'", Box::new(move |s| text(&s.props, "Street").is_some_and(|n| !n.starts_with('M')))),
        ("name LIKE '___ St'", Box::new(move |s| text(&s.props, "Street").is_some_and(|n| n.chars().count() == 6 && n.ends_with(" St")))),
        (
            "CASEI(name) LIKE 'broad%'",
            Box::new(move |s| text(&s.props, "Street").is_some_and(|n| n.to_lowercase().starts_with("broad"))),
        ),
        ("class IN ('Rd', 'Pl', 'Dr')", Box::new(move |s| text(&s.props, "Street_Type").is_some_and(|c| ["Rd", "Pl", "Dr"].contains(&c.as_str())))),
        ("class NOT IN ('St', 'Ave')", Box::new(move |s| text(&s.props, "Street_Type").is_some_and(|c| c != "St" && c != "Ave"))),
        ("class IS NULL", Box::new(move |s| text(&s.props, "Street_Type").is_none())),
        ("class IS NOT NULL AND oneway IS NULL", Box::new(move |s| text(&s.props, "Street_Type").is_some() && dir(s).is_none())),
        ("oneway = -1", Box::new(move |s| dir(s) == Some(-1))),
        ("oneway > 0 OR restriction = 'T'", Box::new(move |s| dir(s).is_some_and(|d| d > 0) || text(&s.props, "Restriction").as_deref() == Some("T"))),
        ("oneway BETWEEN -1 AND 0", Box::new(move |s| dir(s).is_some_and(|d| (-1..=0).contains(&d)))),
        ("oneway NOT BETWEEN 0 AND 1", Box::new(move |s| dir(s).is_some_and(|d| !(0..=1).contains(&d)))),
        ("oneway <= -0.5", Box::new(move |s| dir(s).is_some_and(|d| d as f64 <= -0.5))),
        (
            "NOT (oneway = 0 OR class = 'St') AND restriction = 'F'",
            // SQL: NOT of unknown is unknown, so a missing value on either side excludes the road
            // unless the other side of the OR is true (then NOT makes it false anyway).
            Box::new(move |s| {
                let a = dir(s).map(|d| d == 0);
                let b = text(&s.props, "Street_Type").map(|c| c == "St");
                let or = match (a, b) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                };
                or == Some(false) && text(&s.props, "Restriction").as_deref() == Some("F")
            }),
        ),
        ("id < 'B'", Box::new(move |s| s.id.as_str() < "B")),
        (
            "S_INTERSECTS(geometry, BBOX(-71.106, 42.362, -71.100, 42.367))",
            Box::new(move |s| s.geometry.intersects(&central)),
        ),
        (
            "S_WITHIN(geometry, BBOX(-71.106, 42.362, -71.100, 42.367))",
            Box::new(move |s| c2.contains(&s.geometry)),
        ),
        (
            "S_INTERSECTS(geometry, POLYGON((-71.1200 42.3720, -71.1140 42.3720, -71.1150 42.3760, -71.1200 42.3750, -71.1200 42.3720))) AND name IS NOT NULL",
            Box::new(move |s| s.geometry.intersects(&y2) && text(&s.props, "Street").is_some()),
        ),
        (
            "NOT S_INTERSECTS(geometry, POLYGON((-71.1200 42.3720, -71.1140 42.3720, -71.1150 42.3760, -71.1200 42.3750, -71.1200 42.3720))) AND class = 'Pl'",
            Box::new(move |s| !s.geometry.intersects(&y3) && text(&s.props, "Street_Type").as_deref() == Some("Pl")),
        ),
    ]
}

async fn roads_filters_match_plain_rust(store: &dyn Store) {
    let src = roads();
    load(store, LayerId::Roads, src.iter().map(road_feature).collect()).await;
    for (filter, keep) in road_cases() {
        let want = expected(&src, keep);
        assert!(
            !want.is_empty() && want.len() < src.len(),
            "{filter} selects {} of {}: not a test",
            want.len(),
            src.len()
        );
        assert_eq!(ids(store, LayerId::Roads, filter).await, want, "{filter}");
    }
}

/// Great-circle metres, written out here rather than taken from urbis.
fn haversine(a: Coord, b: Coord) -> f64 {
    let r = 6_371_008.8_f64;
    let (p1, p2) = (a.y.to_radians(), b.y.to_radians());
    let (dp, dl) = ((b.y - a.y).to_radians(), (b.x - a.x).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

fn point_of(s: &Source) -> Coord {
    match &s.geometry {
        Geometry::Point(p) => p.0,
        g => panic!("{g:?}"),
    }
}

async fn permit_filters_match_plain_rust(store: &dyn Store) {
    let src = permits();
    load(store, LayerId::Permits, src.iter().map(permit_feature).collect()).await;
    let t = |s: &Source, k: &str| text(&s.props, k);
    let cases: Vec<Case> = vec![
        (
            "received_at > TIMESTAMP('2025-09-22T00:00:00Z')",
            Box::new(move |s| t(s, "created_date").unwrap().as_str() > "2025-09-22"),
        ),
        (
            "decided_at BETWEEN TIMESTAMP('2026-03-01T00:00:00Z') AND TIMESTAMP('2026-04-01T00:00:00Z')",
            Box::new(move |s| {
                t(s, "last_edited_date").is_some_and(|d| ("2026-03-01".."2026-04-02").contains(&d.as_str()))
            }),
        ),
        (
            "received_at >= TIMESTAMP('2026-03-20T01:00:00+02:00')",
            // 2026-03-19T23:00Z: every permit received on the 20th or later.
            Box::new(move |s| t(s, "created_date").unwrap().as_str() >= "2026-03-20"),
        ),
        (
            "stage IN ('Expired', 'Permitted')",
            Box::new(move |s| ["Expired", "Permitted"].contains(&t(s, "CaseStatus").unwrap().as_str())),
        ),
        ("tracking_code LIKE 'AHO%'", Box::new(move |s| t(s, "CaseID").unwrap().starts_with("AHO"))),
        (
            "CASEI(address) LIKE '%main st%'",
            Box::new(move |s| t(s, "ProjectAddress").is_some_and(|a| a.to_lowercase().contains("main st"))),
        ),
    ];
    for (filter, keep) in cases {
        let want = expected(&src, keep);
        assert!(
            !want.is_empty() && want.len() < src.len(),
            "{filter} selects {} of {}: not a test",
            want.len(),
            src.len()
        );
        assert_eq!(ids(store, LayerId::Permits, filter).await, want, "{filter}");
    }

    // Distances in metres from Kendall Square, against a haversine written out above; a permit
    // within half a metre of the limit may fall either way (the stores' spheres differ that little).
    let kendall = Coord { x: -71.0862, y: 42.3625 };
    for metres in [150.0, 400.0, 1000.0] {
        let filter = format!("S_DWITHIN(geometry, POINT({} {}), {metres})", kendall.x, kendall.y);
        let got: BTreeSet<String> = ids(store, LayerId::Permits, &filter).await.into_iter().collect();
        let sure: BTreeSet<String> =
            src.iter().filter(|s| haversine(kendall, point_of(s)) < metres - 0.5).map(|s| s.id.clone()).collect();
        let maybe: BTreeSet<String> =
            src.iter().filter(|s| haversine(kendall, point_of(s)) <= metres + 0.5).map(|s| s.id.clone()).collect();
        assert!(!sure.is_empty() && maybe.len() < src.len(), "{metres} m: not a test");
        assert!(
            sure.is_subset(&got) && got.is_subset(&maybe),
            "{filter}: {} found, {} sure, {} at most",
            got.len(),
            sure.len(),
            maybe.len()
        );
    }
    // And around a road's polygon-free shape: within 100 m of a line.
    let filter = "S_DWITHIN(geometry, LINESTRING(-71.0950 42.3600, -71.0800 42.3650), 100) AND stage = 'Built'";
    let got = ids(store, LayerId::Permits, filter).await;
    for id in &got {
        let s = src.iter().find(|s| &s.id == id).unwrap();
        assert_eq!(t(s, "CaseStatus").as_deref(), Some("Built"));
    }
    assert!(!got.is_empty(), "{filter}");
}

async fn filters_combine_with_bbox_equality_order_and_paging(store: &dyn Store) {
    let src = roads();
    load(store, LayerId::Roads, src.iter().map(road_feature).collect()).await;
    let bbox = geo::Rect::new(Coord { x: -71.11, y: 42.36 }, Coord { x: -71.09, y: 42.375 });
    let filter = Filter::from_text(LayerId::Roads, "oneway <> 0 OR class = 'Ave'").unwrap();
    let q = Query::all().bbox(bbox).filter(AttributeFilter::new("restriction", Comparison::Eq, "F")).cql2(filter);
    let mut want: Vec<&Source> = src
        .iter()
        .filter(|s| s.geometry.intersects(&bbox.to_polygon()))
        .filter(|s| text(&s.props, "Restriction").as_deref() == Some("F"))
        .filter(|s| {
            let d = text(&s.props, "Direction").map(|d| d.parse::<i64>().unwrap());
            d.is_some_and(|d| d != 0) || text(&s.props, "Street_Type").as_deref() == Some("Ave")
        })
        .collect();
    assert!(want.len() > 30, "{}", want.len());
    assert_eq!(store.count(LayerId::Roads, &q).await.unwrap() as usize, want.len());
    // Sorted by name descending, nameless last, ties by id; the second page of 10.
    want.sort_by(|a, b| {
        let (na, nb) = (text(&a.props, "Street"), text(&b.props, "Street"));
        match (na, nb) {
            (Some(x), Some(y)) => y.cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.id.cmp(&b.id))
    });
    let q = Query { order_by: vec![("name".into(), true)], ..q }.offset(10).limit(10);
    let got: Vec<String> = store.query(LayerId::Roads, &q).await.unwrap().into_iter().map(|f| f.id).collect();
    let want: Vec<String> = want[10..20].iter().map(|s| s.id.clone()).collect();
    assert_eq!(got, want);
}

async fn unknown_properties_are_refused_by_name(store: &dyn Store) {
    load(store, LayerId::Roads, roads().iter().take(20).map(road_feature).collect()).await;
    // Checked when parsed: the name and its position.
    let e = Filter::from_text(LayerId::Roads, "name = 'x' AND speed > 30").unwrap_err();
    assert_eq!(e.kind, Cql2ErrorKind::UnknownProperty("speed".into()));
    assert!(e.to_string().contains("unknown property `speed`") && e.to_string().contains("at character 15"), "{e}");
    // A filter written for another layer: the store refuses it, naming the property.
    let permits_filter = Filter::from_text(LayerId::Permits, "stage = 'decided'").unwrap();
    match store.query(LayerId::Roads, &Query::all().cql2(permits_filter.clone())).await {
        Err(StoreError::UnknownField { layer: LayerId::Roads, field }) => assert_eq!(field, "stage"),
        other => panic!("{other:?}"),
    }
    match store.count(LayerId::Roads, &Query::all().cql2(permits_filter)).await {
        Err(StoreError::UnknownField { field, .. }) => assert_eq!(field, "stage"),
        other => panic!("{other:?}"),
    }
    // Or one whose types do not fit this layer.
    let f = Filter::from_text(LayerId::Permits, "address = 'x' AND S_INTERSECTS(geometry, POINT(0 0))").unwrap();
    match store.query(LayerId::Procedures, &Query::all().cql2(f)).await {
        Err(StoreError::UnknownField { field, .. }) => assert_eq!(field, "address"),
        other => panic!("{other:?}"),
    }
    let f = Filter::new(LayerId::Permits, Expr::parse_text("S_INTERSECTS(geometry, POINT(0 0))").unwrap()).unwrap();
    match store.query(LayerId::Procedures, &Query::all().cql2(f)).await {
        Err(StoreError::InvalidQuery { reason, .. }) => assert!(reason.contains("no geometry"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

async fn quotes_in_literals_are_bound_not_spliced(store: &dyn Store) {
    let hostile = "O'Brien'); DROP TABLE roads; --";
    let features = vec![
        Feature::new("r1", Some(MultiLineString(vec![LineString::from(vec![(0.0, 0.0), (0.001, 0.0)])]).into()))
            .with("name", hostile),
        Feature::new("r2", Some(MultiLineString(vec![LineString::from(vec![(0.0, 0.001), (0.001, 0.001)])]).into()))
            .with("name", "O'Brien St"),
    ];
    load(store, LayerId::Roads, features).await;
    let quoted = hostile.replace('\'', "''");
    assert_eq!(ids(store, LayerId::Roads, &format!("name = '{quoted}'")).await, ["r1"]);
    assert_eq!(ids(store, LayerId::Roads, "name LIKE 'O''Brien%'").await, ["r1", "r2"]);
    assert_eq!(ids(store, LayerId::Roads, "name IN ('x''; DELETE FROM roads; --', 'O''Brien St')").await, ["r2"]);
    let json = serde_json::json!({"op": "=", "args": [{"property": "name"}, hostile]}).to_string();
    let f = Filter::from_json(LayerId::Roads, &json).unwrap();
    let got: Vec<String> =
        store.query(LayerId::Roads, &Query::all().cql2(f)).await.unwrap().into_iter().map(|f| f.id).collect();
    assert_eq!(got, ["r1"]);
    assert_eq!(store.count(LayerId::Roads, &Query::all()).await.unwrap(), 2, "the table is intact");
}

/// The same filters on a GeoPackage and on PostGIS, loaded alike: the same ids in the same order.
#[cfg(feature = "postgis-tests")]
#[tokio::test]
async fn both_stores_give_identical_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let gpkg = support::gpkg(tmp.path()).await;
    let pg = support::postgis().await;
    let (roads, permits) = (roads(), permits());
    for store in [&gpkg, &pg] {
        load(&**store, LayerId::Roads, roads.iter().map(road_feature).collect()).await;
        load(&**store, LayerId::Permits, permits.iter().map(permit_feature).collect()).await;
    }
    let mut filters: Vec<(LayerId, String)> =
        road_cases().into_iter().map(|(f, _)| (LayerId::Roads, f.to_string())).collect();
    filters.extend(
        [
            "S_CONTAINS(POLYGON((-71.1200 42.3720, -71.1140 42.3720, -71.1150 42.3760, -71.1200 42.3750, -71.1200 42.3720)), geometry)",
            "S_DWITHIN(geometry, POINT(-71.1190 42.3736), 300) AND NOT (class = 'St')",
            "S_DWITHIN(geometry, MULTIPOINT((-71.1 42.37), (-71.09 42.36)), 120) OR name LIKE 'Z%'",
            "S_INTERSECTS(geometry, LINESTRING(-71.12 42.36, -71.08 42.38))",
        ]
        .map(|f| (LayerId::Roads, f.to_string())),
    );
    filters.extend(
        [
            "S_DWITHIN(geometry, POINT(-71.0862 42.3625), 750)",
            "S_WITHIN(geometry, BBOX(-71.10, 42.355, -71.07, 42.37)) AND stage <> 'Built'",
            "S_CONTAINS(geometry, POINT(-71.07981133005819 42.362153431515296))",
            "decided_at > received_at",
        ]
        .map(|f| (LayerId::Permits, f.to_string())),
    );
    for (layer, filter) in filters {
        let (a, b) = (ids(&*gpkg, layer, &filter).await, ids(&*pg, layer, &filter).await);
        assert!(!a.is_empty(), "{filter}: nothing found, not a test");
        assert_eq!(a, b, "{filter}");
    }
}
