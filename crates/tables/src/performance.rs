//! The performance tables: the agents' `tcp_stats` merged across hosts and ports, and the TLS
//! handshakes of load-balancer logs, per window, service location, RTT source and client
//! city-network (`city_network_performance`) or client prefix (`prefix_performance`), with
//! retransmission rates and RTT percentiles.

use std::collections::HashMap;
use std::path::Path;

use flowatlas_geo::Facts;
use flowatlas_rollup::{
    CityNetworkPerformanceRow, Performance, PrefixPerformanceRow, RttHistogram, RttSource,
    ServiceLocation, TcpMeasures,
};

use crate::read::{Columns, Texts, for_each_batch, for_each_row, read_rows};
use crate::tcp::{TcpRow, histogram_of, tcp_measure_columns, tcp_measures_of};
use crate::top::{TopBy, identity_of, key_columns, key_parts, label_of};
use crate::{
    Cell, ClientRow, Column, ColumnKind, LocatedRow, OwnedRows, Table, WriteError, client_columns,
    column, leading_columns,
};

macro_rules! performance_row {
    ($row:ty) => {
        impl LocatedRow for $row {
            fn window_start(&self) -> i64 {
                self.window_start
            }
            fn location(&self) -> &ServiceLocation {
                &self.location
            }
        }

        impl SourcedRow for $row {
            fn rtt_source(&self) -> RttSource {
                self.rtt_source
            }
        }

        impl ClientRow for $row {
            fn client(&self) -> &Facts {
                &self.client
            }
        }

        impl TcpRow for $row {
            fn tcp(&self) -> &TcpMeasures {
                &self.performance.measures
            }
            fn rtt(&self) -> &RttHistogram {
                &self.performance.rtt
            }
        }
    };
}

/// Rows keyed by what measured their round-trip times.
trait SourcedRow {
    fn rtt_source(&self) -> RttSource;
}

/// The `rtt_source` column, right after the location: every percentile is of one source.
fn source_column<R: SourcedRow + OwnedRows>() -> Column<R> {
    Column {
        nullable: false,
        ..column(
            "rtt_source",
            ColumnKind::Text,
            "What measured the RTTs: tcp_srtt (the kernel's smoothed RTT, flowatlas agent) or tls_handshake (a load balancer's TLS handshake time, about one RTT plus processing: a proxy). Never merge percentiles across sources.",
            |row: &R| Cell::Text(Some(row.rtt_source().name())),
        )
    }
}

performance_row!(CityNetworkPerformanceRow);
performance_row!(PrefixPerformanceRow);

/// What is read off the merged measures: the retransmission rate and RTT percentiles (ms).
fn derived_columns<R: TcpRow + OwnedRows>() -> Vec<Column<R>> {
    macro_rules! percentile {
        ($name:literal, $q:literal, $doc:literal) => {
            column($name, ColumnKind::Double, $doc, |row: &R| {
                Cell::Double(row.rtt().quantile($q).map(|us| us / 1000.0))
            })
        };
    }
    vec![
        column(
            "retransmission_rate",
            ColumnKind::Double,
            "retrans_segs / segs_out; null when nothing was sent.",
            |row: &R| Cell::Double(row.tcp().retransmission_rate()),
        ),
        percentile!(
            "rtt_p50_ms",
            0.5,
            "Median RTT of the row's source, milliseconds (within 1%): smoothed RTT weighted by bytes moved (tcp_srtt), or TLS handshake time per connection (tls_handshake); null without samples."
        ),
        percentile!(
            "rtt_p90_ms",
            0.9,
            "90th percentile RTT of the row's source, milliseconds: by bytes (tcp_srtt) or by connection (tls_handshake)."
        ),
        percentile!(
            "rtt_p95_ms",
            0.95,
            "95th percentile RTT of the row's source, milliseconds: by bytes (tcp_srtt) or by connection (tls_handshake)."
        ),
    ]
}

