//! What the page shows, summed from the tables' batches: traffic and availability per window,
//! one entry per city-network for the map, the events with their evidence, and the top
//! networks. Batches are added in any order and any number, so a week of data never has to be
//! in memory at once; a city-network is its identity (service location and
//! `city_network_id`), never its attributes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{
    Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use flowatlas_geo::Facts;
use flowatlas_rollup::{
    CityNetworkKey, CityNetworkPerformanceRow, RttHistogram, RttSource, WINDOW_SECONDS,
};
use flowatlas_tables::HealthEventRecord;

/// Entries kept in each top table.
pub const TOP_N: usize = 20;
/// Points of a top table's sparkline at most.
const SPARK_POINTS: i64 = 48;
/// Impacted city-networks charted per event at most (the table lists them all).
const CHARTS_PER_EVENT: usize = 4;
/// Time shown around an event in its charts, so the drop stands against normal traffic.
const EVENT_MARGIN_SECONDS: i64 = 3_600;

/// Traffic and availability of one 5-minute window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowPoint {
    /// Start, Unix seconds.
    pub start: i64,
    /// Bytes from the clients.
    pub bytes_in: i64,
    /// Bytes to the clients.
    pub bytes_out: i64,
    /// Overall availability score (100 − the share of all expected traffic impacted); `None`
    /// where the window was not assessed or had no history to judge by.
    pub availability: Option<f64>,
    /// Overall performance score (100 − the share of all measured traffic degraded); `None`
    /// where no round-trip times were measured or none could be judged.
    pub performance: Option<f64>,
}

/// The round-trip times of one city-network over the range, from one source: the two
/// sources measure different things and never share a percentile.
#[derive(Clone, Debug, PartialEq)]
pub struct RttView {
    /// The city-network's label, as the health engine names it.
    pub label: String,
    /// What measured them.
    pub source: RttSource,
    /// Median, milliseconds, over the range's merged histogram.
    pub p50_ms: f64,
    /// 90th percentile, milliseconds.
    pub p90_ms: f64,
    /// Weight of the merged histogram: bytes moved (`tcp_srtt`) or handshakes
    /// (`tls_handshake`).
    pub weight: i64,
    /// Lowest performance score of one window; `None` when never judged.
    pub lowest_score: Option<f64>,
}

/// One city-network over the range: a circle on the map.
#[derive(Clone, Debug, PartialEq)]
pub struct CityNetworkView {
    /// `AS64499 Albion Broadband, London, GB`.
    pub label: String,
    /// AWS account of the service.
    pub account_id: Option<Arc<str>>,
    /// AWS Region of the service.
    pub region: Option<Arc<str>>,
    /// The clients' facts from the row with the most bytes.
    pub client: Facts,
    /// Bytes in + out.
    pub bytes: i64,
    /// Flow records.
    pub flows: i64,
    /// Rejected flow records.
    pub rejected_flows: i64,
    /// Lowest availability score of one window; `None` when never scored.
    pub lowest_score: Option<f64>,
}

/// Expected against observed traffic of one impacted city-network around its event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImpactChart {
    /// The city-network's label, as the event names it.
    pub label: String,
    /// Its `city_network_id`, as the event records it: health rows are matched by it (two
    /// city-networks may share a label; one city-network's label may change with its
    /// busiest network).
    pub city_network_id: String,
    /// Window start → (expected bytes, observed bytes), summed over the service locations
    /// with that `city_network_id`.
    pub points: BTreeMap<i64, (Option<i64>, i64)>,
}

/// An event with the evidence charted.
#[derive(Clone, Debug, PartialEq)]
pub struct EventView {
    /// The `health_events` row.
    pub record: HealthEventRecord,
    /// Charts of its first impacted city-networks.
    pub charts: Vec<ImpactChart>,
}

impl EventView {
    /// The time its charts show: an hour either side of the event, within the range.
    fn span(&self, range_end: i64) -> (i64, i64) {
        let end = self.record.ended_at.unwrap_or(range_end);
        (
            self.record.started_at - EVENT_MARGIN_SECONDS,
            end.saturating_add(EVENT_MARGIN_SECONDS),
        )
    }
}

/// What a top table ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopKind {
    /// Client AS (ISP).
    Isp,
    /// City, subdivision and country.
    City,
    /// Country alone, over every city and network in it.
    Country,
    /// Client prefix.
    Prefix,
}

