//! Round-trip times and retransmissions of a service's own TCP connections, per window, client
//! prefix and local port: the rows of the `tcp_stats` table that `flowatlas agent` writes.

use std::collections::{BTreeMap, HashMap};
use std::ops::AddAssign;
use std::sync::Arc;

use flowatlas_geo::{Enrichment, Facts, IpNetwork};

use crate::{CityNetworkKey, ServiceLocation, city_network_facts};

/// Largest relative error of a value read back from an [`RttHistogram`]: every value in a
/// bucket is within 1% of the bucket's representative value.
pub const RTT_RELATIVE_ERROR: f64 = 0.01;

/// Ratio between consecutive bucket edges, `(1 + e) / (1 - e)` for the relative error `e`. It
/// is part of the tables' contract: bucket numbers written with one ratio mean nothing under
/// another, so changing it needs a new schema version.
const GAMMA: f64 = (1.0 + RTT_RELATIVE_ERROR) / (1.0 - RTT_RELATIVE_ERROR);

/// A histogram of round-trip times (microseconds) with fixed, log-spaced bucket edges, the
/// DDSketch mapping: bucket `i` holds the values in `(γ^(i-1), γ^i]`. Because the edges never
/// depend on the data, histograms of many hosts and windows merge exactly by adding weights.
/// Weights are bytes moved, so percentiles are by traffic, as Internet Monitor weighs them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RttHistogram {
    weights: BTreeMap<i32, i64>,
}

impl RttHistogram {
    /// The bucket holding a round-trip time in microseconds (0 counts as 1 µs: the kernel
    /// reports whole microseconds, and no path is faster).
    pub fn bucket_of(rtt_us: u32) -> i32 {
        let value = f64::from(rtt_us.max(1));
        // At most ln(2^32) / ln(γ) ≈ 1,109: always fits an i32.
        (value.ln() / GAMMA.ln()).ceil() as i32
    }

    /// The value a bucket stands for: within [`RTT_RELATIVE_ERROR`] of every value in it.
    pub fn value_of(bucket: i32) -> f64 {
        2.0 * GAMMA.powi(bucket) / (GAMMA + 1.0)
    }

    /// Adds one sample with its weight; weights of 0 or less are ignored.
    pub fn record(&mut self, rtt_us: u32, weight: i64) {
        if weight > 0 {
            *self.weights.entry(Self::bucket_of(rtt_us)).or_default() += weight;
        }
    }

    /// A histogram from `(bucket, weight)` pairs, as stored in the tables; pairs with the
    /// same bucket add up.
    pub fn from_buckets(buckets: impl IntoIterator<Item = (i32, i64)>) -> RttHistogram {
        let mut histogram = RttHistogram::default();
        for (bucket, weight) in buckets {
            if weight > 0 {
                *histogram.weights.entry(bucket).or_default() += weight;
            }
        }
        histogram
    }

    /// The non-empty buckets in increasing order, with their weights.
    pub fn buckets(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.weights
            .iter()
            .map(|(&bucket, &weight)| (bucket, weight))
    }

    /// Sum of the weights.
    pub fn total_weight(&self) -> i64 {
        self.weights.values().sum()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The weighted quantile `q` (0–1) in microseconds: the value of the first bucket at which
    /// the running weight reaches `q` of the total. `None` for an empty histogram.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total_weight();
        let target = q.clamp(0.0, 1.0) * total as f64;
        let mut running = 0i64;
        for (&bucket, &weight) in &self.weights {
            running += weight;
            if running as f64 >= target {
                return Some(Self::value_of(bucket));
            }
        }
        None
    }
}

impl AddAssign<&RttHistogram> for RttHistogram {
    fn add_assign(&mut self, other: &RttHistogram) {
        for (&bucket, &weight) in &other.weights {
            *self.weights.entry(bucket).or_default() += weight;
        }
    }
}

/// The additive measures of a `tcp_stats` row (all but `connections_open` and `rtt_min_us`
/// add up across hosts and windows; `connections_open` adds up across hosts only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpMeasures {
    /// Connections first seen in the window (born after the agent started).
    pub connections_new: i64,
    /// Connections that closed in the window.
    pub connections_closed: i64,
    /// Connections open at the window's last poll.
    pub connections_open: i64,
    /// Bytes received from the clients (`tcpi_bytes_received` deltas).
    pub bytes_in: i64,
    /// Bytes sent and acknowledged by the clients (`tcpi_bytes_acked` deltas).
    pub bytes_out: i64,
    /// Data segments sent, retransmissions included (`tcpi_data_segs_out` deltas).
    pub segs_out: i64,
    /// Segments retransmitted (`tcpi_total_retrans` deltas).
    pub retrans_segs: i64,
    /// Bytes retransmitted (`tcpi_bytes_retrans` deltas).
    pub retrans_bytes: i64,
    /// RTT samples taken (polls at which a connection had moved data).
    pub rtt_samples: i64,
    /// Smallest `tcpi_min_rtt` seen, microseconds; 0 when no sample.
    pub rtt_min_us: i64,
}

