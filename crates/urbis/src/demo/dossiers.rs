//! The demo city's dossiers: open ones spread over parcels, procedures, one-stop centres and
//! channels, with a realistic on-time / at-risk / overdue mix, plus closed ones with decisions and
//! satisfaction ratings, each with its event history. Deterministic: a fixed seed and a fixed
//! anchor date ("today" for the demo), never the clock, so that two builds are identical.
//! The rules are documented in data-samples/README.md; keep the two in step.

use std::collections::HashSet;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use geo_types::Point;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use urbis_core::domain::{Dossier, PermitEvent, Procedure};

use super::workdays::{add_working_days, working_days_between};

/// The generator's seed (the anchor date written as a number).
pub const SEED: u64 = 20_261_102;
/// The demo's "today": Monday 2 November 2026. Dossiers are received before it.
pub const ANCHOR: (i32, u32, u32) = (2026, 11, 2);
/// Open dossiers are received within this many working days before the anchor.
pub const OPEN_WINDOW_DAYS: i64 = 60;
/// Closed dossiers are received within this many working days before the anchor.
pub const CLOSED_WINDOW_DAYS: i64 = 120;
/// An overdue dossier is at most this many working days late.
pub const MAX_DAYS_LATE: i64 = 10;

/// Shares the generator draws from; the test checks the output against them.
pub const CHANNELS: [(&str, f64); 3] = [("online", 0.70), ("counter", 0.22), ("phone", 0.08)];
pub const CLOCKS: [(Clock, f64); 3] = [(Clock::OnTime, 0.72), (Clock::AtRisk, 0.16), (Clock::Overdue, 0.12)];
pub const OPEN_STAGES: [(&str, f64); 6] = [
    ("received", 0.15),
    ("in_review", 0.45),
    ("supplement_requested", 0.18),
    ("supplement_received", 0.12),
    ("payment_requested", 0.06),
    ("payment_received", 0.04),
];
pub const DECISIONS: [(&str, f64); 3] = [("approved", 0.70), ("approved_with_conditions", 0.18), ("rejected", 0.12)];
/// Share of closed dossiers already delivered (the rest are decided, awaiting delivery).
pub const DELIVERED_SHARE: f64 = 0.70;
/// Share of closed dossiers decided by their due date.
pub const CLOSED_ON_TIME_SHARE: f64 = 0.95;
/// Share of delivered dossiers whose applicant gave a rating, and the ratings' distribution.
pub const RATED_SHARE: f64 = 0.85;
pub const RATINGS: [(i64, f64); 5] = [(5, 0.55), (4, 0.30), (3, 0.08), (2, 0.04), (1, 0.03)];

const FIRST_NAMES: [&str; 24] = [
    "Amira",
    "Ben",
    "Chloe",
    "Daniel",
    "Elena",
    "Farid",
    "Grace",
    "Hiroshi",
    "Ines",
    "Jamal",
    "Kavya",
    "Liam",
    "Maya",
    "Nikolai",
    "Olivia",
    "Pedro",
    "Quynh",
    "Rosa",
    "Samuel",
    "Tara",
    "Umar",
    "Valentina",
    "Wei",
    "Yasmin",
];
const LAST_NAMES: [&str; 24] = [
    "Abara",
    "Brennan",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fernandes",
    "Goldberg",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kim",
    "Lopez",
    "Murphy",
    "Nguyen",
    "Okafor",
    "Patel",
    "Quinn",
    "Rahimi",
    "Silva",
    "Tanaka",
    "Usman",
    "Vargas",
    "Walsh",
    "Zhang",
];
const BUSINESS_KINDS: [&str; 4] = ["Builders LLC", "Realty Trust", "Design Group", "Properties Inc."];
/// Reviewers, as they appear in the event history (staff of the demo city, not real people).
const REVIEWERS: [&str; 8] = [
    "reviewer:a.moreau",
    "reviewer:b.osei",
    "reviewer:c.lindqvist",
    "reviewer:d.ferreira",
    "reviewer:e.kowalski",
    "reviewer:f.nakamura",
    "reviewer:g.oconnor",
    "reviewer:h.mensah",
];
/// Tracking codes use letters and digits that cannot be mistaken for one another (no 0/O, 1/I).
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Where a dossier's clock stands at the anchor date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Clock {
    /// More working days left than the at-risk window.
    OnTime,
    /// Due within the last fifth of the processing time (at least one working day), or today.
    AtRisk,
    /// The due date has passed.
    Overdue,
}