impl TopKind {
    /// Every kind, in the page's order (the order of declaration: `kind as usize` indexes it).
    pub const ALL: [TopKind; 4] = [
        TopKind::Isp,
        TopKind::City,
        TopKind::Country,
        TopKind::Prefix,
    ];

    /// Table heading.
    pub fn title(self) -> &'static str {
        match self {
            TopKind::Isp => "ISPs",
            TopKind::City => "Cities",
            TopKind::Country => "Countries",
            TopKind::Prefix => "Client prefixes",
        }
    }

    /// The group (key, label) a city-network's clients fall in; `None` for prefixes, which
    /// are ranked from their own rows.
    fn group_of(self, client: &Facts) -> Option<(String, String)> {
        let or_unknown = |text: &Option<Arc<str>>| text.as_deref().unwrap_or("?").to_string();
        match self {
            TopKind::Isp => {
                let label = match (client.asn, client.as_name.as_deref()) {
                    (Some(asn), Some(name)) => format!("AS{asn} {name}"),
                    (Some(asn), None) => format!("AS{asn}"),
                    (None, _) => "(unknown network)".to_string(),
                };
                Some((format!("{:?}", client.asn), label))
            }
            TopKind::City => {
                let parts = [&client.city, &client.subdivision, &client.country_code];
                let label = parts.map(or_unknown).join(", ");
                // The place half of the city-network identity: its GeoNames id, else names.
                Some((format!("{:?}", CityNetworkKey::of(client).place), label))
            }
            TopKind::Country => {
                let code = or_unknown(&client.country_code);
                let label = match client.country.as_deref() {
                    Some(name) => format!("{code} {name}"),
                    None => code.clone(),
                };
                Some((code, label))
            }
            TopKind::Prefix => None,
        }
    }
}

/// One ranked entry of a top table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopRow {
    /// What it is.
    pub label: String,
    /// Bytes in + out.
    pub bytes: i64,
    /// Flow records.
    pub flows: i64,
    /// Rejected flow records.
    pub rejected_flows: i64,
    /// Availability over the range: 100 − the share of its expected traffic impacted;
    /// `None` when not assessed (always for prefixes, which the health engine does not score).
    pub score: Option<f64>,
    /// Bytes per equal slice of the range.
    pub sparkline: Vec<i64>,
}

/// A top table: the first [`TOP_N`] entries, most bytes first.
#[derive(Clone, Debug, PartialEq)]
pub struct Top {
    /// What it ranks.
    pub kind: TopKind,
    /// Entries.
    pub rows: Vec<TopRow>,
    /// Entries there were in all.
    pub n_entries: usize,
}

/// Everything the page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Start of the range, Unix seconds (the first window when none was asked).
    pub from: i64,
    /// End of the range, exclusive.
    pub to: i64,
    /// Windows with traffic, in order.
    pub windows: Vec<WindowPoint>,
    /// City-networks, most bytes first.
    pub city_networks: Vec<CityNetworkView>,
    /// Events that cover any time in the range, by start.
    pub events: Vec<EventView>,
    /// ISPs, cities, countries and prefixes.
    pub tops: Vec<Top>,
    /// Bytes in + out over the range.
    pub total_bytes: i64,
    /// Whether health was assessed for any window of the range.
    pub assessed: bool,
    /// City-networks whose round-trip times were measured, per source: the agent's first,
    /// then the load balancers'; within a source the lowest performance score first (never
    /// judged last), then the most measured, [`TOP_N`] at most.
    pub round_trip_times: Vec<RttView>,
    /// (city-network, source) pairs measured in all.
    pub n_rtt_measured: usize,
}

impl Report {
    /// No traffic in the range: the page says so.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// Hash maps keyed by window starts and short texts, looked up for every row read: std's
/// SipHash showed in profiles; the keys come from the tables, not from an attacker who could
/// pick colliding ones.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct CityNetworkSums {
    label: String,
    account_id: Option<Arc<str>>,
    region: Option<Arc<str>>,
    client: Facts,
    /// Bytes of the row the attributes came from.
    attribute_bytes: i64,
    bytes: i64,
    flows: i64,
    rejected_flows: i64,
    lowest_score: Option<f64>,
    lowest_performance_score: Option<f64>,
    /// (event, chart) pairs this city-network's health rows feed, found on first sight.
    charts: Option<Vec<(usize, usize)>>,
    /// The top groups it counts in (kind, index), found on first sight: naming a group per
    /// row cost more than all the sums.
    groups: Option<Vec<(TopKind, usize)>>,
}

