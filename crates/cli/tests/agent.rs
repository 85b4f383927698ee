//! `flowatlas agent` as deployed: the binary runs in a server's network namespace (a veth pair
//! or a 40 ms delay line away from its clients), is stopped with SIGTERM, exits 0, and leaves
//! the partial window in `tcp_stats` with the clients' traffic counted to the byte; `flowatlas
//! process` turns that into `city_network_performance`, which DuckDB reads back, and `flowatlas
//! top --metric rtt-p90` ranks the delayed prefix first. A delay raised on one client's path
//! mid-run makes `flowatlas health` raise `LOCAL_PERFORMANCE` for that city-network alone.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowatlas_tables::read_tcp_stats;
use flowatlas_testkit::netns::{CLIENT_IP, CLIENT_PREFIX, Link, client, serve};
use support::{flowatlas_ok, health_lines, python, scratch};

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
    // Let the closes reach the server's sockets before the agent's last dump: a fixed pause was
    // too short on a loaded machine (the delay line forwards in user space), and the last
    // dump then found every connection still open.
    wait_for_closes(&link.server.name, 8080);
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

/// On EC2 the rows carry the instance's account, Region and AZ ID from the instance metadata
/// service (IMDSv2). None can run here: a mock that speaks the token protocol
/// (`flowatlas_testkit::MetadataServer`) stands in, on the server namespace's loopback, named
/// by `AWS_EC2_METADATA_SERVICE_ENDPOINT` as for the AWS SDKs. A flag it contradicts is
/// reported and the metadata wins.
#[test]
fn the_location_comes_from_instance_metadata() {
    let out = scratch("agent-imds");
    let link = Link::veth("cliim", CLIENT_IP);
    link.server.run(|| drop(serve(&[8080])));
    let metadata = link.server.run(|| {
        flowatlas_testkit::MetadataServer::start(flowatlas_testkit::MetadataBehaviour::Answers)
    });
    let env = [(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        metadata.endpoint.as_str(),
    )];
    let out_flags = [
        out.as_os_str(),
        std::ffi::OsStr::new("--region"),
        std::ffi::OsStr::new("eu-west-1"),
    ];
    let (code, stderr, _) = run_agent_with(&link, &env, &out_flags, "imds-host");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "--region eu-west-1 ignored: the instance metadata says {}",
            flowatlas_testkit::METADATA_REGION
        )),
        "{stderr}"
    );
    assert!(
        metadata
            .requests()
            .contains(&"PUT /latest/api/token -> 200".to_string()),
        "{:?}",
        metadata.requests()
    );
    let rows = read_tcp_stats(&out, None, None).unwrap();
    assert!(!rows.is_empty(), "{stderr}");
    for row in &rows {
        let location = &row.location;
        assert_eq!(
            location.account_id.as_deref(),
            Some(flowatlas_testkit::METADATA_ACCOUNT)
        );
        assert_eq!(
            location.region.as_deref(),
            Some(flowatlas_testkit::METADATA_REGION)
        );
        assert_eq!(
            location.az_id.as_deref(),
            Some(flowatlas_testkit::METADATA_AZ_ID)
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// A week in seconds.
const WEEK: i64 = 7 * 86_400;

/// The agent against a path that gets slower, through `process` and `health`: three hosts, each
/// serving one client network a 10 ms delay line away (Linköping, Milton and Changchun in the
/// test MaxMind databases, built with the project's mmdb writer). `flowatlas agent` runs once
/// per window; after the first, the delay on Linköping's path is raised to 100 ms each way and
/// two more windows are measured. `flowatlas health` must raise `LOCAL_PERFORMANCE` for
/// Linköping's city-network, naming its prefix, and for no other, whose performance scores
/// stay 100.
///
/// Time is compressed, and the test says how: each agent run lasts seconds, not five minutes,
/// so its rows (read back from the agent's own files) are relabelled to consecutive windows
/// (`T`, `T + 5 min`, `T + 10 min`, `T` fifteen minutes before the current window, so all are
/// past). The health engine needs weeks of history: it is synthesised, and only from the
/// first, undelayed run's measured rows, copied to the same times of week one, two and three
/// weeks before each judged window, so the expected RTTs come from real measurements. Every
/// RTT, byte and connection in the tables is the agent's measurement of real TCP; only the
/// window labels are moved. Restarting the agent per window stands for a window boundary (a
/// 2-minute test cannot wait for two real 5-minute windows); the service, the clients' paths
/// and the delay line stay up throughout.
#[test]
fn a_delay_stepped_up_on_one_path_raises_local_performance_for_its_city_network() {
    use flowatlas_tables::{tcp_stats, write_partitioned};

    let out = scratch("agent-stepped");
    let fleet = out.join("fleet");
    let tables = out.join("tables");
    let delayed_ip = "89.160.20.10";
    let links: Vec<Link> = [
        ("stl", delayed_ip),
        ("stm", "216.160.83.10"),
        ("stc", "175.16.199.10"),
    ]
    .into_iter()
    .map(|(tag, ip)| Link::delayed(tag, ip, Duration::from_millis(10)))
    .collect();
    for link in &links {
        link.server.run(|| drop(serve(&[8080])));
    }
    // One agent run per host and window, the hosts in parallel; the delay is raised after the
    // first window, while the service and its paths stay up.
    let mut runs = Vec::new();
    for window in 0..3 {
        if window == 1 {
            links[0].raise_delay(Duration::from_millis(100));
        }
        let run_dir = out.join(format!("run{window}"));
        // A run that straddled a 5-minute boundary had its rows split over two real windows
        // (the first with every connection open, the second with them closed), and the
        // relabelling into one window then counted all of them open. A run takes 1.5 s of
        // baseline, 3 s of traffic, at most 10 s waiting for the closes, then shutdown.
        support::start_clear_of_a_boundary(300, 20);
        std::thread::scope(|scope| {
            let hosts: Vec<_> = links
                .iter()
                .enumerate()
                .map(|(index, link)| {
                    let run_dir = &run_dir;
                    scope.spawn(move || {
                        run_agent_with(link, &[], &[run_dir.as_os_str()], &format!("host{index}"))
                    })
                })
                .collect();
            for host in hosts {
                let (code, stderr, bytes_read) = host.join().unwrap();
                assert_eq!(code, Some(0), "{stderr}");
                assert!(bytes_read > 0, "{stderr}");
            }
        });
        runs.push(read_tcp_stats(&run_dir, None, None).unwrap());
    }

    // Relabel: run k is window T + k × 5 min; the first run is also history, weeks back.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let first_window = now.div_euclid(300) * 300 - 900;
    let relabel = |rows: &[flowatlas_rollup::TcpStatsRow], window_start: i64| {
        let rows: Vec<_> = rows
            .iter()
            .cloned()
            .map(|mut row| {
                row.window_start = window_start;
                row
            })
            .collect();
        assert!(!rows.is_empty());
        write_partitioned(&tcp_stats(), &rows, &fleet, &format!("w{window_start}")).unwrap();
    };
    for (index, rows) in runs.iter().enumerate() {
        relabel(rows, first_window + 300 * index as i64);
        for weeks_back in 1..=3 {
            relabel(
                &runs[0],
                first_window + 300 * index as i64 - weeks_back * WEEK,
            );
        }
    }
    let p90_of = |rows: &[flowatlas_rollup::TcpStatsRow], host: &str| {
        let mut rtt = flowatlas_rollup::RttHistogram::default();
        for row in rows.iter().filter(|row| &*row.host == host) {
            rtt += &row.rtt;
        }
        rtt.quantile(0.9).unwrap() / 1000.0
    };
    let (before, after) = (p90_of(&runs[0], "host0"), p90_of(&runs[1], "host0"));
    assert!(
        before < 100.0 && after >= 190.0,
        "p90 {before} ms, then {after} ms"
    );

    let path = |path: &Path| path.to_str().unwrap().to_string();
    let (asn_db, geo_db) = (
        support::repo("testdata/geo/geolite2-asn.mmdb"),
        support::repo("testdata/geo/geolite2-city.mmdb"),
    );
    flowatlas_ok(&[
        "process",
        "--out",
        &path(&tables),
        "--asn-db",
        &asn_db,
        "--geo-db",
        &geo_db,
        &path(&fleet),
    ]);
    let iso = flowatlas_health::publish::iso_time;
    let health = |output: &[&str]| health_lines(&tables, first_window, first_window + 900, output);
    let lines = health(&["--json"]);
    let local: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| {
            line["type"] == "event" && line["detail"]["impactType"] == "LOCAL_PERFORMANCE"
        })
        .collect();
    assert_eq!(local.len(), 1, "{lines:#?}");
    let detail = &local[0]["detail"];
    // Raised on the second slow window (2 to raise), started at the first.
    assert_eq!(detail["startedAt"], iso(first_window + 300), "{detail:#}");
    let location = &detail["impactedLocations"][0];
    assert_eq!(location["asNumber"], 64498, "{detail:#}");
    assert_eq!(location["city"], "Linköping", "{detail:#}");
    assert_eq!(
        location["clientPrefixes"][0], "89.160.20.0/24",
        "{detail:#}"
    );
    let performance = &location["internetHealth"]["performance"];
    assert_eq!(performance["rttSource"], "tcp_srtt", "{detail:#}");
    let p90 = performance["roundTripTime"]["p90"].as_f64().unwrap();
    let expected = performance["expectedRoundTripTime"]["p90"]
        .as_f64()
        .unwrap();
    assert!(
        p90 >= 190.0 && expected < 100.0,
        "p90 {p90} ms, expected {expected} ms"
    );

    // The metrics of the slow windows: the agents' connections (two clients per host, all
    // closed before the window's last poll), no bytes (no flow logs here, so none made up),
    // and the RTT p90 of every city-network, Linköping's the delayed path's.
    let emf = health(&["--emf", "--no-write"]);
    for window_start in [first_window + 300, first_window + 600] {
        let lines: Vec<&serde_json::Value> = emf
            .iter()
            .filter(|line| line["_aws"]["Timestamp"] == window_start * 1000)
            .collect();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        let overall = lines[0];
        assert_eq!(overall["ConnectionsNew"], 6, "{overall}");
        assert_eq!(overall["ConnectionsOpen"], 0, "{overall}");
        assert_eq!(overall["RttSource"], "tcp_srtt", "{overall}");
        assert!(overall.get("BytesIn").is_none(), "{overall}");
        assert!(
            overall["PerformanceScore"].as_f64().unwrap() < 95.0,
            "{overall}"
        );
        for line in &lines[1..] {
            let p90 = line["RttP90"].as_f64().unwrap();
            let label = line["CityNetwork"].as_str().unwrap();
            if label.contains("Linköping") {
                assert!(p90 >= 190.0, "{line}");
            } else {
                assert!(p90 < 100.0, "{line}");
            }
        }
    }

    // Every city-network was judged in every window; only Linköping's traffic was degraded.
    let script = r#"
import duckdb, json, sys
rows = duckdb.sql(f"""
SELECT client_asn, count(*), count(performance_score), min(performance_score)
FROM read_parquet('{sys.argv[1]}/city_network_health/**/*.parquet', hive_partitioning = true)
WHERE window_start >= to_timestamp({sys.argv[2]})
GROUP BY client_asn ORDER BY client_asn
""").fetchall()
print(json.dumps(rows))
"#;
    let scores: Vec<(i64, i64, i64, f64)> = serde_json::from_slice(&python(
        script,
        &[&path(&tables), &first_window.to_string()],
    ))
    .unwrap();
    assert_eq!(scores.len(), 3, "{scores:?}");
    for &(asn, n_rows, n_scored, lowest) in &scores {
        assert_eq!((n_rows, n_scored), (3, 3), "AS{asn}: {scores:?}");
        match asn {
            64498 => assert!(lowest <= 60.0, "AS{asn}: {lowest}"),
            _ => assert_eq!(lowest, 100.0, "AS{asn}"),
        }
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// Waits (10 s at most) until the namespace holds no socket of `port` that the agent dumps:
/// none but listening ones and TIME-WAIT minisockets (which have no `tcp_info`).
fn wait_for_closes(netns: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = Command::new("ip")
            .args(["netns", "exec", netns, "ss", "-Htn", "state", "connected"])
            .arg(format!("( sport = :{port} )"))
            .output()
            .unwrap();
        let open = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter(|line| !line.contains("TIME-WAIT"))
            .count();
        if open == 0 || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
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
