//! The record reader: one object's bytes in, records and rejects out, with counts that add up.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::ops::{AddAssign, Range};

use flate2::read::MultiGzDecoder;

use crate::field::Field;
use crate::format::{Format, FormatError, looks_like_header};
use crate::lines::{LineEvent, Lines};
use crate::parquet_rows::ParquetRows;
use crate::record::{LogStatus, Record, Slot};
use crate::reject::{Reason, Reject, shorten};
use crate::value::{Typed, type_token};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const PARQUET_MAGIC: &[u8] = b"PAR1";

/// How to read an object.
#[derive(Clone, Debug)]
pub struct Options {
    /// The log's format, when the user knows it; it wins over header lines.
    pub format: Option<Format>,
    /// Lines longer than this are rejected without being buffered whole.
    pub max_line_bytes: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            format: None,
            max_line_bytes: 64 * 1024,
        }
    }
}

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
    /// Parquet columns that are not flow-log fields.
    #[error("Parquet columns: {0}")]
    ParquetColumns(FormatError),
    /// A Parquet column whose type cannot hold its field.
    #[error("Parquet column `{column}` has type {data_type}, which cannot hold field `{field}`")]
    ColumnType {
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: String,
        /// The field it names.
        field: Field,
    },
    /// The Parquet file cannot be opened.
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Reading the input failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Counts of an object's records. `read == ok + skipped + rejected`, always.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records read (lines that are neither blank nor a header; Parquet rows).
    pub read: u64,
    /// Records with traffic (`log-status` OK, or no `log-status` in the format).
    pub ok: u64,
    /// NODATA and SKIPDATA records: they carry no traffic.
    pub skipped: u64,
    /// Records that could not be read.
    pub rejected: u64,
    /// Rejects by reason, indexed like [`Reason::ALL`].
    pub rejected_by_reason: [u64; Reason::ALL.len()],
    /// Bytes of flow-log data decoded: text bytes, or Parquet's uncompressed column bytes.
    pub bytes: u64,
}

impl Counts {
    /// Rejects for one reason.
    pub fn rejected_for(&self, reason: Reason) -> u64 {
        self.rejected_by_reason[reason as usize]
    }
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.read += other.read;
        self.ok += other.ok;
        self.skipped += other.skipped;
        self.rejected += other.rejected;
        for (total, add) in self
            .rejected_by_reason
            .iter_mut()
            .zip(other.rejected_by_reason)
        {
            *total += add;
        }
        self.bytes += other.bytes;
    }
}