#[derive(Default)]
struct GroupSums {
    label: String,
    bytes: i64,
    flows: i64,
    rejected_flows: i64,
    expected_bytes: f64,
    impacted_bytes: f64,
    /// Bytes per window start, but the latest window's.
    by_window: FastMap<i64, i64>,
    /// The window added to last and its bytes so far: a file's rows come window by window,
    /// so most rows of a group add to the window before them and touch no map.
    latest: Option<(i64, i64)>,
}

impl GroupSums {
    fn score(&self) -> Option<f64> {
        (self.expected_bytes > 0.0)
            .then(|| 100.0 * (1.0 - self.impacted_bytes / self.expected_bytes).clamp(0.0, 1.0))
    }

    fn add_traffic(&mut self, window_start: i64, bytes: i64, flows: i64, rejected_flows: i64) {
        self.bytes += bytes;
        self.flows += flows;
        self.rejected_flows += rejected_flows;
        match &mut self.latest {
            Some((latest, sum)) if *latest == window_start => *sum += bytes,
            latest => {
                if let Some((window, sum)) = latest.replace((window_start, bytes)) {
                    *self.by_window.entry(window).or_default() += sum;
                }
            }
        }
    }

    /// Bytes per window start, all of them.
    fn by_window(&mut self) -> &FastMap<i64, i64> {
        if let Some((window, sum)) = self.latest.take() {
            *self.by_window.entry(window).or_default() += sum;
        }
        &self.by_window
    }
}

/// The groups of one kind: their sums, and their index by key.
#[derive(Default)]
struct Groups {
    sums: Vec<GroupSums>,
    index: FastMap<String, usize>,
}

impl Groups {
    /// The group's index, created with `label` when new.
    fn find_or_add(&mut self, key: &str, label: impl FnOnce() -> String) -> usize {
        if let Some(&index) = self.index.get(key) {
            return index;
        }
        let index = self.sums.len();
        self.sums.push(GroupSums {
            label: label(),
            ..GroupSums::default()
        });
        self.index.insert(key.to_owned(), index);
        index
    }
}

#[derive(Default)]
struct WindowSums {
    bytes_in: i64,
    bytes_out: i64,
    /// Share of all expected traffic impacted, summed over the window's city-networks.
    impacted_percent: f64,
    /// Some city-network was judged against history in the window.
    judged: bool,
    /// Share of all measured traffic degraded, summed over the window's city-networks.
    degraded_percent: f64,
    /// Some city-network's performance was judged in the window.
    performance_judged: bool,
}

/// One city-network's round-trip times of one source over the range.
struct RttSums {
    label: String,
    /// Its identity key, to find its health.
    key: String,
    histogram: RttHistogram,
}

/// The client columns [`ReportBuilder::add_city_networks`] and [`ReportBuilder::add_health`]
/// read (`ClientColumns`), shared by both tables.
pub const CLIENT_COLUMNS: &[&str] = &[
    "window_start",
    "account_id",
    "region",
    "city_network_id",
    "client_asn",
    "client_as_name",
    "client_country_code",
    "client_country",
    "client_subdivision_code",
    "client_subdivision",
    "client_city",
    "client_geoname_id",
    "client_metro_code",
    "client_latitude",
    "client_longitude",
];

/// The other columns [`ReportBuilder::add_city_networks`] reads; no others are decoded.
pub const TRAFFIC_COLUMNS: &[&str] = &["bytes_in", "bytes_out", "flows", "rejected_flows"];

/// The columns [`PrefixRanking::add`] reads.
pub const PREFIX_COLUMNS: &[&str] = &[
    "window_start",
    "client_prefix",
    "client_asn",
    "client_as_name",
    "bytes_in",
    "bytes_out",
    "flows",
    "rejected_flows",
];

/// The other columns [`ReportBuilder::add_health`] reads.
pub const HEALTH_COLUMNS: &[&str] = &[
    "observed_bytes",
    "expected_bytes",
    "demand_scale",
    "availability_score",
    "percent_of_client_location_impacted",
    "percent_of_total_traffic_impacted",
    "performance_score",
    "percent_of_total_traffic_degraded",
];

/// The prefixes' sums of a report: `client_prefixes` is ranked on its own, so it can be summed
/// on another thread (see [`ReportBuilder::prefix_ranking`]).
pub struct PrefixRanking {
    from: Option<i64>,
    to: Option<i64>,
    groups: Groups,
}

