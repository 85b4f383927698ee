//! One object in, flowatlas tables out, published in a store. `flowatlas process`, backfill
//! and the Lambda call [`process_object`] per object (`process` through a [`Batch`]); no stage
//! is reimplemented anywhere else, and no other path publishes tables.
//!
//! # Overview
//!
//! [`process_object`] opens the object ([`ObjectRef`]: a local file, or a key of a
//! [`flowatlas_store::Store`] such as an S3 bucket) and tells what it is: a flow log is read
//! ([`flowatlas_flowlog::Reader`]), each OK record's peer found and enriched
//! ([`flowatlas_geo`]), the internet traffic rolled up ([`flowatlas_rollup::Rollup`]) and the
//! tables written ([`flowatlas_tables`]) under names derived from the object, so a re-run
//! replaces its files; an agent's `tcp_stats` object and a load-balancer log go to the
//! performance tables. Rejected records go to `_rejects/<source-id>.jsonl`. The files are
//! published to the output store, then the earlier run's stale files removed
//! ([`stale_files`]), and the [`Manifest`] written last: a manifest means the object's tables
//! are complete. The [`ObjectReport`] says what happened, with counts that add up; an
//! [`Error`] says whether a retry may help ([`Error::is_retryable`]).
//!
//! [`compact`] merges each closed hour's files of a table into one, keeping the sources aside
//! and named in the hour's [`Compaction`] manifest; an object processed again replaces its
//! rows there too.
#![deny(missing_docs)]

mod batch;
mod commit;
mod compact;
mod elb;
mod key_layout;
mod lock;
mod manifest;
mod object;

pub use batch::Batch;
pub use compact::{
    CompactOptions, CompactReport, CompactedObject, Compaction, HourCompacted, KeptFile, LeftFile,
    Step, compact,
};
pub use key_layout::is_log_file_name;
pub use manifest::{Manifest, Records, stale_files};
pub use object::{ObjectRef, process_object};

use elb::process_elb;
use flowatlas_store::Store;
use flowatlas_store::layout::{hour_of, location_from_key, part_name, source_id};

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::AddAssign;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use flowatlas_flowlog::{Counts, Entry, LogStatus, Options, Reader, Reject};
use flowatlas_geo::{Enricher, PeerFinder, PeerKind, PeerRules};
use flowatlas_rollup::{
    CityNetworkRow, PerformanceRollup, PrefixRow, Rollup, RollupConfig, RttSource,
};
use flowatlas_tables::{
    FLOWS, FlowsWriter, PartitionTime, Table, TemporaryFile, WrittenFile, city_network_performance,
    city_networks, client_prefixes, prefix_performance, write_partitioned,
};
use parquet::file::reader::ChunkReader;

/// How objects are processed.
#[derive(Clone)]
pub struct Config {
    /// How to read the logs.
    pub read: Options,
    /// Which addresses are local or AWS.
    pub rules: PeerRules,
    /// Prefix lengths and default service location.
    pub rollup: RollupConfig,
    /// The output folder.
    pub out_dir: PathBuf,
    /// Which tables to write.
    pub tables: Tables,
}

/// Which tables to write. The manifest is always written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tables {
    /// `city_networks`: traffic per window, service location and client city-network.
    pub city_networks: bool,
    /// `client_prefixes`: traffic per window, service location and client prefix.
    pub client_prefixes: bool,
    /// `flows`: every OK record, enriched (large: opt-in).
    pub flows: bool,
}

impl Default for Tables {
    fn default() -> Tables {
        Tables {
            city_networks: true,
            client_prefixes: true,
            flows: false,
        }
    }
}

