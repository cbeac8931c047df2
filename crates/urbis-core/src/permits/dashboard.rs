//! The service centres' dashboard, pure: for a period of the city's dates `[from, to)` and an
//! instant "now", per centre and overall, the dossiers received and decided in the period, the
//! share of the decided ones decided by their due date, the open ones at risk and overdue now, the
//! share filed online, the processing days (working days from receipt to decision: mean and 90th
//! percentile), the applicants' satisfaction, and the centre's colour.
//!
//! Definitions, so that every figure can be recomputed by hand:
//! - a dossier is *received in the period* when the city's date of its receipt is in `[from, to)`,
//!   and *decided in the period* when the city's date of its decision is; only what happened up
//!   to "now" counts (later events are ignored, as if the dashboard were read at that instant);
//! - *on time*: its statutory clock, stopped at the decision, is not overdue (see [`super::clock`]);
//!   a decided dossier whose procedure is unknown has no clock and is counted apart
//!   (`decided_without_clock`), never as on time;
//! - *open now*: received by "now" and not yet decided, delivered or withdrawn; at risk or overdue
//!   as its clock says at "now" with the given policy (while it waits for its applicant, for
//!   documents or a payment, the clock stands still and it is neither);
//! - *processing days*: the working days in `(receipt, decision]` (the applicant's days included);
//!   the 90th percentile is the nearest-rank one: the smallest value that at least 90% of the
//!   dossiers do not exceed;
//! - *satisfaction*: the ratings 1 to 5 of the dossiers decided in the period (others ignored);
//! - *colour*: green when the on-time rate is at least the green threshold, yellow when at least
//!   the yellow one, red otherwise, grey when nothing was decided with a clock in the period (no
//!   rating rather than a fake green).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::calendar::WorkingCalendar;
use super::clock::{statutory_clock, ClockPolicy, ClockStatus, StatutoryClock};
use super::stage::Stage;

/// What the dashboard needs of one dossier (no personal data).
#[derive(Debug, Clone, PartialEq)]
pub struct DossierFacts {
    pub centre_id: Option<String>,
    /// Filed online (the channel `online`).
    pub online: bool,
    pub received: DateTime<Utc>,
    /// When it was decided: the history's move to `decided`, else the dossier's `decided_at`.
    pub decided: Option<DateTime<Utc>>,
    pub satisfaction: Option<i64>,
    /// The procedure's statutory processing time; `None` when the procedure is unknown.
    pub processing_days: Option<i64>,
    /// The stages in order with the instants they began (may be empty: then the receipt and the
    /// decision stand for it).
    pub history: Vec<(DateTime<Utc>, Stage)>,
}

