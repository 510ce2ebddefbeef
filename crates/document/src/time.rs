//! Time as integer milliseconds since the Unix epoch, and the date arithmetic that filters
//! need. The caller passes "now" in, so evaluation is deterministic.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

pub type Millis = i64;

pub const DAY_MS: Millis = 86_400_000;

/// A parsed ISO 8601 date or date-time. Date-only values cover a whole UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    pub ms: Millis,
    pub date_only: bool,
}

impl Instant {
    /// The half-open range `[lo, hi)` this value stands for: a whole day for a date, one
    /// millisecond for a date-time.
    pub fn range(&self) -> (Millis, Millis) {
        if self.date_only {
            (self.ms, self.ms + DAY_MS)
        } else {
            (self.ms, self.ms + 1)
        }
    }
}

pub fn parse_instant(text: &str) -> Option<Instant> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let ms = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
        return Some(Instant {
            ms,
            date_only: true,
        });
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(Instant {
            ms: dt.timestamp_millis(),
            date_only: false,
        });
    }
    // Notion accepts date-times without an offset and reads them as UTC.
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(Instant {
                ms: naive.and_utc().timestamp_millis(),
                date_only: false,
            });
        }
    }
    None
}

/// Formats as Notion does: `2024-05-01T09:30:00.000Z`.
pub fn format_ms(ms: Millis) -> String {
    let dt = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn format_date(ms: Millis) -> String {
    let dt = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    dt.format("%Y-%m-%d").to_string()
}

/// Start of the UTC day containing `ms`.
pub fn day_start(ms: Millis) -> Millis {
    ms.div_euclid(DAY_MS) * DAY_MS
}

/// Start of the ISO week (Monday) containing `ms`, UTC.
pub fn week_start(ms: Millis) -> Millis {
    let dt = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    let days_from_monday = dt.weekday().num_days_from_monday() as i64;
    day_start(ms) - days_from_monday * DAY_MS
}

pub fn add_days(ms: Millis, days: i64) -> Millis {
    ms + Duration::days(days).num_milliseconds()
}
