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

fn case_name(path: &Path) -> String {
    let file_name = path.file_name().unwrap().to_string_lossy();
    file_name.split('.').next().unwrap().to_string()
}

/// The cases are read as on this day (2027-01-15): a time more than a day later is out of
/// range, as it is a day after an object's delivery.
const READ_AT: i64 = 1_800_000_000;

fn options_for(path: &Path) -> Options {
    let format_path = path.with_file_name(format!("{}.format", case_name(path)));
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

fn run_directory(directory: &str, expect_faults: bool) {
    let folder = testdata().join(directory);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            !name.ends_with(".expected") && !name.ends_with(".format")
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", folder.display());
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let (got, faulty) = render(case);
        assert_eq!(
            faulty,
            expect_faults,
            "{}: cases in {directory}/ must {}have rejects or errors",
            case.display(),
            if expect_faults { "" } else { "not " }
        );
        let expected_path = case.with_file_name(format!("{}.expected", case_name(case)));
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            if update {
                std::fs::write(&expected_path, &got).unwrap();
            } else {
                failures.push(format!(
                    "{}\n--- expected\n{expected}--- got\n{got}",
                    case.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ (UPDATE_EXPECT=1 rewrites):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn ok_cases() {
    run_directory("ok", false);
}

#[test]
fn err_cases() {
    run_directory("err", true);
}
