//! Merging the files of one table's hour partition into one file, for compaction: Athena pays a
//! request per file, and a busy deployment writes hundreds of small files an hour. Tables of
//! rollup rows are summed per key as their rollups merge rows (measures added, histograms added
//! bucket by bucket, percentiles read off the merged histogram); `flows` has no key and is
//! concatenated. Rows are decoded and written through each table's one definition, so a file of
//! another shape is an error naming it, never rows read as 0.
//!
//! Memory is bounded: merged rows are written as a row group whenever [`MERGE_ROW_BUDGET`] are
//! held, so a key may have a row in two row groups of one file; its measures still add up, as
//! across the parts of a large object.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};

use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_schema::SchemaRef;
use flowatlas_rollup::{
    CityNetworkKey, CityNetworkPerformanceRow, CityNetworkRow, PrefixPerformanceRow, PrefixRow,
    RttSource, ServiceLocation,
};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::flows::{flows, flows_properties};
use crate::performance::{city_network_performance_row, prefix_performance_row};
use crate::read::{Columns, Texts, city_network_row, for_each_batch_of_file, prefix_row};
use crate::{
    CITY_NETWORK_PERFORMANCE, CITY_NETWORKS, CLIENT_PREFIXES, FLOWS, OwnedRows, PREFIX_PERFORMANCE,
    Table, TableDefinition, TemporaryFile, WriteError, city_network_performance, city_networks,
    client_prefixes, create_temporary_beside, prefix_performance, writer_properties,
};

/// Merged rows held before they are written as a row group.
pub const MERGE_ROW_BUDGET: usize = 256 * 1024;

/// The tables compaction merges: every table `process`, backfill and the Lambda write per
/// object. The health tables (one writer, the health job, which replaces them per hour) and
/// the agents' `tcp_stats` (the pipeline's input, read object by object) are not among them.
pub const COMPACTED_TABLES: [&str; 5] = [
    CITY_NETWORKS,
    CLIENT_PREFIXES,
    CITY_NETWORK_PERFORMANCE,
    PREFIX_PERFORMANCE,
    FLOWS,
];

/// How a table's rows are merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Rows of one key are summed into one.
    Summed,
    /// Rows are kept as they are, one file after another.
    Concatenated,
}

/// How compaction merges `table`'s rows; `None` for a table it leaves alone.
pub fn merge_of(table: &str) -> Option<Merge> {
    match table {
        FLOWS => Some(Merge::Concatenated),
        _ if COMPACTED_TABLES.contains(&table) => Some(Merge::Summed),
        _ => None,
    }
}

/// What merging read and wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Rows read from the inputs.
    pub rows_read: u64,
    /// Rows in the merged file: fewer than read where rows of one key were summed.
    pub rows_written: u64,
}

/// Merges the Parquet files `inputs` of `table` (one of [`COMPACTED_TABLES`]) into one file
/// written under a temporary name beside `output`, not yet in place: the caller persists it.
/// An input that cannot be read, or holds a row its table's definition cannot decode, is an
/// error naming it; nothing is written then.
pub fn merge_files(
    table: &str,
    inputs: &[PathBuf],
    output: &Path,
) -> Result<(TemporaryFile, Merged), WriteError> {
    match table {
        CITY_NETWORKS => sum_files(
            &city_networks(),
            city_network_row,
            inputs,
            output,
            MERGE_ROW_BUDGET,
        ),
        CLIENT_PREFIXES => sum_files(
            &client_prefixes(),
            prefix_row,
            inputs,
            output,
            MERGE_ROW_BUDGET,
        ),
        CITY_NETWORK_PERFORMANCE => sum_files(
            &city_network_performance(),
            city_network_performance_row,
            inputs,
            output,
            MERGE_ROW_BUDGET,
        ),
        PREFIX_PERFORMANCE => sum_files(
            &prefix_performance(),
            prefix_performance_row,
            inputs,
            output,
            MERGE_ROW_BUDGET,
        ),
        FLOWS => concatenate_files(inputs, output),
        _ => Err(WriteError::Io {
            path: output.to_path_buf(),
            source: std::io::Error::other(format!("table {table} is not compacted")),
        }),
    }
}

/// Rows that compaction sums per key.
trait Summed: OwnedRows + Sized {
    type Key: Hash + Eq;
    /// What identifies the row's group: window, service location and client.
    fn key(&self) -> Self::Key;
    /// What its attributes are weighed by: a merged row keeps those of its heaviest row, the
    /// first on a tie (0 for every row: the first row's).
    fn weight(&self) -> i64;
    /// Adds `other`'s measures; takes its attributes too when `take_attributes`.
    fn add(&mut self, other: Self, take_attributes: bool);
}

