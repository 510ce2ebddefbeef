//! The hourly run budget's estimate (pure).

use document::Id;
use integrations::budget::{HOUR_MS, estimates, hour_start, started_in_last_hour};
use proptest::prelude::*;

proptest! {
    #[test]
    fn the_estimate_lies_between_this_hours_starts_and_both_hours_starts(
        current in 0i64..1_000_000,
        previous in 0i64..1_000_000,
        now in 0i64..4_000_000_000_000,
    ) {
        let estimate = started_in_last_hour(current, previous, now);
        prop_assert!(estimate >= current);
        prop_assert!(estimate <= current + previous);
        // With nothing started in the previous hour it is exact.
        prop_assert_eq!(started_in_last_hour(current, 0, now), current);
    }

    #[test]
    fn the_previous_hour_weighs_less_as_the_hour_goes_on(
        current in 0i64..1_000_000,
        previous in 0i64..1_000_000,
        hour in 0i64..1_000_000,
        earlier in 0i64..HOUR_MS,
        later in 0i64..HOUR_MS,
    ) {
        let (earlier, later) = (earlier.min(later), earlier.max(later));
        let start = hour * HOUR_MS;
        prop_assert!(
            started_in_last_hour(current, previous, start + earlier)
                >= started_in_last_hour(current, previous, start + later)
        );
        // At the turn of the hour the whole previous hour counts.
        prop_assert_eq!(started_in_last_hour(current, previous, start), current + previous);
    }
}

#[test]
fn estimates_use_only_the_current_and_previous_clock_hours() {
    let (a, b) = (Id::new(), Id::new());
    let now = 10 * HOUR_MS + HOUR_MS / 4;
    assert_eq!(hour_start(now), 10 * HOUR_MS);
    let counts = [
        (a, 10 * HOUR_MS, 5),
        (a, 9 * HOUR_MS, 40),
        // Two hours ago: outside the sliding hour.
        (a, 8 * HOUR_MS, 1_000),
        (b, 9 * HOUR_MS, 8),
    ];
    let estimates = estimates(&counts, now);
    // A quarter of this hour has gone, so three quarters of the previous hour still count.
    assert_eq!(estimates[&a], 5 + 30);
    assert_eq!(estimates[&b], 6);
}
