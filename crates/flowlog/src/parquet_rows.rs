//! AWS's Parquet delivery: columns named like the header fields with `_`, read row by row into
//! the same slots as text records.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use std::sync::Arc;

use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

use crate::error::Error;
use crate::field::Kind;
use crate::format::Format;
use crate::record::{Outcome, Slot};
use crate::reject::{Reason, Reject, shorten};
use crate::value::{Typed, check_int, time_fault, type_token};

const BATCH_ROWS: usize = 4096;

pub(crate) struct ParquetRows {
    /// Opens the reader of one row group: groups are read one at a time, so a corrupt group
    /// costs its own rows only.
    open_group: Box<dyn FnMut(usize) -> Result<ParquetRecordBatchReader, ParquetError> + Send>,
    /// Rows of each group, as the footer says.
    group_rows: Vec<u64>,
    /// The next group to open.
    next_group: usize,
    /// The open group's reader and how many of its rows are still to come.
    batches: Option<(ParquetRecordBatchReader, u64)>,
    format: Format,
    batch: Option<RecordBatch>,
    row_in_batch: usize,
    row_no: u64,
    /// Text values of the current row, which the record's text slots point into.
    text: String,
    total_rows: u64,
    total_bytes: u64,
}

/// One input shared by the readers of every row group.
struct Shared<C>(Arc<C>);

impl<C: ChunkReader> Length for Shared<C> {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl<C: ChunkReader> ChunkReader for Shared<C> {
    type T = C::T;

