//! The function end to end, on loopback, with real parts: `moto_server` (PyPI `moto[server]`)
//! as the S3 service, the Lambda runtime API emulator of `cargo lambda watch`, the real
//! `bootstrap` binary, invocations with `cargo lambda invoke --data-file` on the AWS-shaped
//! events in `testdata/events/`, and DuckDB reading the Parquet back. Nothing is mocked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use flowatlas_geo::{Databases, Enricher, GeoConfig, PeerRules};
use flowatlas_pipeline::{Config, ObjectRef, ObjectReport, Tables, process_object};
use flowatlas_rollup::{RollupConfig, ServiceLocation};
use flowatlas_testkit::{Running, S3Server, free_port, spawn, wait_for_port};
use serde_json::Value;

const LOGS: &str = "flowatlas-test-logs";
const TABLES: &str = "flowatlas-test-tables";
const GEO: &str = "flowatlas-test-geo";
const ELSEWHERE: &str = "someone-elses-bucket";
const PREFIX: &str = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/06/01/";
const IFACE_A: &str = "123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20260601T";
const IFACE_B: &str = "123456789012_vpcflowlogs_us-east-1_fl-0f1e2d3c4b5a69788_20260601T";
const LOCAL_CIDR: &str = "2600:1f18:abcd::/48";

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowatlas-lambda-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The runtime API emulator of `cargo lambda watch` and the `bootstrap` binary polling it,
/// with the function's environment.
struct Function {
    _emulator: Running,
    _process: Running,
    /// The emulator's port: `cargo lambda invoke` and the Lambda API (Invoke) both use it.
    port: u16,
    log: PathBuf,
}

impl Function {
    fn start(endpoint: &str, settings: &[(&str, String)], log: PathBuf) -> Function {
        let port = free_port();
        let emulator = spawn(
            Command::new("cargo")
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args([
                    "lambda",
                    "watch",
                    "--only-lambda-apis",
                    "--invoke-address",
                    "127.0.0.1",
                ])
                .args(["--invoke-port", &port.to_string()]),
            "cargo-lambda (PyPI cargo-lambda)",
        );
        wait_for_port(port, "cargo lambda watch");
        let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TMPDIR", log.parent().unwrap())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "flowatlas-test")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .envs(settings.iter().map(|(name, value)| (*name, value.as_str())))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit());
        let process = Running(command.spawn().unwrap());
        Function {
            _emulator: emulator,
            _process: process,
            port,
            log,
        }
    }

    /// Invokes with an event file; `Ok(response)` or `Err(error message)`.
    fn invoke(&self, event: &str) -> Result<Value, String> {
        let output = Command::new("cargo")
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string(), "--data-file"])
            .arg(repo("testdata/events").join(event))
            .output()
            .unwrap();
        if output.status.success() {
            Ok(
                serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
                    panic!("{event}: response is not JSON ({error}): {}", text(&output))
                }),
            )
        } else {
            Err(text(&output))
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// One local file through the one object path into `config.out_dir`, as `flowatlas process`
/// writes it.
fn process_file(
    path: &Path,
    config: &Config,
    enricher: Option<&mut Enricher>,
) -> Result<ObjectReport, flowatlas_pipeline::Error> {
    let output = flowatlas_store::LocalStore::new(&config.out_dir);
    process_object(ObjectRef::File(path), config, &output, enricher)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Downloads every object of a bucket under `dir`, keeping the key layout.
fn download_all(s3: &S3Server, bucket: &str, dir: &Path) {
    for key in s3.keys(bucket) {
        let path = dir.join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, s3.get(bucket, &key)).unwrap();
    }
}

/// The demo object of one interface and 5-minute window (`IFACE_A`, `"1405Z"`).
fn demo_object(logs: &Path, interface: &str, window: &str) -> Vec<u8> {
    let folder = logs.join(PREFIX);
    let name = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with(&format!("{interface}{window}_")))
        .unwrap_or_else(|| panic!("no demo object for {interface}{window}"));
    std::fs::read(folder.join(name)).unwrap()
}

/// What the function runs, configured the same way (these databases, these local networks),
/// for processing the same objects locally.
fn local_pipeline(
    asn_db: &Path,
    city_db: &Path,
    local_cidrs: &[String],
    out_dir: &Path,
) -> (Config, Enricher) {
    let databases = Databases::open(&GeoConfig {
        asn_dbs: vec![asn_db.to_path_buf()],
        geo_dbs: vec![city_db.to_path_buf()],
        prefixes: None,
    })
    .unwrap();
    let config = Config {
        read: flowatlas_flowlog::Options::default(),
        rules: PeerRules::new(local_cidrs, None).unwrap(),
        rollup: RollupConfig {
            prefix_len_v4: 24,
            prefix_len_v6: 48,
            default_location: ServiceLocation::default(),
        },
        out_dir: out_dir.to_path_buf(),
        tables: Tables::default(),
    };
    (config, Enricher::new(Arc::new(databases)))
}

