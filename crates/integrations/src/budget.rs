//! The hourly run budget of an installation (pure). Starts are counted per clock hour in the
//! store (one row per installation and hour, bumped in the claim's transaction), and the runs
//! started in the sliding hour before `now` are estimated from the current clock hour's count
//! plus the previous hour's, weighted by the part of the previous hour still inside the sliding
//! hour. The estimate is exact when the previous hour started nothing, never below the current
//! hour's count, never above both counts together, and costs one row per installation to read,
//! however many runs it started.

use std::collections::HashMap;

use document::Id;

/// One clock hour, in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// The start of the clock hour holding `now` (milliseconds since the epoch).
pub fn hour_start(now: i64) -> i64 {
    now - now.rem_euclid(HOUR_MS)
}

/// Runs started in the hour before `now`, estimated from the starts counted in `now`'s clock
/// hour (`current`) and in the hour before it (`previous`).
pub fn started_in_last_hour(current: i64, previous: i64, now: i64) -> i64 {
    let elapsed = now.rem_euclid(HOUR_MS);
    let previous =
        i128::from(previous.max(0)) * i128::from(HOUR_MS - elapsed) / i128::from(HOUR_MS);
    current.max(0).saturating_add(previous as i64)
}

/// The estimate for every installation in `counts` (`(installation, hour start, starts)` rows
/// of the current and previous clock hours; older rows are ignored).
pub fn estimates(counts: &[(Id, i64, i64)], now: i64) -> HashMap<Id, i64> {
    let current_hour = hour_start(now);
    let mut hours: HashMap<Id, (i64, i64)> = HashMap::new();
    for (installation_id, hour, started) in counts {
        let entry = hours.entry(*installation_id).or_default();
        if *hour == current_hour {
            entry.0 += started;
        } else if *hour == current_hour - HOUR_MS {
            entry.1 += started;
        }
    }
    hours
        .into_iter()
        .map(|(id, (current, previous))| (id, started_in_last_hour(current, previous, now)))
        .collect()
}
