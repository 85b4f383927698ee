//! What the engine reads: rollup rows summed per window and per city-network (Availability
//! Zones and VPCs of one Region add up, as Internet Monitor reports per Region), and per client
//! prefix, for naming the prefixes of an incident; and the performance tables' rows (RTT
//! histograms and retransmissions) the same way, kept apart per RTT source.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use flowatlas_geo::Facts;
use flowatlas_rollup::{
    CityNetworkKey, CityNetworkPerformanceRow, CityNetworkRow, Measures, Performance,
    PrefixPerformanceRow, PrefixRow, RttSource, ServiceLocation, WINDOW_SECONDS,
};

use crate::resume::CityNetworkState;

/// A client city-network as seen from one service location (account and Region).
#[derive(Clone, Debug, PartialEq)]
pub struct CityNetwork {
    /// AWS account of the service.
    pub account_id: Option<Arc<str>>,
    /// AWS Region of the service.
    pub region: Option<Arc<str>>,
    /// The clients' AS and place ([`CityNetworkKey::of`] them is the identity); the other facts
    /// (names, coordinates) are those of its row with the most bytes, the first read on a tie.
    pub client: Facts,
}

impl CityNetwork {
    /// `AS64499 Albion Broadband, London, GB`, with `(unknown)` parts left out.
    pub fn label(&self) -> String {
        let client = &self.client;
        let network = match (client.asn, client.as_name.as_deref()) {
            (Some(asn), Some(name)) => format!("AS{asn} {name}"),
            (Some(asn), None) => format!("AS{asn}"),
            (None, Some(name)) => name.to_string(),
            (None, None) => "(unknown network)".to_string(),
        };
        let place: Vec<&str> = [client.city.as_deref(), client.country_code.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if place.is_empty() {
            network
        } else {
            format!("{network}, {}", place.join(", "))
        }
    }

    /// Its identity: the service location and the [`CityNetworkKey`] of its client facts.
    pub fn identity(&self) -> Identity {
        (
            self.account_id.clone(),
            self.region.clone(),
            CityNetworkKey::of(&self.client),
        )
    }
}

/// Account, Region and city-network key: what rows of one city-network share.
pub type Identity = (Option<Arc<str>>, Option<Arc<str>>, CityNetworkKey);

/// What a client prefix row shares with its city-network: the service location and the
/// `city_network_id` text.
type OwnerKey = (Option<Arc<str>>, Option<Arc<str>>, Arc<str>);

fn owner_key_of(row: &PrefixRow) -> OwnerKey {
    (
        row.location.account_id.clone(),
        row.location.region.clone(),
        row.city_network_id.clone(),
    )
}

/// The counts the signals are computed from, for one key in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Bytes in + out.
    pub bytes: i64,
    /// Bytes from the clients.
    pub bytes_in: i64,
    /// Flow records.
    pub flows: i64,
    /// Rejected flow records.
    pub rejected: i64,
    /// Our connection attempts.
    pub syn_out: i64,
    /// The clients' answers to them.
    pub synack_in: i64,
    /// The clients' connection attempts.
    pub syn_in: i64,
    /// Our answers to them.
    pub synack_out: i64,
    /// Records with RST, both ways.
    pub rst: i64,
}

impl Counts {
    /// Adds a row's measures, saturating as every sum of measures does.
    fn add(&mut self, measures: &Measures) {
        let add = |total: &mut i64, value: i64| *total = total.saturating_add(value);
        add(&mut self.bytes, measures.bytes());
        add(&mut self.bytes_in, measures.bytes_in);
        add(&mut self.flows, measures.flows);
        add(&mut self.rejected, measures.rejected_flows);
        add(&mut self.syn_out, measures.tcp_syn_out);
        add(&mut self.synack_in, measures.tcp_synack_in);
        add(&mut self.syn_in, measures.tcp_syn_in);
        add(&mut self.synack_out, measures.tcp_synack_out);
        add(
            &mut self.rst,
            measures.tcp_rst_in.saturating_add(measures.tcp_rst_out),
        );
    }
}

