//! A week of many synthetic city-networks for the HTML report: the size test
//! (`tests/report_size.rs`) and the timing (`report.rs`) render the same data, and
//! [`write_week`] writes it as tables (`flowatlas-bench report-week`) for timing `flowatlas
//! report` on files. Real-shaped: each city-network is served from two Availability Zones
//! (two rows per window, placed at their own coordinates, in two files per hour as two
//! objects' outputs are) through two client prefixes, with a daily rhythm, heavy-tailed sizes
//! and one outage. Rows are made window by window, so a week of a thousand city-networks never
//! sits in memory as rows.

use std::f64::consts::PI;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use flowatlas_geo::{Facts, IpNetwork};
use flowatlas_health::{
    CityNetwork, CityNetworkHealth, HealthEvent, ImpactType, ImpactedLocation, Method,
    RatioEvidence, Signal, Status,
};
use flowatlas_report::{Report, ReportBuilder};
use flowatlas_rollup::{
    CityNetworkKey, CityNetworkRow, Measures, PrefixRow, ServiceLocation, WINDOW_SECONDS,
};
use flowatlas_tables::{
    HEALTH_SOURCE_ID, HealthEventRecord, WriteError, WrittenFile, city_network_health,
    city_networks, client_prefixes, health_events, write_partitioned,
};

/// 2026-06-01T00:00:00Z, a Monday.
pub const WEEK_START: i64 = 1_780_272_000;
/// Windows in a week.
pub const WEEK_WINDOWS: i64 = 7 * 86_400 / WINDOW_SECONDS;
/// The windows of the one outage: city-network 0 loses 90% of its traffic.
const OUTAGE: std::ops::Range<i64> = 1_000..1_012;