impl AddAssign for TcpMeasures {
    fn add_assign(&mut self, other: TcpMeasures) {
        self.connections_new += other.connections_new;
        self.connections_closed += other.connections_closed;
        self.connections_open += other.connections_open;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.segs_out += other.segs_out;
        self.retrans_segs += other.retrans_segs;
        self.retrans_bytes += other.retrans_bytes;
        self.rtt_samples += other.rtt_samples;
        self.rtt_min_us = match (self.rtt_min_us, other.rtt_min_us) {
            (0, theirs) => theirs,
            (ours, 0) => ours,
            (ours, theirs) => ours.min(theirs),
        };
    }
}

impl TcpMeasures {
    /// Retransmitted segments per data segment sent; `None` when nothing was sent.
    pub fn retransmission_rate(&self) -> Option<f64> {
        (self.segs_out > 0).then(|| self.retrans_segs as f64 / self.segs_out as f64)
    }
}

/// A row of the `tcp_stats` table: one host's connections of one window, client prefix and
/// local port. Only the prefix leaves the host, never a client address.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpStatsRow {
    /// Start of the window, Unix seconds.
    pub window_start: i64,
    /// Where the connections were served.
    pub location: ServiceLocation,
    /// The host that measured them.
    pub host: Arc<str>,
    /// The clients' prefix (/24 and /48 by default).
    pub client_prefix: IpNetwork,
    /// The service's local port.
    pub local_port: i32,
    /// Counts and bytes.
    pub measures: TcpMeasures,
    /// Smoothed RTTs weighted by bytes moved.
    pub rtt: RttHistogram,
}

/// Where a round-trip time came from. Sources measure different things, so a percentile never
/// mixes them: the performance tables key every row by its source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RttSource {
    /// The kernel's smoothed RTT of the service's own TCP connections (`flowatlas agent`).
    #[default]
    TcpSrtt,
    /// A load balancer's TLS handshake time: about one RTT plus both ends' processing, a proxy
    /// for the RTT, never the RTT itself.
    TlsHandshake,
}

impl RttSource {
    /// Every source, in the order of their names.
    pub const ALL: [RttSource; 2] = [RttSource::TcpSrtt, RttSource::TlsHandshake];

    /// The name written in the `rtt_source` column.
    pub fn name(self) -> &'static str {
        match self {
            RttSource::TcpSrtt => "tcp_srtt",
            RttSource::TlsHandshake => "tls_handshake",
        }
    }

    /// The source a `rtt_source` column names; `None` for a name no version wrote.
    pub fn from_name(name: &str) -> Option<RttSource> {
        RttSource::ALL
            .into_iter()
            .find(|source| source.name() == name)
    }
}

/// The merged measures of rows that share a key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Performance {
    /// Counts and bytes, summed.
    pub measures: TcpMeasures,
    /// Histograms, merged.
    pub rtt: RttHistogram,
}

impl Performance {
    fn add(&mut self, row: &TcpStatsRow) {
        self.measures += row.measures;
        self.rtt += &row.rtt;
    }
}

/// A row of the `city_network_performance` table: hosts and ports merged.
#[derive(Clone, Debug, PartialEq)]
pub struct CityNetworkPerformanceRow {
    /// Start of the window, Unix seconds.
    pub window_start: i64,
    /// Where the connections were served.
    pub location: ServiceLocation,
    /// What measured the round-trip times.
    pub rtt_source: RttSource,
    /// The clients' city-network, as the `city_networks` table names it.
    pub client: Facts,
    /// Merged measures.
    pub performance: Performance,
}

/// A row of the `prefix_performance` table: hosts and ports merged.
#[derive(Clone, Debug, PartialEq)]
pub struct PrefixPerformanceRow {
    /// Start of the window, Unix seconds.
    pub window_start: i64,
    /// Where the connections were served.
    pub location: ServiceLocation,
    /// What measured the round-trip times.
    pub rtt_source: RttSource,
    /// The clients' prefix.
    pub client_prefix: IpNetwork,
    /// The prefix's AS, place and city-network facts (from its network address).
    pub client: Facts,
    /// Merged measures.
    pub performance: Performance,
}

