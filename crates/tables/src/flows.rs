//! The opt-in `flows` table: every OK record with all its parsed fields, its direction and its
//! peer's enrichment — the detailed records kept for audits. Its columns come from the field
//! catalogue, so a field AWS adds appears here by being added there.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow_array::builder::{Float64Builder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field as ArrowField, Schema, SchemaRef};
use flowatlas_flowlog::{Field, Kind, Record, Value};
use flowatlas_geo::{Enrichment, FactField, FactKind, FactValue, Peer};
use parquet::arrow::ArrowWriter;

use crate::{
    ColumnKind, TemporaryFile, WriteError, WrittenFile, partition_of, streamed_writer_properties,
};

/// Name of the table and its folder.
pub const FLOWS: &str = "flows";
const DOC: &str =
    "Every OK flow record with all parsed fields, its direction and its peer's enrichment.";
/// Rows buffered per partition before they are written as a row group.
const BATCH_ROWS: usize = 64 * 1024;

/// Where a column's value comes from.
#[derive(Clone, Copy)]
enum Source {
    Record(Field),
    Direction,
    PeerSide,
    PeerKind,
    PeerIp,
    AwsService,
    Prefix,
    /// A fact of the peer's enrichment.
    Fact(FactField),
}

struct FlowColumn {
    name: &'static str,
    kind: ColumnKind,
    doc: &'static str,
    source: Source,
}

fn kind_of(field: Field) -> ColumnKind {
    match field.kind() {
        Kind::Int { max } if max <= i64::from(i32::MAX) => ColumnKind::Int32,
        Kind::Int { .. } | Kind::Timestamp => ColumnKind::Int64,
        Kind::Ip | Kind::Choice(_) | Kind::Text => ColumnKind::Text,
    }
}

static COLUMNS: LazyLock<Vec<FlowColumn>> = LazyLock::new(|| {
    let mut columns: Vec<FlowColumn> = Field::ALL
        .iter()
        .map(|&field| FlowColumn {
            name: field.column_name(),
            kind: kind_of(field),
            doc: field.doc(),
            source: Source::Record(field),
        })
        .collect();
    let extra: [(&'static str, ColumnKind, &'static str, Source); 6] = [
        (
            "direction",
            ColumnKind::Text,
            "in (peer to us) or out (us to peer).",
            Source::Direction,
        ),
        (
            "peer_side",
            ColumnKind::Text,
            "src or dst: which side the peer is on.",
            Source::PeerSide,
        ),
        (
            "peer_kind",
            ColumnKind::Text,
            "internet, aws, private or unknown.",
            Source::PeerKind,
        ),
        (
            "peer_ip",
            ColumnKind::Text,
            "The peer's address.",
            Source::PeerIp,
        ),
        (
            "peer_aws_service",
            ColumnKind::Text,
            "The AWS service of an aws peer.",
            Source::AwsService,
        ),
        (
            "peer_prefix",
            ColumnKind::Text,
            "The most specific network that answered for the peer.",
            Source::Prefix,
        ),
    ];
    columns.extend(
        extra
            .into_iter()
            .map(|(name, kind, doc, source)| FlowColumn {
                name,
                kind,
                doc,
                source,
            }),
    );
    columns.extend(FactField::ALL.iter().map(|&field| FlowColumn {
        name: field.peer_column(),
        kind: crate::column_kind_of(field.kind()),
        doc: field.doc(),
        source: Source::Fact(field),
    }));
    columns
});

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields: Vec<ArrowField> = COLUMNS
        .iter()
        .map(|column| ArrowField::new(column.name, column.kind.arrow_type(), true))
        .collect();
    Arc::new(Schema::new(fields))
});

