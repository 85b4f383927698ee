//! `flowatlas top`: who carries the traffic, read straight from the tables.

use std::io::{self, Write};
use std::path::PathBuf;

use flowatlas_tables::{
    PerformanceEntry, PerformanceMetric, TopBy, TopReport, top, top_performance,
};

use crate::Outcome;
use crate::cmd::shared::{check_data_and_range, parse_time, percent};

/// Rank client ISPs, cities, countries or prefixes by traffic (bytes in + out), with their
/// share of the total, flows and rejected share, from the tables `flowatlas process` wrote;
/// or, with `--metric rtt-p90|retransmits`, by the latency or loss `flowatlas agent` measured
/// (worst first, from `prefix_performance`). Only the partitions in the time range are read.
#[derive(clap::Args)]
pub struct Args {
    /// The folder `flowatlas process --out` wrote.
    #[arg(long, value_name = "DIR", default_value = "flowatlas-data")]
    data: PathBuf,

    /// What to rank.
    #[arg(long, value_enum, default_value = "asn")]
    by: By,

    /// What to rank by: traffic (flow logs), or the agent's RTT p90 or retransmission rate.
    #[arg(long, value_enum, default_value = "traffic")]
    metric: Metric,

    /// First window to count (UTC): `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`.
    #[arg(long, value_parser = parse_time)]
    from: Option<i64>,

    /// End of the range (UTC, exclusive), same forms as `--from`.
    #[arg(long, value_parser = parse_time)]
    to: Option<i64>,

    /// How many entries.
    #[arg(short = 'n', long = "limit", default_value_t = 10)]
    limit: usize,

    /// Print JSON Lines, one object per entry.
    #[arg(long, conflicts_with = "csv")]
    json: bool,

    /// Print CSV with a header.
    #[arg(long)]
    csv: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Metric {
    Traffic,
    RttP90,
    Retransmits,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum By {
    Asn,
    City,
    Country,
    Prefix,
}

fn human_bytes(bytes: i64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let by = match args.by {
        By::Asn => TopBy::Asn,
        By::City => TopBy::City,
        By::Country => TopBy::Country,
        By::Prefix => TopBy::Prefix,
    };
    check_data_and_range(&args.data, args.from, args.to)?;
    let metric = match args.metric {
        Metric::Traffic => None,
        Metric::RttP90 => Some(PerformanceMetric::RttP90),
        Metric::Retransmits => Some(PerformanceMetric::Retransmits),
    };
    if let Some(metric) = metric {
        let (entries, n_rows) =
            top_performance(&args.data, by, metric, args.from, args.to, args.limit)?;
        if n_rows == 0 {
            anyhow::bail!(
                "{}: no prefix_performance rows in that time range; run flowatlas process on the agent's tcp_stats first",
                args.data.display()
            );
        }
        write_performance(&mut io::stdout().lock(), &entries, args.json)?;
        return Ok(Outcome::Clean);
    }
    let report = top(&args.data, by, args.from, args.to, args.limit)?;
    if report.n_files == 0 {
        anyhow::bail!(
            "{}: no tables here in that time range; run flowatlas process --out {0} first",
            args.data.display()
        );
    }
    let style = if args.json {
        Style::Json
    } else if args.csv {
        Style::Csv
    } else {
        Style::Table
    };
    write_report(&mut io::stdout().lock(), &report, style)?;
    Ok(Outcome::Clean)
}

/// How to print a ranking.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Aligned columns for people.
    Table,
    /// JSON Lines.
    Json,
    /// CSV with a header.
    Csv,
}

/// Prints a ranking.
pub fn write_report(out: &mut impl Write, report: &TopReport, style: Style) -> io::Result<()> {
    if style == Style::Csv {
        writeln!(
            out,
            "rank,client,bytes_in,bytes_out,share_percent,flows,rejected_percent"
        )?;
    } else if style == Style::Table {
        writeln!(
            out,
            "{:>4}  {:<44} {:>10} {:>10} {:>7} {:>10} {:>9}",
            "#", "client", "in", "out", "share", "flows", "rejected"
        )?;
    }
    for (idx, entry) in report.entries.iter().enumerate() {
        let bytes = entry.bytes();
        let share = percent(bytes.max(0) as u64, report.total_bytes.max(0) as u64);
        let rejected = percent(
            entry.rejected_flows.max(0) as u64,
            entry.flows.max(0) as u64,
        );
        if style == Style::Json {
            let json = serde_json::json!({
                "rank": idx + 1, "client": entry.label, "bytes_in": entry.bytes_in, "bytes_out": entry.bytes_out,
                "share_percent": share, "flows": entry.flows, "rejected_flows": entry.rejected_flows,
            });
            writeln!(out, "{json}")?;
        } else if style == Style::Csv {
            let label = if entry.label.contains([',', '"']) {
                format!("\"{}\"", entry.label.replace('"', "\"\""))
            } else {
                entry.label.clone()
            };
            writeln!(
                out,
                "{},{label},{},{},{share:.2},{},{rejected:.2}",
                idx + 1,
                entry.bytes_in,
                entry.bytes_out,
                entry.flows
            )?;
        } else {
            let label: String = entry.label.chars().take(44).collect();
            writeln!(
                out,
                "{:>4}  {label:<44} {:>10} {:>10} {share:>6.1}% {:>10} {rejected:>8.1}%",
                idx + 1,
                human_bytes(entry.bytes_in),
                human_bytes(entry.bytes_out),
                entry.flows
            )?;
        }
    }
    Ok(())
}

/// Prints a latency and loss ranking: a table, or JSON Lines.
fn write_performance(
    out: &mut impl Write,
    entries: &[PerformanceEntry],
    json: bool,
) -> io::Result<()> {
    if !json {
        writeln!(
            out,
            "{:>4}  {:<44} {:<13} {:>9} {:>9} {:>9} {:>8} {:>10}",
            "#", "client", "rtt source", "p50 ms", "p90 ms", "p95 ms", "retrans", "out"
        )?;
    }
    for (idx, entry) in entries.iter().enumerate() {
        let (measures, rtt) = (&entry.performance.measures, &entry.performance.rtt);
        let quantile_ms = |q| rtt.quantile(q).map(|us| us / 1000.0);
        let retransmit_percent = measures.retransmission_rate().map(|rate| 100.0 * rate);
        if json {
            let json = serde_json::json!({
                "rank": idx + 1, "client": entry.label, "rtt_source": entry.rtt_source.name(),
                "rtt_p50_ms": quantile_ms(0.5), "rtt_p90_ms": quantile_ms(0.9), "rtt_p95_ms": quantile_ms(0.95),
                "retransmit_percent": retransmit_percent, "bytes_in": measures.bytes_in,
                "bytes_out": measures.bytes_out, "connections_new": measures.connections_new,
            });
            writeln!(out, "{json}")?;
        } else {
            let cell =
                |value: Option<f64>| value.map_or("-".to_string(), |value| format!("{value:.1}"));
            let label: String = entry.label.chars().take(44).collect();
            writeln!(
                out,
                "{:>4}  {label:<44} {:<13} {:>9} {:>9} {:>9} {:>7}% {:>10}",
                idx + 1,
                entry.rtt_source.name(),
                cell(quantile_ms(0.5)),
                cell(quantile_ms(0.9)),
                cell(quantile_ms(0.95)),
                cell(retransmit_percent),
                human_bytes(measures.bytes_out)
            )?;
        }
    }
    Ok(())
}
