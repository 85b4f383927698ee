//! Rolls internet traffic up into 5-minute windows by service location and client
//! city-network, and by service location and client prefix. Every measure but `client_ips` is
//! additive, so rows of different objects can be summed exactly.
//!
//! # Overview
//!
//! [`Rollup::add`] takes a record and its [`Peer`]; internet peers are summed per window,
//! service location and address, everything else goes into the [`RollupSummary`], so that the
//! bytes of OK records always equal the rows' `bytes_in + bytes_out` plus the summary's other
//! bytes. [`Rollup::finish`] enriches each address once and returns [`CityNetworkRow`]s and
//! [`PrefixRow`]s in a stable order.
//! [`TcpStatsRow`]s are the agent's measurements of TCP connections, with their mergeable
//! [`RttHistogram`]; [`client_prefix`] is the one place an address becomes its prefix.
#![deny(missing_docs)]

mod rtt;

pub use rtt::{
    CityNetworkPerformanceRow, Performance, PerformanceRollup, PrefixPerformanceRow,
    RTT_RELATIVE_ERROR, RttHistogram, RttSource, TcpMeasures, TcpStatsRow,
};

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::AddAssign;
use std::sync::Arc;

use flowatlas_flowlog::{Field, Record};
use flowatlas_geo::{Direction, Enricher, Enrichment, Facts, IpNetwork, Peer, PeerKind};

/// Length of a window, in seconds.
pub const WINDOW_SECONDS: i64 = 300;

/// Where the traffic was served: the columns every table starts with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceLocation {
    /// AWS account.
    pub account_id: Option<Arc<str>>,
    /// AWS Region.
    pub region: Option<Arc<str>>,
    /// Availability Zone ID.
    pub az_id: Option<Arc<str>>,
    /// VPC of the service's interface.
    pub vpc_id: Option<Arc<str>>,
}

/// How to roll up.
#[derive(Clone, Debug)]
pub struct RollupConfig {
    /// Client prefix length for IPv4 peers (24 by default in the CLI).
    pub prefix_len_v4: u8,
    /// Client prefix length for IPv6 peers (48 by default in the CLI).
    pub prefix_len_v6: u8,
    /// Service location used where a record has none (from the S3 key or the user's flags).
    pub default_location: ServiceLocation,
}

/// Parses client prefix lengths as `V4,V6` (e.g. `24,48`), as the CLI and the Lambda take them.
pub fn parse_prefix_lengths(text: &str) -> Result<(u8, u8), String> {
    let (v4, v6) = text.split_once(',').ok_or("expected V4,V6, e.g. 24,48")?;
    let v4: u8 = v4
        .trim()
        .parse()
        .map_err(|_| format!("{v4:?} is not a prefix length"))?;
    let v6: u8 = v6
        .trim()
        .parse()
        .map_err(|_| format!("{v6:?} is not a prefix length"))?;
    if v4 > 32 || v6 > 128 {
        return Err(format!(
            "{v4},{v6}: IPv4 lengths go up to 32 and IPv6 up to 128"
        ));
    }
    Ok((v4, v6))
}

/// The client prefix of an address: its network of `prefix_len_v4` or `prefix_len_v6` bits
/// (the address itself when a length is out of range).
pub fn client_prefix(ip: IpAddr, prefix_len_v4: u8, prefix_len_v6: u8) -> IpNetwork {
    let prefix_len = if ip.is_ipv4() {
        prefix_len_v4
    } else {
        prefix_len_v6
    };
    IpNetwork::new(ip, prefix_len)
        .and_then(|network| IpNetwork::new(network.network(), prefix_len))
        .unwrap_or_else(|_| IpNetwork::from(ip))
}

/// The additive measures of a row. `in` is peer → us, `out` is us → peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measures {
    /// Bytes from the peer.
    pub bytes_in: i64,
    /// Bytes to the peer.
    pub bytes_out: i64,
    /// Packets from the peer.
    pub packets_in: i64,
    /// Packets to the peer.
    pub packets_out: i64,
    /// Flow records (`accepted_flows + rejected_flows`).
    pub flows: i64,
    /// Records with `action` ACCEPT (or no `action` in the format).
    pub accepted_flows: i64,
    /// Records with `action` REJECT; their bytes and packets count too, they reached the interface.
    pub rejected_flows: i64,
    /// Inbound records whose flags show a SYN without SYN-ACK.
    pub tcp_syn_in: i64,
    /// Outbound records whose flags show a SYN without SYN-ACK.
    pub tcp_syn_out: i64,
    /// Inbound records with SYN-ACK.
    pub tcp_synack_in: i64,
    /// Outbound records with SYN-ACK.
    pub tcp_synack_out: i64,
    /// Inbound records with FIN.
    pub tcp_fin_in: i64,
    /// Outbound records with FIN.
    pub tcp_fin_out: i64,
    /// Inbound records with RST.
    pub tcp_rst_in: i64,
    /// Outbound records with RST.
    pub tcp_rst_out: i64,
}