/// The writer settings, with dictionaries off for the columns whose values are mostly distinct.
static FLOWS_PROPERTIES: LazyLock<parquet::file::properties::WriterProperties> =
    LazyLock::new(|| {
        let mostly_distinct: Vec<&str> = COLUMNS
            .iter()
            .filter(|column| match column.source {
                Source::Record(field) => {
                    matches!(field.kind(), Kind::Ip | Kind::Timestamp)
                        || matches!(
                            field,
                            Field::Bytes | Field::Packets | Field::Srcport | Field::Dstport
                        )
                }
                Source::PeerIp => true,
                _ => false,
            })
            .map(|column| column.name)
            .collect();
        streamed_writer_properties(&mostly_distinct)
    });

/// The `flows` table's Arrow schema.
pub fn flows_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// What reading the `flows` table's files checks them against (every column nullable).
pub fn flows_definition() -> crate::TableDefinition {
    crate::TableDefinition {
        name: FLOWS,
        columns: COLUMNS
            .iter()
            .map(|column| (column.name, column.kind, true))
            .collect(),
    }
}

/// The settings the `flows` table's files are written with.
pub(crate) fn flows_properties() -> parquet::file::properties::WriterProperties {
    FLOWS_PROPERTIES.clone()
}

/// The `flows` table as catalogs see it.
pub fn flows_catalog() -> crate::CatalogTable {
    crate::CatalogTable {
        name: FLOWS,
        doc: DOC,
        columns: COLUMNS
            .iter()
            .map(|column| (column.name, column.kind, column.doc))
            .collect(),
    }
}

enum Builder {
    Int64(Int64Builder),
    Int32(Int32Builder),
    Double(Float64Builder),
    Text(StringBuilder),
}

/// One column's values being gathered. Nulls are counted and appended in runs when the next
/// value (or the end) comes: most of a record's 72 columns are absent (fields its format does
/// not log, a peer without enrichment), and appending nulls one by one took a tenth of the
/// time of a run with `--flows`.
struct Cells {
    builder: Builder,
    pending_nulls: usize,
}

impl Cells {
    fn new(kind: ColumnKind) -> Cells {
        let builder = match kind {
            // The field catalogue has no list fields; were one added, the batch would fail its
            // schema check (an error, not a wrong file).
            ColumnKind::Int64 | ColumnKind::Timestamp | ColumnKind::Int64List => {
                Builder::Int64(Int64Builder::new())
            }
            ColumnKind::Int32 => Builder::Int32(Int32Builder::new()),
            ColumnKind::Double => Builder::Double(Float64Builder::new()),
            ColumnKind::Text | ColumnKind::TextList => Builder::Text(StringBuilder::new()),
        };
        Cells {
            builder,
            pending_nulls: 0,
        }
    }

    fn null(&mut self) {
        self.pending_nulls += 1;
    }

    /// The builder, with the nulls counted so far appended.
    fn builder(&mut self) -> &mut Builder {
        let nulls = std::mem::take(&mut self.pending_nulls);
        if nulls > 0 {
            match &mut self.builder {
                Builder::Int64(builder) => builder.append_nulls(nulls),
                Builder::Int32(builder) => builder.append_nulls(nulls),
                Builder::Double(builder) => builder.append_nulls(nulls),
                Builder::Text(builder) => builder.append_nulls(nulls),
            }
        }
        &mut self.builder
    }

    fn int64(&mut self, value: Option<i64>) {
        match (value, self.builder()) {
            (Some(value), Builder::Int64(builder)) => builder.append_value(value),
            _ => self.null(),
        }
    }

    fn int32(&mut self, value: Option<i32>) {
        match (value, self.builder()) {
            (Some(value), Builder::Int32(builder)) => builder.append_value(value),
            _ => self.null(),
        }
    }

    fn double(&mut self, value: Option<f64>) {
        match (value, self.builder()) {
            (Some(value), Builder::Double(builder)) => builder.append_value(value),
            _ => self.null(),
        }
    }

    fn text(&mut self, value: Option<&str>) {
        match (value, self.builder()) {
            (Some(value), Builder::Text(builder)) => builder.append_value(value),
            _ => self.null(),
        }
    }

