//! The performance half of Internet Monitor's health: round-trip times (and retransmissions, the
//! loss it lacks) per window and city-network against the network's own history, the
//! performance scores and the `PERFORMANCE` / `LOCAL_PERFORMANCE` events.
//!
//! **The rule.** Each window and city-network is judged on one RTT source: `tcp_srtt` where
//! the agent measured it, else `tls_handshake`; sources are never merged, and the history is
//! of the same source. The comparison windows are availability's ([`crate::baseline::plan`]:
//! the same time of week ± 5 minutes over the last 2–4 weeks, else the same time of day over
//! the last days; the last-hour fallback is not used: an RTT needs a day of history), less the
//! windows judged degraded. From them come the expected p50, p90 and p95 (medians of each
//! window's percentile) and the spread of p90 (scaled median absolute deviation). Traffic is
//! *degraded* when its RTT bucket lies above
//! `max(1.5 × expected p90, expected p90 + 20 ms, expected p90 + 3 × spread)`, in excess of the
//! share of traffic that usually lies there (the median share above that line over the same
//! history windows): the degraded share is that excess when it is above 5%, 3 spreads of the
//! usual share and 3 times the sampling noise of the window's RTT samples, else 0. Retransmissions (segments retransmitted per segment sent) are
//! judged against their own history like availability's connection ratios (beyond 3 spreads,
//! beyond binomial noise and at least 1 point above usual, with 100 segments sent); loss that
//! bad degrades all of the city-network's traffic. **Performance score** = 100 − the degraded
//! share of the city-network's traffic (histogram weight, bytes); the overall score = 100 −
//! the degraded share of all measured traffic. A window or city-network without RTTs, or
//! without history of the same source, has no score (null), never a made-up one.

use std::collections::{HashMap, HashSet};

use flowatlas_rollup::{Performance, RttHistogram, RttSource};

use crate::baseline::{
    HISTORY_SECONDS, Method, Timeline, expected_at, judged_range, ratio_tolerance,
};
use crate::event::{Events, ImpactType, LocationWindow, Signal};
use crate::resume::TrackerState;
use crate::{Before, Connections};
use crate::{HealthConfig, HealthEvent, Observations, RatioEvidence};

/// Degraded traffic starts above this many times the expected p90 ...
const P90_FACTOR: f64 = 1.5;
/// ... and this many milliseconds above it ...
const MIN_EXCESS_MS: f64 = 20.0;
/// ... and this many spreads of the history's p90 above it.
const SPREADS: f64 = 3.0;
/// A share above the line counts only beyond the usual share by this much.
const MIN_DEGRADED_SHARE: f64 = 0.05;
/// Retransmissions count as loss at least this far (absolute) above their usual rate ...
const MIN_LOSS_EXCESS: f64 = 0.01;
/// ... with at least this many segments sent in the window ...
const MIN_SEGMENTS: i64 = 100;
/// ... and past windows count toward the usual rate with at least this many.
const MIN_HISTORY_SEGMENTS: i64 = 20;

/// Round-trip-time percentiles, milliseconds, weighted by traffic.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoundTripTime {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
}

impl RoundTripTime {
    fn of(histogram: &RttHistogram) -> Option<RoundTripTime> {
        let ms = |q: f64| histogram.quantile(q).map(|us| us / 1000.0);
        Some(RoundTripTime {
            p50_ms: ms(0.5)?,
            p90_ms: ms(0.9)?,
            p95_ms: ms(0.95)?,
        })
    }
}

