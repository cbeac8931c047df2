//! The demo city's working days: Cambridge's calendar (Monday to Friday, the holidays of
//! data-samples/holidays.csv, Eastern standard time) from the core's working-day arithmetic, the
//! same the server's statutory clocks use.

use std::sync::OnceLock;

use chrono::NaiveDate;
use urbis_core::permits::WorkingCalendar;

/// The city the demo's holidays are listed under.
pub const CITY: &str = "cambridge_ma";
/// Eastern standard time.
pub const UTC_OFFSET_MINUTES: i32 = -5 * 60;

pub fn calendar() -> &'static WorkingCalendar {
    static CALENDAR: OnceLock<WorkingCalendar> = OnceLock::new();
    CALENDAR.get_or_init(|| {
        WorkingCalendar::from_csv(CITY, include_str!("../../../../data-samples/holidays.csv"))
            .and_then(|c| c.with_utc_offset_minutes(UTC_OFFSET_MINUTES))
            .unwrap_or_else(|e| panic!("data-samples/holidays.csv, built into the binary, is broken: {e}"))
    })
}

pub fn add_working_days(d: NaiveDate, n: i64) -> NaiveDate {
    calendar().add_working_days(d, n)
}

pub fn working_days_between(a: NaiveDate, b: NaiveDate) -> i64 {
    calendar().working_days_between(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_demo_calendar_has_cambridges_holidays() {
        // Wednesday 11 November 2026 is Veterans Day, Thursday 26 and Friday 27 Thanksgiving.
        assert_eq!(add_working_days(date("2026-11-10"), 1), date("2026-11-12"));
        assert_eq!(add_working_days(date("2026-11-25"), 1), date("2026-11-30"));
        assert_eq!(working_days_between(date("2026-11-02"), date("2026-11-30")), 17);
        assert_eq!(calendar().holidays().count(), 39);
    }
}
