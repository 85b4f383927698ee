//! Weeks of traffic of the demo's world with known incidents, to measure how well health
//! detection works: daily and weekly cycles, noise that grows as networks get smaller, a
//! national holiday, a global demand dip, and injected incidents of known size, place and
//! duration — one ISP in one city, one ISP everywhere, a whole country, one client prefix, and
//! an outage too small to matter. The health crate's tests grade its events against that truth.
//!
//! The scenario produces rollup rows (`city_networks` and `client_prefixes`) directly, window
//! by window, not flow-log objects: four weeks of flow logs would take minutes to write and
//! process in a test. The processing path is covered end to end by the one-day demo, whose
//! London incident `flowatlas health` must find from its flow logs.

use std::f64::consts::PI;
use std::sync::Arc;

use flowatlas_geo::{Facts, IpNetwork};
use flowatlas_rollup::{
    CityNetworkKey, CityNetworkPerformanceRow, CityNetworkRow, Measures, Performance,
    PrefixPerformanceRow, PrefixRow, RttHistogram, RttSource, ServiceLocation, TcpMeasures,
    WINDOW_SECONDS,
};

use crate::random::Random;
use crate::world::{Network, SUBNETS_PER_NETWORK, subnet_place, world};
use crate::{ACCOUNT, DAY_START, REGION};

/// The service's Availability Zones: each client prefix is served from one.
const AZ_IDS: [&str; 2] = ["use1-az1", "use1-az2"];

const DAY: i64 = 86_400;
/// Flows of the whole service per window at the daily peak of a weekday.
const PEAK_FLOWS: f64 = 400_000.0;
/// Mean bytes (in + out) of a flow.
const BYTES_PER_FLOW: f64 = 20_000.0;
/// Weekend traffic against weekdays.
const WEEKEND_FACTOR: f64 = 0.8;
/// Holiday traffic against a normal day, all day in the holiday's country.
const HOLIDAY_FACTOR: f64 = 0.75;
/// The global demand dip.
const DIP_FACTOR: f64 = 0.5;
/// Share of a city-network's traffic on its first prefix; the rest is on a second one.
const MAIN_PREFIX_SHARE: f64 = 0.7;
/// Share of all traffic of the small city-network hit by an incident: near the targets' 0.5%
/// floor of impact once its daily rhythm and the incident's 90% loss are counted.
const SMALL_SHARE: f64 = 0.01;
/// Share of all traffic of the network added to fall below Internet Monitor's 0.1% minimum.
const TINY_SHARE: f64 = 0.0004;

/// Where an incident hits.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    /// One ISP in one city.
    CityNetwork {
        /// The ISP.
        asn: u32,
        /// Name of one of the world's cities.
        city: &'static str,
    },
    /// One ISP in every city it serves.
    Isp {
        /// The ISP.
        asn: u32,
    },
    /// Every network of a country.
    Country {
        /// ISO code.
        country_code: &'static str,
    },
    /// One client prefix.
    Prefix {
        /// The prefix, CIDR text.
        prefix: String,
    },
}

/// An injected incident and its true size.
#[derive(Clone, Debug)]
pub struct InjectedIncident {
    /// What it is, for reports.
    pub name: &'static str,
    /// Where.
    pub scope: Scope,
    /// First affected window, Unix seconds.
    pub start: i64,
    /// End (exclusive), Unix seconds.
    pub end: i64,
    /// Share of the affected traffic that still gets through (0 = full outage).
    pub remaining: f64,
    /// The `city_network_id` of every city-network it touches.
    pub places: Vec<String>,
    /// Mean share of all traffic lost (availability) or degraded (performance) over its
    /// windows, percent, before noise.
    pub percent_of_total_traffic_impacted: f64,
    /// Performance incidents: what happens to round-trip times or loss (traffic is not lost).
    pub slowdown: Option<Slowdown>,
}

/// What a performance incident does to the agent-shaped rows of the networks it hits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Slowdown {
    /// Round-trip times become this many milliseconds (with their usual spread).
    RttTo {
        /// Milliseconds.
        ms: f64,
    },
    /// Round-trip times grow by this many milliseconds.
    RttPlus {
        /// Milliseconds.
        ms: f64,
    },
    /// This share of the segments sent is lost and retransmitted.
    Loss {
        /// 0–1.
        rate: f64,
    },
}

