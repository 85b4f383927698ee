//! `flowatlas schema`: the tables' definitions, for Athena, for CloudFormation and for people.

use std::io::{self, Write};

use flowatlas_tables::{catalog_tables, glue_resources};

use crate::Outcome;

/// Print the catalog definitions of every table, generated from the same column lists the
/// Parquet writers use: Athena DDL (`CREATE EXTERNAL TABLE` with partition projection on `dt`
/// and `hour`), or the Glue database and tables as CloudFormation resources (YAML).
#[derive(clap::Args)]
pub struct Args {
    /// Which definitions to print.
    #[arg(long, value_enum, default_value = "athena")]
    ddl: Dialect,

    /// The Glue/Athena database.
    #[arg(long, default_value = "flowatlas")]
    database: String,

    /// Where the tables live: `<location>/<table>/dt=.../hour=...`. For CloudFormation it may
    /// use `${Parameter}` references (e.g. `s3://${DestinationBucketName}/${DestinationPrefix}`),
    /// which become `Fn::Sub`.
    #[arg(long, default_value = "s3://YOUR-BUCKET/flowatlas")]
    location: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Dialect {
    /// Athena (Hive) DDL.
    Athena,
    /// `AWS::Glue::Database` and `AWS::Glue::Table` resources, YAML.
    Cloudformation,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let location = args.location.trim_end_matches('/');
    let mut out = io::stdout().lock();
    match args.ddl {
        Dialect::Athena => {
            for table in catalog_tables() {
                let table_location = format!("{location}/{}", table.name);
                writeln!(out, "{}", table.athena_ddl(&args.database, &table_location))?;
            }
        }
        Dialect::Cloudformation => {
            write!(out, "{}", glue_resources(&args.database, location))?;
        }
    }
    Ok(Outcome::Clean)
}
