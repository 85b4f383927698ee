//! The end-to-end benchmark's corpus: gzip flow-log objects under AWS's S3 key layout, with
//! heavy-tailed (Zipf-like) peers over thousands of /24 networks, v2 and v5 formats and
//! object sizes spread as deliveries of busy and quiet interfaces are, plus the ASN and city
//! databases that cover every peer. The same spec and seed always give the same bytes.
//!
//! Peers come from 240.0.0.0/4 (reserved, never routed), so the generated databases can never
//! be mistaken for facts about real networks, while flowatlas still sees them as internet peers.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use flowatlas_demo::Random;
use flowatlas_flowlog::{Field, Format};

use crate::fields_up_to;

/// What to generate.
#[derive(Clone, Debug)]
pub struct CorpusSpec {
    /// Records in all objects together (header lines not included).
    pub n_records: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Everything in one object, to show memory does not grow with an object's size.
    pub one_object: bool,
    /// Records per object, log-uniform between these ([`BUSY_OBJECTS`] or [`SMALL_OBJECTS`]).
    pub object_records: (f64, f64),
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corpus {
    /// The gzip objects, in name order.
    pub objects: Vec<PathBuf>,
    /// The ASN database.
    pub asn_db: PathBuf,
    /// The city database.
    pub city_db: PathBuf,
    /// Records written.
    pub n_records: u64,
    /// Of those, in v5 objects.
    pub n_v5_records: u64,
    /// Sum of the objects' sizes.
    pub gzip_bytes: u64,
    /// Sum of the objects' decompressed sizes.
    pub text_bytes: u64,
    /// Distinct /24 networks peers are drawn from.
    pub n_networks: usize,
}

/// Why the corpus could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A database could not be built.
    #[error("corpus database: {0}")]
    Database(#[from] flowatlas_geo::WriteError),
}

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
/// 2026-06-01 12:00 UTC: the first delivery window.
const FIRST_WINDOW: i64 = 1_780_315_200;
const N_NETWORKS: usize = 4096;
const N_ASNS: usize = 600;
const N_CITIES: usize = 240;
const N_COUNTRIES: usize = 40;
/// Interfaces whose flow logs deliver objects in turn; every fourth logs all v5 fields.
const N_INTERFACES: usize = 8;
/// Records per object of busy interfaces, log-uniform between these: a quiet interface's five
/// minutes to a busy one's (AWS delivers at most every 5 minutes per interface and caps objects
/// by size).
pub const BUSY_OBJECTS: (f64, f64) = (2_000.0, 120_000.0);
/// Records per object of small VPCs: about 650 records, 17 KB of gzip, every five minutes
/// (issue 17's corpus of 304 such objects).
pub const SMALL_OBJECTS: (f64, f64) = (550.0, 750.0);

/// The /24 networks, as their first three octets, and a Zipf(1.1) cumulative weight per
/// network for drawing peers by rank.
struct World {
    networks: Vec<[u8; 3]>,
    cumulative: Vec<f64>,
}

impl World {
    fn new(random: &mut Random) -> World {
        let mut seen = std::collections::HashSet::new();
        let mut networks = Vec::with_capacity(N_NETWORKS);
        while networks.len() < N_NETWORKS {
            // 240.0.0.0 to 254.255.255.0: reserved space, clear of the broadcast address.
            let network = [
                240 + random.below(15) as u8,
                random.below(256) as u8,
                random.below(256) as u8,
            ];
            if seen.insert(network) {
                networks.push(network);
            }
        }
        let mut total = 0.0;
        let cumulative = (0..N_NETWORKS)
            .map(|rank| {
                total += 1.0 / (rank as f64 + 1.0).powf(1.1);
                total
            })
            .collect();
        World {
            networks,
            cumulative,
        }
    }

    fn draw_network(&self, random: &mut Random) -> [u8; 3] {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let pick = random.unit() * total;
        let rank = self.cumulative.partition_point(|&upto| upto < pick);
        self.networks[rank.min(self.networks.len() - 1)]
    }

