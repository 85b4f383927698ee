//! Peak memory of the reader as input grows: reads 1 GB-scale synthetic streams of increasing
//! size (plain and gzip) and prints the process's peak resident set after each. Streaming holds
//! when the peak stays flat while the input grows tenfold.
//!
//! `cargo bench -p flowatlas-benches --bench memory`

use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use flowatlas_benches::{fields_up_to, flow_log_text};
use flowatlas_flowlog::{Entry, Options, Reader};

/// Repeats a block of records `n_copies` times without holding the repetitions in memory.
struct Repeat {
    block: Vec<u8>,
    pos: usize,
    n_left: usize,
}

impl Repeat {
    fn new(block: Vec<u8>, n_copies: usize) -> Repeat {
        let pos = block.len();
        Repeat {
            block,
            pos,
            n_left: n_copies,
        }
    }
}

impl Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.block.len() {
            if self.n_left == 0 {
                return Ok(0);
            }
            self.n_left -= 1;
            self.pos = 0;
        }
        let n_bytes = buf.len().min(self.block.len() - self.pos);
        buf[..n_bytes].copy_from_slice(&self.block[self.pos..self.pos + n_bytes]);
        self.pos += n_bytes;
        Ok(n_bytes)
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn read_through<R: Read + Send + 'static>(input: R) -> u64 {
    let mut reader = Reader::new(input, &Options::default()).unwrap();
    while let Some(entry) = reader.next_entry().unwrap() {
        std::hint::black_box(matches!(entry, Entry::Record(_)));
    }
    reader.counts().read
}

fn main() {
    // Records without a header: the v2 default format applies to the whole repeated stream.
    let text = flow_log_text(&fields_up_to(2), 10_000);
    let body_start = text.iter().position(|&byte| byte == b'\n').unwrap() + 1;
    let block = text[body_start..].to_vec();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
    encoder.write_all(&block).unwrap();
    let gzip_block = encoder.finish().unwrap();
    let mut out = io::stdout().lock();
    // Gzip blocks repeated make a multi-member object, which is valid gzip.
    for (encoding, repeated) in [("plain text", &block), ("gzip", &gzip_block)] {
        for n_copies in [10, 100, 1_000] {
            let n_read = read_through(Repeat::new(repeated.clone(), n_copies));
            let _ = writeln!(
                out,
                "{encoding:<10}: {n_read:>10} records ({:>6} MB of text): peak RSS {:>6} KiB",
                block.len() * n_copies / 1_000_000,
                peak_rss_kib()
            );
        }
    }
}
