//! From socket snapshots to window rows: per-socket deltas between polls, RTT samples of
//! sockets that moved data, and sums per window × client prefix × local port. No I/O: the
//! snapshots come from [`crate::diag`], the rows go to [`crate::output`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use flowatlas_geo::{IpNetwork, PeerRules};
use flowatlas_rollup::{
    RttHistogram, ServiceLocation, TcpMeasures, TcpStatsRow, WINDOW_SECONDS, client_prefix,
};

use crate::diag::{SocketSample, TCP_LISTEN, TcpCounters};

/// What the collector keeps and how it names it.
#[derive(Clone, Debug)]
pub struct CollectConfig {
    /// Service ports whose connections are measured; empty: every listening port.
    pub ports: Vec<u16>,
    /// Which peers are local (special ranges, `--local-cidr`): only the others are measured.
    pub rules: PeerRules,
    /// Client prefix length for IPv4 peers.
    pub prefix_len_v4: u8,
    /// Client prefix length for IPv6 peers.
    pub prefix_len_v6: u8,
    /// Where the service runs.
    pub location: ServiceLocation,
    /// This host's name, in every row.
    pub host: Arc<str>,
}

/// A connection the collector follows between polls.
struct Tracked {
    key: RowKey,
    last: TcpCounters,
    /// Absent from the last dump: closed, unless its destroy notification is still on the way.
    missing: bool,
}

/// Client prefix and local port.
type RowKey = (IpNetwork, u16);

#[derive(Default)]
struct Aggregate {
    measures: TcpMeasures,
    rtt: RttHistogram,
}

/// Turns successive snapshots into rows. Memory is the live connections plus one aggregate
/// per client prefix and port of the current window.
pub struct Collector {
    config: CollectConfig,
    tracked: HashMap<u64, Tracked>,
    /// The window being filled and its rows; `None` before the first poll.
    window_start: Option<i64>,
    rows: BTreeMap<RowKey, Aggregate>,
    /// The ports measured at the last dump (the configured ones, or the listening ones).
    ports: HashSet<u16>,
}

impl Collector {
    /// A collector that has seen nothing yet.
    pub fn new(config: CollectConfig) -> Collector {
        let ports = config.ports.iter().copied().collect();
        Collector {
            config,
            tracked: HashMap::new(),
            window_start: None,
            rows: BTreeMap::new(),
            ports,
        }
    }

    /// Connections followed right now.
    pub fn n_tracked(&self) -> usize {
        self.tracked.len()
    }

    /// Takes a full dump made at `now` (Unix seconds). Returns the rows of the previous window
    /// when `now` falls in a new one. The first dump only sets the baseline: what connections
    /// open before the agent started had moved is not counted in any window.
    pub fn observe_dump(&mut self, now: i64, sockets: &[SocketSample]) -> Vec<TcpStatsRow> {
        let first = self.window_start.is_none();
        let finished = self.enter_window(now);
        if self.config.ports.is_empty() {
            self.ports = sockets
                .iter()
                .filter(|socket| socket.state == TCP_LISTEN)
                .map(|socket| socket.local.port())
                .collect();
        }
        // Connections absent from two dumps in a row closed without a notification (or it was
        // lost): they count as closed, without their last counters.
        let mut closed_unseen: Vec<RowKey> = Vec::new();
        self.tracked.retain(|_, tracked| {
            if tracked.missing {
                closed_unseen.push(tracked.key);
            }
            !tracked.missing
        });
        for key in closed_unseen {
            self.rows
                .entry(key)
                .or_default()
                .measures
                .connections_closed += 1;
        }
        for tracked in self.tracked.values_mut() {
            tracked.missing = true;
        }
        for aggregate in self.rows.values_mut() {
            aggregate.measures.connections_open = 0;
        }
        for socket in sockets {
            let Some((key, counters)) = self.measured(socket) else {
                continue;
            };
            match self.tracked.get_mut(&socket.cookie) {
                Some(tracked) => {
                    let last = std::mem::replace(&mut tracked.last, counters);
                    tracked.missing = false;
                    let aggregate = self.rows.entry(key).or_default();
                    add_delta(aggregate, &last, &counters);
                    aggregate.measures.connections_open += 1;
                }
                None => {
                    self.tracked.insert(
                        socket.cookie,
                        Tracked {
                            key,
                            last: counters,
                            missing: false,
                        },
                    );
                    let aggregate = self.rows.entry(key).or_default();
                    aggregate.measures.connections_open += 1;
                    // A connection seen at the first dump predates the agent: its counters so
                    // far are only the baseline. Later ones are new: counted from zero.
                    if !first {
                        aggregate.measures.connections_new += 1;
                        add_delta(aggregate, &TcpCounters::default(), &counters);
                    }
                }
            }
        }
        finished
    }

