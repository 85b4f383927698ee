//! Data-driven tests: every object in `testdata/flowlog/{ok,err}/` is read and rendered as one
//! stable text line per record or reject, then compared with its `<case>.expected` file.
//! `UPDATE_EXPECT=1 cargo test` rewrites the expected files; review the diff before committing.
//! An optional `<case>.format` file holds an explicit format for the case.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use flowatlas_flowlog::{Entry, Format, Options, Reader, Value};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/flowlog")
}

/// The cases are read as on this day (2027-01-15): a time more than a day later is out of
/// range, as it is a day after an object's delivery.
const READ_AT: i64 = 1_800_000_000;

fn options_for(path: &Path) -> Options {
    let format_path = path.with_file_name(format!("{}.format", flowatlas_goldens::case_name(path)));
    let format = std::fs::read_to_string(&format_path)
        .ok()
        .map(|spec| Format::parse(&spec).unwrap());
    Options {
        format,
        latest_time: Some(READ_AT + 86_400),
        ..Options::default()
    }
}

/// Renders an object; the second value tells whether it had any reject or error.
fn render(path: &Path) -> (String, bool) {
    let mut out = String::new();
    let mut reader = match Reader::from_file(File::open(path).unwrap(), &options_for(path)) {
        Ok(reader) => reader,
        Err(error) => return (format!("error: {error}\n"), true),
    };
    loop {
        match reader.next_entry() {
            Ok(None) => break,
            Ok(Some(Entry::Record(record))) => {
                write!(out, "{}: {:?}", record.line(), record.status()).unwrap();
                for (field, value) in record.values() {
                    match value {
                        Value::Absent => write!(out, " {field}=-"),
                        Value::Int(int) => write!(out, " {field}={int}"),
                        Value::Ip(ip) => write!(out, " {field}={ip}"),
                        Value::Text(text) => write!(out, " {field}={text:?}"),
                    }
                    .unwrap();
                }
                out.push('\n');
            }
            Ok(Some(Entry::Reject(reject))) => writeln!(out, "reject: {reject}").unwrap(),
            Err(error) => {
                writeln!(out, "error: {error}").unwrap();
                break;
            }
        }
    }
    let counts = reader.counts();
    assert_eq!(counts.read, counts.ok + counts.skipped + counts.rejected);
    writeln!(
        out,
        "counts: read={} ok={} skipped={} rejected={}",
        counts.read, counts.ok, counts.skipped, counts.rejected
    )
    .unwrap();
    let faulty = counts.rejected > 0 || out.contains("\nerror: ") || out.starts_with("error: ");
    (out, faulty)
}

/// A `.format` file holds a case's explicit format; it is no case itself.
fn is_case(name: &str) -> bool {
    !name.ends_with(".format")
}

#[test]
fn ok_cases() {
    flowatlas_goldens::run_folder(&testdata().join("ok"), false, is_case, render);
}

#[test]
fn err_cases() {
    flowatlas_goldens::run_folder(&testdata().join("err"), true, is_case, render);
}
