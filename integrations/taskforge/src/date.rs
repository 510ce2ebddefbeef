//! Calendar dates without a time zone, as Notion's date properties carry them (`2026-11-28`).
//!
//! A date is a count of days since 1970-01-01 in the proleptic Gregorian calendar, so that
//! comparing and subtracting dates is integer arithmetic. The conversions are Howard Hinnant's
//! `days_from_civil` and `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>);
//! a date crate would bring time zones and formatting this integration does not need.

use std::fmt;

const MS_PER_DAY: i64 = 86_400_000;
/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT_DAYS: i64 = 719_468;
/// Days in a 400-year era.
const ERA_DAYS: i64 = 146_097;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days_since_epoch: i64,
}

impl Date {
    /// The date of year-month-day; `None` when the month or day does not exist.
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Count years from March, so that the leap day is the last day of the year.
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year.rem_euclid(400);
        let month_from_march = i64::from((month + 9) % 12);
        let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Some(Date {
            days_since_epoch: era * ERA_DAYS + day_of_era - EPOCH_SHIFT_DAYS,
        })
    }

    /// The UTC date of an instant given in milliseconds since the Unix epoch.
    pub fn from_unix_ms(ms: i64) -> Date {
        Date {
            days_since_epoch: ms.div_euclid(MS_PER_DAY),
        }
    }

    /// (year, month, day).
    pub fn ymd(self) -> (i64, u32, u32) {
        let days = self.days_since_epoch + EPOCH_SHIFT_DAYS;
        let era = days.div_euclid(ERA_DAYS);
        let day_of_era = days.rem_euclid(ERA_DAYS);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        (year, month as u32, day as u32)
    }

    /// Parses `YYYY-MM-DD` exactly: four-digit year, two-digit month and day, a real date.
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u32> {
            let digits = &text[range];
            if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        };
        Date::from_ymd(i64::from(number(0..4)?), number(5..7)?, number(8..10)?)
    }

    /// The date part of a Notion date `start`: `2026-11-28` or `2026-11-28T09:00:00.000+02:00`
    /// (the date as written, in the value's own time zone).
    pub fn parse_start(text: &str) -> Option<Date> {
        match text.get(..10) {
            Some(date) if text.len() == 10 || text.as_bytes()[10] == b'T' => Date::parse(date),
            _ => None,
        }
    }

    /// Whole days from `earlier` to `self`; negative when `earlier` is later.
    pub fn days_after(self, earlier: Date) -> i64 {
        self.days_since_epoch - earlier.days_since_epoch
    }
}

impl fmt::Display for Date {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(formatter, "{year:04}-{month:02}-{day:02}")
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days_since_epoch(date: Date) -> i64 {
        date.days_after(Date::from_unix_ms(0))
    }

    #[test]
    fn known_dates_have_known_day_counts() {
        // Day counts from Python's datetime.date arithmetic.
        for (text, days) in [
            ("1970-01-01", 0),
            ("1969-12-31", -1),
            ("2000-03-01", 11_017),
            ("2026-11-28", 20_785),
            ("0001-01-01", -719_162),
            ("9999-12-31", 2_932_896),
        ] {
            let date = Date::parse(text).unwrap();
            assert_eq!(days_since_epoch(date), days, "{text}");
            assert_eq!(date.to_string(), text);
        }
    }

    #[test]
    fn every_day_round_trips_through_year_month_day() {
        // From 1600-01-01 to 2400-12-31: four leap-century rules and both signs of the count.
        let mut expected = days_since_epoch(Date::parse("1600-01-01").unwrap());
        for year in 1600..=2400 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    let date = Date::from_ymd(year, month, day).unwrap();
                    assert_eq!(days_since_epoch(date), expected, "{year}-{month}-{day}");
                    assert_eq!(date.ymd(), (year, month, day));
                    expected += 1;
                }
            }
        }
    }

    #[test]
    fn leap_days_exist_only_in_leap_years() {
        assert!(Date::parse("2024-02-29").is_some());
        assert!(Date::parse("2000-02-29").is_some());
        assert!(Date::parse("2025-02-29").is_none());
        assert!(Date::parse("1900-02-29").is_none());
        assert_eq!(
            Date::parse("2024-03-01")
                .unwrap()
                .days_after(Date::parse("2024-02-28").unwrap()),
            2
        );
    }

    #[test]
    fn malformed_dates_are_refused() {
        for text in [
            "",
            "2026-1-28",
            "2026-11-28 ",
            "26-11-28",
            "2026/11/28",
            "2026-13-01",
            "2026-00-10",
            "2026-11-00",
            "2026-11-31",
            "+026-11-28",
            "2026-1a-28",
            "2026-11-28T00:00",
        ] {
            assert_eq!(Date::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_start_with_a_time_keeps_its_written_date() {
        let date = Date::parse("2026-11-28").unwrap();
        assert_eq!(Date::parse_start("2026-11-28"), Some(date));
        assert_eq!(
            Date::parse_start("2026-11-28T23:30:00.000-05:00"),
            Some(date)
        );
        assert_eq!(Date::parse_start("2026-11-28X"), None);
        assert_eq!(Date::parse_start("2026-11"), None);
    }

    #[test]
    fn instants_map_to_their_utc_day() {
        let day = Date::parse("2026-11-28").unwrap();
        let midnight_ms = 20_785 * MS_PER_DAY;
        assert_eq!(Date::from_unix_ms(midnight_ms), day);
        assert_eq!(Date::from_unix_ms(midnight_ms + MS_PER_DAY - 1), day);
        assert_eq!(
            Date::from_unix_ms(midnight_ms - 1),
            Date::parse("2026-11-27").unwrap()
        );
        assert_eq!(Date::from_unix_ms(-1), Date::parse("1969-12-31").unwrap());
    }
}
