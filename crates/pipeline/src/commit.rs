//! Making an object's outputs count, exactly once, in any store: its files are published, then
//! whatever its earlier manifest lists and this run did not write is taken away (files of its
//! own deleted, its rows taken out of batch files it shared with other objects), and its
//! manifest is written last. This is the one commit of every object, local or in S3.
//!
//! Commits into a local folder take turns under a lock (`_batches/.lock`), because taking an
//! object's rows out of a shared batch file is a read-modify-write of a file other objects'
//! rows live in. A batch is published through a journal (`_batches/<id>.json`, written before
//! its files are renamed into place): a run killed at any point leaves either hidden temporary
//! files (never read) or a journal, which the next commit into the folder finishes (every file
//! in place, every manifest written) or, when a file was lost, undoes. The hidden files a
//! killed run left are removed by a later batch writing into their folder, or by `compact`,
//! once their writer is gone and an hour has passed ([`flowatlas_store::remove_abandoned`]).
//! S3 outputs hold no batch files (each object is written alone there), so they need no lock.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flowatlas_store::layout::{BATCHES, is_batch_file, journal_key, manifest_key};
use flowatlas_store::{LocalStore, Store, TemporaryFile, read_json, write_json};

use crate::lock::OutputLock;
use crate::manifest::{Manifest, is_inside, stale_files};
use crate::{Config, Error, ObjectReport, Source, io_error};

/// Commits one object whose files are written under `config.out_dir`: each is published to
/// the store (in place already when the store is that folder), then, under the lock, what
/// its earlier run left is removed and its manifest written.
pub(crate) fn commit_object(
    config: &Config,
    store: &dyn Store,
    source: &Source,
    report: &ObjectReport,
) -> Result<(), Error> {
    for relative in &report.files {
        store
            .publish(&relative.to_string_lossy(), &config.out_dir.join(relative))
            .map_err(Error::Store)?;
    }
    let _lock = lock_and_recover(store)?;
    commit_manifest(store, &config.out_dir, &Manifest::of(source, report))
}

/// Takes the output's lock ([`OutputLock`]), then finishes (or undoes) any batch a killed run
/// left half published, so a commit starts from committed batches only.
fn lock_and_recover(store: &dyn Store) -> Result<OutputLock, Error> {
    let lock = OutputLock::acquire(store)?;
    if let Some(out_dir) = store.local_root() {
        recover_batches(store, out_dir)?;
    }
    Ok(lock)
}

/// A batch being published: its files under their temporary names and final names (relative
/// to the output) and the manifests of its objects.
pub(crate) struct Journal {
    pub(crate) files: Vec<(TemporaryFile, PathBuf)>,
    pub(crate) manifests: Vec<Manifest>,
}

/// A journal as written: where each file is and goes, and the manifests to write.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct JournalRecord {
    files: Vec<JournalFile>,
    manifests: Vec<Manifest>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct JournalFile {
    temporary: PathBuf,
    path: PathBuf,
}

/// Publishes a batch into a local folder under the lock: journal, files renamed into place,
/// each object committed, journal removed. A run killed after the journal was written is
/// finished by the next commit.
pub(crate) fn publish_batch(
    store: &LocalStore,
    batch_id: &str,
    journal: Journal,
) -> Result<(), Error> {
    let _lock = lock_and_recover(store)?;
    let out_dir = store.path("");
    let files = journal
        .files
        .iter()
        .map(|(temporary, relative)| JournalFile {
            temporary: temporary
                .path()
                .strip_prefix(&out_dir)
                .unwrap_or(temporary.path())
                .to_path_buf(),
            path: relative.clone(),
        })
        .collect();
    let record = JournalRecord {
        files,
        manifests: journal.manifests,
    };
    let key = journal_key(batch_id);
    write_json(store, &key, &record).map_err(Error::Store)?;
    let folders: BTreeSet<PathBuf> = journal
        .files
        .iter()
        .filter_map(|(_, relative)| Some(out_dir.join(relative.parent()?)))
        .collect();
    for (temporary, relative) in journal.files {
        temporary
            .persist()
            .map_err(io_error(&out_dir.join(relative)))?;
    }
    for manifest in &record.manifests {
        commit_manifest(store, &out_dir, manifest)?;
    }
    store.delete(&key).map_err(Error::Store)?;
    // What killed runs left in the hours this batch wrote: `compact` takes the rest.
    let now = SystemTime::now();
    for folder in folders {
        flowatlas_store::remove_abandoned(&folder, now).map_err(io_error(&folder))?;
    }
    Ok(())
}