impl PrefixRanking {
    /// Adds a batch of `client_prefixes` ([`PREFIX_COLUMNS`] at least).
    pub fn add(&mut self, batch: &RecordBatch) {
        let (Some(starts), Some(prefixes)) =
            (millis(batch, "window_start"), texts(batch, "client_prefix"))
        else {
            return;
        };
        let (asns, as_names) = (int64s(batch, "client_asn"), texts(batch, "client_as_name"));
        let [bytes_in, bytes_out, flows, rejected] = traffic_arrays(batch);
        let groups = &mut self.groups;
        for row in 0..batch.num_rows() {
            let window_start = starts.value(row).div_euclid(1000);
            let in_range = self.from.is_none_or(|from| window_start >= from)
                && self.to.is_none_or(|to| window_start < to);
            let Some(prefix) = text(prefixes, row).filter(|_| in_range && !starts.is_null(row))
            else {
                continue;
            };
            let group = groups.find_or_add(prefix, || {
                let asn = asns
                    .filter(|array| array.is_valid(row))
                    .map(|array| array.value(row));
                match (asn, as_names.and_then(|array| text(array, row))) {
                    (Some(asn), Some(name)) => format!("{prefix} (AS{asn} {name})"),
                    (Some(asn), None) => format!("{prefix} (AS{asn})"),
                    (None, _) => prefix.to_owned(),
                }
            });
            groups.sums[group].add_traffic(
                window_start,
                value(bytes_in, row) + value(bytes_out, row),
                value(flows, row),
                value(rejected, row),
            );
        }
    }
}

/// Sums the tables' batches into a [`Report`]. Events come first, so the health rows that
/// chart them are picked out as they pass. Batches are read column by column (the arrays
/// found once per batch), and a row becomes owned values only when it names something new:
/// a city-network's attributes, a group.
pub struct ReportBuilder {
    from: Option<i64>,
    to: Option<i64>,
    windows: FastMap<i64, WindowSums>,
    city_networks: Vec<CityNetworkSums>,
    /// Index into `city_networks` by identity ([`identity_key`]).
    city_network_index: FastMap<String, usize>,
    groups: [Groups; 4],
    events: Vec<EventView>,
    assessed: bool,
    /// Round-trip times by identity key and source.
    round_trip_times: FastMap<(String, RttSource), RttSums>,
    /// Reused for each row's identity key.
    key: String,
}

impl ReportBuilder {
    /// A report of `[from, to)` (Unix seconds; the data's own span when `None`) with the
    /// events that cover it.
    pub fn new(from: Option<i64>, to: Option<i64>, events: Vec<HealthEventRecord>) -> Self {
        let events = events
            .into_iter()
            .map(|record| EventView {
                // Events written before the tables held ids have none: no charts for them.
                charts: record
                    .impacted_city_networks
                    .iter()
                    .zip(&record.impacted_city_network_ids)
                    .take(CHARTS_PER_EVENT)
                    .map(|(label, city_network_id)| ImpactChart {
                        label: label.clone(),
                        city_network_id: city_network_id.clone(),
                        points: BTreeMap::new(),
                    })
                    .collect(),
                record,
            })
            .collect();
        ReportBuilder {
            from,
            to,
            windows: FastMap::default(),
            city_networks: Vec::new(),
            city_network_index: FastMap::default(),
            groups: Default::default(),
            events,
            assessed: false,
            round_trip_times: FastMap::default(),
            key: String::new(),
        }
    }

    fn in_range(&self, window_start: i64) -> bool {
        self.from.is_none_or(|from| window_start >= from)
            && self.to.is_none_or(|to| window_start < to)
    }

    /// The index of the city-network of row `row` (its identity: service location and
    /// `city_network_id`), created when new.
    fn city_network_at(&mut self, columns: &ClientColumns<'_>, row: usize) -> usize {
        let parts = [columns.account_id, columns.region, columns.city_network_id]
            .map(|array| array.and_then(|array| text(array, row)));
        identity_key(&mut self.key, parts);
        if let Some(&index) = self.city_network_index.get(self.key.as_str()) {
            return index;
        }
        let index = self.city_networks.len();
        self.city_networks.push(CityNetworkSums::default());
        self.city_network_index.insert(self.key.clone(), index);
        index
    }

