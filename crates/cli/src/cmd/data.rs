//! `--data DIR|s3://BUCKET/PREFIX` of `health` and `report`: the engines read folders, so tables
//! in S3 are first copied into a scratch folder, only the hour partitions the range needs
//! (`flowatlas_store::download_partitions`); the folder is removed when the command ends.

use std::path::PathBuf;

use anyhow::Context;
use flowatlas_s3::{S3Store, S3Url};
use flowatlas_store::{download_partitions, table_days};
use flowatlas_tables::CITY_NETWORKS;

/// Where the tables are.
#[derive(Clone, Debug)]
pub enum Data {
    /// A folder `flowatlas process --out` wrote.
    Folder(PathBuf),
    /// A bucket and prefix the Lambda (or `backfill --out s3://…`) writes.
    S3(S3Url),
}

impl std::fmt::Display for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Data::Folder(folder) => write!(f, "{}", folder.display()),
            Data::S3(tables) => write!(f, "{tables}"),
        }
    }
}

/// Parses `--data`.
pub fn parse_data(text: &str) -> Result<Data, String> {
    if text.starts_with("s3://") {
        S3Url::parse(text)
            .map(Data::S3)
            .map_err(|error| error.to_string())
    } else {
        Ok(Data::Folder(PathBuf::from(text)))
    }
}

/// A bucket and prefix as a store, with the runtime its calls block on (its worker thread
/// drives the requests while the command's thread waits).
pub struct S3Data {
    /// Kept alive as long as the store is used.
    _runtime: tokio::runtime::Runtime,
    /// The bucket and prefix the tables are under.
    pub store: S3Store,
}

/// The store of `tables`, with the SDK's standard settings.
pub fn s3_store(tables: &S3Url) -> anyhow::Result<S3Data> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let store = runtime
        .block_on(async { S3Store::new(flowatlas_s3::client_from_env().await, tables.clone()) });
    Ok(S3Data {
        _runtime: runtime,
        store,
    })
}

/// Tables of S3 copied into a scratch folder, removed on drop.
pub struct Copied {
    /// The scratch folder, laid out as the tables are.
    pub dir: PathBuf,
}

impl Drop for Copied {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One table to copy and how far before the range it is needed (history for the health
/// engine, earlier starts for events).
pub struct Needed<'a> {
    /// Its folder name under the tables' prefix (`city_networks`).
    pub table: &'a str,
    /// Seconds before `from` to copy too.
    pub before: i64,
}

/// Copies the tables' partitions of `[from, to)` (the days `city_networks` holds where open)
/// into a new scratch folder.
pub fn copy_from_s3(
    tables: &S3Url,
    needed: &[Needed<'_>],
    from: Option<i64>,
    to: Option<i64>,
) -> anyhow::Result<Copied> {
    let s3 = s3_store(tables)?;
    let dir = std::env::temp_dir().join(format!(
        "flowatlas-data-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos())
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let copied = Copied { dir };
    let days = match (from, to) {
        (Some(_), Some(_)) => None,
        _ => table_days(&s3.store, CITY_NETWORKS)
            .with_context(|| format!("{tables}: listing {CITY_NETWORKS}"))?,
    };
    const DAY: i64 = 86_400;
    let from = from.or(days.map(|(first, _)| first)).unwrap_or(0);
    let to = to.or(days.map(|(_, last)| last + DAY)).unwrap_or(from);
    for Needed { table, before } in needed {
        download_partitions(&s3.store, table, from - before, to, &copied.dir)
            .with_context(|| format!("{tables}: downloading {table}"))?;
    }
    Ok(copied)
}
