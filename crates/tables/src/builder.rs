//! Rows into an Arrow batch, row by row, for any table: what [`crate::Table::batch`] builds
//! a slice of rows with, and what the streamed `flows` table appends each record through.
//! Its tricks are the ones streaming a wide, mostly empty table needs, so every table gets
//! them: nulls are counted and appended in runs, and addresses and networks are written into
//! the column's buffer (IPv4 without `fmt`), never made a `String` first.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::ArrowError;
use flowatlas_geo::IpNetwork;

use crate::{Cell, ColumnKind, Rows, Table};

/// A batch of a table being built row by row; [`BatchBuilder::finish`] hands it over and
/// starts the next.
pub struct BatchBuilder<'t, R: Rows> {
    table: &'t Table<R>,
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

impl<'t, R: Rows> BatchBuilder<'t, R> {
    /// An empty batch of `table`, with room for `capacity` rows before it grows.
    pub fn new(table: &'t Table<R>, capacity: usize) -> BatchBuilder<'t, R> {
        BatchBuilder {
            table,
            columns: table
                .columns
                .iter()
                .map(|column| ColumnBuilder::new(column.kind, capacity))
                .collect(),
            rows: 0,
        }
    }

    /// Appends one row, each column's value as its accessor reads it.
    pub fn append<'r>(&mut self, row: &'r R::Row<'r>) {
        for (column, builder) in self.table.columns.iter().zip(&mut self.columns) {
            builder.append(column.cell(row));
        }
        self.rows += 1;
    }

    /// Rows appended since the last [`BatchBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended since the last [`BatchBuilder::finish`].
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows appended so far as one batch; the builder is empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        self.rows = 0;
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        RecordBatch::try_new(self.table.schema(), arrays)
    }
}

enum Builder {
    Timestamp(TimestampMillisecondBuilder),
    Int64(Int64Builder),
    Int32(Int32Builder),
    Double(Float64Builder),
    Text(StringBuilder),
    // Boxed: a list builder is twice the size of the others, and a wide table's builders are
    // walked once per row.
    Int64List(Box<ListBuilder<Int64Builder>>),
    TextList(Box<ListBuilder<StringBuilder>>),
}

/// One column's values being gathered. Nulls are counted and appended in runs when the next
/// value (or the end) comes: most of a `flows` record's columns are absent (fields its format
/// does not log, a peer without enrichment), and appending nulls one by one took a tenth of
/// the time of a run with `--flows`.
struct ColumnBuilder {
    builder: Builder,
    pending_nulls: usize,
}