/// One window × city-network's performance: what was measured, what was expected, and how
/// much of its traffic was degraded.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PerformanceHealth {
    /// The source of the round-trip times judged (one source per window and city-network).
    #[serde(with = "crate::resume::rtt_source_name")]
    pub rtt_source: RttSource,
    /// Weight of the RTT histogram: bytes moved by the connections measured.
    pub measured_weight: i64,
    /// Percentiles now.
    pub round_trip_time: RoundTripTime,
    /// Percentiles expected from history of the same source; `None` without enough.
    pub expected_round_trip_time: Option<RoundTripTime>,
    /// RTTs above this (milliseconds) count as degraded.
    pub degraded_above_ms: Option<f64>,
    /// Retransmitted segments per segment sent, percent, now and expected.
    pub retransmission: RatioEvidence,
    /// Share of its measured traffic degraded, percent; `None` when nothing could be judged.
    pub percent_of_client_location_degraded: Option<f64>,
    /// Its degraded traffic as a share of all measured traffic, percent.
    pub percent_of_total_traffic_degraded: Option<f64>,
    /// What degraded it: round-trip times or retransmissions.
    pub signal: Option<Signal>,
}

impl PerformanceHealth {
    /// 100 − the degraded share of its traffic; `None` when not judged.
    pub fn score(&self) -> Option<f64> {
        self.percent_of_client_location_degraded
            .map(|percent| 100.0 - percent)
    }
}

/// What the performance pass found, to be merged into the [`crate::Assessment`].
pub(crate) struct PerformanceAssessment {
    /// (window start, city-network, health), by window.
    pub rows: Vec<(i64, usize, PerformanceHealth)>,
    /// What each window measured and scored overall, by window.
    pub overall: Vec<WindowPerformance>,
    /// Events, by start.
    pub events: Vec<HealthEvent>,
}

/// One window's performance, all traffic.
pub(crate) struct WindowPerformance {
    pub window_start: i64,
    /// The overall performance score; `None` when nothing could be judged.
    pub score: Option<f64>,
    /// Active performance events after the window.
    pub active_events: i64,
    /// Percentiles of all traffic of the source the agents measured, else the load balancers'.
    pub round_trip_time: Option<(RttSource, RoundTripTime)>,
    /// The agents' connection counts; `None` where no agent measured.
    pub connections: Option<Connections>,
}

/// Percentiles and retransmissions of one measured cell, read once.
struct Cell<'o> {
    performance: &'o Performance,
    round_trip_time: RoundTripTime,
}

/// The degraded-traffic line and the usual share of traffic above it.
struct Line {
    above_us: f64,
    usual_share: f64,
    share_spread: f64,
}

impl Line {
    /// Share of a histogram's weight above the line, beyond the usual share and noise (0–1):
    /// the history's spread of that share and the sampling noise of `samples` RTT samples
    /// (a few samples of a small network put a large share above the line by chance). Rows
    /// that do not count their samples (0) are judged on the history's spread alone.
    fn degraded(&self, performance: &Performance) -> f64 {
        let samples = match performance.measures.rtt_samples {
            0 => i64::MAX,
            samples => samples,
        };
        let excess = share_above(&performance.rtt, self.above_us) - self.usual_share;
        let tolerance = ratio_tolerance(
            self.usual_share,
            self.share_spread,
            samples,
            MIN_DEGRADED_SHARE,
        );
        if excess > tolerance { excess } else { 0.0 }
    }
}

/// Share of a histogram's weight in buckets whose value lies above `line_us`.
fn share_above(histogram: &RttHistogram, line_us: f64) -> f64 {
    let total = histogram.total_weight();
    if total <= 0 {
        return 0.0;
    }
    let above: i64 = histogram
        .buckets()
        .filter(|&(bucket, _)| RttHistogram::value_of(bucket) > line_us)
        .map(|(_, weight)| weight)
        .sum();
    above as f64 / total as f64
}

/// The measured cells, by window index and city-network, and their history.
struct Grid<'o> {
    timeline: Timeline,
    cells: HashMap<(usize, usize, RttSource), Cell<'o>>,
    /// City-networks measured in each window.
    measured: Vec<Vec<usize>>,
    /// The agents' connection counts of each window, every `tcp_srtt` row's (those without an
    /// RTT sample too: an idle connection is still open).
    connections: Vec<Option<Connections>>,
    /// City-network × window judged degraded: left out of later baselines.
    degraded: HashSet<(usize, usize)>,
}