/// Weeks of rows with their ground truth.
pub struct Scenario {
    seed: u64,
    networks: Vec<Network>,
    /// First window, Unix seconds (a Monday, 00:00 UTC).
    pub start: i64,
    /// End (exclusive), Unix seconds.
    pub end: i64,
    /// The incidents, in time order.
    pub incidents: Vec<InjectedIncident>,
    /// The global demand dip: start and end, Unix seconds.
    pub demand_dip: (i64, i64),
    /// The national holiday: country code, start and end (the country's local day, in UTC).
    pub holiday: (&'static str, i64, i64),
    /// Round-trip-time and loss incidents in the agent-shaped rows ([`Scenario::performance_window`]).
    pub performance_incidents: Vec<InjectedIncident>,
    /// A slow drift of every round-trip time that must raise nothing: start, end and the
    /// milliseconds added by the end (kept after it).
    pub drift: (i64, i64, f64),
}

impl Scenario {
    /// `weeks` weeks (at least 3) of the demo world from 2026-06-01, a Monday.
    pub fn new(seed: u64, weeks: u32) -> Scenario {
        let weeks = i64::from(weeks.max(3));
        let mut networks = world();
        let total: f64 = networks.iter().map(|network| network.weight).sum();
        for network in &mut networks {
            network.weight /= total;
        }
        // A network below the minimum traffic impact, alone in its city and AS.
        let sydney = networks
            .iter()
            .find(|network| network.city.name == "Sydney")
            .map(|network| network.city)
            .unwrap_or(networks[0].city);
        networks.push(Network {
            cidr: "198.19.250.0/24".to_string(),
            v6: false,
            index: networks.len() as u32,
            asn: 64510,
            as_name: "Outback Wireless",
            city: sydney,
            weight: TINY_SHARE,
        });
        let biggest_in = |city: &str| -> &Network {
            networks
                .iter()
                .filter(|network| network.city.name == city && !network.v6)
                .max_by(|a, b| a.weight.total_cmp(&b.weight))
                .unwrap_or(&networks[0])
        };
        let london = biggest_in("London");
        let tokyo = biggest_in("Tokyo");
        // A small city-network: about 1% of the traffic, near the targets' 0.5% floor.
        let small = networks
            .iter()
            .filter(|network| !network.v6)
            .min_by(|a, b| {
                (a.weight - SMALL_SHARE)
                    .abs()
                    .total_cmp(&(b.weight - SMALL_SHARE).abs())
            })
            .unwrap_or(&networks[0]);
        let at =
            |day: i64, hour: i64, minute: i64| DAY_START + day * DAY + hour * 3600 + minute * 60;
        let mut scenario = Scenario {
            seed,
            start: DAY_START,
            end: DAY_START + weeks * 7 * DAY,
            incidents: Vec::new(),
            demand_dip: (at(12, 16, 0), at(12, 17, 0)),
            // Local day in France, UTC+2 in June.
            holiday: ("FR", at(14, 0, 0) - 2 * 3600, at(15, 0, 0) - 2 * 3600),
            networks: Vec::new(),
            performance_incidents: Vec::new(),
            drift: (at(21, 0, 0), at(28, 0, 0), DRIFT_MS),
        };
        // A US city-network of 1–10% of the traffic whose usual RTT is nearest 40 ms.
        let forty = networks
            .iter()
            .filter(|network| {
                network.city.country.0 == "US"
                    && !network.v6
                    && (0.01..0.1).contains(&network.weight)
            })
            .min_by(|a, b| {
                (base_rtt_ms(a) - 40.0)
                    .abs()
                    .total_cmp(&(base_rtt_ms(b) - 40.0).abs())
            })
            .unwrap_or(&networks[0]);
        let performance_incidents = vec![
            (
                "RTT of one ISP in one city 40 -> 400 ms, 30 minutes",
                Scope::CityNetwork {
                    asn: forty.asn,
                    city: forty.city.name,
                },
                at(3, 15, 0),
                at(3, 15, 30),
                Slowdown::RttTo { ms: 400.0 },
            ),
            (
                "RTT of a whole country +80 ms, an hour",
                Scope::Country { country_code: "US" },
                at(10, 13, 0),
                at(10, 14, 0),
                Slowdown::RttPlus { ms: 80.0 },
            ),
            (
                "5% loss at one ISP, an hour",
                Scope::Isp { asn: 64498 },
                at(17, 19, 0),
                at(17, 20, 0),
                Slowdown::Loss { rate: 0.05 },
            ),
        ];
        let incidents = vec![
            (
                "one ISP in one city",
                Scope::CityNetwork {
                    asn: london.asn,
                    city: london.city.name,
                },
                at(2, 14, 20),
                at(2, 15, 0),
                0.08,
            ),
            (
                "one ISP everywhere",
                Scope::Isp { asn: 64498 },
                at(9, 10, 0),
                at(9, 11, 0),
                0.3,
            ),
            (
                "a whole country",
                Scope::Country { country_code: "DE" },
                at(16, 18, 0),
                at(16, 18, 30),
                0.0,
            ),
            (
                "one client prefix",
                Scope::Prefix {
                    prefix: tokyo.cidr.clone(),
                },
                at(17, 9, 0),
                at(17, 9, 20),
                0.0,
            ),
            (
                "a small ISP in one city, 15 minutes",
                Scope::CityNetwork {
                    asn: small.asn,
                    city: small.city.name,
                },
                at(22, 20, 0),
                at(22, 20, 15),
                0.1,
            ),
            (
                "a network below the 0.1% minimum",
                Scope::CityNetwork {
                    asn: 64510,
                    city: sydney.name,
                },
                at(24, 3, 0),
                at(24, 4, 0),
                0.0,
            ),
        ];
        scenario.networks = networks;
        for (name, scope, start, end, remaining) in incidents {
            let mut incident = InjectedIncident {
                name,
                scope,
                start,
                end,
                remaining,
                places: Vec::new(),
                percent_of_total_traffic_impacted: 0.0,
                slowdown: None,
            };
            incident.places = scenario
                .networks
                .iter()
                .filter(|network| scenario.lost_share(&incident, network, start) > 0.0)
                .map(city_network_id)
                .collect();
            let windows: Vec<i64> = (start..end).step_by(WINDOW_SECONDS as usize).collect();
            let mean_share: f64 = windows
                .iter()
                .map(|&window| {
                    let clean: Vec<f64> = scenario
                        .networks
                        .iter()
                        .map(|network| scenario.clean_flows(network, window))
                        .collect();
                    let lost: f64 = scenario
                        .networks
                        .iter()
                        .zip(&clean)
                        .map(|(network, flows)| {
                            flows * scenario.lost_share(&incident, network, window)
                        })
                        .sum();
                    lost / clean.iter().sum::<f64>()
                })
                .sum::<f64>()
                / windows.len().max(1) as f64;
            incident.percent_of_total_traffic_impacted = 100.0 * mean_share;
            scenario.incidents.push(incident);
        }
        for (name, scope, start, end, slowdown) in performance_incidents {
            let mut incident = InjectedIncident {
                name,
                scope,
                start,
                end,
                remaining: 1.0,
                places: Vec::new(),
                percent_of_total_traffic_impacted: 0.0,
                slowdown: Some(slowdown),
            };
            let scope = incident.scope.clone();
            let hit =
                |network: &Network| hits(&scope, network, true) || hits(&scope, network, false);
            let places = scenario
                .networks
                .iter()
                .filter(|network| hit(network))
                .map(city_network_id)
                .collect();
            incident.places = places;
            let windows: Vec<i64> = (start..end).step_by(WINDOW_SECONDS as usize).collect();
            let mean_share: f64 = windows
                .iter()
                .map(|&window| {
                    let flows = |network: &Network| scenario.clean_flows(network, window);
                    let hit_flows: f64 = scenario
                        .networks
                        .iter()
                        .filter(|network| hit(network))
                        .map(flows)
                        .sum();
                    hit_flows / scenario.networks.iter().map(flows).sum::<f64>()
                })
                .sum::<f64>()
                / windows.len().max(1) as f64;
            incident.percent_of_total_traffic_impacted = 100.0 * mean_share;
            scenario.performance_incidents.push(incident);
        }
        scenario
    }

