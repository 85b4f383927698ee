//! The output folder's lock (`_batches/.lock`): commits and compactions of a local folder take
//! turns under it, because both rewrite files other objects' rows live in (batch files,
//! compacted hours). A store that is not a local folder has none: S3 outputs hold no batch
//! files, and what compaction risks there is said in `compact`.

use std::fs::File;

use flowatlas_store::Store;
use flowatlas_store::layout::BATCHES;

use crate::{Error, io_error};

/// The lock, held while the value lives (the system releases it when the file is closed, also
/// when the process is killed).
pub(crate) struct OutputLock {
    _file: Option<File>,
}

impl OutputLock {
    /// Waits for the lock of `store`'s folder; for a store without a folder, at once.
    pub(crate) fn acquire(store: &dyn Store) -> Result<OutputLock, Error> {
        let Some(out_dir) = store.local_root() else {
            return Ok(OutputLock { _file: None });
        };
        let folder = out_dir.join(BATCHES);
        std::fs::create_dir_all(&folder).map_err(io_error(&folder))?;
        let path = folder.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(OutputLock { _file: Some(file) })
    }
}
