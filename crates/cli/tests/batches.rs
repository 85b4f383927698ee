//! Small objects written together (issue 17): one file per table and hour for a worker's
//! objects, and still exactly once. Each test reads the tables back with DuckDB and compares
//! every sum with what the inputs hold, after re-runs of single objects, changed objects,
//! duplicates and runs killed with SIGKILL at many points.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{files_under, flowatlas_ok, python, scratch};

/// One small object: `n_records` records from a few /24s over two hours, each of `bytes`
/// bytes; returns the bytes it holds.
fn write_object(path: &Path, seed: usize, n_records: usize, bytes: i64) -> i64 {
    let mut text = String::new();
    for record in 0..n_records {
        let peer = format!("89.{}.{}.{}", 100 + seed % 50, record % 7, record % 250);
        let start = 1_780_315_200 + ((seed * 131 + record * 37) % 7_200);
        text.push_str(&format!(
            "2 123456789012 eni-0a1b2c3d4e5f60718 {peer} 10.0.0.7 56364 443 6 10 {bytes} {start} {start} ACCEPT OK\n"
        ));
    }
    std::fs::write(path, text).unwrap();
    bytes * n_records as i64
}

/// `n_objects` objects under `dir/logs`, object `i` of `20 + i` records (sizes differ, as
/// real objects' do); returns the folder, the bytes and the records.
fn small_objects(dir: &Path, n_objects: usize) -> (PathBuf, i64, i64) {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let bytes = (0..n_objects)
        .map(|seed| {
            let path = logs.join(format!("{seed:03}.log"));
            write_object(&path, seed, 20 + seed, 100 + seed as i64)
        })
        .sum();
    let records = (0..n_objects).map(|seed| 20 + seed as i64).sum();
    (logs, bytes, records)
}

/// Per table: (bytes, flows, files) as DuckDB reads the visible Parquet files.
fn tables(out: &Path) -> serde_json::Value {
    let script = r#"
import sys, json, glob, os, duckdb
out = sys.argv[1]
con = duckdb.connect()
result = {}
for table in ["city_networks", "client_prefixes"]:
    files = [path for path in glob.glob(f"{out}/{table}/**/*.parquet", recursive=True)
             if not os.path.basename(path).startswith((".", "_"))]
    if not files:
        result[table] = [0, 0, 0]
        continue
    bytes_, flows = con.execute(
        "SELECT sum(bytes_in + bytes_out)::BIGINT, sum(flows)::BIGINT FROM read_parquet(?)",
        [files]).fetchone()
    result[table] = [bytes_, flows, len(files)]
print(json.dumps(result))
"#;
    serde_json::from_slice(&python(script, &[out.to_str().unwrap()])).unwrap()
}

fn process(out: &Path, extra: &[&str], inputs: &[&Path]) -> serde_json::Value {
    let mut args = vec!["process", "--json", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend(inputs.iter().map(|input| input.to_str().unwrap()));
    serde_json::from_slice(&flowatlas_ok(&args)).unwrap()
}

fn assert_sums(out: &Path, bytes: i64, flows: i64) {
    let found = tables(out);
    for table in ["city_networks", "client_prefixes"] {
        assert_eq!(found[table][0], bytes, "{table}: {found}");
        assert_eq!(found[table][1], flows, "{table}: {found}");
    }
}

fn manifest_files(out: &Path, object: &str) -> Vec<String> {
    let manifests = std::fs::read_dir(out.join("_manifests")).unwrap();
    let manifest = manifests
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(object)
        })
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    serde_json::from_value(manifest["files"].clone()).unwrap()
}

