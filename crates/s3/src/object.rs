//! One S3 object through the pipeline: the Lambda and backfill share this path, so an object
//! (a flow log, or an agent's `tcp_stats` object) gives the same tables, under the same names,
//! whichever of them processed it.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Instant;

use flowatlas_flowlog::Reader;
use flowatlas_geo::Enricher;
use flowatlas_pipeline::{
    Config, ObjectReport, Source, is_tcp_stats, manifest_path, process_reader, process_tcp_stats,
    stale_files,
};

use crate::{Body, Client, Error, ObjectInfo, S3Url, delete, get_text, open, upload_file};

/// What a processing thread owns: the pipeline's configuration (its `out_dir` is where tables
/// are written) and an enricher whose cache stays warm from one object to the next.
pub struct Worker {
    /// How to process; `out_dir` is the final folder, or a scratch folder when publishing.
    pub config: Config,
    /// The enricher, if databases are configured.
    pub enricher: Option<Enricher>,
}

/// Where tables written to the scratch folder are published.
pub struct Publish {
    /// The destination bucket and prefix.
    pub destination: S3Url,
    /// Files above this size go in parts of this size.
    pub part_size: u64,
}

/// An object processed, and published when asked.
pub struct Processed {
    /// What processing did.
    pub report: ObjectReport,
    /// What S3 said about the object.
    pub info: ObjectInfo,
    /// The object's name and output id.
    pub source: Source,
}

/// Why an object was not processed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Its content is not a flow log (no header, and not the default format).
    #[error("not a flow log: {0}")]
    NotFlowLog(String),
    /// It failed; a retry may succeed.
    #[error("{0}")]
    Failed(String),
}

/// Opens `bucket`/`key`, runs it through the pipeline on a blocking thread and, with `publish`,
/// uploads its files, deletes what an earlier run wrote and this one did not, and writes the
/// manifest last. With `publish`, the worker's `out_dir` is a scratch folder emptied first.
/// The worker always comes back, even when processing panicked.
pub async fn process_object(
    client: &Client,
    bucket: &str,
    key: &str,
    worker: Worker,
    publish: Option<&Publish>,
    stop_at: Option<Instant>,
) -> (Worker, Result<Processed, ObjectError>) {
    let (body, info) = match open(client, bucket, key, stop_at).await {
        Ok(opened) => opened,
        Err(error) => return (worker, Err(ObjectError::Failed(error.to_string()))),
    };
    let mut source = Source::of_s3_object(bucket, key, info.etag.clone(), Some(info.size));
    source.delivered_at = info.last_modified_ms.map(|ms| ms.div_euclid(1000));
    let scratch = publish.is_some();
    let thread_source = source.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let mut worker = worker;
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            process_body(&mut worker, body, &thread_source, scratch)
        }))
        .unwrap_or_else(|_| {
            Err(ObjectError::Failed(format!(
                "{}: processing panicked",
                thread_source.name
            )))
        });
        (worker, result)
    })
    .await;
    // Panics are caught inside the task, and the runtime outlives this call: the join cannot fail.
    let (worker, report) = joined.expect("the processing task returns");
    let report = match report {
        Ok(report) => report,
        Err(error) => return (worker, Err(error)),
    };
    if let Some(publish) = publish
        && let Err(error) =
            publish_outputs(client, publish, &worker.config.out_dir, &source, &report).await
    {
        return (worker, Err(ObjectError::Failed(error.to_string())));
    }
    (
        worker,
        Ok(Processed {
            report,
            info,
            source,
        }),
    )
}

fn process_body(
    worker: &mut Worker,
    body: Body,
    source: &Source,
    scratch: bool,
) -> Result<ObjectReport, ObjectError> {
    let out_dir = &worker.config.out_dir;
    let folder_error =
        |error: std::io::Error| ObjectError::Failed(format!("{}: {error}", out_dir.display()));
    if scratch {
        match std::fs::remove_dir_all(out_dir) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(folder_error(error));
            }
            _ => {}
        }
    }
    std::fs::create_dir_all(out_dir).map_err(folder_error)?;
    if is_tcp_stats(&source.key) {
        let Body::Parquet(ranged) = body else {
            return Err(ObjectError::Failed(format!(
                "{}: an agent's tcp_stats object must be Parquet",
                source.name
            )));
        };
        return process_tcp_stats(ranged, source, &worker.config, worker.enricher.as_mut())
            .map_err(|error| ObjectError::Failed(error.to_string()));
    }
    let read = &source.read_options(&worker.config.read);
    let reader = match body {
        Body::Stream(stream) => Reader::new(stream, read),
        Body::Parquet(ranged) => Reader::parquet(ranged, read),
    };
    let classify = |error: flowatlas_flowlog::Error| {
        let message = format!("{}: {error}", source.name);
        if matches!(
            error,
            flowatlas_flowlog::Error::FormatUndetermined { .. }
                | flowatlas_flowlog::Error::NotFlowLogText { .. }
        ) {
            ObjectError::NotFlowLog(message)
        } else {
            ObjectError::Failed(message)
        }
    };
    let reader = reader.map_err(classify)?;
    process_reader(reader, source, &worker.config, worker.enricher.as_mut()).map_err(|error| {
        match error {
            flowatlas_pipeline::Error::Read { source, .. } => classify(source),
            other => ObjectError::Failed(other.to_string()),
        }
    })
}

/// Uploads an object's files from `out_dir`, deletes what an earlier run of the same object
/// wrote and this one did not, and writes the manifest last: a manifest in the destination
/// means the object's files are all there.
async fn publish_outputs(
    client: &Client,
    publish: &Publish,
    out_dir: &Path,
    source: &Source,
    report: &ObjectReport,
) -> Result<(), Error> {
    let destination = &publish.destination;
    let key_of = |relative: &Path| destination.key(&relative.to_string_lossy());
    for relative in &report.files {
        upload_file(
            client,
            &destination.bucket,
            &key_of(relative),
            &out_dir.join(relative),
            publish.part_size,
        )
        .await?;
    }
    let manifest = manifest_path(&source.id);
    if let Some(earlier) = get_text(client, &destination.bucket, &key_of(&manifest)).await? {
        for stale in stale_files(&earlier, &source.id, &report.files) {
            delete(client, &destination.bucket, &key_of(&stale)).await?;
        }
    }
    upload_file(
        client,
        &destination.bucket,
        &key_of(&manifest),
        &out_dir.join(&manifest),
        publish.part_size,
    )
    .await
}
