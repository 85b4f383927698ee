//! `flowatlas backfill` against a real S3-compatible server on loopback (moto's): over a
//! thousand objects across days, accounts, Regions and all four of AWS's key layouts.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use flowatlas_testkit::S3Server;
use serde_json::Value;
use support::scratch;

const BUCKET: &str = "flowatlas-history";
const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const DAYS: [(&str, &str, &str); 4] = [
    ("2026", "05", "31"),
    ("2026", "06", "01"),
    ("2026", "06", "02"),
    ("2026", "06", "03"),
];
const OBJECTS_PER_FOLDER: usize = 16;

/// One object's key in a layout; `hour` picks the hourly variants' folder.
fn key(
    layout: usize,
    account: &str,
    region: &str,
    (y, m, d): (&str, &str, &str),
    n: usize,
) -> String {
    let hour = format!("{:02}", n % 24);
    let file = format!(
        "{account}_vpcflowlogs_{region}_fl-0a1b2c3d4e5f60718_{y}{m}{d}T{hour}{:02}Z_{n:08x}.log.gz",
        (n * 5) % 60
    );
    match layout {
        0 => format!("logs/AWSLogs/{account}/vpcflowlogs/{region}/{y}/{m}/{d}/{file}"),
        1 => format!("logs/AWSLogs/{account}/vpcflowlogs/{region}/{y}/{m}/{d}/{hour}/{file}"),
        2 => format!(
            "logs/AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/year={y}/month={m}/day={d}/{file}"
        ),
        _ => format!(
            "logs/AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/year={y}/month={m}/day={d}/hour={hour}/{file}"
        ),
    }
}

/// The history: every layout × account × Region × day holds a few demo objects. Returns the
/// keys by day index.
fn upload_history(s3: &S3Server, dir: &Path) -> Vec<Vec<String>> {
    let demo = flowatlas_demo::write_demo(&dir.join("demo"), 5, 4).unwrap();
    let mut objects: Vec<Vec<u8>> = Vec::new();
    for entry in flowatlas_testkit::files_under(&demo.logs) {
        objects.push(std::fs::read(entry).unwrap());
    }
    let mut by_day = vec![Vec::new(); DAYS.len()];
    let mut n = 0;
    for layout in 0..4 {
        for account in ACCOUNTS {
            for region in REGIONS {
                for (day_index, day) in DAYS.iter().enumerate() {
                    for _ in 0..OBJECTS_PER_FOLDER {
                        let key = key(layout, account, region, *day, n);
                        s3.put(BUCKET, &key, objects[n % objects.len()].clone());
                        by_day[day_index].push(key);
                        n += 1;
                    }
                }
            }
        }
    }
    // Not flow logs: never planned.
    s3.put(
        BUCKET,
        "logs/AWSLogs/111111111111/vpcflowlogs/us-east-1/2026/06/01/_SUCCESS",
        Vec::new(),
    );
    s3.put(
        BUCKET,
        "logs/AWSLogs/111111111111/CloudTrail/us-east-1/2026/06/01/trail.json.gz",
        vec![1],
    );
    by_day
}

fn backfill(s3: &S3Server, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowatlas"));
    command
        .arg("backfill")
        .args(["--source", &format!("s3://{BUCKET}/logs")])
        .args(args)
        .env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1");
    command
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn planned_keys(s3: &S3Server, args: &[&str]) -> BTreeSet<String> {
    let output = backfill(
        s3,
        &[&["--dry-run", "--json", "--out", "unused"], args].concat(),
    )
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_of(&output)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key.as_str().unwrap().to_owned())
        .collect()
}

/// `--asn-db ASN --geo-db CITY`.
fn enrich_flags(asn_db: &Path, city_db: &Path) -> [String; 4] {
    [
        "--asn-db".to_owned(),
        asn_db.display().to_string(),
        "--geo-db".to_owned(),
        city_db.display().to_string(),
    ]
}

fn manifests(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("_manifests")).map_or(0, |entries| {
        entries
            .filter(|entry| {
                entry
                    .as_ref()
                    .is_ok_and(|entry| entry.path().extension().is_some_and(|ext| ext == "json"))
            })
            .count()
    })
}