/// Why an object could not be processed. Bad records are not errors; they are counted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object could not be opened or read.
    #[error("{object}: {source}")]
    Read {
        /// Key or path of the object, for the message.
        object: String,
        /// What the reader said.
        source: flowatlas_flowlog::Error,
    },
    /// A load-balancer log could not be opened or read.
    #[error("{object}: {source}")]
    ReadElb {
        /// The object's path or `s3://` URL.
        object: String,
        /// What the reader said.
        source: flowatlas_elblog::Error,
    },
    /// A file of a log layout flowatlas knows but does not read (an ALB access log, say).
    #[error("{object}: {what}: not read")]
    NotRead {
        /// The object's path or `s3://` URL.
        object: String,
        /// What kind of log its key names.
        what: &'static str,
    },
    /// The tables could not be written.
    #[error("{object}: {source}")]
    Write {
        /// Key or path of the object whose tables failed.
        object: String,
        /// What the writer said.
        source: flowatlas_tables::WriteError,
    },
    /// The manifest or rejects could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The store failed: the object could not be fetched, or an output published.
    #[error(transparent)]
    Store(flowatlas_store::Error),
    /// An agent's `tcp_stats` object that is not Parquet.
    #[error("{object}: an agent's tcp_stats object must be Parquet")]
    NotParquet {
        /// The object's path or `s3://` URL.
        object: String,
    },
    /// Another compaction of the output holds its lease (S3), so the hours an object processed
    /// again must be compacted again wait: its files and manifest are in place; a retry
    /// compacts them.
    #[error("{output}: another compaction holds the output's lease until {until}; try again then")]
    CompactionBusy {
        /// The lease object's `s3://` URL.
        output: String,
        /// When the lease expires unless renewed (ISO 8601, UTC).
        until: String,
    },
    /// Processing panicked (a bug); the object's outputs are not committed.
    #[error("{object}: processing panicked")]
    Panicked {
        /// The object's path or `s3://` URL.
        object: String,
    },
}

impl Error {
    /// True when the output could not be written: then every other object would fail the same
    /// way, and a run should stop with this one error rather than report it per object.
    pub fn is_output(&self) -> bool {
        matches!(self, Error::Write { .. } | Error::Io { .. })
    }

    /// True when the object holds no log flowatlas reads (no flow log: no header and not the
    /// default format; or a load-balancer log that carries no client timing): it is passed
    /// over, never retried.
    pub fn is_not_a_log(&self) -> bool {
        match self {
            Error::Read { source, .. } => matches!(
                source,
                flowatlas_flowlog::Error::FormatUndetermined { .. }
                    | flowatlas_flowlog::Error::NotFlowLogText { .. }
            ),
            Error::NotRead { .. } => true,
            _ => false,
        }
    }

    /// True when another try may succeed: everything but content that is no log. A read that
    /// failed half-way (a dropped connection, a deadline, a truncated download) looks like a
    /// damaged object from here, so it is retried too, as a Lambda retry or an SQS redelivery
    /// or backfill's next attempt; an object that is really damaged fails every try alike.
    pub fn is_retryable(&self) -> bool {
        !self.is_not_a_log()
    }
}

/// An error and its causes as one line, `outer: inner: root`, each cause said once. Most errors
/// of these crates already end with their source's words, so printing every link of the chain
/// (anyhow's `{:#}`) said the same cause twice ("EOF while parsing…: EOF while parsing…").
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let words = inner.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        cause = inner.source();
    }
    text
}

/// What processing objects did. Reports of several objects add up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectReport {
    /// Objects processed.
    pub n_objects: u64,
    /// Their sizes as stored (compressed), where known.
    pub object_bytes: u64,
    /// Records read, ok, skipped, rejected, and bytes decoded.
    pub counts: Counts,
    /// Rows written per table.
    pub rows: BTreeMap<&'static str, u64>,
    /// Files written (relative to the output folder).
    pub files: Vec<PathBuf>,
    /// OK records per peer kind.
    pub peers: BTreeMap<&'static str, u64>,
    /// `bytes` of OK records.
    pub ok_bytes: i64,
    /// Bytes of OK records that are in no row (non-internet peers, no time), by kind.
    pub other_bytes: BTreeMap<&'static str, i64>,
    /// OK records the `flows` table could not hold for want of `start` and `end`.
    pub flows_without_time: u64,
    /// The first rejects (at most [`FIRST_REJECTS_KEPT`]) as `object: line N: ...`, for a
    /// run to show; `_rejects/` has them all.
    pub first_rejects: Vec<String>,
}