    /// The ASN and city databases: networks grouped into ASNs and cities by index, so every
    /// peer has both answers.
    fn database_sources(&self) -> (String, String) {
        let mut asn = Vec::with_capacity(self.networks.len());
        let mut city = Vec::with_capacity(self.networks.len());
        for (index, [a, b, c]) in self.networks.iter().enumerate() {
            let cidr = format!("{a}.{b}.{c}.0/24");
            let as_number = 64_512 + index % N_ASNS;
            asn.push(serde_json::json!({"network": cidr, "data": {
                "autonomous_system_number": as_number,
                "autonomous_system_organization": format!("Bench Carrier {as_number}")}}));
            let city_index = (index * 7) % N_CITIES;
            let country = city_index % N_COUNTRIES;
            let country_code = format!(
                "{}{}",
                char::from(b'A' + (country / 26) as u8),
                char::from(b'A' + (country % 26) as u8)
            );
            city.push(serde_json::json!({"network": cidr, "data": {
                "city": {"names": {"en": format!("Bench City {city_index}")}},
                "country": {"iso_code": country_code, "names": {"en": format!("Bench Country {country}")}},
                "location": {"latitude": (city_index as f64 * 0.7) % 140.0 - 60.0,
                             "longitude": (city_index as f64 * 1.3) % 360.0 - 180.0}}}));
        }
        let source = |database_type: &str, networks: Vec<serde_json::Value>| {
            serde_json::json!({"database_type": database_type, "ip_version": 6,
                "build_epoch": FIRST_WINDOW, "languages": ["en"],
                "description": {"en": "flowatlas benchmark corpus"}, "networks": networks})
            .to_string()
        };
        (source("GeoLite2-ASN", asn), source("GeoLite2-City", city))
    }
}

/// One record's values, rendered into any format.
struct Flow {
    src: String,
    dst: String,
    src_port: u64,
    dst_port: u64,
    protocol: u8,
    packets: u64,
    bytes: u64,
    start: i64,
    end: i64,
    reject: bool,
    tcp_flags: u8,
    ingress: bool,
}

struct Interface {
    eni: String,
    flow_log: String,
    private_v4: String,
    az_id: String,
    format: Format,
}

fn interfaces() -> Vec<Interface> {
    (0..N_INTERFACES)
        .map(|index| Interface {
            eni: format!("eni-0b{index:015x}"),
            flow_log: format!("fl-0c{index:015x}"),
            private_v4: format!("10.0.{}.{}", index % 3, 20 + index),
            az_id: format!("use1-az{}", 1 + index % 3),
            format: if index % 4 == 3 {
                Format::from_fields(fields_up_to(5)).unwrap_or_else(|_| Format::default_v2())
            } else {
                Format::default_v2()
            },
        })
        .collect()
}

fn append_line(line: &mut String, interface: &Interface, flow: &Flow) {
    let format = &interface.format;
    for (position, field) in format.fields().iter().enumerate() {
        if position > 0 {
            line.push(' ');
        }
        // Writing into a String cannot fail.
        let _ = match field {
            Field::Version => write!(line, "{}", format.version()),
            Field::AccountId => write!(line, "{ACCOUNT}"),
            Field::InterfaceId => write!(line, "{}", interface.eni),
            Field::Srcaddr | Field::PktSrcaddr => write!(line, "{}", flow.src),
            Field::Dstaddr | Field::PktDstaddr => write!(line, "{}", flow.dst),
            Field::Srcport => write!(line, "{}", flow.src_port),
            Field::Dstport => write!(line, "{}", flow.dst_port),
            Field::Protocol => write!(line, "{}", flow.protocol),
            Field::Packets => write!(line, "{}", flow.packets),
            Field::Bytes => write!(line, "{}", flow.bytes),
            Field::Start => write!(line, "{}", flow.start),
            Field::End => write!(line, "{}", flow.end),
            Field::Action => write!(line, "{}", if flow.reject { "REJECT" } else { "ACCEPT" }),
            Field::LogStatus => write!(line, "OK"),
            Field::VpcId => write!(line, "vpc-0f1e2d3c4b5a69788"),
            Field::SubnetId => write!(line, "subnet-0123456789abcdef0"),
            Field::InstanceId => write!(line, "i-0abcdef1234567890"),
            Field::TcpFlags => write!(line, "{}", flow.tcp_flags),
            Field::Type => write!(line, "IPv4"),
            Field::Region => write!(line, "{REGION}"),
            Field::AzId => write!(line, "{}", interface.az_id),
            Field::FlowDirection => {
                write!(line, "{}", if flow.ingress { "ingress" } else { "egress" })
            }
            Field::TrafficPath if !flow.ingress => write!(line, "8"),
            _ => write!(line, "-"),
        };
    }
    line.push('\n');
}

/// Appends one connection of a peer to an interface: the inbound record and, unless it was a
/// rejected scan, the reply. Returns the number of records.
fn append_connection(
    text: &mut String,
    interface: &Interface,
    world: &World,
    window: i64,
    random: &mut Random,
) -> u64 {
    let [a, b, c] = world.draw_network(random);
    // Hosts inside a network are heavy-tailed too: a few busy addresses per /24.
    let host = 1 + (253.0 * random.unit().powi(3)) as u8;
    let peer = format!("{a}.{b}.{c}.{host}");
    let udp = random.below(10) == 0;
    let reject = !udp && random.below(40) == 0;
    let peer_port = 1024 + random.below(64_000);
    let service_port = if udp {
        53
    } else if reject {
        22
    } else {
        443
    };
    let packets_in = 1 + random.below(40);
    let packets_out = packets_in + random.below(60);
    let start = window - 300 + random.below(300) as i64;
    let end = start + random.below(60) as i64;
    let inbound = Flow {
        src: peer,
        dst: interface.private_v4.clone(),
        src_port: peer_port,
        dst_port: service_port,
        protocol: if udp { 17 } else { 6 },
        packets: packets_in,
        bytes: packets_in * (60 + random.below(500)),
        start,
        end,
        reject,
        tcp_flags: if reject { 2 } else { 3 },
        ingress: true,
    };
    append_line(text, interface, &inbound);
    if reject {
        return 1;
    }
    let outbound = Flow {
        src: inbound.dst,
        dst: inbound.src,
        src_port: service_port,
        dst_port: peer_port,
        packets: packets_out,
        bytes: packets_out * (100 + random.below(1300)),
        tcp_flags: 19,
        ingress: false,
        ..inbound
    };
    append_line(text, interface, &outbound);
    2
}

/// `YYYYMMDDTHHmmZ` of a Unix time.
fn key_stamp(time: i64) -> String {
    let (year, month, day) = flowatlas_time::utc_ymd(time);
    let seconds = time.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60
    )
}

