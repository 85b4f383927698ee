//! Compaction of closed hours. Processing writes a file per table, hour and object (or batch of
//! objects); Athena pays for every file it opens. [`compact`] merges each table's files of an
//! hour partition into one (`compacted-<id>.parquet`, rows of one key summed where the table's
//! measures add up: `flowatlas_tables::merge_files`), through any [`Store`]: a local folder or
//! S3.
//!
//! Exactly once stays true. The source files of a compacted hour are kept out of Athena's view
//! under `_compacted/<table>/dt=…/hour=…/`, and the hour's compaction manifest
//! ([`Compaction`], `_compaction.json` beside them) names each with the objects whose rows it
//! holds (source id and ETag, from their manifests). A file is folded in only when every object
//! it holds has a manifest listing it (a committed object); anything else is left in place. A
//! late object adds its own file beside the compacted one, folded in by the next run. An object
//! processed again replaces its contribution: its commit finds its source in the hour's
//! compaction and recompacts the hour from the kept files that its new manifest still lists
//! (its rows taken out of kept batch files), plus the new files.
//!
//! A compaction is a journal (`_compacted/_journals/<table>/dt=…/hour=….json`, written before
//! the compacted file is published) that the next run, or the next commit into that hour,
//! finishes (when the compacted file is in place) or drops (when it is not: nothing visible
//! changed). No store moves several objects at once: between the compacted file's publication
//! and the last source file's move, a reader can see both, for about as long as the moves take.
//! Local compactions take the output's lock (`_batches/.lock`) per hour, as commits do; S3
//! has no lock (see ARCHITECTURE.md for the worst case).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flowatlas_store::layout::{
    COMPACTED, COMPACTION_JOURNALS, TablePartition, compacted_file_name, is_batch_file,
    is_compacted_file, manifest_key, source_of_stem,
};
use flowatlas_store::lease::{self, Lease, LeaseBody, Taken};
use flowatlas_store::{Abandoned, Store, files_by_hour, read_json, table_days, write_json};
use flowatlas_tables::{COMPACTED_TABLES, file_sources, merge_files, remove_source_rows};

use crate::lock::OutputLock;
use crate::{Error, Manifest, io_error, unique_id};

/// What a compaction run covers.
#[derive(Clone, Debug)]
pub struct CompactOptions {
    /// Hours that end at or before this time (Unix seconds) are closed: compacted. Never the
    /// current hour: give now less the delivery delay.
    pub closed_by: i64,
    /// Hours that start before this time (Unix seconds) are left alone; `None`: every hour.
    pub from: Option<i64>,
    /// A folder for downloads and merged files, when the store is not a local folder.
    pub scratch: PathBuf,
    /// No hour is begun after this instant (a Lambda's deadline less its reserve, or a time
    /// limit a user gave): the hours not reached wait for the next run.
    pub stop_at: Option<std::time::Instant>,
}

/// A compacted hour's manifest: its compacted file and every source file it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Compaction {
    /// The compacted file's name in the partition.
    pub file: String,
    /// Rows read from the inputs of the last merge.
    pub rows_read: u64,
    /// Rows written to the compacted file.
    pub rows_written: u64,
    /// The source files it holds, kept under `_compacted/<table>/<partition>/`.
    pub sources: Vec<KeptFile>,
}

/// A source file of a compacted hour.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct KeptFile {
    /// Its name, in the partition as under `_compacted/`.
    pub name: String,
    /// The objects whose rows it holds (one, or a batch's).
    pub objects: Vec<CompactedObject>,
}

/// An object whose rows a compacted file holds, as its manifest named it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CompactedObject {
    /// A path or `s3://bucket/key`.
    pub source: String,
    /// The name its outputs carry.
    pub source_id: String,
    /// Its ETag when processed (S3).
    pub source_etag: Option<String>,
}