    /// Takes destroy notifications received at `now`: each measured connection's last counters
    /// are counted and it is forgotten. Notifications before the first dump are ignored (those
    /// connections predate the agent).
    pub fn observe_destroyed(&mut self, now: i64, sockets: &[SocketSample]) -> Vec<TcpStatsRow> {
        if self.window_start.is_none() {
            return Vec::new();
        }
        let finished = self.enter_window(now);
        for socket in sockets {
            let Some((key, counters)) = self.measured(socket) else {
                continue;
            };
            let last = match self.tracked.remove(&socket.cookie) {
                Some(tracked) => tracked.last,
                // Born and gone between two dumps: all its counters are new.
                None => {
                    self.rows.entry(key).or_default().measures.connections_new += 1;
                    TcpCounters::default()
                }
            };
            let aggregate = self.rows.entry(key).or_default();
            add_delta(aggregate, &last, &counters);
            aggregate.measures.connections_closed += 1;
        }
        finished
    }

    /// The rows of the window being filled, even if it is not over (at shutdown).
    pub fn finish(&mut self) -> Vec<TcpStatsRow> {
        match self.window_start {
            Some(window_start) => self.take_rows(window_start),
            None => Vec::new(),
        }
    }

    /// Moves to the window of `now`, returning the rows of the one it leaves.
    fn enter_window(&mut self, now: i64) -> Vec<TcpStatsRow> {
        let window_start = now - now.rem_euclid(WINDOW_SECONDS);
        match self.window_start.replace(window_start) {
            Some(previous) if previous != window_start => self.take_rows(previous),
            _ => Vec::new(),
        }
    }

    fn take_rows(&mut self, window_start: i64) -> Vec<TcpStatsRow> {
        std::mem::take(&mut self.rows)
            .into_iter()
            .map(|((prefix, port), aggregate)| TcpStatsRow {
                window_start,
                location: self.config.location.clone(),
                host: self.config.host.clone(),
                client_prefix: prefix,
                local_port: i32::from(port),
                measures: aggregate.measures,
                rtt: aggregate.rtt,
            })
            .collect()
    }

    /// The row key and counters of a socket the agent measures: a connection (not a listener)
    /// on a service port with a public peer, with `tcp_info`.
    fn measured(&self, socket: &SocketSample) -> Option<(RowKey, TcpCounters)> {
        if socket.state == TCP_LISTEN || !self.ports.contains(&socket.local.port()) {
            return None;
        }
        let peer: SocketAddr = socket.peer;
        if self.config.rules.is_local(peer.ip()) {
            return None;
        }
        let prefix = client_prefix(
            peer.ip(),
            self.config.prefix_len_v4,
            self.config.prefix_len_v6,
        );
        Some(((prefix, socket.local.port()), socket.counters?))
    }
}

