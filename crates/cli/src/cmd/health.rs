//! `flowatlas health`: availability scores and health events from the tables.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use flowatlas_health::publish::{
    DEFAULT_EMF_TOP_CITY_NETWORKS, emf_lines, eventbridge_event, iso_time,
};
use flowatlas_health::{
    Assessment, CityNetworkHealth, HealthConfig, HealthEvent, Identity, PerformanceHealth,
    RoundTripTime, Status,
};
use flowatlas_health_job::{Run, STATE_NAME, assess_range, assess_scheduled};
use flowatlas_rollup::WINDOW_SECONDS;
use flowatlas_store::{LocalStore, Store};

use crate::Outcome;
use crate::cmd::data::{Data, parse_data, s3_store};
use crate::cmd::shared::{check_data_and_range, check_range, parse_time};

/// Score the availability and performance of every client city-network window by window and
/// raise health events, as CloudWatch Internet Monitor does, from the tables `flowatlas
/// process` wrote: traffic against what the same network carried at the same time of week
/// (else of day, else in the last hour), scaled by the service's demand, plus unanswered
/// connection attempts, resets and rejections against their own history; and, where the
/// performance tables hold round-trip times (flowatlas agent's, else a load balancer's TLS
/// handshakes), the share of traffic far above its usual RTT or losing segments beyond its
/// usual retransmissions. Writes `city_network_health/` and `health_events/` beside the input
/// tables (whole hours of the range) and prints every event of the range and the worst
/// city-networks. With `--at`, one scheduled run: only the windows since the last run.
#[derive(clap::Args)]
pub struct Args {
    /// The folder `flowatlas process --out` wrote, or the `s3://bucket/prefix` the Lambda
    /// writes (the range's partitions and four weeks of history before it are downloaded;
    /// the health tables of the assessed hours are put back unless `--no-write`).
    #[arg(long, value_name = "DIR|S3URL", default_value = "flowatlas-data", value_parser = parse_data)]
    data: Data,

    /// First window to assess (UTC): `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`; up to four weeks
    /// before it are read as history. Default: from the first window in the tables.
    #[arg(long, value_parser = parse_time)]
    from: Option<i64>,

    /// End of the range (UTC, exclusive), same forms as `--from`.
    #[arg(long, value_parser = parse_time)]
    to: Option<i64>,

    /// Run exactly what one scheduled run (the Lambda's, every 5 minutes) does at this time
    /// (UTC, same forms as `--from`, the delivery delay already taken off): judge the windows
    /// since the last one judged, reading only the hours they compare with, write the health
    /// tables of their hours and the state `_health_state.json` beside the tables.
    #[arg(long, value_parser = parse_time, conflicts_with_all = ["from", "to", "no_write"])]
    at: Option<i64>,

    /// Internet Monitor's `HealthEventsConfig` as JSON (`availabilityScoreThreshold`,
    /// `performanceScoreThreshold`, `availabilityLocalHealthEventsConfig` and
    /// `performanceLocalHealthEventsConfig` with `status`, `healthScoreThreshold`,
    /// `minTrafficImpact`); its defaults (95, ENABLED, 60, 0.1) when absent.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// How many city-networks to list.
    #[arg(short = 'n', long = "limit", default_value_t = 10)]
    limit: usize,

    /// Print JSON Lines: events in EventBridge's envelope, then the worst city-networks.
    #[arg(long, conflicts_with = "emf")]
    json: bool,

    /// Print CloudWatch embedded-metric lines instead, per window: the scores, active events,
    /// bytes in and out, connections and RTT p90 overall, and the RTT p90 of the top
    /// city-networks.
    #[arg(long)]
    emf: bool,

    /// With --emf: how many city-networks (most traffic first) get an RTT p90 metric per
    /// window.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_EMF_TOP_CITY_NETWORKS)]
    emf_top_city_networks: usize,

