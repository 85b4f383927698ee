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

/// A gzip object is told by its first line that is not blank, however far into the decoded
/// head that line starts and ends: as its text is.
#[test]
fn gzip_heads_sniff_as_their_text() {
    use std::io::Write as _;
    let line_of = |name: &str| {
        let text = std::fs::read_to_string(testdata().join("ok").join(name)).unwrap();
        text.lines().next().unwrap().to_owned()
    };
    let firsts = [
        line_of("alb-connection.log"),
        line_of("nlb-access.log"),
        // Not a load-balancer log: a flow log's header.
        "version account-id interface-id srcaddr dstaddr".to_owned(),
        // A first line far longer than what is decoded at a time.
        format!("{} {}", line_of("nlb-access.log"), "x".repeat(5_000)),
    ];
    for first in &firsts {
        for blank in [
            "",
            "\n",
            " \r\n\n",
            &" ".repeat(3_000),
            &format!("{}\n", " ".repeat(3_000)),
        ] {
            let text = format!("\u{feff}{blank}{first}\nnext line\n");
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(text.as_bytes()).unwrap();
            let gzip = encoder.finish().unwrap();
            assert_eq!(
                flowatlas_elblog::sniff_object(&gzip),
                flowatlas_elblog::sniff_object(text.as_bytes()),
                "{blank:?} then {:?}",
                &first[..first.len().min(40)]
            );
        }
    }
    assert!(
        flowatlas_elblog::sniff_object(format!("{}\n", line_of("alb-connection.log")).as_bytes())
            .is_some()
    );
}
