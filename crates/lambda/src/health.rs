//! The scheduled health mode: on each EventBridge schedule (every 5 minutes), the health job's
//! scheduled run (`flowatlas_health_job::assess_scheduled`, the same code as `flowatlas health
//! --at`) judges the windows since the last run over the destination's tables, reading only
//! the hour partitions those windows compare with and the state the previous run left; events
//! that opened or resolved in the windows it judged are put on EventBridge, those windows'
//! overall scores go out as EMF, and the last day's HTML report is written to
//! `report/index.html`. Then the closed hours of the last `FLOWATLAS_COMPACT_HOURS` are
//! compacted (`flowatlas_pipeline::compact`, the code of `flowatlas compact`).

use std::io::Write;
use std::time::Instant;

use flowatlas_health::HealthEvent;
use flowatlas_health::publish::{
    DEFAULT_EMF_TOP_CITY_NETWORKS, EVENT_DETAIL_TYPE, EVENT_SOURCE, emf_lines, eventbridge_event,
};
use flowatlas_health_job::assess_scheduled;
use flowatlas_pipeline::CompactOptions;
use flowatlas_s3::S3Store;
use flowatlas_store::download_partitions;
use flowatlas_tables::{
    CITY_NETWORK_PERFORMANCE, CITY_NETWORKS, CLIENT_PREFIXES, HEALTH_TABLES, PREFIX_PERFORMANCE,
};
use serde_json::{Value, json};

use crate::state::{SCRATCH_PREFIX, State};

/// What the report reads besides the health tables.
const REPORT_INPUT_TABLES: [&str; 4] = [
    CITY_NETWORKS,
    CLIENT_PREFIXES,
    CITY_NETWORK_PERFORMANCE,
    PREFIX_PERFORMANCE,
];

