//! A realistic day of flow logs for a fictional service, deterministic for a seed: ~50
//! city-networks in several countries with heavy-tailed traffic and a daily rhythm, two
//! interfaces (one logging the default v2 format, one a custom v5 format), gzip objects with
//! header lines under AWS's S3 key layout, some rejected scans, NODATA and IPv6 — and one
//! incident, where one ISP in one city loses most of its traffic for 40 minutes. It also writes
//! the ASN and city databases that cover its addresses.
//!
//! # Overview
//!
//! [`write_demo`] writes `<dir>/logs/AWSLogs/...` and `<dir>/geo/{asn,city}.mmdb` and returns a
//! [`Demo`] that says where they are and what the incident was. Client addresses come from
//! 198.18.0.0/15 (the benchmarking range, never routed) and 2001:db8::/32 (documentation), so
//! the demo can never be mistaken for real networks.
//!
//! [`Scenario`] is the same world over weeks, as rollup rows with injected incidents and their
//! ground truth, and [`score`] grades health events against it.
#![deny(missing_docs)]

mod scenario;

pub use scenario::{FoundEvent, IncidentScore, InjectedIncident, Quality, Scenario, Scope, score};

use std::f64::consts::PI;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use flowatlas_flowlog::{Field, Format};

/// Why the demo could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A generated database could not be built.
    #[error("demo database: {0}")]
    Database(#[from] flowatlas_geo::WriteError),
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Demo {
    /// Folder of the flow-log objects.
    pub logs: PathBuf,
    /// The ASN database.
    pub asn_db: PathBuf,
    /// The city database.
    pub city_db: PathBuf,
    /// Objects written.
    pub n_objects: usize,
    /// Records written (header lines not included).
    pub n_records: u64,
    /// The incident: ISP, city, and its start and end (Unix seconds).
    pub incident: Incident,
}

/// The outage built into the day.
#[derive(Clone, Debug)]
pub struct Incident {
    /// The ISP that loses its traffic.
    pub as_name: String,
    /// Its AS number.
    pub asn: u32,
    /// Where.
    pub city: String,
    /// Start, Unix seconds.
    pub start: i64,
    /// End, Unix seconds.
    pub end: i64,
}

/// The day the demo covers: 2026-06-01 UTC.
pub const DAY_START: i64 = 1_780_272_000;
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

struct City {
    name: &'static str,
    subdivision: (&'static str, &'static str),
    country: (&'static str, &'static str),
    lat: f64,
    lon: f64,
    metro: Option<u16>,
}

const CITIES: &[City] = &[
    City {
        name: "New York",
        subdivision: ("NY", "New York"),
        country: ("US", "United States"),
        lat: 40.71,
        lon: -74.01,
        metro: Some(501),
    },
    City {
        name: "Los Angeles",
        subdivision: ("CA", "California"),
        country: ("US", "United States"),
        lat: 34.05,
        lon: -118.24,
        metro: Some(803),
    },
    City {
        name: "Chicago",
        subdivision: ("IL", "Illinois"),
        country: ("US", "United States"),
        lat: 41.88,
        lon: -87.63,
        metro: Some(602),
    },
    City {
        name: "Seattle",
        subdivision: ("WA", "Washington"),
        country: ("US", "United States"),
        lat: 47.61,
        lon: -122.33,
        metro: Some(819),
    },
    City {
        name: "Houston",
        subdivision: ("TX", "Texas"),
        country: ("US", "United States"),
        lat: 29.76,
        lon: -95.37,
        metro: Some(618),
    },
    City {
        name: "Boston",
        subdivision: ("MA", "Massachusetts"),
        country: ("US", "United States"),
        lat: 42.36,
        lon: -71.06,
        metro: Some(506),
    },
    City {
        name: "London",
        subdivision: ("ENG", "England"),
        country: ("GB", "United Kingdom"),
        lat: 51.51,
        lon: -0.13,
        metro: None,
    },
    City {
        name: "Manchester",
        subdivision: ("ENG", "England"),
        country: ("GB", "United Kingdom"),
        lat: 53.48,
        lon: -2.24,
        metro: None,
    },
    City {
        name: "Berlin",
        subdivision: ("BE", "Land Berlin"),
        country: ("DE", "Germany"),
        lat: 52.52,
        lon: 13.40,
        metro: None,
    },
    City {
        name: "Munich",
        subdivision: ("BY", "Bavaria"),
        country: ("DE", "Germany"),
        lat: 48.14,
        lon: 11.58,
        metro: None,
    },
    City {
        name: "Paris",
        subdivision: ("IDF", "Île-de-France"),
        country: ("FR", "France"),
        lat: 48.86,
        lon: 2.35,
        metro: None,
    },
    City {
        name: "São Paulo",
        subdivision: ("SP", "São Paulo"),
        country: ("BR", "Brazil"),
        lat: -23.55,
        lon: -46.63,
        metro: None,
    },
    City {
        name: "Tokyo",
        subdivision: ("13", "Tokyo"),
        country: ("JP", "Japan"),
        lat: 35.69,
        lon: 139.69,
        metro: None,
    },
    City {
        name: "Mumbai",
        subdivision: ("MH", "Maharashtra"),
        country: ("IN", "India"),
        lat: 19.08,
        lon: 72.88,
        metro: None,
    },
    City {
        name: "Sydney",
        subdivision: ("NSW", "New South Wales"),
        country: ("AU", "Australia"),
        lat: -33.87,
        lon: 151.21,
        metro: None,
    },
];

/// (AS number, name, countries it serves).
const ISPS: &[(u32, &str, &[&str])] = &[
    (64496, "Northwind Cable", &["US"]),
    (64497, "Bluewave Fiber", &["US"]),
    (64498, "Contoso Wireless", &["US", "GB", "DE"]),
    (64499, "Albion Broadband", &["GB"]),
    (64500, "Thames Mobile", &["GB"]),
    (64501, "Rheinnetz", &["DE"]),
    (64502, "Lumière Télécom", &["FR"]),
    (64503, "Sakura Hikari", &["JP"]),
    (64504, "Ipanema Net", &["BR"]),
    (64505, "Deccan Telecom", &["IN"]),
    (64506, "Harbour Internet", &["AU"]),
    (
        65536,
        "Globex Transit",
        &["US", "GB", "DE", "FR", "JP", "BR", "IN", "AU"],
    ),
];

/// A client network of the demo world.
struct Network {
    cidr: String,
    v6: bool,
    index: u32,
    asn: u32,
    as_name: &'static str,
    city: &'static City,
    weight: f64,
}

/// SplitMix64: small, fast, and the same on every platform, so generated data (the demo, the
/// scenario, the benchmarks' corpus) is the same everywhere for the same seed.
pub struct Random(pub u64);

impl Random {
    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.bits() % n.max(1)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.bits() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal value (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        radius * (2.0 * PI * self.unit()).cos()
    }
}

fn world() -> Vec<Network> {
    let mut networks = Vec::new();
    let mut index = 0u32;
    for city in CITIES {
        for &(asn, as_name, countries) in ISPS {
            if !countries.contains(&city.country.0) {
                continue;
            }
            let v6 = index % 5 == 4;
            let cidr = if v6 {
                format!("2001:db8:{:x}::/48", 0x100 + index)
            } else {
                format!("198.{}.{}.0/24", 18 + index / 256, index % 256)
            };
            networks.push(Network {
                cidr,
                v6,
                index,
                asn,
                as_name,
                city,
                weight: 0.0,
            });
            index += 1;
        }
    }
    // Heavy-tailed: a few city-networks carry most traffic, in a seed-independent order.
    let n = networks.len();
    for (rank, network) in networks.iter_mut().enumerate() {
        let shuffled = (rank * 7 + 3) % n;
        network.weight = 1.0 / (shuffled as f64 + 1.0).powf(1.1);
    }
    networks
}

fn database_sources(networks: &[Network]) -> (String, String) {
    let asn: Vec<serde_json::Value> = networks
        .iter()
        .map(|network| {
            serde_json::json!({"network": network.cidr, "data": {
                "autonomous_system_number": network.asn, "autonomous_system_organization": network.as_name}})
        })
        .collect();
    let city: Vec<serde_json::Value> = networks
        .iter()
        .map(|network| {
            let city = network.city;
            let mut location = serde_json::json!({"latitude": city.lat, "longitude": city.lon});
            if let Some(metro) = city.metro {
                location["metro_code"] = metro.into();
            }
            serde_json::json!({"network": network.cidr, "data": {
                "city": {"names": {"en": city.name}},
                "country": {"iso_code": city.country.0, "names": {"en": city.country.1}},
                "subdivisions": [{"iso_code": city.subdivision.0, "names": {"en": city.subdivision.1}}],
                "location": location}})
        })
        .collect();
    let source = |database_type: &str, networks: Vec<serde_json::Value>| {
        serde_json::json!({"database_type": database_type, "ip_version": 6, "build_epoch": DAY_START,
            "languages": ["en"], "description": {"en": "flowatlas demo world"}, "networks": networks})
        .to_string()
    };
    (source("GeoLite2-ASN", asn), source("GeoLite2-City", city))
}

fn host_of(network: &Network, random: &mut Random) -> String {
    let host = random.below(250) + 2;
    if network.v6 {
        format!("2001:db8:{:x}::{:x}", 0x100 + network.index, host)
    } else {
        format!(
            "198.{}.{}.{host}",
            18 + network.index / 256,
            network.index % 256
        )
    }
}

/// One logging interface of the service.
struct Interface {
    id: &'static str,
    private_v4: &'static str,
    public_v6: &'static str,
    az_id: &'static str,
    flow_log: &'static str,
    format: Format,
}

fn interfaces() -> Vec<Interface> {
    let v5_fields: Vec<Field> = [
        "version",
        "account-id",
        "interface-id",
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "packets",
        "bytes",
        "start",
        "end",
        "action",
        "log-status",
        "vpc-id",
        "subnet-id",
        "instance-id",
        "tcp-flags",
        "type",
        "pkt-srcaddr",
        "pkt-dstaddr",
        "region",
        "az-id",
        "flow-direction",
        "traffic-path",
    ]
    .iter()
    .filter_map(|name| Field::from_name(name))
    .collect();
    vec![
        Interface {
            id: "eni-0a1b2c3d4e5f60718",
            private_v4: "10.0.1.25",
            public_v6: "2600:1f18:abcd:1201::25",
            az_id: "use1-az1",
            flow_log: "fl-0a1b2c3d4e5f60718",
            format: Format::default_v2(),
        },
        Interface {
            id: "eni-0f1e2d3c4b5a69788",
            private_v4: "10.0.2.40",
            public_v6: "2600:1f18:abcd:1202::40",
            az_id: "use1-az2",
            flow_log: "fl-0f1e2d3c4b5a69788",
            format: Format::from_fields(v5_fields).unwrap_or_else(|_| Format::default_v2()),
        },
    ]
}

/// Traffic factor of a network at a time: a daily rhythm by longitude (peaks in the local
/// evening), and the incident.
fn traffic_factor(network: &Network, time: i64, incident: &Incident) -> f64 {
    let local_hour =
        ((time - DAY_START) as f64 / 3600.0 + network.city.lon / 15.0).rem_euclid(24.0);
    let rhythm = 0.55 + 0.45 * ((local_hour - 20.0) / 24.0 * 2.0 * PI).cos();
    let hit = network.asn == incident.asn
        && network.city.name == incident.city
        && (incident.start..incident.end).contains(&time);
    rhythm * if hit { 0.08 } else { 1.0 }
}

/// Writes the demo's logs and databases under `dir`.
pub fn write_demo(dir: &Path, seed: u64, records_per_object: u32) -> Result<Demo, DemoError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Io {
            path: path.clone(),
            source,
        }
    };
    let networks = world();
    let geo_dir = dir.join("geo");
    std::fs::create_dir_all(&geo_dir).map_err(io(&geo_dir))?;
    let (asn_source, city_source) = database_sources(&networks);
    let asn_db = geo_dir.join("asn.mmdb");
    let city_db = geo_dir.join("city.mmdb");
    std::fs::write(&asn_db, flowatlas_geo::write_mmdb(&asn_source)?).map_err(io(&asn_db))?;
    std::fs::write(&city_db, flowatlas_geo::write_mmdb(&city_source)?).map_err(io(&city_db))?;

    // The incident hits the busiest IPv4 city-network of the ISP with the most traffic in London.
    let victim = networks
        .iter()
        .filter(|network| network.city.name == "London" && !network.v6)
        .max_by(|a, b| a.weight.total_cmp(&b.weight))
        .unwrap_or(&networks[0]);
    let incident = Incident {
        as_name: victim.as_name.to_string(),
        asn: victim.asn,
        city: victim.city.name.to_string(),
        start: DAY_START + 14 * 3600 + 20 * 60,
        end: DAY_START + 15 * 3600,
    };

    let logs = dir.join("logs");
    let mut random = Random(seed);
    let mut n_objects = 0;
    let mut n_records = 0;
    let total_weight: f64 = networks.iter().map(|network| network.weight).sum();
    for interface in interfaces() {
        for slot in 0..288i64 {
            let window = DAY_START + slot * 300;
            let lines = object_lines(
                &interface,
                &networks,
                total_weight,
                window,
                records_per_object,
                &incident,
                &mut random,
            );
            n_records += lines.len() as u64;
            let stamp = format_stamp(window + 300);
            let folder = logs.join(format!("AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/06/01"));
            std::fs::create_dir_all(&folder).map_err(io(&folder))?;
            let path = folder.join(format!(
                "{ACCOUNT}_vpcflowlogs_{REGION}_{}_{stamp}_{:08x}.log.gz",
                interface.flow_log,
                random.bits() as u32
            ));
            let header: Vec<&str> = interface
                .format
                .fields()
                .iter()
                .map(|field| field.aws_name())
                .collect();
            let mut encoder = GzEncoder::new(Vec::new(), Compression::new(6));
            let write_error = io(&path);
            writeln!(encoder, "{}", header.join(" ")).map_err(&write_error)?;
            for line in &lines {
                writeln!(encoder, "{line}").map_err(&write_error)?;
            }
            let bytes = encoder.finish().map_err(&write_error)?;
            std::fs::write(&path, bytes).map_err(io(&path))?;
            n_objects += 1;
        }
    }
    Ok(Demo {
        logs,
        asn_db,
        city_db,
        n_objects,
        n_records,
        incident,
    })
}

