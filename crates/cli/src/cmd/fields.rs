//! `flowatlas fields`: the field catalogue, for writing `--format` strings.

use std::io::{self, Write};

use flowatlas_flowlog::{Field, Kind};

use crate::Outcome;

/// List every flow-log field flowatlas reads: AWS name, version, type and meaning.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<Outcome> {
    let mut out = io::stdout().lock();
    writeln!(out, "{:<28} {:>3}  {:<9} meaning", "field", "ver", "type")?;
    for &field in Field::ALL {
        let kind = match field.kind() {
            Kind::Ip => "address",
            Kind::Int { max } if max <= i64::from(i32::MAX) => "int",
            Kind::Int { .. } => "bigint",
            Kind::Timestamp => "unix-s",
            Kind::Choice(_) | Kind::Text => "text",
        };
        writeln!(
            out,
            "{:<28} {:>3}  {:<9} {}",
            field.aws_name(),
            field.version(),
            kind,
            field.doc()
        )?;
    }
    Ok(Outcome::Clean)
}
