//! The opt-in `flows` table: every OK record with all its parsed fields, its direction and its
//! peer's enrichment — the detailed records kept for audits. Its columns come from the field
//! catalogue, so a field AWS adds appears here by being added there.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow_array::builder::{Float64Builder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field as ArrowField, Schema, SchemaRef};
use flowatlas_flowlog::{Field, Kind, Record, Value};
use flowatlas_geo::{Enrichment, Peer};
use parquet::arrow::ArrowWriter;

use crate::{ColumnKind, TemporaryFile, WriteError, WrittenFile, partition_of, writer_properties};

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
    Asn,
    AsName,
    CountryCode,
    Country,
    SubdivisionCode,
    Subdivision,
    City,
    GeonameId,
    MetroCode,
    Latitude,
    Longitude,
    PostalCode,
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
    let extra: [(&'static str, ColumnKind, &'static str, Source); 18] = [
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
        (
            "peer_asn",
            ColumnKind::Int64,
            "The peer's AS number.",
            Source::Asn,
        ),
        (
            "peer_as_name",
            ColumnKind::Text,
            "The peer's AS name.",
            Source::AsName,
        ),
        (
            "peer_country_code",
            ColumnKind::Text,
            "ISO country code of the peer's location.",
            Source::CountryCode,
        ),
        (
            "peer_country",
            ColumnKind::Text,
            "Country name.",
            Source::Country,
        ),
        (
            "peer_subdivision_code",
            ColumnKind::Text,
            "First subdivision's code.",
            Source::SubdivisionCode,
        ),
        (
            "peer_subdivision",
            ColumnKind::Text,
            "First subdivision's name.",
            Source::Subdivision,
        ),
        ("peer_city", ColumnKind::Text, "City.", Source::City),
        (
            "peer_geoname_id",
            ColumnKind::Int64,
            "GeoNames id of the place (city, else subdivision, else country).",
            Source::GeonameId,
        ),
        (
            "peer_metro_code",
            ColumnKind::Int32,
            "US metro code.",
            Source::MetroCode,
        ),
        (
            "peer_latitude",
            ColumnKind::Double,
            "Latitude.",
            Source::Latitude,
        ),
        (
            "peer_longitude",
            ColumnKind::Double,
            "Longitude.",
            Source::Longitude,
        ),
        (
            "peer_postal_code",
            ColumnKind::Text,
            "Postal code.",
            Source::PostalCode,
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
    columns
});

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields: Vec<ArrowField> = COLUMNS
        .iter()
        .map(|column| ArrowField::new(column.name, column.kind.arrow_type(), true))
        .collect();
    Arc::new(Schema::new(fields))
});

