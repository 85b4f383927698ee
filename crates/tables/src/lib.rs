//! The flowatlas tables, each defined once as a list of columns. That one list gives the Arrow
//! schema, the Parquet files (in a Hive layout by `dt` and `hour`) and the Athena DDL.
//!
//! # Overview
//!
//! - [`Table`] is a name, a doc line and its [`Column`]s; [`city_networks`] and
//!   [`client_prefixes`] are the tables of rollup rows.
//! - [`Rows`] says what a table's rows are as its columns read them: owned values
//!   ([`OwnedRows`]: rollup, health and agent rows) or borrowed parts ([`FlowRow`]: a record,
//!   its peer and the peer's enrichment).
//! - [`Table::batch`] turns rows into an Arrow `RecordBatch` through a [`BatchBuilder`], which
//!   also builds a streamed table's batches row by row; [`write_partitioned`] writes rows
//!   as `<dir>/<table>/dt=YYYY-MM-DD/hour=HH/<source-id>.parquet`, replacing what the same source
//!   wrote before.
//! - [`Table::catalog`] (and [`catalog_tables`] for every table) gives the Athena DDL and the
//!   Glue table of a CloudFormation template, with partition projection.
//! - [`flows`] is the opt-in table of every record, whose columns come from the field
//!   catalogue plus the peer and its enrichment; [`FlowsWriter`] streams it.
//! - [`merge_files`] merges one hour's files of a table into one, for compaction (rows of one
//!   key summed, `flows` concatenated).
//! - [`top`] ranks ISPs, cities, countries or prefixes by traffic straight from the files;
//!   [`read_city_networks`] and [`read_client_prefixes`] read rollup rows back for a range,
//!   [`read_city_network_health`] and [`read_health_events`] the health tables.
//! - [`city_network_health`] and [`health_events`] are the health engine's outputs, defined
//!   the same way.
//! - [`tcp_stats`] is what `flowatlas agent` writes (TCP counters and a mergeable RTT
//!   histogram per host, window, client prefix and port); [`read_tcp_stats`] reads it back;
//!   [`city_network_performance`] and [`prefix_performance`] merge it across hosts.
//!
//! Types are Athena-safe: signed integers only, timestamps in milliseconds UTC, snake_case names.
#![deny(missing_docs)]

mod batch_sources;
mod builder;
mod catalog;
mod cloudformation;
mod compact;
mod flows;
mod health;
mod performance;
mod read;
mod tcp;
mod top;

pub use batch_sources::{FileSource, SOURCES_KEY, file_sources, remove_source_rows};
pub use builder::BatchBuilder;
pub use catalog::{CatalogTable, PARTITION_KEYS};
pub use cloudformation::{glue_resources, named_query_resource};
pub use compact::{COMPACTED_TABLES, MERGE_ROW_BUDGET, Merge, Merged, merge_files, merge_of};
pub use flowatlas_store::TemporaryFile;
pub use flowatlas_store::layout::{hour_of, partition_of, partition_of_hour};
pub use flows::{FLOWS, FlowRow, FlowsWriter, flows, flows_properties};
pub use health::{city_network_health, health_events};
pub use performance::{
    PerformanceEntry, PerformanceMetric, city_network_performance,
    for_each_city_network_performance, prefix_performance, read_city_network_performance,
    read_prefix_performance, top_performance,
};
pub use read::{
    HEALTH_SOURCE_ID, HealthEventRecord, for_each_batch_of_columns, read_city_network_health,
    read_city_networks, read_client_prefixes, read_health_events,
};
pub use tcp::{TCP_STATS, TcpRow, TcpStatsRead, for_each_tcp_stats_row, read_tcp_stats, tcp_stats};
pub use top::{TopBy, TopEntry, TopReport, top};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use flowatlas_flowlog::{Field as FlowField, Record, Value};
use flowatlas_geo::{FactField, FactKind, FactValue, Facts, IpNetwork};
use flowatlas_health::{CityNetworkHealth, HealthEvent};
use flowatlas_rollup::{
    CityNetworkKey, CityNetworkPerformanceRow, CityNetworkRow, Measures, PrefixPerformanceRow,
    PrefixRow, ServiceLocation, TcpStatsRow,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};

