//! Peak memory and throughput of the Lambda's path on AWS's largest flow-log object: a 75 MB
//! gzip object (the size is `FLOWATLAS_BENCH_GZ_MB`) in an S3-compatible server on loopback
//! (moto's, which the tests install), through the function's own handler in this process:
//! streaming GET, gunzip, parse, rollup, Parquet, uploads. Prints the process's peak resident
//! set before and after. Memory is bounded by design when the peak does not follow the size.
//!
//! `cargo bench -p flowatlas-benches --bench lambda_memory`

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use flate2::Compression;
use flate2::write::GzEncoder;
use flowatlas_benches::{fields_up_to, flow_log_text};
use flowatlas_lambda::{Settings, State};
use flowatlas_testkit::S3Server;

const KEY: &str = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/06/01/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20260601T1200Z_big.log.gz";

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

fn main() {
    let target_mb: u64 = std::env::var("FLOWATLAS_BENCH_GZ_MB")
        .ok()
        .and_then(|mb| mb.parse().ok())
        .unwrap_or(75);
    let dir = std::env::temp_dir().join(format!("flowatlas-lambda-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // 100,000 distinct records (about as many distinct peers as a busy interface sends in five
    // minutes), repeated until the gzip object reaches the size; gzip's 32 KiB window never
    // sees the repetition, so the compression ratio stays that of real logs.
    let object = dir.join("object.log.gz");
    let block = flow_log_text(&fields_up_to(2), 100_000);
    let body_start = block.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut gz = GzEncoder::new(std::fs::File::create(&object).unwrap(), Compression::new(6));
    gz.write_all(&block[..body_start]).unwrap();
    let mut text_bytes = 0u64;
    while gz.get_ref().metadata().unwrap().len() < target_mb << 20 {
        gz.write_all(&block[body_start..]).unwrap();
        text_bytes += (block.len() - body_start) as u64;
    }
    gz.finish().unwrap();
    drop(block);
    let gz_bytes = std::fs::metadata(&object).unwrap().len();

    let s3 = S3Server::start(&["bench-logs", "bench-tables"]);
    s3.runtime.block_on(async {
        let body = ByteStream::from_path(&object).await.unwrap();
        s3.client
            .put_object()
            .bucket("bench-logs")
            .key(KEY)
            .body(body)
            .send()
            .await
            .unwrap();
    });

    let settings = Settings::from_vars([
        (
            "FLOWATLAS_SOURCES".to_string(),
            "s3://bench-logs/AWSLogs/".to_string(),
        ),
        (
            "FLOWATLAS_DESTINATION".to_string(),
            "s3://bench-tables/tables/".to_string(),
        ),
        (
            "FLOWATLAS_ASN_DBS".to_string(),
            repo_path("testdata/geo/geolite2-asn.mmdb"),
        ),
        (
            "FLOWATLAS_GEO_DBS".to_string(),
            repo_path("testdata/geo/geolite2-city.mmdb"),
        ),
    ])
    .unwrap();
    let state = Arc::new(
        s3.runtime
            .block_on(State::new(settings, s3.client.clone()))
            .unwrap(),
    );
    let event = serde_json::json!({"Records": [{
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "bench-logs"}, "object": {"key": KEY}},
    }]});
    let before = peak_rss_mib();
    let deadline_ms = 900_000;
    let started = Instant::now();
    let response = s3
        .runtime
        .block_on(flowatlas_lambda::handle(state, event, deadline_ms, "bench"))
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let after = peak_rss_mib();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(response["objects"], 1, "{response}");
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "object: {:.1} MiB gzip, {:.1} MiB text\nhandler: {seconds:.2} s, {:.1} MiB/s of text\npeak RSS: {before} MiB before the object, {after} MiB after",
        mib(gz_bytes),
        mib(text_bytes),
        mib(text_bytes) / seconds,
    )
    .unwrap();
}

fn repo_path(relative: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
        .display()
        .to_string()
}
