//! Backfill on AWS Lambda, for histories too big for one machine: batches of objects go to the
//! deployed function as S3 notifications (asynchronous invokes, a fixed number of batches in
//! flight), and completion is read from the manifests the function writes — no scheduler of
//! our own. Objects whose manifest already records their ETag are skipped, as locally.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use flowatlas_pipeline::Source;
use flowatlas_s3::{Client, S3Url};
use tokio::sync::mpsc::UnboundedSender;

use crate::run::{Output, manifest_of};
use crate::{Event, Planned};

/// How to hand objects to the function.
#[derive(Clone, Debug)]
pub struct LambdaOptions {
    /// The function's name or ARN.
    pub function: String,
    /// Objects per invocation (one S3 notification with that many records).
    pub objects_per_invocation: usize,
    /// Batches whose objects are not all done yet, at most.
    pub batches_in_flight: usize,
    /// How long a batch may take before its missing objects are reported failed.
    pub wait: Duration,
    /// How often manifests are checked.
    pub poll: Duration,
}

/// A Lambda client from the SDK's standard settings (`AWS_ENDPOINT_URL_LAMBDA` or
/// `AWS_ENDPOINT_URL` for a local emulator).
pub async fn lambda_client_from_env() -> aws_sdk_lambda::Client {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_lambda::Client::new(&shared)
}

struct Batch {
    waiting: Vec<(Planned, Source)>,
    deadline: Instant,
    /// Set when the invoke itself failed: nothing will come, so the batch fails at once.
    invoke_error: Arc<Mutex<Option<String>>>,
}

/// Hands the objects to the function and reports each object's fate as it is seen in the
/// destination (which must be the function's `FLOWATLAS_DESTINATION`).
pub async fn run_via_lambda(
    s3: &Client,
    lambda: &aws_sdk_lambda::Client,
    objects: Vec<Planned>,
    destination: &S3Url,
    options: &LambdaOptions,
    events: UnboundedSender<Event>,
) {
    let output = Output::S3(destination.clone());
    let mut pending = Vec::new();
    for object in objects {
        let source = Source::of_s3_object(
            &object.bucket,
            &object.key,
            object.info.etag.clone(),
            Some(object.info.size),
        );
        if manifest_of(s3, &output, &source).await.is_some() {
            let _ = events.send(Event::Skipped {
                key: object.key,
                bytes: object.info.size,
            });
        } else {
            pending.push((object, source));
        }
    }
    let mut chunks = pending
        .chunks(options.objects_per_invocation.max(1))
        .map(<[_]>::to_vec)
        .collect::<Vec<_>>()
        .into_iter();
    let mut in_flight: Vec<Batch> = Vec::new();
    loop {
        while in_flight.len() < options.batches_in_flight.max(1) {
            let Some(chunk) = chunks.next() else { break };
            let payload = notification(&chunk);
            // Asynchronous invokes return at once on AWS; a local emulator may hold the call
            // until the function is done, so each invoke runs on its own task.
            let invoke = lambda
                .invoke()
                .function_name(&options.function)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(payload.to_string()))
                .send();
            let invoke_error = Arc::new(Mutex::new(None));
            let slot = Arc::clone(&invoke_error);
            tokio::spawn(async move {
                if let Err(error) = invoke.await {
                    let error = aws_sdk_lambda::error::DisplayErrorContext(error).to_string();
                    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
                }
            });
            in_flight.push(Batch {
                waiting: chunk,
                deadline: Instant::now() + options.wait,
                invoke_error,
            });
        }
        if in_flight.is_empty() {
            return;
        }
        tokio::time::sleep(options.poll).await;
        for batch in &mut in_flight {
            let invoke_error = batch
                .invoke_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut still_waiting = Vec::new();
            for (object, source) in batch.waiting.drain(..) {
                let event = match (manifest_of(s3, &output, &source).await, &invoke_error) {
                    (Some(manifest), _) => Event::Done {
                        key: object.key,
                        bytes: object.info.size,
                        report: Box::new(manifest.report()),
                    },
                    // Nothing more will come for this batch.
                    (None, Some(error)) => Event::Failed {
                        key: object.key,
                        error: format!("invoke {}: {error}", options.function),
                    },
                    (None, None) if Instant::now() >= batch.deadline => Event::Failed {
                        key: object.key,
                        error: format!(
                            "no manifest from {} within {} s: see the function's logs and its dead-letter queue",
                            options.function,
                            options.wait.as_secs()
                        ),
                    },
                    (None, None) => {
                        still_waiting.push((object, source));
                        continue;
                    }
                };
                let _ = events.send(event);
            }
            batch.waiting = still_waiting;
        }
        in_flight.retain(|batch| !batch.waiting.is_empty());
    }
}

/// The S3 notification the function takes, one record per object, keys URL-encoded as S3
/// encodes them. No event time: the function's lag metric is for live objects.
fn notification(chunk: &[(Planned, Source)]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = chunk
        .iter()
        .map(|(object, _)| {
            serde_json::json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": object.bucket},
                    "object": {"key": encode_key(&object.key), "size": object.info.size, "eTag": object.info.etag},
                },
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// URL-encodes a key as S3 notifications carry it: `+` for a space, `%XX` for anything but
/// unreserved characters and `/`.
pub fn encode_key(key: &str) -> String {
    let mut encoded = String::with_capacity(key.len());
    for &byte in key.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                encoded.push(byte as char);
            }
            b' ' => encoded.push('+'),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_encode_as_s3_does() {
        assert_eq!(
            encode_key("AWSLogs/1/a b+c/é.log.gz"),
            "AWSLogs/1/a+b%2Bc/%C3%A9.log.gz"
        );
    }
}