/// Finishes or undoes every batch whose journal a killed run left (the lock is held).
fn recover_batches(store: &dyn Store, out_dir: &Path) -> Result<(), Error> {
    let folder = out_dir.join(BATCHES);
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error(&folder)(error)),
    };
    for entry in entries {
        let path = entry.map_err(io_error(&folder))?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        let key = format!("{BATCHES}/{name}");
        // Journals are written whole (temporary name, then rename); one that does not parse
        // was not written by flowatlas and holds nothing to finish.
        if let Some(journal) = read_json::<JournalRecord>(store, &key).map_err(Error::Store)? {
            recover_batch(store, out_dir, &journal)?;
        }
        store.delete(&key).map_err(Error::Store)?;
    }
    Ok(())
}

fn recover_batch(store: &dyn Store, out_dir: &Path, journal: &JournalRecord) -> Result<(), Error> {
    let files: Vec<(PathBuf, PathBuf)> = journal
        .files
        .iter()
        .filter(|file| is_inside(&file.temporary) && is_inside(&file.path))
        .map(|file| (out_dir.join(&file.temporary), out_dir.join(&file.path)))
        .collect();
    // Final names are unique to the batch: a file in place was renamed by this batch.
    let lost = files
        .iter()
        .any(|(temporary, path)| !temporary.exists() && !path.exists());
    if lost {
        // A file failed before the renames ended, so no object was committed yet: taking the
        // batch's files away leaves every object as it was before the batch.
        for (temporary, path) in &files {
            for file in [temporary, path] {
                remove_if_present(file)?;
            }
        }
        return Ok(());
    }
    for (temporary, path) in &files {
        if temporary.exists() {
            std::fs::rename(temporary, path).map_err(io_error(path))?;
        }
    }
    for manifest in &journal.manifests {
        commit_manifest(store, out_dir, manifest)?;
    }
    Ok(())
}

/// Replaces an object's manifest (the lock is held): the stale files of its earlier manifest
/// ([`stale_files`]) are deleted when they are the object's own, and its rows are taken out of
/// them when they are batch files (local folders only: S3 outputs hold none); then the
/// manifest is written. Hours compacted with its earlier rows are then compacted again
/// (`compact::recompact_for`; `scratch` holds downloads when the store is not local), so its
/// new rows replace them there too.
fn commit_manifest(store: &dyn Store, scratch: &Path, manifest: &Manifest) -> Result<(), Error> {
    let source_id = manifest.source_id.as_str();
    if source_id.is_empty() {
        return Ok(());
    }
    let key = manifest_key(source_id);
    let earlier = read_json::<Manifest>(store, &key).map_err(Error::Store)?;
    if let Some(earlier) = &earlier {
        for stale in stale_files(earlier, source_id, &manifest.file_paths()) {
            if !is_batch_file(&stale) {
                store
                    .delete(&stale.to_string_lossy())
                    .map_err(Error::Store)?;
            } else if let Some(out_dir) = store.local_root() {
                flowatlas_tables::remove_source_rows(&out_dir.join(&stale), source_id).map_err(
                    |error| Error::Write {
                        object: source_id.to_owned(),
                        source: error,
                    },
                )?;
            }
        }
    }
    write_json(store, &key, manifest).map_err(Error::Store)?;
    match &earlier {
        Some(earlier) => crate::compact::recompact_for(store, scratch, earlier, manifest),
        None => Ok(()),
    }
}

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io_error(path)(error)),
        _ => Ok(()),
    }
}
