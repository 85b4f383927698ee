//! One object, wherever it is, through the pipeline to tables published in a store: the only
//! path from an object to published tables. `flowatlas process`, backfill and the Lambda all
//! call [`process_object`] (the first through a [`crate::Batch`], which shares the opening
//! below), so an object gives the same tables, under the same names, whichever ran it.

use std::io::{Cursor, Read};
use std::panic::AssertUnwindSafe;
use std::path::Path;

use bytes::Bytes;
use flowatlas_flowlog::Reader;
use flowatlas_geo::Enricher;
use flowatlas_rollup::Rollup;
use flowatlas_store::layout::is_tcp_stats;
use flowatlas_store::{Body, RangedRead, Store};

use crate::elb::{self, ElbObject};
use crate::{Config, Error, ObjectReport, Source, io_error, process_elb, process_tcp_stats};

/// An object to process.
#[derive(Clone, Copy)]
pub enum ObjectRef<'a> {
    /// A local file (its path need not be UTF-8, so no key names it).
    File(&'a Path),
    /// An object of a store (an S3 bucket), by key.
    Stored {
        /// Where it is.
        store: &'a dyn Store,
        /// The object's key in that store (relative to its root or prefix).
        key: &'a str,
    },
}

/// Processes one object into the tables and publishes them in `store`, the manifest last:
/// files a previous run of the same object wrote and this one did not are removed, so a
/// re-run never duplicates. Tables are written under `config.out_dir` first: the store's own
/// folder when it is a local one, else a scratch folder, emptied first, whose files are
/// uploaded. A flow log, an agent's `tcp_stats` object or a load-balancer log (by AWS's key
/// layout or by content) — what the object is decides its tables. A panic while processing
/// is an error of this object ([`Error::Panicked`]).
pub fn process_object(
    object: ObjectRef<'_>,
    config: &Config,
    store: &dyn Store,
    enricher: Option<&mut Enricher>,
) -> Result<ObjectReport, Error> {
    let mut enricher = enricher;
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        if store.local_root().is_none() {
            empty_scratch(&config.out_dir)?;
        }
        match open_object(object, config, store, enricher.as_deref_mut())? {
            Opened::Done(report) => Ok(report),
            Opened::FlowLog(reader, source) => {
                let mut rollup = Rollup::new(config.rollup.clone());
                crate::read_object(
                    *reader,
                    &source,
                    config,
                    enricher.as_deref_mut(),
                    &mut rollup,
                )?
                .commit_alone(config, store, &source)
            }
        }
    }))
    .unwrap_or_else(|_| {
        Err(Error::Panicked {
            object: object_name(object),
        })
    })
}

fn object_name(object: ObjectRef<'_>) -> String {
    match object {
        ObjectRef::File(path) => path.display().to_string(),
        ObjectRef::Stored { store, key } => store.name(key),
    }
}

fn empty_scratch(scratch: &Path) -> Result<(), Error> {
    match std::fs::remove_dir_all(scratch) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(io_error(scratch)(error));
        }
        _ => {}
    }
    std::fs::create_dir_all(scratch).map_err(io_error(scratch))
}

/// An object opened by [`open_object`].
pub(crate) enum Opened {
    /// Not a flow log: processed and committed alone.
    Done(ObjectReport),
    /// A flow log, opened, for the caller to process alone or in a [`crate::Batch`].
    FlowLog(Box<Reader>, Source),
}

/// Opens an object and tells what it holds: agent and load-balancer objects are processed and
/// committed to `store` (always in files of their own), flow logs are handed back opened.
pub(crate) fn open_object(
    object: ObjectRef<'_>,
    config: &Config,
    store: &dyn Store,
    enricher: Option<&mut Enricher>,
) -> Result<Opened, Error> {
    let (body, source) = match object {
        ObjectRef::File(path) => {
            let source = Source::of_path(path);
            let file = std::fs::File::open(path).map_err(|error| Error::Read {
                object: source.name.clone(),
                source: error.into(),
            })?;
            (Body::File(file), source)
        }
        ObjectRef::Stored { store: from, key } => {
            let (body, info) = from.open(key).map_err(Error::Store)?;
            (body, Source::of_stored(from, key, &info))
        }
    };
    let read_error = |error: std::io::Error| Error::Read {
        object: source.name.clone(),
        source: error.into(),
    };
    if is_tcp_stats(&source.key) {
        let report = match body {
            Body::File(file) => process_tcp_stats(file, &source, config, store, enricher)?,
            Body::Ranged(ranged) => {
                process_tcp_stats(RangedChunks(ranged), &source, config, store, enricher)?
            }
            Body::Stream(_) => {
                return Err(Error::NotParquet {
                    object: source.name,
                });
            }
        };
        return Ok(Opened::Done(report));
    }
    let read = source.read_options(&config.read);
    let reader = match body {
        Body::File(mut file) => {
            let object = match elb::classify_by_key(&source.key) {
                Some(object) => object,
                None => elb::classify_by_head(&elb::file_head(&mut file).map_err(read_error)?),
            };
            match log_kind(&source, object)? {
                Some(kind) => {
                    return process_elb(file, kind, &source, config, store, enricher)
                        .map(Opened::Done);
                }
                None => Reader::from_file(file, &read),
            }
        }
        Body::Stream(mut stream) => {
            let (object, head) = match elb::classify_by_key(&source.key) {
                Some(object) => (object, Vec::new()),
                None => {
                    let head = elb::read_head(&mut stream).map_err(read_error)?;
                    (elb::classify_by_head(&head), head)
                }
            };
            let kind = log_kind(&source, object)?;
            let input = Cursor::new(head).chain(stream);
            match kind {
                Some(kind) => {
                    return process_elb(input, kind, &source, config, store, enricher)
                        .map(Opened::Done);
                }
                None => Reader::new(input, &read),
            }
        }
        Body::Ranged(ranged) => Reader::parquet(RangedChunks(ranged), &read),
    };
    let reader = reader.map_err(|error| Error::Read {
        object: source.name.clone(),
        source: error,
    })?;
    Ok(Opened::FlowLog(Box::new(reader), source))
}