/// Name of the `city_networks` table ([`city_networks`]). A table's name is also its folder
/// under an output and its Glue table's name.
pub const CITY_NETWORKS: &str = "city_networks";
/// Name of the `client_prefixes` table ([`client_prefixes`]).
pub const CLIENT_PREFIXES: &str = "client_prefixes";
/// Name of the `city_network_performance` table ([`city_network_performance`]).
pub const CITY_NETWORK_PERFORMANCE: &str = "city_network_performance";
/// Name of the `prefix_performance` table ([`prefix_performance`]).
pub const PREFIX_PERFORMANCE: &str = "prefix_performance";
/// Name of the `city_network_health` table ([`city_network_health`]).
pub const CITY_NETWORK_HEALTH: &str = "city_network_health";
/// Name of the `health_events` table ([`health_events`]).
pub const HEALTH_EVENTS: &str = "health_events";
/// The tables the health job writes.
pub const HEALTH_TABLES: [&str; 2] = [CITY_NETWORK_HEALTH, HEALTH_EVENTS];

/// Version of the tables' schemas, written into every file's metadata.
pub const SCHEMA_VERSION: &str = "2";

/// A column's type, mapped to Arrow, Parquet and Athena types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// `TIMESTAMP(MILLIS, UTC)` / Athena `timestamp`.
    Timestamp,
    /// `INT64` / `bigint`.
    Int64,
    /// `INT32` / `int`.
    Int32,
    /// `DOUBLE` / `double`: scores, rates and percentiles.
    Double,
    /// UTF-8 `STRING` / `string`.
    Text,
    /// A list of `INT64` / `array<bigint>`.
    Int64List,
    /// A list of UTF-8 `STRING`s / `array<string>`.
    TextList,
}

impl ColumnKind {
    fn arrow_type(self) -> DataType {
        match self {
            ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            ColumnKind::Int64 => DataType::Int64,
            ColumnKind::Int32 => DataType::Int32,
            ColumnKind::Double => DataType::Float64,
            ColumnKind::Text => DataType::Utf8,
            ColumnKind::Int64List => {
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))
            }
            ColumnKind::TextList => {
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
            }
        }
    }

    fn athena_type(self) -> &'static str {
        match self {
            ColumnKind::Timestamp => "timestamp",
            ColumnKind::Int64 => "bigint",
            ColumnKind::Int32 => "int",
            ColumnKind::Double => "double",
            ColumnKind::Text => "string",
            ColumnKind::Int64List => "array<bigint>",
            ColumnKind::TextList => "array<string>",
        }
    }
}

/// One value of a row, as a column reads it. A missing value, or one of another type than
/// the column's, is written as null.
pub enum Cell<'r> {
    /// No value.
    Null,
    /// A timestamp in Unix seconds.
    Seconds(i64),
    /// A timestamp in Unix seconds that may be missing.
    MaybeSeconds(Option<i64>),
    /// A 64-bit integer.
    Int64(Option<i64>),
    /// A 32-bit integer.
    Int32(Option<i32>),
    /// A float.
    Double(Option<f64>),
    /// Borrowed UTF-8 text; `None` writes null.
    Text(Option<&'r str>),
    /// Text made for the cell.
    OwnedText(String),
    /// An address, as text.
    Ip(Option<IpAddr>),
    /// A network, as CIDR text.
    Network(Option<IpNetwork>),
    /// A list of integers made for the cell.
    Int64List(Vec<i64>),
    /// A list of texts made for the cell.
    TextList(Vec<String>),
}

/// What a table's rows are, as its columns read them: `R::Row<'r>` is one row, borrowed for
/// `'r`. A table of rows it can hold names the row type itself ([`OwnedRows`]); the `flows`
/// table reads rows that live only while their record is read ([`FlowRow`]: the reader's
/// record, its peer and the peer's enrichment, all borrowed), so its columns read a row of
/// any lifetime and none is copied.
pub trait Rows {
    /// One row as the columns read it.
    type Row<'r>;
}

/// Rows that are values of their own type, held in slices: the rollup, health and agent rows.
pub trait OwnedRows: for<'r> Rows<Row<'r> = Self> {}

impl<R: for<'r> Rows<Row<'r> = R>> OwnedRows for R {}

macro_rules! owned_rows {
    ($($row:ty),* $(,)?) => {
        $(impl Rows for $row {
            type Row<'r> = $row;
        })*
    };
}

owned_rows!(
    CityNetworkRow,
    PrefixRow,
    CityNetworkHealth,
    HealthEvent,
    TcpStatsRow,
    CityNetworkPerformanceRow,
    PrefixPerformanceRow,
);

