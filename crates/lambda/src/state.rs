//! What a function instance keeps from its cold start to its last invocation: the settings,
//! the AWS clients, the pipeline's configuration and the enricher with its warm cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use flowatlas_geo::{Databases, Enricher, GeoConfig, PeerRules};
use flowatlas_pipeline::Config;
use flowatlas_rollup::{RollupConfig, ServiceLocation};
use flowatlas_s3::Client;

use crate::config::{FileSource, Settings};

/// How this process's scratch folders in the temporary folder begin: `flowatlas-<process id>`,
/// with a suffix for the health run's (`-compact`, `-report`).
pub(crate) const SCRATCH_PREFIX: &str = "flowatlas-";

/// Removes the scratch folders of earlier runtimes of this execution environment. Lambda
/// restarts the runtime after a timeout or running out of memory and keeps `/tmp`, so each
/// restart left its folder behind — the databases it fetched (a GeoLite2 City database is
/// tens of MB) and an object's files — and a few restarts would fill the ephemeral storage
/// (512 MB by default). A folder goes when its process no longer runs; those of functions
/// running side by side (tests) stay.
fn remove_stale_scratch(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = pid else {
            continue;
        };
        let is_folder = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if is_folder && pid != std::process::id() && !flowatlas_store::is_running(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// What lives from one cold start to the next invocations.
pub struct State {
    /// Configuration read from the environment at cold start.
    pub settings: Settings,
    /// The S3 client.
    pub client: Client,
    /// The EventBridge client health events are put with.
    pub events: Option<aws_sdk_eventbridge::Client>,
    /// The pipeline's configuration (`out_dir` is a scratch folder emptied for each object).
    pub config: Config,
    /// The enricher, if databases are configured; its cache stays warm across objects and
    /// invocations (one invocation at a time per instance, so the lock is never contended).
    pub enricher: Mutex<Option<Enricher>>,
}

impl State {
    /// Cold start: fetches what the settings name in S3, opens the databases, and prepares a
    /// scratch folder. Every error names the variable at fault.
    pub async fn new(settings: Settings, client: Client) -> anyhow::Result<State> {
        // Lambda's writable /tmp (TMPDIR elsewhere); one folder per process, so that functions
        // run side by side on one machine (tests) never share scratch files.
        remove_stale_scratch(&std::env::temp_dir());
        let scratch = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
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
        let events = match &settings.health.event_bus {
            Some(_) => {
                let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                Some(aws_sdk_eventbridge::Client::new(&shared))
            }
            None => None,
        };
        Ok(State {
            settings,
            client,
            events,
            config: pipeline,
            enricher: Mutex::new(enricher),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a runtime killed by a timeout left is removed at the next cold start; a running
    /// process's folders and every other name stay.
    #[test]
    fn scratch_folders_of_gone_runtimes_are_removed() {
        let temp =
            std::env::temp_dir().join(format!("flowatlas-stale-test-{}", std::process::id()));
        // No process has this id: Linux's ids stop at 2^22.
        let gone = u32::MAX;
        let ours = std::process::id();
        let cases = [
            (format!("flowatlas-{gone}"), true),
            (format!("flowatlas-{gone}-compact"), true),
            (format!("flowatlas-{ours}"), false),
            (format!("flowatlas-{ours}-report"), false),
            (format!("flowatlas-compact-{gone}"), false),
            (format!("other-{gone}"), false),
        ];
        for (name, _) in &cases {
            std::fs::create_dir_all(temp.join(name).join("files")).unwrap();
            std::fs::write(temp.join(name).join("files/city.mmdb"), b"db").unwrap();
        }
        let file = temp.join(format!("flowatlas-{gone}-file"));
        std::fs::write(&file, b"not a folder").unwrap();
        remove_stale_scratch(&temp);
        for (name, goes) in &cases {
            assert_eq!(temp.join(name).exists(), !goes, "{name}");
        }
        assert!(file.exists());
        std::fs::remove_dir_all(&temp).unwrap();
    }
}
