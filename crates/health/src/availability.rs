//! The availability half of the engine: flow-log rows only. Window by window, as if live,
//! the expected traffic of every city-network, its shortfall and connection ratios against
//! history, the demand scale, the availability scores, and the availability events.

use std::collections::BTreeSet;

use crate::baseline::{
    HISTORY_SECONDS, Plan, SPREADS, Timeline, expected_at, judged_range, median, ratio_tolerance,
    weighted_median,
};
use crate::event::{Events, ImpactType, LocationWindow, Signal};
use crate::observations::Counts;
use crate::resume::TrackerState;
use crate::{
    Assessment, Before, CityNetworkHealth, HealthConfig, Observations, OverallHealth, RatioEvidence,
};

/// A traffic shortfall counts as impact only beyond this share of the expected traffic, and
/// beyond [`SPREADS`] spreads of the network's own history (so noisy networks are judged by
/// their noise, and a network too sparse to judge is not judged).
const MIN_SHORTFALL: f64 = 0.25;
/// The largest share of the demand estimate one city-network can carry.
const MAX_DEMAND_WEIGHT: f64 = 0.05;
/// Relative noise of bytes against that of flow counts: flow sizes vary (a coefficient of
/// variation near 1.1 gives 1.5), so bytes wobble more than the number of flows.
const BYTES_NOISE_PER_FLOW_NOISE: f64 = 1.5;
/// A connection ratio counts as impact only this far (absolute) above its baseline ...
const MIN_RATIO_EXCESS: f64 = 0.05;
/// ... with at least this many attempts (or flows) in the window ...
const MIN_RATIO_EVENTS: i64 = 20;
/// ... and past windows count toward its baseline with at least this many.
const MIN_RATIO_HISTORY_EVENTS: i64 = 5;

/// A connection ratio's (failed, attempts) in a window.
type RatioOf = fn(&Counts) -> (i64, i64);

/// The connection ratios: which counts, which signal.
const RATIOS: [(Signal, RatioOf); 4] = [
    (Signal::UnansweredOut, |counts| {
        ((counts.syn_out - counts.synack_in).max(0), counts.syn_out)
    }),
    (Signal::UnansweredIn, |counts| {
        ((counts.syn_in - counts.synack_out).max(0), counts.syn_in)
    }),
    (Signal::Reset, |counts| (counts.rst, counts.flows)),
    (Signal::Rejected, |counts| (counts.rejected, counts.flows)),
];

/// Copies of the observations over the windows that hold data in the history span and the
/// judged range. Gaps cost nothing, so a record years away from the rest (a clock glitch) adds
/// one window, not years of them. A window without any record is not judged: for the whole
/// service to send nothing at all is a gap in the logs (and where it is not, the windows around
/// it still hold the connection attempts that went unanswered), and judging the windows after
/// the newest data would take logs still on their way, or a stray record from the future, for
/// an outage.
struct Grid {
    /// The windows held.
    timeline: Timeline,
    counts: Vec<Counts>,
    prefix_bytes: Vec<i64>,
    /// City-network × window judged impacted: left out of later baselines.
    impacted: Vec<bool>,
    /// Each assessed window's demand scale (1 where none was found or before the range):
    /// history is divided by it, so a global dip in a past window is not taken for the
    /// network's usual level.
    demand: Vec<f64>,
    prefixes_of: Vec<Vec<usize>>,
}

impl Grid {
    /// The grid over the data windows `data`.
    fn new(observations: &Observations, data: &BTreeSet<i64>) -> Grid {
        let timeline = Timeline::new(data.iter().copied().collect());
        let n_windows = timeline.len();
        let index_of = |window: i64| timeline.starts.binary_search(&window).ok();
        let n_city_networks = observations.city_networks.len();
        let mut counts = vec![Counts::default(); n_city_networks * n_windows];
        for (&(city_network, window), cell) in &observations.cells {
            if let Some(index) = index_of(window) {
                counts[city_network * n_windows + index] = *cell;
            }
        }
        let mut prefix_bytes = vec![0; observations.prefixes.len() * n_windows];
        for (&(prefix, window), &bytes) in &observations.prefix_bytes {
            if let Some(index) = index_of(window) {
                prefix_bytes[prefix * n_windows + index] = bytes;
            }
        }
        let mut prefixes_of = vec![Vec::new(); n_city_networks];
        for (prefix, &(_, owner)) in observations.prefixes.iter().enumerate() {
            prefixes_of[owner].push(prefix);
        }
        Grid {
            timeline,
            counts,
            prefix_bytes,
            impacted: vec![false; n_city_networks * n_windows],
            demand: vec![1.0; n_windows],
            prefixes_of,
        }
    }

    fn n_windows(&self) -> usize {
        self.timeline.len()
    }

