//! `--data DIR|s3://BUCKET/PREFIX` of `health` and `report`: the engines read folders, so tables
//! in S3 are first copied into a scratch folder, only the hour partitions the range needs
//! (`flowatlas_s3::download_partitions`); the folder is removed when the command ends.

use std::path::PathBuf;

use anyhow::Context;
use flowatlas_s3::{Client, S3Url};

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

/// Tables of S3 copied into a scratch folder, removed on drop.
pub struct Copied {
    /// The scratch folder, laid out as the tables are.
    pub dir: PathBuf,
    /// The range copied: `--from`/`--to`, or the days the tables hold.
    pub from: i64,
    /// End of the range copied (exclusive).
    pub to: i64,
    /// The runtime and client, for writing back.
    pub runtime: tokio::runtime::Runtime,
    /// The S3 client.
    pub client: Client,
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let client = runtime.block_on(flowatlas_s3::client_from_env());
    let dir = std::env::temp_dir().join(format!(
        "flowatlas-data-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos())
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut copied = Copied {
        dir,
        from: 0,
        to: 0,
        runtime,
        client,
    };
    let days = match (from, to) {
        (Some(_), Some(_)) => None,
        _ => copied
            .runtime
            .block_on(flowatlas_s3::table_days(
                &copied.client,
                tables,
                "city_networks",
            ))
            .with_context(|| format!("{tables}: listing city_networks"))?,
    };
    const DAY: i64 = 86_400;
    copied.from = from.or(days.map(|(first, _)| first)).unwrap_or(0);
    copied.to = to
        .or(days.map(|(_, last)| last + DAY))
        .unwrap_or(copied.from);
    for Needed { table, before } in needed {
        copied
            .runtime
            .block_on(flowatlas_s3::download_partitions(
                &copied.client,
                tables,
                table,
                copied.from - before,
                copied.to,
                &copied.dir,
            ))
            .with_context(|| format!("{tables}: downloading {table}"))?;
    }
    Ok(copied)
}
