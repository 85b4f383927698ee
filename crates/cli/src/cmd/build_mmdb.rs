//! `flowatlas build-mmdb`: test and demo databases from readable JSON sources.

use std::path::PathBuf;

use anyhow::Context;

use crate::Outcome;

/// Build `.mmdb` files from JSON sources (see `flowatlas_geo::write_mmdb` for the format), each
/// written beside its source with the `.mmdb` extension. The same source gives the same bytes.
#[derive(clap::Args)]
pub struct Args {
    /// JSON sources.
    #[arg(value_name = "SOURCE.json", required = true)]
    sources: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    for source in &args.sources {
        let json = std::fs::read_to_string(source)
            .with_context(|| format!("{}: cannot read", source.display()))?;
        let bytes =
            flowatlas_geo::write_mmdb(&json).with_context(|| source.display().to_string())?;
        let out = source.with_extension("mmdb");
        std::fs::write(&out, bytes).with_context(|| format!("{}: cannot write", out.display()))?;
    }
    Ok(Outcome::Clean)
}
