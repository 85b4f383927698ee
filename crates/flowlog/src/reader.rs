//! The record reader: one object's bytes in, records and rejects out, with counts that add up.

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::ops::{AddAssign, Range};

use flate2::read::MultiGzDecoder;

use crate::error::Error;
use crate::field::{Field, Kind};
use crate::format::{Format, looks_like_header};
use crate::lines::{LineEvent, Lines};
use crate::parquet_rows::ParquetRows;
use crate::record::{LogStatus, Outcome, Record, Slot};
use crate::reject::{Reason, Reject, shorten};
use crate::value::{find_separator, is_separator, time_fault, type_leading, type_token};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const PARQUET_MAGIC: &[u8] = b"PAR1";
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How to read an object.
#[derive(Clone, Debug)]
pub struct Options {
    /// The log's format, when the user knows it; it wins over header lines.
    pub format: Option<Format>,
    /// Lines longer than this are rejected without being buffered whole.
    pub max_line_bytes: usize,
    /// Times (`start`, `end`) later than this, in Unix seconds, are rejected as out of range:
    /// a day after the object's delivery, or after the run's clock (the pipeline sets it).
    /// Times before [`EARLIEST_TIME`](crate::EARLIEST_TIME) always are.
    pub latest_time: Option<i64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            format: None,
            max_line_bytes: 64 * 1024,
            latest_time: None,
        }
    }
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
    reject: Reject,
    counts: Counts,
    /// Lines of a text object seen so far.
    line_no: u64,
    /// Times later than this are out of range.
    latest_time: i64,
}

enum Source {
    Text(Lines),
    Parquet(Box<ParquetRows>),
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
        // Pipes and FIFOs (`<(zcat ...)`, /dev/stdin) cannot seek back: read them as streams.
        if !file.metadata()?.is_file() {
            return Reader::new(file, options);
        }
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
            latest_time: options.latest_time.unwrap_or(i64::MAX),
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
            Source::Parquet(rows) => {
                rows.advance(&mut self.slots, &mut self.reject, self.latest_time)
            }
        };
        let (line, text) = match outcome {
            Outcome::End => return Ok(None),
            Outcome::Reject | Outcome::RejectRows(_) => {
                let rows = match outcome {
                    Outcome::RejectRows(rows) => rows,
                    _ => 1,
                };
                self.counts.read += rows;
                self.counts.rejected += rows;
                self.counts.rejected_by_reason[self.reject.reason as usize] += rows;
                return Ok(Some(Entry::Reject(&self.reject)));
            }
            Outcome::Record { line, text } => (line, text),
        };
        let Some(format) = self.format.as_ref() else {
            unreachable!("a record is only read once the format is known")
        };
        // A line is checked to be UTF-8 once, here, not at each read of a text value: every
        // byte outside a text value of an accepted line is ASCII (numbers, addresses, words of
        // a choice, separators), and every text value was checked as it was typed, so the
        // check cannot fail.
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
            let range = match lines.next_line()? {
                LineEvent::End => return Ok(Outcome::End),
                LineEvent::Line(range) => range,
                LineEvent::TooLong(head) => {
                    self.line_no += 1;
                    set_reject(
                        &mut self.reject,
                        self.line_no,
                        None,
                        Reason::LineTooLong,
                        b"",
                        &head,
                    );
                    if let Some(looks_like) = odd_text(&head) {
                        self.reject.detail = looks_like.into();
                    }
                    return Ok(Outcome::Reject);
                }
                LineEvent::Truncated { partial, why } => {
                    self.line_no += 1;
                    set_reject(
                        &mut self.reject,
                        self.line_no,
                        None,
                        Reason::TruncatedInput,
                        b"",
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
            let mut line = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            let mut range = range.start..range.start + line.len();
            // Files saved by some editors and tools start with a UTF-8 byte-order mark.
            if line_no == 1 && line.starts_with(UTF8_BOM) {
                line = &line[UTF8_BOM.len()..];
                range.start += UTF8_BOM.len();
            }

            let Some(first) = line.iter().position(|&byte| !is_separator(byte)) else {
                if line.iter().all(|&byte| byte == b' ' || byte == b'\t') {
                    continue;
                }
                // Only control bytes (NUL padding of a preallocated file, say): not blank, so
                // the line is counted and rejected rather than silently passed over.
                set_reject(
                    &mut self.reject,
                    line_no,
                    None,
                    Reason::TooFewFields,
                    b"",
                    line,
                );
                self.reject.detail = "no values: the line holds only control bytes".into();
                return Ok(Outcome::Reject);
            };
            // Data lines start with a digit, `-` or an ID; only a lower-case word can open a header.
            if line[first].is_ascii_lowercase()
                && read_header(
                    &self.explicit_format,
                    &mut self.format,
                    &mut self.slots,
                    line,
                    line_no,
                )?
            {
                continue;
            }
            if self.format.is_none() {
                let format = settle_format(self.explicit_format.as_ref(), line, line_no)?;
                self.slots = vec![Slot::Absent; format.fields().len()];
                self.format = Some(format);
            }
            let Some(format) = self.format.as_ref() else {
                unreachable!("settled just above")
            };
            return Ok(
                match type_line(line, format, &mut self.slots, self.latest_time) {
                    Ok(()) => Outcome::Record {
                        line: line_no,
                        text: range,
                    },
                    Err(fault) => {
                        fault.fill(&mut self.reject, line_no, line, format, self.latest_time);
                        Outcome::Reject
                    }
                },
            );
        }
    }
}

