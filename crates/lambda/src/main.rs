//! `bootstrap`: the flowatlas AWS Lambda function. S3 object-created events (direct, through
//! SQS, or from EventBridge) in; the tables of each object in the destination bucket out, by
//! the same per-object pipeline as `flowatlas process`.
//!
//! Cold start reads and checks the configuration (`config.rs`), fetches the GeoIP databases
//! named by S3 URL, and opens them; any failure there stops the function with a message naming
//! the variable. Each invocation is then `handler::handle`.

mod config;
mod event;
mod handler;
mod metrics;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use flowatlas_geo::{Databases, Enricher, GeoConfig, PeerRules};
use flowatlas_pipeline::Config;
use flowatlas_rollup::{RollupConfig, ServiceLocation};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::config::{FileSource, Settings};
use crate::handler::State;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let state = match cold_start().await {
        Ok(state) => Arc::new(state),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "cold start failed");
            return Err(format!("{error:#}").into());
        }
    };
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "flowatlas".into());
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let state = Arc::clone(&state);
        let function = function.clone();
        async move {
            handler::handle(state, event.payload, event.context.deadline, &function)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

/// JSON log lines, one per event, at the level of `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
fn init_logging() {
    use lambda_runtime::tracing::subscriber::{EnvFilter, fmt};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    fmt()
        .json()
        .with_target(false)
        .with_current_span(false)
        .with_env_filter(EnvFilter::new(level.to_lowercase()))
        .init();
}

async fn cold_start() -> anyhow::Result<State> {
    let settings = Settings::from_vars(std::env::vars()).map_err(anyhow::Error::msg)?;
    let client = flowatlas_s3::client_from_env().await;
    // Lambda's writable /tmp (TMPDIR elsewhere); one folder per process, so that functions
    // run side by side on one machine (tests) never share scratch files.
    let scratch = std::env::temp_dir().join(format!("flowatlas-{}", std::process::id()));
    let fetched = scratch.join("files");
    std::fs::create_dir_all(&fetched).with_context(|| format!("{}", fetched.display()))?;
    let mut n_fetched = 0;
    let mut local = async |name: &str, source: &FileSource| -> anyhow::Result<PathBuf> {
        match source {
            FileSource::Local(path) => Ok(path.clone()),
            FileSource::S3(url) => {
                n_fetched += 1;
                let file_name = url.prefix.rsplit('/').next().unwrap_or("file");
                let path = fetched.join(format!("{n_fetched}-{file_name}"));
                flowatlas_s3::download(&client, &url.bucket, &url.prefix, &path)
                    .await
                    .with_context(|| format!("{name}: cannot fetch {url}"))?;
                Ok(path)
            }
        }
    };
    let mut asn_dbs = Vec::new();
    for source in &settings.asn_dbs {
        asn_dbs.push(local("FLOWATLAS_ASN_DBS", source).await?);
    }
    let mut geo_dbs = Vec::new();
    for source in &settings.geo_dbs {
        geo_dbs.push(local("FLOWATLAS_GEO_DBS", source).await?);
    }
    let prefixes = match &settings.prefixes {
        Some(source) => Some(local("FLOWATLAS_PREFIXES", source).await?),
        None => None,
    };
    let ip_ranges = match &settings.aws_ip_ranges {
        Some(source) => {
            let path = local("FLOWATLAS_AWS_IP_RANGES", source).await?;
            Some(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("FLOWATLAS_AWS_IP_RANGES: {}", path.display()))?,
            )
        }
        None => None,
    };
    let rules = PeerRules::new(&settings.local_cidrs, ip_ranges.as_deref())
        .context("FLOWATLAS_LOCAL_CIDRS or FLOWATLAS_AWS_IP_RANGES")?;
    let enricher = if asn_dbs.is_empty() && geo_dbs.is_empty() && prefixes.is_none() {
        None
    } else {
        let databases = Databases::open(&GeoConfig {
            asn_dbs,
            geo_dbs,
            prefixes,
        })
        .context("FLOWATLAS_ASN_DBS, FLOWATLAS_GEO_DBS or FLOWATLAS_PREFIXES")?;
        Some(Enricher::new(Arc::new(databases)))
    };
    let pipeline = Config {
        read: flowatlas_flowlog::Options {
            format: settings.format.clone(),
            ..flowatlas_flowlog::Options::default()
        },
        rules,
        rollup: RollupConfig {
            prefix_len_v4: settings.prefix_lengths.0,
            prefix_len_v6: settings.prefix_lengths.1,
            default_location: ServiceLocation::default(),
        },
        out_dir: scratch.join("object"),
        tables: settings.tables,
    };
    tracing::info!(
        sources = settings.sources.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        destination = %settings.destination,
        enrichment = enricher.is_some(),
        "cold start"
    );
    Ok(State {
        settings,
        client,
        pipeline,
        enricher: Mutex::new(enricher),
    })
}
