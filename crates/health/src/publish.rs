//! The engine's results in the shapes other systems take: health events in EventBridge's
//! envelope (`source` `flowatlas`, `detail-type` `Health Event`, the detail in Internet
//! Monitor's camelCase names) and CloudWatch embedded-metric-format (EMF) lines for the overall
//! score and the count of active events, so alarms can watch them.

use flowatlas_rollup::CityNetworkKey;
use serde_json::{Value, json};

use crate::{HealthEvent, ImpactedLocation, OverallHealth, RoundTripTime, Status};

/// The EventBridge `source` of flowatlas events.
pub const EVENT_SOURCE: &str = "flowatlas";
/// The EventBridge `detail-type` of health events.
pub const EVENT_DETAIL_TYPE: &str = "Health Event";
/// The CloudWatch namespace of the metrics.
pub const METRIC_NAMESPACE: &str = "flowatlas";

/// Times in events and metrics are ISO 8601 UTC: `2026-06-01T14:30:00Z`.
pub use flowatlas_time::iso_time;

/// The event as EventBridge delivers it. `id` is the event id plus its status, so the raise and
/// the resolution are two distinct deliveries; `time` is when that status was decided.
pub fn eventbridge_event(event: &HealthEvent) -> Value {
    let first = event.impacted_locations.first();
    let account = first
        .and_then(|location| location.city_network.account_id.as_deref())
        .unwrap_or_default();
    let region = first
        .and_then(|location| location.city_network.region.as_deref())
        .unwrap_or_default();
    let decided_at = match event.status {
        Status::Active => event.detected_at,
        Status::Resolved => event.ended_at.unwrap_or(event.detected_at),
    };
    json!({
        "version": "0",
        "id": format!("{}/{}", event.event_id, event.status.name().to_ascii_lowercase()),
        "detail-type": EVENT_DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": account,
        "time": iso_time(decided_at),
        "region": region,
        "resources": [],
        "detail": detail(event),
    })
}

/// The event in Internet Monitor's `HealthEvent` names (camelCase), plus the evidence.
fn detail(event: &HealthEvent) -> Value {
    let locations: Vec<Value> = event
        .impacted_locations
        .iter()
        .map(|location| {
            let client = &location.city_network.client;
            json!({
                "cityNetworkId": CityNetworkKey::of(client).to_string(),
                "asName": client.as_name.as_deref(),
                "asNumber": client.asn,
                "country": client.country.as_deref(),
                "countryCode": client.country_code.as_deref(),
                "subdivision": client.subdivision.as_deref(),
                "subdivisionCode": client.subdivision_code.as_deref(),
                "city": client.city.as_deref(),
                "metro": client.metro_code,
                "latitude": client.latitude,
                "longitude": client.longitude,
                "serviceLocation": location.city_network.region.as_deref(),
                "status": event.status.name(),
                "clientPrefixes": location.prefixes,
                "internetHealth": internet_health(location),
                "expectedBytes": location.expected_bytes,
                "observedBytes": location.observed_bytes,
            })
        })
        .collect();
    json!({
        "eventId": event.event_id,
        "impactType": event.impact_type.name(),
        "status": event.status.name(),
        "startedAt": iso_time(event.started_at),
        "detectedAt": iso_time(event.detected_at),
        "endedAt": event.ended_at.map(iso_time),
        "healthScoreThreshold": event.health_score_threshold,
        "percentOfTotalTrafficImpacted": event.percent_of_total_traffic_impacted,
        "peakPercentOfTotalTrafficImpacted": event.peak_percent_of_total_traffic_impacted,
        "lowestAvailabilityScore": event.lowest_availability_score,
        "impactedWindows": event.impacted_windows,
        "expectedBytes": event.expected_bytes,
        "observedBytes": event.observed_bytes,
        "signals": event.signals.iter().map(|signal| signal.name()).collect::<Vec<_>>(),
        "impactedLocations": locations,
    })
}

