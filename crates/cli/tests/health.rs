//! `flowatlas health` end to end: the demo's flow-log objects through `flowatlas process` to
//! health events, whose London incident must be found within two windows of its start, with
//! the tables read back by DuckDB (a second engine) and the configuration honoured.

mod support;

use std::path::Path;
use std::process::Command;

use support::{flowatlas_ok, health_lines, json_lines, python, scratch};

/// Unix seconds of `2026-06-01T<hh>:<mm>:00Z`.
fn on_demo_day(hour: i64, minute: i64) -> i64 {
    1_780_272_000 + hour * 3600 + minute * 60
}

fn seconds_of(iso: &str) -> i64 {
    // `2026-06-01THH:MM:SSZ` on the demo day.
    let hour: i64 = iso[11..13].parse().unwrap();
    let minute: i64 = iso[14..16].parse().unwrap();
    assert_eq!(&iso[..10], "2026-06-01", "{iso}");
    on_demo_day(hour, minute)
}

#[test]
fn the_demo_incident_is_found_from_flow_logs() {
    let base = scratch("health");
    let demo = base.join("demo");
    let path = |path: &Path| path.to_str().unwrap().to_string();
    flowatlas_ok(&["demo", "--dir", &path(&demo)]);
    let tables = base.join("tables");
    flowatlas_ok(&[
        "process",
        "--out",
        &path(&tables),
        "--asn-db",
        &path(&demo.join("geo/asn.mmdb")),
        "--geo-db",
        &path(&demo.join("geo/city.mmdb")),
        "--local-cidr",
        "2600:1f18:abcd::/48",
        &path(&demo.join("logs")),
    ]);
    let lines = json_lines(flowatlas_ok(&[
        "health",
        "--data",
        &path(&tables),
        "--json",
    ]));

    // The demo's victim: the busiest ISP in London loses its traffic from 14:20 to 15:00.
    let events: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["type"] == "event")
        .collect();
    let london = events
        .iter()
        .find(|event| {
            let detail = &event["detail"];
            detail["impactType"] == "LOCAL_AVAILABILITY"
                && detail["impactedLocations"][0]["city"] == "London"
                && seconds_of(detail["startedAt"].as_str().unwrap()) <= on_demo_day(14, 25)
                && seconds_of(detail["startedAt"].as_str().unwrap()) >= on_demo_day(14, 10)
        })
        .unwrap_or_else(|| panic!("no London event in {events:#?}"));
    assert_eq!(london["source"], "flowatlas");
    assert_eq!(london["detail-type"], "Health Event");
    let detail = &london["detail"];
    let detected = seconds_of(detail["detectedAt"].as_str().unwrap());
    assert!(
        detected <= on_demo_day(14, 30),
        "detected at {}",
        detail["detectedAt"]
    );
    let ended = seconds_of(detail["endedAt"].as_str().unwrap());
    assert!(
        (on_demo_day(14, 55)..=on_demo_day(15, 10)).contains(&ended),
        "ended at {}",
        detail["endedAt"]
    );
    let location = &detail["impactedLocations"][0];
    assert!(location["internetHealth"]["performance"].is_null());
    assert!(
        location["internetHealth"]["availability"]["percentOfClientLocationImpacted"]
            .as_f64()
            .unwrap()
            > 80.0
    );
    assert!(
        !location["clientPrefixes"].as_array().unwrap().is_empty(),
        "the event names its client prefixes"
    );
    // The incident carries over a third of all traffic then: both impact types.
    assert!(events.iter().any(|event| {
        event["detail"]["impactType"] == "AVAILABILITY"
            && event["detail"]["startedAt"] == detail["startedAt"]
    }));
    assert!(
        lines.iter().any(|line| line["type"] == "city_network"),
        "the worst city-networks follow the events"
    );

    // The tables, read by DuckDB: one day of history means the last-hour fallback, said so.
    let script = r#"
import sys, duckdb
root = sys.argv[1]
def table(name):
    return f"read_parquet('{root}/{name}/**/*.parquet', hive_partitioning = true)"
rows, methods, days, performance = duckdb.connect().execute(f"""SELECT count(*), string_agg(DISTINCT baseline, ','),
    max(history_days), count(performance_score) FROM {table('city_network_health')}""").fetchone()
events = duckdb.connect().execute(f"""SELECT count(*) FILTER (WHERE impact_type = 'LOCAL_AVAILABILITY' AND impacted_prefixes <> ''),
    count(*) FILTER (WHERE ended_at IS NOT NULL) FROM {table('health_events')}""").fetchone()
