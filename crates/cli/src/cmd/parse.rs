//! `flowatlas parse`: flow-log records as JSON Lines, with an accounting of every record.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use flowatlas_flowlog::{Counts, Entry, Format, Options, Reader, Reason, Record, Reject, Value};

use crate::Outcome;

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

    /// Flow-log files or folders; `-` reads stdin.
    #[arg(value_name = "FILE|DIR|-")]
    inputs: Vec<PathBuf>,
}

fn parse_format(spec: &str) -> Result<Format, String> {
    Format::parse(spec).map_err(|error| error.to_string())
}

/// Rejects printed on stderr when no `--rejects` file is given; the rest are only counted.
const REJECTS_SHOWN: u64 = 10;

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let options = Options {
        format: args.format,
        ..Options::default()
    };
    let objects = expand_inputs(&args.inputs)?;
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
        let opened = if object.as_os_str() == "-" {
            Reader::new(io::stdin(), &options)
        } else {
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
        let result = loop {
            match reader.next_entry() {
                Ok(None) => break Ok(()),
                Ok(Some(Entry::Record(record))) => {
                    line.clear();
                    write_record(&mut line, &record);
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

/// Files to read: folders expanded recursively in name order, hidden entries left out.
fn expand_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
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
    Ok(objects)
}

fn collect_folder(folder: &Path, objects: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("{}: cannot list folder", folder.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: cannot list folder", folder.display()))?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_folder(&path, objects)?;
        } else {
            objects.push(path);
        }
    }
    Ok(())
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
    let json = serde_json::json!({
        "object": object,
        "line": reject.line,
        "field": reject.field.map(|field| field.aws_name()),
        "reason": reject.reason.name(),
        "value": reject.value,
        "detail": reject.detail,
        "text": reject.text,
    });
    serde_json::to_writer(&mut *out, &json)?;
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
