//! The engine: window by window, as if live, the expected value of every city-network, its
//! impact per signal, the availability scores, and the events; then the performance pass
//! (`performance.rs`) merged in.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use flowatlas_rollup::{RttSource, WINDOW_SECONDS};

use crate::baseline::{
    HISTORY_SECONDS, Method, Plan, Timeline, expected_at, median, weighted_median,
};
use crate::event::{ImpactType, LocationWindow, Signal, Tracker, WindowEvidence};
use crate::observations::Counts;
use crate::performance::{PerformanceAssessment, assess_performance};
use crate::{
    CityNetwork, HealthConfig, HealthEvent, LocalConfig, Observations, PerformanceHealth,
    RoundTripTime,
};

/// A traffic shortfall counts as impact only beyond this share of the expected traffic ...
const MIN_SHORTFALL: f64 = 0.25;
/// ... and beyond this many spreads of the network's own history, so noisy networks are judged
/// by their noise and a network too sparse to judge is not judged.
const SPREADS: f64 = 3.0;
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

/// A share (percent) observed in a window and what its history expected.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RatioEvidence {
    /// Observed, percent; `None` with too few attempts to say.
    pub observed_percent: Option<f64>,
    /// Expected from history, percent; `None` without enough history.
    pub expected_percent: Option<f64>,
}

/// One window × city-network: a row of the `city_network_health` table.
#[derive(Clone, Debug, PartialEq)]
pub struct CityNetworkHealth {
    /// Start of the window, Unix seconds.
    pub window_start: i64,
    /// Whose health this is: its identity and attributes.
    pub city_network: Arc<CityNetwork>,
    /// Bytes in + out observed.
    pub observed_bytes: i64,
    /// Bytes expected; `None` without enough history.
    pub expected_bytes: Option<i64>,
    /// How the expected value was found.
    pub baseline: Option<Method>,
    /// Days of history behind it (0 for the last-hour fallback).
    pub history_days: i32,
    /// The service's demand now against its history (1 = usual), which scaled the expectation.
    pub demand_scale: Option<f64>,
    /// Share of its expected traffic not impacted, 0–100; `None` when nothing could be judged.
    pub availability_score: Option<f64>,
    /// Share of its measured traffic not degraded, 0–100 (see [`PerformanceHealth`]); `None`
    /// where no round-trip times were measured or there is no history of them to judge by.
    pub performance_score: Option<f64>,
    /// Share of its own expected traffic impacted, percent.
    pub percent_of_client_location_impacted: Option<f64>,
    /// Its impacted traffic as a share of all traffic, percent.
    pub percent_of_total_traffic_impacted: Option<f64>,
    /// Its observed traffic as a share of all observed traffic, percent.
    pub percent_of_total_traffic: f64,
    /// Our connection attempts left unanswered.
    pub unanswered_out: RatioEvidence,
    /// The clients' connection attempts left unanswered.
    pub unanswered_in: RatioEvidence,
    /// Flows with a reset.
    pub reset: RatioEvidence,
    /// Rejected flows.
    pub rejected: RatioEvidence,
    /// The signal that set the impact, when there is one.
    pub impact_signal: Option<Signal>,
    /// Round-trip times and retransmissions, where the performance tables measured any.
    pub performance: Option<PerformanceHealth>,
}

impl CityNetworkHealth {
    /// A row with nothing observed or judged yet: what the performance pass starts from for a
    /// city-network with round-trip times but no flow-log traffic in the window.
    pub(crate) fn unjudged(window_start: i64, city_network: Arc<CityNetwork>) -> CityNetworkHealth {
        CityNetworkHealth {
            window_start,
            city_network,
            observed_bytes: 0,
            expected_bytes: None,
            baseline: None,
            history_days: 0,
            demand_scale: None,
            availability_score: None,
            performance_score: None,
            percent_of_client_location_impacted: None,
            percent_of_total_traffic_impacted: None,
            percent_of_total_traffic: 0.0,
            unanswered_out: RatioEvidence::default(),
            unanswered_in: RatioEvidence::default(),
            reset: RatioEvidence::default(),
            rejected: RatioEvidence::default(),
            impact_signal: None,
            performance: None,
        }
    }
}

