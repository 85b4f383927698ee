//! Small objects written together. A run over many small objects (a small VPC delivers a few
//! hundred records every five minutes) spent most of its time creating files: one per table
//! and hour per object. A [`Batch`] holds the rollup rows of the objects one worker processes
//! and writes them as one file per table and hour partition (`batch-<id>.parquet`), whose
//! Parquet metadata names each object's rows ([`flowatlas_tables::SOURCES_KEY`]); each object's
//! manifest lists the batch files holding its rows. Processing an object again takes exactly
//! its rows out of those files (`commit`), so exactly-once holds as with files of its own.
//!
//! Objects too large for the row budget (their rollup wrote parts) keep files of their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use flowatlas_flowlog::Reader;
use flowatlas_geo::Enricher;
use flowatlas_rollup::{CityNetworkRow, PrefixRow, Rollup};
use flowatlas_store::layout::batch_file_stem;
use flowatlas_tables::{
    BatchBuilder, FileSource, OwnedRows, PartitionTime, Rows, Table, TemporaryFile, city_networks,
    client_prefixes, hour_of, partition_of_hour, write_built_file,
};

use flowatlas_store::LocalStore;

use crate::commit::{Journal, publish_batch};
use crate::object::{ObjectRef, Opened, open_object};
use crate::{Config, Error, Manifest, ObjectReport, Source, read_object, unique_id};

/// The objects a worker has read whose rollup rows wait to be written together. Dropping a
/// batch without [`Batch::flush`] loses those objects' outputs (none of them has a manifest,
/// so a later run processes them again).
pub struct Batch<'c> {
    config: &'c Config,
    store: LocalStore,
    city: Option<HourRows<CityNetworkRow>>,
    prefix: Option<HourRows<PrefixRow>>,
    pending: Vec<Pending>,
    /// One rollup for every object the worker reads, restarted for each: what outlives an
    /// object (city-network numbering, maps' room) is not built again per small object.
    rollup: Rollup,
    held_rows: usize,
    max_rows: usize,
}

/// An object read into the batch, waiting for it to be written.
struct Pending {
    source: Source,
    report: ObjectReport,
    /// The object's own files (`flows`) under their temporary names, with where they go
    /// (relative to the output): put in place with the batch's files.
    unpublished: Vec<(TemporaryFile, PathBuf)>,
}

/// Hour partitions a batch holds, per table. Each is a set of Arrow builders of a few KiB before
/// its first rows: an object whose clock scattered its rows over 4,166 hours took 3.4 GB held
/// that way. An object spread over more hours is written alone, its rows held as rows.
const MAX_HOURS: usize = 64;

/// The `city_networks` table every batch appends to, made once.
static CITY_NETWORKS: LazyLock<Table<CityNetworkRow>> = LazyLock::new(city_networks);
/// The `client_prefixes` table every batch appends to, made once.
static CLIENT_PREFIXES: LazyLock<Table<PrefixRow>> = LazyLock::new(client_prefixes);

/// Rows of one table by hour partition, appended to Arrow builders as each object's rows
/// come, with the objects they came from in row order. Held as rows until the batch was
/// written, they were copied once more into growing vectors, whose new pages were a third
/// of a small-object run's page faults (its peak RSS was 82 MiB, 69 MiB held as columns).
struct HourRows<R: Rows + 'static> {
    table: &'static Table<R>,
    hours: BTreeMap<i64, (BatchBuilder<'static, R>, Vec<FileSource>)>,
}

impl<R: PartitionTime + OwnedRows> HourRows<R> {
    fn new(table: &'static Table<R>) -> HourRows<R> {
        HourRows {
            table,
            hours: BTreeMap::new(),
        }
    }

    fn add(&mut self, source_id: &str, rows: &[R]) {
        for row in rows {
            let hour = hour_of(row.partition_time());
            let (builder, sources) = self
                .hours
                .entry(hour)
                // Builders start empty and grow with their rows: room made ahead for every
                // hour cost gigabytes for an object whose clock scattered it over thousands of
                // hours.
                .or_insert_with(|| (BatchBuilder::new(self.table, 0), Vec::new()));
            builder.append(row);
            match sources.last_mut() {
                Some(last) if last.source_id == source_id => last.rows += 1,
                _ => sources.push(FileSource {
                    source_id: source_id.to_owned(),
                    rows: 1,
                }),
            }
        }
    }

    /// Writes each hour's rows as a temporary file; returns the files with their final paths
    /// (relative to the output) and the objects each holds.
    fn write(
        &mut self,
        out_dir: &Path,
        stem: &str,
    ) -> Result<Vec<(TemporaryFile, PathBuf, Vec<FileSource>)>, flowatlas_tables::WriteError> {
        let mut files = Vec::new();
        for (hour, (mut builder, sources)) in std::mem::take(&mut self.hours) {
            let relative = Path::new(self.table.name)
                .join(partition_of_hour(hour))
                .join(format!("{stem}.parquet"));
            let temporary =
                write_built_file(&mut builder, &out_dir.join(&relative), Some(&sources))?;
            files.push((temporary, relative, sources));
        }
        Ok(files)
    }
}

