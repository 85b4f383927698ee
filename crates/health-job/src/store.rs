//! Where the health job finds the tables and puts its own: any [`Store`] (a local folder, or a
//! bucket and prefix in S3). The engine and the table readers work on a local folder (the
//! *view*): the store's own folder, or a scratch folder into which only the hour partitions a
//! run needs are copied, and from which what it wrote is published. Listing, the state object
//! and deletions go to the store itself.

use std::collections::BTreeSet;
use std::path::PathBuf;

use flowatlas_store::{Store, download_partitions};

use crate::JobError;
use crate::hours::spans;
use crate::state::STATE_NAME;

/// The local folder a run reads and writes tables in; a scratch folder (removed on drop) for a
/// store that is not local.
pub(crate) struct View {
    /// Laid out as the tables are.
    pub dir: PathBuf,
    scratch: bool,
}

impl Drop for View {
    fn drop(&mut self) {
        if self.scratch {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl View {
    /// The view of one run over `store`.
    pub(crate) fn of(store: &dyn Store) -> Result<View, JobError> {
        if let Some(root) = store.local_root() {
            return Ok(View {
                dir: root.to_path_buf(),
                scratch: false,
            });
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("flowatlas-health-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|source| JobError::File {
            path: dir.clone(),
            source,
        })?;
        Ok(View { dir, scratch: true })
    }

    /// Brings `table`'s partitions of `hours` from `store` into the view; returns the files
    /// copied (none when the view is the store's own folder).
    pub(crate) fn fetch(
        &self,
        store: &dyn Store,
        table: &str,
        hours: &BTreeSet<i64>,
    ) -> Result<usize, JobError> {
        if !self.scratch {
            return Ok(0);
        }
        let mut n_files = 0;
        for (from, to) in spans(hours) {
            n_files += download_partitions(store, table, from, to, &self.dir)?;
        }
        Ok(n_files)
    }

    /// Publishes what a run wrote into the view (`written`, relative paths) to `store`, then
    /// deletes `removed` (relative paths) from it.
    pub(crate) fn publish(
        &self,
        store: &dyn Store,
        written: &[PathBuf],
        removed: &[PathBuf],
    ) -> Result<(), JobError> {
        for relative in written {
            store.publish(&key_of(relative), &self.dir.join(relative))?;
        }
        for relative in removed {
            store.delete(&key_of(relative))?;
        }
        Ok(())
    }
}

/// A relative path as a store's key (`/`-separated on every system).
fn key_of(relative: &std::path::Path) -> String {
    relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The stored state's text, if there is one.
pub(crate) fn read_state(store: &dyn Store) -> Result<Option<String>, JobError> {
    // Bytes that are not UTF-8 are an unreadable state, rebuilt, not an error.
    Ok(store
        .get(STATE_NAME)?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// Stores the state: a hidden temporary file renamed over the old one, or one PUT.
pub(crate) fn write_state(store: &dyn Store, text: &str) -> Result<(), JobError> {
    Ok(store.put(STATE_NAME, text.as_bytes())?)
}
