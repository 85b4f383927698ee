//! Every named query in `infra/athena/*.sql` runs against the demo's tables (health included) in DuckDB (a second
//! engine; the queries use the SQL that Athena/Trino and DuckDB share) and returns rows. The
//! queries of the agent's performance tables have no demo data: `tests/agent.rs` runs them on
//! what real agents measured.

mod support;

use std::path::Path;

use support::{flowatlas_ok, python, scratch};

#[test]
fn every_named_query_runs_on_the_demo() {
    let dir = scratch("queries");
    flowatlas_ok(&[
        "demo",
        "--dir",
        dir.to_str().unwrap(),
        "--records-per-object",
        "300",
    ]);

    let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/athena");
    let script = r#"
import json, sys, pathlib, duckdb
tables, queries = sys.argv[1], pathlib.Path(sys.argv[2])
con = duckdb.connect()
con.execute("CREATE SCHEMA flowatlas")
for table in ("city_networks", "client_prefixes", "health_events"):
    con.execute(f"CREATE VIEW flowatlas.{table} AS SELECT * FROM read_parquet('{tables}/{table}/**/*.parquet', hive_partitioning = true, hive_types = {{'dt': VARCHAR, 'hour': VARCHAR}})")
results = {}
for path in sorted(queries.glob("*.sql")):
    if "_performance" in path.read_text():
        continue
    # Counting rows keeps timestamp values (which need pytz in Python) out of the answer.
    results[path.name] = con.execute(f"SELECT count(*) FROM ({path.read_text()}\n)").fetchone()[0]
print(json.dumps(results))
"#;
    let tables = dir.join("tables");
    let stdout = python(
        script,
        &[tables.to_str().unwrap(), queries.to_str().unwrap()],
    );
    let results: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    let results = results.as_object().unwrap();
    let n_queries = std::fs::read_dir(&queries)
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|ext| ext == "sql")
        })
        .filter(|entry| {
            let path = entry.as_ref().unwrap().path();
            !std::fs::read_to_string(path)
                .unwrap()
                .contains("_performance")
        })
        .count();
    assert_eq!(results.len(), n_queries, "{results:?}");
    for (query, n_rows) in results {
        assert!(n_rows.as_u64().unwrap() > 0, "{query} returned no rows");
    }
    // At most one row per hour of the demo's day for the city-network and the prefix.
    for hourly in ["city_network_over_time.sql", "prefix_history.sql"] {
        assert!(
            results[hourly].as_u64().unwrap() <= 24,
            "{hourly}: {}",
            results[hourly]
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
