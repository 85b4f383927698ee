//! Health events and the state machine that opens and resolves them with hysteresis: a
//! condition must hold for [`OPEN_AFTER`] windows in a row to raise an event and fail for
//! [`CLOSE_AFTER`] windows in a row to resolve it, so one noisy window does neither.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use flowatlas_rollup::WINDOW_SECONDS;
use serde::{Deserialize, Serialize};

use crate::resume::{CandidateState, CityNetworkState, LocationState, TrackerState};
use crate::{CityNetwork, LocalConfig, PerformanceHealth};

/// Impacted windows in a row that raise an event.
pub const OPEN_AFTER: u32 = 2;
/// Clean windows in a row that resolve it.
pub const CLOSE_AFTER: u32 = 3;

/// What kind of impact, in Internet Monitor's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ImpactType {
    /// The overall availability score reached its threshold.
    Availability,
    /// A city-network's score reached the local threshold, with enough of all traffic.
    LocalAvailability,
    /// The overall performance score reached its threshold.
    Performance,
    /// A city-network's performance score reached the local threshold, with enough of all
    /// traffic.
    LocalPerformance,
}

impl ImpactType {
    /// Every value, in declaration order.
    pub const ALL: [ImpactType; 4] = [
        ImpactType::Availability,
        ImpactType::LocalAvailability,
        ImpactType::Performance,
        ImpactType::LocalPerformance,
    ];

    /// The value whose [`name`](ImpactType::name) this is, as read back from the tables.
    pub fn from_name(name: &str) -> Option<ImpactType> {
        ImpactType::ALL
            .into_iter()
            .find(|value| value.name() == name)
    }

    /// `AVAILABILITY`, `LOCAL_AVAILABILITY`, `PERFORMANCE` or `LOCAL_PERFORMANCE`.
    pub fn name(self) -> &'static str {
        match self {
            ImpactType::Availability => "AVAILABILITY",
            ImpactType::LocalAvailability => "LOCAL_AVAILABILITY",
            ImpactType::Performance => "PERFORMANCE",
            ImpactType::LocalPerformance => "LOCAL_PERFORMANCE",
        }
    }

    /// The kebab-case form in event ids.
    fn id_kind(self) -> &'static str {
        match self {
            ImpactType::Availability => "availability",
            ImpactType::LocalAvailability => "local-availability",
            ImpactType::Performance => "performance",
            ImpactType::LocalPerformance => "local-performance",
        }
    }
}

/// `ACTIVE` or `RESOLVED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Still impacted (or not yet clean for long enough) at the end of the assessed range.
    Active,
    /// Clean for [`CLOSE_AFTER`] windows.
    Resolved,
}

impl Status {
    /// Every value, in declaration order.
    pub const ALL: [Status; 2] = [Status::Active, Status::Resolved];

    /// The value whose [`name`](Status::name) this is, as read back from the tables.
    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|value| value.name() == name)
    }

    /// `ACTIVE` or `RESOLVED`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Active => "ACTIVE",
            Status::Resolved => "RESOLVED",
        }
    }
}

/// Which measurement showed the impact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Signal {
    /// Less traffic than expected.
    Traffic,
    /// Our connection attempts left unanswered more than usual.
    UnansweredOut,
    /// The clients' connection attempts left unanswered more than usual.
    UnansweredIn,
    /// More flows with resets than usual.
    Reset,
    /// More rejected flows than usual.
    Rejected,
    /// Round-trip times beyond their usual (performance).
    RoundTripTime,
    /// More retransmitted segments than usual: loss (performance).
    Retransmissions,
}

impl Signal {
    /// Every value, in declaration order.
    pub const ALL: [Signal; 7] = [
        Signal::Traffic,
        Signal::UnansweredOut,
        Signal::UnansweredIn,
        Signal::Reset,
        Signal::Rejected,
        Signal::RoundTripTime,
        Signal::Retransmissions,
    ];

    /// The value whose [`name`](Signal::name) this is, as read back from the tables.
    pub fn from_name(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|value| value.name() == name)
    }

    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traffic => "traffic",
            Signal::UnansweredOut => "unanswered_out",
            Signal::UnansweredIn => "unanswered_in",
            Signal::Reset => "reset",
            Signal::Rejected => "rejected",
            Signal::RoundTripTime => "round_trip_time",
            Signal::Retransmissions => "retransmissions",
        }
    }
}