/// One window, all traffic: what CloudWatch alarms watch.
#[derive(Clone, Debug, PartialEq)]
pub struct OverallHealth {
    /// Start of the window, Unix seconds.
    pub window_start: i64,
    /// 100 − the share of all traffic impacted; `None` before any history exists.
    pub availability_score: Option<f64>,
    /// 100 − the share of all measured traffic degraded; `None` where no round-trip times
    /// were measured or none could be judged.
    pub performance_score: Option<f64>,
    /// Bytes seen in the window, both directions.
    pub observed_bytes: i64,
    /// Bytes expected (observed where a city-network has no expectation).
    pub expected_bytes: i64,
    /// Of the bytes seen, those from the clients; `None` in a window without flow-log rows
    /// (round-trip times only), never a made-up 0.
    pub bytes_in: Option<i64>,
    /// Of the bytes seen, those to the clients; `None` like `bytes_in`.
    pub bytes_out: Option<i64>,
    /// Percentiles of all measured traffic of one RTT source (the agents' where they measured,
    /// else the load balancers'; never both); `None` without round-trip times.
    pub round_trip_time: Option<(RttSource, RoundTripTime)>,
    /// Connections the agents saw open at the window's last poll and connections first seen in
    /// the window, summed over hosts and city-networks; `None` where no agent measured.
    pub connections: Option<Connections>,
    /// Events active after this window.
    pub active_events: i64,
}

/// The agents' connection counts of one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connections {
    /// Open at the window's last poll (Internet Monitor's "active connections").
    pub open: i64,
    /// First seen in the window.
    pub new: i64,
}

/// What an assessment found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Assessment {
    /// One row per window × city-network with traffic observed or expected.
    pub city_networks: Vec<CityNetworkHealth>,
    /// One row per window.
    pub overall: Vec<OverallHealth>,
    /// Events raised in the range, by start; resolved ones have `ended_at`.
    pub events: Vec<HealthEvent>,
}

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

/// How far a ratio of `attempts` must rise above its expected value to count: beyond the
/// history's spread, beyond the binomial noise of that many attempts, and beyond `floor`.
pub(crate) fn ratio_tolerance(expected: f64, spread: f64, attempts: i64, floor: f64) -> f64 {
    let attempts = attempts.max(1) as f64;
    let binomial = (expected.max(1.0 / attempts) / attempts).sqrt();
    (SPREADS * spread.max(binomial)).max(floor)
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

/// The event streams of one kind of health (availability or performance): the overall
/// score's and one per city-network that was ever locally impacted.
pub(crate) struct Events<'c> {
    overall_threshold: f64,
    local_type: ImpactType,
    local_config: &'c LocalConfig,
    overall: Tracker,
    local: Vec<Option<Tracker>>,
    found: Vec<HealthEvent>,
}