    fn get_read(&self, start: u64) -> Result<C::T, ParquetError> {
        self.0.get_read(start)
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<bytes::Bytes, ParquetError> {
        self.0.get_bytes(start, length)
    }
}

/// A column's values as something the row loop can read without downcasting each time.
enum Column<'b> {
    Int(&'b dyn IntColumn),
    Text(&'b dyn TextColumn),
}

trait IntColumn {
    fn int(&self, row: usize) -> Result<i64, Reason>;
}

trait TextColumn {
    fn text(&self, row: usize) -> &str;
}

macro_rules! int_column {
    ($($arrow:ty),*) => {$(
        impl IntColumn for arrow_array::PrimitiveArray<$arrow> {
            fn int(&self, row: usize) -> Result<i64, Reason> {
                i64::try_from(self.value(row)).map_err(|_| Reason::OutOfRange)
            }
        }
    )*};
}
int_column!(
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type
);

impl TextColumn for arrow_array::StringArray {
    fn text(&self, row: usize) -> &str {
        self.value(row)
    }
}

impl TextColumn for arrow_array::LargeStringArray {
    fn text(&self, row: usize) -> &str {
        self.value(row)
    }
}

impl TextColumn for arrow_array::StringViewArray {
    fn text(&self, row: usize) -> &str {
        self.value(row)
    }
}

fn column_of(array: &ArrayRef) -> Option<Column<'_>> {
    Some(match array.data_type() {
        DataType::Int8 => Column::Int(array.as_primitive::<Int8Type>()),
        DataType::Int16 => Column::Int(array.as_primitive::<Int16Type>()),
        DataType::Int32 => Column::Int(array.as_primitive::<Int32Type>()),
        DataType::Int64 => Column::Int(array.as_primitive::<Int64Type>()),
        DataType::UInt8 => Column::Int(array.as_primitive::<UInt8Type>()),
        DataType::UInt16 => Column::Int(array.as_primitive::<UInt16Type>()),
        DataType::UInt32 => Column::Int(array.as_primitive::<UInt32Type>()),
        DataType::UInt64 => Column::Int(array.as_primitive::<UInt64Type>()),
        DataType::Utf8 => Column::Text(array.as_string::<i32>()),
        DataType::LargeUtf8 => Column::Text(array.as_string::<i64>()),
        DataType::Utf8View => Column::Text(array.as_string_view()),
        _ => return None,
    })
}

fn can_hold(data_type: &DataType, kind: Kind) -> bool {
    let is_text = matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    match kind {
        Kind::Int { .. } | Kind::Timestamp => is_text || data_type.is_integer(),
        Kind::Ip | Kind::Choice(_) | Kind::Text => is_text,
    }
}

impl ParquetRows {
    pub(crate) fn open<C: ChunkReader + 'static>(chunks: C) -> Result<ParquetRows, Error> {
        let file_len = chunks.len();
        let chunks = Arc::new(chunks);
        let reader_metadata =
            guarded(|| ArrowReaderMetadata::load(&*chunks, ArrowReaderOptions::default()))??;
        let schema = reader_metadata.schema().clone();
        let format =
            Format::from_names(schema.fields().iter().map(|column| column.name().as_str()))
                .map_err(Error::ParquetColumns)?;
        for (column, &field) in schema.fields().iter().zip(format.fields()) {
            if !can_hold(column.data_type(), field.kind()) {
                return Err(Error::ColumnType {
                    column: column.name().clone(),
                    data_type: column.data_type().to_string(),
                    field,
                });
            }
        }
        let metadata = reader_metadata.metadata().clone();
        // The parquet crate asserts on negative offsets deep inside reading (found by fuzzing);
        // a corrupt footer must be an error here instead.
        for (group_idx, group) in metadata.row_groups().iter().enumerate() {
            for column in group.columns() {
                let start = column
                    .dictionary_page_offset()
                    .unwrap_or(column.data_page_offset());
                let end = start.checked_add(column.compressed_size());
                let beyond_file =
                    end.is_none_or(|end| u64::try_from(end).map_or(true, |end| end > file_len));
                if start < 0 || column.compressed_size() < 0 || beyond_file {
                    return Err(Error::Parquet(parquet::errors::ParquetError::General(
                        format!(
                            "corrupt footer: row group {group_idx}, column `{}` has an offset or size outside the file",
                            column.column_path().string()
                        ),
                    )));
                }
            }
        }
        let total_rows = metadata.file_metadata().num_rows().max(0) as u64;
        let total_bytes = metadata
            .row_groups()
            .iter()
            .map(|group| group.total_byte_size().max(0) as u64)
            .sum();
        let group_rows = metadata
            .row_groups()
            .iter()
            .map(|group| group.num_rows().max(0) as u64)
            .collect();
        let open_group = move |group: usize| {
            ParquetRecordBatchReaderBuilder::new_with_metadata(
                Shared(Arc::clone(&chunks)),
                reader_metadata.clone(),
            )
            .with_row_groups(vec![group])
            .with_batch_size(BATCH_ROWS)
            .build()
        };
        Ok(ParquetRows {
            open_group: Box::new(open_group),
            group_rows,
            next_group: 0,
            batches: None,
            format,
            batch: None,
            row_in_batch: 0,
            row_no: 0,
            text: String::new(),
            total_rows,
            total_bytes,
        })
    }