const FIN: i64 = 1;
const SYN: i64 = 2;
const RST: i64 = 4;
const SYN_ACK: i64 = 18;

impl Measures {
    fn add_record(&mut self, record: &Record<'_>, direction: Direction) {
        let bytes = record.int(Field::Bytes).unwrap_or(0);
        let packets = record.int(Field::Packets).unwrap_or(0);
        let inbound = direction == Direction::In;
        let (bytes_total, packets_total) = if inbound {
            (&mut self.bytes_in, &mut self.packets_in)
        } else {
            (&mut self.bytes_out, &mut self.packets_out)
        };
        *bytes_total = bytes_total.saturating_add(bytes);
        *packets_total = packets_total.saturating_add(packets);
        self.flows += 1;
        if record.text(Field::Action) == Some("REJECT") {
            self.rejected_flows += 1;
        } else {
            self.accepted_flows += 1;
        }
        let is_tcp = record
            .int(Field::Protocol)
            .is_none_or(|protocol| protocol == 6);
        let Some(flags) = record.int(Field::TcpFlags).filter(|_| is_tcp) else {
            return;
        };
        let count = |condition: bool| i64::from(condition);
        let (syn, synack, fin, rst) = (
            count(flags & SYN_ACK == SYN),
            count(flags & SYN_ACK == SYN_ACK),
            count(flags & FIN != 0),
            count(flags & RST != 0),
        );
        if inbound {
            self.tcp_syn_in += syn;
            self.tcp_synack_in += synack;
            self.tcp_fin_in += fin;
            self.tcp_rst_in += rst;
        } else {
            self.tcp_syn_out += syn;
            self.tcp_synack_out += synack;
            self.tcp_fin_out += fin;
            self.tcp_rst_out += rst;
        }
    }
}

/// Sums saturate at `i64::MAX` rather than wrap: a measure that reached it reads as "at least
/// this much", never as a small or negative number.
impl AddAssign for Measures {
    fn add_assign(&mut self, other: Measures) {
        let sums = [
            (&mut self.bytes_in, other.bytes_in),
            (&mut self.bytes_out, other.bytes_out),
            (&mut self.packets_in, other.packets_in),
            (&mut self.packets_out, other.packets_out),
            (&mut self.flows, other.flows),
            (&mut self.accepted_flows, other.accepted_flows),
            (&mut self.rejected_flows, other.rejected_flows),
            (&mut self.tcp_syn_in, other.tcp_syn_in),
            (&mut self.tcp_syn_out, other.tcp_syn_out),
            (&mut self.tcp_synack_in, other.tcp_synack_in),
            (&mut self.tcp_synack_out, other.tcp_synack_out),
            (&mut self.tcp_fin_in, other.tcp_fin_in),
            (&mut self.tcp_fin_out, other.tcp_fin_out),
            (&mut self.tcp_rst_in, other.tcp_rst_in),
            (&mut self.tcp_rst_out, other.tcp_rst_out),
        ];
        for (total, add) in sums {
            *total = total.saturating_add(add);
        }
    }
}

impl Measures {
    /// Bytes both ways, saturating like every sum of measures.
    pub fn bytes(&self) -> i64 {
        self.bytes_in.saturating_add(self.bytes_out)
    }
}

/// What makes rows the same client city-network within one service location: Internet
/// Monitor's (ASN, place). The place is the database's GeoNames id when it has one (stable
/// across releases and spellings), else the country code, subdivision (code, else name) and
/// city. Coordinates, postal code, metro code and names are attributes of a city-network, never
/// part of it: real databases give each network of a city its own coordinates.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CityNetworkKey {
    /// AS number; `None` when unknown.
    pub asn: Option<u32>,
    /// Where the clients are.
    pub place: Place,
}

