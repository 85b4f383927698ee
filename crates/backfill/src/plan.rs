//! Which objects a date range needs: only the day folders of AWS's four key layouts (and of
//! the agent's `tcp_stats/dt=YYYY-MM-DD/` beside `AWSLogs/`) are listed, never the whole bucket.
//!
//! Under `<prefix>/AWSLogs/`: default `<account>/vpcflowlogs/<region>/YYYY/MM/DD/` (hourly adds
//! `HH/`), Hive `aws-account-id=<account>/aws-service=vpcflowlogs/aws-region=<region>/
//! year=YYYY/month=MM/day=DD/` (hourly adds `hour=HH/`). Transit Gateway logs
//! (`transitgatewayflowlogs`) and load-balancer logs (`elasticloadbalancing`: ALB connection
//! logs, NLB access logs) are laid out the same way (ALB access logs in those folders are
//! skipped by name). Accounts, services and Regions are discovered one folder level at a time
//! unless given.

use std::collections::BTreeMap;

use flowatlas_s3::{Client, Error, ObjectInfo, S3Url, list, list_folders};
use tokio::task::JoinSet;

/// What to backfill.
#[derive(Clone, Debug)]
pub struct Selection {
    /// The bucket and the prefix flow logs are delivered under (with or without `AWSLogs/`).
    pub source: S3Url,
    /// Only these accounts (all when empty).
    pub accounts: Vec<String>,
    /// Only these Regions (all when empty).
    pub regions: Vec<String>,
    /// First day, in days since 1970-01-01 (UTC).
    pub first_day: i64,
    /// Last day, included.
    pub last_day: i64,
}

/// An object to process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// Bucket to read the object from.
    pub bucket: String,
    /// Object key, as listed.
    pub key: String,
    /// Size, ETag and time, from the listing.
    pub info: ObjectInfo,
}

/// The objects a selection needs, and what listing them cost.
#[derive(Debug, Default)]
pub struct Plan {
    /// The objects, in key order.
    pub objects: Vec<Planned>,
    /// List requests made (folder discovery and day listings).
    pub list_requests: u64,
    /// Day folders listed.
    pub day_folders: Vec<String>,
}

const SERVICES: [&str; 3] = [
    "vpcflowlogs",
    "transitgatewayflowlogs",
    "elasticloadbalancing",
];
/// Day folders listed at once.
const LISTINGS_IN_FLIGHT: usize = 16;

/// The `AWSLogs/` folder under a delivery prefix.
fn logs_root(prefix: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        "AWSLogs/".into()
    } else if prefix == "AWSLogs" || prefix.ends_with("/AWSLogs") {
        format!("{prefix}/")
    } else {
        format!("{prefix}/AWSLogs/")
    }
}

/// The `tcp_stats/` folder `flowatlas agent --out s3://bucket/<prefix>` writes under: beside
/// `AWSLogs/` when the source names that folder.
fn agent_root(prefix: &str) -> String {
    let logs = logs_root(prefix);
    let base = &logs[..logs.len() - "AWSLogs/".len()];
    format!("{base}{}/", flowatlas_store::layout::TCP_STATS)
}

