//! The engine's entry: the availability pass (`availability.rs`) and the performance pass
//! (`performance.rs`) over the same observations, the performance rows, scores and events
//! merged into the availability assessment, and what the next run resumes from.

use std::collections::HashMap;
use std::sync::Arc;

use crate::availability::assess_availability;
use crate::event::sort_events;
use crate::performance::{PerformanceAssessment, assess_performance};
use crate::resume::{Carry, Earlier, Resumed};
use crate::{
    Assessment, Before, CityNetwork, CityNetworkHealth, HealthConfig, Observations, OverallHealth,
};

/// Assesses the windows in `[from, to)` (Unix seconds; the whole data when `None`), using
/// everything before as history. Deterministic: the same observations give the same answer.
pub fn assess(
    observations: &mut Observations,
    config: &HealthConfig,
    from: Option<i64>,
    to: Option<i64>,
) -> Assessment {
    let nothing_before = Before {
        earlier: &Earlier::new(),
        carry: &Carry::default(),
    };
    assess_after(observations, config, from, to, nothing_before).0
}

/// [`assess`] of the windows in `[from, to)` after earlier runs judged the windows before
/// `from`: their judgements (`before.earlier`) shape the baselines as they would in one run
/// over all of history, and the events they left open (`before.carry`) go on. Returns the
/// assessment (events resolved in the range, and those open at its end as active) and what
/// the next run resumes from. With the judgements of every earlier window the observations
/// hold, and the carry of the run that judged the window before `from`, it decides exactly as
/// `assess` over all of them does.
pub fn assess_after(
    observations: &mut Observations,
    config: &HealthConfig,
    from: Option<i64>,
    to: Option<i64>,
    before: Before<'_>,
) -> (Assessment, Resumed) {
    observations.settle_prefixes();
    for saved in before
        .carry
        .availability
        .iter()
        .chain(&before.carry.performance)
    {
        let locations = saved
            .candidate
            .locations
            .iter()
            .map(|(city_network, _)| city_network);
        for city_network in saved.city_network.iter().chain(locations) {
            observations.add_city_network(&city_network.city_network());
        }
    }
    observations.number_canonically();
    let (mut assessment, availability) =
        assess_availability(observations, config, from, to, before);
    let (performance, performance_carry) =
        assess_performance(observations, config, from, to, before);
    merge_performance(&mut assessment, performance, observations);
    let resumed = Resumed {
        carry: Carry {
            availability,
            performance: performance_carry,
        },
        last_judged: assessment
            .overall
            .last()
            .map(|overall| overall.window_start),
    };
    (assessment, resumed)
}

/// Puts the performance pass's rows, scores and events into an availability assessment: onto
/// the row of the same window and city-network, or a row of its own where flow logs saw
/// nothing (availability fields empty); windows only performance measured get an overall row
/// without an availability score.
fn merge_performance(
    assessment: &mut Assessment,
    performance: PerformanceAssessment,
    observations: &Observations,
) {
    if performance.rows.is_empty() && performance.events.is_empty() {
        return;
    }
    let mut row_of: HashMap<(i64, *const CityNetwork), usize> = assessment
        .city_networks
        .iter()
        .enumerate()
        .map(|(index, row)| ((row.window_start, Arc::as_ptr(&row.city_network)), index))
        .collect();
    for (window_start, city_network, health) in performance.rows {
        let shared = &observations.city_networks[city_network];
        let index = *row_of
            .entry((window_start, Arc::as_ptr(shared)))
            .or_insert_with(|| {
                assessment
                    .city_networks
                    .push(CityNetworkHealth::unjudged(window_start, shared.clone()));
                assessment.city_networks.len() - 1
            });
        let row = &mut assessment.city_networks[index];
        row.performance_score = health.score();
        row.performance = Some(health);
    }
    // Stable: availability's order within a window stays.
    assessment.city_networks.sort_by_key(|row| row.window_start);
    let overall_of: HashMap<i64, usize> = assessment
        .overall
        .iter()
        .enumerate()
        .map(|(index, overall)| (overall.window_start, index))
        .collect();
    for window in performance.overall {
        match overall_of.get(&window.window_start) {
            Some(&index) => {
                let overall = &mut assessment.overall[index];
                overall.performance_score = window.score;
                overall.round_trip_time = window.round_trip_time;
                overall.connections = window.connections;
                overall.active_events += window.active_events;
            }
            None => assessment.overall.push(OverallHealth {
                window_start: window.window_start,
                availability_score: None,
                performance_score: window.score,
                observed_bytes: 0,
                expected_bytes: 0,
                bytes_in: None,
                bytes_out: None,
                round_trip_time: window.round_trip_time,
                connections: window.connections,
                active_events: window.active_events,
            }),
        }
    }
    assessment
        .overall
        .sort_by_key(|overall| overall.window_start);
    assessment.events.extend(performance.events);
    sort_events(&mut assessment.events);
}

