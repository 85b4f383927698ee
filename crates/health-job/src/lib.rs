//! The health job: the one way the tables' health is assessed and written, for the CLI
//! (`flowatlas health`, `flowatlas demo`) and the Lambda's schedule alike, over a local folder or
//! S3 (any [`Store`]). It owns what the engine (`flowatlas-health`, rows in, assessment out)
//! must not: which hour partitions to read, whole-hour rounding, the state between runs, and
//! the per-hour replacement of the health tables.
//!
//! Two runs:
//! - [`assess_range`]: every window of a range, with the history before it read whole (the
//!   engine's `HISTORY_SECONDS`) and counted as unjudged; the range widened to whole hours,
//!   whose health files it replaces. A backfill of judgements.
//! - [`assess_scheduled`]: what one scheduled run does at time `at`: judge the windows since
//!   the last one judged, reading only the hour partitions those windows compare with
//!   ([`flowatlas_health::history_window_starts`]), the earlier judgements of those hours from
//!   `city_network_health`, and the open events from the [`State`] the previous run left
//!   (`_health_state.json` beside the tables). Run after run, it gives the events one
//!   [`assess_range`] over all of history gives.
//!
//! **The state is a cache of the tables, never the truth.** A state that is missing,
//! unreadable, of another version or configuration, older than [`STALE_AFTER_SECONDS`], or not
//! before the run's windows (a run `--at` an earlier time, a clock that jumped) is rebuilt by
//! replaying: the run re-judges from the newest window `city_network_health` holds within
//! [`REBUILD_LOOKBACK_SECONDS`] (a candidate event may have started in it), moved back to the
//! start of any event `health_events` records there whose tracker was not at rest just before
//! (active, or resolved fewer than `CLOSE_AFTER` windows before), until none is; judgements are
//! deterministic, so the replay rewrites the same rows and rebuilds the trackers exactly. With no
//! judged window in that span (an empty destination) it judges from the start of the hour
//! before the last window's, with the history before counted as unjudged, as [`assess_range`]
//! does.
//!
//! **Order of writes**: the health tables first (each file published atomically), the state
//! last, so a run killed mid-way leaves the previous state, and the next run judges the same
//! windows again, to the same files. Two runs at once judge the same windows from the same
//! tables and write the same files; the state written last wins, and either is a state some
//! run would have written.

mod hours;
mod state;
mod store;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use flowatlas_health::{
    Assessment, Before, CLOSE_AFTER, Carry, CityNetworkHealth, Earlier, HISTORY_SECONDS,
    HealthConfig, HealthEvent, Observations, assess, assess_after,
};
use flowatlas_rollup::WINDOW_SECONDS;
use flowatlas_tables::{
    CITY_NETWORK_HEALTH, CITY_NETWORK_PERFORMANCE, CITY_NETWORKS, CLIENT_PREFIXES, HEALTH_EVENTS,
    HEALTH_SOURCE_ID, PREFIX_PERFORMANCE, WriteError, city_network_health, health_events,
    read_city_network_health, read_city_network_performance, read_city_networks,
    read_client_prefixes, read_health_events, read_prefix_performance, write_partitioned,
};

pub use crate::hours::whole_hours;
pub use crate::state::{Rebuild, STATE_NAME, STATE_VERSION, State};

use crate::hours::{HOUR, hour_of, hours_needed, spans, window_of};
use crate::store::View;
use flowatlas_store::{Store, files_in_hour, hours_with_files, table_days};

/// Windows one scheduled run judges at most: after missed schedules a run catches up this
/// many (three hours), and the next runs the rest, so no window is lost and no run is long.
pub const MAX_WINDOWS_PER_RUN: i64 = 36;
/// A state whose last window is older than this is rebuilt from the tables.
pub const STALE_AFTER_SECONDS: i64 = 7 * 86_400;
/// How far back a rebuild looks in the health tables for the newest judged window and the
/// events still active.
pub const REBUILD_LOOKBACK_SECONDS: i64 = 7 * 86_400;

