//! Tables in S3 as the engines that read folders need them: a table's hour partitions of a time
//! range downloaded into a local folder (same layout), and the span of days a table holds. The
//! health job (Lambda schedule and CLI `health`) and the CLI's `report` on `--data s3://…` share
//! these, so each reads exactly the partitions its range needs, never the whole bucket.

use std::path::Path;

use flowatlas_store::layout::partition_of;
use flowatlas_time::{parse_date, utc_date};

use crate::{Client, Error, S3Url, download, list, list_folders};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// Downloads the Parquet files of `table`'s hour partitions that overlap `[from, to)` (Unix
/// seconds) from under `tables` into `into`, keeping the layout
/// (`<table>/dt=…/hour=…/<file>.parquet`). Only the day folders of the range are listed.
/// Returns the number of files downloaded.
pub async fn download_partitions(
    client: &Client,
    tables: &S3Url,
    table: &str,
    from: i64,
    to: i64,
    into: &Path,
) -> Result<usize, Error> {
    let mut n = 0;
    if to <= from {
        return Ok(n);
    }
    let root = tables.key("");
    for day in from.div_euclid(DAY)..=(to - 1).div_euclid(DAY) {
        let date = utc_date(day * DAY);
        let prefix = tables.key(&format!(
            "{table}/{}",
            flowatlas_store::layout::day_folder(&date)
        ));
        for object in list(client, &tables.bucket, &prefix).await? {
            let Some(relative) = object.key.strip_prefix(&root) else {
                continue;
            };
            let in_range = (0..24).any(|hour| {
                let start = day * DAY + hour * HOUR;
                start + HOUR > from
                    && start < to
                    && relative.contains(&format!("/{}/", partition_of(start)))
            });
            let hidden = relative
                .rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with('.'));
            if !in_range || hidden || !relative.ends_with(".parquet") {
                continue;
            }
            let path = into.join(relative);
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder).map_err(|source| Error::File {
                    path: folder.to_path_buf(),
                    source,
                })?;
            }
            download(client, &tables.bucket, &object.key, &path).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// The first and last day (Unix seconds of their midnights) of `table`'s `dt=` folders under
/// `tables`; `None` when it has none. One listing of day folders, no object listed.
pub async fn table_days(
    client: &Client,
    tables: &S3Url,
    table: &str,
) -> Result<Option<(i64, i64)>, Error> {
    let prefix = tables.key(&format!("{table}/"));
    let days: Vec<i64> = list_folders(client, &tables.bucket, &prefix)
        .await?
        .iter()
        .filter_map(|folder| {
            let date = folder.trim_end_matches('/').rsplit('/').next()?;
            parse_date(flowatlas_store::layout::day_of_folder(date)?)
        })
        .collect();
    Ok(days
        .iter()
        .min()
        .zip(days.iter().max())
        .map(|(&first, &last)| (first, last)))
}

/// The tables the health engine writes.
pub const HEALTH_TABLES: [&str; 2] = ["city_network_health", "health_events"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_days() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-06-01"), Some(1_780_272_000));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        for bad in ["2026-02-31", "2026-13-01", "2026-06", "x", "2026-06-01x"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
