//! `flowatlas demo`: a day of realistic flow logs, processed, and the first answers.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use flowatlas_flowlog::Options;
use flowatlas_geo::{Databases, GeoConfig, PeerRules};
use flowatlas_health::HealthConfig;
use flowatlas_health_job::assess_range;
use flowatlas_pipeline::Config;
use flowatlas_rollup::{RollupConfig, ServiceLocation};
use flowatlas_store::LocalStore;
use flowatlas_tables::{TopBy, top};

use crate::Outcome;
use crate::cmd::health::write_human;
use crate::cmd::process::{process_all, write_summary};
use crate::cmd::report::write_page;
use crate::cmd::shared::expand_inputs;
use crate::cmd::top::{Style, write_report};

/// Write a realistic day of flow logs for a fictional service (2 interfaces, v2 and v5
/// formats, gzip objects under AWS's key layout, ~50 city-networks, rejected scans, NODATA,
/// IPv6, and one ISP in one city losing most of its traffic for 40 minutes), with GeoIP
/// databases that cover it; process it into tables; print the top ISPs and cities and the
/// day's health (its only history is the day itself, so expectations follow the last hour);
/// write `report.html`, the day as one page.
#[derive(clap::Args)]
pub struct Args {
    /// Where to write `logs/`, `geo/` and `tables/`.
    #[arg(long, value_name = "DIR", default_value = "flowatlas-demo")]
    dir: PathBuf,

    /// Seed: the same seed writes the same day.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Records per 5-minute object before the daily rhythm thins them.
    #[arg(long, default_value_t = 600)]
    records_per_object: u32,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let demo = flowatlas_demo::write_demo(&args.dir, args.seed, args.records_per_object)?;
    let databases = Arc::new(
        Databases::open(&GeoConfig {
            asn_dbs: vec![demo.asn_db.clone()],
            geo_dbs: vec![demo.city_db.clone()],
            prefixes: None,
        })
        .context("demo databases")?,
    );
    let tables = args.dir.join("tables");
    let config = Config {
        read: Options::default(),
        rules: PeerRules::new(&["2600:1f18:abcd::/48".to_string()], None)?,
        rollup: RollupConfig {
            prefix_len_v4: 24,
            prefix_len_v6: 48,
            default_location: ServiceLocation::default(),
        },
        out_dir: tables.clone(),
        tables: flowatlas_pipeline::Tables::default(),
    };
    let inputs = expand_inputs(std::slice::from_ref(&demo.logs))?;
    let run = process_all(
        &inputs,
        &config,
        Some(&databases),
        None,
        flowatlas_rollup::DEFAULT_ROW_BUDGET,
    )?;
    let mut out = io::stdout().lock();
    let incident = &demo.incident;
    writeln!(
        out,
        "Wrote {} flow-log objects ({} records) for {} under {}",
        demo.n_objects,
        demo.n_records,
        flowatlas_time::utc_date(flowatlas_demo::DAY_START),
        demo.logs.display()
    )?;
    writeln!(
        out,
        "Built in: AS{} {} in {} loses most of its traffic from {} to {} UTC.\n",
        incident.asn,
        incident.as_name,
        incident.city,
        clock(incident.start),
        clock(incident.end)
    )?;
    write_summary(
        &mut out,
        inputs.len(),
        &run.totals,
        run.failures.len(),
        run.seconds,
    )?;
    for failure in &run.failures {
        writeln!(io::stderr().lock(), "{failure}")?;
    }
    for (title, by) in [("Top ISPs", TopBy::Asn), ("Top cities", TopBy::City)] {
        writeln!(out, "\n{title}")?;
        let report = top(&tables, by, None, None, 10)?;
        write_report(&mut out, &report, Style::Table)?;
    }
    // One day of history: expectations come from the last hour's trend.
    writeln!(out)?;
    let health = assess_range(
        &LocalStore::new(&tables),
        &HealthConfig::default(),
        None,
        None,
        true,
    )?;
    write_human(&mut out, &health.assessment, 5)?;
    writeln!(
        out,
        "\nTables: {} (try: flowatlas top --data {0} --by country, flowatlas health --data {0})",
        tables.display()
    )?;
    let summary = write_page(&tables, None, None, &args.dir.join("report.html"))?;
    writeln!(out, "{summary}")?;
    Ok(
        if run.failures.is_empty() && run.totals.counts.rejected == 0 {
            Outcome::Clean
        } else {
            Outcome::WithFailures
        },
    )
}

fn clock(time: i64) -> String {
    let seconds = time.rem_euclid(86_400);
    format!("{:02}:{:02}", seconds / 3600, seconds % 3600 / 60)
}
