//! Files written under a temporary name and renamed into place: how every local writer (tables,
//! manifests, downloads) publishes atomically.

use std::ffi::OsString;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    }
}