    /// Finds the groups city-network `index` counts in from row `row`, on first sight.
    fn find_groups(&mut self, index: usize, columns: &ClientColumns<'_>, row: usize) {
        if self.city_networks[index].groups.is_some() {
            return;
        }
        let client = columns.facts(row);
        let found: Vec<(TopKind, usize)> = TopKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let (key, label) = kind.group_of(&client)?;
                Some((kind, self.groups[kind as usize].find_or_add(&key, || label)))
            })
            .collect();
        self.city_networks[index].groups = Some(found);
    }

    /// Adds a batch of `city_networks` ([`CLIENT_COLUMNS`] and [`TRAFFIC_COLUMNS`] at least;
    /// rows outside the range are ignored).
    pub fn add_city_networks(&mut self, batch: &RecordBatch) {
        let (Some(starts), Some(columns)) =
            (millis(batch, "window_start"), ClientColumns::of(batch))
        else {
            return;
        };
        let [bytes_in, bytes_out, flows, rejected] = traffic_arrays(batch);
        for row in 0..batch.num_rows() {
            let window_start = starts.value(row).div_euclid(1000);
            if starts.is_null(row) || !self.in_range(window_start) {
                continue;
            }
            let (row_in, row_out) = (value(bytes_in, row), value(bytes_out, row));
            let (row_flows, row_rejected) = (value(flows, row), value(rejected, row));
            let bytes = row_in + row_out;
            let window = self.windows.entry(window_start).or_default();
            window.bytes_in += row_in;
            window.bytes_out += row_out;
            let index = self.city_network_at(&columns, row);
            let sums = &mut self.city_networks[index];
            if sums.label.is_empty() || bytes > sums.attribute_bytes {
                sums.account_id = columns
                    .account_id
                    .and_then(|array| text(array, row))
                    .map(Arc::from);
                sums.region = columns
                    .region
                    .and_then(|array| text(array, row))
                    .map(Arc::from);
                sums.client = columns.facts(row);
                sums.attribute_bytes = bytes;
                sums.label = label_of(&sums.account_id, &sums.region, &sums.client);
            }
            sums.bytes += bytes;
            sums.flows += row_flows;
            sums.rejected_flows += row_rejected;
            self.find_groups(index, &columns, row);
            for &(kind, group) in self.city_networks[index].groups.iter().flatten() {
                self.groups[kind as usize].sums[group].add_traffic(
                    window_start,
                    bytes,
                    row_flows,
                    row_rejected,
                );
            }
        }
    }

    /// An empty ranking of prefixes for this report's range, to fill apart (prefixes are
    /// ranked from their own table and touch nothing else) and hand back with
    /// [`ReportBuilder::set_prefixes`].
    pub fn prefix_ranking(&self) -> PrefixRanking {
        PrefixRanking {
            from: self.from,
            to: self.to,
            groups: Groups::default(),
        }
    }

    /// Takes the prefixes' ranking filled apart, in place of this builder's.
    pub fn set_prefixes(&mut self, ranking: PrefixRanking) {
        self.groups[TopKind::Prefix as usize] = ranking.groups;
    }

    /// Adds a batch of `city_network_health` ([`CLIENT_COLUMNS`] and [`HEALTH_COLUMNS`] at
    /// least).
    pub fn add_health(&mut self, batch: &RecordBatch) {
        let (Some(starts), Some(columns)) =
            (millis(batch, "window_start"), ClientColumns::of(batch))
        else {
            return;
        };
        let observed = int64s(batch, "observed_bytes");
        let expected = int64s(batch, "expected_bytes");
        let double = |name| doubles(batch, name);
        let (demand_scale, score, own_impact, total_impact) = (
            double("demand_scale"),
            double("availability_score"),
            double("percent_of_client_location_impacted"),
            double("percent_of_total_traffic_impacted"),
        );
        let (performance_score, total_degraded) = (
            double("performance_score"),
            double("percent_of_total_traffic_degraded"),
        );
        let maybe = |array: Option<&Float64Array>, row: usize| {
            array
                .filter(|array| array.is_valid(row))
                .map(|array| array.value(row))
        };
        let range_end = self.to.unwrap_or(i64::MAX);
        for row in 0..batch.num_rows() {
            let window_start = starts.value(row).div_euclid(1000);
            if starts.is_null(row) || !self.in_range(window_start) {
                continue;
            }
            self.assessed = true;
            let observed_bytes = value(observed, row);
            let expected_bytes = expected
                .filter(|array| array.is_valid(row))
                .map(|array| array.value(row));
            let expected_or_observed = expected_bytes.unwrap_or(observed_bytes) as f64;
            let impacted =
                maybe(own_impact, row).map(|percent| percent / 100.0 * expected_or_observed);
            let window = self.windows.entry(window_start).or_default();
            window.judged |= maybe(demand_scale, row).is_some();
            window.impacted_percent += maybe(total_impact, row).unwrap_or(0.0);
            let own_performance = maybe(performance_score, row);
            window.performance_judged |= own_performance.is_some();
            window.degraded_percent += maybe(total_degraded, row).unwrap_or(0.0);
            let index = self.city_network_at(&columns, row);
            if let Some(impacted) = impacted {
                self.find_groups(index, &columns, row);
                for &(kind, group) in self.city_networks[index].groups.iter().flatten() {
                    let group = &mut self.groups[kind as usize].sums[group];
                    group.expected_bytes += expected_or_observed;
                    group.impacted_bytes += impacted;
                }
            }
            let sums = &mut self.city_networks[index];
            let lowest = |low: Option<f64>, score: Option<f64>| match (low, score) {
                (Some(low), Some(score)) => Some(low.min(score)),
                (low, score) => low.or(score),
            };
            sums.lowest_score = lowest(sums.lowest_score, maybe(score, row));
            sums.lowest_performance_score = lowest(sums.lowest_performance_score, own_performance);
            let charts = sums.charts.get_or_insert_with(|| {
                let city_network_id = columns.city_network_id.and_then(|array| text(array, row));
                charts_of(&self.events, city_network_id.unwrap_or_default())
            });
            for &(event, chart) in charts.iter() {
                let (start, end) = self.events[event].span(range_end);
                if (start..end).contains(&window_start) {
                    let point = self.events[event].charts[chart]
                        .points
                        .entry(window_start)
                        .or_default();
                    point.1 += observed_bytes;
                    if let Some(expected) = expected_bytes {
                        point.0 = Some(point.0.unwrap_or(0) + expected);
                    }
                }
            }
        }
    }

    /// Adds a `city_network_performance` row (rows outside the range are ignored): its RTT
    /// histogram merges into its city-network's of the same source.
    pub fn add_performance(&mut self, row: &CityNetworkPerformanceRow) {
        if !self.in_range(row.window_start) {
            return;
        }
        let city_network_id = CityNetworkKey::of(&row.client).to_string();
        let location = &row.location;
        identity_key(
            &mut self.key,
            [
                location.account_id.as_deref(),
                location.region.as_deref(),
                Some(&city_network_id),
            ],
        );
        let sums = self
            .round_trip_times
            .entry((self.key.clone(), row.rtt_source))
            .or_insert_with(|| RttSums {
                label: label_of(&location.account_id, &location.region, &row.client),
                key: self.key.clone(),
                histogram: RttHistogram::default(),
            });
        sums.histogram += &row.performance.rtt;
    }

    /// The report.
    pub fn finish(self) -> Report {
        let mut windows: Vec<(i64, WindowSums)> = self.windows.into_iter().collect();
        windows.sort_by_key(|(start, _)| *start);
        let first = windows.first().map(|(start, _)| *start);
        let last = windows.last().map(|(start, _)| *start);
        let from = self.from.or(first).unwrap_or(0);
        let to = self
            .to
            .or(last.map(|last| last + WINDOW_SECONDS))
            .unwrap_or(from);
        // Health rows alone (no traffic) do not make a window with data.
        let windows: Vec<WindowPoint> = windows
            .into_iter()
            .filter(|(_, sums)| sums.bytes_in + sums.bytes_out > 0)
            .map(|(start, sums)| WindowPoint {
                start,
                bytes_in: sums.bytes_in,
                bytes_out: sums.bytes_out,
                availability: sums
                    .judged
                    .then(|| (100.0 - sums.impacted_percent).max(0.0)),
                performance: sums
                    .performance_judged
                    .then(|| (100.0 - sums.degraded_percent).max(0.0)),
            })
            .collect();
        let mut round_trip_times: Vec<RttView> = self
            .round_trip_times
            .into_iter()
            .filter_map(|((_, source), sums)| {
                let ms = |q: f64| sums.histogram.quantile(q).map(|us| us / 1000.0);
                Some(RttView {
                    source,
                    p50_ms: ms(0.5)?,
                    p90_ms: ms(0.9)?,
                    weight: sums.histogram.total_weight(),
                    lowest_score: self
                        .city_network_index
                        .get(&sums.key)
                        .and_then(|&index| self.city_networks[index].lowest_performance_score),
                    label: sums.label,
                })
            })
            .collect();
        // Worst first: what a reader opens this section for; then the most measured.
        let score = |view: &RttView| view.lowest_score.unwrap_or(f64::INFINITY);
        round_trip_times.sort_by(|a, b| {
            a.source
                .cmp(&b.source)
                .then_with(|| score(a).total_cmp(&score(b)))
                .then_with(|| (b.weight, &a.label).cmp(&(a.weight, &b.label)))
        });
        let n_rtt_measured = round_trip_times.len();
        let mut kept_of_source = 0;
        let mut previous_source = None;
        round_trip_times.retain(|view| {
            if previous_source != Some(view.source) {
                (previous_source, kept_of_source) = (Some(view.source), 0);
            }
            kept_of_source += 1;
            kept_of_source <= TOP_N
        });
        let total_bytes = windows.iter().map(|w| w.bytes_in + w.bytes_out).sum();
        let mut city_networks: Vec<CityNetworkView> = self
            .city_networks
            .into_iter()
            .filter(|sums| sums.bytes > 0)
            .map(|sums| CityNetworkView {
                label: sums.label,
                account_id: sums.account_id,
                region: sums.region,
                client: sums.client,
                bytes: sums.bytes,
                flows: sums.flows,
                rejected_flows: sums.rejected_flows,
                lowest_score: sums.lowest_score,
            })
            .collect();
        city_networks.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.label.cmp(&b.label)));
        let tops = TopKind::ALL
            .into_iter()
            .zip(self.groups)
            .map(|(kind, groups)| top_of(kind, groups.sums, from, to))
            .collect();
        Report {
            from,
            to,
            windows,
            city_networks,
            events: self.events,
            tops,
            total_bytes,
            assessed: self.assessed,
            round_trip_times,
            n_rtt_measured,
        }
    }
}