/// One impacted city-network of an event, with its evidence over the event's windows.
#[derive(Clone, Debug, PartialEq)]
pub struct ImpactedLocation {
    /// The impacted city-network: its identity and attributes.
    pub city_network: Arc<CityNetwork>,
    /// Expected bytes over its impacted windows.
    pub expected_bytes: i64,
    /// Observed bytes over the same windows.
    pub observed_bytes: i64,
    /// Highest share of its own expected traffic impacted, percent.
    pub peak_percent_of_client_location_impacted: f64,
    /// Highest share of all traffic it had impacted, percent.
    pub peak_percent_of_total_traffic_impacted: f64,
    /// Its client prefixes whose traffic fell short (availability) or was degraded
    /// (performance), most impacted bytes first.
    pub prefixes: Vec<String>,
    /// Performance events: its round-trip times and retransmissions, now and expected, in
    /// its most degraded window; `None` for availability events.
    pub performance: Option<PerformanceHealth>,
}

/// A health event.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthEvent {
    /// `<started_at as 2026-06-01T14-20-00Z>/<impact type>-<place>`, stable across runs.
    pub event_id: String,
    /// Overall or local.
    pub impact_type: ImpactType,
    /// Active or resolved.
    pub status: Status,
    /// Start of the first impacted window, Unix seconds.
    pub started_at: i64,
    /// End of the window after which the event was raised, Unix seconds.
    pub detected_at: i64,
    /// End of the last impacted window, once resolved.
    pub ended_at: Option<i64>,
    /// The threshold in force.
    pub health_score_threshold: f64,
    /// Mean share of all traffic impacted over the impacted windows, percent.
    pub percent_of_total_traffic_impacted: f64,
    /// Highest share of all traffic impacted in one window, percent.
    pub peak_percent_of_total_traffic_impacted: f64,
    /// Lowest score in one window: the overall score for `AVAILABILITY` and `PERFORMANCE`,
    /// the city-network's for local events (availability or performance by the impact type).
    pub lowest_availability_score: f64,
    /// How many windows the event judged as impacted.
    pub impacted_windows: i64,
    /// Expected bytes of the impacted city-networks over the impacted windows.
    pub expected_bytes: i64,
    /// Observed bytes of the same.
    pub observed_bytes: i64,
    /// Signals that showed impact.
    pub signals: Vec<Signal>,
    /// The impacted city-networks, most impacted traffic first.
    pub impacted_locations: Vec<ImpactedLocation>,
}

impl HealthEvent {
    /// The distinct AS numbers of the impacted city-networks.
    pub fn asns(&self) -> Vec<u32> {
        let asns: BTreeSet<u32> = self
            .impacted_locations
            .iter()
            .filter_map(|location| location.city_network.client.asn)
            .collect();
        asns.into_iter().collect()
    }

    /// Whether the event covers `time` (Unix seconds); an active event covers all later time.
    pub fn covers(&self, time: i64) -> bool {
        time >= self.started_at && self.ended_at.is_none_or(|end| time < end)
    }
}

/// What one impacted window says about one city-network.
#[derive(Clone, Debug)]
pub(crate) struct LocationWindow {
    pub city_network: usize,
    pub expected_bytes: f64,
    pub observed_bytes: f64,
    pub percent_of_client_location_impacted: f64,
    pub percent_of_total_traffic_impacted: f64,
    pub signals: Vec<Signal>,
    pub prefixes: Vec<(String, f64)>,
    pub performance: Option<PerformanceHealth>,
}

/// What one impacted window adds to an event.
pub(crate) struct WindowEvidence<'w> {
    pub window_start: i64,
    /// Share of all traffic impacted, percent.
    pub percent_of_total_traffic_impacted: f64,
    /// The score compared with the threshold.
    pub score: f64,
    pub locations: &'w [&'w LocationWindow],
}

#[derive(Clone, Default)]
struct LocationTotals {
    expected_bytes: f64,
    observed_bytes: f64,
    impacted_bytes: f64,
    peak_local: f64,
    peak_total: f64,
    prefixes: BTreeMap<String, f64>,
    performance: Option<PerformanceHealth>,
}

/// An event from its first impacted window on, raised or not yet.
#[derive(Clone)]
struct Candidate {
    started_at: i64,
    detected_at: Option<i64>,
    last_impacted_end: i64,
    windows: i64,
    total_share_sum: f64,
    peak_total_share: f64,
    lowest_score: f64,
    signals: BTreeSet<Signal>,
    locations: BTreeMap<usize, LocationTotals>,
}

impl Candidate {
    fn new(started_at: i64) -> Candidate {
        Candidate {
            started_at,
            detected_at: None,
            last_impacted_end: started_at,
            windows: 0,
            total_share_sum: 0.0,
            peak_total_share: 0.0,
            lowest_score: f64::INFINITY,
            signals: BTreeSet::new(),
            locations: BTreeMap::new(),
        }
    }

