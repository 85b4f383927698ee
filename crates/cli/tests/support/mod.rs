//! What the CLI's end-to-end tests share: repository paths, scratch folders, running the
//! `flowatlas` binary, and running a Python script against DuckDB (installed by the test
//! command; a missing DuckDB fails the test, it is never skipped).

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

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