/// The at-risk window: the last fifth of the processing time, rounded up, at least one day.
pub fn at_risk_window(processing_days: i64) -> i64 {
    ((processing_days + 4) / 5).max(1)
}

pub fn clock(due: NaiveDate, processing_days: i64, anchor: NaiveDate) -> Clock {
    let left = working_days_between(anchor, due);
    if left < 0 {
        Clock::Overdue
    } else if left <= at_risk_window(processing_days) {
        Clock::AtRisk
    } else {
        Clock::OnTime
    }
}

/// A parcel a dossier can be filed on.
#[derive(Debug, Clone, PartialEq)]
pub struct ParcelSite {
    pub code: String,
    pub address: Option<String>,
    pub land_use_code: Option<String>,
    /// A point inside the parcel: the dossier's site.
    pub location: Point,
}

/// A one-stop centre that receives dossiers.
#[derive(Debug, Clone, PartialEq)]
pub struct Centre {
    pub id: String,
    pub location: Point,
    pub desks: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub seed: u64,
    pub anchor: NaiveDate,
    pub open: usize,
    pub closed: usize,
}

impl Plan {
    /// The demo's plan: 600 open and 180 closed dossiers.
    pub fn demo() -> anyhow::Result<Plan> {
        let anchor = NaiveDate::from_ymd_opt(ANCHOR.0, ANCHOR.1, ANCHOR.2)
            .ok_or_else(|| anyhow::anyhow!("the demo's anchor date is not a date"))?;
        Ok(Plan { seed: SEED, anchor, open: 600, closed: 180 })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedDossier {
    pub dossier: Dossier,
    pub site: Point,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Generated {
    /// The open dossiers first, then the closed ones.
    pub dossiers: Vec<GeneratedDossier>,
    pub events: Vec<PermitEvent>,
    /// Open dossiers by their clock at the anchor date.
    pub on_time: usize,
    pub at_risk: usize,
    pub overdue: usize,
}

/// Draws from ChaCha8 through its raw 64-bit output only: rand's derived samplers may change
/// between versions, and the demo must stay identical across dependency upgrades.
struct Dice(ChaCha8Rng);

impl Dice {
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A whole number in `lo..=hi` (`lo` if the range is empty).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo + 1) as u128;
        lo + ((self.0.next_u64() as u128 * span) >> 64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index drawn with the given weights (which need not sum to one).
    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }

    fn share<T: Copy>(&mut self, table: &[(T, f64)]) -> T {
        let weights: Vec<f64> = table.iter().map(|(_, w)| *w).collect();
        table[self.weighted(&weights)].0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as i64 - 1) as usize]
    }
}

/// Residential parcels (Massachusetts class 1xx, also as mixed use 01xx) weigh three times as
/// much: most dossiers a city receives concern homes.
fn parcel_weight(p: &ParcelSite) -> f64 {
    let code = p.land_use_code.as_deref().unwrap_or("").trim().trim_start_matches('0');
    if code.starts_with('1') {
        3.0
    } else {
        1.0
    }
}

/// Building and land-use procedures are filed three times as often as the others; the Planning
/// Board's cases are rare.
fn procedure_weight(p: &Procedure) -> f64 {
    if p.code.starts_with("PLN-") {
        0.3
    } else if p.category == "building and land use" {
        3.0
    } else {
        1.0
    }
}

/// The elapsed working days (received → anchor) that put a dossier in `clock`, if any.
fn elapsed_range(clock: Clock, processing_days: i64) -> Option<(i64, i64)> {
    let w = at_risk_window(processing_days);
    let (lo, hi) = match clock {
        Clock::OnTime => (1, (processing_days - w - 1).min(OPEN_WINDOW_DAYS)),
        Clock::AtRisk => ((processing_days - w).max(1), processing_days.min(OPEN_WINDOW_DAYS)),
        Clock::Overdue => (processing_days + 1, (processing_days + MAX_DAYS_LATE).min(OPEN_WINDOW_DAYS)),
    };
    (lo <= hi).then_some((lo, hi))
}