/// A compaction under way: what the next run finishes (or drops, when `next.file` was never
/// published).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Journal {
    /// The compaction manifest to write last.
    next: Compaction,
    /// Files of the partition to move under `_compacted/` (they are in `next.file`).
    retire: Vec<String>,
    /// Kept files to delete: no manifest lists them any more.
    drop: Vec<String>,
    /// The compacted file `next.file` replaces.
    replaced: Option<String>,
}

/// The steps of one hour's compaction, in order, for an observer (`flowatlas compact` logs
/// them; its crash tests stop the process at one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The merged file is written in the scratch folder; nothing in the store changed.
    Merged,
    /// The journal is written.
    Journaled,
    /// The compacted file is published beside its sources.
    Published,
    /// The n-th source file (from 1) is moved under `_compacted/`.
    Retired(usize),
    /// The compaction manifest is written; only the journal is left to delete.
    Recorded,
}

impl Step {
    /// The step's name: `merged`, `journaled`, `published`, `retired-N`, `recorded`.
    pub fn name(self) -> String {
        match self {
            Step::Merged => "merged".into(),
            Step::Journaled => "journaled".into(),
            Step::Published => "published".into(),
            Step::Retired(n) => format!("retired-{n}"),
            Step::Recorded => "recorded".into(),
        }
    }
}

/// One hour compacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourCompacted {
    /// Which table and hour.
    pub partition: TablePartition,
    /// The table's files in the partition before (Athena's view), and after.
    pub files_before: usize,
    /// ... after: the compacted file and what was left in place.
    pub files_after: usize,
    /// Rows merged, and written.
    pub rows_read: u64,
    /// Rows in the compacted file.
    pub rows_written: u64,
    /// Kept files no manifest lists any more (objects processed again), deleted.
    pub dropped: usize,
}

/// A file compaction left in place, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftFile {
    /// How messages name it: a path or `s3://bucket/key`.
    pub name: String,
    /// Why it was not folded in.
    pub reason: &'static str,
}

/// What a compaction run did.
#[derive(Debug, Default)]
pub struct CompactReport {
    /// Hours compacted.
    pub compacted: Vec<HourCompacted>,
    /// Hour partitions looked at that needed nothing (one file, or compacted already).
    pub n_unchanged: usize,
    /// Compactions a killed run left that this one finished or dropped.
    pub n_recovered: usize,
    /// Files left in place.
    pub left: Vec<LeftFile>,
    /// Hours that failed, each error naming its file; they are as they were.
    pub failed: Vec<Error>,
    /// Another compaction held the store's lease (S3), so this run stopped before the hours
    /// it did not reach: the lease's holder and when it expires unless renewed.
    pub busy: Option<LeaseBody>,
    /// Hours with work that the run did not begin because its time was up
    /// ([`CompactOptions::stop_at`]); the next run compacts them.
    pub n_deferred: usize,
    /// Temporary files that killed runs left anywhere in a local folder, removed
    /// ([`flowatlas_store::remove_abandoned`]).
    pub abandoned: Abandoned,
}

/// The lease compactions of a store without a lock (S3) share, so two never merge an hour
/// at once (two compacted files of one hour would count its rows twice).
fn lease_key() -> String {
    format!("{COMPACTED}/_lease.json")
}

/// How long a compaction's lease holds unless renewed: longer than a Lambda can live (15
/// minutes), so a Lambda holding an unexpired lease is still running. A compaction renews it
/// before every hour, so only a holder that died (or one hour merging for longer than this)
/// leaves it standing this long.
const LEASE_TTL_MS: i64 = 20 * 60 * 1_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Takes the store's compaction lease when it has no lock of its own (`Ok(None)` for a local
/// folder, whose lock is taken per hour); `Err(holder)` when another compaction holds it.
fn take_lease(store: &dyn Store) -> Result<Result<Option<Lease<'_>>, LeaseBody>, Error> {
    if store.local_root().is_some() {
        return Ok(Ok(None));
    }
    match lease::take(store, &lease_key(), &unique_id(), now_ms(), LEASE_TTL_MS)
        .map_err(Error::Store)?
    {
        Taken::Held(lease) => Ok(Ok(Some(lease))),
        Taken::Busy(holder) => Ok(Err(holder)),
    }
}

