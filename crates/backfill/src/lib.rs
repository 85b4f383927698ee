//! `flowatlas backfill` as a library: months of flow logs already in S3 into the same tables
//! the Lambda writes, so that history and live data meet in one Athena table.
//!
//! # Overview
//!
//! [`plan`] lists only the day folders a date range needs, in AWS's four key layouts, and
//! returns the objects. [`run`] processes them with a fixed number in flight, through the same
//! object path as the Lambda (`flowatlas_pipeline::process_object`), retrying failures with
//! backoff and skipping objects whose manifest already records their ETag; it reports each
//! object's fate as an [`Event`]. [`run_via_lambda`] hands the objects to the deployed function
//! instead and follows their manifests. [`Estimate`] turns a plan into time and Lambda cost.
#![deny(missing_docs)]

mod estimate;
mod plan;
mod run;
mod via_lambda;

pub use estimate::Estimate;
pub use plan::{Plan, Planned, Selection, day_folder, plan};
pub use run::{Event, Output, RunOptions, run};
pub use via_lambda::{LambdaOptions, encode_key, lambda_client_from_env, run_via_lambda};
