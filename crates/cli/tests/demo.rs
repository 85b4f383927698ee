//! `flowatlas demo`: deterministic for a seed, processed cleanly, and its incident is visible
//! in the tables it writes (checked with DuckDB, a second engine).

mod support;

use std::path::{Path, PathBuf};

use support::{files_under, flowatlas_ok, python, scratch};

fn demo(dir: &Path, seed: &str) -> String {
    let args = [
        "demo",
        "--dir",
        dir.to_str().unwrap(),
        "--seed",
        seed,
        "--records-per-object",
        "120",
    ];
    String::from_utf8(flowatlas_ok(&args)).unwrap()
}

fn files_with_contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|path| {
            let contents = std::fs::read(&path).unwrap();
            (path.strip_prefix(dir).unwrap().to_path_buf(), contents)
        })
        .collect()
}

#[test]
fn same_seed_same_day_and_the_incident_shows() {
    let base = scratch("demo");
    let (first, second, other) = (base.join("a"), base.join("b"), base.join("c"));
    let report = demo(&first, "7");
    // Paths and speeds differ between runs; the rankings must not.
    let rankings = |text: &str| {
        text[text.find("Top ISPs").unwrap()..text.find("Tables:").unwrap()].to_string()
    };
    assert_eq!(rankings(&demo(&second, "7")), rankings(&report));
    assert_eq!(
        files_with_contents(&first.join("logs")),
        files_with_contents(&second.join("logs"))
    );
    demo(&other, "8");
    assert_ne!(
        files_with_contents(&first.join("logs")),
        files_with_contents(&other.join("logs"))
    );

    assert!(report.contains("Wrote 576 flow-log objects"), "{report}");
    assert!(
        report.contains("Top ISPs") && report.contains("Top cities"),
        "{report}"
    );
    assert!(
        report.contains("rejected                          0"),
        "{report}"
    );

    // The incident: the victim's traffic in its 40 minutes against the 40 minutes before.
    let incident_line = report
        .lines()
        .find(|line| line.starts_with("Built in: AS"))
        .unwrap();
    let asn: i64 = incident_line["Built in: AS".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let script = r#"
import sys, duckdb
root, asn = sys.argv[1], int(sys.argv[2])
source = f"read_parquet('{root}/city_networks/**/*.parquet', hive_partitioning = true)"
query = f"""SELECT sum(bytes_in + bytes_out) FILTER (WHERE window_start >= TIMESTAMPTZ '2026-06-01 14:20:00+00' AND window_start < TIMESTAMPTZ '2026-06-01 15:00:00+00'),
                   sum(bytes_in + bytes_out) FILTER (WHERE window_start >= TIMESTAMPTZ '2026-06-01 13:40:00+00' AND window_start < TIMESTAMPTZ '2026-06-01 14:20:00+00')
            FROM {source} WHERE client_asn = {asn} AND client_city = 'London'"""
during, before = duckdb.connect().execute(query).fetchone()
# v2 records carry no Region: it must come from the S3 key layout.
unlocated = duckdb.connect().execute(f"SELECT count(*) FROM {source} WHERE region IS NULL OR account_id IS NULL").fetchone()[0]
print(during or 0, before or 0, unlocated)
"#;
    let tables = first.join("tables");
    let stdout = python(script, &[tables.to_str().unwrap(), &asn.to_string()]);
    let numbers: Vec<f64> = String::from_utf8(stdout)
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let (during, before, unlocated) = (numbers[0], numbers[1], numbers[2]);
    assert_eq!(unlocated, 0.0, "every row has its account and Region");
    assert!(before > 0.0, "the victim has traffic before the incident");
    assert!(during < before * 0.3, "during {during} vs before {before}");
    std::fs::remove_dir_all(&base).unwrap();
}
