//! Where the health job finds the tables and puts its own: a local folder, or a bucket and
//! prefix in S3. The engine and the table readers work on a local folder (the *view*): the
//! folder itself, or for S3 a scratch folder into which only the hour partitions a run needs
//! are downloaded, and from which what it wrote is uploaded. Listing, the state object and
//! deletions go to the destination itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use flowatlas_s3::{Client, S3Url};
use flowatlas_tables::{TemporaryFile, partition_of};
use flowatlas_time::parse_date;

use crate::JobError;
use crate::hours::{HOUR, spans};
use crate::state::STATE_NAME;

const DAY: i64 = 86_400;

/// Where the tables are.
#[derive(Clone, Debug)]
pub enum Destination {
    /// A folder `flowatlas process --out` wrote.
    Folder(PathBuf),
    /// A bucket and prefix the Lambda (or `backfill --out s3://…`) writes.
    S3 {
        /// The S3 client the destination is read and written with.
        client: Client,
        /// Bucket and prefix of the tables.
        tables: S3Url,
        /// Uploads larger than this go in parts.
        part_size: u64,
    },
}

/// The local folder a run reads and writes tables in; a scratch folder (removed on drop) for
/// S3.
pub struct View {
    /// Laid out as the tables are.
    pub dir: PathBuf,
    scratch: bool,
}

impl Drop for View {
    fn drop(&mut self) {
        if self.scratch {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> JobError + '_ {
    move |source| JobError::File {
        path: path.to_path_buf(),
        source,
    }
}

impl Destination {
    /// The view of one run.
    pub(crate) fn view(&self) -> Result<View, JobError> {
        match self {
            Destination::Folder(dir) => Ok(View {
                dir: dir.clone(),
                scratch: false,
            }),
            Destination::S3 { .. } => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| since.subsec_nanos());
                let dir = std::env::temp_dir()
                    .join(format!("flowatlas-health-{}-{nanos}", std::process::id()));
                std::fs::create_dir_all(&dir).map_err(file_error(&dir))?;
                Ok(View { dir, scratch: true })
            }
        }
    }

    /// Brings `table`'s partitions of `hours` into the view; returns the files downloaded
    /// (none for a folder, which is its own view).
    pub(crate) async fn fetch(
        &self,
        view: &View,
        table: &str,
        hours: &BTreeSet<i64>,
    ) -> Result<usize, JobError> {
        let Destination::S3 { client, tables, .. } = self else {
            return Ok(0);
        };
        let mut n_files = 0;
        for (from, to) in spans(hours) {
            n_files +=
                flowatlas_s3::download_partitions(client, tables, table, from, to, &view.dir)
                    .await?;
        }
        Ok(n_files)
    }

    /// The hours in `[from, to)` for which `table` holds a file, listed, not read.
    pub(crate) async fn hours_with_files(
        &self,
        table: &str,
        from: i64,
        to: i64,
    ) -> Result<BTreeSet<i64>, JobError> {
        let mut hours = BTreeSet::new();
        let in_range = |hour: i64| (from - HOUR < hour) && hour < to;
        match self {
            Destination::Folder(dir) => {
                let Ok(days) = std::fs::read_dir(dir.join(table)) else {
                    return Ok(hours);
                };
                for day in days.flatten() {
                    let Ok(partitions) = std::fs::read_dir(day.path()) else {
                        continue;
                    };
                    for partition in partitions.flatten() {
                        let relative = format!(
                            "{}/{}",
                            day.file_name().to_string_lossy(),
                            partition.file_name().to_string_lossy()
                        );
                        let holds_file = std::fs::read_dir(partition.path()).is_ok_and(|files| {
                            files
                                .flatten()
                                .any(|file| is_table_file(&file.file_name().to_string_lossy()))
                        });
                        if let Some(hour) = hour_of_partition(&relative)
                            && in_range(hour)
                            && holds_file
                        {
                            hours.insert(hour);
                        }
                    }
                }
            }
            Destination::S3 { client, tables, .. } => {
                let folders = flowatlas_s3::list_folders(
                    client,
                    &tables.bucket,
                    &tables.key(&format!("{table}/")),
                )
                .await?;
                for folder in folders {
                    let Some(day) = folder
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .and_then(|name| name.strip_prefix("dt="))
                        .and_then(parse_date)
                    else {
                        continue;
                    };
                    if day + DAY <= from || day >= to {
                        continue;
                    }
                    for object in flowatlas_s3::list(client, &tables.bucket, &folder).await? {
                        // `…/dt=YYYY-MM-DD/hour=HH/<file>`
                        let Some(start) = object.key.rfind("/dt=") else {
                            continue;
                        };
                        let Some((partition, name)) = object.key[start + 1..].rsplit_once('/')
                        else {
                            continue;
                        };
                        if let Some(hour) = hour_of_partition(partition)
                            && in_range(hour)
                            && is_table_file(name)
                        {
                            hours.insert(hour);
                        }
                    }
                }
            }
        }
        Ok(hours)
    }