/// Rejects a report keeps as text, across the objects it sums.
pub const FIRST_REJECTS_KEPT: usize = 10;

impl AddAssign<&ObjectReport> for ObjectReport {
    fn add_assign(&mut self, other: &ObjectReport) {
        self.n_objects += other.n_objects;
        self.object_bytes += other.object_bytes;
        self.counts += other.counts;
        for (table, rows) in &other.rows {
            *self.rows.entry(table).or_default() += rows;
        }
        self.files.extend(other.files.iter().cloned());
        let room = FIRST_REJECTS_KEPT.saturating_sub(self.first_rejects.len());
        self.first_rejects
            .extend(other.first_rejects.iter().take(room).cloned());
        for (kind, count) in &other.peers {
            *self.peers.entry(kind).or_default() += count;
        }
        self.ok_bytes = self.ok_bytes.saturating_add(other.ok_bytes);
        self.flows_without_time += other.flows_without_time;
        add_bytes(&mut self.other_bytes, &other.other_bytes);
    }
}

/// Adds byte counts by kind, saturating at `i64::MAX` (a sum that reached it means "at least").
fn add_bytes<'a>(
    totals: &mut BTreeMap<&'static str, i64>,
    more: impl IntoIterator<Item = (&'a &'static str, &'a i64)>,
) {
    for (&kind, &bytes) in more {
        let total = totals.entry(kind).or_default();
        *total = total.saturating_add(bytes);
    }
}

/// Where an object came from.
#[derive(Clone, Debug)]
pub struct Source {
    /// How messages name it: a path or `s3://bucket/key`.
    pub name: String,
    /// The path or key whose layout may tell the account and Region (AWS's S3 key layouts).
    pub key: String,
    /// The name its outputs carry ([`source_id`]): the same object always maps to the same
    /// outputs, so processing it again replaces them.
    pub id: String,
    /// The object's ETag, when it has one (S3), recorded in the manifest.
    pub etag: Option<String>,
    /// The object's size in bytes, when known, recorded in the manifest.
    pub size: Option<u64>,
    /// When the object was delivered (file modified, S3 `LastModified`), Unix seconds: its
    /// records cannot be much younger ([`read_options`]).
    pub delivered_at: Option<i64>,
}

impl Source {
    /// A local file, named after its canonical path.
    pub fn of_path(path: &Path) -> Source {
        let absolute = canonical_path(path);
        let meta = std::fs::metadata(path).ok();
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        Source {
            name: path.display().to_string(),
            key: path.to_string_lossy().into_owned(),
            // The raw bytes, not a lossy text form: two names that differ only in bytes that
            // are not UTF-8 are two objects and must never share outputs.
            id: source_id(&file_name, absolute.as_os_str().as_encoded_bytes()),
            etag: None,
            size: meta.as_ref().map(std::fs::Metadata::len),
            delivered_at: meta
                .and_then(|meta| meta.modified().ok())
                .and_then(|modified| modified.duration_since(UNIX_EPOCH).ok())
                .and_then(|since| i64::try_from(since.as_secs()).ok()),
        }
    }

    /// How to read this object: `base`, with times more than a day after its delivery out of
    /// range ([`read_options`]).
    pub fn read_options(&self, base: &Options) -> Options {
        read_options(base, self.delivered_at)
    }

    /// An S3 object, named after its bucket and key, so that every run that reads it (the
    /// Lambda, backfill) writes the same outputs.
    pub fn of_s3_object(
        bucket: &str,
        key: &str,
        etag: Option<String>,
        size: Option<u64>,
    ) -> Source {
        Source::named(format!("s3://{bucket}/{key}"), key, etag, size)
    }

