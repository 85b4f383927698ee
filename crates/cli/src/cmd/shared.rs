//! What several subcommands share: input expansion, enrichment flags, summary formatting.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use flowatlas_geo::{Databases, GeoConfig, PeerRules};

/// `--format` as clap parses it: AWS's `${field}` syntax or plain names.
pub fn parse_format(spec: &str) -> Result<flowatlas_flowlog::Format, String> {
    flowatlas_flowlog::Format::parse(spec).map_err(|error| error.to_string())
}

/// The flags that find and enrich each record's peer.
#[derive(clap::Args)]
pub struct EnrichArgs {
    /// An ASN database (.mmdb: MaxMind/GeoLite2 ASN or ISP, DB-IP ASN, IPinfo Lite, ...).
    /// Repeatable: files are tried in order (e.g. separate IPv4 and IPv6 files). With any of
    /// the enrichment flags, each record gets a `peer` object.
    #[arg(long = "asn-db", value_name = "FILE")]
    pub asn_dbs: Vec<PathBuf>,

    /// A location database (.mmdb: MaxMind/GeoLite2 City or Country, DB-IP, IPinfo Lite,
    /// ip-location-db, ...). Repeatable, tried in order. May be the same file as --asn-db.
    #[arg(long = "geo-db", value_name = "FILE")]
    pub geo_dbs: Vec<PathBuf>,

    /// A CSV of `prefix,asn,as_name,country_code,city` that overrides the databases (most
    /// specific prefix wins; empty columns keep the database's answer).
    #[arg(long, value_name = "FILE")]
    pub prefixes: Option<PathBuf>,

    /// A network of your own (never an internet peer). Repeatable.
    #[arg(long = "local-cidr", value_name = "CIDR")]
    pub local_cidrs: Vec<String>,

    /// AWS's ip-ranges.json: peers in it are kind `aws`, not `internet`.
    #[arg(long = "aws-ip-ranges", value_name = "FILE")]
    pub aws_ip_ranges: Option<PathBuf>,
}

impl EnrichArgs {
    /// True when any enrichment flag was given.
    pub fn wanted(&self) -> bool {
        !self.asn_dbs.is_empty()
            || !self.geo_dbs.is_empty()
            || self.prefixes.is_some()
            || !self.local_cidrs.is_empty()
            || self.aws_ip_ranges.is_some()
    }

    /// The peer rules from `--local-cidr` and `--aws-ip-ranges`.
    pub fn rules(&self) -> anyhow::Result<PeerRules> {
        let ip_ranges = match &self.aws_ip_ranges {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("{}: cannot read", path.display()))?,
            ),
            None => None,
        };
        Ok(PeerRules::new(&self.local_cidrs, ip_ranges.as_deref())?)
    }

    /// The databases and overrides, opened and checked.
    pub fn databases(&self) -> anyhow::Result<Databases> {
        let config = GeoConfig {
            asn_dbs: self.asn_dbs.clone(),
            geo_dbs: self.geo_dbs.clone(),
            prefixes: self.prefixes.clone(),
        };
        Ok(Databases::open(&config)?)
    }
}

/// The flags of the tables' contents, shared by `process` and `backfill`.
#[derive(clap::Args)]
pub struct PipelineArgs {
    /// The log format, when objects have no header line (see `flowatlas parse --help`).
    #[arg(long, value_parser = parse_format)]
    pub format: Option<flowatlas_flowlog::Format>,

    /// Client prefix lengths for IPv4 and IPv6.
    #[arg(long = "prefix-len", value_name = "V4,V6", default_value = "24,48", value_parser = flowatlas_rollup::parse_prefix_lengths)]
    pub prefix_len: (u8, u8),

    /// Also write the `flows` table: every OK record with all its fields and its peer's
    /// enrichment (large; for audits).
    #[arg(long)]
    pub flows: bool,

    #[command(flatten)]
    pub enrich: EnrichArgs,
}

