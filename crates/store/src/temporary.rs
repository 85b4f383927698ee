//! Files written under a temporary name and renamed into place: how every local writer (tables,
//! manifests, downloads) publishes atomically.

use std::ffi::OsString;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// A file being written under a temporary name beside its final one, renamed into place by
/// [`TemporaryFile::persist`] and removed if dropped before that (a failed write).
///
/// The name is `.<final name>.<process id>-<random>.partial`:
/// - in the same folder as the final file, so the rename is atomic: readers see the old file or
///   the whole new one, never half of one;
/// - unique to the writer, so two runs writing the same output (concurrent runs into one
///   folder, a retry while the first attempt still runs) never write into, or rename away,
///   each other's file: each renames a complete file and the last one wins;
/// - starting with `.`, which Athena, Hive and Spark skip, so a file a killed run left behind
///   is never read as data nor published by a folder sync.
#[derive(Debug)]
pub struct TemporaryFile {
    path: PathBuf,
    target: PathBuf,
    persisted: bool,
}

impl TemporaryFile {
    /// Creates the temporary file for `target`; its folder must exist.
    pub fn create(target: &Path) -> io::Result<(TemporaryFile, File)> {
        let path = temporary_path(target);
        let file = File::create(&path)?;
        Ok((
            TemporaryFile {
                path,
                target: target.to_path_buf(),
                persisted: false,
            },
            file,
        ))
    }

    /// Where the file is being written (a hidden name beside the final one).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the file goes when it is persisted.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the written file over its final name.
    pub fn persist(mut self) -> io::Result<()> {
        std::fs::rename(&self.path, &self.target)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TemporaryFile {
    fn drop(&mut self) {
        if !self.persisted {
            // Best effort: a file left behind is hidden and never read as data.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// How long a temporary file must have gone unwritten before [`remove_abandoned`] may take
/// it: no run keeps one that long between its last write and putting it in place (a batch's
/// files wait for the batch, seconds to minutes).
pub const ABANDONED_AFTER: Duration = Duration::from_secs(3_600);

/// What [`remove_abandoned`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Abandoned {
    /// Files removed.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The process id in a temporary file's name (`.<name>.<process id>-<16 hex>.partial`);
/// `None` for any other name.
fn writer_of(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(".partial")?;
    let (target, writer) = inner.rsplit_once('.')?;
    let (pid, random) = writer.split_once('-')?;
    let hex = random.len() == 16 && random.bytes().all(|byte| byte.is_ascii_hexdigit());
    (!target.is_empty() && hex)
        .then(|| pid.parse().ok())
        .flatten()
}

/// Removes the temporary files killed runs left in `folder` and its subfolders: a killed run
/// cannot remove its own, and a run killed while writing a big file (a `flows` file, a merged
/// hour) leaves as much behind each time. A file goes when its name is a [`TemporaryFile`]'s,
/// nothing has written it for [`ABANDONED_AFTER`] (`now` the time to count from), and the
/// process named in it is not running on this machine (where `/proc` tells; elsewhere the
/// time alone decides). A file another process removes first is passed over; a folder that
/// does not exist holds nothing.
pub fn remove_abandoned(folder: &Path, now: SystemTime) -> io::Result<Abandoned> {
    let mut removed = Abandoned::default();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            // The type and name come with the folder's listing; only a temporary file is
            // asked for more, so walking an output of many files stays a listing.
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                folders.push(entry.path());
                continue;
            }
            let Some(writer) = entry.file_name().to_str().and_then(writer_of) else {
                continue;
            };
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            let idle = metadata
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|idle| idle >= ABANDONED_AFTER);
            if !idle || is_running(writer) {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    removed.files += 1;
                    removed.bytes += metadata.len();
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(removed)
}

/// Whether process `pid` runs on this machine; false where `/proc` cannot tell.
pub fn is_running(pid: u32) -> bool {
    let proc = Path::new("/proc");
    proc.join("self").exists() && proc.join(pid.to_string()).exists()
}

fn temporary_path(target: &Path) -> PathBuf {
    // Random per call without a dependency: each `RandomState` is seeded from the OS once per
    // process and then stepped, and the counter separates calls within a process.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    let random = hasher.finish();
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(format!(".{}-{random:016x}.partial", std::process::id()));
    target.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_hidden_unique_and_beside_the_target() {
        let target = Path::new("out/city_networks/dt=2026-06-01/hour=12/x-1.parquet");
        let first = temporary_path(target);
        let second = temporary_path(target);
        assert_ne!(first, second);
        assert_eq!(first.parent(), target.parent());
        let name = first.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".x-1.parquet."), "{name}");
        assert!(
            name.contains(&format!(".{}-", std::process::id())),
            "{name}"
        );
        assert_eq!(writer_of(&name), Some(std::process::id()), "{name}");
    }

    /// What a killed run leaves is removed once it is old and its writer gone; a live
    /// writer's file, a recent one, and every other name stay.
    #[test]
    fn abandoned_temporary_files_are_removed_and_nothing_else() {
        let root = std::env::temp_dir().join(format!("flowatlas-abandoned-{}", std::process::id()));
        let folder = root.join("flows/dt=2026-06-01/hour=12");
        std::fs::create_dir_all(&folder).unwrap();
        // No process has this id: Linux's ids stop at 2^22.
        let gone = u32::MAX;
        let names = [
            (format!(".a.parquet.{gone}-00000000000000ff.partial"), true),
            (
                format!(".b.parquet.{}-00000000000000ff.partial", std::process::id()),
                false,
            ),
            (format!(".c.parquet.{gone}-ff.partial"), false),
            (format!("d.parquet.{gone}-00000000000000ff.partial"), false),
            ("e.parquet".to_owned(), false),
            (".lock".to_owned(), false),
        ];
        for (name, _) in &names {
            std::fs::write(folder.join(name), b"rows").unwrap();
        }
        let a_while_later = SystemTime::now() + ABANDONED_AFTER;
        assert_eq!(
            remove_abandoned(&root, SystemTime::now()).unwrap(),
            Abandoned::default(),
            "recent files stay"
        );
        let removed = remove_abandoned(&root, a_while_later).unwrap();
        assert_eq!(removed, Abandoned { files: 1, bytes: 4 });
        for (name, goes) in &names {
            assert_eq!(folder.join(name).exists(), !goes, "{name}");
        }
        assert_eq!(
            remove_abandoned(&root.join("absent"), a_while_later).unwrap(),
            Abandoned::default()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
