//! The agent against real connections: a server and agents in one network namespace, clients
//! in another, joined by a user-space delay line (and iptables for loss). What the agents
//! write is read back from their Parquet files and compared with what was injected.
//!
//! Each test prints what it measured (`--nocapture`): the README quotes those figures.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flowatlas_agent::{Agent, CollectConfig, LocalFolder, Output};
use flowatlas_geo::PeerRules;
use flowatlas_rollup::{RttHistogram, ServiceLocation, TcpMeasures};
use flowatlas_tables::read_tcp_stats;
use flowatlas_testkit::netns::{CLIENT_IP, CLIENT_PREFIX, Link, client, serve};

const POLL_EVERY: Duration = Duration::from_secs(1);

/// A client: server port, bytes per answer, pause before each request.
type Load = (u16, u32, Duration);

/// Runs the service on `ports` with `loads` for `duration`, one agent per entry of
/// `agent_ports` polling every second, and returns each agent's output folder.
fn measure(
    link: &Link,
    ports: &[u16],
    agent_ports: &[&[u16]],
    loads: &[Load],
    duration: Duration,
) -> Vec<PathBuf> {
    let server_ports = ports.to_vec();
    link.server.run(move || drop(serve(&server_ports)));
    let started = unix_now();
    let mut dirs = Vec::new();
    let mut agents: Vec<Agent> = Vec::new();
    for (index, ports) in agent_ports.iter().enumerate() {
        let dir = std::env::temp_dir().join(format!("{}-agent{index}", link.server.name));
        let _ = std::fs::remove_dir_all(&dir);
        let config = CollectConfig {
            ports: ports.to_vec(),
            rules: PeerRules::new(&[], None).unwrap(),
            prefix_len_v4: 24,
            prefix_len_v6: 48,
            location: ServiceLocation::default(),
            host: Arc::from(format!("host{index}").as_str()),
        };
        let output = Output::new(
            dir.join("_spool"),
            Box::new(LocalFolder { root: dir.clone() }),
        );
        agents.push(
            link.server
                .run(move || Agent::new(config, output, started).expect("agent")),
        );
        dirs.push(dir);
    }
    for agent in &mut agents {
        agent.poll(unix_now()).unwrap();
    }
    let until = Instant::now() + duration;
    let clients: Vec<_> = loads
        .iter()
        .map(|&(port, response_len, pause)| {
            link.clients
                .spawn(move || client(port, response_len, pause, until))
        })
        .collect();
    while Instant::now() < until {
        std::thread::sleep(POLL_EVERY);
        for agent in &mut agents {
            agent.poll(unix_now()).unwrap();
        }
    }
    for client in clients {
        assert!(client.join().unwrap() > 0);
    }
    for agent in agents {
        agent.shutdown(unix_now()).unwrap();
    }
    dirs
}