/// The `city_network_performance` table: one row per window × service location × client
/// city-network (the same client columns as `city_networks`).
pub fn city_network_performance() -> Table<CityNetworkPerformanceRow> {
    let mut columns = leading_columns::<CityNetworkPerformanceRow>();
    columns.push(source_column());
    columns.extend(client_columns::<CityNetworkPerformanceRow>());
    columns.extend(derived_columns::<CityNetworkPerformanceRow>());
    columns.extend(tcp_measure_columns::<CityNetworkPerformanceRow>());
    Table::new(
        crate::CITY_NETWORK_PERFORMANCE,
        "Round-trip times per 5-minute window, service location, RTT source and client city-network: TCP smoothed RTT and retransmissions from flowatlas agent, or TLS handshake times from ALB connection logs and NLB access logs.",
        columns,
    )
}

/// The `prefix_performance` table: one row per window × service location × client prefix.
pub fn prefix_performance() -> Table<PrefixPerformanceRow> {
    let mut columns = leading_columns::<PrefixPerformanceRow>();
    columns.push(source_column());
    columns.push(Column {
        nullable: false,
        ..column(
            "client_prefix",
            ColumnKind::Text,
            "Client prefix as CIDR text, as the agents wrote it.",
            |row: &PrefixPerformanceRow| Cell::Network(Some(row.client_prefix)),
        )
    });
    columns.extend(client_columns::<PrefixPerformanceRow>());
    columns.extend(derived_columns::<PrefixPerformanceRow>());
    columns.extend(tcp_measure_columns::<PrefixPerformanceRow>());
    Table::new(
        crate::PREFIX_PERFORMANCE,
        "Round-trip times per 5-minute window, service location, RTT source and client prefix: TCP smoothed RTT and retransmissions from flowatlas agent, or TLS handshake times from ALB connection logs and NLB access logs.",
        columns,
    )
}

/// A row's RTT source; a name this version does not know is `None`: it cannot be merged or
/// compared with anything known.
fn rtt_source_of(columns: &Columns<'_>, row: usize) -> Option<RttSource> {
    columns
        .text("rtt_source", row)
        .and_then(RttSource::from_name)
}

