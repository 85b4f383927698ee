//! What the page does with the tables' text and with nothing at all.

use std::sync::Arc;

use flowatlas_geo::Facts;
use flowatlas_report::{ReportBuilder, render};
use flowatlas_rollup::{CityNetworkRow, Measures, ServiceLocation};

/// 2026-06-01T00:00:00Z.
const DAY: i64 = 1_780_272_000;

#[test]
fn text_from_the_tables_is_escaped() {
    let hostile = r#"<script>alert("x")</script> & <img src=x>"#;
    let client = Facts {
        asn: Some(64_500),
        as_name: Some(Arc::from(hostile)),
        city: Some(Arc::from("Zürich")),
        country_code: Some(Arc::from("CH")),
        latitude: Some(47.37),
        longitude: Some(8.54),
        ..Facts::default()
    };
    let mut builder = ReportBuilder::new(None, None, Vec::new());
    let rows = [CityNetworkRow {
        window_start: DAY,
        location: ServiceLocation::default(),
        client,
        measures: Measures {
            bytes_in: 1_000,
            bytes_out: 9_000,
            flows: 10,
            ..Measures::default()
        },
        client_ips: 3,
    }];
    builder.add_city_networks(&flowatlas_tables::city_networks().batch(&rows).unwrap());
    let report = builder.finish();
    assert_eq!((report.from, report.to), (DAY, DAY + 300));
    let page = render(&report);
    // The page's own script is the only one, and no element comes from the AS name.
    assert_eq!(page.matches("<script>").count(), 1, "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x&gt;")
    );
    assert!(page.contains("Zürich"));
    assert_eq!(page.matches(r#"<circle class="cn""#).count(), 1);
}

#[test]
fn an_empty_folder_says_there_is_no_data() {
    let report = ReportBuilder::new(None, None, Vec::new()).finish();
    assert!(report.is_empty());
    let page = render(&report);
    assert!(page.contains("No data in this range"), "{page}");
    assert!(page.contains("no traffic at all"), "{page}");
    assert!(!page.contains("<circle"), "{page}");
}