    fn ip(&mut self, ip: Option<IpAddr>) {
        match (ip, self.builder()) {
            (Some(IpAddr::V4(ip)), Builder::Text(builder)) => {
                let mut text = [0u8; 15];
                builder.append_value(dotted_quad(ip, &mut text));
            }
            (Some(ip), Builder::Text(builder)) => {
                // The builder gathers what is written into it as the next value.
                let _ = write!(builder, "{ip}");
                builder.append_value("");
            }
            _ => self.null(),
        }
    }

    fn value(&mut self, value: Value<'_>) {
        match value {
            Value::Int(int) => match &self.builder {
                Builder::Int32(_) => self.int32(i32::try_from(int).ok()),
                _ => self.int64(Some(int)),
            },
            Value::Text(text) => self.text(Some(text)),
            Value::Ip(ip) => self.ip(Some(ip)),
            _ => self.null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self.builder() {
            Builder::Int64(builder) => Arc::new(builder.finish()),
            Builder::Int32(builder) => Arc::new(builder.finish()),
            Builder::Double(builder) => Arc::new(builder.finish()),
            Builder::Text(builder) => Arc::new(builder.finish()),
        }
    }
}

/// An IPv4 address as dotted-quad text in `buffer`, without the formatting machinery, whose
/// cost showed in profiles of `--flows` (two or three addresses a record).
fn dotted_quad(ip: Ipv4Addr, buffer: &mut [u8; 15]) -> &str {
    let mut length = 0;
    for (index, octet) in ip.octets().into_iter().enumerate() {
        if index > 0 {
            buffer[length] = b'.';
            length += 1;
        }
        if octet >= 100 {
            buffer[length] = b'0' + octet / 100;
            length += 1;
        }
        if octet >= 10 {
            buffer[length] = b'0' + octet / 10 % 10;
            length += 1;
        }
        buffer[length] = b'0' + octet % 10;
        length += 1;
    }
    std::str::from_utf8(&buffer[..length]).unwrap_or_default()
}

struct Partition {
    relative: PathBuf,
    path: PathBuf,
    temporary: TemporaryFile,
    writer: ArrowWriter<File>,
    cells: Vec<Cells>,
    buffered: usize,
    rows: u64,
}

impl Partition {
    fn flush(&mut self) -> Result<(), WriteError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.cells.iter_mut().map(Cells::finish).collect();
        let batch =
            RecordBatch::try_new(flows_schema(), arrays).map_err(|source| WriteError::Arrow {
                table: FLOWS,
                source,
            })?;
        self.writer
            .write(&batch)
            .map_err(|source| WriteError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        self.buffered = 0;
        Ok(())
    }
}

/// Writes one source's flow records, one file per `dt`/`hour` partition, streaming row groups.
pub struct FlowsWriter {
    dir: PathBuf,
    source_id: String,
    /// By hour (Unix hours): naming the partition per record took a formatted string each.
    partitions: BTreeMap<i64, Partition>,
    without_time: u64,
}

impl FlowsWriter {
    /// A writer for one source's records under `dir/flows/`.
    pub fn new(dir: &Path, source_id: &str) -> FlowsWriter {
        FlowsWriter {
            dir: dir.to_path_buf(),
            source_id: source_id.to_string(),
            partitions: BTreeMap::new(),
            without_time: 0,
        }
    }

    /// Records that had neither `start` nor `end`, so no partition could hold them.
    pub fn without_time(&self) -> u64 {
        self.without_time
    }

