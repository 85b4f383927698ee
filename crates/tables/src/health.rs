//! The health engine's tables: `city_network_health` (one row per window × city-network) and
//! `health_events` (one row per event), defined as column lists like the rollup tables.

use flowatlas_geo::Facts;
use flowatlas_health::{CityNetworkHealth, HealthEvent, PerformanceHealth};
use flowatlas_rollup::CityNetworkKey;

use crate::{
    Cell, ClientRow, Column, ColumnKind, PartitionTime, Rows, Table, client_columns, column, text,
};

impl ClientRow for CityNetworkHealth {
    fn client(&self) -> &Facts {
        &self.city_network.client
    }
}

impl PartitionTime for CityNetworkHealth {
    fn partition_time(&self) -> i64 {
        self.window_start
    }
}

impl PartitionTime for HealthEvent {
    fn partition_time(&self) -> i64 {
        self.started_at
    }
}

fn required<R: Rows>(column: Column<R>) -> Column<R> {
    Column {
        nullable: false,
        ..column
    }
}

/// The observed and expected columns of one connection ratio.
macro_rules! ratio_columns {
    ($field:ident, $observed:literal, $expected:literal, $what:literal) => {
        [
            column(
                $observed,
                ColumnKind::Double,
                concat!($what, ", percent; null with too few attempts."),
                |row: &CityNetworkHealth| Cell::Double(row.$field.observed_percent),
            ),
            column(
                $expected,
                ColumnKind::Double,
                concat!($what, " expected from history, percent."),
                |row: &CityNetworkHealth| Cell::Double(row.$field.expected_percent),
            ),
        ]
    };
}

/// The `city_network_health` table.
pub fn city_network_health() -> Table<CityNetworkHealth> {
    let mut columns = vec![
        required(column(
            "window_start",
            ColumnKind::Timestamp,
            "Start of the 5-minute window (UTC).",
            |row: &CityNetworkHealth| Cell::Seconds(row.window_start),
        )),
        column(
            "account_id",
            ColumnKind::Text,
            "AWS account of the service.",
            |row: &CityNetworkHealth| text(&row.city_network.account_id),
        ),
        column(
            "region",
            ColumnKind::Text,
            "AWS Region of the service (Availability Zones add up).",
            |row: &CityNetworkHealth| text(&row.city_network.region),
        ),
    ];
    columns.extend(client_columns::<CityNetworkHealth>());
    columns.extend([
        required(column(
            "observed_bytes",
            ColumnKind::Int64,
            "Bytes in + out observed.",
            |row: &CityNetworkHealth| Cell::Int64(Some(row.observed_bytes)),
        )),
        column(
            "expected_bytes",
            ColumnKind::Int64,
            "Bytes expected from history, scaled by the service's demand; null without history.",
            |row: &CityNetworkHealth| Cell::Int64(row.expected_bytes),
        ),
        column(
            "baseline",
            ColumnKind::Text,
            "How it was expected: same_time_of_week, same_time_of_day or recent_hour.",
            |row: &CityNetworkHealth| Cell::Text(row.baseline.map(|method| method.name())),
        ),
        required(column(
            "history_days",
            ColumnKind::Int32,
            "Days of history behind the expectation (0 for the last hour).",
            |row: &CityNetworkHealth| Cell::Int32(Some(row.history_days)),
        )),
        column(
            "demand_scale",
            ColumnKind::Double,
            "The service's demand now against its history (1 = usual).",
            |row: &CityNetworkHealth| Cell::Double(row.demand_scale),
        ),
        column(
            "availability_score",
            ColumnKind::Double,
            "Share of the expected traffic not impacted, 0-100; null when it could not be judged.",
            |row: &CityNetworkHealth| Cell::Double(row.availability_score),
        ),
        column(
            "performance_score",
            ColumnKind::Double,
            "Share of the measured traffic not degraded (RTT or retransmissions against history), 0-100; null where no RTTs were measured or none could be judged.",
            |row: &CityNetworkHealth| Cell::Double(row.performance_score),
        ),
        column(
            "percent_of_client_location_impacted",
            ColumnKind::Double,
            "Share of its own expected traffic impacted, percent.",
            |row: &CityNetworkHealth| Cell::Double(row.percent_of_client_location_impacted),
        ),
        column(
            "percent_of_total_traffic_impacted",
            ColumnKind::Double,
            "Its impacted traffic as a share of all expected traffic, percent.",
            |row: &CityNetworkHealth| Cell::Double(row.percent_of_total_traffic_impacted),
        ),
        required(column(
            "percent_of_total_traffic",
            ColumnKind::Double,
            "Its observed traffic as a share of all observed traffic, percent.",
            |row: &CityNetworkHealth| Cell::Double(Some(row.percent_of_total_traffic)),
        )),
    ]);
    columns.extend(ratio_columns!(
        unanswered_out,
        "unanswered_out_percent",
        "unanswered_out_expected_percent",
        "Our connection attempts (SYN out) without a SYN-ACK back"
    ));
    columns.extend(ratio_columns!(
        unanswered_in,
        "unanswered_in_percent",
        "unanswered_in_expected_percent",
        "The clients' connection attempts (SYN in) without our SYN-ACK"
    ));
    columns.extend(ratio_columns!(
        reset,
        "reset_percent",
        "reset_expected_percent",
        "Flows with a reset"
    ));
    columns.extend(ratio_columns!(
        rejected,
        "rejected_percent",
        "rejected_expected_percent",
        "Rejected flows"
    ));
    columns.push(column(
        "impact_signal",
        ColumnKind::Text,
        "The signal that set the impact: traffic, unanswered_out, unanswered_in, reset, rejected.",
        |row: &CityNetworkHealth| Cell::Text(row.impact_signal.map(|signal| signal.name())),
    ));
    columns.extend(performance_columns());
    columns.push(column(
        "window_demand",
        ColumnKind::Double,
        "The window's demand estimate, dividing its traffic when it serves as history of later windows (1 where none); null on rows only round-trip times judged. Scheduled health runs read it back.",
        |row: &CityNetworkHealth| Cell::Double(row.window_demand),
    ));
    Table::new(
        crate::CITY_NETWORK_HEALTH,
        "Availability and performance per 5-minute window and client city-network: observed against expected traffic, connection signals, round-trip times and retransmissions, scores and impact.",
        columns,
    )
}

