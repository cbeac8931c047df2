//! The statutory clock. A dossier counts as complete when it is received, and its processing time
//! runs on the city's working days from then; while it waits for the applicant (a supplement or a
//! payment was requested and has not arrived) the days are the applicant's and the clock stands
//! still, and the dossier is neither at risk nor overdue; it stops at the decision or the
//! withdrawal (a payment asked after the decision does not start it again). Each stage of the history is told with its working
//! days and whose they were. An open dossier is on time, at risk (less than a share of its time
//! left, 25% by default) or overdue.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::calendar::WorkingCalendar;
use super::stage::Stage;

/// Whose working days a stage's were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayOwner {
    /// The city's: they count against its processing time.
    City,
    /// The applicant's: the dossier waited for them (a supplement, a payment); the clock stood
    /// still.
    Applicant,
    /// After the decision or the withdrawal: the clock had stopped.
    Stopped,
}

impl DayOwner {
    fn of(stage: Stage, decided: bool) -> DayOwner {
        if !stage.is_open_when(decided) {
            DayOwner::Stopped
        } else if stage.waits_for_applicant() {
            DayOwner::Applicant
        } else {
            DayOwner::City
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStatus {
    OnTime,
    AtRisk,
    Overdue,
}

impl ClockStatus {
    pub fn name(self) -> &'static str {
        match self {
            ClockStatus::OnTime => "on_time",
            ClockStatus::AtRisk => "at_risk",
            ClockStatus::Overdue => "overdue",
        }
    }
}

/// When a dossier is at risk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockPolicy {
    /// At risk when less than this share of the processing time is left (0 to 1).
    pub at_risk_share: f64,
}

impl Default for ClockPolicy {
    fn default() -> Self {
        ClockPolicy { at_risk_share: 0.25 }
    }
}

/// One stage of a dossier's history as the clock sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSpan {
    pub stage: Stage,
    pub from: DateTime<Utc>,
    /// When the next stage began; `None` for the current one.
    pub until: Option<DateTime<Utc>>,
    /// Working days in the span (to "now" for the current stage).
    pub working_days: i64,
    pub owner: DayOwner,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatutoryClock {
    pub processing_days: i64,
    /// When the clock started (the dossier was received complete), the city's date.
    pub started: NaiveDate,
    /// The due date: the day the city's days reach the processing time. While the clock stands
    /// still it is the due date should the applicant answer today.
    pub due: NaiveDate,
    pub city_days: i64,
    pub applicant_days: i64,
    /// Processing days left (negative when overdue).
    pub days_left: i64,
    /// Waiting for the applicant (before the decision): neither at risk nor overdue meanwhile.
    pub paused: bool,
    /// Decided or withdrawn: the figures are those of that day.
    pub stopped: bool,
    /// For a stopped clock, whether it was decided in time (on time) or late (overdue).
    pub status: ClockStatus,
    pub stages: Vec<StageSpan>,
}

/// A history that cannot drive a clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("a dossier's history is empty: it has no receipt to start the clock")]
    EmptyHistory,
    #[error("a dossier's history goes back in time at its entry {index} ({at})")]
    OutOfOrder { index: usize, at: DateTime<Utc> },
    #[error("processing time of {0} working days: it must be 0 or more")]
    NegativeProcessingTime(i64),
}