/// The `flows` table's Arrow schema.
pub fn flows_schema() -> SchemaRef {
    SCHEMA.clone()
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

impl Builder {
    fn new(kind: ColumnKind) -> Builder {
        match kind {
            // The field catalogue has no list fields; were one added, the batch would fail its
            // schema check (an error, not a wrong file).
            ColumnKind::Int64 | ColumnKind::Timestamp | ColumnKind::Int64List => {
                Builder::Int64(Int64Builder::new())
            }
            ColumnKind::Int32 => Builder::Int32(Int32Builder::new()),
            ColumnKind::Double => Builder::Double(Float64Builder::new()),
            ColumnKind::Text | ColumnKind::TextList => Builder::Text(StringBuilder::new()),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int64(builder) => Arc::new(builder.finish()),
            Builder::Int32(builder) => Arc::new(builder.finish()),
            Builder::Double(builder) => Arc::new(builder.finish()),
            Builder::Text(builder) => Arc::new(builder.finish()),
        }
    }
}

struct Partition {
    relative: PathBuf,
    path: PathBuf,
    temporary: TemporaryFile,
    writer: ArrowWriter<File>,
    builders: Vec<Builder>,
    buffered: usize,
    rows: u64,
}

impl Partition {
    fn flush(&mut self) -> Result<(), WriteError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
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
    partitions: BTreeMap<String, Partition>,
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
        let partition_name = partition_of(time);
        if !self.partitions.contains_key(&partition_name) {
            let partition = self.open(&partition_name)?;
            self.partitions.insert(partition_name.clone(), partition);
        }
        let Some(partition) = self.partitions.get_mut(&partition_name) else {
            return Ok(());
        };
        let facts = enrichment.map(|enrichment| &enrichment.facts);
        for (column, builder) in COLUMNS.iter().zip(&mut partition.builders) {
            let text = |value: Option<&Arc<str>>| value.map(|text| text.to_string());
            match (column.source, builder) {
                (Source::Record(field), builder) => append_value(builder, record.get(field)),
                (Source::Asn, Builder::Int64(builder)) => {
                    builder.append_option(facts.and_then(|facts| facts.asn).map(i64::from))
                }
                (Source::GeonameId, Builder::Int64(builder)) => {
                    builder.append_option(facts.and_then(|facts| facts.geoname_id).map(i64::from))
                }
                (Source::MetroCode, Builder::Int32(builder)) => {
                    builder.append_option(facts.and_then(|facts| facts.metro_code))
                }
                (Source::Latitude, Builder::Double(builder)) => {
                    builder.append_option(facts.and_then(|facts| facts.latitude))
                }
                (Source::Longitude, Builder::Double(builder)) => {
                    builder.append_option(facts.and_then(|facts| facts.longitude))
                }
                (source, Builder::Text(builder)) => {
                    let value = match source {
                        Source::Direction => {
                            peer.direction.map(|direction| direction.name().to_string())
                        }
                        Source::PeerSide => peer.side.map(|side| side.name().to_string()),
                        Source::PeerKind => Some(peer.kind.name().to_string()),
                        Source::PeerIp => peer.ip.map(|ip| ip.to_string()),
                        Source::AwsService => peer.aws_service.as_deref().map(str::to_string),
                        Source::Prefix => enrichment
                            .and_then(|enrichment| enrichment.network)
                            .map(|network| network.to_string()),
                        Source::AsName => text(facts.and_then(|facts| facts.as_name.as_ref())),
                        Source::CountryCode => {
                            text(facts.and_then(|facts| facts.country_code.as_ref()))
                        }
                        Source::Country => text(facts.and_then(|facts| facts.country.as_ref())),
                        Source::SubdivisionCode => {
                            text(facts.and_then(|facts| facts.subdivision_code.as_ref()))
                        }
                        Source::Subdivision => {
                            text(facts.and_then(|facts| facts.subdivision.as_ref()))
                        }
                        Source::City => text(facts.and_then(|facts| facts.city.as_ref())),
                        Source::PostalCode => {
                            text(facts.and_then(|facts| facts.postal_code.as_ref()))
                        }
                        _ => None,
                    };
                    builder.append_option(value);
                }
                (_, Builder::Int64(builder)) => builder.append_null(),
                (_, Builder::Int32(builder)) => builder.append_null(),
                (_, Builder::Double(builder)) => builder.append_null(),
            }
        }
        partition.buffered += 1;
        partition.rows += 1;
        if partition.buffered >= BATCH_ROWS {
            partition.flush()?;
        }
        Ok(())
    }

    fn open(&self, partition_name: &str) -> Result<Partition, WriteError> {
        let relative = Path::new(FLOWS)
            .join(partition_name)
            .join(format!("{}.parquet", self.source_id));
        let path = self.dir.join(&relative);
        let folder = path.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&folder).map_err(|source| WriteError::Io {
            path: folder,
            source,
        })?;
        let (temporary, file) = TemporaryFile::create(&path).map_err(|source| WriteError::Io {
            path: path.clone(),
            source,
        })?;
        let writer = ArrowWriter::try_new(file, flows_schema(), Some(writer_properties(None)))
            .map_err(|source| WriteError::Parquet {
                path: path.clone(),
                source,
            })?;
        Ok(Partition {
            relative,
            path,
            temporary,
            writer,
            builders: COLUMNS
                .iter()
                .map(|column| Builder::new(column.kind))
                .collect(),
            buffered: 0,
            rows: 0,
        })
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

fn append_value(builder: &mut Builder, value: Value<'_>) {
    match (builder, value) {
        (Builder::Int64(builder), Value::Int(int)) => builder.append_value(int),
        (Builder::Int32(builder), Value::Int(int)) => {
            builder.append_option(i32::try_from(int).ok())
        }
        (Builder::Text(builder), Value::Text(text)) => builder.append_value(text),
        (Builder::Text(builder), Value::Ip(ip)) => builder.append_value(ip.to_string()),
        (Builder::Int64(builder), _) => builder.append_null(),
        (Builder::Int32(builder), _) => builder.append_null(),
        (Builder::Double(builder), _) => builder.append_null(),
        (Builder::Text(builder), _) => builder.append_null(),
    }
}
