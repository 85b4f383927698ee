//! Building and rendering the HTML report of a week (2,016 windows) of 1,000 city-networks,
//! from rows already in memory (reading the tables is not timed): the page must render in
//! well under 2 s. Prints the page's size (stderr).

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, criterion_group, criterion_main};
use flowatlas_benches::report_week;

fn report(c: &mut Criterion) {
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    let report = report_week(1_000);
    let page = flowatlas_report::render(&report);
    let _ = writeln!(
        std::io::stderr(),
        "report of a week of 1,000 city-networks: {} bytes",
        page.len()
    );
    group.bench_function("build a week of 1,000 city-networks", |b| {
        b.iter(|| black_box(report_week(1_000)))
    });
    group.bench_function("render a week of 1,000 city-networks", |b| {
        b.iter(|| black_box(flowatlas_report::render(&report)))
    });
    group.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
