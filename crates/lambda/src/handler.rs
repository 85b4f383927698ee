//! One invocation: the event's objects, each read from S3, processed by the same per-object
//! pipeline as `flowatlas process`, and its tables uploaded with the manifest last.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsBatchResponse;
use flowatlas_pipeline::ObjectReport;
use flowatlas_s3::{Client, ObjectError, Publish, Worker};
use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::config::Settings;
use crate::event::{self, Invocation, ObjectRef};
use crate::metrics::Metrics;

/// What lives from one cold start to the next invocations.
pub struct State {
    /// Configuration read from the environment at cold start.
    pub settings: Settings,
    /// The S3 client.
    pub client: Client,
    /// The EventBridge client health events are put with.
    pub events: Option<aws_sdk_eventbridge::Client>,
    /// The pipeline's configuration (`out_dir` is a scratch folder emptied for each object)
    /// and the enricher, whose cache stays warm across objects and invocations.
    pub worker: Mutex<Option<Worker>>,
}

/// What became of one object.
pub enum Outcome {
    /// Processed: the tables and manifest are in the destination. With the object's size.
    Done(Box<ObjectReport>, u64),
    /// Not a flow log, by key or by content.
    Ignored(String),
    /// Outside the configured sources: never fetched.
    Refused(String),
    /// Failed; a retry may succeed.
    Failed(String),
}

/// Handles one event; the response is the SQS batch response for SQS batches.
pub async fn handle(
    state: Arc<State>,
    payload: Value,
    deadline_ms: u64,
    function: &str,
) -> Result<Value, String> {
    let started = Instant::now();
    tracing::debug!(deadline_ms, now_ms = now_ms(), "invocation");
    let stop_at = stop_time(deadline_ms, state.settings.time_reserve);
    let invocation = event::parse(&payload)?;
    let mut metrics = Metrics::default();
    let response = match invocation {
        Invocation::Health(scheduled_at) => {
            crate::health::run(&state, scheduled_at, function).await
        }
        Invocation::Ignore(why) => {
            info!(reason = %why, "event ignored");
            Ok(json!({ "ignored": why }))
        }
        Invocation::Direct(objects) => {
            let mut failures = Vec::new();
            for object in objects {
                if let Some(failure) = run(&state, object, stop_at, &mut metrics).await {
                    failures.push(failure);
                }
            }
            if failures.is_empty() {
                Ok(
                    json!({ "objects": metrics.objects, "ignored": metrics.objects_ignored, "refused": metrics.objects_refused }),
                )
            } else {
                Err(failures.join("; "))
            }
        }
        Invocation::Batch(messages) => {
            let mut response = SqsBatchResponse::default();
            for message in messages {
                let mut failed = false;
                match message.objects {
                    Err(why) => {
                        error!(message_id = %message.id, error = %why, "SQS message unreadable");
                        metrics.objects_failed += 1;
                        failed = true;
                    }
                    Ok(objects) => {
                        for object in objects {
                            failed |= run(&state, object, stop_at, &mut metrics).await.is_some();
                        }
                    }
                }
                if failed {
                    response.add_failure(message.id);
                }
            }
            serde_json::to_value(response).map_err(|error| error.to_string())
        }
    };
    metrics.duration_ms = started.elapsed().as_millis() as i64;
    metrics.emit(function, now_ms());
    response
}

/// Processes one object of an event and records it; returns the failure, if any.
async fn run(
    state: &Arc<State>,
    object: Result<ObjectRef, String>,
    stop_at: Instant,
    metrics: &mut Metrics,
) -> Option<String> {
    let object = match object {
        Ok(object) => object,
        Err(why) => {
            error!(error = %why, "event record unreadable");
            metrics.objects_failed += 1;
            return Some(why);
        }
    };
    let name = format!("s3://{}/{}", object.bucket, object.key);
    match process_object(state, &object, stop_at).await {
        Outcome::Done(report, object_bytes) => {
            let lag_ms = object.created_ms.map(|created| now_ms() - created);
            info!(object = %name, records = report.counts.read, rejected = report.counts.rejected, lag_ms, "object processed");
            metrics.add_object(&report, object_bytes, lag_ms);
            None
        }
        Outcome::Ignored(why) => {
            info!(object = %name, reason = %why, "object ignored");
            metrics.objects_ignored += 1;
            None
        }
        Outcome::Refused(why) => {
            warn!(object = %name, reason = %why, "object refused: never fetched");
            metrics.objects_refused += 1;
            None
        }
        Outcome::Failed(why) => {
            error!(object = %name, error = %why, "object failed");
            metrics.objects_failed += 1;
            Some(why)
        }
    }
}

/// The instant reading must stop: the invocation's deadline less the reserve for uploads.
/// Lambda sends the deadline in Unix milliseconds; `cargo lambda watch` sends the timeout itself
/// (600000), so a value too small to be a date of this century is read as a duration.
fn stop_time(deadline_ms: u64, reserve: Duration) -> Instant {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    let remaining_ms = if deadline_ms < YEAR_2001_MS {
        deadline_ms
    } else {
        deadline_ms.saturating_sub(now_ms().max(0) as u64)
    };
    Instant::now() + Duration::from_millis(remaining_ms).saturating_sub(reserve)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// One object: checks, then the shared S3 path (read, process on a blocking thread, publish
/// with the manifest last).
pub async fn process_object(state: &Arc<State>, object: &ObjectRef, stop_at: Instant) -> Outcome {
    let settings = &state.settings;
    if !settings.may_read(&object.bucket, &object.key) {
        return Outcome::Refused(format!(
            "not under the configured sources ({})",
            settings
                .sources
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !flowatlas_pipeline::is_log_file_name(&object.key) {
        return Outcome::Ignored(
            "the key is not a flow-log file name (.log, .gz, .parquet)".into(),
        );
    }
    if Instant::now() >= stop_at {
        return Outcome::Failed(format!(
            "too little time left in this invocation (less than the {} s reserve); retry",
            settings.time_reserve.as_secs()
        ));
    }
    // One invocation at a time per instance: the worker is always there between objects.
    let Some(worker) = state
        .worker
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    else {
        return Outcome::Failed("the processing worker is busy".into());
    };
    let publish = Publish {
        destination: settings.destination.clone(),
        part_size: settings.part_size,
    };
    let (worker, processed) = flowatlas_s3::process_object(
        &state.client,
        &object.bucket,
        &object.key,
        worker,
        Some(&publish),
        Some(stop_at),
    )
    .await;
    *state.worker.lock().unwrap_or_else(PoisonError::into_inner) = Some(worker);
    match processed {
        Ok(processed) => Outcome::Done(Box::new(processed.report), processed.info.size),
        Err(ObjectError::NotFlowLog(why)) => Outcome::Ignored(format!("not a flow log: {why}")),
        Err(ObjectError::Failed(why)) => Outcome::Failed(why),
    }
}
