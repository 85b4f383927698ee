//! `flowatlas agent` as deployed: the binary runs in a server's network namespace (a veth pair
//! or a 40 ms delay line away from its clients), is stopped with SIGTERM, exits 0, and leaves
//! the partial window in `tcp_stats` with the clients' traffic counted to the byte; `flowatlas
//! process` turns that into `city_network_performance`, which DuckDB reads back, and `flowatlas
//! top --metric rtt-p90` ranks the delayed prefix first.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowatlas_tables::read_tcp_stats;
use flowatlas_testkit::netns::{CLIENT_IP, CLIENT_PREFIX, Link, client, serve};
use support::{flowatlas_ok, python, scratch};

/// A second client address, in TEST-NET-1: the clients behind the delay line.
const SLOW_CLIENT_IP: &str = "192.0.2.10";

/// Runs `flowatlas agent` in the link's server namespace while two clients talk to it, stops it
/// with SIGTERM, and returns its exit status, stderr and the bytes the clients read.
fn run_agent(link: &Link, out: &Path, host: &str) -> (Option<i32>, String, u64) {
    link.server.run(|| drop(serve(&[8080])));
    run_agent_with(link, &[], &[out.as_os_str()], host)
}

/// Like [`run_agent`] with the service already running, environment variables and `--out`'s
/// value (and more flags) given.
fn run_agent_with(
    link: &Link,
    env: &[(&str, &str)],
    out_flags: &[&std::ffi::OsStr],
    host: &str,
) -> (Option<i32>, String, u64) {
    let agent = Command::new("ip")
        .args(["netns", "exec", &link.server.name])
        .arg(env!("CARGO_BIN_EXE_flowatlas"))
        .args([
            "agent",
            "--interval",
            "1",
            "--ports",
            "8080",
            "--host",
            host,
        ])
        .arg("--out")
        .args(out_flags)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The agent's first dump is its baseline: the clients connect after it.
    std::thread::sleep(Duration::from_millis(1500));
    let until = Instant::now() + Duration::from_secs(3);
    let clients: Vec<_> = [
        (16 * 1024, Duration::ZERO),
        (64 * 1024, Duration::from_millis(20)),
    ]
    .into_iter()
    .map(|(response_len, pause)| {
        link.clients
            .spawn(move || client(8080, response_len, pause, until))
    })
    .collect();
    let bytes_read: u64 = clients
        .into_iter()
        .map(|client| client.join().unwrap())
        .sum();
    // Let the closes reach the server's sockets before the agent's last dump.
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, stderr) = agent.wait_with_output_or_kill();
    (status.code(), stderr, bytes_read)
}