impl PipelineArgs {
    /// The databases, when any enrichment source was given.
    pub fn databases(&self) -> anyhow::Result<Option<std::sync::Arc<Databases>>> {
        let enrich = &self.enrich;
        if enrich.asn_dbs.is_empty() && enrich.geo_dbs.is_empty() && enrich.prefixes.is_none() {
            return Ok(None);
        }
        Ok(Some(std::sync::Arc::new(enrich.databases()?)))
    }

    /// The pipeline's configuration, writing under `out_dir`.
    pub fn config(
        &self,
        out_dir: PathBuf,
        default_location: flowatlas_rollup::ServiceLocation,
    ) -> anyhow::Result<flowatlas_pipeline::Config> {
        Ok(flowatlas_pipeline::Config {
            read: flowatlas_flowlog::Options {
                format: self.format.clone(),
                ..flowatlas_flowlog::Options::default()
            },
            rules: self.enrich.rules()?,
            rollup: flowatlas_rollup::RollupConfig {
                prefix_len_v4: self.prefix_len.0,
                prefix_len_v6: self.prefix_len.1,
                default_location,
            },
            out_dir,
            tables: flowatlas_pipeline::Tables {
                flows: self.flows,
                ..flowatlas_pipeline::Tables::default()
            },
        })
    }
}

/// Files to read: folders expanded recursively in name order, hidden entries left out, each
/// object once. An input reached twice (the same file through two paths, a folder given with
/// its subfolder, a link) or holding the same bytes as an earlier one (a copy) is left out,
/// with a note on stderr: reading it again would count its records twice.
pub fn expand_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    if inputs.is_empty() {
        return Ok(vec![PathBuf::from("-")]);
    }
    let mut objects = Vec::new();
    for input in inputs {
        if input.is_dir() {
            collect_folder(input, &mut objects)?;
        } else {
            objects.push(input.clone());
        }
    }
    let (objects, repeats) = distinct_objects(objects);
    let mut err = std::io::stderr().lock();
    for (repeat, first, why) in repeats {
        writeln!(
            err,
            "{}: {why} {}; read once",
            repeat.display(),
            first.display()
        )?;
    }
    Ok(objects)
}

/// The objects without repeats, and each repeat with the object it repeats and why. Files are
/// the same when their canonical paths are, and copies when their sizes and then their bytes
/// are equal; bytes are compared only between files of one size, and distinct flow logs
/// differ within the first block, so this costs a read only of true copies.
fn distinct_objects(
    objects: Vec<PathBuf>,
) -> (Vec<PathBuf>, Vec<(PathBuf, PathBuf, &'static str)>) {
    let mut kept: Vec<PathBuf> = Vec::new();
    let mut repeats = Vec::new();
    let mut by_path: std::collections::BTreeMap<PathBuf, usize> = Default::default();
    let mut by_size: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
    for object in objects {
        // Stdin and anything that cannot be examined are kept: reading them reports the problem.
        let examined = (object.as_os_str() != "-").then(|| std::fs::metadata(&object));
        let Some(Ok(meta)) = examined else {
            kept.push(object);
            continue;
        };
        let canonical = flowatlas_pipeline::canonical_path(&object);
        if let Some(&first) = by_path.get(&canonical) {
            repeats.push((object, kept[first].clone(), "the same file as"));
            continue;
        }
        let same_size = by_size.entry(meta.len()).or_default();
        if let Some(&first) = same_size
            .iter()
            .find(|&&index| same_bytes(&kept[index], &object))
        {
            repeats.push((object, kept[first].clone(), "the same bytes as"));
            continue;
        }
        same_size.push(kept.len());
        by_path.insert(canonical, kept.len());
        kept.push(object);
    }
    (kept, repeats)
}

/// True when two files of the same size hold the same bytes (false when either cannot be read).
fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(a), Ok(b)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut a, mut b) = (std::io::BufReader::new(a), std::io::BufReader::new(b));
    let (mut block_a, mut block_b) = (Vec::new(), Vec::new());
    loop {
        block_a.clear();
        block_b.clear();
        let read_a = (&mut a).take(64 * 1024).read_to_end(&mut block_a);
        let read_b = (&mut b).take(64 * 1024).read_to_end(&mut block_b);
        match (read_a, read_b) {
            (Ok(0), Ok(0)) => return true,
            (Ok(_), Ok(_)) if block_a == block_b => continue,
            _ => return false,
        }
    }
}