    /// An object of a store, named as the store names it (`s3://bucket/key`), with what the
    /// store said about it.
    pub fn of_stored(store: &dyn Store, key: &str, info: &flowatlas_store::ObjectInfo) -> Source {
        Source {
            delivered_at: info.last_modified_ms.map(|ms| ms.div_euclid(1000)),
            ..Source::named(store.name(key), key, info.etag.clone(), Some(info.size))
        }
    }

    fn named(name: String, key: &str, etag: Option<String>, size: Option<u64>) -> Source {
        let file_name = key.rsplit('/').next().unwrap_or(key);
        Source {
            id: source_id(file_name, name.as_bytes()),
            name,
            key: key.to_owned(),
            etag,
            size,
            delivered_at: None,
        }
    }
}

/// The path with every symbolic link resolved (the path itself when it cannot be). A run reads
/// many objects of one folder in turn, and resolving every folder of every path again cost
/// a system call per folder per object; the last folder resolved is remembered per thread.
pub fn canonical_path(path: &Path) -> PathBuf {
    thread_local! {
        static LAST_FOLDER: std::cell::RefCell<Option<(PathBuf, PathBuf)>> =
            const { std::cell::RefCell::new(None) };
    }
    let resolve = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
        return resolve(path);
    };
    let is_link = std::fs::symlink_metadata(path).map_or(true, |meta| meta.is_symlink());
    if is_link || folder.as_os_str().is_empty() {
        return resolve(path);
    }
    LAST_FOLDER.with_borrow_mut(|last| match last {
        Some((seen, resolved)) if seen == folder => resolved.join(name),
        _ => {
            let resolved = resolve(folder);
            let canonical = resolved.join(name);
            *last = Some((folder.to_path_buf(), resolved));
            canonical
        }
    })
}

/// Flow-log records are delivered within minutes of their window; a day is slack enough for
/// any delay and clock skew.
const LATEST_AFTER_DELIVERY: i64 = 86_400;

/// `base`, with times later than a day after `delivered_at` (Unix seconds) out of range, or a
/// day after the run's clock when the delivery time is unknown or implausible (before any flow
/// log: a file with a reset modification time). A time far from its object's (`start` = 0, the
/// year 2100) would otherwise make partitions no engine can read.
pub fn read_options(base: &Options, delivered_at: Option<i64>) -> Options {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        });
    let delivered = delivered_at
        .filter(|&delivered| delivered >= flowatlas_flowlog::EARLIEST_TIME)
        .unwrap_or(now);
    Options {
        latest_time: Some(delivered.saturating_add(LATEST_AFTER_DELIVERY)),
        ..base.clone()
    }
}

/// An agent's `tcp_stats` object (a local file, or an S3 object read in ranges) into
/// `city_network_performance` and `prefix_performance`: each client prefix is enriched by its
/// network address (the agent sends no address), and the object's rows are merged per window,
/// service location and city-network or prefix. Percentile columns are therefore per object
/// (one host's window); merging the histogram buckets of several rows gives fleet-wide
/// percentiles exactly. Like a flow-log object: files an earlier run of the same source wrote
/// and this one did not are removed, and the manifest is written last.
fn process_tcp_stats<R: ChunkReader + 'static>(
    object: R,
    source: &Source,
    config: &Config,
    store: &dyn Store,
    enricher: Option<&mut Enricher>,
) -> Result<ObjectReport, Error> {
    let write_error = |error| Error::Write {
        object: source.name.clone(),
        source: error,
    };
    let mut performance = PerformanceRollup::new(RttSource::TcpSrtt);
    let mut enricher = enricher;
    let mut ok_bytes: i64 = 0;
    let read = flowatlas_tables::for_each_tcp_stats_row(object, Path::new(&source.name), |row| {
        let enrichment = enricher
            .as_deref_mut()
            .map(|enricher| enricher.enrich(row.client_prefix.network()));
        ok_bytes = ok_bytes
            .saturating_add(row.measures.bytes_in)
            .saturating_add(row.measures.bytes_out);
        performance.add(row, enrichment.as_deref());
    })
    .map_err(write_error)?;
    let mut counts = Counts {
        read: read.n_rows,
        ok: read.n_rows - read.n_unreadable,
        rejected: read.n_unreadable,
        ..Counts::default()
    };
    counts.rejected_by_reason[flowatlas_flowlog::Reason::InvalidAddress as usize] =
        read.n_unreadable;
    let mut report = ObjectReport {
        n_objects: 1,
        object_bytes: source.size.unwrap_or(0),
        counts,
        ok_bytes,
        ..ObjectReport::default()
    };
    if read.n_unreadable > 0 {
        report.first_rejects.push(format!(
            "{}: {} rows: field `client_prefix`: {}",
            source.name,
            read.n_unreadable,
            flowatlas_flowlog::Reason::InvalidAddress.name()
        ));
    }
    write_performance(performance, source, config, &mut report).map_err(write_error)?;
    commit::commit_object(config, store, source, &report)?;
    Ok(report)
}

