//! Working-day arithmetic for the generated dossiers: Monday to Friday. Public holidays are not
//! counted yet (a later issue gives the core a city calendar); the generator only needs the demo to
//! be self-consistent, and it is, because due dates and clocks use these same functions.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

pub fn is_working_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The working day `n` working days after `d` (before it if `n` is negative). From a weekend day
/// the first step lands on the next (or previous) working day.
pub fn add_working_days(d: NaiveDate, n: i64) -> NaiveDate {
    let step = if n >= 0 { Duration::days(1) } else { Duration::days(-1) };
    let mut day = d;
    let mut left = n.unsigned_abs();
    while left > 0 {
        day += step;
        if is_working_day(day) {
            left -= 1;
        }
    }
    day
}

/// Working days from `a` to `b`: for working days, `add_working_days(a, result) == b`.
pub fn working_days_between(a: NaiveDate, b: NaiveDate) -> i64 {
    let (lo, hi, sign) = if a <= b { (a, b, 1) } else { (b, a, -1) };
    let mut n = 0;
    let mut day = lo;
    while day < hi {
        day += Duration::days(1);
        if is_working_day(day) {
            n += 1;
        }
    }
    sign * n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn weekends_are_skipped_both_ways() {
        // 2026-11-02 is a Monday.
        assert_eq!(add_working_days(date("2026-11-02"), 5), date("2026-11-09"));
        assert_eq!(add_working_days(date("2026-11-02"), -1), date("2026-10-30"));
        assert_eq!(add_working_days(date("2026-10-30"), 1), date("2026-11-02"));
        assert_eq!(working_days_between(date("2026-10-30"), date("2026-11-02")), 1);
        assert_eq!(working_days_between(date("2026-11-09"), date("2026-11-02")), -5);
    }

    #[test]
    fn adding_and_counting_agree() {
        let start = date("2026-08-03");
        for n in -70..70 {
            let end = add_working_days(start, n);
            assert!(is_working_day(end));
            assert_eq!(working_days_between(start, end), n, "n = {n}");
        }
    }
}
