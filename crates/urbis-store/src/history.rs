//! A dossier's append-only history, written with the dossier's new state in one transaction:
//! [`Store::append_event`](crate::Store::append_event) checks that the history still ends where
//! the caller read it, appends the next event and writes the dossier, or does nothing.

use urbis_core::{Feature, LayerId};

use crate::{Result, StoreError};

/// Where a dossier's history ends: its last event's position and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryHead {
    pub seq: i64,
    pub hash: Option<String>,
}

/// The checks both backends make before they write: the event belongs to the dossier, comes next
/// after `expected`, and the dossier is a permit.
pub(crate) fn check_append(dossier: &Feature, event: &Feature, expected: Option<&HistoryHead>) -> Result<()> {
    let bad =
        |reason: String| StoreError::InvalidFeature { layer: LayerId::PermitEvents, id: event.id.clone(), reason };
    if event.text("permit_id") != Some(dossier.id.as_str()) {
        return Err(bad(format!("the event's permit_id is not the dossier's id `{}`", dossier.id)));
    }
    let next = expected.map(|h| h.seq).unwrap_or(0) + 1;
    if event.integer("seq") != Some(next) {
        return Err(bad(format!("the event's seq must be {next}, the next after the history's end")));
    }
    Ok(())
}

/// Compares the history's actual end with the one the caller expects.
pub(crate) fn check_head(id: &str, expected: Option<&HistoryHead>, found: Option<HistoryHead>) -> Result<()> {
    let matches = match (expected, &found) {
        (None, None) => true,
        (Some(e), Some(f)) => e == f,
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(StoreError::HistoryConflict {
            id: id.to_string(),
            expected: expected.map(|h| h.seq).unwrap_or(0),
            found: found.map(|h| h.seq).unwrap_or(0),
        })
    }
}
