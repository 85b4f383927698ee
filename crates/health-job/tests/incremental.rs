//! Scheduled runs, run by run over real-shaped tables (the demo world's weeks with injected
//! availability and performance incidents, written as `flowatlas process` writes them), give
//! the events and judgements of one run over all of history — also when the state is lost,
//! corrupt, ahead of the run or far in the future, when schedules are missed, and when two runs
//! race.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use flowatlas_demo::Scenario;
use flowatlas_health::{HealthConfig, Status};
use flowatlas_health_job::{
    MAX_WINDOWS_PER_RUN, Rebuild, STATE_NAME, assess_range, assess_scheduled,
};
use flowatlas_rollup::WINDOW_SECONDS;
use flowatlas_store::LocalStore;
use flowatlas_tables::{
    HealthEventRecord, city_network_performance, city_networks, client_prefixes,
    prefix_performance, read_city_network_health, read_health_events, write_partitioned,
};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowatlas-job-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The scenario's rows up to `end`, availability and performance, into `dir`.
fn write_tables(scenario: &Scenario, end: i64, dir: &Path) {
    let mut rows = Vec::new();
    let mut prefixes = Vec::new();
    let mut performance = Vec::new();
    let mut prefix_rows = Vec::new();
    for index in 0..scenario.n_windows() {
        if scenario.start + index as i64 * WINDOW_SECONDS >= end {
            break;
        }
        let (window_rows, window_prefixes) = scenario.window(index);
        rows.extend(window_rows);
        prefixes.extend(window_prefixes);
        let (window_performance, window_prefix_performance) = scenario.performance_window(index);
        performance.extend(window_performance);
        prefix_rows.extend(window_prefix_performance);
    }
    write_partitioned(&city_networks(), &rows, dir, "scenario").unwrap();
    write_partitioned(&client_prefixes(), &prefixes, dir, "scenario").unwrap();
    write_partitioned(&city_network_performance(), &performance, dir, "scenario").unwrap();
    write_partitioned(&prefix_performance(), &prefix_rows, dir, "scenario").unwrap();
}

/// What must be the same of an event: its identity, times, status, type, impact and the
/// city-networks and prefixes it names (labels may differ: attributes come from the heaviest
/// row read, and a scheduled run reads fewer rows).
fn essence(event: &HealthEventRecord) -> String {
    format!(
        "{} {:?} {:?} {} {} {:?} {:.9} {:.9} {:.9} {} {} {} {:?} {:?} {:?}",
        event.event_id,
        event.impact_type,
        event.status,
        event.started_at,
        event.detected_at,
        event.ended_at,
        event.percent_of_total_traffic_impacted,
        event.peak_percent_of_total_traffic_impacted,
        event.lowest_availability_score,
        event.impacted_windows,
        event.expected_bytes,
        event.observed_bytes,
        event.impacted_city_network_ids,
        event.impacted_prefixes,
        event.round_trip_time,
    )
}