/// Takes a header line: it sets the format unless one was given. False when the line is data.
fn read_header(
    explicit_format: &Option<Format>,
    format: &mut Option<Format>,
    slots: &mut Vec<Slot>,
    line: &[u8],
    line_no: u64,
) -> Result<bool, Error> {
    let Ok(text) = std::str::from_utf8(line) else {
        return Ok(false);
    };
    let tokens: Vec<&str> = token_spans(line).map(|span| &text[span]).collect();
    if !looks_like_header(&tokens) {
        return Ok(false);
    }
    if explicit_format.is_some() {
        // The given format wins: a valid header is skipped, anything else is read as data, so a
        // line is never dropped unseen.
        return Ok(Format::from_names(tokens).is_ok());
    }
    let header = Format::from_names(tokens).map_err(|source| Error::Header {
        line: line_no,
        source,
    })?;
    *slots = vec![Slot::Absent; header.fields().len()];
    *format = Some(header);
    Ok(true)
}

/// The format of an object without a header line, decided at its first record.
fn settle_format(
    explicit_format: Option<&Format>,
    line: &[u8],
    line_no: u64,
) -> Result<Format, Error> {
    if let Some(explicit) = explicit_format {
        return Ok(explicit.clone());
    }
    if let Some(looks_like) = odd_text(line) {
        return Err(Error::NotFlowLogText {
            line: line_no,
            looks_like,
        });
    }
    let n_fields = token_spans(line).count();
    if n_fields != 14 {
        return Err(Error::FormatUndetermined {
            line: line_no,
            n_fields,
        });
    }
    Ok(Format::default_v2())
}

/// What a line that is not flow-log text looks like, when it is one of the usual mistakes:
/// UTF-16 (a byte-order mark, or NUL bytes between ASCII letters) or CR-only line ends (the
/// whole object is then one line with CRs inside).
fn odd_text(line: &[u8]) -> Option<&'static str> {
    const UTF16_BOMS: [&[u8]; 2] = [b"\xFF\xFE", b"\xFE\xFF"];
    let n_nul = line.iter().filter(|&&byte| byte == 0).count();
    if UTF16_BOMS.iter().any(|bom| line.starts_with(bom)) || n_nul * 4 >= line.len().max(1) {
        return Some("the text is UTF-16, not UTF-8");
    }
    if line.contains(&b'\r') {
        return Some("lines end with CR alone (no LF)");
    }
    None
}

fn set_reject(
    reject: &mut Reject,
    line: u64,
    field: Option<Field>,
    reason: Reason,
    value: &[u8],
    text: &[u8],
) {
    reject.line = line;
    reject.field = field;
    reject.reason = reason;
    reject.value = shorten(&String::from_utf8_lossy(value));
    reject.text = shorten(&String::from_utf8_lossy(text));
    reject.detail.clear();
}

/// Byte ranges of the separated tokens of a line.
fn token_spans(line: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let start = pos + line[pos..].iter().position(|&byte| !is_separator(byte))?;
        let len = find_separator(&line[start..]).unwrap_or(line.len() - start);
        pos = start + len;
        Some(start..pos)
    })
}

/// What went wrong typing a line.
enum Fault {
    Count { n_tokens: usize },
    Value { position: usize, reason: Reason },
}

