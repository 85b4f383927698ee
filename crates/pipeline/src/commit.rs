//! Making an object's outputs count, exactly once: its manifest replaces the earlier one, and
//! whatever the earlier run wrote that this one did not is taken away first (files of its own
//! deleted, its rows taken out of batch files it shared with other objects).
//!
//! Commits into one output folder take turns under a lock (`_batches/.lock`), because taking
//! an object's rows out of a shared batch file is a read-modify-write of a file other objects'
//! rows live in. A batch is published through a journal (`_batches/<id>.json`, written before
//! its files are renamed into place): a run killed at any point leaves either hidden temporary
//! files (never read) or a journal, which the next commit into the folder finishes (every file
//! in place, every manifest written) or, when a file was lost, undoes.

use std::fs::File;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use flowatlas_tables::TemporaryFile;

use crate::{Error, ObjectReport, Source, io_error, manifest_path, stale_files};

/// What a manifest says: written last, so its presence means the object's outputs are there.
pub(crate) fn manifest_json(source: &Source, report: &ObjectReport) -> serde_json::Value {
    let counts = &report.counts;
    serde_json::json!({
        "source": source.name,
        "source_id": source.id,
        "source_etag": source.etag,
        "source_size": source.size,
        "schema_version": flowatlas_tables::SCHEMA_VERSION,
        "records": {"read": counts.read, "ok": counts.ok, "skipped": counts.skipped, "rejected": counts.rejected},
        "bytes_decoded": counts.bytes,
        "ok_bytes": report.ok_bytes,
        "other_bytes": report.other_bytes,
        "peers": report.peers,
        "rows": report.rows,
        "flows_without_time": report.flows_without_time,
        "files": report.files.iter().map(|file| file.to_string_lossy().into_owned()).collect::<Vec<_>>(),
    })
}

/// Commits one object whose files are already in place: under the lock, what its earlier
/// run left is removed and its manifest written.
pub(crate) fn commit_object(
    out_dir: &Path,
    source: &Source,
    report: &ObjectReport,
) -> Result<(), Error> {
    let _lock = OutputLock::acquire(out_dir)?;
    commit_manifest(out_dir, &manifest_json(source, report))
}

/// The output folder's commit lock, held while it lives. Taking it first finishes (or undoes)
/// any batch a killed run left half published.
pub(crate) struct OutputLock {
    _file: File,
}

impl OutputLock {
    pub(crate) fn acquire(out_dir: &Path) -> Result<OutputLock, Error> {
        let folder = out_dir.join("_batches");
        std::fs::create_dir_all(&folder).map_err(io_error(&folder))?;
        let path = folder.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        recover_batches(out_dir)?;
        Ok(OutputLock { _file: file })
    }
}

/// A batch being published: its files under their temporary names and final names (relative
/// to the output) and the manifests of its objects.
pub(crate) struct Journal {
    pub(crate) files: Vec<(TemporaryFile, PathBuf)>,
    pub(crate) manifests: Vec<serde_json::Value>,
}

/// Publishes a batch under the lock: journal, files renamed into place, each object committed,
/// journal removed. A run killed after the journal was written is finished by the next commit.
pub(crate) fn publish_batch(out_dir: &Path, batch_id: &str, journal: Journal) -> Result<(), Error> {
    let _lock = OutputLock::acquire(out_dir)?;
    let journal_path = out_dir.join("_batches").join(format!("{batch_id}.json"));
    let files: Vec<serde_json::Value> = journal
        .files
        .iter()
        .map(|(temporary, relative)| {
            serde_json::json!({
                "temporary": temporary.path().strip_prefix(out_dir).unwrap_or(temporary.path()),
                "path": relative,
            })
        })
        .collect();
    write_json(
        &journal_path,
        &serde_json::json!({"files": files, "manifests": journal.manifests}),
    )?;
    for (temporary, relative) in journal.files {
        temporary
            .persist()
            .map_err(io_error(&out_dir.join(relative)))?;
    }
    for manifest in &journal.manifests {
        commit_manifest(out_dir, manifest)?;
    }
    std::fs::remove_file(&journal_path).map_err(io_error(&journal_path))
}

