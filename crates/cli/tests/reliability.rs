//! Regressions of issue 14 ("nothing lost, nothing corrupt, no crash"), each named after the
//! defect it pins down, run through the real binary on real files.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{files_under, repo, scratch};

fn flowatlas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowatlas"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn source_ids_differ_for_names_that_differ_only_in_non_utf8_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("non-utf8-names");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // `x\xff.log` and `x\xfe.log` read the same as lossy text; two objects, two outputs.
    for (byte, source) in [
        (0xff, "testdata/flowlog/ok/aws-examples-v5-custom.log"),
        (0xfe, "testdata/flowlog/sample"),
    ] {
        let name = [b'x', byte, b'.', b'l', b'o', b'g'];
        let name = std::ffi::OsStr::from_bytes(&name);
        let source = Path::new(&repo(source)).to_path_buf();
        let source = if source.is_dir() {
            files_under(&source)
                .into_iter()
                .find(|path| path.extension().is_some_and(|ext| ext == "log"))
                .unwrap()
        } else {
            source
        };
        std::fs::copy(source, logs.join(name)).unwrap();
    }
    let out = dir.join("out");
    let output = flowatlas(&[
        "process",
        "--json",
        "--out",
        out.to_str().unwrap(),
        logs.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["objects_processed"], 2);
    let manifests = files_under(&out.join("_manifests"));
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A default-format (version 2) record from the internet peer 89.160.20.128, at 2026-06-01 12:00.
fn v2_record(bytes: &str, start: &str) -> String {
    format!(
        "2 123456789012 eni-0a1b2c3d4e5f60718 89.160.20.128 10.0.0.7 56364 443 6 10 {bytes} {start} {start} ACCEPT OK\n"
    )
}

#[test]
fn byte_sums_saturate_instead_of_wrapping() {
    let dir = scratch("saturating-sums");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let most = i64::MAX.to_string();
    // Two records of 2^63-1 bytes per object, two objects: every sum (row, manifest, summary,
    // ranking) goes past i64::MAX.
    for name in ["a.log", "b.log"] {
        let text = v2_record(&most, "1780315200").repeat(2);
        std::fs::write(logs.join(name), text).unwrap();
    }
    let out = dir.join("out");
    let output = flowatlas(&[
        "process",
        "--json",
        "--out",
        out.to_str().unwrap(),
        logs.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["ok_bytes"], i64::MAX);
    for manifest in files_under(&out.join("_manifests")) {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        assert_eq!(manifest["ok_bytes"], i64::MAX, "{manifest}");
    }
    for by in ["asn", "prefix"] {
        let output = flowatlas(&["top", "--json", "--by", by, "--data", out.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let entry: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(entry["bytes_in"], i64::MAX, "{by}: {entry}");
        assert_eq!(entry["share_percent"], 100.0, "{by}: {entry}");
    }
    let table = flowatlas(&["top", "--data", out.to_str().unwrap()]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(!table.contains('-'), "no negative number printed:\n{table}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn unwritable_out_is_one_error_not_one_per_object() {
    let dir = scratch("unwritable-out");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for idx in 0..6 {
        let bytes = (840 + idx).to_string();
        std::fs::write(
            logs.join(format!("{idx}.log")),
            v2_record(&bytes, "1780315200"),
        )
        .unwrap();
    }
    // A file where the table's folder must go: no object can be written (a read-only folder
    // would do the same, but these tests may run as root, for whom nothing is read-only).
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("city_networks"), "in the way").unwrap();
    let output = flowatlas(&[
        "process",
        "--threads",
        "2",
        "--out",
        out.to_str().unwrap(),
        logs.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = stderr_of(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("city_networks"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_data_folder_and_reversed_range_say_so() {
    let dir = scratch("missing-data");
    let missing = dir.join("nowhere");
    for command in ["top", "health"] {
        let output = flowatlas(&[command, "--data", missing.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert!(stderr_of(&output).contains("no such folder"), "{output:?}");
    }
    std::fs::create_dir_all(&dir).unwrap();
    for command in ["top", "health"] {
        let output = flowatlas(&[
            command,
            "--data",
            dir.to_str().unwrap(),
            "--from",
            "2026-06-02",
            "--to",
            "2026-06-01",
        ]);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert!(
            stderr_of(&output).contains("--from 2026-06-02T00:00:00Z is not before --to"),
            "{output:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn error_chains_say_each_cause_once() {
    let dir = scratch("cause-once");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(&config, "{").unwrap();
    let output = flowatlas(&[
        "health",
        "--data",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = stderr_of(&output);
    assert_eq!(stderr.matches("EOF while parsing").count(), 1, "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn duplicate_config_keys_and_impossible_dates_are_refused() {
    let dir = scratch("duplicate-keys");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"availabilityScoreThreshold": 90, "availabilityScoreThreshold": 50}"#,
    )
    .unwrap();
    let output = flowatlas(&[
        "health",
        "--data",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        stderr_of(&output).contains("`availabilityScoreThreshold` appears twice"),
        "{output:?}"
    );
    let output = flowatlas(&[
        "top",
        "--data",
        dir.to_str().unwrap(),
        "--from",
        "2026-02-31",
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(stderr_of(&output).contains("2026-02-31"), "{output:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn process_prints_the_first_rejects_like_parse() {
    let dir = scratch("process-rejects");
    let out = dir.join("out");
    let output = flowatlas(&[
        "process",
        "--out",
        out.to_str().unwrap(),
        &repo("testdata/flowlog/err/malformed.log"),
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = stderr_of(&output);
    let shown: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("malformed.log: line "))
        .collect();
    // malformed.log has 11 rejects: ten shown, the rest counted.
    assert_eq!(shown.len(), 10, "{stderr}");
    assert!(shown[0].contains("too_few_fields"), "{stderr}");
    assert!(stderr.contains("(1 rejects not shown;"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `n_objects` logs of `n_records` each, from many /24s over four hours: several partitions
/// per table, so that concurrent runs write the same files at the same time.
fn many_logs(dir: &Path, n_objects: usize, n_records: usize) -> PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for object in 0..n_objects {
        let mut text = String::new();
        for record in 0..n_records {
            let peer = format!("89.{}.{}.{}", 100 + object % 50, record % 200, record % 250);
            let start = 1_780_315_200 + (record * 7 % 14_400);
            text.push_str(&format!(
                "2 123456789012 eni-0a1b2c3d4e5f60718 {peer} 10.0.0.7 56364 443 6 10 {} {start} {start} ACCEPT OK\n",
                100 + record
            ));
        }
        std::fs::write(logs.join(format!("{object:03}.log")), text).unwrap();
    }
    logs
}

/// Every file in the tables' folders is either hidden (`.` or `_`: Athena skips it) or a whole
/// Parquet file DuckDB reads; returns how many Parquet files there are.
fn assert_tables_readable(out: &Path) -> usize {
    let mut parquet = Vec::new();
    for file in files_under(out) {
        let relative = file.strip_prefix(out).unwrap();
        // Manifests, rejects and batch journals live beside the tables, in `_` folders.
        if ["_manifests", "_rejects", "_batches"]
            .iter()
            .any(|folder| relative.starts_with(folder))
        {
            continue;
        }
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        assert!(
            name.ends_with(".parquet"),
            "a visible file that is not a table file: {}",
            file.display()
        );
        parquet.push(file.to_string_lossy().into_owned());
    }
    let script = r#"
import sys, duckdb
con = duckdb.connect()
for path in sys.argv[1:]:
    con.execute("SELECT count(*) FROM read_parquet(?)", [path]).fetchone()
"#;
    let args: Vec<&str> = parquet.iter().map(String::as_str).collect();
    support::python(script, &args);
    parquet.len()
}

#[test]
fn concurrent_runs_into_one_out_never_corrupt_tables() {
    let dir = scratch("concurrent-runs");
    let logs = many_logs(&dir, 24, 3_000);
    let out = dir.join("out");
    let (logs, out_text) = (logs.to_str().unwrap(), out.to_str().unwrap());
    let settings: [&[&str]; 2] = [&["--flows"], &["--prefix-len", "16,32"]];
    // Different settings (the case that corrupted files), then the same settings twice (the
    // case whose renames failed each other).
    for (first, second) in [
        (settings[0], settings[1]),
        (settings[1], settings[0]),
        (settings[0], settings[0]),
        (settings[1], settings[1]),
    ] {
        let runs: Vec<std::process::Child> = [first, second]
            .iter()
            .map(|extra| {
                Command::new(env!("CARGO_BIN_EXE_flowatlas"))
                    .args(["process", "--out", out_text])
                    .args(*extra)
                    .arg(logs)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for run in runs {
            let output = run.wait_with_output().unwrap();
            assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
        }
        assert!(assert_tables_readable(&out) > 0);
        let leftovers: Vec<PathBuf> = files_under(&out)
            .into_iter()
            .filter(|file| file.to_string_lossy().ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_run_leaves_no_visible_partial_file() {
    let dir = scratch("killed-run");
    let logs = many_logs(&dir, 24, 3_000);
    let out = dir.join("out");
    let mut run = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
        .args(["process", "--flows", "--threads", "2", "--out"])
        .args([out.to_str().unwrap(), logs.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed (SIGKILL) once it is under way: some objects done, others half written.
    let manifests = out.join("_manifests");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_dir(&manifests).map_or(0, |entries| entries.count()) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    run.kill().unwrap();
    let status = run.wait().unwrap();
    assert_eq!(status.code(), None, "killed before it finished");
    assert!(assert_tables_readable(&out) > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_same_object_given_twice_is_processed_once() {
    let dir = scratch("given-twice");
    let logs = many_logs(&dir, 3, 50);
    let sub = logs.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("in-sub.log"), v2_record("840", "1780315200")).unwrap();
    // A copy elsewhere: the same bytes under another path.
    let copies = dir.join("copies");
    std::fs::create_dir_all(&copies).unwrap();
    std::fs::copy(logs.join("000.log"), copies.join("000-copy.log")).unwrap();
    let out = dir.join("out");
    let (logs_text, sub_text) = (logs.to_str().unwrap(), sub.to_str().unwrap());
    let output = flowatlas(&[
        "process",
        "--json",
        "--out",
        out.to_str().unwrap(),
        logs_text,
        sub_text,
        &format!("{logs_text}/../logs/001.log"),
        copies.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["inputs"], 4, "{summary}");
    assert_eq!(summary["objects_processed"], 4, "{summary}");
    assert_eq!(summary["records"]["read"], 3 * 50 + 1, "{summary}");
    assert_eq!(files_under(&out.join("_manifests")).len(), 4);
    let stderr = stderr_of(&output);
    assert!(stderr.contains("in-sub.log: the same file as"), "{stderr}");
    assert!(
        stderr.contains("000-copy.log: the same bytes as"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn far_times_are_rejected_not_partitioned() {
    let dir = scratch("far-times");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // 2026-06-01, then the epoch, the year 2100 and the year 5138 (99999999999 seconds).
    let text: String = ["1780315200", "0", "4102444800", "99999999999"]
        .iter()
        .map(|start| v2_record("840", start))
        .collect();
    std::fs::write(logs.join("far.log"), text).unwrap();
    let out = dir.join("out");
    let output = flowatlas(&[
        "process",
        "--json",
        "--out",
        out.to_str().unwrap(),
        logs.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["records"]["ok"], 1, "{summary}");
    assert_eq!(summary["records"]["rejected"], 3, "{summary}");
    let partitions: Vec<String> = std::fs::read_dir(out.join("city_networks"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(partitions, ["dt=2026-06-01"]);
    let stderr = stderr_of(&output);
    assert_eq!(stderr.matches("out_of_range").count(), 3, "{stderr}");
    assert!(stderr.contains("before 2014-01-01"), "{stderr}");
    assert!(stderr.contains("more than a day after"), "{stderr}");
    assert_tables_readable(&out);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `flowatlas` with arguments under Python, which reports the child's peak resident set
/// (`getrusage`); returns its exit status, peak RSS in MiB and stdout. The child may hold 256
/// open files (a Lambda allows 1,024).
fn flowatlas_peak_rss(args: &[&str]) -> (i64, u64, String) {
    let script = r#"
import json, resource, subprocess, sys
limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
result = subprocess.run(sys.argv[1:], capture_output=True, preexec_fn=limit)
print(json.dumps({"code": result.returncode, "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "stdout": result.stdout.decode(), "stderr": result.stderr.decode()}))
"#;
    let mut argv = vec![env!("CARGO_BIN_EXE_flowatlas")];
    argv.extend_from_slice(args);
    let run: serde_json::Value = serde_json::from_slice(&support::python(script, &argv)).unwrap();
    assert_eq!(run["code"], 0, "{}", run["stderr"]);
    (
        run["code"].as_i64().unwrap(),
        run["peak_kib"].as_u64().unwrap() / 1024,
        run["stdout"].as_str().unwrap().to_owned(),
    )
}

/// Writes `text` as the object `name` in `dir` and processes it into `dir/out` (with `extra`
/// arguments) within the issue's memory budget, 256 MiB; returns the output and the summary.
fn process_within_budget(
    dir: &Path,
    name: &str,
    text: &str,
    extra: &[&str],
) -> (PathBuf, serde_json::Value) {
    let log = dir.join(name);
    std::fs::write(&log, text).unwrap();
    let out = dir.join("out");
    let mut args = vec!["process", "--json", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(log.to_str().unwrap());
    let (_, peak_mib, stdout) = flowatlas_peak_rss(&args);
    assert!(peak_mib < 256, "peak RSS {peak_mib} MiB");
    (out, serde_json::from_str(&stdout).unwrap())
}

#[test]
fn memory_is_bounded_whatever_the_distinct_prefixes() {
    let dir = scratch("distinct-prefixes");
    std::fs::create_dir_all(&dir).unwrap();
    // A NAT gateway facing the internet: every record from another /24 (11.0.0.1, 11.0.1.1, ...).
    let n_records = 500_000u32;
    let mut text = String::with_capacity(n_records as usize * 110);
    for idx in 0..n_records {
        let peer = std::net::Ipv4Addr::from(0x0b00_0001 + (idx << 8));
        text.push_str(
            &v2_record(
                &(100 + idx % 1000).to_string(),
                &(1_780_315_200 + idx % 600).to_string(),
            )
            .replace("89.160.20.128", &peer.to_string()),
        );
    }
    // The issue's budget; before, this object took several times as much.
    let (out, summary) = process_within_budget(&dir, "nat-gateway.log", &text, &[]);
    assert_eq!(summary["rows"]["client_prefixes"], n_records, "{summary}");
    // The rows were written in parts, and they add up to every OK byte.
    let script = r#"
import json, sys, duckdb
con = duckdb.connect()
source = f"read_parquet('{sys.argv[1]}/client_prefixes/**/*.parquet')"
files, rows, prefixes, total = con.execute(
    f"SELECT count(DISTINCT filename), count(*), count(DISTINCT client_prefix), sum(bytes_in + bytes_out) FROM read_parquet('{sys.argv[1]}/client_prefixes/**/*.parquet', filename = true)").fetchone()
print(json.dumps({"files": files, "rows": rows, "prefixes": prefixes, "bytes": int(total)}))
"#;
    let read_back: serde_json::Value =
        serde_json::from_slice(&support::python(script, &[out.to_str().unwrap()])).unwrap();
    assert!(read_back["files"].as_u64().unwrap() > 1, "{read_back}");
    assert_eq!(read_back["prefixes"], n_records, "{read_back}");
    assert_eq!(read_back["bytes"], summary["ok_bytes"], "{read_back}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An object whose clock scattered its records over 1,500 hours, with `--flows`: a `flows` file
/// per hour, written with few files open at once and little memory. Each hour's partition held
/// its file open and made room for 1,024 rows in every column: an object over 8,633 hours
/// peaked at 5.7 GB, and with 1,024 open files allowed the run stopped (too many open files).
#[test]
fn flows_of_an_object_over_many_hours_need_few_open_files() {
    let dir = scratch("flows-many-hours");
    std::fs::create_dir_all(&dir).unwrap();
    let n_hours = 1_500;
    let text: String = (0..n_hours)
        .map(|hour| v2_record("100", &(1_780_315_200 - hour * 3_600).to_string()))
        .collect();
    let (out, summary) = process_within_budget(&dir, "scattered.log", &text, &["--flows"]);
    assert_eq!(summary["rows"]["flows"], n_hours, "{summary}");
    let flows_files = files_under(&out.join("flows"))
        .into_iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "parquet")
        })
        .count();
    assert_eq!(flows_files, n_hours as usize);
    std::fs::remove_dir_all(&dir).unwrap();
}
