//! The opt-in `flows` table: every OK record with all its parsed fields, its direction and its
//! peer's enrichment — the detailed records kept for audits. Its columns come from the field
//! catalogue, so a field AWS adds appears here by being added there.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, UInt32Array, new_null_array};
use arrow_schema::ArrowError;
use flowatlas_flowlog::{Field, Kind, Record};
use flowatlas_geo::{Enrichment, FactField, Peer};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::builder::array_of_cells;
use crate::{
    Accessor, BatchBuilder, Cell, Column, ColumnKind, Rows, Table, TemporaryFile, WriteError,
    WrittenFile, create_temporary_beside, fact_cell, field_cell, hour_of, partition_of_hour,
    streamed_writer_properties,
};

/// Name of the table and its folder.
pub const FLOWS: &str = "flows";
/// Rows buffered per partition before they are written as a row group.
const BATCH_ROWS: usize = 64 * 1024;
const PEER_IP: &str = "peer_ip";
const PEER_PREFIX: &str = "peer_prefix";

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
            PEER_PREFIX,
            "The most specific network that answered for the peer.",
            |row| prefix_cell(row.enrichment),
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

/// The peer's prefix: the network of its enrichment.
fn prefix_cell(enrichment: Option<&Enrichment>) -> Cell<'static> {
    Cell::Network(enrichment.and_then(|enrichment| enrichment.network))
}

/// The table every [`FlowsWriter`] appends through, made once.
static TABLE: LazyLock<Table<FlowRow<'static>>> = LazyLock::new(flows);

/// A column whose value is a function of the peer's enrichment alone.
#[derive(Clone, Copy)]
enum EnrichmentColumn {
    Prefix,
    Fact(FactField),
}

impl EnrichmentColumn {
    fn cell(self, enrichment: &Enrichment) -> Cell<'_> {
        match self {
            EnrichmentColumn::Prefix => prefix_cell(Some(enrichment)),
            EnrichmentColumn::Fact(field) => fact_cell(field, field.value(&enrichment.facts)),
        }
    }
}

/// The columns a row reads besides its format's fields, by index in [`TABLE`]: the peer's,
/// read per row, and those of its enrichment, made per batch ([`Enrichments`]).
struct PeerColumns {
    peer: Vec<usize>,
    enrichment: Vec<(usize, EnrichmentColumn)>,
}

static PEER_COLUMNS: LazyLock<PeerColumns> = LazyLock::new(|| {
    let mut columns = PeerColumns {
        peer: Vec::new(),
        enrichment: Vec::new(),
    };
    for (index, column) in TABLE.columns.iter().enumerate() {
        if column.field().is_some() {
            continue;
        }
        match column.fact() {
            Some(field) => columns
                .enrichment
                .push((index, EnrichmentColumn::Fact(field))),
            None if column.name == PEER_PREFIX => {
                columns.enrichment.push((index, EnrichmentColumn::Prefix))
            }
            None => columns.peer.push(index),
        }
    }
    columns
});

/// The enrichment of each row of a batch, as which of the batch's distinct enrichments it
/// is. The enricher hands out one `Arc` for every address of a network, so a batch holds far
/// fewer enrichments than rows; the enrichment columns are made when the batch is finished
/// by taking each row's value from the distinct ones' ([`Enrichments::take_columns`]), where
/// reading and appending a dozen facts per row was a third of building a batch.
#[derive(Default)]
struct Enrichments {
    distinct: Vec<Arc<Enrichment>>,
    /// Index in `distinct` by the address of the `Arc`; `distinct` holds each one, so no
    /// address is reused while it is a key.
    index_of: foldhash::HashMap<usize, u32>,
    /// Each row's index in `distinct`; `None`: the peer was not enriched.
    rows: Vec<Option<u32>>,
}

impl Enrichments {
    fn push(&mut self, enrichment: Option<&Arc<Enrichment>>) {
        let index = enrichment.map(|enrichment| {
            let distinct = &mut self.distinct;
            *self
                .index_of
                .entry(Arc::as_ptr(enrichment) as usize)
                .or_insert_with(|| {
                    distinct.push(Arc::clone(enrichment));
                    // A batch holds at most `BATCH_ROWS` rows, so their enrichments fit.
                    (distinct.len() - 1) as u32
                })
        });
        self.rows.push(index);
    }