    fn add(&mut self, evidence: &WindowEvidence<'_>) {
        self.windows += 1;
        self.last_impacted_end = evidence.window_start + WINDOW_SECONDS;
        self.total_share_sum += evidence.percent_of_total_traffic_impacted;
        self.peak_total_share = self
            .peak_total_share
            .max(evidence.percent_of_total_traffic_impacted);
        self.lowest_score = self.lowest_score.min(evidence.score);
        for location in evidence.locations {
            self.signals.extend(location.signals.iter().copied());
            let totals = self.locations.entry(location.city_network).or_default();
            totals.expected_bytes += location.expected_bytes;
            totals.observed_bytes += location.observed_bytes;
            totals.impacted_bytes +=
                location.percent_of_client_location_impacted / 100.0 * location.expected_bytes;
            // The evidence of its most impacted window.
            if location.percent_of_client_location_impacted >= totals.peak_local {
                totals.performance = location.performance.or(totals.performance);
            }
            totals.peak_local = totals
                .peak_local
                .max(location.percent_of_client_location_impacted);
            totals.peak_total = totals
                .peak_total
                .max(location.percent_of_total_traffic_impacted);
            for (prefix, missing) in &location.prefixes {
                *totals.prefixes.entry(prefix.clone()).or_default() += missing;
            }
        }
    }
}

/// One event stream: the overall score, or one city-network's local condition.
pub(crate) struct Tracker {
    impact_type: ImpactType,
    threshold: f64,
    /// Names the place in event ids.
    place: String,
    impacted_run: u32,
    clean_run: u32,
    candidate: Option<Candidate>,
}

impl Tracker {
    pub fn new(impact_type: ImpactType, threshold: f64, place: String) -> Tracker {
        Tracker {
            impact_type,
            threshold,
            place,
            impacted_run: 0,
            clean_run: 0,
            candidate: None,
        }
    }

    /// Whether an event is raised and not resolved.
    pub fn is_active(&self) -> bool {
        self.candidate
            .as_ref()
            .is_some_and(|candidate| candidate.detected_at.is_some())
    }

    /// One window: `Some(evidence)` when the condition holds. Returns an event when one is
    /// resolved by this window.
    pub fn step(
        &mut self,
        window_start: i64,
        evidence: Option<&WindowEvidence<'_>>,
        city_networks: &[Arc<CityNetwork>],
    ) -> Option<HealthEvent> {
        match evidence {
            Some(evidence) => {
                self.clean_run = 0;
                self.impacted_run += 1;
                let candidate = self
                    .candidate
                    .get_or_insert_with(|| Candidate::new(window_start));
                candidate.add(evidence);
                if candidate.detected_at.is_none() && self.impacted_run >= OPEN_AFTER {
                    candidate.detected_at = Some(window_start + WINDOW_SECONDS);
                }
                None
            }
            None => {
                self.impacted_run = 0;
                if !self.is_active() {
                    // A run too short to raise an event leaves nothing behind.
                    self.candidate = None;
                    return None;
                }
                self.clean_run += 1;
                if self.clean_run < CLOSE_AFTER {
                    return None;
                }
                self.clean_run = 0;
                let candidate = self.candidate.take()?;
                Some(self.event_of(candidate, Status::Resolved, city_networks))
            }
        }
    }

    /// Its state for the next run; `None` at rest (no candidate: the same as a new tracker).
    pub fn state(
        &self,
        local: Option<&CityNetwork>,
        city_networks: &[Arc<CityNetwork>],
    ) -> Option<TrackerState> {
        let candidate = self.candidate.as_ref()?;
        Some(TrackerState {
            city_network: local.map(CityNetworkState::of),
            place: self.place.clone(),
            threshold: self.threshold,
            impacted_run: self.impacted_run,
            clean_run: self.clean_run,
            candidate: CandidateState {
                started_at: candidate.started_at,
                detected_at: candidate.detected_at,
                last_impacted_end: candidate.last_impacted_end,
                windows: candidate.windows,
                total_share_sum: candidate.total_share_sum,
                peak_total_share: candidate.peak_total_share,
                lowest_score: candidate.lowest_score,
                signals: candidate.signals.iter().copied().collect(),
                locations: candidate
                    .locations
                    .iter()
                    .map(|(&index, totals)| {
                        (
                            CityNetworkState::of(&city_networks[index]),
                            LocationState {
                                expected_bytes: totals.expected_bytes,
                                observed_bytes: totals.observed_bytes,
                                impacted_bytes: totals.impacted_bytes,
                                peak_local: totals.peak_local,
                                peak_total: totals.peak_total,
                                prefixes: totals
                                    .prefixes
                                    .iter()
                                    .map(|(prefix, bytes)| (prefix.clone(), *bytes))
                                    .collect(),
                                performance: totals.performance,
                            },
                        )
                    })
                    .collect(),
            },
        })
    }