fn collect_folder(folder: &Path, objects: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let listing_error = || format!("{}: cannot list folder", folder.display());
    let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(folder)
        .with_context(listing_error)?
        .collect::<Result<_, _>>()
        .with_context(listing_error)?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // `file_type` does not follow links, so a link back up the tree cannot loop; linked
        // files are read, linked folders are not entered.
        let file_type = entry.file_type().with_context(listing_error)?;
        let path = entry.path();
        if file_type.is_dir() {
            collect_folder(&path, objects)?;
        } else if file_type.is_file() || path.is_file() {
            objects.push(path);
        }
    }
    Ok(())
}

pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// A UTC time given as `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS` (a trailing
/// `Z` allowed), as Unix seconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a UTC time like 2026-06-01 or 2026-06-01T12:30");
    let trimmed = text.trim().trim_end_matches('Z');
    let (date, time) = trimmed.split_once(['T', ' ']).unwrap_or((trimmed, "00:00"));
    let numbers = |part: &str, separator: char| -> Result<Vec<i64>, String> {
        part.split(separator)
            .map(|piece| piece.parse::<i64>().map_err(|_| bad()))
            .collect()
    };
    let date = numbers(date, '-')?;
    let time = numbers(time, ':')?;
    let ([year, month, day], [hour, minute, second @ ..]) = (date.as_slice(), time.as_slice())
    else {
        return Err(bad());
    };
    let second = second.first().copied().unwrap_or(0);
    if !flowatlas_time::is_date(*year, *month, *day)
        || !(0..24).contains(hour)
        || !(0..60).contains(minute)
        || !(0..60).contains(&second)
    {
        return Err(bad());
    }
    let days = flowatlas_time::days_from_civil(*year, *month, *day);
    Ok(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Refuses what would otherwise read as "no tables in that time range": a `--data` folder
/// that is not there and a range that ends before it starts.
pub fn check_data_and_range(data: &Path, from: Option<i64>, to: Option<i64>) -> anyhow::Result<()> {
    if !data.is_dir() {
        anyhow::bail!(
            "{}: no such folder (--data is the folder flowatlas process --out wrote)",
            data.display()
        );
    }
    check_range(from, to)
}

/// Refuses a range that ends before it starts.
pub fn check_range(from: Option<i64>, to: Option<i64>) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        anyhow::bail!(
            "the range is empty: --from {} is not before --to {}",
            flowatlas_health::publish::iso_time(from),
            flowatlas_health::publish::iso_time(to)
        );
    }
    Ok(())
}

/// A duration given as seconds or with a unit (`90s`, `30m`, `1h`, `2d`), as seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration like 90m, 1h or 2d");
    let trimmed = text.trim();
    let (number, unit) = match trimmed.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => trimmed.split_at(at),
        None => (trimmed, "s"),
    };
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    number
        .parse::<i64>()
        .ok()
        .and_then(|number| number.checked_mul(seconds_per))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_with_dates() {
        assert_eq!(parse_time("1970-01-01"), Ok(0));
        assert_eq!(parse_time("2026-06-01T12:00"), Ok(1_780_315_200));
        assert_eq!(parse_time("2026-06-01T12:00:30Z"), Ok(1_780_315_230));
        assert_eq!(
            flowatlas_time::utc_date(parse_time("2000-02-29").unwrap()),
            "2000-02-29"
        );
        assert!(parse_time("2026-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn days_a_month_does_not_have_are_refused() {
        // Not carried into the next month, as `--from 2026-02-31` was.
        assert!(parse_time("2026-02-31").is_err());
        assert!(parse_time("2026-02-29").is_err());
        assert!(parse_time("2026-04-31").is_err());
        assert_eq!(parse_time("2024-02-29"), Ok(1_709_164_800));
        assert!(parse_time("2000-02-29").is_ok());
        assert!(parse_time("1900-02-29").is_err());
    }

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("90m"), Ok(5_400));
        assert_eq!(parse_duration("1h"), Ok(3_600));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(parse_duration("45"), Ok(45));
        for bad in ["", "h", "1w", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