/// The `city_network_performance` rows of the windows in `[from, to)` (Unix seconds; open
/// when `None`), for the health engine. Rows of an RTT source this version does not know are
/// skipped.
pub fn read_city_network_performance(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<CityNetworkPerformanceRow>, WriteError> {
    let mut rows = Vec::new();
    for_each_city_network_performance(data_dir, from, to, |row| rows.push(row))?;
    Ok(rows)
}

/// Each `city_network_performance` row of `[from, to)` handed to `add` as it is decoded, so a
/// week of rows is never in memory at once (the report merges their histograms). Rows of an
/// unknown RTT source are skipped.
pub fn for_each_city_network_performance(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
    add: impl FnMut(CityNetworkPerformanceRow),
) -> Result<(), WriteError> {
    let table = city_network_performance().definition();
    for_each_row(
        data_dir,
        &table,
        from,
        to,
        city_network_performance_row,
        add,
    )
}

/// One `city_network_performance` row of a batch; `None` for an unknown RTT source.
pub(crate) fn city_network_performance_row(
    columns: &Columns<'_>,
    row: usize,
    texts: &mut Texts,
) -> Option<CityNetworkPerformanceRow> {
    Some(CityNetworkPerformanceRow {
        window_start: columns.seconds(row),
        location: columns.location(row, texts),
        rtt_source: rtt_source_of(columns, row)?,
        client: columns.client(row, texts),
        performance: performance_of(columns, row),
    })
}

/// The `prefix_performance` rows of the windows in `[from, to)`, for naming the prefixes of a
/// performance event. Rows whose prefix does not parse, or of an unknown source, are skipped.
pub fn read_prefix_performance(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<PrefixPerformanceRow>, WriteError> {
    let table = prefix_performance().definition();
    read_rows(data_dir, &table, from, to, prefix_performance_row)
}

/// One `prefix_performance` row of a batch; `None` when its prefix does not parse or its RTT
/// source is unknown.
pub(crate) fn prefix_performance_row(
    columns: &Columns<'_>,
    row: usize,
    texts: &mut Texts,
) -> Option<PrefixPerformanceRow> {
    Some(PrefixPerformanceRow {
        window_start: columns.seconds(row),
        location: columns.location(row, texts),
        rtt_source: rtt_source_of(columns, row)?,
        client_prefix: columns.text("client_prefix", row)?.parse().ok()?,
        client: columns.client(row, texts),
        performance: performance_of(columns, row),
    })
}

fn performance_of(columns: &Columns<'_>, row: usize) -> Performance {
    Performance {
        measures: tcp_measures_of(columns, row),
        rtt: histogram_of(columns, row),
    }
}

/// What to rank clients by, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerformanceMetric {
    /// 90th percentile of the smoothed RTT, weighted by bytes.
    RttP90,
    /// Retransmitted segments per data segment sent.
    Retransmits,
}

/// One ranked client group with its merged measures.
#[derive(Clone, Debug, PartialEq)]
pub struct PerformanceEntry {
    /// What it is, labelled as `flowatlas top` labels it.
    pub label: String,
    /// What measured its round-trip times: a group is ranked once per source.
    pub rtt_source: RttSource,
    /// Every row of the group, merged (histograms by adding weights).
    pub performance: Performance,
}

/// Ranks client ASes, cities, countries or prefixes by RTT p90 or retransmission rate over
/// the windows in `[from, to)`, from `prefix_performance` (which carries both the prefix and
/// its city-network facts): each RTT source ranked on its own, `n` groups of each, sources in
/// the order of [`RttSource::ALL`]. Groups without the metric (no samples, nothing sent) are
/// left out.
/// Returns the ranking and the number of rows read.
pub fn top_performance(
    data_dir: &Path,
    by: TopBy,
    metric: PerformanceMetric,
    from: Option<i64>,
    to: Option<i64>,
    n: usize,
) -> Result<(Vec<PerformanceEntry>, usize), WriteError> {
    let key_columns = key_columns(by);
    let mut groups: HashMap<(RttSource, String), PerformanceEntry> = HashMap::new();
    let mut n_rows = 0;
    let table = prefix_performance();
    for_each_batch(data_dir, &table.definition(), from, to, |batch| {
        let columns = Columns { batch };
        for row in columns.rows_in(from, to) {
            let Some(rtt_source) = rtt_source_of(&columns, row) else {
                continue;
            };
            n_rows += 1;
            let parts = key_parts(batch, key_columns, row);
            let group = &mut groups
                .entry((rtt_source, identity_of(by, &parts)))
                .or_insert_with(|| PerformanceEntry {
                    label: label_of(by, &parts),
                    rtt_source,
                    performance: Performance::default(),
                })
                .performance;
            let performance = performance_of(&columns, row);
            group.measures += performance.measures;
            group.rtt += &performance.rtt;
        }
    })?;
    let value = |performance: &Performance| match metric {
        PerformanceMetric::RttP90 => performance.rtt.quantile(0.9),
        PerformanceMetric::Retransmits => performance.measures.retransmission_rate(),
    };
    let mut ranked: Vec<(f64, PerformanceEntry)> = groups
        .into_values()
        .filter_map(|entry| Some((value(&entry.performance)?, entry)))
        .collect();
    // Each source is ranked on its own, worst first: a handshake time is not comparable with a
    // smoothed RTT, so one list of both would rank sources, not clients.
    ranked.sort_by(|a, b| {
        (a.1.rtt_source.cmp(&b.1.rtt_source))
            .then_with(|| b.0.total_cmp(&a.0))
            .then_with(|| a.1.label.cmp(&b.1.label))
    });
    let mut taken: HashMap<RttSource, usize> = HashMap::new();
    let entries = ranked
        .into_iter()
        .filter(|(_, entry)| {
            let n_taken = taken.entry(entry.rtt_source).or_default();
            *n_taken += 1;
            *n_taken <= n
        })
        .map(|(_, entry)| entry)
        .collect();
    Ok((entries, n_rows))
}
