//! A city's working days: its weekend and its public holidays, with the arithmetic the statutory
//! clock needs. Day `d` plus `n` working days is the `n`-th working day after `d`; the days
//! between `a` and `b` are the working days in `(a, b]`, so the day of receipt never counts.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc, Weekday};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("holidays, line {line}: {reason}")]
    BadLine { line: usize, reason: String },
    #[error("a calendar needs at least one working day in the week")]
    NoWorkingDay,
    #[error("UTC offset of {minutes} minutes is not one a city has (-14 h to +14 h)")]
    BadOffset { minutes: i32 },
    #[error("no holidays are listed for the city `{city}`; the cities listed are: {listed}")]
    UnknownCity { city: String, listed: String },
}

/// Working days of one city. Instants are turned into the city's dates with its UTC offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    city: String,
    weekend: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
    offset: FixedOffset,
}

impl WorkingCalendar {
    /// Monday to Friday, no holidays, dates in UTC.
    pub fn weekdays(city: impl Into<String>) -> WorkingCalendar {
        let mut weekend = [false; 7];
        weekend[Weekday::Sat.num_days_from_monday() as usize] = true;
        weekend[Weekday::Sun.num_days_from_monday() as usize] = true;
        WorkingCalendar {
            city: city.into(),
            weekend,
            holidays: BTreeSet::new(),
            offset: FixedOffset::east_opt(0).unwrap(),
        }
    }

