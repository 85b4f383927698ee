//! The events the function accepts, reduced to the objects they name.
//!
//! One handler takes every shape S3 can deliver through: S3 event notifications (invoked
//! directly), SQS messages whose bodies are S3 notifications (also through SNS) or EventBridge
//! events, and EventBridge "Object Created" events. Fields are read leniently: S3-compatible
//! servers leave out parts of AWS's shape (`userIdentity`, `responseElements`) that flowatlas
//! does not need.

use serde::Deserialize;
use serde_json::Value;

/// An object an event says was created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket the object was created in.
    pub bucket: String,
    /// The key, decoded: keys in S3 notifications are URL-encoded.
    pub key: String,
    /// The size the event reports.
    pub size: Option<u64>,
    /// The ETag the event reports.
    pub etag: Option<String>,
    /// When the object was created (the event's time), Unix milliseconds.
    pub created_ms: Option<i64>,
}

/// What one event asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Objects from an S3 notification or EventBridge event, invoked directly: any failure
    /// fails the invocation, which Lambda retries.
    Direct(Vec<Result<ObjectRef, String>>),
    /// An SQS batch: each message succeeds or fails on its own.
    Batch(Vec<Message>),
    /// Nothing to do, and why (`s3:TestEvent`, an event type that creates nothing).
    Ignore(String),
    /// An EventBridge schedule: assess the recent windows (the scheduled time, Unix seconds).
    Health(i64),
}

/// One SQS message.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    /// Its message id, the unit of partial batch failure.
    pub id: String,
    /// The objects it names, or why it cannot be read.
    pub objects: Result<Vec<Result<ObjectRef, String>>, String>,
}

/// Reads an event. An event of no known shape is an error naming what was found.
pub fn parse(event: &Value) -> Result<Invocation, String> {
    if event.get("source").and_then(Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
    {
        let time = event
            .get("time")
            .and_then(Value::as_str)
            .and_then(parse_time_ms)
            .ok_or("Scheduled Event without a valid `time`")?;
        return Ok(Invocation::Health(time.div_euclid(1000)));
    }
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let from_sqs = records
            .first()
            .and_then(|record| record.get("eventSource"))
            .and_then(Value::as_str)
            == Some("aws:sqs");
        if from_sqs {
            return Ok(Invocation::Batch(records.iter().map(sqs_message).collect()));
        }
    }
    match objects_of(event)? {
        Some(objects) => Ok(Invocation::Direct(objects)),
        None => Ok(Invocation::Ignore(describe_ignored(event))),
    }
}

fn sqs_message(record: &Value) -> Message {
    let id = record
        .get("messageId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let objects = match record.get("body").and_then(Value::as_str) {
        None => Err("SQS message has no body".to_owned()),
        Some(body) => serde_json::from_str::<Value>(body)
            .map_err(|error| format!("SQS message body is not JSON: {error}"))
            .and_then(|body| {
                // S3 → SNS → SQS wraps the notification in SNS's envelope.
                let body = match (
                    body.get("Type").and_then(Value::as_str),
                    body.get("Message"),
                ) {
                    (Some("Notification"), Some(Value::String(inner))) => {
                        serde_json::from_str(inner).map_err(|error| {
                            format!("SNS message in SQS body is not JSON: {error}")
                        })?
                    }
                    _ => body,
                };
                Ok(objects_of(&body)?.unwrap_or_default())
            }),
    };
    Message { id, objects }
}

/// The objects an S3 notification or EventBridge event names; `None` for events that name
/// nothing to process (test events, other event types).
fn objects_of(event: &Value) -> Result<Option<Vec<Result<ObjectRef, String>>>, String> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let objects: Vec<_> = records
            .iter()
            .filter(|record| {
                record
                    .get("eventName")
                    .and_then(Value::as_str)
                    .is_none_or(|name| name.starts_with("ObjectCreated:"))
            })
            .map(notification_object)
            .collect();
        return Ok((!objects.is_empty()).then_some(objects));
    }
    if event.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(None);
    }
    if event.get("source").and_then(Value::as_str) == Some("aws.s3") {
        if event.get("detail-type").and_then(Value::as_str) != Some("Object Created") {
            return Ok(None);
        }
        return Ok(Some(vec![eventbridge_object(event)]));
    }
    Err(format!(
        "not an S3 notification, SQS batch or EventBridge S3 event (top-level keys: {})",
        event
            .as_object()
            .map(|map| map.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_else(|| "none".into())
    ))
}