/// When a centre is green, yellow or red.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Green when the on-time rate is at least this (0 to 1).
    pub green: f64,
    /// Yellow when at least this, red below.
    pub yellow: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { green: 0.98, yellow: 0.90 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DashboardError {
    #[error("the period is empty: `from` ({from}) must come before `to` ({to})")]
    EmptyPeriod { from: NaiveDate, to: NaiveDate },
    #[error("threshold `{name}` is {value}: thresholds are shares from 0 to 1")]
    BadThreshold { name: &'static str, value: String },
    #[error("the yellow threshold ({yellow}) is above the green one ({green})")]
    YellowAboveGreen { green: String, yellow: String },
}

impl Thresholds {
    pub fn new(green: f64, yellow: f64) -> Result<Thresholds, DashboardError> {
        for (name, v) in [("green", green), ("yellow", yellow)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(DashboardError::BadThreshold { name, value: v.to_string() });
            }
        }
        if yellow > green {
            return Err(DashboardError::YellowAboveGreen { green: green.to_string(), yellow: yellow.to_string() });
        }
        Ok(Thresholds { green, yellow })
    }

    /// The colour of an on-time rate; grey when there is none.
    pub fn colour(&self, on_time_rate: Option<f64>) -> Colour {
        // A rate is a quotient of counts: allow for its rounding at the threshold (49/50 is 98%).
        const EPS: f64 = 1e-9;
        match on_time_rate {
            None => Colour::Grey,
            Some(r) if r + EPS >= self.green => Colour::Green,
            Some(r) if r + EPS >= self.yellow => Colour::Yellow,
            Some(_) => Colour::Red,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Green,
    Yellow,
    Red,
    /// Nothing decided in the period: no rating.
    Grey,
}

impl Colour {
    pub fn name(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Red => "red",
            Colour::Grey => "grey",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Satisfaction {
    /// Ratings (1 to 5) of the dossiers decided in the period.
    pub count: usize,
    pub mean: Option<f64>,
    /// Share of those ratings that are 4 or 5.
    pub share_4_or_more: Option<f64>,
}

/// The figures of one centre, or of all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub received: usize,
    pub received_online: usize,
    /// `received_online / received`.
    pub online_share: Option<f64>,
    pub decided: usize,
    /// Decided in the period with a clock, by their due date.
    pub decided_on_time: usize,
    /// Decided in the period whose procedure is unknown: no clock, not rated.
    pub decided_without_clock: usize,
    /// `decided_on_time / (decided - decided_without_clock)`.
    pub on_time_rate: Option<f64>,
    /// Open now (of any period).
    pub open: usize,
    pub open_at_risk: usize,
    pub open_overdue: usize,
    /// Open now whose procedure is unknown (no clock).
    pub open_without_clock: usize,
    pub processing_days_mean: Option<f64>,
    pub processing_days_p90: Option<i64>,
    pub satisfaction: Satisfaction,
    pub colour: Colour,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CentreFigures {
    pub centre_id: String,
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub now: DateTime<Utc>,
    pub overall: Figures,
    /// In the order of the centres given.
    pub centres: Vec<CentreFigures>,
    /// Dossiers whose centre is not one of those given (they count in `overall`).
    pub dossiers_of_other_centres: usize,
    /// Dossiers whose history could not drive a clock (out of order), counted without one.
    pub broken_histories: usize,
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of `values`, sorted in place.
pub fn percentile_nearest_rank(values: &mut [i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

#[derive(Default)]
struct Tally {
    received: usize,
    received_online: usize,
    decided: usize,
    on_time: usize,
    without_clock: usize,
    open: usize,
    at_risk: usize,
    overdue: usize,
    open_without_clock: usize,
    processing: Vec<i64>,
    ratings: Vec<i64>,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        self.received += usize::from(o.received);
        self.received_online += usize::from(o.received && o.online);
        if let Some(d) = &o.decided {
            self.decided += 1;
            match d.on_time {
                Some(true) => self.on_time += 1,
                Some(false) => {}
                None => self.without_clock += 1,
            }
            self.processing.push(d.processing_days);
            if let Some(r) = d.rating {
                self.ratings.push(r);
            }
        }
        if let Some(status) = &o.open {
            self.open += 1;
            match status {
                Some(ClockStatus::AtRisk) => self.at_risk += 1,
                Some(ClockStatus::Overdue) => self.overdue += 1,
                Some(ClockStatus::OnTime) => {}
                None => self.open_without_clock += 1,
            }
        }
    }

    fn figures(mut self, thresholds: &Thresholds) -> Figures {
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        let judged = self.decided - self.without_clock;
        let on_time_rate = ratio(self.on_time, judged);
        let mean = |v: &[i64]| (!v.is_empty()).then(|| v.iter().sum::<i64>() as f64 / v.len() as f64);
        let satisfaction = Satisfaction {
            count: self.ratings.len(),
            mean: mean(&self.ratings),
            share_4_or_more: ratio(self.ratings.iter().filter(|r| **r >= 4).count(), self.ratings.len()),
        };
        Figures {
            received: self.received,
            received_online: self.received_online,
            online_share: ratio(self.received_online, self.received),
            decided: self.decided,
            decided_on_time: self.on_time,
            decided_without_clock: self.without_clock,
            on_time_rate,
            open: self.open,
            open_at_risk: self.at_risk,
            open_overdue: self.overdue,
            open_without_clock: self.open_without_clock,
            processing_days_mean: mean(&self.processing),
            processing_days_p90: percentile_nearest_rank(&mut self.processing, 90.0),
            satisfaction,
            colour: thresholds.colour(on_time_rate),
        }
    }
}

struct DecidedOutcome {
    on_time: Option<bool>,
    processing_days: i64,
    rating: Option<i64>,
}

/// What one dossier adds to its centre's figures.
struct Outcome {
    received: bool,
    online: bool,
    decided: Option<DecidedOutcome>,
    /// Open now, with its clock's status (`None`: no clock).
    open: Option<Option<ClockStatus>>,
    broken: bool,
}

/// The history as it stood at `now` (the receipt and the decision stand for an empty one).
fn history_at(d: &DossierFacts, now: DateTime<Utc>) -> Vec<(DateTime<Utc>, Stage)> {
    let mut history: Vec<(DateTime<Utc>, Stage)> = d.history.iter().copied().filter(|(t, _)| *t <= now).collect();
    if history.is_empty() {
        history.push((d.received, Stage::Received));
        if let Some(t) = d.decided.filter(|t| *t <= now) {
            history.push((t, Stage::Decided));
        }
    }
    history
}

/// Where a dossier stands at `now`, as the map colours it: closed (decided, delivered or
/// withdrawn), or open and on time, at risk or overdue by its clock, as the dashboard counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DossierStatus {
    OnTime,
    AtRisk,
    Overdue,
    Closed,
    /// Open, but without a clock (its procedure is unknown, or its history cannot drive one).
    NoClock,
}

impl DossierStatus {
    pub fn name(self) -> &'static str {
        match self {
            DossierStatus::OnTime => "on_time",
            DossierStatus::AtRisk => "at_risk",
            DossierStatus::Overdue => "overdue",
            DossierStatus::Closed => "closed",
            DossierStatus::NoClock => "no_clock",
        }
    }
}

/// The status of one dossier at `now`: the same history and clock as the dashboard's open
/// dossiers at risk and overdue.
pub fn dossier_status(
    d: &DossierFacts,
    calendar: &WorkingCalendar,
    policy: ClockPolicy,
    now: DateTime<Utc>,
) -> DossierStatus {
    let history = history_at(d, now);
    let decided = history.iter().any(|(_, s)| *s == Stage::Decided) || d.decided.is_some_and(|t| t <= now);
    let current = history.last().map(|(_, s)| *s).unwrap_or(Stage::Received);
    if decided || !current.is_open() {
        return DossierStatus::Closed;
    }
    match d.processing_days.map(|days| statutory_clock(calendar, days, &history, now, policy)) {
        Some(Ok(c)) => match c.status {
            ClockStatus::OnTime => DossierStatus::OnTime,
            ClockStatus::AtRisk => DossierStatus::AtRisk,
            ClockStatus::Overdue => DossierStatus::Overdue,
        },
        _ => DossierStatus::NoClock,
    }
}

/// The clock of one dossier at `now`, read from the same history as [`dossier_status`] (the
/// reviewers' queue shows its due date and days left); `None` without a processing time or when
/// the history drives no clock.
pub fn dossier_clock(
    d: &DossierFacts,
    calendar: &WorkingCalendar,
    policy: ClockPolicy,
    now: DateTime<Utc>,
) -> Option<StatutoryClock> {
    statutory_clock(calendar, d.processing_days?, &history_at(d, now), now, policy).ok()
}

fn outcome(
    d: &DossierFacts,
    calendar: &WorkingCalendar,
    policy: ClockPolicy,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Outcome {
    let in_period = |t: DateTime<Utc>| {
        let day = calendar.local_date(t);
        day >= from && day < to
    };
    let mut result = Outcome { received: false, online: d.online, decided: None, open: None, broken: false };
    if d.received > now {
        return result;
    }
    result.received = in_period(d.received);
    let history = history_at(d, now);
    let decided =
        history.iter().find(|(_, s)| *s == Stage::Decided).map(|(t, _)| *t).or(d.decided).filter(|t| *t <= now);
    let current = history.last().map(|(_, s)| *s).unwrap_or(Stage::Received);
    let clock = d.processing_days.map(|days| statutory_clock(calendar, days, &history, now, policy));
    let status = match clock {
        Some(Ok(c)) => Some(c.status),
        Some(Err(_)) => {
            result.broken = true;
            None
        }
        None => None,
    };
    if let Some(t) = decided {
        if in_period(t) {
            result.decided = Some(DecidedOutcome {
                on_time: status.map(|s| s != ClockStatus::Overdue),
                processing_days: calendar.working_days_between(
                    calendar.local_date(d.received),
                    calendar.local_date(t).max(calendar.local_date(d.received)),
                ),
                rating: d.satisfaction.filter(|r| (1..=5).contains(r)),
            });
        }
    } else if current.is_open() {
        result.open = Some(status);
    }
    result
}

/// What a dashboard is read for: the period `[from, to)` of the city's dates, the instant "now",
/// when an open dossier is at risk, and the colours' thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub now: DateTime<Utc>,
    pub policy: ClockPolicy,
    pub thresholds: Thresholds,
}

/// The dashboard of the `centres` (ids, in the order to report them).
pub fn dashboard(
    calendar: &WorkingCalendar,
    options: &Options,
    centres: &[String],
    dossiers: &[DossierFacts],
) -> Result<Dashboard, DashboardError> {
    let Options { from, to, now, policy, thresholds } = *options;
    if from >= to {
        return Err(DashboardError::EmptyPeriod { from, to });
    }
    let index: HashMap<&str, usize> = centres.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let mut tallies: Vec<Tally> = centres.iter().map(|_| Tally::default()).collect();
    let mut overall = Tally::default();
    let (mut others, mut broken) = (0, 0);
    for d in dossiers {
        let o = outcome(d, calendar, policy, from, to, now);
        overall.add(&o);
        broken += usize::from(o.broken);
        match d.centre_id.as_deref().and_then(|c| index.get(c)) {
            Some(i) => tallies[*i].add(&o),
            None => others += 1,
        }
    }
    Ok(Dashboard {
        from,
        to,
        now,
        overall: overall.figures(&thresholds),
        centres: centres
            .iter()
            .zip(tallies)
            .map(|(c, t)| CentreFigures { centre_id: c.clone(), figures: t.figures(&thresholds) })
            .collect(),
        dossiers_of_other_centres: others,
        broken_histories: broken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn opts(from: NaiveDate, to: NaiveDate, now: DateTime<Utc>) -> Options {
        Options { from, to, now, policy: ClockPolicy::default(), thresholds: Thresholds::default() }
    }

    fn cal() -> WorkingCalendar {
        // Veterans Day and Thanksgiving 2026.
        WorkingCalendar::weekdays("t").with_holidays([date("2026-11-11"), date("2026-11-26")])
    }

    fn decided(
        centre: &str,
        online: bool,
        received: &str,
        decided: &str,
        days: i64,
        rating: Option<i64>,
    ) -> DossierFacts {
        DossierFacts {
            centre_id: Some(centre.into()),
            online,
            received: t(received),
            decided: Some(t(decided)),
            satisfaction: rating,
            processing_days: Some(days),
            history: vec![(t(received), Stage::Received), (t(decided), Stage::Decided)],
        }
    }

    fn open(centre: &str, received: &str, days: i64) -> DossierFacts {
        DossierFacts {
            centre_id: Some(centre.into()),
            online: false,
            received: t(received),
            decided: None,
            satisfaction: None,
            processing_days: Some(days),
            history: vec![(t(received), Stage::Received)],
        }
    }

    #[test]
    fn the_nearest_rank_percentile() {
        assert_eq!(percentile_nearest_rank(&mut [], 90.0), None);
        assert_eq!(percentile_nearest_rank(&mut [7], 90.0), Some(7));
        // 10 values: rank ceil(9) = 9th smallest.
        assert_eq!(percentile_nearest_rank(&mut [10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 90.0), Some(9));
        // 11 values: rank ceil(9.9) = 10th smallest.
        assert_eq!(percentile_nearest_rank(&mut [11, 1, 10, 2, 9, 3, 8, 4, 7, 5, 6], 90.0), Some(10));
        assert_eq!(percentile_nearest_rank(&mut [3, 1, 2], 100.0), Some(3));
    }

    #[test]
    fn colours_by_threshold_and_grey_when_nothing_was_decided() {
        let th = Thresholds::default();
        assert_eq!(th.colour(Some(49.0 / 50.0)), Colour::Green);
        assert_eq!(th.colour(Some(1.0)), Colour::Green);
        assert_eq!(th.colour(Some(48.0 / 50.0)), Colour::Yellow);
        assert_eq!(th.colour(Some(0.9)), Colour::Yellow);
        assert_eq!(th.colour(Some(8.0 / 9.0)), Colour::Red);
        assert_eq!(th.colour(None), Colour::Grey);
        assert!(Thresholds::new(0.8, 0.9).is_err());
        assert!(Thresholds::new(1.5, 0.9).is_err());
        assert!(Thresholds::new(f64::NAN, 0.9).is_err());
        assert_eq!(Thresholds::new(0.5, 0.5).unwrap().colour(Some(0.49)), Colour::Red);
    }

    /// A small known set, every figure worked out by hand from the calendar.
    #[test]
    fn figures_of_a_known_set() {
        let cal = cal();
        let (from, to) = (date("2026-11-01"), date("2026-12-01"));
        let now = t("2026-11-30T12:00:00Z");
        let dossiers = vec![
            // A: 10 days, received Mon 2 Nov, decided Fri 13 Nov: (2, 13] holds 3-6, 9, 10, 12,
            // 13 (the 11th a holiday) = 8 working days, due Tue 17 Nov: on time. Rated 5. Online.
            decided("A", true, "2026-11-02T10:00:00Z", "2026-11-13T10:00:00Z", 10, Some(5)),
            // A: 5 days, received Mon 2 Nov, decided Mon 16 Nov: 9 working days: late. Rated 3.
            decided("A", false, "2026-11-02T10:00:00Z", "2026-11-16T10:00:00Z", 5, Some(3)),
            // A: received Fri 30 Oct (not in the period), decided Tue 3 Nov: 2 working days (2nd
            // and 3rd), 5 days: on time.
            decided("A", true, "2026-10-30T10:00:00Z", "2026-11-03T10:00:00Z", 5, Some(4)),
            // A: open, received Mon 16 Nov, 10 days; by Mon 30 Nov: 17, 18, 19, 20, 23, 24, 25,
            // 27, 30 = 9 days used, 1 left < 2.5: at risk.
            open("A", "2026-11-16T10:00:00Z", 10),
            // A: open, received Mon 2 Nov, 5 days: long overdue.
            open("A", "2026-11-02T10:00:00Z", 5),
            // B: decided in December, after "now": open now, received Mon 23 Nov, 20 days, 4
            // used (24, 25, 27, 30): on time.
            decided("B", true, "2026-11-23T10:00:00Z", "2026-12-02T10:00:00Z", 20, Some(1)),
            // Elsewhere: a centre not listed.
            open("Z", "2026-11-20T10:00:00Z", 20),
        ];
        let centres = vec!["A".to_string(), "B".to_string(), "C".to_string()];
        let d = dashboard(&cal, &opts(from, to, now), &centres, &dossiers).unwrap();
        let a = &d.centres[0].figures;
        assert_eq!((a.received, a.received_online, a.online_share), (4, 1, Some(0.25)));
        assert_eq!((a.decided, a.decided_on_time, a.decided_without_clock), (3, 2, 0));
        assert_eq!(a.on_time_rate, Some(2.0 / 3.0));
        assert_eq!(a.colour, Colour::Red);
        assert_eq!((a.open, a.open_at_risk, a.open_overdue), (2, 1, 1));
        // Processing days 8, 9, 2: mean 19/3, p90 = rank ceil(2.7) = 3rd smallest = 9.
        assert_eq!((a.processing_days_mean, a.processing_days_p90), (Some(19.0 / 3.0), Some(9)));
        assert_eq!(a.satisfaction.count, 3);
        assert_eq!(a.satisfaction.mean, Some(4.0));
        assert_eq!(a.satisfaction.share_4_or_more, Some(2.0 / 3.0));

        let b = &d.centres[1].figures;
        assert_eq!((b.received, b.decided, b.open, b.open_at_risk, b.open_overdue), (1, 0, 1, 0, 0));
        assert_eq!((b.on_time_rate, b.colour, b.satisfaction.count), (None, Colour::Grey, 0));
        assert_eq!(b.online_share, Some(1.0));

        let c = &d.centres[2].figures;
        assert_eq!((c.received, c.decided, c.open, c.colour), (0, 0, 0, Colour::Grey));
        assert_eq!((c.online_share, c.processing_days_mean, c.processing_days_p90), (None, None, None));

        assert_eq!(d.dossiers_of_other_centres, 1);
        let o = &d.overall;
        assert_eq!((o.received, o.decided, o.open, o.open_at_risk, o.open_overdue), (6, 3, 4, 1, 1));
        assert_eq!(o.colour, Colour::Red);

        // Read later, B's decision is in December: a December period sees it decided on time
        // ((23 Nov, 2 Dec]: 24, 25, 27, 30, 1, 2 = 6 days).
        let later = opts(date("2026-12-01"), date("2027-01-01"), t("2026-12-31T12:00:00Z"));
        let dec = dashboard(&cal, &later, &centres, &dossiers).unwrap();
        let b = &dec.centres[1].figures;
        assert_eq!((b.received, b.decided, b.decided_on_time, b.colour), (0, 1, 1, Colour::Green));
        assert_eq!((b.processing_days_p90, b.satisfaction.share_4_or_more), (Some(6), Some(0.0)));
    }

    /// The map's status of each dossier agrees with the dashboard's counts of the same set.
    #[test]
    fn each_dossiers_status_agrees_with_the_dashboard() {
        let cal = cal();
        let now = t("2026-11-30T12:00:00Z");
        let mut unknown = open("A", "2026-11-20T10:00:00Z", 10);
        unknown.processing_days = None;
        let mut withdrawn = open("A", "2026-11-20T10:00:00Z", 10);
        withdrawn.history.push((t("2026-11-24T10:00:00Z"), Stage::Withdrawn));
        // Waiting for a payment asked a day after receipt: long past its 5 days, but paused.
        let mut paying = open("A", "2026-11-02T10:00:00Z", 5);
        paying.history.push((t("2026-11-03T10:00:00Z"), Stage::PaymentRequested));
        // Paid after its decision's fee was asked: closed.
        let mut fee_after = decided("A", true, "2026-11-02T10:00:00Z", "2026-11-04T10:00:00Z", 5, None);
        fee_after.history.push((t("2026-11-05T10:00:00Z"), Stage::PaymentRequested));
        let dossiers = vec![
            decided("A", true, "2026-11-02T10:00:00Z", "2026-11-13T10:00:00Z", 10, None),
            open("A", "2026-11-16T10:00:00Z", 10),
            open("A", "2026-11-02T10:00:00Z", 5),
            // Decided after "now": still open now, on time.
            decided("A", true, "2026-11-23T10:00:00Z", "2026-12-02T10:00:00Z", 20, None),
            unknown,
            withdrawn,
            paying,
            fee_after,
        ];
        let names: Vec<&str> =
            dossiers.iter().map(|d| dossier_status(d, &cal, ClockPolicy::default(), now).name()).collect();
        assert_eq!(names, ["closed", "at_risk", "overdue", "on_time", "no_clock", "closed", "on_time", "closed"]);
        let d = dashboard(&cal, &opts(date("2026-11-01"), date("2026-12-01"), now), &["A".into()], &dossiers).unwrap();
        let o = &d.overall;
        let count = |n: &str| names.iter().filter(|x| **x == n).count();
        assert_eq!((o.open_at_risk, o.open_overdue, o.open_without_clock), (count("at_risk"), count("overdue"), 1));
        assert_eq!(o.open, names.iter().filter(|x| **x != "closed").count());
    }

    #[test]
    fn unknown_procedures_and_bad_periods() {
        let cal = cal();
        let mut d = decided("A", false, "2026-11-02T10:00:00Z", "2026-11-03T10:00:00Z", 5, Some(9));
        d.processing_days = None;
        let centres = vec!["A".to_string()];
        let now = t("2026-11-30T00:00:00Z");
        let (from, to) = (date("2026-11-01"), date("2026-12-01"));
        let r = dashboard(&cal, &opts(from, to, now), &centres, &[d]).unwrap();
        let a = &r.centres[0].figures;
        assert_eq!((a.decided, a.decided_without_clock, a.on_time_rate, a.colour), (1, 1, None, Colour::Grey));
        // A rating of 9 is not a rating.
        assert_eq!(a.satisfaction.count, 0);
        assert_eq!(
            dashboard(&cal, &opts(to, from, now), &centres, &[]),
            Err(DashboardError::EmptyPeriod { from: to, to: from })
        );
    }
}