impl<'c> Events<'c> {
    pub(crate) fn new(
        overall_type: ImpactType,
        overall_threshold: f64,
        local_type: ImpactType,
        local_config: &'c LocalConfig,
        n_city_networks: usize,
    ) -> Events<'c> {
        Events {
            overall_threshold,
            local_type,
            local_config,
            overall: Tracker::new(overall_type, overall_threshold, "all".to_string()),
            local: (0..n_city_networks).map(|_| None).collect(),
            found: Vec::new(),
        }
    }

    /// Internet Monitor's local condition: the score at or below the local threshold, with
    /// enough of all traffic.
    fn is_local(&self, location: &LocationWindow) -> bool {
        self.local_config.enabled
            && 100.0 - location.percent_of_client_location_impacted
                <= self.local_config.health_score_threshold
            && location.percent_of_total_traffic_impacted
                >= self.local_config.min_traffic_impact_percent
    }

    pub(crate) fn step(
        &mut self,
        window_start: i64,
        overall: Option<(f64, f64)>,
        locations: &[LocationWindow],
        city_networks: &[Arc<CityNetwork>],
    ) {
        let all: Vec<&LocationWindow> = locations.iter().collect();
        let overall_evidence = overall
            .filter(|&(score, _)| score <= self.overall_threshold)
            .map(|(score, total_impact)| WindowEvidence {
                window_start,
                percent_of_total_traffic_impacted: total_impact,
                score,
                locations: &all,
            });
        self.found.extend(self.overall.step(
            window_start,
            overall_evidence.as_ref(),
            city_networks,
        ));
        let mut local_now: Vec<Option<&LocationWindow>> = vec![None; self.local.len()];
        let local: Vec<&LocationWindow> = locations
            .iter()
            .filter(|location| self.is_local(location))
            .collect();
        for location in local {
            local_now[location.city_network] = Some(location);
            self.local[location.city_network].get_or_insert_with(|| {
                Tracker::new(
                    self.local_type,
                    self.local_config.health_score_threshold,
                    place_of(&city_networks[location.city_network]),
                )
            });
        }
        for (tracker, location) in self.local.iter_mut().zip(local_now) {
            let Some(tracker) = tracker else {
                continue;
            };
            let locations = location.as_slice();
            let evidence = location.map(|location| WindowEvidence {
                window_start,
                percent_of_total_traffic_impacted: location.percent_of_total_traffic_impacted,
                score: 100.0 - location.percent_of_client_location_impacted,
                locations,
            });
            self.found
                .extend(tracker.step(window_start, evidence.as_ref(), city_networks));
        }
    }

    pub(crate) fn active(&self) -> i64 {
        let local = self.local.iter().flatten();
        i64::from(self.overall.is_active())
            + local.filter(|tracker| tracker.is_active()).count() as i64
    }

    /// Every event, the unresolved ones as active, by start.
    pub(crate) fn finish(self, city_networks: &[Arc<CityNetwork>]) -> Vec<HealthEvent> {
        let mut events = self.found;
        events.extend(self.overall.finish(city_networks));
        for tracker in self.local.into_iter().flatten() {
            events.extend(tracker.finish(city_networks));
        }
        sort_events(&mut events);
        events
    }
}