    /// The tracker of a state from an earlier run; `index_of` gives each city-network its
    /// index in this run.
    pub fn resume(
        impact_type: ImpactType,
        state: &TrackerState,
        mut index_of: impl FnMut(&CityNetworkState) -> usize,
    ) -> Tracker {
        let saved = &state.candidate;
        Tracker {
            impact_type,
            threshold: state.threshold,
            place: state.place.clone(),
            impacted_run: state.impacted_run,
            clean_run: state.clean_run,
            candidate: Some(Candidate {
                started_at: saved.started_at,
                detected_at: saved.detected_at,
                last_impacted_end: saved.last_impacted_end,
                windows: saved.windows,
                total_share_sum: saved.total_share_sum,
                peak_total_share: saved.peak_total_share,
                lowest_score: saved.lowest_score,
                signals: saved.signals.iter().copied().collect(),
                locations: saved
                    .locations
                    .iter()
                    .map(|(city_network, totals)| {
                        (
                            index_of(city_network),
                            LocationTotals {
                                expected_bytes: totals.expected_bytes,
                                observed_bytes: totals.observed_bytes,
                                impacted_bytes: totals.impacted_bytes,
                                peak_local: totals.peak_local,
                                peak_total: totals.peak_total,
                                prefixes: totals.prefixes.iter().cloned().collect(),
                                performance: totals.performance,
                            },
                        )
                    })
                    .collect(),
            }),
        }
    }

    /// The raised, unresolved event at the end of a range, if any.
    pub fn finish(mut self, city_networks: &[Arc<CityNetwork>]) -> Option<HealthEvent> {
        if !self.is_active() {
            return None;
        }
        let candidate = self.candidate.take()?;
        Some(self.event_of(candidate, Status::Active, city_networks))
    }

    fn event_of(
        &self,
        candidate: Candidate,
        status: Status,
        city_networks: &[Arc<CityNetwork>],
    ) -> HealthEvent {
        let mut locations: Vec<(f64, ImpactedLocation)> = candidate
            .locations
            .into_iter()
            .map(|(index, totals)| {
                let mut prefixes: Vec<(String, f64)> = totals.prefixes.into_iter().collect();
                prefixes.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                (
                    totals.impacted_bytes,
                    ImpactedLocation {
                        city_network: city_networks[index].clone(),
                        expected_bytes: totals.expected_bytes.round() as i64,
                        observed_bytes: totals.observed_bytes.round() as i64,
                        peak_percent_of_client_location_impacted: totals.peak_local,
                        peak_percent_of_total_traffic_impacted: totals.peak_total,
                        prefixes: prefixes.into_iter().map(|(prefix, _)| prefix).collect(),
                        performance: totals.performance,
                    },
                )
            })
            .collect();
        locations.sort_by(|a, b| b.0.total_cmp(&a.0));
        let locations: Vec<ImpactedLocation> = locations
            .into_iter()
            .map(|(_, location)| location)
            .collect();
        let kind = self.impact_type.id_kind();
        HealthEvent {
            event_id: format!("{}/{kind}-{}", id_stamp(candidate.started_at), self.place),
            impact_type: self.impact_type,
            status,
            started_at: candidate.started_at,
            detected_at: candidate.detected_at.unwrap_or(candidate.last_impacted_end),
            ended_at: (status == Status::Resolved).then_some(candidate.last_impacted_end),
            health_score_threshold: self.threshold,
            percent_of_total_traffic_impacted: candidate.total_share_sum
                / candidate.windows.max(1) as f64,
            peak_percent_of_total_traffic_impacted: candidate.peak_total_share,
            lowest_availability_score: candidate.lowest_score,
            impacted_windows: candidate.windows,
            expected_bytes: locations
                .iter()
                .map(|location| location.expected_bytes)
                .sum(),
            observed_bytes: locations
                .iter()
                .map(|location| location.observed_bytes)
                .sum(),
            signals: candidate.signals.into_iter().collect(),
            impacted_locations: locations,
        }
    }
}