const NOT_PARQUET: &str = "not a Parquet file: no table's file";
const NOT_COMMITTED: &str =
    "no manifest lists it: an object still being processed, or a file flowatlas did not write";
const STRAY_COMPACTED: &str = "a compacted file its hour's compaction manifest does not name";

/// Compacts every closed hour partition of the tables processing writes
/// ([`COMPACTED_TABLES`]) in `store`: first finishing what killed runs left (and, in a local
/// folder, removing their abandoned temporary files anywhere in it), then hour by hour.
/// An hour that fails (an unreadable file) is reported and left as it was; the others go on.
pub fn compact(
    store: &dyn Store,
    options: &CompactOptions,
    on_step: &dyn Fn(&TablePartition, Step),
) -> Result<CompactReport, Error> {
    let ctx = Ctx::new(store, &options.scratch, on_step);
    let mut report = CompactReport::default();
    let mut lease = match take_lease(store)? {
        Ok(lease) => lease,
        Err(holder) => {
            report.busy = Some(holder);
            return Ok(report);
        }
    };
    if let Some(root) = store.local_root() {
        report.abandoned =
            flowatlas_store::remove_abandoned(root, SystemTime::now()).map_err(io_error(root))?;
    }
    let journals = store
        .list(&format!("{COMPACTED}/{COMPACTION_JOURNALS}/"))
        .map_err(Error::Store)?;
    for listed in journals {
        let Some(partition) = TablePartition::of_journal_key(&listed.key) else {
            continue;
        };
        let _lock = OutputLock::acquire(store)?;
        if ctx.recover(&partition)? {
            report.n_recovered += 1;
        }
    }
    for table in COMPACTED_TABLES {
        for (partition, names) in ctx.hours(table, options)? {
            if !may_need_work(&names) {
                report.n_unchanged += 1;
                continue;
            }
            if options
                .stop_at
                .is_some_and(|stop_at| std::time::Instant::now() >= stop_at)
            {
                report.n_deferred += 1;
                continue;
            }
            if let Some(lease) = &mut lease
                && !lease.renew(now_ms(), LEASE_TTL_MS).map_err(Error::Store)?
            {
                // It expired (a stalled run) and another compaction took it over.
                report.busy = store
                    .get(&lease_key())
                    .ok()
                    .flatten()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok());
                return Ok(report);
            }
            let _lock = OutputLock::acquire(store)?;
            match ctx.compact_hour(&partition, None) {
                Ok(outcome) => {
                    report.left.extend(outcome.left);
                    match outcome.compacted {
                        Some(compacted) => report.compacted.push(compacted),
                        None => report.n_unchanged += 1,
                    }
                }
                Err(error) => report.failed.push(error),
            }
        }
    }
    if let Some(lease) = lease {
        lease.release().map_err(Error::Store)?;
    }
    Ok(report)
}