print(rows, methods, days, performance, *events)
"#;
    let stdout = String::from_utf8(python(script, &[&path(&tables)])).unwrap();
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    assert!(fields[0].parse::<i64>().unwrap() > 288, "{stdout}");
    assert_eq!(fields[1], "recent_hour", "{stdout}");
    assert_eq!(fields[2], "0", "{stdout}");
    assert_eq!(fields[3], "0", "performance is never scored: {stdout}");
    assert!(fields[4].parse::<i64>().unwrap() >= 1, "{stdout}");
    assert!(fields[5].parse::<i64>().unwrap() >= 1, "{stdout}");

    // EMF: one line per window, with the active-event count the alarms use.
    let emf = json_lines(flowatlas_ok(&[
        "health",
        "--data",
        &path(&tables),
        "--emf",
        "--no-write",
    ]));
    assert_eq!(emf.len(), 288);
    let during = emf
        .iter()
        .find(|line| line["_aws"]["Timestamp"] == on_demo_day(14, 35) * 1000)
        .unwrap();
    assert!(
        during["ActiveHealthEvents"].as_i64().unwrap() >= 1,
        "{during}"
    );
    assert!(
        during["AvailabilityScore"].as_f64().unwrap() < 95.0,
        "{during}"
    );
    // Bytes in and out are the rollups' to the byte (DuckDB sums the same table); no agent
    // ran, so no connection counts or round-trip times, not even zeros.
    let sum_of = |name: &str| -> i64 { emf.iter().map(|line| line[name].as_i64().unwrap()).sum() };
    let script = r#"
import sys, duckdb
print(*duckdb.connect().execute(f"""SELECT sum(bytes_in), sum(bytes_out)
    FROM read_parquet('{sys.argv[1]}/city_networks/**/*.parquet', hive_partitioning = true)""").fetchone())
