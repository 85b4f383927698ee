//! Data-driven tests: every object in `testdata/elblog/{ok,err}/` is read and rendered as one
//! stable text line per handshake (every field by its documented name), skipped line or
//! reject, then compared with its `<case>.expected` file. `UPDATE_EXPECT=1 cargo test`
//! rewrites the expected files; review the diff before committing. The log is told by content
//! (no key layout here).

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use flowatlas_elblog::{Entry, Options, Reader};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/elblog")
}

/// The cases are read as on 2027-01-15: a time more than a day later is out of range.
const READ_AT: i64 = 1_800_000_000;

/// Renders an object; the second value tells whether it had any reject or error.
fn render(path: &Path) -> (String, bool) {
    let mut out = String::new();
    let options = Options {
        latest_time: Some(READ_AT + 86_400),
        ..Options::default()
    };
    let mut reader = match Reader::new(File::open(path).unwrap(), &options) {
        Ok(reader) => reader,
        Err(error) => return (format!("error: {error}\n"), true),
    };
    loop {
        match reader.next_entry() {
            Ok(None) => break,
            Ok(Some(Entry::Handshake(handshake))) => {
                write!(
                    out,
                    "{}: {} at={} client={} port={} listener={} handshake_us={}",
                    handshake.line,
                    handshake.kind,
                    handshake.time,
                    handshake.client_ip,
                    handshake.client_port,
                    handshake.listener,
                    handshake.handshake_us
                )
                .unwrap();
                for &field in handshake.kind.fields() {
                    if let Some(value) = handshake.value(field) {
                        write!(out, " {field}={value}").unwrap();
                    }
                }
                out.push('\n');
            }
            Ok(Some(Entry::Skip(skip))) => {
                writeln!(out, "{}: skipped: {}", skip.line, skip.why).unwrap()
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
        "counts: read={} handshakes={} skipped={} rejected={}",
        counts.read, counts.ok, counts.skipped, counts.rejected
    )
    .unwrap();
    let faulty = counts.rejected > 0 || out.contains("error: ");
    (out, faulty)
}

#[test]
fn ok_cases() {
    flowatlas_goldens::run_folder(&testdata().join("ok"), false, |_| true, render);
}

#[test]
fn err_cases() {
    flowatlas_goldens::run_folder(&testdata().join("err"), true, |_| true, render);
}

/// The same log as text and as gzip reads the same.
#[test]
fn gzip_and_text_read_alike() {
    let text = render(&testdata().join("ok/alb-connection.log"));
    let gzip = render(&testdata().join("ok/alb-connection-gzip.log.gz"));
    assert_eq!(text, gzip);
}
