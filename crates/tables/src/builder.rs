//! Rows into an Arrow batch, row by row, for any table: what [`crate::Table::batch`] builds
//! a slice of rows with, and what the streamed `flows` table appends each record through.
//! Its tricks are the ones streaming a wide, mostly empty table needs, so every table gets
//! them: a null costs nothing when it is read (a column is filled with nulls up to the row
//! when its next value comes, or at the end), a column no row gave a value is made whole as
//! a null array, a row may name the only columns worth reading ([`BatchBuilder::append_columns`]),
//! and addresses and networks are written into the column's buffer (IPv4 without `fmt`),
//! never made a `String` first.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{ArrowError, DataType};
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
        // A loop of its own rather than `append_cells` over an iterator of cells: moving each
        // cell through the iterator tripled the time of this loop for the rollup tables.
        for (column, builder) in self.table.columns.iter().zip(&mut self.columns) {
            builder.append(self.rows, column.cell(row));
        }
        self.rows += 1;
    }

    /// Appends one row given as cells by column index (in the table's order); every column
    /// not given is null. A wide table whose rows leave most columns empty (a `flows` record
    /// has the fields of its log format only) reads only the columns worth reading. An index
    /// out of the table is passed over.
    pub(crate) fn append_cells<'c>(&mut self, cells: impl IntoIterator<Item = (usize, Cell<'c>)>) {
        for (index, cell) in cells {
            if let Some(builder) = self.columns.get_mut(index) {
                builder.append(self.rows, cell);
            }
        }
        self.rows += 1;
    }

    /// The table the rows are of.
    pub fn table(&self) -> &'t Table<R> {
        self.table
    }

    /// Rows appended since the last [`BatchBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended since the last [`BatchBuilder::finish`].
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether no row since the last [`BatchBuilder::finish`] gave the column at `index` a
    /// value.
    pub(crate) fn is_column_empty(&self, index: usize) -> bool {
        self.columns.get(index).is_none_or(|column| column.len == 0)
    }

    /// The rows appended so far as one batch; the builder is empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        self.finish_with(Vec::new())
    }

    /// The rows appended so far as one batch, with the columns `given` (by index: arrays of
    /// as many rows, made apart from the rows) in place of what was appended to them; the
    /// builder is empty again.
    pub(crate) fn finish_with(
        &mut self,
        mut given: Vec<(usize, ArrayRef)>,
    ) -> Result<RecordBatch, ArrowError> {
        let rows = std::mem::take(&mut self.rows);
        let schema = self.table.schema();
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .zip(schema.fields())
            .enumerate()
            .map(|(index, (builder, field))| {
                match given
                    .iter()
                    .position(|(given_index, _)| *given_index == index)
                {
                    Some(position) => given.swap_remove(position).1,
                    None => builder.finish(rows, field.data_type()),
                }
            })
            .collect();
        RecordBatch::try_new(schema, arrays)
    }
}