    /// The enrichment columns of the rows pushed since the last call, by column index; the
    /// rows are forgotten.
    fn take_columns(&mut self) -> Result<Vec<(usize, ArrayRef)>, ArrowError> {
        let indices = UInt32Array::from(std::mem::take(&mut self.rows));
        let schema = TABLE.schema();
        let columns = PEER_COLUMNS
            .enrichment
            .iter()
            .map(|&(index, column)| {
                let data_type = schema.field(index).data_type();
                if self.distinct.is_empty() {
                    return Ok((index, new_null_array(data_type, indices.len())));
                }
                let values = array_of_cells(
                    TABLE.columns[index].kind,
                    data_type,
                    self.distinct
                        .iter()
                        .map(|enrichment| column.cell(enrichment)),
                );
                Ok((index, arrow_select::take::take(&values, &indices, None)?))
            })
            .collect();
        self.distinct.clear();
        self.index_of.clear();
        columns
    }
}

/// The settings the `flows` table's compacted files are written with: any column may hold
/// values.
pub fn flows_properties() -> WriterProperties {
    properties_for(&[])
}

/// The writer settings: dictionaries off for the columns whose values are mostly distinct
/// (addresses, times, counts and ports); statistics off for those whose values span their
/// range in any file (the same but the times, which a file holds minutes of, and the peer's
/// prefix and facts); the columns `all_null` written as the nulls they are expected to hold
/// ([`streamed_writer_properties`]). The columns of identities (account, interface, VPC) keep
/// statistics: one object's file holds a few, so a query for one skips the others' files.
fn properties_for(all_null: &[&str]) -> WriterProperties {
    let counted = |field: Field| {
        field.kind() == Kind::Ip
            || matches!(
                field,
                Field::Bytes | Field::Packets | Field::Srcport | Field::Dstport
            )
    };
    let mostly_distinct: Vec<&str> = Field::ALL
        .iter()
        .filter(|&&field| counted(field) || field.kind() == Kind::Timestamp)
        .map(|field| field.column_name())
        .chain([PEER_IP])
        .collect();
    let spread: Vec<&str> = Field::ALL
        .iter()
        .filter(|&&field| counted(field))
        .map(|field| field.column_name())
        .chain([PEER_IP, PEER_PREFIX])
        .chain(FactField::ALL.iter().map(|field| field.peer_column()))
        .collect();
    streamed_writer_properties(&mostly_distinct, &spread, all_null)
}

/// How records of one log format are appended: a record's columns are the fields of its
/// format, the peer's and its enrichment's ([`PeerColumns`]); the other fields' columns are
/// null in every row, so a row never reads them.
struct Plan {
    /// The format's fields in order: a record's format is this plan's when its fields are.
    fields: Vec<Field>,
    /// The column of each of the format's fields, in record order, by index in the table,
    /// with its type (every catalogue field has one).
    field_columns: Vec<Option<(usize, ColumnKind)>>,
}

impl Plan {
    fn new(fields: &[Field]) -> Plan {
        let field_columns = fields
            .iter()
            .map(|&field| {
                let index = TABLE
                    .columns
                    .iter()
                    .position(|column| column.field() == Some(field))?;
                Some((index, TABLE.columns[index].kind))
            })
            .collect();
        Plan {
            fields: fields.to_vec(),
            field_columns,
        }
    }
}

/// One hour's records. Its file is created when its first batch is written (when the batch is
/// full, or at the end), so an object scattered over thousands of hours holds open files for
/// its full batches only, not one per hour: with one per hour, 1,024 open files (a Lambda's
/// limit) stopped a run over an object with a thousand hours.
struct Partition {
    relative: PathBuf,
    path: PathBuf,
    /// The file under its temporary name, from the first batch on.
    temporary: Option<TemporaryFile>,
    /// The file's Parquet writer, from the first batch on.
    writer: Option<ArrowWriter<File>>,
    batch: BatchBuilder<'static, FlowRow<'static>>,
    /// The enrichment of each row of `batch`.
    enrichments: Enrichments,
    rows: u64,
}

