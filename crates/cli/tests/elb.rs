//! Load-balancer logs through `flowatlas process` into the performance tables, read back by
//! DuckDB: the generated bucket of `testdata/elblog/` (an ALB connection log, an NLB access
//! log, an ALB access log that must be passed over), compared with what its generator says the
//! lines hold; and hostile objects under the same key layout.

mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use support::{flowatlas_ok, python, repo, scratch};

const BUCKET: &str = "testdata/elblog/bucket";
const FOLDER: &str = "AWSLogs/123456789012/elasticloadbalancing/eu-west-2/2026/06/01";

/// Runs `flowatlas process` on `inputs` into `out` with the scattered test databases; returns
/// the exit code and stderr.
fn process(out: &Path, inputs: &[&str]) -> (Option<i32>, String) {
    let asn = repo("testdata/geo/geolite2-asn-scattered.mmdb");
    let city = repo("testdata/geo/geolite2-city-scattered.mmdb");
    let output = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
        .args([
            "process",
            "--out",
            out.to_str().unwrap(),
            "--asn-db",
            &asn,
            "--geo-db",
            &city,
        ])
        .args(inputs)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn manifests(out: &Path) -> Vec<serde_json::Value> {
    let mut manifests: Vec<serde_json::Value> = std::fs::read_dir(out.join("_manifests"))
        .unwrap()
        .map(|entry| {
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap()
        })
        .collect();
    manifests.sort_by_key(|manifest| manifest["source"].as_str().unwrap().to_owned());
    manifests
}

#[test]
fn load_balancer_logs_become_tls_handshake_rows() {
    let out = scratch("elb-process");
    let (code, stderr) = process(&out, &[&repo(BUCKET)]);
    // Exit 1: the run finished, with one rejected line in each log.
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("an ALB access log (flowatlas reads ALB connection logs): not read"),
        "{stderr}"
    );
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo("testdata/elblog/bucket-expected.json")).unwrap(),
    )
    .unwrap();

    // One manifest per log read (none for the access log); counts as the generator made them.
    let manifests = manifests(&out);
    assert_eq!(manifests.len(), 2);
    let mut per_window_prefix = std::collections::BTreeMap::<String, i64>::new();
    let mut total_handshakes = 0;
    let mut total_bytes = 0;
    for manifest in &manifests {
        let source = manifest["source"].as_str().unwrap();
        let file_name = source.rsplit('/').next().unwrap();
        let want = &expected[file_name];
        let records = &manifest["records"];
        assert_eq!(records["read"], want["read"], "{source}");
        assert_eq!(records["ok"], want["handshakes"], "{source}");
        assert_eq!(records["skipped"], want["skipped"], "{source}");
        assert_eq!(records["rejected"], want["rejected"], "{source}");
        assert_eq!(manifest["ok_bytes"], want["bytes"], "{source}");
        total_handshakes += want["handshakes"].as_i64().unwrap();
        total_bytes += want["bytes"].as_i64().unwrap();
        for (key, count) in want["per_window_prefix"].as_object().unwrap() {
            *per_window_prefix.entry(key.clone()).or_default() += count.as_i64().unwrap();
        }
        // Each reject names its object, line and field.
        let rejects_file = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|file| file.as_str().unwrap())
            .find(|file| file.starts_with("_rejects/"))
            .unwrap();
        let rejects: Vec<serde_json::Value> = std::fs::read_to_string(out.join(rejects_file))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let got: Vec<(i64, String, String)> = rejects
            .iter()
            .map(|reject| {
                assert_eq!(reject["object"].as_str().unwrap(), source);
                (
                    reject["line"].as_i64().unwrap(),
                    reject["field"].as_str().unwrap().to_owned(),
                    reject["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let want: Vec<(i64, String, String)> =
            serde_json::from_value(want["reject_lines"].clone()).unwrap();
        assert_eq!(got, want, "{source}");
    }

    // DuckDB reads the tables back: one source, prefixes only, the generator's counts per
    // window and prefix, the key's service location.
    let script = r#"
import duckdb, json, sys
con = duckdb.connect()
def table(name):
    return f"read_parquet('{sys.argv[1]}/{name}/**/*.parquet', hive_partitioning = true)"
prefixes = con.execute(f"""
SELECT epoch(window_start)::BIGINT || ' ' || client_prefix, sum(connections_new)
FROM {table('prefix_performance')} GROUP BY 1 ORDER BY 1""").fetchall()
sources = con.execute(f"""
SELECT DISTINCT rtt_source, account_id, region FROM {table('prefix_performance')}
UNION SELECT DISTINCT rtt_source, account_id, region FROM {table('city_network_performance')}""").fetchall()
cities = con.execute(f"""
SELECT coalesce(client_city, client_country, '?'), coalesce(client_asn, 0), sum(connections_new), sum(bytes_in + bytes_out),
       max(rtt_p90_ms), bool_and(retransmission_rate IS NULL)
FROM {table('city_network_performance')} GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
print(json.dumps({"prefixes": prefixes, "sources": sources, "cities": cities}))
"#;
    let result: serde_json::Value =
        serde_json::from_slice(&python(script, &[out.to_str().unwrap()])).unwrap();
    assert_eq!(
        result["sources"],
        serde_json::json!([["tls_handshake", "123456789012", "eu-west-2"]])
    );
    let got: std::collections::BTreeMap<String, i64> =
        serde_json::from_value::<Vec<(String, i64)>>(result["prefixes"].clone())
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(got, per_window_prefix);
    assert!(
        got.keys()
            .all(|key| key.ends_with("/24") || key.ends_with("/48"))
    );
    let cities: Vec<(String, i64, i64, i64, f64, bool)> =
        serde_json::from_value(result["cities"].clone()).unwrap();
    let handshakes: i64 = cities.iter().map(|city| city.2).sum();
    let bytes: i64 = cities.iter().map(|city| city.3).sum();
    assert_eq!((handshakes, bytes), (total_handshakes, total_bytes));
    // A load balancer measures no retransmissions: the rate is null, never a made-up 0.
    assert!(cities.iter().all(|city| city.5), "{cities:?}");
    // Each client is placed by its own address: Singapore is its own, slower city-network.
    let p90 = |name: &str, asn: i64| {
        cities
            .iter()
            .find(|city| city.0 == name && city.1 == asn)
            .unwrap_or_else(|| panic!("{name} AS{asn} in {cities:?}"))
            .4
    };
    assert!(
        p90("Singapore", 64507) > 2.0 * p90("London", 64499),
        "{cities:?}"
    );
    assert!(p90("London", 64500) > p90("London", 64499), "{cities:?}");

    // Processing again replaces the outputs: the same files, the same rows.
    let files_before = flowatlas_testkit::files_under(&out);
    let (code, stderr) = process(&out, &[&repo(BUCKET)]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(flowatlas_testkit::files_under(&out), files_before);
    let again: serde_json::Value =
        serde_json::from_slice(&python(script, &[out.to_str().unwrap()])).unwrap();
    assert_eq!(again, result);

    // `top` ranks the handshake rows under their source.
    let ranking = flowatlas_ok(&[
        "top",
        "--data",
        out.to_str().unwrap(),
        "--by",
        "prefix",
        "--metric",
        "rtt-p90",
        "--json",
    ]);
    let entries: Vec<serde_json::Value> = ranking
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    assert!(entries.len() >= 5, "{entries:?}");
    assert!(
        entries
            .iter()
            .all(|entry| entry["rtt_source"] == "tls_handshake")
    );
    let p90s: Vec<f64> = entries
        .iter()
        .map(|entry| entry["rtt_p90_ms"].as_f64().unwrap())
        .collect();
    assert!(p90s.windows(2).all(|pair| pair[0] >= pair[1]), "{p90s:?}");
    std::fs::remove_dir_all(&out).unwrap();
}

/// Hostile objects under the load-balancer layout: a gzip stream cut short, binary noise, a
/// line of a megabyte, an empty object. None stops the run or panics; every line is counted as
/// read and handshake, skipped or rejected; the rejects say where.
#[test]
fn hostile_load_balancer_objects_are_counted_not_fatal() {
    let input = scratch("elb-hostile-in");
    let out = scratch("elb-hostile-out");
    let folder = input.join(FOLDER);
    std::fs::create_dir_all(&folder).unwrap();
    let name = |random: &str| {
        format!(
            "conn_log_123456789012_elasticloadbalancing_eu-west-2_app.shop.50dc6c495c0c9188_20260601T1210Z_172.31.3.4_{random}.log.gz"
        )
    };
    let good = "2026-06-01T12:00:01.104392Z 203.0.113.7 50312 443 TLSv1.3 TLS_AES_128_GCM_SHA256 0.042 - - - Success TID_1\n";
    std::fs::copy(
        repo("testdata/elblog/err/truncated.log.gz"),
        folder.join(name("truncated")),
    )
    .unwrap();
    std::fs::copy(
        repo("testdata/elblog/err/garbage.log"),
        folder.join(name("garbage")),
    )
    .unwrap();
    let mut long = std::fs::File::create(folder.join(name("long"))).unwrap();
    long.write_all(good.as_bytes()).unwrap();
    long.write_all(&vec![b'7'; 1 << 20]).unwrap();
    long.write_all(b"\n").unwrap();
    long.write_all(good.as_bytes()).unwrap();
    drop(long);
    std::fs::write(folder.join(name("empty")), b"").unwrap();

    let (code, stderr) = process(&out, &[input.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let manifests = manifests(&out);
    assert_eq!(manifests.len(), 4, "{stderr}");
    for manifest in &manifests {
        let records = &manifest["records"];
        let count = |key: &str| records[key].as_u64().unwrap();
        assert_eq!(
            count("read"),
            count("ok") + count("skipped") + count("rejected"),
            "{manifest}"
        );
    }
    let by_name = |random: &str| {
        manifests
            .iter()
            .find(|manifest| {
                manifest["source"]
                    .as_str()
                    .unwrap()
                    .ends_with(&name(random))
            })
            .unwrap()["records"]
            .clone()
    };
    assert_eq!(
        by_name("long"),
        serde_json::json!({"read": 3, "ok": 2, "skipped": 0, "rejected": 1})
    );
    assert_eq!(
        by_name("empty"),
        serde_json::json!({"read": 0, "ok": 0, "skipped": 0, "rejected": 0})
    );
    assert_eq!(by_name("truncated")["rejected"], 1);
    let garbage = by_name("garbage");
    assert!(
        garbage["read"].as_u64().unwrap() > 0 && garbage["ok"] == 0,
        "{garbage}"
    );
    // The rejects say where: object, line and reason.
    let rejects: Vec<serde_json::Value> = flowatlas_testkit::files_under(&out.join("_rejects"))
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let found = |random: &str, line: u64, reason: &str| {
        rejects.iter().any(|reject| {
            reject["object"].as_str().unwrap().ends_with(&name(random))
                && reject["line"] == line
                && reject["reason"] == reason
        })
    };
    assert!(found("long", 2, "line_too_long"), "{rejects:?}");
    assert!(found("truncated", 5, "truncated_input"), "{rejects:?}");
    assert!(found("garbage", 1, "invalid_utf8"), "{rejects:?}");
    // A rejected megabyte line is kept shortened, never whole.
    assert!(
        rejects
            .iter()
            .all(|reject| reject["text"].as_str().unwrap().len() < 4096)
    );
    std::fs::remove_dir_all(&input).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
}

/// A load-balancer log copied out of its key layout, under any name, is told by its first
/// line: the same handshakes, with no account or Region to name.
#[test]
fn a_copy_without_the_key_layout_is_told_by_content() {
    let input = scratch("elb-copy-in");
    let out = scratch("elb-copy-out");
    std::fs::create_dir_all(&input).unwrap();
    let bucket = Path::new(&repo(BUCKET)).join(FOLDER);
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo("testdata/elblog/bucket-expected.json")).unwrap(),
    )
    .unwrap();
    let mut want_handshakes = 0;
    for (index, entry) in std::fs::read_dir(&bucket).unwrap().enumerate() {
        let path = entry.unwrap().path();
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(want) = expected.get(&file_name) {
            want_handshakes += want["handshakes"].as_i64().unwrap();
            std::fs::copy(&path, input.join(format!("copy-{index}.gz"))).unwrap();
        }
    }
    let (code, stderr) = process(&out, &[input.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    let manifests = manifests(&out);
    assert_eq!(manifests.len(), 2, "{stderr}");
    let handshakes: i64 = manifests
        .iter()
        .map(|manifest| manifest["records"]["ok"].as_i64().unwrap())
        .sum();
    assert_eq!(handshakes, want_handshakes);
    let script = r#"
import duckdb, json, sys
print(json.dumps(duckdb.sql(f"SELECT DISTINCT rtt_source, account_id, region FROM read_parquet('{sys.argv[1]}/prefix_performance/**/*.parquet', hive_partitioning = true)").fetchall()))
"#;
    let sources: serde_json::Value =
        serde_json::from_slice(&python(script, &[out.to_str().unwrap()])).unwrap();
    assert_eq!(sources, serde_json::json!([["tls_handshake", null, null]]));
    std::fs::remove_dir_all(&input).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
}
