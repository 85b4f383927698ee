//! `flowatlas schema`: the tables' definitions, for Athena and for people.

use std::io::{self, Write};

use flowatlas_tables::{city_network_health, city_networks, client_prefixes, health_events};

use crate::Outcome;

/// Print the Athena DDL of every table (`CREATE EXTERNAL TABLE` with partition projection on
/// `dt` and `hour`), generated from the same column list the Parquet writer uses.
#[derive(clap::Args)]
pub struct Args {
    /// Which DDL to print.
    #[arg(long, value_enum, default_value = "athena")]
    ddl: Dialect,

    /// The Glue/Athena database.
    #[arg(long, default_value = "flowatlas")]
    database: String,

    /// Where the tables live: `<location>/<table>/dt=.../hour=...`.
    #[arg(long, default_value = "s3://YOUR-BUCKET/flowatlas")]
    location: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Dialect {
    Athena,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let Dialect::Athena = args.ddl;
    let location = args.location.trim_end_matches('/');
    let mut out = io::stdout().lock();
    let city = city_networks();
    writeln!(
        out,
        "{}",
        city.athena_ddl(&args.database, &format!("{location}/{}", city.name))
    )?;
    let prefixes = client_prefixes();
    writeln!(
        out,
        "{}",
        prefixes.athena_ddl(&args.database, &format!("{location}/{}", prefixes.name))
    )?;
    let health = city_network_health();
    writeln!(
        out,
        "{}",
        health.athena_ddl(&args.database, &format!("{location}/{}", health.name))
    )?;
    let events = health_events();
    writeln!(
        out,
        "{}",
        events.athena_ddl(&args.database, &format!("{location}/{}", events.name))
    )?;
    writeln!(
        out,
        "{}",
        flowatlas_tables::flows_athena_ddl(
            &args.database,
            &format!("{location}/{}", flowatlas_tables::FLOWS)
        )
    )?;
    Ok(Outcome::Clean)
}
