//! `flowatlas process` end to end: the tables it writes are read back by a second engine
//! (DuckDB, through Hive partition discovery), their sums match the summary, every OK byte is
//! accounted for, and a re-run replaces rather than duplicates.

mod support;

use std::path::Path;
use std::process::Command;

use support::{flowatlas_ok, python, repo, scratch};

fn process(out: &Path) -> serde_json::Value {
    let (asn_db, city_db) = (
        repo("testdata/geo/geolite2-asn.mmdb"),
        repo("testdata/geo/geolite2-city.mmdb"),
    );
    let (sample, v5) = (
        repo("testdata/flowlog/sample"),
        repo("testdata/flowlog/ok/aws-examples-v5-custom.log"),
    );
    let stdout = flowatlas_ok(&[
        "process",
        "--json",
        "--out",
        out.to_str().unwrap(),
        "--asn-db",
        &asn_db,
        "--geo-db",
        &city_db,
        &sample,
        &v5,
    ]);
    serde_json::from_slice(&stdout).unwrap()
}

/// Runs DuckDB (installed by the test command; a missing DuckDB fails the test) over the folder.
fn duckdb(out: &Path) -> serde_json::Value {
    let script = r#"
import json, sys, duckdb
root = sys.argv[1]
con = duckdb.connect()
result = {}
for table in ("city_networks", "client_prefixes"):
    source = f"read_parquet('{root}/{table}/**/*.parquet', hive_partitioning = true, hive_types = {{'dt': VARCHAR, 'hour': VARCHAR}})"
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})").fetchall())
    rows, bytes_in, bytes_out, flows, partitions = con.execute(
        f"SELECT count(*), sum(bytes_in), sum(bytes_out), sum(flows), count(DISTINCT dt || '/' || hour) FROM {source}").fetchone()
    result[table] = {"types": types, "rows": rows, "bytes_in": int(bytes_in), "bytes_out": int(bytes_out), "flows": int(flows), "partitions": partitions}
print(json.dumps(result))
"#;
    serde_json::from_slice(&python(script, &[out.to_str().unwrap()])).unwrap()
}