/// Writes a performance rollup's rows to `city_network_performance` and `prefix_performance`
/// under the source's name, and adds the rows and files to `report`.
fn write_performance(
    performance: PerformanceRollup,
    source: &Source,
    config: &Config,
    report: &mut ObjectReport,
) -> Result<(), flowatlas_tables::WriteError> {
    let (city_rows, prefix_rows) = performance.finish();
    let city_table = city_network_performance();
    let prefix_table = prefix_performance();
    for (table, written) in [
        (
            city_table.name,
            write_partitioned(&city_table, &city_rows, &config.out_dir, &source.id),
        ),
        (
            prefix_table.name,
            write_partitioned(&prefix_table, &prefix_rows, &config.out_dir, &source.id),
        ),
    ] {
        let written = written?;
        *report.rows.entry(table).or_default() += written.iter().map(|file| file.rows).sum::<u64>();
        report
            .files
            .extend(written.into_iter().map(|file| file.path));
    }
    Ok(())
}

/// An object read to its end: its report so far, the rollup rows not yet written, and its
/// own files being written (rollup parts written when the budget was reached, `flows`,
/// rejects).
struct ReadObject<'c> {
    object: &'c str,
    report: ObjectReport,
    rollup_files: RollupFiles<'c>,
    city_rows: Vec<CityNetworkRow>,
    prefix_rows: Vec<PrefixRow>,
    flows: Option<FlowsWriter>,
    rejects: RejectsFile,
}

