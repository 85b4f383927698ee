//! Which side of a flow is the internet client, and what kind of peer it is.

// Consulted on every record: foldhash, not SipHash, whose cost showed in profiles.
use foldhash::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use flowatlas_flowlog::{Field, Record};
use ipnetwork::IpNetwork;
use serde::Deserialize;

use crate::prefix_map::PrefixMap;

/// The side of the record the peer is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The source address (`pkt-srcaddr`, else `srcaddr`).
    Src,
    /// The destination address (`pkt-dstaddr`, else `dstaddr`).
    Dst,
}

impl Side {
    /// `src` or `dst`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Src => "src",
            Side::Dst => "dst",
        }
    }
}

/// What the peer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// A client on the internet: the one enriched and rolled up.
    Internet,
    /// An AWS service address (`pkt-*-aws-service`, or the user's `ip-ranges.json`).
    Aws,
    /// Both sides are local: internal traffic.
    Private,
    /// Could not be decided (both public with no direction and no known own address, or an
    /// address missing): counted, never guessed.
    Unknown,
}

impl PeerKind {
    /// Every kind, for reports.
    pub const ALL: [PeerKind; 4] = [
        PeerKind::Internet,
        PeerKind::Aws,
        PeerKind::Private,
        PeerKind::Unknown,
    ];

    /// `internet`, `aws`, `private` or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Internet => "internet",
            PeerKind::Aws => "aws",
            PeerKind::Private => "private",
            PeerKind::Unknown => "unknown",
        }
    }
}

/// Which way the record's bytes went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Peer → us.
    In,
    /// Us → peer.
    Out,
}

impl Direction {
    /// `in` or `out`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// The other end of a flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Peer {
    /// Which side it is on; `None` for private and undecidable flows.
    pub side: Option<Side>,
    /// What it is.
    pub kind: PeerKind,
    /// Its address, when a side was chosen.
    pub ip: Option<IpAddr>,
    /// Which way the bytes went, when a side was chosen.
    pub direction: Option<Direction>,
    /// The AWS service named for the peer, for kind `aws`.
    pub aws_service: Option<Arc<str>>,
}

/// Why the peer rules could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// A `--local-cidr` that is not a network.
    #[error("local CIDR {0:?} is not a network (expected e.g. 10.0.0.0/8 or 2600:1f18::/36)")]
    LocalCidr(String),
    /// An `ip-ranges.json` that cannot be read.
    #[error("AWS ip-ranges: {0}")]
    AwsRanges(String),
}

/// What makes an address local, and which addresses belong to AWS.
#[derive(Clone, Debug, Default)]
pub struct PeerRules {
    own_networks: PrefixMap<()>,
    aws_networks: PrefixMap<Arc<str>>,
}

#[derive(Deserialize)]
struct IpRanges {
    #[serde(default)]
    prefixes: Vec<IpRange>,
    #[serde(default)]
    ipv6_prefixes: Vec<IpRange>,
}

#[derive(Deserialize)]
struct IpRange {
    #[serde(alias = "ipv6_prefix")]
    ip_prefix: String,
    service: String,
}

impl PeerRules {
    /// Rules from the user's own networks (`--local-cidr`) and AWS's `ip-ranges.json` text.
    pub fn new(
        local_cidrs: &[String],
        aws_ip_ranges_json: Option<&str>,
    ) -> Result<PeerRules, RulesError> {
        let mut rules = PeerRules::default();
        for cidr in local_cidrs {
            let network: IpNetwork = cidr
                .parse()
                .map_err(|_| RulesError::LocalCidr(cidr.clone()))?;
            rules.own_networks.insert(network, ());
        }
        if let Some(json) = aws_ip_ranges_json {
            let ranges: IpRanges = serde_json::from_str(json)
                .map_err(|error| RulesError::AwsRanges(error.to_string()))?;
            for range in ranges.prefixes.iter().chain(&ranges.ipv6_prefixes) {
                let network: IpNetwork = range.ip_prefix.parse().map_err(|_| {
                    RulesError::AwsRanges(format!("{:?} is not a network", range.ip_prefix))
                })?;
                let service: Arc<str> = Arc::from(range.service.as_str());
                // AWS lists each prefix under AMAZON and again under its service; keep the service.
                match rules.aws_networks.get_mut(network) {
                    Some(existing) if &**existing == "AMAZON" => *existing = service,
                    Some(_) => {}
                    None => {
                        rules.aws_networks.insert(network, service);
                    }
                }
            }
        }
        Ok(rules)
    }

