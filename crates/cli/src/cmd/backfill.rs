//! `flowatlas backfill`: a date range of flow logs already in S3 into the tables.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use flowatlas_backfill::{
    Estimate, Event, LambdaOptions, Output, RunOptions, Selection, lambda_client_from_env,
    run_via_lambda,
};
use flowatlas_pipeline::ObjectReport;
use flowatlas_rollup::ServiceLocation;
use flowatlas_s3::S3Url;

use crate::Outcome;
use crate::cmd::process::write_summary;
use crate::cmd::shared::{PipelineArgs, parse_time};

/// Stored bytes of gzip flow logs one worker processes per second (one core here, one vCPU in
/// Lambda at 1769 MB): `benches/lambda_memory.rs` ran a 75.3 MiB gzip object (344.5 MiB of
/// text) through the function's handler from moto's S3 server on loopback in 2.94 s on the
/// otherwise idle 2-core development VM. Only the estimate of `--dry-run` uses it.
const BYTES_PER_SECOND_PER_WORKER: f64 = 26.9e6;

/// Objects per invocation with `--via-lambda`, as an SQS batch brings them to the function.
const OBJECTS_PER_INVOCATION: usize = 10;

/// Process the flow logs of a date range already in S3 into the same tables the Lambda
/// writes. Lists only the day folders the range needs (AWS's default, hourly, Hive and
/// Hive-hourly layouts), processes a fixed number of objects at once, retries failures with
/// backoff, and skips objects whose manifest already records their ETag: interrupt it at any
/// point and run it again, and every object ends up in the tables exactly once. S3 access
/// follows the AWS SDK's settings (`AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL` for S3-compatible
/// servers, with path-style addressing).
#[derive(clap::Args)]
pub struct Args {
    /// Where the flow logs are: `s3://bucket/prefix` (the prefix they are delivered under,
    /// with or without `AWSLogs/`).
    #[arg(long, value_name = "S3-URL")]
    source: String,

    /// Only this account (repeatable; all accounts by default).
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,

    /// Only this Region (repeatable; all Regions by default).
    #[arg(long = "region", value_name = "REGION")]
    regions: Vec<String>,

    /// First day (UTC), e.g. 2026-06-01.
    #[arg(long, value_name = "DATE")]
    from: String,

    /// Last day (UTC), included.
    #[arg(long, value_name = "DATE")]
    to: String,

    /// Where the tables go: `s3://bucket/prefix` (e.g. the Lambda's destination) or a folder.
    #[arg(long, value_name = "S3-URL|DIR")]
    out: String,

    /// Objects processed at once; all cores by default.
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,

    /// Tries per object before it is reported failed.
    #[arg(long, value_name = "N", default_value_t = 4)]
    attempts: u32,

    /// Hand the objects to this deployed flowatlas function (name or ARN) in batches of 10, by
    /// asynchronous invokes with at most `--concurrency` batches in flight, instead of
    /// processing them here; completion is read from the manifests in `--out`, which must be
    /// the function's destination. For histories too big for one machine.
    #[arg(long, value_name = "FUNCTION")]
    via_lambda: Option<String>,

    /// With `--via-lambda`: seconds a batch may take before its missing objects are reported.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    lambda_wait: u64,

    /// Print the plan (objects, bytes, estimated time and Lambda cost) and stop.
    #[arg(long)]
    dry_run: bool,

    /// The function's memory for the Lambda cost estimate, in MB.
    #[arg(long, value_name = "MB", default_value_t = 1769)]
    lambda_memory_mb: u32,