#[cfg(test)]
mod tests {
    use flowatlas_geo::Facts;
    use flowatlas_rollup::{CityNetworkRow, Measures, ServiceLocation, WINDOW_SECONDS};

    use super::*;
    use crate::test_world::{CHANGE, DAY, NETWORKS, START, VICTIM, assert_events_cover_the_change};
    use crate::{ImpactType, Method, Signal};

    /// Two days and a bit of five equal networks with a small deterministic wobble, changed by
    /// `change` (network, measures) in the `CHANGE` windows.
    fn observations(change: fn(u32, &mut Measures)) -> Observations {
        let mut rows = Vec::new();
        for window in 0..2 * DAY + 120 {
            for (position, &asn) in NETWORKS.iter().enumerate() {
                let wobble = 1.0 + 0.02 * (((window * 7 + position * 3) % 5) as f64 - 2.0);
                let flows = (2000.0 * wobble) as i64;
                let mut measures = Measures {
                    bytes_in: flows * 2_000,
                    bytes_out: flows * 8_000,
                    flows,
                    accepted_flows: flows - flows / 100,
                    rejected_flows: flows / 100,
                    tcp_syn_in: flows,
                    tcp_synack_out: flows,
                    tcp_syn_out: flows / 10,
                    tcp_synack_in: flows / 10,
                    tcp_rst_in: flows / 200,
                    ..Measures::default()
                };
                if CHANGE.contains(&window) {
                    change(asn, &mut measures);
                }
                rows.push(CityNetworkRow {
                    window_start: START + window as i64 * WINDOW_SECONDS,
                    location: ServiceLocation::default(),
                    client: Facts {
                        asn: Some(asn),
                        city: Some(Arc::from("Springfield")),
                        ..Facts::default()
                    },
                    measures,
                    client_ips: 10,
                });
            }
        }
        let mut observations = Observations::new();
        observations.add_city_networks(&rows);
        observations
    }

    fn scale(measures: &mut Measures, factor: f64) {
        let times = |value: i64| (value as f64 * factor) as i64;
        measures.bytes_in = times(measures.bytes_in);
        measures.bytes_out = times(measures.bytes_out);
        measures.flows = times(measures.flows);
        measures.tcp_syn_in = times(measures.tcp_syn_in);
        measures.tcp_synack_out = times(measures.tcp_synack_out);
        measures.tcp_syn_out = times(measures.tcp_syn_out);
        measures.tcp_synack_in = times(measures.tcp_synack_in);
    }

    struct Case {
        name: &'static str,
        change: fn(u32, &mut Measures),
        /// The victim's signal and score (± 5) in the change's windows.
        victim: Option<(Signal, f64)>,
        /// Impact types raised.
        events: &'static [ImpactType],
    }

