//! The demo's day of flow-log objects: two interfaces (the default v2 format and a custom v5
//! one) writing gzip objects with header lines under AWS's S3 key layout, traffic that follows
//! each network's weight and local evening, rejected scans, NODATA, IPv6 — and the incident.

use std::f64::consts::PI;
use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use flowatlas_flowlog::{Field, Format};

use crate::random::Random;
use crate::world::{Network, database_sources, host_of, world};
use crate::{ACCOUNT, DAY_START, Demo, DemoError, Incident, REGION};

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
    use crate::world::world;

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