/// The place half of a [`CityNetworkKey`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    /// A GeoNames id (a city's, else a subdivision's, else a country's).
    GeoName(u32),
    /// Names, for databases without GeoNames ids; unknown parts are `None`.
    Named {
        /// ISO country code.
        country_code: Option<Arc<str>>,
        /// Subdivision code, else its name.
        subdivision: Option<Arc<str>>,
        /// City name.
        city: Option<Arc<str>>,
    },
}

impl CityNetworkKey {
    /// The key of a client's facts.
    pub fn of(facts: &Facts) -> CityNetworkKey {
        let place = match facts.geoname_id {
            Some(id) => Place::GeoName(id),
            None => Place::Named {
                country_code: facts.country_code.clone(),
                subdivision: facts
                    .subdivision_code
                    .clone()
                    .or_else(|| facts.subdivision.clone()),
                city: facts.city.clone(),
            },
        };
        CityNetworkKey {
            asn: facts.asn,
            place,
        }
    }

    /// The key as text ([`Display`](std::fmt::Display)'s), built in one allocation without the
    /// formatting machinery: the `city_networks` table writes one per row, and piece by piece
    /// formatting took about 1,700 instructions each.
    pub fn text(&self) -> String {
        let mut ints = itoa::Buffer::new();
        let mut text = String::with_capacity(48);
        text.push_str("AS");
        if let Some(asn) = self.asn {
            text.push_str(ints.format(asn));
        }
        match &self.place {
            Place::GeoName(id) => {
                text.push_str("|geoname:");
                text.push_str(ints.format(*id));
            }
            Place::Named {
                country_code,
                subdivision,
                city,
            } => {
                for part in [country_code, subdivision, city] {
                    text.push('|');
                    text.push_str(part.as_deref().unwrap_or(""));
                }
            }
        }
        text
    }
}

/// As written in the `city_network_id` columns: `AS64499|geoname:2643743`, or
/// `AS64499|GB|ENG|London` without a GeoNames id; unknown parts are empty (`AS|GB||`).
impl std::fmt::Display for CityNetworkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

/// The facts a city-network row carries: the enrichment's, without the postal code, which
/// is finer than a city-network. Flow-log rollups and the agent's performance rows both take
/// them, and group them by [`CityNetworkKey::of`].
pub fn city_network_facts(enrichment: Option<&Enrichment>) -> Facts {
    let mut facts = enrichment
        .map(|enrichment| enrichment.facts.clone())
        .unwrap_or_default();
    facts.postal_code = None;
    facts
}

/// Enrichments whose id is remembered by address before the memo is cleared: every record an
/// override matches brings a new `Arc`, and memory must not grow with the object.
const MAX_REMEMBERED_ENRICHMENTS: usize = 64 * 1024;

/// Variants a rollup keeps numbered across [`Rollup::restart`]s before it starts over, so
/// that a worker that reads objects for hours holds a bounded interner.
const MAX_VARIANTS: usize = 256 * 1024;

/// The city-networks of a rollup, numbered, so that rows are keyed by a number rather than by
/// hashing and comparing the facts' strings (which showed in profiles). The numbering outlives
/// a rollup's objects ([`Rollup::restart`]): a worker's small objects mostly see the same
/// networks, and interning them again for every object showed in profiles too.
///
/// Two numberings: *variants* (distinct facts, coordinates included: one city-network has as
/// many as the networks of its city the database places apart) and *city-networks* (distinct
/// [`CityNetworkKey`]s). Rows are keyed by the city-network; the row's attributes are those of
/// its variant that carried the most bytes in the rollup, the first seen on a tie.
#[derive(Default)]
struct CityNetworks {
    variant_ids: foldhash::HashMap<Facts, u32>,
    variants: Vec<Variant>,
    key_ids: foldhash::HashMap<CityNetworkKey, u32>,
    keys: Vec<CityNetworkKey>,
    /// Each city-network's id as written (`CityNetworkKey`'s text), made when first needed.
    key_texts: Vec<Option<Arc<str>>>,
    /// The id of each enrichment already seen, by the address of its `Arc` (the enricher hands
    /// out the same `Arc` for every address of a cached network). The `Arc`s are held, so no
    /// address is reused while it is a key here.
    by_enrichment: foldhash::HashMap<usize, u32>,
    held: Vec<Arc<Enrichment>>,
    unenriched: Option<u32>,
    /// Which rollup the variants' bytes belong to: a variant last seen in an earlier one starts
    /// again from zero, so restarting costs nothing per variant.
    generation: u32,
    /// The variants seen in this generation, in the order first seen.
    seen: Vec<u32>,
}