    /// Print the plan or the summary as JSON on stdout.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    pipeline: PipelineArgs,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let day = |text: &str| -> anyhow::Result<i64> {
        Ok(parse_time(text)
            .map_err(anyhow::Error::msg)?
            .div_euclid(86_400))
    };
    let selection = Selection {
        source: S3Url::parse(&args.source).context("--source")?,
        accounts: args.accounts.clone(),
        regions: args.regions.clone(),
        first_day: day(&args.from).context("--from")?,
        last_day: day(&args.to).context("--to")?,
    };
    anyhow::ensure!(
        selection.first_day <= selection.last_day,
        "--from {} is after --to {}",
        args.from,
        args.to
    );
    let output = if args.out.starts_with("s3://") {
        Output::S3(S3Url::parse(&args.out).context("--out")?)
    } else {
        Output::Folder(PathBuf::from(&args.out))
    };
    let via_lambda = match (&args.via_lambda, &output) {
        (Some(function), Output::S3(destination)) => Some(LambdaOptions {
            function: function.clone(),
            objects_per_invocation: OBJECTS_PER_INVOCATION,
            batches_in_flight: args.concurrency.unwrap_or(8),
            wait: Duration::from_secs(args.lambda_wait),
            poll: Duration::from_secs(2),
        })
        .map(|options| (options, destination.clone())),
        (Some(_), Output::Folder(_)) => {
            anyhow::bail!("--via-lambda needs --out s3://...: the function's destination")
        }
        (None, _) => None,
    };
    let concurrency = args
        .concurrency
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let client = runtime.block_on(flowatlas_s3::client_from_env());
    let started = Instant::now();
    let plan = runtime
        .block_on(flowatlas_backfill::plan(&client, &selection))
        .context("listing the source")?;
    let estimate = Estimate::of(
        &plan,
        BYTES_PER_SECOND_PER_WORKER,
        concurrency,
        args.lambda_memory_mb,
        OBJECTS_PER_INVOCATION as u64,
    );
    if args.dry_run {
        print_plan(&args, &plan, &estimate)?;
        return Ok(Outcome::Clean);
    }

    let config = args
        .pipeline
        .config(PathBuf::new(), ServiceLocation::default())?;
    let databases = args.pipeline.databases()?;
    let scratch = std::env::temp_dir().join(format!("flowatlas-backfill-{}", std::process::id()));
    let options = RunOptions {
        concurrency,
        attempts: args.attempts,
        first_backoff: Duration::from_millis(500),
        part_size: 16 << 20,
        scratch: scratch.clone(),
    };
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let n_planned = plan.objects.len();
    let planned_bytes = estimate.bytes;
    let objects = plan.objects;
    let tally = runtime.block_on(async {
        let work = async {
            match &via_lambda {
                Some((lambda_options, destination)) => {
                    let lambda = lambda_client_from_env().await;
                    run_via_lambda(
                        &client,
                        &lambda,
                        objects,
                        destination,
                        lambda_options,
                        sender,
                    )
                    .await;
                }
                None => {
                    flowatlas_backfill::run(
                        &client, objects, &config, databases, &output, &options, sender,
                    )
                    .await;
                }
            }
        };
        let mut tally = Tally::default();
        let mut progress = Progress::new(n_planned, planned_bytes);
        let watch = async {
            let mut ticker = tokio::time::interval(progress.every());
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Some(event) => tally.add(event),
                        None => break,
                    },
                    _ = ticker.tick() => progress.show(&tally, started.elapsed()),
                }
            }
        };
        tokio::join!(work, watch);
        progress.finish(&tally, started.elapsed());
        tally
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let seconds = started.elapsed().as_secs_f64().max(1e-6);
    let mut err = io::stderr().lock();
    for (key, error) in &tally.failed {
        writeln!(
            err,
            "failed: s3://{}/{key}: {error}",
            selection.source.bucket
        )?;
    }
    if args.json {
        let json = serde_json::json!({
            "objects_planned": n_planned,
            "objects_processed": tally.totals.n_objects,
            "objects_skipped": tally.skipped,
            "objects_ignored": tally.ignored.len(),
            "objects_failed": tally.failed.len(),
            "failed": tally.failed.iter().map(|(key, error)| serde_json::json!({"key": key, "error": error})).collect::<Vec<_>>(),
            "retries": tally.retries,
            "bytes_processed": tally.bytes,
            "records": {"read": tally.totals.counts.read, "ok": tally.totals.counts.ok, "skipped": tally.totals.counts.skipped, "rejected": tally.totals.counts.rejected},
            "rows": tally.totals.rows,
            "seconds": seconds,
        });
        writeln!(io::stdout().lock(), "{json}")?;
    } else {
        let mut out = io::stdout().lock();
        writeln!(out, "{:<22} {:>14}", "objects planned", n_planned)?;
        writeln!(out, "{:<22} {:>14}", "  skipped (done)", tally.skipped)?;
        writeln!(out, "{:<22} {:>14}", "  ignored", tally.ignored.len())?;
        writeln!(out, "{:<22} {:>14}", "  retries", tally.retries)?;
        write_summary(
            &mut out,
            n_planned,
            &tally.totals,
            tally.failed.len(),
            seconds,
        )?;
    }
    Ok(
        if tally.failed.is_empty() && tally.totals.counts.rejected == 0 {
            Outcome::Clean
        } else {
            Outcome::WithFailures
        },
    )
}