/// Rows handed to the engine, from any source: a local folder, S3, or a generator. The engine
/// does no I/O; whoever reads the tables adds the rows here.
#[derive(Default)]
pub struct Observations {
    pub(crate) city_networks: Vec<Arc<CityNetwork>>,
    city_network_index: HashMap<Identity, usize>,
    /// Bytes of the row each city-network's attributes come from.
    attribute_bytes: Vec<i64>,
    /// (city-network, window start) → counts.
    pub(crate) cells: HashMap<(usize, i64), Counts>,
    /// Prefix text and its city-network.
    pub(crate) prefixes: Vec<(String, usize)>,
    prefix_index: HashMap<(String, usize), usize>,
    /// (prefix, window start) → bytes.
    pub(crate) prefix_bytes: HashMap<(usize, i64), i64>,
    /// Prefix rows' owner key → city-network (the first with that key).
    owners: HashMap<OwnerKey, usize>,
    /// Prefix rows that arrived before their city-network.
    pending_prefixes: Vec<PrefixRow>,
    /// (city-network, window start, source) → merged performance.
    pub(crate) performance: HashMap<(usize, i64, RttSource), Performance>,
    /// Prefix text and its city-network, of the performance rows.
    pub(crate) performance_prefixes: Vec<(String, usize)>,
    performance_prefix_index: HashMap<(String, usize), usize>,
    /// (prefix, window start, source) → merged performance.
    pub(crate) prefix_performance: HashMap<(usize, i64, RttSource), Performance>,
}

impl Observations {
    /// Nothing yet.
    pub fn new() -> Observations {
        Observations::default()
    }

    /// Adds `city_networks` rows; rows of the same window and city-network add up.
    pub fn add_city_networks(&mut self, rows: &[CityNetworkRow]) {
        for row in rows {
            let index = self.city_network_id(row);
            let window = row.window_start - row.window_start.rem_euclid(WINDOW_SECONDS);
            self.cells
                .entry((index, window))
                .or_default()
                .add(&row.measures);
        }
    }

    /// Adds `client_prefixes` rows. A prefix belongs to the city-network with its service
    /// location and `city_network_id`; rows of no city-network added so far wait for one.
    pub fn add_prefixes(&mut self, rows: &[PrefixRow]) {
        for row in rows {
            if !self.place_prefix(row) {
                self.pending_prefixes.push(row.clone());
            }
        }
    }

    /// Adds `city_network_performance` rows: rows of the same window, city-network and RTT
    /// source merge (histograms by adding weights); sources never do. A city-network known only
    /// from these rows takes its attributes from the first; `city_networks` rows always lend
    /// theirs, so adding performance never changes what availability reports.
    pub fn add_city_network_performance(&mut self, rows: &[CityNetworkPerformanceRow]) {
        for row in rows {
            let index = self.city_network_index_of(&row.location, &row.client, 0);
            let window = row.window_start - row.window_start.rem_euclid(WINDOW_SECONDS);
            let cell = self
                .performance
                .entry((index, window, row.rtt_source))
                .or_default();
            cell.measures += row.performance.measures;
            cell.rtt += &row.performance.rtt;
        }
    }

    /// Adds `prefix_performance` rows, each under the city-network its facts name.
    pub fn add_prefix_performance(&mut self, rows: &[PrefixPerformanceRow]) {
        for row in rows {
            let owner = self.city_network_index_of(&row.location, &row.client, 0);
            let text = row.client_prefix.to_string();
            let next = self.performance_prefixes.len();
            let index = *self
                .performance_prefix_index
                .entry((text.clone(), owner))
                .or_insert(next);
            if index == next {
                self.performance_prefixes.push((text, owner));
            }
            let window = row.window_start - row.window_start.rem_euclid(WINDOW_SECONDS);
            let cell = self
                .prefix_performance
                .entry((index, window, row.rtt_source))
                .or_default();
            cell.measures += row.performance.measures;
            cell.rtt += &row.performance.rtt;
        }
    }

    /// Adds a city-network without rows (one an open event names), unless it is known.
    pub(crate) fn add_city_network(&mut self, city_network: &CityNetwork) {
        let location = ServiceLocation {
            account_id: city_network.account_id.clone(),
            region: city_network.region.clone(),
            ..ServiceLocation::default()
        };
        self.city_network_index_of(&location, &city_network.client, 0);
    }

