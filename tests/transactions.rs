//! OGC API – Features Part 4 on both stores: the store's conditional writes, then create,
//! replace, update and delete through the router as a client sends them, with ETags, If-Match,
//! tokens, and bad requests that must change nothing.

#[macro_use]
mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use geo::polygon;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use urbis_core::{Feature, LayerId};
use urbis_server::auth::Auth;
use urbis_store::{Store, StoreError};

on_both_stores!(
    (store, dir) => (std::sync::Arc::from(store));
    checked_writes_compare_etags_in_one_transaction,
    concurrent_checked_writes_let_exactly_one_win,
    create_replace_patch_delete_round_trip,
    a_stale_etag_gets_412_and_changes_nothing,
    bad_features_get_4xx_naming_the_fault_and_change_nothing,
    writes_need_a_token_whose_role_may_edit,
    private_fields_are_written_never_echoed_and_kept_by_put,
);

const EDITOR: &str = "editor-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

fn auth() -> Auth {
    Auth::from_specs(&[format!("editor:{EDITOR}"), format!("viewer:{VIEWER}"), format!("admin:{ADMIN}")]).unwrap()
}

fn district(id: &str, code: &str) -> Feature {
    let p = polygon![(x: -71.11, y: 42.37), (x: -71.10, y: 42.37), (x: -71.10, y: 42.38), (x: -71.11, y: 42.38)];
    Feature::new(id, Some(geo::MultiPolygon(vec![p]).into())).with("code", code)
}

/// A GeoJSON Feature of a zoning district: a square of 0.01° at (x, y).
fn district_json(id: Option<&str>, code: &str, x: f64) -> Value {
    let mut f = json!({
        "type": "Feature",
        "geometry": { "type": "MultiPolygon", "coordinates": [[[[x, 42.37], [x + 0.01, 42.37], [x + 0.01, 42.38], [x, 42.38], [x, 42.37]]]] },
        "properties": { "code": code, "name": format!("District {code}"), "max_height_m": 25.0 },
    });
    if let Some(id) = id {
        f["id"] = json!(id);
    }
    f
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call(
    store: &Arc<dyn Store>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri).header("host", "city.example");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
    let response = urbis_server::router_with_auth(store.clone(), auth()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn send(store: &Arc<dyn Store>, method: &str, uri: &str, extra: &[(&str, &str)], body: &Value) -> Answer {
    // The dossiers' layers take an admin's edits only (policy.rs); the other layers a planner's.
    let auth = bearer(if uri.starts_with("/collections/permits") { ADMIN } else { EDITOR });
    let media = if method == "PATCH" { "application/merge-patch+json" } else { "application/geo+json" };
    let mut headers = vec![("authorization", auth.as_str()), ("content-type", media)];
    headers.extend_from_slice(extra);
    call(store, method, uri, &headers, Some(serde_json::to_vec(body).unwrap())).await
}

async fn checked_writes_compare_etags_in_one_transaction(store: Arc<dyn Store>) {
    let layer = LayerId::ZoningDistricts;
    let stored = store.create_one(layer, &district("z1", "C-1")).await.unwrap();
    assert_eq!(stored, store.get(layer, "z1").await.unwrap().unwrap(), "create_one returns what a read gives");
    let v1 = stored.etag();
    assert!(matches!(store.create_one(layer, &district("z1", "C-2")).await, Err(StoreError::DuplicateId { .. })));

    // The right version: written, and the new version's tag is the one a read gives.
    let v2_feature = district("z1", "C-2").with("name", "Central Square");
    let v2 = store.replace_checked(layer, &v2_feature, Some(&v1)).await.unwrap();
    assert_eq!(v2, store.get(layer, "z1").await.unwrap().unwrap());
    assert_ne!(v2.etag(), v1);

    // A stale version: refused with the current tag, nothing written.
    match store.replace_checked(layer, &district("z1", "C-3"), Some(&v1)).await {
        Err(StoreError::PreconditionFailed { current_etag, id, .. }) => {
            assert_eq!(current_etag, v2.etag());
            assert_eq!(id, "z1");
        }
        other => panic!("expected PreconditionFailed, got {other:?}"),
    }
    match store.delete_checked(layer, "z1", Some(&v1)).await {
        Err(StoreError::PreconditionFailed { current_etag, .. }) => assert_eq!(current_etag, v2.etag()),
        other => panic!("expected PreconditionFailed, got {other:?}"),
    }
    assert_eq!(store.get(layer, "z1").await.unwrap().unwrap(), v2, "refused writes changed the feature");

    // No version named: unconditional.
    let v3 = store.replace_checked(layer, &district("z1", "C-3"), None).await.unwrap();
    assert_eq!(v3.text("code"), Some("C-3"));
    assert!(matches!(
        store.replace_checked(layer, &district("nope", "X"), None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(store.delete_checked(layer, "nope", None).await, Err(StoreError::NotFound { .. })));
    store.delete_checked(layer, "z1", Some(&v3.etag())).await.unwrap();
    assert_eq!(store.get(layer, "z1").await.unwrap(), None);
}

/// Eight writers read the same version and each tries to replace it: the store lets one win and
/// refuses the rest, so no change is lost silently.
async fn concurrent_checked_writes_let_exactly_one_win(store: Arc<dyn Store>) {
    let layer = LayerId::ZoningDistricts;
    let v1 = store.create_one(layer, &district("z1", "C-1")).await.unwrap().etag();
    let writers = (0..8).map(|i| {
        let store = store.clone();
        let v1 = v1.clone();
        tokio::spawn(async move {
            store
                .replace_checked(layer, &district("z1", &format!("W-{i}")), Some(&v1))
                .await
                .map(|f| f.text("code").map(str::to_string))
        })
    });
    let results: Vec<_> = futures::future::join_all(writers).await.into_iter().map(|r| r.unwrap()).collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, StoreError::PreconditionFailed { .. }), "{e}");
        }
    }
    let now = store.get(layer, "z1").await.unwrap().unwrap();
    assert_eq!(Some(now.text("code").map(str::to_string)), winners.first().map(|w| (*w).clone()));
}