/// `cells` as an array of `data_type` (the type of `kind`), each cell what it would be in a
/// table's column of that kind: a column's values made apart from its table's rows.
pub(crate) fn array_of_cells<'c>(
    kind: ColumnKind,
    data_type: &DataType,
    cells: impl ExactSizeIterator<Item = Cell<'c>>,
) -> ArrayRef {
    let rows = cells.len();
    let mut builder = ColumnBuilder::new(kind, rows);
    for (row, cell) in cells.enumerate() {
        builder.append(row, cell);
    }
    builder.finish(rows, data_type)
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

/// One column's values being gathered. A null is not appended when it is read: the column is
/// filled with nulls up to the row of its next value, or at the end. Most of a `flows`
/// record's columns are absent (fields its format does not log, a peer without enrichment),
/// and appending nulls one by one took a tenth of the time of a run with `--flows`.
struct ColumnBuilder {
    builder: Builder,
    /// Values in `builder`, nulls included, kept here because asking a string builder took a
    /// call per cell.
    len: usize,
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
        ColumnBuilder { builder, len: 0 }
    }

    /// The builder, filled with nulls up to `row` (the rows before it that gave no value), to
    /// which the caller appends exactly one value or null for `row`.
    #[inline]
    fn builder_at(&mut self, row: usize) -> &mut Builder {
        if row > self.len {
            self.builder.append_nulls(row - self.len);
        }
        self.len = row + 1;
        &mut self.builder
    }

    /// Sets the column's value in `row`; a missing value, or a cell of another type than the
    /// column's, is null: nothing is appended until a later value or the end fills the gap.
    #[inline]
    fn append(&mut self, row: usize, cell: Cell<'_>) {
        match cell {
            Cell::Seconds(seconds) | Cell::MaybeSeconds(Some(seconds)) => {
                match self.builder_at(row) {
                    Builder::Timestamp(builder) => {
                        builder.append_value(seconds.saturating_mul(1000))
                    }
                    other => other.append_nulls(1),
                }
            }
            Cell::Int64(Some(value)) => match self.builder_at(row) {
                Builder::Int64(builder) => builder.append_value(value),
                other => other.append_nulls(1),
            },
            Cell::Int32(Some(value)) => match self.builder_at(row) {
                Builder::Int32(builder) => builder.append_value(value),
                other => other.append_nulls(1),
            },
            Cell::Double(Some(value)) => match self.builder_at(row) {
                Builder::Double(builder) => builder.append_value(value),
                other => other.append_nulls(1),
            },
            Cell::Text(Some(text)) => self.text(row, text),
            Cell::OwnedText(text) => self.text(row, &text),
            Cell::Ip(Some(ip)) => match (ip, self.builder_at(row)) {
                (IpAddr::V4(ip), Builder::Text(builder)) => {
                    let mut text = [0u8; IPV4_TEXT];
                    builder.append_value(ipv4_text(ip, None, &mut text));
                }
                (ip, Builder::Text(builder)) => {
                    // The builder gathers what is written into it as the next value.
                    let _ = write!(builder, "{ip}");
                    builder.append_value("");
                }
                (_, other) => other.append_nulls(1),
            },
            Cell::Network(Some(network)) => match (network, self.builder_at(row)) {
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
                (_, other) => other.append_nulls(1),
            },
            Cell::Int64List(values) => match self.builder_at(row) {
                Builder::Int64List(builder) => builder.append_value(values.into_iter().map(Some)),
                other => other.append_nulls(1),
            },
            Cell::TextList(values) => match self.builder_at(row) {
                Builder::TextList(builder) => builder.append_value(values.into_iter().map(Some)),
                other => other.append_nulls(1),
            },
            Cell::Null
            | Cell::MaybeSeconds(None)
            | Cell::Int64(None)
            | Cell::Int32(None)
            | Cell::Double(None)
            | Cell::Text(None)
            | Cell::Ip(None)
            | Cell::Network(None) => {}
        }
    }

    #[inline]
    fn text(&mut self, row: usize, text: &str) {
        match self.builder_at(row) {
            Builder::Text(builder) => builder.append_value(text),
            other => other.append_nulls(1),
        }
    }

    /// The column's `rows` values as an array of `data_type` (the column's); a column that no
    /// row gave a value is made as one null array, its builder never having grown.
    fn finish(&mut self, rows: usize, data_type: &DataType) -> ArrayRef {
        let len = std::mem::take(&mut self.len);
        if len == 0 {
            return new_null_array(data_type, rows);
        }
        if rows > len {
            self.builder.append_nulls(rows - len);
        }
        match &mut self.builder {
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

impl Builder {
    fn append_nulls(&mut self, nulls: usize) {
        match self {
            Builder::Timestamp(builder) => builder.append_nulls(nulls),
            Builder::Int64(builder) => builder.append_nulls(nulls),
            Builder::Int32(builder) => builder.append_nulls(nulls),
            Builder::Double(builder) => builder.append_nulls(nulls),
            Builder::Text(builder) => builder.append_nulls(nulls),
            Builder::Int64List(builder) => builder.append_nulls(nulls),
            Builder::TextList(builder) => builder.append_nulls(nulls),
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