    /// Appends a record with its peer and the peer's enrichment.
    pub fn append(
        &mut self,
        record: &Record<'_>,
        peer: &Peer,
        enrichment: Option<&Enrichment>,
    ) -> Result<(), WriteError> {
        let Some(time) = record.int(Field::Start).or(record.int(Field::End)) else {
            self.without_time += 1;
            return Ok(());
        };
        let hour = time.div_euclid(3_600);
        let partition = match self.partitions.entry(hour) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(open(&self.dir, &self.source_id, hour)?)
            }
        };
        let facts = enrichment.map(|enrichment| &enrichment.facts);
        for (column, cells) in COLUMNS.iter().zip(&mut partition.cells) {
            match column.source {
                Source::Record(field) => cells.value(record.get(field)),
                Source::Direction => cells.text(peer.direction.map(|direction| direction.name())),
                Source::PeerSide => cells.text(peer.side.map(|side| side.name())),
                Source::PeerKind => cells.text(Some(peer.kind.name())),
                Source::PeerIp => cells.ip(peer.ip),
                Source::AwsService => cells.text(peer.aws_service.as_deref()),
                Source::Prefix => match enrichment.and_then(|enrichment| enrichment.network) {
                    Some(network) => match cells.builder() {
                        Builder::Text(builder) => {
                            let _ = write!(builder, "{network}");
                            builder.append_value("");
                        }
                        _ => cells.null(),
                    },
                    None => cells.null(),
                },
                Source::Fact(field) => match facts.map(|facts| field.value(facts)) {
                    Some(FactValue::Int(int)) if field.kind() == FactKind::Int32 => {
                        cells.int32(int.and_then(|int| i32::try_from(int).ok()))
                    }
                    Some(FactValue::Int(int)) => cells.int64(int),
                    Some(FactValue::Double(double)) => cells.double(double),
                    Some(FactValue::Text(text)) => cells.text(text.map(|text| &**text)),
                    None => cells.null(),
                },
            }
        }
        partition.buffered += 1;
        partition.rows += 1;
        if partition.buffered >= BATCH_ROWS {
            partition.flush()?;
        }
        Ok(())
    }

    /// Writes what is buffered, closes every file and puts it in place.
    pub fn finish(self) -> Result<Vec<WrittenFile>, WriteError> {
        let mut written = Vec::new();
        for (_, mut partition) in self.partitions {
            partition.flush()?;
            let parquet_error = |source| WriteError::Parquet {
                path: partition.path.clone(),
                source,
            };
            partition.writer.close().map_err(parquet_error)?;
            partition
                .temporary
                .persist()
                .map_err(|source| WriteError::Io {
                    path: partition.path.clone(),
                    source,
                })?;
            written.push(WrittenFile {
                path: partition.relative,
                rows: partition.rows,
            });
        }
        Ok(written)
    }
}

/// An enrichment text as `&str`.
/// Opens the file of one hour's records, under a temporary name until `finish`.
fn open(dir: &Path, source_id: &str, hour: i64) -> Result<Partition, WriteError> {
    let relative = Path::new(FLOWS)
        .join(partition_of(hour * 3_600))
        .join(format!("{source_id}.parquet"));
    let path = dir.join(&relative);
    let folder = path.parent().unwrap_or(dir).to_path_buf();
    std::fs::create_dir_all(&folder).map_err(|source| WriteError::Io {
        path: folder,
        source,
    })?;
    let (temporary, file) = TemporaryFile::create(&path).map_err(|source| WriteError::Io {
        path: path.clone(),
        source,
    })?;
    let writer = ArrowWriter::try_new(file, flows_schema(), Some(FLOWS_PROPERTIES.clone()))
        .map_err(|source| WriteError::Parquet {
            path: path.clone(),
            source,
        })?;
    Ok(Partition {
        relative,
        path,
        temporary,
        writer,
        cells: COLUMNS
            .iter()
            .map(|column| Cells::new(column.kind))
            .collect(),
        buffered: 0,
        rows: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_quads_read_as_the_standard_library_writes_them() {
        for ip in [
            Ipv4Addr::new(0, 0, 0, 0),
            Ipv4Addr::new(255, 255, 255, 255),
            Ipv4Addr::new(10, 0, 100, 9),
            Ipv4Addr::new(89, 160, 20, 128),
            Ipv4Addr::new(1, 105, 99, 200),
        ] {
            let mut buffer = [0u8; 15];
            assert_eq!(dotted_quad(ip, &mut buffer), ip.to_string());
        }
    }
}