impl Fault {
    fn fill(self, reject: &mut Reject, line_no: u64, line: &[u8], format: &Format, latest: i64) {
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
                set_reject(reject, line_no, field, reason, b"", line);
                reject.detail = format!("{n_tokens} values for {n_fields} fields");
            }
            Fault::Value { position, reason } => {
                let field = format.fields()[position];
                let span = token_spans(line).nth(position).unwrap_or(0..0);
                let value = if reason == Reason::InvalidUtf8 {
                    b"" as &[u8]
                } else {
                    &line[span]
                };
                set_reject(reject, line_no, Some(field), reason, value, line);
                if reason == Reason::OutOfRange
                    && field.kind() == Kind::Timestamp
                    && let Some(detail) = time_fault(&reject.value, latest)
                {
                    reject.detail = detail;
                }
            }
        }
    }
}

/// Types every token of a line into `slots`.
#[inline]
fn type_line(line: &[u8], format: &Format, slots: &mut [Slot], latest: i64) -> Result<(), Fault> {
    if type_values(line, format.kinds(), slots, latest) {
        return Ok(());
    }
    type_tokens(line, format.kinds(), slots, latest)
}

/// Types every value of a line into `slots` in one pass, each typed as its end is found.
/// False when the line has a fault: [`type_tokens`] then finds which, the general way.
#[inline]
fn type_values(line: &[u8], kinds: &[Kind], slots: &mut [Slot], latest: i64) -> bool {
    let mut pos = 0;
    for (&kind, slot) in kinds.iter().zip(slots.iter_mut()) {
        while line.get(pos).is_some_and(|&byte| is_separator(byte)) {
            pos += 1;
        }
        if pos == line.len() {
            return false;
        }
        let Some((typed, len)) = type_leading(kind, &line[pos..], latest) else {
            return false;
        };
        *slot = Slot::of(typed, pos..pos + len);
        pos += len;
    }
    line[pos..].iter().all(|&byte| is_separator(byte))
}

