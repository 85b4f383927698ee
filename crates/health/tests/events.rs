//! The health event as EventBridge delivers it is a contract with the rules and targets users
//! write: `testdata/events/health-event.json` holds it, and this test fails on any change.
//! `UPDATE_EXPECT=1 cargo test` rewrites the file; review the diff before committing.

use std::path::Path;
use std::sync::Arc;

use flowatlas_geo::Facts;
use flowatlas_health::publish::eventbridge_event;
use flowatlas_health::{CityNetwork, HealthEvent, ImpactType, ImpactedLocation, Signal, Status};

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
        }],
    }
}

#[test]
fn the_eventbridge_shape_is_stable() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/events/health-event.json");
    let got = serde_json::to_string_pretty(&eventbridge_event(&london_event())).unwrap() + "\n";
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got,
        expected,
        "{} differs (UPDATE_EXPECT=1 rewrites)",
        path.display()
    );
    let parsed: serde_json::Value = serde_json::from_str(&expected).unwrap();
    assert_eq!(parsed["source"], "flowatlas");
    assert_eq!(parsed["detail-type"], "Health Event");
    assert_eq!(parsed["detail"]["impactType"], "LOCAL_AVAILABILITY");
    assert!(parsed["detail"]["impactedLocations"][0]["internetHealth"]["performance"].is_null());
}