/// `YYYYMMDDTHHmmZ` of a time on the demo day.
fn format_stamp(time: i64) -> String {
    let day_seconds = time - DAY_START;
    let (day, seconds) = (1 + day_seconds / 86_400, day_seconds % 86_400);
    format!(
        "202606{day:02}T{:02}{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60
    )
}

#[allow(clippy::too_many_arguments)]
fn object_lines(
    interface: &Interface,
    networks: &[Network],
    total_weight: f64,
    window: i64,
    records_per_object: u32,
    incident: &Incident,
    random: &mut Random,
) -> Vec<String> {
    let mut lines = Vec::new();
    // One window in 48 the interface is idle: AWS writes NODATA.
    if random.below(48) == 0 {
        let mut values = vec!["-".to_string(); interface.format.fields().len()];
        for (position, field) in interface.format.fields().iter().enumerate() {
            values[position] = match field {
                Field::Version => interface.format.version().to_string(),
                Field::AccountId => ACCOUNT.to_string(),
                Field::InterfaceId => interface.id.to_string(),
                Field::Start => window.to_string(),
                Field::End => (window + 299).to_string(),
                Field::LogStatus => "NODATA".to_string(),
                _ => "-".to_string(),
            };
        }
        lines.push(values.join(" "));
        return lines;
    }
    let mut n_pairs = records_per_object / 2;
    while n_pairs > 0 {
        n_pairs -= 1;
        // Pick a network by weight, then keep it with its traffic factor (thinning).
        let mut pick = random.unit() * total_weight;
        let network = networks
            .iter()
            .find(|network| {
                pick -= network.weight;
                pick <= 0.0
            })
            .unwrap_or(&networks[0]);
        let start = window + random.below(240) as i64;
        if random.unit() > traffic_factor(network, start, incident) {
            continue;
        }
        let client = host_of(network, random);
        let local = if network.v6 {
            interface.public_v6
        } else {
            interface.private_v4
        };
        let client_port = 1024 + random.below(64_000);
        let scan = random.below(60) == 0;
        let server_port = if scan { 22 } else { 443 };
        let packets_in = 2 + random.below(40);
        let bytes_in = packets_in * (60 + random.below(400));
        let packets_out = packets_in + random.below(80);
        let bytes_out = packets_out * (200 + random.below(1200));
        let end = start + 1 + random.below(50) as i64;
        let action = if scan { "REJECT" } else { "ACCEPT" };
        let inbound = Record {
            src: &client,
            dst: local,
            src_port: client_port,
            dst_port: server_port,
            packets: packets_in,
            bytes: bytes_in,
            start,
            end,
            action,
            tcp_flags: if scan { 2 } else { 3 },
            direction: "ingress",
        };
        lines.push(render(interface, &inbound, network.v6));
        if !scan {
            let outbound = Record {
                src: local,
                dst: &client,
                src_port: server_port,
                dst_port: client_port,
                packets: packets_out,
                bytes: bytes_out,
                start,
                end,
                action,
                tcp_flags: 19,
                direction: "egress",
            };
            lines.push(render(interface, &outbound, network.v6));
        }
    }
    lines
}

