//! The flowatlas AWS Lambda function as a library: the `bootstrap` binary is its thin shell,
//! and benchmarks drive the same code in process.
//!
//! # Overview
//!
//! [`Settings::from_vars`] reads and checks the configuration; [`State::new`] fetches the
//! GeoIP databases named by S3 URL and opens them (cold start); [`handle`] runs one event:
//! S3 notifications, SQS batches (partial batch failures) and EventBridge events, each object
//! read from S3, processed by the same per-object pipeline as `flowatlas process`, and its
//! tables uploaded with the manifest last; and EventBridge schedules, which run the health
//! job's scheduled run over the destination (`health.rs`, the same code as `flowatlas health
//! --at`).
#![deny(missing_docs)]

mod config;
mod event;
mod handler;
mod health;
mod metrics;
mod state;

pub use config::{FileSource, HealthSettings, Settings};
pub use handler::{InvocationError, ObjectFailure, handle};
pub use state::State;