"#;
    let stdout = String::from_utf8(python(script, &[&path(&tables)])).unwrap();
    assert_eq!(
        stdout.trim(),
        format!("{} {}", sum_of("BytesIn"), sum_of("BytesOut"))
    );
    for absent in [
        "ConnectionsOpen",
        "ConnectionsNew",
        "RttP90",
        "PerformanceScore",
    ] {
        assert!(
            emf.iter().all(|line| line.get(absent).is_none()),
            "{absent}"
        );
    }

    // Local events off: the same incident raises only the overall event.
    let config = base.join("config.json");
    std::fs::write(
        &config,
        r#"{"availabilityLocalHealthEventsConfig": {"status": "DISABLED"}}"#,
    )
    .unwrap();
    let without_local = json_lines(flowatlas_ok(&[
        "health",
        "--data",
        &path(&tables),
        "--json",
        "--no-write",
        "--config",
        &path(&config),
    ]));
    assert!(
        without_local
            .iter()
            .all(|line| line["type"] != "event" || line["detail"]["impactType"] == "AVAILABILITY")
    );
    assert!(without_local.iter().any(|line| line["type"] == "event"));

    // A configuration with a typo is an error, exit status 2.
    std::fs::write(&config, r#"{"availabilityScoreTreshold": 90}"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_flowatlas"))
        .args([
            "health",
            "--data",
            &path(&tables),
            "--config",
            &path(&config),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("availabilityScoreTreshold"));
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn the_schema_includes_the_health_tables() {
    let ddl = String::from_utf8(flowatlas_ok(&["schema", "--ddl", "athena"])).unwrap();
    for table in ["city_network_health", "health_events"] {
        assert!(
            ddl.contains(&format!("`flowatlas`.`{table}`")),
            "{table} missing"
        );
    }
    assert!(ddl.contains("`history_days` int"));
    assert!(ddl.contains("`detected_at` timestamp"));
}

/// Real-shaped places and hostile clocks: the demo's city database places every network of a
/// city at its own coordinates (some cities without subdivision, a country-only network), yet
/// `city_networks` holds one row per window × service location × city-network, as many as the
/// distinct (ASN, place) of the records (from the `flows` table, read by DuckDB). Then a record
/// two months older than the rest and one in the year 2100 join the tables: health still finds
/// the London outage, at the same time, and does not size anything by the years between.
#[test]
fn one_row_per_city_network_and_stray_records_hide_nothing() {
    let base = scratch("health-real-shaped");
    let demo = base.join("demo");
    let path = |path: &Path| path.to_str().unwrap().to_string();
    flowatlas_ok(&["demo", "--dir", &path(&demo), "--records-per-object", "300"]);
    let tables = base.join("tables");
    let process = |inputs: &Path| {
        Command::new(env!("CARGO_BIN_EXE_flowatlas"))
            .args([
                "process",
                "--flows",
                "--out",
                &path(&tables),
                "--asn-db",
                &path(&demo.join("geo/asn.mmdb")),
                "--geo-db",
                &path(&demo.join("geo/city.mmdb")),
                "--local-cidr",
                "2600:1f18:abcd::/48",
                "--account-id",
                "123456789012",
                "--region",
                "us-east-1",
                &path(inputs),
            ])
            .output()
            .unwrap()
    };
    assert!(process(&demo.join("logs")).status.success());

    let script = r#"
import sys, duckdb
root = sys.argv[1]
def table(name):
    return f"read_parquet('{root}/{name}/**/*.parquet', hive_partitioning = true, filename = true)"
con = duckdb.connect()
duplicates = con.execute(f"""SELECT count(*) FROM (SELECT filename, window_start, account_id, region, az_id, vpc_id, city_network_id
    FROM {table('city_networks')} GROUP BY ALL HAVING count(*) > 1)""").fetchone()[0]
identity = "peer_asn::VARCHAR || '|' || coalesce('g' || peer_geoname_id::VARCHAR, coalesce(peer_country_code, '') || '|' || coalesce(peer_subdivision_code, '') || '|' || coalesce(peer_city, ''))"
expected = con.execute(f"""SELECT count(*) FROM (SELECT DISTINCT regexp_extract(filename, '[^/]+$'), start - start % 300, az_id, vpc_id, {identity}
    FROM {table('flows')} WHERE peer_kind = 'internet')""").fetchone()[0]
rows = con.execute(f"SELECT count(*) FROM {table('city_networks')}").fetchone()[0]
places = con.execute(f"SELECT count(DISTINCT {identity}) FROM {table('flows')} WHERE peer_kind = 'internet'").fetchone()[0]
ids, coordinates, no_subdivision, country_only = con.execute(f"""SELECT count(DISTINCT city_network_id),
    count(DISTINCT (client_latitude, client_longitude)),
    count(DISTINCT city_network_id) FILTER (WHERE client_city IS NOT NULL AND client_subdivision_code IS NULL),
    count(DISTINCT city_network_id) FILTER (WHERE client_city IS NULL AND client_country_code IS NOT NULL)
    FROM {table('city_networks')}""").fetchone()
print(duplicates, expected, rows, places, ids, coordinates, no_subdivision, country_only)
"#;
    let stdout = String::from_utf8(python(script, &[&path(&tables)])).unwrap();
    let counts: Vec<i64> = stdout
        .split_whitespace()
        .map(|field| field.parse().unwrap())
        .collect();
    let [
        duplicates,
        expected,
        rows,
        places,
        ids,
        coordinates,
        no_subdivision,
        country_only,
    ] = counts[..]
    else {
        panic!("{stdout}")
    };
    assert_eq!(duplicates, 0, "{stdout}");
    assert_eq!(rows, expected, "{stdout}");
    assert_eq!(ids, places, "{stdout}");
    assert!(coordinates > ids, "networks placed apart: {stdout}");
    assert!(no_subdivision >= 1 && country_only >= 1, "{stdout}");

    let london_start = |lines: &[serde_json::Value]| -> Option<String> {
        lines
            .iter()
            .filter(|line| line["type"] == "event")
            .map(|line| &line["detail"])
            .find(|detail| {
                detail["impactType"] == "LOCAL_AVAILABILITY"
                    && detail["impactedLocations"][0]["city"] == "London"
            })
            .map(|detail| detail["startedAt"].as_str().unwrap().to_string())
    };
    let health = || {
        json_lines(flowatlas_ok(&[
            "health",
            "--data",
            &path(&tables),
            "--json",
            "--no-write",
        ]))
    };
    let before = london_start(&health()).expect("the London outage");

    // A clock glitch two months back, and a record from the year 2100 (which the reader may
    // reject as out of range: either way nothing else may change).
    let stray = base.join("stray");
    std::fs::create_dir_all(&stray).unwrap();
    let old = 1_780_272_000 - 60 * 86_400 + 3_600;
    std::fs::write(
        stray.join("clock-glitch.log"),
        format!(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
             2 123456789012 eni-0a1b2c3d4e5f60718 198.18.0.7 10.0.1.25 40000 443 6 3 900 {old} {} ACCEPT OK\n\
             2 123456789012 eni-0a1b2c3d4e5f60718 198.18.0.8 10.0.1.25 40001 443 6 3 900 4102444800 4102444860 ACCEPT OK\n",
            old + 30
        ),
    )
    .unwrap();
    process(&stray);
    let after = health();
    assert_eq!(london_start(&after), Some(before), "{after:#?}");
    std::fs::remove_dir_all(&base).unwrap();
}

/// Performance from the performance tables: four days of the scenario's agent-shaped rows
/// (`city_network_performance` and `prefix_performance`, written by the tables' own writer as
/// `flowatlas process` writes them from the agent's `tcp_stats`; no agent runs here) with one
/// ISP in one city going from about 40 to 400 ms for 30 minutes on the fourth day. `flowatlas
/// health` must raise `LOCAL_PERFORMANCE` for that city-network within two windows, carrying
/// the round-trip times now and expected and its prefixes, and DuckDB must read the
/// performance columns of `city_network_health` back.
#[test]
fn a_slow_isp_raises_local_performance_from_the_performance_tables() {
    use flowatlas_tables::{city_network_performance, prefix_performance, write_partitioned};

    let tables = scratch("health-performance");
    let path = |path: &Path| path.to_str().unwrap().to_string();
    let scenario = flowatlas_demo::Scenario::new(1, 3);
    let incident = &scenario.performance_incidents[0];
    assert!(incident.name.contains("400 ms"), "{}", incident.name);
    let n_windows = ((incident.end + 3600 - scenario.start) / 300) as usize;
    let (mut city_rows, mut prefix_rows) = (Vec::new(), Vec::new());
    for index in 0..n_windows {
        let (city, prefixes) = scenario.performance_window(index);
        city_rows.extend(city);
        prefix_rows.extend(prefixes);
    }
    write_partitioned(&city_network_performance(), &city_rows, &tables, "agent").unwrap();
    write_partitioned(&prefix_performance(), &prefix_rows, &tables, "agent").unwrap();

    let iso = flowatlas_health::publish::iso_time;
    let lines = health_lines(
        &tables,
        incident.start - 3600,
        incident.end + 3600,
        &["--json"],
    );
    let event = lines
        .iter()
        .find(|line| line["type"] == "event" && line["detail"]["impactType"] == "LOCAL_PERFORMANCE")
        .unwrap_or_else(|| panic!("no LOCAL_PERFORMANCE event in {lines:#?}"));
    let detail = &event["detail"];
    assert_eq!(detail["startedAt"], iso(incident.start));
    assert_eq!(detail["detectedAt"], iso(incident.start + 600));
    assert_eq!(detail["signals"], serde_json::json!(["round_trip_time"]));
    let location = &detail["impactedLocations"][0];
    assert_eq!(location["cityNetworkId"], incident.places[0].as_str());
    let performance = &location["internetHealth"]["performance"];
    assert_eq!(performance["rttSource"], "tcp_srtt");
    let p90 = performance["roundTripTime"]["p90"].as_f64().unwrap();
    let expected = performance["expectedRoundTripTime"]["p90"]
        .as_f64()
        .unwrap();
    assert!(
        p90 > 300.0 && expected < 100.0,
        "p90 {p90} ms, expected {expected} ms"
    );
    assert!(
        !location["clientPrefixes"].as_array().unwrap().is_empty(),
        "the event names its prefixes"
    );
    assert!(lines.iter().any(|line| line["type"] == "slow_city_network"));

    let script = r#"
import sys, duckdb
root = sys.argv[1]
rows, scored, worst, sources = duckdb.connect().execute(f"""SELECT count(*), count(performance_score),
    max(rtt_p90_ms) FILTER (WHERE performance_signal = 'round_trip_time'), string_agg(DISTINCT rtt_source, ',')
    FROM read_parquet('{root}/city_network_health/**/*.parquet', hive_partitioning = true)""").fetchone()
print(rows, scored, worst, sources)
"#;
    let stdout = String::from_utf8(python(script, &[&path(&tables)])).unwrap();
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    assert!(fields[0].parse::<i64>().unwrap() > 0, "{stdout}");
    assert_eq!(
        fields[0], fields[1],
        "every row measured is scored: {stdout}"
    );
    assert!(fields[2].parse::<f64>().unwrap() > 300.0, "{stdout}");
    assert_eq!(fields[3], "tcp_srtt", "{stdout}");
}