    /// The names of `table`'s files in the partition of `hour`.
    pub(crate) async fn files_in_hour(
        &self,
        table: &str,
        hour: i64,
    ) -> Result<Vec<String>, JobError> {
        let relative = format!("{table}/{}/", partition_of(hour));
        let names = match self {
            Destination::Folder(dir) => match std::fs::read_dir(dir.join(&relative)) {
                Ok(files) => files
                    .flatten()
                    .map(|file| file.file_name().to_string_lossy().into_owned())
                    .collect(),
                Err(_) => Vec::new(),
            },
            Destination::S3 { client, tables, .. } => {
                flowatlas_s3::list(client, &tables.bucket, &tables.key(&relative))
                    .await?
                    .into_iter()
                    .filter_map(|object| object.key.rsplit('/').next().map(str::to_string))
                    .collect()
            }
        };
        Ok(names
            .into_iter()
            .filter(|name| is_table_file(name))
            .collect())
    }

    /// Puts what a run wrote into the view (`written`, relative paths) into the destination,
    /// then removes `removed` (relative paths) from both.
    pub(crate) async fn publish(
        &self,
        view: &View,
        written: &[PathBuf],
        removed: &[PathBuf],
    ) -> Result<(), JobError> {
        for relative in removed {
            let path = view.dir.join(relative);
            match std::fs::remove_file(&path) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(file_error(&path)(error));
                }
                _ => {}
            }
        }
        let Destination::S3 {
            client,
            tables,
            part_size,
        } = self
        else {
            return Ok(());
        };
        for relative in written {
            let key = tables.key(&relative.to_string_lossy());
            flowatlas_s3::upload_file(
                client,
                &tables.bucket,
                &key,
                &view.dir.join(relative),
                *part_size,
            )
            .await?;
        }
        for relative in removed {
            let key = tables.key(&relative.to_string_lossy());
            flowatlas_s3::delete(client, &tables.bucket, &key).await?;
        }
        Ok(())
    }

    /// The stored state's text, if there is one.
    pub(crate) async fn read_state(&self) -> Result<Option<String>, JobError> {
        match self {
            Destination::Folder(dir) => {
                let path = dir.join(STATE_NAME);
                match std::fs::read(&path) {
                    // Bytes that are not UTF-8 are an unreadable state, rebuilt, not an error.
                    Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(error) => Err(file_error(&path)(error)),
                }
            }
            Destination::S3 { client, tables, .. } => {
                Ok(flowatlas_s3::get_text(client, &tables.bucket, &tables.key(STATE_NAME)).await?)
            }
        }
    }

    /// Stores the state: a hidden temporary file renamed over the old one, or one PUT.
    pub(crate) async fn write_state(&self, text: String) -> Result<(), JobError> {
        match self {
            Destination::Folder(dir) => {
                std::fs::create_dir_all(dir).map_err(file_error(dir))?;
                let path = dir.join(STATE_NAME);
                let (temporary, mut file) =
                    TemporaryFile::create(&path).map_err(file_error(&path))?;
                std::io::Write::write_all(&mut file, text.as_bytes()).map_err(file_error(&path))?;
                file.sync_all().map_err(file_error(&path))?;
                temporary.persist().map_err(file_error(&path))
            }
            Destination::S3 { client, tables, .. } => Ok(flowatlas_s3::put_bytes(
                client,
                &tables.bucket,
                &tables.key(STATE_NAME),
                text.into_bytes(),
            )
            .await?),
        }
    }

    /// The first and last day (midnights) `table` holds, for a run over all of history.
    pub(crate) async fn table_days(&self, table: &str) -> Result<Option<(i64, i64)>, JobError> {
        match self {
            Destination::Folder(dir) => {
                let Ok(days) = std::fs::read_dir(dir.join(table)) else {
                    return Ok(None);
                };
                let midnights = days.flatten().filter_map(|day| {
                    parse_date(day.file_name().to_string_lossy().strip_prefix("dt=")?)
                });
                Ok(midnights.fold(None, |span, day| {
                    Some(span.map_or((day, day), |(first, last): (i64, i64)| {
                        (first.min(day), last.max(day))
                    }))
                }))
            }
            Destination::S3 { client, tables, .. } => {
                Ok(flowatlas_s3::table_days(client, tables, table).await?)
            }
        }
    }
}

/// A Parquet file a reader would open (not a temporary one).
fn is_table_file(name: &str) -> bool {
    name.ends_with(".parquet") && !name.starts_with('.')
}

/// The hour (Unix seconds) of `dt=YYYY-MM-DD/hour=HH`.
fn hour_of_partition(relative: &str) -> Option<i64> {
    let (day, hour) = relative.split_once('/')?;
    let midnight = parse_date(day.strip_prefix("dt=")?)?;
    let hour: i64 = hour.strip_prefix("hour=")?.parse().ok()?;
    (0..24).contains(&hour).then_some(midnight + hour * HOUR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_name_their_hours() {
        assert_eq!(
            hour_of_partition("dt=2026-06-01/hour=13"),
            Some(1_780_272_000 + 13 * HOUR)
        );
        assert_eq!(hour_of_partition("dt=2026-06-01/hour=24"), None);
        assert_eq!(
            hour_of_partition(&partition_of(1_780_272_000 + 7_300)),
            Some(1_780_272_000 + 7_200)
        );
    }
}