/// Types every token of a line into `slots`, token by token; the first fault is the line's.
fn type_tokens(line: &[u8], kinds: &[Kind], slots: &mut [Slot], latest: i64) -> Result<(), Fault> {
    let mut position = 0;
    for span in token_spans(line) {
        let (Some(&kind), Some(slot)) = (kinds.get(position), slots.get_mut(position)) else {
            return Err(Fault::Count {
                n_tokens: position + token_spans(&line[span.start..]).count(),
            });
        };
        *slot = match type_token(kind, &line[span.clone()], latest) {
            Ok(typed) => Slot::of(typed, span),
            Err(reason) => {
                // A short line is reported as such, not as a bad value in the wrong column.
                let n_tokens = position + token_spans(&line[span.start..]).count();
                if n_tokens != kinds.len() {
                    return Err(Fault::Count { n_tokens });
                }
                return Err(Fault::Value { position, reason });
            }
        };
        position += 1;
    }
    if position != kinds.len() {
        return Err(Fault::Count { n_tokens: position });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::field::Field;

    /// Values of every kind, with the near misses each path must judge alike: non-ASCII text,
    /// broken UTF-8, IPv6, leading zeros, 19 and 20 digits, milliseconds, words in the wrong case.
    const TOKENS: &[&[u8]] = &[
        b"2",
        b"5",
        b"-",
        b"--",
        b"0",
        b"00",
        b"007",
        b"+1",
        b"-1",
        b"1e3",
        b"443",
        b"65535",
        b"65536",
        b"255",
        b"256",
        b"2147483648",
        b"9223372036854775807",
        b"9223372036854775808",
        b"12345678901234567890",
        b"1418530010",
        b"1418530010123",
        b"1388534399",
        b"4102444800",
        b"123456789010",
        b"unknown",
        b"eni-1235b8ca123456789",
        "eni-\u{e9}t\u{e9}".as_bytes(),
        b"\xe2\x82\xac",
        b"\xff",
        b"\xc3",
        b"ab\xe2\x82",
        b"172.31.16.139",
        b"10.0.0.1",
        b"0.0.0.0",
        b"255.255.255.255",
        b"01.2.3.4",
        b"1.2.3.04",
        b"256.1.1.1",
        b"1.2.3",
        b"1.2.3.4.5",
        b"1.2.3.4a",
        b"::1",
        b"2001:db8::14",
        b"::ffff:1.2.3.4",
        b"ACCEPT",
        b"REJECT",
        b"accept",
        b"OK",
        b"NODATA",
        b"SKIPDATA",
        b"ingress",
        b"egress",
        b"IPv4",
        b"use1-az4",
    ];
    const SEPARATORS: &[&[u8]] = &[b" ", b" ", b" ", b"\t", b"  ", b" \t", b"\x00", b"\x0b"];

    fn line() -> impl Strategy<Value = Vec<u8>> {
        let token = proptest::sample::select(TOKENS);
        let separator = proptest::sample::select(SEPARATORS);
        (
            proptest::collection::vec((separator, token), 0..32),
            proptest::option::of(proptest::sample::select(SEPARATORS)),
        )
            .prop_map(|(pairs, trailing)| {
                let mut line = Vec::new();
                for (idx, (separator, token)) in pairs.into_iter().enumerate() {
                    if idx > 0 {
                        line.extend_from_slice(separator);
                    }
                    line.extend_from_slice(token);
                }
                line.extend_from_slice(trailing.unwrap_or_default());
                line
            })
    }

    /// A value of `kind` most of the time, any of [`TOKENS`] otherwise.
    fn token_for(kind: Kind) -> BoxedStrategy<&'static [u8]> {
        let valid: &[&[u8]] = match kind {
            Kind::Int { .. } => &[b"0", b"6", b"443", b"255", b"65535", b"2147483647", b"-"],
            Kind::Timestamp => &[b"1418530010", b"1418530010123", b"1780315098", b"-"],
            Kind::Ip => &[
                b"172.31.16.139",
                b"10.0.0.1",
                b"0.0.0.0",
                b"255.255.255.255",
                b"::1",
                b"2001:db8::14",
                b"::ffff:1.2.3.4",
                b"-",
            ],
            Kind::Choice(_) => &[
                b"ACCEPT", b"REJECT", b"OK", b"NODATA", b"ingress", b"egress", b"-",
            ],
            Kind::Text => &[
                b"123456789010",
                b"eni-1235b8ca123456789",
                b"\xc3\xa9t\xc3\xa9",
                b"-",
            ],
        };
        prop_oneof![
            6 => proptest::sample::select(valid),
            1 => proptest::sample::select(TOKENS),
        ]
        .boxed()
    }

    fn formats() -> Vec<Format> {
        let version_5: Vec<Field> = Field::ALL
            .iter()
            .copied()
            .filter(|field| field.version() <= 5 && !field.is_transit_gateway_only())
            .collect();
        let every_kind = [
            Field::Srcaddr,
            Field::Action,
            Field::Start,
            Field::InterfaceId,
            Field::Srcport,
            Field::Protocol,
            Field::Bytes,
            Field::FlowDirection,
        ];
        vec![
            Format::default_v2(),
            Format::from_fields(version_5).unwrap(),
            Format::from_fields(every_kind.to_vec()).unwrap(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// The one-pass path takes exactly the lines the token-by-token path takes, typed the
        /// same; every line it refuses, the general path faults.
        #[test]
        fn one_pass_typing_agrees_with_token_by_token(line in line(), latest in prop_oneof![Just(i64::MAX), Just(1_500_000_000i64)]) {
            for format in formats() {
                let kinds = format.kinds();
                let mut fast = vec![Slot::Absent; kinds.len()];
                let mut general = vec![Slot::Absent; kinds.len()];
                let taken = type_values(&line, kinds, &mut fast, latest);
                let typed = type_tokens(&line, kinds, &mut general, latest);
                prop_assert_eq!(taken, typed.is_ok(), "{:?}", String::from_utf8_lossy(&line));
                if taken {
                    prop_assert_eq!(&fast, &general);
                }
            }
        }

        /// Lines shaped like the format, values mostly of the right kind, so most are taken:
        /// the agreement is checked on typed values, not only on refusals.
        #[test]
        fn one_pass_typing_agrees_on_lines_of_the_format(
            (format, line) in proptest::sample::select(formats()).prop_flat_map(|format| {
                let tokens: Vec<BoxedStrategy<&'static [u8]>> =
                    format.kinds().iter().map(|&kind| token_for(kind)).collect();
                (Just(format), tokens, proptest::sample::select(SEPARATORS))
                    .prop_map(|(format, tokens, separator)| (format, tokens.join(separator)))
            }),
        ) {
            let kinds = format.kinds();
            let mut fast = vec![Slot::Absent; kinds.len()];
            let mut general = vec![Slot::Absent; kinds.len()];
            let taken = type_values(&line, kinds, &mut fast, i64::MAX);
            prop_assert_eq!(taken, type_tokens(&line, kinds, &mut general, i64::MAX).is_ok());
            if taken {
                prop_assert_eq!(&fast, &general);
            }
        }
    }
}
