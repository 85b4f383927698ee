//! `flowatlas agent`: measure this host's TCP connections and write `tcp_stats` windows.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use flowatlas_agent::{Agent, CollectConfig, Destination, LocalFolder, Output};
use flowatlas_geo::PeerRules;
use flowatlas_rollup::{ServiceLocation, parse_prefix_lengths};
use flowatlas_s3::S3Url;

use crate::Outcome;

/// Measure round-trip times and retransmissions of this host's own TCP connections (Linux,
/// no privileges needed) and write one `tcp_stats` Parquet file per 5-minute window:
/// `tcp_stats/dt=…/hour=…/<host>-<window>-<run>.parquet`. Only per-prefix sums leave the
/// host. SIGTERM or SIGINT writes the current, partial window and exits 0.
#[derive(clap::Args)]
pub struct Args {
    /// Where windows go: a folder (the tables' root) or `s3://bucket/prefix`.
    #[arg(long, value_name = "DIR|S3URL")]
    out: String,

    /// Seconds between two dumps of the socket table.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    interval: u64,

    /// Service ports to measure, comma-separated (default: every listening port).
    #[arg(long, value_name = "P,...", value_delimiter = ',')]
    ports: Vec<u16>,

    /// A network of your own: its peers are not clients. Repeatable.
    #[arg(long = "local-cidr", value_name = "CIDR")]
    local_cidrs: Vec<String>,

    /// Client prefix lengths as V4,V6.
    #[arg(long, value_name = "V4,V6", default_value = "24,48", value_parser = parse_prefix_lengths)]
    prefix_lengths: (u8, u8),

    /// AWS account of this host (written in every row) where the EC2 instance metadata
    /// service (IMDSv2, asked at start; `AWS_EC2_METADATA_SERVICE_ENDPOINT` overrides its
    /// address, `AWS_EC2_METADATA_DISABLED=true` skips it) does not say.
    #[arg(long)]
    account_id: Option<String>,

    /// AWS Region of this host, where the instance metadata does not say.
    #[arg(long)]
    region: Option<String>,

    /// Availability Zone ID of this host (e.g. use1-az4), where the instance metadata does not
    /// say.
    #[arg(long)]
    az_id: Option<String>,

    /// Name of this host in rows and file names (default: the kernel's host name).
    #[arg(long)]
    host: Option<String>,

    /// Folder where windows wait until delivered (default: `<out>/_spool` for a folder; needed
    /// for S3). Files left there by a previous run are delivered first.
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
}

/// How often destroy notifications are drained between dumps: the kernel keeps about 600 of
/// them in the socket's buffer.
const DRAIN_EVERY: Duration = Duration::from_millis(100);

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.interval > 0, "--interval must be at least 1 second");
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("signal handler")?;
    }
    let host = match &args.host {
        Some(host) => host.clone(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .context("host name (give --host)")?
            .trim()
            .to_owned(),
    };
    anyhow::ensure!(
        !host.is_empty() && !host.contains('/'),
        "host name {host:?} cannot name a file"
    );
    let location = service_location(&args, &mut io::stderr().lock())?;
    let config = CollectConfig {
        ports: args.ports.clone(),
        rules: PeerRules::new(&args.local_cidrs, None)?,
        prefix_len_v4: args.prefix_lengths.0,
        prefix_len_v6: args.prefix_lengths.1,
        location,
        host: Arc::from(host.as_str()),
    };
    let (destination, spool): (Box<dyn Destination + Send>, PathBuf) =
        if args.out.starts_with("s3://") {
            let url = S3Url::parse(&args.out).context("--out")?;
            let spool = args
                .spool
                .clone()
                .context("--out s3://... needs --spool DIR for windows not yet uploaded")?;
            (Box::new(S3Destination::new(url)?), spool)
        } else {
            let root = PathBuf::from(&args.out);
            let spool = args.spool.clone().unwrap_or_else(|| root.join("_spool"));
            (Box::new(LocalFolder { root }), spool)
        };
    let started = unix_now();
    let mut agent = Agent::new(config, Output::new(spool, destination), started)?;
    let mut stderr = io::stderr().lock();
    writeln!(
        stderr,
        "flowatlas agent: host {host}, every {} s, writing to {}",
        args.interval, args.out
    )?;
    let interval = Duration::from_secs(args.interval);
    let mut next_poll = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= next_poll {
            let report = agent.poll(unix_now())?;
            if report.n_rows_written > 0 || report.delivery.n_pending > 0 {
                writeln!(
                    stderr,
                    "window written: {} rows; {} files delivered, {} pending; {} connections followed",
                    report.n_rows_written,
                    report.delivery.n_delivered,
                    report.delivery.n_pending,
                    report.n_tracked
                )?;
            }
            next_poll += interval;
        } else {
            agent.drain_destroyed(unix_now())?;
            std::thread::sleep(DRAIN_EVERY.min(next_poll - now));
        }
    }
    let overruns = agent.n_overruns();
    let report = agent.shutdown(unix_now())?;
    writeln!(
        stderr,
        "flowatlas agent: stopped; partial window {} rows; {} files delivered, {} pending; {overruns} notification overruns",
        report.n_rows_written, report.delivery.n_delivered, report.delivery.n_pending
    )?;
    Ok(Outcome::Clean)
}

