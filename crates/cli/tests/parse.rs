//! `flowatlas parse` run as a user runs it: the real binary on the fixtures, stdin, folders,
//! `--format`, `--rejects`, exit statuses and the summary line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/flowlog")
}

fn flowatlas(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn records_are_json_with_typed_values_and_nulls() {
    let path = testdata().join("ok/aws-examples-v5-custom.log");
    let output = flowatlas(&["parse", path.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let records = json_lines(&output);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["srcaddr"], "52.95.128.179");
    assert_eq!(records[0]["bytes"], 15044);
    assert_eq!(records[0]["pkt_src_aws_service"], "S3");
    assert!(records[0]["traffic_path"].is_null());
    assert!(records[0]["sublocation_type"].is_null());
    assert_eq!(records[1]["traffic_path"], 8);
    assert_eq!(records[1]["flow_direction"], "egress");
    assert!(stderr(&output).contains("2 records read: 2 ok, 0 skipped, 0 rejected"));
}

#[test]
fn stdin_gzip_and_folders_are_read() {
    let gz = std::fs::read(testdata().join("ok/concatenated.log.gz")).unwrap();
    let output = flowatlas(&["parse", "-"], Some(&gz));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json_lines(&output).len(), 8);

    let output = flowatlas(
        &["parse", testdata().join("sample").to_str().unwrap()],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("flowatlas parse: 3 objects, 6000 records read"),
        "{}",
        stderr(&output)
    );
    assert_eq!(json_lines(&output).len(), 6000);
}

#[test]
fn explicit_format_reads_headerless_custom_logs() {
    let path = testdata().join("err/undetermined.log");
    let output = flowatlas(&["parse", path.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot tell the log format"),
        "{}",
        stderr(&output)
    );

    let format = "${interface-id} ${srcaddr} ${dstaddr} ${dstport} ${bytes} ${flow-direction}";
    let output = flowatlas(&["parse", "--format", format, path.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json_lines(&output)[0]["bytes"], 5120);

    let output = flowatlas(&["parse", "--format", "srcaddr nosuchfield", "-"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown field name `nosuchfield`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn rejects_are_named_counted_and_written() {
    let path = testdata().join("err/malformed.log");
    let output = flowatlas(&["parse", path.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message
            .contains("malformed.log: line 7: field `srcaddr`: invalid_address \"172.31.16.300\""),
        "{message}"
    );
    assert!(
        message.contains("13 records read: 2 ok, 0 skipped, 11 rejected"),
        "{message}"
    );
    assert!(message.contains("(1 rejects not shown"), "{message}");
    assert_eq!(json_lines(&output).len(), 2);

    let rejects =
        std::env::temp_dir().join(format!("flowatlas-rejects-{}.jsonl", std::process::id()));
    let output = flowatlas(
        &[
            "parse",
            "--rejects",
            rejects.to_str().unwrap(),
            path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let written: Vec<serde_json::Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    std::fs::remove_file(&rejects).unwrap();
    assert_eq!(written.len(), 11);
    assert_eq!(written[0]["line"], 3);
    assert_eq!(written[0]["reason"], "too_few_fields");
    assert_eq!(written[0]["field"], "log-status");
    assert!(
        written[0]["object"]
            .as_str()
            .unwrap()
            .ends_with("malformed.log")
    );
    assert!(
        written[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("2 123456789010 eni-")
    );
}

#[test]
fn a_failing_object_does_not_stop_the_run() {
    let bad = testdata().join("err/unknown-header.log");
    let good = testdata().join("ok/aws-examples-v2.log");
    let output = flowatlas(
        &[
            "parse",
            bad.to_str().unwrap(),
            "/nonexistent/flowlog.gz",
            good.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(
            "unknown-header.log: line 1: header: unknown field names `dst-address`, `bogus`"
        ),
        "{message}"
    );
    assert!(message.contains("/nonexistent/flowlog.gz: "), "{message}");
    assert!(message.contains("2 objects failed"), "{message}");
    assert_eq!(json_lines(&output).len(), 4);
}

fn geo(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/geo")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn peers_are_found_and_enriched() {
    let sample = testdata().join("sample");
    let output = flowatlas(
        &[
            "parse",
            "--asn-db",
            &geo("geolite2-asn.mmdb"),
            "--geo-db",
            &geo("geolite2-city.mmdb"),
            "--prefixes",
            &geo("prefixes.csv"),
            sample.join("123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20260601T1200Z_5f3a9c1e.log.gz").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let records = json_lines(&output);
    let milton = records
        .iter()
        .find(|record| record["peer"]["ip"] == "216.160.83.56")
        .expect("the sample has traffic with 216.160.83.56");
    let peer = &milton["peer"];
    assert_eq!(peer["kind"], "internet");
    assert_eq!(peer["asn"], 64500);
    assert_eq!(peer["as_name"], "Sample Cable Co");
    assert_eq!(peer["city"], "Milton");
    assert_eq!(peer["subdivision_code"], "WA");
    assert_eq!(peer["metro_code"], 819);
    assert_eq!(peer["prefix"], "216.160.83.0/24");
    // Every fact of the catalogue is a key, known or not.
    for key in ["geoname_id", "postal_code", "latitude", "longitude"] {
        assert!(peer.as_object().unwrap().contains_key(key), "{key}: {peer}");
    }
    let expected_side = if milton["flow_direction"] == "ingress" {
        "src"
    } else {
        "dst"
    };
    assert_eq!(peer["side"], expected_side);

    // Addresses in no network: nulls, never ASN 0.
    let unlisted = records
        .iter()
        .find(|record| record["peer"]["ip"] == "198.51.100.23")
        .unwrap();
    assert!(unlisted["peer"]["asn"].is_null());
    assert!(unlisted["peer"]["prefix"].is_null());
    // The override file wins for its prefix.
    let partner = records
        .iter()
        .find(|record| record["peer"]["ip"] == "81.2.69.142")
        .unwrap();
    assert_eq!(partner["peer"]["as_name"], "Partner Office Network");
    // NODATA records have no peer.
    let nodata = records
        .iter()
        .find(|record| record["log_status"] == "NODATA")
        .unwrap();
    assert!(nodata["peer"].is_null());

    let message = stderr(&output);
    assert!(message.contains("peers: "), "{message}");
    assert!(
        message.contains("geolite2-asn.mmdb (GeoLite2-ASN, built 2026-05-28)"),
        "{message}"
    );
    assert!(message.contains("prefix overrides applied"), "{message}");
}

#[test]
fn one_file_can_answer_both_asn_and_place() {
    let nat = testdata().join("ok/aws-example-nat-gateway.log");
    let ipinfo = geo("ipinfo-lite.mmdb");
    let output = flowatlas(
        &[
            "parse",
            "--asn-db",
            &ipinfo,
            "--geo-db",
            &ipinfo,
            nat.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let records = json_lines(&output);
    assert_eq!(records[0]["peer"]["side"], "dst");
    assert_eq!(records[0]["peer"]["ip"], "203.0.113.5");
    assert_eq!(records[0]["peer"]["direction"], "out");
    assert_eq!(records[1]["peer"]["side"], "src");
}

#[test]
fn bad_databases_stop_the_run_before_it_starts() {
    let v2 = testdata().join("ok/aws-examples-v2.log");
    let output = flowatlas(
        &[
            "parse",
            "--asn-db",
            "/nonexistent/GeoLite2-ASN.mmdb",
            v2.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/nonexistent/GeoLite2-ASN.mmdb"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());

    let output = flowatlas(
        &[
            "parse",
            "--geo-db",
            &geo("unknown-layout.mmdb"),
            v2.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("neither an ASN nor a location"),
        "{}",
        stderr(&output)
    );

    let output = flowatlas(
        &["parse", "--local-cidr", "10.0.0.0/40", v2.to_str().unwrap()],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("10.0.0.0/40"),
        "{}",
        stderr(&output)
    );
}

/// `parse` enriches the peers the pipeline enriches, internet peers only: an AWS service's
/// address says where AWS is, not where a client is, even when a database or an override
/// knows it.
#[test]
fn aws_service_peers_are_not_enriched() {
    let overrides =
        std::env::temp_dir().join(format!("flowatlas-aws-prefixes-{}.csv", std::process::id()));
    std::fs::write(
        &overrides,
        "prefix,asn,as_name,country_code,city\n52.95.128.0/24,16509,Amazon S3,AU,Sydney\n",
    )
    .unwrap();
    let log = testdata().join("ok/aws-examples-v5-custom.log");
    let output = flowatlas(
        &[
            "parse",
            "--prefixes",
            overrides.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let _ = std::fs::remove_file(&overrides);
    let records = json_lines(&output);
    let to_s3: Vec<&serde_json::Value> = records
        .iter()
        .filter(|record| record["peer"]["ip"] == "52.95.128.179")
        .collect();
    assert_eq!(to_s3.len(), 2, "both records of the example talk to S3");
    for record in to_s3 {
        assert_eq!(record["peer"]["kind"], "aws", "{record}");
        assert!(record["peer"]["asn"].is_null(), "{record}");
        assert!(record["peer"]["city"].is_null(), "{record}");
    }
}
