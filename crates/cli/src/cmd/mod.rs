//! One module per subcommand, each with its own flags and help text.

pub mod agent;
pub mod backfill;
pub mod build_mmdb;
pub mod compact;
pub mod data;
pub mod demo;
pub mod fields;
pub mod health;
pub mod parse;
pub mod process;
pub mod report;
pub mod schema;
pub mod shared;
pub mod top;
