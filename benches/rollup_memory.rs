//! Peak memory of processing one object whose records all come from distinct /24s — a NAT
//! gateway facing the internet: 3,000,000 records, 3,000,000 client prefixes, through
//! `flowatlas_pipeline::process_object` into the tables. The rollup hands its rows over to
//! the writer whenever it holds its budget, so the peak stays flat however many distinct
//! prefixes there are; before, every prefix stayed in memory until the end (2.08 GB peak).
//!
//! `cargo bench -p flowatlas-benches --bench rollup_memory [-- N_RECORDS]`

use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Instant;

use flowatlas_flowlog::Options;
use flowatlas_geo::PeerRules;
use flowatlas_pipeline::{Config, ObjectRef, Tables, process_object};
use flowatlas_rollup::{RollupConfig, ServiceLocation};
use flowatlas_store::{Body, Error, Listed, LocalStore, ObjectInfo, Store};

/// A store of one object, `nat-gateway.log`, generated as it is streamed; read-only.
struct Generated {
    n_records: u32,
}

const KEY: &str = "nat-gateway.log";

impl Store for Generated {
    fn name(&self, key: &str) -> String {
        key.to_owned()
    }

    fn open(&self, _key: &str) -> Result<(Body, ObjectInfo), Error> {
        let input = DistinctPrefixes {
            next: 0,
            n_records: self.n_records,
            line: Vec::new(),
            pos: 0,
        };
        Ok((Body::Stream(Box::new(input)), ObjectInfo::default()))
    }

    fn publish(&self, key: &str, _file: &Path) -> Result<(), Error> {
        Err(read_only(key))
    }

    fn list(&self, _prefix: &str) -> Result<Vec<Listed>, Error> {
        Ok(vec![Listed {
            key: KEY.into(),
            info: ObjectInfo::default(),
        }])
    }

    fn list_folders(&self, _prefix: &str) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    fn download(&self, key: &str, _path: &Path) -> Result<(), Error> {
        Err(Error::Remote(
            format!("{key}: the generated store is only streamed").into(),
        ))
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        Err(read_only(key))
    }

    fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(None)
    }

    fn put(&self, key: &str, _bytes: &[u8]) -> Result<(), Error> {
        Err(read_only(key))
    }

    fn get_tagged(&self, _key: &str) -> Result<Option<(Vec<u8>, String)>, Error> {
        Ok(None)
    }

    fn put_if(
        &self,
        key: &str,
        _bytes: &[u8],
        _expected: Option<&str>,
    ) -> Result<Option<String>, Error> {
        Err(read_only(key))
    }

    fn local_root(&self) -> Option<&Path> {
        None
    }
}

fn read_only(key: &str) -> Error {
    Error::Remote(format!("{key}: the generated store is read-only").into())
}

/// Records from `11.0.0.1`, `11.0.1.1`, ... — one /24 each — generated as they are read, so
/// the input costs no memory.
struct DistinctPrefixes {
    next: u32,
    n_records: u32,
    line: Vec<u8>,
    pos: usize,
}

impl Read for DistinctPrefixes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.line.len() {
            if self.next == self.n_records {
                return Ok(0);
            }
            let peer = Ipv4Addr::from(u32::from(Ipv4Addr::new(11, 0, 0, 1)) + (self.next << 8));
            let start = 1_780_315_200 + self.next % 600;
            self.line.clear();
            let _ = writeln!(
                self.line,
                "2 123456789012 eni-0a1b2c3d4e5f60718 {peer} 10.0.0.7 56364 443 6 10 {} {start} {start} ACCEPT OK",
                100 + self.next % 1000
            );
            self.pos = 0;
            self.next += 1;
        }
        let n_bytes = buf.len().min(self.line.len() - self.pos);
        buf[..n_bytes].copy_from_slice(&self.line[self.pos..self.pos + n_bytes]);
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

fn main() {
    let n_records: u32 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(3_000_000);
    let out_dir =
        std::env::temp_dir().join(format!("flowatlas-rollup-memory-{}", std::process::id()));
    let config = Config {
        read: Options::default(),
        rules: PeerRules::new(&[], None).unwrap(),
        rollup: RollupConfig {
            prefix_len_v4: 24,
            prefix_len_v6: 48,
            default_location: ServiceLocation::default(),
        },
        out_dir: out_dir.clone(),
        tables: Tables::default(),
    };
    let generated = Generated { n_records };
    let output = LocalStore::new(&out_dir);
    let before = peak_rss_kib();
    let started = Instant::now();
    let object = ObjectRef::Stored {
        store: &generated,
        key: KEY,
    };
    let report = process_object(object, &config, &output, None).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "{} records from {} distinct /24s: {} client_prefixes rows, {} city_networks rows in {} files, {seconds:.1} s; peak RSS {} MiB ({} MiB before the object)",
        report.counts.read,
        n_records,
        report.rows.get("client_prefixes").copied().unwrap_or(0),
        report.rows.get("city_networks").copied().unwrap_or(0),
        report.files.len(),
        peak_rss_kib() / 1024,
        before / 1024
    );
}