/// Recompacts the hours of `manifest`'s object that hold its earlier rows (called by its
/// commit, the lock held, once its new manifest is written): each hour whose compaction names
/// the object is merged again from the kept files its manifest still lists and the new files.
pub(crate) fn recompact_for(
    store: &dyn Store,
    scratch: &Path,
    earlier: &Manifest,
    manifest: &Manifest,
) -> Result<(), Error> {
    let partitions: std::collections::BTreeSet<TablePartition> = earlier
        .files
        .iter()
        .chain(&manifest.files)
        .filter_map(|file| TablePartition::of_key(file))
        .map(|(partition, _)| partition)
        .filter(|partition| COMPACTED_TABLES.contains(&partition.table.as_str()))
        .collect();
    let no_steps = |_: &TablePartition, _: Step| {};
    let ctx = Ctx::new(store, scratch, &no_steps);
    let mut lease = None;
    for partition in partitions {
        let compaction: Option<Compaction> =
            read_json(store, &partition.compaction_key()).map_err(Error::Store)?;
        let holds_object = compaction.is_some_and(|compaction| {
            compaction
                .sources
                .iter()
                .flat_map(|kept| &kept.objects)
                .any(|object| object.source_id == manifest.source_id)
        });
        if holds_object || store_has(store, &partition.journal_key())? {
            if lease.is_none() {
                lease = match take_lease(store)? {
                    Ok(lease) => Some(lease),
                    Err(holder) => {
                        return Err(Error::CompactionBusy {
                            output: store.name(&lease_key()),
                            until: flowatlas_time::iso_time(holder.expires_at_ms.div_euclid(1_000)),
                        });
                    }
                };
            }
            ctx.compact_hour(&partition, Some(&manifest.source_id))?;
        }
    }
    if let Some(Some(lease)) = lease {
        lease.release().map_err(Error::Store)?;
    }
    Ok(())
}

/// True when a partition listing may hold work: more than one file Athena reads (files
/// beside a compacted one, or several never compacted).
fn may_need_work(names: &[String]) -> bool {
    names
        .iter()
        .filter(|name| !name.starts_with(['.', '_']))
        .count()
        > 1
}

fn store_has(store: &dyn Store, key: &str) -> Result<bool, Error> {
    Ok(store
        .list(key)
        .map_err(Error::Store)?
        .iter()
        .any(|listed| listed.key == key))
}

/// One run's store, scratch folder and step observer.
struct Ctx<'a> {
    store: &'a dyn Store,
    scratch: PathBuf,
    on_step: &'a dyn Fn(&TablePartition, Step),
}

impl<'a> Ctx<'a> {
    /// Merged files and downloads go beside the output for a local folder (a hidden folder
    /// under `_compacted/`, so publishing is a copy on one file system; each merged file is
    /// removed once published or failed), else into a folder of this run's own under
    /// `scratch`, removed with the context.
    fn new(
        store: &'a dyn Store,
        scratch: &Path,
        on_step: &'a dyn Fn(&TablePartition, Step),
    ) -> Ctx<'a> {
        let scratch = match store.local_root() {
            Some(root) => root.join(COMPACTED).join(".work"),
            None => scratch.join(format!("compaction-{}", unique_id())),
        };
        Ctx {
            store,
            scratch,
            on_step,
        }
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        if self.store.local_root().is_none() {
            // Best effort: downloads and merged files of a remote store, never read again.
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
    }
}

/// What compacting one hour did.
struct HourOutcome {
    compacted: Option<HourCompacted>,
    left: Vec<LeftFile>,
}