/// Every judgement of `[from, to)`, row by row, without the attributes.
fn judgements(dir: &Path, from: i64, to: i64) -> Vec<String> {
    let mut rows: Vec<String> = read_city_network_health(dir, Some(from), Some(to))
        .unwrap()
        .iter()
        .map(|row| {
            format!(
                "{} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                row.window_start,
                row.city_network.identity(),
                row.expected_bytes,
                row.availability_score.map(|score| format!("{score:.9}")),
                row.performance_score.map(|score| format!("{score:.9}")),
                row.percent_of_total_traffic_impacted
                    .map(|percent| format!("{percent:.9}")),
                row.window_demand,
                row.impact_signal,
                row.performance.map(|health| health.signal),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Equal lists, or a failure showing only what differs.
fn assert_same(what: &str, runs: &[String], full: &[String]) {
    let (runs_set, full_set): (BTreeSet<&String>, BTreeSet<&String>) =
        (runs.iter().collect(), full.iter().collect());
    let only_runs: Vec<&&String> = runs_set.difference(&full_set).take(5).collect();
    let only_full: Vec<&&String> = full_set.difference(&runs_set).take(5).collect();
    assert!(
        only_runs.is_empty() && only_full.is_empty() && runs.len() == full.len(),
        "{what}: only in the scheduled runs' {only_runs:#?}\nonly in the full run's {only_full:#?}"
    );
}

#[test]
fn scheduled_runs_give_the_events_of_one_run_over_all_of_history() {
    let scenario = Scenario::new(3, 3);
    let at =
        |day: i64, hour: i64, minute: i64| scenario.start + day * DAY + hour * HOUR + minute * 60;
    let split = at(16, 17, 0);
    let end = at(17, 21, 0);
    let config = HealthConfig::default();
    let full_dir = scratch("full");
    let runs_dir = scratch("runs");
    write_tables(&scenario, end, &full_dir);
    write_tables(&scenario, end, &runs_dir);
    let full = LocalStore::new(&full_dir);
    let runs = LocalStore::new(&runs_dir);

    assess_range(&full, &config, None, Some(end), true).unwrap();
    // History judged by one run up to the split, then scheduled runs.
    assess_range(&runs, &config, None, Some(split), true).unwrap();

    // Every 5 minutes (at odd seconds, as a schedule fires) through the availability incident
    // of day 16 18:00; the state deleted in its middle.
    let mut times: Vec<i64> = (1..=21).map(|k| split + k * WINDOW_SECONDS + 17).collect();
    // Missed schedules: nothing until 08:30 the next day, then hourly runs catch up, at most
    // `MAX_WINDOWS_PER_RUN` windows each.
    times.extend((0..6).map(|k| at(17, 3, 30) + k * HOUR));
    // Every 5 minutes through the incident of 09:00, with a corrupt state, a run far in the
    // future and a run back in time.
    times.extend((0..14).map(|k| at(17, 8, 35) + k * WINDOW_SECONDS));
    // Every 20 minutes through the performance incident of 19:00.
    times.extend((0..((end - at(17, 18, 0)) / 1_200)).map(|k| at(17, 18, 20) + k * 1_200));
    times.push(end);
    let mut rebuilt = Vec::new();
    let mut most_windows = 0;
    for &time in &times {
        if time == at(16, 18, 15) + 17 {
            std::fs::remove_file(runs_dir.join(STATE_NAME)).unwrap();
        }
        if time == at(17, 9, 10) {
            std::fs::write(runs_dir.join(STATE_NAME), b"{\"version\": 1, \"last_wi").unwrap();
        }
        if time == at(17, 9, 30) {
            let future = assess_scheduled(&runs, &config, 4_102_444_800).unwrap();
            assert!(future.assessment.overall.len() as i64 <= MAX_WINDOWS_PER_RUN);
        }
        if time == at(17, 9, 35) {
            assess_scheduled(&runs, &config, at(17, 9, 5)).unwrap();
        }
        let run = assess_scheduled(&runs, &config, time).unwrap();
        most_windows = most_windows.max(run.assessment.overall.len() as i64);
        rebuilt.extend(run.rebuilt);
    }
    assert_eq!(most_windows, MAX_WINDOWS_PER_RUN, "the catch-up is bounded");
    assert!(rebuilt.contains(&Rebuild::Missing), "{rebuilt:?}");
    assert!(
        rebuilt
            .iter()
            .any(|why| matches!(why, Rebuild::Unreadable(_))),
        "{rebuilt:?}"
    );
    assert!(rebuilt.contains(&Rebuild::Ahead), "{rebuilt:?}");

    let full_events: Vec<String> = read_health_events(&full_dir, None, None)
        .unwrap()
        .iter()
        .map(essence)
        .collect();
    let run_events: Vec<String> = read_health_events(&runs_dir, None, None)
        .unwrap()
        .iter()
        .map(essence)
        .collect();
    let in_span = read_health_events(&full_dir, Some(split), Some(end)).unwrap();
    let resolved_in_span = in_span
        .iter()
        .filter(|event| event.status == Status::Resolved && event.started_at >= split)
        .count();
    assert!(
        resolved_in_span >= 3,
        "the span holds incidents: {in_span:#?}"
    );
    assert!(
        in_span
            .iter()
            .any(|event| event.rtt_source.is_some() && event.started_at >= split),
        "and a performance one"
    );
    assert_same("events", &run_events, &full_events);
    assert_same(
        "judgements",
        &judgements(&runs_dir, split, end),
        &judgements(&full_dir, split, end),
    );
    std::fs::remove_dir_all(&full_dir).unwrap();
    std::fs::remove_dir_all(&runs_dir).unwrap();
}

#[test]
fn an_empty_destination_and_two_racing_runs_leave_a_usable_state() {
    let config = HealthConfig::default();
    // Nothing there: nothing judged, no error, a state to start from.
    let empty_dir = scratch("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let empty = LocalStore::new(&empty_dir);
    let run = assess_scheduled(&empty, &config, 1_780_272_000).unwrap();
    assert!(run.assessment.overall.is_empty());
    assert_eq!(run.rebuilt, Some(Rebuild::Missing));
    std::fs::remove_dir_all(&empty_dir).unwrap();

    // Two runs at once on the same tables, then one more: the same as one run, then one more.
    let scenario = Scenario::new(4, 3);
    let end = scenario.start + 2 * DAY + 10 * HOUR;
    let (alone_dir, racing_dir) = (scratch("alone"), scratch("racing"));
    write_tables(&scenario, end + HOUR, &alone_dir);
    write_tables(&scenario, end + HOUR, &racing_dir);
    let (alone, racing) = (LocalStore::new(&alone_dir), LocalStore::new(&racing_dir));
    assess_scheduled(&alone, &config, end).unwrap();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| assess_scheduled(&racing, &config, end)))
            .collect();
        for run in runs {
            assert_eq!(run.join().unwrap().unwrap().assessment.overall.len(), 24);
        }
    });
    for destination in [&alone, &racing] {
        let run = assess_scheduled(destination, &config, end + 1_800).unwrap();
        assert_eq!(run.rebuilt, None);
        assert_eq!(run.assessment.overall.len(), 6);
    }
    let state = |dir: &Path| std::fs::read_to_string(dir.join(STATE_NAME)).unwrap();
    assert_eq!(state(&racing_dir), state(&alone_dir));
    let events = |dir: &Path| -> Vec<String> {
        read_health_events(dir, None, None)
            .unwrap()
            .iter()
            .map(essence)
            .collect()
    };
    assert_eq!(events(&racing_dir), events(&alone_dir));
    assert_eq!(
        judgements(&racing_dir, end - HOUR, end + HOUR),
        judgements(&alone_dir, end - HOUR, end + HOUR)
    );
    // No temporary file is left for a reader to see.
    let hidden = std::fs::read_dir(&racing_dir)
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(hidden, 0);
    std::fs::remove_dir_all(&alone_dir).unwrap();
    std::fs::remove_dir_all(&racing_dir).unwrap();
}
