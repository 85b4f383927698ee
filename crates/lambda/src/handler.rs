//! One invocation: the event's objects, each read from S3, processed by the same per-object
//! pipeline as `flowatlas process`, and its tables uploaded with the manifest last.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsBatchResponse;
use flowatlas_pipeline::{ObjectRef, ObjectReport};
use flowatlas_s3::{S3Store, S3Url};
use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::event::{self, Invocation};
use crate::metrics::Metrics;
use crate::state::State;

/// Why an object of an event failed; every failure may succeed on a retry (the Lambda's own,
/// or SQS's redelivery), which is why it fails the invocation or its message.
#[derive(Debug, thiserror::Error)]
pub enum ObjectFailure {
    /// The event record does not name an object.
    #[error("{0}")]
    Unreadable(String),
    /// Too little of the invocation was left to start the object.
    #[error("too little time left in this invocation (less than the {reserve_s} s reserve); retry")]
    NoTimeLeft {
        /// The reserve kept for uploads, seconds.
        reserve_s: u64,
    },
    /// The pipeline failed on the object in a way a retry may mend.
    #[error(transparent)]
    Pipeline(flowatlas_pipeline::Error),
}

impl ObjectFailure {
    /// True when a retry may succeed: an object that is no log is ignored, never a failure,
    /// so every failure but an unreadable event record is worth another try.
    pub fn is_retryable(&self) -> bool {
        match self {
            ObjectFailure::Unreadable(_) => false,
            ObjectFailure::NoTimeLeft { .. } => true,
            ObjectFailure::Pipeline(error) => error.is_retryable(),
        }
    }
}

/// Why an invocation failed, as the Lambda service sees it: the error type tells a retry that
/// may succeed (`flowatlas.Retryable`, which Lambda's retries and a redrive should repeat) from
/// an event no retry can mend (`flowatlas.NonRetryable`).
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The payload is no event flowatlas reads.
    #[error("{0}")]
    Event(String),
    /// Objects of a direct event failed; each may succeed on a retry.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Objects(Vec<ObjectFailure>),
    /// The scheduled health run failed.
    #[error("{0}")]
    Health(String),
    /// The SQS batch response could not be encoded.
    #[error("SQS batch response: {0}")]
    Response(serde_json::Error),
}

impl InvocationError {
    /// True when the same invocation may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            InvocationError::Event(_) | InvocationError::Response(_) => false,
            InvocationError::Objects(failures) => failures.iter().any(ObjectFailure::is_retryable),
            InvocationError::Health(_) => true,
        }
    }
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(error: InvocationError) -> lambda_runtime::Diagnostic {
        let error_type = if error.is_retryable() {
            "flowatlas.Retryable"
        } else {
            "flowatlas.NonRetryable"
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
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
    Failed(ObjectFailure),
}

/// Handles one event; the response is the SQS batch response for SQS batches.
pub async fn handle(
    state: Arc<State>,
    payload: Value,
    deadline_ms: u64,
    function: &str,
) -> Result<Value, InvocationError> {
    let started = Instant::now();
    tracing::debug!(deadline_ms, now_ms = now_ms(), "invocation");
    let stop_at = stop_time(deadline_ms, state.settings.time_reserve);
    let invocation = event::parse(&payload).map_err(InvocationError::Event)?;
    let mut metrics = Metrics::default();
    let response = match invocation {
        Invocation::Health(scheduled_at) => {
            crate::health::run(&state, scheduled_at, function, stop_at)
                .await
                .map_err(InvocationError::Health)
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
                Err(InvocationError::Objects(failures))
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
            serde_json::to_value(response).map_err(InvocationError::Response)
        }
    };
    metrics.duration_ms = started.elapsed().as_millis() as i64;
    metrics.emit(function, now_ms());
    response
}

/// Processes one object of an event and records it; returns the failure, if any.
async fn run(
    state: &Arc<State>,
    object: Result<event::ObjectRef, String>,
    stop_at: Instant,
    metrics: &mut Metrics,
) -> Option<ObjectFailure> {
    let object = match object {
        Ok(object) => object,
        Err(why) => {
            error!(error = %why, "event record unreadable");
            metrics.objects_failed += 1;
            return Some(ObjectFailure::Unreadable(why));
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

/// One object: checks, then the one object path (read, process and publish with the manifest
/// last, on a blocking thread).
pub async fn process_object(
    state: &Arc<State>,
    object: &event::ObjectRef,
    stop_at: Instant,
) -> Outcome {
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
            "the key is not the name of a log flowatlas reads (.log, .gz, .parquet; ALB access and Classic Load Balancer logs carry no client timing)".into(),
        );
    }
    if Instant::now() >= stop_at {
        return Outcome::Failed(ObjectFailure::NoTimeLeft {
            reserve_s: settings.time_reserve.as_secs(),
        });
    }
    let source = S3Store::new(
        state.client.clone(),
        S3Url {
            bucket: object.bucket.clone(),
            prefix: String::new(),
        },
    )
    .with_stop_at(Some(stop_at));
    let destination = S3Store::new(state.client.clone(), settings.destination.clone())
        .with_part_size(settings.part_size);
    let state = Arc::clone(state);
    let key = object.key.clone();
    let processed = tokio::task::spawn_blocking(move || {
        let mut enricher = state
            .enricher
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let object = ObjectRef::Stored {
            store: &source,
            key: &key,
        };
        flowatlas_pipeline::process_object(object, &state.config, &destination, enricher.as_mut())
            .map(|report| {
                let size = report.object_bytes;
                (report, size)
            })
    })
    .await;
    match processed {
        Ok(Ok((report, size))) => Outcome::Done(Box::new(report), size),
        Ok(Err(error)) if !error.is_retryable() => {
            Outcome::Ignored(format!("not a flow log: {error}"))
        }
        Ok(Err(error)) => Outcome::Failed(ObjectFailure::Pipeline(error)),
        // Panics are caught by the pipeline; the task can only be cancelled at shutdown.
        Err(_) => Outcome::Failed(ObjectFailure::Pipeline(
            flowatlas_pipeline::Error::Panicked {
                object: format!("s3://{}/{}", object.bucket, object.key),
            },
        )),
    }
}
