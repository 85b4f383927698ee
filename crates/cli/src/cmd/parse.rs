//! `flowatlas parse`: flow-log records as JSON Lines, with an accounting of every record.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use std::sync::Arc;

use flowatlas_flowlog::{
    Counts, Entry, Format, LogStatus, Options, Reader, Reason, Record, Reject, Value,
};
use flowatlas_geo::{
    Databases, EnrichStats, Enricher, Enrichment, FactField, FactValue, Peer, PeerFinder, PeerKind,
    PeerRules,
};

use flowatlas_pipeline::{Source, read_options};

use crate::Outcome;
use crate::cmd::shared::{EnrichArgs, expand_inputs, parse_format, percent};

/// Print each record as one JSON object (snake_case field names, `-` as null, numbers as
/// numbers), then a summary on stderr: records read, ok, skipped (NODATA/SKIPDATA), rejected.
///
/// Inputs are gzip or plain text (told apart by content, not name) or AWS Parquet delivery
/// (`.log.parquet`). A folder is read recursively in name order; `-` or no input is stdin.
/// Exit status: 0 clean, 1 when records were rejected or an object failed, 2 on usage errors.
#[derive(clap::Args)]
pub struct Args {
    /// The log format, as AWS writes it (`${version} ${srcaddr} ...`) or as plain field names
    /// separated by spaces. Without it, each object's header line decides, else the default
    /// 14-field version 2 format. `flowatlas fields` lists the names.
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,

    /// Write rejected records to FILE as JSON Lines: object, line, field, reason, value, text.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,

    #[command(flatten)]
    enrich: EnrichArgs,

    /// Flow-log files or folders; `-` reads stdin.
    #[arg(value_name = "FILE|DIR|-")]
    inputs: Vec<PathBuf>,
}

/// The peer side of the run: rules, databases and the enricher, when any flag asks for them.
struct PeerContext {
    enricher: Enricher,
    databases: Arc<Databases>,
    /// Counts of enrichers retired when their databases were replaced.
    earlier_stats: EnrichStats,
    kinds: [u64; 4],
}

impl PeerContext {
    /// Between objects, picks up databases that were replaced while the run goes on.
    fn reopen_if_changed(&mut self) -> anyhow::Result<()> {
        if !self.databases.changed() {
            return Ok(());
        }
        let reopened = Arc::new(Databases::open(self.databases.config())?);
        self.earlier_stats += self.enricher.stats();
        self.enricher = Enricher::new(reopened.clone());
        self.databases = reopened;
        Ok(())
    }

    fn stats(&self) -> EnrichStats {
        let mut stats = self.earlier_stats.clone();
        stats += self.enricher.stats();
        stats
    }

    fn from_args(args: &Args) -> anyhow::Result<Option<(PeerRules, PeerContext)>> {
        if !args.enrich.wanted() {
            return Ok(None);
        }
        let rules = args.enrich.rules()?;
        let databases = Arc::new(args.enrich.databases()?);
        Ok(Some((
            rules,
            PeerContext {
                enricher: Enricher::new(databases.clone()),
                databases,
                earlier_stats: EnrichStats::default(),
                kinds: [0; 4],
            },
        )))
    }
}