/// The last path segment of a folder (`a/b/c/` → `c`).
fn segment(folder: &str) -> &str {
    folder
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// The day folder of a Region folder, in the layout the folder's name says.
pub fn day_folder(region_folder: &str, day: i64) -> String {
    let date = flowatlas_time::utc_date(day * 86_400);
    let (year, rest) = date.split_once('-').unwrap_or_default();
    let (month, day_of_month) = rest.split_once('-').unwrap_or_default();
    if segment(region_folder).starts_with("aws-region=") {
        format!("{region_folder}year={year}/month={month}/day={day_of_month}/")
    } else {
        format!("{region_folder}{year}/{month}/{day_of_month}/")
    }
}

/// Lists what the selection needs.
pub async fn plan(client: &Client, selection: &Selection) -> Result<Plan, Error> {
    let bucket = &selection.source.bucket;
    let root = logs_root(&selection.source.prefix);
    let mut plan = Plan::default();
    let discover = async |folder: &str, plan: &mut Plan| {
        plan.list_requests += 1;
        list_folders(client, bucket, folder).await
    };

    let account_folders = if selection.accounts.is_empty() {
        discover(&root, &mut plan).await?
    } else {
        selection
            .accounts
            .iter()
            .flat_map(|account| {
                [
                    format!("{root}{account}/"),
                    format!("{root}aws-account-id={account}/"),
                ]
            })
            .collect()
    };
    let mut region_folders = Vec::new();
    for account_folder in account_folders {
        let services = discover(&account_folder, &mut plan).await?;
        for service_folder in services {
            let service = segment(&service_folder);
            let service = service.strip_prefix("aws-service=").unwrap_or(service);
            if !SERVICES.contains(&service) {
                continue;
            }
            let regions = discover(&service_folder, &mut plan).await?;
            for region_folder in regions {
                let region = segment(&region_folder);
                let region = region.strip_prefix("aws-region=").unwrap_or(region);
                if selection.regions.is_empty() || selection.regions.iter().any(|r| r == region) {
                    region_folders.push(region_folder);
                }
            }
        }
    }

    for region_folder in &region_folders {
        for day in selection.first_day..=selection.last_day {
            plan.day_folders.push(day_folder(region_folder, day));
        }
    }
    // The agent's objects beside `AWSLogs/`: their rows carry account and Region, their keys
    // only the day, so every day folder of the range is listed whatever the filters.
    let agent_root = agent_root(&selection.source.prefix);
    for day in selection.first_day..=selection.last_day {
        let date = flowatlas_time::utc_date(day * 86_400);
        plan.day_folders.push(format!(
            "{agent_root}{}",
            flowatlas_store::layout::day_folder(&date)
        ));
    }
    let mut listings = JoinSet::new();
    let mut objects = BTreeMap::new();
    for day_folder in plan.day_folders.clone() {
        if listings.len() >= LISTINGS_IN_FLIGHT
            && let Some(listed) = listings.join_next().await
        {
            collect(&mut objects, listed, &mut plan)?;
        }
        let client = client.clone();
        let bucket = bucket.clone();
        listings.spawn(async move { list(&client, &bucket, &day_folder).await });
    }
    while let Some(listed) = listings.join_next().await {
        collect(&mut objects, listed, &mut plan)?;
    }
    plan.objects = objects
        .into_iter()
        .map(|(key, info)| Planned {
            bucket: bucket.clone(),
            key,
            info,
        })
        .collect();
    Ok(plan)
}

type Listed = Result<Vec<flowatlas_s3::Listed>, Error>;

fn collect(
    objects: &mut BTreeMap<String, ObjectInfo>,
    listed: Result<Listed, tokio::task::JoinError>,
    plan: &mut Plan,
) -> Result<(), Error> {
    plan.list_requests += 1;
    let listed = listed.map_err(|error| Error::Request {
        operation: "ListObjectsV2",
        bucket: String::new(),
        key: String::new(),
        message: error.to_string(),
    })??;
    objects.extend(
        listed
            .into_iter()
            .filter(|object| flowatlas_pipeline::is_log_file_name(&object.key))
            .map(|object| (object.key, object.info)),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_day_folders() {
        assert_eq!(logs_root(""), "AWSLogs/");
        assert_eq!(logs_root("logs"), "logs/AWSLogs/");
        assert_eq!(logs_root("logs/AWSLogs/"), "logs/AWSLogs/");
        assert_eq!(agent_root(""), "tcp_stats/");
        assert_eq!(agent_root("logs/AWSLogs"), "logs/tcp_stats/");
        assert_eq!(agent_root("logs/"), "logs/tcp_stats/");
        let day = 1_780_272_000 / 86_400; // 2026-06-01
        assert_eq!(
            day_folder("AWSLogs/123456789012/vpcflowlogs/eu-west-1/", day),
            "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/06/01/"
        );
        assert_eq!(
            day_folder(
                "AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=eu-west-1/",
                day + 30
            ),
            "AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2026/month=07/day=01/"
        );
    }
}