struct Variant {
    facts: Facts,
    city_network: u32,
    generation: u32,
    bytes: i64,
}

impl CityNetworks {
    /// Starts a new rollup's count of bytes per variant.
    fn restart(&mut self) {
        if self.variants.len() >= MAX_VARIANTS {
            *self = CityNetworks::default();
            return;
        }
        self.generation = self.generation.wrapping_add(1);
        self.seen.clear();
    }

    /// The variant of an enrichment, with `bytes` more counted for it in this rollup.
    fn count(&mut self, enrichment: Option<&Arc<Enrichment>>, bytes: i64) -> u32 {
        let id = self.variant_of(enrichment);
        let variant = &mut self.variants[id as usize];
        if variant.generation != self.generation {
            variant.generation = self.generation;
            variant.bytes = 0;
            self.seen.push(id);
        }
        variant.bytes = variant.bytes.saturating_add(bytes);
        id
    }

    fn variant_of(&mut self, enrichment: Option<&Arc<Enrichment>>) -> u32 {
        let Some(enrichment) = enrichment else {
            if let Some(id) = self.unenriched {
                return id;
            }
            let id = self.intern(city_network_facts(None));
            self.unenriched = Some(id);
            return id;
        };
        let address = Arc::as_ptr(enrichment) as usize;
        if let Some(&id) = self.by_enrichment.get(&address) {
            return id;
        }
        let id = self.intern(city_network_facts(Some(enrichment)));
        if self.held.len() >= MAX_REMEMBERED_ENRICHMENTS {
            self.by_enrichment.clear();
            self.held.clear();
        }
        self.by_enrichment.insert(address, id);
        self.held.push(Arc::clone(enrichment));
        id
    }

    fn intern(&mut self, facts: Facts) -> u32 {
        if let Some(&id) = self.variant_ids.get(&facts) {
            return id;
        }
        let key = CityNetworkKey::of(&facts);
        let next_key = self.keys.len() as u32;
        let city_network = *self.key_ids.entry(key.clone()).or_insert(next_key);
        if city_network == next_key {
            self.keys.push(key);
            self.key_texts.push(None);
        }
        let id = self.variants.len() as u32;
        self.variants.push(Variant {
            facts: facts.clone(),
            city_network,
            // Not yet seen in any rollup.
            generation: self.generation.wrapping_sub(1),
            bytes: 0,
        });
        self.variant_ids.insert(facts, id);
        id
    }

    /// A city-network's id as written.
    fn key_text(&mut self, city_network: u32) -> Arc<str> {
        let slot = &mut self.key_texts[city_network as usize];
        slot.get_or_insert_with(|| Arc::from(self.keys[city_network as usize].text()))
            .clone()
    }

    /// The attributes of each city-network of this rollup: its heaviest variant's facts.
    fn attributes(&self) -> foldhash::HashMap<u32, &Facts> {
        let mut best: foldhash::HashMap<u32, &Variant> = foldhash::HashMap::default();
        for &id in &self.seen {
            let variant = &self.variants[id as usize];
            best.entry(variant.city_network)
                .and_modify(|current| {
                    if variant.bytes > current.bytes {
                        *current = variant;
                    }
                })
                .or_insert(variant);
        }
        best.into_iter()
            .map(|(city_network, variant)| (city_network, &variant.facts))
            .collect()
    }
}

/// A row of the `city_networks` table.
#[derive(Clone, Debug, PartialEq)]
pub struct CityNetworkRow {
    /// Start of the window, Unix seconds.
    pub window_start: i64,
    /// Where the traffic was served.
    pub location: ServiceLocation,
    /// Who the clients were: the identity ([`CityNetworkKey::of`]) and the attributes of the
    /// network of this city-network that carried the most bytes (no postal code).
    pub client: Facts,
    /// How much traffic.
    pub measures: Measures,
    /// Distinct peer addresses in the row.
    pub client_ips: i64,
}

