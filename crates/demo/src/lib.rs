//! A realistic day of flow logs for a fictional service, deterministic for a seed: ~50
//! city-networks in several countries with heavy-tailed traffic and a daily rhythm, two
//! interfaces (one logging the default v2 format, one a custom v5 format), gzip objects with
//! header lines under AWS's S3 key layout, some rejected scans, NODATA and IPv6 — and one
//! incident, where one ISP in one city loses most of its traffic for 40 minutes. It also writes
//! the ASN and city databases that cover its addresses.
//!
//! # Overview
//!
//! [`write_demo`] writes `<dir>/logs/AWSLogs/...` and `<dir>/geo/{asn,city}.mmdb` and returns a
//! [`Demo`] that says where they are and what the incident was. Client addresses come from
//! 198.18.0.0/15 (the benchmarking range, never routed) and 2001:db8::/32 (documentation), so
//! the demo can never be mistaken for real networks.
//!
//! [`Scenario`] is the same world over weeks, as rollup rows with injected incidents and their
//! ground truth.
#![deny(missing_docs)]

mod logs;
mod random;
mod scenario;
mod world;

pub use logs::write_demo;
pub use random::Random;
pub use scenario::{InjectedIncident, Scenario, Scope, Slowdown};

use std::path::PathBuf;

/// Why the demo could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A generated database could not be built.
    #[error("demo database: {0}")]
    Database(#[from] flowatlas_geo::WriteError),
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Demo {
    /// Folder of the flow-log objects.
    pub logs: PathBuf,
    /// The ASN database.
    pub asn_db: PathBuf,
    /// The city database.
    pub city_db: PathBuf,
    /// Objects written.
    pub n_objects: usize,
    /// Records written (header lines not included).
    pub n_records: u64,
    /// The incident: ISP, city, and its start and end (Unix seconds).
    pub incident: Incident,
}

/// The outage built into the day.
#[derive(Clone, Debug)]
pub struct Incident {
    /// The ISP that loses its traffic.
    pub as_name: String,
    /// Its AS number.
    pub asn: u32,
    /// Where.
    pub city: String,
    /// Start, Unix seconds.
    pub start: i64,
    /// End, Unix seconds.
    pub end: i64,
}

/// The day the demo covers: 2026-06-01 UTC.
pub const DAY_START: i64 = 1_780_272_000;
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
