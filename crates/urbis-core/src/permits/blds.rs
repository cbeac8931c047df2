//! Dossiers as BLDS, the Building and Land Development Specification (permitdata.org) that
//! permit-data consumers read: one core record per dossier (the required fields, the recommended
//! ones that apply to a one-stop dossier, and the statutory clock's fields beyond BLDS), and the
//! status-history companion, one row per change of stage. No personal data: the applicant is
//! never part of a record.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::calendar::WorkingCalendar;
use super::clock::{ClockStatus, StatutoryClock};
use super::stage::Stage;
use crate::domain::{Dossier, PermitEvent, Procedure};

/// Where the dossiers are: BLDS's `Original*` address fields and its jurisdiction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jurisdiction {
    /// A stable id of the jurisdiction (BLDS `Jurisdiction`), e.g. `cambridge_ma`.
    pub id: String,
    pub city: String,
    pub state: String,
}

/// One dossier as a BLDS core record. Field names are BLDS's (CamelCase); those after `Link` are
/// urbis's clock fields, which BLDS does not define.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BldsRecord {
    // Required.
    pub permit_num: String,
    pub description: String,
    pub applied_date: String,
    pub issued_date: Option<String>,
    pub completed_date: Option<String>,
    pub status_current: String,
    pub original_address1: String,
    pub original_address2: String,
    pub original_city: String,
    pub original_state: String,
    pub original_zip: String,
    // Recommended, where they apply.
    pub jurisdiction: String,
    pub permit_type: String,
    pub permit_type_mapped: String,
    pub permit_type_desc: String,
    pub status_current_mapped: String,
    pub status_date: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    #[serde(rename = "PIN")]
    pub pin: String,
    pub proposed_use: String,
    pub housing_units: Option<i64>,
    pub est_project_cost: Option<f64>,
    pub link: String,
    // Beyond BLDS: the statutory clock.
    pub stage: String,
    pub stage_status: String,
    pub due_date: Option<String>,
    pub processing_days: Option<i64>,
    pub days_used: Option<i64>,
    pub applicant_days: Option<i64>,
    /// 1 when the dossier is overdue (open past its due date, or decided after it), else 0.
    pub sla_violations: u32,
}

/// One change of a dossier's stage (BLDS's optional status-change dataset).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BldsStatusChange {
    pub permit_num: String,
    /// The stage the dossier left.
    pub status_previous: String,
    pub status_previous_mapped: String,
    /// The day it left it (the city's date).
    pub status_previous_date: String,
    /// The stage it moved to, and the note that came with the move.
    pub status_new: String,
    pub comments: String,
}

/// BLDS's standard status for a stage (and the decision, once decided). A payment before the
/// decision is part of the review; one asked after it (the dossier has its decision) keeps the
/// decision's status.
pub fn status_mapped(stage: Stage, decision: Option<&str>) -> &'static str {
    match stage {
        Stage::Received => "Application Accepted",
        Stage::PaymentRequested | Stage::PaymentReceived if decision.is_none() => "In Review",
        Stage::InReview | Stage::SupplementRequested | Stage::SupplementReceived => "In Review",
        Stage::Decided | Stage::Delivered | Stage::PaymentRequested | Stage::PaymentReceived
            if decision == Some("rejected") =>
        {
            "Permit Cancelled"
        }
        Stage::Decided | Stage::Delivered | Stage::PaymentRequested | Stage::PaymentReceived => "Permit Issued",
        Stage::Withdrawn => "Permit Cancelled",
    }
}

/// BLDS's standard permit type for a procedure: building work is `Building`, demolition
/// `Demolition`; every other procedure of a one-stop centre is `Other`.
pub fn permit_type_mapped(procedure: Option<&Procedure>) -> &'static str {
    let Some(p) = procedure else { return "Other" };
    let text = format!("{} {}", p.name, p.category).to_lowercase();
    if text.contains("demolition") {
        "Demolition"
    } else if text.contains("building") {
        "Building"
    } else {
        "Other"
    }
}