/// Adds what a connection did between two snapshots. Its smoothed RTT is a sample only when it
/// moved data in between (an idle connection's RTT is stale), weighted by the bytes moved.
fn add_delta(aggregate: &mut Aggregate, last: &TcpCounters, now: &TcpCounters) {
    let bytes_out = now.bytes_acked.saturating_sub(last.bytes_acked);
    let bytes_in = now.bytes_received.saturating_sub(last.bytes_received);
    let measures = &mut aggregate.measures;
    measures.bytes_out += clamp(bytes_out);
    measures.bytes_in += clamp(bytes_in);
    measures.segs_out += i64::from(now.data_segs_out.wrapping_sub(last.data_segs_out));
    measures.retrans_segs += i64::from(now.total_retrans.wrapping_sub(last.total_retrans));
    measures.retrans_bytes += clamp(now.bytes_retrans.saturating_sub(last.bytes_retrans));
    let moved = clamp(bytes_out.saturating_add(bytes_in));
    if moved > 0 && now.rtt_us > 0 {
        aggregate.rtt.record(now.rtt_us, moved);
        measures.rtt_samples += 1;
        let min_rtt = i64::from(now.min_rtt_us);
        if min_rtt > 0 && (measures.rtt_min_us == 0 || min_rtt < measures.rtt_min_us) {
            measures.rtt_min_us = min_rtt;
        }
    }
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn config() -> CollectConfig {
        CollectConfig {
            ports: vec![443],
            rules: PeerRules::new(&[], None).unwrap(),
            prefix_len_v4: 24,
            prefix_len_v6: 48,
            location: ServiceLocation::default(),
            host: Arc::from("host"),
        }
    }

    fn socket(cookie: u64, peer: [u8; 4], acked: u64, rtt_us: u32) -> SocketSample {
        SocketSample {
            cookie,
            state: 1,
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 443),
            peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(peer)), 50_000),
            counters: Some(TcpCounters {
                rtt_us,
                min_rtt_us: rtt_us / 2,
                bytes_acked: acked,
                data_segs_out: (acked / 1_000) as u32,
                ..TcpCounters::default()
            }),
        }
    }

    #[test]
    fn counts_deltas_and_skips_idle_and_old_traffic() {
        let mut collector = Collector::new(config());
        // Before the agent: 5,000 bytes already sent, never counted.
        assert!(
            collector
                .observe_dump(0, &[socket(1, [203, 0, 113, 9], 5_000, 40_000)])
                .is_empty()
        );
        collector.observe_dump(
            10,
            &[
                socket(1, [203, 0, 113, 9], 8_000, 50_000),
                // New since the last dump; a private peer is never measured.
                socket(2, [203, 0, 113, 77], 1_000, 60_000),
                socket(3, [10, 0, 0, 1], 9_000, 60_000),
            ],
        );
        // Socket 1 idle: its RTT is stale and not sampled; socket 2 is gone without notice, and
        // counts as closed once absent from two dumps.
        collector.observe_dump(20, &[socket(1, [203, 0, 113, 9], 8_000, 90_000)]);
        collector.observe_dump(30, &[socket(1, [203, 0, 113, 9], 8_000, 90_000)]);
        let rows = collector.observe_dump(300, &[socket(1, [203, 0, 113, 9], 8_000, 90_000)]);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.client_prefix.to_string(), "203.0.113.0/24");
        assert_eq!(row.local_port, 443);
        assert_eq!(row.measures.bytes_out, 3_000 + 1_000);
        assert_eq!(row.measures.connections_new, 1);
        assert_eq!(row.measures.connections_closed, 1);
        assert_eq!(row.measures.connections_open, 1);
        assert_eq!(row.measures.rtt_samples, 2);
        assert_eq!(row.measures.rtt_min_us, 25_000);
        assert_eq!(row.rtt.total_weight(), 4_000);
        assert_eq!(collector.n_tracked(), 1);
    }

    #[test]
    fn a_destroyed_connection_counts_its_last_counters_once() {
        let mut collector = Collector::new(config());
        collector.observe_dump(0, &[]);
        collector.observe_dump(10, &[socket(7, [203, 0, 113, 5], 2_000, 30_000)]);
        collector.observe_destroyed(12, &[socket(7, [203, 0, 113, 5], 3_500, 30_000)]);
        // Short-lived: born and destroyed between dumps.
        collector.observe_destroyed(13, &[socket(8, [203, 0, 113, 6], 700, 30_000)]);
        collector.observe_dump(20, &[]);
        let rows = collector.finish();
        assert_eq!(rows.len(), 1);
        let measures = rows[0].measures;
        assert_eq!(measures.bytes_out, 3_500 + 700);
        assert_eq!(measures.connections_new, 2);
        assert_eq!(measures.connections_closed, 2);
        assert_eq!(measures.connections_open, 0);
        assert_eq!(collector.n_tracked(), 0);
    }
}