    /// The index of a city-network of an earlier run's carry (added by `add_city_network`).
    pub(crate) fn index_of(&self, saved: &CityNetworkState) -> usize {
        self.city_network_index[&saved.city_network().identity()]
    }

    /// (city-network index, window index) of the earlier judged cells that fall in `starts`
    /// (a timeline's window starts) before `judge_from`, of city-networks these observations
    /// hold.
    pub(crate) fn earlier_cells<'a>(
        &'a self,
        cells: &'a HashSet<(Identity, i64)>,
        starts: &'a [i64],
        judge_from: i64,
    ) -> impl Iterator<Item = (usize, usize)> + 'a {
        cells.iter().filter_map(move |(identity, start)| {
            if *start >= judge_from {
                return None;
            }
            let city_network = *self.city_network_index.get(identity)?;
            let window = starts.binary_search(start).ok()?;
            Some((city_network, window))
        })
    }

    /// Windows covered, first and last start, or `None` when empty.
    pub fn window_range(&self) -> Option<(i64, i64)> {
        let first = self.cells.keys().map(|&(_, window)| window).min()?;
        let last = self.cells.keys().map(|&(_, window)| window).max()?;
        Some((first, last))
    }

    /// Numbers the city-networks in the order of their identities, and each one's prefixes in
    /// the order of their text, whatever order the rows came in; called before an assessment.
    /// Everything the engine sums over city-networks or prefixes (shares of all traffic, the
    /// demand scale) then adds up in one order: floating-point sums depend on their order, and
    /// a scheduled run and a backfill read the same windows' rows in different orders.
    pub(crate) fn number_canonically(&mut self) {
        let mut order: Vec<usize> = (0..self.city_networks.len()).collect();
        order.sort_by_cached_key(|&index| self.city_networks[index].identity());
        let city_network = new_numbers(&order);
        self.city_networks = order
            .iter()
            .map(|&old| self.city_networks[old].clone())
            .collect();
        self.attribute_bytes = order.iter().map(|&old| self.attribute_bytes[old]).collect();
        for index in self.city_network_index.values_mut() {
            *index = city_network[*index];
        }
        for owner in self.owners.values_mut() {
            *owner = city_network[*owner];
        }
        self.cells = std::mem::take(&mut self.cells)
            .into_iter()
            .map(|((index, window), counts)| ((city_network[index], window), counts))
            .collect();
        self.performance = std::mem::take(&mut self.performance)
            .into_iter()
            .map(|((index, window, source), cell)| ((city_network[index], window, source), cell))
            .collect();
        renumber_prefixes(
            &mut self.prefixes,
            &mut self.prefix_index,
            &mut self.prefix_bytes,
            &city_network,
        );
        renumber_prefixes(
            &mut self.performance_prefixes,
            &mut self.performance_prefix_index,
            &mut self.prefix_performance,
            &city_network,
        );
    }

    /// Places the prefix rows that arrived before their city-network; called before an
    /// assessment.
    pub(crate) fn settle_prefixes(&mut self) {
        let pending = std::mem::take(&mut self.pending_prefixes);
        for row in pending {
            if !self.place_prefix(&row) {
                self.pending_prefixes.push(row);
            }
        }
    }

    fn place_prefix(&mut self, row: &PrefixRow) -> bool {
        let Some(&owner) = self.owners.get(&owner_key_of(row)) else {
            return false;
        };
        let text = row.client_prefix.to_string();
        let next = self.prefixes.len();
        let index = *self
            .prefix_index
            .entry((text.clone(), owner))
            .or_insert(next);
        if index == next {
            self.prefixes.push((text, owner));
        }
        let window = row.window_start - row.window_start.rem_euclid(WINDOW_SECONDS);
        let bytes = self.prefix_bytes.entry((index, window)).or_default();
        *bytes = bytes.saturating_add(row.measures.bytes());
        true
    }

    /// The index of a row's city-network; a heavier row than any before lends it its
    /// attributes.
    fn city_network_id(&mut self, row: &CityNetworkRow) -> usize {
        self.city_network_index_of(&row.location, &row.client, row.measures.bytes())
    }

    /// The index of the city-network of a row with these location, facts and bytes.
    fn city_network_index_of(
        &mut self,
        location: &ServiceLocation,
        client: &Facts,
        bytes: i64,
    ) -> usize {
        let identity: Identity = (
            location.account_id.clone(),
            location.region.clone(),
            CityNetworkKey::of(client),
        );
        let city_network = || {
            Arc::new(CityNetwork {
                account_id: location.account_id.clone(),
                region: location.region.clone(),
                client: client.clone(),
            })
        };
        if let Some(&index) = self.city_network_index.get(&identity) {
            let heavier = match bytes.cmp(&self.attribute_bytes[index]) {
                Ordering::Greater => true,
                Ordering::Less => false,
                // On a tie the facts decide, so the choice does not depend on which row came
                // first.
                Ordering::Equal => {
                    facts_order(client, &self.city_networks[index].client) == Ordering::Less
                }
            };
            if heavier {
                self.attribute_bytes[index] = bytes;
                self.city_networks[index] = city_network();
            }
            return index;
        }
        let index = self.city_networks.len();
        let (account_id, region, key) = identity.clone();
        self.owners
            .entry((account_id, region, Arc::from(key.to_string())))
            .or_insert(index);
        self.city_networks.push(city_network());
        self.attribute_bytes.push(bytes);
        self.city_network_index.insert(identity, index);
        index
    }
}

