//! `flowatlas compact` on a folder (issue 17): closed hours of many small objects become one
//! file per table and hour, and every sum DuckDB reads — the way Athena reads the tables,
//! skipping names that start with `_` or `.` — is the same before and after: with late
//! objects, objects processed again (changed or not), an hour of one file, a damaged file,
//! compactions killed at every step, two compactions at once, the same in S3 (moto), and the
//! temporary files killed runs leave removed once abandoned.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{files_under, flowatlas_ok, python, repo, scratch};

/// The tables `process --flows` writes per object.
const TABLES: [&str; 3] = ["city_networks", "client_prefixes", "flows"];

/// 2026-06-01T10:00Z: the objects' hours are long closed.
const START: i64 = 1_780_308_000;

/// One small object as a small VPC delivers it: `n_records` records over five minutes of
/// `hour` (0-based from [`START`]), peers scattered over a /24 of many small networks (several
/// per city, some in no database) and a few other /24s; returns the bytes it holds.
fn write_object(path: &Path, seed: usize, hour: i64, n_records: usize) -> i64 {
    let mut text = String::new();
    let mut total = 0;
    let window = START + hour * 3_600 + (seed as i64 % 12) * 300;
    for record in 0..n_records {
        let peer = match (seed + record) % 4 {
            0 => format!("89.{}.{}.{}", 160 + seed % 3, record % 5, record % 250),
            _ => format!("203.0.113.{}", (seed * 7 + record * 13) % 256),
        };
        let bytes = 40 + ((seed * 31 + record * 17) % 9_000) as i64;
        let start = window + (record as i64 * 7) % 300;
        let (action, flags) = if record % 23 == 0 {
            ("REJECT", 2)
        } else {
            ("ACCEPT", 19)
        };
        text.push_str(&format!(
            "5 123456789012 eni-0a1b2c3d4e5f60718 {peer} 10.0.{}.7 {} 443 6 {} {bytes} {start} {} {action} OK vpc-0a1b2c3d euw1-az{} {flags}\n",
            seed % 3,
            1024 + record,
            1 + record % 9,
            start + 30,
            1 + seed % 3,
        ));
        total += bytes;
    }
    // Default v5 order starts with version .. log-status, then the v5 fields used here.
    let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id az-id tcp-flags\n";
    std::fs::write(path, format!("{header}{text}")).unwrap();
    total
}

/// `n_objects` objects in `dir`, spread over `hours` hours, a few hundred records each.
fn objects(dir: &Path, first: usize, n_objects: usize, hours: i64) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (first..first + n_objects)
        .map(|seed| {
            let path = dir.join(format!("{seed:04}.log"));
            write_object(&path, seed, seed as i64 % hours, 150 + (seed * 37) % 350);
            path
        })
        .collect()
}

/// `process --flows` with one batch per object (a file per table, hour and object, as the
/// Lambda writes them).
fn process(out: &Path, inputs: &[&Path]) {
    process_in_batches(out, "1", inputs);
}

/// `process --flows`, a batch written whenever `batch_rows` rows are held.
fn process_in_batches(out: &Path, batch_rows: &str, inputs: &[&Path]) {
    let mut args = vec!["process", "--flows", "--batch-rows", batch_rows, "--asn-db"];
    let (asn, city) = (
        repo("testdata/geo/geolite2-asn-scattered.mmdb"),
        repo("testdata/geo/geolite2-city-scattered.mmdb"),
    );
    args.extend([asn.as_str(), "--geo-db", city.as_str(), "--out"]);
    args.push(out.to_str().unwrap());
    args.extend(inputs.iter().map(|input| input.to_str().unwrap()));
    flowatlas_ok(&args);
}