async fn create_replace_patch_delete_round_trip(store: Arc<dyn Store>) {
    let conformance = call(&store, "GET", "/conformance", &[], None).await.body;
    for class in urbis_server::transactions::CONFORMANCE {
        assert!(conformance["conformsTo"].as_array().unwrap().iter().any(|c| c == class), "{class}");
    }

    // POST with an id.
    let created =
        send(&store, "POST", "/collections/zoning_districts/items", &[], &district_json(Some("z-1"), "C-1", -71.11))
            .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.header("location"), Some("http://city.example/collections/zoning_districts/items/z-1"));
    let etag1 = created.header("etag").unwrap().to_string();
    let stored = store.get(LayerId::ZoningDistricts, "z-1").await.unwrap().unwrap();
    assert_eq!(etag1, format!("\"{}\"", stored.etag()));
    assert_eq!(stored.text("name"), Some("District C-1"));
    assert_eq!(created.body["properties"]["code"], "C-1");

    // POST without an id: one is generated, and Location names it.
    let anon =
        send(&store, "POST", "/collections/zoning_districts/items", &[], &district_json(None, "C-9", -71.09)).await;
    assert_eq!(anon.status, StatusCode::CREATED, "{}", anon.body);
    let id = anon.body["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert!(anon.header("location").unwrap().ends_with(&format!("/items/{id}")));
    assert!(store.get(LayerId::ZoningDistricts, &id).await.unwrap().is_some());

    // GET gives the same ETag, and If-None-Match with it gets 304.
    let read = call(&store, "GET", "/collections/zoning_districts/items/z-1", &[], None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.header("etag"), Some(etag1.as_str()));
    let again =
        call(&store, "GET", "/collections/zoning_districts/items/z-1", &[("if-none-match", &etag1)], None).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.header("etag"), Some(etag1.as_str()));
    // In another CRS the bytes differ for the same content: a weak tag, which If-Match never takes.
    let projected = call(
        &store,
        "GET",
        "/collections/zoning_districts/items/z-1?crs=http://www.opengis.net/def/crs/EPSG/0/3857",
        &[],
        None,
    )
    .await;
    assert_eq!(projected.status, StatusCode::OK, "{}", projected.body);
    assert_eq!(projected.header("etag"), Some(format!("W/{etag1}").as_str()));

    // PUT with If-Match: replaced, new ETag; unknown properties are refused, so only the fields sent remain.
    let mut replacement = district_json(Some("z-1"), "C-1A", -71.12);
    replacement["properties"]["extra"] = json!({ "source": "council vote 2026-11" });
    let replaced =
        send(&store, "PUT", "/collections/zoning_districts/items/z-1", &[("if-match", &etag1)], &replacement).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    let etag2 = replaced.header("etag").unwrap().to_string();
    assert_ne!(etag2, etag1);
    let stored = store.get(LayerId::ZoningDistricts, "z-1").await.unwrap().unwrap();
    assert_eq!(stored.text("code"), Some("C-1A"));
    assert_eq!(stored.extra["source"], "council vote 2026-11");
    assert_eq!(etag2, format!("\"{}\"", stored.etag()));

    // PATCH (JSON Merge Patch): one field changed, one removed with null, the rest kept.
    let patch = json!({ "properties": { "max_height_m": 40, "name": null } });
    let patched =
        send(&store, "PATCH", "/collections/zoning_districts/items/z-1", &[("if-match", &etag2)], &patch).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let stored = store.get(LayerId::ZoningDistricts, "z-1").await.unwrap().unwrap();
    assert_eq!(stored.real("max_height_m"), Some(40.0));
    assert_eq!(stored.text("name"), None);
    assert_eq!(stored.text("code"), Some("C-1A"));
    assert_eq!(stored.extra["source"], "council vote 2026-11");
    let etag3 = patched.header("etag").unwrap().to_string();
    assert_eq!(etag3, format!("\"{}\"", stored.etag()));

    // PATCH without If-Match is applied to the current version.
    let patched = send(
        &store,
        "PATCH",
        "/collections/zoning_districts/items/z-1",
        &[],
        &json!({ "properties": { "article": "Art. 5" } }),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let etag4 = patched.header("etag").unwrap().to_string();

    // A PATCH may not change the id.
    let moved = send(&store, "PATCH", "/collections/zoning_districts/items/z-1", &[], &json!({ "id": "z-2" })).await;
    assert_eq!(moved.status, StatusCode::BAD_REQUEST);
    assert_eq!(moved.body["parameter"], "id");

    // DELETE with the current ETag: 204, gone; again: 404.
    let auth = bearer(EDITOR);
    let deleted = call(
        &store,
        "DELETE",
        "/collections/zoning_districts/items/z-1",
        &[("authorization", &auth), ("if-match", &etag4)],
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(store.get(LayerId::ZoningDistricts, "z-1").await.unwrap(), None);
    let gone =
        call(&store, "DELETE", "/collections/zoning_districts/items/z-1", &[("authorization", &auth)], None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let read = call(&store, "GET", "/collections/zoning_districts/items/z-1", &[], None).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);

    // Unambiguous repairs are applied and reported: a repeated vertex is dropped.
    let mut repeated = district_json(Some("z-5"), "C-5", -71.08);
    repeated["geometry"]["coordinates"][0][0] =
        json!([[-71.08, 42.37], [-71.07, 42.37], [-71.07, 42.37], [-71.07, 42.38], [-71.08, 42.38], [-71.08, 42.37]]);
    let a = send(&store, "POST", "/collections/zoning_districts/items", &[], &repeated).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.header("urbis-repairs"), Some("1 duplicate vertice(s) removed"));
    assert_eq!(a.body["geometry"]["coordinates"][0][0].as_array().unwrap().len(), 5);

    // A layer without geometry takes features without one.
    let procedure = json!({ "type": "Feature", "id": "PR-1", "geometry": null,
        "properties": { "code": "PR-1", "name": "Fence permit", "category": "building", "processing_days": "10" } });
    let made = send(&store, "POST", "/collections/procedures/items", &[], &procedure).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["properties"]["processing_days"], 10, "normalised as on import");
}