fn print_plan(args: &Args, plan: &flowatlas_backfill::Plan, estimate: &Estimate) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if args.json {
        let json = serde_json::json!({
            "objects": estimate.objects,
            "bytes": estimate.bytes,
            "day_folders": plan.day_folders.len(),
            "list_requests": plan.list_requests,
            "estimated_seconds": estimate.local_seconds,
            "lambda_gb_seconds": estimate.lambda_gb_seconds,
            "lambda_invocations": estimate.lambda_invocations,
            "lambda_usd": estimate.lambda_usd,
            "keys": plan.objects.iter().map(|object| &object.key).collect::<Vec<_>>(),
        });
        return writeln!(out, "{json}");
    }
    writeln!(out, "{:<24} {:>14}", "objects", estimate.objects)?;
    writeln!(out, "{:<24} {:>14.3}", "GB", estimate.bytes as f64 / 1e9)?;
    writeln!(
        out,
        "{:<24} {:>14}",
        "day folders listed",
        plan.day_folders.len()
    )?;
    writeln!(out, "{:<24} {:>14}", "list requests", plan.list_requests)?;
    writeln!(
        out,
        "{:<24} {:>14}",
        "estimated time here",
        clock(estimate.local_seconds)
    )?;
    writeln!(
        out,
        "{:<24} {:>14.0}",
        format!("Lambda GB-s ({} MB)", args.lambda_memory_mb),
        estimate.lambda_gb_seconds
    )?;
    writeln!(
        out,
        "{:<24} {:>14.2}",
        "Lambda cost (USD)", estimate.lambda_usd
    )
}

fn clock(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// What the run's events add up to.
#[derive(Default)]
struct Tally {
    totals: ObjectReport,
    bytes: u64,
    skipped: u64,
    skipped_bytes: u64,
    retries: u64,
    ignored: Vec<String>,
    failed: Vec<(String, String)>,
}

impl Tally {
    fn add(&mut self, event: Event) {
        match event {
            Event::Skipped { bytes, .. } => {
                self.skipped += 1;
                self.skipped_bytes += bytes;
            }
            Event::Done { bytes, report, .. } => {
                self.totals += &report;
                self.bytes += bytes;
            }
            Event::Ignored { key, .. } => self.ignored.push(key),
            Event::Retrying { .. } => self.retries += 1,
            Event::Failed { key, error } => self.failed.push((key, error)),
        }
    }

    fn finished(&self) -> usize {
        self.totals.n_objects as usize
            + self.skipped as usize
            + self.ignored.len()
            + self.failed.len()
    }
}

/// Progress on standard error: a bar redrawn in place on a terminal, a plain line every ten
/// seconds otherwise (logs, CI).
struct Progress {
    terminal: bool,
    n_planned: usize,
    planned_bytes: u64,
}

impl Progress {
    fn new(n_planned: usize, planned_bytes: u64) -> Progress {
        Progress {
            terminal: io::stderr().is_terminal(),
            n_planned,
            planned_bytes,
        }
    }

    fn every(&self) -> Duration {
        if self.terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(10)
        }
    }

    fn line(&self, tally: &Tally, elapsed: Duration) -> String {
        let seconds = elapsed.as_secs_f64().max(1e-3);
        let done_bytes = tally.bytes + tally.skipped_bytes;
        let rate = tally.bytes as f64 / seconds;
        let eta = if rate > 0.0 {
            clock(self.planned_bytes.saturating_sub(done_bytes) as f64 / rate)
        } else {
            "-".into()
        };
        let share = if self.n_planned == 0 {
            1.0
        } else {
            tally.finished() as f64 / self.n_planned as f64
        };
        let width = 24;
        let filled = (share * width as f64).round() as usize;
        format!(
            "[{}{}] {}/{} objects  {:.2}/{:.2} GB  {:.0}k records/s  ETA {eta}  failures {}",
            "=".repeat(filled),
            " ".repeat(width - filled.min(width)),
            tally.finished(),
            self.n_planned,
            done_bytes as f64 / 1e9,
            self.planned_bytes as f64 / 1e9,
            tally.totals.counts.read as f64 / seconds / 1e3,
            tally.failed.len()
        )
    }

    fn show(&mut self, tally: &Tally, elapsed: Duration) {
        let line = self.line(tally, elapsed);
        let mut err = io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r{line}")
        } else {
            writeln!(err, "{line}")
        };
    }

    fn finish(&mut self, tally: &Tally, elapsed: Duration) {
        let line = self.line(tally, elapsed);
        let mut err = io::stderr().lock();
        let _ = if self.terminal {
            writeln!(err, "\r{line}")
        } else {
            writeln!(err, "{line}")
        };
    }
}