#[test]
fn sigterm_writes_the_partial_window_and_process_ranks_the_slow_prefix() {
    let out = scratch("agent-sigterm");
    // Two hosts writing to one folder: one a veth pair from its clients, one 40 ms away.
    let fast = Link::veth("clif", CLIENT_IP);
    let slow = Link::delayed("clis", SLOW_CLIENT_IP, Duration::from_millis(20));
    let (fast_run, slow_run) = std::thread::scope(|scope| {
        let fast_run = scope.spawn(|| run_agent(&fast, &out, "fast-host"));
        let slow_run = scope.spawn(|| run_agent(&slow, &out, "slow-host"));
        (fast_run.join().unwrap(), slow_run.join().unwrap())
    });
    for (code, stderr, _) in [&fast_run, &slow_run] {
        assert_eq!(*code, Some(0), "{stderr}");
    }

    let rows = read_tcp_stats(&out, None, None).unwrap();
    let mut bytes_out = 0;
    let (mut opened, mut closed) = (0, 0);
    for row in rows.iter().filter(|row| &*row.host == "fast-host") {
        assert_eq!(row.client_prefix.to_string(), CLIENT_PREFIX);
        assert_eq!(row.local_port, 8080);
        bytes_out += row.measures.bytes_out;
        opened += row.measures.connections_new;
        closed += row.measures.connections_closed;
        assert!(!row.rtt.is_empty());
    }
    assert_eq!((opened, closed), (2, 2), "{}", fast_run.1);
    // The kernel's bytes_acked counts the FIN's sequence number once the peer acknowledges it.
    assert_eq!(bytes_out as u64, fast_run.2 + closed as u64);
    assert!(rows.iter().any(|row| &*row.host == "slow-host"));
    // Nothing half-written or undelivered is left.
    let leftovers: Vec<_> = flowatlas_testkit::files_under(&out)
        .into_iter()
        .filter(|path| {
            path.strip_prefix(&out).is_ok_and(|relative| {
                relative.starts_with("_spool")
                    || relative
                        .file_name()
                        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
            })
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Into the tables: the agents' folder through `process`, read back by DuckDB.
    let tables = scratch("agent-tables");
    flowatlas_ok(&[
        "process",
        "--out",
        tables.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    let script = r#"
import duckdb, json, sys
rows = duckdb.sql(f"""
SELECT count(*), sum(bytes_out), sum(connections_new), min(rtt_p90_ms), sum(len(rtt_buckets))
FROM read_parquet('{sys.argv[1]}/city_network_performance/**/*.parquet', hive_partitioning = true)
""").fetchall()[0]
print(json.dumps(rows))
"#;
    let stdout = python(script, &[tables.to_str().unwrap()]);
    let (n_rows, table_bytes_out, table_opened, p90, n_buckets): (i64, i64, i64, f64, i64) =
        serde_json::from_slice(&stdout).unwrap();
    let all_bytes_out: i64 = rows.iter().map(|row| row.measures.bytes_out).sum();
    let all_opened: i64 = rows.iter().map(|row| row.measures.connections_new).sum();
    assert!(n_rows >= 2);
    assert_eq!((table_bytes_out, table_opened), (all_bytes_out, all_opened));
    assert!(p90 > 0.0 && n_buckets > 0, "{p90} {n_buckets}");

    // The named queries of the performance tables run on them (DuckDB; `sequence` is Trino's,
    // DuckDB's `generate_series` stands in) and rank the delayed clients first.
    let script = r#"
import duckdb, json, pathlib, sys
con = duckdb.connect()
con.execute("CREATE SCHEMA flowatlas")
con.execute("CREATE MACRO sequence(a, b) AS generate_series(CAST(a AS BIGINT), CAST(b AS BIGINT))")
con.execute(f"CREATE VIEW flowatlas.city_network_performance AS SELECT * FROM read_parquet('{sys.argv[1]}/city_network_performance/**/*.parquet', hive_partitioning = true, hive_types = {{'dt': VARCHAR, 'hour': VARCHAR}})")
results = {}
for name in ["slowest_isps.sql", "retransmissions_by_isp.sql"]:
    sql = (pathlib.Path(sys.argv[2]) / name).read_text().replace("BETWEEN '2026-06-01' AND '2026-06-07'", ">= '2000-01-01'")
    results[name] = con.execute(sql).fetchall()
print(json.dumps(results))
"#;
    let stdout = python(
        script,
        &[tables.to_str().unwrap(), &support::repo("infra/athena")],
    );
    let results: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    // Neither client is in the test databases: both are the unknown ISP, one row each query.
    for query in ["slowest_isps.sql", "retransmissions_by_isp.sql"] {
        assert_eq!(results[query].as_array().unwrap().len(), 1, "{results}");
    }
    assert_eq!(results["slowest_isps.sql"][0][0], "tcp_srtt", "{results}");
    assert!(results["slowest_isps.sql"][0][3].is_number(), "{results}");

    // The delayed clients' prefix is the slowest.
    let ranking = flowatlas_ok(&[
        "top",
        "--data",
        tables.to_str().unwrap(),
        "--by",
        "prefix",
        "--metric",
        "rtt-p90",
        "--json",
    ]);
    let first: serde_json::Value =
        serde_json::from_slice(ranking.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["client"], "192.0.2.0/24", "{first}");
    // One of the clients pauses before each request, so the ACK of an answer's last segment
    // is a delayed one: its p90 is above the path's 40 ms (the netns tests hold accuracy).
    let p90 = first["rtt_p90_ms"].as_f64().unwrap();
    assert!(p90 >= 38.0, "{first}");
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_dir_all(&tables).unwrap();
}

/// With `--out s3://…`, a window that cannot be uploaded (no server yet) stays in the spool, the
/// agent still exits 0, and the next run delivers it first. moto's S3 server runs inside the
/// server's namespace, on its loopback, where the agent can reach it.
#[test]
fn an_s3_window_that_failed_to_upload_is_delivered_by_the_next_run() {
    let spool = scratch("agent-spool");
    let link = Link::veth("clis3", CLIENT_IP);
    let port = flowatlas_testkit::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let out_flags = [
        std::ffi::OsStr::new("s3://agent-bucket/fleet"),
        std::ffi::OsStr::new("--spool"),
        spool.as_os_str(),
    ];
    link.server.run(|| drop(serve(&[8080])));
    let (code, stderr, _) = run_agent_with(&link, &env, &out_flags, "s3-host");
    assert_eq!(code, Some(0), "{stderr}");
    // One window, or two when the run crossed a 5-minute boundary.
    let spooled: Vec<_> = flowatlas_testkit::files_under(&spool);
    assert!(!spooled.is_empty(), "{stderr}");

    // The server comes up (in the namespace: its loopback is the agent's); the next run
    // delivers the spooled window before anything else.
    let s3 = std::sync::Arc::new(
        link.server
            .run(move || flowatlas_testkit::S3Server::start_on(port, &["agent-bucket"])),
    );
    let (code, stderr, _) = run_agent_with(&link, &env, &out_flags, "s3-host");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        flowatlas_testkit::files_under(&spool).is_empty(),
        "{stderr}"
    );
    let listing = s3.clone();
    let keys = link.server.run(move || listing.keys("agent-bucket"));
    for file in &spooled {
        let relative = file.strip_prefix(&spool).unwrap().to_string_lossy();
        assert!(
            keys.contains(&format!("fleet/{relative}")),
            "{relative} not in {keys:?}"
        );
    }
    assert!(
        keys.iter()
            .all(|key| key.starts_with("fleet/tcp_stats/dt=")),
        "{keys:?}"
    );
    // The server's runtime belongs to the namespace's threads: dropped there too.
    link.server.run(move || drop(s3));
    std::fs::remove_dir_all(&spool).unwrap();
}

/// Waits for a child with piped stderr and returns its status and stderr; kills it after 30 s
/// so a hung agent fails the test instead of blocking it.
trait WaitOrKill {
    fn wait_with_output_or_kill(self) -> (std::process::ExitStatus, String);
}

impl WaitOrKill for std::process::Child {
    fn wait_with_output_or_kill(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.kill();
        let output = self.wait_with_output().unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}
