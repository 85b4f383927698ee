//! The engine: window by window, as if live, the expected value of every city-network, its
//! impact per signal, the scores, and the events.

use std::sync::Arc;

use flowatlas_rollup::WINDOW_SECONDS;

use crate::baseline::{Method, Plan, expected_at, plan, weighted_median};
use crate::event::{ImpactType, LocationWindow, Signal, Tracker, WindowEvidence};
use crate::observations::Counts;
use crate::{CityNetwork, HealthConfig, HealthEvent, Observations};

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
    /// The city-network.
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
    /// Always `None`: flow logs carry no round-trip times, so performance is not measured.
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
}

/// One window, all traffic: what CloudWatch alarms watch.
#[derive(Clone, Debug, PartialEq)]
pub struct OverallHealth {
    /// Start of the window, Unix seconds.
    pub window_start: i64,
    /// 100 − the share of all traffic impacted; `None` before any history exists.
    pub availability_score: Option<f64>,
    /// Always `None`: not measured from flow logs.
    pub performance_score: Option<f64>,
    /// Bytes observed.
    pub observed_bytes: i64,
    /// Bytes expected (observed where a city-network has no expectation).
    pub expected_bytes: i64,
    /// Events active after this window.
    pub active_events: i64,
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

/// Dense copies of the observations over the windows from the first to the last.
struct Grid {
    first_window: i64,
    n_windows: usize,
    counts: Vec<Counts>,
    prefix_bytes: Vec<i64>,
    /// City-network × window judged impacted: left out of later baselines.
    impacted: Vec<bool>,
    prefixes_of: Vec<Vec<usize>>,
}

impl Grid {
    fn new(observations: &Observations, first_window: i64, last_window: i64) -> Grid {
        let n_windows = ((last_window - first_window) / WINDOW_SECONDS) as usize + 1;
        let index_of = |window: i64| ((window - first_window) / WINDOW_SECONDS) as usize;
        let n_city_networks = observations.city_networks.len();
        let mut counts = vec![Counts::default(); n_city_networks * n_windows];
        for (&(city_network, window), cell) in &observations.cells {
            counts[city_network * n_windows + index_of(window)] = *cell;
        }
        let mut prefix_bytes = vec![0; observations.prefixes.len() * n_windows];
        for (&(prefix, window), &bytes) in &observations.prefix_bytes {
            if (first_window..=last_window).contains(&window) {
                prefix_bytes[prefix * n_windows + index_of(window)] = bytes;
            }
        }
        let mut prefixes_of = vec![Vec::new(); n_city_networks];
        for (prefix, &(_, owner)) in observations.prefixes.iter().enumerate() {
            prefixes_of[owner].push(prefix);
        }
        Grid {
            first_window,
            n_windows,
            counts,
            prefix_bytes,
            impacted: vec![false; n_city_networks * n_windows],
            prefixes_of,
        }
    }

    /// The clean candidate windows of a city-network's plan.
    fn clean_windows<'p>(
        &'p self,
        city_network: usize,
        plan: &'p Plan,
    ) -> impl Iterator<Item = usize> + 'p {
        plan.windows
            .iter()
            .copied()
            .filter(move |&window| !self.impacted[city_network * self.n_windows + window])
            .take(plan.limit)
    }
}

/// Expected value and spread of one measure of a city-network at window `now`, from its clean
/// candidate windows.
fn history_of(
    grid: &Grid,
    city_network: usize,
    plan: &Plan,
    now: usize,
    value_at: impl Fn(usize) -> Option<f64>,
) -> Option<(f64, f64)> {
    let points: Vec<(usize, f64)> = grid
        .clean_windows(city_network, plan)
        .filter_map(|window| value_at(window).map(|value| (window, value)))
        .collect();
    expected_at(plan.method, &points, now)
}