    /// True for addresses that are never internet clients, or that the user declared their own.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        is_special(ip) || self.own_networks.longest_match(ip).is_some()
    }
}

/// RFC 1918, shared (100.64/10), link-local, loopback, unspecified, multicast, broadcast, ULA.
/// Documentation ranges are deliberately public: AWS's own examples use them as peers.
fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_special_v4(v4),
            None => is_special_v6(v6),
        },
    }
}

fn is_special_v4(v4: Ipv4Addr) -> bool {
    let [first, second, ..] = v4.octets();
    v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_multicast()
        || v4.is_broadcast()
        || first == 0
        || (first == 100 && (second & 0xc0) == 64)
}

fn is_special_v6(v6: Ipv6Addr) -> bool {
    let first = v6.segments()[0];
    v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// Records an interface must show before its own address is trusted.
const MIN_RECORDS_TO_LEARN: u32 = 8;
/// Share of an interface's records an address must appear in to be the interface's own.
const OWN_ADDRESS_SHARE: f64 = 0.9;
/// Distinct addresses tracked per interface; its own address shows up long before this.
const MAX_TRACKED_ADDRESSES: usize = 256;

#[derive(Default)]
struct InterfaceAddresses {
    n_records: u32,
    seen: HashMap<IpAddr, u32>,
}

impl InterfaceAddresses {
    fn observe(&mut self, src: IpAddr, dst: IpAddr) {
        self.n_records = self.n_records.saturating_add(1);
        for ip in [src, dst] {
            if let Some(count) = self.seen.get_mut(&ip) {
                *count += 1;
            } else if self.seen.len() < MAX_TRACKED_ADDRESSES {
                self.seen.insert(ip, 1);
            }
        }
    }

    fn is_own(&self, ip: IpAddr) -> bool {
        self.n_records >= MIN_RECORDS_TO_LEARN
            && self.seen.get(&ip).is_some_and(|&count| {
                f64::from(count) >= OWN_ADDRESS_SHARE * f64::from(self.n_records)
            })
    }
}

/// Finds the peer of each record of one object, learning each interface's own addresses as it
/// goes (for public-to-public flows without `flow-direction`).
pub struct PeerFinder<'r> {
    rules: &'r PeerRules,
    interfaces: HashMap<Box<str>, InterfaceAddresses>,
    counts: HashMap<PeerKind, u64>,
}