    fn at(&self, city_network: usize, window: usize) -> usize {
        city_network * self.n_windows() + window
    }

    fn counts(&self, city_network: usize, window: usize) -> &Counts {
        &self.counts[self.at(city_network, window)]
    }

    /// Expected value and spread of one measure of a city-network at the window at index
    /// `now`, from its clean candidate windows (impacted ones are left out). `value_at` takes a
    /// window index; the trend runs over window numbers, so gaps keep their width.
    fn history(
        &self,
        city_network: usize,
        plan: &Plan,
        now: usize,
        value_at: impl Fn(usize) -> Option<f64>,
    ) -> Option<(f64, f64)> {
        let points = self.timeline.points(
            plan,
            |window| !self.impacted[self.at(city_network, window)],
            value_at,
        );
        expected_at(plan.method, &points, self.timeline.number(now))
    }

    /// A city-network's expectation at window `now` at usual demand, before the demand scale.
    fn expectation(&self, city_network: usize, plan: &Plan, now: usize) -> Option<Expected> {
        let of = |measure: fn(&Counts) -> i64| {
            self.history(city_network, plan, now, |past| {
                Some(measure(self.counts(city_network, past)) as f64 / self.demand[past])
            })
        };
        let (bytes, spread) = of(|counts| counts.bytes)?;
        let (flows, _) = of(|counts| counts.flows)?;
        Some(Expected {
            bytes,
            relative_spread: spread / bytes.max(1.0),
            flows,
        })
    }
}

/// What a city-network was expected to carry in a window.
#[derive(Clone, Copy, Debug)]
struct Expected {
    bytes: f64,
    /// Spread of the history, relative to `bytes`.
    relative_spread: f64,
    /// Flows, for the counting noise.
    flows: f64,
}

impl Expected {
    fn scaled(self, scale: f64) -> Expected {
        Expected {
            bytes: self.bytes * scale,
            flows: self.flows * scale,
            ..self
        }
    }
}

/// The share of the expected traffic missing, when it is beyond noise: `Some(0..=1)` judged,
/// `None` when the history is too noisy to judge. Noise is the larger of the history's own
/// spread and the counting noise of the flows expected (a network expected to send 9 flows
/// can lose a third of them by chance), widened because flow sizes vary.
fn shortfall(observed: f64, expected: Expected) -> Option<f64> {
    let counting_noise = BYTES_NOISE_PER_FLOW_NOISE / expected.flows.max(1.0).sqrt();
    let tolerance = (SPREADS * expected.relative_spread.max(counting_noise)).max(MIN_SHORTFALL);
    if expected.bytes <= 0.0 || tolerance >= 1.0 {
        return None;
    }
    let missing = ((expected.bytes - observed) / expected.bytes).clamp(0.0, 1.0);
    Some(if missing > tolerance { missing } else { 0.0 })
}

/// Demand now against history over all networks by weight: a global dip moves it, an outage of
/// less than half the traffic does not. No network weighs more than [`MAX_DEMAND_WEIGHT`] of
/// the total, so one big network's outage is never read as demand.
fn demand_scale(grid: &Grid, window: usize, raw: &[Option<Expected>]) -> Option<f64> {
    let total: f64 = raw.iter().flatten().map(|expected| expected.bytes).sum();
    let mut ratios: Vec<(f64, f64)> = raw
        .iter()
        .enumerate()
        .filter_map(|(city_network, expected)| {
            let expected = (*expected)?;
            let observed = grid.counts(city_network, window).bytes as f64;
            (expected.bytes > 0.0).then_some((
                observed / expected.bytes,
                expected.bytes.min(MAX_DEMAND_WEIGHT * total),
            ))
        })
        .collect();
    weighted_median(&mut ratios)
}

/// One city-network in one window: where it stands on every signal, and its impact (the
/// largest signal's, as a fraction of its expected traffic) with the signal that set it.
fn judge(
    grid: &Grid,
    city_network: usize,
    window: usize,
    plan: Option<&Plan>,
    expected: Option<Expected>,
) -> (Option<f64>, Option<Signal>, [RatioEvidence; 4]) {
    let counts = grid.counts(city_network, window);
    let mut judged = false;
    let mut impact: (f64, Option<Signal>) = (0.0, None);
    if let Some(missing) = expected.and_then(|expected| shortfall(counts.bytes as f64, expected)) {
        judged = true;
        if missing > 0.0 {
            impact = (missing, Some(Signal::Traffic));
        }
    }
    let mut evidence = [RatioEvidence::default(); 4];
    for (slot, (signal, ratio_of)) in RATIOS.iter().enumerate() {
        let (failed, attempts) = ratio_of(counts);
        let observed = (attempts >= MIN_RATIO_EVENTS).then(|| failed as f64 / attempts as f64);
        let expected = plan.and_then(|plan| {
            grid.history(city_network, plan, window, |past| {
                let (failed, attempts) = ratio_of(grid.counts(city_network, past));
                (attempts >= MIN_RATIO_HISTORY_EVENTS).then(|| failed as f64 / attempts as f64)
            })
        });
        evidence[slot] = RatioEvidence {
            observed_percent: observed.map(|ratio| ratio * 100.0),
            expected_percent: expected.map(|(ratio, _)| ratio * 100.0),
        };
        let (Some(observed), Some((expected, spread))) = (observed, expected) else {
            continue;
        };
        judged = true;
        let excess = observed - expected;
        if excess > ratio_tolerance(expected, spread, attempts, MIN_RATIO_EXCESS)
            && excess > impact.0
        {
            impact = (excess.min(1.0), Some(*signal));
        }
    }
    (judged.then_some(impact.0), impact.1, evidence)
}