pub fn generate(
    parcels: &[ParcelSite],
    procedures: &[Procedure],
    centres: &[Centre],
    plan: &Plan,
) -> anyhow::Result<Generated> {
    anyhow::ensure!(!parcels.is_empty(), "no parcels to file dossiers on");
    anyhow::ensure!(!procedures.is_empty(), "no procedures in the catalogue");
    anyhow::ensure!(!centres.is_empty(), "no one-stop centres to receive dossiers");
    // Sorted copies: the output must not depend on the order a store returns rows in.
    let mut parcels: Vec<&ParcelSite> = parcels.iter().collect();
    parcels.sort_by(|a, b| a.code.cmp(&b.code));
    let mut procedures: Vec<&Procedure> = procedures.iter().filter(|p| p.processing_days > 0).collect();
    procedures.sort_by(|a, b| a.code.cmp(&b.code));
    anyhow::ensure!(!procedures.is_empty(), "no procedure has a processing time");
    let mut centres: Vec<&Centre> = centres.iter().collect();
    centres.sort_by(|a, b| a.id.cmp(&b.id));

    let mut cumulative = Vec::with_capacity(parcels.len());
    let mut total = 0.0;
    for p in &parcels {
        total += parcel_weight(p);
        cumulative.push(total);
    }

    let mut g = Generator {
        dice: Dice(ChaCha8Rng::seed_from_u64(plan.seed)),
        anchor: plan.anchor,
        parcels,
        cumulative,
        procedures,
        centres,
        codes: HashSet::new(),
        out: Generated::default(),
    };
    for _ in 0..plan.open {
        let (due, processing_days) = g.open_dossier();
        match clock(due, processing_days, plan.anchor) {
            Clock::OnTime => g.out.on_time += 1,
            Clock::AtRisk => g.out.at_risk += 1,
            Clock::Overdue => g.out.overdue += 1,
        }
    }
    for _ in 0..plan.closed {
        g.closed_dossier();
    }
    Ok(g.out)
}

struct Generator<'a> {
    dice: Dice,
    anchor: NaiveDate,
    parcels: Vec<&'a ParcelSite>,
    cumulative: Vec<f64>,
    procedures: Vec<&'a Procedure>,
    centres: Vec<&'a Centre>,
    codes: HashSet<String>,
    out: Generated,
}

/// What a dossier starts from, open or closed.
struct Filing<'a> {
    code: String,
    channel: &'static str,
    procedure: &'a Procedure,
    parcel: &'a ParcelSite,
    centre: &'a Centre,
    received: NaiveDateTime,
}

impl<'a> Generator<'a> {
    /// Adds an open dossier; returns its due date and processing time.
    fn open_dossier(&mut self) -> (NaiveDate, i64) {
        let channel = self.dice.share(&CHANNELS);
        let wanted = self.dice.share(&CLOCKS);
        let procedure = self.procedure(channel, |p| elapsed_range(wanted, p.processing_days).is_some());
        // The catalogue always has a procedure that fits; if an edited one has not, the dossier
        // lands where its procedure allows rather than failing the demo.
        let (lo, hi) = [wanted, Clock::AtRisk, Clock::OnTime, Clock::Overdue]
            .iter()
            .find_map(|c| elapsed_range(*c, procedure.processing_days))
            .unwrap_or((1, 1));
        let elapsed = self.dice.range(lo, hi);
        let stage = self.dice.share(&OPEN_STAGES);
        let filing = self.filing(channel, procedure, elapsed);
        let steps: &[&str] = match stage {
            "received" => &[],
            "in_review" => &["in_review"],
            "supplement_requested" => &["in_review", "supplement_requested"],
            "payment_requested" => &["in_review", "payment_requested"],
            "payment_received" => &["in_review", "payment_requested", "payment_received"],
            _ => &["in_review", "supplement_requested", "supplement_received"],
        };
        let mut offsets: Vec<i64> = steps.iter().map(|_| self.dice.range(0, elapsed - 1)).collect();
        offsets.sort_unstable();
        let mut history = History::new(&filing);
        for (step, offset) in steps.iter().zip(offsets) {
            let (actor, note) = self.step_note(step, filing.procedure, None);
            history.push(&mut self.dice, add_working_days(filing.received.date(), offset), step, actor, note);
        }
        let dossier = self.dossier(&filing, &history, stage, None, None, None);
        let due = history.due(procedure.processing_days);
        self.finish(filing, dossier, history);
        (due, procedure.processing_days)
    }