/// One step of a reader.
#[derive(Debug)]
pub enum Entry<'r> {
    /// A record: OK, NODATA or SKIPDATA (see [`Record::status`]).
    Record(Record<'r>),
    /// A record that could not be read.
    Reject(&'r Reject),
}

/// Reads the records of one object: gzip or plain text (told apart by magic bytes, not by
/// name) or AWS's Parquet delivery. Memory stays bounded whatever the object's size.
pub struct Reader {
    source: Source,
    explicit_format: Option<Format>,
    format: Option<Format>,
    slots: Vec<Slot>,
    spans: Vec<Range<usize>>,
    reject: Reject,
    counts: Counts,
    /// Lines of a text object seen so far.
    line_no: u64,
}

enum Source {
    Text(Lines),
    Parquet(Box<ParquetRows>),
}

/// What one step produced, without borrowing, so the borrow is made once at the end.
pub(crate) enum Outcome {
    Record { line: u64, text: Range<usize> },
    Reject,
    End,
}

impl Reader {
    /// Reads from a stream. Parquet needs random access, so a Parquet stream is buffered in
    /// memory; use [`Reader::from_file`] or [`Reader::parquet`] to avoid that.
    pub fn new<R: Read + Send + 'static>(mut input: R, options: &Options) -> Result<Reader, Error> {
        let mut magic = Vec::with_capacity(4);
        (&mut input).take(4).read_to_end(&mut magic)?;
        let input = Cursor::new(magic.clone()).chain(input);
        if magic.starts_with(PARQUET_MAGIC) {
            let mut whole = Vec::new();
            { input }.read_to_end(&mut whole)?;
            return Reader::parquet(bytes::Bytes::from(whole), options);
        }
        Ok(Reader::text(input, magic.starts_with(GZIP_MAGIC), options))
    }

    /// Reads a file, with Parquet read in place (footer first, then row groups).
    pub fn from_file(mut file: File, options: &Options) -> Result<Reader, Error> {
        let mut magic = Vec::with_capacity(4);
        (&mut file).take(4).read_to_end(&mut magic)?;
        file.seek(SeekFrom::Start(0))?;
        if magic.starts_with(PARQUET_MAGIC) {
            return Reader::parquet(file, options);
        }
        Ok(Reader::text(file, magic.starts_with(GZIP_MAGIC), options))
    }

    /// Reads AWS's Parquet delivery from anything Parquet can read in ranges.
    pub fn parquet<C: parquet::file::reader::ChunkReader + 'static>(
        chunks: C,
        options: &Options,
    ) -> Result<Reader, Error> {
        let rows = ParquetRows::open(chunks)?;
        let format = rows.format().clone();
        let mut reader = Reader::with_source(Source::Parquet(Box::new(rows)), options);
        reader.slots = vec![Slot::Absent; format.fields().len()];
        reader.format = Some(format);
        Ok(reader)
    }

    fn text<R: Read + Send + 'static>(input: R, gzip: bool, options: &Options) -> Reader {
        let input: Box<dyn Read + Send> = if gzip {
            Box::new(MultiGzDecoder::new(input))
        } else {
            Box::new(input)
        };
        let lines = Lines::new(input, gzip, options.max_line_bytes);
        Reader::with_source(Source::Text(lines), options)
    }

    fn with_source(source: Source, options: &Options) -> Reader {
        Reader {
            source,
            explicit_format: options.format.clone(),
            format: None,
            slots: Vec::new(),
            spans: Vec::new(),
            reject: Reject {
                line: 0,
                field: None,
                reason: Reason::TooFewFields,
                value: String::new(),
                text: String::new(),
                detail: String::new(),
            },
            counts: Counts::default(),
            line_no: 0,
        }
    }

    /// The format in force: known once the first record or header is read (Parquet: at once).
    pub fn format(&self) -> Option<&Format> {
        self.format.as_ref()
    }

    /// Counts so far; final once [`Reader::next_entry`] returned `None`.
    pub fn counts(&self) -> Counts {
        let mut counts = self.counts;
        counts.bytes = match &self.source {
            Source::Text(lines) => lines.n_bytes,
            Source::Parquet(rows) => rows.n_bytes(),
        };
        counts
    }

    /// The next record or reject; `None` at the end of the object.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'_>>, Error> {
        let outcome = match &mut self.source {
            Source::Text(_) => self.advance_text()?,
            Source::Parquet(rows) => rows.advance(&mut self.slots, &mut self.reject),
        };
        match outcome {
            Outcome::End => return Ok(None),
            Outcome::Reject => {
                self.counts.read += 1;
                self.counts.rejected += 1;
                self.counts.rejected_by_reason[self.reject.reason as usize] += 1;
                return Ok(Some(Entry::Reject(&self.reject)));
            }
            Outcome::Record { .. } => {}
        }
        let Outcome::Record { line, text } = outcome else {
            unreachable!("other outcomes returned above")
        };
        let Some(format) = self.format.as_ref() else {
            unreachable!("a record is only read once the format is known")
        };
        let text = match &self.source {
            Source::Text(lines) => std::str::from_utf8(lines.bytes(text)).unwrap_or_default(),
            Source::Parquet(rows) => rows.text(),
        };
        let record = Record {
            format,
            slots: &self.slots,
            text,
            line,
        };
        self.counts.read += 1;
        match record.status() {
            LogStatus::Ok => self.counts.ok += 1,
            LogStatus::NoData | LogStatus::SkipData => self.counts.skipped += 1,
        }
        Ok(Some(Entry::Record(record)))
    }

    fn advance_text(&mut self) -> Result<Outcome, Error> {
        let Source::Text(lines) = &mut self.source else {
            unreachable!("called for text sources only")
        };
        loop {
            let event = lines.next_line()?;
            let range = match event {
                LineEvent::End => return Ok(Outcome::End),
                LineEvent::Line(range) => range,
                LineEvent::TooLong(head) => {
                    self.line_no += 1;
                    set_reject(
                        &mut self.reject,
                        self.line_no,
                        None,
                        Reason::LineTooLong,
                        "",
                        &head,
                    );
                    return Ok(Outcome::Reject);
                }
                LineEvent::Truncated { partial, why } => {
                    self.line_no += 1;
                    set_reject(
                        &mut self.reject,
                        self.line_no,
                        None,
                        Reason::TruncatedInput,
                        "",
                        &partial,
                    );
                    self.reject.detail =
                        format!("compressed stream ends early or is corrupt: {why}");
                    return Ok(Outcome::Reject);
                }
            };
            self.line_no += 1;
            let line_no = self.line_no;
            let bytes = lines.bytes(range.clone());
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            let range = range.start..range.start + bytes.len();

            let Ok(line) = std::str::from_utf8(bytes) else {
                let field = utf8_error_field(bytes, self.format.as_ref());
                set_reject(
                    &mut self.reject,
                    line_no,
                    field,
                    Reason::InvalidUtf8,
                    "",
                    bytes,
                );
                return Ok(Outcome::Reject);
            };
            self.spans.clear();
            self.spans.extend(token_spans(line));
            if self.spans.is_empty() {
                continue;
            }
            if line.as_bytes()[self.spans[0].start].is_ascii_lowercase() {
                let tokens: Vec<&str> = self.spans.iter().map(|span| &line[span.clone()]).collect();
                if looks_like_header(&tokens) {
                    let header = Format::from_names(tokens).map_err(|source| Error::Header {
                        line: line_no,
                        source,
                    })?;
                    if self.explicit_format.is_none() {
                        self.slots = vec![Slot::Absent; header.fields().len()];
                        self.format = Some(header);
                    }
                    continue;
                }
            }
            if self.format.is_none() {
                let format = match &self.explicit_format {
                    Some(explicit) => explicit.clone(),
                    None if self.spans.len() == 14 => Format::default_v2(),
                    None => {
                        return Err(Error::FormatUndetermined {
                            line: line_no,
                            n_fields: self.spans.len(),
                        });
                    }
                };
                self.slots = vec![Slot::Absent; format.fields().len()];
                self.format = Some(format);
            }
            let Some(format) = self.format.as_ref() else {
                unreachable!("set just above")
            };
            return Ok(
                match type_line(line, &self.spans, format, &mut self.slots) {
                    Ok(()) => Outcome::Record {
                        line: line_no,
                        text: range,
                    },
                    Err(fault) => {
                        fault.fill(&mut self.reject, line_no, line, format);
                        Outcome::Reject
                    }
                },
            );
        }
    }
}

