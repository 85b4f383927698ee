//! Where flowatlas reads objects and publishes what it writes: a local folder or an S3
//! bucket, behind one [`Store`] trait. It knows the key layout ([`layout`]) and nothing of
//! flow-log content; the pipeline drives it.
//!
//! # Overview
//!
//! - [`Store`]: open an object (a [`Body`]: a local file, a stream, or ranged reads for
//!   Parquet), publish a local file under a key atomically, list, delete, and read and write
//!   small objects (manifests, as JSON through [`read_json`] and [`write_json`]).
//! - [`LocalStore`]: a folder; publishing is a hidden temporary name then a rename
//!   ([`TemporaryFile`]). `flowatlas-s3` implements the trait for a bucket.
//! - [`layout`]: partition paths, manifests, rejects, `tcp_stats/`, source ids, and AWS's
//!   flow-log key layouts.
//! - [`lease`]: one holder at a time of some work, on a store without locks (S3), through
//!   conditional writes ([`Store::put_if`]).
//! - [`download_partitions`], [`hours_with_files`], [`files_in_hour`], [`table_days`]: a
//!   table's hour partitions in any store, for the engines that read local folders (health,
//!   report): only the day folders a range needs are listed.
//!
//! Every call blocks: call it from a blocking thread, never from inside an async task.
#![deny(missing_docs)]

pub mod layout;
pub mod lease;
mod local;
mod partitions;
mod temporary;

pub use local::LocalStore;
pub use partitions::{
    download_partitions, files_by_hour, files_in_hour, hours_with_files, table_days,
};
pub use temporary::{ABANDONED_AFTER, Abandoned, TemporaryFile, is_running, remove_abandoned};

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;

/// What a store can fail with; each names the object or file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A local file or folder could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A remote store (S3) failed; its message names the object and the operation.
    #[error(transparent)]
    Remote(Box<dyn std::error::Error + Send + Sync>),
    /// A small object could not be encoded as JSON.
    #[error("{key}: {source}")]
    Json {
        /// The object's key.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

impl Error {
    /// A local file error, for `map_err`.
    pub fn file(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
        move |source| Error::File {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What a store says about an object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// The ETag, without quotes (S3 only).
    pub etag: Option<String>,
    /// Last modified, Unix milliseconds.
    pub last_modified_ms: Option<i64>,
}

/// One listed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Object key, as listed.
    pub key: String,
    /// What the store says about it.
    pub info: ObjectInfo,
}

/// An opened object.
pub enum Body {
    /// A local file: read in order, or in ranges (Parquet) by the system.
    File(std::fs::File),
    /// Downloaded as it is read (text, gzip).
    Stream(Box<dyn Read + Send>),
    /// Read in ranges (Parquet: footer first, then column chunks).
    Ranged(Box<dyn RangedRead>),
}

/// An object read in ranges, as Parquet needs.
pub trait RangedRead: Send + Sync {
    /// The object's size in bytes.
    fn len(&self) -> u64;

    /// True for an empty object.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Exactly `length` bytes from `start`.
    fn read_range(&self, start: u64, length: usize) -> io::Result<Bytes>;
}

/// Where objects are read and outputs published. Keys are `/`-separated and relative to the
/// store's root (a folder, or a bucket and prefix).
pub trait Store: Send + Sync {
    /// How messages name the object at `key`: a path or `s3://bucket/key`.
    fn name(&self, key: &str) -> String;

    /// Opens an object; what the store says about it comes along.
    fn open(&self, key: &str) -> Result<(Body, ObjectInfo), Error>;

    /// Publishes the local file `file` as `key`, whole or not at all: readers see the old
    /// object or the new one, never part of one.
    fn publish(&self, key: &str, file: &Path) -> Result<(), Error>;

    /// Every object under `prefix`, in key order.
    fn list(&self, prefix: &str) -> Result<Vec<Listed>, Error>;

    /// The folders directly under the folder `prefix` (which ends with `/`), as keys ending
    /// with `/`, in key order: one level, no object listed (S3: a delimiter listing).
    fn list_folders(&self, prefix: &str) -> Result<Vec<String>, Error>;

    /// Copies the object at `key` whole into the local file `path` (its folder created),
    /// under a temporary name renamed when complete.
    fn download(&self, key: &str, path: &Path) -> Result<(), Error>;

    /// Deletes an object; a missing object is not an error.
    fn delete(&self, key: &str) -> Result<(), Error>;

    /// A small object whole; `None` when it does not exist.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;

    /// Writes a small object whole, atomically.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), Error>;

    /// A small object whole with its tag (S3: its ETag; a folder: a hash of its bytes), the
    /// tag [`Store::put_if`] compares; `None` when it does not exist.
    fn get_tagged(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, Error>;

    /// Writes a small object whole only when `expected` holds — `None`: nothing is at `key`;
    /// `Some(tag)`: what is there has that tag — as one step no other writer can come between
    /// (S3: a conditional PUT). Returns the new tag, or `None` when the condition failed.
    fn put_if(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<Option<String>, Error>;

    /// The folder, when the store is a local one: there outputs can be written in place, and
    /// files shared by several objects rewritten under a lock.
    fn local_root(&self) -> Option<&Path>;
}

/// Reads a small JSON object; `None` when it does not exist or does not parse as a `T` (a file
/// flowatlas did not write holds nothing to act on).
pub fn read_json<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<T>, Error> {
    Ok(store
        .get(key)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Writes a small JSON object (pretty, with a final newline), atomically.
pub fn write_json<T: serde::Serialize>(
    store: &dyn Store,
    key: &str,
    value: &T,
) -> Result<(), Error> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
        key: key.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    store.put(key, &bytes)
}
