//! Grades health events against the scenario's truth: which injected incidents were found,
//! how soon and how large, and which events match no incident (false events).

use flowatlas_demo::{InjectedIncident, Scenario};
use flowatlas_health::{HealthEvent, ImpactType};
use flowatlas_rollup::{CityNetworkKey, WINDOW_SECONDS};

/// A local (city-network) event, else an overall one.
fn is_local(event: &HealthEvent) -> bool {
    matches!(
        event.impact_type,
        ImpactType::LocalAvailability | ImpactType::LocalPerformance
    )
}

/// How one incident was found.
#[derive(Clone, Debug)]
pub struct IncidentScore {
    /// The incident's name.
    pub name: &'static str,
    /// Injected share of all traffic impacted, percent.
    pub injected_percent: f64,
    /// Duration, minutes.
    pub minutes: i64,
    /// Whether the targets require detecting it (≥ 0.5% of traffic for ≥ 15 minutes).
    pub must_detect: bool,
    /// Windows from its start to the first matching event's `detected_at` (rounded up).
    pub delay_windows: Option<i64>,
    /// Estimated share of all traffic impacted, percent: the overall event's when there is
    /// one, else the sum of the local events'.
    pub estimated_percent: Option<f64>,
}

impl IncidentScore {
    /// Estimate against injection: (estimated − injected) / injected.
    pub fn relative_error(&self) -> Option<f64> {
        self.estimated_percent
            .map(|estimated| (estimated - self.injected_percent) / self.injected_percent)
    }
}

/// The grades.
#[derive(Clone, Debug)]
pub struct Quality {
    /// Per incident.
    pub incidents: Vec<IncidentScore>,
    /// Events that match no incident.
    pub false_events: usize,
    /// Weeks of traffic graded.
    pub weeks: f64,
    /// Local events during the demand dip or the holiday.
    pub local_events_in_dip_or_holiday: usize,
}

impl Quality {
    /// False events per simulated week.
    pub fn false_events_per_week(&self) -> f64 {
        self.false_events as f64 / self.weeks
    }
}

/// Grades events against the scenario's truth. An event matches an incident when it overlaps
/// the incident (or the 15 minutes after it, while resolution waits for clean windows) and is
/// overall or names one of its city-networks.
pub fn score(scenario: &Scenario, events: &[HealthEvent], from: i64) -> Quality {
    grade(scenario, &scenario.incidents, events, from)
}

/// Grades performance events against the scenario's performance incidents, as [`score`]
/// grades availability events: an event during the drift or anywhere else matching no
/// incident is false.
pub fn score_performance(scenario: &Scenario, events: &[HealthEvent], from: i64) -> Quality {
    grade(scenario, &scenario.performance_incidents, events, from)
}

fn grade(
    scenario: &Scenario,
    incidents: &[InjectedIncident],
    events: &[HealthEvent],
    from: i64,
) -> Quality {
    let overlaps = |event: &HealthEvent, start: i64, end: i64| {
        event.started_at < end && event.ended_at.is_none_or(|ended| ended > start)
    };
    let matches = |event: &HealthEvent, incident: &InjectedIncident| {
        overlaps(event, incident.start, incident.end + 900)
            && (!is_local(event)
                || event.impacted_locations.iter().any(|location| {
                    let place = CityNetworkKey::of(&location.city_network.client).to_string();
                    incident.places.contains(&place)
                }))
    };
    let graded = incidents
        .iter()
        .map(|incident| {
            let found: Vec<&HealthEvent> = events
                .iter()
                .filter(|event| matches(event, incident))
                .collect();
            let delay_windows = found
                .iter()
                .map(|event| event.detected_at)
                .min()
                .map(|detected| (detected - incident.start + WINDOW_SECONDS - 1) / WINDOW_SECONDS);
            let overall = found
                .iter()
                .find(|event| !is_local(event))
                .map(|event| event.percent_of_total_traffic_impacted);
            let local_sum: f64 = found
                .iter()
                .filter(|event| is_local(event))
                .map(|event| event.percent_of_total_traffic_impacted)
                .sum();
            let minutes = (incident.end - incident.start) / 60;
            IncidentScore {
                name: incident.name,
                injected_percent: incident.percent_of_total_traffic_impacted,
                minutes,
                must_detect: incident.percent_of_total_traffic_impacted >= 0.5 && minutes >= 15,
                delay_windows,
                estimated_percent: overall.or((!found.is_empty()).then_some(local_sum)),
            }
        })
        .collect();
    let false_events = events
        .iter()
        .filter(|event| !incidents.iter().any(|incident| matches(event, incident)))
        .count();
    let (dip_start, dip_end) = scenario.demand_dip;
    let (_, holiday_start, holiday_end) = scenario.holiday;
    let local_events_in_dip_or_holiday = events
        .iter()
        .filter(|event| {
            is_local(event)
                && (overlaps(event, dip_start, dip_end)
                    || overlaps(event, holiday_start, holiday_end))
        })
        .count();
    Quality {
        incidents: graded,
        false_events,
        weeks: (scenario.end - from) as f64 / (7 * 86_400) as f64,
        local_events_in_dip_or_holiday,
    }
}