/// A row of the `client_prefixes` table.
#[derive(Clone, Debug, PartialEq)]
pub struct PrefixRow {
    /// Start of the window, Unix seconds.
    pub window_start: i64,
    /// Where the traffic was served.
    pub location: ServiceLocation,
    /// The client prefix (/24 and /48 by default).
    pub client_prefix: IpNetwork,
    /// The city-network of the prefix's first enriched address ([`CityNetworkKey`] as text).
    pub city_network_id: Arc<str>,
    /// The prefix's AS number (from its first enriched address).
    pub client_asn: Option<u32>,
    /// The prefix's AS name.
    pub client_as_name: Option<Arc<str>>,
    /// The prefix's country code.
    pub client_country_code: Option<Arc<str>>,
    /// The prefix's city.
    pub client_city: Option<Arc<str>>,
    /// How much traffic.
    pub measures: Measures,
    /// Distinct peer addresses in the row.
    pub client_ips: i64,
}

/// What did not go into rows, so that every OK record's bytes are accounted for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollupSummary {
    /// OK records rolled up (internet peers).
    pub internet_records: u64,
    /// Bytes of OK records whose peer is not on the internet, by kind (aws, private, unknown).
    pub other_bytes: HashMap<&'static str, i64>,
    /// Records of each non-internet kind.
    pub other_records: HashMap<&'static str, u64>,
    /// Internet records without `start` and `end`, which no window can hold.
    pub unwindowed_records: u64,
    /// Their bytes.
    pub unwindowed_bytes: i64,
}

/// One client address's traffic in one window at one service location: what a rollup holds
/// while it reads. Rows are built from these when they are taken, so that a record costs one
/// lookup, and enrichment is paid per address rather than per record.
struct AddressTotals {
    key: AddressKey,
    measures: Measures,
}

/// Window start, service location and client address.
type AddressKey = (i64, u32, IpAddr);

/// A row's totals while rows are built: its measures and how many distinct addresses fed it.
#[derive(Default)]
struct RowTotals {
    measures: Measures,
    client_ips: i64,
}

impl RowTotals {
    fn add(&mut self, measures: Measures) {
        self.measures += measures;
        self.client_ips += 1;
    }
}

/// Addresses a rollup holds before [`Rollup::is_full`] says to take its rows: about 200 bytes
/// each while reading, and at most two rows each when taken, so that the rollup of one object
/// stays within tens of MiB whatever its number of distinct clients (a NAT gateway facing the
/// internet has millions).
pub const DEFAULT_ROW_BUDGET: usize = 100_000;

struct PrefixTotals {
    /// The variant of the prefix's first address.
    first: u32,
    totals: RowTotals,
}

/// Rolls up one object's (or several objects') records.
pub struct Rollup {
    config: RollupConfig,
    locations: Vec<ServiceLocation>,
    /// The location of records whose format has no location field, once known.
    format_location: Option<u32>,
    cities: CityNetworks,
    /// In the order first seen, which decides a prefix's first address.
    addresses: Vec<AddressTotals>,
    /// Each address's index in `addresses`, by window (its index in `window_ids`), location
    /// and address: looked up for almost every record, and most of a big object's time adding
    /// records was waiting for this table's memory, so its entries are 16 bytes (IPv4), not
    /// the 40 a full key took. foldhash, not SipHash, whose cost showed in profiles.
    v4_ids: foldhash::HashMap<(u32, u32, u32), u32>,
    v6_ids: foldhash::HashMap<(u32, u32, u128), u32>,
    /// The windows of the addresses held, numbered as first seen; never more than addresses.
    window_ids: foldhash::HashMap<i64, u32>,
    last_window: Option<(i64, u32)>,
    /// The address of the previous record: a connection's records often follow each other,
    /// and a repeat then costs a comparison instead of a hash.
    last: Option<(AddressKey, u32)>,
    summary: RollupSummary,
    budget: usize,
}

impl Rollup {
    /// An empty rollup.
    pub fn new(config: RollupConfig) -> Rollup {
        Rollup {
            config,
            locations: Vec::new(),
            format_location: None,
            cities: CityNetworks::default(),
            addresses: Vec::new(),
            v4_ids: foldhash::HashMap::default(),
            v6_ids: foldhash::HashMap::default(),
            window_ids: foldhash::HashMap::default(),
            last_window: None,
            last: None,
            summary: RollupSummary::default(),
            budget: DEFAULT_ROW_BUDGET,
        }
    }

    /// Makes the rollup empty for another object read with `config`, keeping what outlives an
    /// object: the numbering of city-networks and the room its maps have grown.
    pub fn restart(&mut self, config: RollupConfig) {
        self.config = config;
        self.locations.clear();
        self.format_location = None;
        self.cities.restart();
        self.addresses.clear();
        self.forget_address_ids();
        self.summary = RollupSummary::default();
    }

