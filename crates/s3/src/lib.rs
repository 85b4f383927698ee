//! S3 access for flowatlas, shared by the Lambda and the command line.
//!
//! # Overview
//!
//! - [`client_from_env`]: an `aws-sdk-s3` client from the SDK's standard settings (region,
//!   credentials chain, `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`), with path-style addressing
//!   when a custom endpoint is set so that any S3-compatible server works unchanged.
//! - [`open`]: an object as a blocking [`Read`] that streams the download (text and gzip), or,
//!   for Parquet, a [`RangedObject`] that Parquet reads footer-first in ranges. Both stop with
//!   an error once a deadline passes, so a caller can fail an object cleanly instead of being
//!   killed mid-write.
//! - [`upload_file`] (multipart above a part size), [`get_text`], [`delete`], [`list`],
//!   [`list_folders`].
//! - [`S3Store`]: a bucket and prefix as a `flowatlas_store::Store`, the pipeline's view of
//!   S3 (it knows nothing of flow logs: the pipeline drives it).
//!
//! The readers block: use them from a blocking thread (`tokio::task::spawn_blocking`), never
//! from an async task.
#![deny(missing_docs)]

mod store;

pub use flowatlas_store::{Listed, ObjectInfo};
pub use store::S3Store;

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use flowatlas_store::Body;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

pub use aws_sdk_s3::Client;
pub use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};

/// What S3 access can fail with; each names the object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not of the form `s3://bucket/prefix`.
    #[error("`{0}`: not an S3 URL (expected s3://bucket/prefix)")]
    Url(String),
    /// A request failed.
    #[error("s3://{bucket}/{key}: {operation}: {message}")]
    Request {
        /// The S3 operation.
        operation: &'static str,
        /// Bucket the request went to.
        bucket: String,
        /// The key (or prefix).
        key: String,
        /// What S3 or the SDK said.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

/// A bucket and a key prefix: `s3://bucket/prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    /// Bucket name, without `s3://`.
    pub bucket: String,
    /// The key prefix: empty, or ending in `/` when the URL named a folder.
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket` or `s3://bucket/prefix`.
    pub fn parse(url: &str) -> Result<S3Url, Error> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| Error::Url(url.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(Error::Url(url.to_owned()));
        }
        Ok(S3Url {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// True when `bucket`/`key` is under this URL.
    pub fn contains(&self, bucket: &str, key: &str) -> bool {
        bucket == self.bucket && key.starts_with(&self.prefix)
    }

    /// The key of `relative` under this prefix (a `/` is put between them when needed).
    pub fn key(&self, relative: &str) -> String {
        if self.prefix.is_empty() || self.prefix.ends_with('/') {
            format!("{}{relative}", self.prefix)
        } else {
            format!("{}/{relative}", self.prefix)
        }
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// A client from the SDK's standard settings. A custom endpoint (`AWS_ENDPOINT_URL_S3` or
/// `AWS_ENDPOINT_URL`) switches to path-style addressing, which S3-compatible servers need.
pub async fn client_from_env() -> Client {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let custom_endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|value| !value.is_empty()));
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(custom_endpoint)
        .build();
    Client::from_conf(config)
}

fn request_error<E: std::error::Error + 'static>(
    operation: &'static str,
    bucket: &str,
    key: &str,
) -> impl FnOnce(E) -> Error {
    move |error| Error::Request {
        operation,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message: DisplayErrorContext(&error).to_string(),
    }
}

const PARQUET_MAGIC: &[u8] = b"PAR1";
/// Chunks of the download held ahead of the reader: bounds memory whatever the object's size.
const CHUNKS_AHEAD: usize = 8;

/// Opens an object for reading. The first bytes decide: Parquet is read in ranges, anything
/// else is streamed. Reading fails once `stop_at` has passed.
pub async fn open(
    client: &Client,
    bucket: &str,
    key: &str,
    stop_at: Option<Instant>,
) -> Result<(Body, ObjectInfo), Error> {
    let response = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(request_error("GetObject", bucket, key))?;
    let info = ObjectInfo {
        size: response
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        etag: response
            .e_tag()
            .map(|etag| etag.trim_matches('"').to_owned()),
        last_modified_ms: response
            .last_modified()
            .and_then(|time| time.to_millis().ok()),
    };
    let mut body = response.body;
    let mut head = Vec::new();
    while head.len() < PARQUET_MAGIC.len() {
        match body.try_next().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(error) => return Err(request_error("GetObject", bucket, key)(error)),
        }
    }
    if head.starts_with(PARQUET_MAGIC) {
        let ranged = RangedObject {
            client: client.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: info.size,
            handle: Handle::current(),
            stop_at,
        };
        return Ok((Body::Ranged(Box::new(ranged)), info));
    }
    let reader = StreamReader::start(body, Bytes::from(head), stop_at);
    Ok((Body::Stream(Box::new(reader)), info))
}

