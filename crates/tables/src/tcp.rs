//! The `tcp_stats` table that `flowatlas agent` writes: one host's TCP connections per window,
//! client prefix and local port, with a mergeable RTT histogram.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use flowatlas_rollup::{RttHistogram, TcpMeasures, TcpStatsRow};
use parquet::file::reader::ChunkReader;

use crate::read::{Columns, Texts, for_each_batch_of, read_rows};
use crate::{
    Cell, Column, ColumnKind, LocatedRow, OwnedRows, Table, WriteError, column, leading_columns,
};

/// Name of the agent's table, also its folder.
pub use flowatlas_store::layout::TCP_STATS;

impl LocatedRow for TcpStatsRow {
    fn window_start(&self) -> i64 {
        self.window_start
    }
    fn location(&self) -> &flowatlas_rollup::ServiceLocation {
        &self.location
    }
}

/// Rows that carry TCP measures and an RTT histogram (`tcp_stats` and the performance tables).
pub trait TcpRow: LocatedRow {
    /// Counts and bytes.
    fn tcp(&self) -> &TcpMeasures;
    /// The merged RTT histogram.
    fn rtt(&self) -> &RttHistogram;
}

impl TcpRow for TcpStatsRow {
    fn tcp(&self) -> &TcpMeasures {
        &self.measures
    }
    fn rtt(&self) -> &RttHistogram {
        &self.rtt
    }
}

/// The TCP measures, then the histogram as two parallel lists (bucket numbers, weights), so
/// that SQL can merge histograms with `UNNEST` and `SUM` by bucket.
pub(crate) fn tcp_measure_columns<R: TcpRow + OwnedRows>() -> Vec<Column<R>> {
    macro_rules! measure {
        ($name:literal, $field:ident, $doc:literal) => {
            Column {
                nullable: false,
                ..column($name, ColumnKind::Int64, $doc, |row: &R| {
                    Cell::Int64(Some(row.tcp().$field))
                })
            }
        };
    }
    vec![
        measure!(
            "connections_new",
            connections_new,
            "Connections first seen in the window; for rtt_source tls_handshake, TLS handshakes a load balancer logged in the window (one per connection, windowed by the log's time)."
        ),
        measure!(
            "connections_closed",
            connections_closed,
            "Connections that closed in the window; 0 for tls_handshake (a load-balancer log does not say)."
        ),
        measure!(
            "connections_open",
            connections_open,
            "Connections open at the window's last poll (adds up across hosts, not windows); 0 for tls_handshake."
        ),
        measure!(
            "bytes_in",
            bytes_in,
            "Bytes received from the clients (tcpi_bytes_received); tls_handshake: the NLB's received_bytes of the connections, 0 for ALB connection logs."
        ),
        measure!(
            "bytes_out",
            bytes_out,
            "Bytes sent and acknowledged by the clients (tcpi_bytes_acked); tls_handshake: the NLB's sent_bytes, 0 for ALB connection logs."
        ),
        measure!(
            "segs_out",
            segs_out,
            "Data segments sent, retransmissions included (tcpi_data_segs_out)."
        ),
        measure!(
            "retrans_segs",
            retrans_segs,
            "Segments retransmitted (tcpi_total_retrans); spurious ones included."
        ),
        measure!(
            "retrans_bytes",
            retrans_bytes,
            "Bytes retransmitted (tcpi_bytes_retrans)."
        ),
        measure!(
            "rtt_samples",
            rtt_samples,
            "Smoothed-RTT samples: polls at which a connection had moved data; tls_handshake: handshakes timed."
        ),
        measure!(
            "rtt_min_us",
            rtt_min_us,
            "Smallest windowed minimum RTT (tcpi_min_rtt) of the sampled connections, microseconds; tls_handshake: the shortest handshake; 0 without samples."
        ),
        Column {
            nullable: false,
            ..column(
                "rtt_buckets",
                ColumnKind::Int64List,
                "RTT histogram bucket numbers, increasing: bucket i holds RTTs in (g^(i-1), g^i] microseconds, g = 1.01/0.99.",
                |row: &R| {
                    Cell::Int64List(
                        row.rtt()
                            .buckets()
                            .map(|(bucket, _)| i64::from(bucket))
                            .collect(),
                    )
                },
            )
        },
        Column {
            nullable: false,
            ..column(
                "rtt_weights",
                ColumnKind::Int64List,
                "Weight of each bucket of rtt_buckets: bytes moved (tcp_srtt), connections (tls_handshake: a handshake happens once per connection and says nothing of bytes); histograms of one source merge by adding weights per bucket.",
                |row: &R| Cell::Int64List(row.rtt().buckets().map(|(_, weight)| weight).collect()),
            )
        },
    ]
}

/// The `tcp_stats` table: one row per host × window × client prefix × local port.
pub fn tcp_stats() -> Table<TcpStatsRow> {
    let mut columns = leading_columns::<TcpStatsRow>();
    columns.extend([
        Column {
            nullable: false,
            ..column(
                "host",
                ColumnKind::Text,
                "Host whose agent measured the connections.",
                |row: &TcpStatsRow| Cell::Text(Some(&row.host)),
            )
        },
        Column {
            nullable: false,
            ..column(
                "client_prefix",
                ColumnKind::Text,
                "Client prefix as CIDR text (/24 IPv4, /48 IPv6 by default); never an address.",
                |row: &TcpStatsRow| Cell::Network(Some(row.client_prefix)),
            )
        },
        Column {
            nullable: false,
            ..column(
                "local_port",
                ColumnKind::Int32,
                "The service's TCP port.",
                |row: &TcpStatsRow| Cell::Int32(Some(row.local_port)),
            )
        },
    ]);
    columns.extend(tcp_measure_columns::<TcpStatsRow>());
    Table::new(
        TCP_STATS,
        "TCP connections measured by flowatlas agent per 5-minute window, host, client prefix and local port.",
        columns,
    )
}

