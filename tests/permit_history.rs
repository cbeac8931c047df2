//! A dossier's step and its event are one write (`Store::append_event`), on both stores: the
//! history must still end where the writer read it, events are appended in order, and a writer
//! who comes second is refused with nothing written.

#[macro_use]
mod support;

use serde_json::json;
use urbis_core::permits::chain;
use urbis_core::{domain, Feature, LayerId};
use urbis_store::{AttributeFilter, Comparison, HistoryHead, Query, Store, StoreError};

on_both_stores!(
    (store, dir) => (&*store);
    steps_append_in_order_and_stale_writers_are_refused,
    concurrent_writers_take_turns,
    a_new_dossier_is_created_with_its_first_event_or_not_at_all,
);

fn dossier(id: &str, stage: &str) -> Feature {
    let mut f = Feature::new(id, Some(geo::Geometry::Point(geo::point!(x: -71.1, y: 42.37))));
    for (k, v) in [
        ("tracking_code", json!(id)),
        ("procedure_code", json!("BLU-01")),
        ("stage", json!(stage)),
        ("received_at", json!("2026-11-02T15:00:00.000Z")),
        ("applicant", json!({"name": "Test Person"})),
    ] {
        f.attributes.insert(k.into(), v);
    }
    f
}

fn event(id: &str, seq: i64, stage: &str, previous: &str) -> (Feature, HistoryHead) {
    let mut e = domain::PermitEvent {
        permit_id: id.into(),
        seq,
        at: format!("2026-11-{:02}T15:00:00.000Z", seq + 1),
        kind: if seq == 1 { "received" } else { "transition" }.into(),
        stage: Some(stage.into()),
        actor: Some("reviewer:test".into()),
        note: Some(format!("step {seq}")),
        hash: None,
    };
    let hash = chain::link_hash(previous, &e);
    e.hash = Some(hash.clone());
    (domain::write(format!("{id}-{seq:02}"), None, &e), HistoryHead { seq, hash: Some(hash) })
}

async fn history(store: &dyn Store, id: &str) -> Vec<Feature> {
    let q = Query::all().filter(AttributeFilter::new("permit_id", Comparison::Eq, id));
    let mut events = store.query(LayerId::PermitEvents, &q).await.unwrap();
    events.sort_by_key(|e| e.integer("seq"));
    events
}

async fn steps_append_in_order_and_stale_writers_are_refused(store: &dyn Store) {
    let (e1, h1) = event("D-1", 1, "received", chain::GENESIS);
    store.append_event(&dossier("D-1", "received"), &e1, None).await.unwrap();
    let (e2, h2) = event("D-1", 2, "in_review", h1.hash.as_deref().unwrap());
    store.append_event(&dossier("D-1", "in_review"), &e2, Some(&h1)).await.unwrap();

    // A writer who read the history before the second step: refused, nothing written.
    let (stale, _) = event("D-1", 2, "withdrawn", h1.hash.as_deref().unwrap());
    let err = store.append_event(&dossier("D-1", "withdrawn"), &stale, Some(&h1)).await.unwrap_err();
    assert!(matches!(&err, StoreError::HistoryConflict { id, expected: 1, found: 2 } if id == "D-1"), "{err}");
    assert!(err.to_string().contains("expected to end at event 1, it ends at event 2"), "{err}");
    // Same position, another hash (someone rewrote the end): also a conflict.
    let forged = HistoryHead { seq: 2, hash: Some("0".repeat(64)) };
    let (e3, _) = event("D-1", 3, "withdrawn", h2.hash.as_deref().unwrap());
    let err = store.append_event(&dossier("D-1", "withdrawn"), &e3, Some(&forged)).await.unwrap_err();
    assert!(matches!(err, StoreError::HistoryConflict { .. }), "{err}");

    let stored = store.get(LayerId::Permits, "D-1").await.unwrap().unwrap();
    assert_eq!(stored.text("stage"), Some("in_review"));
    let events = history(store, "D-1").await;
    assert_eq!(events.len(), 2);
    let typed: Vec<(Option<String>, domain::PermitEvent)> =
        events.iter().map(|f| (Some(f.id.clone()), domain::read(f).unwrap())).collect();
    assert_eq!(chain::verify_with_head("D-1", "in_review", &typed), Ok(2));

    // An event that is not the next one, or not the dossier's, is refused before any write.
    let (skipping, _) = event("D-1", 4, "withdrawn", h2.hash.as_deref().unwrap());
    let err = store.append_event(&dossier("D-1", "withdrawn"), &skipping, Some(&h2)).await.unwrap_err();
    assert!(err.to_string().contains("seq must be 3"), "{err}");
    let (other, _) = event("D-2", 3, "withdrawn", h2.hash.as_deref().unwrap());
    let err = store.append_event(&dossier("D-1", "withdrawn"), &other, Some(&h2)).await.unwrap_err();
    assert!(err.to_string().contains("permit_id"), "{err}");
    assert_eq!(history(store, "D-1").await.len(), 2);
}

async fn concurrent_writers_take_turns(store: &dyn Store) {
    let (e1, h1) = event("D-9", 1, "received", chain::GENESIS);
    store.append_event(&dossier("D-9", "received"), &e1, None).await.unwrap();
    let (a, _) = event("D-9", 2, "in_review", h1.hash.as_deref().unwrap());
    let (b, _) = event("D-9", 2, "withdrawn", h1.hash.as_deref().unwrap());
    let (da, db) = (dossier("D-9", "in_review"), dossier("D-9", "withdrawn"));
    let (ra, rb) = tokio::join!(store.append_event(&da, &a, Some(&h1)), store.append_event(&db, &b, Some(&h1)));
    let ok = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{ra:?} {rb:?}");
    let loser = match (ra, rb) {
        (Err(e), _) | (_, Err(e)) => e,
        _ => unreachable!("one of the two failed"),
    };
    assert!(matches!(loser, StoreError::HistoryConflict { .. } | StoreError::DuplicateId { .. }), "{loser}");
    let events = history(store, "D-9").await;
    assert_eq!(events.len(), 2);
    let stage = store.get(LayerId::Permits, "D-9").await.unwrap().unwrap().text("stage").map(str::to_string);
    assert_eq!(stage.as_deref(), events[1].text("stage"), "the dossier's stage is the winner's");
}

async fn a_new_dossier_is_created_with_its_first_event_or_not_at_all(store: &dyn Store) {
    let (e1, h1) = event("D-5", 1, "received", chain::GENESIS);
    store.append_event(&dossier("D-5", "received"), &e1, None).await.unwrap();
    // Creating it again: refused, no second first event.
    let (again, _) = event("D-5", 1, "received", chain::GENESIS);
    let mut again = again;
    again.id = "D-5-other".into();
    let err = store.append_event(&dossier("D-5", "received"), &again, None).await.unwrap_err();
    assert!(matches!(err, StoreError::HistoryConflict { .. } | StoreError::DuplicateId { .. }), "{err}");
    assert_eq!(history(store, "D-5").await.len(), 1);
    // A step on a dossier that does not exist: not found, no event.
    let (orphan, _) = event("D-6", 2, "in_review", h1.hash.as_deref().unwrap());
    let err = store.append_event(&dossier("D-6", "in_review"), &orphan, Some(&h1)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. } | StoreError::HistoryConflict { .. }), "{err}");
    assert!(history(store, "D-6").await.is_empty());
    assert!(store.get(LayerId::Permits, "D-6").await.unwrap().is_none());
}
