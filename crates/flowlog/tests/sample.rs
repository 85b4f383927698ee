//! The canonical sample exists as plain text, gzip and Parquet (written by pyarrow); all three
//! must give the same records, and the counts must match what the text itself says.

use std::fs::File;
use std::path::{Path, PathBuf};

use flowatlas_flowlog::{Counts, Entry, Options, Reader, Value};

const STEM: &str =
    "123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20260601T1200Z_5f3a9c1e";

fn sample(extension: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/flowlog/sample")
        .join(format!("{STEM}.{extension}"))
}

/// Every record as owned (field name, value) pairs, plus the counts.
fn read_all(reader: &mut Reader) -> (Vec<Vec<(String, String)>>, Counts) {
    let mut records = Vec::new();
    while let Some(entry) = reader.next_entry().unwrap() {
        let Entry::Record(record) = entry else {
            panic!("the sample has no bad records: {entry:?}");
        };
        records.push(
            record
                .values()
                .map(|(field, value)| {
                    let text = match value {
                        Value::Absent => "-".to_string(),
                        Value::Int(int) => int.to_string(),
                        Value::Ip(ip) => ip.to_string(),
                        Value::Text(text) => text.to_string(),
                    };
                    (field.aws_name().to_string(), text)
                })
                .collect(),
        );
    }
    (records, reader.counts())
}

#[test]
fn text_gzip_and_parquet_agree() {
    let options = Options::default();
    let open =
        |extension| Reader::from_file(File::open(sample(extension)).unwrap(), &options).unwrap();
    let (text_records, text_counts) = read_all(&mut open("log"));
    let (gzip_records, gzip_counts) = read_all(&mut open("log.gz"));
    let (parquet_records, parquet_counts) = read_all(&mut open("log.parquet"));
    assert_eq!(text_records, gzip_records);
    assert_eq!(text_records, parquet_records);
    assert_eq!(text_counts, gzip_counts);
    assert_eq!(
        (text_counts.read, text_counts.ok, text_counts.skipped),
        (
            parquet_counts.read,
            parquet_counts.ok,
            parquet_counts.skipped
        )
    );

    // Counts from the text itself, without the reader.
    let text = std::fs::read_to_string(sample("log")).unwrap();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    let n_skipped = lines
        .iter()
        .filter(|line| line.ends_with(" NODATA") || line.ends_with(" SKIPDATA"))
        .count() as u64;
    assert_eq!(text_counts.read, lines.len() as u64);
    assert_eq!(text_counts.skipped, n_skipped);
    assert_eq!(text_counts.ok, lines.len() as u64 - n_skipped);
    assert_eq!(text_counts.rejected, 0);
    assert_eq!(text_counts.bytes, text.len() as u64);
}

#[test]
fn streams_read_like_files() {
    // A stream (stdin, an S3 body) is sniffed the same way as a file, Parquet included.
    for extension in ["log", "log.gz", "log.parquet"] {
        let options = Options::default();
        let from_file = read_all(
            &mut Reader::from_file(File::open(sample(extension)).unwrap(), &options).unwrap(),
        );
        let from_stream =
            read_all(&mut Reader::new(File::open(sample(extension)).unwrap(), &options).unwrap());
        assert_eq!(from_file.0, from_stream.0, "{extension}");
    }
}
