//! `flowatlas process`: flow logs in, Athena-ready Parquet tables out.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use flowatlas_geo::{Databases, Enricher};
use flowatlas_pipeline::{Batch, Config, ObjectRef, ObjectReport};
use flowatlas_rollup::{DEFAULT_ROW_BUDGET, ServiceLocation};

use crate::Outcome;
use crate::cmd::shared::{PipelineArgs, expand_inputs};

/// Process flow logs into the tables under `--out`: `city_networks` and `client_prefixes`,
/// as `<out>/<table>/dt=YYYY-MM-DD/hour=HH/<source-id>.parquet` (zstd, Snappy for small
/// files; Athena-safe types), plus
/// `_manifests/` (one per input, written last) and `_rejects/`. Processing the same input again
/// replaces its files. Objects are processed on every core. `flowatlas schema --ddl athena`
/// prints the matching Athena tables.
#[derive(clap::Args)]
pub struct Args {
    /// The output folder.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// Account ID for records without `account-id`.
    #[arg(long = "account-id", value_name = "ID")]
    account_id: Option<String>,

    /// Region for records without `region`.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,

    /// Worker threads (objects processed at once); all cores by default.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Rollup rows a worker holds before it writes the small objects it read, one file per
    /// table and hour for all of them; fewer rows, more files and less memory.
    #[arg(long = "batch-rows", value_name = "N", default_value_t = DEFAULT_ROW_BUDGET)]
    batch_rows: usize,

    /// Print the summary as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    pipeline: PipelineArgs,

    /// Flow-log files or folders (read recursively, AWS key layouts included).
    #[arg(value_name = "FILE|DIR", required = true)]
    inputs: Vec<PathBuf>,
}

/// What processing a set of inputs did.
pub struct Run {
    /// Summed reports of the objects that succeeded.
    pub totals: ObjectReport,
    /// `object: error` of each that failed.
    pub failures: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Processes inputs on every core, one object per worker at a time, each worker writing the
/// objects it reads in batches ([`Batch`]). An object that cannot be
/// read fails alone; output that cannot be written stops the run with that one error, since
/// every other object would fail the same way.
pub fn process_all(
    inputs: &[PathBuf],
    config: &Config,
    databases: Option<&Arc<Databases>>,
    threads: Option<usize>,
    batch_rows: usize,
) -> anyhow::Result<Run> {
    let started = Instant::now();
    let queue = Mutex::new(inputs.iter());
    let totals = Mutex::new(ObjectReport::default());
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let output_error: Mutex<Option<String>> = Mutex::new(None);
    let all_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n_workers = threads.unwrap_or(all_cores).clamp(1, inputs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..n_workers {
            scope.spawn(|| {
                let mut enricher = databases.cloned().map(Enricher::new);
                // Each worker writes the small objects it reads together, one file per table
                // and hour, committed when the batch is full and at the end.
                let mut batch = Batch::new(config, batch_rows);
                let add = |reports: Vec<ObjectReport>| {
                    if let Ok(mut totals) = totals.lock() {
                        for report in &reports {
                            *totals += report;
                        }
                    }
                };
                let stop = |error: flowatlas_pipeline::Error| {
                    if let Ok(mut first) = output_error.lock() {
                        first.get_or_insert_with(|| error.to_string());
                    }
                };
                loop {
                    if output_error.lock().map_or(true, |error| error.is_some()) {
                        break;
                    }
                    let next = queue.lock().map(|mut inputs| inputs.next().cloned());
                    let Ok(Some(input)) = next else {
                        break;
                    };
                    match batch.process_object(ObjectRef::File(&input), enricher.as_mut()) {
                        Ok(reports) => add(reports),
                        // Logs of a known layout that carry nothing flowatlas reads (an ALB
                        // access log beside the connection logs) are passed over, as the
                        // Lambda and backfill pass them over.
                        Err(error @ flowatlas_pipeline::Error::NotRead { .. }) => {
                            let _ = writeln!(io::stderr().lock(), "{error}");
                        }
                        Err(error) if error.is_output() => stop(error),
                        Err(error) => {
                            if let Ok(mut failures) = failures.lock() {
                                failures.push(error.to_string());
                            }
                        }
                    }
                }
                match batch.flush() {
                    Ok(reports) => add(reports),
                    Err(error) => stop(error),
                }
            });
        }
    });
    if let Some(error) = output_error.into_inner().unwrap_or_default() {
        anyhow::bail!("{error} (the run stopped: the output cannot be written)");
    }
    let mut totals = totals.into_inner().unwrap_or_default();
    // Objects of one batch list its files each; a file is written once.
    totals.files.sort();
    totals.files.dedup();
    Ok(Run {
        totals,
        failures: failures.into_inner().unwrap_or_default(),
        seconds: started.elapsed().as_secs_f64().max(1e-6),
    })
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let inputs = expand_inputs(&args.inputs)?;
    if inputs.iter().any(|input| input.as_os_str() == "-") {
        anyhow::bail!(
            "process reads files and folders, not stdin (outputs are named after their input)"
        );
    }
    let databases = args.pipeline.databases()?;
    let location = ServiceLocation {
        account_id: args.account_id.as_deref().map(Into::into),
        region: args.region.as_deref().map(Into::into),
        ..ServiceLocation::default()
    };
    let config = args.pipeline.config(args.out.clone(), location)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;

