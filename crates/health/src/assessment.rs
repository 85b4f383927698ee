//! What an assessment produces: per window and city-network its health, per window the
//! service's, and the events; the availability and performance passes fill the same rows.

use std::sync::Arc;

use flowatlas_rollup::RttSource;

use crate::baseline::Method;
use crate::event::Signal;
use crate::{CityNetwork, HealthEvent, PerformanceHealth, RoundTripTime};

/// A share (percent) observed in a window and what its history expected.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// What this window's traffic is divided by when it serves as history of later windows
    /// (the demand estimate of the window, 1 where none), the same on every row of a window
    /// availability judged; `None` on rows only the performance pass wrote. Kept so that a
    /// run that starts after this window judges as a run over all of history does.
    pub window_demand: Option<f64>,
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
            window_demand: None,
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
