//! Any bytes, read as a flow-log object (text, gzip or Parquet, by their magic) with and without
//! an explicit format: the reader must never panic, and its counts must add up.

#![no_main]

use flowatlas_flowlog::{Entry, Format, Options, Reader};
use libfuzzer_sys::fuzz_target;

fn read(data: &[u8], options: &Options) {
    let Ok(mut reader) = Reader::new(std::io::Cursor::new(data.to_vec()), options) else {
        return;
    };
    let mut n_records = 0u64;
    let mut n_rejects = 0u64;
    loop {
        match reader.next_entry() {
            Ok(Some(Entry::Record(record))) => {
                n_records += 1;
                // Touch every value the way consumers do.
                for (_, value) in record.values() {
                    std::hint::black_box(value);
                }
            }
            Ok(Some(Entry::Reject(reject))) => {
                n_rejects += 1;
                std::hint::black_box(reject.to_string());
            }
            Ok(None) | Err(_) => break,
        }
    }
    let counts = reader.counts();
    assert_eq!(counts.read, counts.ok + counts.skipped + counts.rejected);
    assert_eq!(counts.read, n_records + n_rejects);
    assert_eq!(counts.rejected, n_rejects);
}

fuzz_target!(|data: &[u8]| {
    read(data, &Options { max_line_bytes: 256, ..Options::default() });
    let format = Format::parse("${version} ${srcaddr} ${dstport} ${bytes} ${start} ${action} ${log-status}").ok();
    read(data, &Options { format, max_line_bytes: 256 });
});