fn process_all(out: &Path, inputs: &[PathBuf]) {
    process(
        out,
        &inputs.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
}

/// A test's scratch folder named `name`, with `n_objects` objects over `hours` hours in
/// `logs/` processed into `out/`: the folder, the objects and the output.
fn processed(name: &str, n_objects: usize, hours: i64) -> (PathBuf, Vec<PathBuf>, PathBuf) {
    let dir = scratch(name);
    let inputs = objects(&dir.join("logs"), 0, n_objects, hours);
    let out = dir.join("out");
    process_all(&out, &inputs);
    (dir, inputs, out)
}

/// `compact` of a run expected to leave or fail something (exit status 1): its stderr.
fn compact_with_failures(out: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
        .args(["compact", "--data", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    String::from_utf8(output.stderr).unwrap()
}

fn compact(out: &Path) -> Vec<u8> {
    flowatlas_ok(&["compact", "--data", out.to_str().unwrap()])
}

/// What a reader of the tables sees, as Athena would: per table the totals, the per-key sums
/// (city-network and day; prefix and day; for `flows` the rows per peer), the files per hour.
fn tables(out: &Path) -> serde_json::Value {
    let script = r#"
import sys, json, glob, os, duckdb
out = sys.argv[1]
con = duckdb.connect()
queries = {
    "city_networks": "SELECT city_network_id || '|' || CAST(CAST(window_start AS DATE) AS VARCHAR), sum(bytes_in + bytes_out)::BIGINT, sum(flows)::BIGINT, sum(tcp_syn_in)::BIGINT FROM read_parquet(?) GROUP BY 1",
    "client_prefixes": "SELECT client_prefix || '|' || CAST(CAST(window_start AS DATE) AS VARCHAR), sum(bytes_in + bytes_out)::BIGINT, sum(flows)::BIGINT, sum(packets_in)::BIGINT FROM read_parquet(?) GROUP BY 1",
    "flows": "SELECT peer_ip, sum(bytes)::BIGINT, count(*), sum(packets)::BIGINT FROM read_parquet(?) GROUP BY 1",
}
result = {}
for table, query in queries.items():
    files = []
    for root, dirs, names in os.walk(os.path.join(out, table)):
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        files += [os.path.join(root, n) for n in names
                  if n.endswith(".parquet") and not n.startswith(("_", "."))]
    per_hour = {}
    for path in files:
        hour = os.path.relpath(os.path.dirname(path), os.path.join(out, table))
        per_hour[hour] = per_hour.get(hour, 0) + 1
    rows = con.execute(query, [files]).fetchall() if files else []
    result[table] = {
        "sums": {str(key): [a, b, c] for key, a, b, c in rows},
        "total": [sum(r[1] for r in rows), sum(r[2] for r in rows)],
        "files_per_hour": per_hour,
    }
print(json.dumps(result, sort_keys=True))
"#;
    serde_json::from_slice(&python(script, &[out.to_str().unwrap()])).unwrap()
}

/// The sums of every table, without the file counts.
fn sums(found: &serde_json::Value) -> serde_json::Value {
    serde_json::Value::Object(
        TABLES
            .iter()
            .map(|table| (table.to_string(), found[table]["sums"].clone()))
            .collect(),
    )
}

fn files_per_hour(found: &serde_json::Value, table: &str) -> Vec<u64> {
    found[table]["files_per_hour"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .collect()
}

/// A copy of the folder `from` into `to` (the test's processed corpus, reused per case).
fn copy_folder(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .args(["-a", from.to_str().unwrap(), to.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn closed_hours_become_one_file_per_table_with_the_same_sums() {
    let dir = scratch("compact-sums");
    let logs = dir.join("logs");
    let inputs = objects(&logs, 0, 72, 3);
    let out = dir.join("out");
    process_all(&out, &inputs);
    let before = tables(&out);
    assert!(
        files_per_hour(&before, "city_networks")
            .iter()
            .all(|&n| n == 24),
        "{}",
        before["city_networks"]["files_per_hour"]
    );
    // No time given: no hour is begun, every one waits for the next run.
    let out_str = out.to_str().unwrap();
    let no_time = support::flowatlas_ok(&[
        "compact",
        "--data",
        out_str,
        "--older-than",
        "0",
        "--for",
        "0",
    ]);
    let no_time = String::from_utf8(no_time).unwrap();
    assert!(
        no_time.contains("0 hours compacted") && no_time.contains("9 hours not begun"),
        "{no_time}"
    );
    assert_eq!(tables(&out), before);
    let printed = String::from_utf8(compact(&out)).unwrap();
    assert!(printed.contains("9 hours compacted"), "{printed}");
    let after = tables(&out);
    assert_eq!(sums(&after), sums(&before));
    for table in TABLES {
        assert_eq!(files_per_hour(&after, table), [1, 1, 1], "{table}");
    }
    // Every source object is named, with the file it came from, in its hour's manifest.
    let compaction: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("_compacted/city_networks/dt=2026-06-01/hour=10/_compaction.json"))
            .unwrap(),
    )
    .unwrap();
    let kept = compaction["sources"].as_array().unwrap();
    assert_eq!(kept.len(), 24, "{compaction}");
    for file in kept {
        let name = file["name"].as_str().unwrap();
        assert!(
            out.join("_compacted/city_networks/dt=2026-06-01/hour=10")
                .join(name)
                .is_file()
        );
        assert_eq!(file["objects"].as_array().unwrap().len(), 1, "{file}");
    }
    // Nothing left to do: a second run changes nothing.
    let again = String::from_utf8(compact(&out)).unwrap();
    assert!(again.contains("0 hours compacted"), "{again}");
    assert_eq!(tables(&out), after);

    // A late object adds its own file beside the compacted one; the next run folds it in.
    let late = objects(&logs, 1_000, 1, 1);
    process(&out, &[&late[0]]);
    let with_late = tables(&out);
    assert_eq!(files_per_hour(&with_late, "city_networks"), [2, 1, 1]);
    compact(&out);
    let folded = tables(&out);
    assert_eq!(sums(&folded), sums(&with_late));
    assert_eq!(files_per_hour(&folded, "city_networks"), [1, 1, 1]);

    // An object processed again, unchanged: its commit recompacts its hour, nothing doubles.
    process(&out, &[&inputs[7]]);
    assert_eq!(sums(&tables(&out)), sums(&folded));
    // Changed (other records, another size): its new rows replace its old ones exactly.
    write_object(&inputs[7], 7_777, 7 % 3, 60);
    process(&out, &[&inputs[7]]);
    let changed = tables(&out);
    assert_ne!(sums(&changed), sums(&folded));
    let fresh = dir.join("fresh");
    let mut all: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    all.push(&late[0]);
    process(&fresh, &all);
    assert_eq!(sums(&changed), sums(&tables(&fresh)));
    for table in TABLES {
        assert_eq!(files_per_hour(&changed, table), [1, 1, 1], "{table}");
    }
    // Everything again: every contribution replaced, once.
    process(&out, &all);
    compact(&out);
    assert_eq!(sums(&tables(&out)), sums(&tables(&fresh)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_hour_of_one_file_and_the_current_hour_are_left_alone() {
    let dir = scratch("compact-alone");
    let out = dir.join("out");
    let one = objects(&dir.join("logs"), 0, 1, 1);
    process(&out, &[&one[0]]);
    // The current hour must still be current when `compact` runs, a few seconds on: too near
    // its end, the test starts in the next one.
    support::start_clear_of_a_boundary(3_600, 60);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Two objects of the current hour.
    let current: Vec<PathBuf> = (0..2)
        .map(|seed| {
            let path = dir.join(format!("logs/now-{seed}.log"));
            let hour = (now - START).div_euclid(3_600);
            write_object(&path, seed * 12, hour, 50);
            path
        })
        .collect();
    process(&out, &[&current[0], &current[1]]);
    let before = tables(&out);
    let printed = String::from_utf8(flowatlas_ok(&[
        "compact",
        "--data",
        out.to_str().unwrap(),
        "--older-than",
        "0",
    ]))
    .unwrap();
    assert!(printed.contains("0 hours compacted"), "{printed}");
    assert_eq!(tables(&out), before);
    assert!(!out.join("_compacted").join("city_networks").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_damaged_file_fails_its_hour_by_name_and_nothing_is_lost() {
    let (dir, _, out) = processed("compact-damaged", 12, 2);
    let hour = out.join("city_networks/dt=2026-06-01/hour=10");
    let damaged = std::fs::read_dir(&hour)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "parquet"))
        .unwrap();
    std::fs::write(&damaged, b"PAR1 not really").unwrap();
    let other_hour = out.join("client_prefixes/dt=2026-06-01/hour=11");
    std::fs::write(other_hour.join("notes.txt"), b"a file someone copied here").unwrap();
    let before: Vec<PathBuf> = std::fs::read_dir(&hour)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    let stderr = compact_with_failures(&out);
    assert!(stderr.contains(&damaged.display().to_string()), "{stderr}");
    assert!(stderr.contains("notes.txt: left in place"), "{stderr}");
    // The damaged hour is as it was; the other hours of every table are compacted.
    let mut after: Vec<PathBuf> = std::fs::read_dir(&hour)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    after.sort();
    let mut before = before;
    before.sort();
    assert_eq!(after, before);
    let visible = |table: &str, hour: &str| {
        std::fs::read_dir(out.join(table).join("dt=2026-06-01").join(hour))
            .unwrap()
            .filter(|entry| {
                let name = entry.as_ref().unwrap().file_name();
                let name = name.to_string_lossy();
                name.ends_with(".parquet") && !name.starts_with(['.', '_'])
            })
            .count()
    };
    assert_eq!(visible("client_prefixes", "hour=10"), 1);
    assert_eq!(visible("client_prefixes", "hour=11"), 1);
    assert_eq!(visible("city_networks", "hour=11"), 1);
    assert!(other_hour.join("notes.txt").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The crash test: no test can time a `kill -9` to land after one chosen step, so the
/// binary's test hook (`FLOWATLAS_COMPACT_ABORT_AFTER`) aborts the process there — no
/// destructor runs, as with SIGKILL. After each, a reader sees whole files; the next run (or a
/// commit into the hour) finishes or drops the compaction, and every sum is exact again.
#[test]
fn compactions_killed_after_any_step_are_finished_by_the_next_run() {
    let (dir, inputs, processed) = processed("compact-killed", 16, 2);
    let expected = sums(&tables(&processed));
    for (case, step) in [
        "merged",
        "journaled",
        "published",
        "retired-1",
        "retired-5",
        "recorded",
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.join(format!("case-{case}"));
        copy_folder(&processed, &out);
        let status = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
            .args(["compact", "--data", out.to_str().unwrap()])
            .env("FLOWATLAS_COMPACT_ABORT_AFTER", step)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "{step}: the run was not stopped");
        let journals = out.join("_compacted/_journals");
        let journaled =
            std::fs::read_dir(&journals).is_ok_and(|mut entries| entries.next().is_some());
        assert_eq!(journaled, step != "merged", "{step}");
        // Whatever a reader sees meanwhile is whole Parquet files.
        tables(&out);
        if case % 2 == 0 {
            compact(&out);
        } else {
            // A commit into the hour finishes it too: an object processed again.
            process(&out, &[&inputs[0]]);
            compact(&out);
        }
        let found = tables(&out);
        assert_eq!(sums(&found), expected, "{step}");
        for table in TABLES {
            assert_eq!(files_per_hour(&found, table), [1, 1], "{step}: {table}");
        }
        let left: Vec<_> = files_under(&out.join("_compacted/_journals"));
        assert!(left.is_empty(), "{step}: {left:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same compaction on S3 (moto's server on loopback), where the Lambda and backfill write
/// one file per object: objects delivered under AWS's key layout, backfilled, compacted, a
/// late object, an object changed and backfilled again; the bucket is read back as Athena
/// would read it.
#[test]
fn hours_in_s3_compact_and_stay_exact() {
    let dir = scratch("compact-s3");
    let s3 = flowatlas_testkit::S3Server::start(&["logs", "out"]);
    let logs = dir.join("logs");
    let day_folder = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/06/01";
    let upload = |path: &Path| {
        let name = path.file_name().unwrap().to_string_lossy();
        s3.put(
            "logs",
            &format!("{day_folder}/{name}"),
            std::fs::read(path).unwrap(),
        );
    };
    let inputs = objects(&logs, 0, 36, 2);
    inputs.iter().for_each(|path| upload(path));
    let env = [
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let (asn, city) = (
        repo("testdata/geo/geolite2-asn-scattered.mmdb"),
        repo("testdata/geo/geolite2-city-scattered.mmdb"),
    );
    let backfill = |out: &str| {
        support::flowatlas_ok_with(
            &[
                "backfill",
                "--source",
                "s3://logs/",
                "--from",
                "2026-06-01",
                "--to",
                "2026-06-01",
                "--flows",
                "--concurrency",
                "2",
                "--asn-db",
                &asn,
                "--geo-db",
                &city,
                "--out",
                out,
            ],
            &env,
        )
    };
    let compact_s3 = || {
        support::flowatlas_ok_with(&["compact", "--data", "s3://out/tables"], &env);
    };
    // The bucket's prefix as a folder, as Athena sees it (DuckDB reads the copy).
    let read_back = |prefix: &str| {
        let copy = dir.join("copies").join(prefix);
        let _ = std::fs::remove_dir_all(&copy);
        for key in s3.keys("out") {
            let Some(relative) = key.strip_prefix(&format!("{prefix}/")) else {
                continue;
            };
            let path = copy.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, s3.get("out", &key)).unwrap();
        }
        (tables(&copy), copy)
    };
    backfill("s3://out/tables");
    let (before, _) = read_back("tables");
    assert_eq!(files_per_hour(&before, "city_networks"), [18, 18]);
    // S3 has no lock: compactions take turns through a lease object written by conditional
    // PUTs. One held by another run (unexpired) stops this one before any hour; an expired
    // one (a run that died) is taken over.
    let lease = |expires_at_ms: i64| {
        let body = format!(r#"{{"owner":"another-run","expires_at_ms":{expires_at_ms}}}"#);
        s3.put("out", "tables/_compacted/_lease.json", body.into_bytes());
    };
    lease(4_102_444_800_000);
    let stdout = support::flowatlas_ok_with(&["compact", "--data", "s3://out/tables"], &env);
    assert!(
        String::from_utf8_lossy(&stdout).contains("0 hours compacted"),
        "{}",
        String::from_utf8_lossy(&stdout)
    );
    assert_eq!(
        files_per_hour(&read_back("tables").0, "city_networks"),
        [18, 18]
    );
    lease(1_000);
    // Two compactions at once, as overlapping scheduled runs would be: one takes the expired
    // lease and compacts; the other finds it held (or, starting after, nothing to do).
    std::thread::scope(|scope| {
        scope.spawn(compact_s3);
        scope.spawn(compact_s3);
    });
    let (after, copy) = read_back("tables");
    assert_eq!(sums(&after), sums(&before));
    for table in TABLES {
        assert_eq!(files_per_hour(&after, table), [1, 1], "{table}");
    }
    let compaction: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            copy.join("_compacted/client_prefixes/dt=2026-06-01/hour=10/_compaction.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let objects_named: Vec<&serde_json::Value> = compaction["sources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|file| file["objects"].as_array().unwrap())
        .collect();
    assert_eq!(objects_named.len(), 18);
    assert!(
        objects_named.iter().all(|object| object["source"]
            .as_str()
            .unwrap()
            .starts_with("s3://logs/AWSLogs/")
            && object["source_etag"].is_string()),
        "{compaction}"
    );

    // A late object: its own file beside the compacted one, folded in by the next run.
    let late = objects(&logs, 1_000, 1, 1);
    upload(&late[0]);
    backfill("s3://out/tables");
    let (with_late, _) = read_back("tables");
    assert_eq!(files_per_hour(&with_late, "city_networks"), [2, 1]);
    compact_s3();
    let (folded, _) = read_back("tables");
    assert_eq!(sums(&folded), sums(&with_late));
    assert_eq!(files_per_hour(&folded, "flows"), [1, 1]);

    // An object changed in place (a new ETag): backfill processes it again, and its commit
    // replaces its rows in the compacted hour.
    write_object(&inputs[5], 5_555, 5 % 2, 80);
    upload(&inputs[5]);
    backfill("s3://out/tables");
    backfill("s3://out/fresh");
    let (changed, _) = read_back("tables");
    let (fresh, _) = read_back("fresh");
    assert_ne!(sums(&changed), sums(&folded));
    assert_eq!(sums(&changed), sums(&fresh));
    for table in TABLES {
        assert_eq!(files_per_hour(&changed, table), [1, 1], "{table}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Agent objects (one host's window each) give the performance tables a file per object; a
/// compacted hour holds one row per window, location, RTT source and city-network or prefix,
/// whose histogram is the sum of the objects' histograms bucket by bucket, and whose
/// percentiles are read off it (so they lie within the objects' own).
#[test]
fn performance_rows_merge_their_histograms() {
    let dir = scratch("compact-performance");
    let agents = dir.join("agents");
    let location = flowatlas_rollup::ServiceLocation {
        account_id: Some("123456789012".into()),
        region: Some("eu-west-1".into()),
        az_id: Some("euw1-az1".into()),
        vpc_id: None,
    };
    for host in ["web-1", "web-2", "web-3", "web-4"] {
        for window_start in [1_780_315_200, 1_780_315_500, 1_780_315_800] {
            let name = format!("{host}-{window_start}-1780300000");
            let rows = flowatlas_testkit::agent_rows(window_start, host, &location);
            flowatlas_testkit::write_agent_window(&agents, &name, rows);
        }
    }
    let out = dir.join("out");
    let (asn, city) = (
        repo("testdata/geo/geolite2-asn-scattered.mmdb"),
        repo("testdata/geo/geolite2-city-scattered.mmdb"),
    );
    flowatlas_ok(&[
        "process",
        "--prefix-len",
        "28,48",
        "--asn-db",
        &asn,
        "--geo-db",
        &city,
        "--out",
        out.to_str().unwrap(),
        agents.join("tcp_stats").to_str().unwrap(),
    ]);
    let script = r#"
import sys, json, os, duckdb
out = sys.argv[1]
con = duckdb.connect()
result = {}
for table, key in [("city_network_performance", "city_network_id"), ("prefix_performance", "client_prefix")]:
    files = [os.path.join(root, n) for root, dirs, names in os.walk(os.path.join(out, table))
             for n in names if n.endswith(".parquet") and not n.startswith(("_", "."))]
    con.execute("CREATE OR REPLACE TABLE t AS SELECT * FROM read_parquet(?)", [files])
    histograms = con.execute(f"""
        SELECT CAST(window_start AS VARCHAR) || '|' || rtt_source || '|' || {key} || '|' || CAST(b AS VARCHAR), sum(w)::BIGINT
        FROM (SELECT window_start, rtt_source, {key}, UNNEST(rtt_buckets) AS b, UNNEST(rtt_weights) AS w FROM t)
        GROUP BY 1""").fetchall()
    keys = con.execute(f"""
        SELECT CAST(window_start AS VARCHAR) || '|' || rtt_source || '|' || {key}, count(*),
               min(rtt_p90_ms), max(rtt_p90_ms), sum(bytes_out)::BIGINT, sum(retrans_segs)::BIGINT
        FROM t GROUP BY 1""").fetchall()
    result[table] = {
        "files": len(files),
        "histograms": {k: w for k, w in histograms},
        "keys": {k: [n, lo, hi, b, r] for k, n, lo, hi, b, r in keys},
    }
print(json.dumps(result, sort_keys=True))
"#;
    let read = || -> serde_json::Value {
        serde_json::from_slice(&python(script, &[out.to_str().unwrap()])).unwrap()
    };
    let before = read();
    assert_eq!(before["city_network_performance"]["files"], 12);
    compact(&out);
    let after = read();
    for table in ["city_network_performance", "prefix_performance"] {
        assert_eq!(after[table]["files"], 1, "{table}");
        assert_eq!(
            after[table]["histograms"], before[table]["histograms"],
            "{table}"
        );
        let keys_before = before[table]["keys"].as_object().unwrap();
        let keys_after = after[table]["keys"].as_object().unwrap();
        assert_eq!(keys_after.len(), keys_before.len(), "{table}");
        for (key, merged) in keys_after {
            let parts = &keys_before[key];
            assert_eq!(merged[0], 1, "{table} {key}: one row per key");
            assert!(parts[0].as_u64().unwrap() > 1, "{table} {key}: {parts}");
            assert_eq!(merged[3], parts[3], "{table} {key}: bytes_out");
            assert_eq!(merged[4], parts[4], "{table} {key}: retrans_segs");
            if let (Some(p90), Some(low), Some(high)) =
                (merged[1].as_f64(), parts[1].as_f64(), parts[2].as_f64())
            {
                assert!(
                    low - 1e-9 <= p90 && p90 <= high + 1e-9,
                    "{table} {key}: {p90} not in [{low}, {high}]"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two compactions of one folder at once, while objects of those hours are processed again:
/// they take turns under the output's lock hour by hour, and the tables end exact.
#[test]
fn concurrent_compactions_and_commits_take_turns() {
    let (dir, inputs, out) = processed("compact-concurrent", 48, 3);
    let expected = sums(&tables(&out));
    let spawn_compact = || {
        Command::new(env!("CARGO_BIN_EXE_flowatlas"))
            .args(["compact", "--data", out.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut first, mut second) = (spawn_compact(), spawn_compact());
    // Objects of every hour processed again (unchanged) meanwhile.
    process_all(&out, &inputs[..12]);
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());
    compact(&out);
    let found = tables(&out);
    assert_eq!(sums(&found), expected);
    for table in TABLES {
        assert_eq!(files_per_hour(&found, table), [1, 1, 1], "{table}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Batch files hold several objects' rows: an object processed again after its hour was
/// compacted has exactly its rows taken out of the kept batch file, and the sums are those of
/// a fresh run over the new content.
#[test]
fn an_object_of_a_shared_batch_file_is_replaced_exactly() {
    let dir = scratch("compact-shared-batch");
    let inputs = objects(&dir.join("logs"), 0, 40, 2);
    let paths: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let out = dir.join("out");
    process_in_batches(&out, "300", &paths);
    let before = tables(&out);
    assert!(
        files_per_hour(&before, "city_networks")
            .iter()
            .all(|&n| n > 1),
        "{}",
        before["city_networks"]["files_per_hour"]
    );
    compact(&out);
    let compaction: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            out.join("_compacted/client_prefixes/dt=2026-06-01/hour=10/_compaction.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        compaction["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|file| file["objects"].as_array().unwrap().len() > 1),
        "no kept file holds several objects: {compaction}"
    );
    write_object(&inputs[3], 3_333, 3 % 2, 70);
    process_in_batches(&out, "300", &[&inputs[3]]);
    let fresh = dir.join("fresh");
    process_in_batches(&fresh, "300", &paths);
    let after = tables(&out);
    assert_eq!(sums(&after), sums(&tables(&fresh)));
    assert_ne!(sums(&after), sums(&before));
    for table in TABLES {
        assert_eq!(files_per_hour(&after, table), [1, 1], "{table}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A hidden temporary file as a run killed while writing leaves it, in `folder`: named for
/// `target` with writer `pid`, last written `age` ago, holding the bytes of `content` (a real
/// table file, so that reading it would change the sums).
fn plant_temporary(
    folder: &Path,
    target: &str,
    pid: u32,
    age: std::time::Duration,
    content: &Path,
) -> PathBuf {
    std::fs::create_dir_all(folder).unwrap();
    let path = folder.join(format!(".{target}.{pid}-00000000000000ab.partial"));
    std::fs::copy(content, &path).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - age)
        .unwrap();
    path
}

/// A run killed with `kill -9` cannot remove its temporary files; a `--flows` run killed
/// eight times over small objects left 905 of them (41 MB). They are planted here as such a
/// run leaves them (the state is only files, so nothing is mocked): the next batch into
/// their hour removes those of a gone writer last written over an hour ago, and `compact`
/// removes the rest, in hour folders, its scratch folder and `_manifests`, and says how
/// many; a file of a writer still running, a recent file and every other name stay, and the
/// tables read the same as a run never killed.
#[test]
fn temporary_files_of_killed_runs_are_removed_once_abandoned() {
    let dir = scratch("compact-abandoned");
    let inputs = objects(&dir.join("logs"), 0, 6, 2);
    let out = dir.join("out");
    process_all(&out, &inputs[..4]);
    let content = files_under(&out.join("flows"))
        .into_iter()
        .find(|path| {
            path.extension()
                .is_some_and(|extension| extension == "parquet")
        })
        .unwrap();
    // No process has this id: Linux's ids stop at 2^22.
    let gone = u32::MAX;
    let hours = std::time::Duration::from_secs(2 * 3_600);
    let hour = |table: &str, hour: u32| out.join(format!("{table}/dt=2026-06-01/hour={hour}"));
    let removed_by_batch = plant_temporary(&hour("flows", 10), "a.parquet", gone, hours, &content);
    let removed_by_compact = [
        plant_temporary(
            &hour("city_networks", 11),
            "b.parquet",
            gone,
            hours,
            &content,
        ),
        plant_temporary(
            &out.join("_compacted/.work/flows/dt=2026-06-01/hour=11"),
            "compacted-1.parquet",
            gone,
            hours,
            &content,
        ),
        plant_temporary(&out.join("_manifests"), "m.json", gone, hours, &content),
    ];
    let kept = [
        plant_temporary(
            &hour("city_networks", 11),
            "c.parquet",
            std::process::id(),
            hours,
            &content,
        ),
        plant_temporary(
            &hour("city_networks", 11),
            "d.parquet",
            gone,
            std::time::Duration::from_secs(60),
            &content,
        ),
    ];

    // Object 4's rows are in hour 10 only.
    process_all(&out, &inputs[4..5]);
    assert!(!removed_by_batch.exists());
    assert!(removed_by_compact.iter().all(|path| path.exists()));

    let report = String::from_utf8(compact(&out)).unwrap();
    assert!(
        report.contains("3 temporary files of killed runs removed"),
        "{report}"
    );
    for path in &removed_by_compact {
        assert!(!path.exists(), "{}", path.display());
    }
    for path in &kept {
        assert!(path.exists(), "{}", path.display());
    }
    let clean = dir.join("clean");
    process_all(&clean, &inputs[..5]);
    assert_eq!(sums(&tables(&out)), sums(&tables(&clean)));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A compaction that fails after merging an hour (here its journal cannot be written, as
/// when the disk is full) leaves nothing of it behind: the merged file stayed in the scratch
/// folder, one per failed hour, taking the room a full disk lacked (found by filling a tmpfs).
/// The hour is as it was, and the next run compacts it.
#[test]
fn a_compaction_that_fails_leaves_no_merged_file_behind() {
    let (dir, _, out) = processed("compact-failed", 8, 1);
    let expected = sums(&tables(&out));
    // The folder of `city_networks`' compaction journals is a link to nowhere: reading a
    // journal finds none, writing one fails, after the hour was merged.
    let journals = out.join("_compacted/_journals");
    std::fs::create_dir_all(&journals).unwrap();
    std::os::unix::fs::symlink(dir.join("nowhere"), journals.join("city_networks")).unwrap();
    let stderr = compact_with_failures(&out);
    assert!(stderr.contains("_journals/city_networks"), "{stderr}");
    let scratch_files = files_under(&out.join("_compacted/.work"));
    assert!(scratch_files.is_empty(), "{scratch_files:?}");
    let found = tables(&out);
    assert_eq!(sums(&found), expected);
    assert_eq!(files_per_hour(&found, "city_networks"), [8]);
    std::fs::remove_file(journals.join("city_networks")).unwrap();
    compact(&out);
    let found = tables(&out);
    assert_eq!(sums(&found), expected);
    for table in TABLES {
        assert_eq!(files_per_hour(&found, table), [1], "{table}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