impl<'c> Batch<'c> {
    /// An empty batch writing under `config.out_dir`, written whenever it holds `max_rows`
    /// rollup rows (`flowatlas_rollup::DEFAULT_ROW_BUDGET` bounds memory as the rollup's budget
    /// does).
    pub fn new(config: &'c Config, max_rows: usize) -> Batch<'c> {
        Batch {
            config,
            store: LocalStore::new(&config.out_dir),
            city: config
                .tables
                .city_networks
                .then(|| HourRows::new(&CITY_NETWORKS)),
            prefix: config
                .tables
                .client_prefixes
                .then(|| HourRows::new(&CLIENT_PREFIXES)),
            pending: Vec::new(),
            rollup: Rollup::new(config.rollup.clone()),
            held_rows: 0,
            max_rows,
        }
    }

    /// Processes one object, opened as [`crate::process_object`] opens it: a flow log into
    /// the batch; agent and load-balancer objects are written alone. Returns the reports of the
    /// objects committed by this call: those of the batch when it had to be written to make
    /// room, and this object's when it was written alone.
    pub fn process_object(
        &mut self,
        object: ObjectRef<'_>,
        enricher: Option<&mut Enricher>,
    ) -> Result<Vec<ObjectReport>, Error> {
        let mut enricher = enricher;
        match open_object(object, self.config, &self.store, enricher.as_deref_mut())? {
            Opened::Done(report) => Ok(vec![report]),
            Opened::FlowLog(reader, source) => self.process_reader(*reader, source, enricher),
        }
    }

    fn process_reader(
        &mut self,
        reader: Reader,
        source: Source,
        enricher: Option<&mut Enricher>,
    ) -> Result<Vec<ObjectReport>, Error> {
        let mut committed = Vec::new();
        // The same object twice in one batch would hold its rows twice: the first is
        // committed, and the second then replaces it.
        if self.pending.iter().any(|held| held.source.id == source.id) {
            committed.extend(self.flush()?);
        }
        let config = self.config;
        let mut object = read_object(reader, &source, config, enricher, &mut self.rollup)?;
        let n_hours = object.hours(MAX_HOURS + 1);
        if object.rollup_files.parts > 0 || n_hours > MAX_HOURS {
            // Larger than the budget, or spread over more hours than a batch holds: its parts
            // are written, and so is the rest, as its own.
            committed.push(object.commit_alone(config, &self.store, &source)?);
            return Ok(committed);
        }
        let (city_rows, prefix_rows) = object.take_rows();
        let (mut report, unpublished) = object.close()?;
        let n_rows = city_rows.len() + prefix_rows.len();
        if self.held_rows > 0
            && (self.held_rows + n_rows > self.max_rows || self.held_hours() + n_hours > MAX_HOURS)
        {
            committed.extend(self.flush()?);
        }
        self.held_rows += n_rows;
        if let Some(rows) = &mut self.city {
            report.rows.insert(rows.table.name, city_rows.len() as u64);
            rows.add(&source.id, &city_rows);
        }
        if let Some(rows) = &mut self.prefix {
            report
                .rows
                .insert(rows.table.name, prefix_rows.len() as u64);
            rows.add(&source.id, &prefix_rows);
        }
        self.pending.push(Pending {
            source,
            report,
            unpublished,
        });
        Ok(committed)
    }

    /// The most hour partitions either table holds.
    fn held_hours(&self) -> usize {
        let city = self.city.as_ref().map_or(0, |rows| rows.hours.len());
        let prefix = self.prefix.as_ref().map_or(0, |rows| rows.hours.len());
        city.max(prefix)
    }

    /// Writes the held objects' rows, one file per table and hour, and commits every object
    /// (manifest last); returns their reports.
    pub fn flush(&mut self) -> Result<Vec<ObjectReport>, Error> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let batch_id = unique_id();
        let stem = batch_file_stem(&batch_id);
        let out_dir = &self.config.out_dir;
        let mut pending = std::mem::take(&mut self.pending);
        self.held_rows = 0;
        let write_error = |error| Error::Write {
            object: format!("batch {batch_id}"),
            source: error,
        };
        let mut written = Vec::new();
        if let Some(rows) = &mut self.city {
            written.extend(rows.write(out_dir, &stem).map_err(write_error)?);
        }
        if let Some(rows) = &mut self.prefix {
            written.extend(rows.write(out_dir, &stem).map_err(write_error)?);
        }
        let index: BTreeMap<String, usize> = pending
            .iter()
            .enumerate()
            .map(|(position, held)| (held.source.id.clone(), position))
            .collect();
        let mut files = Vec::new();
        for (temporary, relative, sources) in written {
            for file_source in sources {
                if let Some(&position) = index.get(&file_source.source_id) {
                    pending[position].report.files.push(relative.clone());
                }
            }
            files.push((temporary, relative));
        }
        // Each object's own files (`flows`) go in place with the batch's, under its journal.
        for held in &mut pending {
            files.append(&mut held.unpublished);
        }
        let manifests = pending
            .iter()
            .map(|held| Manifest::of(&held.source, &held.report))
            .collect();
        publish_batch(&self.store, &batch_id, Journal { files, manifests })?;
        Ok(pending.into_iter().map(|held| held.report).collect())
    }
}