/// What a record needs besides the dossier itself.
#[derive(Debug, Clone, Copy)]
pub struct RecordContext<'a> {
    pub jurisdiction: &'a Jurisdiction,
    pub procedure: Option<&'a Procedure>,
    /// The dossier's history, in order.
    pub events: &'a [PermitEvent],
    /// Its clock now (none if its history cannot drive one).
    pub clock: Option<&'a StatutoryClock>,
    /// A point of its site (WGS 84), if it has one.
    pub point: Option<(f64, f64)>,
    /// The public tracking page of the dossier.
    pub link: &'a str,
    /// The city's calendar: its dates are the record's.
    pub calendar: &'a WorkingCalendar,
}

fn date_of(ctx: &RecordContext<'_>, at: &str) -> Option<String> {
    let t = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
    Some(ctx.calendar.local_date(t).to_string())
}

/// The first event that brought the dossier to `stage`.
fn entered(events: &[PermitEvent], stage: Stage) -> Option<&PermitEvent> {
    events.iter().find(|e| e.stage.as_deref() == Some(stage.name()))
}

/// A dossier as a BLDS core record.
pub fn record(dossier: &Dossier, ctx: &RecordContext<'_>) -> BldsRecord {
    let stage = dossier.stage.parse::<Stage>().ok();
    let decision = dossier.decision.as_deref();
    let approved = matches!(decision, Some("approved" | "approved_with_conditions"));
    let decided_at = dossier.decided_at.clone().or_else(|| entered(ctx.events, Stage::Decided).map(|e| e.at.clone()));
    let completed_at = match stage {
        Some(Stage::Delivered) => entered(ctx.events, Stage::Delivered).map(|e| e.at.clone()),
        Some(Stage::Withdrawn) => entered(ctx.events, Stage::Withdrawn).map(|e| e.at.clone()),
        Some(Stage::Decided) if decision == Some("rejected") => decided_at.clone(),
        _ => None,
    };
    let last_change = ctx.events.iter().rev().find(|e| e.stage.is_some()).map(|e| e.at.clone());
    let overdue = ctx.clock.is_some_and(|c| c.status == ClockStatus::Overdue);
    BldsRecord {
        permit_num: dossier.tracking_code.clone(),
        description: dossier.description.clone().or_else(|| ctx.procedure.map(|p| p.name.clone())).unwrap_or_default(),
        applied_date: date_of(ctx, &dossier.received_at).unwrap_or_else(|| dossier.received_at.clone()),
        issued_date: if approved { decided_at.as_deref().and_then(|t| date_of(ctx, t)) } else { None },
        completed_date: completed_at.as_deref().and_then(|t| date_of(ctx, t)),
        status_current: match (stage, decision) {
            (Some(Stage::Decided | Stage::Delivered | Stage::PaymentRequested | Stage::PaymentReceived), Some(d)) => {
                format!("{} ({d})", dossier.stage)
            }
            _ => dossier.stage.clone(),
        },
        original_address1: dossier.address.clone().unwrap_or_default(),
        original_address2: String::new(),
        original_city: ctx.jurisdiction.city.clone(),
        original_state: ctx.jurisdiction.state.clone(),
        original_zip: String::new(),
        jurisdiction: ctx.jurisdiction.id.clone(),
        permit_type: dossier.procedure_code.clone(),
        permit_type_mapped: permit_type_mapped(ctx.procedure).to_string(),
        permit_type_desc: ctx.procedure.map(|p| p.name.clone()).unwrap_or_default(),
        status_current_mapped: stage.map(|s| status_mapped(s, decision)).unwrap_or("In Review").to_string(),
        status_date: last_change.as_deref().and_then(|t| date_of(ctx, t)),
        latitude: ctx.point.map(|(_, lat)| lat),
        longitude: ctx.point.map(|(lon, _)| lon),
        pin: dossier.parcel_codes.join(";"),
        proposed_use: dossier.proposed_use.clone().unwrap_or_default(),
        housing_units: None,
        est_project_cost: None,
        link: ctx.link.to_string(),
        stage: dossier.stage.clone(),
        stage_status: ctx.clock.map(|c| c.status.name().to_string()).unwrap_or_default(),
        due_date: ctx.clock.map(|c| c.due.to_string()),
        processing_days: ctx.clock.map(|c| c.processing_days),
        days_used: ctx.clock.map(|c| c.city_days),
        applicant_days: ctx.clock.map(|c| c.applicant_days),
        sla_violations: u32::from(overdue),
    }
}