/// `2026-06-01T14-20-00Z`: Internet Monitor's event-id time form (no `:`, safe in URLs).
fn id_stamp(seconds: i64) -> String {
    crate::publish::iso_time(seconds).replace(':', "-")
}

/// The event streams of one kind of health (availability or performance): the overall
/// score's and one per city-network that was ever locally impacted.
pub(crate) struct Events<'c> {
    overall_type: ImpactType,
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
            overall_type,
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

    /// Takes up the trackers an earlier run left open; `index_of` gives a city-network's
    /// index in this run.
    pub(crate) fn resume(
        &mut self,
        saved: &[TrackerState],
        index_of: impl Fn(&CityNetworkState) -> usize,
    ) {
        for state in saved {
            match &state.city_network {
                None => {
                    self.overall = Tracker::resume(self.overall_type, state, &index_of);
                }
                Some(city_network) => {
                    self.local[index_of(city_network)] =
                        Some(Tracker::resume(self.local_type, state, &index_of));
                }
            }
        }
    }

    /// The trackers not at rest, for the next run.
    pub(crate) fn carry(&self, city_networks: &[Arc<CityNetwork>]) -> Vec<TrackerState> {
        let overall = self.overall.state(None, city_networks);
        let local = self
            .local
            .iter()
            .enumerate()
            .filter_map(|(index, tracker)| {
                tracker
                    .as_ref()?
                    .state(Some(&city_networks[index]), city_networks)
            });
        overall.into_iter().chain(local).collect()
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

/// Events by start, then impact type and id.
pub(crate) fn sort_events(events: &mut [HealthEvent]) {
    events.sort_by(|a, b| {
        (a.started_at, a.impact_type, &a.event_id).cmp(&(b.started_at, b.impact_type, &b.event_id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a tracker over a pattern of impacted (`x`) and clean (`.`) windows starting at 0 and
    /// returns (started window, detected window end, ended window end or None) per event.
    /// (started window, detected window end, ended window end) of one event.
    type Span = (i64, i64, Option<i64>);

    fn events_of(pattern: &str) -> Vec<Span> {
        let location = LocationWindow {
            city_network: 0,
            expected_bytes: 100.0,
            observed_bytes: 10.0,
            percent_of_client_location_impacted: 90.0,
            percent_of_total_traffic_impacted: 1.0,
            signals: vec![Signal::Traffic],
            prefixes: Vec::new(),
            performance: None,
        };
        let locations = [&location];
        let city_networks = [Arc::new(CityNetwork {
            account_id: None,
            region: None,
            client: Default::default(),
        })];
        let mut tracker = Tracker::new(ImpactType::LocalAvailability, 60.0, "x".into());
        let mut events = Vec::new();
        for (index, mark) in pattern.chars().enumerate() {
            let window_start = index as i64 * WINDOW_SECONDS;
            let evidence = WindowEvidence {
                window_start,
                percent_of_total_traffic_impacted: 1.0,
                score: 10.0,
                locations: &locations,
            };
            let evidence = (mark == 'x').then_some(&evidence);
            events.extend(tracker.step(window_start, evidence, &city_networks));
        }
        events.extend(tracker.finish(&city_networks));
        let window = |seconds: i64| seconds / WINDOW_SECONDS;
        events
            .into_iter()
            .map(|event| {
                (
                    window(event.started_at),
                    window(event.detected_at),
                    event.ended_at.map(window),
                )
            })
            .collect()
    }

    #[test]
    fn hysteresis_opens_after_two_and_closes_after_three() {
        let cases: &[(&str, &[Span])] = &[
            ("....", &[]),
            // One noisy window opens nothing, twice apart neither.
            ("..x...x..", &[]),
            // Two in a row: raised at the end of the second, resolved after three clean.
            ("..xx....", &[(2, 4, Some(4))]),
            // One or two clean windows inside do not close it.
            ("xx.x..xx...", &[(0, 2, Some(8))]),
            // Still impacted at the end: active, no end.
            ("..xxx", &[(2, 4, None)]),
            // Clean for only two windows at the end: still active.
            ("xxx..", &[(0, 2, None)]),
            // Two separate incidents.
            ("xx...xx...", &[(0, 2, Some(2)), (5, 7, Some(7))]),
        ];
        for (pattern, expected) in cases {
            assert_eq!(events_of(pattern), *expected, "{pattern}");
        }
    }

    #[test]
    fn event_ids_carry_the_start_like_internet_monitors() {
        assert_eq!(id_stamp(1_780_323_600), "2026-06-01T14-20-00Z");
        assert_eq!(id_stamp(0), "1970-01-01T00-00-00Z");
    }
}