/// The client columns of a `city_networks` or `city_network_health` batch, found once.
struct ClientColumns<'b> {
    account_id: Option<&'b StringArray>,
    region: Option<&'b StringArray>,
    city_network_id: Option<&'b StringArray>,
    asn: Option<&'b Int64Array>,
    as_name: Option<&'b StringArray>,
    country_code: Option<&'b StringArray>,
    country: Option<&'b StringArray>,
    subdivision_code: Option<&'b StringArray>,
    subdivision: Option<&'b StringArray>,
    city: Option<&'b StringArray>,
    geoname_id: Option<&'b Int64Array>,
    metro_code: Option<&'b Int32Array>,
    latitude: Option<&'b Float64Array>,
    longitude: Option<&'b Float64Array>,
}

impl<'b> ClientColumns<'b> {
    /// `None` without `city_network_id`: rows without an identity cannot be grouped.
    fn of(batch: &'b RecordBatch) -> Option<ClientColumns<'b>> {
        let city_network_id = texts(batch, "city_network_id")?;
        Some(ClientColumns {
            account_id: texts(batch, "account_id"),
            region: texts(batch, "region"),
            city_network_id: Some(city_network_id),
            asn: int64s(batch, "client_asn"),
            as_name: texts(batch, "client_as_name"),
            country_code: texts(batch, "client_country_code"),
            country: texts(batch, "client_country"),
            subdivision_code: texts(batch, "client_subdivision_code"),
            subdivision: texts(batch, "client_subdivision"),
            city: texts(batch, "client_city"),
            geoname_id: int64s(batch, "client_geoname_id"),
            metro_code: batch
                .column_by_name("client_metro_code")
                .and_then(|column| column.as_primitive_opt::<Int32Type>()),
            latitude: doubles(batch, "client_latitude"),
            longitude: doubles(batch, "client_longitude"),
        })
    }

    /// The clients' facts of one row (owned: made only when a row names something new).
    fn facts(&self, row: usize) -> Facts {
        let owned =
            |array: Option<&StringArray>| array.and_then(|array| text(array, row)).map(Arc::from);
        let int = |array: Option<&Int64Array>| {
            array
                .filter(|array| array.is_valid(row))
                .map(|array| array.value(row))
        };
        let float = |array: Option<&Float64Array>| {
            array
                .filter(|array| array.is_valid(row))
                .map(|array| array.value(row))
        };
        Facts {
            asn: int(self.asn).and_then(|asn| u32::try_from(asn).ok()),
            as_name: owned(self.as_name),
            country_code: owned(self.country_code),
            country: owned(self.country),
            subdivision_code: owned(self.subdivision_code),
            subdivision: owned(self.subdivision),
            city: owned(self.city),
            metro_code: self
                .metro_code
                .filter(|array| array.is_valid(row))
                .map(|array| array.value(row)),
            latitude: float(self.latitude),
            longitude: float(self.longitude),
            postal_code: None,
            geoname_id: int(self.geoname_id).and_then(|id| u32::try_from(id).ok()),
        }
    }
}

/// Writes an identity into `key`: account, Region and `city_network_id` (`CityNetworkKey`'s
/// text), each part ended by a byte no text of them holds, a missing part marked apart from
/// an empty one.
fn identity_key(key: &mut String, parts: [Option<&str>; 3]) {
    key.clear();
    for part in parts {
        match part {
            Some(part) => {
                key.push('=');
                key.push_str(part);
            }
            None => key.push('-'),
        }
        key.push('\u{0}');
    }
}

/// The traffic columns of a `city_networks` or `client_prefixes` batch: bytes in, bytes out,
/// flows, rejected flows.
fn traffic_arrays(batch: &RecordBatch) -> [Option<&Int64Array>; 4] {
    ["bytes_in", "bytes_out", "flows", "rejected_flows"].map(|name| int64s(batch, name))
}

fn texts<'b>(batch: &'b RecordBatch, name: &str) -> Option<&'b StringArray> {
    batch.column_by_name(name)?.as_string_opt::<i32>()
}