impl Summed for CityNetworkRow {
    type Key = (i64, ServiceLocation, CityNetworkKey);
    fn key(&self) -> Self::Key {
        (
            self.window_start,
            self.location.clone(),
            CityNetworkKey::of(&self.client),
        )
    }
    /// The rollup keeps the attributes of a city-network's variant with the most bytes.
    fn weight(&self) -> i64 {
        self.measures
            .bytes_in
            .saturating_add(self.measures.bytes_out)
    }
    /// `client_ips` is summed: an upper bound of the distinct addresses (an address seen by
    /// two objects counts twice), as a reader summing rows of one key always got.
    fn add(&mut self, other: Self, take_attributes: bool) {
        self.measures += other.measures;
        self.client_ips = self.client_ips.saturating_add(other.client_ips);
        if take_attributes {
            self.client = other.client;
        }
    }
}

impl Summed for PrefixRow {
    type Key = (i64, ServiceLocation, flowatlas_geo::IpNetwork);
    fn key(&self) -> Self::Key {
        (self.window_start, self.location.clone(), self.client_prefix)
    }
    fn weight(&self) -> i64 {
        0
    }
    fn add(&mut self, other: Self, _take_attributes: bool) {
        self.measures += other.measures;
        self.client_ips = self.client_ips.saturating_add(other.client_ips);
    }
}

impl Summed for CityNetworkPerformanceRow {
    type Key = (i64, ServiceLocation, RttSource, CityNetworkKey);
    fn key(&self) -> Self::Key {
        (
            self.window_start,
            self.location.clone(),
            self.rtt_source,
            CityNetworkKey::of(&self.client),
        )
    }
    fn weight(&self) -> i64 {
        0
    }
    fn add(&mut self, other: Self, _take_attributes: bool) {
        self.performance.measures += other.performance.measures;
        self.performance.rtt += &other.performance.rtt;
    }
}

impl Summed for PrefixPerformanceRow {
    type Key = (i64, ServiceLocation, RttSource, flowatlas_geo::IpNetwork);
    fn key(&self) -> Self::Key {
        (
            self.window_start,
            self.location.clone(),
            self.rtt_source,
            self.client_prefix,
        )
    }
    fn weight(&self) -> i64 {
        0
    }
    fn add(&mut self, other: Self, _take_attributes: bool) {
        self.performance.measures += other.performance.measures;
        self.performance.rtt += &other.performance.rtt;
    }
}

/// A merged file being written: one row group per flush.
struct MergedFile {
    temporary: TemporaryFile,
    writer: ArrowWriter<std::fs::File>,
    path: PathBuf,
    merged: Merged,
}