/// Every row of the clients' prefix in the folders, merged: measures and histogram.
fn merged(dirs: &[PathBuf]) -> (TcpMeasures, RttHistogram) {
    let mut measures = TcpMeasures::default();
    let mut rtt = RttHistogram::default();
    for dir in dirs {
        for row in read_tcp_stats(dir, None, None).unwrap() {
            assert_eq!(row.client_prefix.to_string(), CLIENT_PREFIX);
            measures += row.measures;
            rtt += &row.rtt;
        }
    }
    (measures, rtt)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn remove(dirs: &[PathBuf]) {
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn ms(us: f64) -> f64 {
    us / 1000.0
}

/// The RTT percentiles of 4 clients behind a delay line giving `rtt_ms`, against the target.
fn rtt_matches(tag: &str, rtt_ms: u64, duration: Duration) {
    let link = Link::delayed(tag, CLIENT_IP, Duration::from_millis(rtt_ms) / 2);
    let dirs = measure(
        &link,
        &[8080],
        &[&[8080]],
        &[(8080, 10 * 1448, Duration::ZERO); 4],
        duration,
    );
    let (measures, rtt) = merged(&dirs);
    remove(&dirs);
    let p50 = ms(rtt.quantile(0.5).expect("RTT samples"));
    let p95 = ms(rtt.quantile(0.95).expect("RTT samples"));
    let target = rtt_ms as f64;
    eprintln!(
        "injected {rtt_ms} ms: p50 {p50:.2} ms, p95 {p95:.2} ms, min {:.2} ms, {} samples, {} bytes out",
        ms(measures.rtt_min_us as f64),
        measures.rtt_samples,
        measures.bytes_out
    );
    assert!(measures.rtt_samples >= 20, "{measures:?}");
    assert!(
        (p50 - target).abs() <= (0.05 * target).max(2.0),
        "p50 {p50:.2} ms for {rtt_ms} ms"
    );
    assert!(
        (p95 - target).abs() <= 0.10 * target,
        "p95 {p95:.2} ms for {rtt_ms} ms"
    );
    assert_eq!(measures.connections_new, 4);
}

#[test]
fn rtt_of_50_ms() {
    rtt_matches("r50", 50, Duration::from_secs(6));
}

#[test]
fn rtt_of_100_ms() {
    rtt_matches("r100", 100, Duration::from_secs(6));
}

#[test]
fn rtt_of_300_ms() {
    rtt_matches("r300", 300, Duration::from_secs(8));
}

#[test]
fn retransmission_rate_matches_injected_loss() {
    let link = Link::delayed("loss", CLIENT_IP, Duration::from_millis(1));
    // 2% of the server's packets are dropped on their way into the clients' namespace.
    link.clients.exec(
        "iptables",
        &[
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--sport",
            "8080",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            "0.02",
            "-j",
            "DROP",
        ],
    );
    let dirs = measure(
        &link,
        &[8080],
        &[&[8080]],
        &[(8080, 64 * 1024, Duration::from_millis(5)); 4],
        Duration::from_secs(6),
    );
    let (measures, _) = merged(&dirs);
    remove(&dirs);
    let rate = measures.retransmission_rate().expect("segments");
    eprintln!(
        "2% loss: {} of {} segments retransmitted ({:.3}%)",
        measures.retrans_segs,
        measures.segs_out,
        100.0 * rate
    );
    assert!(measures.segs_out >= 10_000, "{measures:?}");
    assert!((rate - 0.02).abs() <= 0.005, "rate {rate}");
}

/// Two agents each seeing one port's clients, merged, against one agent seeing both. The three
/// read the same kernel one after another, so a connection can move a few bytes between two of
/// their reads: connections must agree exactly, totals within 1%, and percentiles within 10%.
#[test]
fn two_agents_merged_equal_one_agent() {
    let link = Link::delayed("merge", CLIENT_IP, Duration::from_millis(25));
    let dirs = measure(
        &link,
        &[8001, 8002],
        &[&[8001], &[8002], &[8001, 8002]],
        &[
            (8001, 16 * 1024, Duration::ZERO),
            (8001, 48 * 1024, Duration::ZERO),
            (8002, 32 * 1024, Duration::ZERO),
        ],
        Duration::from_secs(5),
    );
    let (parts, parts_rtt) = merged(&dirs[..2]);
    let (whole, whole_rtt) = merged(&dirs[2..]);
    remove(&dirs);
    for q in [0.5, 0.9, 0.95] {
        let (part, all) = (
            parts_rtt.quantile(q).unwrap(),
            whole_rtt.quantile(q).unwrap(),
        );
        eprintln!(
            "q{q}: merged {:.2} ms, one agent {:.2} ms",
            ms(part),
            ms(all)
        );
        // Each sample is a connection's smoothed RTT at a read, and every ACK between two
        // agents' reads moves it. On a loaded machine the reads are milliseconds apart and the
        // user-space delay line jitters: CI measured the merged p90 three buckets off (54.7 ms
        // against 51.6 ms), and once one bucket (γ = 1.0202, over the 2α first allowed). Each
        // agent is held within 5% of the injected delay (`rtt_of_50_ms`), so two agree within
        // 10%.
        assert!(
            part.max(all) / part.min(all) <= 1.10,
            "q{q}: {part} vs {all}"
        );
    }
    assert_eq!(parts.connections_new, whole.connections_new);
    // A connection may move its first bytes between two agents' reads: one sample each.
    assert!(
        (parts.rtt_samples - whole.rtt_samples).abs() <= 3,
        "{parts:?} {whole:?}"
    );
    let close = |a: i64, b: i64| (a - b).abs() as f64 <= 0.01 * b as f64;
    assert!(
        close(parts.bytes_out, whole.bytes_out),
        "{parts:?} {whole:?}"
    );
    assert!(close(parts.segs_out, whole.segs_out), "{parts:?} {whole:?}");
}