/// What the engine reads: the flow-log rollups (availability) and the performance tables
/// (round-trip times and retransmissions, where an agent or load-balancer logs measured them).
const INPUT_TABLES: [&str; 4] = [
    CITY_NETWORKS,
    CLIENT_PREFIXES,
    CITY_NETWORK_PERFORMANCE,
    PREFIX_PERFORMANCE,
];
/// Tables whose hour partitions say a window may hold data.
const DATA_TABLES: [&str; 2] = [CITY_NETWORKS, CITY_NETWORK_PERFORMANCE];

/// Why a health run failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A table could not be read or written.
    #[error(transparent)]
    Tables(#[from] WriteError),
    /// The store could not be read or written (the message names the object).
    #[error(transparent)]
    Store(#[from] flowatlas_store::Error),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The state could not be written as JSON.
    #[error("{STATE_NAME}: {0}")]
    State(#[from] serde_json::Error),
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Run {
    /// The assessment of the windows judged: their rows, overall scores, and the events
    /// resolved in them or active after them.
    pub assessment: Assessment,
    /// The windows considered, `[from, to)`; `None` when there was nothing to judge.
    pub judged: Option<(i64, i64)>,
    /// Why the stored state was rebuilt, for a scheduled run that did not resume it.
    pub rebuilt: Option<Rebuild>,
    /// Hour partitions read (per table).
    pub hours_read: usize,
    /// Files downloaded (S3).
    pub files_downloaded: usize,
    /// Health files written.
    pub files_written: usize,
}

impl Run {
    /// Events raised or resolved in the windows this run judged: each change once, when runs
    /// follow each other.
    pub fn changed_events(&self) -> Vec<&HealthEvent> {
        let Some((from, to)) = self.judged else {
            return Vec::new();
        };
        let judged_now = |time: i64| time > from && time <= to;
        self.assessment
            .events
            .iter()
            .filter(|event| judged_now(event.detected_at) || event.ended_at.is_some_and(judged_now))
            .collect()
    }
}

/// Assesses the windows of `[from, to)` (the whole hours around it; open ends: the days the
/// tables hold) with the history before it, and with `write` replaces those hours' health
/// tables.
pub fn assess_range(
    store: &dyn Store,
    config: &HealthConfig,
    from: Option<i64>,
    to: Option<i64>,
    write: bool,
) -> Result<Run, JobError> {
    let days = match (from, to) {
        (Some(_), Some(_)) => None,
        _ => table_days(store, CITY_NETWORKS)?,
    };
    let from = from.or(days.map(|(first, _)| first));
    let to = to.or(days.map(|(_, last)| last + 86_400));
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(Run::default());
    };
    let (from, to) = whole_hours(from, to);
    let view = View::of(store)?;
    let hours: BTreeSet<i64> = (hour_of(from - HISTORY_SECONDS)..to)
        .step_by(HOUR as usize)
        .collect();
    let mut run = Run {
        judged: Some((from, to)),
        ..Run::default()
    };
    for table in INPUT_TABLES {
        run.files_downloaded += view.fetch(store, table, &hours)?;
    }
    let mut observations = read_observations(&view.dir, &hours)?;
    run.hours_read = hours.len();
    run.assessment = assess(&mut observations, config, Some(from), Some(to));
    if write {
        run.files_written = write_judged(store, &view, &run.assessment, from, to)?;
    }
    Ok(run)
}

/// What one scheduled run does at `at` (Unix seconds; the time data is complete up to, the
/// delivery delay already taken off): judges the windows after the last one judged up to the
/// window holding `at` (at most [`MAX_WINDOWS_PER_RUN`]), writes the health tables of their
/// hours, and stores the state.
pub fn assess_scheduled(
    store: &dyn Store,
    config: &HealthConfig,
    at: i64,
) -> Result<Run, JobError> {
    let to = window_of(at);
    let view = View::of(store)?;
    let stored = store::read_state(store)?;
    let mut run = Run::default();
    let (from, carry) = match State::usable(stored.as_deref(), config, to, STALE_AFTER_SECONDS) {
        Ok(state) => (state.last_window + WINDOW_SECONDS, state.carry),
        Err(why) => {
            tracing::info!(reason = why.name(), "health state rebuilt from the tables");
            run.rebuilt = Some(why);
            let from = rebuild_from(store, &view, to, &mut run)?;
            (from, Carry::default())
        }
    };
    let (windows, judged_to) = windows_to_judge(store, from, to)?;
    run.judged = Some((from, judged_to));
    if windows.is_empty() && run.rebuilt.is_none() {
        return Ok(run);
    }
    let hours = hours_needed(windows.iter().copied());
    for table in INPUT_TABLES.into_iter().chain([CITY_NETWORK_HEALTH]) {
        run.files_downloaded += view.fetch(store, table, &hours)?;
    }
    run.hours_read = hours.len();
    let mut observations = read_observations(&view.dir, &hours)?;
    let mut earlier = Earlier::new();
    for (span_from, span_to) in spans(&hours) {
        earlier.add_rows(&read_city_network_health(
            &view.dir,
            Some(span_from),
            Some(span_to.min(from)),
        )?);
    }
    let before = Before {
        earlier: &earlier,
        carry: &carry,
    };
    let (assessment, resumed) = assess_after(
        &mut observations,
        config,
        Some(from),
        Some(judged_to),
        before,
    );
    run.assessment = assessment;
    run.files_written = write_judged(store, &view, &run.assessment, from, judged_to)?;
    // Every window before `judged_to` is decided when the run stopped at its bound; otherwise
    // windows after the newest data wait for it.
    let decided = if judged_to < to {
        Some(judged_to - WINDOW_SECONDS)
    } else {
        None
    };
    let last_window = resumed
        .last_judged
        .into_iter()
        .chain(decided)
        .max()
        .unwrap_or(from - WINDOW_SECONDS);
    let state = State {
        version: STATE_VERSION,
        config: state::config_mark(config),
        last_window,
        carry: resumed.carry,
    };
    store::write_state(store, &state.to_json()?)?;
    Ok(run)
}

/// Where a run without a usable state starts (see the crate's documentation).
fn rebuild_from(store: &dyn Store, view: &View, to: i64, run: &mut Run) -> Result<i64, JobError> {
    let lookback = to - REBUILD_LOOKBACK_SECONDS;
    let judged_hours = hours_with_files(store, CITY_NETWORK_HEALTH, lookback, to)?;
    let Some(&newest_hour) = judged_hours.last() else {
        // The hour of the last window and the one before: what every scheduled run judged
        // before runs kept a state.
        return Ok(hour_of(to - WINDOW_SECONDS) - HOUR);
    };
    let newest = BTreeSet::from([newest_hour]);
    run.files_downloaded += view.fetch(store, CITY_NETWORK_HEALTH, &newest)?;
    let newest_judged = read_city_network_health(&view.dir, Some(newest_hour), Some(to))?
        .iter()
        .map(|row| row.window_start)
        .max()
        .unwrap_or(newest_hour - WINDOW_SECONDS);
    let event_hours = hours_with_files(store, HEALTH_EVENTS, lookback, to)?;
    run.files_downloaded += view.fetch(store, HEALTH_EVENTS, &event_hours)?;
    let events = read_health_events(&view.dir, Some(lookback), Some(to))?;
    // Replay from a window before which every tracker was at rest: the newest judged window
    // (a candidate raised by the next window may have started in it), moved back to the start
    // of any recorded event whose tracker was not at rest just before it, until none is.
    let mut replay_from = newest_judged;
    loop {
        let unrested = |event: &&flowatlas_tables::HealthEventRecord| {
            let rests_at = event
                .ended_at
                .map(|end| end + i64::from(CLOSE_AFTER) * WINDOW_SECONDS);
            event.started_at < replay_from
                && event.started_at >= lookback
                && rests_at.is_none_or(|rests_at| rests_at >= replay_from)
        };
        match events
            .iter()
            .filter(unrested)
            .map(|event| event.started_at)
            .min()
        {
            Some(start) => replay_from = start,
            None => return Ok(replay_from),
        }
    }
}

/// The windows of `[from, to)` in hours that hold data, at most [`MAX_WINDOWS_PER_RUN`], and
/// where they end.
fn windows_to_judge(store: &dyn Store, from: i64, to: i64) -> Result<(Vec<i64>, i64), JobError> {
    let mut data_hours = BTreeSet::new();
    for table in DATA_TABLES {
        data_hours.extend(hours_with_files(store, table, from, to)?);
    }
    let mut windows = Vec::new();
    for hour in data_hours {
        let mut window = hour.max(from);
        while window < (hour + HOUR).min(to) {
            if windows.len() as i64 == MAX_WINDOWS_PER_RUN {
                return Ok((windows, window));
            }
            windows.push(window);
            window += WINDOW_SECONDS;
        }
    }
    Ok((windows, to.max(from)))
}

/// The rollup and performance rows of `hours` under `dir`.
fn read_observations(dir: &Path, hours: &BTreeSet<i64>) -> Result<Observations, WriteError> {
    let spans = spans(hours);
    let mut observations = Observations::new();
    for &(from, to) in &spans {
        observations.add_city_networks(&read_city_networks(dir, Some(from), Some(to))?);
    }
    for &(from, to) in &spans {
        observations.add_prefixes(&read_client_prefixes(dir, Some(from), Some(to))?);
    }
    // After the flow-log rows, so a city-network's attributes are theirs.
    for &(from, to) in &spans {
        observations.add_city_network_performance(&read_city_network_performance(
            dir,
            Some(from),
            Some(to),
        )?);
        observations.add_prefix_performance(&read_prefix_performance(dir, Some(from), Some(to))?);
    }
    Ok(observations)
}

/// The name of an event's file: one file per event in the partition of its start, so a run
/// replaces the events it judged and leaves the others of the hour alone.
/// `event-<start>-<hash of the id>`.
fn event_file_name(event_id: &str, started_at: i64) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let hash = event_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("event-{started_at}-{hash:016x}")
}

/// The start of the event in a file named by [`event_file_name`].
fn started_at_of_file(name: &str) -> Option<i64> {
    name.strip_prefix("event-")?.split('-').next()?.parse().ok()
}

/// Writes an assessment of the windows `[from, to)` into the health tables and publishes it:
/// `city_network_health` of every hour they touch (rows of the hour before `from` kept), one
/// `health_events` file per event, and the events of the range's hours no longer found
/// removed. Returns the files written.
fn write_judged(
    store: &dyn Store,
    view: &View,
    assessment: &Assessment,
    from: i64,
    to: i64,
) -> Result<usize, JobError> {
    let judged_hours: Vec<i64> = (hour_of(from)..to).step_by(HOUR as usize).collect();
    let mut rows: Vec<CityNetworkHealth> = Vec::new();
    if hour_of(from) < from {
        let hour = BTreeSet::from([hour_of(from)]);
        view.fetch(store, CITY_NETWORK_HEALTH, &hour)?;
        rows = read_city_network_health(&view.dir, Some(hour_of(from)), Some(from))?;
    }
    rows.extend(assessment.city_networks.iter().cloned());
    let mut written: Vec<PathBuf> =
        write_partitioned(&city_network_health(), &rows, &view.dir, HEALTH_SOURCE_ID)?
            .into_iter()
            .map(|file| file.path)
            .collect();
    let mut event_files = HashSet::new();
    for event in &assessment.events {
        let name = event_file_name(&event.event_id, event.started_at);
        for file in write_partitioned(
            &health_events(),
            std::slice::from_ref(event),
            &view.dir,
            &name,
        )? {
            written.push(file.path);
        }
        event_files.insert(format!("{name}.parquet"));
    }
    let ours = format!("{HEALTH_SOURCE_ID}.parquet");
    let mut removed = Vec::new();
    for &hour in &judged_hours {
        let partition = flowatlas_tables::partition_of(hour);
        let health = Path::new(CITY_NETWORK_HEALTH).join(&partition).join(&ours);
        if !written.contains(&health) {
            removed.push(health);
        }
        for name in files_in_hour(store, HEALTH_EVENTS, hour)? {
            let judged_here = match started_at_of_file(&name) {
                Some(started_at) => started_at >= from,
                // The one file per hour of earlier versions.
                None => name == ours && hour >= from,
            };
            if judged_here && !event_files.contains(&name) {
                removed.push(Path::new(HEALTH_EVENTS).join(&partition).join(name));
            }
        }
    }
    view.publish(store, &written, &removed)?;
    Ok(written.len())
}