async fn a_stale_etag_gets_412_and_changes_nothing(store: Arc<dyn Store>) {
    let created =
        send(&store, "POST", "/collections/zoning_districts/items", &[], &district_json(Some("z-1"), "C-1", -71.11))
            .await;
    let stale = created.header("etag").unwrap().to_string();
    let fresh = send(
        &store,
        "PATCH",
        "/collections/zoning_districts/items/z-1",
        &[("if-match", &stale)],
        &json!({ "properties": { "name": "First" } }),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK);
    let current = fresh.header("etag").unwrap().to_string();
    let before = store.get(LayerId::ZoningDistricts, "z-1").await.unwrap().unwrap();

    let patch = json!({ "properties": { "name": "Second" } });
    let refused =
        send(&store, "PATCH", "/collections/zoning_districts/items/z-1", &[("if-match", &stale)], &patch).await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED, "{}", refused.body);
    assert_eq!(refused.body["code"], "precondition_failed");
    assert_eq!(refused.header("etag"), Some(current.as_str()), "412 names the current version");
    assert!(refused.body["message"].as_str().unwrap().contains("has changed"), "{}", refused.body);

    let put = send(
        &store,
        "PUT",
        "/collections/zoning_districts/items/z-1",
        &[("if-match", &stale)],
        &district_json(None, "C-7", -71.0),
    )
    .await;
    assert_eq!(put.status, StatusCode::PRECONDITION_FAILED);
    let auth = bearer(EDITOR);
    let del = call(
        &store,
        "DELETE",
        "/collections/zoning_districts/items/z-1",
        &[("authorization", &auth), ("if-match", &stale)],
        None,
    )
    .await;
    assert_eq!(del.status, StatusCode::PRECONDITION_FAILED);
    // Weak tags never match If-Match; a malformed header is a 400 naming it.
    let weak = format!("W/{current}");
    let del = call(
        &store,
        "DELETE",
        "/collections/zoning_districts/items/z-1",
        &[("authorization", &auth), ("if-match", &weak)],
        None,
    )
    .await;
    assert_eq!(del.status, StatusCode::PRECONDITION_FAILED);
    let del = call(
        &store,
        "DELETE",
        "/collections/zoning_districts/items/z-1",
        &[("authorization", &auth), ("if-match", "abc")],
        None,
    )
    .await;
    assert_eq!(del.status, StatusCode::BAD_REQUEST);
    assert_eq!(del.body["parameter"], "If-Match");
    // If-Match on a feature that does not exist cannot hold.
    let missing = send(&store, "PATCH", "/collections/zoning_districts/items/nope", &[("if-match", "*")], &patch).await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_FAILED);

    assert_eq!(
        store.get(LayerId::ZoningDistricts, "z-1").await.unwrap().unwrap(),
        before,
        "a refused write changed the row"
    );
    // The current ETag still works.
    let ok = send(&store, "PATCH", "/collections/zoning_districts/items/z-1", &[("if-match", &current)], &patch).await;
    assert_eq!(ok.status, StatusCode::OK);
}