impl ReadObject<'_> {
    fn write_error(&self) -> impl Fn(flowatlas_tables::WriteError) -> Error + '_ {
        |source| Error::Write {
            object: self.object.to_owned(),
            source,
        }
    }

    fn take_rows(&mut self) -> (Vec<CityNetworkRow>, Vec<PrefixRow>) {
        (
            std::mem::take(&mut self.city_rows),
            std::mem::take(&mut self.prefix_rows),
        )
    }

    /// How many hour partitions the rows still held fall in, counted up to `limit`.
    fn hours(&self, limit: usize) -> usize {
        let times = (self.city_rows.iter().map(PartitionTime::partition_time))
            .chain(self.prefix_rows.iter().map(PartitionTime::partition_time));
        let mut hours: Vec<i64> = Vec::new();
        for hour in times.map(hour_of) {
            // Rows are sorted by window, so a repeat is almost always the last hour seen.
            if hours.last() != Some(&hour) && !hours.contains(&hour) {
                hours.push(hour);
                if hours.len() >= limit {
                    break;
                }
            }
        }
        hours.len()
    }

    /// Writes the rows still held as the object's own last part, puts its files in place and
    /// commits it (manifest last).
    fn commit_alone(
        mut self,
        config: &Config,
        store: &dyn Store,
        source: &Source,
    ) -> Result<ObjectReport, Error> {
        let (city_rows, prefix_rows) = self.take_rows();
        self.rollup_files
            .write(&city_rows, &prefix_rows)
            .map_err(self.write_error())?;
        drop((city_rows, prefix_rows));
        let report = self.finish()?;
        commit::commit_object(config, store, source, &report)?;
        Ok(report)
    }

    /// Puts the object's own files in place and lists them in its report.
    fn finish(self) -> Result<ObjectReport, Error> {
        let object = self.object;
        let (report, unpublished) = self.close()?;
        for (temporary, _) in unpublished {
            let path = temporary.target().to_path_buf();
            temporary.persist().map_err(|source| Error::Write {
                object: object.to_owned(),
                source: flowatlas_tables::WriteError::Io { path, source },
            })?;
        }
        Ok(report)
    }

    /// Closes the object's own files and lists them in its report. Its `flows` files are
    /// returned still under their temporary names, with where they go (relative to the output),
    /// for a batch to put in place with its own files: put in place at once, they were seen
    /// by readers before the object's rollup rows, and stayed, uncommitted, when the batch
    /// failed.
    fn close(self) -> Result<(ObjectReport, Vec<(TemporaryFile, PathBuf)>), Error> {
        let write_error = |source| Error::Write {
            object: self.object.to_owned(),
            source,
        };
        let mut report = self.report;
        let mut unpublished = Vec::new();
        let mut written: Vec<(&'static str, Vec<WrittenFile>)> = Vec::new();
        if let Some(flows) = self.flows {
            report.flows_without_time = flows.without_time();
            let mut files = Vec::new();
            for (temporary, file) in flows.close().map_err(write_error)? {
                if let Some(temporary) = temporary {
                    unpublished.push((temporary, file.path.clone()));
                }
                files.push(file);
            }
            written.push((FLOWS, files));
        }
        written.extend(self.rollup_files.finish());
        for (table, files) in &written {
            let rows: u64 = files.iter().map(|file| file.rows).sum();
            report.rows.insert(table, rows);
            report
                .files
                .extend(files.iter().map(|file| file.path.clone()));
        }
        if let Some(rejects_file) = self.rejects.finish()? {
            report.files.push(rejects_file);
        }
        Ok((report, unpublished))
    }
}

/// Reads one object through every stage: rejects and `flows` are streamed to their files, and
/// rollup rows are written as parts whenever the rollup's budget is reached; the rows held at
/// the end are returned unwritten.
fn read_object<'c>(
    mut reader: Reader,
    source: &'c Source,
    config: &'c Config,
    enricher: Option<&mut Enricher>,
    rollup: &mut Rollup,
) -> Result<ReadObject<'c>, Error> {
    let object = source.name.as_str();
    let source_id = source.id.as_str();
    let read_error = |source| Error::Read {
        object: object.to_owned(),
        source,
    };
    let mut finder = PeerFinder::new(&config.rules);
    // Where records do not say, the S3 key layout does, before the user's flags.
    let mut rollup_config = config.rollup.clone();
    let from_key = location_from_key(&source.key);
    if let Some(account_id) = from_key.account_id {
        rollup_config.default_location.account_id = Some(account_id.into());
    }
    if let Some(region) = from_key.region {
        rollup_config.default_location.region = Some(region.into());
    }
    rollup.restart(rollup_config);
    let mut enricher = enricher;
    let mut report = ObjectReport {
        n_objects: 1,
        object_bytes: source.size.unwrap_or(0),
        ..ObjectReport::default()
    };
    let mut rejects = RejectsFile::new(&config.out_dir, source_id);
    let mut rollup_files = RollupFiles::new(config, source_id);
    let mut flows = config
        .tables
        .flows
        .then(|| FlowsWriter::new(&config.out_dir, source_id));
    let write_error = |source| Error::Write {
        object: object.to_owned(),
        source,
    };
    while let Some(entry) = reader.next_entry().map_err(read_error)? {
        let record = match entry {
            Entry::Record(record) => record,
            Entry::Reject(reject) => {
                rejects.write(object, reject)?;
                if report.first_rejects.len() < FIRST_REJECTS_KEPT {
                    report.first_rejects.push(format!("{object}: {reject}"));
                }
                continue;
            }
        };
        if record.status() != LogStatus::Ok {
            continue;
        }
        report.ok_bytes = report
            .ok_bytes
            .saturating_add(record.int(flowatlas_flowlog::Field::Bytes).unwrap_or(0));
        let peer = finder.find(&record);
        if let Some(flows) = flows.as_mut() {
            let enrichment = enricher
                .as_deref_mut()
                .and_then(|enricher| enricher.enrich_peer(&peer));
            flows
                .append(&record, &peer, enrichment.as_ref())
                .map_err(write_error)?;
        }
        rollup.add(&record, &peer);
        if rollup.is_full() {
            let (city_rows, prefix_rows) = rollup.take_rows(enricher.as_deref_mut());
            rollup_files
                .write(&city_rows, &prefix_rows)
                .map_err(write_error)?;
        }
    }
    report.counts = reader.counts();
    // The finder counts peers as it goes; a map keyed by name per record showed in profiles.
    for kind in PeerKind::ALL {
        let found = finder.count(kind);
        if found > 0 {
            report.peers.insert(kind.name(), found);
        }
    }

    let (city_rows, prefix_rows) = rollup.take_rows(enricher);
    let summary = rollup.summary();
    add_bytes(&mut report.other_bytes, &summary.other_bytes);
    if summary.unwindowed_bytes > 0 {
        add_bytes(
            &mut report.other_bytes,
            [(&"unwindowed", &summary.unwindowed_bytes)],
        );
    }
    Ok(ReadObject {
        object,
        report,
        rollup_files,
        city_rows,
        prefix_rows,
        flows,
        rejects,
    })
}