    /// The same rollup with another budget of addresses held (see [`Rollup::is_full`]).
    pub fn with_row_budget(mut self, budget: usize) -> Rollup {
        self.budget = budget.max(1);
        self
    }

    /// True when the rollup holds as many distinct (window, location, address) totals as its
    /// budget: the caller then takes the rows so far ([`Rollup::take_rows`]) and writes them,
    /// so memory stays bounded. Rows taken at different times may repeat a key; their measures
    /// add up (only `client_ips` counts an address once per row, not once per key).
    pub fn is_full(&self) -> bool {
        self.addresses.len() >= self.budget
    }

    /// Adds an OK record with its peer. Records of other kinds only count in the summary.
    pub fn add(&mut self, record: &Record<'_>, peer: &Peer) {
        let bytes = record.int(Field::Bytes).unwrap_or(0);
        let (PeerKind::Internet, Some(ip), Some(direction)) = (peer.kind, peer.ip, peer.direction)
        else {
            let other = self
                .summary
                .other_bytes
                .entry(peer.kind.name())
                .or_default();
            *other = other.saturating_add(bytes);
            *self
                .summary
                .other_records
                .entry(peer.kind.name())
                .or_default() += 1;
            return;
        };
        let Some(start) = record.int(Field::Start).or(record.int(Field::End)) else {
            self.summary.unwindowed_records += 1;
            self.summary.unwindowed_bytes = self.summary.unwindowed_bytes.saturating_add(bytes);
            return;
        };
        self.summary.internet_records += 1;
        let window_start = start - start.rem_euclid(WINDOW_SECONDS);
        let key = (window_start, self.location_of(record), ip);
        let id = match self.last {
            Some((last, id)) if last == key => id,
            _ => {
                let id = self.address_id(key);
                self.last = Some((key, id));
                id
            }
        };
        self.addresses[id as usize]
            .measures
            .add_record(record, direction);
    }

    /// The index in `addresses` of `key`, added when new.
    fn address_id(&mut self, key: AddressKey) -> u32 {
        let (window_start, location, ip) = key;
        let window = match self.last_window {
            Some((last, id)) if last == window_start => id,
            _ => {
                let next = self.window_ids.len() as u32;
                let id = *self.window_ids.entry(window_start).or_insert(next);
                self.last_window = Some((window_start, id));
                id
            }
        };
        let next = self.addresses.len() as u32;
        let id = match ip {
            IpAddr::V4(v4) => *self
                .v4_ids
                .entry((window, location, u32::from(v4)))
                .or_insert(next),
            IpAddr::V6(v6) => *self
                .v6_ids
                .entry((window, location, u128::from(v6)))
                .or_insert(next),
        };
        if id == next {
            self.addresses.push(AddressTotals {
                key,
                measures: Measures::default(),
            });
        }
        id
    }

    /// Empties the lookups of the addresses held, keeping their room.
    fn forget_address_ids(&mut self) {
        self.v4_ids.clear();
        self.v6_ids.clear();
        self.window_ids.clear();
        self.last_window = None;
        self.last = None;
    }

    /// What did not go into rows.
    pub fn summary(&self) -> &RollupSummary {
        &self.summary
    }

    /// Interns the record's service location (few per object, so a scan beats hashing text).
    fn location_of(&mut self, record: &Record<'_>) -> u32 {
        const LOCATION_FIELDS: [Field; 4] =
            [Field::AccountId, Field::Region, Field::AzId, Field::VpcId];
        let has_location = |field| record.format().position(field).is_some();
        if !LOCATION_FIELDS.into_iter().any(has_location) {
            if let Some(id) = self.format_location {
                return id;
            }
            let id = self.intern_location(record);
            self.format_location = Some(id);
            return id;
        }
        self.intern_location(record)
    }