    /// Do not write the health tables.
    #[arg(long)]
    no_write: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read", path.display()))?;
            HealthConfig::from_json(&text).with_context(|| path.display().to_string())?
        }
        None => HealthConfig::default(),
    };
    let s3;
    let local;
    let store: &dyn Store = match &args.data {
        Data::Folder(folder) => {
            check_data_and_range(folder, args.from, args.to)?;
            local = LocalStore::new(folder);
            &local
        }
        Data::S3(tables) => {
            check_range(args.from, args.to)?;
            s3 = s3_store(tables)?;
            &s3.store
        }
    };
    let run = match args.at {
        Some(at) => assess_scheduled(store, &config, at)
            .with_context(|| format!("{}: scheduled health run", args.data))?,
        None => {
            let run = assess_range(store, &config, args.from, args.to, !args.no_write)
                .with_context(|| format!("{}: health", args.data))?;
            if run.assessment.overall.is_empty() {
                anyhow::bail!(
                    "{}: no city_networks rows in that time range; run flowatlas process --out {0} first",
                    args.data
                );
            }
            run
        }
    };
    let assessment = &run.assessment;
    let mut out = io::stdout().lock();
    if args.emf {
        for overall in &assessment.overall {
            for line in emf_lines(assessment, overall, "flowatlas", args.emf_top_city_networks) {
                writeln!(out, "{line}")?;
            }
        }
    } else if args.json {
        write_json(&mut out, assessment, args.limit)?;
    } else {
        if args.at.is_some() {
            write_scheduled(&mut out, &run)?;
        }
        write_human(&mut out, assessment, args.limit)?;
    }
    Ok(Outcome::Clean)
}

/// What a scheduled run judged and read, before its report.
fn write_scheduled(out: &mut impl Write, run: &Run) -> io::Result<()> {
    match run.judged {
        Some((from, to)) if !run.assessment.overall.is_empty() => writeln!(
            out,
            "Scheduled run: judged {} windows from {} to {}, reading {} hour partitions",
            run.assessment.overall.len(),
            iso_time(from),
            iso_time(to),
            run.hours_read
        )?,
        _ => writeln!(out, "Scheduled run: no new window to judge")?,
    }
    if let Some(reason) = &run.rebuilt {
        writeln!(
            out,
            "State {STATE_NAME} {}: rebuilt from the health tables",
            reason.name()
        )?;
    }
    Ok(())
}

/// A city-network's worst moment in the range: the window where it had most of all traffic
/// impacted, and its lowest score.
struct Worst<'a> {
    row: &'a CityNetworkHealth,
    lowest_score: f64,
}

/// A row's score and share of all traffic impacted, for one kind of health.
type Judged = fn(&CityNetworkHealth) -> Option<(f64, f64)>;

/// Availability: the score and the share of all expected traffic impacted.
const AVAILABILITY: Judged = |row| {
    Some((
        row.availability_score?,
        row.percent_of_total_traffic_impacted?,
    ))
};

/// Performance: the score and the share of all measured traffic degraded.
const PERFORMANCE: Judged = |row| {
    Some((
        row.performance_score?,
        row.performance?.percent_of_total_traffic_degraded?,
    ))
};

/// City-networks that had impact, most of all traffic impacted first.
fn worst_city_networks(assessment: &Assessment, judged: Judged, limit: usize) -> Vec<Worst<'_>> {
    let mut by_city_network: HashMap<Identity, Worst<'_>> = HashMap::new();
    for row in &assessment.city_networks {
        let Some((score, impact)) = judged(row) else {
            continue;
        };
        if impact <= 0.0 {
            continue;
        }
        let worst = by_city_network
            .entry(row.city_network.identity())
            .or_insert(Worst {
                row,
                lowest_score: score,
            });
        worst.lowest_score = worst.lowest_score.min(score);
        if impact > judged(worst.row).map_or(0.0, |(_, impact)| impact) {
            worst.row = row;
        }
    }
    let mut worst: Vec<Worst<'_>> = by_city_network.into_values().collect();
    let impact = |worst: &Worst<'_>| judged(worst.row).map_or(0.0, |(_, impact)| impact);
    worst.sort_by(|a, b| impact(b).total_cmp(&impact(a)));
    worst.truncate(limit);
    worst
}

