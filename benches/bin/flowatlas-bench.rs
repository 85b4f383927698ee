//! The end-to-end benchmark's helper (`benches/compare.py` runs it): writes the corpus, and
//! decompresses objects with the decoder flowatlas reads them with, the floor its run is
//! measured against beside `gzip -dc`; and writes the week of tables `flowatlas report` is
//! timed on.

use std::collections::BTreeSet;
use std::error::Error;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use arrow_array::{RecordBatch, RecordBatchReader};
use clap::{Parser, Subcommand};
use flate2::read::MultiGzDecoder;
use flowatlas_benches::{
    BUSY_OBJECTS, CorpusSpec, SMALL_OBJECTS, read_all, write_corpus, write_history, write_week,
};
use flowatlas_flowlog::Format;
use flowatlas_tables::{flows_properties, writer_properties};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::EnabledStatistics;

#[derive(Parser)]
#[command(about = "Corpus and decoder floor for benches/compare.py")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes `DIR/logs/AWSLogs/...` and `DIR/geo/{asn,city}.mmdb`, then prints what was
    /// written as JSON.
    Corpus {
        /// Records in all objects together.
        #[arg(long, default_value_t = 2_000_000)]
        records: u64,
        /// Seed of every random choice.
        #[arg(long, default_value_t = 8)]
        seed: u64,
        /// Everything in one object.
        #[arg(long)]
        one_object: bool,
        /// Objects of about 650 records each, as small VPCs deliver every five minutes.
        #[arg(long, conflicts_with = "one_object")]
        small_objects: bool,
        /// The folder to write.
        dir: PathBuf,
    },
    /// Parses the decompressed text of the objects logged in the default v2 format, from
    /// memory, and prints records and seconds as JSON: the parser's own speed on one core.
    ParseText {
        /// The objects (others than v2 are left out).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Writes a week (2026-06-01 to 06-08) of tables for `--city-networks` city-networks
    /// (`city_networks`, `client_prefixes`, `city_network_health`, `health_events`), for timing
    /// `flowatlas report --data DIR` on files; prints files and rows as JSON.
    ReportWeek {
        /// City-networks.
        #[arg(long, default_value_t = 1_000)]
        city_networks: usize,
        /// The folder to write.
        dir: PathBuf,
    },
    /// Writes `city_networks` and `client_prefixes` of `--city-networks` city-networks from
    /// `--days` days before `--end` to 10 minutes after it (for a scheduled run `--at` the end
    /// and the one after it), for timing `flowatlas health`; with `--needed-only`, only the
    /// hours those two runs read. Prints files and rows as JSON.
    HealthHistory {
        /// City-networks.
        #[arg(long, default_value_t = 1_000)]
        city_networks: usize,
        /// Days of history.
        #[arg(long, default_value_t = 28)]
        days: i64,
        /// The scheduled run's time (UTC, whole hours), Unix seconds: 2026-06-29T00:00 by
        /// default.
        #[arg(long, default_value_t = 1_782_691_200)]
        end: i64,
        /// Only the hours the two scheduled runs read.
        #[arg(long)]
        needed_only: bool,
        /// The folder to write.
        dir: PathBuf,
    },
    /// Reads one table's Parquet files into memory (untimed), then writes their rows again,
    /// file by file, with the settings flowatlas writes that table with, then without
    /// compression; prints rows and the seconds and bytes of each: what the Parquet
    /// writer alone costs per row, beneath whatever makes the rows; and once more without
    /// dictionaries or statistics either, the least it can do.
    Rewrite {
        /// The files are the `flows` table's; otherwise a rollup table's.
        #[arg(long)]
        flows: bool,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Decompresses gzip objects and discards the text, as `gzip -dc > /dev/null` does;
    /// prints the decompressed size.
    Gunzip {
        /// The objects.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn gunzip(files: &[PathBuf]) -> io::Result<u64> {
    // The same decoder and buffer size as flowatlas's line reader.
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    for path in files {
        let file = std::fs::File::open(path)?;
        let mut decoder = MultiGzDecoder::new(file);
        loop {
            let n = decoder.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    Ok(total)
}

fn parse_text(files: &[PathBuf]) -> io::Result<serde_json::Value> {
    let v2_header: Vec<&str> = Format::default_v2()
        .fields()
        .iter()
        .map(|field| field.aws_name())
        .collect();
    let v2_header = v2_header.join(" ");
    let mut texts: Vec<&'static [u8]> = Vec::new();
    for path in files {
        let mut text = Vec::new();
        MultiGzDecoder::new(std::fs::File::open(path)?).read_to_end(&mut text)?;
        let header = text.split(|&byte| byte == b'\n').next().unwrap_or_default();
        if header == v2_header.as_bytes() {
            // Leaked so the reader borrows the bytes for the process's life without a copy.
            texts.push(text.leak());
        }
    }
    let started = Instant::now();
    let mut checksum = 0u64;
    for text in &texts {
        checksum = checksum.wrapping_add(read_all(text));
    }
    let seconds = started.elapsed().as_secs_f64();
    let records: usize = texts
        .iter()
        .map(|text| memchr::memchr_iter(b'\n', text).count() - 1)
        .sum();
    let bytes: usize = texts.iter().map(|text| text.len()).sum();
    Ok(
        serde_json::json!({"records": records, "bytes": bytes, "seconds": seconds,
        "checksum": checksum}),
    )
}

/// How [`rewrite`] writes the rows again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// With the settings flowatlas writes the table with.
    AsWritten,
    /// The same without compression.
    Uncompressed,
    /// Without compression, dictionaries or statistics: the least the writer can do.
    Plain,
}

/// Rows per batch read back: the `flows` writer's row groups hold up to 64 Ki rows, and a
/// rollup file is written from its batch at once.
const REWRITE_BATCH_ROWS: usize = 64 * 1024;

fn rewrite(flows: bool, files: &[PathBuf]) -> Result<serde_json::Value, Box<dyn Error>> {
    let mut tables = Vec::new();
    for path in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)?
            .with_batch_size(REWRITE_BATCH_ROWS)
            .build()?;
        let schema = reader.schema();
        let batches = reader.collect::<Result<Vec<RecordBatch>, _>>()?;
        tables.push((schema, batches));
    }
    let row_count = |batches: &[RecordBatch]| batches.iter().map(RecordBatch::num_rows).sum();
    let write_all = |encoding: Encoding| -> Result<serde_json::Value, ParquetError> {
        let started = Instant::now();
        let mut bytes = 0;
        for (schema, batches) in &tables {
            let mut properties = if flows {
                flows_properties()
            } else {
                writer_properties(Some(row_count(batches)))
            };
            if encoding != Encoding::AsWritten {
                properties = properties
                    .into_builder()
                    .set_compression(Compression::UNCOMPRESSED)
                    .build();
            }
            if encoding == Encoding::Plain {
                properties = properties
                    .into_builder()
                    .set_dictionary_enabled(false)
                    .set_statistics_enabled(EnabledStatistics::None)
                    .build();
            }
            let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties))?;
            for batch in batches {
                writer.write(batch)?;
            }
            bytes += writer.into_inner()?.len();
        }
        Ok(serde_json::json!({"seconds": started.elapsed().as_secs_f64(), "bytes": bytes}))
    };
    let rows: usize = tables.iter().map(|(_, batches)| row_count(batches)).sum();
    Ok(serde_json::json!({
        "files": tables.len(),
        "rows": rows,
        "as_written": write_all(Encoding::AsWritten)?,
        "uncompressed": write_all(Encoding::Uncompressed)?,
        "plain": write_all(Encoding::Plain)?,
    }))
}

