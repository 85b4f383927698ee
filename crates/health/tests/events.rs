//! The health event as EventBridge delivers it is a contract with the rules and targets users
//! write: `testdata/events/health-event.json` holds it, and this test fails on any change.
//! `UPDATE_EXPECT=1 cargo test` rewrites the file; review the diff before committing.

use std::path::Path;
use std::sync::Arc;

use flowatlas_geo::Facts;
use flowatlas_health::publish::eventbridge_event;
use flowatlas_health::{
    CityNetwork, HealthEvent, ImpactType, ImpactedLocation, PerformanceHealth, RatioEvidence,
    RoundTripTime, Signal, Status,
};
use flowatlas_rollup::RttSource;

fn london_event() -> HealthEvent {
    let city_network = Arc::new(CityNetwork {
        account_id: Some(Arc::from("123456789012")),
        region: Some(Arc::from("us-east-1")),
        client: Facts {
            asn: Some(65536),
            as_name: Some(Arc::from("Globex Transit")),
            country_code: Some(Arc::from("GB")),
            country: Some(Arc::from("United Kingdom")),
            subdivision_code: Some(Arc::from("ENG")),
            subdivision: Some(Arc::from("England")),
            city: Some(Arc::from("London")),
            metro_code: None,
            latitude: Some(51.51),
            longitude: Some(-0.13),
            postal_code: None,
            geoname_id: Some(2643743),
        },
    });
    HealthEvent {
        event_id: "2026-06-01T14-20-00Z/local-availability-us-east-1_65536_GB_ENG_London".into(),
        impact_type: ImpactType::LocalAvailability,
        status: Status::Resolved,
        started_at: 1_780_323_600,
        detected_at: 1_780_324_200,
        ended_at: Some(1_780_326_000),
        health_score_threshold: 60.0,
        percent_of_total_traffic_impacted: 36.25,
        peak_percent_of_total_traffic_impacted: 40.5,
        lowest_availability_score: 1.75,
        impacted_windows: 8,
        expected_bytes: 34_153_070,
        observed_bytes: 2_367_844,
        signals: vec![Signal::Traffic],
        impacted_locations: vec![ImpactedLocation {
            city_network,
            expected_bytes: 34_153_070,
            observed_bytes: 2_367_844,
            peak_percent_of_client_location_impacted: 98.25,
            peak_percent_of_total_traffic_impacted: 40.5,
            prefixes: vec!["198.18.27.0/24".into()],
            performance: None,
        }],
    }
}

/// The same city-network's round-trip times 40 → 400 ms, as a `LOCAL_PERFORMANCE` event.
fn london_performance_event() -> HealthEvent {
    let mut event = london_event();
    event.event_id = event
        .event_id
        .replace("local-availability", "local-performance");
    event.impact_type = ImpactType::LocalPerformance;
    event.signals = vec![Signal::RoundTripTime];
    event.lowest_availability_score = 0.0;
    let location = &mut event.impacted_locations[0];
    location.expected_bytes = location.observed_bytes;
    location.peak_percent_of_client_location_impacted = 100.0;
    location.performance = Some(PerformanceHealth {
        rtt_source: RttSource::TcpSrtt,
        measured_weight: location.observed_bytes,
        round_trip_time: RoundTripTime {
            p50_ms: 401.2,
            p90_ms: 455.0,
            p95_ms: 470.3,
        },
        expected_round_trip_time: Some(RoundTripTime {
            p50_ms: 40.1,
            p90_ms: 52.5,
            p95_ms: 60.0,
        }),
        degraded_above_ms: Some(78.75),
        retransmission: RatioEvidence {
            observed_percent: Some(0.4),
            expected_percent: Some(0.3),
        },
        percent_of_client_location_degraded: Some(100.0),
        percent_of_total_traffic_degraded: Some(40.5),
        signal: Some(Signal::RoundTripTime),
    });
    event
}

/// Compares an event's EventBridge JSON with its file under `testdata/events/`.
fn check_golden(name: &str, event: &HealthEvent) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/events")
        .join(name);
    let got = serde_json::to_string_pretty(&eventbridge_event(event)).unwrap() + "\n";
    let expected = flowatlas_goldens::assert_file(&path, &got);
    serde_json::from_str(&expected).unwrap()
}

#[test]
fn the_performance_event_carries_round_trip_times_now_and_expected() {
    let parsed = check_golden("health-event-performance.json", &london_performance_event());
    assert_eq!(parsed["detail"]["impactType"], "LOCAL_PERFORMANCE");
    let health = &parsed["detail"]["impactedLocations"][0]["internetHealth"];
    assert!(health["availability"].is_null());
    let performance = &health["performance"];
    assert_eq!(performance["experienceScore"], 0.0);
    assert_eq!(performance["roundTripTime"]["p90"], 455.0);
    assert_eq!(performance["expectedRoundTripTime"]["p90"], 52.5);
    assert_eq!(performance["rttSource"], "tcp_srtt");
    assert_eq!(performance["retransmissionPercent"], 0.4);
}

#[test]
fn the_eventbridge_shape_is_stable() {
    let parsed = check_golden("health-event.json", &london_event());
    assert_eq!(parsed["source"], "flowatlas");
    assert_eq!(parsed["detail-type"], "Health Event");
    assert_eq!(parsed["detail"]["impactType"], "LOCAL_AVAILABILITY");
    assert!(parsed["detail"]["impactedLocations"][0]["internetHealth"]["performance"].is_null());
}
