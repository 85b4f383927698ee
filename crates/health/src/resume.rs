//! Judging the windows of a range *after* earlier runs judged the windows before it, so that a
//! scheduled run that reads only what its windows need decides exactly as one run over all of
//! history would. Two things cross the boundary between runs:
//!
//! - [`Earlier`]: what the earlier windows were judged to be, as the health tables hold it
//!   (which city-networks were impacted or degraded, and each window's demand divisor). A
//!   window judged impacted never feeds a later baseline, and history is divided by its own
//!   window's demand, so these change later judgements; without them the history before a
//!   range counts as unjudged (what `assess` over a range does).
//! - [`Carry`]: the event trackers that were not at rest after the last judged window (open
//!   events, their hysteresis counters and evidence so far). It is serializable: the caller
//!   keeps it between runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use flowatlas_geo::Facts;
use serde::{Deserialize, Serialize};

use crate::{CityNetwork, CityNetworkHealth, Identity};

/// Judgements of windows before a range, read back from the health tables.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Earlier {
    /// Window start → the demand its traffic is divided by as history (1 where none).
    pub(crate) demand: HashMap<i64, f64>,
    /// (city-network, window start) judged impacted (availability).
    pub(crate) impacted: HashSet<(Identity, i64)>,
    /// (city-network, window start) judged degraded (performance).
    pub(crate) degraded: HashSet<(Identity, i64)>,
}

impl Earlier {
    /// Nothing judged.
    pub fn new() -> Earlier {
        Earlier::default()
    }

    /// Takes in `city_network_health` rows of earlier windows; only what later judgements
    /// depend on is kept (impacted and degraded cells, the window's demand).
    pub fn add_rows(&mut self, rows: &[CityNetworkHealth]) {
        for row in rows {
            self.add(
                row.window_start,
                || row.city_network.identity(),
                row.window_demand,
                row.percent_of_client_location_impacted,
                row.performance
                    .and_then(|health| health.percent_of_client_location_degraded),
            );
        }
    }

    /// Takes in one `city_network_health` row given by its columns, for readers that decode
    /// only those: `identity` is called only for an impacted or degraded row.
    pub fn add(
        &mut self,
        window_start: i64,
        identity: impl FnOnce() -> Identity,
        window_demand: Option<f64>,
        percent_impacted: Option<f64>,
        percent_degraded: Option<f64>,
    ) {
        if let Some(demand) = window_demand {
            self.demand.insert(window_start, demand);
        }
        let impacted = percent_impacted.is_some_and(|percent| percent > 0.0);
        let degraded = percent_degraded.is_some_and(|percent| percent > 0.0);
        if !(impacted || degraded) {
            return;
        }
        let identity = identity();
        if impacted {
            self.impacted.insert((identity.clone(), window_start));
        }
        if degraded {
            self.degraded.insert((identity, window_start));
        }
    }

    /// Windows with a recorded demand: the windows the health tables say were judged.
    pub fn judged_windows(&self) -> impl Iterator<Item = i64> + '_ {
        self.demand.keys().copied()
    }
}

/// The event trackers not at rest after the last judged window: what the next run resumes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Carry {
    pub(crate) availability: Vec<TrackerState>,
    pub(crate) performance: Vec<TrackerState>,
}

impl Carry {
    /// Events raised and not resolved, plus candidates not yet raised.
    pub fn n_open(&self) -> usize {
        self.availability.len() + self.performance.len()
    }

    /// The earliest start of an open event or candidate, if any.
    pub fn earliest_start(&self) -> Option<i64> {
        self.availability
            .iter()
            .chain(&self.performance)
            .map(|tracker| tracker.candidate.started_at)
            .min()
    }
}

/// One tracker with a candidate: the overall stream (`city_network` `None`) or one
/// city-network's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrackerState {
    pub city_network: Option<CityNetworkState>,
    pub place: String,
    pub threshold: f64,
    pub impacted_run: u32,
    pub clean_run: u32,
    pub candidate: CandidateState,
}