    fn closed_dossier(&mut self) {
        let channel = self.dice.share(&CHANNELS);
        let procedure = self.procedure(channel, |_| true);
        let pd = procedure.processing_days;
        let decided_after = if self.dice.chance(CLOSED_ON_TIME_SHARE) {
            self.dice.range((pd / 3).max(1), pd)
        } else {
            self.dice.range(pd + 1, pd + 5)
        };
        let delivered = self.dice.chance(DELIVERED_SHARE);
        let delivery_days = if delivered { self.dice.range(1, 3) } else { 0 };
        let earliest = decided_after + delivery_days + 1;
        let elapsed = self.dice.range(earliest, CLOSED_WINDOW_DAYS.max(earliest));
        let decision = self.dice.share(&DECISIONS);
        let filing = self.filing(channel, procedure, elapsed);
        let received = filing.received.date();

        let mut steps = vec!["in_review"];
        if self.dice.chance(0.2) {
            steps.extend(["supplement_requested", "supplement_received"]);
        }
        let mut offsets: Vec<i64> = steps.iter().map(|_| self.dice.range(0, decided_after - 1)).collect();
        offsets.sort_unstable();
        let mut history = History::new(&filing);
        for (step, offset) in steps.iter().zip(offsets) {
            let (actor, note) = self.step_note(step, filing.procedure, None);
            history.push(&mut self.dice, add_working_days(received, offset), step, actor, note);
        }
        let (actor, note) = self.step_note("decided", filing.procedure, Some(decision));
        let decided_at =
            history.push(&mut self.dice, add_working_days(received, decided_after), "decided", actor, note);
        let mut stage = "decided";
        let mut satisfaction = None;
        if delivered {
            let (actor, note) = self.step_note("delivered", filing.procedure, None);
            history.push(
                &mut self.dice,
                add_working_days(received, decided_after + delivery_days),
                "delivered",
                actor,
                note,
            );
            stage = "delivered";
            if self.dice.chance(RATED_SHARE) {
                satisfaction = Some(self.dice.share(&RATINGS));
            }
        }
        let dossier = self.dossier(&filing, &history, stage, Some(decided_at), Some(decision), satisfaction);
        self.finish(filing, dossier, history);
    }