    fn intern_location(&mut self, record: &Record<'_>) -> u32 {
        let defaults = &self.config.default_location;
        let field = |name: Field, default: &Option<Arc<str>>| -> Option<Arc<str>> {
            record.text(name).map(Arc::from).or_else(|| default.clone())
        };
        let same = |text: Option<&str>, stored: &Option<Arc<str>>, default: &Option<Arc<str>>| {
            match text {
                Some(text) => stored.as_deref() == Some(text),
                None => stored == default,
            }
        };
        let found = self.locations.iter().position(|location| {
            same(
                record.text(Field::AccountId),
                &location.account_id,
                &defaults.account_id,
            ) && same(
                record.text(Field::Region),
                &location.region,
                &defaults.region,
            ) && same(record.text(Field::AzId), &location.az_id, &defaults.az_id)
                && same(
                    record.text(Field::VpcId),
                    &location.vpc_id,
                    &defaults.vpc_id,
                )
        });
        if let Some(idx) = found {
            return idx as u32;
        }
        self.locations.push(ServiceLocation {
            account_id: field(Field::AccountId, &defaults.account_id),
            region: field(Field::Region, &defaults.region),
            az_id: field(Field::AzId, &defaults.az_id),
            vpc_id: field(Field::VpcId, &defaults.vpc_id),
        });
        (self.locations.len() - 1) as u32
    }

    /// The rows, ordered by window, location, then traffic (largest first), and the summary.
    /// The enricher, when there is one, places each address.
    pub fn finish(
        mut self,
        enricher: Option<&mut Enricher>,
    ) -> (Vec<CityNetworkRow>, Vec<PrefixRow>, RollupSummary) {
        let (city_rows, prefix_rows) = self.take_rows(enricher);
        (city_rows, prefix_rows, self.summary)
    }

    /// The rows so far, ordered as [`Rollup::finish`] orders them, leaving the rollup empty of
    /// rows (the summary and the city-networks' attributes go on).
    pub fn take_rows(
        &mut self,
        mut enricher: Option<&mut Enricher>,
    ) -> (Vec<CityNetworkRow>, Vec<PrefixRow>) {
        self.forget_address_ids();
        let mut city_networks: foldhash::HashMap<(i64, u32, u32), RowTotals> =
            foldhash::HashMap::default();
        let mut prefixes: foldhash::HashMap<(i64, u32, IpNetwork), PrefixTotals> =
            foldhash::HashMap::default();
        let (prefix_len_v4, prefix_len_v6) = (self.config.prefix_len_v4, self.config.prefix_len_v6);
        for address in self.addresses.drain(..) {
            let (window_start, location, ip) = address.key;
            let enrichment = enricher.as_deref_mut().map(|enricher| enricher.enrich(ip));
            let variant = self
                .cities
                .count(enrichment.as_ref(), address.measures.bytes());
            let client = self.cities.variants[variant as usize].city_network;
            city_networks
                .entry((window_start, location, client))
                .or_default()
                .add(address.measures);
            let prefix = client_prefix(ip, prefix_len_v4, prefix_len_v6);
            prefixes
                .entry((window_start, location, prefix))
                .or_insert_with(|| PrefixTotals {
                    first: variant,
                    totals: RowTotals::default(),
                })
                .totals
                .add(address.measures);
        }
        // Rows order by the locations' values; ranking them once spares comparing their text.
        let mut by_value: Vec<usize> = (0..self.locations.len()).collect();
        by_value.sort_by(|&a, &b| self.locations[a].cmp(&self.locations[b]));
        let mut rank = vec![0; by_value.len()];
        for (position, &location) in by_value.iter().enumerate() {
            rank[location] = position;
        }

        let attributes = self.cities.attributes();
        let mut city_networks: Vec<_> = city_networks.into_iter().collect();
        city_networks.sort_by(
            |((a_window, a_location, a_key), a), ((b_window, b_location, b_key), b)| {
                (a_window, rank[*a_location as usize], b.measures.bytes())
                    .cmp(&(b_window, rank[*b_location as usize], a.measures.bytes()))
                    .then_with(|| {
                        self.cities.keys[*a_key as usize].cmp(&self.cities.keys[*b_key as usize])
                    })
            },
        );
        let city_rows: Vec<CityNetworkRow> = city_networks
            .into_iter()
            .map(
                |((window_start, location, client), totals)| CityNetworkRow {
                    window_start,
                    location: self.locations[location as usize].clone(),
                    client: attributes
                        .get(&client)
                        .map_or_else(Facts::default, |&facts| facts.clone()),
                    measures: totals.measures,
                    client_ips: totals.client_ips,
                },
            )
            .collect();
        drop(attributes);

        let mut prefixes: Vec<_> = prefixes
            .into_iter()
            .map(|(key, totals)| (PrefixOrder::of(key, &rank), totals))
            .collect();
        prefixes.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        let mut prefix_rows = Vec::with_capacity(prefixes.len());
        for (order, accumulated) in prefixes {
            let (window_start, location, client_prefix) = order.key;
            let first = accumulated.first as usize;
            let city_network_id = self
                .cities
                .key_text(self.cities.variants[first].city_network);
            let first = &self.cities.variants[first].facts;
            prefix_rows.push(PrefixRow {
                window_start,
                location: self.locations[location as usize].clone(),
                client_prefix,
                city_network_id,
                client_asn: first.asn,
                client_as_name: first.as_name.clone(),
                client_country_code: first.country_code.clone(),
                client_city: first.city.clone(),
                measures: accumulated.totals.measures,
                client_ips: accumulated.totals.client_ips,
            });
        }
        (city_rows, prefix_rows)
    }
}