/// The clock of a dossier with `processing_days` whose stages began at the given instants (the
/// first is its receipt), as it stands at `now`.
pub fn statutory_clock(
    calendar: &WorkingCalendar,
    processing_days: i64,
    history: &[(DateTime<Utc>, Stage)],
    now: DateTime<Utc>,
    policy: ClockPolicy,
) -> Result<StatutoryClock, ClockError> {
    if processing_days < 0 {
        return Err(ClockError::NegativeProcessingTime(processing_days));
    }
    let (first, _) = history.first().ok_or(ClockError::EmptyHistory)?;
    for (i, pair) in history.windows(2).enumerate() {
        if pair[1].0 < pair[0].0 {
            return Err(ClockError::OutOfOrder { index: i + 1, at: pair[1].0 });
        }
    }
    let started = calendar.local_date(*first);
    let today = calendar.local_date(now.max(*first));

    let mut stages = Vec::with_capacity(history.len());
    // Applicant's days as (after, until] date ranges, for the due date.
    let mut paused_ranges: Vec<(NaiveDate, NaiveDate)> = vec![];
    let (mut city_days, mut applicant_days) = (0, 0);
    let mut decided = false;
    for (i, (at, stage)) in history.iter().enumerate() {
        decided |= *stage == Stage::Decided;
        let until = history.get(i + 1).map(|(t, _)| *t);
        let (a, b) = (calendar.local_date(*at), until.map(|t| calendar.local_date(t)).unwrap_or(today));
        let working_days = calendar.working_days_between(a, b.max(a));
        let owner = DayOwner::of(*stage, decided);
        match owner {
            DayOwner::City => city_days += working_days,
            DayOwner::Applicant => {
                applicant_days += working_days;
                paused_ranges.push((a, b.max(a)));
            }
            DayOwner::Stopped => {}
        }
        stages.push(StageSpan { stage: *stage, from: *at, until, working_days, owner });
    }
    let current = history.last().map(|(_, s)| *s).unwrap_or(Stage::Received);

    // The due date: the processing_days-th working day after the start that is not the applicant's.
    let mut due = started;
    let mut counted = 0;
    while counted < processing_days {
        due = calendar.add_working_days(due, 1);
        if !paused_ranges.iter().any(|(a, b)| due > *a && due <= *b) {
            counted += 1;
        }
    }
    let days_left = processing_days - city_days;
    let open = current.is_open_when(decided);
    let paused = open && current.waits_for_applicant();
    let status = if paused {
        ClockStatus::OnTime
    } else if days_left < 0 {
        ClockStatus::Overdue
    } else if open && (days_left as f64) < policy.at_risk_share * processing_days as f64 {
        ClockStatus::AtRisk
    } else {
        ClockStatus::OnTime
    };
    Ok(StatutoryClock {
        processing_days,
        started,
        due,
        city_days,
        applicant_days,
        days_left,
        paused,
        stopped: !open,
        status,
        stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn cambridge() -> WorkingCalendar {
        WorkingCalendar::weekdays("cambridge_ma").with_holidays([date("2026-11-11"), date("2026-11-26")])
    }

    #[test]
    fn a_supplement_pauses_the_clock_and_moves_the_due_date() {
        let cal = cambridge();
        // Received Monday 2 November, 10 working days; Veterans Day on the 11th.
        let received = t("2026-11-02T15:00:00Z");
        let plain = statutory_clock(
            &cal,
            10,
            &[(received, Stage::Received)],
            t("2026-11-04T15:00:00Z"),
            ClockPolicy::default(),
        )
        .unwrap();
        assert_eq!(plain.due, date("2026-11-17"));
        assert_eq!((plain.city_days, plain.days_left, plain.status), (2, 8, ClockStatus::OnTime));

        let history = [
            (received, Stage::Received),
            (t("2026-11-03T15:00:00Z"), Stage::InReview),
            (t("2026-11-05T15:00:00Z"), Stage::SupplementRequested),
            (t("2026-11-10T15:00:00Z"), Stage::SupplementReceived),
        ];
        // Asked on Thursday 5th, answered Tuesday 10th: 6, 9, 10 were the applicant's.
        let c = statutory_clock(&cal, 10, &history, t("2026-11-12T15:00:00Z"), ClockPolicy::default()).unwrap();
        assert_eq!(c.applicant_days, 3);
        assert_eq!(c.city_days, 1 + 2 + 1); // 3rd; 4th and 5th; 12th (11th a holiday)
        assert_eq!(c.due, date("2026-11-20"));
        let owners: Vec<(Stage, i64, DayOwner)> = c.stages.iter().map(|s| (s.stage, s.working_days, s.owner)).collect();
        assert_eq!(
            owners,
            vec![
                (Stage::Received, 1, DayOwner::City),
                (Stage::InReview, 2, DayOwner::City),
                (Stage::SupplementRequested, 3, DayOwner::Applicant),
                (Stage::SupplementReceived, 1, DayOwner::City),
            ]
        );

        // While it waits, the days left do not move.
        let waiting =
            statutory_clock(&cal, 10, &history[..3], t("2026-11-20T15:00:00Z"), ClockPolicy::default()).unwrap();
        assert!(waiting.paused);
        assert_eq!(waiting.city_days, 3);
        assert_eq!(waiting.days_left, 7);
    }

    #[test]
    fn at_risk_overdue_and_stopped() {
        let cal = cambridge();
        let received = t("2026-11-02T15:00:00Z");
        let at = |now: &str| {
            statutory_clock(&cal, 8, &[(received, Stage::Received)], t(now), ClockPolicy::default()).unwrap()
        };
        assert_eq!(at("2026-11-09T15:00:00Z").status, ClockStatus::OnTime); // 5 used, 3 left ≥ 2
        assert_eq!(at("2026-11-10T15:00:00Z").status, ClockStatus::OnTime); // 6 used, 2 left = 25%
        assert_eq!(at("2026-11-12T15:00:00Z").status, ClockStatus::AtRisk); // 7 used, 1 left
        assert_eq!(at("2026-11-13T15:00:00Z").status, ClockStatus::AtRisk); // due today
        assert_eq!(at("2026-11-16T15:00:00Z").status, ClockStatus::Overdue);
        let decided = [(received, Stage::Received), (t("2026-11-04T15:00:00Z"), Stage::Decided)];
        let c = statutory_clock(&cal, 8, &decided, t("2027-01-01T00:00:00Z"), ClockPolicy::default()).unwrap();
        assert!(c.stopped);
        assert_eq!((c.city_days, c.status), (2, ClockStatus::OnTime));
    }

    #[test]
    fn bad_histories_are_refused() {
        let cal = cambridge();
        let p = ClockPolicy::default();
        assert_eq!(statutory_clock(&cal, 5, &[], t("2026-11-02T00:00:00Z"), p), Err(ClockError::EmptyHistory));
        let back = [(t("2026-11-03T00:00:00Z"), Stage::Received), (t("2026-11-02T00:00:00Z"), Stage::InReview)];
        assert!(matches!(
            statutory_clock(&cal, 5, &back, t("2026-11-04T00:00:00Z"), p),
            Err(ClockError::OutOfOrder { index: 1, .. })
        ));
    }

    #[test]
    fn a_payment_pauses_the_clock_like_a_supplement() {
        let cal = cambridge();
        let received = t("2026-11-02T15:00:00Z");
        let steps = |kind: [Stage; 2]| {
            [
                (received, Stage::Received),
                (t("2026-11-03T15:00:00Z"), Stage::InReview),
                (t("2026-11-05T15:00:00Z"), kind[0]),
                (t("2026-11-10T15:00:00Z"), kind[1]),
            ]
        };
        let supplement = steps([Stage::SupplementRequested, Stage::SupplementReceived]);
        let payment = steps([Stage::PaymentRequested, Stage::PaymentReceived]);
        let now = t("2026-11-12T15:00:00Z");
        let a = statutory_clock(&cal, 10, &supplement, now, ClockPolicy::default()).unwrap();
        let b = statutory_clock(&cal, 10, &payment, now, ClockPolicy::default()).unwrap();
        assert_eq!((b.applicant_days, b.city_days, b.days_left, b.due), (3, 4, 6, date("2026-11-20")));
        assert_eq!(
            (a.applicant_days, a.city_days, a.days_left, a.due),
            (b.applicant_days, b.city_days, b.days_left, b.due)
        );
        let owners: Vec<(Stage, i64, DayOwner)> = b.stages.iter().map(|s| (s.stage, s.working_days, s.owner)).collect();
        assert_eq!(owners[2], (Stage::PaymentRequested, 3, DayOwner::Applicant));
        assert_eq!(owners[3], (Stage::PaymentReceived, 1, DayOwner::City));

        // Waiting for the payment long past the due date: paused, neither at risk nor overdue.
        let mut late = payment[..2].to_vec();
        late.push((t("2026-11-13T15:00:00Z"), Stage::PaymentRequested));
        let waiting = statutory_clock(&cal, 10, &late, t("2026-12-20T15:00:00Z"), ClockPolicy::default()).unwrap();
        assert!(waiting.paused && !waiting.stopped);
        assert_eq!((waiting.city_days, waiting.status), (1 + 7, ClockStatus::OnTime));
        // The answer starts the clock again: 2 days left of 10 is at risk.
        late.push((t("2026-12-21T15:00:00Z"), Stage::PaymentReceived));
        let back = statutory_clock(&cal, 10, &late, t("2026-12-21T16:00:00Z"), ClockPolicy::default()).unwrap();
        assert_eq!((back.city_days, back.status, back.paused), (8, ClockStatus::AtRisk, false));

        // A fee asked after the decision: the clock stays stopped, the days are no one's.
        let after = [
            (received, Stage::Received),
            (t("2026-11-04T15:00:00Z"), Stage::Decided),
            (t("2026-11-05T15:00:00Z"), Stage::PaymentRequested),
            (t("2026-11-20T15:00:00Z"), Stage::PaymentReceived),
        ];
        let c = statutory_clock(&cal, 8, &after, t("2026-12-01T15:00:00Z"), ClockPolicy::default()).unwrap();
        assert!(c.stopped && !c.paused);
        assert_eq!((c.city_days, c.applicant_days, c.status), (2, 0, ClockStatus::OnTime));
        assert!(c.stages[2..].iter().all(|s| s.owner == DayOwner::Stopped), "{:?}", c.stages);
    }

    proptest! {
        /// However long the applicant takes, the city's days and the days left are the same as
        /// if the supplement had come back at once, and the due date moves by the paused days.
        #[test]
        fn pauses_of_both_kinds_never_count_against_the_city(
            before in 0i64..12, first in 0i64..30, between in 0i64..12, second in 0i64..30, after in 0i64..12,
            kinds in (any::<bool>(), any::<bool>()), holidays in prop::collection::vec(0i64..160, 0..12),
            days in 1i64..30,
        ) {
            let base = date("2026-01-05");
            let cal = WorkingCalendar::weekdays("p").with_holidays(holidays.iter().map(|o| base + chrono::Duration::days(*o)));
            let at = |d: NaiveDate| d.and_hms_opt(15, 0, 0).unwrap().and_utc();
            let pair = |payment: bool| if payment {
                (Stage::PaymentRequested, Stage::PaymentReceived)
            } else {
                (Stage::SupplementRequested, Stage::SupplementReceived)
            };
            let ((ask1, answer1), (ask2, answer2)) = (pair(kinds.0), pair(kinds.1));
            let asked1 = cal.add_working_days(base, before);
            let answered1 = cal.add_working_days(asked1, first);
            let asked2 = cal.add_working_days(answered1, between);
            let answered2 = cal.add_working_days(asked2, second);
            let now = cal.add_working_days(answered2, after);
            let history = [
                (at(base), Stage::Received),
                (at(asked1), ask1),
                (at(answered1), answer1),
                (at(asked2), ask2),
                (at(answered2), answer2),
            ];
            let c = statutory_clock(&cal, days, &history, at(now), ClockPolicy::default()).unwrap();
            prop_assert_eq!(c.applicant_days, first + second);
            prop_assert_eq!(c.city_days, before + between + after);
            prop_assert_eq!(c.days_left, days - before - between - after);
            prop_assert!(!c.paused && !c.stopped);
            let unpaused = statutory_clock(&cal, days, &[(at(base), Stage::Received)], at(base), ClockPolicy::default()).unwrap();
            let moved = cal.working_days_between(unpaused.due, c.due);
            let expected = if before < days { first } else { 0 } + if before + between < days { second } else { 0 };
            prop_assert_eq!(moved, expected);
            prop_assert!(cal.is_working_day(c.due));

            // While the second wait lasts, however long, the dossier is paused and never late.
            let waiting = statutory_clock(&cal, days, &history[..4], at(now), ClockPolicy::default()).unwrap();
            prop_assert!(waiting.paused);
            prop_assert_eq!(waiting.status, ClockStatus::OnTime);
            prop_assert_eq!(waiting.city_days, before + between);
        }

        #[test]
        fn pauses_never_count_against_the_city(
            before in 0i64..15, pause in 0i64..40, after in 0i64..15, holidays in prop::collection::vec(0i64..120, 0..10),
            days in 1i64..30,
        ) {
            let base = date("2026-01-05");
            let cal = WorkingCalendar::weekdays("p").with_holidays(holidays.iter().map(|o| base + chrono::Duration::days(*o)));
            let at = |d: NaiveDate| d.and_hms_opt(15, 0, 0).unwrap().and_utc();
            let asked = cal.add_working_days(base, before);
            let answered = cal.add_working_days(asked, pause);
            let now = cal.add_working_days(answered, after);
            let history = [(at(base), Stage::Received), (at(asked), Stage::SupplementRequested), (at(answered), Stage::SupplementReceived)];
            let c = statutory_clock(&cal, days, &history, at(now), ClockPolicy::default()).unwrap();
            prop_assert_eq!(c.applicant_days, pause);
            prop_assert_eq!(c.city_days, before + after);
            prop_assert_eq!(c.days_left, days - before - after);
            let unpaused = statutory_clock(&cal, days, &[(at(base), Stage::Received)], at(base), ClockPolicy::default()).unwrap();
            prop_assert!(c.due >= unpaused.due);
            let moved = cal.working_days_between(unpaused.due, c.due);
            prop_assert!(moved <= pause);
            if before < days {
                prop_assert_eq!(moved, pause);
            }
            prop_assert!(cal.is_working_day(c.due) || days == 0);
        }
    }
}
