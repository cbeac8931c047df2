//! The stage machine: received → in review → (supplement requested ⇄ supplement received,
//! payment requested ⇄ payment received) → decided (approved, approved with conditions,
//! rejected) → (payment requested ⇄ payment received) → result delivered; withdrawn from any
//! stage before a decision. A move the machine does not allow is refused with the current stage
//! and the stages it may move to.
//!
//! The payment stages are the only ones a dossier passes through both before its decision (the
//! procedure's fee, asked during the review) and after it (a fee due before the result is
//! handed over); what may follow them depends on which, so the moves are asked of a stage
//! together with whether the dossier has been decided ([`Stage::allowed_next_when`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Received,
    InReview,
    SupplementRequested,
    SupplementReceived,
    PaymentRequested,
    PaymentReceived,
    Decided,
    Delivered,
    Withdrawn,
}

impl Stage {
    pub const ALL: [Stage; 9] = [
        Stage::Received,
        Stage::InReview,
        Stage::SupplementRequested,
        Stage::SupplementReceived,
        Stage::PaymentRequested,
        Stage::PaymentReceived,
        Stage::Decided,
        Stage::Delivered,
        Stage::Withdrawn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Received => "received",
            Stage::InReview => "in_review",
            Stage::SupplementRequested => "supplement_requested",
            Stage::SupplementReceived => "supplement_received",
            Stage::PaymentRequested => "payment_requested",
            Stage::PaymentReceived => "payment_received",
            Stage::Decided => "decided",
            Stage::Delivered => "delivered",
            Stage::Withdrawn => "withdrawn",
        }
    }

    /// The stages a dossier in this stage may move to, when it has not been decided (for
    /// [`Stage::Decided`] and [`Stage::Delivered`], as decided).
    pub fn allowed_next(self) -> &'static [Stage] {
        self.allowed_next_when(matches!(self, Stage::Decided | Stage::Delivered))
    }

    /// The stages a dossier in this stage may move to; `decided`: whether its history holds a
    /// decision (a payment asked after the decision leads to the delivery, not back to the
    /// review).
    pub fn allowed_next_when(self, decided: bool) -> &'static [Stage] {
        use Stage::*;
        match (self, decided) {
            (Received, _) => &[InReview, Withdrawn],
            (InReview, _) => &[SupplementRequested, PaymentRequested, Decided, Withdrawn],
            (SupplementRequested, _) => &[SupplementReceived, Withdrawn],
            (SupplementReceived, _) => &[SupplementRequested, PaymentRequested, Decided, Withdrawn],
            (PaymentRequested, false) => &[PaymentReceived, Withdrawn],
            (PaymentReceived, false) => &[SupplementRequested, PaymentRequested, Decided, Withdrawn],
            (PaymentRequested, true) => &[PaymentReceived],
            (PaymentReceived, true) => &[Delivered],
            (Decided, _) => &[PaymentRequested, Delivered],
            (Delivered | Withdrawn, _) => &[],
        }
    }

    /// Still being worked on: not decided, delivered or withdrawn. A payment stage after the
    /// decision is not open either: see [`Stage::is_open_when`].
    pub fn is_open(self) -> bool {
        !matches!(self, Stage::Decided | Stage::Delivered | Stage::Withdrawn)
    }

    /// Still being worked on, knowing whether the dossier has been decided.
    pub fn is_open_when(self, decided: bool) -> bool {
        !decided && self.is_open()
    }

    /// The dossier waits for the applicant (documents or a payment): the statutory clock does
    /// not run.
    pub fn waits_for_applicant(self) -> bool {
        matches!(self, Stage::SupplementRequested | Stage::PaymentRequested)
    }

    /// The stage the applicant's answer moves a waiting dossier to: supplied documents, a
    /// payment made.
    pub fn applicant_answer(self) -> Option<Stage> {
        match self {
            Stage::SupplementRequested => Some(Stage::SupplementReceived),
            Stage::PaymentRequested => Some(Stage::PaymentReceived),
            _ => None,
        }
    }

    /// Checks a move to `to` of a dossier not decided yet (see [`Stage::check_move_when`]).
    pub fn check_move(self, to: Stage, decision: Option<Decision>) -> Result<(), TransitionError> {
        self.check_move_when(matches!(self, Stage::Decided | Stage::Delivered), to, decision)
    }

    /// Checks a move to `to`, with the decision a move to [`Stage::Decided`] must carry (and
    /// others must not); `decided`: whether the dossier's history holds a decision.
    pub fn check_move_when(self, decided: bool, to: Stage, decision: Option<Decision>) -> Result<(), TransitionError> {
        let allowed = self.allowed_next_when(decided);
        if !allowed.contains(&to) {
            return Err(TransitionError::Illegal { from: self, to, allowed: allowed.to_vec() });
        }
        match (to, decision) {
            (Stage::Decided, None) => Err(TransitionError::DecisionMissing),
            (Stage::Decided, Some(_)) | (_, None) => Ok(()),
            (_, Some(d)) => Err(TransitionError::DecisionNotExpected { to, decision: d }),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn names<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none (the dossier is closed)".into();
    }
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// A name that is not a stage or not a decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a {what}; the {what}s are: {expected}")]
pub struct UnknownName {
    pub given: String,
    pub what: &'static str,
    pub expected: String,
}

impl FromStr for Stage {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL.into_iter().find(|st| st.name() == s.trim()).ok_or_else(|| UnknownName {
            given: s.to_string(),
            what: "stage",
            expected: names(&Stage::ALL),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    ApprovedWithConditions,
    Rejected,
}

impl Decision {
    pub const ALL: [Decision; 3] = [Decision::Approved, Decision::ApprovedWithConditions, Decision::Rejected];

    pub fn name(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::ApprovedWithConditions => "approved_with_conditions",
            Decision::Rejected => "rejected",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Decision {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decision::ALL.into_iter().find(|d| d.name() == s.trim()).ok_or_else(|| UnknownName {
            given: s.to_string(),
            what: "decision",
            expected: names(&Decision::ALL),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a dossier in stage `{from}` cannot move to `{to}`; from `{from}` it may move to: {}", names(allowed))]
    Illegal { from: Stage, to: Stage, allowed: Vec<Stage> },
    #[error("a move to `decided` needs a decision: {}", names(&Decision::ALL))]
    DecisionMissing,
    #[error("a decision (`{decision}`) is given only with a move to `decided`, not to `{to}`")]
    DecisionNotExpected { to: Stage, decision: Decision },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_as_the_issue_lists_it() {
        use Stage::*;
        let path = [InReview, SupplementRequested, SupplementReceived, SupplementRequested, SupplementReceived];
        let mut at = Received;
        for next in path {
            at.check_move(next, None).unwrap();
            at = next;
        }
        at.check_move(Decided, Some(Decision::Approved)).unwrap();
        Decided.check_move(Delivered, None).unwrap();
        for open in [Received, InReview, SupplementRequested, SupplementReceived, PaymentRequested, PaymentReceived] {
            assert!(open.is_open());
            open.check_move(Withdrawn, None).unwrap();
        }
        for closed in [Decided, Delivered, Withdrawn] {
            assert!(!closed.is_open());
            assert!(closed.check_move(Withdrawn, None).is_err(), "{closed}");
        }
        // A fee during the review, then once more before the result is delivered.
        let mut at = Received;
        for next in [InReview, PaymentRequested, PaymentReceived, SupplementRequested, SupplementReceived] {
            at.check_move_when(false, next, None).unwrap();
            at = next;
        }
        at.check_move_when(false, PaymentRequested, None).unwrap();
        PaymentRequested.check_move_when(false, Withdrawn, None).unwrap();
        PaymentReceived.check_move_when(false, Decided, Some(Decision::Rejected)).unwrap();
        assert!(PaymentReceived.check_move_when(false, Delivered, None).is_err());
        Decided.check_move_when(true, PaymentRequested, None).unwrap();
        PaymentRequested.check_move_when(true, PaymentReceived, None).unwrap();
        PaymentReceived.check_move_when(true, Delivered, None).unwrap();
        for (stage, to) in [(PaymentRequested, Withdrawn), (PaymentReceived, Decided), (PaymentReceived, InReview)] {
            let e = stage.check_move_when(true, to, Some(Decision::Approved)).unwrap_err();
            assert!(matches!(e, TransitionError::Illegal { .. }), "{stage} → {to}: {e}");
        }
        assert_eq!(
            PaymentRequested.check_move_when(true, Withdrawn, None).unwrap_err().to_string(),
            "a dossier in stage `payment_requested` cannot move to `withdrawn`; from `payment_requested` it may move to: payment_received"
        );
        assert!(PaymentRequested.is_open_when(false) && !PaymentRequested.is_open_when(true));
        for waiting in [SupplementRequested, PaymentRequested] {
            assert!(waiting.waits_for_applicant());
            assert!(waiting.applicant_answer().is_some());
        }
        assert_eq!(InReview.applicant_answer(), None);
        assert_eq!(Received.check_move(Decided, Some(Decision::Approved)).unwrap_err().to_string(),
            "a dossier in stage `received` cannot move to `decided`; from `received` it may move to: in_review, withdrawn");
        assert_eq!(InReview.check_move(Decided, None), Err(TransitionError::DecisionMissing));
        assert!(matches!(
            InReview.check_move(Withdrawn, Some(Decision::Rejected)),
            Err(TransitionError::DecisionNotExpected { .. })
        ));
        let closed = Delivered.check_move(Withdrawn, None).unwrap_err().to_string();
        assert!(closed.ends_with("none (the dossier is closed)"), "{closed}");
    }

    #[test]
    fn names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(s.name().parse::<Stage>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.name()));
        }
        for d in Decision::ALL {
            assert_eq!(d.name().parse::<Decision>(), Ok(d));
        }
        let e = "approve".parse::<Decision>().unwrap_err().to_string();
        assert!(e.contains("`approve`") && e.contains("approved_with_conditions"), "{e}");
    }
}
