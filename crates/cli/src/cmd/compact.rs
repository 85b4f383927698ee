//! `flowatlas compact`: merges each table's files of closed hours into one file per table and
//! hour, in a folder or in S3 (`flowatlas_pipeline::compact`).

use std::io::{self, Write};

use anyhow::Context;
use flowatlas_pipeline::{CompactOptions, CompactReport, Step, compact, error_chain};
use flowatlas_store::layout::TablePartition;
use flowatlas_store::{LocalStore, Store};
use flowatlas_time::iso_time;

use crate::Outcome;
use crate::cmd::data::{Data, parse_data, s3_store};
use crate::cmd::shared::{parse_duration, parse_time};

/// Merge the files of each closed hour of the tables `process`, backfill and the Lambda write
/// (`city_networks`, `client_prefixes`, `city_network_performance`, `prefix_performance`,
/// `flows`) into one file per table and hour: rows of one key summed (`client_ips` then adds
/// up: an upper bound), `flows` concatenated. The hour's source files move under
/// `_compacted/`, outside every table (Athena skips it), named with their objects in the
/// hour's `_compaction.json`; a late object adds its own file beside the compacted one (the
/// next run folds it in), and an object processed again replaces its rows. The health tables
/// are left alone. Safe to stop at any point: the next run (or commit into that hour)
/// finishes what was begun.
#[derive(clap::Args)]
pub struct Args {
    /// The folder `flowatlas process --out` wrote, or the `s3://bucket/prefix` the Lambda
    /// writes.
    #[arg(long, value_name = "DIR|S3URL", default_value = "flowatlas-data", value_parser = parse_data)]
    data: Data,

    /// Compact hours that ended at least this long ago (the delivery delay: flow logs arrive
    /// minutes to an hour late): seconds, or `90m`, `1h`, `2d`. The current hour never is.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    older_than: i64,

    /// Leave hours before this time alone (UTC, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`); default:
    /// every hour.
    #[arg(long, value_parser = parse_time)]
    from: Option<i64>,

    /// Begin no hour after this long (seconds, or `90m`, `1h`), for a run that must end by a
    /// time (a cron slot); the hours not reached wait for the next run. Default: no limit.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    time_limit: Option<i64>,
}

/// Test hook: the process aborts (no destructors, as `kill -9`) right after the named step of
/// an hour's compaction (`merged`, `journaled`, `published`, `retired-N`, `recorded`), so
/// crash tests can stop it at any step.
const ABORT_AFTER: &str = "FLOWATLAS_COMPACT_ABORT_AFTER";

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.older_than >= 0, "--older-than must not be negative");
    anyhow::ensure!(
        args.time_limit.is_none_or(|limit| limit >= 0),
        "--for must not be negative"
    );
    let stop_at = args.time_limit.map(|limit| {
        std::time::Instant::now() + std::time::Duration::from_secs(limit.unsigned_abs())
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_secs() as i64;
    let abort_after = std::env::var(ABORT_AFTER).ok();
    let on_step = |_: &TablePartition, step: Step| {
        if abort_after.as_deref() == Some(step.name().as_str()) {
            std::process::abort();
        }
    };
    let scratch = std::env::temp_dir().join(format!("flowatlas-compact-{}", std::process::id()));
    let options = CompactOptions {
        closed_by: now - args.older_than,
        from: args.from,
        scratch: scratch.clone(),
        stop_at,
    };
    let report = match &args.data {
        Data::Folder(folder) => {
            anyhow::ensure!(
                folder.is_dir(),
                "{}: no such folder (--data is the folder flowatlas process --out wrote)",
                folder.display()
            );
            compact(&LocalStore::new(folder), &options, &on_step)
        }
        Data::S3(url) => {
            let s3 = s3_store(url)?;
            let report = compact(&s3.store as &dyn Store, &options, &on_step);
            let _ = std::fs::remove_dir_all(&scratch);
            report
        }
    }
    .with_context(|| format!("{}: compaction", args.data))?;
    print_report(&report)?;
    Ok(if report.failed.is_empty() && report.left.is_empty() {
        Outcome::Clean
    } else {
        Outcome::WithFailures
    })
}

fn print_report(report: &CompactReport) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for hour in &report.compacted {
        writeln!(
            out,
            "{}/{}: {} files -> {}, {} rows -> {}{}",
            hour.partition.table,
            hour.partition.partition,
            hour.files_before,
            hour.files_after,
            hour.rows_read,
            hour.rows_written,
            match hour.dropped {
                0 => String::new(),
                n => format!(", {n} replaced source files dropped"),
            }
        )?;
    }
    writeln!(
        out,
        "{} hours compacted, {} unchanged, {} interrupted compactions finished, {} files left in place, {} hours failed",
        report.compacted.len(),
        report.n_unchanged,
        report.n_recovered,
        report.left.len(),
        report.failed.len()
    )?;
    if report.abandoned.files > 0 {
        writeln!(
            out,
            "{} temporary files of killed runs removed ({:.1} MB)",
            report.abandoned.files,
            report.abandoned.bytes as f64 / 1e6
        )?;
    }
    if report.n_deferred > 0 {
        writeln!(
            out,
            "{} hours not begun: the time given was up (the next run compacts them)",
            report.n_deferred
        )?;
    }
    let mut err = io::stderr().lock();
    if let Some(holder) = &report.busy {
        writeln!(
            err,
            "flowatlas: another compaction ({}) holds the output's lease until {}: it compacts what this run did not",
            holder.owner,
            iso_time(holder.expires_at_ms.div_euclid(1_000))
        )?;
    }
    for left in &report.left {
        writeln!(err, "{}: left in place: {}", left.name, left.reason)?;
    }
    for failed in &report.failed {
        writeln!(err, "flowatlas: {}", error_chain(failed))?;
    }
    Ok(())
}