impl Ctx<'_> {
    /// The closed hour partitions of `table` the run covers, with their files' names: one
    /// listing per day folder of the range (from the table's first day when open).
    fn hours(
        &self,
        table: &str,
        options: &CompactOptions,
    ) -> Result<Vec<(TablePartition, Vec<String>)>, Error> {
        let from = match options.from {
            Some(from) => from,
            None => match table_days(self.store, table).map_err(Error::Store)? {
                Some((first_day, _)) => first_day,
                None => return Ok(Vec::new()),
            },
        };
        let hours =
            files_by_hour(self.store, table, from, options.closed_by).map_err(Error::Store)?;
        Ok(hours
            .into_iter()
            .filter(|&(hour, _)| {
                hour >= from - from.rem_euclid(3_600) && hour + 3_600 <= options.closed_by
            })
            .filter_map(|(_, keys)| {
                let (partition, _) = TablePartition::of_key(keys.first()?)?;
                let names = keys
                    .iter()
                    .filter_map(|key| Some(TablePartition::of_key(key)?.1.to_owned()))
                    .collect();
                Some((partition, names))
            })
            .collect())
    }

    /// Finishes or drops the compaction a killed run left in `partition`; false when there
    /// was none.
    fn recover(&self, partition: &TablePartition) -> Result<bool, Error> {
        let store = self.store;
        let key = partition.journal_key();
        let Some(journal) = read_json::<Journal>(store, &key).map_err(Error::Store)? else {
            // Absent, or not written by flowatlas: nothing to finish.
            store.delete(&key).map_err(Error::Store)?;
            return Ok(false);
        };
        if store_has(store, &partition.key(&journal.next.file))? {
            self.roll_forward(partition, &journal)?;
        } else {
            store.delete(&key).map_err(Error::Store)?;
        }
        Ok(true)
    }

    /// Compacts one hour (the lock held): the files of the partition whose objects are
    /// committed, and what the hour's compaction holds. With `reprocessed`, that object's
    /// commit asks for it: the kept files are checked against their objects' manifests.
    fn compact_hour(
        &self,
        partition: &TablePartition,
        reprocessed: Option<&str>,
    ) -> Result<HourOutcome, Error> {
        let store = self.store;
        self.recover(partition)?;
        let earlier: Option<Compaction> =
            read_json(store, &partition.compaction_key()).map_err(Error::Store)?;
        let prefix = partition.key("");
        let names: Vec<String> = store
            .list(&prefix)
            .map_err(Error::Store)?
            .into_iter()
            .filter_map(|listed| {
                let name = listed.key.strip_prefix(&prefix)?;
                (!name.contains('/') && !name.starts_with(['.', '_'])).then(|| name.to_owned())
            })
            .collect();
        let mut manifests = Manifests::default();
        let mut left = Vec::new();
        let mut candidates: Vec<KeptFile> = Vec::new();
        let mut current = None;
        for name in &names {
            let left_because = |reason| LeftFile {
                name: store.name(&partition.key(name)),
                reason,
            };
            if !name.ends_with(".parquet") {
                left.push(left_because(NOT_PARQUET));
            } else if is_compacted_file(name) {
                if earlier
                    .as_ref()
                    .is_some_and(|earlier| &earlier.file == name)
                {
                    current = Some(name.clone());
                } else {
                    left.push(left_because(STRAY_COMPACTED));
                }
            } else {
                let key = partition.key(name);
                match self.objects_of(&key, name, &mut manifests)? {
                    Some(objects) => candidates.push(KeptFile {
                        name: name.clone(),
                        objects,
                    }),
                    None => left.push(left_because(NOT_COMMITTED)),
                }
            }
        }
        let nothing_to_do = match &earlier {
            None => candidates.len() < 2,
            Some(_) => candidates.is_empty() && reprocessed.is_none(),
        };
        if nothing_to_do {
            return Ok(HourOutcome {
                compacted: None,
                left,
            });
        }
        let candidate_ids: HashSet<&str> = candidates
            .iter()
            .flat_map(|file| &file.objects)
            .map(|object| object.source_id.as_str())
            .collect();
        let recheck = earlier.as_ref().is_some_and(|earlier| {
            reprocessed.is_some()
                || current.is_none()
                || earlier
                    .sources
                    .iter()
                    .flat_map(|kept| &kept.objects)
                    .any(|object| candidate_ids.contains(object.source_id.as_str()))
        });
        let mut inputs: Vec<PathBuf> = Vec::new();
        let mut kept: Vec<KeptFile> = Vec::new();
        let mut dropped: Vec<String> = Vec::new();
        if let Some(earlier) = &earlier {
            if recheck {
                let retired: HashSet<&str> =
                    candidates.iter().map(|file| file.name.as_str()).collect();
                for file in &earlier.sources {
                    if retired.contains(file.name.as_str()) {
                        // Its object wrote a file of the same name again: the new one replaces it.
                        continue;
                    }
                    match self.still_listed(partition, file, &mut manifests)? {
                        Some((path, still)) => {
                            inputs.push(path);
                            kept.push(still);
                        }
                        None => dropped.push(file.name.clone()),
                    }
                }
            } else {
                kept = earlier.sources.clone();
                if let Some(current) = &current {
                    inputs.push(self.fetch(&partition.key(current))?);
                }
            }
        }
        for file in &candidates {
            inputs.push(self.fetch(&partition.key(&file.name))?);
        }
        let file = compacted_file_name(&unique_id());
        let merged_path = self.scratch.join(partition.key(&file));
        // The merged file keeps its temporary name and is published from there: whatever
        // fails below, dropping it removes it (a failed hour left its merged file in the
        // scratch folder, taking the room a full disk lacked), and a killed run's is a
        // temporary file `remove_abandoned` takes.
        let (merged_file, merged) =
            merge_files(&partition.table, &inputs, &merged_path).map_err(|source| {
                Error::Write {
                    object: store.name(&prefix),
                    source,
                }
            })?;
        (self.on_step)(partition, Step::Merged);
        let retire: Vec<String> = candidates.iter().map(|file| file.name.clone()).collect();
        kept.extend(candidates);
        let journal = Journal {
            next: Compaction {
                file: file.clone(),
                rows_read: merged.rows_read,
                rows_written: merged.rows_written,
                sources: kept,
            },
            retire,
            drop: dropped,
            replaced: current,
        };
        write_json(store, &partition.journal_key(), &journal).map_err(Error::Store)?;
        (self.on_step)(partition, Step::Journaled);
        store
            .publish(&partition.key(&file), merged_file.path())
            .map_err(Error::Store)?;
        (self.on_step)(partition, Step::Published);
        self.roll_forward(partition, &journal)?;
        Ok(HourOutcome {
            compacted: Some(HourCompacted {
                partition: partition.clone(),
                files_before: names.len(),
                files_after: 1 + left.len(),
                rows_read: merged.rows_read,
                rows_written: merged.rows_written,
                dropped: journal.drop.len(),
            }),
            left,
        })
    }

    /// The rest of a journaled compaction, each step safe to repeat: stale kept files
    /// deleted, sources moved under `_compacted/`, the replaced compacted file deleted, the
    /// manifest written, the journal deleted.
    fn roll_forward(&self, partition: &TablePartition, journal: &Journal) -> Result<(), Error> {
        let store = self.store;
        for name in &journal.drop {
            store
                .delete(&partition.kept_key(name))
                .map_err(Error::Store)?;
        }
        for (index, name) in journal.retire.iter().enumerate() {
            self.move_file(&partition.key(name), &partition.kept_key(name))?;
            (self.on_step)(partition, Step::Retired(index + 1));
        }
        if let Some(replaced) = &journal.replaced
            && replaced != &journal.next.file
        {
            store
                .delete(&partition.key(replaced))
                .map_err(Error::Store)?;
        }
        write_json(store, &partition.compaction_key(), &journal.next).map_err(Error::Store)?;
        (self.on_step)(partition, Step::Recorded);
        store.delete(&partition.journal_key()).map_err(Error::Store)
    }

    /// The objects whose rows the file at `key` holds, when every one of them is committed
    /// (its manifest lists the file); `None` otherwise.
    fn objects_of(
        &self,
        key: &str,
        name: &str,
        manifests: &mut Manifests,
    ) -> Result<Option<Vec<CompactedObject>>, Error> {
        let source_ids: Vec<String> = if is_batch_file(Path::new(name)) {
            let path = self.fetch(key)?;
            file_sources(&path)
                .map_err(self.failed(key))?
                .into_iter()
                .map(|source| source.source_id)
                .collect()
        } else {
            let stem = name.strip_suffix(".parquet").unwrap_or(name);
            vec![source_of_stem(stem).to_owned()]
        };
        let mut objects = Vec::new();
        for source_id in source_ids {
            match manifests.listing(self.store, &source_id, key)? {
                Some(object) => objects.push(object),
                None => return Ok(None),
            }
        }
        Ok((!objects.is_empty()).then_some(objects))
    }

    /// A kept file as its objects' manifests have it now: its local path and entry, with the
    /// rows of objects whose manifest no longer lists it taken out (batch files); `None` when
    /// nothing of it is still listed.
    fn still_listed(
        &self,
        partition: &TablePartition,
        file: &KeptFile,
        manifests: &mut Manifests,
    ) -> Result<Option<(PathBuf, KeptFile)>, Error> {
        let listed_key = partition.key(&file.name);
        let mut still = KeptFile {
            name: file.name.clone(),
            objects: Vec::new(),
        };
        let mut gone = Vec::new();
        for object in &file.objects {
            match manifests.listing(self.store, &object.source_id, &listed_key)? {
                Some(now) => still.objects.push(now),
                None => gone.push(object.source_id.clone()),
            }
        }
        if still.objects.is_empty() {
            return Ok(None);
        }
        let kept_key = partition.kept_key(&file.name);
        let path = self.fetch(&kept_key)?;
        if !gone.is_empty() {
            for source_id in &gone {
                remove_source_rows(&path, source_id).map_err(self.failed(&kept_key))?;
            }
            if self.store.local_root().is_none() {
                self.store.publish(&kept_key, &path).map_err(Error::Store)?;
            }
        }
        Ok(Some((path, still)))
    }

    /// A table error met compacting the object (or hour) at `key`; the error names the local
    /// file, a download when the store is remote.
    fn failed(&self, key: &str) -> impl Fn(flowatlas_tables::WriteError) -> Error {
        let object = format!("compacting {}", self.store.name(key));
        move |source| Error::Write {
            object: object.clone(),
            source,
        }
    }

    /// A local path holding the object at `key`: the file itself in a local folder, else a
    /// download into the scratch folder.
    fn fetch(&self, key: &str) -> Result<PathBuf, Error> {
        if let Some(root) = self.store.local_root() {
            return Ok(root.join(key));
        }
        let path = self.scratch.join("downloads").join(key);
        self.store.download(key, &path).map_err(Error::Store)?;
        Ok(path)
    }

    /// Moves an object: a rename in a local folder; in S3 a copy then a delete (a repeat after
    /// a crash between the two finds the source again and does both again).
    fn move_file(&self, from: &str, to: &str) -> Result<(), Error> {
        let store = self.store;
        if let Some(root) = store.local_root() {
            let (from, to) = (root.join(from), root.join(to));
            if let Some(folder) = to.parent() {
                std::fs::create_dir_all(folder).map_err(io_error(folder))?;
            }
            return match std::fs::rename(&from, &to) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound && to.exists() => Ok(()),
                result => result.map_err(io_error(&from)),
            };
        }
        if store_has(store, from)? {
            let path = self.fetch(from)?;
            store.publish(to, &path).map_err(Error::Store)?;
            store.delete(from).map_err(Error::Store)?;
            let _ = std::fs::remove_file(&path);
        }
        Ok(())
    }
}

/// Objects' manifests, each read once per hour.
#[derive(Default)]
struct Manifests(HashMap<String, Option<Manifest>>);

impl Manifests {
    /// The object `source_id` as its manifest names it, when the manifest lists `key`.
    fn listing(
        &mut self,
        store: &dyn Store,
        source_id: &str,
        key: &str,
    ) -> Result<Option<CompactedObject>, Error> {
        if !self.0.contains_key(source_id) {
            let manifest: Option<Manifest> =
                read_json(store, &manifest_key(source_id)).map_err(Error::Store)?;
            self.0.insert(source_id.to_owned(), manifest);
        }
        Ok(self.0[source_id]
            .as_ref()
            .filter(|manifest| manifest.files.iter().any(|file| file == key))
            .map(|manifest| CompactedObject {
                source: manifest.source.clone(),
                source_id: manifest.source_id.clone(),
                source_etag: manifest.source_etag.clone(),
            }))
    }
}
