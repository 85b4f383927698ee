//! What reading an object can fail with, shared by both record sources (text lines and
//! Parquet rows). A bad record is never one of these: it is a [`Reject`](crate::Reject).

use std::io;

use crate::field::Field;
use crate::format::FormatError;

/// What a reader can fail with. A bad record is never an error; it is a [`Reject`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A header line names fields that do not exist (or repeats one).
    #[error("line {line}: header: {source}")]
    Header {
        /// The header's line.
        line: u64,
        /// What is wrong with it.
        source: FormatError,
    },
    /// No explicit format, no header, and the first record is not the 14-field default.
    #[error(
        "line {line}: cannot tell the log format: there is no header line and the first record has {n_fields} fields, not the 14 of the default format; pass the format (--format)"
    )]
    FormatUndetermined {
        /// The first record's line.
        line: u64,
        /// How many fields it has.
        n_fields: usize,
    },
    /// The text is in a form flow logs never take, which would otherwise read as one long
    /// record of odd fields.
    #[error(
        "line {line}: {looks_like}; flow logs are UTF-8 text with one record per LF-ended line"
    )]
    NotFlowLogText {
        /// The line where it shows.
        line: u64,
        /// What the text looks like.
        looks_like: &'static str,
    },
    /// Parquet columns that are not flow-log fields.
    #[error("Parquet columns: {0}")]
    ParquetColumns(FormatError),
    /// A Parquet column whose type cannot hold its field.
    #[error("Parquet column `{column}` has type {data_type}, which cannot hold field `{field}`")]
    ColumnType {
        /// Column name as the Parquet file has it.
        column: String,
        /// Its Arrow type.
        data_type: String,
        /// The field it names.
        field: Field,
    },
    /// The Parquet file cannot be opened.
    #[error("{0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Reading the input failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}
