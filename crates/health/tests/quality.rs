//! Detection quality over four weeks of the demo world with injected incidents (the scenario in
//! `flowatlas_demo`), graded against its ground truth with the targets of issue 9.

mod support;

use flowatlas_demo::Scenario;
use flowatlas_health::{Assessment, ImpactType};
use support::{IncidentScore, Quality};

/// Seeds graded: the README's (1) and the one with the most false events of seeds 1–5 (2).
const SEEDS: [u64; 2] = [1, 2];

fn graded(seed: u64) -> (Scenario, Assessment, Quality) {
    let scenario = Scenario::new(seed, support::WEEKS);
    let (assessment, quality) = support::run(&scenario);
    (scenario, assessment, quality)
}

#[test]
fn incidents_are_found_early_and_sized_right_and_noise_raises_little() {
    for seed in SEEDS {
        check_targets(seed);
    }
}

fn check_targets(seed: u64) {
    let (scenario, assessment, quality) = graded(seed);
    // Rows of one city-network carry different coordinates (as real databases place each
    // network of a city apart): the engine must still see one city-network per (ASN, place).
    let seen: std::collections::HashSet<_> = assessment
        .city_networks
        .iter()
        .map(|row| row.city_network.identity())
        .collect();
    assert_eq!(seen.len(), scenario.n_city_networks(), "seed {seed}");
    let mut must_detect = 0;
    for incident in &quality.incidents {
        if incident.must_detect {
            must_detect += 1;
            assert_found_early_and_sized_right(seed, incident);
        } else if incident.injected_percent < 0.1 {
            assert_eq!(
                incident.delay_windows, None,
                "{} is below the 0.1% minimum and must raise nothing",
                incident.name
            );
        }
    }
    assert!(
        must_detect >= 5,
        "the scenario has the incidents the targets name"
    );
    assert!(
        quality.false_events_per_week() <= 1.0,
        "seed {seed}: {} false events in {} weeks",
        quality.false_events,
        quality.weeks
    );
    assert_eq!(quality.local_events_in_dip_or_holiday, 0, "seed {seed}");

    // Both impact types for an incident over 5% of all traffic; performance never scored.
    let big = &scenario.incidents[0];
    assert!(big.percent_of_total_traffic_impacted > 5.0);
    for impact_type in [ImpactType::Availability, ImpactType::LocalAvailability] {
        assert!(
            assessment
                .events
                .iter()
                .any(|event| event.impact_type == impact_type && event.covers(big.start + 600)),
            "{impact_type:?}"
        );
    }
    assert!(
        assessment
            .city_networks
            .iter()
            .all(|row| row.performance_score.is_none())
    );
}

/// The targets for an incident that must be detected: within two windows of its start, with
/// its impact within ±25%.
fn assert_found_early_and_sized_right(seed: u64, incident: &IncidentScore) {
    let delay = incident
        .delay_windows
        .unwrap_or_else(|| panic!("seed {seed}: {} was not detected", incident.name));
    assert!(
        delay <= 2,
        "seed {seed}: {}: detected after {delay} windows",
        incident.name
    );
    let error = incident.relative_error().unwrap_or(f64::INFINITY);
    assert!(
        error.abs() <= 0.25,
        "seed {seed}: {}: estimated {:?}% for {:.2}% injected",
        incident.name,
        incident.estimated_percent,
        incident.injected_percent
    );
}

#[test]
fn the_prefix_incident_names_its_prefix() {
    let (scenario, assessment, _) = graded(1);
    let incident = scenario
        .incidents
        .iter()
        .find(|incident| matches!(incident.scope, flowatlas_demo::Scope::Prefix { .. }))
        .unwrap();
    let flowatlas_demo::Scope::Prefix { prefix } = &incident.scope else {
        unreachable!()
    };
    let event = assessment
        .events
        .iter()
        .find(|event| {
            event.impact_type == ImpactType::LocalAvailability && event.covers(incident.start + 300)
        })
        .expect("a local event for the prefix's city-network");
    assert_eq!(event.impacted_locations[0].prefixes.first(), Some(prefix));
}

/// The performance half over the scenario's agent-shaped rows (issue 19's targets): the
/// latency and loss incidents that degrade ≥ 0.5% of all traffic for ≥ 15 minutes are found
/// within two windows with their impact within ±25%; the last week's slow drift of +10 ms and
/// the daily rhythm of the RTTs raise nothing (at most one false event per clean week).
#[test]
fn latency_and_loss_incidents_are_found_and_drift_and_jitter_raise_nothing() {
    let scenario = Scenario::new(1, support::WEEKS);
    let (assessment, quality) = support::run_performance(&scenario);
    assert_eq!(quality.incidents.len(), 3);
    for incident in &quality.incidents {
        assert!(incident.must_detect, "{}", incident.name);
        assert_found_early_and_sized_right(1, incident);
    }
    assert!(
        quality.false_events_per_week() <= 1.0,
        "{} false events in {} weeks: {:#?}",
        quality.false_events,
        quality.weeks,
        assessment.events
    );
    // Nothing during the drift's week.
    let (drift_start, drift_end, _) = scenario.drift;
    assert!(
        !assessment
            .events
            .iter()
            .any(|event| event.started_at >= drift_start && event.started_at < drift_end),
        "an event during the drift"
    );
    // Performance only: availability is not scored without flow logs, never made up.
    assert!(
        assessment
            .city_networks
            .iter()
            .all(|row| row.availability_score.is_none())
    );
    let loss = assessment
        .events
        .iter()
        .find(|event| {
            event
                .signals
                .contains(&flowatlas_health::Signal::Retransmissions)
        })
        .expect("the loss incident is raised on retransmissions");
    let location = loss.impacted_locations[0].performance.unwrap();
    assert!(location.retransmission.observed_percent.unwrap() > 4.0);
}