/// A column: its name, type, meaning, and how to read it from a row.
pub struct Column<R: Rows> {
    /// snake_case name.
    pub name: &'static str,
    /// Type.
    pub kind: ColumnKind,
    /// Nullable unless the value is always there.
    pub nullable: bool,
    /// What it holds.
    pub doc: &'static str,
    value: Accessor<R>,
}

/// How a column reads its value from a row.
enum Accessor<R: Rows> {
    /// A function of the row.
    Row(for<'r> fn(&'r R::Row<'r>) -> Cell<'r>),
    /// A fact of the facts the row has (a client's, an enriched peer's), as the fact catalogue
    /// reads it.
    Fact(for<'r> fn(&'r R::Row<'r>) -> Option<&'r Facts>, FactField),
    /// A field of the row's flow record, as the field catalogue types it.
    Field(for<'r> fn(&'r R::Row<'r>) -> &'r Record<'r>, FlowField),
}

impl<R: Rows> Column<R> {
    /// The flow-log field the column holds, if it holds one.
    fn field(&self) -> Option<FlowField> {
        match self.value {
            Accessor::Field(_, field) => Some(field),
            Accessor::Row(_) | Accessor::Fact(..) => None,
        }
    }

    /// The fact the column holds, if it holds one.
    fn fact(&self) -> Option<FactField> {
        match self.value {
            Accessor::Fact(_, field) => Some(field),
            Accessor::Row(_) | Accessor::Field(..) => None,
        }
    }

