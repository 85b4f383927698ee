//! A week of many synthetic city-networks for the HTML report: the size test
//! (`tests/report_size.rs`) and the timing (`report.rs`) render the same data. Rows are fed
//! window by window, as [`ReportBuilder`] allows, so a week of a thousand city-networks never
//! sits in memory as rows.

use std::f64::consts::PI;
use std::sync::Arc;

use flowatlas_geo::{Facts, IpNetwork};
use flowatlas_health::{
    CityNetwork, CityNetworkHealth, ImpactType, Method, RatioEvidence, Signal, Status,
};
use flowatlas_report::{Report, ReportBuilder};
use flowatlas_rollup::{CityNetworkRow, Measures, PrefixRow, ServiceLocation, WINDOW_SECONDS};
use flowatlas_tables::HealthEventRecord;

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
    prefix: IpNetwork,
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
            let prefix = format!("198.{}.{}.0/24", 18 + index / 256 % 2, index % 256);
            Synthetic {
                city_network: Arc::new(CityNetwork {
                    account_id: Some(account.clone()),
                    region: Some(region.clone()),
                    client,
                }),
                prefix: prefix.parse().expect("a /24 of 198.18.0.0/15"),
                // Heavy-tailed: the first networks carry most of the traffic.
                peak_bytes: 4e9 / (index as f64 + 1.0),
            }
        })
        .collect()
}

/// The report of a week (from [`WEEK_START`]) of `n_city_networks` city-networks with a
/// daily rhythm, health rows for every window and one local outage as an event.
pub fn report_week(n_city_networks: usize) -> Report {
    let networks = synthetic(n_city_networks);
    let outage_start = WEEK_START + OUTAGE.start * WINDOW_SECONDS;
    let outage_end = WEEK_START + OUTAGE.end * WINDOW_SECONDS;
    let victim = networks.first().map(|network| network.city_network.label());
    let events = victim
        .into_iter()
        .map(|label| HealthEventRecord {
            event_id: "2026-06-04T11-20-00Z/local-availability-synthetic".to_string(),
            impact_type: ImpactType::LocalAvailability,
            status: Status::Resolved,
            started_at: outage_start,
            detected_at: outage_start + 2 * WINDOW_SECONDS,
            ended_at: Some(outage_end),
            health_score_threshold: 60.0,
            percent_of_total_traffic_impacted: 20.0,
            peak_percent_of_total_traffic_impacted: 25.0,
            lowest_availability_score: 10.0,
            impacted_windows: OUTAGE.end - OUTAGE.start,
            expected_bytes: 0,
            observed_bytes: 0,
            signals: vec![Signal::Traffic],
            impacted_asns: vec![64_512],
            impacted_city_networks: vec![label],
            impacted_prefixes: vec!["198.18.0.0/24".to_string()],
            rtt_source: None,
            round_trip_time: None,
            expected_round_trip_time: None,
            retransmission: RatioEvidence::default(),
        })
        .collect();
    let mut builder = ReportBuilder::new(
        Some(WEEK_START),
        Some(WEEK_START + WEEK_WINDOWS * WINDOW_SECONDS),
        events,
    );
    let location = |network: &Synthetic| ServiceLocation {
        account_id: network.city_network.account_id.clone(),
        region: network.city_network.region.clone(),
        az_id: None,
        vpc_id: None,
    };
    let ratio = RatioEvidence::default();
    for window in 0..WEEK_WINDOWS {
        let window_start = WEEK_START + window * WINDOW_SECONDS;
        let hour = (window_start % 86_400) as f64 / 3_600.0;
        let rhythm = 0.6 + 0.4 * (2.0 * PI * (hour - 8.0) / 24.0).sin();
        let mut city_rows = Vec::with_capacity(networks.len());
        let mut prefix_rows = Vec::with_capacity(networks.len());
        let mut health_rows = Vec::with_capacity(networks.len());
        for (index, network) in networks.iter().enumerate() {
            let expected = network.peak_bytes * rhythm;
            let hit = index == 0 && OUTAGE.contains(&window);
            let observed = if hit { expected * 0.1 } else { expected } as i64;
            let flows = (observed / 20_000).max(1);
            let measures = Measures {
                bytes_in: observed / 5,
                bytes_out: observed - observed / 5,
                flows,
                accepted_flows: flows - flows / 50,
                rejected_flows: flows / 50,
                ..Measures::default()
            };
            city_rows.push(CityNetworkRow {
                window_start,
                location: location(network),
                client: network.city_network.client.clone(),
                measures,
                client_ips: 10,
            });
            let client = &network.city_network.client;
            prefix_rows.push(PrefixRow {
                window_start,
                location: location(network),
                client_prefix: network.prefix,
                city_network_id: Arc::from(""),
                client_asn: client.asn,
                client_as_name: client.as_name.clone(),
                client_country_code: client.country_code.clone(),
                client_city: client.city.clone(),
                measures,
                client_ips: 10,
            });
            let score = if hit { 10.0 } else { 100.0 };
            health_rows.push(CityNetworkHealth {
                window_start,
                city_network: network.city_network.clone(),
                observed_bytes: observed,
                expected_bytes: Some(expected as i64),
                baseline: Some(Method::SameTimeOfDay),
                history_days: 7,
                demand_scale: Some(1.0),
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
        builder.add_city_networks(&city_rows);
        builder.add_prefixes(&prefix_rows);
        builder.add_health(&health_rows);
    }
    builder.finish()
}