#[test]
fn backfill_selects_resumes_and_reports() {
    let dir = scratch("backfill");
    let s3 = S3Server::start(&[BUCKET]);
    let by_day = upload_history(&s3, &dir);
    let n_uploaded: usize = by_day.iter().map(Vec::len).sum();
    assert!(n_uploaded >= 1000, "{n_uploaded}");

    // The date filter selects exactly the objects of the days asked for, in every layout.
    let june_1_2: BTreeSet<String> = by_day[1].iter().chain(&by_day[2]).cloned().collect();
    assert_eq!(
        planned_keys(&s3, &["--from", "2026-06-01", "--to", "2026-06-02"]),
        june_1_2
    );
    let one_day: BTreeSet<String> = by_day[3].iter().cloned().collect();
    assert_eq!(
        planned_keys(&s3, &["--from", "2026-06-03", "--to", "2026-06-03"]),
        one_day
    );
    let narrow: BTreeSet<String> = by_day[0]
        .iter()
        .filter(|key| key.contains("222222222222") && key.contains("eu-west-1"))
        .cloned()
        .collect();
    assert_eq!(narrow.len(), 4 * OBJECTS_PER_FOLDER);
    assert_eq!(
        planned_keys(
            &s3,
            &[
                "--from",
                "2026-05-31",
                "--to",
                "2026-05-31",
                "--account",
                "222222222222",
                "--region",
                "eu-west-1"
            ]
        ),
        narrow
    );

    // A clean run of two days.
    let geo = dir.join("demo/geo");
    let enrich = enrich_flags(&geo.join("asn.mmdb"), &geo.join("city.mmdb"));
    let range = ["--from", "2026-06-01", "--to", "2026-06-02"];
    // A run to completion, with its JSON summary.
    let run_into = |out: &Path| {
        let output = backfill(&s3, &range)
            .args(["--out", out.to_str().unwrap(), "--json"])
            .args(&enrich)
            .output()
            .unwrap();
        json_of(&output)
    };
    let clean = dir.join("clean");
    let summary = run_into(&clean);
    assert_eq!(
        summary["objects_processed"].as_u64(),
        Some(june_1_2.len() as u64),
        "{summary}"
    );
    assert_eq!(summary["objects_failed"], 0, "{summary}");
    assert_eq!(manifests(&clean), june_1_2.len());

    // The same run killed part-way, then run again: the same tables.
    let resumed = dir.join("resumed");
    let mut child = backfill(&s3, &range)
        .args(["--out", resumed.to_str().unwrap(), "--concurrency", "1"])
        .args(&enrich)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let give_up = Instant::now() + Duration::from_secs(120);
    while manifests(&resumed) < 25 {
        assert!(Instant::now() < give_up, "the first run made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = manifests(&resumed);
    assert!(
        done_before < june_1_2.len(),
        "killed too late to test resuming"
    );
    let summary = run_into(&resumed);
    let skipped = summary["objects_skipped"].as_u64().unwrap();
    let processed = summary["objects_processed"].as_u64().unwrap();
    assert!(skipped >= done_before as u64, "{summary}");
    assert_eq!(skipped + processed, june_1_2.len() as u64, "{summary}");
    assert_eq!(manifests(&resumed), june_1_2.len());
    flowatlas_testkit::same_rollups(&clean, &resumed);
    // A third run finds everything done.
    let summary = run_into(&resumed);
    assert_eq!(
        summary["objects_skipped"].as_u64(),
        Some(june_1_2.len() as u64),
        "{summary}"
    );
}

/// Objects that are corrupt, missing (listed, then 404), or throttled (503 SlowDown, for a
/// while or for good) are reported with their keys; everything else lands.
#[test]
fn failures_are_reported_and_everything_else_lands() {
    let dir = scratch("backfill-faults");
    let s3 = S3Server::start(&[BUCKET]);
    let demo = flowatlas_demo::write_demo(&dir.join("demo"), 6, 4).unwrap();
    let objects = flowatlas_testkit::files_under(&demo.logs);
    let day = ("2026", "06", "01");
    let mut good = BTreeSet::new();
    for (n, object) in objects.iter().take(20).enumerate() {
        let key = key(0, ACCOUNTS[0], REGIONS[0], day, n);
        s3.put(BUCKET, &key, std::fs::read(object).unwrap());
        good.insert(key);
    }
    let corrupt = key(0, ACCOUNTS[0], REGIONS[0], day, 100).replace(".log.gz", ".log.parquet");
    let mut bad_parquet = b"PAR1".to_vec();
    bad_parquet.extend_from_slice(&[7; 64]);
    bad_parquet.extend_from_slice(b"\x10\x00\x00\x00PAR1");
    s3.put(BUCKET, &corrupt, bad_parquet);
    let missing = key(0, ACCOUNTS[0], REGIONS[0], day, 101);
    let throttled = key(0, ACCOUNTS[0], REGIONS[0], day, 102);
    let flaky = key(0, ACCOUNTS[0], REGIONS[0], day, 103);
    for extra in [&missing, &throttled, &flaky] {
        s3.put(BUCKET, extra, std::fs::read(&objects[0]).unwrap());
    }
    good.insert(flaky.clone());

    let file_of = |key: &str| key.rsplit('/').next().unwrap().to_owned();
    let (missing_file, throttled_file, flaky_file) =
        (file_of(&missing), file_of(&throttled), file_of(&flaky));
    let flaky_failures = std::sync::atomic::AtomicUsize::new(0);
    let proxy = flowatlas_testkit::FaultProxy::start(
        &s3.endpoint,
        Box::new(move |method, path| {
            if method != "GET" {
                return None;
            }
            if path.contains(&missing_file) {
                return Some((404, "NoSuchKey"));
            }
            if path.contains(&throttled_file) {
                return Some((503, "SlowDown"));
            }
            // Throttled twice, then served.
            if path.contains(&flaky_file)
                && flaky_failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2
            {
                return Some((503, "SlowDown"));
            }
            None
        }),
    );
    let out = dir.join("tables");
    let output = backfill(
        &s3,
        &[
            "--from",
            "2026-06-01",
            "--to",
            "2026-06-01",
            "--attempts",
            "2",
            "--json",
        ],
    )
    .args(["--out", out.to_str().unwrap()])
    .env("AWS_ENDPOINT_URL", &proxy.endpoint)
    .output()
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = json_of(&output);
    let failed: BTreeSet<String> = summary["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|failure| failure["key"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = [corrupt, missing, throttled].into_iter().collect();
    assert_eq!(failed, expected, "{summary}");
    assert_eq!(
        summary["objects_processed"].as_u64(),
        Some(good.len() as u64),
        "{summary}"
    );
    assert_eq!(manifests(&out), good.len());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for key in &expected {
        assert!(
            stderr.contains(key.as_str()),
            "{key} not reported: {stderr}"
        );
    }
    assert!(
        stderr.contains("NoSuchKey") && stderr.contains("SlowDown"),
        "{stderr}"
    );
}

/// Agent objects beside `AWSLogs/` (`flowatlas agent --out s3://BUCKET/logs`): only the day
/// folders of the range are listed, the objects become the performance tables — the same rows
/// as `flowatlas process` gives for the same files — and a second run skips them by their
/// manifests.
#[test]
fn agent_objects_are_backfilled_once() {
    let dir = scratch("backfill-agent");
    let s3 = S3Server::start(&[BUCKET]);
    let location = flowatlas_rollup::ServiceLocation {
        account_id: Some("111111111111".into()),
        region: Some("eu-west-1".into()),
        az_id: Some("euw1-az2".into()),
        vpc_id: None,
    };
    // 2026-06-01T12:00Z and 23:55Z from two hosts, and one window of the day after.
    let agents = dir.join("agents");
    let mut in_range = BTreeSet::new();
    for (host, window_start) in [
        ("web-1", 1_780_315_200),
        ("web-2", 1_780_315_200),
        ("web-1", 1_780_357_800),
        ("web-1", 1_780_358_400),
    ] {
        let name = format!("{host}-{window_start}-1780300000");
        let rows = flowatlas_testkit::agent_rows(window_start, host, &location);
        let path = flowatlas_testkit::write_agent_window(&agents, &name, rows);
        let relative = path.strip_prefix(&agents).unwrap().to_string_lossy();
        let key = format!("logs/{relative}");
        s3.put(BUCKET, &key, std::fs::read(&path).unwrap());
        if key.contains("dt=2026-06-01/") {
            in_range.insert(key);
        }
    }
    assert_eq!(in_range.len(), 3);
    // A window still being uploaded by hand under a hidden name: never planned.
    s3.put(
        BUCKET,
        "logs/tcp_stats/dt=2026-06-01/hour=12/.web-3.parquet.partial",
        vec![0; 10],
    );
    let range = ["--from", "2026-06-01", "--to", "2026-06-01"];
    assert_eq!(planned_keys(&s3, &range), in_range);

    let geo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/geo");
    let enrich = enrich_flags(
        &geo.join("geolite2-asn-scattered.mmdb"),
        &geo.join("geolite2-city-scattered.mmdb"),
    );
    let tables = dir.join("tables");
    let run = || {
        let output = backfill(&s3, &range)
            .args(["--out", tables.to_str().unwrap(), "--json"])
            .args(&enrich)
            .output()
            .unwrap();
        json_of(&output)
    };
    let summary = run();
    assert_eq!(summary["objects_processed"], 3, "{summary}");
    assert_eq!(summary["objects_failed"], 0, "{summary}");
    assert_eq!(manifests(&tables), 3);

    // `process` over the same files (the day's folder) writes the same rows.
    // Run twice: the second run replaces the first's files instead of adding rows.
    let local = dir.join("local");
    let process = || {
        let output = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
            .arg("process")
            .args(["--out", local.to_str().unwrap()])
            .args(&enrich)
            .arg(agents.join("tcp_stats/dt=2026-06-01"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    process();
    process();
    assert_eq!(manifests(&local), 3);
    let performance = ["city_network_performance", "prefix_performance"];
    let first = flowatlas_testkit::same_tables(&tables, &local, &performance);

    let summary = run();
    assert_eq!(summary["objects_skipped"], 3, "{summary}");
    assert_eq!(
        first,
        flowatlas_testkit::same_tables(&tables, &local, &performance)
    );
}
