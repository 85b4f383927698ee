//! Load-balancer log throughput: ALB connection log and NLB access log lines read into
//! handshakes, in lines/s and MB/s, plain text and gzip.

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::GzEncoder;
use flowatlas_elblog::{Entry, LogKind, Options, Reader};

const N_LINES: usize = 200_000;

/// Lines shaped like AWS's: clients spread over many /24s and some IPv6, a few plain-HTTP
/// (skipped) lines.
fn log_text(kind: LogKind) -> Vec<u8> {
    let mut text = String::with_capacity(N_LINES * 260);
    for n in 0..N_LINES {
        let second = n % 3_600;
        let (minute, second) = (second / 60, second % 60);
        let client = if n % 10 == 0 {
            format!("2001:db8:{:x}::{:x}", n % 4_096, n % 65_536)
        } else {
            format!("198.{}.{}.{}", 18 + n % 2, (n / 7) % 256, n % 251)
        };
        let line = match kind {
            LogKind::AlbConnection if n % 20 == 0 => {
                format!(
                    "2026-06-01T12:{minute:02}:{second:02}.104392Z {client} 50312 80 - - - - - - - TID_{n:032x}\n"
                )
            }
            LogKind::AlbConnection => format!(
                "2026-06-01T12:{minute:02}:{second:02}.104392Z {client} {} 443 TLSv1.3 TLS_AES_128_GCM_SHA256 0.{:03} - - - Success TID_{n:032x}\n",
                1_024 + n % 60_000,
                10 + n % 300
            ),
            LogKind::NlbAccess => {
                let client = if client.contains(':') {
                    format!("[{client}]")
                } else {
                    client
                };
                format!(
                    "tls 2.0 2026-06-01T12:{minute:02}:{second:02} net/api/1234567890abcdef g3d4b5e8bb8464cd {client}:{} 172.31.10.5:443 {} {} 1024 64000 - arn:aws:acm:eu-west-2:123456789012:certificate/2a108f19-aded-46b0-8493-c63eb1ef4a99 - TLS_AES_128_GCM_SHA256 tlsv13 - api.example.com h2 h2 h2,http/1.1 2026-06-01T12:{minute:02}:{second:02}\n",
                    1_024 + n % 60_000,
                    500 + n % 3_000,
                    10 + n % 300
                )
            }
        };
        text.push_str(&line);
    }
    text.into_bytes()
}

/// Reads every line; returns the handshakes.
fn read_all(bytes: &'static [u8], kind: LogKind) -> u64 {
    let options = Options {
        kind: Some(kind),
        ..Options::default()
    };
    let mut reader = Reader::new(bytes, &options).expect("an in-memory reader opens");
    let mut handshakes = 0;
    while let Some(entry) = reader.next_entry().expect("memory does not fail") {
        if let Entry::Handshake(handshake) = entry {
            handshakes += u64::from(handshake.handshake_us > 0);
        }
    }
    handshakes
}

fn bench(criterion: &mut Criterion) {
    for kind in LogKind::ALL {
        // Leaked once so each iteration reads the same bytes without copying them first.
        let text: &'static [u8] = log_text(kind).leak();
        let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
        encoder.write_all(text).expect("memory does not fail");
        let compressed: &'static [u8] = encoder.finish().expect("memory does not fail").leak();
        let mut group = criterion.benchmark_group(format!("elb_read/{kind}"));
        group.sample_size(20);
        group.throughput(Throughput::Elements(N_LINES as u64));
        group.bench_function("text lines", |bench| {
            bench.iter(|| black_box(read_all(text, kind)))
        });
        group.bench_function("gzip lines", |bench| {
            bench.iter(|| black_box(read_all(compressed, kind)))
        });
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function("text bytes", |bench| {
            bench.iter(|| black_box(read_all(text, kind)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
