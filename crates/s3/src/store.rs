//! A bucket and prefix as a [`Store`]: the pipeline reads objects and publishes tables
//! through it exactly as through a local folder. Each call blocks on the SDK's async
//! requests, so it runs on a blocking thread (`tokio::task::spawn_blocking`), never inside an
//! async task.

use std::path::Path;
use std::time::Instant;

use flowatlas_store::{Body, Listed, ObjectInfo, Store};
use tokio::runtime::Handle;

use crate::{Client, Error, S3Url};

/// A bucket and key prefix; keys are relative to the prefix.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    url: S3Url,
    part_size: u64,
    stop_at: Option<Instant>,
    handle: Handle,
}

/// S3's largest single PUT is 5 GiB; files above go in parts of this size by default.
const DEFAULT_PART_SIZE: u64 = 64 * 1024 * 1024;

impl S3Store {
    /// The store of `url`, on the current Tokio runtime (call it from inside one).
    pub fn new(client: Client, url: S3Url) -> S3Store {
        S3Store {
            client,
            url,
            part_size: DEFAULT_PART_SIZE,
            stop_at: None,
            handle: Handle::current(),
        }
    }

    /// Files above `part_size` bytes are published as a multipart upload of such parts.
    pub fn with_part_size(self, part_size: u64) -> S3Store {
        S3Store { part_size, ..self }
    }

    /// Reading an opened object fails with `TimedOut` once `stop_at` has passed, so a caller
    /// can fail an object cleanly before its own deadline.
    pub fn with_stop_at(self, stop_at: Option<Instant>) -> S3Store {
        S3Store { stop_at, ..self }
    }

    fn block_on<T>(
        &self,
        request: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, flowatlas_store::Error> {
        self.handle
            .block_on(request)
            .map_err(|error| flowatlas_store::Error::Remote(Box::new(error)))
    }
}

impl Store for S3Store {
    fn name(&self, key: &str) -> String {
        format!("s3://{}/{}", self.url.bucket, self.url.key(key))
    }

    fn open(&self, key: &str) -> Result<(Body, ObjectInfo), flowatlas_store::Error> {
        self.block_on(crate::open(
            &self.client,
            &self.url.bucket,
            &self.url.key(key),
            self.stop_at,
        ))
    }

    fn publish(&self, key: &str, file: &Path) -> Result<(), flowatlas_store::Error> {
        self.block_on(crate::upload_file(
            &self.client,
            &self.url.bucket,
            &self.url.key(key),
            file,
            self.part_size,
        ))
    }

    fn list(&self, prefix: &str) -> Result<Vec<Listed>, flowatlas_store::Error> {
        let root = self.url.key("");
        let listed = self.block_on(crate::list(
            &self.client,
            &self.url.bucket,
            &self.url.key(prefix),
        ))?;
        Ok(listed
            .into_iter()
            .filter_map(|object| {
                let key = object.key.strip_prefix(&root)?.to_owned();
                Some(Listed { key, ..object })
            })
            .collect())
    }

    fn list_folders(&self, prefix: &str) -> Result<Vec<String>, flowatlas_store::Error> {
        let root = self.url.key("");
        let folders = self.block_on(crate::list_folders(
            &self.client,
            &self.url.bucket,
            &self.url.key(prefix),
        ))?;
        let mut folders: Vec<String> = folders
            .into_iter()
            .filter_map(|folder| Some(folder.strip_prefix(&root)?.to_owned()))
            .collect();
        folders.sort();
        Ok(folders)
    }

    fn download(&self, key: &str, path: &Path) -> Result<(), flowatlas_store::Error> {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(flowatlas_store::Error::file(folder))?;
        }
        self.block_on(crate::download(
            &self.client,
            &self.url.bucket,
            &self.url.key(key),
            path,
        ))
    }

    fn delete(&self, key: &str) -> Result<(), flowatlas_store::Error> {
        self.block_on(crate::delete(
            &self.client,
            &self.url.bucket,
            &self.url.key(key),
        ))
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, flowatlas_store::Error> {
        self.block_on(crate::get_bytes(
            &self.client,
            &self.url.bucket,
            &self.url.key(key),
        ))
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), flowatlas_store::Error> {
        self.block_on(crate::put_bytes(
            &self.client,
            &self.url.bucket,
            &self.url.key(key),
            bytes.to_vec(),
        ))
    }

    fn get_tagged(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, flowatlas_store::Error> {
        self.block_on(crate::get_tagged(
            &self.client,
            &self.url.bucket,
            &self.url.key(key),
        ))
    }

    fn put_if(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<Option<String>, flowatlas_store::Error> {
        self.block_on(crate::put_if(
            &self.client,
            &self.url.bucket,
            &self.url.key(key),
            bytes.to_vec(),
            expected,
        ))
    }

    fn local_root(&self) -> Option<&Path> {
        None
    }
}
