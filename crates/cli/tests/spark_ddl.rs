//! The Athena DDL that `flowatlas schema` generates runs in Spark (PyPI `pyspark`, Hive
//! metastore) over the demo's tables: `CREATE EXTERNAL TABLE ... STORED AS PARQUET`, `MSCK
//! REPAIR TABLE`, then every column of every row is read, and the totals match DuckDB's over
//! the same files. Spark, like Athena, refuses Parquet integer encodings that do not fit the
//! declared types (unsigned integers declared `bigint`), so this is the closest local check of
//! what Athena will make of the files.

mod support;

use serde_json::Value;
use support::{flowatlas_ok, python, scratch};

/// Every table, and how to total its traffic where it has one.
const TABLES: &str = r#"
TRAFFIC = {"city_networks": "bytes_in + bytes_out", "client_prefixes": "bytes_in + bytes_out", "flows": "bytes"}
TABLES = ["city_networks", "client_prefixes", "city_network_health", "health_events", "flows"]
"#;

const SPARK: &str = r#"
import json, os, re, sys
from pyspark.sql import SparkSession
ddl_path, work = sys.argv[1], sys.argv[2]
os.chdir(work)  # Spark's metastore_db/, derby.log and warehouse go here
spark = (SparkSession.builder.master("local[1]").appName("flowatlas-ddl")
    .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
    .config("spark.sql.warehouse.dir", os.path.join(work, "warehouse"))
    .config("spark.sql.session.timeZone", "UTC")
    .enableHiveSupport().getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
spark.sql("CREATE DATABASE IF NOT EXISTS flowatlas")
out = {}
# Statements end with `;` at the end of a line (comments may hold `;` too).
for statement in re.split(r";\s*$", open(ddl_path).read(), flags=re.M):
    if not statement.strip():
        continue
    spark.sql(statement)
    table = statement.split("`")[3]
    spark.sql(f"MSCK REPAIR TABLE flowatlas.{table}")
    frame = spark.table(f"flowatlas.{table}")
    rows = frame.collect()  # reads every column of every row
    out[table] = {
        "columns": [field.name for field in frame.schema.fields],
        "rows": len(rows),
        "partitions": spark.sql(f"SHOW PARTITIONS flowatlas.{table}").count(),
    }
    if table in TRAFFIC:
        total = spark.sql(f"SELECT sum({TRAFFIC[table]}) FROM flowatlas.{table}").collect()[0][0]
        out[table]["bytes"] = int(total or 0)
spark.stop()
print(json.dumps(out))
"#;

const DUCKDB: &str = r#"
import duckdb, json, sys
tables = sys.argv[1]
out = {}
for table in TABLES:
    source = f"read_parquet('{tables}/{table}/**/*.parquet', hive_partitioning = true)"
    rows, partitions = duckdb.sql(f"SELECT count(*), count(DISTINCT (dt, hour)) FROM {source}").fetchall()[0]
    out[table] = {"rows": rows, "partitions": partitions}
    if table in TRAFFIC:
        out[table]["bytes"] = int(duckdb.sql(f"SELECT sum({TRAFFIC[table]}) FROM {source}").fetchall()[0][0])
print(json.dumps(out))
"#;

#[test]
fn athena_ddl_reads_every_column_in_spark() {
    let dir = scratch("spark");
    let demo = dir.join("demo");
    flowatlas_ok(&[
        "demo",
        "--dir",
        demo.to_str().unwrap(),
        "--records-per-object",
        "300",
    ]);
    // All three tables, `flows` included.
    let tables = dir.join("tables");
    flowatlas_ok(&[
        "process",
        "--flows",
        "--out",
        tables.to_str().unwrap(),
        "--asn-db",
        demo.join("geo/asn.mmdb").to_str().unwrap(),
        "--geo-db",
        demo.join("geo/city.mmdb").to_str().unwrap(),
        "--local-cidr",
        "2600:1f18:abcd::/48",
        demo.join("logs").to_str().unwrap(),
    ]);
    // The health tables, from the same data.
    flowatlas_ok(&["health", "--data", tables.to_str().unwrap()]);
    let ddl = flowatlas_ok(&[
        "schema",
        "--ddl",
        "athena",
        "--location",
        &format!("file://{}", tables.display()),
    ]);
    let ddl_path = dir.join("tables.sql");
    std::fs::write(&ddl_path, &ddl).unwrap();

    let spark: Value = serde_json::from_slice(&python(
        &format!("{TABLES}{SPARK}"),
        &[ddl_path.to_str().unwrap(), dir.to_str().unwrap()],
    ))
    .unwrap();
    let duckdb: Value = serde_json::from_slice(&python(
        &format!("{TABLES}{DUCKDB}"),
        &[tables.to_str().unwrap()],
    ))
    .unwrap();
    let ddl = String::from_utf8(ddl).unwrap();
    for table in ["city_networks", "client_prefixes", "flows"] {
        let seen = &spark[table];
        assert!(seen["rows"].as_u64().unwrap() > 0, "{table}: {spark}");
        for measure in ["rows", "bytes", "partitions"] {
            assert_eq!(
                seen[measure], duckdb[table][measure],
                "{table} {measure}: Spark {spark} DuckDB {duckdb}"
            );
        }
        // Every declared column, then the partitions.
        let statement = ddl
            .split("CREATE EXTERNAL TABLE")
            .find(|statement| statement.contains(&format!("`flowatlas`.`{table}`")))
            .unwrap();
        let mut declared: Vec<&str> = statement
            .lines()
            .filter(|line| line.starts_with("  `"))
            .map(|line| line.split('`').nth(1).unwrap())
            .collect();
        declared.extend(["dt", "hour"]);
        let columns: Vec<&str> = seen["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|name| name.as_str().unwrap())
            .collect();
        assert_eq!(columns, declared, "{table}");
    }
}