    #[test]
    fn each_signal_against_its_baseline() {
        let cases = [
            Case {
                name: "nothing happens",
                change: |_, _| {},
                victim: None,
                events: &[],
            },
            Case {
                name: "the victim loses 90% of its traffic",
                change: |asn, measures| {
                    if asn == VICTIM {
                        scale(measures, 0.1)
                    }
                },
                victim: Some((Signal::Traffic, 10.0)),
                events: &[ImpactType::Availability, ImpactType::LocalAvailability],
            },
            Case {
                name: "a global dip halves every network",
                change: |_, measures| scale(measures, 0.5),
                victim: None,
                events: &[],
            },
            Case {
                name: "a 15% drop is within the noise floor",
                change: |asn, measures| {
                    if asn == VICTIM {
                        scale(measures, 0.85)
                    }
                },
                victim: None,
                events: &[],
            },
            Case {
                name: "half the victim's flows are reset, traffic unchanged",
                change: |asn, measures| {
                    if asn == VICTIM {
                        measures.tcp_rst_in = measures.flows / 2;
                    }
                },
                victim: Some((Signal::Reset, 50.0)),
                events: &[ImpactType::Availability, ImpactType::LocalAvailability],
            },
            Case {
                name: "the victim stops answering our connection attempts",
                change: |asn, measures| {
                    if asn == VICTIM {
                        measures.tcp_synack_in = 0;
                    }
                },
                victim: Some((Signal::UnansweredOut, 0.0)),
                events: &[ImpactType::Availability, ImpactType::LocalAvailability],
            },
        ];
        for case in cases {
            let assessment = assess(
                &mut observations(case.change),
                &HealthConfig::default(),
                None,
                None,
            );
            let during = START + (CHANGE.start as i64 + 2) * WINDOW_SECONDS;
            let row = assessment
                .city_networks
                .iter()
                .find(|row| {
                    row.window_start == during && row.city_network.client.asn == Some(VICTIM)
                })
                .unwrap();
            assert_eq!(row.baseline, Some(Method::SameTimeOfDay), "{}", case.name);
            assert_eq!(row.history_days, 2, "{}", case.name);
            // Demand reads against usual: halved in the global dip, as usual otherwise.
            let usual = if case.name.starts_with("a global dip") {
                0.5
            } else {
                1.0
            };
            let demand = row.demand_scale.unwrap();
            assert!((demand - usual).abs() < 0.05, "{}: {demand}", case.name);
            match case.victim {
                Some((signal, score)) => {
                    assert_eq!(row.impact_signal, Some(signal), "{}", case.name);
                    let found = row.availability_score.unwrap();
                    assert!((found - score).abs() <= 5.0, "{}: score {found}", case.name);
                }
                None => {
                    assert_eq!(row.impact_signal, None, "{}", case.name);
                    assert_eq!(row.availability_score, Some(100.0), "{}", case.name);
                }
            }
            assert_events_cover_the_change(&assessment, case.events, case.name);
        }
    }

    #[test]
    fn stray_windows_far_from_the_data_change_nothing() {
        let outage = |asn: u32, measures: &mut Measures| {
            if asn == VICTIM {
                scale(measures, 0.1)
            }
        };
        let clean = assess(
            &mut observations(outage),
            &HealthConfig::default(),
            None,
            None,
        );
        let mut strays = observations(outage);
        let stray = |window_start: i64| CityNetworkRow {
            window_start,
            location: ServiceLocation::default(),
            client: Facts {
                asn: Some(64496),
                city: Some(Arc::from("Springfield")),
                ..Facts::default()
            },
            measures: Measures {
                bytes_in: 900,
                flows: 1,
                ..Measures::default()
            },
            client_ips: 1,
        };
        // Sixty days before the data (a clock glitch) and eighty years after it: a dense grid
        // would hold 8.4 million windows per city-network.
        strays.add_city_networks(&[stray(START - 60 * 86_400), stray(START + 80 * 365 * 86_400)]);
        let assessment = assess(&mut strays, &HealthConfig::default(), None, None);
        assert_eq!(assessment.events, clean.events);
        // The strays' own windows are judged, nothing between them.
        assert_eq!(assessment.overall.len(), clean.overall.len() + 2);
        // Judged from the day of the data on, the old stray is outside the four weeks of
        // history and the far one outside the range: exactly the clean assessment's windows.
        let from = START + 86_400;
        let to = START + 3 * 86_400;
        let in_range = assess(&mut strays, &HealthConfig::default(), Some(from), Some(to));
        let clean_range = assess(
            &mut observations(outage),
            &HealthConfig::default(),
            Some(from),
            Some(to),
        );
        assert_eq!(in_range, clean_range);
    }

    #[test]
    fn without_history_nothing_is_scored_or_raised() {
        let mut observations = observations(|asn, measures| {
            if asn == VICTIM {
                scale(measures, 0.0)
            }
        });
        let first_hour = assess(
            &mut observations,
            &HealthConfig::default(),
            None,
            Some(START + 1800),
        );
        assert_eq!(first_hour.overall.len(), 6);
        assert!(
            first_hour
                .overall
                .iter()
                .all(|overall| overall.availability_score.is_none())
        );
        assert!(first_hour.city_networks.iter().all(|row| {
            row.expected_bytes.is_none()
                && row.availability_score.is_none()
                && row.history_days == 0
        }));
        assert!(first_hour.events.is_empty());
    }
}
