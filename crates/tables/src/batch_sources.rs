//! Files that hold the rows of several objects (a batch of small objects written together, so
//! a run writes one file per table-partition instead of one per object) name those objects in
//! their own Parquet metadata, in row order. The names travel with the rows: a file is renamed
//! into place whole, so it can never disagree with its metadata, and an object processed again
//! has exactly its own rows taken out of the file ([`remove_source_rows`]).

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{WriteError, write_batch_file};

/// The Parquet key-value metadata key of a batch file's sources: a JSON array of
/// `[source_id, rows]` pairs, in the order of the file's rows.
pub const SOURCES_KEY: &str = "flowatlas.sources";

/// The rows of one object in a batch file: the next `rows` rows belong to `source_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSource {
    /// The object's output id.
    pub source_id: String,
    /// Its rows, consecutive in the file.
    pub rows: u64,
}

pub(crate) fn to_json(sources: &[FileSource]) -> String {
    let pairs: Vec<(&str, u64)> = sources
        .iter()
        .map(|source| (source.source_id.as_str(), source.rows))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_default()
}

fn from_json(text: &str) -> Option<Vec<FileSource>> {
    let pairs: Vec<(String, u64)> = serde_json::from_str(text).ok()?;
    Some(
        pairs
            .into_iter()
            .map(|(source_id, rows)| FileSource { source_id, rows })
            .collect(),
    )
}

/// The objects whose rows a batch file holds, in row order, read from its footer; empty for a
/// file of one object.
pub fn file_sources(path: &Path) -> Result<Vec<FileSource>, WriteError> {
    let file = File::open(path).map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|source| WriteError::Parquet {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(sources_in(&metadata))
}

fn sources_in(metadata: &parquet::file::metadata::ParquetMetaData) -> Vec<FileSource> {
    metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|pairs| pairs.iter().find(|pair| pair.key == SOURCES_KEY))
        .and_then(|pair| pair.value.as_deref())
        .and_then(from_json)
        .unwrap_or_default()
}

/// Takes `source_id`'s rows out of the batch file at `path`: the file is written again without
/// them (under a temporary name, renamed over it) or removed when no rows are left. Returns the
/// rows removed: 0 when the file is gone or does not hold the source (so doing it twice is
/// harmless). Batch files are bounded by the pipeline's row budget, so they are read whole.
pub fn remove_source_rows(path: &Path, source_id: &str) -> Result<u64, WriteError> {
    let io_error = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let parquet_error = |source| WriteError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(io_error(error)),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?;
    let sources = sources_in(builder.metadata());
    let Some(index) = sources
        .iter()
        .position(|source| source.source_id == source_id)
    else {
        return Ok(0);
    };
    let first_row: u64 = sources[..index].iter().map(|source| source.rows).sum();
    let removed = sources[index].rows;
    let schema = builder.schema().clone();
    let batches = builder
        .build()
        .map_err(parquet_error)?
        .collect::<Result<Vec<RecordBatch>, _>>()
        .map_err(|source| WriteError::Parquet {
            path: path.to_path_buf(),
            source: source.into(),
        })?;
    let all = arrow_select::concat::concat_batches(&schema, &batches).map_err(|source| {
        WriteError::Parquet {
            path: path.to_path_buf(),
            source: source.into(),
        }
    })?;
    let (start, end) = (first_row as usize, (first_row + removed) as usize);
    let kept_rows = all.num_rows().saturating_sub(end - start);
    if kept_rows == 0 {
        std::fs::remove_file(path).map_err(io_error)?;
        return Ok(removed);
    }
    let kept = arrow_select::concat::concat_batches(
        &schema,
        &[
            all.slice(0, start.min(all.num_rows())),
            all.slice(
                end.min(all.num_rows()),
                all.num_rows() - end.min(all.num_rows()),
            ),
        ],
    )
    .map_err(|source| WriteError::Parquet {
        path: path.to_path_buf(),
        source: source.into(),
    })?;
    let mut remaining = sources;
    remaining.remove(index);
    // The schema as written, without what the reader adds to its fields.
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(
        schema
            .fields()
            .iter()
            .map(|field| {
                field
                    .as_ref()
                    .clone()
                    .with_metadata(std::collections::HashMap::new())
            })
            .collect::<Vec<_>>(),
    ));
    let kept = RecordBatch::try_new(schema.clone(), kept.columns().to_vec()).map_err(|source| {
        WriteError::Parquet {
            path: path.to_path_buf(),
            source: source.into(),
        }
    })?;
    let temporary = write_batch_file(schema, &kept, path, Some(&remaining))?;
    temporary.persist().map_err(io_error)?;
    Ok(removed)
}