/// Renumbers prefixes (text and owning city-network, with their index and cells keyed by
/// prefix number) after their city-networks were renumbered (`city_network`: new number by
/// old), in the order of (owner, text).
fn renumber_prefixes<K: PrefixCellKey + Eq + std::hash::Hash, V>(
    prefixes: &mut Vec<(String, usize)>,
    index: &mut HashMap<(String, usize), usize>,
    cells: &mut HashMap<K, V>,
    city_network: &[usize],
) {
    for (_, owner) in prefixes.iter_mut() {
        *owner = city_network[*owner];
    }
    let mut order: Vec<usize> = (0..prefixes.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&prefixes[a], &prefixes[b]);
        (a.1, &a.0).cmp(&(b.1, &b.0))
    });
    let new = new_numbers(&order);
    *prefixes = order.iter().map(|&old| prefixes[old].clone()).collect();
    *index = prefixes
        .iter()
        .enumerate()
        .map(|(number, prefix)| (prefix.clone(), number))
        .collect();
    *cells = std::mem::take(cells)
        .into_iter()
        .map(|(key, value)| {
            let prefix = new[key.prefix()];
            (key.with_prefix(prefix), value)
        })
        .collect();
}

/// Each old number's new one, given the old numbers in their new order.
fn new_numbers(order: &[usize]) -> Vec<usize> {
    let mut new = vec![0; order.len()];
    for (position, &old) in order.iter().enumerate() {
        new[old] = position;
    }
    new
}

/// A key of cells by prefix number: `(prefix, window)` or `(prefix, window, source)`.
trait PrefixCellKey {
    fn prefix(&self) -> usize;
    fn with_prefix(self, prefix: usize) -> Self;
}

impl PrefixCellKey for (usize, i64) {
    fn prefix(&self) -> usize {
        self.0
    }
    fn with_prefix(self, prefix: usize) -> Self {
        (prefix, self.1)
    }
}

impl PrefixCellKey for (usize, i64, RttSource) {
    fn prefix(&self) -> usize {
        self.0
    }
    fn with_prefix(self, prefix: usize) -> Self {
        (prefix, self.1, self.2)
    }
}

/// A total order of facts, to break ties between rows of equal bytes: coordinates by their
/// bits, then the rest.
fn facts_order(a: &Facts, b: &Facts) -> Ordering {
    let key = |facts: &Facts| {
        (
            facts.latitude.map(f64::to_bits),
            facts.longitude.map(f64::to_bits),
            facts.as_name.clone(),
            facts.city.clone(),
            facts.subdivision.clone(),
            facts.country.clone(),
            facts.postal_code.clone(),
            facts.metro_code,
            facts.geoname_id,
        )
    };
    key(a).cmp(&key(b))
}
