//! The engine's answer must not depend on the order it is handed rows in: a scheduled run reads
//! the hours a window needs, a backfill reads weeks, and files come back in whatever order a
//! listing gives. Floating-point sums depend on their order, so two runs over the same windows
//! wrote scores and shares that differed in the last digits (found by running `health --at`
//! over the demo day with a clock that jumped back, then again forward: 4 rows and both events
//! differed from an undisturbed run).

use flowatlas_demo::Scenario;
use flowatlas_health::{HealthConfig, Observations, assess};

/// The first two weeks of the demo world with its incidents, the rows of every window handed
/// over forwards or backwards.
fn assessed(backwards: bool) -> flowatlas_health::Assessment {
    let scenario = Scenario::new(1, 2);
    let mut observations = Observations::new();
    let mut windows: Vec<usize> = (0..scenario.n_windows()).collect();
    if backwards {
        windows.reverse();
    }
    for index in windows {
        let (mut city_networks, mut prefixes) = scenario.window(index);
        if backwards {
            city_networks.reverse();
            prefixes.reverse();
        }
        observations.add_city_networks(&city_networks);
        observations.add_prefixes(&prefixes);
    }
    assess(&mut observations, &HealthConfig::default(), None, None)
}

#[test]
fn the_same_rows_in_any_order_give_the_same_assessment() {
    let forwards = assessed(false);
    let backwards = assessed(true);
    assert!(!forwards.events.is_empty());
    assert_eq!(forwards.events, backwards.events);
    assert_eq!(forwards.overall, backwards.overall);
    // Rows compared by window and city-network: their order is the engine's to choose.
    let keyed = |assessment: &flowatlas_health::Assessment| {
        let mut rows: Vec<_> = assessment
            .city_networks
            .iter()
            .map(|row| {
                (
                    row.window_start,
                    row.city_network.identity(),
                    format!("{row:?}"),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let (forwards, backwards) = (keyed(&forwards), keyed(&backwards));
    assert_eq!(forwards.len(), backwards.len());
    let differing = forwards
        .iter()
        .zip(&backwards)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        differing,
        0,
        "{:?}",
        forwards.iter().zip(&backwards).find(|(a, b)| a != b)
    );
}
