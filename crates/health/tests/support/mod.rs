//! Runs the health engine over the demo world's weeks-long scenario and grades its events:
//! shared by the quality test and the `quality` example that prints the numbers.

use flowatlas_demo::{FoundEvent, Quality, Scenario, score, score_performance};
use flowatlas_health::{Assessment, HealthConfig, HealthEvent, ImpactType, Observations, assess};
use flowatlas_rollup::CityNetworkKey;

/// Weeks of the scenario graded.
pub const WEEKS: u32 = 4;

/// The engine over every window of the scenario, with Internet Monitor's defaults, and the
/// grades of its events.
pub fn run(scenario: &Scenario) -> (Assessment, Quality) {
    let mut observations = Observations::new();
    for index in 0..scenario.n_windows() {
        let (city_networks, prefixes) = scenario.window(index);
        observations.add_city_networks(&city_networks);
        observations.add_prefixes(&prefixes);
    }
    let assessment = assess(&mut observations, &HealthConfig::default(), None, None);
    let found: Vec<FoundEvent> = assessment.events.iter().map(found_event).collect();
    let quality = score(scenario, &found, scenario.start);
    (assessment, quality)
}

/// The engine over the scenario's agent-shaped rows (round-trip times and retransmissions
/// only), and the grades of its performance events.
pub fn run_performance(scenario: &Scenario) -> (Assessment, Quality) {
    let mut observations = Observations::new();
    for index in 0..scenario.n_windows() {
        let (city_networks, prefixes) = scenario.performance_window(index);
        observations.add_city_network_performance(&city_networks);
        observations.add_prefix_performance(&prefixes);
    }
    let assessment = assess(&mut observations, &HealthConfig::default(), None, None);
    let found: Vec<FoundEvent> = assessment.events.iter().map(found_event).collect();
    let quality = score_performance(scenario, &found, scenario.start);
    (assessment, quality)
}

fn found_event(event: &HealthEvent) -> FoundEvent {
    FoundEvent {
        local: matches!(
            event.impact_type,
            ImpactType::LocalAvailability | ImpactType::LocalPerformance
        ),
        started_at: event.started_at,
        detected_at: event.detected_at,
        ended_at: event.ended_at,
        percent_of_total_traffic_impacted: event.percent_of_total_traffic_impacted,
        places: event
            .impacted_locations
            .iter()
            .map(|location| CityNetworkKey::of(&location.city_network.client).to_string())
            .collect(),
    }
}
