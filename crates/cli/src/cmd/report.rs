//! `flowatlas report`: the tables of a range as one self-contained HTML page.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::Outcome;
use crate::cmd::data::{Data, Needed, copy_from_s3, parse_data};
use crate::cmd::shared::parse_time;

/// Write one HTML page that shows the tables of a range the way Internet Monitor's console
/// does: overall availability and traffic over time with health events shaded, a world map
/// with one circle per city-network (sized by traffic, coloured by its lowest score), each
/// event with its expected and observed traffic, prefixes, ASNs and signals, and sortable top
/// ISPs, cities, countries and prefixes. The page opens offline: nothing in it is fetched.
/// Scores and events come from the health tables (`flowatlas health` writes them).
#[derive(clap::Args)]
pub struct Args {
    /// The folder `flowatlas process --out` (and `flowatlas health`) wrote, or the
    /// `s3://bucket/prefix` the Lambda writes (only the partitions of the range are
    /// downloaded; the range is the days the tables hold when `--from`/`--to` are not given).
    #[arg(long, value_name = "DIR|S3URL", default_value = "flowatlas-data", value_parser = parse_data)]
    data: Data,

    /// Start of the range (UTC): `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`. Default: the first window
    /// in the tables.
    #[arg(long, value_parser = parse_time)]
    from: Option<i64>,

    /// End of the range (UTC, exclusive), same forms as `--from`. Default: after the last
    /// window.
    #[arg(long, value_parser = parse_time)]
    to: Option<i64>,

    /// Where to write the page.
    #[arg(long, value_name = "FILE", default_value = "report.html")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let summary = match &args.data {
        Data::Folder(folder) => write_page(folder, args.from, args.to, &args.out)?,
        Data::S3(tables) => {
            // Events are filed by their start: one that began earlier may still cover the range.
            let needed = [
                Needed {
                    table: flowatlas_tables::CITY_NETWORKS,
                    before: 0,
                },
                Needed {
                    table: flowatlas_tables::CLIENT_PREFIXES,
                    before: 0,
                },
                Needed {
                    table: flowatlas_tables::CITY_NETWORK_HEALTH,
                    before: 0,
                },
                Needed {
                    table: flowatlas_tables::HEALTH_EVENTS,
                    before: flowatlas_health::HISTORY_SECONDS,
                },
            ];
            let copied = copy_from_s3(tables, &needed, args.from, args.to)?;
            // The user's range, not the copied one: an open range is the data's own span.
            write_page(&copied.dir, args.from, args.to, &args.out)?
        }
    };
    writeln!(io::stdout().lock(), "{summary}")?;
    Ok(Outcome::Clean)
}

/// Builds and writes the page; returns a line saying what was written.
pub fn write_page(
    data: &Path,
    from: Option<i64>,
    to: Option<i64>,
    out: &Path,
) -> anyhow::Result<String> {
    let report = flowatlas_report::read_folder(data, from, to)
        .with_context(|| format!("{}: reading the tables", data.display()))?;
    let page = flowatlas_report::render(&report);
    std::fs::write(out, &page).with_context(|| format!("{}: cannot write", out.display()))?;
    Ok(if report.is_empty() {
        format!("Report: {} (no data in this range)", out.display())
    } else {
        format!(
            "Report: {} ({} KiB; {} city-networks, {} events)",
            out.display(),
            page.len().div_ceil(1024),
            report.city_networks.len(),
            report.events.len()
        )
    })
}