impl MergedFile {
    fn create(
        output: &Path,
        schema: SchemaRef,
        properties: WriterProperties,
    ) -> Result<MergedFile, WriteError> {
        let (temporary, file) = create_temporary_beside(output)?;
        let writer = ArrowWriter::try_new(file, schema, Some(properties)).map_err(|source| {
            WriteError::Parquet {
                path: output.to_path_buf(),
                source,
            }
        })?;
        Ok(MergedFile {
            temporary,
            writer,
            path: output.to_path_buf(),
            merged: Merged::default(),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        self.merged.rows_written += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .map_err(|source| WriteError::Parquet {
                path: self.path.clone(),
                source,
            })
    }

    fn finish(self) -> Result<(TemporaryFile, Merged), WriteError> {
        self.writer.close().map_err(|source| WriteError::Parquet {
            path: self.path.clone(),
            source,
        })?;
        Ok((self.temporary, self.merged))
    }
}

fn sum_files<R: Summed>(
    table: &Table<R>,
    decode: fn(&Columns<'_>, usize, &mut Texts) -> Option<R>,
    inputs: &[PathBuf],
    output: &Path,
    budget: usize,
) -> Result<(TemporaryFile, Merged), WriteError> {
    let definition = table.definition();
    let mut out = MergedFile::create(output, table.schema(), writer_properties(None))?;
    let mut rows: Vec<(R, i64)> = Vec::new();
    let mut index: HashMap<R::Key, usize> = HashMap::new();
    let mut texts = Texts::default();
    for input in inputs {
        let mut undecodable: Option<usize> = None;
        let mut failed: Option<WriteError> = None;
        let mut n_rows = 0usize;
        for_each_batch_of_file(input, &definition, None, |batch| {
            if failed.is_some() {
                return;
            }
            // Checked per batch, so one large input (an earlier compacted file) is bounded too.
            if rows.len() >= budget
                && let Err(error) = write_rows(table, &mut out, &mut rows, &mut index)
            {
                failed = Some(error);
                return;
            }
            let columns = Columns { batch };
            for row in 0..batch.num_rows() {
                let Some(decoded) = decode(&columns, row, &mut texts) else {
                    undecodable.get_or_insert(n_rows + row);
                    continue;
                };
                let weight = decoded.weight();
                let key = decoded.key();
                match index.get(&key) {
                    Some(&at) => {
                        let (held, heaviest) = &mut rows[at];
                        let heavier = weight > *heaviest;
                        held.add(decoded, heavier);
                        *heaviest = (*heaviest).max(weight);
                    }
                    None => {
                        index.insert(key, rows.len());
                        rows.push((decoded, weight));
                    }
                }
            }
            n_rows += batch.num_rows();
        })?;
        if let Some(error) = failed {
            return Err(error);
        }
        if let Some(row) = undecodable {
            return Err(not_decodable(input, &definition, row));
        }
        out.merged.rows_read += n_rows as u64;
    }
    write_rows(table, &mut out, &mut rows, &mut index)?;
    out.finish()
}

fn not_decodable(input: &Path, definition: &TableDefinition, row: usize) -> WriteError {
    WriteError::Column {
        path: input.to_path_buf(),
        column: "client_prefix",
        problem: format!(
            "row {row}: its client prefix or RTT source is not one table {} holds",
            definition.name
        ),
    }
}

fn write_rows<R: Summed>(
    table: &Table<R>,
    out: &mut MergedFile,
    rows: &mut Vec<(R, i64)>,
    index: &mut HashMap<R::Key, usize>,
) -> Result<(), WriteError> {
    if rows.is_empty() {
        return Ok(());
    }
    let merged: Vec<R> = rows.drain(..).map(|(row, _)| row).collect();
    index.clear();
    let batch = table.batch(&merged).map_err(|source| WriteError::Arrow {
        table: table.name,
        source,
    })?;
    out.write(&batch)
}

/// `flows` files one after another, batch by batch; a nullable column a file predates is
/// written as null.
fn concatenate_files(
    inputs: &[PathBuf],
    output: &Path,
) -> Result<(TemporaryFile, Merged), WriteError> {
    let table = flows();
    let definition = table.definition();
    let schema = table.schema();
    let mut out = MergedFile::create(output, schema.clone(), flows_properties())?;
    for input in inputs {
        let mut failed = None;
        for_each_batch_of_file(input, &definition, None, |batch| {
            if failed.is_some() {
                return;
            }
            let columns: Vec<ArrayRef> = schema
                .fields()
                .iter()
                .map(|field| match batch.column_by_name(field.name()) {
                    Some(column) => column.clone(),
                    None => new_null_array(field.data_type(), batch.num_rows()),
                })
                .collect();
            let written = RecordBatch::try_new(schema.clone(), columns)
                .map_err(|source| WriteError::Parquet {
                    path: input.clone(),
                    source: source.into(),
                })
                .and_then(|conformed| {
                    out.merged.rows_read += conformed.num_rows() as u64;
                    out.write(&conformed)
                });
            if let Err(error) = written {
                failed = Some(error);
            }
        })?;
        if let Some(error) = failed {
            return Err(error);
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::tests::sample_rows;
    use crate::{read_city_networks, write_rows_file};

    /// Rows of one key in several files are summed into one row; with a budget smaller than
    /// the keys held, a key gets a row per row group, and the sums are the same.
    #[test]
    fn rows_of_one_key_sum_within_and_across_budgets() {
        let dir = std::env::temp_dir().join(format!("flowatlas-merge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let table = city_networks();
        let (rows, _) = sample_rows();
        let inputs: Vec<PathBuf> = (0..3)
            .map(|n| {
                let path = dir.join(format!("in-{n}.parquet"));
                write_rows_file(&table, &rows, &path, None)
                    .unwrap()
                    .persist()
                    .unwrap();
                path
            })
            .collect();
        let bytes_in =
            |rows: &[CityNetworkRow]| -> i64 { rows.iter().map(|row| row.measures.bytes_in).sum() };
        for (budget, expected_rows) in [(MERGE_ROW_BUDGET, 3), (2, 9)] {
            let out = dir.join(format!("merged-{budget}"));
            let output = out.join("city_networks/dt=2026-06-01/hour=00/merged.parquet");
            let (temporary, merged) =
                sum_files(&table, city_network_row, &inputs, &output, budget).unwrap();
            temporary.persist().unwrap();
            assert_eq!(
                merged,
                Merged {
                    rows_read: 9,
                    rows_written: expected_rows
                }
            );
            let back = read_city_networks(&out, None, None).unwrap();
            assert_eq!(back.len() as u64, expected_rows);
            assert_eq!(bytes_in(&back), 3 * bytes_in(&rows));
            let client_ips: i64 = back.iter().map(|row| row.client_ips).sum();
            assert_eq!(client_ips, 3 * 9, "summed: an upper bound");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