    /// A procedure offered through `channel` that satisfies `fits`, weighted; any that fits if no
    /// procedure offers the channel.
    fn procedure(&mut self, channel: &str, fits: impl Fn(&Procedure) -> bool) -> &'a Procedure {
        let offered = |p: &Procedure| p.channels.iter().any(|c| c == channel);
        let mut candidates: Vec<&'a Procedure> =
            self.procedures.iter().copied().filter(|p| offered(p) && fits(p)).collect();
        if candidates.is_empty() {
            candidates = self.procedures.iter().copied().filter(|p| fits(p)).collect();
        }
        if candidates.is_empty() {
            candidates = self.procedures.clone();
        }
        let weights: Vec<f64> = candidates.iter().map(|p| procedure_weight(p)).collect();
        candidates[self.dice.weighted(&weights)]
    }

    fn filing(&mut self, channel: &'static str, procedure: &'a Procedure, elapsed: i64) -> Filing<'a> {
        let x = self.dice.unit() * self.cumulative.last().copied().unwrap_or(0.0);
        let i = self.cumulative.partition_point(|c| *c <= x).min(self.parcels.len() - 1);
        let parcel = self.parcels[i];
        let nearest = self
            .centres
            .iter()
            .copied()
            .min_by(|a, b| {
                let da = urbis_core::geodesy::haversine_m(a.location, parcel.location);
                let db = urbis_core::geodesy::haversine_m(b.location, parcel.location);
                da.total_cmp(&db)
            })
            .unwrap_or(self.centres[0]);
        // Online and phone dossiers are shared among the centres by their desks (a dossier is
        // received regardless of where the parcel is); at a counter most people go to the
        // nearest centre, the others where they happen to be.
        let centre = if channel == "counter" && self.dice.chance(0.6) {
            nearest
        } else {
            let weights: Vec<f64> = self.centres.iter().map(|c| f64::from(c.desks.max(1))).collect();
            self.centres[self.dice.weighted(&weights)]
        };
        let minutes = match channel {
            "online" => self.dice.range(7 * 60, 23 * 60 + 59),
            "phone" => self.dice.range(13 * 60, 21 * 60),
            _ => self.dice.range(13 * 60 + 30, 21 * 60),
        };
        let day = add_working_days(self.anchor, -elapsed);
        let received = day.and_time(NaiveTime::MIN) + Duration::minutes(minutes);
        let code = self.tracking_code();
        Filing { code, channel, procedure, parcel, centre, received }
    }

    fn tracking_code(&mut self) -> String {
        loop {
            let mut s = String::from("CB-");
            for i in 0..8 {
                if i == 4 {
                    s.push('-');
                }
                s.push(*self.dice.pick(CODE_ALPHABET) as char);
            }
            if self.codes.insert(s.clone()) {
                return s;
            }
        }
    }

    fn step_note(&mut self, step: &str, procedure: &Procedure, decision: Option<&str>) -> (String, String) {
        let reviewer = self.dice.pick(&REVIEWERS).to_string();
        let document = if procedure.documents.is_empty() {
            "additional information".to_string()
        } else {
            self.dice.pick(&procedure.documents).clone()
        };
        let note = match (step, decision) {
            ("in_review", _) => format!("assigned to {}", reviewer.trim_start_matches("reviewer:")),
            ("supplement_requested", _) => format!("missing: {document}"),
            ("supplement_received", _) => format!("received: {document}"),
            ("payment_requested", _) => match procedure.fee.filter(|f| *f > 0.0) {
                Some(fee) => format!("payment due: {fee}"),
                None => "payment due: the procedure's fee".to_string(),
            },
            ("payment_received", _) => format!("payment reference: TX-{:06}", self.dice.range(1, 999_999)),
            ("decided", Some("approved")) => "approved".to_string(),
            ("decided", Some("approved_with_conditions")) => {
                let condition =
                    ["work hours limited to 7:00-18:00", "tree protection during works", "final inspection before use"];
                format!("approved with conditions: {}", self.dice.pick(&condition))
            }
            ("decided", _) => {
                let reason = [
                    "documents incomplete after the supplement period",
                    "not permitted in the zoning district",
                    "exceeds the height limit",
                ];
                format!("rejected: {}", self.dice.pick(&reason))
            }
            _ => {
                let how = ["result sent by e-mail", "collected at the counter", "sent by post"];
                self.dice.pick(&how).to_string()
            }
        };
        // The applicant answers a payment request themself.
        let actor = if step == "payment_received" { "applicant".to_string() } else { reviewer };
        (actor, note)
    }

    fn dossier(
        &mut self,
        f: &Filing<'_>,
        history: &History,
        stage: &str,
        decided_at: Option<NaiveDateTime>,
        decision: Option<&str>,
        satisfaction: Option<i64>,
    ) -> Dossier {
        let due = history.due(f.procedure.processing_days);
        let site = f.parcel.address.clone().unwrap_or_else(|| format!("parcel {}", f.parcel.code));
        let (proposed_use, height, floor_area) = self.proposal(f.procedure, f.parcel);
        Dossier {
            tracking_code: f.code.clone(),
            procedure_code: f.procedure.code.clone(),
            applicant: Some(self.applicant()),
            parcel_codes: vec![f.parcel.code.clone()],
            description: Some(format!("{}: {site}", f.procedure.name)),
            address: f.parcel.address.clone(),
            proposed_use,
            proposed_height_m: height,
            proposed_floor_area_m2: floor_area,
            channel: Some(f.channel.to_string()),
            centre_id: Some(f.centre.id.clone()),
            stage: stage.to_string(),
            received_at: rfc3339(f.received),
            // Due at the end of the office day, 17:00 in Cambridge in winter.
            due_at: due.and_hms_opt(22, 0, 0).map(rfc3339),
            decided_at: decided_at.map(rfc3339),
            decision: decision.map(str::to_string),
            satisfaction,
        }
    }

    /// What is proposed, for the procedures that build: mostly what the parcel already is, with
    /// some uses the district may not allow, so that the reviewer's parcel check has work to do.
    fn proposal(&mut self, procedure: &Procedure, parcel: &ParcelSite) -> (Option<String>, Option<f64>, Option<f64>) {
        const BUILDS: [&str; 5] = ["BLU-01", "BLU-02", "BLU-06", "BLU-07", "PLN-SP"];
        if !BUILDS.contains(&procedure.code.as_str()) {
            return (None, None, None);
        }
        let residential: [(&str, f64); 5] = [
            ("residential_two_family", 0.30),
            ("residential_multifamily", 0.45),
            ("townhouse", 0.10),
            ("office", 0.08),
            ("retail", 0.07),
        ];
        let other: [(&str, f64); 5] = [
            ("office", 0.30),
            ("research_lab", 0.20),
            ("retail", 0.20),
            ("residential_multifamily", 0.20),
            ("hotel", 0.10),
        ];
        let table = if parcel_weight(parcel) > 1.0 { &residential } else { &other };
        let proposed_use = self.dice.share(table).to_string();
        if procedure.code == "BLU-02" {
            return (Some(proposed_use), None, None);
        }
        let height = self.dice.range(14, 60) as f64 / 2.0;
        let floor_area = self.dice.range(12, 300) as f64 * 10.0;
        (Some(proposed_use), Some(height), Some(floor_area))
    }

    fn applicant(&mut self) -> serde_json::Value {
        let first = *self.dice.pick(&FIRST_NAMES);
        let last = *self.dice.pick(&LAST_NAMES);
        // 555-0100 to 555-0199 are reserved for fiction: no real line is ever called.
        let phone = format!("617-555-01{:02}", self.dice.range(0, 99));
        if self.dice.chance(0.2) {
            let kind = *self.dice.pick(&BUSINESS_KINDS);
            let slug = format!("{}-{}", last, kind.split(' ').next().unwrap_or("co")).to_lowercase();
            json!({
                "kind": "business",
                "name": format!("{last} {kind}"),
                "contact": format!("{first} {last}"),
                "email": format!("permits@{slug}.example.com"),
                "phone": phone,
            })
        } else {
            json!({
                "kind": "person",
                "name": format!("{first} {last}"),
                "email": format!("{}.{}@example.org", first.to_lowercase(), last.to_lowercase()),
                "phone": phone,
            })
        }
    }

    fn finish(&mut self, filing: Filing<'_>, dossier: Dossier, history: History) {
        let id = dossier.tracking_code.clone();
        let mut events: Vec<PermitEvent> = history
            .events
            .into_iter()
            .enumerate()
            .map(|(seq, e)| PermitEvent { permit_id: id.clone(), seq: seq as i64 + 1, ..e })
            .collect();
        // Chained as the server chains the events it records: `urbis audit verify` checks them.
        urbis_core::permits::chain::seal(&mut events);
        self.out.events.extend(events);
        self.out.dossiers.push(GeneratedDossier { dossier, site: filing.parcel.location });
    }
}