/// Runs the scheduled health job for the windows complete at `scheduled_at` less the delay,
/// then compacts closed hours, beginning none after `stop_at`; returns a summary.
pub async fn run(
    state: &State,
    scheduled_at: i64,
    function: &str,
    stop_at: Instant,
) -> Result<Value, String> {
    let settings = &state.settings.health;
    let store = destination_store(state);
    let ready = scheduled_at - settings.delay.as_secs() as i64;
    let config = settings.config.clone();
    let run = tokio::task::spawn_blocking(move || assess_scheduled(&store, &config, ready))
        .await
        .map_err(|error| format!("health panicked: {error}"))?
        .map_err(|error| format!("health: {error}"))?;
    let changed = run.changed_events();
    let published = match (&settings.event_bus, &state.events) {
        (Some(bus), Some(events)) if !changed.is_empty() => {
            put_events(events, bus, &changed).await?
        }
        _ => 0,
    };
    // Each run judges windows no earlier run judged, so no window's metrics go out twice.
    for overall in &run.assessment.overall {
        for line in emf_lines(
            &run.assessment,
            overall,
            function,
            DEFAULT_EMF_TOP_CITY_NETWORKS,
        ) {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
    let (from, to) = run.judged.unwrap_or((ready, ready));
    let report_key = write_report(state, to).await?;
    let compacted = compact(state, scheduled_at, stop_at).await?;
    let events = &run.assessment.events;
    tracing::info!(
        from,
        to,
        hours_read = run.hours_read,
        files_read = run.files_downloaded,
        events = events.len(),
        published,
        "health assessed"
    );
    Ok(json!({
        "from": flowatlas_health::publish::iso_time(from),
        "to": flowatlas_health::publish::iso_time(to),
        "state_rebuilt": run.rebuilt.as_ref().map(|reason| reason.name()),
        "hours_read": run.hours_read,
        "files_read": run.files_downloaded,
        "windows": run.assessment.overall.len(),
        "events": events.len(),
        "events_active": events.iter().filter(|event| event.ended_at.is_none()).count(),
        "events_published": published,
        "report": format!("s3://{}/{report_key}", state.settings.destination.bucket),
        "compaction": compacted,
    }))
}

/// Compacts the destination's closed hours of the last `FLOWATLAS_COMPACT_HOURS` that ended
/// `FLOWATLAS_COMPACT_DELAY_MINUTES` before `scheduled_at`. An hour that fails is logged and
/// left as it was (the next run tries again); the health run's work stands.
async fn compact(state: &State, scheduled_at: i64, stop_at: Instant) -> Result<Value, String> {
    let settings = &state.settings.compaction;
    if settings.hours == 0 {
        return Ok(Value::Null);
    }
    let closed_by = scheduled_at - settings.delay.as_secs() as i64;
    let options = CompactOptions {
        closed_by,
        from: Some(closed_by - 3_600 * settings.hours as i64),
        scratch: std::env::temp_dir()
            .join(format!("{SCRATCH_PREFIX}{}-compact", std::process::id())),
        // A backlog (a first deployment) takes several schedules rather than a timeout.
        stop_at: Some(stop_at),
    };
    let store = destination_store(state);
    let report = tokio::task::spawn_blocking(move || {
        let report = flowatlas_pipeline::compact(&store, &options, &|_, _| {});
        let _ = std::fs::remove_dir_all(&options.scratch);
        report
    })
    .await
    .map_err(|error| format!("compaction panicked: {error}"))?
    .map_err(|error| format!("compaction: {}", flowatlas_pipeline::error_chain(&error)))?;
    for failed in &report.failed {
        tracing::error!(error = %flowatlas_pipeline::error_chain(failed), "Hour not compacted");
    }
    for left in &report.left {
        tracing::warn!(file = %left.name, reason = left.reason, "File left beside a compacted hour");
    }
    if let Some(holder) = &report.busy {
        tracing::info!(
            holder = %holder.owner,
            until_ms = holder.expires_at_ms,
            "Another compaction holds the lease; it compacts what this run did not"
        );
    }
    tracing::info!(
        hours = report.compacted.len(),
        recovered = report.n_recovered,
        failed = report.failed.len(),
        "compacted"
    );
    Ok(json!({
        "hours_compacted": report.compacted.len(),
        "files_before": report.compacted.iter().map(|hour| hour.files_before).sum::<usize>(),
        "interrupted_finished": report.n_recovered,
        "files_left": report.left.len(),
        "hours_failed": report.failed.len(),
        "lease_held_elsewhere": report.busy.is_some(),
        "hours_deferred": report.n_deferred,
    }))
}

/// The destination as a store, on the invocation's runtime: call it from blocking threads.
fn destination_store(state: &State) -> S3Store {
    S3Store::new(state.client.clone(), state.settings.destination.clone())
        .with_part_size(state.settings.part_size)
}

/// The time the report shows, up to the newest window assessed.
const REPORT_SECONDS: i64 = 86_400;
/// How long a browser or CDN may keep the report: about one schedule.
const REPORT_MAX_AGE_SECONDS: u32 = 60;

/// Writes the HTML report of the last day to `report/index.html` in the destination, so one
/// URL always shows the current state: the day's tables are downloaded into a scratch folder
/// for it. Returns the key written.
async fn write_report(state: &State, to: i64) -> Result<String, String> {
    let destination = &state.settings.destination;
    let from = to - REPORT_SECONDS;
    let scratch =
        std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}-report", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let store = destination_store(state);
    let folder = scratch.clone();
    let page = tokio::task::spawn_blocking(move || {
        for table in REPORT_INPUT_TABLES.into_iter().chain(HEALTH_TABLES) {
            download_partitions(&store, table, from, to, &folder)
                .map_err(|error| error.to_string())?;
        }
        flowatlas_report::read_folder(&folder, Some(from), Some(to))
            .map(|report| flowatlas_report::render(&report))
            .map_err(|error| error.to_string())
    })
    .await
    .map_err(|error| format!("report panicked: {error}"))?;
    let _ = std::fs::remove_dir_all(&scratch);
    let page = page?;
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