    /// The agent-shaped rows of one window (by index): `prefix_performance` and
    /// `city_network_performance` as `flowatlas process` makes them from `tcp_stats`, the same
    /// for the same seed whatever the order asked. Each network's RTT is its distance from the
    /// service's Region plus a last mile (mobile networks slower), with a daily rhythm (busy
    /// evenings are slower), a per-window jitter, a spread per connection and a heavy tail; the
    /// histograms are weighted by bytes; retransmissions are a fraction of a percent.
    pub fn performance_window(
        &self,
        index: usize,
    ) -> (Vec<CityNetworkPerformanceRow>, Vec<PrefixPerformanceRow>) {
        let window_start = self.start + index as i64 * WINDOW_SECONDS;
        let mut random =
            Random(self.seed.rotate_left(17) ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let location = ServiceLocation {
            account_id: Some(Arc::from(ACCOUNT)),
            region: Some(Arc::from(REGION)),
            az_id: None,
            vpc_id: None,
        };
        let (drift_start, drift_end, drift_ms) = self.drift;
        let drift = drift_ms
            * ((window_start - drift_start) as f64 / (drift_end - drift_start) as f64)
                .clamp(0.0, 1.0);
        let active: Vec<&InjectedIncident> = self
            .performance_incidents
            .iter()
            .filter(|incident| (incident.start..incident.end).contains(&window_start))
            .collect();
        let mut city_rows = Vec::new();
        let mut prefix_rows = Vec::new();
        for network in &self.networks {
            let clean = self.clean_flows(network, window_start);
            // Busy evenings (the traffic rhythm's peak) are up to 15% slower.
            let busy = 1.0 + 0.15 * (clean / (PEAK_FLOWS * network.weight)).clamp(0.0, 1.0);
            let jitter = (0.05 * random.normal()).exp();
            let base = base_rtt_ms(network) * busy * jitter + drift;
            let mut merged = Performance::default();
            let mut facts = None;
            for (position, share) in [MAIN_PREFIX_SHARE, 1.0 - MAIN_PREFIX_SHARE]
                .into_iter()
                .enumerate()
            {
                let slowdowns: Vec<Slowdown> = active
                    .iter()
                    .filter(|incident| hits(&incident.scope, network, position == 0))
                    .filter_map(|incident| incident.slowdown)
                    .collect();
                let flows = (clean * share * (0.1 * random.normal()).exp()).max(0.0);
                let bytes = (flows * BYTES_PER_FLOW) as i64;
                let n_samples = ((flows / 8.0) as usize).clamp(2, 16);
                let mut rtt = RttHistogram::default();
                for _ in 0..n_samples {
                    let mut spread = (0.2 * random.normal()).exp();
                    if random.unit() < 0.03 {
                        spread *= 3.0;
                    }
                    let mut ms = base * spread;
                    for slowdown in &slowdowns {
                        match *slowdown {
                            Slowdown::RttTo { ms: to } => ms = to * spread,
                            Slowdown::RttPlus { ms: plus } => ms += plus,
                            Slowdown::Loss { .. } => {}
                        }
                    }
                    rtt.record((ms * 1000.0) as u32, bytes / n_samples as i64);
                }
                let loss: f64 = 0.004 * jitter
                    + slowdowns
                        .iter()
                        .map(|slowdown| match slowdown {
                            Slowdown::Loss { rate } => *rate,
                            _ => 0.0,
                        })
                        .sum::<f64>();
                let segs_out = bytes / 1400;
                let retrans = segs_out as f64 * loss;
                let retrans_segs = (retrans + retrans.sqrt() * random.normal())
                    .round()
                    .max(0.0) as i64;
                let measures = TcpMeasures {
                    connections_new: (flows * 0.9) as i64,
                    connections_closed: (flows * 0.9) as i64,
                    connections_open: (flows * 0.3) as i64,
                    bytes_in: bytes / 5,
                    bytes_out: bytes - bytes / 5,
                    segs_out,
                    retrans_segs,
                    retrans_bytes: retrans_segs * 1400,
                    rtt_samples: n_samples as i64,
                    rtt_min_us: (base * 0.7 * 1000.0) as i64,
                };
                let part = (index + position) as u32 % SUBNETS_PER_NETWORK;
                let client = facts_of(network, part);
                let performance = Performance { measures, rtt };
                merged.measures += performance.measures;
                merged.rtt += &performance.rtt;
                facts.get_or_insert_with(|| client.clone());
                prefix_rows.push(PrefixPerformanceRow {
                    window_start,
                    location: location.clone(),
                    rtt_source: RttSource::TcpSrtt,
                    client_prefix: prefix_of(network, position),
                    client,
                    performance,
                });
            }
            if let Some(client) = facts {
                city_rows.push(CityNetworkPerformanceRow {
                    window_start,
                    location: location.clone(),
                    rtt_source: RttSource::TcpSrtt,
                    client,
                    performance: merged,
                });
            }
        }
        (city_rows, prefix_rows)
    }

    /// City-networks in the world: (ASN, place) pairs, however many coordinates each has.
    pub fn n_city_networks(&self) -> usize {
        self.networks.len()
    }

    /// Windows in the scenario.
    pub fn n_windows(&self) -> usize {
        ((self.end - self.start) / WINDOW_SECONDS) as usize
    }

    /// The rows of one window (by index), the same for the same seed whatever the order asked.
    pub fn window(&self, index: usize) -> (Vec<CityNetworkRow>, Vec<PrefixRow>) {
        let window_start = self.start + index as i64 * WINDOW_SECONDS;
        let mut random = Random(self.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let location = ServiceLocation {
            account_id: Some(Arc::from(ACCOUNT)),
            region: Some(Arc::from(REGION)),
            az_id: None,
            vpc_id: None,
        };
        let mut city_rows = Vec::new();
        let mut prefix_rows = Vec::new();
        for network in &self.networks {
            let clean = self.clean_flows(network, window_start);
            // Noise: counting noise of the flows plus a few percent of everyday wobble.
            let sigma = 0.04 + 1.0 / clean.max(1.0).sqrt();
            let noisy = clean * (sigma * random.normal() - sigma * sigma / 2.0).exp();
            let main_hit = self.remaining_share(network, window_start, true);
            let second_hit = self.remaining_share(network, window_start, false);
            let prefix_flows = [
                noisy * MAIN_PREFIX_SHARE * main_hit,
                noisy * (1.0 - MAIN_PREFIX_SHARE) * second_hit,
            ];
            // Each prefix is served from its own Availability Zone and reaches the tables as
            // its own row, carrying the coordinates of whichever subnet the object saw most of:
            // rows of one city-network differ in coordinates, as on real data.
            for (position, flows) in prefix_flows.into_iter().enumerate() {
                let measures = measures_of(flows, &mut random);
                if measures.flows == 0 {
                    continue;
                }
                let location = ServiceLocation {
                    az_id: Some(Arc::from(AZ_IDS[position % AZ_IDS.len()])),
                    ..location.clone()
                };
                let part = (index + position) as u32 % SUBNETS_PER_NETWORK;
                let facts = facts_of(network, part);
                prefix_rows.push(PrefixRow {
                    window_start,
                    location: location.clone(),
                    client_prefix: prefix_of(network, position),
                    city_network_id: Arc::from(CityNetworkKey::of(&facts).to_string()),
                    client_asn: facts.asn,
                    client_as_name: facts.as_name.clone(),
                    client_country_code: facts.country_code.clone(),
                    client_city: facts.city.clone(),
                    measures,
                    client_ips: measures.flows.min(250),
                });
                city_rows.push(CityNetworkRow {
                    window_start,
                    location,
                    client: facts,
                    measures,
                    client_ips: measures.flows.min(250),
                });
            }
        }
        (city_rows, prefix_rows)
    }

    /// Flows of a network at a time without noise or incidents: its share, the local daily
    /// rhythm, weekends, the holiday and the global dip.
    fn clean_flows(&self, network: &Network, time: i64) -> f64 {
        let local = time as f64 + network.city.lon / 15.0 * 3600.0;
        let local_hour = ((local - DAY_START as f64) / 3600.0).rem_euclid(24.0);
        let rhythm = 0.55 + 0.45 * ((local_hour - 20.0) / 24.0 * 2.0 * PI).cos();
        // 2026-06-01 is a Monday: local days 5 and 6 of each week are the weekend.
        let local_day = ((local - DAY_START as f64) / DAY as f64).floor() as i64;
        let weekend = if local_day.rem_euclid(7) >= 5 {
            WEEKEND_FACTOR
        } else {
            1.0
        };
        let (country, holiday_start, holiday_end) = self.holiday;
        let holiday =
            if network.city.country.0 == country && (holiday_start..holiday_end).contains(&time) {
                HOLIDAY_FACTOR
            } else {
                1.0
            };
        let dip = if (self.demand_dip.0..self.demand_dip.1).contains(&time) {
            DIP_FACTOR
        } else {
            1.0
        };
        PEAK_FLOWS * network.weight * rhythm * weekend * holiday * dip
    }

    /// Share of a network's traffic on one of its prefixes that gets through at a time.
    fn remaining_share(&self, network: &Network, time: i64, main_prefix: bool) -> f64 {
        self.incidents
            .iter()
            .filter(|incident| (incident.start..incident.end).contains(&time))
            .filter(|incident| hits(&incident.scope, network, main_prefix))
            .map(|incident| incident.remaining)
            .product()
    }

    /// Share of a network's traffic an incident takes away at a time, before noise.
    fn lost_share(&self, incident: &InjectedIncident, network: &Network, time: i64) -> f64 {
        if !(incident.start..incident.end).contains(&time) {
            return 0.0;
        }
        let lost = 1.0 - incident.remaining;
        let main = if hits(&incident.scope, network, true) {
            lost
        } else {
            0.0
        };
        let second = if hits(&incident.scope, network, false) {
            lost
        } else {
            0.0
        };
        MAIN_PREFIX_SHARE * main + (1.0 - MAIN_PREFIX_SHARE) * second
    }
}

/// The drift of every RTT over the last week, milliseconds: it must raise nothing.
const DRIFT_MS: f64 = 10.0;

/// A network's usual RTT from the service's Region (us-east-1): 1 ms per 100 km of great
/// circle, plus a last mile of 20 ms, half again on the mobile network.
fn base_rtt_ms(network: &Network) -> f64 {
    let (lat1, lon1) = (38.9_f64.to_radians(), (-77.4_f64).to_radians());
    let (lat2, lon2) = (network.city.lat.to_radians(), network.city.lon.to_radians());
    let cos_angle = lat1.sin() * lat2.sin() + lat1.cos() * lat2.cos() * (lon2 - lon1).cos();
    let km = 6371.0 * cos_angle.clamp(-1.0, 1.0).acos();
    let last_mile = if network.asn == 64498 { 30.0 } else { 20.0 };
    last_mile + km / 100.0
}

fn hits(scope: &Scope, network: &Network, main_prefix: bool) -> bool {
    match scope {
        Scope::CityNetwork { asn, city } => network.asn == *asn && network.city.name == *city,
        Scope::Isp { asn } => network.asn == *asn,
        Scope::Country { country_code } => network.city.country.0 == *country_code,
        Scope::Prefix { prefix } => main_prefix && network.cidr == *prefix,
    }
}

/// A network's first prefix is its demo CIDR; the second sits in 198.19.0.0/16 or a second
/// 2001:db8 /48, never routed either.
fn prefix_of(network: &Network, position: usize) -> IpNetwork {
    let text = match (position, network.v6) {
        (0, _) => network.cidr.clone(),
        (_, true) => format!("2001:db8:{:x}::/48", 0x800 + network.index),
        (_, false) => format!("198.19.{}.0/24", network.index % 250),
    };
    text.parse()
        .unwrap_or_else(|_| IpNetwork::from(std::net::IpAddr::from([198, 19, 255, 0])))
}

/// The identity of a network's city-network, as the tables write it.
fn city_network_id(network: &Network) -> String {
    CityNetworkKey::of(&facts_of(network, 0)).to_string()
}

/// The facts the city database gives for one of a network's subnets.
fn facts_of(network: &Network, part: u32) -> Facts {
    let city = network.city;
    let place = subnet_place(network, part);
    let city_known = city.geoname_id.is_some();
    let subdivision = city.subdivision.filter(|_| city_known);
    Facts {
        asn: Some(network.asn),
        as_name: Some(Arc::from(network.as_name)),
        country_code: Some(Arc::from(city.country.0)),
        country: Some(Arc::from(city.country.1)),
        subdivision_code: subdivision.map(|(code, _, _)| Arc::from(code)),
        subdivision: subdivision.map(|(_, name, _)| Arc::from(name)),
        city: city_known.then(|| Arc::from(city.name)),
        metro_code: city.metro.map(i32::from),
        latitude: Some(place.latitude),
        longitude: Some(place.longitude),
        postal_code: None,
        geoname_id: Some(
            city.geoname_id
                .or(subdivision.map(|(_, _, id)| id))
                .unwrap_or(city.country.2),
        ),
    }
}

/// Measures of a number of flows: bytes by a mean flow size, TCP handshakes that nearly all
/// complete, a few resets and rejected scans.
fn measures_of(flows: f64, random: &mut Random) -> Measures {
    let mut count = |mean: f64| -> i64 {
        let value = mean + mean.max(0.0).sqrt() * random.normal();
        value.round().max(0.0) as i64
    };
    let flows = count(flows);
    let share = |part: f64| (flows as f64 * part).round() as i64;
    let syn_in = share(0.97);
    let syn_out = share(0.03);
    let bytes = (flows as f64 * BYTES_PER_FLOW) as i64;
    Measures {
        bytes_in: bytes / 5,
        bytes_out: bytes - bytes / 5,
        packets_in: flows * 12,
        packets_out: flows * 20,
        flows,
        accepted_flows: flows - share(0.012),
        rejected_flows: share(0.012),
        tcp_syn_in: syn_in,
        tcp_syn_out: syn_out,
        tcp_synack_in: (syn_out as f64 * 0.98).round() as i64,
        tcp_synack_out: (syn_in as f64 * 0.995).round() as i64,
        tcp_fin_in: share(0.9),
        tcp_fin_out: share(0.9),
        tcp_rst_in: share(0.005),
        tcp_rst_out: share(0.005),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_have_the_sizes_the_targets_need() {
        let scenario = Scenario::new(1, 3);
        assert_eq!(scenario.n_windows(), 3 * 7 * 288);
        for incident in &scenario.incidents {
            assert!(!incident.places.is_empty(), "{}", incident.name);
            let below = incident.name.contains("below");
            assert_eq!(
                incident.percent_of_total_traffic_impacted < 0.1,
                below,
                "{}: {}%",
                incident.name,
                incident.percent_of_total_traffic_impacted
            );
            if !below {
                assert!(
                    incident.percent_of_total_traffic_impacted >= 0.5,
                    "{}",
                    incident.name
                );
            }
        }
    }

    #[test]
    fn windows_are_reproducible_and_incidents_show() {
        let scenario = Scenario::new(3, 3);
        let incident = &scenario.incidents[0];
        let index = ((incident.start - scenario.start) / WINDOW_SECONDS) as usize;
        assert_eq!(scenario.window(index), scenario.window(index));
        let bytes_of = |index: usize| -> i64 {
            let (rows, _) = scenario.window(index);
            rows.iter()
                .filter(|row| {
                    incident
                        .places
                        .contains(&CityNetworkKey::of(&row.client).to_string())
                })
                .map(|row| row.measures.bytes_in + row.measures.bytes_out)
                .sum()
        };
        let (during, day_before) = (bytes_of(index + 2), bytes_of(index + 2 - 288));
        assert!(
            (during as f64) < 0.2 * day_before as f64,
            "{during} vs {day_before}"
        );
    }

    #[test]
    fn rows_of_one_city_network_carry_the_coordinates_of_several_networks() {
        let scenario = Scenario::new(5, 3);
        let mut coordinates: std::collections::HashMap<String, std::collections::BTreeSet<String>> =
            std::collections::HashMap::new();
        for index in 0..12 {
            for row in scenario.window(index).0 {
                coordinates
                    .entry(CityNetworkKey::of(&row.client).to_string())
                    .or_default()
                    .insert(format!(
                        "{:?},{:?}",
                        row.client.latitude, row.client.longitude
                    ));
            }
        }
        assert_eq!(coordinates.len(), scenario.n_city_networks());
        let placed_apart = coordinates
            .values()
            .filter(|places| places.len() >= 2)
            .count();
        // All but the country-only network, which sits at its country's centroid.
        assert_eq!(placed_apart, scenario.n_city_networks() - 1);
    }

    #[test]
    fn prefix_rows_add_up_to_city_network_rows() {
        let scenario = Scenario::new(5, 3);
        let (city_rows, prefix_rows) = scenario.window(100);
        let sum = |bytes: &mut dyn Iterator<Item = i64>| bytes.sum::<i64>();
        assert_eq!(
            sum(&mut city_rows
                .iter()
                .map(|row| row.measures.bytes_in + row.measures.bytes_out)),
            sum(&mut prefix_rows
                .iter()
                .map(|row| row.measures.bytes_in + row.measures.bytes_out))
        );
    }
}