/// A dossier's events in order; each one later than the one before.
struct History {
    events: Vec<PermitEvent>,
    last: NaiveDateTime,
}

impl History {
    fn new(f: &Filing<'_>) -> History {
        let (actor, note) = match f.channel {
            "online" => ("online portal".to_string(), "filed online"),
            "phone" => ("call centre".to_string(), "taken by phone"),
            _ => (format!("counter:{}", f.centre.id), "received at the counter"),
        };
        let first = PermitEvent {
            permit_id: String::new(),
            seq: 1,
            at: rfc3339(f.received),
            kind: "received".into(),
            stage: Some("received".into()),
            actor: Some(actor),
            note: Some(note.into()),
            hash: None,
        };
        History { events: vec![first], last: f.received }
    }

    /// The due date the server would have written at the last event: the statutory clock of the
    /// core over these events, so that the days a dossier waited for its applicant (a supplement,
    /// a payment) move it as they do for a dossier handled through the API.
    fn due(&self, processing_days: i64) -> NaiveDate {
        use urbis_core::permits::clock::statutory_clock;
        use urbis_core::permits::{ClockPolicy, Stage};
        let history: Vec<(chrono::DateTime<chrono::Utc>, Stage)> = self
            .events
            .iter()
            .map(|e| {
                let at = chrono::DateTime::parse_from_rfc3339(&e.at).expect("the generator writes RFC 3339").to_utc();
                let stage: Stage = e.stage.as_deref().unwrap_or("received").parse().expect("the generator's stages");
                (at, stage)
            })
            .collect();
        statutory_clock(
            super::workdays::calendar(),
            processing_days,
            &history,
            self.last.and_utc(),
            ClockPolicy::default(),
        )
        .expect("the generator's histories are in order")
        .due
    }

