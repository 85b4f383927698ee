//! Parse throughput: plain text of the default v2 format and of all 29 v5 fields, in records/s
//! and MB/s, plus gzip decode + parse to show which of the two bounds the reader.

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::GzEncoder;
use flowatlas_benches::{fields_up_to, flow_log_text, read_all};

const N_RECORDS: usize = 200_000;

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
    encoder.write_all(text).unwrap();
    encoder.finish().unwrap()
}

fn bench(criterion: &mut Criterion) {
    for (name, version) in [("v2", 2), ("v5-29-fields", 5)] {
        // Leaked once so each iteration reads the same bytes without copying them first.
        let text: &'static [u8] = flow_log_text(&fields_up_to(version), N_RECORDS).leak();
        let compressed: &'static [u8] = gzip(text).leak();
        let mut group = criterion.benchmark_group(format!("parse/{name}"));
        group.sample_size(20);
        group.throughput(Throughput::Elements(N_RECORDS as u64));
        group.bench_function("text records", |bench| {
            bench.iter(|| black_box(read_all(text)))
        });
        group.bench_function("gzip records", |bench| {
            bench.iter(|| black_box(read_all(compressed)))
        });
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function("text bytes", |bench| {
            bench.iter(|| black_box(read_all(text)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
