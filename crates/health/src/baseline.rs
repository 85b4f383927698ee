//! What a window is compared with: the same network at the same time of week over the last
//! weeks, else at the same time of day over the last days, else over the last hour — and the
//! robust statistics (median, median absolute deviation) that turn those windows into an
//! expected value and its spread.

use flowatlas_rollup::WINDOW_SECONDS;

/// Windows in a day.
pub(crate) const WINDOWS_PER_DAY: usize = 288;
const WINDOWS_PER_WEEK: usize = 7 * WINDOWS_PER_DAY;
/// Weeks of same-time-of-week history used at most (Internet Monitor keeps a 30-day window).
const MAX_WEEKS: usize = 4;
/// How far back an assessment can look: callers reading tables for a range read this much
/// before it (history windows are not judged themselves, so an incident in them is kept out of
/// expectations only by the median).
pub const HISTORY_SECONDS: i64 = (MAX_WEEKS * WINDOWS_PER_WEEK + 1) as i64 * WINDOW_SECONDS;
/// Weeks needed before the weekly comparison is trusted over the daily one.
const MIN_WEEKS: usize = 2;
/// Days of same-time-of-day history used at most.
const MAX_DAYS: usize = 7;
/// The last-hour fallback: up to this many clean windows ...
const RECENT_WINDOWS: usize = 12;
/// ... looked for this far back (impacted windows are skipped).
const RECENT_LOOKBACK: usize = 24;
/// Fewer clean candidate windows than this and there is no expected value.
const MIN_CANDIDATES: usize = 3;
/// The last-hour fallback needs this many, half an hour, for its trend.
const MIN_RECENT: usize = 6;

/// Every window start the judgement of the window starting at `window_start` may compare
/// with, whichever method [`plan`] picks (same time of week and of day ± one window, the last
/// hour's lookback), earliest first: what a run judging that window must read besides it.
pub fn history_window_starts(window_start: i64) -> Vec<i64> {
    let window = |back: usize| window_start - back as i64 * WINDOW_SECONDS;
    let around = |center: usize| [center + 1, center, center - 1];
    let mut starts: Vec<i64> = (1..=MAX_WEEKS)
        .flat_map(|weeks| around(weeks * WINDOWS_PER_WEEK))
        .chain((1..=MAX_DAYS).flat_map(|days| around(days * WINDOWS_PER_DAY)))
        .chain(1..=RECENT_LOOKBACK)
        .map(window)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// How the expected value of a window was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Median of the same time of week (± one window) over the last 2–4 weeks.
    SameTimeOfWeek,
    /// Median of the same time of day (± one window) over the last 1–7 days.
    SameTimeOfDay,
    /// Median of the last hour's clean windows: the first day's fallback.
    RecentHour,
}

impl Method {
    /// Every value, in declaration order.
    pub const ALL: [Method; 3] = [
        Method::SameTimeOfWeek,
        Method::SameTimeOfDay,
        Method::RecentHour,
    ];

    /// The value whose [`name`](Method::name) this is, as read back from the tables.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|value| value.name() == name)
    }

    /// snake_case name, as written in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Method::SameTimeOfWeek => "same_time_of_week",
            Method::SameTimeOfDay => "same_time_of_day",
            Method::RecentHour => "recent_hour",
        }
    }
}

/// The past windows that stand for one window, best first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub method: Method,
    /// Days of history behind the comparison (0 for the last hour).
    pub history_days: i32,
    /// Candidate windows (window numbers, as `plan` was given them), each holding data.
    pub windows: Vec<usize>,
    /// How many clean candidates to use at most.
    pub limit: usize,
}