    /// The calendar of `city` from a holidays table (CSV `city,date,name` with a header line,
    /// dates `YYYY-MM-DD`), Monday to Friday otherwise.
    pub fn from_csv(city: &str, text: &str) -> Result<WorkingCalendar, CalendarError> {
        let mut cal = WorkingCalendar::weekdays(city);
        let mut cities = BTreeSet::new();
        for (i, raw) in text.lines().enumerate().skip(1) {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut cols = line.splitn(3, ',');
            let (Some(c), Some(d)) = (cols.next(), cols.next()) else {
                return Err(CalendarError::BadLine { line: i + 1, reason: "expected city,date,name".into() });
            };
            let date = NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|e| CalendarError::BadLine {
                line: i + 1,
                reason: format!("`{}` is not a date YYYY-MM-DD: {e}", d.trim()),
            })?;
            cities.insert(c.trim().to_string());
            if c.trim() == city {
                cal.holidays.insert(date);
            }
        }
        if !cities.contains(city) {
            let listed = cities.into_iter().collect::<Vec<_>>().join(", ");
            return Err(CalendarError::UnknownCity { city: city.into(), listed });
        }
        Ok(cal)
    }

    pub fn with_holidays(mut self, days: impl IntoIterator<Item = NaiveDate>) -> WorkingCalendar {
        self.holidays.extend(days);
        self
    }

    /// Other rest days than Saturday and Sunday (Friday and Saturday, say).
    pub fn with_weekend(mut self, days: &[Weekday]) -> Result<WorkingCalendar, CalendarError> {
        let mut weekend = [false; 7];
        for d in days {
            weekend[d.num_days_from_monday() as usize] = true;
        }
        if weekend.iter().all(|w| *w) {
            return Err(CalendarError::NoWorkingDay);
        }
        self.weekend = weekend;
        Ok(self)
    }

    /// The city's offset from UTC in minutes (standard time).
    pub fn with_utc_offset_minutes(mut self, minutes: i32) -> Result<WorkingCalendar, CalendarError> {
        self.offset = FixedOffset::east_opt(minutes * 60)
            .filter(|_| minutes.abs() <= 14 * 60)
            .ok_or(CalendarError::BadOffset { minutes })?;
        Ok(self)
    }

    pub fn city(&self) -> &str {
        &self.city
    }

    pub fn holidays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().copied()
    }

    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.holidays.contains(&d)
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        !self.weekend[d.weekday().num_days_from_monday() as usize] && !self.holidays.contains(&d)
    }

    /// The city's date at an instant.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.offset).date_naive()
    }

    /// The working day `n` working days after `d` (before it when `n` is negative).
    pub fn add_working_days(&self, d: NaiveDate, n: i64) -> NaiveDate {
        let step = if n >= 0 { Duration::days(1) } else { Duration::days(-1) };
        let mut day = d;
        let mut left = n.unsigned_abs();
        while left > 0 {
            day += step;
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// Working days in `(a, b]` (negated when `b` is before `a`): for a working day `b`,
    /// `add_working_days(a, result) == b`.
    pub fn working_days_between(&self, a: NaiveDate, b: NaiveDate) -> i64 {
        let (lo, hi, sign) = if a <= b { (a, b, 1) } else { (b, a, -1) };
        // Whole weeks at once, then day by day: a clock over years stays cheap.
        let whole_weeks = (hi - lo).num_days() / 7;
        let per_week = self.weekend.iter().filter(|w| !**w).count() as i64;
        let mut n = whole_weeks * per_week;
        let mut day = lo + Duration::days(whole_weeks * 7);
        if whole_weeks > 0 {
            // Holidays in (lo, day] that fall on a working weekday were counted above.
            let after = std::ops::Bound::Excluded(lo);
            let through = std::ops::Bound::Included(day);
            n -= self.holidays.range((after, through)).filter(|h| self.weekday_works(h)).count() as i64;
        }
        while day < hi {
            day += Duration::days(1);
            if self.is_working_day(day) {
                n += 1;
            }
        }
        sign * n
    }

    /// The weekday of `d` is not a rest day (whether or not `d` is a holiday).
    fn weekday_works(&self, d: &NaiveDate) -> bool {
        !self.weekend[d.weekday().num_days_from_monday() as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn cambridge() -> WorkingCalendar {
        WorkingCalendar::from_csv(
            "cambridge_ma",
            "city,date,name\ncambridge_ma,2026-11-11,Veterans Day\ncambridge_ma,2026-11-26,Thanksgiving\n\
             other,2026-11-12,Not ours\n",
        )
        .unwrap()
    }

    #[test]
    fn weekends_and_holidays_are_skipped() {
        let c = cambridge();
        // Monday 9 November 2026; Wednesday the 11th is Veterans Day.
        assert_eq!(c.add_working_days(date("2026-11-09"), 2), date("2026-11-12"));
        assert_eq!(c.add_working_days(date("2026-11-09"), 5), date("2026-11-17"));
        assert_eq!(c.working_days_between(date("2026-11-09"), date("2026-11-17")), 5);
        assert_eq!(c.add_working_days(date("2026-11-12"), -1), date("2026-11-10"));
        assert!(!c.is_working_day(date("2026-11-12") + Duration::days(14)));
        assert!(c.is_working_day(date("2026-11-12")), "another city's holiday is a working day here");
        assert_eq!(c.working_days_between(date("2026-11-01"), date("2026-11-30")), 19);
    }

    #[test]
    fn bad_tables_say_where() {
        let e = WorkingCalendar::from_csv("x", "city,date,name\nx,2026-13-01,?\n").unwrap_err();
        assert!(e.to_string().starts_with("holidays, line 2: `2026-13-01` is not a date"), "{e}");
        let e = WorkingCalendar::from_csv("y", "city,date,name\nx,2026-01-01,New Year\n").unwrap_err();
        assert_eq!(e.to_string(), "no holidays are listed for the city `y`; the cities listed are: x");
        assert!(WorkingCalendar::weekdays("x")
            .with_weekend(&[
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun
            ])
            .is_err());
    }

    #[test]
    fn instants_become_the_citys_dates() {
        let c = cambridge().with_utc_offset_minutes(-5 * 60).unwrap();
        let t = DateTime::parse_from_rfc3339("2026-11-10T03:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(c.local_date(t), date("2026-11-09"));
    }

    fn any_calendar() -> impl Strategy<Value = WorkingCalendar> {
        (prop::collection::vec(0i64..800, 0..40), any::<bool>()).prop_map(|(offsets, friday_weekend)| {
            let base = date("2025-06-01");
            let cal =
                WorkingCalendar::weekdays("p").with_holidays(offsets.into_iter().map(|o| base + Duration::days(o)));
            if friday_weekend {
                cal.with_weekend(&[Weekday::Fri, Weekday::Sat]).unwrap()
            } else {
                cal
            }
        })
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        (0i64..900).prop_map(|o| date("2025-05-01") + Duration::days(o))
    }

    proptest! {
        #[test]
        fn adding_then_counting_gives_back_the_days(cal in any_calendar(), d in any_date(), n in -120i64..120) {
            // Backwards, the count is the inverse from a working day: (end, d] then holds d.
            prop_assume!(n >= 0 || cal.is_working_day(d));
            let end = cal.add_working_days(d, n);
            prop_assert_eq!(cal.working_days_between(d, end), n);
            if n != 0 {
                prop_assert!(cal.is_working_day(end));
            }
        }

        #[test]
        fn counting_then_adding_lands_on_the_last_working_day(cal in any_calendar(), a in any_date(), b in any_date()) {
            let n = cal.working_days_between(a, b);
            prop_assert_eq!(cal.working_days_between(b, a), -n);
            let mut last = b;
            while a < b && !cal.is_working_day(last) && last > a {
                last -= Duration::days(1);
            }
            if a < b {
                prop_assert_eq!(cal.add_working_days(a, n), if n == 0 { a } else { last });
            }
        }

        #[test]
        fn more_days_land_later(cal in any_calendar(), d in any_date(), n in 0i64..100, k in 1i64..30) {
            prop_assert!(cal.add_working_days(d, n + k) > cal.add_working_days(d, n));
        }

        #[test]
        fn counting_is_monotonic_and_skips_holidays(cal in any_calendar(), a in any_date(), b in any_date()) {
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            let next = b + Duration::days(1);
            let step = cal.working_days_between(a, next) - cal.working_days_between(a, b);
            prop_assert_eq!(step, i64::from(cal.is_working_day(next)));
            let brute = (1..=(b - a).num_days()).filter(|i| cal.is_working_day(a + Duration::days(*i))).count() as i64;
            prop_assert_eq!(cal.working_days_between(a, b), brute);
            for h in cal.holidays() {
                prop_assert!(!cal.is_working_day(h));
            }
        }
    }
}
