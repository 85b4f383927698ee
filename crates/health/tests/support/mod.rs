//! Runs the health engine over the demo world's weeks-long scenario and grades its events:
//! shared by the quality test and the `quality` example that prints the numbers.
#![allow(
    dead_code,
    unused_imports,
    reason = "shared by the quality test and the quality example, which each use a part"
)]

mod score;

pub use score::{IncidentScore, Quality};

use flowatlas_demo::Scenario;
use flowatlas_health::{Assessment, HealthConfig, Observations, assess};
use score::{score, score_performance};

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
    let quality = score(scenario, &assessment.events, scenario.start);
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
    let quality = score_performance(scenario, &assessment.events, scenario.start);
    (assessment, quality)
}
