//! The opt-in `flows` table: every OK record with all its parsed fields, its direction and its
//! peer's enrichment — the detailed records kept for audits. Its columns come from the field
//! catalogue, so a field AWS adds appears here by being added there.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use flowatlas_flowlog::{Field, Kind, Record};
use flowatlas_geo::{Enrichment, FactField, Peer};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::{
    Accessor, BatchBuilder, Cell, Column, ColumnKind, Rows, Table, TemporaryFile, WriteError,
    WrittenFile, partition_of, streamed_writer_properties,
};

/// Name of the table and its folder.
pub const FLOWS: &str = "flows";
/// Rows buffered per partition before they are written as a row group.
const BATCH_ROWS: usize = 64 * 1024;
const PEER_IP: &str = "peer_ip";

/// One row of `flows`: a record as the reader yields it, its peer and the peer's enrichment,
/// all borrowed for as long as the record is read.
pub struct FlowRow<'a> {
    /// The flow-log record as the reader yields it, its fields typed by the catalogue.
    pub record: &'a Record<'a>,
    /// Who is on the other end.
    pub peer: &'a Peer,
    /// What is known of the peer, when it was looked up.
    pub enrichment: Option<&'a Enrichment>,
}

impl Rows for FlowRow<'_> {
    type Row<'r> = FlowRow<'r>;
}

fn kind_of(field: Field) -> ColumnKind {
    match field.kind() {
        Kind::Int { max } if max <= i64::from(i32::MAX) => ColumnKind::Int32,
        Kind::Int { .. } | Kind::Timestamp => ColumnKind::Int64,
        Kind::Ip | Kind::Choice(_) | Kind::Text => ColumnKind::Text,
    }
}

fn peer_column(
    name: &'static str,
    doc: &'static str,
    value: for<'r> fn(&'r FlowRow<'r>) -> Cell<'r>,
) -> Column<FlowRow<'static>> {
    Column {
        name,
        kind: ColumnKind::Text,
        nullable: true,
        doc,
        value: Accessor::<FlowRow<'static>>::Row(value),
    }
}

/// The `flows` table: every field of the field catalogue, then the peer, then the peer's
/// facts. A field AWS adds appears here by being added to the catalogue. `FlowRow<'static>`
/// only names the row type: the columns read a [`FlowRow`] of any lifetime ([`Rows`]).
pub fn flows() -> Table<FlowRow<'static>> {
    let fields = Field::ALL.iter().map(|&field| Column {
        name: field.column_name(),
        kind: kind_of(field),
        nullable: true,
        doc: field.doc(),
        value: Accessor::Field(|row: &FlowRow<'_>| row.record, field),
    });
    let peer = [
        peer_column("direction", "in (peer to us) or out (us to peer).", |row| {
            Cell::Text(row.peer.direction.map(|direction| direction.name()))
        }),
        peer_column(
            "peer_side",
            "src or dst: which side the peer is on.",
            |row| Cell::Text(row.peer.side.map(|side| side.name())),
        ),
        peer_column("peer_kind", "internet, aws, private or unknown.", |row| {
            Cell::Text(Some(row.peer.kind.name()))
        }),
        peer_column(PEER_IP, "The peer's address.", |row| Cell::Ip(row.peer.ip)),
        peer_column(
            "peer_aws_service",
            "The AWS service of an aws peer.",
            |row| Cell::Text(row.peer.aws_service.as_deref()),
        ),
        peer_column(
            "peer_prefix",
            "The most specific network that answered for the peer.",
            |row| Cell::Network(row.enrichment.and_then(|enrichment| enrichment.network)),
        ),
    ];
    let facts = FactField::ALL.iter().map(|&field| Column {
        name: field.peer_column(),
        kind: crate::column_kind_of(field.kind()),
        nullable: true,
        doc: field.doc(),
        value: Accessor::Fact(
            |row: &FlowRow<'_>| row.enrichment.map(|enrichment| &enrichment.facts),
            field,
        ),
    });
    Table::new(
        FLOWS,
        "Every OK flow record with all parsed fields, its direction and its peer's enrichment.",
        fields.chain(peer).chain(facts).collect(),
    )
}

/// The table every [`FlowsWriter`] appends through, made once.
static TABLE: LazyLock<Table<FlowRow<'static>>> = LazyLock::new(flows);

/// The settings the `flows` table's files are written with (streamed, and compacted).
pub(crate) fn flows_properties() -> WriterProperties {
    PROPERTIES.clone()
}

/// The writer settings, with dictionaries off for the columns whose values are mostly
/// distinct: addresses, times, counts and ports.
static PROPERTIES: LazyLock<WriterProperties> = LazyLock::new(|| {
    let mostly_distinct: Vec<&str> = Field::ALL
        .iter()
        .filter(|&&field| {
            matches!(field.kind(), Kind::Ip | Kind::Timestamp)
                || matches!(
                    field,
                    Field::Bytes | Field::Packets | Field::Srcport | Field::Dstport
                )
        })
        .map(|field| field.column_name())
        .chain([PEER_IP])
        .collect();
    streamed_writer_properties(&mostly_distinct)
});

struct Partition {
    relative: PathBuf,
    path: PathBuf,
    temporary: TemporaryFile,
    writer: ArrowWriter<File>,
    batch: BatchBuilder<'static, FlowRow<'static>>,
    rows: u64,
}

impl Partition {
    fn flush(&mut self) -> Result<(), WriteError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = self.batch.finish().map_err(|source| WriteError::Arrow {
            table: FLOWS,
            source,
        })?;
        self.writer
            .write(&batch)
            .map_err(|source| WriteError::Parquet {
                path: self.path.clone(),
                source,
            })?;
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
        partition.batch.append(&FlowRow {
            record,
            peer,
            enrichment,
        });
        partition.rows += 1;
        if partition.batch.len() >= BATCH_ROWS {
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
    let writer =
        ArrowWriter::try_new(file, TABLE.schema(), Some(PROPERTIES.clone())).map_err(|source| {
            WriteError::Parquet {
                path: path.clone(),
                source,
            }
        })?;
    Ok(Partition {
        relative,
        path,
        temporary,
        writer,
        // Arrow's builders start empty again after each batch; the first grows from here.
        batch: BatchBuilder::new(&TABLE, 1024),
        rows: 0,
    })
}