impl<'r> PeerFinder<'r> {
    /// A finder for one object.
    pub fn new(rules: &'r PeerRules) -> PeerFinder<'r> {
        PeerFinder {
            rules,
            interfaces: HashMap::default(),
            counts: HashMap::default(),
        }
    }

    /// Peers found so far, by kind.
    pub fn count(&self, kind: PeerKind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// The peer of a record.
    pub fn find(&mut self, record: &Record<'_>) -> Peer {
        let peer = self.decide(record);
        *self.counts.entry(peer.kind).or_default() += 1;
        peer
    }

    fn decide(&mut self, record: &Record<'_>) -> Peer {
        let canonical = |ip: IpAddr| ip.to_canonical();
        let src = record
            .ip(Field::PktSrcaddr)
            .or(record.ip(Field::Srcaddr))
            .map(canonical);
        let dst = record
            .ip(Field::PktDstaddr)
            .or(record.ip(Field::Dstaddr))
            .map(canonical);
        let (Some(src), Some(dst)) = (src, dst) else {
            return undecided(PeerKind::Unknown);
        };
        if let Some(interface) = record.text(Field::InterfaceId) {
            match self.interfaces.get_mut(interface) {
                Some(addresses) => addresses.observe(src, dst),
                None => {
                    let mut addresses = InterfaceAddresses::default();
                    addresses.observe(src, dst);
                    self.interfaces.insert(interface.into(), addresses);
                }
            }
        }
        let side = match (self.rules.is_local(src), self.rules.is_local(dst)) {
            (true, true) => return undecided(PeerKind::Private),
            (false, true) => Side::Src,
            (true, false) => Side::Dst,
            (false, false) => match record.text(Field::FlowDirection) {
                Some("ingress") => Side::Src,
                Some("egress") => Side::Dst,
                _ => {
                    let own = record
                        .text(Field::InterfaceId)
                        .and_then(|id| self.interfaces.get(id));
                    match own {
                        Some(addresses) if addresses.is_own(dst) && !addresses.is_own(src) => {
                            Side::Src
                        }
                        Some(addresses) if addresses.is_own(src) && !addresses.is_own(dst) => {
                            Side::Dst
                        }
                        _ => return undecided(PeerKind::Unknown),
                    }
                }
            },
        };
        let (ip, direction, service_field) = match side {
            Side::Src => (src, Direction::In, Field::PktSrcAwsService),
            Side::Dst => (dst, Direction::Out, Field::PktDstAwsService),
        };
        let aws_service = match record.text(service_field) {
            Some(service) => Some(Arc::from(service)),
            None => self
                .rules
                .aws_networks
                .longest_match(ip)
                .map(|(_, service)| service.clone()),
        };
        Peer {
            side: Some(side),
            kind: if aws_service.is_some() {
                PeerKind::Aws
            } else {
                PeerKind::Internet
            },
            ip: Some(ip),
            direction: Some(direction),
            aws_service,
        }
    }
}

fn undecided(kind: PeerKind) -> Peer {
    Peer {
        side: None,
        kind,
        ip: None,
        direction: None,
        aws_service: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_ranges() {
        let rules = PeerRules::new(&["198.18.0.0/15".to_string()], None).unwrap();
        for local in [
            "10.1.2.3",
            "172.31.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.1.1",
            "127.0.0.1",
            "0.0.0.0",
            "224.0.0.5",
            "255.255.255.255",
            "198.19.1.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(rules.is_local(local.parse().unwrap()), "{local}");
        }
        for public in [
            "203.0.113.5",
            "198.51.100.7",
            "100.128.0.1",
            "52.95.128.179",
            "2600:1f18::1",
            "2001:db8::1",
        ] {
            assert!(!rules.is_local(public.parse().unwrap()), "{public}");
        }
        assert!(PeerRules::new(&["10.0.0.0/33".to_string()], None).is_err());
    }

    #[test]
    fn aws_ranges_prefer_the_service_over_amazon() {
        let json = r#"{"prefixes":[{"ip_prefix":"52.95.128.0/21","region":"ap-southeast-2","service":"AMAZON"},
            {"ip_prefix":"52.95.128.0/21","region":"ap-southeast-2","service":"S3"}],
            "ipv6_prefixes":[{"ipv6_prefix":"2600:1f14::/35","region":"us-west-2","service":"EC2"}]}"#;
        let rules = PeerRules::new(&[], Some(json)).unwrap();
        let service = |ip: &str| {
            rules
                .aws_networks
                .longest_match(ip.parse().unwrap())
                .map(|(_, s)| s.to_string())
        };
        assert_eq!(service("52.95.128.179").as_deref(), Some("S3"));
        assert_eq!(service("2600:1f14::1").as_deref(), Some("EC2"));
        assert_eq!(service("52.96.0.1"), None);
    }
}