async fn bad_features_get_4xx_naming_the_fault_and_change_nothing(store: Arc<dyn Store>) {
    let created =
        send(&store, "POST", "/collections/zoning_districts/items", &[], &district_json(Some("z-1"), "C-1", -71.11))
            .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let before = store.get(LayerId::ZoningDistricts, "z-1").await.unwrap().unwrap();
    let count = || async { store.layers().await.unwrap().iter().map(|c| c.count).sum::<u64>() };
    let n = count().await;

    let mut unknown = district_json(Some("z-2"), "C-2", -71.1);
    unknown["properties"]["colour"] = json!("red");
    let mut wrong_type = district_json(Some("z-2"), "C-2", -71.1);
    wrong_type["properties"]["max_height_m"] = json!("tall");
    let mut missing = district_json(Some("z-2"), "C-2", -71.1);
    missing["properties"].as_object_mut().unwrap().remove("code");
    let mut out_of_range = district_json(Some("z-2"), "C-2", -71.1);
    out_of_range["geometry"]["coordinates"][0][0][1] = json!([-71.1, 95.0]);
    let bowtie = json!({ "type": "Feature", "id": "z-2", "properties": { "code": "C-2" },
        "geometry": { "type": "Polygon", "coordinates": [[[-71.1, 42.3], [-71.0, 42.4], [-71.0, 42.3], [-71.1, 42.4], [-71.1, 42.3]]] } });
    let point = json!({ "type": "Feature", "id": "z-2", "properties": { "code": "C-2" },
        "geometry": { "type": "Point", "coordinates": [-71.1, 42.3] } });
    let duplicate = district_json(Some("z-1"), "C-1", -71.11);
    for (what, body, status, field, words) in [
        ("unknown field", unknown, StatusCode::BAD_REQUEST, "colour", "not a field"),
        ("wrong type", wrong_type, StatusCode::BAD_REQUEST, "max_height_m", "expected a finite number"),
        ("missing required", missing, StatusCode::BAD_REQUEST, "code", "required field"),
        ("out of range", out_of_range, StatusCode::UNPROCESSABLE_ENTITY, "geometry", "latitude"),
        ("self-intersection", bowtie, StatusCode::UNPROCESSABLE_ENTITY, "geometry", "intersect"),
        ("wrong geometry kind", point, StatusCode::UNPROCESSABLE_ENTITY, "geometry", "Point"),
        ("duplicate id", duplicate, StatusCode::CONFLICT, "", "already has"),
    ] {
        let a = send(&store, "POST", "/collections/zoning_districts/items", &[], &body).await;
        assert_eq!(a.status, status, "{what}: {}", a.body);
        if !field.is_empty() {
            assert_eq!(a.body["parameter"], field, "{what}: {}", a.body);
        }
        assert!(a.body["message"].as_str().unwrap().contains(words), "{what}: {}", a.body);
    }

    // A NaN is not JSON: 400, naming it and where.
    let nan = br#"{"type":"Feature","id":"z-3","properties":{"code":"C-3"},"geometry":{"type":"Point","coordinates":[NaN,42.3]}}"#;
    let auth = bearer(EDITOR);
    let a = call(
        &store,
        "POST",
        "/collections/zoning_districts/items",
        &[("authorization", &auth), ("content-type", "application/geo+json")],
        Some(nan.to_vec()),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body["message"].as_str().unwrap().contains("`NaN` is not a number"), "{}", a.body);
    let a = call(&store, "PATCH", "/collections/zoning_districts/items/z-1", &[("authorization", &auth), ("content-type", "application/merge-patch+json")],
        Some(br#"{"geometry":{"type":"MultiPolygon","coordinates":[[[[NaN,42.37],[-71.1,42.37],[-71.1,42.38],[-71.11,42.37]]]]}}"#.to_vec())).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);

    // PATCHes that break the feature are refused the same way.
    for (patch, status, field) in [
        (json!({ "properties": { "code": null } }), StatusCode::BAD_REQUEST, "code"),
        (json!({ "properties": { "max_far": "high" } }), StatusCode::BAD_REQUEST, "max_far"),
        (json!({ "geometry": null }), StatusCode::UNPROCESSABLE_ENTITY, "geometry"),
    ] {
        let a = send(&store, "PATCH", "/collections/zoning_districts/items/z-1", &[], &patch).await;
        assert_eq!(a.status, status, "{patch}: {}", a.body);
        assert_eq!(a.body["parameter"], field, "{patch}: {}", a.body);
    }

    // Not a feature, wrong media type, id contradicting the URL, too large.
    let a = send(
        &store,
        "POST",
        "/collections/zoning_districts/items",
        &[],
        &json!({ "type": "FeatureCollection", "features": [] }),
    )
    .await;
    assert_eq!((a.status, a.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("body")));
    let a = call(
        &store,
        "POST",
        "/collections/zoning_districts/items",
        &[("authorization", &auth), ("content-type", "text/plain")],
        Some(b"{}".to_vec()),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let a =
        send(&store, "PUT", "/collections/zoning_districts/items/z-1", &[], &district_json(Some("z-9"), "C-1", -71.11))
            .await;
    assert_eq!((a.status, a.body["parameter"].as_str()), (StatusCode::BAD_REQUEST, Some("id")));
    let a =
        send(&store, "PUT", "/collections/zoning_districts/items/nope", &[], &district_json(None, "C-1", -71.11)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = send(&store, "POST", "/collections/nowhere/items", &[], &district_json(None, "C-1", -71.11)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let mut huge = district_json(Some("z-4"), "C-4", -71.1);
    huge["properties"]["extra"] = json!({ "blob": "x".repeat(urbis_server::transactions::MAX_FEATURE_BYTES) });
    let a = send(&store, "POST", "/collections/zoning_districts/items", &[], &huge).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
    assert_eq!(a.body["code"], "payload_too_large");

    assert_eq!(count().await, n, "a refused write added or removed a feature");
    assert_eq!(
        store.get(LayerId::ZoningDistricts, "z-1").await.unwrap().unwrap(),
        before,
        "a refused write changed z-1"
    );
}

async fn writes_need_a_token_whose_role_may_edit(store: Arc<dyn Store>) {
    let body = serde_json::to_vec(&district_json(Some("z-1"), "C-1", -71.11)).unwrap();
    let geo = ("content-type", "application/geo+json");
    let viewer = bearer(VIEWER);
    let wrong = bearer("not-a-token-of-this-server");
    for (headers, status) in [
        (vec![geo], StatusCode::UNAUTHORIZED),
        (vec![geo, ("authorization", wrong.as_str())], StatusCode::UNAUTHORIZED),
        (vec![geo, ("authorization", "Basic dXNlcjpwYXNzd29yZA==")], StatusCode::UNAUTHORIZED),
        (vec![geo, ("authorization", viewer.as_str())], StatusCode::FORBIDDEN),
    ] {
        let a = call(&store, "POST", "/collections/zoning_districts/items", &headers, Some(body.clone())).await;
        assert_eq!(a.status, status, "{headers:?}: {}", a.body);
        if status == StatusCode::UNAUTHORIZED {
            assert!(a.header("www-authenticate").unwrap().starts_with("Bearer"), "{headers:?}");
        } else {
            assert!(a.body["message"].as_str().unwrap().contains("may not edit"), "{}", a.body);
        }
        assert!(!a.body.to_string().contains("not-a-token"), "the token is echoed: {}", a.body);
    }
    assert_eq!(store.get(LayerId::ZoningDistricts, "z-1").await.unwrap(), None);
    store.create(LayerId::ZoningDistricts, &[district("z-1", "C-1")]).await.unwrap();
    for method in ["PUT", "PATCH", "DELETE"] {
        let a = call(
            &store,
            method,
            "/collections/zoning_districts/items/z-1",
            &[("authorization", &viewer)],
            Some(b"{}".to_vec()),
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{method}");
        let a = call(&store, method, "/collections/zoning_districts/items/z-1", &[], None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method}");
    }
    // Reads stay public; the plain router (no tokens) refuses every write.
    let a = call(&store, "GET", "/collections/zoning_districts/items/z-1", &[], None).await;
    assert_eq!(a.status, StatusCode::OK);
    let request = Request::post("/collections/zoning_districts/items")
        .header("content-type", "application/geo+json")
        .header("authorization", bearer(EDITOR))
        .body(Body::from(body))
        .unwrap();
    let response = urbis_server::router(store.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(store.get(LayerId::ZoningDistricts, "z-1").await.unwrap().unwrap().text("code"), Some("C-1"));
}

async fn private_fields_are_written_never_echoed_and_kept_by_put(store: Arc<dyn Store>) {
    let permit = json!({ "type": "Feature", "id": "PM-1", "geometry": { "type": "Point", "coordinates": [-71.105, 42.367] },
        "properties": { "tracking_code": "T-001", "procedure_code": "PR-1", "stage": "received",
                        "received_at": "2026-11-02T09:00:00Z", "applicant": { "name": "Ada Lovelace", "phone": "555-0100" } } });
    // A planner may not edit dossiers past their workflow.
    let geo = ("content-type", "application/geo+json");
    let planner = bearer(EDITOR);
    let refused = call(
        &store,
        "POST",
        "/collections/permits/items",
        &[geo, ("authorization", planner.as_str())],
        Some(permit.to_string().into_bytes()),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(store.get(LayerId::Permits, "PM-1").await.unwrap().is_none());
    let a = send(&store, "POST", "/collections/permits/items", &[], &permit).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert!(!a.body.to_string().contains("Lovelace"), "{}", a.body);
    let stored = store.get(LayerId::Permits, "PM-1").await.unwrap().unwrap();
    assert_eq!(stored.get("applicant").unwrap()["name"], "Ada Lovelace");

    // A client replaces what it read (no applicant in it): the applicant stays.
    let read = call(&store, "GET", "/collections/permits/items/PM-1", &[], None).await;
    assert!(!read.body.to_string().contains("Lovelace"));
    let mut replacement = read.body.clone();
    replacement.as_object_mut().unwrap().remove("links");
    replacement["properties"]["stage"] = json!("in_review");
    let etag = read.header("etag").unwrap().to_string();
    let a = send(&store, "PUT", "/collections/permits/items/PM-1", &[("if-match", &etag)], &replacement).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(!a.body.to_string().contains("Lovelace"));
    let stored = store.get(LayerId::Permits, "PM-1").await.unwrap().unwrap();
    assert_eq!(stored.text("stage"), Some("in_review"));
    assert_eq!(stored.get("applicant").unwrap()["name"], "Ada Lovelace");

    // Naming it writes it; PATCH reaches it too.
    let a = send(
        &store,
        "PATCH",
        "/collections/permits/items/PM-1",
        &[],
        &json!({ "properties": { "applicant": { "name": "A. King" } } }),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(!a.body.to_string().contains("King"));
    let stored = store.get(LayerId::Permits, "PM-1").await.unwrap().unwrap();
    // A merge patch merges objects: the phone stays.
    assert_eq!(stored.get("applicant").unwrap(), &json!({ "name": "A. King", "phone": "555-0100" }));
}

/// The same feature has the same ETag on both stores: a client may move between servers of
/// either kind.
#[cfg(feature = "postgis-tests")]
#[tokio::test]
async fn etags_agree_across_stores() {
    let dir = tempfile::tempdir().unwrap();
    let gpkg = support::gpkg(dir.path()).await;
    let pg = support::postgis().await;
    let mut permit = Feature::new("PM-1", Some(geo::Point::new(-71.105, 42.367).into()))
        .with("tracking_code", "T-001")
        .with("procedure_code", "PR-1")
        .with("stage", "received")
        .with("received_at", "2026-11-02T09:00:00.000Z")
        .with("proposed_height_m", 12.5)
        .with("parcel_codes", json!(["1-2", "1-3"]))
        .with(
            "applicant",
            json!({ "name": "Ada", "phones": ["555-0100"], "address": { "zip": "02139", "city": "Cambridge" } }),
        );
    permit.extra = serde_json::from_str(r#"{"z": 1.5, "a": {"k": [true, null, "x"]}, "m": 7}"#).unwrap();
    let a = gpkg.create_one(LayerId::Permits, &permit).await.unwrap();
    let b = pg.create_one(LayerId::Permits, &permit).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.etag(), b.etag());
    let district = district("z-1", "C-1").with("max_far", 2.75).with("permitted_uses", json!(["R1", "R2"]));
    assert_eq!(
        gpkg.create_one(LayerId::ZoningDistricts, &district).await.unwrap().etag(),
        pg.create_one(LayerId::ZoningDistricts, &district).await.unwrap().etag()
    );
}
