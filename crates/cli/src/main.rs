//! The `flowatlas` command line: flags in, a stage's work, output out. No flow-log logic lives
//! here; each subcommand is one file under `cmd/`.

mod cmd;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// flowatlas: which networks and places your internet traffic comes from, from VPC Flow Logs.
#[derive(Parser)]
#[command(name = "flowatlas", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Parse(Box<cmd::parse::Args>),
    Fields(cmd::fields::Args),
    BuildMmdb(cmd::build_mmdb::Args),
    Process(Box<cmd::process::Args>),
    Schema(cmd::schema::Args),
    Top(cmd::top::Args),
    Health(cmd::health::Args),
    Compact(cmd::compact::Args),
    Report(cmd::report::Args),
    Demo(cmd::demo::Args),
    Backfill(Box<cmd::backfill::Args>),
    Agent(Box<cmd::agent::Args>),
}

/// How a run ended, as an exit status: 0 clean, 1 finished with rejected records or failed
/// objects, 2 could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Clean,
    WithFailures,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Parse(args) => cmd::parse::run(*args),
        Command::Fields(args) => cmd::fields::run(args),
        Command::BuildMmdb(args) => cmd::build_mmdb::run(args),
        Command::Process(args) => cmd::process::run(*args),
        Command::Schema(args) => cmd::schema::run(args),
        Command::Top(args) => cmd::top::run(args),
        Command::Health(args) => cmd::health::run(args),
        Command::Compact(args) => cmd::compact::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Backfill(args) => cmd::backfill::run(*args),
        Command::Agent(args) => cmd::agent::run(*args),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::WithFailures) => ExitCode::from(1),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let message = flowatlas_pipeline::error_chain(error.as_ref());
            let _ = writeln!(io::stderr().lock(), "flowatlas: {message}");
            ExitCode::from(2)
        }
    }
}

/// A closed stdout (`flowatlas parse ... | head`) is a normal way to stop.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io_error| io_error.kind() == io::ErrorKind::BrokenPipe)
    })
}
