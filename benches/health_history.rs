//! Four weeks of rollup tables for many city-networks, for timing one scheduled health run
//! (`flowatlas health --at`) against the run that reads all of history (`--from/--to`).
//! Real-shaped: city-networks are Zipf-ranked, so a few carry most bytes and most are silent in
//! most windows (the network ranked `i` sends in a window with probability
//! `min(1, 20 / i^0.7)`), traffic follows a daily rhythm with log-normal noise, and each row
//! comes with its client prefix. Rows are made and written hour by hour, so four weeks never
//! sit in memory.

use std::collections::BTreeSet;
use std::f64::consts::PI;
use std::path::Path;
use std::sync::Arc;

use flowatlas_demo::Random;
use flowatlas_geo::Facts;
use flowatlas_rollup::{
    CityNetworkKey, CityNetworkRow, Measures, PrefixRow, ServiceLocation, WINDOW_SECONDS,
};
use flowatlas_tables::{WriteError, city_networks, client_prefixes, write_partitioned};

/// Rows and files written.
#[derive(Clone, Copy, Debug, Default)]
pub struct HistoryFiles {
    /// Parquet files.
    pub n_files: usize,
    /// `city_networks` rows (as many `client_prefixes` rows).
    pub n_rows: usize,
}

/// Writes `city_networks` and `client_prefixes` of the hours `[from, to)` (hour starts) for
/// `n_city_networks` city-networks under `dir`; only the hours in `only` when given (what one
/// scheduled run reads). The same seed gives the same rows for an hour whatever else is
/// written.
pub fn write_history(
    dir: &Path,
    n_city_networks: usize,
    from: i64,
    to: i64,
    only: Option<&BTreeSet<i64>>,
) -> Result<HistoryFiles, WriteError> {
    let location = ServiceLocation {
        account_id: Some(Arc::from("123456789012")),
        region: Some(Arc::from("us-east-1")),
        az_id: Some(Arc::from("use1-az1")),
        vpc_id: None,
    };
    let networks: Vec<(Facts, Arc<str>, String)> = (0..n_city_networks)
        .map(|rank| {
            let asn = 64_512 + (rank % 3_000) as u32;
            let client = Facts {
                asn: Some(asn),
                as_name: Some(Arc::from(format!("Network {asn}"))),
                country_code: Some(Arc::from(["US", "DE", "BR", "IN", "JP"][rank % 5])),
                city: Some(Arc::from(format!("City {}", rank / 3))),
                latitude: Some(-50.0 + (rank * 37 % 1200) as f64 / 10.0),
                longitude: Some(-180.0 + (rank * 73 % 3600) as f64 / 10.0),
                geoname_id: Some(2_000_000 + (rank / 3) as u32),
                ..Facts::default()
            };
            let id = Arc::from(CityNetworkKey::of(&client).to_string());
            let prefix = format!("10.{}.{}.0/24", rank / 256 % 256, rank % 256);
            (client, id, prefix)
        })
        .collect();
    let mut files = HistoryFiles::default();
    for hour in (from..to).step_by(3_600) {
        if only.is_some_and(|only| !only.contains(&hour)) {
            continue;
        }
        let mut rows = Vec::new();
        let mut prefixes = Vec::new();
        for window_start in (hour..hour + 3_600).step_by(WINDOW_SECONDS as usize) {
            let mut random = Random(window_start as u64);
            let day_phase = (window_start % 86_400) as f64 / 86_400.0;
            let rhythm = 1.0 + 0.5 * (2.0 * PI * (day_phase - 0.3)).sin();
            for (rank, (client, id, prefix)) in networks.iter().enumerate() {
                let sends = (20.0 / ((rank + 1) as f64).powf(0.7)).min(1.0);
                if random.unit() >= sends {
                    continue;
                }
                let flows = ((5_000.0 / (rank + 1) as f64) * rhythm * (0.3 * random.normal()).exp())
                    .max(1.0) as i64;
                let measures = Measures {
                    bytes_in: flows * 1_200,
                    bytes_out: flows * 9_000,
                    packets_in: flows * 8,
                    packets_out: flows * 10,
                    flows,
                    accepted_flows: flows,
                    tcp_syn_in: flows,
                    tcp_synack_out: flows,
                    tcp_fin_in: flows,
                    tcp_fin_out: flows,
                    ..Measures::default()
                };
                rows.push(CityNetworkRow {
                    window_start,
                    location: location.clone(),
                    client: client.clone(),
                    measures,
                    client_ips: flows.min(200),
                });
                prefixes.push(PrefixRow {
                    window_start,
                    location: location.clone(),
                    client_prefix: prefix.parse().unwrap_or_else(|_| unreachable!("{prefix}")),
                    city_network_id: id.clone(),
                    client_asn: client.asn,
                    client_as_name: client.as_name.clone(),
                    client_country_code: client.country_code.clone(),
                    client_city: client.city.clone(),
                    measures,
                    client_ips: flows.min(200),
                });
            }
        }
        files.n_rows += rows.len();
        files.n_files += write_partitioned(&city_networks(), &rows, dir, "bench")?.len();
        files.n_files += write_partitioned(&client_prefixes(), &prefixes, dir, "bench")?.len();
    }
    Ok(files)
}