/// The comparison for window `t` (a window number: windows since some start, any start),
/// where `present(w)` says whether the service had traffic in window `w`. It only ever looks
/// back, so a window is judged with what was known when it ended; and it counts history by
/// the windows that hold data, not by the time since the first one, so a stray record long
/// before the rest (a clock glitch) neither stands for weeks of history nor hides any.
pub(crate) fn plan(t: usize, present: impl Fn(usize) -> bool) -> Option<Plan> {
    let around = |center: usize| [center.checked_sub(1), Some(center), Some(center + 1)];
    // The candidates of each period back that holds data, up to `max` periods.
    let periods_back = |period: usize, max: usize| -> (usize, Vec<usize>) {
        let mut with_data = 0;
        let mut windows = Vec::new();
        for back in 1..=max {
            let Some(center) = t.checked_sub(back * period) else {
                break;
            };
            let before = windows.len();
            windows.extend(
                around(center)
                    .into_iter()
                    .flatten()
                    .filter(|&window| window < t && present(window)),
            );
            with_data += usize::from(windows.len() > before);
        }
        (with_data, windows)
    };
    let (weeks, windows) = periods_back(WINDOWS_PER_WEEK, MAX_WEEKS);
    if weeks >= MIN_WEEKS {
        return Some(Plan {
            method: Method::SameTimeOfWeek,
            history_days: (weeks * 7) as i32,
            windows,
            limit: usize::MAX,
        });
    }
    let (days, windows) = periods_back(WINDOWS_PER_DAY, MAX_DAYS);
    if days >= 1 {
        return Some(Plan {
            method: Method::SameTimeOfDay,
            history_days: days as i32,
            windows,
            limit: usize::MAX,
        });
    }
    let windows: Vec<usize> = (1..=RECENT_LOOKBACK.min(t))
        .map(|back| t - back)
        .filter(|&window| present(window))
        .collect();
    if windows.len() < MIN_RECENT {
        return None;
    }
    Some(Plan {
        method: Method::RecentHour,
        history_days: 0,
        windows,
        limit: RECENT_WINDOWS,
    })
}

/// The windows that hold data, sparse: their starts and their window numbers (windows since
/// the first start), so gaps cost nothing and [`plan`] counts history by the windows present.
/// Availability and performance each keep one over the windows their own tables hold.
pub(crate) struct Timeline {
    /// Window starts, ascending.
    pub starts: Vec<i64>,
    /// Window numbers of those starts.
    numbers: Vec<usize>,
}

impl Timeline {
    /// The timeline of some window starts, ascending.
    pub fn new(starts: Vec<i64>) -> Timeline {
        let first = starts.first().copied().unwrap_or(0);
        let numbers = starts
            .iter()
            .map(|&start| ((start - first) / WINDOW_SECONDS) as usize)
            .collect();
        Timeline { starts, numbers }
    }

    /// Windows held.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// The window number of the window at `index`.
    pub fn number(&self, index: usize) -> usize {
        self.numbers[index]
    }

    /// The index of a window number, when the timeline holds it.
    pub fn index_of_number(&self, number: usize) -> Option<usize> {
        self.numbers.binary_search(&number).ok()
    }

    /// The comparison for the window at `index`, over the windows that hold data.
    pub fn plan(&self, index: usize) -> Option<Plan> {
        plan(self.numbers[index], |number| {
            self.index_of_number(number).is_some()
        })
    }

    /// `(window number, value)` points of the plan's candidates that `value_at` (given a window
    /// index) has a value for, at most `plan.limit` of those that `usable` accepts, in order.
    pub fn points(
        &self,
        plan: &Plan,
        usable: impl Fn(usize) -> bool,
        value_at: impl Fn(usize) -> Option<f64>,
    ) -> Vec<(usize, f64)> {
        plan.windows
            .iter()
            .filter_map(|&number| self.index_of_number(number))
            .filter(|&window| usable(window))
            .take(plan.limit)
            .filter_map(|window| value_at(window).map(|value| (self.numbers[window], value)))
            .collect()
    }
}

/// The median of some values (reordered in place); `None` when there are none.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    })
}

/// Median and spread (median absolute deviation scaled to a standard deviation under normal
/// noise), both robust to a few outliers such as last week's incident or a holiday.
pub(crate) fn median_and_spread(values: &mut [f64]) -> Option<(f64, f64)> {
    let center = median(values)?;
    let mut deviations: Vec<f64> = values.iter().map(|value| (value - center).abs()).collect();
    let spread = 1.4826 * median(&mut deviations)?;
    Some((center, spread))
}

