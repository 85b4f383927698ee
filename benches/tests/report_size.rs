//! The HTML report of a week of 1,000 city-networks stays small enough to open and mail: under
//! 5 MB, with every city-network on the map. Its rendering time is measured in `report.rs`.

use flowatlas_benches::{WEEK_START, WEEK_WINDOWS, report_week};

#[test]
fn a_week_of_a_thousand_city_networks_renders_under_five_megabytes() {
    let report = report_week(1_000);
    assert_eq!(report.city_networks.len(), 1_000);
    assert_eq!(report.windows.len() as i64, WEEK_WINDOWS);
    assert_eq!(report.from, WEEK_START);
    let page = flowatlas_report::render(&report);
    assert!(page.len() < 5 * 1024 * 1024, "{} bytes", page.len());
    assert_eq!(page.matches(r#"<circle class="cn""#).count(), 1_000);
    // The outage's event, with its expected and observed traffic charted.
    assert_eq!(report.events.len(), 1);
    assert!(!report.events[0].charts[0].points.is_empty());
}