/// Where a prefix row goes: by window, location, then the prefix as text (as it is written),
/// made once per row without allocating.
struct PrefixOrder {
    location_rank: usize,
    text: [u8; PREFIX_TEXT_MAX],
    text_len: u8,
    key: (i64, u32, IpNetwork),
}

/// `ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128`, the longest prefix text.
const PREFIX_TEXT_MAX: usize = 43;

impl PrefixOrder {
    fn of(key: (i64, u32, IpNetwork), rank: &[usize]) -> PrefixOrder {
        let mut text = [0; PREFIX_TEXT_MAX];
        let text_len = match key.2 {
            IpNetwork::V4(network) => {
                ipv4_prefix_text(&mut text, network.ip(), network.prefix()) as u8
            }
            IpNetwork::V6(network) => {
                let mut cursor = std::io::Cursor::new(&mut text[..]);
                // The buffer holds the longest text, so the write cannot fall short.
                let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{network}"));
                cursor.position() as u8
            }
        };
        PrefixOrder {
            location_rank: rank[key.1 as usize],
            text,
            text_len,
            key,
        }
    }

    fn text(&self) -> &[u8] {
        &self.text[..usize::from(self.text_len)]
    }
}

/// Writes `a.b.c.d/len` at the start of `out`, as `Display` writes it but without the
/// formatting machinery (about 1,450 instructions a prefix row), and returns its length.
fn ipv4_prefix_text(out: &mut [u8; PREFIX_TEXT_MAX], ip: std::net::Ipv4Addr, prefix: u8) -> usize {
    let mut ints = itoa::Buffer::new();
    let mut len = 0;
    let mut push = |bytes: &[u8]| {
        // At most 18 bytes (`255.255.255.255/32`) go into 43.
        out[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    for (index, octet) in ip.octets().into_iter().enumerate() {
        if index > 0 {
            push(b".");
        }
        push(ints.format(octet).as_bytes());
    }
    push(b"/");
    push(ints.format(prefix).as_bytes());
    len
}

impl PartialEq for PrefixOrder {
    fn eq(&self, other: &PrefixOrder) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for PrefixOrder {}

impl PartialOrd for PrefixOrder {
    fn partial_cmp(&self, other: &PrefixOrder) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PrefixOrder {
    fn cmp(&self, other: &PrefixOrder) -> std::cmp::Ordering {
        (self.key.0, self.location_rank, self.text()).cmp(&(
            other.key.0,
            other.location_rank,
            other.text(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_prefix_text_is_what_display_writes() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut samples = vec![(0, 0), (u32::MAX, 32), (0x0a00_0700, 24), (0x0116_8504, 9)];
        for _ in 0..2_000 {
            // xorshift: addresses of every digit count, prefixes of every length.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            samples.push((state as u32, (state >> 32) as u8 % 33));
        }
        for (bits, prefix) in samples {
            let ip = std::net::Ipv4Addr::from_bits(bits);
            let mut out = [0; PREFIX_TEXT_MAX];
            let len = ipv4_prefix_text(&mut out, ip, prefix);
            assert_eq!(
                std::str::from_utf8(&out[..len]).unwrap(),
                format!("{ip}/{prefix}")
            );
        }
    }

    #[test]
    fn keys_without_geonames_ids_name_their_place() {
        let key = CityNetworkKey {
            asn: Some(64_499),
            place: Place::Named {
                country_code: Some(Arc::from("GB")),
                subdivision: Some(Arc::from("ENG")),
                city: Some(Arc::from("London")),
            },
        };
        assert_eq!(key.text(), "AS64499|GB|ENG|London");
        let unknown = CityNetworkKey {
            asn: None,
            place: Place::Named {
                country_code: Some(Arc::from("GB")),
                subdivision: None,
                city: None,
            },
        };
        assert_eq!(unknown.to_string(), "AS|GB||");
    }
}