/// The expected value at window `now` from `(window, value)` points and its spread. Weekly and
/// daily candidates are level (same time of day), so their median stands; the last hour is
/// not — traffic rises and falls through the day — so it follows the hour's trend with a
/// Theil–Sen line (the median of pairwise slopes), robust to an outlier as the median is.
pub(crate) fn expected_at(
    method: Method,
    points: &[(usize, f64)],
    now: usize,
) -> Option<(f64, f64)> {
    let needed = if method == Method::RecentHour {
        MIN_RECENT
    } else {
        MIN_CANDIDATES
    };
    if points.len() < needed {
        return None;
    }
    if method != Method::RecentHour {
        let mut values: Vec<f64> = points.iter().map(|&(_, value)| value).collect();
        return median_and_spread(&mut values);
    }
    let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
    for (position, &(x1, y1)) in points.iter().enumerate() {
        for &(x2, y2) in &points[position + 1..] {
            if x1 != x2 {
                slopes.push((y2 - y1) / (x2 as f64 - x1 as f64));
            }
        }
    }
    let slope = median(&mut slopes)?;
    let mut projected: Vec<f64> = points
        .iter()
        .map(|&(x, y)| y + slope * (now as f64 - x as f64))
        .collect();
    let (center, spread) = median_and_spread(&mut projected)?;
    Some((center.max(0.0), spread))
}