    pub(crate) fn format(&self) -> &Format {
        &self.format
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Uncompressed bytes in proportion to the rows read.
    pub(crate) fn n_bytes(&self) -> u64 {
        if self.total_rows == 0 {
            return 0;
        }
        (u128::from(self.total_bytes) * u128::from(self.row_no.min(self.total_rows))
            / u128::from(self.total_rows)) as u64
    }

    pub(crate) fn advance(
        &mut self,
        slots: &mut [Slot],
        reject: &mut Reject,
        latest: i64,
    ) -> Outcome {
        loop {
            let batch_rows = self.batch.as_ref().map_or(0, RecordBatch::num_rows);
            if self.row_in_batch < batch_rows {
                break;
            }
            self.batch = None;
            let Some((batches, rows_left)) = self.batches.as_mut() else {
                let Some(&rows) = self.group_rows.get(self.next_group) else {
                    return Outcome::End;
                };
                let group = self.next_group;
                self.next_group += 1;
                match guarded(|| (self.open_group)(group)).and_then(|opened| opened) {
                    Ok(batches) => self.batches = Some((batches, rows)),
                    Err(error) => {
                        if let Some(outcome) = self.reject_group(group, rows, &error, reject) {
                            return outcome;
                        }
                    }
                }
                continue;
            };
            let next = guarded(|| batches.next()).unwrap_or_else(|panic| {
                Some(Err(arrow_schema::ArrowError::ExternalError(Box::new(
                    panic,
                ))))
            });
            match next {
                Some(Ok(batch)) => {
                    *rows_left = rows_left.saturating_sub(batch.num_rows() as u64);
                    self.batch = Some(batch);
                    self.row_in_batch = 0;
                }
                Some(Err(error)) => {
                    let rows_left = *rows_left;
                    self.batches = None;
                    let group = self.next_group - 1;
                    if let Some(outcome) = self.reject_group(group, rows_left, &error, reject) {
                        return outcome;
                    }
                }
                None => {
                    // The group gave fewer rows than its footer promised: those are lost too.
                    let rows_left = *rows_left;
                    self.batches = None;
                    let group = self.next_group - 1;
                    let error = "it ends early";
                    if let Some(outcome) = self.reject_group(group, rows_left, &error, reject) {
                        return outcome;
                    }
                }
            }
        }
        let Some(batch) = self.batch.as_ref() else {
            unreachable!("the loop above leaves a batch with rows")
        };
        let row = self.row_in_batch;
        self.row_in_batch += 1;
        self.row_no += 1;
        self.text.clear();
        for (position, (array, &field)) in
            batch.columns().iter().zip(self.format.fields()).enumerate()
        {
            if array.is_null(row) {
                slots[position] = Slot::Absent;
                continue;
            }
            let mut text_token = "";
            let typed = match column_of(array) {
                Some(Column::Int(column)) => column
                    .int(row)
                    .and_then(|int| check_int(field.kind(), int, latest))
                    .map_err(|reason| {
                        (
                            reason,
                            column
                                .int(row)
                                .map(|int| int.to_string())
                                .unwrap_or_default(),
                        )
                    }),
                Some(Column::Text(column)) => {
                    let token = column.text(row);
                    text_token = token;
                    type_token(field.kind(), token.as_bytes(), latest)
                        .map_err(|reason| (reason, token.to_string()))
                }
                None => unreachable!("column types are checked when the file is opened"),
            };
            slots[position] = match typed {
                Ok(typed) => {
                    let start = self.text.len();
                    if matches!(typed, Typed::Text) {
                        self.text.push_str(text_token);
                    }
                    Slot::of(typed, start..self.text.len())
                }
                Err((reason, value)) => {
                    let time_detail = (reason == Reason::OutOfRange
                        && field.kind() == Kind::Timestamp)
                        .then(|| time_fault(&value, latest))
                        .flatten();
                    *reject = Reject {
                        line: self.row_no,
                        field: Some(field),
                        reason,
                        value: shorten(&value),
                        text: String::new(),
                        detail: time_detail.unwrap_or_default(),
                    };
                    return Outcome::Reject;
                }
            };
        }
        Outcome::Record {
            line: self.row_no,
            text: 0..0,
        }
    }
}

impl ParquetRows {
    /// The rows of a row group that could not be read, as one reject counting them all, so
    /// that the other groups' rows are kept and every row is still accounted for. `None` when
    /// no row was lost (an error after the group's last row).
    fn reject_group(
        &mut self,
        group: usize,
        rows: u64,
        error: &dyn std::fmt::Display,
        reject: &mut Reject,
    ) -> Option<Outcome> {
        if rows == 0 {
            return None;
        }
        *reject = Reject {
            line: self.row_no + 1,
            field: None,
            reason: Reason::TruncatedInput,
            value: String::new(),
            text: String::new(),
            detail: shorten(&format!(
                "row group {group} of {} (0-based) cannot be read; its {rows} remaining rows are rejected: {error}",
                self.group_rows.len()
            )),
        };
        self.row_no += rows;
        Some(Outcome::RejectRows(rows))
    }
}

/// The parquet crate still panics on some corrupt files (apache/arrow-rs#9742; one case was
/// found by fuzzing this reader). A panic inside it becomes an error for that object.
fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, parquet::errors::ParquetError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown failure".to_string());
        parquet::errors::ParquetError::General(format!("corrupt Parquet data: {message}"))
    })
}