impl Partition {
    fn flush(&mut self) -> Result<(), WriteError> {
        let arrow_error = |source| WriteError::Arrow {
            table: FLOWS,
            source,
        };
        let parquet_error = |source| WriteError::Parquet {
            path: self.path.clone(),
            source,
        };
        if self.writer.is_none() {
            let (temporary, file) = create_temporary_beside(&self.path)?;
            self.temporary = Some(temporary);
            // The fields no record of the first batch gave a value (those the format lacks,
            // and those it always logs as `-`) are written as nulls, without a zstd context
            // each (`streamed_writer_properties`).
            let all_null: Vec<&str> = TABLE
                .columns
                .iter()
                .enumerate()
                .filter(|&(index, column)| {
                    column.field().is_some() && self.batch.is_column_empty(index)
                })
                .map(|(_, column)| column.name)
                .collect();
            let writer =
                ArrowWriter::try_new(file, TABLE.schema(), Some(properties_for(&all_null)))
                    .map_err(parquet_error)?;
            self.writer = Some(writer);
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        let enrichment_columns = self.enrichments.take_columns().map_err(arrow_error)?;
        let batch = self
            .batch
            .finish_with(enrichment_columns)
            .map_err(arrow_error)?;
        if let Some(writer) = &mut self.writer {
            writer.write(&batch).map_err(parquet_error)?;
        }
        Ok(())
    }

    /// Writes what is buffered and closes the file, not yet in place.
    fn close(mut self) -> Result<Partition, WriteError> {
        self.flush()?;
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(|source| WriteError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(self)
    }
}

/// Writes one source's flow records, one file per `dt`/`hour` partition, streaming row groups.
pub struct FlowsWriter {
    dir: PathBuf,
    source_id: String,
    /// By hour (Unix hours): naming the partition per record took a formatted string each.
    partitions: BTreeMap<i64, Partition>,
    /// The plan of the last record's format: an object's records almost always share one.
    plan: Option<Plan>,
    without_time: u64,
}

impl FlowsWriter {
    /// A writer for one source's records under `dir/flows/`.
    pub fn new(dir: &Path, source_id: &str) -> FlowsWriter {
        FlowsWriter {
            dir: dir.to_path_buf(),
            source_id: source_id.to_string(),
            partitions: BTreeMap::new(),
            plan: None,
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
        enrichment: Option<&Arc<Enrichment>>,
    ) -> Result<(), WriteError> {
        let Some(time) = record.int(Field::Start).or(record.int(Field::End)) else {
            self.without_time += 1;
            return Ok(());
        };
        let fields = record.format().fields();
        let plan = match &mut self.plan {
            Some(plan) if plan.fields == fields => plan,
            plan => plan.insert(Plan::new(fields)),
        };
        let hour = hour_of(time);
        let partition = match self.partitions.entry(hour) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(open(&self.dir, &self.source_id, hour))
            }
        };
        let row = FlowRow {
            record,
            peer,
            enrichment: enrichment.map(|enrichment| &**enrichment),
        };
        let field_cells =
            record
                .values()
                .zip(&plan.field_columns)
                .filter_map(|((_, value), column)| {
                    column.map(|(index, kind)| (index, field_cell(kind, value)))
                });
        let peer_cells = PEER_COLUMNS
            .peer
            .iter()
            .map(|&index| (index, TABLE.columns[index].cell(&row)));
        partition.batch.append_cells(field_cells.chain(peer_cells));
        partition.enrichments.push(enrichment);
        partition.rows += 1;
        if partition.batch.len() >= BATCH_ROWS {
            partition.flush()?;
        }
        Ok(())
    }

    /// Writes what is buffered, closes every file and puts it in place.
    pub fn finish(self) -> Result<Vec<WrittenFile>, WriteError> {
        let mut written = Vec::new();
        for (temporary, file) in self.close()? {
            if let Some(temporary) = temporary {
                let path = temporary.target().to_path_buf();
                temporary
                    .persist()
                    .map_err(|source| WriteError::Io { path, source })?;
            }
            written.push(file);
        }
        Ok(written)
    }

    /// Writes what is buffered and closes every file, each still under its temporary name (none
    /// for an hour whose records had nothing to write), for the caller to put in place with the
    /// rest of what it publishes together.
    pub fn close(self) -> Result<Vec<(Option<TemporaryFile>, WrittenFile)>, WriteError> {
        let mut closed = Vec::new();
        for (_, partition) in self.partitions {
            let partition = partition.close()?;
            closed.push((
                partition.temporary,
                WrittenFile {
                    path: partition.relative,
                    rows: partition.rows,
                },
            ));
        }
        Ok(closed)
    }
}

/// The partition of one hour's records; its file is made with its first batch.
fn open(dir: &Path, source_id: &str, hour: i64) -> Partition {
    let relative = Path::new(FLOWS)
        .join(partition_of_hour(hour))
        .join(format!("{source_id}.parquet"));
    let path = dir.join(&relative);
    Partition {
        relative,
        path,
        temporary: None,
        writer: None,
        // Empty, as Arrow's builders are again after each batch: room made ahead for 1,024 rows
        // in each of 90 columns was about 1 MB per hour, and an object whose clock scattered
        // its records over 8,633 hours peaked at 5.7 GB.
        batch: BatchBuilder::new(&TABLE, 0),
        enrichments: Enrichments::default(),
        rows: 0,
    }
}