/// A download read as a blocking stream. A task pulls the body into a bounded channel, so the
/// network and the reader overlap while at most a few chunks wait in memory.
pub struct StreamReader {
    current: Bytes,
    chunks: mpsc::Receiver<io::Result<Bytes>>,
    stop_at: Option<Instant>,
}

impl StreamReader {
    fn start(mut body: ByteStream, head: Bytes, stop_at: Option<Instant>) -> StreamReader {
        let (sender, chunks) = mpsc::channel(CHUNKS_AHEAD);
        tokio::spawn(async move {
            loop {
                match body.try_next().await {
                    // A closed channel means the reader is gone: stop downloading.
                    Ok(Some(chunk)) => {
                        if sender.send(Ok(chunk)).await.is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        let _ = sender.send(Err(io::Error::other(error))).await;
                        break;
                    }
                }
            }
        });
        StreamReader {
            current: head,
            chunks,
            stop_at,
        }
    }
}

fn check_deadline(stop_at: Option<Instant>) -> io::Result<()> {
    match stop_at {
        Some(stop_at) if Instant::now() >= stop_at => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "time budget exhausted: stopped reading so the object can be retried whole",
        )),
        _ => Ok(()),
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            check_deadline(self.stop_at)?;
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// An object read in ranged GETs: what Parquet needs (footer first, then column chunks).
pub struct RangedObject {
    client: Client,
    bucket: String,
    key: String,
    size: u64,
    handle: Handle,
    stop_at: Option<Instant>,
}

impl RangedObject {
    fn fetch(&self, start: u64, length: usize) -> io::Result<Bytes> {
        check_deadline(self.stop_at)?;
        if length == 0 {
            return Ok(Bytes::new());
        }
        let end = start + length as u64 - 1;
        self.handle.block_on(async {
            let response = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .range(format!("bytes={start}-{end}"))
                .send()
                .await
                .map_err(|error| io::Error::other(DisplayErrorContext(error).to_string()))?;
            let bytes = response
                .body
                .collect()
                .await
                .map_err(io::Error::other)?
                .into_bytes();
            if bytes.len() != length {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "ranged read {start}-{end} returned {} bytes, not {length}",
                        bytes.len()
                    ),
                ));
            }
            Ok(bytes)
        })
    }
}

impl flowatlas_store::RangedRead for RangedObject {
    fn len(&self) -> u64 {
        self.size
    }

    fn read_range(&self, start: u64, length: usize) -> io::Result<Bytes> {
        self.fetch(start, length)
    }
}

/// Uploads a file: one PUT up to `part_size` bytes, a multipart upload of `part_size` parts
/// above (S3's minimum part is 5 MiB). A failed multipart upload is aborted.
pub async fn upload_file(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    part_size: u64,
) -> Result<(), Error> {
    let file_error = |source| Error::File {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(file_error)?.len();
    let part = |offset: u64, length: u64| {
        ByteStream::read_from()
            .path(path)
            .offset(offset)
            .length(Length::Exact(length))
            .build()
    };
    if size <= part_size {
        let body = part(0, size)
            .await
            .map_err(|error| file_error(io::Error::other(error)))?;
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map_err(request_error("PutObject", bucket, key))?;
        return Ok(());
    }
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(request_error("CreateMultipartUpload", bucket, key))?;
    let upload_id = upload.upload_id().unwrap_or_default().to_owned();
    let uploaded = async {
        let mut parts = Vec::new();
        let mut offset = 0;
        for number in 1.. {
            if offset >= size {
                break;
            }
            let length = part_size.min(size - offset);
            let body = part(offset, length)
                .await
                .map_err(|error| file_error(io::Error::other(error)))?;
            let done = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .map_err(request_error("UploadPart", bucket, key))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(done.e_tag().map(str::to_owned))
                    .build(),
            );
            offset += length;
        }
        client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(request_error("CompleteMultipartUpload", bucket, key))?;
        Ok(())
    }
    .await;
    if uploaded.is_err() {
        // Best effort: an abandoned upload only costs storage until a lifecycle rule ends it.
        let _ = client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    uploaded
}

/// Writes `bytes` to an object.
pub async fn put_bytes(
    client: &Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
) -> Result<(), Error> {
    put(client.put_object(), bucket, key, bytes).await
}

/// Writes an HTML page that browsers and CDNs may keep for `max_age_seconds`, so a bookmarked
/// page is fresh within that time of its last write.
pub async fn put_web_page(
    client: &Client,
    bucket: &str,
    key: &str,
    html: String,
    max_age_seconds: u32,
) -> Result<(), Error> {
    let request = client
        .put_object()
        .content_type("text/html; charset=utf-8")
        .cache_control(format!("max-age={max_age_seconds}"));
    put(request, bucket, key, html.into_bytes()).await
}

async fn put(
    request: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
) -> Result<(), Error> {
    request
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(request_error("PutObject", bucket, key))?;
    Ok(())
}

/// Reads a small object whole as text; `None` when it does not exist.
pub async fn get_text(client: &Client, bucket: &str, key: &str) -> Result<Option<String>, Error> {
    let Some(bytes) = get_bytes(client, bucket, key).await? else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(request_error("GetObject", bucket, key))
}

/// Reads a small object whole; `None` when it does not exist.
pub async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
    Ok(get_tagged(client, bucket, key)
        .await?
        .map(|(bytes, _)| bytes))
}