/// The rollup's tables of one object, written part by part: the rows held when the rollup's
/// budget is reached (an object with millions of distinct client prefixes), then the rest. Part
/// 0 is `<source-id>.parquet`, part N `<source-id>.partN.parquet`; rows of one key in several
/// parts add up.
struct RollupFiles<'c> {
    config: &'c Config,
    source_id: &'c str,
    city_table: Option<Table<CityNetworkRow>>,
    prefix_table: Option<Table<PrefixRow>>,
    parts: usize,
    city_files: Vec<WrittenFile>,
    prefix_files: Vec<WrittenFile>,
}

impl<'c> RollupFiles<'c> {
    fn new(config: &'c Config, source_id: &'c str) -> RollupFiles<'c> {
        RollupFiles {
            config,
            source_id,
            city_table: config.tables.city_networks.then(city_networks),
            prefix_table: config.tables.client_prefixes.then(client_prefixes),
            parts: 0,
            city_files: Vec::new(),
            prefix_files: Vec::new(),
        }
    }

    fn write(
        &mut self,
        city_rows: &[CityNetworkRow],
        prefix_rows: &[PrefixRow],
    ) -> Result<(), flowatlas_tables::WriteError> {
        let name = part_name(self.source_id, self.parts);
        self.parts += 1;
        let out_dir = &self.config.out_dir;
        if let Some(table) = &self.city_table {
            self.city_files
                .extend(write_partitioned(table, city_rows, out_dir, &name)?);
        }
        if let Some(table) = &self.prefix_table {
            self.prefix_files
                .extend(write_partitioned(table, prefix_rows, out_dir, &name)?);
        }
        Ok(())
    }

    fn finish(self) -> Vec<(&'static str, Vec<WrittenFile>)> {
        let mut written = Vec::new();
        if let Some(table) = self.city_table {
            written.push((table.name, self.city_files));
        }
        if let Some(table) = self.prefix_table {
            written.push((table.name, self.prefix_files));
        }
        written
    }
}

