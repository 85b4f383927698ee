//! The scheduled health mode: on each EventBridge schedule (every 5 minutes), the recent
//! windows of the destination's tables are assessed with the same engine as `flowatlas health`,
//! the health tables of those hours are replaced, events that opened or resolved in the newest
//! window are put on EventBridge, the newest window's scores go out as EMF, and the last day's
//! HTML report is written to `report/index.html`.
//!
//! Each run reads the history it needs from the destination (up to `history_days` of
//! `city_networks`, `client_prefixes` and the performance tables' partitions), so runs are independent and a missed
//! schedule loses nothing; the price is the reading, which grows with the tables' size.

use std::io::Write;
use std::path::Path;

use flowatlas_health::publish::{
    DEFAULT_EMF_TOP_CITY_NETWORKS, EVENT_DETAIL_TYPE, EVENT_SOURCE, emf_lines, eventbridge_event,
};
use flowatlas_health::{Assessment, HealthEvent};
use flowatlas_rollup::WINDOW_SECONDS;
use serde_json::{Value, json};

use crate::handler::State;

const HOUR: i64 = 3600;
/// What the engine reads: the flow-log rollups (availability) and the performance tables
/// (round-trip times and retransmissions, where an agent or load-balancer logs measured them).
const INPUT_TABLES: [&str; 4] = [
    "city_networks",
    "client_prefixes",
    "city_network_performance",
    "prefix_performance",
];

/// Assesses the windows before `scheduled_at` less the delay; returns a summary.
pub async fn run(state: &State, scheduled_at: i64, function: &str) -> Result<Value, String> {
    let settings = &state.settings.health;
    let destination = &state.settings.destination;
    let ready = scheduled_at - settings.delay.as_secs() as i64;
    let to = ready - ready.rem_euclid(WINDOW_SECONDS);
    // From the start of the previous hour: every hour partition written is complete up to `to`,
    // and a later run rewrites it with a superset of its windows.
    let from = to - WINDOW_SECONDS - (to - WINDOW_SECONDS).rem_euclid(HOUR) - HOUR;
    let history_from = from - settings.history_days * 86_400;
    let scratch = std::env::temp_dir().join(format!("flowatlas-{}-health", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let mut n_read = 0;
    for table in INPUT_TABLES {
        n_read += flowatlas_s3::download_partitions(
            &state.client,
            destination,
            table,
            history_from,
            to,
            &scratch,
        )
        .await
        .map_err(|error| error.to_string())?;
    }
    let config = settings.config.clone();
    let folder = scratch.clone();
    let assessed = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let assessment = flowatlas_tables::assess_folder(&folder, &config, Some(from), Some(to))
            .map_err(|error| error.to_string())?;
        let written = flowatlas_tables::write_health(&folder, &assessment)
            .map_err(|error| error.to_string())?;
        Ok((assessment, written))
    })
    .await
    .map_err(|error| format!("health assessment panicked: {error}"))?;
    let (assessment, written) = assessed?;

    flowatlas_s3::replace_health_hours(
        &state.client,
        destination,
        &scratch,
        &written,
        (from, to),
        state.settings.part_size,
    )
    .await
    .map_err(|error| error.to_string())?;

    let changed: Vec<&HealthEvent> = assessment
        .events
        .iter()
        .filter(|event| {
            let newest = |time: i64| time > to - WINDOW_SECONDS && time <= to;
            newest(event.detected_at) || event.ended_at.is_some_and(newest)
        })
        .collect();
    let published = match (&settings.event_bus, &state.events) {
        (Some(bus), Some(events)) if !changed.is_empty() => {
            put_events(events, bus, &changed).await?
        }
        _ => 0,
    };
    emit_newest_scores(&assessment, to, function);
    let report_key = write_report(state, &scratch, to).await?;
    let _ = std::fs::remove_dir_all(&scratch);
    tracing::info!(
        from,
        to,
        files_read = n_read,
        events = assessment.events.len(),
        published,
        "health assessed"
    );
    Ok(json!({
        "from": flowatlas_health::publish::iso_time(from),
        "to": flowatlas_health::publish::iso_time(to),
        "files_read": n_read,
        "windows": assessment.overall.len(),
        "events": assessment.events.len(),
        "events_active": assessment.events.iter().filter(|event| event.ended_at.is_none()).count(),
        "events_published": published,
        "report": format!("s3://{}/{report_key}", destination.bucket),
    }))
}

/// The time the report shows, up to the newest window assessed.
const REPORT_SECONDS: i64 = 86_400;
/// How long a browser or CDN may keep the report: about one schedule.
const REPORT_MAX_AGE_SECONDS: u32 = 60;

/// Writes the HTML report of the last day to `report/index.html` in the destination, so one
/// URL always shows the current state. The scratch folder already holds the day's rollup
/// tables and this run's health tables; the health tables of the day's earlier hours are
/// fetched for it. Returns the key written.
async fn write_report(state: &State, scratch: &Path, to: i64) -> Result<String, String> {
    let destination = &state.settings.destination;
    let from = to - REPORT_SECONDS;
    for table in flowatlas_s3::HEALTH_TABLES {
        flowatlas_s3::download_partitions(&state.client, destination, table, from, to, scratch)
            .await
            .map_err(|error| error.to_string())?;
    }
    let folder = scratch.to_path_buf();
    let page = tokio::task::spawn_blocking(move || {
        flowatlas_report::read_folder(&folder, Some(from), Some(to))
            .map(|report| flowatlas_report::render(&report))
            .map_err(|error| error.to_string())
    })
    .await
    .map_err(|error| format!("report panicked: {error}"))??;
    let key = destination.key("report/index.html");
    flowatlas_s3::put_web_page(
        &state.client,
        &destination.bucket,
        &key,
        page,
        REPORT_MAX_AGE_SECONDS,
    )
    .await
    .map_err(|error| error.to_string())?;
    Ok(key)
}

/// Puts events on the bus, ten per request (EventBridge's limit); any entry refused is an error.
async fn put_events(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    events: &[&HealthEvent],
) -> Result<usize, String> {
    let mut published = 0;
    for chunk in events.chunks(10) {
        let entries = chunk
            .iter()
            .map(|event| {
                let envelope = eventbridge_event(event);
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source(EVENT_SOURCE)
                    .detail_type(EVENT_DETAIL_TYPE)
                    .detail(envelope["detail"].to_string())
                    .event_bus_name(bus)
                    .build()
            })
            .collect::<Vec<_>>();
        let response = client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|error| {
                format!(
                    "PutEvents: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(error)
                )
            })?;
        if response.failed_entry_count() > 0 {
            return Err(format!(
                "PutEvents refused {} entries",
                response.failed_entry_count()
            ));
        }
        published += chunk.len();
    }
    Ok(published)
}

/// The newest window's metrics as EMF lines (one window per run, so none is counted twice).
fn emit_newest_scores(assessment: &Assessment, to: i64, function: &str) {
    if let Some(overall) = assessment
        .overall
        .iter()
        .find(|overall| overall.window_start == to - WINDOW_SECONDS)
    {
        for line in emf_lines(assessment, overall, function, DEFAULT_EMF_TOP_CITY_NETWORKS) {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
}