/// An event from its first impacted window on (see `event::Candidate`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CandidateState {
    pub started_at: i64,
    pub detected_at: Option<i64>,
    pub last_impacted_end: i64,
    pub windows: i64,
    pub total_share_sum: f64,
    pub peak_total_share: f64,
    pub lowest_score: f64,
    pub signals: Vec<crate::Signal>,
    pub locations: Vec<(CityNetworkState, LocationState)>,
}

/// One impacted city-network's totals over a candidate's windows (see `event::LocationTotals`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LocationState {
    pub expected_bytes: f64,
    pub observed_bytes: f64,
    pub impacted_bytes: f64,
    pub peak_local: f64,
    pub peak_total: f64,
    pub prefixes: Vec<(String, f64)>,
    pub performance: Option<crate::PerformanceHealth>,
}

/// A city-network as the carry keeps it: its identity and attributes, so an event names it
/// even when the next run reads no row of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CityNetworkState {
    account_id: Option<String>,
    region: Option<String>,
    asn: Option<u32>,
    as_name: Option<String>,
    country_code: Option<String>,
    country: Option<String>,
    subdivision_code: Option<String>,
    subdivision: Option<String>,
    city: Option<String>,
    metro_code: Option<i32>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    postal_code: Option<String>,
    geoname_id: Option<u32>,
}

impl CityNetworkState {
    pub fn of(city_network: &CityNetwork) -> CityNetworkState {
        let text = |value: &Option<Arc<str>>| value.as_deref().map(str::to_string);
        let client = &city_network.client;
        CityNetworkState {
            account_id: text(&city_network.account_id),
            region: text(&city_network.region),
            asn: client.asn,
            as_name: text(&client.as_name),
            country_code: text(&client.country_code),
            country: text(&client.country),
            subdivision_code: text(&client.subdivision_code),
            subdivision: text(&client.subdivision),
            city: text(&client.city),
            metro_code: client.metro_code,
            latitude: client.latitude,
            longitude: client.longitude,
            postal_code: text(&client.postal_code),
            geoname_id: client.geoname_id,
        }
    }

    pub fn city_network(&self) -> CityNetwork {
        let text = |value: &Option<String>| value.as_deref().map(Arc::from);
        CityNetwork {
            account_id: text(&self.account_id),
            region: text(&self.region),
            client: Facts {
                asn: self.asn,
                as_name: text(&self.as_name),
                country_code: text(&self.country_code),
                country: text(&self.country),
                subdivision_code: text(&self.subdivision_code),
                subdivision: text(&self.subdivision),
                city: text(&self.city),
                metro_code: self.metro_code,
                latitude: self.latitude,
                longitude: self.longitude,
                postal_code: text(&self.postal_code),
                geoname_id: self.geoname_id,
            },
        }
    }
}

/// `RttSource` by its table name, so the carry reads as the tables do.
pub(crate) mod rtt_source_name {
    use flowatlas_rollup::RttSource;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(source: &RttSource, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(source.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<RttSource, D::Error> {
        let name = String::deserialize(deserializer)?;
        RttSource::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown rtt_source {name:?}")))
    }
}

/// What a resumed assessment hands back beside the [`crate::Assessment`].
#[derive(Clone, Debug, PartialEq)]
pub struct Resumed {
    /// The trackers after the last judged window, for the next run.
    pub carry: Carry,
    /// The last window judged (availability or performance), if any.
    pub last_judged: Option<i64>,
}
/// What a resumed assessment starts from: the judgements of the windows before its range and
/// the trackers the run that judged them left open.
#[derive(Clone, Copy)]
pub struct Before<'b> {
    /// Judgements of earlier windows (from the health tables).
    pub earlier: &'b Earlier,
    /// Trackers open after the last earlier window.
    pub carry: &'b Carry,
}
