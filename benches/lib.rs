//! Synthetic flow logs for the benchmarks: realistic value shapes (public and private
//! addresses, ephemeral ports, ACCEPT/REJECT mixes, NODATA), generated from the field catalogue,
//! the end-to-end benchmark's corpus of gzip objects with its databases ([`write_corpus`]), and
//! a week of many city-networks for the HTML report ([`report_week`]), and four weeks of them
//! for the scheduled health run ([`write_history`]).

mod corpus;
mod health_history;
mod report_week;

pub use corpus::{BUSY_OBJECTS, Corpus, CorpusError, CorpusSpec, SMALL_OBJECTS, write_corpus};
pub use health_history::{HistoryFiles, write_history};
pub use report_week::{WEEK_START, WEEK_WINDOWS, WeekFiles, report_week, write_week};

use flowatlas_flowlog::{Entry, Field, Kind, Options, Reader};

/// Reads every record of `input` and touches the values a rollup needs, so nothing is
/// optimized away; returns a checksum. Panics on rejects: benchmark inputs have none.
pub fn read_all(input: &'static [u8]) -> u64 {
    let mut reader = Reader::new(std::io::Cursor::new(input), &Options::default()).unwrap();
    let mut checksum = 0u64;
    while let Some(entry) = reader.next_entry().unwrap() {
        if let Entry::Record(record) = entry {
            checksum = checksum
                .wrapping_add(record.int(Field::Bytes).unwrap_or(0) as u64)
                .wrapping_add(u64::from(record.ip(Field::Srcaddr).is_some()));
        }
    }
    assert_eq!(reader.counts().rejected, 0);
    checksum
}

/// The fields of versions 2 to `version` in AWS's default order (14 for v2, 29 for v5).
pub fn fields_up_to(version: u8) -> Vec<Field> {
    Field::ALL
        .iter()
        .copied()
        .filter(|field| field.version() <= version && !field.is_transit_gateway_only())
        .collect()
}

/// `n_records` lines with a header, in the given fields' order.
pub fn flow_log_text(fields: &[Field], n_records: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(n_records * 24 * fields.len());
    let names: Vec<&str> = fields.iter().map(|field| field.aws_name()).collect();
    text.extend_from_slice(names.join(" ").as_bytes());
    text.push(b'\n');
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for idx in 0..n_records {
        // xorshift: cheap, deterministic variety.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let ingress = state & 1 == 0;
        let nodata = idx % 200 == 199;
        let peer = format!(
            "{}.{}.{}.{}",
            (state >> 8) % 223 + 1,
            (state >> 16) & 255,
            (state >> 24) & 255,
            (state >> 32) & 255
        );
        let local = format!("10.0.{}.{}", (state >> 40) & 255, (state >> 48) % 250 + 4);
        let start = 1_780_315_200 + (state >> 20) % 300;
        for (position, &field) in fields.iter().enumerate() {
            if position > 0 {
                text.push(b' ');
            }
            let value: String = match field {
                _ if nodata
                    && !matches!(
                        field,
                        Field::Version
                            | Field::AccountId
                            | Field::InterfaceId
                            | Field::Start
                            | Field::End
                            | Field::LogStatus
                    ) =>
                {
                    "-".into()
                }
                Field::Version => fields
                    .iter()
                    .map(|f| f.version())
                    .max()
                    .unwrap_or(2)
                    .to_string(),
                Field::Srcaddr | Field::PktSrcaddr => {
                    if ingress {
                        peer.clone()
                    } else {
                        local.clone()
                    }
                }
                Field::Dstaddr | Field::PktDstaddr => {
                    if ingress {
                        local.clone()
                    } else {
                        peer.clone()
                    }
                }
                Field::Srcport => {
                    if ingress {
                        ((state >> 12) % 64_000 + 1024).to_string()
                    } else {
                        "443".into()
                    }
                }
                Field::Dstport => {
                    if ingress {
                        "443".into()
                    } else {
                        ((state >> 12) % 64_000 + 1024).to_string()
                    }
                }
                Field::Start => start.to_string(),
                Field::End => (start + 59).to_string(),
                Field::Action => {
                    if state.is_multiple_of(29) {
                        "REJECT".into()
                    } else {
                        "ACCEPT".into()
                    }
                }
                Field::LogStatus => {
                    if nodata {
                        "NODATA".into()
                    } else {
                        "OK".into()
                    }
                }
                Field::FlowDirection => {
                    if ingress {
                        "ingress".into()
                    } else {
                        "egress".into()
                    }
                }
                Field::TrafficPath => {
                    if ingress {
                        "-".into()
                    } else {
                        "8".into()
                    }
                }
                Field::Type => "IPv4".into(),
                Field::AccountId => "123456789012".into(),
                Field::InterfaceId => "eni-0a1b2c3d4e5f60718".into(),
                Field::VpcId => "vpc-0f1e2d3c4b5a69788".into(),
                Field::SubnetId => "subnet-0123456789abcdef0".into(),
                Field::InstanceId => "i-0abcdef1234567890".into(),
                Field::Region => "us-east-1".into(),
                Field::AzId => "use1-az4".into(),
                _ => match field.kind() {
                    Kind::Int { max } => ((state >> 3) % (max.min(100_000) as u64 + 1)).to_string(),
                    _ => "-".into(),
                },
            };
            text.extend_from_slice(value.as_bytes());
        }
        text.push(b'\n');
    }
    text
}
