//! The page: one HTML document with its style, script, charts and map inline. A
//! Content-Security-Policy that allows no source at all stands behind the rule that nothing
//! is fetched: even a stray URL could not load.

use std::fmt::Write;

use flowatlas_health::ImpactType;

use crate::format::{bytes, clock, date_time, escape, percent};
use crate::model::{CityNetworkView, EventView, Report, RttView, Top, WindowPoint};
use crate::svg::{Chart, Series, line_chart, sparkline};
use crate::world;

const STYLE: &str = include_str!("../assets/report.css");
const SCRIPT: &str = include_str!("../assets/report.js");

/// Renders the report as one HTML document.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let range = if report.from < report.to {
        format!("{} – {}", date_time(report.from), date_time(report.to))
    } else {
        "no data".to_string()
    };
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"><title>flowatlas: {}</title><style>{STYLE}</style></head><body>"#,
        escape(&range)
    );
    let _ = write!(
        out,
        r#"<header><h1>flowatlas</h1><p class="range">{}</p>"#,
        escape(&range)
    );
    if report.is_empty() {
        // Without a range asked for, an empty folder has no span to name.
        let span = if report.from < report.to {
            format!(
                "between {} and {}",
                date_time(report.from),
                date_time(report.to)
            )
        } else {
            "at all".to_string()
        };
        let _ = write!(
            out,
            r#"</header><main><section id="no-data"><h2>No data in this range</h2><p>The tables hold no traffic {}. Pick another range with <code>--from</code> and <code>--to</code>, or check that flow logs were processed into this folder.</p></section></main>"#,
            escape(&span)
        );
    } else {
        let _ = write!(
            out,
            r##"<p class="totals">{} in {} city-networks · {} events</p><nav><a href="#overview">Overview</a><a href="#map">Map</a><a href="#events">Events</a><a href="#performance">Performance</a><a href="#top">Top networks</a></nav></header><main>"##,
            bytes(report.total_bytes as f64),
            report.city_networks.len(),
            report.events.len()
        );
        overview(&mut out, report);
        map(&mut out, report);
        events(&mut out, report);
        performance(&mut out, report);
        tops(&mut out, report);
        out.push_str("</main>");
    }
    let _ = write!(
        out,
        r#"<footer>Made by flowatlas. Traffic and availability come from VPC Flow Logs (your own traffic); performance from round-trip times where they were measured: tcp_srtt, the kernel's smoothed RTT of your hosts' connections (flowatlas agent), or tls_handshake, load balancers' TLS handshake times (ALB connection logs, NLB access logs; a proxy, about one RTT plus processing). The two are never mixed in one percentile; a city-network without either shows none. Country outlines: Natural Earth via world-atlas 2.0.2 (ISC license).</footer><script>{SCRIPT}</script></body></html>"#
    );
    out
}

fn event_spans(report: &Report) -> Vec<(i64, i64, String)> {
    report
        .events
        .iter()
        .map(|event| {
            let record = &event.record;
            (
                record.started_at,
                record.ended_at.unwrap_or(report.to),
                format!("{} {}", record.impact_type.name(), event_place(event)),
            )
        })
        .collect()
}

fn event_place(event: &EventView) -> String {
    match event.record.impact_type {
        ImpactType::Availability | ImpactType::Performance => "overall".to_string(),
        ImpactType::LocalAvailability | ImpactType::LocalPerformance => event
            .record
            .impacted_city_networks
            .first()
            .cloned()
            .unwrap_or_default(),
    }
}