/// The environment variable the AWS SDKs read for the metadata service's endpoint.
const ENDPOINT_VARIABLE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
/// The AWS SDKs' switch that turns the metadata service off.
const DISABLED_VARIABLE: &str = "AWS_EC2_METADATA_DISABLED";

/// The service location rows carry: what the instance metadata service (IMDSv2) says, else
/// the flags. A flag the metadata contradicts is reported; off EC2 the lookup gives up within
/// `flowatlas_agent::BUDGET`.
fn service_location(args: &Args, stderr: &mut impl Write) -> anyhow::Result<ServiceLocation> {
    let disabled =
        std::env::var(DISABLED_VARIABLE).is_ok_and(|value| value.eq_ignore_ascii_case("true"));
    let metadata = if disabled {
        flowatlas_agent::InstanceLocation::default()
    } else {
        let endpoint = std::env::var(ENDPOINT_VARIABLE)
            .ok()
            .filter(|endpoint| !endpoint.is_empty())
            .unwrap_or_else(|| flowatlas_agent::DEFAULT_ENDPOINT.to_owned());
        match flowatlas_agent::instance_location(&endpoint) {
            Ok(found) => found,
            Err(error) => {
                writeln!(
                    stderr,
                    "flowatlas agent: no instance metadata ({error}); location from the flags"
                )?;
                flowatlas_agent::InstanceLocation::default()
            }
        }
    };
    let mut pick = |flag: &str, given: &Option<String>, found: Option<String>| {
        if let (Some(given), Some(found)) = (given, &found)
            && given != found
        {
            writeln!(
                stderr,
                "flowatlas agent: --{flag} {given} ignored: the instance metadata says {found}"
            )?;
        }
        anyhow::Ok(found.or_else(|| given.clone()).map(Arc::from))
    };
    Ok(ServiceLocation {
        account_id: pick("account-id", &args.account_id, metadata.account_id)?,
        region: pick("region", &args.region, metadata.region)?,
        az_id: pick("az-id", &args.az_id, metadata.az_id)?,
        vpc_id: None,
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// Uploads spooled windows to S3 with the SDK's standard settings.
struct S3Destination {
    runtime: tokio::runtime::Runtime,
    client: flowatlas_s3::Client,
    url: S3Url,
}

/// Windows are a few KB: one PUT each, never multipart.
const PART_SIZE: u64 = 16 * 1024 * 1024;

impl S3Destination {
    fn new(url: S3Url) -> anyhow::Result<S3Destination> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("tokio runtime")?;
        let client = runtime.block_on(flowatlas_s3::client_from_env());
        Ok(S3Destination {
            runtime,
            client,
            url,
        })
    }
}

impl Destination for S3Destination {
    fn deliver(&mut self, file: &Path, relative: &Path) -> Result<(), String> {
        let key = self.url.key(&relative.to_string_lossy());
        self.runtime
            .block_on(flowatlas_s3::upload_file(
                &self.client,
                &self.url.bucket,
                &key,
                file,
                PART_SIZE,
            ))
            .map_err(|error| error.to_string())
    }
}