const COUNTRIES: [(&str, &str); 10] = [
    ("US", "United States"),
    ("GB", "United Kingdom"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("BR", "Brazil"),
    ("IN", "India"),
    ("JP", "Japan"),
    ("AU", "Australia"),
    ("ZA", "South Africa"),
    ("CA", "Canada"),
];

/// One synthetic city-network: its facts, its prefix and its traffic at the daily peak.
struct Synthetic {
    city_network: Arc<CityNetwork>,
    city_network_id: Arc<str>,
    /// One client prefix per zone.
    prefixes: [IpNetwork; 2],
    peak_bytes: f64,
}

fn synthetic(n_city_networks: usize) -> Vec<Synthetic> {
    let account: Arc<str> = Arc::from("123456789012");
    let region: Arc<str> = Arc::from("us-east-1");
    (0..n_city_networks)
        .map(|index| {
            let asn = 64_512 + (index % 400) as u32;
            let (code, country) = COUNTRIES[index % COUNTRIES.len()];
            let client = Facts {
                asn: Some(asn),
                as_name: Some(Arc::from(format!("Network {asn}"))),
                country_code: Some(Arc::from(code)),
                country: Some(Arc::from(country)),
                subdivision_code: Some(Arc::from("S1")),
                subdivision: Some(Arc::from("Subdivision")),
                city: Some(Arc::from(format!("City {}", index / 2))),
                metro_code: None,
                latitude: Some(-50.0 + (index * 37 % 1200) as f64 / 10.0),
                longitude: Some(-180.0 + (index * 73 % 3600) as f64 / 10.0),
                postal_code: None,
                geoname_id: Some(1_000_000 + (index / 2) as u32),
            };
            let prefix = |zone: usize| {
                let number = 2 * index + zone;
                format!("198.{}.{}.0/24", 18 + number / 256 % 2, number % 256)
                    .parse()
                    .expect("a /24 of 198.18.0.0/15")
            };
            Synthetic {
                city_network_id: Arc::from(CityNetworkKey::of(&client).to_string()),
                city_network: Arc::new(CityNetwork {
                    account_id: Some(account.clone()),
                    region: Some(region.clone()),
                    client,
                }),
                prefixes: [prefix(0), prefix(1)],
                // Heavy-tailed: the first networks carry most of the traffic.
                peak_bytes: 4e9 / (index as f64 + 1.0),
            }
        })
        .collect()
}

/// The Availability Zones each city-network is served from, and the share of its traffic
/// each carries.
const ZONES: [(&str, f64); 2] = [("use1-az1", 0.6), ("use1-az4", 0.4)];

/// One window's rows of every table.
pub struct WeekWindow {
    /// `city_networks`: two rows per city-network, one per zone.
    pub city_rows: Vec<CityNetworkRow>,
    /// `client_prefixes`: two per city-network, one per zone.
    pub prefix_rows: Vec<PrefixRow>,
    /// `city_network_health`: one per city-network.
    pub health_rows: Vec<CityNetworkHealth>,
}

/// The outage's event as the health engine raises it.
fn outage_event(network: &Synthetic) -> HealthEvent {
    let started_at = WEEK_START + OUTAGE.start * WINDOW_SECONDS;
    HealthEvent {
        event_id: "2026-06-04T11-20-00Z/local-availability-synthetic".to_string(),
        impact_type: ImpactType::LocalAvailability,
        status: Status::Resolved,
        started_at,
        detected_at: started_at + 2 * WINDOW_SECONDS,
        ended_at: Some(WEEK_START + OUTAGE.end * WINDOW_SECONDS),
        health_score_threshold: 60.0,
        percent_of_total_traffic_impacted: 20.0,
        peak_percent_of_total_traffic_impacted: 25.0,
        lowest_availability_score: 10.0,
        impacted_windows: OUTAGE.end - OUTAGE.start,
        expected_bytes: 0,
        observed_bytes: 0,
        signals: vec![Signal::Traffic],
        impacted_locations: vec![ImpactedLocation {
            city_network: network.city_network.clone(),
            expected_bytes: 0,
            observed_bytes: 0,
            peak_percent_of_client_location_impacted: 90.0,
            peak_percent_of_total_traffic_impacted: 25.0,
            prefixes: vec![network.prefixes[0].to_string()],
            performance: None,
        }],
    }
}

/// Hands the rows of each window of the week, in order, to `each`.
fn for_each_window(networks: &[Synthetic], mut each: impl FnMut(i64, WeekWindow)) {
    let ratio = RatioEvidence::default();
    for window in 0..WEEK_WINDOWS {
        let window_start = WEEK_START + window * WINDOW_SECONDS;
        let hour = (window_start % 86_400) as f64 / 3_600.0;
        let rhythm = 0.6 + 0.4 * (2.0 * PI * (hour - 8.0) / 24.0).sin();
        let mut rows = WeekWindow {
            city_rows: Vec::with_capacity(2 * networks.len()),
            prefix_rows: Vec::with_capacity(2 * networks.len()),
            health_rows: Vec::with_capacity(networks.len()),
        };
        for (index, network) in networks.iter().enumerate() {
            let expected = network.peak_bytes * rhythm;
            let hit = index == 0 && OUTAGE.contains(&window);
            let observed = if hit { expected * 0.1 } else { expected } as i64;
            let client = &network.city_network.client;
            for (zone_index, (zone, share)) in ZONES.into_iter().enumerate() {
                let bytes = (observed as f64 * share) as i64;
                let flows = (bytes / 20_000).max(1);
                let measures = Measures {
                    bytes_in: bytes / 5,
                    bytes_out: bytes - bytes / 5,
                    flows,
                    accepted_flows: flows - flows / 50,
                    rejected_flows: flows / 50,
                    ..Measures::default()
                };
                let location = ServiceLocation {
                    account_id: network.city_network.account_id.clone(),
                    region: network.city_network.region.clone(),
                    az_id: Some(Arc::from(zone)),
                    vpc_id: Some(Arc::from("vpc-0a1b2c3d")),
                };
                // Each zone's clients come through their own network of the city, placed apart.
                let mut placed = client.clone();
                placed.latitude = client
                    .latitude
                    .map(|latitude| latitude + 0.1 * zone_index as f64);
                placed.postal_code = Some(Arc::from(format!("P{index}-{zone_index}")));
                rows.city_rows.push(CityNetworkRow {
                    window_start,
                    location: location.clone(),
                    client: placed,
                    measures,
                    client_ips: 10,
                });
                rows.prefix_rows.push(PrefixRow {
                    window_start,
                    location,
                    client_prefix: network.prefixes[zone_index],
                    city_network_id: network.city_network_id.clone(),
                    client_asn: client.asn,
                    client_as_name: client.as_name.clone(),
                    client_country_code: client.country_code.clone(),
                    client_city: client.city.clone(),
                    measures,
                    client_ips: 10,
                });
            }
            let score = if hit { 10.0 } else { 100.0 };
            rows.health_rows.push(CityNetworkHealth {
                window_start,
                city_network: network.city_network.clone(),
                observed_bytes: observed,
                expected_bytes: Some(expected as i64),
                baseline: Some(Method::SameTimeOfDay),
                history_days: 7,
                demand_scale: Some(1.0),
                window_demand: Some(1.0),
                availability_score: Some(score),
                performance_score: None,
                percent_of_client_location_impacted: Some(100.0 - score),
                percent_of_total_traffic_impacted: Some(if hit { 20.0 } else { 0.0 }),
                percent_of_total_traffic: 0.0,
                unanswered_out: ratio,
                unanswered_in: ratio,
                reset: ratio,
                rejected: ratio,
                impact_signal: hit.then_some(Signal::Traffic),
                performance: None,
            });
        }
        each(window_start, rows);
    }
}

/// The report of a week (from [`WEEK_START`]) of `n_city_networks` city-networks with a
/// daily rhythm, health rows for every window and one local outage as an event, built from
/// rows in memory.
pub fn report_week(n_city_networks: usize) -> Report {
    let networks = synthetic(n_city_networks);
    let events = networks
        .first()
        .map(|network| as_record(&outage_event(network)))
        .into_iter()
        .collect();
    let mut builder = ReportBuilder::new(
        Some(WEEK_START),
        Some(WEEK_START + WEEK_WINDOWS * WINDOW_SECONDS),
        events,
    );
    let (city_table, prefix_table, health_table) =
        (city_networks(), client_prefixes(), city_network_health());
    let mut prefixes = builder.prefix_ranking();
    for_each_window(&networks, |_, rows| {
        // As the tables give them back: batches of the tables' own schemas.
        let batch = |result: Result<RecordBatch, _>| result.expect("rows fit their table");
        builder.add_city_networks(&batch(city_table.batch(&rows.city_rows)));
        prefixes.add(&batch(prefix_table.batch(&rows.prefix_rows)));
        builder.add_health(&batch(health_table.batch(&rows.health_rows)));
    });
    builder.set_prefixes(prefixes);
    builder.finish()
}

/// An event as the `health_events` table gives it back.
fn as_record(event: &HealthEvent) -> HealthEventRecord {
    HealthEventRecord {
        event_id: event.event_id.clone(),
        impact_type: event.impact_type,
        status: event.status,
        started_at: event.started_at,
        detected_at: event.detected_at,
        ended_at: event.ended_at,
        health_score_threshold: event.health_score_threshold,
        percent_of_total_traffic_impacted: event.percent_of_total_traffic_impacted,
        peak_percent_of_total_traffic_impacted: event.peak_percent_of_total_traffic_impacted,
        lowest_availability_score: event.lowest_availability_score,
        impacted_windows: event.impacted_windows,
        expected_bytes: event.expected_bytes,
        observed_bytes: event.observed_bytes,
        signals: event.signals.clone(),
        impacted_asns: event.asns(),
        impacted_city_networks: event
            .impacted_locations
            .iter()
            .map(|location| location.city_network.label())
            .collect(),
        impacted_city_network_ids: event
            .impacted_locations
            .iter()
            .map(|location| CityNetworkKey::of(&location.city_network.client).to_string())
            .collect(),
        impacted_prefixes: event
            .impacted_locations
            .iter()
            .flat_map(|location| location.prefixes.clone())
            .collect(),
        rtt_source: None,
        round_trip_time: None,
        expected_round_trip_time: None,
        retransmission: RatioEvidence::default(),
    }
}

/// What [`write_week`] wrote.
#[derive(Clone, Copy, Debug, Default)]
pub struct WeekFiles {
    /// Parquet files.
    pub n_files: usize,
    /// Rows in them.
    pub n_rows: u64,
}

/// Writes the week of `n_city_networks` city-networks under `dir` as the pipeline and the
/// health engine write their tables: `city_networks` and `client_prefixes` in two files per
/// hour (one per zone, as two objects' outputs), `city_network_health` and `health_events`
/// in one per hour. Memory holds one hour of rows.
pub fn write_week(dir: &Path, n_city_networks: usize) -> Result<WeekFiles, WriteError> {
    let networks = synthetic(n_city_networks);
    let mut files = WeekFiles::default();
    let mut count = |written: Vec<WrittenFile>| {
        files.n_files += written.len();
        files.n_rows += written.iter().map(|file| file.rows).sum::<u64>();
    };
    if let Some(network) = networks.first() {
        count(write_partitioned(
            &health_events(),
            &[outage_event(network)],
            dir,
            HEALTH_SOURCE_ID,
        )?);
    }
    let (city_table, prefix_table, health_table) =
        (city_networks(), client_prefixes(), city_network_health());
    let mut hour = WeekWindow {
        city_rows: Vec::new(),
        prefix_rows: Vec::new(),
        health_rows: Vec::new(),
    };
    let mut result = Ok(());
    for_each_window(&networks, |window_start, rows| {
        hour.city_rows.extend(rows.city_rows);
        hour.prefix_rows.extend(rows.prefix_rows);
        hour.health_rows.extend(rows.health_rows);
        let hour_ends = (window_start + WINDOW_SECONDS) % 3_600 == 0;
        if !hour_ends || result.is_err() {
            return;
        }
        result = (|| {
            for (zone, _) in ZONES {
                let in_zone = |location: &ServiceLocation| location.az_id.as_deref() == Some(zone);
                let city: Vec<CityNetworkRow> = hour
                    .city_rows
                    .iter()
                    .filter(|row| in_zone(&row.location))
                    .cloned()
                    .collect();
                let prefixes: Vec<PrefixRow> = hour
                    .prefix_rows
                    .iter()
                    .filter(|row| in_zone(&row.location))
                    .cloned()
                    .collect();
                let source = format!("eni-{zone}-{window_start}");
                count(write_partitioned(&city_table, &city, dir, &source)?);
                count(write_partitioned(&prefix_table, &prefixes, dir, &source)?);
            }
            count(write_partitioned(
                &health_table,
                &hour.health_rows,
                dir,
                HEALTH_SOURCE_ID,
            )?);
            Ok(())
        })();
        hour.city_rows.clear();
        hour.prefix_rows.clear();
        hour.health_rows.clear();
    });
    result.map(|()| files)
}
