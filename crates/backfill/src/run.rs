//! Processing a plan: a fixed number of objects in flight (each streamed, so memory is bounded
//! whatever their sizes), failures retried with exponential backoff, and objects whose
//! manifest already records the same source ETag skipped — so an interrupted run, run again,
//! processes every object exactly once in effect.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flowatlas_geo::{Databases, Enricher};
use flowatlas_pipeline::{Config, Manifest, ObjectRef, ObjectReport, Source};
use flowatlas_s3::{Client, S3Store, S3Url, get_text};
use flowatlas_store::layout::manifest_key;
use flowatlas_store::{LocalStore, Store};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use crate::Planned;

/// Where the tables go.
#[derive(Clone, Debug)]
pub enum Output {
    /// A local folder, written in place.
    Folder(PathBuf),
    /// A bucket and prefix (the Lambda's destination, so history and live data meet).
    S3(S3Url),
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Objects in flight at once.
    pub concurrency: usize,
    /// Tries per object before it is reported failed.
    pub attempts: u32,
    /// Wait before the second try; doubled for each further one.
    pub first_backoff: Duration,
    /// Multipart part size for S3 output.
    pub part_size: u64,
    /// Scratch folders for S3 output, one per worker.
    pub scratch: PathBuf,
}

/// What happened to one object; the run sends one final event per object (`Skipped`, `Done`,
/// `Ignored` or `Failed`) and a `Retrying` for each failed try before the last.
#[derive(Debug)]
pub enum Event {
    /// Its manifest already records this ETag: done by an earlier run (or by the Lambda).
    Skipped {
        /// The object.
        key: String,
        /// Its size.
        bytes: u64,
    },
    /// Processed.
    Done {
        /// The object.
        key: String,
        /// Its size.
        bytes: u64,
        /// What processing did.
        report: Box<ObjectReport>,
    },
    /// Not a flow log by content.
    Ignored {
        /// The object.
        key: String,
        /// Reason it was left alone, e.g. not a flow log.
        why: String,
    },
    /// A try failed; another follows after a pause.
    Retrying {
        /// The object.
        key: String,
        /// The try that failed (1-based).
        attempt: u32,
        /// What failed.
        error: String,
    },
    /// Every try failed.
    Failed {
        /// The object.
        key: String,
        /// The last error.
        error: String,
    },
}

/// Processes the objects; returns when every object has its final event.
pub async fn run(
    client: &Client,
    objects: Vec<Planned>,
    base: &Config,
    databases: Option<Arc<Databases>>,
    output: &Output,
    options: &RunOptions,
    events: UnboundedSender<Event>,
) {
    let queue = Arc::new(Mutex::new(VecDeque::from(objects)));
    let mut workers = JoinSet::new();
    for index in 0..options.concurrency.max(1) {
        let mut config = base.clone();
        let store: Arc<dyn Store> = match output {
            Output::Folder(dir) => {
                config.out_dir = dir.clone();
                Arc::new(LocalStore::new(dir))
            }
            Output::S3(destination) => {
                config.out_dir = options.scratch.join(format!("worker-{index}"));
                Arc::new(
                    S3Store::new(client.clone(), destination.clone())
                        .with_part_size(options.part_size),
                )
            }
        };
        let task = WorkerTask {
            client: client.clone(),
            queue: Arc::clone(&queue),
            output: output.clone(),
            store,
            config: Arc::new(config),
            enricher: Arc::new(Mutex::new(databases.clone().map(Enricher::new))),
            options: options.clone(),
            events: events.clone(),
        };
        workers.spawn(task.run());
    }
    while workers.join_next().await.is_some() {}
}

/// One worker: its own output folder or scratch folder and its own enricher, whose cache stays
/// warm from one object to the next.
struct WorkerTask {
    client: Client,
    queue: Arc<Mutex<VecDeque<Planned>>>,
    output: Output,
    store: Arc<dyn Store>,
    config: Arc<Config>,
    enricher: Arc<Mutex<Option<Enricher>>>,
    options: RunOptions,
    events: UnboundedSender<Event>,
}

impl WorkerTask {
    async fn run(self) {
        loop {
            let next = self
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            let Some(object) = next else { return };
            self.one(object).await;
        }
    }

    /// Processes one object on a blocking thread through the one object path.
    async fn process(&self, object: &Planned) -> Result<ObjectReport, flowatlas_pipeline::Error> {
        let source = S3Store::new(
            self.client.clone(),
            S3Url {
                bucket: object.bucket.clone(),
                prefix: String::new(),
            },
        );
        let (key, config, store, enricher) = (
            object.key.clone(),
            Arc::clone(&self.config),
            Arc::clone(&self.store),
            Arc::clone(&self.enricher),
        );
        let name = format!("s3://{}/{}", object.bucket, object.key);
        tokio::task::spawn_blocking(move || {
            let mut enricher = enricher.lock().unwrap_or_else(PoisonError::into_inner);
            let object = ObjectRef::Stored {
                store: &source,
                key: &key,
            };
            flowatlas_pipeline::process_object(object, &config, store.as_ref(), enricher.as_mut())
        })
        .await
        // Panics are caught by the pipeline; the task can only be cancelled at shutdown.
        .unwrap_or(Err(flowatlas_pipeline::Error::Panicked { object: name }))
    }

    async fn one(&self, object: Planned) {
        let source = Source::of_s3_object(
            &object.bucket,
            &object.key,
            object.info.etag.clone(),
            Some(object.info.size),
        );
        let key = object.key.clone();
        if manifest_of(&self.client, &self.output, &source)
            .await
            .is_some()
        {
            let _ = self.events.send(Event::Skipped {
                key,
                bytes: object.info.size,
            });
            return;
        }
        for attempt in 1..=self.options.attempts.max(1) {
            let event = match self.process(&object).await {
                Ok(report) => Event::Done {
                    key,
                    bytes: report.object_bytes,
                    report: Box::new(report),
                },
                Err(error) if !error.is_retryable() => Event::Ignored {
                    key,
                    why: error.to_string(),
                },
                Err(error) if attempt < self.options.attempts => {
                    let _ = self.events.send(Event::Retrying {
                        key: key.clone(),
                        attempt,
                        error: error.to_string(),
                    });
                    tokio::time::sleep(self.options.first_backoff * 2u32.pow(attempt - 1)).await;
                    continue;
                }
                Err(error) => Event::Failed {
                    key,
                    error: error.to_string(),
                },
            };
            let _ = self.events.send(event);
            break;
        }
    }
}

/// The output's manifest of this object, when it records the object's current ETag.
pub(crate) async fn manifest_of(
    client: &Client,
    output: &Output,
    source: &Source,
) -> Option<Manifest> {
    let etag = source.etag.as_ref()?;
    let relative = manifest_key(&source.id);
    let text = match output {
        Output::Folder(dir) => std::fs::read_to_string(dir.join(&relative)).ok(),
        Output::S3(destination) => {
            get_text(client, &destination.bucket, &destination.key(&relative))
                .await
                .ok()
                .flatten()
        }
    }?;
    serde_json::from_str::<Manifest>(&text)
        .ok()
        .filter(|manifest| manifest.source_etag.as_ref() == Some(etag))
}
