//! Prints the health engine's detection quality over the scenario (the numbers in README.md):
//! `cargo run --release -p flowatlas-health --example quality [SEED] [performance]` (with
//! `performance`, over the agent-shaped round-trip times and retransmissions instead).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;

use flowatlas_demo::Scenario;

fn main() -> std::io::Result<()> {
    let seed = std::env::args()
        .nth(1)
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(1);
    let scenario = Scenario::new(seed, support::WEEKS);
    let mut out = std::io::stdout().lock();
    let (assessment, quality) = if std::env::args().nth(2).as_deref() == Some("performance") {
        support::run_performance(&scenario)
    } else {
        support::run(&scenario)
    };
    writeln!(
        out,
        "| incident | injected impact | duration | detected after | estimated impact | error |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
    for incident in &quality.incidents {
        let delay = incident
            .delay_windows
            .map_or("not detected".to_string(), |windows| {
                format!("{windows} windows")
            });
        let estimate = incident
            .estimated_percent
            .map_or("–".to_string(), |percent| format!("{percent:.2}%"));
        let error = incident
            .relative_error()
            .map_or("–".to_string(), |error| format!("{:+.0}%", error * 100.0));
        writeln!(
            out,
            "| {} | {:.2}% | {} min | {delay} | {estimate} | {error} |",
            incident.name, incident.injected_percent, incident.minutes
        )?;
    }
    writeln!(
        out,
        "\nevents: {}; false events: {} over {:.0} weeks ({:.2} per week); local events in the demand dip or the holiday: {}",
        assessment.events.len(),
        quality.false_events,
        quality.weeks,
        quality.false_events_per_week(),
        quality.local_events_in_dip_or_holiday
    )?;
    for event in &assessment.events {
        writeln!(
            out,
            "  {} {} detected {} ended {:?} {:.2}% {:?}",
            event.event_id,
            event.status.name(),
            flowatlas_health::publish::iso_time(event.detected_at),
            event.ended_at.map(flowatlas_health::publish::iso_time),
            event.percent_of_total_traffic_impacted,
            event.signals
        )?;
    }
    Ok(())
}