#[test]
fn objects_share_files_and_a_reprocessed_object_replaces_exactly_its_rows() {
    let dir = scratch("batch-reprocess");
    let (logs, bytes, records) = small_objects(&dir, 30);
    let out = dir.join("out");
    let summary = process(&out, &["--threads", "1"], &[&logs]);
    assert_eq!(summary["objects_processed"], 30, "{summary}");
    assert_sums(&out, bytes, records);
    // Two hours, two tables: four files for thirty objects, each manifest naming its own.
    let found = tables(&out);
    assert_eq!(found["city_networks"][2], 2, "{found}");
    assert_eq!(found["client_prefixes"][2], 2, "{found}");
    let shared = manifest_files(&out, "007.log");
    assert!(
        shared.iter().all(|file| file.contains("/batch-")),
        "{shared:?}"
    );

    // The same object again, alone: its rows leave the shared files and come back once.
    process(&out, &[], &[&logs.join("007.log")]);
    assert_sums(&out, bytes, records);
    // Changed (fewer records, other sizes, one hour only): the sums follow the new content.
    let before = 27 * (100 + 7);
    let after = write_object(&logs.join("007.log"), 7, 3, 5_000);
    process(&out, &[], &[&logs.join("007.log")]);
    assert_sums(&out, bytes - before + after, records - 27 + 3);
    // Everything again, on two workers: every object replaced, nothing doubled.
    process(&out, &["--threads", "2"], &[&logs]);
    assert_sums(&out, bytes - before + after, records - 27 + 3);
    assert_eq!(
        std::fs::read_dir(out.join("_manifests")).unwrap().count(),
        30
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A batch holds its rows as Arrow builders per hour partition, a few KiB each before any row:
/// an object whose clock scattered its records over many hours is written alone, and a batch
/// is written before it would hold more hours than it may (64 per table). Sums stay exact.
#[test]
fn objects_spread_over_many_hours_do_not_pile_up_in_a_batch() {
    let dir = scratch("batch-hours");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // One object over 100 hours (a record an hour), then 70 one-hour objects, an hour apart.
    let mut text = String::new();
    for hour in 0..100 {
        let start = 1_780_315_200 + hour * 3_600;
        text.push_str(&format!(
            "2 123456789012 eni-0a1b2c3d4e5f60718 89.100.1.{} 10.0.0.7 56364 443 6 10 50 {start} {start} ACCEPT OK\n",
            hour % 250
        ));
    }
    std::fs::write(logs.join("000-scattered.log"), text).unwrap();
    let mut bytes = 100 * 50;
    for seed in 0..70 {
        let start = 1_780_315_200 + seed * 3_600;
        std::fs::write(
            logs.join(format!("{:03}.log", seed + 1)),
            format!(
                "2 123456789012 eni-0a1b2c3d4e5f60718 89.101.2.{seed} 10.0.0.7 56364 443 6 10 70 {start} {start} ACCEPT OK\n"
            ),
        )
        .unwrap();
        bytes += 70;
    }
    let out = dir.join("out");
    process(&out, &["--threads", "1"], &[&logs]);
    assert_sums(&out, bytes, 100 + 70);
    let scattered = manifest_files(&out, "000-scattered.log");
    assert_eq!(scattered.len(), 200, "{scattered:?}");
    assert!(
        scattered.iter().all(|file| !file.contains("/batch-")),
        "{scattered:?}"
    );
    // The 70 one-hour objects fill one batch of 64 hours and start a second.
    let mut batches: Vec<String> = (1..=70)
        .flat_map(|seed| manifest_files(&out, &format!("{seed:03}.log")))
        .map(|file| file.rsplit('/').next().unwrap().to_owned())
        .collect();
    batches.sort();
    batches.dedup();
    assert_eq!(batches.len(), 2, "{batches:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_same_object_in_one_batch_twice_counts_once() {
    let dir = scratch("batch-duplicates");
    let (logs, bytes, records) = small_objects(&dir, 5);
    let out = dir.join("out");
    // A path repeated, through another spelling: read once.
    let again = logs.join("../logs/002.log");
    process(
        &out,
        &["--threads", "1"],
        &[&logs, &again, &logs.join("002.log")],
    );
    assert_sums(&out, bytes, records);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn runs_killed_at_any_point_leave_exact_tables_after_the_next_run() {
    let dir = scratch("batch-killed");
    // Enough objects that a run lasts a while.
    let (logs, bytes, n_flows) = small_objects(&dir, 400);
    let out = dir.join("out");
    // A clean run first, so killed runs also replace earlier contributions.
    process(&out, &["--threads", "2"], &[&logs]);
    assert_sums(&out, bytes, n_flows);
    let clean = tables(&out);
    for delay_ms in [50, 150, 300, 600, 1_000, 1_500, 2_200, 3_000] {
        // Small batches: many journals, renames and manifests for a kill to land among.
        let mut run = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
            .args(["process", "--threads", "2", "--batch-rows", "60", "--out"])
            .args([out.to_str().unwrap(), logs.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        run.kill().unwrap();
        run.wait().unwrap();
        // Between runs, any visible file is a whole Parquet file DuckDB reads.
        tables(&out);
        // Re-running one object finishes or undoes what the killed run left, then replaces it.
        process(&out, &[], &[&logs.join("123.log")]);
    }
    process(&out, &["--threads", "2"], &[&logs]);
    assert_sums(&out, bytes, n_flows);
    assert_eq!(
        tables(&out)["city_networks"][1],
        clean["city_networks"][1],
        "after kills"
    );
    let journals: Vec<_> = std::fs::read_dir(out.join("_batches"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| !name.to_string_lossy().starts_with('.'))
        .collect();
    assert!(journals.is_empty(), "{journals:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The data files a reader such as Athena sees under `out`: no part of the path (below `out`)
/// starts with `.` or `_`.
fn visible_files(out: &Path) -> Vec<PathBuf> {
    files_under(out)
        .into_iter()
        .filter(|path| {
            path.strip_prefix(out)
                .unwrap()
                .components()
                .all(|part| !part.as_os_str().to_string_lossy().starts_with(['.', '_']))
        })
        .collect()
}

#[test]
fn a_batch_that_cannot_be_written_shows_none_of_its_objects_rows() {
    let dir = scratch("batch-unwritable");
    let (logs, bytes, records) = small_objects(&dir, 6);
    let out = dir.join("out");
    // `city_networks` cannot become a folder, so writing the batch fails after every object's
    // `flows` file was written.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("city_networks"), "not a folder").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
        .args(["process", "--json", "--flows", "--threads", "1", "--out"])
        .args([out.to_str().unwrap(), logs.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("city_networks"), "{stderr}");
    // No object was committed, so no table shows its rows: `flows` neither.
    let visible: Vec<_> = visible_files(&out)
        .into_iter()
        .filter(|path| path != &out.join("city_networks"))
        .collect();
    assert!(visible.is_empty(), "{visible:?}");
    // Once the folder can be made, the next run writes every table whole.
    std::fs::remove_file(out.join("city_networks")).unwrap();
    let summary = process(&out, &["--flows", "--threads", "1"], &[&logs]);
    assert_eq!(summary["rows"]["flows"], records);
    assert_sums(&out, bytes, records);
    let flows_files: Vec<_> = visible_files(&out)
        .into_iter()
        .filter(|path| path.starts_with(out.join("flows")))
        .collect();
    assert!(!flows_files.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
