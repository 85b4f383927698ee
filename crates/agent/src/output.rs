//! Where finished windows go: each is written as one Parquet file into a spool folder, then
//! handed to a [`Destination`] (a local folder or, through the CLI, S3). A file leaves the spool
//! only once delivered, so a failed delivery is retried at the next poll and after a restart.

use std::path::{Path, PathBuf};

use flowatlas_rollup::TcpStatsRow;
use flowatlas_tables::{TCP_STATS, WriteError, tcp_stats, write_partitioned};

/// Where delivered files land.
pub trait Destination {
    /// Delivers the spooled file `file` as `relative` (`tcp_stats/dt=…/hour=…/<name>.parquet`).
    /// It must not leave `file` half-delivered: on `Ok` the file is removed from the spool, on
    /// `Err` it stays and is offered again.
    fn deliver(&mut self, file: &Path, relative: &Path) -> Result<(), String>;
}

/// A local folder (the table root): files are renamed into place, atomically when the spool
/// is on the same file system (the default spool is `<folder>/_spool`).
pub struct LocalFolder {
    /// The folder that holds `tcp_stats/`.
    pub root: PathBuf,
}

impl Destination for LocalFolder {
    fn deliver(&mut self, file: &Path, relative: &Path) -> Result<(), String> {
        let target = self.root.join(relative);
        if let Some(folder) = target.parent() {
            std::fs::create_dir_all(folder)
                .map_err(|error| format!("{}: {error}", folder.display()))?;
        }
        std::fs::rename(file, &target).map_err(|error| format!("{}: {error}", target.display()))
    }
}

/// A window's files, written to the spool and delivered.
pub struct Output {
    spool: PathBuf,
    destination: Box<dyn Destination + Send>,
    /// Windows that could not even be written to the spool (disk full): kept in memory, tried
    /// again at the next poll.
    unwritten: Vec<(String, Vec<TcpStatsRow>)>,
}

/// What one delivery round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Files delivered.
    pub n_delivered: usize,
    /// Files still in the spool after a failed delivery.
    pub n_pending: usize,
}

impl Output {
    /// An output spooling into `spool` (created when needed) and delivering to `destination`.
    pub fn new(spool: PathBuf, destination: Box<dyn Destination + Send>) -> Output {
        Output {
            spool,
            destination,
            unwritten: Vec::new(),
        }
    }

    /// Writes a window's rows as `<spool>/tcp_stats/dt=…/hour=…/<name>.parquet` and delivers
    /// everything spooled. A window with no rows writes nothing.
    pub fn write_window(&mut self, name: String, rows: Vec<TcpStatsRow>) -> Delivery {
        if !rows.is_empty() {
            self.unwritten.push((name, rows));
        }
        self.flush()
    }

    /// Writes what could not be written before, then delivers every spooled file.
    pub fn flush(&mut self) -> Delivery {
        let table = tcp_stats();
        self.unwritten.retain(|(name, rows)| {
            match write_partitioned(&table, rows, &self.spool, name) {
                Ok(_) => false,
                Err(error) => {
                    tracing::error!(window = %name, %error, "Window not written; kept in memory");
                    true
                }
            }
        });
        let mut delivery = Delivery::default();
        let files = match spooled_files(&self.spool) {
            Ok(files) => files,
            Err(error) => {
                tracing::error!(%error, "Spool not readable");
                return delivery;
            }
        };
        for file in files {
            let Ok(relative) = file.strip_prefix(&self.spool) else {
                continue;
            };
            match self.destination.deliver(&file, relative) {
                Ok(()) => {
                    // A local folder moved the file; any other destination copied it.
                    let _ = std::fs::remove_file(&file);
                    delivery.n_delivered += 1;
                }
                Err(error) => {
                    tracing::warn!(file = %relative.display(), %error, "Delivery failed; kept in the spool");
                    delivery.n_pending += 1;
                }
            }
        }
        delivery
    }
}

/// The finished files under `<spool>/tcp_stats/`, oldest partition first; names starting with
/// `.` are files still being written.
fn spooled_files(spool: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let mut files = Vec::new();
    let mut folders = vec![spool.join(TCP_STATS)];
    while let Some(folder) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(WriteError::Io {
                    path: folder,
                    source,
                });
            }
        };
        for entry in entries {
            let path = entry
                .map_err(|source| WriteError::Io {
                    path: folder.clone(),
                    source,
                })?
                .path();
            let hidden = path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with('.'));
            if path.is_dir() {
                folders.push(path);
            } else if !hidden && path.extension().is_some_and(|ext| ext == "parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use flowatlas_rollup::{RttHistogram, ServiceLocation, TcpMeasures};

    use super::*;

    /// A destination that fails while told to, then delivers into a local folder.
    struct Flaky {
        failing: Arc<AtomicBool>,
        inner: LocalFolder,
    }

    impl Destination for Flaky {
        fn deliver(&mut self, file: &Path, relative: &Path) -> Result<(), String> {
            if self.failing.load(Ordering::SeqCst) {
                return Err("unreachable".into());
            }
            self.inner.deliver(file, relative)
        }
    }

    #[test]
    fn a_failed_delivery_stays_in_the_spool_until_it_lands() {
        let root = std::env::temp_dir().join(format!("flowatlas-agent-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let failing = Arc::new(AtomicBool::new(true));
        let destination = Flaky {
            failing: failing.clone(),
            inner: LocalFolder { root: root.clone() },
        };
        let mut output = Output::new(root.join("_spool"), Box::new(destination));
        let row = TcpStatsRow {
            window_start: 1_780_315_200,
            location: ServiceLocation::default(),
            host: Arc::from("web-1"),
            client_prefix: "203.0.113.0/24".parse().unwrap(),
            local_port: 443,
            measures: TcpMeasures::default(),
            rtt: RttHistogram::default(),
        };
        let delivery = output.write_window("web-1-a".into(), vec![row]);
        assert_eq!(delivery.n_pending, 1);
        let landed = root.join("tcp_stats/dt=2026-06-01/hour=12/web-1-a.parquet");
        assert!(!landed.exists());
        // A new output over the same spool (a restarted agent) delivers what is left.
        failing.store(false, Ordering::SeqCst);
        let mut restarted = Output::new(
            root.join("_spool"),
            Box::new(LocalFolder { root: root.clone() }),
        );
        assert_eq!(restarted.flush().n_delivered, 1);
        assert!(landed.exists());
        assert_eq!(restarted.flush(), Delivery::default());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
