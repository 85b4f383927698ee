//! One host's window of `tcp_stats` rows shaped as `flowatlas agent` writes them on a real
//! service, for tests that take agent objects through the Lambda, backfill and `process`:
//! several client prefixes of several ISPs and places of `testdata/geo/*-scattered` (a city
//! spread over networks at their own coordinates, a city without subdivision, a country-only
//! network, a network with no place, an IPv6 /48), a prefix no database knows, two service
//! ports, heavy-tailed RTTs and retransmissions. Prefixes are /28 so that each falls in one
//! network of those small databases (`--prefix-lengths 28,48`). [`write_agent_window`] writes
//! them with the agent's own writer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flowatlas_agent::{LocalFolder, Output};

use flowatlas_rollup::{RttHistogram, ServiceLocation, TcpMeasures, TcpStatsRow};

/// The client prefixes of [`agent_rows`], with the RTT (ms) their clients see.
pub const AGENT_PREFIXES: [(&str, u32); 8] = [
    ("203.0.113.0/28", 18),
    ("203.0.113.16/28", 22),
    ("203.0.113.64/28", 95),
    ("203.0.113.96/28", 180),
    ("203.0.113.112/28", 40),
    ("203.0.113.128/28", 12),
    ("2001:db8:ffff::/48", 25),
    ("198.51.100.0/28", 300),
];

/// The rows one host's agent writes for the window starting at `window_start` (Unix seconds,
/// a multiple of 300), in the given service location.
pub fn agent_rows(window_start: i64, host: &str, location: &ServiceLocation) -> Vec<TcpStatsRow> {
    let mut rows = Vec::new();
    for (index, (prefix, rtt_ms)) in AGENT_PREFIXES.iter().enumerate() {
        for (port_index, port) in [443, 8443].into_iter().enumerate() {
            let index = index as i64;
            // Traffic falls off steeply from the first prefix to the last (heavy-tailed).
            let connections = 200 / (index + 1) + port_index as i64;
            let bytes_out = 50_000_000 / (index + 1).pow(2) + 1_000;
            let segs_out = bytes_out / 1_400 + 1;
            let mut rtt = RttHistogram::default();
            let base_us = rtt_ms * 1_000;
            // Most samples near the path's RTT, a tail up to 4 times it (queues, retransmits).
            for (step, share) in [(0, 60), (1, 20), (2, 10), (5, 6), (12, 3), (30, 1)] {
                let sample = base_us + base_us * step / 10;
                rtt.record(sample, bytes_out * share / 100);
            }
            rows.push(TcpStatsRow {
                window_start,
                location: location.clone(),
                host: Arc::from(host),
                client_prefix: prefix.parse().expect("a prefix"),
                local_port: port,
                measures: TcpMeasures {
                    connections_new: connections,
                    connections_closed: connections - 1,
                    connections_open: 3 + index,
                    bytes_in: bytes_out / 20,
                    bytes_out,
                    segs_out,
                    retrans_segs: segs_out * (index + 1) / 200,
                    retrans_bytes: bytes_out * (index + 1) / 200,
                    rtt_samples: connections * 30,
                    rtt_min_us: i64::from(base_us * 9 / 10),
                },
                rtt,
            });
        }
    }
    rows
}

/// Writes `rows` as the agent does (its [`Output`]: spooled under a hidden name, then moved
/// into `root`) as the window file `<name>.parquet`, and returns its path under
/// `root/tcp_stats/dt=…/hour=…/`.
pub fn write_agent_window(root: &Path, name: &str, rows: Vec<TcpStatsRow>) -> PathBuf {
    let mut output = Output::new(
        root.join("_spool"),
        Box::new(LocalFolder {
            root: root.to_path_buf(),
        }),
    );
    let delivery = output.write_window(name.to_owned(), rows);
    assert_eq!(delivery.n_delivered, 1, "the window is delivered");
    crate::files_under(&root.join("tcp_stats"))
        .into_iter()
        .find(|path| path.file_stem().is_some_and(|stem| stem == name))
        .expect("the window's file")
}