    /// The column's value in a row.
    #[inline]
    fn cell<'r>(&self, row: &'r R::Row<'r>) -> Cell<'r> {
        match self.value {
            Accessor::Row(value) => value(row),
            Accessor::Fact(facts, field) => match facts(row) {
                Some(facts) => fact_cell(field, field.value(facts)),
                None => Cell::Null,
            },
            Accessor::Field(record, field) => field_cell(self.kind, record(row).get(field)),
        }
    }
}

/// A flow-log field's value as the cell of a column of `kind`.
#[inline]
fn field_cell(kind: ColumnKind, value: Value<'_>) -> Cell<'_> {
    match value {
        Value::Int(int) if kind == ColumnKind::Int32 => Cell::Int32(i32::try_from(int).ok()),
        Value::Int(int) => Cell::Int64(Some(int)),
        Value::Text(text) => Cell::Text(Some(text)),
        Value::Ip(ip) => Cell::Ip(Some(ip)),
        Value::Absent => Cell::Null,
    }
}

/// A fact's value as the cell of its column type ([`column_kind_of`]).
fn fact_cell(field: FactField, value: FactValue<'_>) -> Cell<'_> {
    match (field.kind(), value) {
        (FactKind::Int32, FactValue::Int(int)) => {
            Cell::Int32(int.and_then(|int| i32::try_from(int).ok()))
        }
        (_, FactValue::Int(int)) => Cell::Int64(int),
        (_, FactValue::Double(double)) => Cell::Double(double),
        (_, FactValue::Text(text)) => Cell::Text(text.map(|text| &**text)),
    }
}

/// The column type of a fact.
pub(crate) fn column_kind_of(kind: FactKind) -> ColumnKind {
    match kind {
        FactKind::Int64 => ColumnKind::Int64,
        FactKind::Int32 => ColumnKind::Int32,
        FactKind::Double => ColumnKind::Double,
        FactKind::Text => ColumnKind::Text,
    }
}

/// A table: its name, what a row is, and its columns in order.
pub struct Table<R: Rows> {
    /// Name, also the folder under the output directory.
    pub name: &'static str,
    /// What a row is.
    pub doc: &'static str,
    /// Columns in order.
    pub columns: Vec<Column<R>>,
    schema: SchemaRef,
}

/// A table's name and columns without its row type, for reading its files back: every
/// reader opens a file through it, so a file is read as its table defines it or not at all.
pub struct TableDefinition {
    /// The table's name, also its folder.
    pub name: &'static str,
    columns: Vec<(&'static str, ColumnKind, bool)>,
}

impl TableDefinition {
    /// Checks a file's Arrow schema against the definition, for the columns `wanted` (all when
    /// `None`): each must be there with its type, except a nullable column, which files written
    /// before it existed lack (read as null). Columns the definition does not know are left
    /// alone (a newer writer's).
    pub fn check(
        &self,
        found: &Schema,
        path: &Path,
        wanted: Option<&[&str]>,
    ) -> Result<(), WriteError> {
        let problem = |column: &'static str, problem: String| WriteError::Column {
            path: path.to_path_buf(),
            column,
            problem,
        };
        for &(name, kind, nullable) in &self.columns {
            if wanted.is_some_and(|wanted| !wanted.contains(&name)) {
                continue;
            }
            let expected = kind.arrow_type();
            match found.field_with_name(name) {
                Ok(field) if same_type(field.data_type(), &expected) => {}
                Ok(field) => {
                    return Err(problem(
                        name,
                        format!(
                            "has type {}, but table {} defines it as {expected}",
                            field.data_type(),
                            self.name
                        ),
                    ));
                }
                Err(_) if nullable => {}
                Err(_) => {
                    return Err(problem(
                        name,
                        format!("missing, and table {} requires it", self.name),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Types the readers read alike: equal, or timestamps of the same unit in any spelling of UTC.
fn same_type(found: &DataType, expected: &DataType) -> bool {
    match (found, expected) {
        (DataType::Timestamp(found, _), DataType::Timestamp(expected, _)) => found == expected,
        (DataType::List(found), DataType::List(expected)) => {
            same_type(found.data_type(), expected.data_type())
        }
        _ => found == expected,
    }
}

/// Rows written in `dt`/`hour` partitions: the time whose partition holds the row.
pub trait PartitionTime {
    /// Unix seconds.
    fn partition_time(&self) -> i64;
}

impl<R: LocatedRow> PartitionTime for R {
    fn partition_time(&self) -> i64 {
        self.window_start()
    }
}

/// Rows that carry a client city-network's facts.
pub trait ClientRow {
    /// The clients' AS and place.
    fn client(&self) -> &Facts;
}

impl ClientRow for CityNetworkRow {
    fn client(&self) -> &Facts {
        &self.client
    }
}

/// Rows that start with a window and a service location.
pub trait LocatedRow {
    /// Start of the window, Unix seconds.
    fn window_start(&self) -> i64;
    /// Service location.
    fn location(&self) -> &ServiceLocation;
}

/// Located rows that carry the flow logs' additive measures.
pub trait RollupRow: LocatedRow {
    /// The additive counts the row's columns are read from.
    fn measures(&self) -> &Measures;
    /// Distinct client addresses.
    fn client_ips(&self) -> i64;
}

impl LocatedRow for CityNetworkRow {
    fn window_start(&self) -> i64 {
        self.window_start
    }
    fn location(&self) -> &ServiceLocation {
        &self.location
    }
}

impl RollupRow for CityNetworkRow {
    fn measures(&self) -> &Measures {
        &self.measures
    }
    fn client_ips(&self) -> i64 {
        self.client_ips
    }
}

impl LocatedRow for PrefixRow {
    fn window_start(&self) -> i64 {
        self.window_start
    }
    fn location(&self) -> &ServiceLocation {
        &self.location
    }
}

impl RollupRow for PrefixRow {
    fn measures(&self) -> &Measures {
        &self.measures
    }
    fn client_ips(&self) -> i64 {
        self.client_ips
    }
}

fn column<R: OwnedRows>(
    name: &'static str,
    kind: ColumnKind,
    doc: &'static str,
    value: for<'r> fn(&'r R) -> Cell<'r>,
) -> Column<R> {
    Column {
        name,
        kind,
        nullable: true,
        doc,
        value: Accessor::<R>::Row(value),
    }
}

fn text(value: &Option<Arc<str>>) -> Cell<'_> {
    Cell::Text(value.as_deref())
}

fn text_of(value: &Arc<str>) -> Cell<'_> {
    Cell::Text(Some(value))
}

fn leading_columns<R: LocatedRow + OwnedRows>() -> Vec<Column<R>> {
    vec![
        Column {
            nullable: false,
            ..column(
                "window_start",
                ColumnKind::Timestamp,
                "Start of the 5-minute window (UTC), by the records' `start`.",
                |row: &R| Cell::Seconds(row.window_start()),
            )
        },
        column(
            "account_id",
            ColumnKind::Text,
            "AWS account of the service.",
            |row: &R| text(&row.location().account_id),
        ),
        column(
            "region",
            ColumnKind::Text,
            "AWS Region of the service.",
            |row: &R| text(&row.location().region),
        ),
        column(
            "az_id",
            ColumnKind::Text,
            "Availability Zone ID of the service.",
            |row: &R| text(&row.location().az_id),
        ),
        column(
            "vpc_id",
            ColumnKind::Text,
            "VPC of the service.",
            |row: &R| text(&row.location().vpc_id),
        ),
    ]
}

fn measure_columns<R: RollupRow + OwnedRows>() -> Vec<Column<R>> {
    macro_rules! measure {
        ($name:literal, $field:ident, $doc:literal) => {
            Column {
                nullable: false,
                ..column($name, ColumnKind::Int64, $doc, |row: &R| {
                    Cell::Int64(Some(row.measures().$field))
                })
            }
        };
    }
    vec![
        measure!("bytes_in", bytes_in, "Bytes from the clients (peer to us)."),
        measure!("bytes_out", bytes_out, "Bytes to the clients (us to peer)."),
        measure!("packets_in", packets_in, "Packets from the clients."),
        measure!("packets_out", packets_out, "Packets to the clients."),
        measure!(
            "flows",
            flows,
            "Flow records; accepted_flows + rejected_flows."
        ),
        measure!(
            "accepted_flows",
            accepted_flows,
            "Records with action ACCEPT."
        ),
        measure!(
            "rejected_flows",
            rejected_flows,
            "Records with action REJECT (their bytes count in every measure)."
        ),
        measure!(
            "tcp_syn_in",
            tcp_syn_in,
            "Inbound records whose OR-ed flags show SYN without SYN-ACK."
        ),
        measure!(
            "tcp_syn_out",
            tcp_syn_out,
            "Outbound records with SYN without SYN-ACK: our connection attempts."
        ),
        measure!(
            "tcp_synack_in",
            tcp_synack_in,
            "Inbound records with SYN-ACK: the clients answering ours."
        ),
        measure!(
            "tcp_synack_out",
            tcp_synack_out,
            "Outbound records with SYN-ACK."
        ),
        measure!("tcp_fin_in", tcp_fin_in, "Inbound records with FIN."),
        measure!("tcp_fin_out", tcp_fin_out, "Outbound records with FIN."),
        measure!("tcp_rst_in", tcp_rst_in, "Inbound records with RST."),
        measure!("tcp_rst_out", tcp_rst_out, "Outbound records with RST."),
        Column {
            nullable: false,
            ..column(
                "client_ips",
                ColumnKind::Int64,
                "Distinct client addresses in the row (the one measure that does not add up across rows). In a compacted hour (flowatlas compact), rows of one key from several objects are summed, so it is an upper bound: an address seen by two objects counts twice.",
                |row: &R| Cell::Int64(Some(row.client_ips())),
            )
        },
    ]
}

impl<R: Rows> Table<R> {
    fn new(name: &'static str, doc: &'static str, columns: Vec<Column<R>>) -> Table<R> {
        let fields: Vec<Field> = columns
            .iter()
            .map(|column| Field::new(column.name, column.kind.arrow_type(), column.nullable))
            .collect();
        Table {
            name,
            doc,
            columns,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    /// The Arrow schema, built once.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// What reading this table's files checks them against.
    pub fn definition(&self) -> TableDefinition {
        TableDefinition {
            name: self.name,
            columns: self
                .columns
                .iter()
                .map(|column| (column.name, column.kind, column.nullable))
                .collect(),
        }
    }

    /// Rows as one Arrow batch.
    pub fn batch<'r>(&self, rows: &'r [R::Row<'r>]) -> Result<RecordBatch, ArrowError> {
        let mut builder = BatchBuilder::new(self, rows.len());
        for row in rows {
            builder.append(row);
        }
        builder.finish()
    }

    /// The table as a catalog sees it (Athena DDL, Glue table).
    pub fn catalog(&self) -> CatalogTable {
        CatalogTable {
            name: self.name,
            doc: self.doc,
            columns: self
                .columns
                .iter()
                .map(|column| (column.name, column.kind, column.doc))
                .collect(),
        }
    }
}

/// Every table flowatlas writes, as catalogs see them.
pub fn catalog_tables() -> Vec<CatalogTable> {
    vec![
        city_networks().catalog(),
        client_prefixes().catalog(),
        city_network_health().catalog(),
        health_events().catalog(),
        flows().catalog(),
        tcp_stats().catalog(),
        city_network_performance().catalog(),
        prefix_performance().catalog(),
    ]
}

/// The client city-network's columns: its identity, the AS, then place from country to
/// coordinates. Group by `city_network_id` (with the service location): the other columns
/// are attributes, and rows of one city-network from different objects may carry different
/// coordinates.
fn client_columns<R: ClientRow + OwnedRows>() -> Vec<Column<R>> {
    let identity = Column {
        nullable: false,
        ..column(
            "city_network_id",
            ColumnKind::Text,
            "The client city-network: ASN and place (GeoNames id, else country|subdivision|city), e.g. `AS64499|geoname:2643743`. Group by it.",
            |row: &R| Cell::OwnedText(CityNetworkKey::of(row.client()).text()),
        )
    };
    let facts = FactField::ALL.iter().filter_map(|&field| {
        Some(Column {
            name: field.client_column()?,
            kind: column_kind_of(field.kind()),
            nullable: true,
            doc: field.doc(),
            value: Accessor::Fact(|row: &R| Some(row.client()), field),
        })
    });
    std::iter::once(identity).chain(facts).collect()
}

/// The `city_networks` table: one row per window × service location × client city-network.
pub fn city_networks() -> Table<CityNetworkRow> {
    let mut columns = leading_columns::<CityNetworkRow>();
    columns.extend(client_columns::<CityNetworkRow>());
    columns.extend(measure_columns::<CityNetworkRow>());
    Table::new(
        CITY_NETWORKS,
        "Internet traffic per 5-minute window, service location and client city-network (ASN + place).",
        columns,
    )
}

/// The `client_prefixes` table: one row per window × service location × client prefix.
pub fn client_prefixes() -> Table<PrefixRow> {
    let mut columns = leading_columns::<PrefixRow>();
    columns.extend([
        Column {
            nullable: false,
            ..column(
                "client_prefix",
                ColumnKind::Text,
                "Client prefix as CIDR text (/24 IPv4, /48 IPv6 by default).",
                |row: &PrefixRow| Cell::Network(Some(row.client_prefix)),
            )
        },
        Column {
            nullable: false,
            ..column(
                "city_network_id",
                ColumnKind::Text,
                "City-network of the prefix's first enriched client, as in `city_networks`.",
                |row: &PrefixRow| text_of(&row.city_network_id),
            )
        },
        column(
            "client_asn",
            ColumnKind::Int64,
            "AS number of the prefix's first enriched client.",
            |row: &PrefixRow| Cell::Int64(row.client_asn.map(i64::from)),
        ),
        column(
            "client_as_name",
            ColumnKind::Text,
            "AS name.",
            |row: &PrefixRow| text(&row.client_as_name),
        ),
        column(
            "client_country_code",
            ColumnKind::Text,
            "ISO country code.",
            |row: &PrefixRow| text(&row.client_country_code),
        ),
        column(
            "client_city",
            ColumnKind::Text,
            "City.",
            |row: &PrefixRow| text(&row.client_city),
        ),
    ]);
    columns.extend(measure_columns::<PrefixRow>());
    Table::new(
        CLIENT_PREFIXES,
        "Internet traffic per 5-minute window, service location and client prefix.",
        columns,
    )
}

/// Why a table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Building the batch failed.
    #[error("table {table}: {source}")]
    Arrow {
        /// Which table's batch, for the message.
        table: &'static str,
        /// What Arrow said.
        source: ArrowError,
    },
    /// Encoding Parquet failed.
    #[error("{path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What Parquet said.
        source: parquet::errors::ParquetError,
    },
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file disagrees with its table's definition: a column the table requires is missing,
    /// or a column has another type. Reading on would give 0 or null for real values (a
    /// renamed column would look like an outage to health).
    #[error("{path}: column `{column}`: {problem}")]
    Column {
        /// The file.
        path: PathBuf,
        /// The column, as the table names it.
        column: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// A file that was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenFile {
    /// Where, relative to the output directory.
    pub path: PathBuf,
    /// Rows in it.
    pub rows: u64,
}

/// Rows from which a file is compressed with zstd; smaller files use Snappy. The Parquet
/// writer sets up zstd contexts per column chunk (hundreds of KB zeroed each), which costs more
/// than zstd saves over Snappy on a small chunk: processing many small objects spent a third of
/// its time creating them. Both codecs are read by Athena, Spark and DuckDB alike.
pub const ZSTD_MIN_ROWS: usize = 32 * 1024;

/// The one place writer settings are made: zstd (Snappy for files of fewer than
/// [`ZSTD_MIN_ROWS`] rows; `None`: not known in advance, as when streaming), statistics on
/// pages, sized row groups.
pub fn writer_properties(rows: Option<usize>) -> WriterProperties {
    writer_properties_builder(rows)
        .set_key_value_metadata(Some(vec![schema_version_metadata()]))
        .build()
}

fn schema_version_metadata() -> KeyValue {
    KeyValue::new(
        "flowatlas.schema_version".to_string(),
        SCHEMA_VERSION.to_string(),
    )
}

/// The streamed `flows` table's settings: [`writer_properties`] with zstd at level 1 (the table
/// is written at the speed records are read; level 3 took a tenth of that time) and without
/// dictionaries for the columns `mostly_distinct`, whose values are mostly distinct
/// (addresses, times, counts): building a dictionary only to drop it cost more than it saved.
/// The columns `all_null`, expected to hold only nulls (fields the log format lacks), are not
/// compressed: a page of nulls is a few bytes that zstd only makes longer, and creating a zstd
/// context for each of them per file took a quarter of the time of writing many small
/// objects. They keep their dictionaries, so values that come after all (a format that
/// changes within an object) still take little room. The columns `spread`, whose values in any
/// file span their whole range (addresses, ports, counts, the peer's facts), have no
/// statistics: their minimum and maximum never let a reader skip a row group or page, and
/// computing them for every value was a tenth of the instructions of a run with `--flows`.
pub(crate) fn streamed_writer_properties(
    mostly_distinct: &[&str],
    spread: &[&str],
    all_null: &[&str],
) -> WriterProperties {
    let mut builder = writer_properties_builder(None)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_key_value_metadata(Some(vec![schema_version_metadata()]));
    for &column in mostly_distinct {
        builder = builder
            .set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(column), false);
    }
    for &column in spread {
        builder = builder.set_column_statistics_enabled(
            parquet::schema::types::ColumnPath::from(column),
            EnabledStatistics::None,
        );
    }
    for &column in all_null {
        builder = builder.set_column_compression(
            parquet::schema::types::ColumnPath::from(column),
            Compression::UNCOMPRESSED,
        );
    }
    builder.build()
}

fn writer_properties_builder(rows: Option<usize>) -> WriterPropertiesBuilder {
    let compression = match rows {
        Some(rows) if rows < ZSTD_MIN_ROWS => Compression::SNAPPY,
        _ => Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()),
    };
    WriterProperties::builder()
        .set_compression(compression)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_created_by(format!("flowatlas {}", env!("CARGO_PKG_VERSION")))
}

/// Writes rows as one Parquet file under a temporary name beside `path` (its folder created),
/// not yet in place: the caller persists it. `sources`, for a file holding several objects'
/// rows, names them in row order ([`SOURCES_KEY`]).
pub fn write_rows_file<R: OwnedRows>(
    table: &Table<R>,
    rows: &[R],
    path: &Path,
    sources: Option<&[FileSource]>,
) -> Result<TemporaryFile, WriteError> {
    let mut builder = BatchBuilder::new(table, rows.len());
    for row in rows {
        builder.append(row);
    }
    write_built_file(&mut builder, path, sources)
}

/// [`write_rows_file`] for rows already appended to `builder`, which is empty again after.
pub fn write_built_file<R: Rows>(
    builder: &mut BatchBuilder<'_, R>,
    path: &Path,
    sources: Option<&[FileSource]>,
) -> Result<TemporaryFile, WriteError> {
    let table = builder.table();
    let batch = builder.finish().map_err(|source| WriteError::Arrow {
        table: table.name,
        source,
    })?;
    write_batch_file(table.schema(), &batch, path, sources)
}

/// Creates the hidden file a table file is written to before it is renamed to `path`
/// ([`TemporaryFile`]), making `path`'s folder first.
pub(crate) fn create_temporary_beside(
    path: &Path,
) -> Result<(TemporaryFile, std::fs::File), WriteError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(|source| WriteError::Io {
        path: folder.to_path_buf(),
        source,
    })?;
    TemporaryFile::create(path).map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_batch_file(
    schema: SchemaRef,
    batch: &RecordBatch,
    path: &Path,
    sources: Option<&[FileSource]>,
) -> Result<TemporaryFile, WriteError> {
    let (temporary, file) = create_temporary_beside(path)?;
    let parquet_error = |source| WriteError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut metadata = vec![schema_version_metadata()];
    if let Some(sources) = sources {
        metadata.push(KeyValue::new(
            SOURCES_KEY.to_string(),
            batch_sources::to_json(sources),
        ));
    }
    let properties = writer_properties_builder(Some(batch.num_rows()))
        .set_key_value_metadata(Some(metadata))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties)).map_err(parquet_error)?;
    writer.write(batch).map_err(parquet_error)?;
    writer.close().map_err(parquet_error)?;
    Ok(temporary)
}

/// Writes rows as `<dir>/<table>/<partition>/<name>.parquet` (`name`: the source id, or one of
/// its parts), one file per partition the
/// rows fall in. Each file is written under a hidden name unique to this writer beside its
/// final name and renamed over it ([`TemporaryFile`]), so a reader never sees half a file, two
/// runs into one output never corrupt each other's files (the last complete one wins) and a
/// re-run replaces, never duplicates.
pub fn write_partitioned<R: PartitionTime + Clone + OwnedRows>(
    table: &Table<R>,
    rows: &[R],
    dir: &Path,
    name: &str,
) -> Result<Vec<WrittenFile>, WriteError> {
    // Rows come sorted by time from the rollup, so each hour is usually one run of rows and is
    // written from the slice itself; rows out of order are copied into their hour. Partitions
    // are keyed by the hour's number: naming each row's partition took a string per row.
    let mut by_hour: BTreeMap<i64, Vec<R>> = BTreeMap::new();
    let mut runs: Vec<(i64, &[R])> = Vec::new();
    let mut run_start = 0;
    for (index, row) in rows.iter().enumerate() {
        let hour = hour_of(row.partition_time());
        let next_hour = rows
            .get(index + 1)
            .map(|next| hour_of(next.partition_time()));
        if next_hour != Some(hour) {
            runs.push((hour, &rows[run_start..=index]));
            run_start = index + 1;
        }
    }
    let hours_in_order = runs.windows(2).all(|pair| pair[0].0 < pair[1].0);
    if !hours_in_order {
        for (hour, run) in runs.drain(..) {
            by_hour.entry(hour).or_default().extend_from_slice(run);
        }
        runs.extend(by_hour.iter().map(|(&hour, rows)| (hour, rows.as_slice())));
    }
    let mut written = Vec::new();
    for (hour, rows) in runs {
        let relative = Path::new(table.name)
            .join(partition_of_hour(hour))
            .join(format!("{name}.parquet"));
        let path = dir.join(&relative);
        let temporary = write_rows_file(table, rows, &path, None)?;
        temporary.persist().map_err(|source| WriteError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(WrittenFile {
            path: relative,
            rows: rows.len() as u64,
        });
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_utc_dates_and_hours() {
        assert_eq!(partition_of(0), "dt=1970-01-01/hour=00");
        assert_eq!(partition_of(1_780_315_200), "dt=2026-06-01/hour=12");
        assert_eq!(partition_of(951_782_400 + 3_599), "dt=2000-02-29/hour=00");
        assert_eq!(partition_of(-1), "dt=1969-12-31/hour=23");
        // An hour counted from the epoch names the partition of every time inside it.
        for time in [-3_601, -1, 0, 3_599, 1_780_315_200 + 3_599] {
            assert_eq!(
                partition_of_hour(hour_of(time)),
                partition_of(time),
                "{time}"
            );
        }
        assert_eq!(hour_of(-1), -1);
    }

    #[test]
    fn schemas_are_athena_safe() {
        for schema in [
            city_networks().schema(),
            client_prefixes().schema(),
            city_network_health().schema(),
            health_events().schema(),
            tcp_stats().schema(),
            city_network_performance().schema(),
            prefix_performance().schema(),
            flows().schema(),
        ] {
            for field in schema.fields() {
                let name = field.name();
                assert!(
                    name.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{name}"
                );
                assert!(!field.data_type().is_unsigned_integer(), "{name}");
                if let DataType::Timestamp(unit, zone) = field.data_type() {
                    assert_eq!(
                        (unit, zone.as_deref()),
                        (&TimeUnit::Millisecond, Some("UTC"))
                    );
                }
            }
        }
    }
}