impl<'o> Grid<'o> {
    fn new(observations: &'o Observations, from: i64, to: i64) -> Grid<'o> {
        let mut starts: Vec<i64> = observations
            .performance
            .keys()
            .map(|&(_, window, _)| window)
            .filter(|window| (from..to).contains(window))
            .collect();
        starts.sort_unstable();
        starts.dedup();
        let timeline = Timeline::new(starts);
        let mut cells = HashMap::new();
        let mut measured = vec![Vec::new(); timeline.len()];
        let mut connections: Vec<Option<Connections>> = vec![None; timeline.len()];
        for (&(city_network, window, source), performance) in &observations.performance {
            let Ok(index) = timeline.starts.binary_search(&window) else {
                continue;
            };
            if source == RttSource::TcpSrtt {
                let total = connections[index].get_or_insert_with(Connections::default);
                total.open += performance.measures.connections_open;
                total.new += performance.measures.connections_new;
            }
            let Some(round_trip_time) = RoundTripTime::of(&performance.rtt) else {
                continue;
            };
            cells.insert(
                (city_network, index, source),
                Cell {
                    performance,
                    round_trip_time,
                },
            );
            measured[index].push(city_network);
        }
        for city_networks in &mut measured {
            city_networks.sort_unstable();
            city_networks.dedup();
        }
        Grid {
            timeline,
            cells,
            measured,
            connections,
            degraded: HashSet::new(),
        }
    }

    /// The source judged: the agent's where it measured, else the load balancer's.
    fn source_at(&self, city_network: usize, window: usize) -> Option<RttSource> {
        RttSource::ALL
            .into_iter()
            .find(|&source| self.cells.contains_key(&(city_network, window, source)))
    }

    /// Expected value and spread of one quantity of a city-network's cells of `source` at
    /// window `now`, over the clean windows of the same time of week or day.
    fn history(
        &self,
        city_network: usize,
        source: RttSource,
        now: usize,
        value_of: impl Fn(&Cell<'o>) -> Option<f64>,
    ) -> Option<(f64, f64)> {
        let plan = self
            .timeline
            .plan(now)
            .filter(|plan| plan.method != Method::RecentHour)?;
        let points = self.timeline.points(
            &plan,
            |window| !self.degraded.contains(&(city_network, window)),
            |window| {
                self.cells
                    .get(&(city_network, window, source))
                    .and_then(&value_of)
            },
        );
        expected_at(plan.method, &points, self.timeline.number(now))
    }

    /// The line above which traffic is degraded, from the expected p90 and its spread, and the
    /// share of traffic usually above it.
    fn line(&self, city_network: usize, source: RttSource, now: usize) -> Option<Line> {
        let (p90, spread) = self.history(city_network, source, now, |cell| {
            Some(cell.round_trip_time.p90_ms)
        })?;
        let above_ms = (P90_FACTOR * p90)
            .max(p90 + MIN_EXCESS_MS)
            .max(p90 + SPREADS * spread);
        let above_us = above_ms * 1000.0;
        let (usual_share, share_spread) = self.history(city_network, source, now, |cell| {
            Some(share_above(&cell.performance.rtt, above_us))
        })?;
        Some(Line {
            above_us,
            usual_share,
            share_spread,
        })
    }

    /// The expected percentiles.
    fn expected_rtt(
        &self,
        city_network: usize,
        source: RttSource,
        now: usize,
    ) -> Option<RoundTripTime> {
        let of = |pick: fn(&RoundTripTime) -> f64| {
            self.history(city_network, source, now, |cell| {
                Some(pick(&cell.round_trip_time))
            })
            .map(|(value, _)| value)
        };
        Some(RoundTripTime {
            p50_ms: of(|rtt| rtt.p50_ms)?,
            p90_ms: of(|rtt| rtt.p90_ms)?,
            p95_ms: of(|rtt| rtt.p95_ms)?,
        })
    }

    /// A window's percentiles over every city-network of one source (the agents' where they
    /// measured, else the load balancers'), and the agents' connection counts.
    fn window_totals(
        &self,
        window: usize,
    ) -> (Option<(RttSource, RoundTripTime)>, Option<Connections>) {
        let round_trip_time = RttSource::ALL.into_iter().find_map(|source| {
            let mut merged = RttHistogram::default();
            for city_network in &self.measured[window] {
                if let Some(cell) = self.cells.get(&(*city_network, window, source)) {
                    merged += &cell.performance.rtt;
                }
            }
            Some((source, RoundTripTime::of(&merged)?))
        });
        (round_trip_time, self.connections[window])
    }

    /// Retransmissions now and usual, and whether they are beyond noise.
    fn loss(&self, city_network: usize, source: RttSource, now: usize) -> (RatioEvidence, bool) {
        let measures = &self.cells[&(city_network, now, source)]
            .performance
            .measures;
        let observed = (measures.segs_out >= MIN_SEGMENTS)
            .then(|| measures.retransmission_rate())
            .flatten();
        let expected = self.history(city_network, source, now, |cell| {
            let measures = &cell.performance.measures;
            (measures.segs_out >= MIN_HISTORY_SEGMENTS)
                .then(|| measures.retransmission_rate())
                .flatten()
        });
        let evidence = RatioEvidence {
            observed_percent: observed.map(|rate| 100.0 * rate),
            expected_percent: expected.map(|(rate, _)| 100.0 * rate),
        };
        let lossy = match (observed, expected) {
            (Some(observed), Some((expected, spread))) => {
                observed - expected
                    > ratio_tolerance(expected, spread, measures.segs_out, MIN_LOSS_EXCESS)
            }
            _ => false,
        };
        (evidence, lossy)
    }
}

/// Judges the performance of the windows in `[from, to)` (the whole data when `None`) with
/// everything before as history, as [`crate::assess`] judges availability.
pub(crate) fn assess_performance(
    observations: &Observations,
    config: &HealthConfig,
    from: Option<i64>,
    to: Option<i64>,
    before: Before<'_>,
) -> (PerformanceAssessment, Vec<TrackerState>) {
    let mut found = PerformanceAssessment {
        rows: Vec::new(),
        overall: Vec::new(),
        events: Vec::new(),
    };
    let first = observations
        .performance
        .keys()
        .map(|&(_, window, _)| window)
        .min();
    let last = observations
        .performance
        .keys()
        .map(|&(_, window, _)| window)
        .max();
    let Some((judge_from, judge_to)) = first
        .zip(last)
        .and_then(|(first, last)| judged_range(first, last, from, to))
    else {
        return (found, before.carry.performance.clone());
    };
    let mut grid = Grid::new(
        observations,
        judge_from.saturating_sub(HISTORY_SECONDS),
        judge_to,
    );
    grid.degraded.extend(observations.earlier_cells(
        &before.earlier.degraded,
        &grid.timeline.starts,
        judge_from,
    ));
    let city_networks = &observations.city_networks;
    let mut events = Events::new(
        ImpactType::Performance,
        config.performance_score_threshold,
        ImpactType::LocalPerformance,
        &config.performance_local,
        city_networks.len(),
    );
    events.resume(&before.carry.performance, |city_network| {
        observations.index_of(city_network)
    });
    let prefixes_of = prefixes_by_owner(observations);
    for window in 0..grid.timeline.len() {
        let window_start = grid.timeline.starts[window];
        if window_start < judge_from {
            continue;
        }
        let mut rows: Vec<(usize, PerformanceHealth, Option<Line>)> = Vec::new();
        for &city_network in &grid.measured[window] {
            let Some(source) = grid.source_at(city_network, window) else {
                continue;
            };
            let cell = &grid.cells[&(city_network, window, source)];
            let line = grid.line(city_network, source, window);
            let (retransmission, lossy) = grid.loss(city_network, source, window);
            let rtt_degraded = line.as_ref().map(|line| line.degraded(cell.performance));
            let judged = rtt_degraded.is_some() || retransmission.expected_percent.is_some();
            let (degraded, signal) = match (lossy, rtt_degraded.unwrap_or(0.0)) {
                (true, _) => (1.0, Some(Signal::Retransmissions)),
                (false, share) if share > 0.0 => (share, Some(Signal::RoundTripTime)),
                _ => (0.0, None),
            };
            rows.push((
                city_network,
                PerformanceHealth {
                    rtt_source: source,
                    measured_weight: cell.performance.rtt.total_weight(),
                    round_trip_time: cell.round_trip_time,
                    expected_round_trip_time: grid.expected_rtt(city_network, source, window),
                    degraded_above_ms: line.as_ref().map(|line| line.above_us / 1000.0),
                    retransmission,
                    percent_of_client_location_degraded: judged.then_some(100.0 * degraded),
                    percent_of_total_traffic_degraded: None,
                    signal,
                },
                line,
            ));
        }
        let total_weight: f64 = rows
            .iter()
            .map(|(_, health, _)| health.measured_weight as f64)
            .sum();
        let share = |weight: f64| 100.0 * weight / total_weight.max(1.0);
        let mut impacted = Vec::new();
        let mut degraded_weight = 0.0;
        let mut any_judged = false;
        for (city_network, health, line) in &mut rows {
            let Some(local) = health.percent_of_client_location_degraded else {
                continue;
            };
            any_judged = true;
            let weight = local / 100.0 * health.measured_weight as f64;
            degraded_weight += weight;
            health.percent_of_total_traffic_degraded = Some(share(weight));
            if local <= 0.0 {
                continue;
            }
            grid.degraded.insert((*city_network, window));
            let prefixes = degraded_prefixes(
                observations,
                &prefixes_of[*city_network],
                window_start,
                health,
                line.as_ref(),
            );
            let weight = health.measured_weight as f64;
            impacted.push(LocationWindow {
                city_network: *city_network,
                expected_bytes: weight,
                observed_bytes: weight,
                percent_of_client_location_impacted: local,
                percent_of_total_traffic_impacted: share(local / 100.0 * weight),
                signals: health.signal.into_iter().collect(),
                prefixes,
                performance: Some(*health),
            });
        }
        let total_impact = share(degraded_weight);
        let overall_score = any_judged.then_some(100.0 - total_impact);
        events.step(
            window_start,
            overall_score.map(|score| (score, total_impact)),
            &impacted,
            city_networks,
        );
        let (round_trip_time, connections) = grid.window_totals(window);
        found.overall.push(WindowPerformance {
            window_start,
            score: overall_score,
            active_events: events.active(),
            round_trip_time,
            connections,
        });
        found.rows.extend(
            rows.into_iter()
                .map(|(city_network, health, _)| (window_start, city_network, health)),
        );
    }
    let carry = events.carry(city_networks);
    found.events = events.finish(city_networks);
    (found, carry)
}

/// The performance prefixes of each city-network.
fn prefixes_by_owner(observations: &Observations) -> Vec<Vec<usize>> {
    let mut prefixes_of = vec![Vec::new(); observations.city_networks.len()];
    for (prefix, &(_, owner)) in observations.performance_prefixes.iter().enumerate() {
        prefixes_of[owner].push(prefix);
    }
    prefixes_of
}

/// The client prefixes of a degraded city-network whose own traffic was degraded (above the
/// city-network's line beyond its usual share, or losing beyond its usual retransmissions),
/// with the bytes degraded.
fn degraded_prefixes(
    observations: &Observations,
    prefixes: &[usize],
    window_start: i64,
    health: &PerformanceHealth,
    line: Option<&Line>,
) -> Vec<(String, f64)> {
    prefixes
        .iter()
        .filter_map(|&prefix| {
            let performance =
                observations
                    .prefix_performance
                    .get(&(prefix, window_start, health.rtt_source))?;
            let weight = performance.rtt.total_weight() as f64;
            let share = match health.signal? {
                Signal::Retransmissions => {
                    let usual = health.retransmission.expected_percent? / 100.0;
                    let rate = performance.measures.retransmission_rate()?;
                    if rate - usual > MIN_LOSS_EXCESS {
                        1.0
                    } else {
                        0.0
                    }
                }
                _ => line?.degraded(performance),
            };
            (share > 0.0).then(|| {
                (
                    observations.performance_prefixes[prefix].0.clone(),
                    share * weight,
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flowatlas_geo::Facts;
    use flowatlas_rollup::{
        CityNetworkPerformanceRow, ServiceLocation, TcpMeasures, WINDOW_SECONDS,
    };

    use super::*;
    use crate::assess;
    use crate::test_world::{CHANGE, DAY, NETWORKS, START, VICTIM, assert_events_cover_the_change};

    /// What a window of one network measured: RTT samples (ms) and the loss rate.
    struct Sample {
        rtts_ms: Vec<f64>,
        loss: f64,
        source: RttSource,
    }

    /// Two days and a bit of five networks, each with its own usual RTT (30–70 ms) and a
    /// deterministic spread of samples, changed by `change` in the `CHANGE` windows.
    fn observations(change: fn(u32, &mut Sample)) -> Observations {
        let mut rows = Vec::new();
        for window in 0..2 * DAY + 120 {
            for (position, &asn) in NETWORKS.iter().enumerate() {
                let base = 30.0 + 10.0 * position as f64;
                let mut sample = Sample {
                    rtts_ms: (0..40)
                        .map(|k| base * (1.0 + 0.4 * (((k * 37 + window * 11) % 40) as f64 / 40.0)))
                        .collect(),
                    loss: 0.003,
                    source: RttSource::TcpSrtt,
                };
                if CHANGE.contains(&window) {
                    change(asn, &mut sample);
                }
                let mut rtt = RttHistogram::default();
                for &ms in &sample.rtts_ms {
                    rtt.record((ms * 1000.0) as u32, 25_000);
                }
                let segs_out = 20_000;
                rows.push(CityNetworkPerformanceRow {
                    window_start: START + window as i64 * WINDOW_SECONDS,
                    location: ServiceLocation::default(),
                    rtt_source: sample.source,
                    client: Facts {
                        asn: Some(asn),
                        city: Some(Arc::from("Springfield")),
                        ..Facts::default()
                    },
                    performance: Performance {
                        measures: TcpMeasures {
                            bytes_out: 1_000_000,
                            segs_out,
                            retrans_segs: (segs_out as f64 * sample.loss) as i64,
                            rtt_samples: 40,
                            ..TcpMeasures::default()
                        },
                        rtt,
                    },
                });
            }
        }
        let mut observations = Observations::new();
        observations.add_city_network_performance(&rows);
        observations
    }

    struct Case {
        name: &'static str,
        change: fn(u32, &mut Sample),
        /// The victim's score (± 5) and signal in the change's windows.
        victim: (f64, Option<Signal>),
        /// Impact types raised.
        events: &'static [ImpactType],
    }

    #[test]
    fn round_trip_times_and_loss_against_their_history() {
        let cases = [
            Case {
                name: "nothing happens",
                change: |_, _| {},
                victim: (100.0, None),
                events: &[],
            },
            Case {
                name: "the victim's RTT goes from 30 to 300 ms",
                change: |asn, sample| {
                    if asn == VICTIM {
                        sample.rtts_ms.iter_mut().for_each(|ms| *ms *= 10.0);
                    }
                },
                victim: (0.0, Some(Signal::RoundTripTime)),
                events: &[ImpactType::Performance, ImpactType::LocalPerformance],
            },
            Case {
                name: "+5 ms is within the 20 ms floor",
                change: |asn, sample| {
                    if asn == VICTIM {
                        sample.rtts_ms.iter_mut().for_each(|ms| *ms += 5.0);
                    }
                },
                victim: (100.0, None),
                events: &[],
            },
            Case {
                name: "a quarter of the victim's traffic at 200 ms",
                change: |asn, sample| {
                    if asn == VICTIM {
                        sample
                            .rtts_ms
                            .iter_mut()
                            .step_by(4)
                            .for_each(|ms| *ms = 200.0);
                    }
                },
                victim: (75.0, Some(Signal::RoundTripTime)),
                events: &[ImpactType::Performance],
            },
            Case {
                name: "5% loss at the victim",
                change: |asn, sample| {
                    if asn == VICTIM {
                        sample.loss = 0.05;
                    }
                },
                victim: (0.0, Some(Signal::Retransmissions)),
                events: &[ImpactType::Performance, ImpactType::LocalPerformance],
            },
            Case {
                name: "the load balancer's handshakes are slow, the agent's RTTs are not",
                change: |asn, sample| {
                    if asn == VICTIM {
                        // Only the proxy source in these windows: no history of it, no score.
                        sample.source = RttSource::TlsHandshake;
                        sample.rtts_ms.iter_mut().for_each(|ms| *ms *= 10.0);
                    }
                },
                victim: (f64::NAN, None),
                events: &[],
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
            let health = row.performance.unwrap();
            let (score, signal) = case.victim;
            if score.is_nan() {
                assert_eq!(health.rtt_source, RttSource::TlsHandshake, "{}", case.name);
                assert_eq!(row.performance_score, None, "{}", case.name);
            } else {
                let found = row.performance_score.unwrap();
                assert!((found - score).abs() <= 5.0, "{}: score {found}", case.name);
                assert_eq!(health.signal, signal, "{}", case.name);
                let expected = health.expected_round_trip_time.unwrap();
                assert!(
                    (30.0..45.0).contains(&expected.p50_ms),
                    "{}: {expected:?}",
                    case.name
                );
            }
            // No availability without flow logs, never a made-up one.
            assert_eq!(row.availability_score, None, "{}", case.name);
            assert_events_cover_the_change(&assessment, case.events, case.name);
            for event in &assessment.events {
                let location = &event.impacted_locations[0];
                let performance = location.performance.unwrap();
                assert!(
                    performance.expected_round_trip_time.is_some(),
                    "{}",
                    case.name
                );
            }
        }
    }

    #[test]
    fn the_first_day_measures_but_does_not_score() {
        let assessment = assess(
            &mut observations(|_, _| {}),
            &HealthConfig::default(),
            None,
            Some(START + 86_400),
        );
        assert_eq!(assessment.overall.len(), DAY);
        assert!(
            assessment
                .overall
                .iter()
                .all(|overall| overall.performance_score.is_none()
                    && overall.availability_score.is_none())
        );
        assert!(assessment.city_networks.iter().all(|row| {
            let health = row.performance.unwrap();
            row.performance_score.is_none()
                && health.expected_round_trip_time.is_none()
                && health.round_trip_time.p50_ms > 0.0
        }));
        // The next day is scored against this one (from its second window: its first has two
        // windows of the day before around it, one short of the three needed).
        let second = assess(
            &mut observations(|_, _| {}),
            &HealthConfig::default(),
            Some(START + 86_400 + WINDOW_SECONDS),
            Some(START + 86_400 + 3600),
        );
        assert!(
            second
                .overall
                .iter()
                .all(|overall| overall.performance_score == Some(100.0))
        );
    }
}