fn overview(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="overview"><h2>Overview</h2>"#);
    out.push_str("<h3>Availability</h3>");
    if report.assessed {
        score_chart(
            out,
            report,
            "Overall availability score over time, events shaded",
            ("availability score", "availability"),
            |window| window.availability,
        );
    } else {
        out.push_str(
            r#"<p class="note">Health was not assessed for this range: run <code>flowatlas health</code> on the folder to see scores and events.</p>"#,
        );
    }
    if report
        .windows
        .iter()
        .any(|window| window.performance.is_some())
    {
        out.push_str("<h3>Performance</h3>");
        score_chart(
            out,
            report,
            "Overall performance score over time (share of measured traffic not degraded), events shaded",
            ("performance score", "performance"),
            |window| window.performance,
        );
    }
    out.push_str("<h3>Traffic</h3>");
    let max_bytes = report
        .windows
        .iter()
        .map(|window| window.bytes_in.max(window.bytes_out))
        .max()
        .unwrap_or(0);
    let series = |name, class, of: fn(&crate::model::WindowPoint) -> i64| Series {
        name,
        class,
        points: report
            .windows
            .iter()
            .map(|window| (window.start, Some(of(window) as f64)))
            .collect(),
    };
    line_chart(
        out,
        &Chart {
            title: "Bytes in and out per 5 minutes",
            from: report.from,
            to: report.to,
            y_min: 0.0,
            y_max: (max_bytes as f64).max(1.0),
            y_format: bytes,
            series: vec![
                series("bytes in", "bytes-in", |window| window.bytes_in),
                series("bytes out", "bytes-out", |window| window.bytes_out),
            ],
            spans: event_spans(report),
        },
    );
    out.push_str("<h3>Active and recent events</h3>");
    if report.events.is_empty() {
        out.push_str(r#"<p class="note">No health events in this range.</p>"#);
    } else {
        out.push_str(r#"<ul class="event-list">"#);
        for event in report.events.iter().rev() {
            let record = &event.record;
            let _ = write!(
                out,
                r##"<li><a href="#{}"><span class="status {}">{}</span> {} <b>{}</b> from {}{}, {} of all traffic at peak</a></li>"##,
                escape(&anchor(&record.event_id)),
                record.status.name().to_ascii_lowercase(),
                record.status.name(),
                record.impact_type.name(),
                escape(&event_place(event)),
                escape(&date_time(record.started_at)),
                record
                    .ended_at
                    .map(|end| format!(" to {}", clock(end, false)))
                    .unwrap_or_default(),
                percent(record.peak_percent_of_total_traffic_impacted)
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
}

/// A score (0–100) per window over the range, events shaded; the axis starts a little below
/// the lowest score.
fn score_chart(
    out: &mut String,
    report: &Report,
    title: &str,
    (name, class): (&'static str, &'static str),
    score_of: fn(&WindowPoint) -> Option<f64>,
) {
    let lowest = report
        .windows
        .iter()
        .filter_map(score_of)
        .fold(100.0_f64, f64::min);
    line_chart(
        out,
        &Chart {
            title,
            from: report.from,
            to: report.to,
            y_min: (lowest - 5.0).clamp(0.0, 90.0),
            y_max: 100.0,
            y_format: |value| format!("{value:.0}"),
            series: vec![Series {
                name,
                class,
                points: report
                    .windows
                    .iter()
                    .map(|window| (window.start, score_of(window)))
                    .collect(),
            }],
            spans: event_spans(report),
        },
    );
}

/// An id for an event's section.
fn anchor(event_id: &str) -> String {
    let cleaned: String = event_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("event-{cleaned}")
}

/// Colour of a score: red at 0, amber near the local threshold, green at 100; grey unscored.
fn score_colour(score: Option<f64>) -> String {
    match score {
        Some(score) => format!("hsl({:.0},75%,42%)", score.clamp(0.0, 100.0) * 1.2),
        None => "#8a8f98".to_string(),
    }
}

fn map(out: &mut String, report: &Report) {
    let height = world::height();
    let placed: Vec<&CityNetworkView> = report
        .city_networks
        .iter()
        .filter(|view| view.client.latitude.is_some() && view.client.longitude.is_some())
        .collect();
    let _ = write!(
        out,
        r#"<section id="map"><h2>Map</h2><p class="note">One circle per city-network ({} on the map{}), sized by traffic, coloured by its lowest availability score in the range (grey: not scored). Hover for its numbers.</p><svg class="world" viewBox="0 0 {} {height:.1}" role="img" aria-label="World map of city-networks"><path class="land" d="{}"/>"#,
        placed.len(),
        match report.city_networks.len() - placed.len() {
            0 => String::new(),
            unplaced => format!("; {unplaced} without coordinates left off"),
        },
        world::WIDTH,
        world::outlines()
    );
    let max_bytes = placed.first().map_or(1, |view| view.bytes.max(1)) as f64;
    // Largest first, so small circles are drawn on top and stay hoverable.
    for view in &placed {
        let (Some(latitude), Some(longitude)) = (view.client.latitude, view.client.longitude)
        else {
            continue;
        };
        let (x, y) = world::project(longitude, latitude);
        let radius = 2.5 + 16.0 * (view.bytes as f64 / max_bytes).sqrt();
        let region = view.region.as_deref().unwrap_or("?");
        let account = view.account_id.as_deref().unwrap_or("?");
        let title = format!(
            "{}\nservice: {account} {region}\n{} ({} of all)\nrejected flows: {}\nlowest availability score: {}",
            view.label,
            bytes(view.bytes as f64),
            percent(100.0 * view.bytes as f64 / report.total_bytes.max(1) as f64),
            percent(100.0 * view.rejected_flows as f64 / view.flows.max(1) as f64),
            view.lowest_score
                .map_or_else(|| "not scored".to_string(), |score| format!("{score:.1}"))
        );
        let _ = write!(
            out,
            r#"<circle class="cn" cx="{x:.1}" cy="{y:.1}" r="{radius:.1}" fill="{}"><title>{}</title></circle>"#,
            score_colour(view.lowest_score),
            escape(&title)
        );
    }
    out.push_str("</svg></section>");
}

fn events(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="events"><h2>Events</h2>"#);
    if report.events.is_empty() {
        out.push_str(r#"<p class="note">No health events in this range.</p>"#);
    }
    for event in &report.events {
        let record = &event.record;
        let _ = write!(
            out,
            r#"<article class="event" id="{}"><h3>{} <span class="status {}">{}</span> {}</h3><dl><dt>Started</dt><dd class="started">{}</dd><dt>Detected</dt><dd>{}</dd><dt>Ended</dt><dd>{}</dd><dt>Impact</dt><dd>{} of all traffic on average, {} at peak; lowest score {:.1} (threshold {:.0}); {} windows</dd><dt>Traffic</dt><dd>{} observed of {} expected</dd><dt>Signals</dt><dd>{}</dd><dt>ASNs</dt><dd>{}</dd><dt>City-networks</dt><dd>{}</dd><dt>Prefixes</dt><dd>{}</dd></dl>"#,
            escape(&anchor(&record.event_id)),
            record.impact_type.name(),
            record.status.name().to_ascii_lowercase(),
            record.status.name(),
            escape(&event_place(event)),
            escape(&date_time(record.started_at)),
            escape(&date_time(record.detected_at)),
            record
                .ended_at
                .map_or_else(|| "still active".to_string(), date_time),
            percent(record.percent_of_total_traffic_impacted),
            percent(record.peak_percent_of_total_traffic_impacted),
            record.lowest_availability_score,
            record.health_score_threshold,
            record.impacted_windows,
            bytes(record.observed_bytes as f64),
            bytes(record.expected_bytes as f64),
            escape(&list(record.signals.iter().map(|signal| signal.name()))),
            escape(&list(
                record.impacted_asns.iter().map(|asn| format!("AS{asn}"))
            )),
            escape(&list(record.impacted_city_networks.iter())),
            escape(&list(record.impacted_prefixes.iter())),
        );
        for chart in &event.charts {
            let _ = write!(
                out,
                "<h4>{}: expected and observed</h4>",
                escape(&chart.label)
            );
            let (Some((&from, _)), Some((&last, _))) = (
                chart.points.first_key_value(),
                chart.points.last_key_value(),
            ) else {
                out.push_str(r#"<p class="note">No health rows for it in the range.</p>"#);
                continue;
            };
            let max = chart
                .points
                .values()
                .map(|&(expected, observed)| expected.unwrap_or(0).max(observed))
                .max()
                .unwrap_or(0);
            line_chart(
                out,
                &Chart {
                    title: &format!("Expected and observed bytes of {}", chart.label),
                    from,
                    to: last + flowatlas_rollup::WINDOW_SECONDS,
                    y_min: 0.0,
                    y_max: (max as f64).max(1.0),
                    y_format: bytes,
                    series: vec![
                        Series {
                            name: "expected",
                            class: "expected",
                            points: chart
                                .points
                                .iter()
                                .map(|(&time, &(expected, _))| (time, expected.map(|e| e as f64)))
                                .collect(),
                        },
                        Series {
                            name: "observed",
                            class: "observed",
                            points: chart
                                .points
                                .iter()
                                .map(|(&time, &(_, observed))| (time, Some(observed as f64)))
                                .collect(),
                        },
                    ],
                    spans: vec![(
                        record.started_at,
                        record.ended_at.unwrap_or(report.to),
                        "the event".to_string(),
                    )],
                },
            );
        }
        out.push_str("</article>");
    }
    out.push_str("</section>");
}

/// The round-trip times of the city-networks measured, one table per source.
fn performance(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="performance"><h2>Performance</h2>"#);
    if report.round_trip_times.is_empty() {
        out.push_str(r#"<p class="note">Round-trip times were not measured in this range: run <code>flowatlas agent</code> on your hosts, or give the function your load balancers' connection or access logs.</p></section>"#);
        return;
    }
    let _ = write!(
        out,
        r#"<p class="note">Round-trip times over the range, per city-network and source ({} measured in all; the lowest scores first, then the most measured). Score: the lowest performance score of one window (100 − the share of its measured traffic degraded); – where never judged against history.</p>"#,
        report.n_rtt_measured
    );
    for source in flowatlas_rollup::RttSource::ALL {
        let rows: Vec<&RttView> = report
            .round_trip_times
            .iter()
            .filter(|view| view.source == source)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let (name, what) = match source {
            flowatlas_rollup::RttSource::TcpSrtt => (
                "tcp_srtt",
                "the kernel's smoothed RTT, weighted by bytes moved (flowatlas agent)",
            ),
            flowatlas_rollup::RttSource::TlsHandshake => (
                "tls_handshake",
                "TLS handshake time per connection (load-balancer logs; about one RTT plus processing)",
            ),
        };
        let _ = write!(
            out,
            r#"<div class="top rtt" data-source="{name}"><h3>{name} <small>{what}</small></h3><table class="sortable"><thead><tr><th data-type="text">city-network</th><th data-type="number">RTT p50</th><th data-type="number">RTT p90</th><th data-type="number">score</th></tr></thead><tbody>"#
        );
        for view in rows {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td class="p50" data-value="{:.3}">{:.1} ms</td><td class="p90" data-value="{:.3}">{:.1} ms</td>"#,
                escape(&view.label),
                view.p50_ms,
                view.p50_ms,
                view.p90_ms,
                view.p90_ms
            );
            match view.lowest_score {
                Some(score) => {
                    let _ = write!(
                        out,
                        r#"<td class="score" data-value="{score:.4}" style="color:{}">{score:.1}</td></tr>"#,
                        score_colour(Some(score))
                    );
                }
                None => out.push_str(r#"<td class="score" data-value="-1">–</td></tr>"#),
            }
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</section>");
}

fn list<T: AsRef<str>>(items: impl Iterator<Item = T>) -> String {
    let items: Vec<T> = items.collect();
    if items.is_empty() {
        return "none".to_string();
    }
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<&str>>()
        .join(", ")
}

fn tops(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="top"><h2>Top networks</h2><p class="note">Click a heading to sort. Score: availability over the range, 100 − the share of the expected traffic impacted.</p><div class="tops">"#);
    for top in &report.tops {
        top_table(out, top, report.total_bytes);
    }
    out.push_str("</div></section>");
}

fn top_table(out: &mut String, top: &Top, total_bytes: i64) {
    let _ = write!(
        out,
        r#"<div class="top"><h3>{} <small>top {} of {}</small></h3><table class="sortable"><thead><tr><th data-type="text">name</th><th data-type="number">traffic</th><th data-type="number">share</th><th data-type="number">rejected</th><th data-type="number">score</th><th>over time</th></tr></thead><tbody>"#,
        top.kind.title(),
        top.rows.len(),
        top.n_entries
    );
    for row in &top.rows {
        let share = 100.0 * row.bytes as f64 / total_bytes.max(1) as f64;
        let rejected = 100.0 * row.rejected_flows as f64 / row.flows.max(1) as f64;
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td data-value="{}">{}</td><td data-value="{share:.4}">{}</td><td data-value="{rejected:.4}">{}</td>"#,
            escape(&row.label),
            row.bytes,
            bytes(row.bytes as f64),
            percent(share),
            percent(rejected)
        );
        match row.score {
            Some(score) => {
                let _ = write!(
                    out,
                    r#"<td data-value="{score:.4}" style="color:{}">{score:.1}</td>"#,
                    score_colour(Some(score))
                );
            }
            None => out.push_str(r#"<td data-value="-1">–</td>"#),
        }
        out.push_str("<td>");
        sparkline(out, &row.sparkline);
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></div>");
}