fn write_json(out: &mut impl Write, assessment: &Assessment, limit: usize) -> io::Result<()> {
    for event in &assessment.events {
        let mut line = eventbridge_event(event);
        line["type"] = "event".into();
        writeln!(out, "{line}")?;
    }
    for worst in worst_city_networks(assessment, AVAILABILITY, limit) {
        let row = worst.row;
        let line = serde_json::json!({
            "type": "city_network",
            "city_network": row.city_network.label(),
            "asn": row.city_network.client.asn,
            "lowest_availability_score": worst.lowest_score,
            "worst_window": iso_time(row.window_start),
            "percent_of_total_traffic_impacted": row.percent_of_total_traffic_impacted,
            "percent_of_client_location_impacted": row.percent_of_client_location_impacted,
            "observed_bytes": row.observed_bytes,
            "expected_bytes": row.expected_bytes,
            "baseline": row.baseline.map(|method| method.name()),
            "history_days": row.history_days,
            "signal": row.impact_signal.map(|signal| signal.name()),
        });
        writeln!(out, "{line}")?;
    }
    for worst in worst_city_networks(assessment, PERFORMANCE, limit) {
        let row = worst.row;
        let Some(health) = row.performance else {
            continue;
        };
        let rtt = |rtt: &RoundTripTime| serde_json::json!({"p50": rtt.p50_ms, "p90": rtt.p90_ms, "p95": rtt.p95_ms});
        let line = serde_json::json!({
            "type": "slow_city_network",
            "city_network": row.city_network.label(),
            "asn": row.city_network.client.asn,
            "lowest_performance_score": worst.lowest_score,
            "worst_window": iso_time(row.window_start),
            "percent_of_total_traffic_degraded": health.percent_of_total_traffic_degraded,
            "percent_of_client_location_degraded": health.percent_of_client_location_degraded,
            "rtt_source": health.rtt_source.name(),
            "round_trip_time_ms": rtt(&health.round_trip_time),
            "expected_round_trip_time_ms": health.expected_round_trip_time.as_ref().map(rtt),
            "retransmission_percent": health.retransmission.observed_percent,
            "retransmission_expected_percent": health.retransmission.expected_percent,
            "signal": health.signal.map(|signal| signal.name()),
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Prints the human report: range and overall score, every event of the range, the worst
/// city-networks.
pub fn write_human(out: &mut impl Write, assessment: &Assessment, limit: usize) -> io::Result<()> {
    let (Some(first), Some(last)) = (assessment.overall.first(), assessment.overall.last()) else {
        return Ok(());
    };
    writeln!(
        out,
        "Health from {} to {} ({} windows)",
        iso_time(first.window_start),
        iso_time(last.window_start + WINDOW_SECONDS),
        assessment.overall.len()
    )?;
    let scored: Vec<(i64, f64)> = assessment
        .overall
        .iter()
        .filter_map(|overall| Some((overall.window_start, overall.availability_score?)))
        .collect();
    match scored.iter().min_by(|a, b| a.1.total_cmp(&b.1)) {
        Some(&(window, lowest)) => writeln!(
            out,
            "Overall availability: {:.1} at the end, lowest {lowest:.1} at {}",
            scored.last().map_or(lowest, |&(_, score)| score),
            iso_time(window)
        )?,
        None => writeln!(out, "Overall availability: not scored (no history yet)")?,
    }
    let measured = assessment
        .city_networks
        .iter()
        .find_map(|row| row.performance.map(|health| health.rtt_source));
    let scored: Vec<(i64, f64)> = assessment
        .overall
        .iter()
        .filter_map(|overall| Some((overall.window_start, overall.performance_score?)))
        .collect();
    match (measured, scored.iter().min_by(|a, b| a.1.total_cmp(&b.1))) {
        (_, Some(&(window, lowest))) => writeln!(
            out,
            "Overall performance: {:.1} at the end, lowest {lowest:.1} at {}",
            scored.last().map_or(lowest, |&(_, score)| score),
            iso_time(window)
        )?,
        (Some(source), None) => writeln!(
            out,
            "Overall performance: not scored (round-trip times from {} have no day of history yet)",
            source.name()
        )?,
        (None, None) => writeln!(
            out,
            "Overall performance: not measured (no round-trip times in the tables: flow logs carry none; run flowatlas agent or process load-balancer logs)"
        )?,
    }
    // Every event of the range, in the order they started: a run over weeks of history
    // shows the events of those weeks.
    let active = assessment
        .events
        .iter()
        .filter(|event| event.status == Status::Active)
        .count();
    writeln!(
        out,
        "\nEvents: {} ({active} active)",
        assessment.events.len()
    )?;
    for event in &assessment.events {
        write_event(out, event)?;
    }
    writeln!(out, "\nWorst city-networks")?;
    writeln!(
        out,
        "{:>6} {:>8}  {:<44} {:<22} expected from",
        "score", "of all", "city-network", "worst window"
    )?;
    for worst in worst_city_networks(assessment, AVAILABILITY, limit) {
        let row = worst.row;
        let label: String = row.city_network.label().chars().take(44).collect();
        let baseline = match row.baseline {
            Some(method) => format!("{} ({} days)", method.name(), row.history_days),
            None => "-".to_string(),
        };
        writeln!(
            out,
            "{:>6.1} {:>7.2}%  {label:<44} {:<22} {baseline}",
            worst.lowest_score,
            row.percent_of_total_traffic_impacted.unwrap_or(0.0),
            iso_time(row.window_start),
        )?;
    }
    let slow = worst_city_networks(assessment, PERFORMANCE, limit);
    if !slow.is_empty() {
        writeln!(out, "\nSlowest city-networks")?;
        writeln!(
            out,
            "{:>6} {:>8}  {:<44} {:<22} RTT p90 now / expected, retransmissions",
            "score", "of all", "city-network", "worst window"
        )?;
    }
    for worst in slow {
        let row = worst.row;
        let Some(health) = row.performance else {
            continue;
        };
        let label: String = row.city_network.label().chars().take(44).collect();
        writeln!(
            out,
            "{:>6.1} {:>7.2}%  {label:<44} {:<22} {}",
            worst.lowest_score,
            health.percent_of_total_traffic_degraded.unwrap_or(0.0),
            iso_time(row.window_start),
            performance_evidence(&health),
        )?;
    }
    Ok(())
}

/// `p90 412 ms / 52 ms expected (tcp_srtt), retransmissions 0.4% / 0.3%`.
fn performance_evidence(health: &PerformanceHealth) -> String {
    let expected = health
        .expected_round_trip_time
        .map_or("-".to_string(), |rtt| format!("{:.0} ms", rtt.p90_ms));
    let percent =
        |value: Option<f64>| value.map_or("-".to_string(), |value| format!("{value:.1}%"));
    format!(
        "p90 {:.0} ms / {expected} expected ({}), retransmissions {} / {}",
        health.round_trip_time.p90_ms,
        health.rtt_source.name(),
        percent(health.retransmission.observed_percent),
        percent(health.retransmission.expected_percent),
    )
}

fn write_event(out: &mut impl Write, event: &HealthEvent) -> io::Result<()> {
    let places: Vec<String> = event
        .impacted_locations
        .iter()
        .take(3)
        .map(|location| {
            let city_network = &location.city_network;
            match (city_network.client.latitude, city_network.client.longitude) {
                (Some(latitude), Some(longitude)) => {
                    format!("{} ({latitude:.2}, {longitude:.2})", city_network.label())
                }
                _ => city_network.label(),
            }
        })
        .collect();
    let more = event.impacted_locations.len().saturating_sub(places.len());
    let prefixes: Vec<&str> = event
        .impacted_locations
        .iter()
        .flat_map(|location| location.prefixes.iter().map(String::as_str))
        .take(3)
        .collect();
    writeln!(
        out,
        "  {} {:<18} {} → {} (detected {})  {:.2}% of all traffic (peak {:.2}%), lowest score {:.1}",
        event.status.name(),
        event.impact_type.name(),
        iso_time(event.started_at),
        event.ended_at.map_or("now".to_string(), iso_time),
        iso_time(event.detected_at),
        event.percent_of_total_traffic_impacted,
        event.peak_percent_of_total_traffic_impacted,
        event.lowest_availability_score,
    )?;
    let evidence = match event
        .impacted_locations
        .first()
        .and_then(|location| location.performance.as_ref())
    {
        Some(health) => performance_evidence(health),
        None => format!(
            "expected {} bytes, observed {}",
            event.expected_bytes, event.observed_bytes
        ),
    };
    writeln!(
        out,
        "      {}{}{}; {evidence}",
        places.join("; "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        if prefixes.is_empty() {
            String::new()
        } else {
            format!("; prefixes {}", prefixes.join(", "))
        },
    )
}