/// The share of the expected traffic missing, when it is beyond noise: `Some(0..=1)` judged,
/// `None` when the history is too noisy to judge. Noise is the larger of the history's own
/// spread and the counting noise of the flows expected (a network expected to send 9 flows
/// can lose a third of them by chance), widened because flow sizes vary.
fn shortfall(
    observed: f64,
    expected: f64,
    relative_spread: f64,
    expected_flows: f64,
) -> Option<f64> {
    let counting_noise = BYTES_NOISE_PER_FLOW_NOISE / expected_flows.max(1.0).sqrt();
    let tolerance = (SPREADS * relative_spread.max(counting_noise)).max(MIN_SHORTFALL);
    if expected <= 0.0 || tolerance >= 1.0 {
        return None;
    }
    let missing = ((expected - observed) / expected).clamp(0.0, 1.0);
    Some(if missing > tolerance { missing } else { 0.0 })
}

/// How far a ratio of `attempts` must rise above its expected value to count: beyond the
/// history's spread, beyond the binomial noise of that many attempts, and beyond a floor.
fn ratio_tolerance(expected: f64, spread: f64, attempts: i64) -> f64 {
    let attempts = attempts.max(1) as f64;
    let binomial = (expected.max(1.0 / attempts) / attempts).sqrt();
    (SPREADS * spread.max(binomial)).max(MIN_RATIO_EXCESS)
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
    let Some((first_window, last_window)) = observations.window_range() else {
        return Assessment::default();
    };
    let mut grid = Grid::new(observations, first_window, last_window);
    let window_index =
        |time: i64| ((time - first_window).max(0) + WINDOW_SECONDS - 1) / WINDOW_SECONDS;
    let start = from.map_or(0, window_index) as usize;
    let end = (to.map_or(grid.n_windows as i64, window_index) as usize).min(grid.n_windows);
    let city_networks = &observations.city_networks;
    let n_city_networks = city_networks.len();

    let mut assessment = Assessment::default();
    let mut overall_tracker = Tracker::new(
        ImpactType::Availability,
        config.availability_score_threshold,
        "all".to_string(),
    );
    let mut local_trackers: Vec<Option<Tracker>> = (0..n_city_networks).map(|_| None).collect();
    let min_total_share = config.local.min_traffic_impact_percent;

    for window in start..end {
        let window_start = grid.first_window + window as i64 * WINDOW_SECONDS;
        let plan = plan(window);
        let n_windows = grid.n_windows;
        let at = |city_network: usize, window: usize| city_network * n_windows + window;

        // Each city-network's raw expectation from its clean candidate windows: bytes with
        // their spread, and flows for the counting noise.
        let raw: Vec<Option<(f64, f64, f64)>> = (0..n_city_networks)
            .map(|city_network| {
                let plan = plan.as_ref()?;
                let of = |measure: fn(&Counts) -> i64| {
                    history_of(&grid, city_network, plan, window, |past| {
                        Some(measure(&grid.counts[at(city_network, past)]) as f64)
                    })
                };
                let (bytes, spread) = of(|counts| counts.bytes)?;
                let (flows, _) = of(|counts| counts.flows)?;
                Some((bytes, spread, flows))
            })
            .collect();
        // Demand now against history, over all networks by weight: a global dip moves it, an
        // outage of less than half the traffic does not. No network weighs more than
        // MAX_DEMAND_WEIGHT of the total, so one big network's outage is never read as demand.
        let total_raw: f64 = raw.iter().flatten().map(|&(median, _, _)| median).sum();
        let mut ratios: Vec<(f64, f64)> = raw
            .iter()
            .enumerate()
            .filter_map(|(city_network, raw)| {
                let (median, _, _) = (*raw)?;
                let observed = grid.counts[at(city_network, window)].bytes as f64;
                (median > 0.0)
                    .then_some((observed / median, median.min(MAX_DEMAND_WEIGHT * total_raw)))
            })
            .collect();
        let demand_scale = weighted_median(&mut ratios);

        let observed_total: i64 = (0..n_city_networks)
            .map(|city_network| grid.counts[at(city_network, window)].bytes)
            .sum();
        let mut rows = Vec::new();
        let mut impacted_locations = Vec::new();
        let mut expected_total = 0.0;
        for city_network in 0..n_city_networks {
            let counts = grid.counts[at(city_network, window)];
            let observed = counts.bytes as f64;
            let expected =
                raw[city_network]
                    .zip(demand_scale)
                    .map(|((median, spread, flows), scale)| {
                        (median * scale, spread / median.max(1.0), flows * scale)
                    });
            expected_total += expected.map_or(observed, |(expected, _, _)| expected);
            if counts.bytes == 0 && expected.is_none_or(|(expected, _, _)| expected <= 0.0) {
                continue;
            }
            let mut judged = false;
            let mut impact: (f64, Option<Signal>) = (0.0, None);
            if let Some(missing) = expected
                .and_then(|(expected, spread, flows)| shortfall(observed, expected, spread, flows))
            {
                judged = true;
                if missing > 0.0 {
                    impact = (missing, Some(Signal::Traffic));
                }
            }
            let mut evidence = [RatioEvidence::default(); 4];
            for (slot, (signal, ratio_of)) in RATIOS.iter().enumerate() {
                let (failed, attempts) = ratio_of(&counts);
                let observed_ratio =
                    (attempts >= MIN_RATIO_EVENTS).then(|| failed as f64 / attempts as f64);
                let expected_ratio = plan.as_ref().and_then(|plan| {
                    history_of(&grid, city_network, plan, window, |past| {
                        let (failed, attempts) = ratio_of(&grid.counts[at(city_network, past)]);
                        (attempts >= MIN_RATIO_HISTORY_EVENTS)
                            .then(|| failed as f64 / attempts as f64)
                    })
                });
                evidence[slot] = RatioEvidence {
                    observed_percent: observed_ratio.map(|ratio| ratio * 100.0),
                    expected_percent: expected_ratio.map(|(ratio, _)| ratio * 100.0),
                };
                let (Some(observed_ratio), Some((expected_ratio, spread))) =
                    (observed_ratio, expected_ratio)
                else {
                    continue;
                };
                judged = true;
                let excess = observed_ratio - expected_ratio;
                if excess > ratio_tolerance(expected_ratio, spread, attempts) && excess > impact.0 {
                    impact = (excess.min(1.0), Some(*signal));
                }
            }
            let [unanswered_out, unanswered_in, reset, rejected] = evidence;
            rows.push(CityNetworkHealth {
                window_start,
                city_network: city_networks[city_network].clone(),
                observed_bytes: counts.bytes,
                expected_bytes: expected.map(|(expected, _, _)| expected.round() as i64),
                baseline: expected.and(plan.as_ref()).map(|plan| plan.method),
                history_days: expected
                    .and(plan.as_ref())
                    .map_or(0, |plan| plan.history_days),
                demand_scale: expected.and(demand_scale),
                availability_score: judged.then_some(100.0 * (1.0 - impact.0)),
                performance_score: None,
                percent_of_client_location_impacted: judged.then_some(100.0 * impact.0),
                percent_of_total_traffic_impacted: None,
                percent_of_total_traffic: 0.0,
                unanswered_out,
                unanswered_in,
                reset,
                rejected,
                impact_signal: impact.1,
            });
            if impact.0 > 0.0 {
                grid.impacted[at(city_network, window)] = true;
                let expected_bytes = expected.map_or(observed, |(expected, _, _)| expected);
                let owner_expected = expected;
                let prefixes = grid.prefixes_of[city_network]
                    .iter()
                    .filter_map(|&prefix| {
                        let bytes_at =
                            |window: usize| grid.prefix_bytes[prefix * n_windows + window] as f64;
                        let (median, spread) =
                            history_of(&grid, city_network, plan.as_ref()?, window, |past| {
                                Some(bytes_at(past))
                            })?;
                        let expected = median * demand_scale?;
                        // The prefix's flows, by its share of the city-network's bytes.
                        let (owner_bytes, _, owner_flows) = owner_expected?;
                        let flows = owner_flows * expected / owner_bytes.max(1.0);
                        let missing =
                            shortfall(bytes_at(window), expected, spread / median.max(1.0), flows)?;
                        (missing > 0.0)
                            .then(|| (observations.prefixes[prefix].0.clone(), missing * expected))
                    })
                    .collect();
                impacted_locations.push(LocationWindow {
                    city_network,
                    expected_bytes,
                    observed_bytes: observed,
                    percent_of_client_location_impacted: 100.0 * impact.0,
                    percent_of_total_traffic_impacted: 0.0,
                    signals: impact.1.into_iter().collect(),
                    prefixes,
                });
            }
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
        for row in &mut rows {
            row.percent_of_total_traffic = if observed_total > 0 {
                100.0 * row.observed_bytes as f64 / observed_total as f64
            } else {
                0.0
            };
            row.percent_of_total_traffic_impacted =
                row.percent_of_client_location_impacted.map(|local| {
                    share(local / 100.0 * row.expected_bytes.unwrap_or(row.observed_bytes) as f64)
                });
        }
        let mut impacted_bytes = 0.0;
        for location in &mut impacted_locations {
            let bytes =
                location.percent_of_client_location_impacted / 100.0 * location.expected_bytes;
            impacted_bytes += bytes;
            location.percent_of_total_traffic_impacted = share(bytes);
        }
        let total_impact = share(impacted_bytes);
        let overall_score = demand_scale.map(|_| 100.0 - total_impact);

        // Events: the overall score, then each city-network's local condition.
        let all_locations: Vec<&LocationWindow> = impacted_locations.iter().collect();
        let overall_evidence = overall_score
            .filter(|&score| score <= config.availability_score_threshold)
            .map(|score| WindowEvidence {
                window_start,
                percent_of_total_traffic_impacted: total_impact,
                score,
                locations: &all_locations,
            });
        assessment.events.extend(overall_tracker.step(
            window_start,
            overall_evidence.as_ref(),
            city_networks,
        ));
        if config.local.enabled {
            for location in &impacted_locations {
                let score = 100.0 - location.percent_of_client_location_impacted;
                if score <= config.local.health_score_threshold
                    && location.percent_of_total_traffic_impacted >= min_total_share
                {
                    local_trackers[location.city_network].get_or_insert_with(|| {
                        Tracker::new(
                            ImpactType::LocalAvailability,
                            config.local.health_score_threshold,
                            place_of(&city_networks[location.city_network]),
                        )
                    });
                }
            }
            for (city_network, tracker) in local_trackers.iter_mut().enumerate() {
                let Some(tracker) = tracker else {
                    continue;
                };
                let location = impacted_locations.iter().find(|location| {
                    location.city_network == city_network
                        && 100.0 - location.percent_of_client_location_impacted
                            <= config.local.health_score_threshold
                        && location.percent_of_total_traffic_impacted >= min_total_share
                });
                let locations = location.as_slice();
                let evidence = location.map(|location| WindowEvidence {
                    window_start,
                    percent_of_total_traffic_impacted: location.percent_of_total_traffic_impacted,
                    score: 100.0 - location.percent_of_client_location_impacted,
                    locations,
                });
                assessment.events.extend(tracker.step(
                    window_start,
                    evidence.as_ref(),
                    city_networks,
                ));
            }
        }
        let active_events = i64::from(overall_tracker.is_active())
            + local_trackers
                .iter()
                .flatten()
                .filter(|tracker| tracker.is_active())
                .count() as i64;
        assessment.overall.push(OverallHealth {
            window_start,
            availability_score: overall_score,
            performance_score: None,
            observed_bytes: observed_total,
            expected_bytes: expected_total.round() as i64,
            active_events,
        });
        assessment.city_networks.extend(rows);
    }
    assessment
        .events
        .extend(overall_tracker.finish(city_networks));
    for tracker in local_trackers.into_iter().flatten() {
        assessment.events.extend(tracker.finish(city_networks));
    }
    assessment.events.sort_by(|a, b| {
        (a.started_at, a.impact_type, &a.event_id).cmp(&(b.started_at, b.impact_type, &b.event_id))
    });
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