/// Writes the corpus under `dir`: `logs/AWSLogs/...` and `geo/{asn,city}.mmdb`.
pub fn write_corpus(dir: &Path, spec: &CorpusSpec) -> Result<Corpus, CorpusError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CorpusError::Io {
            path: path.clone(),
            source,
        }
    };
    let mut random = Random(spec.seed);
    let world = World::new(&mut random);
    let geo_dir = dir.join("geo");
    std::fs::create_dir_all(&geo_dir).map_err(io(&geo_dir))?;
    let (asn_source, city_source) = world.database_sources();
    let asn_db = geo_dir.join("asn.mmdb");
    let city_db = geo_dir.join("city.mmdb");
    std::fs::write(&asn_db, flowatlas_geo::write_mmdb(&asn_source)?).map_err(io(&asn_db))?;
    std::fs::write(&city_db, flowatlas_geo::write_mmdb(&city_source)?).map_err(io(&city_db))?;

    let interfaces = interfaces();
    let mut corpus = Corpus {
        objects: Vec::new(),
        asn_db,
        city_db,
        n_records: 0,
        n_v5_records: 0,
        gzip_bytes: 0,
        text_bytes: 0,
        n_networks: world.networks.len(),
    };
    let mut text = String::new();
    while corpus.n_records < spec.n_records {
        let index = corpus.objects.len();
        let interface = &interfaces[index % N_INTERFACES];
        let window = FIRST_WINDOW + (index / N_INTERFACES) as i64 * 300;
        let (low, high) = spec.object_records;
        let wanted = if spec.one_object {
            spec.n_records
        } else {
            (low * (high / low).powf(random.unit())) as u64
        };
        let wanted = wanted.min(spec.n_records - corpus.n_records);
        text.clear();
        let names: Vec<&str> = interface
            .format
            .fields()
            .iter()
            .map(|field| field.aws_name())
            .collect();
        text.push_str(&names.join(" "));
        text.push('\n');
        let mut n_records = 0;
        while n_records < wanted {
            n_records += append_connection(&mut text, interface, &world, window, &mut random);
        }
        let (year, month, day) = flowatlas_time::utc_ymd(window);
        let folder = dir.join(format!(
            "logs/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/{year:04}/{month:02}/{day:02}"
        ));
        std::fs::create_dir_all(&folder).map_err(io(&folder))?;
        let path = folder.join(format!(
            "{ACCOUNT}_vpcflowlogs_{REGION}_{}_{}_{:08x}.log.gz",
            interface.flow_log,
            key_stamp(window),
            random.bits() as u32
        ));
        // Level 6: what AWS's gzip objects compress like.
        let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
        encoder.write_all(text.as_bytes()).map_err(io(&path))?;
        let bytes = encoder.finish().map_err(io(&path))?;
        std::fs::write(&path, &bytes).map_err(io(&path))?;
        corpus.n_records += n_records;
        if interface.format.version() >= 5 {
            corpus.n_v5_records += n_records;
        }
        corpus.gzip_bytes += bytes.len() as u64;
        corpus.text_bytes += text.len() as u64;
        corpus.objects.push(path);
    }
    corpus.objects.sort();
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_small(dir: &Path) -> Corpus {
        let spec = CorpusSpec {
            n_records: 20_000,
            seed: 3,
            one_object: false,
            object_records: BUSY_OBJECTS,
        };
        write_corpus(dir, &spec).unwrap()
    }

    #[test]
    fn the_same_seed_writes_the_same_bytes() {
        let scratch = std::env::temp_dir().join(format!("flowatlas-corpus-{}", std::process::id()));
        let (first, second) = (scratch.join("a"), scratch.join("b"));
        let (corpus_a, corpus_b) = (write_small(&first), write_small(&second));
        assert_eq!(corpus_a.n_records, 20_000);
        assert_eq!(corpus_a.objects.len(), corpus_b.objects.len());
        for (a, b) in corpus_a.objects.iter().zip(&corpus_b.objects) {
            assert_eq!(
                a.strip_prefix(&first).unwrap(),
                b.strip_prefix(&second).unwrap()
            );
            assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        }
        let asn = (
            std::fs::read(&corpus_a.asn_db),
            std::fs::read(&corpus_b.asn_db),
        );
        assert_eq!(asn.0.unwrap(), asn.1.unwrap());
        std::fs::remove_dir_all(&scratch).unwrap();
    }
}