/// Internet Monitor's `InternetHealth` of an impacted location: `availability` for
/// availability events, `performance` (with the round-trip times now and expected, and the
/// retransmissions, which Internet Monitor lacks) for performance events; the other is null.
fn internet_health(location: &ImpactedLocation) -> Value {
    let impact = json!({
        "experienceScore": 100.0 - location.peak_percent_of_client_location_impacted,
        "percentOfTotalTrafficImpacted": location.peak_percent_of_total_traffic_impacted,
        "percentOfClientLocationImpacted": location.peak_percent_of_client_location_impacted,
    });
    let Some(performance) = &location.performance else {
        return json!({"availability": impact, "performance": null});
    };
    let rtt =
        |rtt: &RoundTripTime| json!({"p50": rtt.p50_ms, "p90": rtt.p90_ms, "p95": rtt.p95_ms});
    let mut performance_json = impact;
    performance_json["roundTripTime"] = rtt(&performance.round_trip_time);
    performance_json["expectedRoundTripTime"] = performance
        .expected_round_trip_time
        .as_ref()
        .map_or(Value::Null, rtt);
    performance_json["degradedAboveMs"] = json!(performance.degraded_above_ms);
    performance_json["rttSource"] = json!(performance.rtt_source.name());
    performance_json["retransmissionPercent"] = json!(performance.retransmission.observed_percent);
    performance_json["expectedRetransmissionPercent"] =
        json!(performance.retransmission.expected_percent);
    json!({"availability": null, "performance": performance_json})
}

/// One EMF line for a window: `AvailabilityScore` and `PerformanceScore` (each left out when
/// not scored — before any history exists, or no round-trip times measured — never a made-up
/// 100) and `ActiveHealthEvents`, with the dimension `Monitor`.
pub fn emf_line(overall: &OverallHealth, monitor: &str) -> Value {
    let mut metrics = vec![json!({"Name": "ActiveHealthEvents", "Unit": "Count"})];
    let mut line = json!({
        "Monitor": monitor,
        "ActiveHealthEvents": overall.active_events,
    });
    if let Some(score) = overall.performance_score {
        metrics.insert(0, json!({"Name": "PerformanceScore", "Unit": "Percent"}));
        line["PerformanceScore"] = json!(score);
    }
    if let Some(score) = overall.availability_score {
        metrics.insert(0, json!({"Name": "AvailabilityScore", "Unit": "Percent"}));
        line["AvailabilityScore"] = json!(score);
    }
    line["_aws"] = json!({
        "Timestamp": overall.window_start * 1000,
        "CloudWatchMetrics": [{
            "Namespace": METRIC_NAMESPACE,
            "Dimensions": [["Monitor"]],
            "Metrics": metrics,
        }],
    });
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_iso() {
        assert_eq!(iso_time(1_780_326_000), "2026-06-01T15:00:00Z");
    }

    #[test]
    fn emf_leaves_out_what_is_not_known() {
        let mut overall = OverallHealth {
            window_start: 1_780_326_000,
            availability_score: None,
            performance_score: None,
            observed_bytes: 10,
            expected_bytes: 10,
            active_events: 2,
        };
        let line = emf_line(&overall, "demo");
        assert_eq!(line["ActiveHealthEvents"], 2);
        assert!(line.get("AvailabilityScore").is_none());
        assert!(line.get("PerformanceScore").is_none());
        assert_eq!(line["_aws"]["Timestamp"], 1_780_326_000_000i64);

        overall.availability_score = Some(97.5);
        let line = emf_line(&overall, "demo");
        assert_eq!(line["AvailabilityScore"], 97.5);
        let names: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|metric| metric["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["AvailabilityScore", "ActiveHealthEvents"]);

        overall.performance_score = Some(91.0);
        let line = emf_line(&overall, "demo");
        assert_eq!(line["PerformanceScore"], 91.0);
        let n_metrics = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(n_metrics, 3);
    }
}