#[test]
fn tables_read_back_in_duckdb_add_up_and_rerun_idempotently() {
    let out = scratch("process");
    let summary = process(&out);
    let read_back = duckdb(&out);

    for table in ["city_networks", "client_prefixes"] {
        let got = &read_back[table];
        assert_eq!(got["rows"], summary["rows"][table], "{table}");
        let types = &got["types"];
        assert_eq!(types["window_start"], "TIMESTAMP WITH TIME ZONE", "{table}");
        assert_eq!(types["bytes_in"], "BIGINT", "{table}");
        assert_eq!(types["client_asn"], "BIGINT", "{table}");
        assert_eq!(types["dt"], "VARCHAR", "{table}");
    }
    assert_eq!(
        read_back["city_networks"]["types"]["client_metro_code"],
        "INTEGER"
    );
    assert_eq!(
        read_back["city_networks"]["types"]["client_latitude"],
        "DOUBLE"
    );

    // Both tables hold the same traffic, and with the non-internet bytes it is every OK byte.
    let city = &read_back["city_networks"];
    let prefixes = &read_back["client_prefixes"];
    assert_eq!(city["bytes_in"], prefixes["bytes_in"]);
    assert_eq!(city["flows"], prefixes["flows"]);
    let in_rows = prefixes["bytes_in"].as_i64().unwrap() + prefixes["bytes_out"].as_i64().unwrap();
    let elsewhere: i64 = summary["other_bytes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(in_rows + elsewhere, summary["ok_bytes"].as_i64().unwrap());
    assert_eq!(prefixes["flows"], summary["peers"]["internet"]);
    let records = &summary["records"];
    assert_eq!(
        records["read"].as_u64().unwrap(),
        records["ok"].as_u64().unwrap()
            + records["skipped"].as_u64().unwrap()
            + records["rejected"].as_u64().unwrap()
    );

    // The same inputs again: files replaced, totals identical.
    let again = process(&out);
    assert_eq!(again["rows"], summary["rows"]);
    assert_eq!(duckdb(&out), read_back);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn schema_ddl_names_every_written_column() {
    let ddl = String::from_utf8(flowatlas_ok(&["schema", "--ddl", "athena"])).unwrap();
    for fragment in [
        "CREATE EXTERNAL TABLE IF NOT EXISTS `flowatlas`.`city_networks`",
        "`window_start` timestamp",
        "`client_metro_code` int",
        "`tcp_synack_in` bigint",
        "CREATE EXTERNAL TABLE IF NOT EXISTS `flowatlas`.`client_prefixes`",
        "`client_prefix` string",
        "'projection.hour.digits' = '2'",
        "'storage.location.template' = 's3://YOUR-BUCKET/flowatlas/city_networks/dt=${dt}/hour=${hour}/'",
    ] {
        assert!(ddl.contains(fragment), "missing {fragment:?} in\n{ddl}");
    }
}

#[test]
fn top_ranks_what_the_tables_hold() {
    let out = scratch("top");
    let summary = process(&out);
    let run_top = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec!["top", "--json", "--data", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let stdout = flowatlas_ok(&args);
        String::from_utf8(stdout)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let read_back = duckdb(&out);
    for by in ["asn", "city", "country", "prefix"] {
        let entries = run_top(&["--by", by, "-n", "1000"]);
        let total: i64 = entries
            .iter()
            .map(|entry| entry["bytes_in"].as_i64().unwrap() + entry["bytes_out"].as_i64().unwrap())
            .sum();
        let table = if by == "prefix" {
            "client_prefixes"
        } else {
            "city_networks"
        };
        let expected = read_back[table]["bytes_in"].as_i64().unwrap()
            + read_back[table]["bytes_out"].as_i64().unwrap();
        assert_eq!(total, expected, "{by}");
        let sizes: Vec<i64> = entries
            .iter()
            .map(|entry| entry["bytes_in"].as_i64().unwrap() + entry["bytes_out"].as_i64().unwrap())
            .collect();
        assert!(
            sizes.windows(2).all(|pair| pair[0] >= pair[1]),
            "{by} is ranked"
        );
    }
    let top_isp = &run_top(&["--by", "asn", "-n", "3"]);
    assert_eq!(top_isp.len(), 3);
    assert!(
        top_isp
            .iter()
            .any(|entry| entry["client"] == "AS64498 Exempel Bredband AB")
    );
    // A range with no windows reads nothing.
    let output = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
        .args([
            "top",
            "--data",
            out.to_str().unwrap(),
            "--from",
            "2030-01-01",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(summary["rows"]["city_networks"].as_u64().unwrap() > 0);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn flows_table_holds_every_ok_record_with_its_peer() {
    let out = scratch("flows");
    let (asn_db, city_db) = (
        repo("testdata/geo/geolite2-asn.mmdb"),
        repo("testdata/geo/geolite2-city.mmdb"),
    );
    let sample = repo("testdata/flowlog/sample");
    let stdout = flowatlas_ok(&[
        "process",
        "--json",
        "--flows",
        "--out",
        out.to_str().unwrap(),
        "--asn-db",
        &asn_db,
        "--geo-db",
        &city_db,
        &sample,
    ]);
    let summary: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(summary["rows"]["flows"], summary["records"]["ok"]);

    let script = r#"
import json, sys, duckdb
source = f"read_parquet('{sys.argv[1]}/flows/**/*.parquet', hive_partitioning = true)"
con = duckdb.connect()
types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})").fetchall())
rows, bytes, milton = con.execute(f"SELECT count(*), sum(bytes), count(*) FILTER (WHERE peer_city = 'Milton' AND peer_asn = 64500) FROM {source}").fetchone()
# Which columns carry a minimum and maximum in every row group, as a reader sees them.
stats = dict(con.execute(f"SELECT path_in_schema, bool_and(stats_min_value IS NOT NULL) FROM parquet_metadata('{sys.argv[1]}/flows/**/*.parquet') GROUP BY path_in_schema").fetchall())
print(json.dumps({"types": types, "rows": rows, "bytes": int(bytes), "milton": milton, "stats": stats}))
"#;
    let read_back: serde_json::Value =
        serde_json::from_slice(&python(script, &[out.to_str().unwrap()])).unwrap();
    assert_eq!(read_back["rows"], summary["records"]["ok"]);
    assert_eq!(read_back["bytes"], summary["ok_bytes"]);
    assert!(read_back["milton"].as_i64().unwrap() > 0);
    let types = &read_back["types"];
    for (column, expected) in [
        ("srcaddr", "VARCHAR"),
        ("srcport", "INTEGER"),
        ("bytes", "BIGINT"),
        ("start", "BIGINT"),
        ("pkt_src_aws_service", "VARCHAR"),
        ("direction", "VARCHAR"),
        ("peer_asn", "BIGINT"),
        ("peer_latitude", "DOUBLE"),
    ] {
        assert_eq!(types[column], expected, "{column}");
    }
    // Statistics where they let a query skip a file or row group (times, the interface and
    // account), none where values span their range (addresses, counts, the peer's facts).
    let stats = &read_back["stats"];
    for column in ["start", "end", "interface_id", "account_id"] {
        assert_eq!(stats[column], true, "{column} has statistics");
    }
    for column in [
        "srcaddr",
        "dstaddr",
        "bytes",
        "peer_ip",
        "peer_asn",
        "peer_city",
    ] {
        assert_eq!(stats[column], false, "{column} has no statistics");
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn rejects_are_written_beside_the_tables() {
    let out = scratch("rejects");
    let malformed = repo("testdata/flowlog/err/malformed.log");
    let output = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
        .args([
            "process",
            "--json",
            "--out",
            out.to_str().unwrap(),
            &malformed,
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "rejects make the run finish with failures"
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rejects_dir = out.join("_rejects");
    let files: Vec<_> = std::fs::read_dir(&rejects_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&files[0])
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        lines.len() as u64,
        summary["records"]["rejected"].as_u64().unwrap()
    );
    assert_eq!(lines.len(), 11);
    assert_eq!(lines[0]["reason"], "too_few_fields");
    std::fs::remove_dir_all(&out).unwrap();
}