/// Finishes or undoes every batch whose journal a killed run left (the lock is held).
fn recover_batches(out_dir: &Path) -> Result<(), Error> {
    let folder = out_dir.join("_batches");
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error(&folder)(error)),
    };
    for entry in entries {
        let path = entry.map_err(io_error(&folder))?.path();
        let is_journal = path
            .extension()
            .is_some_and(|extension| extension == "json")
            && !path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if !is_journal {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        // Journals are written whole (temporary name, then rename); one that does not parse
        // was not written by flowatlas and holds nothing to finish.
        if let Ok(journal) = serde_json::from_str::<serde_json::Value>(&text) {
            recover_batch(out_dir, &journal)?;
        }
        std::fs::remove_file(&path).map_err(io_error(&path))?;
    }
    Ok(())
}

fn recover_batch(out_dir: &Path, journal: &serde_json::Value) -> Result<(), Error> {
    let relative = |value: &serde_json::Value, key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(PathBuf::from)
            .filter(|path| is_inside(path))
            .map(|path| out_dir.join(path))
    };
    let files: Vec<(PathBuf, PathBuf)> = journal
        .get("files")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|file| Some((relative(file, "temporary")?, relative(file, "path")?)))
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
    for manifest in journal
        .get("manifests")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        commit_manifest(out_dir, manifest)?;
    }
    Ok(())
}

/// Replaces an object's manifest (the lock is held): files its earlier manifest lists that
/// this one does not are deleted when they are the object's own, and its rows are taken out
/// of them when they are batch files; then the manifest is written.
fn commit_manifest(out_dir: &Path, manifest: &serde_json::Value) -> Result<(), Error> {
    let Some(source_id) = manifest
        .get("source_id")
        .and_then(serde_json::Value::as_str)
    else {
        return Ok(());
    };
    let files: Vec<PathBuf> = manifest
        .get("files")
        .and_then(|files| serde_json::from_value(files.clone()).ok())
        .unwrap_or_default();
    let path = out_dir.join(manifest_path(source_id));
    let folder = out_dir.join("_manifests");
    std::fs::create_dir_all(&folder).map_err(io_error(&folder))?;
    if let Ok(earlier) = std::fs::read_to_string(&path) {
        for stale in stale_files(&earlier, source_id, &files) {
            remove_if_present(&out_dir.join(stale))?;
        }
        for stale in stale_batch_files(&earlier, &files) {
            let stale_path = out_dir.join(&stale);
            flowatlas_tables::remove_source_rows(&stale_path, source_id).map_err(|error| {
                Error::Write {
                    object: source_id.to_owned(),
                    source: error,
                }
            })?;
        }
    }
    write_json(&path, manifest)
}

/// The batch files an earlier manifest lists that the new one does not.
fn stale_batch_files(earlier_manifest: &str, written: &[PathBuf]) -> Vec<PathBuf> {
    serde_json::from_str::<serde_json::Value>(earlier_manifest)
        .ok()
        .and_then(|manifest| manifest.get("files").cloned())
        .and_then(|files| serde_json::from_value::<Vec<PathBuf>>(files).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|file| {
            flowatlas_store::layout::is_batch_file(file) && is_inside(file) && !written.contains(file)
        })
        .collect()
}

/// True for a relative path that stays inside the output, whatever a manifest says.
fn is_inside(path: &Path) -> bool {
    path.components()
        .all(|part| matches!(part, Component::Normal(_)))
}

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io_error(path)(error)),
        _ => Ok(()),
    }
}

/// Writes JSON beside its name and renames it: the file is either complete or absent.
fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), Error> {
    let (temporary, mut file) = TemporaryFile::create(path).map_err(io_error(path))?;
    file.write_all(format!("{value:#}\n").as_bytes())
        .map_err(io_error(path))?;
    drop(file);
    temporary.persist().map_err(io_error(path))
}
