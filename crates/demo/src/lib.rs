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
//! ground truth.
#![deny(missing_docs)]

mod scenario;

pub use scenario::{InjectedIncident, Scenario, Scope, Slowdown};

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

/// A place of the demo world, shaped as GeoLite2 City records are: GeoNames ids for the city,
/// its subdivision and its country; some cities have no subdivision, and some networks are
/// placed only in a country.
struct City {
    /// The city's name, or for a country-only place a label that is never written.
    name: &'static str,
    /// The city's GeoNames id; `None` for a network placed only in its country.
    geoname_id: Option<u32>,
    /// Code, name and GeoNames id of the first subdivision, when the city has one.
    subdivision: Option<(&'static str, &'static str, u32)>,
    /// Code, name and GeoNames id of the country.
    country: (&'static str, &'static str, u32),
    lat: f64,
    lon: f64,
    metro: Option<u16>,
}

const CITIES: &[City] = &[
    City {
        name: "New York",
        geoname_id: Some(5128581),
        subdivision: Some(("NY", "New York", 5128638)),
        country: ("US", "United States", 6252001),
        lat: 40.71,
        lon: -74.01,
        metro: Some(501),
    },
    City {
        name: "Los Angeles",
        geoname_id: Some(5368361),
        subdivision: Some(("CA", "California", 5332921)),
        country: ("US", "United States", 6252001),
        lat: 34.05,
        lon: -118.24,
        metro: Some(803),
    },
    City {
        name: "Chicago",
        geoname_id: Some(4887398),
        subdivision: Some(("IL", "Illinois", 4896861)),
        country: ("US", "United States", 6252001),
        lat: 41.88,
        lon: -87.63,
        metro: Some(602),
    },
    City {
        name: "Seattle",
        geoname_id: Some(5809844),
        subdivision: Some(("WA", "Washington", 5815135)),
        country: ("US", "United States", 6252001),
        lat: 47.61,
        lon: -122.33,
        metro: Some(819),
    },
    City {
        name: "Houston",
        geoname_id: Some(4699066),
        subdivision: Some(("TX", "Texas", 4736286)),
        country: ("US", "United States", 6252001),
        lat: 29.76,
        lon: -95.37,
        metro: Some(618),
    },
    City {
        name: "Boston",
        geoname_id: Some(4930956),
        subdivision: Some(("MA", "Massachusetts", 6254926)),
        country: ("US", "United States", 6252001),
        lat: 42.36,
        lon: -71.06,
        metro: Some(506),
    },
    City {
        name: "London",
        geoname_id: Some(2643743),
        subdivision: Some(("ENG", "England", 6269131)),
        country: ("GB", "United Kingdom", 2635167),
        lat: 51.51,
        lon: -0.13,
        metro: None,
    },
    City {
        name: "Manchester",
        geoname_id: Some(2643123),
        subdivision: Some(("ENG", "England", 6269131)),
        country: ("GB", "United Kingdom", 2635167),
        lat: 53.48,
        lon: -2.24,
        metro: None,
    },
    City {
        name: "Berlin",
        geoname_id: Some(2950159),
        subdivision: Some(("BE", "Land Berlin", 2950157)),
        country: ("DE", "Germany", 2921044),
        lat: 52.52,
        lon: 13.40,
        metro: None,
    },
    City {
        name: "Munich",
        geoname_id: Some(2867714),
        subdivision: Some(("BY", "Bavaria", 2951839)),
        country: ("DE", "Germany", 2921044),
        lat: 48.14,
        lon: 11.58,
        metro: None,
    },
    City {
        name: "Paris",
        geoname_id: Some(2988507),
        subdivision: Some(("IDF", "Île-de-France", 3012874)),
        country: ("FR", "France", 3017382),
        lat: 48.86,
        lon: 2.35,
        metro: None,
    },
    City {
        name: "São Paulo",
        geoname_id: Some(3448439),
        subdivision: Some(("SP", "São Paulo", 3448433)),
        country: ("BR", "Brazil", 3469034),
        lat: -23.55,
        lon: -46.63,
        metro: None,
    },
    City {
        name: "Tokyo",
        geoname_id: Some(1850147),
        subdivision: Some(("13", "Tokyo", 1850144)),
        country: ("JP", "Japan", 1861060),
        lat: 35.69,
        lon: 139.69,
        metro: None,
    },
    City {
        name: "Mumbai",
        geoname_id: Some(1275339),
        subdivision: Some(("MH", "Maharashtra", 1264418)),
        country: ("IN", "India", 1269750),
        lat: 19.08,
        lon: 72.88,
        metro: None,
    },
    City {
        name: "Sydney",
        geoname_id: Some(2147714),
        subdivision: Some(("NSW", "New South Wales", 2155400)),
        country: ("AU", "Australia", 2077456),
        lat: -33.87,
        lon: 151.21,
        metro: None,
    },
];

