//! What the page shows, summed from the tables' rows: traffic and availability per window,
//! one entry per city-network for the map, the events with their evidence, and the top
//! networks. Rows are added in any order and any number of batches, so a week of data never
//! has to be in memory at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use flowatlas_geo::Facts;
use flowatlas_health::{CityNetworkHealth, Identity};
use flowatlas_rollup::{CityNetworkKey, CityNetworkRow, PrefixRow, WINDOW_SECONDS};
use flowatlas_tables::HealthEventRecord;

/// Entries kept in each top table.
pub const TOP_N: usize = 20;
/// Points of a top table's sparkline at most.
const SPARK_POINTS: i64 = 48;
/// Impacted city-networks charted per event at most (the table lists them all).
const CHARTS_PER_EVENT: usize = 4;
/// Time shown around an event in its charts, so the drop stands against normal traffic.
const EVENT_MARGIN_SECONDS: i64 = 3_600;

/// What makes two rows the same city-network: the service location (account and Region) and
/// the clients' [`CityNetworkKey`] (ASN and place). Coordinates, metro code and names are
/// attributes, taken from the row with the most bytes. The one place the report decides
/// identity; it is the health engine's [`Identity`].
pub fn city_network_key(
    account_id: &Option<Arc<str>>,
    region: &Option<Arc<str>>,
    client: &Facts,
) -> Identity {
    (
        account_id.clone(),
        region.clone(),
        CityNetworkKey::of(client),
    )
}

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
    /// Window start → (expected bytes, observed bytes), summed over the service locations
    /// that share the label.
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
}

impl Report {
    /// No traffic in the range: the page says so.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

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
    /// (event, chart) pairs this city-network's health rows feed, found on first sight.
    charts: Option<Vec<(usize, usize)>>,
    /// The top groups it counts in, found on first sight: naming a group per row cost more
    /// than all the sums.
    groups: Option<Vec<(TopKind, String)>>,
}

#[derive(Default)]
struct GroupSums {
    label: String,
    bytes: i64,
    flows: i64,
    rejected_flows: i64,
    expected_bytes: f64,
    impacted_bytes: f64,
    /// Bytes per window start.
    by_window: HashMap<i64, i64>,
}

impl GroupSums {
    fn score(&self) -> Option<f64> {
        (self.expected_bytes > 0.0)
            .then(|| 100.0 * (1.0 - self.impacted_bytes / self.expected_bytes).clamp(0.0, 1.0))
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
}

/// Sums rows into a [`Report`]. Events come first, so the health rows that chart them are
/// picked out as they pass.
pub struct ReportBuilder {
    from: Option<i64>,
    to: Option<i64>,
    windows: BTreeMap<i64, WindowSums>,
    city_networks: HashMap<Identity, CityNetworkSums>,
    groups: [HashMap<String, GroupSums>; 4],
    events: Vec<EventView>,
    assessed: bool,
}

impl ReportBuilder {
    /// A report of `[from, to)` (Unix seconds; the data's own span when `None`) with the
    /// events that cover it.
    pub fn new(from: Option<i64>, to: Option<i64>, events: Vec<HealthEventRecord>) -> Self {
        let events = events
            .into_iter()
            .map(|record| EventView {
                charts: record
                    .impacted_city_networks
                    .iter()
                    .take(CHARTS_PER_EVENT)
                    .map(|label| ImpactChart {
                        label: label.clone(),
                        points: BTreeMap::new(),
                    })
                    .collect(),
                record,
            })
            .collect();
        ReportBuilder {
            from,
            to,
            windows: BTreeMap::new(),
            city_networks: HashMap::new(),
            groups: Default::default(),
            events,
            assessed: false,
        }
    }

    /// Whether a window is in the range, as a test that does not hold on to `self`.
    fn in_range(&self) -> impl Fn(i64) -> bool + use<> {
        let (from, to) = (self.from, self.to);
        move |window_start| {
            from.is_none_or(|from| window_start >= from) && to.is_none_or(|to| window_start < to)
        }
    }

    /// Adds `city_networks` rows (rows outside the range are ignored).
    pub fn add_city_networks(&mut self, rows: &[CityNetworkRow]) {
        let in_range = self.in_range();
        for row in rows.iter().filter(|row| in_range(row.window_start)) {
            let measures = &row.measures;
            let bytes = measures.bytes_in + measures.bytes_out;
            let window = self.windows.entry(row.window_start).or_default();
            window.bytes_in += measures.bytes_in;
            window.bytes_out += measures.bytes_out;
            let key = city_network_key(&row.location.account_id, &row.location.region, &row.client);
            let sums = self.city_networks.entry(key).or_default();
            if sums.label.is_empty() || bytes > sums.attribute_bytes {
                sums.account_id.clone_from(&row.location.account_id);
                sums.region.clone_from(&row.location.region);
                sums.client = row.client.clone();
                sums.attribute_bytes = bytes;
                sums.label = label_of(&row.location.account_id, &row.location.region, &row.client);
            }
            sums.bytes += bytes;
            sums.flows += measures.flows;
            sums.rejected_flows += measures.rejected_flows;
            let groups = &mut self.groups;
            let keys = sums
                .groups
                .get_or_insert_with(|| group_keys(groups, &row.client));
            for (kind, key) in keys.iter() {
                let Some(group) = groups[*kind as usize].get_mut(key) else {
                    continue;
                };
                group.bytes += bytes;
                group.flows += measures.flows;
                group.rejected_flows += measures.rejected_flows;
                *group.by_window.entry(row.window_start).or_default() += bytes;
            }
        }
    }

