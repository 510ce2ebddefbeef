//! The wall clock. `document` never reads it (its callers pass `now` in), so that its rules
//! stay deterministic; the service and its callers read it here.

use std::time::{SystemTime, UNIX_EPOCH};

use document::time::Millis;

/// Milliseconds since the Unix epoch (negative for a clock set before 1970).
pub fn now_ms() -> Millis {
    let millis = |duration: std::time::Duration| {
        Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
    };
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => millis(since),
        Err(before) => -millis(before.duration()),
    }
}