/// The dossier's changes of stage, oldest first. (A dossier is decided once, so the decision
/// that maps the `decided` stage, and the payment stages after it, is the dossier's own; the
/// stages before it are mapped without.)
pub fn status_changes(dossier: &Dossier, ctx: &RecordContext<'_>) -> Vec<BldsStatusChange> {
    let mut out = vec![];
    let mut previous: Option<Stage> = None;
    let mut decided = false;
    for e in ctx.events {
        let Some(stage) = e.stage.as_deref().and_then(|s| s.parse::<Stage>().ok()) else { continue };
        decided |= previous == Some(Stage::Decided);
        let decision = if decided { dossier.decision.as_deref() } else { None };
        match previous {
            Some(from) if from != stage => out.push(BldsStatusChange {
                permit_num: dossier.tracking_code.clone(),
                status_previous: from.name().to_string(),
                status_previous_mapped: status_mapped(from, decision).to_string(),
                status_previous_date: date_of(ctx, &e.at).unwrap_or_else(|| e.at.clone()),
                status_new: stage.name().to_string(),
                // The applicant's own words (what they supplied, a payment's reference) are
                // not published.
                comments: if e.actor.as_deref() == Some("applicant") {
                    String::new()
                } else {
                    e.note.clone().unwrap_or_default()
                },
            }),
            _ => {}
        }
        previous = Some(stage);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, at: &str, stage: &str, note: &str) -> PermitEvent {
        PermitEvent {
            permit_id: "d1".into(),
            seq,
            at: at.into(),
            kind: "transition".into(),
            stage: Some(stage.into()),
            actor: Some("reviewer".into()),
            note: Some(note.into()),
            hash: None,
        }
    }

    fn dossier(stage: &str, decision: Option<&str>) -> Dossier {
        Dossier {
            tracking_code: "CB-AAAA-0001".into(),
            procedure_code: "BLU-01".into(),
            applicant: Some(serde_json::json!({"name": "A. Resident", "email": "a@example.org"})),
            parcel_codes: vec!["127-123".into(), "127-124".into()],
            address: Some("12 Main St".into()),
            proposed_use: Some("residential_multifamily".into()),
            stage: stage.into(),
            received_at: "2026-10-01T14:00:00Z".into(),
            decision: decision.map(str::to_string),
            decided_at: decision.map(|_| "2026-10-20T15:00:00Z".to_string()),
            ..Dossier::default()
        }
    }

    fn procedure() -> Procedure {
        Procedure {
            code: "BLU-01".into(),
            name: "Building permit, new construction".into(),
            category: "building and land use".into(),
            processing_days: 20,
            ..Procedure::default()
        }
    }

    #[test]
    fn a_delivered_approval_is_issued_and_completed_and_names_no_one() {
        let events = vec![
            event(1, "2026-10-01T14:00:00Z", "received", "filed online"),
            event(2, "2026-10-02T14:00:00Z", "in_review", "assigned"),
            event(3, "2026-10-20T15:00:00Z", "decided", "approved_with_conditions: works 7-18 h"),
            event(4, "2026-10-22T15:00:00Z", "delivered", "sent"),
        ];
        let place = Jurisdiction { id: "cambridge_ma".into(), city: "Cambridge".into(), state: "MA".into() };
        let p = procedure();
        let calendar = WorkingCalendar::weekdays("test");
        let ctx = RecordContext {
            jurisdiction: &place,
            procedure: Some(&p),
            events: &events,
            clock: None,
            point: Some((-71.1, 42.37)),
            link: "http://x/track/CB-AAAA-0001",
            calendar: &calendar,
        };
        let r = record(&dossier("delivered", Some("approved_with_conditions")), &ctx);
        assert_eq!(r.permit_num, "CB-AAAA-0001");
        assert_eq!(r.applied_date, "2026-10-01");
        assert_eq!(r.issued_date.as_deref(), Some("2026-10-20"));
        assert_eq!(r.completed_date.as_deref(), Some("2026-10-22"));
        assert_eq!(r.status_current_mapped, "Permit Issued");
        assert_eq!(r.status_date.as_deref(), Some("2026-10-22"));
        assert_eq!(r.permit_type_mapped, "Building");
        assert_eq!(r.pin, "127-123;127-124");
        assert_eq!((r.latitude, r.longitude), (Some(42.37), Some(-71.1)));
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("Resident") && !text.contains("example.org"), "{text}");
        assert!(text.contains("\"PermitNum\"") && text.contains("\"PIN\"") && text.contains("\"OriginalAddress1\""));

        let changes = status_changes(&dossier("delivered", Some("approved_with_conditions")), &ctx);
        let moves: Vec<(&str, &str, &str)> = changes
            .iter()
            .map(|c| (c.status_previous.as_str(), c.status_new.as_str(), c.status_previous_date.as_str()))
            .collect();
        assert_eq!(
            moves,
            [
                ("received", "in_review", "2026-10-02"),
                ("in_review", "decided", "2026-10-20"),
                ("decided", "delivered", "2026-10-22")
            ]
        );
        assert_eq!(changes[2].status_previous_mapped, "Permit Issued");
    }

    #[test]
    fn rejections_and_withdrawals_are_cancelled_and_open_dossiers_in_review() {
        assert_eq!(status_mapped(Stage::Decided, Some("rejected")), "Permit Cancelled");
        assert_eq!(status_mapped(Stage::Withdrawn, None), "Permit Cancelled");
        assert_eq!(status_mapped(Stage::SupplementRequested, None), "In Review");
        assert_eq!(status_mapped(Stage::PaymentRequested, None), "In Review");
        assert_eq!(status_mapped(Stage::PaymentReceived, None), "In Review");
        assert_eq!(status_mapped(Stage::PaymentRequested, Some("approved")), "Permit Issued");
        assert_eq!(status_mapped(Stage::PaymentReceived, Some("rejected")), "Permit Cancelled");
        assert_eq!(status_mapped(Stage::Received, None), "Application Accepted");
        let place = Jurisdiction::default();
        let calendar = WorkingCalendar::weekdays("test");
        let events = vec![
            event(1, "2026-10-01T14:00:00Z", "received", ""),
            event(2, "2026-10-03T14:00:00Z", "withdrawn", "applicant withdrew"),
        ];
        let ctx = RecordContext {
            jurisdiction: &place,
            procedure: None,
            events: &events,
            clock: None,
            point: None,
            link: "",
            calendar: &calendar,
        };
        let r = record(&dossier("withdrawn", None), &ctx);
        assert_eq!(r.completed_date.as_deref(), Some("2026-10-03"));
        assert_eq!(r.issued_date, None);
        assert_eq!(r.permit_type_mapped, "Other");
    }

    #[test]
    fn payments_before_the_decision_are_in_review_and_after_it_keep_the_decision() {
        let events = vec![
            event(1, "2026-10-01T14:00:00Z", "received", ""),
            event(2, "2026-10-02T14:00:00Z", "in_review", ""),
            event(3, "2026-10-05T14:00:00Z", "payment_requested", "fee due: 120"),
            event(4, "2026-10-07T14:00:00Z", "payment_received", "payment reference: T-1"),
            event(5, "2026-10-20T15:00:00Z", "decided", "approved"),
            event(6, "2026-10-21T15:00:00Z", "payment_requested", "fee due: 40"),
            PermitEvent {
                actor: Some("applicant".into()),
                ..event(7, "2026-10-22T15:00:00Z", "payment_received", "IBAN 123")
            },
        ];
        let place = Jurisdiction::default();
        let calendar = WorkingCalendar::weekdays("test");
        let ctx = RecordContext {
            jurisdiction: &place,
            procedure: None,
            events: &events,
            clock: None,
            point: None,
            link: "",
            calendar: &calendar,
        };
        let d = dossier("payment_requested", Some("approved"));
        let changes = status_changes(&d, &ctx);
        assert_eq!((changes[4].comments.as_str(), changes[5].comments.as_str()), ("fee due: 40", ""));
        let r = record(&d, &ctx);
        assert_eq!(
            (r.status_current.as_str(), r.status_current_mapped.as_str()),
            ("payment_requested (approved)", "Permit Issued")
        );
        let changes = status_changes(&d, &ctx);
        let mapped: Vec<(&str, &str)> =
            changes.iter().map(|c| (c.status_previous.as_str(), c.status_previous_mapped.as_str())).collect();
        assert_eq!(
            mapped,
            [
                ("received", "Application Accepted"),
                ("in_review", "In Review"),
                ("payment_requested", "In Review"),
                ("payment_received", "In Review"),
                ("decided", "Permit Issued"),
                ("payment_requested", "Permit Issued")
            ]
        );
    }
}
