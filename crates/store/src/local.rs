//! A local folder as a store: what `flowatlas process` writes into, and what tests use
//! instead of a bucket. Publishing renames a complete file into place.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::{Body, Error, Listed, ObjectInfo, Store, TemporaryFile};

/// A folder; keys are paths relative to it.
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// The store of the folder `root` (created when something is written).
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore { root: root.into() }
    }

    /// The path of `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Opens a local file by path (a path that may not be valid UTF-8, so no key can name it).
    pub fn open_path(path: &Path) -> Result<(Body, ObjectInfo), Error> {
        let file = std::fs::File::open(path).map_err(Error::file(path))?;
        let meta = file.metadata().map_err(Error::file(path))?;
        let info = ObjectInfo {
            size: meta.len(),
            etag: None,
            last_modified_ms: meta
                .modified()
                .ok()
                .and_then(|modified| modified.duration_since(UNIX_EPOCH).ok())
                .and_then(|since| i64::try_from(since.as_millis()).ok()),
        };
        Ok((Body::File(file), info))
    }
}

/// A folder's tag of a small object: a hash of its bytes (equal bytes, equal tags).
fn tag_of(bytes: &[u8]) -> String {
    format!("{:016x}", crate::layout::fnv1a(bytes))
}

/// Copies the file `from` to `to` (its folder created) under a temporary name, renamed when
/// complete.
fn copy_into_place(from: &Path, to: &Path) -> Result<(), Error> {
    create_parent(to)?;
    let (temporary, mut out) = TemporaryFile::create(to).map_err(Error::file(to))?;
    let mut input = std::fs::File::open(from).map_err(Error::file(from))?;
    io::copy(&mut input, &mut out).map_err(Error::file(to))?;
    drop(out);
    temporary.persist().map_err(Error::file(to))
}

fn create_parent(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => {
            std::fs::create_dir_all(folder).map_err(Error::file(folder))
        }
        _ => Ok(()),
    }
}

impl Store for LocalStore {
    fn name(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn open(&self, key: &str) -> Result<(Body, ObjectInfo), Error> {
        LocalStore::open_path(&self.path(key))
    }

    fn publish(&self, key: &str, file: &Path) -> Result<(), Error> {
        let target = self.path(key);
        if target == file {
            // Written in place (under a temporary name, already renamed).
            return Ok(());
        }
        copy_into_place(file, &target)
    }

    fn list(&self, prefix: &str) -> Result<Vec<Listed>, Error> {
        let mut listed = Vec::new();
        // Only the folder the prefix names (up to its last `/`) is walked, not the whole root.
        let folder = match prefix.rfind('/') {
            Some(end) => self.path(&prefix[..end]),
            None => self.root.clone(),
        };
        let mut folders = vec![folder];
        while let Some(folder) = folders.pop() {
            let entries = match std::fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(Error::file(&folder)(error)),
            };
            for entry in entries {
                let path = entry.map_err(Error::file(&folder))?.path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                let Some(key) = path
                    .strip_prefix(&self.root)
                    .ok()
                    .and_then(|relative| relative.to_str())
                    .map(|relative| relative.replace('\\', "/"))
                else {
                    continue;
                };
                if !key.starts_with(prefix) {
                    continue;
                }
                // A file renamed or deleted since the folder was read (another process's
                // temporary file put in place) is no longer there to list, as in S3.
                match LocalStore::open_path(&path) {
                    Ok((_, info)) => listed.push(Listed { key, info }),
                    Err(Error::File { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }

    fn list_folders(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let folder = self.path(prefix);
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(Error::file(&folder)(error)),
        };
        let mut folders = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::file(&folder))?;
            if entry.path().is_dir()
                && let Some(name) = entry.file_name().to_str()
            {
                folders.push(format!("{prefix}{name}/"));
            }
        }
        folders.sort();
        Ok(folders)
    }

    fn download(&self, key: &str, path: &Path) -> Result<(), Error> {
        copy_into_place(&self.path(key), path)
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        let path = self.path(key);
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(Error::file(&path)(error)),
            _ => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let path = self.path(key);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(Error::file(&path)(error)),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), Error> {
        let path = self.path(key);
        create_parent(&path)?;
        let (temporary, mut file) = TemporaryFile::create(&path).map_err(Error::file(&path))?;
        file.write_all(bytes).map_err(Error::file(&path))?;
        drop(file);
        temporary.persist().map_err(Error::file(&path))
    }

    fn get_tagged(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, Error> {
        Ok(self.get(key)?.map(|bytes| {
            let tag = tag_of(&bytes);
            (bytes, tag)
        }))
    }

    fn put_if(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let path = self.path(key);
        create_parent(&path)?;
        // Writers of the key take turns under a hidden lock file beside it, so the comparison
        // and the rename are one step for them.
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lock_path = path.with_file_name(format!(".{name}.lock"));
        let lock = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Error::file(&lock_path))?;
        lock.lock().map_err(Error::file(&lock_path))?;
        let current = self.get(key)?.map(|bytes| tag_of(&bytes));
        if current.as_deref() != expected {
            return Ok(None);
        }
        self.put(key, bytes)?;
        Ok(Some(tag_of(bytes)))
    }

    fn local_root(&self) -> Option<&Path> {
        Some(&self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_publishes_lists_and_deletes() {
        let root = std::env::temp_dir().join(format!("flowatlas-store-{}", std::process::id()));
        let store = LocalStore::new(&root);
        let dyn_store: &dyn Store = &store;
        crate::write_json(dyn_store, "_manifests/a.json", &vec!["x"]).unwrap();
        let back: Option<Vec<String>> = crate::read_json(dyn_store, "_manifests/a.json").unwrap();
        assert_eq!(back, Some(vec!["x".to_owned()]));
        assert_eq!(store.get("_manifests/missing.json").unwrap(), None);
        let scratch = root.join("scratch.bin");
        std::fs::write(&scratch, b"rows").unwrap();
        store
            .publish("t/dt=2026-06-01/hour=00/a.parquet", &scratch)
            .unwrap();
        let keys: Vec<String> = store
            .list("t/")
            .unwrap()
            .into_iter()
            .map(|l| l.key)
            .collect();
        assert_eq!(keys, ["t/dt=2026-06-01/hour=00/a.parquet"]);
        store.delete("t/dt=2026-06-01/hour=00/a.parquet").unwrap();
        store.delete("t/dt=2026-06-01/hour=00/a.parquet").unwrap();
        assert!(store.list("t/").unwrap().is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A compaction lists an hour's folder while other processes put their files in place:
    /// a file renamed or deleted between reading the folder and opening the file is not
    /// listed, and the listing does not fail (it did, and the compaction with it).
    #[test]
    fn a_listing_passes_over_files_that_vanish_while_it_runs() {
        let root = std::env::temp_dir().join(format!("flowatlas-list-{}", std::process::id()));
        let folder = root.join("t/dt=2026-06-01/hour=00");
        std::fs::create_dir_all(&folder).unwrap();
        let store = LocalStore::new(&root);
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for round in 0.. {
                    if done.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let hidden = folder.join(format!(".{round}.parquet.partial"));
                    let placed = folder.join(format!("{round}.parquet"));
                    std::fs::write(&hidden, b"rows").unwrap();
                    std::fs::rename(&hidden, &placed).unwrap();
                    std::fs::remove_file(&placed).unwrap();
                }
            });
            let failed = (0..3_000).find_map(|_| store.list("t/").err());
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(failed.is_none(), "{failed:?}");
        });
        std::fs::remove_dir_all(&root).unwrap();
    }
}