    let run = process_all(
        &inputs,
        &config,
        databases.as_ref(),
        args.threads,
        args.batch_rows,
    )?;
    let (totals, failures, seconds) = (run.totals, run.failures, run.seconds);
    let mut err = io::stderr().lock();
    for failure in &failures {
        writeln!(err, "{failure}")?;
    }
    // As `parse` does: the first rejects, then how many more the rejects folder holds.
    for reject in &totals.first_rejects {
        writeln!(err, "{reject}")?;
    }
    let not_shown = totals
        .counts
        .rejected
        .saturating_sub(totals.first_rejects.len() as u64);
    if not_shown > 0 {
        writeln!(
            err,
            "({not_shown} rejects not shown; {} has them all)",
            args.out.join(flowatlas_store::layout::REJECTS).display()
        )?;
    }
    if args.json {
        let json = serde_json::json!({
            "inputs": inputs.len(),
            "objects_processed": totals.n_objects,
            "objects_failed": failures.len(),
            "records": {"read": totals.counts.read, "ok": totals.counts.ok, "skipped": totals.counts.skipped, "rejected": totals.counts.rejected},
            "rows": totals.rows,
            "peers": totals.peers,
            "ok_bytes": totals.ok_bytes,
            "other_bytes": totals.other_bytes,
            "files": totals.files.len(),
            "seconds": seconds,
        });
        writeln!(io::stdout().lock(), "{json}")?;
    } else {
        write_summary(
            &mut io::stdout().lock(),
            inputs.len(),
            &totals,
            failures.len(),
            seconds,
        )?;
    }
    Ok(if failures.is_empty() && totals.counts.rejected == 0 {
        Outcome::Clean
    } else {
        Outcome::WithFailures
    })
}

/// The run's summary as an aligned two-column table.
pub fn write_summary(
    out: &mut impl Write,
    n_inputs: usize,
    totals: &ObjectReport,
    n_failed: usize,
    seconds: f64,
) -> io::Result<()> {
    let counts = totals.counts;
    let rows = |table: &str| totals.rows.get(table).copied().unwrap_or(0);
    let megabytes = counts.bytes as f64 / 1e6;
    writeln!(out, "{:<22} {:>14}", "inputs", n_inputs)?;
    writeln!(out, "{:<22} {:>14}", "inputs failed", n_failed)?;
    writeln!(out, "{:<22} {:>14}", "records read", counts.read)?;
    writeln!(out, "{:<22} {:>14}", "  ok", counts.ok)?;
    writeln!(out, "{:<22} {:>14}", "  skipped", counts.skipped)?;
    writeln!(out, "{:<22} {:>14}", "  rejected", counts.rejected)?;
    for (kind, count) in &totals.peers {
        writeln!(out, "{:<22} {:>14}", format!("  peers {kind}"), count)?;
    }
    writeln!(
        out,
        "{:<22} {:>14}",
        "rows city_networks",
        rows(flowatlas_tables::CITY_NETWORKS)
    )?;
    writeln!(
        out,
        "{:<22} {:>14}",
        "rows client_prefixes",
        rows(flowatlas_tables::CLIENT_PREFIXES)
    )?;
    writeln!(out, "{:<22} {:>14}", "files written", totals.files.len())?;
    writeln!(out, "{:<22} {:>14.1}", "MB decoded", megabytes)?;
    writeln!(out, "{:<22} {:>14.1}", "MB/s", megabytes / seconds)?;
    Ok(())
}