/// A name no other batch or compaction has: the time, the process and a counter within it.
fn unique_id() -> String {
    static IDS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!(
        "{nanos:x}-{}-{}",
        std::process::id(),
        IDS.fetch_add(1, Ordering::Relaxed)
    )
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A rejected record as one JSON object: the shape of `_rejects/*.jsonl` and `--rejects`.
pub fn reject_json(object: &str, reject: &Reject) -> serde_json::Value {
    reject_value(
        object,
        reject.line,
        reject.field.map(|field| field.aws_name()),
        reject.reason,
        &reject.value,
        &reject.detail,
        &reject.text,
    )
}

/// A rejected line of any log as one JSON object, the one shape of `_rejects/*.jsonl`.
fn reject_value(
    object: &str,
    line: u64,
    field: Option<&str>,
    reason: flowatlas_flowlog::Reason,
    value: &str,
    detail: &str,
    text: &str,
) -> serde_json::Value {
    serde_json::json!({
        "object": object,
        "line": line,
        "field": field,
        "reason": reason.name(),
        "value": value,
        "detail": detail,
        "text": text,
    })
}

/// Rejects of one object, streamed to `_rejects/<source-id>.jsonl` as they come, so a bad
/// object costs no memory; the file is created at the first reject, under a temporary name
/// put in place when the object is done, like every output.
struct RejectsFile {
    relative: PathBuf,
    path: PathBuf,
    out: Option<(TemporaryFile, BufWriter<File>)>,
}

impl RejectsFile {
    fn new(out_dir: &Path, source_id: &str) -> RejectsFile {
        let relative = PathBuf::from(flowatlas_store::layout::rejects_key(source_id));
        RejectsFile {
            path: out_dir.join(&relative),
            relative,
            out: None,
        }
    }

    fn write(&mut self, object: &str, reject: &Reject) -> Result<(), Error> {
        self.write_value(reject_json(object, reject))
    }

    fn write_value(&mut self, reject: serde_json::Value) -> Result<(), Error> {
        let (_, out) = match &mut self.out {
            Some(out) => out,
            None => {
                let folder = self.path.parent().unwrap_or(Path::new("."));
                std::fs::create_dir_all(folder).map_err(io_error(folder))?;
                let (temporary, file) =
                    TemporaryFile::create(&self.path).map_err(io_error(&self.path))?;
                self.out.insert((temporary, BufWriter::new(file)))
            }
        };
        writeln!(out, "{reject}").map_err(io_error(&self.path))
    }

    /// Puts the rejects in place; returns the file's path relative to the output, if any was
    /// written.
    fn finish(self) -> Result<Option<PathBuf>, Error> {
        match self.out {
            Some((temporary, mut out)) => {
                out.flush().map_err(io_error(&self.path))?;
                drop(out);
                temporary.persist().map_err(io_error(&self.path))?;
                Ok(Some(self.relative))
            }
            // A re-run that no longer rejects anything must not leave the old rejects behind.
            None => match std::fs::remove_file(&self.path) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    Err(io_error(&self.path)(error))
                }
                _ => Ok(None),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembering the last folder resolved names every file as resolving the whole path
    /// does: through a linked folder, a linked file, a dangling link, a missing file, and
    /// a path that climbs out of a folder and back.
    #[test]
    fn canonical_paths_match_resolving_every_folder() {
        let root = std::env::temp_dir().join(format!("flowatlas-canonical-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (real, other) = (root.join("real"), root.join("other"));
        std::fs::create_dir_all(&real).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(real.join("a.log.gz"), b"a").unwrap();
        std::fs::write(real.join("b.log.gz"), b"b").unwrap();
        std::fs::write(other.join("c.log.gz"), b"c").unwrap();
        std::os::unix::fs::symlink(&real, root.join("linked")).unwrap();
        std::os::unix::fs::symlink(other.join("c.log.gz"), real.join("to-c.log.gz")).unwrap();
        std::os::unix::fs::symlink(root.join("gone"), real.join("dangling.log.gz")).unwrap();
        let paths = [
            root.join("linked/a.log.gz"),
            root.join("linked/b.log.gz"),
            root.join("linked/to-c.log.gz"),
            root.join("linked/dangling.log.gz"),
            root.join("linked/missing.log.gz"),
            root.join("real/../linked/a.log.gz"),
            real.join("a.log.gz"),
            other.join("c.log.gz"),
        ];
        for path in &paths {
            let whole = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            assert_eq!(canonical_path(path), whole, "{}", path.display());
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
