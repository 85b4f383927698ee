//! The small world both passes' unit tests run on: five equal networks over two days and a
//! bit, one of them changed in a few windows of the third day, and what the events of that
//! change must look like — one definition, so the availability and performance tests judge
//! the same incident the same way.

use flowatlas_rollup::WINDOW_SECONDS;

use crate::{Assessment, ImpactType};

pub(crate) const START: i64 = 1_780_272_000;
pub(crate) const DAY: usize = 288;
/// The change under test covers these windows, on the third day.
pub(crate) const CHANGE: std::ops::Range<usize> = 2 * DAY + 100..2 * DAY + 106;
pub(crate) const NETWORKS: [u32; 5] = [64496, 64497, 64498, 64499, 64500];
pub(crate) const VICTIM: u32 = 64496;

/// Asserts that the assessment raised `expected` (in order, repeats merged), each event of
/// the victim alone, starting with the change, detected two windows in and ended with it.
pub(crate) fn assert_events_cover_the_change(
    assessment: &Assessment,
    expected: &[ImpactType],
    case: &str,
) {
    let mut raised: Vec<ImpactType> = assessment
        .events
        .iter()
        .map(|event| event.impact_type)
        .collect();
    raised.dedup();
    assert_eq!(raised, expected, "{case}");
    for event in &assessment.events {
        let start = START + CHANGE.start as i64 * WINDOW_SECONDS;
        assert_eq!(event.started_at, start, "{case}");
        assert_eq!(event.detected_at, start + 2 * WINDOW_SECONDS, "{case}");
        assert_eq!(
            event.ended_at,
            Some(START + CHANGE.end as i64 * WINDOW_SECONDS),
            "{case}"
        );
        assert_eq!(event.asns(), [VICTIM], "{case}");
    }
}