fn run(cli: Cli) -> Result<String, Box<dyn Error>> {
    Ok(match cli.command {
        Command::Corpus {
            records,
            seed,
            one_object,
            small_objects,
            dir,
        } => {
            let spec = CorpusSpec {
                n_records: records,
                seed,
                one_object,
                object_records: if small_objects {
                    SMALL_OBJECTS
                } else {
                    BUSY_OBJECTS
                },
            };
            let corpus = write_corpus(&dir, &spec)?;
            serde_json::json!({
                "objects": corpus.objects,
                "asn_db": corpus.asn_db,
                "city_db": corpus.city_db,
                "records": corpus.n_records,
                "v5_records": corpus.n_v5_records,
                "gzip_bytes": corpus.gzip_bytes,
                "text_bytes": corpus.text_bytes,
                "networks": corpus.n_networks,
            })
            .to_string()
        }
        Command::ReportWeek { city_networks, dir } => {
            let written = write_week(&dir, city_networks)?;
            serde_json::json!({"files": written.n_files, "rows": written.n_rows}).to_string()
        }
        Command::HealthHistory {
            city_networks,
            days,
            end,
            needed_only,
            dir,
        } => {
            let hour = |time: i64| time - time.rem_euclid(3_600);
            // The first run judges the hour before `end`, the second the window after it.
            let needed: BTreeSet<i64> = (end - 3_600..=end)
                .step_by(300)
                .flat_map(|window| {
                    let mut starts = flowatlas_health::history_window_starts(window);
                    starts.push(window);
                    starts
                })
                .map(hour)
                .collect();
            let written = write_history(
                &dir,
                city_networks,
                end - days * 86_400,
                end + 3_600,
                needed_only.then_some(&needed),
            )?;
            serde_json::json!({"files": written.n_files, "rows": written.n_rows}).to_string()
        }
        Command::ParseText { files } => parse_text(&files)?.to_string(),
        Command::Rewrite { flows, files } => rewrite(flows, &files)?.to_string(),
        Command::Gunzip { files } => gunzip(&files)?.to_string(),
    })
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(output) => {
            let _ = writeln!(io::stdout().lock(), "{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(io::stderr().lock(), "flowatlas-bench: {error}");
            ExitCode::from(2)
        }
    }
}