struct Record<'a> {
    src: &'a str,
    dst: &'a str,
    src_port: u64,
    dst_port: u64,
    packets: u64,
    bytes: u64,
    start: i64,
    end: i64,
    action: &'a str,
    tcp_flags: u8,
    direction: &'a str,
}

fn render(interface: &Interface, record: &Record<'_>, v6: bool) -> String {
    let values: Vec<String> = interface
        .format
        .fields()
        .iter()
        .map(|field| match field {
            Field::Version => interface.format.version().to_string(),
            Field::AccountId => ACCOUNT.to_string(),
            Field::InterfaceId => interface.id.to_string(),
            Field::Srcaddr | Field::PktSrcaddr => record.src.to_string(),
            Field::Dstaddr | Field::PktDstaddr => record.dst.to_string(),
            Field::Srcport => record.src_port.to_string(),
            Field::Dstport => record.dst_port.to_string(),
            Field::Protocol => "6".to_string(),
            Field::Packets => record.packets.to_string(),
            Field::Bytes => record.bytes.to_string(),
            Field::Start => record.start.to_string(),
            Field::End => record.end.to_string(),
            Field::Action => record.action.to_string(),
            Field::LogStatus => "OK".to_string(),
            Field::VpcId => "vpc-0f1e2d3c4b5a69788".to_string(),
            Field::SubnetId => "subnet-0123456789abcdef0".to_string(),
            Field::InstanceId => "i-0abcdef1234567890".to_string(),
            Field::TcpFlags => record.tcp_flags.to_string(),
            Field::Type => if v6 { "IPv6" } else { "IPv4" }.to_string(),
            Field::Region => REGION.to_string(),
            Field::AzId => interface.az_id.to_string(),
            Field::FlowDirection => record.direction.to_string(),
            Field::TrafficPath if record.direction == "egress" => "8".to_string(),
            _ => "-".to_string(),
        })
        .collect();
    values.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_about_fifty_unrouted_city_networks() {
        let networks = world();
        assert!(
            (45..=55).contains(&networks.len()),
            "{} networks",
            networks.len()
        );
        for network in &networks {
            let allowed = if network.v6 {
                network.cidr.starts_with("2001:db8:")
            } else {
                network.cidr.starts_with("198.18.") || network.cidr.starts_with("198.19.")
            };
            assert!(allowed, "{}", network.cidr);
        }
        let countries: std::collections::BTreeSet<&str> = networks
            .iter()
            .map(|network| network.city.country.0)
            .collect();
        assert_eq!(countries.len(), 8);
        let (asn, city) = database_sources(&networks);
        assert!(
            flowatlas_geo::write_mmdb(&asn).is_ok() && flowatlas_geo::write_mmdb(&city).is_ok()
        );
    }

    #[test]
    fn the_incident_thins_only_its_victim_in_its_window() {
        let networks = world();
        let victim = &networks[0];
        let incident = Incident {
            as_name: victim.as_name.to_string(),
            asn: victim.asn,
            city: victim.city.name.to_string(),
            start: DAY_START + 3600,
            end: DAY_START + 7200,
        };
        let during = traffic_factor(victim, DAY_START + 5000, &incident);
        let before = traffic_factor(victim, DAY_START + 3599, &incident);
        assert!(
            during < 0.1 * before.max(0.1) + 1e-9,
            "{during} vs {before}"
        );
        let bystander = networks
            .iter()
            .find(|network| network.asn != victim.asn)
            .unwrap();
        assert!(traffic_factor(bystander, DAY_START + 5000, &incident) >= 0.1);
    }
}
