//! The hash chain over a dossier's history: each event's hash is SHA-256 over the previous
//! event's hash and a canonical encoding of the event's own content, so that changing, removing
//! or reordering any event breaks every link after it. [`verify`] names the first broken link.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::PermitEvent;

/// The "previous hash" of a dossier's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The bytes an event's hash covers: a JSON array of its fields in a fixed order (the dossier,
/// its position, the instant, the kind, the stage, the actor, the note; absent ones as null).
/// serde_json writes strings one way only, so the same event always gives the same bytes.
pub fn canonical(e: &PermitEvent) -> String {
    serde_json::json!([e.permit_id, e.seq, e.at, e.kind, e.stage, e.actor, e.note]).to_string()
}

/// The hash of `event` following the hash `previous` (lowercase hex).
pub fn link_hash(previous: &str, event: &PermitEvent) -> String {
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update(b"\n");
    h.update(canonical(event).as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Sets the hashes of a dossier's whole history, in order from its first event.
pub fn seal(events: &mut [PermitEvent]) {
    let mut previous = GENESIS.to_string();
    for e in events {
        let hash = link_hash(&previous, e);
        e.hash = Some(hash.clone());
        previous = hash;
    }
}

/// What is wrong with a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ChainError {
    /// The stored hash is not the hash of the event's content after the previous hash: this
    /// event, or one before it, was changed.
    HashMismatch { stored: Option<String>, computed: String },
    /// The positions do not run 1, 2, 3, …: an event was removed or inserted.
    SequenceGap { expected: i64, found: i64 },
    /// The event belongs to another dossier.
    OtherDossier { found: String },
    /// The dossier's stage is not the stage its last event reached: an event was removed from
    /// the end, or the dossier was changed without one.
    HeadMismatch { dossier_stage: String, last_event_stage: Option<String> },
}

/// The first broken link of a dossier's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("dossier `{permit_id}`: the history breaks at event {seq}{}: {}", event_id.as_ref().map(|i| format!(" (`{i}`)")).unwrap_or_default(), describe(error))]
pub struct BrokenLink {
    pub permit_id: String,
    /// The position of the first event whose link does not hold.
    pub seq: i64,
    pub event_id: Option<String>,
    pub error: ChainError,
}

fn describe(e: &ChainError) -> String {
    match e {
        ChainError::HashMismatch { stored: Some(s), computed } => {
            format!("its stored hash {s} is not {computed}, the hash of its content after the previous link")
        }
        ChainError::HashMismatch { stored: None, .. } => "it has no hash".into(),
        ChainError::SequenceGap { expected, found } => format!("event {expected} was expected, event {found} found"),
        ChainError::OtherDossier { found } => format!("it belongs to dossier `{found}`"),
        ChainError::HeadMismatch { dossier_stage, last_event_stage } => format!(
            "the dossier is in stage `{dossier_stage}` but its last event reached `{}`",
            last_event_stage.as_deref().unwrap_or("no stage")
        ),
    }
}

/// Checks a dossier's history, given in stored order with the ids the events are stored under.
/// Returns the number of links checked, or the first broken one.
pub fn verify(permit_id: &str, events: &[(Option<String>, PermitEvent)]) -> Result<usize, BrokenLink> {
    let mut previous = GENESIS.to_string();
    for (i, (id, e)) in events.iter().enumerate() {
        let expected = i as i64 + 1;
        let broken =
            |error| BrokenLink { permit_id: permit_id.to_string(), seq: expected, event_id: id.clone(), error };
        if e.permit_id != permit_id {
            return Err(broken(ChainError::OtherDossier { found: e.permit_id.clone() }));
        }
        if e.seq != expected {
            return Err(broken(ChainError::SequenceGap { expected, found: e.seq }));
        }
        let computed = link_hash(&previous, e);
        if e.hash.as_deref() != Some(computed.as_str()) {
            return Err(broken(ChainError::HashMismatch { stored: e.hash.clone(), computed }));
        }
        previous = computed;
    }
    Ok(events.len())
}

/// [`verify`], and the dossier's current stage must be the stage its last event reached.
pub fn verify_with_head(
    permit_id: &str,
    dossier_stage: &str,
    events: &[(Option<String>, PermitEvent)],
) -> Result<usize, BrokenLink> {
    let n = verify(permit_id, events)?;
    let last = events.last().and_then(|(_, e)| e.stage.clone());
    if n > 0 && last.as_deref() != Some(dossier_stage) {
        return Err(BrokenLink {
            permit_id: permit_id.to_string(),
            seq: n as i64,
            event_id: events.last().and_then(|(id, _)| id.clone()),
            error: ChainError::HeadMismatch { dossier_stage: dossier_stage.to_string(), last_event_stage: last },
        });
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> Vec<(Option<String>, PermitEvent)> {
        let mut events: Vec<PermitEvent> = ["received", "in_review", "supplement_requested"]
            .iter()
            .enumerate()
            .map(|(i, s)| PermitEvent {
                permit_id: "CB-1".into(),
                seq: i as i64 + 1,
                at: format!("2026-11-0{}T15:00:00.000Z", i + 2),
                kind: if i == 0 { "received" } else { "transition" }.into(),
                stage: Some(s.to_string()),
                actor: Some("reviewer:a".into()),
                note: Some(format!("note \"{i}\" ünïcode")),
                hash: None,
            })
            .collect();
        seal(&mut events);
        events.into_iter().map(|e| (Some(format!("{}-{:02}", e.permit_id, e.seq)), e)).collect()
    }

    #[test]
    fn a_sealed_history_verifies_and_any_change_is_named() {
        let h = history();
        assert_eq!(verify("CB-1", &h), Ok(3));
        assert_eq!(verify_with_head("CB-1", "supplement_requested", &h), Ok(3));
        assert_eq!(h[0].1.hash.as_deref().map(str::len), Some(64));

        let mut changed = h.clone();
        changed[1].1.note = Some("rewritten".into());
        let err = verify("CB-1", &changed).unwrap_err();
        assert_eq!((err.seq, err.event_id.as_deref()), (2, Some("CB-1-02")));
        assert!(err
            .to_string()
            .starts_with("dossier `CB-1`: the history breaks at event 2 (`CB-1-02`): its stored hash"));

        // Rehashing the changed event alone still breaks the next link.
        changed[1].1.hash = Some(link_hash(h[0].1.hash.as_deref().unwrap(), &changed[1].1));
        assert_eq!(verify("CB-1", &changed).unwrap_err().seq, 3);

        let mut removed = h.clone();
        removed.remove(1);
        assert!(matches!(
            verify("CB-1", &removed).unwrap_err().error,
            ChainError::SequenceGap { expected: 2, found: 3 }
        ));

        let mut tail_cut = h.clone();
        tail_cut.pop();
        let err = verify_with_head("CB-1", "supplement_requested", &tail_cut).unwrap_err();
        assert!(matches!(err.error, ChainError::HeadMismatch { .. }) && err.seq == 2, "{err}");
    }

    #[test]
    fn the_encoding_is_fixed() {
        let e = &history()[0].1;
        assert_eq!(
            canonical(e),
            r#"["CB-1",1,"2026-11-02T15:00:00.000Z","received","received","reviewer:a","note \"0\" ünïcode"]"#
        );
    }
}