/// [`local_pipeline`] as the demo's function runs: its databases, its local network.
fn demo_pipeline(demo: &flowatlas_demo::Demo, out_dir: &Path) -> (Config, Enricher) {
    local_pipeline(
        &demo.asn_db,
        &demo.city_db,
        &[LOCAL_CIDR.to_string()],
        out_dir,
    )
}

#[test]
fn events_to_tables_on_loopback() {
    let dir = scratch("e2e");
    let s3 = S3Server::start(&[LOGS, TABLES, GEO, ELSEWHERE]);

    // The source objects the events in testdata/events/ name.
    let demo = flowatlas_demo::write_demo(&dir.join("demo"), 3, 300).unwrap();
    let sample = std::fs::read(repo(
        "testdata/flowlog/sample/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20260601T1200Z_5f3a9c1e.log.parquet",
    ))
    .unwrap();
    let mut corrupt_parquet = b"PAR1".to_vec();
    corrupt_parquet.extend_from_slice(&[0x15; 300]);
    corrupt_parquet.extend_from_slice(b"\x40\x00\x00\x00PAR1");
    let flow_logs: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{PREFIX}{IFACE_A}1405Z_89426e42.log.gz"),
            demo_object(&demo.logs, IFACE_A, "1405Z"),
        ),
        (
            format!("{PREFIX}{IFACE_B}1405Z_89a5337f.log.gz"),
            demo_object(&demo.logs, IFACE_B, "1405Z"),
        ),
        (
            format!("{PREFIX}copied by hand+fixed {IFACE_A}1410Z.log.gz"),
            demo_object(&demo.logs, IFACE_A, "1410Z"),
        ),
        (
            format!("{PREFIX}{IFACE_A}1415Z_cb2bf384.log.gz"),
            demo_object(&demo.logs, IFACE_A, "1415Z"),
        ),
        (
            format!("{PREFIX}{IFACE_B}1415Z_cb2bf384.log.gz"),
            demo_object(&demo.logs, IFACE_B, "1415Z"),
        ),
        (
            format!("{PREFIX}sample delivered as parquet.log.parquet"),
            sample,
        ),
    ];
    for (key, body) in &flow_logs {
        s3.put(LOGS, key, body.clone());
    }
    s3.put(
        LOGS,
        &format!("{PREFIX}{IFACE_A}1420Z_corrupt.log.parquet"),
        corrupt_parquet,
    );
    s3.put(
        LOGS,
        &format!("{PREFIX}README.txt"),
        b"flow logs live here\n".to_vec(),
    );
    s3.put(
        LOGS,
        &format!("{PREFIX}notes-not-a-flow-log.log"),
        b"hello\nworld\n".to_vec(),
    );
    let misrouted = demo_object(&demo.logs, IFACE_A, "1405Z");
    s3.put(
        ELSEWHERE,
        &format!("{PREFIX}{IFACE_A}1405Z_89426e42.log.gz"),
        misrouted.clone(),
    );
    s3.put(
        LOGS,
        &format!("elsewhere/{IFACE_A}1405Z_89426e42.log.gz"),
        misrouted,
    );
    // One database fetched from S3 at cold start, one from a local path (a layer).
    s3.put(GEO, "asn.mmdb", std::fs::read(&demo.asn_db).unwrap());

    let function = Function::start(
        &s3.endpoint,
        &[
            ("FLOWATLAS_SOURCES", format!("s3://{LOGS}/AWSLogs/")),
            ("FLOWATLAS_DESTINATION", format!("s3://{TABLES}/tables/")),
            ("FLOWATLAS_ASN_DBS", format!("s3://{GEO}/asn.mmdb")),
            ("FLOWATLAS_GEO_DBS", demo.city_db.display().to_string()),
            ("FLOWATLAS_LOCAL_CIDRS", LOCAL_CIDR.into()),
        ],
        dir.join("function.log"),
    );
    let invoke = |event: &str| {
        function
            .invoke(event)
            .unwrap_or_else(|error| panic!("{event}: {error}\nfunction log:\n{}", function.log()))
    };

    // Direct S3 notification: both objects processed.
    assert_eq!(invoke("s3-put.json")["objects"], 2);
    // A URL-encoded key with spaces and a plus sign.
    assert_eq!(invoke("s3-key-with-space-and-plus.json")["objects"], 1);
    // An SQS batch: only the corrupt object's message is reported failed; the SNS-wrapped one works.
    let batch = invoke("sqs-batch-one-corrupt.json");
    assert_eq!(
        batch,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "7b1c4a58-0d3e-4b1e-9a0f-000000000002"}]}),
        "{}",
        function.log()
    );
    // EventBridge, with a Parquet object read in ranges.
    assert_eq!(invoke("eventbridge-object-created.json")["objects"], 1);
    // Acknowledged, refused and ignored events succeed without writing anything.
    assert_eq!(
        invoke("s3-test-event.json")["ignored"],
        "s3:TestEvent acknowledged"
    );
    let misrouted = invoke("s3-misrouted.json");
    assert_eq!(
        (misrouted["objects"].as_u64(), misrouted["refused"].as_u64()),
        (Some(0), Some(2))
    );
    let not_logs = invoke("s3-not-flow-logs.json");
    assert_eq!(
        (not_logs["objects"].as_u64(), not_logs["ignored"].as_u64()),
        (Some(0), Some(2))
    );

    let log = function.log();
    assert!(
        log.contains(r#""message":"object refused: never fetched""#),
        "{log}"
    );
    assert!(log.contains("someone-elses-bucket"), "{log}");
    assert!(log.contains("not a flow log"), "{log}");
    assert!(log.contains("corrupt.log.parquet"), "{log}");
    let emf_lines: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    assert_eq!(emf_lines.len(), 7, "one EMF line per invocation");
    let processed: u64 = emf_lines
        .iter()
        .map(|line| line["objects"].as_u64().unwrap())
        .sum();
    assert_eq!(processed, flow_logs.len() as u64);
    for line in &emf_lines {
        let records = &line["records_read"];
        let parts = ["records_ok", "records_skipped", "records_rejected"]
            .iter()
            .map(|name| line[name].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(records.as_u64(), Some(parts), "{line}");
    }
    assert!(
        emf_lines
            .iter()
            .any(|line| line["lag_ms"].as_i64().is_some_and(|lag| lag > 0))
    );

    // Every processed object has its manifest; nothing else was written for the others.
    let written = s3.keys(TABLES);
    let manifests: Vec<&String> = written
        .iter()
        .filter(|key| key.starts_with("tables/_manifests/"))
        .collect();
    assert_eq!(manifests.len(), flow_logs.len(), "{written:#?}");
    assert!(written.iter().all(|key| key.starts_with("tables/")));
    let spaced_manifest = manifests
        .iter()
        .find(|key| key.contains("copied_by_hand_fixed"))
        .expect("the decoded key names its outputs");
    let manifest_text = String::from_utf8(s3.get(TABLES, spaced_manifest)).unwrap();
    let manifest: Value = serde_json::from_str(&manifest_text).unwrap();
    assert_eq!(
        manifest["source"],
        format!("s3://{LOGS}/{PREFIX}copied by hand+fixed {IFACE_A}1410Z.log.gz")
    );
    assert!(manifest["source_etag"].is_string());

    // The same objects through the same pipeline locally (what `flowatlas process` runs) give
    // the same rows, read back by DuckDB.
    let local_logs = dir.join("local-logs");
    for (key, body) in &flow_logs {
        let path = local_logs.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let local_tables = dir.join("local-tables");
    let (config, mut enricher) = demo_pipeline(&demo, &local_tables);
    for (key, _) in &flow_logs {
        process_file(&local_logs.join(key), &config, Some(&mut enricher)).unwrap();
    }
    let downloaded = dir.join("downloaded");
    download_all(&s3, TABLES, &downloaded);
    // The same rows, read back by DuckDB.
    let compared = flowatlas_testkit::same_rollups(&downloaded.join("tables"), &local_tables);

    // Retries replace, never add: the same events again leave the same objects and rows.
    assert_eq!(invoke("s3-put.json")["objects"], 2);
    let batch_again = invoke("sqs-batch-one-corrupt.json");
    assert_eq!(
        batch_again["batchItemFailures"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(s3.keys(TABLES), written);
    let again = dir.join("downloaded-again");
    download_all(&s3, TABLES, &again);
    let recompared = flowatlas_testkit::same_rollups(&again.join("tables"), &local_tables);
    assert_eq!(recompared, compared);
}

/// Uploads above the part size go in parts, and come back byte for byte.
#[test]
fn large_files_upload_in_parts() {
    let dir = scratch("multipart");
    let s3 = S3Server::start(&[TABLES]);
    let big = dir.join("big.parquet");
    let bytes: Vec<u8> = (0..11 * 1024 * 1024 + 17)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&big, &bytes).unwrap();
    let part_size = 5 << 20;
    let key = "big/file.parquet";
    s3.runtime
        .block_on(flowatlas_s3::upload_file(
            &s3.client, TABLES, key, &big, part_size,
        ))
        .unwrap();
    let listed = s3
        .runtime
        .block_on(flowatlas_s3::list(&s3.client, TABLES, "big/"))
        .unwrap();
    // A multipart ETag ends in the number of parts.
    let etag = listed[0].info.etag.clone().unwrap_or_default();
    assert!(etag.ends_with("-3"), "{etag}");
    let back = dir.join("back.parquet");
    s3.runtime
        .block_on(flowatlas_s3::download(&s3.client, TABLES, key, &back))
        .unwrap();
    assert!(std::fs::read(&back).unwrap() == bytes);
    let missing = s3
        .runtime
        .block_on(flowatlas_s3::get_text(&s3.client, TABLES, "missing.json"))
        .unwrap();
    assert_eq!(missing, None);
}

/// With too little time left, the object fails for retry and nothing is written for it.
#[test]
fn objects_fail_cleanly_when_time_runs_short() {
    let dir = scratch("deadline");
    let s3 = S3Server::start(&[LOGS, TABLES]);
    let demo = flowatlas_demo::write_demo(&dir.join("demo"), 3, 50).unwrap();
    for (interface, hash) in [(IFACE_A, "89426e42"), (IFACE_B, "89a5337f")] {
        let key = format!("{PREFIX}{interface}1405Z_{hash}.log.gz");
        s3.put(LOGS, &key, demo_object(&demo.logs, interface, "1405Z"));
    }
    // The emulator gives every invocation 600 s: a reserve of all of it leaves no time.
    let function = Function::start(
        &s3.endpoint,
        &[
            ("FLOWATLAS_SOURCES", format!("s3://{LOGS}/AWSLogs/")),
            ("FLOWATLAS_DESTINATION", format!("s3://{TABLES}/tables/")),
            ("FLOWATLAS_TIME_RESERVE_SECONDS", "600".into()),
        ],
        dir.join("function.log"),
    );
    let error = function.invoke("s3-put.json").unwrap_err();
    assert!(error.contains("too little time left"), "{error}");
    assert!(s3.keys(TABLES).is_empty());
}

/// A configuration mistake stops the function at cold start, naming the variable.
#[test]
fn bad_configuration_fails_at_cold_start() {
    let cases = [
        (
            vec![("FLOWATLAS_SOURCES", "s3://flowatlas-test-logs/AWSLogs/")],
            "FLOWATLAS_DESTINATION",
        ),
        (
            vec![
                ("FLOWATLAS_SOURCES", "s3://flowatlas-test-logs/AWSLogs/"),
                ("FLOWATLAS_DESTINATION", "s3://flowatlas-test-tables/t/"),
                ("FLOWATLAS_LOCAL_CIDRS", "10.0.0.0/33"),
            ],
            "FLOWATLAS_LOCAL_CIDRS",
        ),
        (
            vec![
                ("FLOWATLAS_SOURCES", "s3://flowatlas-test-logs/AWSLogs/"),
                ("FLOWATLAS_DESTINATION", "s3://flowatlas-test-tables/t/"),
                ("FLOWATLAS_GEO_DBS", "/nonexistent/city.mmdb"),
            ],
            "FLOWATLAS_GEO_DBS",
        ),
    ];
    for (vars, named) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .env_clear()
            .env("TMPDIR", std::env::temp_dir())
            .env("AWS_REGION", "us-east-1")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert!(!output.status.success());
        let said = text(&output);
        assert!(said.contains(named), "{named}: {said}");
        assert!(said.contains("cold start failed"), "{said}");
    }
}

/// `flowatlas backfill --via-lambda`: batches handed to the function through the emulator's
/// Invoke API, completion read from the manifests; a corrupt object is reported, and a second
/// run skips everything already done.
#[test]
fn backfill_via_lambda() {
    let dir = scratch("via-lambda");
    let s3 = S3Server::start(&[LOGS, TABLES]);
    let demo = flowatlas_demo::write_demo(&dir.join("demo"), 4, 40).unwrap();
    let folder = demo.logs.join(PREFIX);
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names.iter().take(12) {
        s3.put(
            LOGS,
            &format!("{PREFIX}{name}"),
            std::fs::read(folder.join(name)).unwrap(),
        );
    }
    let corrupt = format!("{PREFIX}{IFACE_A}2355Z_corrupt.log.parquet");
    s3.put(LOGS, &corrupt, b"PAR1 not a parquet file PAR1".to_vec());
    let function = Function::start(
        &s3.endpoint,
        &[
            ("FLOWATLAS_SOURCES", format!("s3://{LOGS}/AWSLogs/")),
            ("FLOWATLAS_DESTINATION", format!("s3://{TABLES}/tables/")),
        ],
        dir.join("function.log"),
    );
    let lambda = flowatlas_testkit::lambda_client(
        &s3.runtime,
        &format!("http://127.0.0.1:{}", function.port),
    );
    let day = flowatlas_demo::DAY_START / 86_400;
    let selection = flowatlas_backfill::Selection {
        source: flowatlas_s3::S3Url::parse(&format!("s3://{LOGS}")).unwrap(),
        accounts: Vec::new(),
        regions: Vec::new(),
        first_day: day,
        last_day: day,
    };
    let destination = flowatlas_s3::S3Url::parse(&format!("s3://{TABLES}/tables/")).unwrap();
    let options = flowatlas_backfill::LambdaOptions {
        function: "_".into(),
        objects_per_invocation: 5,
        batches_in_flight: 2,
        wait: std::time::Duration::from_secs(120),
        poll: std::time::Duration::from_millis(200),
    };
    let run = || {
        let plan = s3
            .runtime
            .block_on(flowatlas_backfill::plan(&s3.client, &selection))
            .unwrap();
        assert_eq!(plan.objects.len(), 13);
        let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
        s3.runtime.block_on(flowatlas_backfill::run_via_lambda(
            &s3.client,
            &lambda,
            plan.objects,
            &destination,
            &options,
            sender,
        ));
        let mut fates = std::collections::BTreeMap::<&'static str, Vec<String>>::new();
        while let Ok(event) = events.try_recv() {
            let (fate, key) = match event {
                flowatlas_backfill::Event::Done { key, .. } => ("done", key),
                flowatlas_backfill::Event::Skipped { key, .. } => ("skipped", key),
                flowatlas_backfill::Event::Failed { key, .. } => ("failed", key),
                other => panic!("unexpected {other:?}"),
            };
            fates.entry(fate).or_default().push(key);
        }
        fates
    };
    let first = run();
    assert_eq!(
        first.get("done").map(Vec::len),
        Some(12),
        "{first:?}\n{}",
        function.log()
    );
    assert_eq!(
        first.get("failed"),
        Some(&vec![corrupt.clone()]),
        "{first:?}"
    );
    let manifests = s3
        .keys(TABLES)
        .iter()
        .filter(|key| key.starts_with("tables/_manifests/"))
        .count();
    assert_eq!(manifests, 12);
    let second = run();
    assert_eq!(second.get("skipped").map(Vec::len), Some(12), "{second:?}");
    assert_eq!(second.get("failed"), Some(&vec![corrupt]), "{second:?}");
}

/// The scheduled health mode: the demo's tables in the destination bucket, a schedule at 14:30
/// on the demo day: the London outage is raised as an event and put on EventBridge (moto's),
/// the health tables of the hours assessed and the state are written, the scores of the windows
/// judged go out as EMF, and
/// the day's HTML report is written with a short cache lifetime.
#[test]
fn health_on_schedule() {
    let dir = scratch("health");
    let s3 = S3Server::start(&[TABLES]);
    let demo = flowatlas_demo::write_demo(&dir.join("demo"), 1, 300).unwrap();
    let tables = dir.join("tables");
    let (config, mut enricher) = demo_pipeline(&demo, &tables);
    let folder = demo.logs.join(PREFIX);
    for entry in std::fs::read_dir(&folder).unwrap() {
        process_file(&entry.unwrap().path(), &config, Some(&mut enricher)).unwrap();
    }
    // The tables with their manifests, as the function writes them: the schedule compacts
    // their closed hours after the health run.
    for table in ["city_networks", "client_prefixes", "_manifests"] {
        for path in flowatlas_testkit::files_under(&tables.join(table)) {
            let relative = path
                .strip_prefix(&tables)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            s3.put(
                TABLES,
                &format!("tables/{relative}"),
                std::fs::read(&path).unwrap(),
            );
        }
    }
    let function = Function::start(
        &s3.endpoint,
        &[
            ("FLOWATLAS_SOURCES", format!("s3://{LOGS}/AWSLogs/")),
            ("FLOWATLAS_DESTINATION", format!("s3://{TABLES}/tables/")),
            ("FLOWATLAS_HEALTH_DELAY_MINUTES", "0".into()),
        ],
        dir.join("function.log"),
    );
    let response = function
        .invoke("eventbridge-scheduled.json")
        .unwrap_or_else(|error| panic!("{error}\n{}", function.log()));
    assert_eq!(response["from"], "2026-06-01T13:00:00Z", "{response}");
    assert_eq!(response["to"], "2026-06-01T14:30:00Z", "{response}");
    assert!(
        response["events_active"].as_u64().unwrap() >= 1,
        "{response}"
    );
    assert!(
        response["events_published"].as_u64().unwrap() >= 1,
        "{response}"
    );
    let keys = s3.keys(TABLES);
    for key in [
        "tables/city_network_health/dt=2026-06-01/hour=13/flowatlas-health.parquet",
        "tables/city_network_health/dt=2026-06-01/hour=14/flowatlas-health.parquet",
        // One file per event, in the partition of its start.
        "tables/health_events/dt=2026-06-01/hour=14/event-",
        // The scheduled run's state, beside the tables.
        "tables/_health_state.json",
    ] {
        assert!(
            keys.iter().any(|written| written.starts_with(key)),
            "{key} not in {keys:#?}"
        );
    }
    // The day's report, at one key, short-lived in caches; it names the outage.
    let report_key = "tables/report/index.html";
    assert_eq!(
        response["report"],
        format!("s3://{TABLES}/{report_key}"),
        "{response}"
    );
    let head = s3.head(TABLES, report_key);
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(head.content_type(), Some("text/html; charset=utf-8"));
    let page = String::from_utf8(s3.get(TABLES, report_key)).unwrap();
    assert!(
        page.contains("LOCAL_AVAILABILITY") && page.contains("London"),
        "{page}"
    );
    // Hours that ended an hour (FLOWATLAS_COMPACT_DELAY_MINUTES' default) before the schedule
    // are compacted, one file per table; 13:00–14:00 is not closed yet.
    let compaction = &response["compaction"];
    assert_eq!(compaction["hours_failed"], 0, "{response}");
    assert!(
        compaction["hours_compacted"].as_u64().unwrap() >= 2,
        "{response}"
    );
    let keys = s3.keys(TABLES);
    let visible = |hour: &str| {
        keys.iter()
            .filter(|key| key.starts_with(&format!("tables/city_networks/dt=2026-06-01/{hour}/")))
            .count()
    };
    assert_eq!(visible("hour=12"), 1, "{keys:#?}");
    assert!(visible("hour=13") > 1, "{keys:#?}");
    assert!(
        keys.iter()
            .any(|key| key
                == "tables/_compacted/city_networks/dt=2026-06-01/hour=12/_compaction.json"),
        "{keys:#?}"
    );
    let log = function.log();
    assert!(log.contains("\"health assessed\""), "{log}");
    // One EMF line per window judged, each once; the newest (last) has the open event.
    let emf = log
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line.get("ActiveHealthEvents").is_some())
        .expect("an EMF line with the health scores");
    assert!(emf["ActiveHealthEvents"].as_u64().unwrap() >= 1, "{emf}");
}

/// The agent object `s3-put-tcp-stats.json` names (the agent's `<host>-<window>-<run>`).
const AGENT_NAME: &str = "web-1-20260601T1200Z-1780315000";
const AGENT_KEY: &str =
    "agents/tcp_stats/dt=2026-06-01/hour=12/web-1-20260601T1200Z-1780315000.parquet";
/// 2026-06-01T12:00Z.
const AGENT_WINDOW: i64 = 1_780_315_200;

/// An agent's `tcp_stats` object delivered to S3 goes through the function into
/// `city_network_performance` and `prefix_performance`, the same rows as `process` writes for
/// the same object (DuckDB, `EXCEPT ALL` both ways), with its manifest; delivered again, the
/// same rows; replaced by a version for another hour, the first hour's files are gone.
#[test]
fn agent_objects_to_performance_tables() {
    let dir = scratch("agent");
    let s3 = S3Server::start(&[LOGS, TABLES]);
    let location = ServiceLocation {
        account_id: Some(Arc::from("123456789012")),
        region: Some(Arc::from("us-east-1")),
        az_id: Some(Arc::from("use1-az4")),
        vpc_id: None,
    };
    let object = flowatlas_testkit::write_agent_window(
        &dir.join("agent"),
        AGENT_NAME,
        flowatlas_testkit::agent_rows(AGENT_WINDOW, "web-1", &location),
    );
    s3.put(LOGS, AGENT_KEY, std::fs::read(&object).unwrap());
    let asn_db = repo("testdata/geo/geolite2-asn-scattered.mmdb");
    let city_db = repo("testdata/geo/geolite2-city-scattered.mmdb");
    let function = Function::start(
        &s3.endpoint,
        &[
            ("FLOWATLAS_SOURCES", format!("s3://{LOGS}/agents/")),
            ("FLOWATLAS_DESTINATION", format!("s3://{TABLES}/tables/")),
            ("FLOWATLAS_ASN_DBS", asn_db.display().to_string()),
            ("FLOWATLAS_GEO_DBS", city_db.display().to_string()),
        ],
        dir.join("function.log"),
    );
    let invoke = || {
        function
            .invoke("s3-put-tcp-stats.json")
            .unwrap_or_else(|error| panic!("{error}\nfunction log:\n{}", function.log()))
    };
    assert_eq!(invoke()["objects"], 1);

    // The same object through `process`'s path, locally.
    let local = dir.join("local");
    let (config, mut enricher) = local_pipeline(&asn_db, &city_db, &[], &local);
    let report = process_file(&object, &config, Some(&mut enricher)).unwrap();
    assert_eq!(report.counts.read, 16);
    assert_eq!(report.counts.rejected, 0);

    let tables = ["city_network_performance", "prefix_performance"];
    let keys = s3.keys(TABLES);
    let source_id = flowatlas_pipeline::Source::of_s3_object(LOGS, AGENT_KEY, None, None).id;
    for table in tables {
        let key = format!("tables/{table}/dt=2026-06-01/hour=12/{source_id}.parquet");
        assert!(keys.contains(&key), "{key} not in {keys:#?}");
    }
    let manifest_key = format!("tables/_manifests/{source_id}.json");
    let manifest: Value = serde_json::from_slice(&s3.get(TABLES, &manifest_key)).unwrap();
    assert_eq!(manifest["records"]["read"], 16, "{manifest}");
    assert_eq!(manifest["files"].as_array().unwrap().len(), 2, "{manifest}");

    let downloaded = dir.join("downloaded");
    download_all(&s3, TABLES, &downloaded);
    let first = flowatlas_testkit::same_tables(
        &downloaded.join("tables"),
        &local,
        &tables,
        "bytes_in + bytes_out",
    );
    // Six city-networks: Albion Broadband in London (two IPv4 networks at their own
    // coordinates and the IPv6 /48: one identity), Thames Mobile, Merlion in Singapore (no
    // subdivision), Contoso placed only in Germany, Polder with no place, and the prefix no
    // database knows (no ASN); five ASNs.
    let script = r#"
import duckdb, json, sys
print(json.dumps(duckdb.sql(f"""
SELECT count(DISTINCT city_network_id), count(DISTINCT client_asn), count(*) FILTER (WHERE client_asn IS NULL),
       sum(bytes_out), max(rtt_p90_ms)
FROM read_parquet('{sys.argv[1]}/city_network_performance/**/*.parquet')
""").fetchall()[0]))
"#;
    let figures = Command::new("python3")
        .args(["-c", script])
        .arg(downloaded.join("tables"))
        .output()
        .unwrap();
    assert!(figures.status.success(), "{}", text(&figures));
    let figures: Value = serde_json::from_slice(&figures.stdout).unwrap();
    assert_eq!(figures[0], 6, "{figures}");
    assert_eq!(figures[1], 5, "{figures}");
    assert_eq!(figures[2], 1, "{figures}");
    let bytes_out: i64 = flowatlas_testkit::agent_rows(AGENT_WINDOW, "web-1", &location)
        .iter()
        .map(|row| row.measures.bytes_out)
        .sum();
    assert_eq!(figures[3], bytes_out, "{figures}");

    // Delivered again: the same keys, the same rows.
    assert_eq!(invoke()["objects"], 1);
    assert_eq!(s3.keys(TABLES), keys);
    let again = dir.join("again");
    download_all(&s3, TABLES, &again);
    let second = flowatlas_testkit::same_tables(
        &again.join("tables"),
        &local,
        &tables,
        "bytes_in + bytes_out",
    );
    assert_eq!(first, second);

    // The key replaced by a window of the next hour: the 12:00 files are deleted, not left to
    // double the rows.
    let later = flowatlas_testkit::write_agent_window(
        &dir.join("agent-later"),
        AGENT_NAME,
        flowatlas_testkit::agent_rows(AGENT_WINDOW + 3_600, "web-1", &location),
    );
    s3.put(LOGS, AGENT_KEY, std::fs::read(later).unwrap());
    assert_eq!(invoke()["objects"], 1);
    let keys = s3.keys(TABLES);
    for table in tables {
        assert!(
            !keys
                .iter()
                .any(|key| key.contains(&format!("{table}/dt=2026-06-01/hour=12/"))),
            "{keys:#?}"
        );
        let key = format!("tables/{table}/dt=2026-06-01/hour=13/{source_id}.parquet");
        assert!(keys.contains(&key), "{key} not in {keys:#?}");
    }
}

/// Load-balancer logs through the function: an S3 notification of an ALB connection log, an
/// NLB access log and an ALB access log (passed over) gives the same performance tables as
/// `process` on the same objects, and a repeated notification (S3 delivers at least once)
/// replaces them rather than adding rows.
#[test]
fn load_balancer_logs_to_performance_tables() {
    const ELB_FOLDER: &str = "AWSLogs/123456789012/elasticloadbalancing/eu-west-2/2026/06/01";
    let dir = scratch("elb");
    let s3 = S3Server::start(&[LOGS, TABLES]);
    let fixture = repo("testdata/elblog/bucket").join(ELB_FOLDER);
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let path = entry.unwrap().path();
        let key = format!(
            "{ELB_FOLDER}/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        s3.put(LOGS, &key, std::fs::read(&path).unwrap());
    }
    let asn_db = repo("testdata/geo/geolite2-asn-scattered.mmdb");
    let city_db = repo("testdata/geo/geolite2-city-scattered.mmdb");
    let function = Function::start(
        &s3.endpoint,
        &[
            ("FLOWATLAS_SOURCES", format!("s3://{LOGS}/AWSLogs/")),
            ("FLOWATLAS_DESTINATION", format!("s3://{TABLES}/tables/")),
            ("FLOWATLAS_ASN_DBS", asn_db.display().to_string()),
            ("FLOWATLAS_GEO_DBS", city_db.display().to_string()),
        ],
        dir.join("function.log"),
    );
    let invoke = || {
        function
            .invoke("s3-put-elb.json")
            .unwrap_or_else(|error| panic!("{error}\nfunction log:\n{}", function.log()))
    };
    let response = invoke();
    assert_eq!(response["objects"], 2, "{response}\n{}", function.log());
    assert_eq!(response["ignored"], 1, "{response}");

    // The same objects through `process`'s path, locally, with the same databases.
    let local = dir.join("local");
    let (config, mut enricher) = local_pipeline(&asn_db, &city_db, &[], &local);
    let local_logs = dir.join("logs");
    for (n_read, entry) in std::fs::read_dir(&fixture).unwrap().enumerate() {
        let path = entry.unwrap().path();
        let copy = local_logs.join(ELB_FOLDER).join(path.file_name().unwrap());
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(&path, &copy).unwrap();
        match process_file(&copy, &config, Some(&mut enricher)) {
            Ok(report) => assert!(report.counts.ok > 0, "{n_read}: {}", copy.display()),
            Err(flowatlas_pipeline::Error::NotRead { .. }) => {}
            Err(error) => panic!("{error}"),
        }
    }

    // The function's tables and `process`'s: the same rows, one source, every handshake.
    let tables = ["city_network_performance", "prefix_performance"];
    let download_and_compare = |folder: &str| -> (PathBuf, Value) {
        let downloaded = dir.join(folder);
        download_all(&s3, TABLES, &downloaded);
        let figures = flowatlas_testkit::same_tables(
            &downloaded.join("tables"),
            &local,
            &tables,
            "connections_new",
        );
        (downloaded, serde_json::from_str(&figures).unwrap())
    };
    let (downloaded, figures) = download_and_compare("downloaded");
    for table in tables {
        assert_eq!(
            figures[table]["total"],
            serde_json::json!([488, 488]),
            "{figures}"
        );
    }
    let sources = Command::new("python3")
        .args([
            "-c",
            "import duckdb, sys; print(duckdb.sql(f\"SELECT DISTINCT rtt_source FROM read_parquet('{sys.argv[1]}/*/**/*.parquet', union_by_name = true) WHERE rtt_source IS NOT NULL\").fetchall())",
        ])
        .arg(downloaded.join("tables"))
        .output()
        .unwrap();
    assert_eq!(text(&sources).trim(), "[('tls_handshake',)]");
    let keys_before = s3.keys(TABLES);
    assert_eq!(
        keys_before
            .iter()
            .filter(|key| key.contains("/_manifests/"))
            .count(),
        2,
        "{keys_before:?}"
    );

    // S3 delivers at least once: the same event again replaces, never adds.
    assert_eq!(invoke()["objects"], 2);
    assert_eq!(s3.keys(TABLES), keys_before);
    assert_eq!(download_and_compare("again").1, figures);
    std::fs::remove_dir_all(&dir).unwrap();
}