/// The weighted median of `(value, weight)` pairs: the value below and above which half the
/// weight lies. `None` without positive weight.
pub(crate) fn weighted_median(pairs: &mut [(f64, f64)]) -> Option<f64> {
    let total: f64 = pairs.iter().map(|&(_, weight)| weight.max(0.0)).sum();
    if total <= 0.0 {
        return None;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut below = 0.0;
    for &(value, weight) in pairs.iter() {
        below += weight.max(0.0);
        if below >= total / 2.0 {
            return Some(value);
        }
    }
    pairs.last().map(|&(value, _)| value)
}

/// A shortfall or a rise counts only beyond this many spreads of the network's own history, so noisy networks are judged
/// by their noise and a network too sparse to judge is not judged.
pub(crate) const SPREADS: f64 = 3.0;

/// How far a ratio of `attempts` must rise above its expected value to count: beyond the
/// history's spread, beyond the binomial noise of that many attempts, and beyond `floor`.
pub(crate) fn ratio_tolerance(expected: f64, spread: f64, attempts: i64, floor: f64) -> f64 {
    let attempts = attempts.max(1) as f64;
    let binomial = (expected.max(1.0 / attempts) / attempts).sqrt();
    (SPREADS * spread.max(binomial)).max(floor)
}

/// The windows judged of data from `first` to `last` (window starts) in `[from, to)`:
/// aligned to windows, never past the data's ends. `None` when empty.
pub(crate) fn judged_range(
    first: i64,
    last: i64,
    from: Option<i64>,
    to: Option<i64>,
) -> Option<(i64, i64)> {
    let align_up =
        |time: i64| time + (WINDOW_SECONDS - time.rem_euclid(WINDOW_SECONDS)) % WINDOW_SECONDS;
    let judge_from = from.map_or(first, align_up).max(first);
    let judge_to = to
        .map_or(last + WINDOW_SECONDS, align_up)
        .min(last + WINDOW_SECONDS);
    (judge_from < judge_to).then_some((judge_from, judge_to))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: usize = WINDOWS_PER_DAY;
    const WEEK: usize = WINDOWS_PER_WEEK;

    #[test]
    fn the_comparison_falls_back_as_history_gets_shorter() {
        // (window index, method, history days, candidate windows)
        let cases: &[(usize, Option<Method>, i32, usize)] = &[
            (0, None, 0, 0),
            (5, None, 0, 0),
            (6, Some(Method::RecentHour), 0, 6),
            (100, Some(Method::RecentHour), 0, 24),
            (DAY, Some(Method::SameTimeOfDay), 1, 2),
            (DAY + 5, Some(Method::SameTimeOfDay), 1, 3),
            (3 * DAY + 5, Some(Method::SameTimeOfDay), 3, 9),
            (WEEK + 5, Some(Method::SameTimeOfDay), 7, 21),
            (2 * WEEK + 5, Some(Method::SameTimeOfWeek), 14, 6),
            (9 * WEEK + 5, Some(Method::SameTimeOfWeek), 28, 12),
        ];
        for &(t, method, history_days, n_windows) in cases {
            let found = plan(t, |_| true);
            assert_eq!(found.as_ref().map(|plan| plan.method), method, "t = {t}");
            if let Some(found) = found {
                assert_eq!(found.history_days, history_days, "t = {t}");
                assert_eq!(found.windows.len(), n_windows, "t = {t}");
                assert!(found.windows.iter().all(|&window| window < t), "t = {t}");
            }
        }
    }

    #[test]
    fn the_history_a_window_needs_covers_every_plan() {
        // Whatever holds data, a plan's candidates are among the windows said to be needed.
        let t = 5 * WEEK + 17;
        let needed = history_window_starts(t as i64 * WINDOW_SECONDS);
        let patterns: [&dyn Fn(usize) -> bool; 4] = [
            &|_| true,
            &|window| window + 2 * DAY > t,
            &|window| window + 10 * DAY > t,
            &|window| window % 7 != 0,
        ];
        for present in patterns {
            let plan = plan(t, present).unwrap();
            for window in plan.windows {
                let start = window as i64 * WINDOW_SECONDS;
                assert!(needed.binary_search(&start).is_ok(), "{window}");
            }
        }
        // Four weeks, seven days (the seventh is the first week) and the last two hours.
        assert_eq!(needed.len(), 4 * 3 + 6 * 3 + 24);
        assert!(
            needed
                .iter()
                .all(|&start| start < t as i64 * WINDOW_SECONDS)
        );
    }

    #[test]
    fn weekly_candidates_are_the_same_time_of_week() {
        let t = 3 * WEEK + 100;
        let found = plan(t, |_| true).unwrap();
        for window in found.windows {
            let offset = (t - window) % WEEK;
            assert!(
                offset <= 1 || offset == WEEK - 1,
                "{window} is not {t} ± 1 a week earlier"
            );
        }
    }

    #[test]
    fn history_is_counted_by_the_windows_that_hold_data() {
        // Data from day 30 on, plus one stray window 29 days before it: on day 31 the
        // comparison is one day of the same time of day, as if the stray were not there.
        let start = 30 * DAY;
        let stray = DAY + 17;
        let present = |window: usize| window >= start || window == stray;
        let t = start + DAY + 17;
        let found = plan(t, present).unwrap();
        assert_eq!(found.method, Method::SameTimeOfDay);
        assert_eq!(found.history_days, 1);
        assert_eq!(found.windows.len(), 3);
        // Half an hour into the data, the last hour's trend; before that, nothing.
        assert_eq!(
            plan(start + 6, present).map(|plan| plan.method),
            Some(Method::RecentHour)
        );
        assert_eq!(plan(start + 5, present), None);
        // Two weeks of data and a stray four weeks back: the weekly comparison, over two weeks.
        let weekly = |window: usize| window >= 2 * WEEK || window == 17;
        let found = plan(4 * WEEK + 5, weekly).unwrap();
        assert_eq!(found.method, Method::SameTimeOfWeek);
        assert_eq!(found.history_days, 14);
    }

    #[test]
    fn robust_statistics_ignore_an_outlier() {
        let mut values = [10.0, 11.0, 9.0, 10.0, 0.0];
        let (center, spread) = median_and_spread(&mut values).unwrap();
        assert_eq!(center, 10.0);
        assert!((spread - 1.4826).abs() < 1e-9, "{spread}");
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [1.0, 3.0]), Some(2.0));

        // Half the weight is at 0.5: a global dip moves the weighted median, one network does not.
        let mut dip = [(0.5, 3.0), (0.5, 2.0), (1.0, 4.0)];
        assert_eq!(weighted_median(&mut dip), Some(0.5));
        let mut one_down = [(0.1, 2.0), (1.0, 3.0), (1.05, 4.0)];
        assert_eq!(weighted_median(&mut one_down), Some(1.0));
        assert_eq!(weighted_median(&mut []), None);
    }

    #[test]
    fn the_last_hour_follows_its_trend_and_other_methods_do_not() {
        // Falling by 10 a window, with one outlier: the trend projects to the next window.
        let mut points: Vec<(usize, f64)> = (0..12).map(|x| (x, 300.0 - 10.0 * x as f64)).collect();
        points[5].1 = 0.0;
        let (expected, spread) = expected_at(Method::RecentHour, &points, 12).unwrap();
        assert!((expected - 180.0).abs() < 1e-9, "{expected}");
        assert!(spread.abs() < 1e-9, "{spread}");
        let (level, _) = expected_at(Method::SameTimeOfDay, &points, 12).unwrap();
        assert!((level - 235.0).abs() < 1e-9, "{level}");
        assert_eq!(expected_at(Method::RecentHour, &points[..5], 12), None);
    }
}