/// The load-balancer log an object is, if any; a layout flowatlas does not read is an error.
fn log_kind(
    source: &Source,
    object: ElbObject,
) -> Result<Option<flowatlas_elblog::LogKind>, Error> {
    match object {
        ElbObject::Read(kind) => Ok(Some(kind)),
        ElbObject::NotRead(what) => Err(Error::NotRead {
            object: source.name.clone(),
            what,
        }),
        ElbObject::Other => Ok(None),
    }
}

/// A store's ranged reads as Parquet's `ChunkReader`.
struct RangedChunks(Box<dyn RangedRead>);

impl parquet::file::reader::Length for RangedChunks {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl parquet::file::reader::ChunkReader for RangedChunks {
    type T = Cursor<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let length = usize::try_from(self.0.len().saturating_sub(start)).unwrap_or(usize::MAX);
        Ok(Cursor::new(self.get_bytes(start, length)?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        if start.saturating_add(length as u64) > self.0.len() {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "range {start}+{length} beyond the object's {} bytes",
                self.0.len()
            )));
        }
        self.0
            .read_range(start, length)
            .map_err(|error| parquet::errors::ParquetError::External(Box::new(error)))
    }
}

#[cfg(test)]
mod tests {
    use flowatlas_geo::PeerRules;
    use flowatlas_rollup::{RollupConfig, ServiceLocation};
    use flowatlas_store::LocalStore;

    use super::*;
    use crate::{Manifest, Tables};

    const RECORD: &str = "2 123456789012 eni-1 10.0.0.5 89.160.20.128 443 50000 6 10 5000 1780315200 1780315260 ACCEPT OK\n";

    #[test]
    fn an_object_commits_its_manifest_and_failures_say_whether_to_retry() {
        let root = std::env::temp_dir().join(format!("flowatlas-object-{}", std::process::id()));
        let out_dir = root.join("out");
        let config = Config {
            read: flowatlas_flowlog::Options::default(),
            rules: PeerRules::new(&["10.0.0.0/8".to_owned()], None).unwrap(),
            rollup: RollupConfig {
                prefix_len_v4: 24,
                prefix_len_v6: 48,
                default_location: ServiceLocation::default(),
            },
            out_dir: out_dir.clone(),
            tables: Tables::default(),
        };
        let output = LocalStore::new(&out_dir);
        let logs = LocalStore::new(root.join("logs"));
        logs.put("a.log", RECORD.as_bytes()).unwrap();
        logs.put("notes.log", b"dear diary\nnothing here\n")
            .unwrap();

        let object = ObjectRef::Stored {
            store: &logs,
            key: "a.log",
        };
        let report = process_object(object, &config, &output, None).unwrap();
        assert_eq!(
            (report.counts.ok, report.object_bytes),
            (1, RECORD.len() as u64)
        );
        let id = Source::of_stored(&logs, "a.log", &logs.open("a.log").unwrap().1).id;
        let key = flowatlas_store::layout::manifest_key(&id);
        let manifest: Manifest = flowatlas_store::read_json(&output, &key).unwrap().unwrap();
        assert_eq!(manifest.records.ok, 1);
        assert_eq!(manifest.file_paths(), report.files);
        for file in &report.files {
            assert!(out_dir.join(file).is_file(), "{}", file.display());
        }

        let not_a_log = ObjectRef::Stored {
            store: &logs,
            key: "notes.log",
        };
        let error = process_object(not_a_log, &config, &output, None).unwrap_err();
        assert!(error.is_not_a_log() && !error.is_retryable(), "{error}");
        let missing = ObjectRef::File(Path::new("/nonexistent/flowatlas/x.log"));
        let error = process_object(missing, &config, &output, None).unwrap_err();
        assert!(error.is_retryable(), "{error}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