/// Merges `tcp_stats` rows of any number of hosts into performance rows per window, service
/// location and client city-network (and per client prefix). Each prefix is enriched once, by
/// its network address: the agent never sends a client address. City-networks are grouped by
/// the same [`CityNetworkKey`] as the flow-log rollup; a row's facts are those of the first
/// prefix that named it. One rollup holds one [`RttSource`]: an object carries one kind.
pub struct PerformanceRollup {
    rtt_source: RttSource,
    city_networks: HashMap<(i64, ServiceLocation, CityNetworkKey), (Facts, Performance)>,
    prefixes: HashMap<(i64, ServiceLocation, IpNetwork), (Facts, Performance)>,
}

impl PerformanceRollup {
    /// An empty rollup of round-trip times measured by `rtt_source`.
    pub fn new(rtt_source: RttSource) -> PerformanceRollup {
        PerformanceRollup {
            rtt_source,
            city_networks: HashMap::new(),
            prefixes: HashMap::new(),
        }
    }

    /// Adds a row with its prefix's enrichment.
    pub fn add(&mut self, row: &TcpStatsRow, enrichment: Option<&Enrichment>) {
        let client = city_network_facts(enrichment);
        let key = CityNetworkKey::of(&client);
        self.prefixes
            .entry((row.window_start, row.location.clone(), row.client_prefix))
            .or_insert_with(|| (client.clone(), Performance::default()))
            .1
            .add(row);
        self.city_networks
            .entry((row.window_start, row.location.clone(), key))
            .or_insert_with(|| (client, Performance::default()))
            .1
            .add(row);
    }

    /// The rows, ordered by window, location, then city-network or prefix.
    pub fn finish(self) -> (Vec<CityNetworkPerformanceRow>, Vec<PrefixPerformanceRow>) {
        let rtt_source = self.rtt_source;
        let mut city_rows: Vec<CityNetworkPerformanceRow> = self
            .city_networks
            .into_iter()
            .map(
                |((window_start, location, _), (client, performance))| CityNetworkPerformanceRow {
                    window_start,
                    location,
                    rtt_source,
                    client,
                    performance,
                },
            )
            .collect();
        city_rows.sort_by(|a, b| {
            (a.window_start, &a.location, a.client.asn, &a.client.city).cmp(&(
                b.window_start,
                &b.location,
                b.client.asn,
                &b.client.city,
            ))
        });
        let mut prefix_rows: Vec<PrefixPerformanceRow> = self
            .prefixes
            .into_iter()
            .map(
                |((window_start, location, client_prefix), (client, performance))| {
                    PrefixPerformanceRow {
                        window_start,
                        location,
                        rtt_source,
                        client_prefix,
                        client,
                        performance,
                    }
                },
            )
            .collect();
        prefix_rows.sort_by_cached_key(|row| {
            (
                row.window_start,
                row.location.clone(),
                row.client_prefix.to_string(),
            )
        });
        (city_rows, prefix_rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_within_the_relative_error_of_its_bucket() {
        let mut rtt_us = 1u32;
        while let Some(next) = rtt_us.checked_add(rtt_us / 7 + 1) {
            let value = RttHistogram::value_of(RttHistogram::bucket_of(rtt_us));
            let error = (value - f64::from(rtt_us)).abs() / f64::from(rtt_us);
            assert!(error <= RTT_RELATIVE_ERROR + 1e-12, "{rtt_us} µs: {value}");
            rtt_us = next;
        }
    }

    #[test]
    fn merged_histograms_equal_one_fed_every_sample() {
        let samples: Vec<(u32, i64)> = (0..2_000u32)
            .map(|n| (1_000 + (n * 7_919) % 300_000, i64::from(1 + n % 13)))
            .collect();
        let mut whole = RttHistogram::default();
        let (mut first, mut second) = (RttHistogram::default(), RttHistogram::default());
        for (index, &(rtt_us, weight)) in samples.iter().enumerate() {
            whole.record(rtt_us, weight);
            let part = if index % 3 == 0 {
                &mut first
            } else {
                &mut second
            };
            part.record(rtt_us, weight);
        }
        first += &second;
        assert_eq!(first, whole);
        for q in [0.5, 0.9, 0.95] {
            assert_eq!(first.quantile(q), whole.quantile(q));
        }
    }

    #[test]
    fn quantiles_are_weighted_by_bytes() {
        let mut histogram = RttHistogram::default();
        histogram.record(10_000, 1);
        histogram.record(100_000, 9);
        let p50 = histogram.quantile(0.5).unwrap();
        assert!((p50 - 100_000.0).abs() / 100_000.0 <= RTT_RELATIVE_ERROR);
        let p05 = histogram.quantile(0.05).unwrap();
        assert!((p05 - 10_000.0).abs() / 10_000.0 <= RTT_RELATIVE_ERROR);
        assert_eq!(RttHistogram::default().quantile(0.5), None);
    }
}
