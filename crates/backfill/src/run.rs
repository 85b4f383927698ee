//! Processing a plan: a fixed number of objects in flight (each streamed, so memory is bounded
//! whatever their sizes), failures retried with exponential backoff, and objects whose
//! manifest already records the same source ETag skipped — so an interrupted run, run again,
//! processes every object exactly once in effect.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flowatlas_geo::{Databases, Enricher};
use flowatlas_pipeline::{Config, ObjectReport, Source, manifest_path};
use flowatlas_s3::{Client, ObjectError, Publish, S3Url, Worker, get_text, process_object};
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
        let publish = match output {
            Output::Folder(dir) => {
                config.out_dir = dir.clone();
                None
            }
            Output::S3(destination) => {
                config.out_dir = options.scratch.join(format!("worker-{index}"));
                Some(Publish {
                    destination: destination.clone(),
                    part_size: options.part_size,
                })
            }
        };
        let worker = Worker {
            config,
            enricher: databases.clone().map(Enricher::new),
        };
        let task = WorkerTask {
            client: client.clone(),
            queue: Arc::clone(&queue),
            output: output.clone(),
            publish,
            options: options.clone(),
            events: events.clone(),
        };
        workers.spawn(task.run(worker));
    }
    while workers.join_next().await.is_some() {}
}

struct WorkerTask {
    client: Client,
    queue: Arc<Mutex<VecDeque<Planned>>>,
    output: Output,
    publish: Option<Publish>,
    options: RunOptions,
    events: UnboundedSender<Event>,
}

impl WorkerTask {
    async fn run(self, mut worker: Worker) {
        loop {
            let next = self
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            let Some(object) = next else { return };
            worker = self.one(worker, object).await;
        }
    }

    async fn one(&self, mut worker: Worker, object: Planned) -> Worker {
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
            return worker;
        }
        for attempt in 1..=self.options.attempts.max(1) {
            let (back, result) = process_object(
                &self.client,
                &object.bucket,
                &object.key,
                worker,
                self.publish.as_ref(),
                None,
            )
            .await;
            worker = back;
            let event = match result {
                Ok(processed) => Event::Done {
                    key,
                    bytes: processed.info.size,
                    report: Box::new(processed.report),
                },
                Err(ObjectError::NotFlowLog(why)) => Event::Ignored { key, why },
                Err(ObjectError::Failed(error)) if attempt < self.options.attempts => {
                    let _ = self.events.send(Event::Retrying {
                        key: key.clone(),
                        attempt,
                        error,
                    });
                    tokio::time::sleep(self.options.first_backoff * 2u32.pow(attempt - 1)).await;
                    continue;
                }
                Err(ObjectError::Failed(error)) => Event::Failed { key, error },
            };
            let _ = self.events.send(event);
            break;
        }
        worker
    }
}

/// The output's manifest of this object, when it records the object's current ETag.
pub(crate) async fn manifest_of(
    client: &Client,
    output: &Output,
    source: &Source,
) -> Option<serde_json::Value> {
    let etag = source.etag.as_ref()?;
    let relative = manifest_path(&source.id);
    let text = match output {
        Output::Folder(dir) => std::fs::read_to_string(dir.join(&relative)).ok(),
        Output::S3(destination) => get_text(
            client,
            &destination.bucket,
            &destination.key(&relative.to_string_lossy()),
        )
        .await
        .ok()
        .flatten(),
    }?;
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .filter(|manifest| manifest["source_etag"].as_str() == Some(etag))
}