/// Assesses the windows in `[from, to)` (Unix seconds; the whole data when `None`), using
/// everything before as history. Deterministic: the same observations give the same answer.
pub fn assess(
    observations: &mut Observations,
    config: &HealthConfig,
    from: Option<i64>,
    to: Option<i64>,
) -> Assessment {
    observations.settle_prefixes();
    let mut assessment = assess_availability(observations, config, from, to);
    merge_performance(
        &mut assessment,
        assess_performance(observations, config, from, to),
        observations,
    );
    assessment
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

/// Puts the performance pass's rows, scores and events into an availability assessment: onto
/// the row of the same window and city-network, or a row of its own where flow logs saw
/// nothing (availability fields empty); windows only performance measured get an overall row
/// without an availability score.
fn merge_performance(
    assessment: &mut Assessment,
    performance: PerformanceAssessment,
    observations: &Observations,
) {
    if performance.rows.is_empty() && performance.events.is_empty() {
        return;
    }
    let mut row_of: HashMap<(i64, *const CityNetwork), usize> = assessment
        .city_networks
        .iter()
        .enumerate()
        .map(|(index, row)| ((row.window_start, Arc::as_ptr(&row.city_network)), index))
        .collect();
    for (window_start, city_network, health) in performance.rows {
        let shared = &observations.city_networks[city_network];
        let index = *row_of
            .entry((window_start, Arc::as_ptr(shared)))
            .or_insert_with(|| {
                assessment
                    .city_networks
                    .push(CityNetworkHealth::unjudged(window_start, shared.clone()));
                assessment.city_networks.len() - 1
            });
        let row = &mut assessment.city_networks[index];
        row.performance_score = health.score();
        row.performance = Some(health);
    }
    // Stable: availability's order within a window stays.
    assessment.city_networks.sort_by_key(|row| row.window_start);
    let overall_of: HashMap<i64, usize> = assessment
        .overall
        .iter()
        .enumerate()
        .map(|(index, overall)| (overall.window_start, index))
        .collect();
    for window in performance.overall {
        match overall_of.get(&window.window_start) {
            Some(&index) => {
                let overall = &mut assessment.overall[index];
                overall.performance_score = window.score;
                overall.round_trip_time = window.round_trip_time;
                overall.connections = window.connections;
                overall.active_events += window.active_events;
            }
            None => assessment.overall.push(OverallHealth {
                window_start: window.window_start,
                availability_score: None,
                performance_score: window.score,
                observed_bytes: 0,
                expected_bytes: 0,
                bytes_in: None,
                bytes_out: None,
                round_trip_time: window.round_trip_time,
                connections: window.connections,
                active_events: window.active_events,
            }),
        }
    }
    assessment
        .overall
        .sort_by_key(|overall| overall.window_start);
    assessment.events.extend(performance.events);
    sort_events(&mut assessment.events);
}

/// Events by start, then impact type and id.
fn sort_events(events: &mut [HealthEvent]) {
    events.sort_by(|a, b| {
        (a.started_at, a.impact_type, &a.event_id).cmp(&(b.started_at, b.impact_type, &b.event_id))
    });
}

/// The availability half: flow-log rows only.
fn assess_availability(
    observations: &Observations,
    config: &HealthConfig,
    from: Option<i64>,
    to: Option<i64>,
) -> Assessment {
    let Some((first_data, last_data)) = observations.window_range() else {
        return Assessment::default();
    };
    let Some((judge_from, judge_to)) = judged_range(first_data, last_data, from, to) else {
        return Assessment::default();
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
    assessment.events = events.finish(city_networks);
    assessment
}

/// A city-network as an event-id part, in Internet Monitor's order (Region, ASN, country,
/// subdivision, city): `us-east-1_64499_GB_ENG_London`, characters outside `[A-Za-z0-9._-]`
/// replaced.
fn place_of(city_network: &CityNetwork) -> String {
    let client = &city_network.client;
    let parts = [
        city_network.region.as_deref().map(str::to_string),
        client.asn.map(|asn| asn.to_string()),
        client.country_code.as_deref().map(str::to_string),
        client.subdivision_code.as_deref().map(str::to_string),
        client.city.as_deref().map(str::to_string),
    ];
    parts
        .into_iter()
        .map(|part| part.unwrap_or_else(|| "unknown".to_string()))
        .collect::<Vec<_>>()
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use flowatlas_geo::Facts;
    use flowatlas_rollup::{CityNetworkRow, Measures, ServiceLocation};

    use super::*;

    const START: i64 = 1_780_272_000;
    const DAY: usize = 288;
    /// The change under test covers these windows, on the third day.
    const CHANGE: std::ops::Range<usize> = 2 * DAY + 100..2 * DAY + 106;
    const NETWORKS: [u32; 5] = [64496, 64497, 64498, 64499, 64500];
    const VICTIM: u32 = 64496;

    /// Two days and a bit of five equal networks with a small deterministic wobble, changed by
    /// `change` (network, measures) in the `CHANGE` windows.
    fn observations(change: fn(u32, &mut Measures)) -> Observations {
        let mut rows = Vec::new();
        for window in 0..2 * DAY + 120 {
            for (position, &asn) in NETWORKS.iter().enumerate() {
                let wobble = 1.0 + 0.02 * (((window * 7 + position * 3) % 5) as f64 - 2.0);
                let flows = (2000.0 * wobble) as i64;
                let mut measures = Measures {
                    bytes_in: flows * 2_000,
                    bytes_out: flows * 8_000,
                    flows,
                    accepted_flows: flows - flows / 100,
                    rejected_flows: flows / 100,
                    tcp_syn_in: flows,
                    tcp_synack_out: flows,
                    tcp_syn_out: flows / 10,
                    tcp_synack_in: flows / 10,
                    tcp_rst_in: flows / 200,
                    ..Measures::default()
                };
                if CHANGE.contains(&window) {
                    change(asn, &mut measures);
                }
                rows.push(CityNetworkRow {
                    window_start: START + window as i64 * WINDOW_SECONDS,
                    location: ServiceLocation::default(),
                    client: Facts {
                        asn: Some(asn),
                        city: Some(Arc::from("Springfield")),
                        ..Facts::default()
                    },
                    measures,
                    client_ips: 10,
                });
            }
        }
        let mut observations = Observations::new();
        observations.add_city_networks(&rows);
        observations
    }

    fn scale(measures: &mut Measures, factor: f64) {
        let times = |value: i64| (value as f64 * factor) as i64;
        measures.bytes_in = times(measures.bytes_in);
        measures.bytes_out = times(measures.bytes_out);
        measures.flows = times(measures.flows);
        measures.tcp_syn_in = times(measures.tcp_syn_in);
        measures.tcp_synack_out = times(measures.tcp_synack_out);
        measures.tcp_syn_out = times(measures.tcp_syn_out);
        measures.tcp_synack_in = times(measures.tcp_synack_in);
    }

    struct Case {
        name: &'static str,
        change: fn(u32, &mut Measures),
        /// The victim's signal and score (± 5) in the change's windows.
        victim: Option<(Signal, f64)>,
        /// Impact types raised.
        events: &'static [ImpactType],
    }

    #[test]
    fn each_signal_against_its_baseline() {
        let cases = [
            Case {
                name: "nothing happens",
                change: |_, _| {},
                victim: None,
                events: &[],
            },
            Case {
                name: "the victim loses 90% of its traffic",
                change: |asn, measures| {
                    if asn == VICTIM {
                        scale(measures, 0.1)
                    }
                },
                victim: Some((Signal::Traffic, 10.0)),
                events: &[ImpactType::Availability, ImpactType::LocalAvailability],
            },
            Case {
                name: "a global dip halves every network",
                change: |_, measures| scale(measures, 0.5),
                victim: None,
                events: &[],
            },
            Case {
                name: "a 15% drop is within the noise floor",
                change: |asn, measures| {
                    if asn == VICTIM {
                        scale(measures, 0.85)
                    }
                },
                victim: None,
                events: &[],
            },
            Case {
                name: "half the victim's flows are reset, traffic unchanged",
                change: |asn, measures| {
                    if asn == VICTIM {
                        measures.tcp_rst_in = measures.flows / 2;
                    }
                },
                victim: Some((Signal::Reset, 50.0)),
                events: &[ImpactType::Availability, ImpactType::LocalAvailability],
            },
            Case {
                name: "the victim stops answering our connection attempts",
                change: |asn, measures| {
                    if asn == VICTIM {
                        measures.tcp_synack_in = 0;
                    }
                },
                victim: Some((Signal::UnansweredOut, 0.0)),
                events: &[ImpactType::Availability, ImpactType::LocalAvailability],
            },
        ];
        for case in cases {
            let assessment = assess(
                &mut observations(case.change),
                &HealthConfig::default(),
                None,
                None,
            );
            let during = START + (CHANGE.start as i64 + 2) * WINDOW_SECONDS;
            let row = assessment
                .city_networks
                .iter()
                .find(|row| {
                    row.window_start == during && row.city_network.client.asn == Some(VICTIM)
                })
                .unwrap();
            assert_eq!(row.baseline, Some(Method::SameTimeOfDay), "{}", case.name);
            assert_eq!(row.history_days, 2, "{}", case.name);
            // Demand reads against usual: halved in the global dip, as usual otherwise.
            let usual = if case.name.starts_with("a global dip") {
                0.5
            } else {
                1.0
            };
            let demand = row.demand_scale.unwrap();
            assert!((demand - usual).abs() < 0.05, "{}: {demand}", case.name);
            match case.victim {
                Some((signal, score)) => {
                    assert_eq!(row.impact_signal, Some(signal), "{}", case.name);
                    let found = row.availability_score.unwrap();
                    assert!((found - score).abs() <= 5.0, "{}: score {found}", case.name);
                }
                None => {
                    assert_eq!(row.impact_signal, None, "{}", case.name);
                    assert_eq!(row.availability_score, Some(100.0), "{}", case.name);
                }
            }
            let mut raised: Vec<ImpactType> = assessment
                .events
                .iter()
                .map(|event| event.impact_type)
                .collect();
            raised.dedup();
            assert_eq!(raised, case.events, "{}", case.name);
            for event in &assessment.events {
                let start = START + CHANGE.start as i64 * WINDOW_SECONDS;
                assert_eq!(event.started_at, start, "{}", case.name);
                assert_eq!(
                    event.detected_at,
                    start + 2 * WINDOW_SECONDS,
                    "{}",
                    case.name
                );
                assert_eq!(
                    event.ended_at,
                    Some(START + CHANGE.end as i64 * WINDOW_SECONDS),
                    "{}",
                    case.name
                );
                assert_eq!(event.asns(), [VICTIM], "{}", case.name);
            }
        }
    }

    #[test]
    fn stray_windows_far_from_the_data_change_nothing() {
        let outage = |asn: u32, measures: &mut Measures| {
            if asn == VICTIM {
                scale(measures, 0.1)
            }
        };
        let clean = assess(
            &mut observations(outage),
            &HealthConfig::default(),
            None,
            None,
        );
        let mut strays = observations(outage);
        let stray = |window_start: i64| CityNetworkRow {
            window_start,
            location: ServiceLocation::default(),
            client: Facts {
                asn: Some(64496),
                city: Some(Arc::from("Springfield")),
                ..Facts::default()
            },
            measures: Measures {
                bytes_in: 900,
                flows: 1,
                ..Measures::default()
            },
            client_ips: 1,
        };
        // Sixty days before the data (a clock glitch) and eighty years after it: a dense grid
        // would hold 8.4 million windows per city-network.
        strays.add_city_networks(&[stray(START - 60 * 86_400), stray(START + 80 * 365 * 86_400)]);
        let assessment = assess(&mut strays, &HealthConfig::default(), None, None);
        assert_eq!(assessment.events, clean.events);
        // The strays' own windows are judged, nothing between them.
        assert_eq!(assessment.overall.len(), clean.overall.len() + 2);
        // Judged from the day of the data on, the old stray is outside the four weeks of
        // history and the far one outside the range: exactly the clean assessment's windows.
        let from = START + 86_400;
        let to = START + 3 * 86_400;
        let in_range = assess(&mut strays, &HealthConfig::default(), Some(from), Some(to));
        let clean_range = assess(
            &mut observations(outage),
            &HealthConfig::default(),
            Some(from),
            Some(to),
        );
        assert_eq!(in_range, clean_range);
    }

    #[test]
    fn without_history_nothing_is_scored_or_raised() {
        let mut observations = observations(|asn, measures| {
            if asn == VICTIM {
                scale(measures, 0.0)
            }
        });
        let first_hour = assess(
            &mut observations,
            &HealthConfig::default(),
            None,
            Some(START + 1800),
        );
        assert_eq!(first_hour.overall.len(), 6);
        assert!(
            first_hour
                .overall
                .iter()
                .all(|overall| overall.availability_score.is_none())
        );
        assert!(first_hour.city_networks.iter().all(|row| {
            row.expected_bytes.is_none()
                && row.availability_score.is_none()
                && row.history_days == 0
        }));
        assert!(first_hour.events.is_empty());
    }
}