fn int64s<'b>(batch: &'b RecordBatch, name: &str) -> Option<&'b Int64Array> {
    batch.column_by_name(name)?.as_primitive_opt::<Int64Type>()
}

fn doubles<'b>(batch: &'b RecordBatch, name: &str) -> Option<&'b Float64Array> {
    batch
        .column_by_name(name)?
        .as_primitive_opt::<Float64Type>()
}

fn millis<'b>(batch: &'b RecordBatch, name: &str) -> Option<&'b TimestampMillisecondArray> {
    batch
        .column_by_name(name)?
        .as_primitive_opt::<TimestampMillisecondType>()
}

/// A cell's text; `None` when null.
fn text(array: &StringArray, row: usize) -> Option<&str> {
    array.is_valid(row).then(|| array.value(row))
}

/// A cell's value; 0 when null or the column is missing (measures add up).
fn value(array: Option<&Int64Array>, row: usize) -> i64 {
    array
        .filter(|array| array.is_valid(row))
        .map_or(0, |array| array.value(row))
}

/// The label the health engine gives a city-network, so events' labels match.
fn label_of(account_id: &Option<Arc<str>>, region: &Option<Arc<str>>, client: &Facts) -> String {
    flowatlas_health::CityNetwork {
        account_id: account_id.clone(),
        region: region.clone(),
        client: client.clone(),
    }
    .label()
}

