//! OGC API – Features over HTTP, on both stores: the router is called as a client would, without
//! a socket, and what it answers is checked against what the store holds.

#[macro_use]
mod support;
#[path = "support/city.rs"]
mod city;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use geo::{line_string, polygon};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use urbis_core::{Feature, LayerId};
use urbis_store::Store;

on_both_stores!(
    (store, dir) => (std::sync::Arc::from(store));
    collections_and_paging,
    bad_requests_get_clear_4xx,
    private_fields_stay_private,
    what_is_at_a_point,
    the_parcel_report,
    crs_time_and_counting,
    spatial_queries,
    compression_cors_and_limits,
    cql2_filters_through_items,
    long_parcels_find_what_is_near_them,
);

async fn get(store: &Arc<dyn Store>, uri: &str) -> (StatusCode, Value) {
    let (status, _, body) = get_with_headers(store, uri).await;
    (status, body)
}

async fn get_with_headers(store: &Arc<dyn Store>, uri: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = urbis_server::router(store.clone())
        .oneshot(
            Request::get(uri)
                .header("accept", "application/json")
                .header("host", "city.example:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// 25 parcels of 0.001° on a 5 × 5 grid.
async fn grid(store: &Arc<dyn Store>) {
    let mut features = vec![];
    for i in 0..5 {
        for j in 0..5 {
            let (x, y) = (-71.1 + i as f64 * 0.002, 42.36 + j as f64 * 0.002);
            let p = polygon![(x: x, y: y), (x: x + 0.001, y: y), (x: x + 0.001, y: y + 0.001), (x: x, y: y + 0.001)];
            let id = format!("p{i}{j}");
            features.push(Feature::new(&id, Some(geo::MultiPolygon(vec![p]).into())).with("code", id.as_str()));
        }
    }
    store.create(LayerId::Parcels, &features).await.unwrap();
}

async fn collections_and_paging(store: Arc<dyn Store>) {
    grid(&store).await;
    let (status, landing) = get(&store, "/").await;
    assert_eq!(status, StatusCode::OK);
    let rels: Vec<&str> = landing["links"].as_array().unwrap().iter().filter_map(|l| l["rel"].as_str()).collect();
    for rel in ["service-desc", "conformance", "data"] {
        assert!(rels.contains(&rel), "{rels:?}");
    }
    let (_, api) = get(&store, "/api").await;
    assert_eq!(api["openapi"], "3.0.3");
    assert!(!api.to_string().contains("\"$ref\":\"http"), "the API definition must be self-contained");
    let (_, collections) = get(&store, "/collections").await;
    assert_eq!(collections["collections"].as_array().unwrap().len(), LayerId::ALL.len());

    let (status, page) = get(&store, "/collections/parcels/items?limit=10&offset=10").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["numberMatched"], 25);
    assert_eq!(page["numberReturned"], 10);
    assert_eq!(page["features"][0]["id"], "p20");
    let links = page["links"].as_array().unwrap();
    let href = |rel: &str| links.iter().find(|l| l["rel"] == rel).map(|l| l["href"].as_str().unwrap().to_string());
    // Links are absolute, from the Host the client used.
    assert_eq!(href("next").as_deref(), Some("http://city.example:8080/collections/parcels/items?limit=10&offset=20"));
    assert_eq!(href("prev").as_deref(), Some("http://city.example:8080/collections/parcels/items?limit=10&offset=0"));
    let next = href("next").unwrap();
    let (_, last) = get(&store, next.trim_start_matches("http://city.example:8080")).await;
    assert_eq!(last["numberReturned"], 5);
    assert!(last["links"].as_array().unwrap().iter().all(|l| l["rel"] != "next"));

    // The box holds the 2 × 2 parcels of columns 1-2, rows 1-2 (squares it only touches count).
    let (_, boxed) = get(&store, "/collections/parcels/items?bbox=-71.0985,42.3615,-71.0955,42.3645").await;
    let ids: Vec<&str> = boxed["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["p11", "p12", "p21", "p22"]);
    assert_eq!(boxed["numberMatched"], 4);
    // Paged, the box's matches are still counted in full; past its end too.
    for (offset, returned) in [(0, 3), (3, 1), (6, 0)] {
        let uri = format!("/collections/parcels/items?bbox=-71.0985,42.3615,-71.0955,42.3645&limit=3&offset={offset}");
        let (_, page) = get(&store, &uri).await;
        assert_eq!(
            (page["numberMatched"].as_u64(), page["numberReturned"].as_u64()),
            (Some(4), Some(returned)),
            "{uri}"
        );
    }
    // `extra` as stored and the geometry's numbers in full, on a parcel away from the grid.
    let square = geo::polygon![(x: -71.2000000000001, y: 42.2), (x: -71.19, y: 42.2), (x: -71.19, y: 42.2123456789012)];
    let mut odd = Feature::new("q1", Some(geo::MultiPolygon(vec![square]).into())).with("code", "q1");
    let extra = json!({ "source": { "LOT": "31", "n": [1, 2.5, null] }, "ü \"q\"": true, "a": {} });
    odd.extra = extra.as_object().unwrap().clone();
    store.create(LayerId::Parcels, &[odd]).await.unwrap();
    let (_, found) = get(&store, "/collections/parcels/items?bbox=-71.21,42.19,-71.18,42.22").await;
    assert_eq!(found["features"][0]["properties"]["extra"], extra, "{found}");
    let ring = &found["features"][0]["geometry"]["coordinates"][0][0];
    assert_eq!((ring[0][0].as_f64(), ring[2][1].as_f64()), (Some(-71.2000000000001), Some(42.2123456789012)));
    store.delete(LayerId::Parcels, "q1").await.unwrap();

    // Sorted by code, descending, with only the code returned; the next link keeps both.
    let (status, sorted) = get(&store, "/collections/parcels/items?sortby=-code&properties=code&limit=3").await;
    assert_eq!(status, StatusCode::OK, "{sorted}");
    let codes: Vec<&str> =
        sorted["features"].as_array().unwrap().iter().map(|f| f["properties"]["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["p44", "p43", "p42"]);
    assert!(sorted["features"][0]["properties"].as_object().unwrap().keys().all(|k| k == "code"));
    let next =
        sorted["links"].as_array().unwrap().iter().find(|l| l["rel"] == "next").unwrap()["href"].as_str().unwrap();
    assert!(next.ends_with("&properties=code&sortby=-code"), "{next}");
    let (_, more) = get(&store, next.trim_start_matches("http://city.example:8080")).await;
    assert_eq!(more["features"][0]["properties"]["code"], "p41");

    let (status, one) = get(&store, "/collections/parcels/items/p34").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["properties"]["code"], "p34");
    assert_eq!(one["geometry"]["type"], "MultiPolygon");
}

async fn bad_requests_get_clear_4xx(store: Arc<dyn Store>) {
    grid(&store).await;
    for (uri, status, parameter) in [
        ("/collections/parcels/items?bbox=-71.0,42.4,-71.2,42.3,1,2", StatusCode::BAD_REQUEST, Some("bbox")),
        ("/collections/parcels/items?bbox=-71.0,42.4,-71.2,42.3", StatusCode::BAD_REQUEST, Some("bbox")),
        ("/collections/parcels/items?limit=1000000000", StatusCode::BAD_REQUEST, Some("limit")),
        ("/collections/parcels/items?offset=-3", StatusCode::BAD_REQUEST, Some("offset")),
        ("/collections/procedures/items?bbox=0,0,1,1", StatusCode::BAD_REQUEST, Some("bbox")),
        ("/collections/parcels/items?properties=code,colour", StatusCode::BAD_REQUEST, Some("properties")),
        ("/collections/parcels/items?sortby=-colour", StatusCode::BAD_REQUEST, Some("sortby")),
        ("/collections/parcels/items?sortby=code,-code", StatusCode::BAD_REQUEST, Some("sortby")),
        ("/collections/nowhere/items", StatusCode::NOT_FOUND, None),
        ("/collections/parcels/items/none-such", StatusCode::NOT_FOUND, None),
    ] {
        let (got, body) = get(&store, uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{uri}: {body}");
        if let Some(p) = parameter {
            assert_eq!(body["parameter"], p, "{uri}: {body}");
        }
    }
    let (_, all) = get(&store, "/collections/parcels/items").await;
    assert_eq!(all["numberMatched"], 25, "nothing changed");
}

async fn private_fields_stay_private(store: Arc<dyn Store>) {
    let dossier = Feature::new("d1", Some(geo::Point::new(-71.1, 42.37).into()))
        .with("tracking_code", "URB-1")
        .with("procedure_code", "BP-01")
        .with("applicant", json!({ "name": "A. Resident", "phone": "+1 617 555 0100" }))
        .with("stage", "received")
        .with("received_at", "2026-10-01T09:30:00.000Z");
    store.create(LayerId::Permits, &[dossier]).await.unwrap();
    for uri in ["/collections/permits/items", "/collections/permits/items/d1"] {
        let (status, body) = get(&store, uri).await;
        assert_eq!(status, StatusCode::OK);
        let text = body.to_string();
        assert!(text.contains("URB-1"), "{text}");
        assert!(!text.contains("applicant") && !text.contains("Resident") && !text.contains("555"), "{uri}: {text}");
    }
}

async fn what_is_at_a_point(store: Arc<dyn Store>) {
    grid(&store).await;
    let zone = polygon![(x: -71.11, y: 42.35), (x: -71.08, y: 42.35), (x: -71.08, y: 42.38), (x: -71.11, y: 42.38)];
    store
        .create(
            LayerId::ZoningDistricts,
            &[Feature::new("z1", Some(geo::MultiPolygon(vec![zone]).into())).with("code", "C-1")],
        )
        .await
        .unwrap();
    let centres = [("c-near", -71.0985), ("c-far", -71.09)];
    for (id, lon) in centres {
        store
            .create(
                LayerId::ServiceCentres,
                &[Feature::new(id, Some(geo::Point::new(lon, 42.3625).into())).with("name", id)],
            )
            .await
            .unwrap();
    }
    // Inside parcel p11 (x -71.098..-71.097, y 42.362..42.363).
    let (status, at) = get(&store, "/query/at?lon=-71.0975&lat=42.3625").await;
    assert_eq!(status, StatusCode::OK, "{at}");
    assert_eq!(at["parcels"][0]["id"], "p11");
    assert_eq!(at["zoning_districts"][0]["properties"]["code"], "C-1");
    assert_eq!(at["zoning_overlays"], json!([]));
    assert_eq!(at["nearest_road"], Value::Null);
    assert_eq!(at["nearest_service_centre"]["feature"]["id"], "c-near");
    // 0.001° of longitude at 42.36° N on the sphere.
    let d = at["nearest_service_centre"]["distance_m"].as_f64().unwrap();
    assert!((d - 82.2).abs() < 0.5, "{d}");
    for uri in ["/query/at?lon=-71.1", "/query/at?lon=200&lat=42", "/query/at?lon=x&lat=42"] {
        let (status, body) = get(&store, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body["parameter"].is_string(), "{uri}: {body}");
    }
}

/// One parcel of about 100 m × 100 m with two districts, an overlay, a street in front, a hydrant
/// whose protection zone reaches it, a pole too far away, a permit on it and one elsewhere.
async fn the_parcel_report(store: Arc<dyn Store>) {
    let (x0, y0) = (-71.1, 42.36);
    let (dx, dy) = (100.0 / (111_195.08 * 42.36f64.to_radians().cos()), 100.0 / 111_195.08);
    let rect = |x: f64, y: f64, w: f64, h: f64| {
        geo::MultiPolygon(vec![polygon![(x: x, y: y), (x: x + w, y: y), (x: x + w, y: y + h), (x: x, y: y + h)]])
    };
    let parcel = Feature::new("parcel-1", Some(rect(x0, y0, dx, dy).into())).with("code", "12-34");
    store.create(LayerId::Parcels, &[parcel]).await.unwrap();
    // District A covers the west 70 %, B the rest.
    let a = Feature::new("za", Some(rect(x0 - dx, y0 - dy, 1.7 * dx, 3.0 * dy).into()))
        .with("code", "R-A")
        .with("max_height_m", 10.7)
        .with("permitted_uses", json!(["dwelling"]));
    let b = Feature::new("zb", Some(rect(x0 + 0.7 * dx, y0 - dy, 2.0 * dx, 3.0 * dy).into())).with("code", "B-1");
    store.create(LayerId::ZoningDistricts, &[a, b]).await.unwrap();
    let overlay = Feature::new("o1", Some(rect(x0, y0, dx / 2.0, dy / 2.0).into())).with("name", "Historic");
    store.create(LayerId::ZoningOverlays, &[overlay]).await.unwrap();
    // A street 10 m south of the parcel, one 100 m north.
    let street = |id: &str, y: f64| {
        Feature::new(
            id,
            Some(geo::MultiLineString(vec![line_string![(x: x0 - dx, y: y), (x: x0 + 2.0 * dx, y: y)]]).into()),
        )
        .with("name", id)
    };
    store
        .create(LayerId::Roads, &[street("Main St", y0 - 10.0 / 111_195.08), street("Far St", y0 + 2.0 * dy)])
        .await
        .unwrap();
    let hydrant = Feature::new(
        "h1",
        Some(geo::Point::new(x0 - 20.0 / 111_195.08 / 42.36f64.to_radians().cos(), y0 + dy / 2.0).into()),
    )
    .with("network", "water")
    .with("kind", "hydrant")
    .with("protection_m", 25.0);
    let pole = Feature::new("pole1", Some(geo::Point::new(x0 + dx / 2.0, y0 + dy + 50.0 / 111_195.08).into()))
        .with("network", "power");
    store.create(LayerId::Utilities, &[hydrant, pole]).await.unwrap();
    let permit = |id: &str, x: f64, y: f64, code: &str| {
        Feature::new(id, Some(geo::Point::new(x, y).into()))
            .with("tracking_code", id)
            .with("procedure_code", "BP")
            .with("parcel_codes", json!([code]))
            .with("stage", "in_review")
            .with("received_at", "2026-10-01T09:30:00.000Z")
            .with("applicant", json!({ "name": "A. Resident" }))
    };
    store
        .create(
            LayerId::Permits,
            &[permit("on-it", x0 + dx / 2.0, y0 + dy / 2.0, "12-34"), permit("elsewhere", x0 + 5.0 * dx, y0, "99-1")],
        )
        .await
        .unwrap();
    store
        .create(
            LayerId::ServiceCentres,
            &[Feature::new("c1", Some(geo::Point::new(x0 + 3.0 * dx, y0).into())).with("name", "Annex")],
        )
        .await
        .unwrap();

    for key in ["parcel-1", "12-34"] {
        let (status, r) = get(&store, &format!("/parcels/{key}/report")).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        let area = r["area_m2"].as_f64().unwrap();
        assert!((area - 10_000.0).abs() < 100.0, "{area}");
        let zones: Vec<(&str, f64)> = r["zoning_districts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|z| (z["properties"]["code"].as_str().unwrap(), z["share"].as_f64().unwrap()))
            .collect();
        assert_eq!(zones.len(), 2, "{zones:?}");
        assert_eq!(zones[0].0, "R-A");
        assert!((zones[0].1 - 0.7).abs() < 0.01 && (zones[1].1 - 0.3).abs() < 0.01, "{zones:?}");
        assert_eq!(r["zoning_districts"][0]["properties"]["max_height_m"], 10.7);
        assert_eq!(r["zoning_overlays"][0]["properties"]["name"], "Historic");
        let roads: Vec<&str> =
            r["fronts_roads"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(roads, ["Main St"]);
        let utilities: Vec<&str> =
            r["utilities"]["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(utilities, ["h1"]);
        assert_eq!(r["protection_zones_crossed"][0]["utility"], "h1");
        let permits: Vec<&str> = r["permits"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(permits, ["on-it"]);
        assert_eq!(r["permits"][0]["open"], true);
        assert!(!r.to_string().contains("Resident"), "personal data leaked");
        assert_eq!(r["nearest_service_centre"]["id"], "c1");
    }
    let (_, wider) = get(&store, "/parcels/parcel-1/report?utilities_m=80").await;
    assert_eq!(wider["utilities"]["features"].as_array().unwrap().len(), 2);
    let (status, body) = get(&store, "/parcels/parcel-1/report?utilities_m=-5").await;
    assert_eq!((status, body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("utilities_m")));
    let (status, _) = get(&store, "/parcels/none/report").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Part 2 (CRS), `datetime`, filtering on a field by name, counting and the collection's extent.
async fn crs_time_and_counting(store: Arc<dyn Store>) {
    grid(&store).await;
    let close = |a: &Value, b: [f64; 2], tol: f64| {
        (a[0].as_f64().unwrap() - b[0]).abs() < tol && (a[1].as_f64().unwrap() - b[1]).abs() < tol
    };
    // Web Mercator, checked against GDAL/PROJ: `echo -71.098 42.362 | gdaltransform -s_srs
    // "+proj=longlat +datum=WGS84" -t_srs EPSG:3857` gives -7914593.15642016 5215360.48022351.
    let (status, headers, p11) = get_with_headers(&store, "/collections/parcels/items/p11?crs=EPSG:3857").await;
    assert_eq!(status, StatusCode::OK, "{p11}");
    assert_eq!(headers["content-crs"], "<http://www.opengis.net/def/crs/EPSG/0/3857>");
    let first = &p11["geometry"]["coordinates"][0][0][0];
    assert!(close(first, [-7_914_593.156_420_16, 5_215_360.480_223_51], 1e-6), "{first}");
    let (_, headers, p11) =
        get_with_headers(&store, "/collections/parcels/items/p11?crs=http://www.opengis.net/def/crs/EPSG/0/4326").await;
    assert_eq!(headers["content-crs"], "<http://www.opengis.net/def/crs/EPSG/0/4326>");
    assert!(close(&p11["geometry"]["coordinates"][0][0][0], [42.362, -71.098], 1e-12), "latitude first: {p11}");
    let (_, headers, _) = get_with_headers(&store, "/collections/parcels/items?limit=1").await;
    assert_eq!(headers["content-crs"], "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>");
    assert_eq!(headers["cache-control"], "no-cache", "features change; caches must revalidate");

    // The same box in three CRSs selects the same parcels (the corners, from GDAL as above, lie
    // between the grid's rows and columns).
    let ids = |body: &Value| -> Vec<String> {
        body["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
    };
    let (_, lonlat) = get(&store, "/collections/parcels/items?bbox=-71.1,42.36,-71.091,42.369&limit=100").await;
    let (_, latlon) =
        get(&store, "/collections/parcels/items?bbox=42.36,-71.1,42.369,-71.091&bbox-crs=EPSG:4326&limit=100").await;
    let (_, mercator) = get(
        &store,
        "/collections/parcels/items?bbox=-7914815.79540175,5215059.17461062,-7913813.91998461,5216415.12540581\
         &bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857&limit=100",
    )
    .await;
    assert_eq!(ids(&lonlat).len(), 25);
    assert_eq!(ids(&latlon), ids(&lonlat));
    assert_eq!(ids(&mercator), ids(&lonlat));
    let (_, small) =
        get(&store, "/collections/parcels/items?bbox=42.3605,-71.0995,42.3615,-71.0985&bbox-crs=EPSG:4326").await;
    assert_eq!(ids(&small), ["p00"], "{small}");

    // A field by name filters on equality; unknown and repeated parameters are refused by name.
    let (status, one) = get(&store, "/collections/parcels/items?code=p23").await;
    assert_eq!((status, ids(&one)), (StatusCode::OK, vec!["p23".to_string()]));
    for (uri, parameter) in [
        ("/collections/parcels/items?colour=red", "colour"),
        ("/collections/parcels/items?limit=1&limit=2", "limit"),
        ("/collections/parcels/items?crs=EPSG:2249", "crs"),
        ("/collections/parcels/items?bbox-crs=EPSG:3857", "bbox-crs"),
        ("/collections/parcels/items?bbox=0,0,1,1&bbox-crs=EPSG:3857&crs=EPSG:3857&datetime=2026-01-01", "datetime"),
        ("/collections/parcels/items/p11?crs=EPSG:9999", "crs"),
        ("/collections/parcels/items?f=xml", "f"),
        ("/collections/parcels/items?numberMatched=maybe", "numberMatched"),
    ] {
        let (status, body) = get(&store, uri).await;
        assert_eq!((status, body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some(parameter)), "{uri}: {body}");
    }

    // Counting: exact on request; a page that ends at the last match has no next link.
    let (_, page) = get(&store, "/collections/parcels/items?limit=25&numberMatched=exact").await;
    assert_eq!(page["numberMatched"], 25);
    assert!(page.get("numberMatchedIsEstimate").is_none());
    assert!(!page["links"].as_array().unwrap().iter().any(|l| l["rel"] == "next"), "{page}");
    let (_, page) = get(&store, "/collections/parcels/items?limit=24").await;
    assert!(page["links"].as_array().unwrap().iter().any(|l| l["rel"] == "next"));
    let (status, page) = get(&store, "/collections/parcels/items?limit=1&numberMatched=estimate").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page["numberMatched"].as_u64().is_some(), "{page}");

    // datetime on the dossiers' reception time.
    for (id, at) in [("d1", "2026-10-01T09:30:00Z"), ("d2", "2026-10-02T23:59:59Z"), ("d3", "2026-10-05T08:00:00Z")] {
        let dossier = Feature::new(id, None)
            .with("tracking_code", format!("URB-{id}"))
            .with("procedure_code", "BP-01")
            .with("stage", "received")
            .with("received_at", at);
        store.create(LayerId::Permits, &[dossier]).await.unwrap();
    }
    for (datetime, expected) in [
        ("2026-10-02", vec!["d2"]),
        ("2026-10-01T09:30:00Z", vec!["d1"]),
        ("2026-10-01/2026-10-02", vec!["d1", "d2"]),
        ("2026-10-02T00:00:00Z/..", vec!["d2", "d3"]),
        ("../2026-10-01T12:00:00-03:00", vec!["d1"]),
        ("../2026-10-01T12:00:00%2B03:00", vec![]),
        ("/2026-09-30", vec![]),
    ] {
        let (status, body) = get(&store, &format!("/collections/permits/items?datetime={datetime}")).await;
        assert_eq!(status, StatusCode::OK, "{datetime}: {body}");
        assert_eq!(ids(&body), expected, "{datetime}");
    }
    // Several sort keys: all three are `received`, so the second key decides.
    let (_, sorted) = get(&store, "/collections/permits/items?sortby=stage,-received_at").await;
    assert_eq!(ids(&sorted), ["d3", "d2", "d1"]);
    let (_, sorted) = get(&store, "/collections/permits/items?sortby=-stage,id").await;
    assert_eq!(ids(&sorted), ["d1", "d2", "d3"]);
    for bad in ["yesterday", "2026-10-05/2026-10-01", ".."] {
        let (status, body) = get(&store, &format!("/collections/permits/items?datetime={bad}")).await;
        assert_eq!((status, body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("datetime")), "{bad}");
    }

    // Each collection says what CRSs it serves and where and when its features are.
    let (_, parcels) = get(&store, "/collections/parcels").await;
    assert_eq!(parcels["crs"].as_array().unwrap().len(), 3);
    let bbox = &parcels["extent"]["spatial"]["bbox"][0];
    let expected = [-71.1, 42.36, -71.091, 42.369];
    for (i, e) in expected.iter().enumerate() {
        assert!((bbox[i].as_f64().unwrap() - e).abs() < 1e-9, "{bbox}");
    }
    let (_, permits) = get(&store, "/collections/permits").await;
    assert_eq!(
        permits["extent"]["temporal"]["interval"][0],
        json!(["2026-10-01T09:30:00.000Z", "2026-10-05T08:00:00.000Z"])
    );
    let (_, conformance) = get(&store, "/conformance").await;
    assert!(conformance.to_string().contains("ogcapi-features-2/1.0/conf/crs"));
}

async fn post(store: &Arc<dyn Store>, uri: &str, body: &str) -> (StatusCode, Value) {
    let response = urbis_server::router(store.clone())
        .oneshot(
            Request::post(uri)
                .header("content-type", "application/geo+json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Within a distance, k nearest and intersects, each checked against geo's own computation.
async fn spatial_queries(store: Arc<dyn Store>) {
    use geo::{Distance, Haversine, Intersects};
    grid(&store).await;
    let centres: Vec<(String, geo::Point)> = (0..12)
        .map(|i| (format!("c{i:02}"), geo::Point::new(-71.1 + 0.0011 * i as f64, 42.365 + 0.0003 * i as f64)))
        .collect();
    let features: Vec<Feature> =
        centres.iter().map(|(id, p)| Feature::new(id, Some((*p).into())).with("name", id.as_str())).collect();
    store.create(LayerId::ServiceCentres, &features).await.unwrap();
    let here = geo::Point::new(-71.094, 42.366);
    let mut by_distance: Vec<(f64, &str)> =
        centres.iter().map(|(id, p)| (Haversine.distance(here, *p), id.as_str())).collect();
    by_distance.sort_by(|a, b| a.0.total_cmp(&b.0));
    let ids = |body: &Value| -> Vec<String> {
        body["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
    };

    let (status, k) = get(&store, "/query/nearest?layer=service_centres&lon=-71.094&lat=42.366&k=3").await;
    assert_eq!(status, StatusCode::OK, "{k}");
    let expected: Vec<&str> = by_distance.iter().take(3).map(|d| d.1).collect();
    assert_eq!(ids(&k), expected);
    for (f, (d, _)) in k["features"].as_array().unwrap().iter().zip(&by_distance) {
        assert!((f["distance_m"].as_f64().unwrap() - d).abs() < 0.5, "{f} vs {d}");
    }

    let (status, near) = get(&store, "/query/within?layer=service_centres&lon=-71.094&lat=42.366&m=300").await;
    assert_eq!(status, StatusCode::OK, "{near}");
    let expected: Vec<&str> = by_distance.iter().filter(|d| d.0 <= 300.0).map(|d| d.1).collect();
    assert!(!expected.is_empty() && expected.len() < centres.len());
    assert_eq!(ids(&near), expected);

    // A posted polygon: the parcels that intersect it, and the centres within 50 m of it.
    let area = geo::polygon![(x: -71.0995, y: 42.3605), (x: -71.0965, y: 42.3605), (x: -71.0965, y: 42.3625), (x: -71.0995, y: 42.3625)];
    let body = json!({ "type": "Feature", "properties": {}, "geometry": geojson::Geometry::from(&area) }).to_string();
    let (status, hit) = post(&store, "/query/intersects?layer=parcels", &body).await;
    assert_eq!(status, StatusCode::OK, "{hit}");
    let mut expected = vec![];
    for f in store.query(LayerId::Parcels, &urbis_store::Query::all()).await.unwrap() {
        if f.geometry.as_ref().unwrap().intersects(&area) {
            expected.push(f.id.clone());
        }
    }
    assert_eq!(ids(&hit), expected);
    assert!(expected.len() >= 4, "{expected:?}");
    let (status, _) = post(&store, "/query/intersects?layer=parcels&limit=2", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "more than the limit is refused, not cut");
    let (status, around) = post(&store, "/query/within?layer=service_centres&m=50", &body).await;
    assert_eq!(status, StatusCode::OK, "{around}");
    let expected: Vec<String> = centres
        .iter()
        .filter(|(_, p)| {
            area.intersects(p)
                || area.exterior().lines().any(|l| {
                    use geo::{Closest, ClosestPoint};
                    match l.closest_point(p) {
                        Closest::SinglePoint(c) | Closest::Intersection(c) => Haversine.distance(c, *p) <= 50.0,
                        Closest::Indeterminate => false,
                    }
                })
        })
        .map(|(id, _)| id.clone())
        .collect();
    let mut got = ids(&around);
    got.sort();
    assert_eq!(got, expected);

    // Bad requests name what is wrong and change nothing.
    for (uri, parameter) in [
        ("/query/nearest?lon=-71&lat=42", "layer"),
        ("/query/nearest?layer=nowhere&lon=-71&lat=42", "layer"),
        ("/query/nearest?layer=procedures&lon=-71&lat=42", "layer"),
        ("/query/nearest?layer=roads&lon=-71&lat=42&k=0", "k"),
        ("/query/nearest?layer=roads&lon=-71&lat=42&k=1.5", "k"),
        ("/query/within?layer=roads&lon=-71&lat=42", "m"),
        ("/query/within?layer=roads&lon=-71&lat=42&m=-1", "m"),
        ("/query/within?layer=roads&lon=-71&lat=142&m=10", "lat"),
    ] {
        let (status, body) = get(&store, uri).await;
        assert_eq!((status, body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some(parameter)), "{uri}: {body}");
    }
    for body in [
        r#"{"type":"Point","coordinates":[NaN,42.3]}"#,
        r#"{"type":"Point","coordinates":[-71.1,420.3]}"#,
        r#"{"type":"Polygon","coordinates":[[[-71.1,42.3],[-71.0,42.3]]]}"#,
        r#"{"type":"Point"}"#,
        "",
    ] {
        let (status, answer) = post(&store, "/query/intersects?layer=parcels", body).await;
        assert_eq!((status, answer["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("body")), "{body}: {answer}");
    }
}

/// gzip and brotli when asked, CORS for browser clients on other origins, and a body limit.
async fn compression_cors_and_limits(store: Arc<dyn Store>) {
    grid(&store).await;
    let send = |request: Request<Body>| {
        let store = store.clone();
        async move { urbis_server::router(store).oneshot(request).await.unwrap() }
    };
    for encoding in ["gzip", "br"] {
        let response = send(
            Request::get("/collections/parcels/items?limit=25")
                .header("accept-encoding", encoding)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-encoding"], encoding);
        let compressed = response.into_body().collect().await.unwrap().to_bytes();
        let plain = send(Request::get("/collections/parcels/items?limit=25").body(Body::empty()).unwrap()).await;
        assert!(plain.headers().get("content-encoding").is_none());
        let plain = plain.into_body().collect().await.unwrap().to_bytes();
        assert!(compressed.len() * 3 < plain.len(), "{encoding}: {} of {} bytes", compressed.len(), plain.len());
    }
    let preflight = send(
        Request::options("/collections/parcels/items")
            .header("origin", "https://maps.example.org")
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let huge = "x".repeat(urbis_server::MAX_BODY_BYTES + 1);
    let response = send(Request::post("/query/intersects?layer=parcels").body(Body::from(huge)).unwrap()).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// CQL2 through `/items`: text and JSON, a geometry literal in another CRS, and refusals that say
/// what is wrong and where.
async fn cql2_filters_through_items(store: Arc<dyn Store>) {
    grid(&store).await;
    let ids = |body: &Value| -> Vec<String> {
        body["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
    };
    let (status, body) =
        get(&store, "/collections/parcels/items?filter=code%20IN%20(%27p11%27,%27p23%27,%27p99%27)").await;
    assert_eq!((status, ids(&body)), (StatusCode::OK, vec!["p11".to_string(), "p23".to_string()]), "{body}");
    assert_eq!(body["numberMatched"], 2);
    let json_filter = r#"{"op":"and","args":[{"op":"like","args":[{"property":"code"},"p1%"]},{"op":"<>","args":[{"property":"code"},"p10"]}]}"#;
    let (status, body) = get(
        &store,
        &format!(
            "/collections/parcels/items?filter-lang=cql2-json&filter={}",
            json_filter.bytes().map(|b| format!("%{b:02X}")).collect::<String>()
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["p11", "p12", "p13", "p14"]);
    // Parcel p00's corner square (x -71.1..-71.099, y 42.36..42.361) as a Web Mercator point
    // inside it (GDAL: `echo -71.0995 42.3605 | gdaltransform … -t_srs EPSG:3857`).
    let (status, body) = get(
        &store,
        "/collections/parcels/items?filter=S_INTERSECTS(geometry,POINT(-7914760.13565636%205215134.50011472))\
         &filter-crs=http://www.opengis.net/def/crs/EPSG/0/3857",
    )
    .await;
    assert_eq!((status, ids(&body)), (StatusCode::OK, vec!["p00".to_string()]), "{body}");
    let (_, body) =
        get(&store, "/collections/parcels/items?filter=S_DWITHIN(geometry,POINT(-71.0995%2042.3605),200)").await;
    assert!(ids(&body).contains(&"p01".to_string()) && !ids(&body).contains(&"p44".to_string()), "{body}");

    for (filter, words) in [
        ("colour%20=%20%27red%27", vec!["colour", "character"]),
        ("code%20=", vec!["character 6"]),
        ("code%20=%2012", vec!["code"]),
    ] {
        let (status, body) = get(&store, &format!("/collections/parcels/items?filter={filter}")).await;
        assert_eq!((status, body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("filter")), "{filter}: {body}");
        let message = body["message"].as_str().unwrap();
        for w in words {
            assert!(message.contains(w), "{filter}: `{w}` not in {message}");
        }
    }
    let (status, body) =
        get(&store, "/collections/parcels/items?filter-lang=cql2-json&filter=%7B%22op%22%3A%22%3D%22%7D").await;
    assert_eq!((status, body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("filter")), "{body}");
    let (_, all) = get(&store, "/collections/parcels/items").await;
    assert_eq!(all["numberMatched"], 25, "nothing changed");
}

/// On the real parcels and street centerlines: what the store finds within 10 m of a parcel and
/// what intersects it, for the parcels with the largest boxes (the right-of-way parcels along
/// whole streets, whose box covers much of the city) and some ordinary ones, equals a brute force
/// over every road (measured in the same local projection; the PostGIS store measures on the
/// spheroid, so a road within 1 cm of the limit may fall either way).
async fn long_parcels_find_what_is_near_them(store: Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let layers = [city::MAP_LAYERS[0], city::MAP_LAYERS[2]];
    city::import_samples(&*store, dir.path(), &layers).await;
    let all = |layer| {
        let store = store.clone();
        async move {
            let q = urbis_store::Query { limit: Some(1_000_000), ..Default::default() };
            store.query(layer, &q).await.unwrap()
        }
    };
    let roads = all(LayerId::Roads).await;
    let mut parcels: Vec<Feature> = all(LayerId::Parcels).await.into_iter().filter(|p| p.geometry.is_some()).collect();
    let box_area = |f: &Feature| {
        use geo::BoundingRect;
        f.geometry.as_ref().and_then(|g| g.bounding_rect()).map_or(0.0, |r| r.width() * r.height())
    };
    parcels.sort_by(|a, b| box_area(b).total_cmp(&box_area(a)));
    let mut chosen: Vec<&Feature> = parcels.iter().take(3).collect();
    chosen.extend(parcels.iter().step_by(parcels.len() / 5).take(5));
    let ids = |found: &mut Vec<String>| {
        found.sort();
        found.clone()
    };
    for parcel in chosen {
        let shape = parcel.geometry.as_ref().unwrap();
        let index = urbis_core::near::NearIndex::new(shape);
        let brute = |metres: f64| {
            let mut v: Vec<String> = roads
                .iter()
                .filter(|r| r.geometry.as_ref().is_some_and(|g| index.within(g, metres).is_some()))
                .map(|r| r.id.clone())
                .collect();
            ids(&mut v)
        };
        let mut near: Vec<String> = store
            .within_distance(LayerId::Roads, shape, 10.0, None)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.feature.id)
            .collect();
        let near = ids(&mut near);
        let (inner, outer) = (brute(9.99), brute(10.01));
        let missing: Vec<&String> = inner.iter().filter(|id| !near.contains(id)).collect();
        let extra: Vec<&String> = near.iter().filter(|id| !outer.contains(id)).collect();
        assert!(missing.is_empty() && extra.is_empty(), "parcel {}: missing {missing:?}, extra {extra:?}", parcel.id);
        let mut touching: Vec<String> =
            store.intersects(LayerId::Roads, shape, None).await.unwrap().into_iter().map(|f| f.id).collect();
        assert_eq!(ids(&mut touching), brute(0.0), "parcel {}", parcel.id);
    }
}
