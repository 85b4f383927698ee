//! The engine's results in the shapes other systems take: health events in EventBridge's
//! envelope (`source` `flowatlas`, `detail-type` `Health Event`, the detail in Internet
//! Monitor's camelCase names) and CloudWatch embedded-metric-format (EMF) lines for the scores,
//! active events, bytes, connections and round-trip times, so alarms and dashboards can watch
//! them.

use flowatlas_rollup::CityNetworkKey;
use serde_json::{Value, json};

use crate::{
    Assessment, CityNetworkHealth, HealthEvent, ImpactedLocation, OverallHealth, PerformanceHealth,
    RoundTripTime, Status,
};

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

/// How many city-networks get an `RttP90` metric per window unless told otherwise: CloudWatch
/// bills every dimension combination as a metric of its own, so the set stays small.
pub const DEFAULT_EMF_TOP_CITY_NETWORKS: usize = 5;

/// A metric's name, value and unit.
type Metric = (&'static str, Value, &'static str);

/// The EMF lines of one window, dimension `Monitor` throughout:
/// - `AvailabilityScore`, `PerformanceScore`, `ActiveHealthEvents`, `BytesIn` and `BytesOut`
///   (the rollups' bytes from and to the clients), `ConnectionsOpen` and `ConnectionsNew` (the
///   agents'), and `RttP90` of all measured traffic with the dimension `RttSource` too;
/// - one line per city-network for `RttP90` (milliseconds) of the `top` city-networks with the
///   most traffic in the window (flow-log bytes, then measured weight), dimensions `Monitor`,
///   `CityNetwork` (its label) and `RttSource`, so the number of metrics stays bounded.
///
/// A value not known is left out — a score before history exists, bytes in a window without
/// flow logs, connections where no agent ran — never a made-up 0 or 100.
pub fn emf_lines(
    assessment: &Assessment,
    overall: &OverallHealth,
    monitor: &str,
    top: usize,
) -> Vec<Value> {
    let known = |name: &'static str, value: Option<Value>, unit: &'static str| {
        value.map(|value| (name, value, unit))
    };
    let by_monitor: Vec<Metric> = [
        known(
            "AvailabilityScore",
            overall.availability_score.map(Value::from),
            "Percent",
        ),
        known(
            "PerformanceScore",
            overall.performance_score.map(Value::from),
            "Percent",
        ),
        known(
            "ActiveHealthEvents",
            Some(overall.active_events.into()),
            "Count",
        ),
        known("BytesIn", overall.bytes_in.map(Value::from), "Bytes"),
        known("BytesOut", overall.bytes_out.map(Value::from), "Bytes"),
        known(
            "ConnectionsOpen",
            overall
                .connections
                .map(|connections| connections.open.into()),
            "Count",
        ),
        known(
            "ConnectionsNew",
            overall
                .connections
                .map(|connections| connections.new.into()),
            "Count",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut line = emf_document(overall.window_start, &[("Monitor", monitor)], &by_monitor);
    if let Some((source, rtt)) = overall.round_trip_time {
        line["RttSource"] = json!(source.name());
        line["RttP90"] = json!(rtt.p90_ms);
        line["_aws"]["CloudWatchMetrics"]
            .as_array_mut()
            .expect("the document's directives")
            .push(json!({
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["Monitor", "RttSource"]],
                "Metrics": [{"Name": "RttP90", "Unit": "Milliseconds"}],
            }));
    }
    let mut lines = vec![line];
    let first = assessment
        .city_networks
        .partition_point(|row| row.window_start < overall.window_start);
    let mut measured: Vec<(&CityNetworkHealth, &PerformanceHealth)> = assessment.city_networks
        [first..]
        .iter()
        .take_while(|row| row.window_start == overall.window_start)
        .filter_map(|row| Some((row, row.performance.as_ref()?)))
        .collect();
    measured.sort_by_key(|(row, performance)| {
        std::cmp::Reverse((row.observed_bytes, performance.measured_weight))
    });
    for (row, performance) in measured.into_iter().take(top) {
        let label = row.city_network.label();
        lines.push(emf_document(
            overall.window_start,
            &[
                ("Monitor", monitor),
                ("CityNetwork", &label),
                ("RttSource", performance.rtt_source.name()),
            ],
            &[(
                "RttP90",
                performance.round_trip_time.p90_ms.into(),
                "Milliseconds",
            )],
        ));
    }
    lines
}

/// One EMF document: the dimensions' values, the metrics' values, and the directive naming
/// them all (one dimension set: every dimension given).
fn emf_document(window_start: i64, dimensions: &[(&str, &str)], metrics: &[Metric]) -> Value {
    let mut document = serde_json::Map::new();
    for (name, value) in dimensions {
        document.insert((*name).to_owned(), json!(value));
    }
    for (name, value, _) in metrics {
        document.insert((*name).to_owned(), value.clone());
    }
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    document.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": window_start * 1000,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [names],
                "Metrics": definitions,
            }],
        }),
    );
    Value::Object(document)
}

#[cfg(test)]
mod tests {
    use flowatlas_rollup::RttSource;

    use super::*;

    #[test]
    fn times_are_utc_iso() {
        assert_eq!(iso_time(1_780_326_000), "2026-06-01T15:00:00Z");
    }

