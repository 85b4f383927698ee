//! What the CLI's end-to-end tests share: repository paths, scratch folders, running the
//! `flowatlas` binary, and running a Python script against DuckDB (installed by the test
//! command; a missing DuckDB fails the test, it is never skipped).

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A path in the repository, as text for command lines.
pub fn repo(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

/// An empty folder for one test, named after it.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowatlas-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `flowatlas` and returns its stdout; fails the test unless it exits 0.
pub fn flowatlas_ok(args: &[&str]) -> Vec<u8> {
    flowatlas_ok_with(args, &[])
}

/// [`flowatlas_ok`] with environment variables set (an S3 endpoint, say).
pub fn flowatlas_ok_with(args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
    let output = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// JSON Lines output, one value per line.
pub fn json_lines(stdout: Vec<u8>) -> Vec<serde_json::Value> {
    String::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `flowatlas health` over the tables in `data` for the windows of `[from, to)` (Unix seconds,
/// whole minutes) with `output` flags (`--json`, `--emf`, ...), its JSON Lines parsed.
pub fn health_lines(data: &Path, from: i64, to: i64, output: &[&str]) -> Vec<serde_json::Value> {
    let iso = flowatlas_health::publish::iso_time;
    let (from, to) = (iso(from), iso(to));
    let range = [
        "--data",
        data.to_str().unwrap(),
        "--from",
        &from[..16],
        "--to",
        &to[..16],
    ];
    json_lines(flowatlas_ok(&[&["health"][..], &range, output].concat()))
}

/// Runs a Python script with arguments and returns its stdout; fails the test on any error.
pub fn python(script: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "Python check failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Sleeps past the next multiple of `period` seconds (Unix time) when it is less than `margin`
/// seconds away, so what a test does next stays within one window or hour of the real clock.
pub fn start_clear_of_a_boundary(period: u64, margin: u64) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let period = Duration::from_secs(period);
    let to_boundary =
        period - Duration::from_nanos((since_epoch.as_nanos() % period.as_nanos()) as u64);
    if to_boundary < Duration::from_secs(margin) {
        std::thread::sleep(to_boundary + Duration::from_secs(1));
    }
}

/// Every file under `dir`, hidden or not, in order.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
