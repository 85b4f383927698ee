//! The agent's cost on a busy host: 10,000 connections open to a server in a network namespace
//! (needs root, `ip`), polled by the agent's library as `flowatlas agent` polls them. Prints
//! the CPU and wall time per poll (dump, decode, deltas), the connections followed, the
//! process's peak resident set, and the size of a window's `tcp_stats` file for a host whose
//! clients come from 1,000 prefixes on 2 ports (synthetic rows: one client address per test
//! link, so the prefixes are made up, the encoding is the writer's own).
//!
//! `cargo bench -p flowatlas-benches --bench agent_poll`

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use flowatlas_agent::{Agent, CollectConfig, LocalFolder, Output};
use flowatlas_geo::PeerRules;
use flowatlas_rollup::{RttHistogram, ServiceLocation, TcpMeasures, TcpStatsRow};
use flowatlas_tables::{tcp_stats, write_partitioned};
use flowatlas_testkit::netns::{CLIENT_IP, Link, SERVER_IP};

const N_CONNECTIONS: usize = 10_000;
const N_POLLS: u32 = 20;

/// User + system CPU time of this process, from `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the state.
    (ticks(11) + ticks(12)) * 10.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() {
    let link = Link::veth("bench", CLIENT_IP);
    let listener: TcpListener = link
        .server
        .run(|| TcpListener::bind((SERVER_IP, 443)).expect("listen"));
    // Server sockets are kept; each client socket is closed once accepted (the server's side
    // stays, in CLOSE_WAIT, a full socket with tcp_info), so the process holds 10,000 sockets.
    let server: SocketAddr = format!("{SERVER_IP}:443").parse().expect("address");
    let accepting = std::thread::spawn(move || {
        (0..N_CONNECTIONS)
            .map(|_| listener.accept().expect("accept").0)
            .collect::<Vec<TcpStream>>()
    });
    link.clients.run(move || {
        for _ in 0..N_CONNECTIONS {
            drop(TcpStream::connect(server).expect("connect"));
        }
    });
    let held = accepting.join().expect("accepted");

    let dir = std::env::temp_dir().join(format!("flowatlas-bench-agent-{}", std::process::id()));
    let config = CollectConfig {
        ports: vec![443],
        rules: PeerRules::new(&[], None).expect("rules"),
        prefix_len_v4: 24,
        prefix_len_v6: 48,
        location: ServiceLocation::default(),
        host: Arc::from("bench"),
    };
    let output = Output::new(
        dir.join("_spool"),
        Box::new(LocalFolder { root: dir.clone() }),
    );
    let rss_before = peak_rss_mib();
    let mut agent = link
        .server
        .run(move || Agent::new(config, output, 0).expect("agent"));
    let now = 1_780_315_200;
    let report = agent.poll(now).expect("first poll");
    let (cpu_start, wall_start) = (cpu_ms(), Instant::now());
    let mut n_tracked = report.n_tracked;
    for poll in 1..=N_POLLS {
        n_tracked = agent.poll(now + i64::from(poll)).expect("poll").n_tracked;
    }
    let cpu_per_poll = (cpu_ms() - cpu_start) / f64::from(N_POLLS);
    let wall_per_poll = wall_start.elapsed().as_secs_f64() * 1000.0 / f64::from(N_POLLS);
    drop(held);

    // A window of 1,000 prefixes × 2 ports, each with a 30-bucket histogram.
    let rows: Vec<TcpStatsRow> = (0..2_000u32)
        .map(|index| {
            let mut rtt = RttHistogram::default();
            for sample in 0..30u32 {
                rtt.record(
                    20_000 + (index % 97) * 900 + sample * 300,
                    1_000 + i64::from(sample),
                );
            }
            let prefix = std::net::Ipv4Addr::from(0xC000_0000u32 + ((index / 2) << 8));
            TcpStatsRow {
                window_start: now,
                location: ServiceLocation::default(),
                host: Arc::from("bench"),
                client_prefix: format!("{prefix}/24").parse().expect("prefix"),
                local_port: if index % 2 == 0 { 443 } else { 8443 },
                measures: TcpMeasures {
                    connections_new: 12,
                    connections_closed: 11,
                    connections_open: 40,
                    bytes_in: 1_000_000,
                    bytes_out: 9_000_000,
                    segs_out: 7_000,
                    retrans_segs: 50,
                    retrans_bytes: 70_000,
                    rtt_samples: 300,
                    rtt_min_us: 19_000,
                },
                rtt,
            }
        })
        .collect();
    let written = write_partitioned(&tcp_stats(), &rows, &dir, "bench-window").expect("write");
    let bytes: u64 = written
        .iter()
        .map(|file| std::fs::metadata(dir.join(&file.path)).map_or(0, |meta| meta.len()))
        .sum();
    let _ = std::fs::remove_dir_all(&dir);

    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "agent poll over {n_tracked} connections followed ({N_CONNECTIONS} opened): \
         {cpu_per_poll:.1} ms CPU, {wall_per_poll:.1} ms wall per poll (mean of {N_POLLS}); \
         peak RSS {:.1} MiB (process, {rss_before:.1} MiB before the agent); \
         tcp_stats window of {} rows: {bytes} bytes",
        peak_rss_mib(),
        rows.len()
    );
}