    fn overall(window_start: i64) -> OverallHealth {
        OverallHealth {
            window_start,
            availability_score: None,
            performance_score: None,
            observed_bytes: 10,
            expected_bytes: 10,
            bytes_in: None,
            bytes_out: None,
            round_trip_time: None,
            connections: None,
            active_events: 2,
        }
    }

    /// Every value named in a directive is present, and the reverse (less the dimensions).
    fn metric_names(line: &Value) -> Vec<&str> {
        let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        let mut names = Vec::new();
        let mut dimensions = std::collections::BTreeSet::new();
        for directive in directives {
            assert_eq!(directive["Namespace"], METRIC_NAMESPACE);
            for dimension in directive["Dimensions"][0].as_array().unwrap() {
                let dimension = dimension.as_str().unwrap();
                assert!(line[dimension].is_string(), "{dimension} in {line}");
                dimensions.insert(dimension);
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(line[name].is_number(), "{name} in {line}");
                names.push(name);
            }
        }
        let n_keys = line.as_object().unwrap().len() - 1; // less `_aws`
        assert_eq!(names.len() + dimensions.len(), n_keys, "{line}");
        names
    }

    #[test]
    fn emf_leaves_out_what_is_not_known() {
        let assessment = Assessment::default();
        let mut overall = overall(1_780_326_000);
        let lines = emf_lines(&assessment, &overall, "demo", 5);
        assert_eq!(lines.len(), 1);
        assert_eq!(metric_names(&lines[0]), ["ActiveHealthEvents"]);
        assert_eq!(lines[0]["ActiveHealthEvents"], 2);
        assert_eq!(lines[0]["_aws"]["Timestamp"], 1_780_326_000_000i64);

        overall.availability_score = Some(97.5);
        overall.performance_score = Some(91.0);
        overall.bytes_in = Some(600);
        overall.bytes_out = Some(400);
        overall.connections = Some(crate::Connections { open: 7, new: 3 });
        overall.round_trip_time = Some((
            RttSource::TcpSrtt,
            RoundTripTime {
                p50_ms: 40.0,
                p90_ms: 72.5,
                p95_ms: 90.0,
            },
        ));
        let line = &emf_lines(&assessment, &overall, "demo", 5)[0];
        assert_eq!(
            metric_names(line),
            [
                "AvailabilityScore",
                "PerformanceScore",
                "ActiveHealthEvents",
                "BytesIn",
                "BytesOut",
                "ConnectionsOpen",
                "ConnectionsNew",
                "RttP90"
            ]
        );
        assert_eq!(
            (
                &line["AvailabilityScore"],
                &line["PerformanceScore"],
                &line["BytesIn"],
                &line["BytesOut"],
                &line["ConnectionsOpen"],
                &line["RttP90"],
                &line["RttSource"]
            ),
            (
                &json!(97.5),
                &json!(91.0),
                &json!(600),
                &json!(400),
                &json!(7),
                &json!(72.5),
                &json!("tcp_srtt")
            )
        );
        // The RTT's directive carries the source as a dimension: sources never share a metric.
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][1]["Dimensions"],
            json!([["Monitor", "RttSource"]])
        );
    }

    #[test]
    fn rtt_p90_of_the_top_city_networks_only() {
        use std::sync::Arc;

        let window_start = 1_780_326_000;
        let row = |asn: u32, observed_bytes: i64, p90_ms: Option<f64>| CityNetworkHealth {
            observed_bytes,
            performance: p90_ms.map(|p90_ms| PerformanceHealth {
                rtt_source: RttSource::TlsHandshake,
                measured_weight: 10,
                round_trip_time: RoundTripTime {
                    p50_ms: p90_ms / 2.0,
                    p90_ms,
                    p95_ms: p90_ms,
                },
                expected_round_trip_time: None,
                degraded_above_ms: None,
                retransmission: Default::default(),
                percent_of_client_location_degraded: None,
                percent_of_total_traffic_degraded: None,
                signal: None,
            }),
            ..CityNetworkHealth::unjudged(
                window_start,
                Arc::new(crate::CityNetwork {
                    account_id: None,
                    region: None,
                    client: flowatlas_geo::Facts {
                        asn: Some(asn),
                        city: Some("Springfield".into()),
                        country_code: Some("US".into()),
                        ..flowatlas_geo::Facts::default()
                    },
                }),
            )
        };
        let assessment = Assessment {
            city_networks: vec![
                row(64496, 100, Some(20.0)),
                // The most traffic, but no round-trip time: no metric, not a made-up one.
                row(64497, 900, None),
                row(64498, 500, Some(80.0)),
                row(64499, 300, Some(45.0)),
            ],
            ..Assessment::default()
        };
        let lines = emf_lines(&assessment, &overall(window_start), "demo", 2);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        let top: Vec<(&Value, &Value)> = lines[1..]
            .iter()
            .map(|line| {
                assert_eq!(metric_names(line), ["RttP90"]);
                assert_eq!(line["RttSource"], "tls_handshake");
                assert_eq!(
                    line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                    json!([["Monitor", "CityNetwork", "RttSource"]])
                );
                (&line["CityNetwork"], &line["RttP90"])
            })
            .collect();
        assert_eq!(
            top,
            [
                (&json!("AS64498, Springfield, US"), &json!(80.0)),
                (&json!("AS64499, Springfield, US"), &json!(45.0))
            ]
        );
    }
}