fn describe_ignored(event: &Value) -> String {
    if let Some(kind) = event.get("Event").and_then(Value::as_str) {
        return format!("{kind} acknowledged");
    }
    if let Some(kind) = event.get("detail-type").and_then(Value::as_str) {
        return format!("EventBridge `{kind}` creates no object");
    }
    "the event creates no object".into()
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "eventTime")]
    event_time: Option<String>,
    s3: NotificationS3,
}

#[derive(Deserialize)]
struct NotificationS3 {
    bucket: Named,
    object: NotificationObject,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct NotificationObject {
    key: String,
    size: Option<u64>,
    #[serde(rename = "eTag")]
    etag: Option<String>,
}

fn notification_object(record: &Value) -> Result<ObjectRef, String> {
    let notification = Notification::deserialize(record)
        .map_err(|error| format!("S3 notification record: {error}"))?;
    let raw_key = notification.s3.object.key;
    let key = decode_key(&raw_key)?;
    Ok(ObjectRef {
        bucket: notification.s3.bucket.name,
        key,
        size: notification.s3.object.size,
        etag: notification.s3.object.etag,
        created_ms: notification.event_time.as_deref().and_then(parse_time_ms),
    })
}

#[derive(Deserialize)]
struct EventBridgeS3 {
    time: Option<String>,
    detail: EventBridgeDetail,
}

#[derive(Deserialize)]
struct EventBridgeDetail {
    bucket: Named,
    object: EventBridgeObject,
}

#[derive(Deserialize)]
struct EventBridgeObject {
    key: String,
    size: Option<u64>,
    etag: Option<String>,
}

/// EventBridge carries the key as stored, not URL-encoded.
fn eventbridge_object(event: &Value) -> Result<ObjectRef, String> {
    let event = EventBridgeS3::deserialize(event)
        .map_err(|error| format!("EventBridge S3 event: {error}"))?;
    Ok(ObjectRef {
        bucket: event.detail.bucket.name,
        key: event.detail.object.key,
        size: event.detail.object.size,
        etag: event.detail.object.etag,
        created_ms: event.time.as_deref().and_then(parse_time_ms),
    })
}

/// RFC 3339 (`2026-06-01T14:05:09.123Z`) to Unix milliseconds.
fn parse_time_ms(text: &str) -> Option<i64> {
    flowatlas_s3::DateTime::from_str(text, flowatlas_s3::DateTimeFormat::DateTime)
        .ok()?
        .to_millis()
        .ok()
}

/// Decodes a key from an S3 notification: `+` is a space and `%XX` a byte, and the result
/// must be UTF-8. A key that cannot be decoded is an error naming the raw key.
pub fn decode_key(raw: &str) -> Result<String, String> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| format!("key `{raw}`: invalid percent-encoding at byte {i}"))?;
                decoded.push(hex);
                i += 2;
            }
            byte => decoded.push(byte),
        }
        i += 1;
    }
    String::from_utf8(decoded).map_err(|_| format!("key `{raw}`: decodes to invalid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_like_s3_encodes_them() {
        assert_eq!(
            decode_key("a+b%2Bc%20d/e.log.gz").unwrap(),
            "a b+c d/e.log.gz"
        );
        assert_eq!(decode_key("caf%C3%A9").unwrap(), "café");
        for bad in ["a%2", "a%zz", "%", "%C3"] {
            let error = decode_key(bad).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn times_parse_to_milliseconds() {
        assert_eq!(parse_time_ms("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(parse_time_ms("not a time"), None);
    }

    #[test]
    fn unknown_shapes_are_errors_naming_the_keys() {
        let error = parse(&serde_json::json!({"hello": 1})).unwrap_err();
        assert!(error.contains("hello"), "{error}");
        assert!(parse(&serde_json::json!([1, 2])).is_err());
    }
}
