//! Hour arithmetic of the health job: whole-hour rounding of a range, the hour partitions a
//! run must read for the windows it judges (derived from the engine's own history plan), and
//! sorted hours merged into the spans readers take.

use std::collections::BTreeSet;

use flowatlas_rollup::WINDOW_SECONDS;

/// Seconds in an hour partition.
pub const HOUR: i64 = 3_600;

/// The start of the hour holding `time`.
pub fn hour_of(time: i64) -> i64 {
    time - time.rem_euclid(HOUR)
}

/// `[from, to)` widened to whole hours, so every hour partition written holds all of its
/// windows.
pub fn whole_hours(from: i64, to: i64) -> (i64, i64) {
    (hour_of(from), hour_of(to + HOUR - 1))
}

/// The start of the window holding `time`.
pub fn window_of(time: i64) -> i64 {
    time - time.rem_euclid(WINDOW_SECONDS)
}

/// The hours a run judging the windows `windows` must read: theirs, and those of every window
/// the engine may compare them with ([`flowatlas_health::history_window_starts`]).
pub fn hours_needed(windows: impl IntoIterator<Item = i64>) -> BTreeSet<i64> {
    let mut hours = BTreeSet::new();
    for window in windows {
        hours.insert(hour_of(window));
        hours.extend(
            flowatlas_health::history_window_starts(window)
                .into_iter()
                .map(hour_of),
        );
    }
    hours
}

/// Sorted hours as `[from, to)` spans of consecutive hours.
pub fn spans(hours: &BTreeSet<i64>) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = Vec::new();
    for &hour in hours {
        match spans.last_mut() {
            Some((_, end)) if *end == hour => *end = hour + HOUR,
            _ => spans.push((hour, hour + HOUR)),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONDAY: i64 = 1_780_272_000;

    #[test]
    fn ranges_widen_to_whole_hours() {
        assert_eq!(
            whole_hours(MONDAY + 60, MONDAY + 60),
            (MONDAY, MONDAY + HOUR)
        );
        assert_eq!(whole_hours(MONDAY, MONDAY + HOUR), (MONDAY, MONDAY + HOUR));
        assert_eq!(
            whole_hours(MONDAY - 1, MONDAY + 1),
            (MONDAY - HOUR, MONDAY + HOUR)
        );
        assert_eq!(window_of(MONDAY + 299), MONDAY);
        assert_eq!(window_of(-1), -300);
    }

    #[test]
    fn one_window_needs_a_few_hours_not_four_weeks() {
        // 14:30: its own hour and the two before (the last two hours' lookback), and the same
        // hour of the last six days and four weeks.
        let window = MONDAY + 28 * 86_400 + 14 * HOUR + 1_800;
        let hours = hours_needed([window]);
        assert_eq!(hours.len(), 3 + 6 + 4);
        assert!(hours.contains(&hour_of(window)));
        assert!(hours.contains(&hour_of(window - 28 * 86_400)));
        // On the hour, ± 5 minutes reach into the hour before in each past period.
        let on_the_hour = MONDAY + 28 * 86_400 + 14 * HOUR;
        assert_eq!(hours_needed([on_the_hour]).len(), 3 + 2 * 6 + 2 * 4);
        assert_eq!(
            spans(&BTreeSet::from([0, HOUR, 3 * HOUR])),
            [(0, 2 * HOUR), (3 * HOUR, 4 * HOUR)]
        );
    }
}