    /// Adds `client_prefixes` rows.
    pub fn add_prefixes(&mut self, rows: &[PrefixRow]) {
        let in_range = self.in_range();
        for row in rows.iter().filter(|row| in_range(row.window_start)) {
            let measures = &row.measures;
            let bytes = measures.bytes_in + measures.bytes_out;
            let prefix = row.client_prefix.to_string();
            let group = self.groups[TopKind::Prefix as usize]
                .entry(prefix.clone())
                .or_default();
            if group.label.is_empty() {
                group.label = match (row.client_asn, row.client_as_name.as_deref()) {
                    (Some(asn), Some(name)) => format!("{prefix} (AS{asn} {name})"),
                    (Some(asn), None) => format!("{prefix} (AS{asn})"),
                    (None, _) => prefix,
                };
            }
            group.bytes += bytes;
            group.flows += measures.flows;
            group.rejected_flows += measures.rejected_flows;
            *group.by_window.entry(row.window_start).or_default() += bytes;
        }
    }

    /// Adds `city_network_health` rows.
    pub fn add_health(&mut self, rows: &[CityNetworkHealth]) {
        let in_range = self.in_range();
        for row in rows.iter().filter(|row| in_range(row.window_start)) {
            self.assessed = true;
            let city_network = &row.city_network;
            let expected = row.expected_bytes.unwrap_or(row.observed_bytes) as f64;
            let impacted = row
                .percent_of_client_location_impacted
                .map(|percent| percent / 100.0 * expected);
            let window = self.windows.entry(row.window_start).or_default();
            window.judged |= row.demand_scale.is_some();
            window.impacted_percent += row.percent_of_total_traffic_impacted.unwrap_or(0.0);
            let key = city_network_key(
                &city_network.account_id,
                &city_network.region,
                &city_network.client,
            );
            let sums = self.city_networks.entry(key).or_default();
            if let Some(impacted) = impacted {
                let groups = &mut self.groups;
                let keys = sums
                    .groups
                    .get_or_insert_with(|| group_keys(groups, &city_network.client));
                for (kind, key) in keys.iter() {
                    if let Some(group) = groups[*kind as usize].get_mut(key) {
                        group.expected_bytes += expected;
                        group.impacted_bytes += impacted;
                    }
                }
            }
            if let Some(score) = row.availability_score {
                sums.lowest_score = Some(sums.lowest_score.map_or(score, |low| low.min(score)));
            }
            let range_end = self.to.unwrap_or(i64::MAX);
            let charts = sums.charts.get_or_insert_with(|| {
                let label = city_network.label();
                charts_of(&self.events, &label)
            });
            for &(event, chart) in charts.iter() {
                let (start, end) = self.events[event].span(range_end);
                if (start..end).contains(&row.window_start) {
                    let point = self.events[event].charts[chart]
                        .points
                        .entry(row.window_start)
                        .or_default();
                    point.1 += row.observed_bytes;
                    if let Some(expected) = row.expected_bytes {
                        point.0 = Some(point.0.unwrap_or(0) + expected);
                    }
                }
            }
        }
    }

    /// The report.
    pub fn finish(self) -> Report {
        let first = self.windows.keys().next().copied();
        let last = self.windows.keys().next_back().copied();
        let from = self.from.or(first).unwrap_or(0);
        let to = self
            .to
            .or(last.map(|last| last + WINDOW_SECONDS))
            .unwrap_or(from);
        // Health rows alone (no traffic) do not make a window with data.
        let windows: Vec<WindowPoint> = self
            .windows
            .into_iter()
            .filter(|(_, sums)| sums.bytes_in + sums.bytes_out > 0)
            .map(|(start, sums)| WindowPoint {
                start,
                bytes_in: sums.bytes_in,
                bytes_out: sums.bytes_out,
                availability: sums
                    .judged
                    .then(|| (100.0 - sums.impacted_percent).max(0.0)),
            })
            .collect();
        let total_bytes = windows.iter().map(|w| w.bytes_in + w.bytes_out).sum();
        let mut city_networks: Vec<CityNetworkView> = self
            .city_networks
            .into_values()
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
            .map(|(kind, groups)| top_of(kind, groups, from, to))
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
        }
    }
}

/// The groups a city-network's clients count in, created (with their labels) when new.
fn group_keys(
    groups: &mut [HashMap<String, GroupSums>; 4],
    client: &Facts,
) -> Vec<(TopKind, String)> {
    TopKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let (key, label) = kind.group_of(client)?;
            let group = groups[kind as usize].entry(key.clone()).or_default();
            if group.label.is_empty() {
                group.label = label;
            }
            Some((kind, key))
        })
        .collect()
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

/// The (event, chart) pairs that chart a city-network with this label.
fn charts_of(events: &[EventView], label: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for (event_index, event) in events.iter().enumerate() {
        for (chart_index, chart) in event.charts.iter().enumerate() {
            if chart.label == label {
                found.push((event_index, chart_index));
            }
        }
    }
    found
}

fn top_of(kind: TopKind, groups: HashMap<String, GroupSums>, from: i64, to: i64) -> Top {
    let n_entries = groups.len();
    let mut groups: Vec<GroupSums> = groups.into_values().collect();
    groups.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.label.cmp(&b.label)));
    groups.truncate(TOP_N);
    let span = (to - from).max(1);
    let n_points = (span / WINDOW_SECONDS).clamp(1, SPARK_POINTS);
    let rows = groups
        .into_iter()
        .map(|group| {
            let mut sparkline = vec![0; n_points as usize];
            for (&window, &bytes) in &group.by_window {
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