/// Places whose records are shaped unlike most: their networks join the world after the
/// weights of the cities above are set, so those keep their proportions across versions.
const ODD_PLACES: &[City] = &[
    // A city-state: GeoLite2 gives Singapore's networks a city and no subdivision.
    City {
        name: "Singapore",
        geoname_id: Some(1880252),
        subdivision: None,
        country: ("SG", "Singapore", 1880251),
        lat: 1.29,
        lon: 103.85,
        metro: None,
    },
    // Mobile networks are often placed only in their country, at its centroid.
    City {
        name: "(Germany)",
        geoname_id: None,
        subdivision: None,
        country: ("DE", "Germany", 2921044),
        lat: 51.30,
        lon: 9.49,
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
    (64507, "Merlion Broadband", &["SG"]),
    (
        65536,
        "Globex Transit",
        &["US", "GB", "DE", "FR", "JP", "BR", "IN", "AU", "SG"],
    ),
];

/// The mobile carrier, the one ISP with networks placed only in a country.
const MOBILE_ASN: u32 = 64498;

/// Networks the city database splits each city-network's prefix into, each placed apart (as
/// GeoLite2 places every network of a city at its own coordinates, with its own postal code and
/// accuracy radius): a /24 becomes four /26, a /48 four /50.
const SUBNETS_PER_NETWORK: u32 = 4;

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
    for city in CITIES {
        add_networks(city, &mut networks);
    }
    let n_weighted = networks.len();
    for city in ODD_PLACES {
        add_networks(city, &mut networks);
    }
    // Heavy-tailed: a few city-networks carry most traffic, in a seed-independent order; the
    // odd places' networks sit in the tail.
    for (rank, network) in networks.iter_mut().enumerate() {
        let shuffled = if rank < n_weighted {
            (rank * 7 + 3) % n_weighted
        } else {
            rank
        };
        network.weight = 1.0 / (shuffled as f64 + 1.0).powf(1.1);
    }
    networks
}

/// A city's network of every ISP serving its country (only the mobile carrier's where the
/// place is a country).
fn add_networks(city: &'static City, networks: &mut Vec<Network>) {
    for &(asn, as_name, countries) in ISPS {
        let country_only = city.geoname_id.is_none();
        if !countries.contains(&city.country.0) || (country_only && asn != MOBILE_ASN) {
            continue;
        }
        let index = networks.len() as u32;
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
    }
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
        .flat_map(|network| (0..SUBNETS_PER_NETWORK).map(move |part| city_record(network, part)))
        .collect();
    let source = |database_type: &str, networks: Vec<serde_json::Value>| {
        serde_json::json!({"database_type": database_type, "ip_version": 6, "build_epoch": DAY_START,
            "languages": ["en"], "description": {"en": "flowatlas demo world"}, "networks": networks})
        .to_string()
    };
    (source("GeoLite2-ASN", asn), source("GeoLite2-City", city))
}

/// Where the city database places one of a network's subnets: coordinates scattered up to
/// about 25 km around the city (the country's centroid for a country-only place), an accuracy
/// radius and a postal code of its own.
struct SubnetPlace {
    latitude: f64,
    longitude: f64,
    accuracy_radius: u32,
    postal_code: String,
}

fn subnet_place(network: &Network, part: u32) -> SubnetPlace {
    let city = network.city;
    let mut scatter = Random(u64::from(network.index) << 8 | u64::from(part));
    let mut near =
        |center: f64| ((center + 0.25 * (2.0 * scatter.unit() - 1.0)) * 1e4).round() / 1e4;
    let (latitude, longitude) = match city.geoname_id {
        Some(_) => (near(city.lat), near(city.lon)),
        None => (city.lat, city.lon),
    };
    let accuracy_radius = match city.geoname_id {
        Some(_) => [5, 10, 20, 50, 100, 200, 500][scatter.below(7) as usize],
        None => 1000,
    };
    SubnetPlace {
        latitude,
        longitude,
        accuracy_radius,
        postal_code: format!("{}{}", &city.country.0[..1], 1000 + scatter.below(9000)),
    }
}

/// The city database's record of one of a network's subnets, shaped as GeoLite2 City's.
fn city_record(network: &Network, part: u32) -> serde_json::Value {
    let city = network.city;
    let place = subnet_place(network, part);
    let mut location = serde_json::json!({
        "latitude": place.latitude,
        "longitude": place.longitude,
        "accuracy_radius": place.accuracy_radius,
    });
    if let Some(metro) = city.metro {
        location["metro_code"] = metro.into();
    }
    let (code, name, geoname_id) = city.country;
    let mut data = serde_json::json!({
        "country": {"geoname_id": geoname_id, "iso_code": code, "names": {"en": name}},
        "location": location,
    });
    if let Some(city_geoname_id) = city.geoname_id {
        data["city"] =
            serde_json::json!({"geoname_id": city_geoname_id, "names": {"en": city.name}});
        data["postal"] = serde_json::json!({"code": place.postal_code});
        if let Some((code, name, geoname_id)) = city.subdivision {
            data["subdivisions"] = serde_json::json!([{"geoname_id": geoname_id, "iso_code": code, "names": {"en": name}}]);
        }
    }
    serde_json::json!({"network": subnet(network, part), "data": data})
}

/// One of the [`SUBNETS_PER_NETWORK`] equal parts of a network's prefix.
fn subnet(network: &Network, part: u32) -> String {
    if network.v6 {
        format!("2001:db8:{:x}:{:x}::/50", 0x100 + network.index, part << 14)
    } else {
        format!(
            "198.{}.{}.{}/26",
            18 + network.index / 256,
            network.index % 256,
            part * 64
        )
    }
}

fn host_of(network: &Network, random: &mut Random) -> String {
    let host = random.below(250) + 2;
    if network.v6 {
        let part = random.below(u64::from(SUBNETS_PER_NETWORK));
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            0x100 + network.index,
            part << 14,
            host
        )
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
        assert_eq!(countries.len(), 9);
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