/// Rejects printed on stderr when no `--rejects` file is given; the rest are only counted.
const REJECTS_SHOWN: u64 = 10;

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let options = Options {
        format: args.format.clone(),
        ..Options::default()
    };
    let objects = expand_inputs(&args.inputs)?;
    let (rules, mut peers) = match PeerContext::from_args(&args)? {
        Some((rules, context)) => (Some(rules), Some(context)),
        None => (None, None),
    };
    let mut rejects_file = match &args.rejects {
        Some(path) => {
            Some(BufWriter::new(File::create(path).with_context(|| {
                format!("{}: cannot create", path.display())
            })?))
        }
        None => None,
    };
    let mut out = BufWriter::with_capacity(256 * 1024, io::stdout().lock());
    let mut line = Vec::with_capacity(1024);
    let mut totals = Counts::default();
    let mut n_failed = 0u64;
    let mut n_rejects_seen = 0u64;
    let started = Instant::now();

    for object in &objects {
        let name = if object.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            object.display().to_string()
        };
        // Times are checked against the object's delivery (stdin: the run's clock).
        let opened = if object.as_os_str() == "-" {
            Reader::new(io::stdin(), &read_options(&options, None))
        } else {
            let options = Source::of_path(object).read_options(&options);
            File::open(object)
                .map_err(flowatlas_flowlog::Error::from)
                .and_then(|file| Reader::from_file(file, &options))
        };
        let mut reader = match opened {
            Ok(reader) => reader,
            Err(error) => {
                n_failed += 1;
                writeln!(io::stderr().lock(), "{name}: {error}")?;
                continue;
            }
        };
        if let Some(context) = peers.as_mut() {
            context.reopen_if_changed()?;
        }
        let mut finder = rules.as_ref().map(PeerFinder::new);
        let result = loop {
            match reader.next_entry() {
                Ok(None) => break Ok(()),
                Ok(Some(Entry::Record(record))) => {
                    line.clear();
                    write_record(&mut line, &record);
                    if let (Some(finder), Some(context)) = (finder.as_mut(), peers.as_mut()) {
                        line.truncate(line.len() - 2);
                        if record.status() != LogStatus::Ok {
                            // NODATA and SKIPDATA records carry no traffic, so no peer.
                            line.extend_from_slice(b",\"peer\":null}\n");
                            out.write_all(&line)?;
                            continue;
                        }
                        let peer = finder.find(&record);
                        context.kinds[peer.kind as usize] += 1;
                        let enrichment = context.enricher.enrich_peer(&peer);
                        write_peer(&mut line, &peer, enrichment.as_deref());
                        line.extend_from_slice(b"}\n");
                    }
                    out.write_all(&line)?;
                }
                Ok(Some(Entry::Reject(reject))) => {
                    n_rejects_seen += 1;
                    match rejects_file.as_mut() {
                        Some(file) => write_reject(file, &name, reject)?,
                        None if n_rejects_seen <= REJECTS_SHOWN => {
                            writeln!(io::stderr().lock(), "{name}: {reject}")?;
                        }
                        None => {}
                    }
                }
                Err(error) => break Err(error),
            }
        };
        totals += reader.counts();
        if let Err(error) = result {
            n_failed += 1;
            writeln!(io::stderr().lock(), "{name}: {error}")?;
        }
    }
    out.flush()?;
    if let Some(file) = rejects_file.as_mut() {
        file.flush()?;
    }
    writeln!(
        io::stderr().lock(),
        "{}",
        summary(
            &totals,
            objects.len(),
            n_failed,
            started.elapsed().as_secs_f64()
        )
    )?;
    if let Some(context) = &peers {
        writeln!(io::stderr().lock(), "{}", peer_summary(context))?;
    }
    if totals.rejected > REJECTS_SHOWN && args.rejects.is_none() {
        writeln!(
            io::stderr().lock(),
            "({} rejects not shown; --rejects FILE writes them all)",
            totals.rejected - REJECTS_SHOWN
        )?;
    }
    Ok(if totals.rejected > 0 || n_failed > 0 {
        Outcome::WithFailures
    } else {
        Outcome::Clean
    })
}

fn write_record(out: &mut Vec<u8>, record: &Record<'_>) {
    let mut ints = itoa::Buffer::new();
    out.push(b'{');
    for (idx, (field, value)) in record.values().enumerate() {
        if idx > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(field.column_name().as_bytes());
        out.extend_from_slice(b"\":");
        match value {
            Value::Absent => out.extend_from_slice(b"null"),
            Value::Int(int) => out.extend_from_slice(ints.format(int).as_bytes()),
            Value::Ip(ip) => {
                // Writing into a Vec cannot fail.
                let _ = write!(out, "\"{ip}\"");
            }
            Value::Text(text) => write_json_string(out, text),
        }
    }
    out.extend_from_slice(b"}\n");
}

