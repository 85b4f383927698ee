//! An object reads the same however its bytes arrive: whole, a few bytes per read (lines cut
//! across the line buffer's refills), or gzip-compressed; and a compressed object cut short
//! reads the same records up to the cut, then one truncation reject.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use flowatlas_flowlog::{Entry, Options, Reader, Value};

/// Lines that take every way through the reader: values of every kind, non-ASCII and broken
/// UTF-8 text, IPv6, CRLF, tabs and runs of separators, `-`, milliseconds, too few and too many
/// values, bad values, blank lines, and a line over the limit.
fn object() -> Vec<u8> {
    let lines: [&[u8]; 16] = [
        b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
        b"2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK\r",
        "2 123456789010 eni-\u{e9}t\u{e9}-\u{20ac} 2001:db8::14 ::ffff:10.0.0.1 443 80 6 2 100 1418530010123 1418530070123 ACCEPT OK".as_bytes(),
        b"2\t123456789010\t\teni-1  10.0.0.1 10.0.0.2 1 2 17 1 1 1418530010 1418530070 ACCEPT OK  ",
        b"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
        b"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - SKIPDATA",
        b"2 123456789010 eni-\xe2\x82 10.0.0.1 10.0.0.2 1 2 17 1 1 1418530010 1418530070 ACCEPT OK",
        b"2 123456789010 eni-1 01.0.0.1 10.0.0.2 1 2 17 1 1 1418530010 1418530070 ACCEPT OK",
        b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 65536 17 1 1 1418530010 1418530070 ACCEPT OK",
        b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 17 1 1 1418530010 1418530070 accept OK",
        b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 17 1 12345678901234567890 1418530010 1418530070 ACCEPT OK",
        b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 17 1 1 1418530010 1418530070 ACCEPT",
        b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 17 1 1 1418530010 1418530070 ACCEPT OK extra",
        b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 17 1 1 100 1418530070 ACCEPT OK",
        b"",
        b" \t ",
    ];
    let mut object = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n".to_vec();
    for idx in 0..20_000 {
        object.extend_from_slice(lines[idx % lines.len()]);
        object.push(b'\n');
        if idx == 7_777 {
            object.extend(std::iter::repeat_n(b'9', 5_000));
            object.push(b'\n');
        }
    }
    object
}

/// A `Read` that hands out at most `most` bytes per call.
struct Pieces<'a> {
    bytes: &'a [u8],
    most: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.bytes.len().min(self.most).min(buf.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// Every entry as a line of text, then the counts.
fn render(input: impl Read + Send + 'static) -> Vec<String> {
    let options = Options {
        max_line_bytes: 4_096,
        ..Options::default()
    };
    let mut reader = Reader::new(input, &options).unwrap();
    let mut out = Vec::new();
    while let Some(entry) = reader.next_entry().unwrap() {
        out.push(match entry {
            Entry::Record(record) => {
                let values: Vec<String> = record
                    .values()
                    .map(|(field, value)| match value {
                        Value::Absent => format!("{field}=-"),
                        Value::Int(int) => format!("{field}={int}"),
                        Value::Ip(ip) => format!("{field}={ip}"),
                        Value::Text(text) => format!("{field}={text:?}"),
                    })
                    .collect();
                format!(
                    "{} {:?} {}",
                    record.line(),
                    record.status(),
                    values.join(" ")
                )
            }
            Entry::Reject(reject) => format!("reject {reject} ({})", reject.detail),
        });
    }
    out.push(format!("{:?}", reader.counts()));
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn an_object_reads_the_same_however_its_bytes_arrive() {
    let object: &'static [u8] = object().leak();
    let whole = render(object);
    assert!(whole.iter().any(|entry| entry.contains("\"eni-été-€\"")));
    assert!(
        whole
            .iter()
            .any(|entry| entry.contains("srcaddr=2001:db8::14"))
    );
    assert!(whole.iter().any(|entry| entry.contains("line_too_long")));
    for most in [1, 7, 4_093, 300_000] {
        assert_eq!(
            render(Pieces {
                bytes: object,
                most
            }),
            whole,
            "{most} bytes per read"
        );
    }
    let compressed: &'static [u8] = gzip(object).leak();
    assert_eq!(render(compressed), whole);
    assert_eq!(
        render(Pieces {
            bytes: compressed,
            most: 5
        }),
        whole
    );
}

#[test]
fn a_compressed_object_cut_short_keeps_what_came_before_the_cut() {
    let object = object();
    let whole = render(std::io::Cursor::new(object.clone()));
    let compressed = gzip(&object);
    let cut: &'static [u8] = compressed[..compressed.len() / 2].to_vec().leak();
    let read = render(cut);
    let truncated = read
        .iter()
        .position(|entry| entry.contains("truncated_input"))
        .unwrap();
    // Entries before the break are those of the whole object, the last one aside (its line may
    // be the cut one, rejected as such).
    assert_eq!(read[..truncated - 1], whole[..truncated - 1]);
    assert_eq!(
        read.len(),
        truncated + 2,
        "nothing after the break but the counts"
    );
}