    /// Adds a transition on `day` during office hours, or shortly after the previous event if that
    /// was later the same day. Returns when it happened.
    fn push(&mut self, dice: &mut Dice, day: NaiveDate, stage: &str, actor: String, note: String) -> NaiveDateTime {
        let office = day.and_time(NaiveTime::MIN) + Duration::minutes(dice.range(13 * 60 + 30, 21 * 60));
        let at = if office > self.last { office } else { self.last + Duration::minutes(dice.range(20, 120)) };
        self.last = at;
        self.events.push(PermitEvent {
            permit_id: String::new(),
            seq: 0,
            at: rfc3339(at),
            kind: "transition".into(),
            stage: Some(stage.into()),
            actor: Some(actor),
            note: Some(note),
            hash: None,
        });
        at
    }
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The real catalogue, so that the test also proves it fits the generator.
    fn catalogue() -> Vec<Procedure> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data-samples/procedures.csv");
        let mut reader = csv::Reader::from_path(&path).unwrap();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                Procedure {
                    code: r[0].to_string(),
                    name: r[1].to_string(),
                    category: r[2].to_string(),
                    processing_days: r[3].parse().unwrap(),
                    fee: r[4].parse().ok(),
                    online: Some(&r[5] == "true"),
                    channels: serde_json::from_str(&r[6]).unwrap(),
                    documents: serde_json::from_str(&r[7]).unwrap(),
                }
            })
            .collect()
    }

    fn parcels() -> Vec<ParcelSite> {
        (0..400)
            .map(|i| ParcelSite {
                code: format!("{}-{}", i / 20, i % 20),
                address: Some(format!("{i} Example St")),
                land_use_code: Some(if i % 3 == 0 { "340" } else { "101" }.to_string()),
                location: Point::new(-71.15 + (i % 20) as f64 * 0.004, 42.36 + (i / 20) as f64 * 0.0015),
            })
            .collect()
    }

    fn centres() -> Vec<Centre> {
        vec![
            Centre { id: "osc-a".into(), location: Point::new(-71.1055, 42.3672), desks: 6 },
            Centre { id: "osc-b".into(), location: Point::new(-71.1285, 42.3927), desks: 2 },
        ]
    }

    fn share(n: usize, of: usize) -> f64 {
        n as f64 / of as f64
    }

    #[test]
    fn the_same_seed_gives_the_same_dossiers() {
        let plan = Plan::demo().unwrap();
        let a = generate(&parcels(), &catalogue(), &centres(), &plan).unwrap();
        let mut shuffled = parcels();
        shuffled.reverse();
        let b = generate(&shuffled, &catalogue(), &centres(), &plan).unwrap();
        assert_eq!(a, b, "same seed, same inputs in another order, same output");
        let c = generate(&parcels(), &catalogue(), &centres(), &Plan { seed: SEED + 1, ..plan }).unwrap();
        assert_ne!(a.dossiers, c.dossiers);
    }

    #[test]
    fn the_mix_is_as_documented() {
        let plan = Plan::demo().unwrap();
        let procedures = catalogue();
        let days: HashMap<&str, i64> = procedures.iter().map(|p| (p.code.as_str(), p.processing_days)).collect();
        let out = generate(&parcels(), &procedures, &centres(), &plan).unwrap();
        assert_eq!(out.dossiers.len(), plan.open + plan.closed);
        let date = |s: &str| NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").unwrap();
        let open: Vec<&Dossier> = out.dossiers[..plan.open].iter().map(|g| &g.dossier).collect();
        let closed: Vec<&Dossier> = out.dossiers[plan.open..].iter().map(|g| &g.dossier).collect();

        let mut clocks: HashMap<Clock, usize> = HashMap::new();
        let mut stages: HashMap<&str, usize> = HashMap::new();
        let mut online = 0;
        let mut extended = 0;
        for d in &open {
            let pd = days[d.procedure_code.as_str()];
            let received = date(&d.received_at);
            let elapsed = working_days_between(received, plan.anchor);
            assert!(
                (1..=OPEN_WINDOW_DAYS).contains(&elapsed),
                "{} received {elapsed} working days back",
                d.tracking_code
            );
            let due = date(d.due_at.as_deref().unwrap());
            // The processing time from receipt, and the days the applicant took to answer on top.
            let base = add_working_days(received, pd);
            if matches!(d.stage.as_str(), "supplement_received" | "payment_received") {
                assert!(due >= base, "{}: due {due}, before {base}", d.tracking_code);
                extended += usize::from(due > base);
            } else {
                assert_eq!(due, base, "{}", d.tracking_code);
            }
            assert!(d.decided_at.is_none() && d.decision.is_none() && d.satisfaction.is_none());
            *clocks.entry(clock(due, pd, plan.anchor)).or_default() += 1;
            *stages.entry(d.stage.as_str()).or_default() += 1;
            online += usize::from(d.channel.as_deref() == Some("online"));
            let applicant = d.applicant.as_ref().unwrap();
            assert!(applicant["name"].is_string() && applicant["phone"].as_str().unwrap().starts_with("617-555-01"));
        }
        assert_eq!(
            (out.on_time, out.at_risk, out.overdue),
            (clocks[&Clock::OnTime], clocks[&Clock::AtRisk], clocks[&Clock::Overdue])
        );
        for (c, target) in CLOCKS {
            let got = share(clocks.get(&c).copied().unwrap_or(0), open.len());
            assert!((got - target).abs() < 0.05, "{c:?}: {got:.3} against {target}");
        }
        for (s, target) in OPEN_STAGES {
            let got = share(stages.get(s).copied().unwrap_or(0), open.len());
            assert!((got - target).abs() < 0.05, "{s}: {got:.3} against {target}");
        }
        assert!((share(online, open.len()) - 0.70).abs() < 0.05);
        // Most answered requests took the applicant a working day or more.
        let answered = stages["supplement_received"] + stages["payment_received"];
        assert!(extended * 2 > answered, "{extended} of {answered} answered dossiers moved their due date");

        let mut rated = 0;
        for d in &closed {
            assert!(matches!(d.stage.as_str(), "decided" | "delivered"));
            assert!(d.decided_at.is_some() && d.decision.is_some());
            assert!(date(d.decided_at.as_deref().unwrap()) < plan.anchor);
            if let Some(s) = d.satisfaction {
                assert!((1..=5).contains(&s) && d.stage == "delivered");
                rated += 1;
            }
        }
        assert!(rated > closed.len() / 2);

        // Histories: seq from 1 without gaps, in time order, before the anchor, ending in the
        // dossier's stage.
        let mut by_dossier: HashMap<&str, Vec<&PermitEvent>> = HashMap::new();
        for e in &out.events {
            by_dossier.entry(e.permit_id.as_str()).or_default().push(e);
        }
        for g in &out.dossiers {
            let events = &by_dossier[g.dossier.tracking_code.as_str()];
            assert_eq!(events[0].kind, "received");
            assert_eq!(events[0].at, g.dossier.received_at);
            for (i, e) in events.iter().enumerate() {
                assert_eq!(e.seq, i as i64 + 1);
                assert!(i == 0 || events[i - 1].at <= e.at, "{} out of order", g.dossier.tracking_code);
                assert!(
                    e.at < format!("{}T00:00:00.000Z", plan.anchor),
                    "{} after the anchor",
                    g.dossier.tracking_code
                );
            }
            assert_eq!(events.last().unwrap().stage.as_deref(), Some(g.dossier.stage.as_str()));
            let stored: Vec<(Option<String>, PermitEvent)> = events.iter().map(|e| (None, (*e).clone())).collect();
            let verified =
                urbis_core::permits::chain::verify_with_head(&g.dossier.tracking_code, &g.dossier.stage, &stored);
            assert_eq!(verified, Ok(events.len()));
        }
        let codes: HashSet<&str> = out.dossiers.iter().map(|g| g.dossier.tracking_code.as_str()).collect();
        assert_eq!(codes.len(), out.dossiers.len());
    }
}