/// Appends `,"peer":{...}` to a record whose closing brace was cut off: where the peer is,
/// then every fact of the catalogue (`FactField`), null when unknown.
fn write_peer(out: &mut Vec<u8>, peer: &Peer, enrichment: Option<&Enrichment>) {
    let json = |value: Option<serde_json::Value>| value.unwrap_or(serde_json::Value::Null);
    let mut fields: Vec<(&str, serde_json::Value)> = vec![
        ("side", json(peer.side.map(|side| side.name().into()))),
        ("kind", peer.kind.name().into()),
        ("ip", json(peer.ip.map(|ip| ip.to_string().into()))),
        (
            "direction",
            json(peer.direction.map(|direction| direction.name().into())),
        ),
        (
            "aws_service",
            json(peer.aws_service.as_deref().map(Into::into)),
        ),
        (
            "prefix",
            json(
                enrichment
                    .and_then(|enrichment| enrichment.network)
                    .map(|network| network.to_string().into()),
            ),
        ),
    ];
    let facts = enrichment.map(|enrichment| &enrichment.facts);
    fields.extend(FactField::ALL.iter().map(|&field| {
        let value = match facts.map(|facts| field.value(facts)) {
            Some(FactValue::Int(int)) => json(int.map(Into::into)),
            Some(FactValue::Double(double)) => json(double.map(Into::into)),
            Some(FactValue::Text(text)) => json(text.map(|text| text.as_ref().into())),
            None => serde_json::Value::Null,
        };
        (field.name(), value)
    }));
    out.extend_from_slice(b",\"peer\":{");
    for (idx, (name, value)) in fields.iter().enumerate() {
        if idx > 0 {
            out.push(b',');
        }
        // Serializing into memory cannot fail.
        let _ = write!(out, "\"{name}\":{value}");
    }
    out.push(b'}');
}

fn peer_summary(context: &PeerContext) -> String {
    let kinds: Vec<String> = PeerKind::ALL
        .iter()
        .map(|&kind| format!("{} {}", context.kinds[kind as usize], kind.name()))
        .collect();
    let stats = context.stats();
    let mut text = format!(
        "peers: {}; of {} enriched, ASN known for {:.1}%, place for {:.1}%; {:.1}% answered from the network cache",
        kinds.join(", "),
        stats.lookups,
        percent(stats.asn_known, stats.lookups),
        percent(stats.place_known, stats.lookups),
        percent(stats.cache_hits, stats.lookups)
    );
    for (db, &(n_looked_up, n_found)) in context.databases.all().zip(&stats.per_db) {
        text.push_str(&format!(
            "\n  {} ({}, built {}): {:.1}% hit rate over {} networks looked up",
            db.path().display(),
            db.database_type(),
            flowatlas_time::utc_date(i64::try_from(db.build_epoch()).unwrap_or(i64::MAX)),
            percent(n_found, n_looked_up),
            n_looked_up
        ));
    }
    if stats.override_hits > 0 {
        text.push_str(&format!(
            "\n  prefix overrides applied: {}",
            stats.override_hits
        ));
    }
    text
}

fn write_json_string(out: &mut Vec<u8>, text: &str) {
    let plain = text
        .bytes()
        .all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\' && byte < 0x7f);
    if plain {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // Serializing a string into memory cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

fn write_reject(out: &mut impl Write, object: &str, reject: &Reject) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &flowatlas_pipeline::reject_json(object, reject))?;
    out.write_all(b"\n")
}

fn summary(totals: &Counts, n_objects: usize, n_failed: u64, seconds: f64) -> String {
    let mut text = format!(
        "flowatlas parse: {} object{}, {} records read: {} ok, {} skipped, {} rejected",
        n_objects,
        if n_objects == 1 { "" } else { "s" },
        totals.read,
        totals.ok,
        totals.skipped,
        totals.rejected
    );
    let by_reason: Vec<String> = Reason::ALL
        .iter()
        .filter(|&&reason| totals.rejected_for(reason) > 0)
        .map(|&reason| format!("{} {}", reason, totals.rejected_for(reason)))
        .collect();
    if !by_reason.is_empty() {
        text.push_str(&format!(" ({})", by_reason.join(", ")));
    }
    if n_failed > 0 {
        text.push_str(&format!(
            "; {n_failed} object{} failed",
            if n_failed == 1 { "" } else { "s" }
        ));
    }
    let megabytes = totals.bytes as f64 / 1e6;
    let seconds = seconds.max(1e-6);
    text.push_str(&format!(
        "; {megabytes:.1} MB decoded in {seconds:.2} s: {:.1} MB/s, {:.2} M records/s",
        megabytes / seconds,
        totals.read as f64 / seconds / 1e6
    ));
    text
}