/// Reads a small object whole with its ETag (without quotes); `None` when it does not exist.
pub async fn get_tagged(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(Vec<u8>, String)>, Error> {
    let response = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(response) => response,
        Err(error) => {
            let missing = error
                .as_service_error()
                .is_some_and(|service| service.is_no_such_key());
            if missing {
                return Ok(None);
            }
            return Err(request_error("GetObject", bucket, key)(error));
        }
    };
    let etag = response
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    let bytes = response
        .body
        .collect()
        .await
        .map_err(request_error("GetObject", bucket, key))?
        .into_bytes();
    Ok(Some((bytes.to_vec(), etag)))
}

/// Writes a small object only when `expected` holds — `None`: no object is at the key
/// (`If-None-Match: *`); `Some(etag)`: the object there has that ETag (`If-Match`). Returns the
/// new ETag, or `None` when the condition failed (412, or 409 when a concurrent conditional
/// write to the key won).
pub async fn put_if(
    client: &Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    expected: Option<&str>,
) -> Result<Option<String>, Error> {
    let request = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes));
    let request = match expected {
        None => request.if_none_match("*"),
        Some(etag) => request.if_match(format!("\"{etag}\"")),
    };
    match request.send().await {
        Ok(response) => Ok(Some(
            response
                .e_tag()
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
        )),
        Err(error) => {
            let status = error
                .raw_response()
                .map(|response| response.status().as_u16());
            if matches!(status, Some(412 | 409)) {
                return Ok(None);
            }
            Err(request_error("PutObject", bucket, key)(error))
        }
    }
}

/// Downloads an object to a local file (written under a hidden name unique to this download
/// beside its final one, then renamed).
pub async fn download(client: &Client, bucket: &str, key: &str, path: &Path) -> Result<(), Error> {
    let response = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(request_error("GetObject", bucket, key))?;
    let file_error = |source| Error::File {
        path: path.to_path_buf(),
        source,
    };
    let (temporary, mut out) = flowatlas_store::TemporaryFile::create(path).map_err(file_error)?;
    let mut body = response.body;
    while let Some(chunk) =
        body.try_next()
            .await
            .map_err(request_error("GetObject", bucket, key))?
    {
        io::Write::write_all(&mut out, &chunk).map_err(file_error)?;
    }
    drop(out);
    temporary.persist().map_err(file_error)
}

/// Deletes an object (deleting a missing object is not an error in S3).
pub async fn delete(client: &Client, bucket: &str, key: &str) -> Result<(), Error> {
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(request_error("DeleteObject", bucket, key))?;
    Ok(())
}

/// Every object under `prefix`, in key order.
pub async fn list(client: &Client, bucket: &str, prefix: &str) -> Result<Vec<Listed>, Error> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut objects = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(request_error("ListObjectsV2", bucket, prefix))?;
        for object in page.contents() {
            objects.push(Listed {
                key: object.key().unwrap_or_default().to_owned(),
                info: ObjectInfo {
                    size: object
                        .size()
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0),
                    etag: object.e_tag().map(|etag| etag.trim_matches('"').to_owned()),
                    last_modified_ms: object.last_modified().and_then(|t| t.to_millis().ok()),
                },
            });
        }
    }
    Ok(objects)
}

/// The "folders" directly under `prefix` (common prefixes with delimiter `/`), in order.
pub async fn list_folders(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, Error> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    let mut folders = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(request_error("ListObjectsV2", bucket, prefix))?;
        folders.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|folder| folder.prefix().map(str::to_owned)),
        );
    }
    Ok(folders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_join() {
        let url = S3Url::parse("s3://flow-logs/AWSLogs/").unwrap();
        assert_eq!(url.bucket, "flow-logs");
        assert_eq!(url.key("a/b.parquet"), "AWSLogs/a/b.parquet");
        assert!(url.contains("flow-logs", "AWSLogs/123/x.log.gz"));
        assert!(!url.contains("flow-logs", "other/x.log.gz"));
        assert!(!url.contains("flow-logs-2", "AWSLogs/x.log.gz"));
        let bare = S3Url::parse("s3://tables-bucket").unwrap();
        assert_eq!(bare.key("x"), "x");
        let no_slash = S3Url::parse("s3://tables-bucket/flowatlas").unwrap();
        assert_eq!(no_slash.key("x"), "flowatlas/x");
        for bad in [
            "flow-logs/x",
            "s3://",
            "s3://UPPER/x",
            "s3://a/x",
            "https://b/x",
        ] {
            assert!(S3Url::parse(bad).is_err(), "{bad}");
        }
    }
}