/// The client prefixes of an impacted city-network whose own traffic fell short, with the
/// bytes each is missing.
fn prefix_shortfalls(
    grid: &Grid,
    names: &[(String, usize)],
    city_network: usize,
    window: usize,
    plan: &Plan,
    scale: f64,
    owner: Expected,
) -> Vec<(String, f64)> {
    grid.prefixes_of[city_network]
        .iter()
        .filter_map(|&prefix| {
            let bytes_at =
                |window: usize| grid.prefix_bytes[prefix * grid.n_windows() + window] as f64;
            let (median, spread) = grid.history(city_network, plan, window, |past| {
                Some(bytes_at(past) / grid.demand[past])
            })?;
            let bytes = median * scale;
            let expected = Expected {
                bytes,
                relative_spread: spread / median.max(1.0),
                // The prefix's flows, by its share of the city-network's bytes.
                flows: owner.flows * bytes / owner.bytes.max(1.0),
            };
            let missing = shortfall(bytes_at(window), expected)?;
            (missing > 0.0).then(|| (names[prefix].0.clone(), missing * bytes))
        })
        .collect()
}

/// The availability half: flow-log rows only.
pub(crate) fn assess_availability(
    observations: &Observations,
    config: &HealthConfig,
    from: Option<i64>,
    to: Option<i64>,
    before: Before<'_>,
) -> (Assessment, Vec<TrackerState>) {
    let Some((first_data, last_data)) = observations.window_range() else {
        return (Assessment::default(), before.carry.availability.clone());
    };
    let Some((judge_from, judge_to)) = judged_range(first_data, last_data, from, to) else {
        return (Assessment::default(), before.carry.availability.clone());
    };
    // History reaches back a bounded span from the first judged window, whatever the data holds.
    let history_from = judge_from.saturating_sub(HISTORY_SECONDS);
    let data: BTreeSet<i64> = observations
        .cells
        .keys()
        .map(|&(_, window)| window)
        .filter(|window| (history_from..judge_to).contains(window))
        .collect();
    let judged: Vec<i64> = data.range(judge_from..judge_to).copied().collect();
    let mut grid = Grid::new(observations, &data);
    for (window, start) in grid.timeline.starts.iter().enumerate() {
        if *start < judge_from
            && let Some(&demand) = before.earlier.demand.get(start)
        {
            grid.demand[window] = demand;
        }
    }
    for (city_network, window) in
        observations.earlier_cells(&before.earlier.impacted, &grid.timeline.starts, judge_from)
    {
        let index = grid.at(city_network, window);
        grid.impacted[index] = true;
    }
    let city_networks = &observations.city_networks;
    let n_city_networks = city_networks.len();
    let mut assessment = Assessment::default();
    let mut events = Events::new(
        ImpactType::Availability,
        config.availability_score_threshold,
        ImpactType::LocalAvailability,
        &config.local,
        n_city_networks,
    );
    events.resume(&before.carry.availability, |city_network| {
        observations.index_of(city_network)
    });

    for window_start in judged {
        let Ok(window) = grid.timeline.starts.binary_search(&window_start) else {
            continue;
        };
        let plan = grid.timeline.plan(window);
        let raw: Vec<Option<Expected>> = (0..n_city_networks)
            .map(|city_network| grid.expectation(city_network, plan.as_ref()?, window))
            .collect();
        let scale = demand_scale(&grid, window, &raw);
        grid.demand[window] = scale.filter(|&scale| scale > 0.0).unwrap_or(1.0);
        // The scale is relative to history that was itself divided by its windows' scales, so
        // its level drifts from window to window (the expectations, scale × history, do not).
        // Reported against the scales of the windows compared with, it reads 1 when demand is
        // as usual and 0.5 in a global dip of half.
        let reported_scale = scale.map(|scale| {
            let mut past: Vec<f64> = plan
                .iter()
                .flat_map(|plan| &plan.windows)
                .filter_map(|&number| grid.timeline.index_of_number(number))
                .map(|index| grid.demand[index])
                .collect();
            scale / median(&mut past).unwrap_or(1.0)
        });
        let mut rows = Vec::new();
        let mut impacted = Vec::new();
        let mut expected_total = 0.0;
        let mut bytes_in: i64 = 0;
        for (city_network, raw) in raw.into_iter().enumerate() {
            let observed = grid.counts(city_network, window).bytes;
            bytes_in = bytes_in.saturating_add(grid.counts(city_network, window).bytes_in);
            let expected = raw.zip(scale).map(|(raw, scale)| raw.scaled(scale));
            expected_total += expected.map_or(observed as f64, |expected| expected.bytes);
            if observed == 0 && expected.is_none_or(|expected| expected.bytes <= 0.0) {
                continue;
            }
            let (impact, signal, [unanswered_out, unanswered_in, reset, rejected]) =
                judge(&grid, city_network, window, plan.as_ref(), expected);
            if impact.is_some_and(|impact| impact > 0.0) {
                let index = grid.at(city_network, window);
                grid.impacted[index] = true;
                let prefixes = match (plan.as_ref(), scale, expected) {
                    (Some(plan), Some(scale), Some(expected)) => prefix_shortfalls(
                        &grid,
                        &observations.prefixes,
                        city_network,
                        window,
                        plan,
                        scale,
                        expected,
                    ),
                    _ => Vec::new(),
                };
                impacted.push(LocationWindow {
                    city_network,
                    expected_bytes: expected.map_or(observed as f64, |expected| expected.bytes),
                    observed_bytes: observed as f64,
                    percent_of_client_location_impacted: 100.0 * impact.unwrap_or(0.0),
                    percent_of_total_traffic_impacted: 0.0,
                    signals: signal.into_iter().collect(),
                    prefixes,
                    performance: None,
                });
            }
            rows.push(CityNetworkHealth {
                window_start,
                city_network: city_networks[city_network].clone(),
                observed_bytes: observed,
                expected_bytes: expected.map(|expected| expected.bytes.round() as i64),
                baseline: expected.and(plan.as_ref()).map(|plan| plan.method),
                history_days: expected
                    .and(plan.as_ref())
                    .map_or(0, |plan| plan.history_days),
                demand_scale: expected.and(reported_scale),
                window_demand: Some(grid.demand[window]),
                availability_score: impact.map(|impact| 100.0 * (1.0 - impact)),
                performance_score: None,
                percent_of_client_location_impacted: impact.map(|impact| 100.0 * impact),
                percent_of_total_traffic_impacted: None,
                percent_of_total_traffic: 0.0,
                unanswered_out,
                unanswered_in,
                reset,
                rejected,
                impact_signal: signal,
                performance: None,
            });
        }

        // Shares of all traffic: of what was expected, so an outage does not shrink its own
        // denominator.
        let share = |bytes: f64| {
            if expected_total > 0.0 {
                100.0 * bytes / expected_total
            } else {
                0.0
            }
        };
        let observed_total: i64 = rows.iter().map(|row| row.observed_bytes).sum();
        for row in &mut rows {
            row.percent_of_total_traffic =
                100.0 * row.observed_bytes as f64 / observed_total.max(1) as f64;
            let expected = row.expected_bytes.unwrap_or(row.observed_bytes) as f64;
            row.percent_of_total_traffic_impacted = row
                .percent_of_client_location_impacted
                .map(|local| share(local / 100.0 * expected));
        }
        let mut impacted_bytes = 0.0;
        for location in &mut impacted {
            let bytes =
                location.percent_of_client_location_impacted / 100.0 * location.expected_bytes;
            impacted_bytes += bytes;
            location.percent_of_total_traffic_impacted = share(bytes);
        }
        let total_impact = share(impacted_bytes);
        let overall_score = scale.map(|_| 100.0 - total_impact);
        events.step(
            window_start,
            overall_score.map(|score| (score, total_impact)),
            &impacted,
            city_networks,
        );
        assessment.overall.push(OverallHealth {
            window_start,
            availability_score: overall_score,
            performance_score: None,
            observed_bytes: observed_total,
            expected_bytes: expected_total.round() as i64,
            bytes_in: Some(bytes_in),
            bytes_out: Some(observed_total.saturating_sub(bytes_in)),
            round_trip_time: None,
            connections: None,
            active_events: events.active(),
        });
        assessment.city_networks.extend(rows);
    }
    let carry = events.carry(city_networks);
    assessment.events = events.finish(city_networks);
    (assessment, carry)
}