fn set_reject(
    reject: &mut Reject,
    line: u64,
    field: Option<Field>,
    reason: Reason,
    value: &str,
    text: &[u8],
) {
    reject.line = line;
    reject.field = field;
    reject.reason = reason;
    reject.value = shorten(value);
    reject.text = shorten(&String::from_utf8_lossy(text));
    reject.detail.clear();
}

/// Byte ranges of the space- or tab-separated tokens of a line.
pub(crate) fn token_spans(line: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let bytes = line.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < bytes.len() && is_separator(bytes[pos]) {
            pos += 1;
        }
        if pos == bytes.len() {
            return None;
        }
        let start = pos;
        while pos < bytes.len() && !is_separator(bytes[pos]) {
            pos += 1;
        }
        Some(start..pos)
    })
}

#[inline]
fn is_separator(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// What went wrong typing a line.
enum Fault {
    Count { n_tokens: usize },
    Value { position: usize, reason: Reason },
}

impl Fault {
    fn fill(self, reject: &mut Reject, line_no: u64, line: &str, format: &Format) {
        let spans: Vec<Range<usize>> = token_spans(line).collect();
        match self {
            Fault::Count { n_tokens } => {
                let n_fields = format.fields().len();
                let reason = if n_tokens < n_fields {
                    Reason::TooFewFields
                } else {
                    Reason::TooManyFields
                };
                // Name the first field without a value, or nothing when there are extra values.
                let field = format.fields().get(n_tokens).copied();
                set_reject(reject, line_no, field, reason, "", line.as_bytes());
                reject.detail = format!("{n_tokens} values for {n_fields} fields");
            }
            Fault::Value { position, reason } => {
                let field = format.fields()[position];
                let value = &line[spans[position].clone()];
                set_reject(reject, line_no, Some(field), reason, value, line.as_bytes());
            }
        }
    }
}

/// Types every token of a line into `slots`.
#[inline]
fn type_line(
    line: &str,
    spans: &[Range<usize>],
    format: &Format,
    slots: &mut [Slot],
) -> Result<(), Fault> {
    if spans.len() != slots.len() {
        return Err(Fault::Count {
            n_tokens: spans.len(),
        });
    }
    for (position, ((span, &field), slot)) in spans
        .iter()
        .zip(format.fields())
        .zip(slots.iter_mut())
        .enumerate()
    {
        let token = &line[span.clone()];
        *slot = match type_token(field.kind(), token) {
            Ok(Typed::Absent) => Slot::Absent,
            Ok(Typed::Int(int)) => Slot::Int(int),
            Ok(Typed::Ip(ip)) => Slot::Ip(ip),
            Ok(Typed::Text(_)) => Slot::Text {
                start: span.start as u32,
                end: span.end as u32,
            },
            Err(reason) => return Err(Fault::Value { position, reason }),
        };
    }
    Ok(())
}

/// The field whose token holds the first invalid UTF-8 byte, when the format is known.
fn utf8_error_field(bytes: &[u8], format: Option<&Format>) -> Option<Field> {
    let bad_at = std::str::from_utf8(bytes).err()?.valid_up_to();
    let n_separated = bytes[..bad_at]
        .split(|&byte| is_separator(byte))
        .filter(|token| !token.is_empty())
        .count();
    let ends_in_token = bad_at > 0 && !is_separator(bytes[bad_at - 1]);
    let position = if ends_in_token {
        n_separated - 1
    } else {
        n_separated
    };
    format?.fields().get(position).copied()
}