/// The (event, chart) pairs that chart the city-network with this `city_network_id`.
fn charts_of(events: &[EventView], city_network_id: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for (event_index, event) in events.iter().enumerate() {
        for (chart_index, chart) in event.charts.iter().enumerate() {
            if chart.city_network_id == city_network_id {
                found.push((event_index, chart_index));
            }
        }
    }
    found
}

fn top_of(kind: TopKind, mut groups: Vec<GroupSums>, from: i64, to: i64) -> Top {
    let n_entries = groups.len();
    groups.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.label.cmp(&b.label)));
    groups.truncate(TOP_N);
    let span = (to - from).max(1);
    let n_points = (span / WINDOW_SECONDS).clamp(1, SPARK_POINTS);
    let rows = groups
        .into_iter()
        .map(|mut group| {
            let mut sparkline = vec![0; n_points as usize];
            for (&window, &bytes) in group.by_window() {
                let point = ((window - from).clamp(0, span - 1) * n_points / span) as usize;
                if let Some(slot) = sparkline.get_mut(point) {
                    *slot += bytes;
                }
            }
            TopRow {
                score: group.score(),
                label: group.label,
                bytes: group.bytes,
                flows: group.flows,
                rejected_flows: group.rejected_flows,
                sparkline,
            }
        })
        .collect();
    Top {
        kind,
        rows,
        n_entries,
    }
}