/// A double column read off a row's performance (null where none was measured).
macro_rules! performance_double {
    ($name:literal, $doc:literal, $value:expr) => {
        column(
            $name,
            ColumnKind::Double,
            $doc,
            |row: &CityNetworkHealth| {
                let value: fn(&PerformanceHealth) -> Option<f64> = $value;
                Cell::Double(row.performance.as_ref().and_then(value))
            },
        )
    };
}

/// The performance columns of `city_network_health`, after availability's; null where the
/// performance tables measured nothing.
fn performance_columns() -> Vec<Column<CityNetworkHealth>> {
    vec![
        column(
            "rtt_source",
            ColumnKind::Text,
            "The RTT source judged: tcp_srtt where flowatlas agent measured, else tls_handshake (a load balancer's handshake time, a proxy); never both.",
            |row: &CityNetworkHealth| {
                Cell::Text(row.performance.map(|health| health.rtt_source.name()))
            },
        ),
        column(
            "rtt_weight",
            ColumnKind::Int64,
            "Weight of the RTT histogram judged: bytes moved by the connections measured.",
            |row: &CityNetworkHealth| {
                Cell::Int64(row.performance.map(|health| health.measured_weight))
            },
        ),
        performance_double!(
            "rtt_p50_ms",
            "Median RTT, weighted by bytes, milliseconds.",
            |health| Some(health.round_trip_time.p50_ms)
        ),
        performance_double!(
            "rtt_p90_ms",
            "90th percentile RTT, milliseconds.",
            |health| Some(health.round_trip_time.p90_ms)
        ),
        performance_double!(
            "rtt_p95_ms",
            "95th percentile RTT, milliseconds.",
            |health| Some(health.round_trip_time.p95_ms)
        ),
        performance_double!(
            "expected_rtt_p50_ms",
            "Median RTT expected from the same time of week (else day) of the same source, milliseconds; null without history.",
            |health| health.expected_round_trip_time.map(|rtt| rtt.p50_ms)
        ),
        performance_double!(
            "expected_rtt_p90_ms",
            "90th percentile RTT expected, milliseconds.",
            |health| health.expected_round_trip_time.map(|rtt| rtt.p90_ms)
        ),
        performance_double!(
            "expected_rtt_p95_ms",
            "95th percentile RTT expected, milliseconds.",
            |health| health.expected_round_trip_time.map(|rtt| rtt.p95_ms)
        ),
        performance_double!(
            "degraded_above_ms",
            "Traffic with RTTs above this is degraded: max(1.5 x expected p90, expected p90 + 20 ms, expected p90 + 3 spreads).",
            |health| health.degraded_above_ms
        ),
        performance_double!(
            "retransmission_percent",
            "Segments retransmitted per segment sent, percent; null with under 100 segments.",
            |health| health.retransmission.observed_percent
        ),
        performance_double!(
            "retransmission_expected_percent",
            "Retransmissions expected from history, percent.",
            |health| health.retransmission.expected_percent
        ),
        performance_double!(
            "percent_of_client_location_degraded",
            "Share of its measured traffic degraded (performance_score = 100 - this), percent.",
            |health| health.percent_of_client_location_degraded
        ),
        performance_double!(
            "percent_of_total_traffic_degraded",
            "Its degraded traffic as a share of all measured traffic, percent.",
            |health| health.percent_of_total_traffic_degraded
        ),
        column(
            "performance_signal",
            ColumnKind::Text,
            "What degraded it: round_trip_time or retransmissions.",
            |row: &CityNetworkHealth| {
                Cell::Text(
                    row.performance
                        .and_then(|health| health.signal)
                        .map(|signal| signal.name()),
                )
            },
        ),
    ]
}