/// The `tcp_stats` rows of the windows in `[from, to)` (Unix seconds; open when `None`) under
/// `data_dir`. Rows whose prefix does not parse are skipped: the agent never writes one.
pub fn read_tcp_stats(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<TcpStatsRow>, WriteError> {
    read_rows(data_dir, &tcp_stats().definition(), from, to, row_of)
}

/// What reading one agent object found: rows in it, and rows whose client prefix did not parse
/// (skipped; the agent never writes one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStatsRead {
    /// Rows in the object.
    pub n_rows: u64,
    /// Rows skipped because their `client_prefix` is not a prefix.
    pub n_unreadable: u64,
}

/// Hands each row of one agent object (a file, or an S3 object read in ranges) over, one batch
/// in memory at a time; errors name the object `name`.
pub fn for_each_tcp_stats_row<R: ChunkReader + 'static>(
    object: R,
    name: &Path,
    mut each: impl FnMut(&TcpStatsRow),
) -> Result<TcpStatsRead, WriteError> {
    let mut read = TcpStatsRead::default();
    let mut texts = Texts::default();
    for_each_batch_of(object, name, &tcp_stats().definition(), None, |batch| {
        let columns = Columns { batch };
        for row in 0..batch.num_rows() {
            read.n_rows += 1;
            match row_of(&columns, row, &mut texts) {
                Some(row) => each(&row),
                None => read.n_unreadable += 1,
            }
        }
    })?;
    Ok(read)
}

/// One row of `tcp_stats`; `None` when its prefix does not parse.
fn row_of(columns: &Columns<'_>, row: usize, texts: &mut Texts) -> Option<TcpStatsRow> {
    Some(TcpStatsRow {
        window_start: columns.seconds(row),
        location: columns.location(row, texts),
        host: texts
            .get(columns.text("host", row))
            .unwrap_or_else(|| std::sync::Arc::from("")),
        client_prefix: columns.text("client_prefix", row)?.parse().ok()?,
        local_port: columns.int32("local_port", row).unwrap_or(0),
        measures: tcp_measures_of(columns, row),
        rtt: histogram_of(columns, row),
    })
}

/// The TCP measures of a row of `tcp_stats` or a performance table.
pub(crate) fn tcp_measures_of(columns: &Columns<'_>, row: usize) -> TcpMeasures {
    let int = |name| columns.int64(name, row).unwrap_or(0);
    TcpMeasures {
        connections_new: int("connections_new"),
        connections_closed: int("connections_closed"),
        connections_open: int("connections_open"),
        bytes_in: int("bytes_in"),
        bytes_out: int("bytes_out"),
        segs_out: int("segs_out"),
        retrans_segs: int("retrans_segs"),
        retrans_bytes: int("retrans_bytes"),
        rtt_samples: int("rtt_samples"),
        rtt_min_us: int("rtt_min_us"),
    }
}

/// The RTT histogram of a row, from its bucket and weight lists.
pub(crate) fn histogram_of(columns: &Columns<'_>, row: usize) -> RttHistogram {
    let buckets = int64_list(columns, "rtt_buckets", row);
    let weights = int64_list(columns, "rtt_weights", row);
    RttHistogram::from_buckets(
        buckets
            .iter()
            .zip(&weights)
            .filter_map(|(&bucket, &weight)| Some((i32::try_from(bucket).ok()?, weight))),
    )
}

/// The integers of a list cell; empty when the column is missing or the cell null.
fn int64_list(columns: &Columns<'_>, name: &str, row: usize) -> Vec<i64> {
    columns
        .list_values(name, row)
        .and_then(|values| {
            values
                .as_primitive_opt::<Int64Type>()
                .map(|values| values.iter().flatten().collect())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flowatlas_rollup::ServiceLocation;

    use super::*;
    use crate::write_partitioned;

    #[test]
    fn rows_round_trip_through_parquet() {
        let mut rtt = RttHistogram::default();
        rtt.record(50_000, 1_000);
        rtt.record(52_000, 3_000);
        rtt.record(300_000, 10);
        let row = TcpStatsRow {
            window_start: 1_780_315_200,
            location: ServiceLocation {
                account_id: Some(Arc::from("123456789012")),
                region: Some(Arc::from("eu-west-1")),
                az_id: Some(Arc::from("euw1-az1")),
                vpc_id: None,
            },
            host: Arc::from("web-1"),
            client_prefix: "2001:db8:7::/48".parse().unwrap(),
            local_port: 443,
            measures: TcpMeasures {
                connections_new: 2,
                connections_closed: 1,
                connections_open: 5,
                bytes_in: 10,
                bytes_out: 4_010,
                segs_out: 9,
                retrans_segs: 1,
                retrans_bytes: 1_448,
                rtt_samples: 3,
                rtt_min_us: 49_000,
            },
            rtt,
        };
        let dir = std::env::temp_dir().join(format!("flowatlas-tcp-stats-{}", std::process::id()));
        let written =
            write_partitioned(&tcp_stats(), std::slice::from_ref(&row), &dir, "web-1-x").unwrap();
        assert_eq!(
            written[0].path,
            Path::new("tcp_stats/dt=2026-06-01/hour=12/web-1-x.parquet")
        );
        let read = read_tcp_stats(&dir, None, None).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read, vec![row]);
    }
}