impl ColumnBuilder {
    fn new(kind: ColumnKind, capacity: usize) -> ColumnBuilder {
        let builder = match kind {
            ColumnKind::Timestamp => Builder::Timestamp(
                TimestampMillisecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            ColumnKind::Int64 => Builder::Int64(Int64Builder::with_capacity(capacity)),
            ColumnKind::Int32 => Builder::Int32(Int32Builder::with_capacity(capacity)),
            ColumnKind::Double => Builder::Double(Float64Builder::with_capacity(capacity)),
            ColumnKind::Text => {
                Builder::Text(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            ColumnKind::Int64List => Builder::Int64List(Box::new(ListBuilder::with_capacity(
                Int64Builder::new(),
                capacity,
            ))),
            ColumnKind::TextList => Builder::TextList(Box::new(ListBuilder::with_capacity(
                StringBuilder::new(),
                capacity,
            ))),
        };
        ColumnBuilder {
            builder,
            pending_nulls: 0,
        }
    }

    /// The builder, with the nulls counted so far appended.
    #[inline]
    fn builder(&mut self) -> &mut Builder {
        if self.pending_nulls > 0 {
            self.append_pending_nulls();
        }
        &mut self.builder
    }

    fn append_pending_nulls(&mut self) {
        let nulls = std::mem::take(&mut self.pending_nulls);
        match &mut self.builder {
            Builder::Timestamp(builder) => builder.append_nulls(nulls),
            Builder::Int64(builder) => builder.append_nulls(nulls),
            Builder::Int32(builder) => builder.append_nulls(nulls),
            Builder::Double(builder) => builder.append_nulls(nulls),
            Builder::Text(builder) => builder.append_nulls(nulls),
            Builder::Int64List(builder) => builder.append_nulls(nulls),
            Builder::TextList(builder) => builder.append_nulls(nulls),
        }
    }

    /// Appends a cell; a missing value, or a cell of another type than the column's, is null.
    #[inline]
    fn append(&mut self, cell: Cell<'_>) {
        match cell {
            Cell::Seconds(seconds) | Cell::MaybeSeconds(Some(seconds)) => match self.builder() {
                Builder::Timestamp(builder) => builder.append_value(seconds.saturating_mul(1000)),
                _ => self.pending_nulls += 1,
            },
            Cell::Int64(Some(value)) => match self.builder() {
                Builder::Int64(builder) => builder.append_value(value),
                _ => self.pending_nulls += 1,
            },
            Cell::Int32(Some(value)) => match self.builder() {
                Builder::Int32(builder) => builder.append_value(value),
                _ => self.pending_nulls += 1,
            },
            Cell::Double(Some(value)) => match self.builder() {
                Builder::Double(builder) => builder.append_value(value),
                _ => self.pending_nulls += 1,
            },
            Cell::Text(Some(text)) => self.text(text),
            Cell::OwnedText(text) => self.text(&text),
            Cell::Ip(Some(ip)) => match (ip, self.builder()) {
                (IpAddr::V4(ip), Builder::Text(builder)) => {
                    let mut text = [0u8; IPV4_TEXT];
                    builder.append_value(ipv4_text(ip, None, &mut text));
                }
                (ip, Builder::Text(builder)) => {
                    // The builder gathers what is written into it as the next value.
                    let _ = write!(builder, "{ip}");
                    builder.append_value("");
                }
                _ => self.pending_nulls += 1,
            },
            Cell::Network(Some(network)) => match (network, self.builder()) {
                (IpNetwork::V4(network), Builder::Text(builder)) => {
                    let mut text = [0u8; IPV4_TEXT];
                    builder.append_value(ipv4_text(
                        network.ip(),
                        Some(network.prefix()),
                        &mut text,
                    ));
                }
                (network, Builder::Text(builder)) => {
                    let _ = write!(builder, "{network}");
                    builder.append_value("");
                }
                _ => self.pending_nulls += 1,
            },
            Cell::Int64List(values) => match self.builder() {
                Builder::Int64List(builder) => builder.append_value(values.into_iter().map(Some)),
                _ => self.pending_nulls += 1,
            },
            Cell::TextList(values) => match self.builder() {
                Builder::TextList(builder) => builder.append_value(values.into_iter().map(Some)),
                _ => self.pending_nulls += 1,
            },
            Cell::Null
            | Cell::MaybeSeconds(None)
            | Cell::Int64(None)
            | Cell::Int32(None)
            | Cell::Double(None)
            | Cell::Text(None)
            | Cell::Ip(None)
            | Cell::Network(None) => self.pending_nulls += 1,
        }
    }

    #[inline]
    fn text(&mut self, text: &str) {
        match self.builder() {
            Builder::Text(builder) => builder.append_value(text),
            _ => self.pending_nulls += 1,
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self.builder() {
            Builder::Timestamp(builder) => Arc::new(builder.finish()),
            Builder::Int64(builder) => Arc::new(builder.finish()),
            Builder::Int32(builder) => Arc::new(builder.finish()),
            Builder::Double(builder) => Arc::new(builder.finish()),
            Builder::Text(builder) => Arc::new(builder.finish()),
            Builder::Int64List(builder) => Arc::new(builder.finish()),
            Builder::TextList(builder) => Arc::new(builder.finish()),
        }
    }
}

/// The longest IPv4 text: a dotted quad and a prefix length (`255.255.255.255/32`).
const IPV4_TEXT: usize = 18;

/// An IPv4 address as dotted-quad text in `buffer`, with `/prefix` when given, as `Display`
/// writes it but without the formatting machinery, whose cost showed in profiles of `--flows`
/// (two or three addresses and a network a record) and of the rollup tables' prefixes.
fn ipv4_text(ip: Ipv4Addr, prefix: Option<u8>, buffer: &mut [u8; IPV4_TEXT]) -> &str {
    let mut length = 0;
    let mut push_decimal = |separator: Option<u8>, value: u8, length: &mut usize| {
        if let Some(separator) = separator {
            buffer[*length] = separator;
            *length += 1;
        }
        if value >= 100 {
            buffer[*length] = b'0' + value / 100;
            *length += 1;
        }
        if value >= 10 {
            buffer[*length] = b'0' + value / 10 % 10;
            *length += 1;
        }
        buffer[*length] = b'0' + value % 10;
        *length += 1;
    };
    for (index, octet) in ip.octets().into_iter().enumerate() {
        push_decimal((index > 0).then_some(b'.'), octet, &mut length);
    }
    if let Some(prefix) = prefix {
        push_decimal(Some(b'/'), prefix, &mut length);
    }
    std::str::from_utf8(&buffer[..length]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_reads_as_display_writes_it() {
        for ip in [
            Ipv4Addr::new(0, 0, 0, 0),
            Ipv4Addr::new(255, 255, 255, 255),
            Ipv4Addr::new(10, 0, 100, 9),
            Ipv4Addr::new(89, 160, 20, 128),
            Ipv4Addr::new(1, 105, 99, 200),
        ] {
            let mut buffer = [0u8; IPV4_TEXT];
            assert_eq!(ipv4_text(ip, None, &mut buffer), ip.to_string());
            for prefix in [0, 9, 24, 32] {
                let network = IpNetwork::new(IpAddr::V4(ip), prefix).unwrap();
                let mut buffer = [0u8; IPV4_TEXT];
                assert_eq!(
                    ipv4_text(ip, Some(prefix), &mut buffer),
                    network.to_string()
                );
            }
        }
    }
}