/// A double column read off an event's most impacted location's performance.
macro_rules! event_performance_double {
    ($name:literal, $doc:literal, $value:expr) => {
        column($name, ColumnKind::Double, $doc, |event: &HealthEvent| {
            let value: fn(&PerformanceHealth) -> Option<f64> = $value;
            Cell::Double(event_performance(event).and_then(value))
        })
    };
}

/// The performance evidence of an event: its most impacted location's.
fn event_performance(event: &HealthEvent) -> Option<&PerformanceHealth> {
    event
        .impacted_locations
        .first()
        .and_then(|location| location.performance.as_ref())
}

/// The `health_events` table.
pub fn health_events() -> Table<HealthEvent> {
    let columns = vec![
        required(column(
            "event_id",
            ColumnKind::Text,
            "<start>/<impact type>-<place>, stable across runs.",
            |event: &HealthEvent| Cell::Text(Some(&event.event_id)),
        )),
        required(column(
            "impact_type",
            ColumnKind::Text,
            "AVAILABILITY or PERFORMANCE (overall), LOCAL_AVAILABILITY or LOCAL_PERFORMANCE (one city-network).",
            |event: &HealthEvent| Cell::Text(Some(event.impact_type.name())),
        )),
        required(column(
            "status",
            ColumnKind::Text,
            "ACTIVE or RESOLVED at the end of the assessed range.",
            |event: &HealthEvent| Cell::Text(Some(event.status.name())),
        )),
        required(column(
            "started_at",
            ColumnKind::Timestamp,
            "Start of the first impacted window.",
            |event: &HealthEvent| Cell::Seconds(event.started_at),
        )),
        required(column(
            "detected_at",
            ColumnKind::Timestamp,
            "End of the window after which the event was raised.",
            |event: &HealthEvent| Cell::Seconds(event.detected_at),
        )),
        column(
            "ended_at",
            ColumnKind::Timestamp,
            "End of the last impacted window, once resolved.",
            |event: &HealthEvent| Cell::MaybeSeconds(event.ended_at),
        ),
        required(column(
            "health_score_threshold",
            ColumnKind::Double,
            "The threshold in force.",
            |event: &HealthEvent| Cell::Double(Some(event.health_score_threshold)),
        )),
        required(column(
            "percent_of_total_traffic_impacted",
            ColumnKind::Double,
            "Mean share of all traffic impacted over the impacted windows, percent.",
            |event: &HealthEvent| Cell::Double(Some(event.percent_of_total_traffic_impacted)),
        )),
        required(column(
            "peak_percent_of_total_traffic_impacted",
            ColumnKind::Double,
            "Highest share of all traffic impacted in one window, percent.",
            |event: &HealthEvent| Cell::Double(Some(event.peak_percent_of_total_traffic_impacted)),
        )),
        required(column(
            "lowest_availability_score",
            ColumnKind::Double,
            "Lowest score in one window (overall, or the city-network's).",
            |event: &HealthEvent| Cell::Double(Some(event.lowest_availability_score)),
        )),
        required(column(
            "impacted_windows",
            ColumnKind::Int64,
            "Impacted 5-minute windows.",
            |event: &HealthEvent| Cell::Int64(Some(event.impacted_windows)),
        )),
        required(column(
            "expected_bytes",
            ColumnKind::Int64,
            "Evidence: bytes the impacted city-networks were expected to carry in those windows.",
            |event: &HealthEvent| Cell::Int64(Some(event.expected_bytes)),
        )),
        required(column(
            "observed_bytes",
            ColumnKind::Int64,
            "Evidence: bytes they carried.",
            |event: &HealthEvent| Cell::Int64(Some(event.observed_bytes)),
        )),
        required(column(
            "signals",
            ColumnKind::Text,
            "Signals that showed impact, comma-separated.",
            |event: &HealthEvent| {
                let names: Vec<&str> = event.signals.iter().map(|signal| signal.name()).collect();
                Cell::OwnedText(names.join(","))
            },
        )),
        required(column(
            "impacted_asns",
            ColumnKind::Text,
            "AS numbers of the impacted city-networks, comma-separated.",
            |event: &HealthEvent| {
                let asns: Vec<String> = event.asns().iter().map(u32::to_string).collect();
                Cell::OwnedText(asns.join(","))
            },
        )),
        required(column(
            "impacted_city_networks",
            ColumnKind::Text,
            "The impacted city-networks, most impacted first, separated by `; `.",
            |event: &HealthEvent| {
                let labels: Vec<String> = event
                    .impacted_locations
                    .iter()
                    .map(|location| location.city_network.label())
                    .collect();
                Cell::OwnedText(labels.join("; "))
            },
        )),
        required(column(
            "impacted_city_network_ids",
            ColumnKind::TextList,
            "The city_network_id of each impacted city-network, in the order of impacted_city_networks: join on it, never on the labels.",
            |event: &HealthEvent| {
                Cell::TextList(
                    event
                        .impacted_locations
                        .iter()
                        .map(|location| {
                            CityNetworkKey::of(&location.city_network.client).to_string()
                        })
                        .collect(),
                )
            },
        )),
        required(column(
            "impacted_prefixes",
            ColumnKind::Text,
            "Client prefixes whose traffic fell short (availability) or was degraded (performance), comma-separated.",
            |event: &HealthEvent| {
                let prefixes: Vec<&str> = event
                    .impacted_locations
                    .iter()
                    .flat_map(|location| location.prefixes.iter().map(String::as_str))
                    .collect();
                Cell::OwnedText(prefixes.join(","))
            },
        )),
        column(
            "rtt_source",
            ColumnKind::Text,
            "Performance events: the RTT source judged (tcp_srtt or tls_handshake).",
            |event: &HealthEvent| {
                Cell::Text(event_performance(event).map(|health| health.rtt_source.name()))
            },
        ),
        event_performance_double!(
            "rtt_p50_ms",
            "Performance events: median RTT of the most impacted city-network in its worst window, milliseconds.",
            |health| Some(health.round_trip_time.p50_ms)
        ),
        event_performance_double!(
            "rtt_p90_ms",
            "Performance events: its 90th percentile RTT, milliseconds.",
            |health| Some(health.round_trip_time.p90_ms)
        ),
        event_performance_double!(
            "rtt_p95_ms",
            "Performance events: its 95th percentile RTT, milliseconds.",
            |health| Some(health.round_trip_time.p95_ms)
        ),
        event_performance_double!(
            "expected_rtt_p50_ms",
            "Performance events: the median RTT expected, milliseconds.",
            |health| health.expected_round_trip_time.map(|rtt| rtt.p50_ms)
        ),
        event_performance_double!(
            "expected_rtt_p90_ms",
            "Performance events: the 90th percentile RTT expected, milliseconds.",
            |health| health.expected_round_trip_time.map(|rtt| rtt.p90_ms)
        ),
        event_performance_double!(
            "expected_rtt_p95_ms",
            "Performance events: the 95th percentile RTT expected, milliseconds.",
            |health| health.expected_round_trip_time.map(|rtt| rtt.p95_ms)
        ),
        event_performance_double!(
            "retransmission_percent",
            "Performance events: segments retransmitted per segment sent, percent.",
            |health| health.retransmission.observed_percent
        ),
        event_performance_double!(
            "retransmission_expected_percent",
            "Performance events: retransmissions expected, percent.",
            |health| health.retransmission.expected_percent
        ),
    ];
    Table::new(
        crate::HEALTH_EVENTS,
        "Health events in Internet Monitor's terms, raised and resolved window by window.",
        columns,
    )
}
