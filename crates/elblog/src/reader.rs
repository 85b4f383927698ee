//! The line reader: one object's bytes in, handshakes, skipped lines and rejects out, with
//! counts that add up.

use std::io::{self, Cursor, Read};
use std::net::IpAddr;
use std::ops::Range;

use flate2::read::{GzDecoder, MultiGzDecoder};
use flowatlas_flowlog::{Counts, EARLIEST_TIME, KEPT_CHARS, LineEvent, Lines, Reason, shorten};

use crate::field::{Field, Kind, LogKind};
use crate::reject::Reject;
use crate::value::{
    Fault, parse_address_port, parse_count, parse_duration_us, parse_ip, parse_port, parse_time,
    split_values,
};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How to read an object.
#[derive(Clone, Debug)]
pub struct Options {
    /// The log, when the key layout says; otherwise the first line decides ([`sniff_line`]).
    pub kind: Option<LogKind>,
    /// Lines longer than this are rejected without being buffered whole.
    pub max_line_bytes: usize,
    /// Times later than this (Unix seconds) are rejected as out of range: a day after the
    /// object's delivery (the pipeline sets it). Times before 2014 always are.
    pub latest_time: Option<i64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            kind: None,
            max_line_bytes: 64 * 1024,
            latest_time: None,
        }
    }
}

/// What a reader can fail with. A bad line is never an error; it is a [`Reject`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No log kind was given and the first line is neither an ALB connection log's nor an NLB
    /// access log's.
    #[error(
        "line {line}: not an Elastic Load Balancing connection or TLS access log: the line starts with neither an ISO 8601 time and a client address (ALB) nor `tls <version> <time>` (NLB)"
    )]
    NotElbLog {
        /// The first line.
        line: u64,
    },
    /// Reading the input failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A completed TLS handshake: one client connection and how long its handshake took.
#[derive(Clone, Copy, Debug)]
pub struct Handshake<'r> {
    /// Line in the object.
    pub line: u64,
    /// Which log.
    pub kind: LogKind,
    /// When the handshake happened, Unix seconds: the ALB's `timestamp` (the connection was
    /// established), the NLB's `tls_connection_creation_time`, else its `time` (the end).
    pub time: i64,
    /// The client's address. It never leaves flowatlas: the tables hold its prefix only.
    pub client_ip: IpAddr,
    /// The client's port.
    pub client_port: u16,
    /// The listener: the ALB's `listener_port`, the NLB's `listener` ID.
    pub listener: &'r str,
    /// The handshake time, microseconds.
    pub handshake_us: u32,
    /// NLB: `received_bytes` (from the client).
    pub received_bytes: Option<i64>,
    /// NLB: `sent_bytes` (to the client).
    pub sent_bytes: Option<i64>,
    values: &'r [Range<usize>],
    text: &'r str,
}

impl<'r> Handshake<'r> {
    /// The raw text of a field of this line's log; `None` when the line ends before it or the
    /// field is another log's.
    pub fn value(&self, field: Field) -> Option<&'r str> {
        let index = self.kind.fields().iter().position(|&f| f == field)?;
        let span = self.values.get(index)?.clone();
        Some(&self.text[span])
    }
}

/// A line that was read but holds no handshake: not a TLS connection, or a failed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skip {
    /// Line in the object.
    pub line: u64,
    /// Why the line has no handshake time, in words.
    pub why: &'static str,
}

/// One step of a reader.
#[derive(Debug)]
pub enum Entry<'r> {
    /// A handshake time.
    Handshake(Handshake<'r>),
    /// A well-formed line without one.
    Skip(Skip),
    /// A line that could not be read.
    Reject(&'r Reject),
}

/// Reads the lines of one object, gzip (told by magic bytes, not by name) or plain text.
/// Memory stays bounded whatever the object holds.
pub struct Reader {
    lines: Lines,
    counts: Counts,
    state: State,
}

/// What typing a line needs besides the line: apart from [`Lines`], so a line is typed where
/// it lies in the buffer, never copied.
struct State {
    kind: Option<LogKind>,
    values: Vec<Range<usize>>,
    reject: Reject,
    line_no: u64,
    latest_time: i64,
}

/// What one step produced, without borrowing, so the borrow is made once at the end.
enum Outcome {
    Handshake(Typed, Range<usize>),
    Skip(&'static str),
    Reject,
    End,
}

/// The typed values of a line with a handshake.
struct Typed {
    time: i64,
    client_ip: IpAddr,
    client_port: u16,
    listener: usize,
    handshake_us: u32,
    received_bytes: Option<i64>,
    sent_bytes: Option<i64>,
}

impl Reader {
    /// Reads from a stream; gzip is told by its first bytes.
    pub fn new<R: Read + Send + 'static>(mut input: R, options: &Options) -> Result<Reader, Error> {
        let mut magic = Vec::with_capacity(2);
        (&mut input).take(2).read_to_end(&mut magic)?;
        let gzip = magic.starts_with(GZIP_MAGIC);
        let input = Cursor::new(magic).chain(input);
        let input: Box<dyn Read + Send> = if gzip {
            Box::new(MultiGzDecoder::new(input))
        } else {
            Box::new(input)
        };
        Ok(Reader {
            lines: Lines::new(input, gzip, options.max_line_bytes),
            counts: Counts::default(),
            state: State {
                kind: options.kind,
                values: Vec::new(),
                reject: Reject {
                    line: 0,
                    field: None,
                    reason: Reason::TooFewFields,
                    value: String::new(),
                    text: String::new(),
                    detail: String::new(),
                },
                line_no: 0,
                latest_time: options.latest_time.unwrap_or(i64::MAX),
            },
        })
    }

    /// The log being read: known from the options, or once the first line is read.
    pub fn kind(&self) -> Option<LogKind> {
        self.state.kind
    }

    /// Counts so far; final once [`Reader::next_entry`] returned `None`. `ok` counts
    /// handshakes, `skipped` lines without one.
    pub fn counts(&self) -> Counts {
        Counts {
            bytes: self.lines.n_bytes,
            ..self.counts
        }
    }

    /// The next handshake, skipped line or reject; `None` at the end of the object.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'_>>, Error> {
        let outcome = self.advance()?;
        if !matches!(outcome, Outcome::End) {
            self.counts.read += 1;
        }
        match outcome {
            Outcome::End => Ok(None),
            Outcome::Reject => {
                self.counts.rejected += 1;
                self.counts.rejected_by_reason[self.state.reject.reason as usize] += 1;
                Ok(Some(Entry::Reject(&self.state.reject)))
            }
            Outcome::Skip(why) => {
                self.counts.skipped += 1;
                Ok(Some(Entry::Skip(Skip {
                    line: self.state.line_no,
                    why,
                })))
            }
            Outcome::Handshake(typed, range) => {
                self.counts.ok += 1;
                let Some(kind) = self.state.kind else {
                    unreachable!("a line is typed once the kind is known")
                };
                // The line was checked to be UTF-8 when it was typed.
                let text = std::str::from_utf8(self.lines.bytes(range)).unwrap_or_default();
                let values = &self.state.values[..];
                Ok(Some(Entry::Handshake(Handshake {
                    line: self.state.line_no,
                    kind,
                    time: typed.time,
                    client_ip: typed.client_ip,
                    client_port: typed.client_port,
                    listener: &text[values[typed.listener].clone()],
                    handshake_us: typed.handshake_us,
                    received_bytes: typed.received_bytes,
                    sent_bytes: typed.sent_bytes,
                    values,
                    text,
                })))
            }
        }
    }

    fn advance(&mut self) -> Result<Outcome, Error> {
        let state = &mut self.state;
        loop {
            let range = match self.lines.next_line()? {
                LineEvent::End => return Ok(Outcome::End),
                LineEvent::Line(range) => range,
                LineEvent::TooLong(head) => {
                    state.line_no += 1;
                    state.set_reject(None, Reason::LineTooLong, "", &head);
                    return Ok(Outcome::Reject);
                }
                LineEvent::Truncated { partial, why } => {
                    state.line_no += 1;
                    state.set_reject(None, Reason::TruncatedInput, "", &partial);
                    state.reject.detail =
                        format!("compressed stream ends early or is corrupt: {why}");
                    return Ok(Outcome::Reject);
                }
            };
            state.line_no += 1;
            let bytes = self.lines.bytes(range.clone());
            let mut line = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            let mut range = range.start..range.start + line.len();
            if state.line_no == 1 && line.starts_with(UTF8_BOM) {
                line = &line[UTF8_BOM.len()..];
                range.start += UTF8_BOM.len();
            }
            if line.iter().all(|&byte| byte == b' ' || byte == b'\t') {
                continue;
            }
            // Told by content, the first line decides: text of neither log is no object to
            // reject line by line.
            let kind = match state.kind {
                Some(kind) => kind,
                None => {
                    let kind = sniff_line(line).ok_or(Error::NotElbLog {
                        line: state.line_no,
                    })?;
                    *state.kind.insert(kind)
                }
            };
            let Ok(text) = std::str::from_utf8(line) else {
                state.set_reject(None, Reason::InvalidUtf8, "", line);
                return Ok(Outcome::Reject);
            };
            return Ok(match state.type_line(kind, text) {
                Ok(Some(typed)) => Outcome::Handshake(typed, range),
                Ok(None) => Outcome::Skip(match kind {
                    LogKind::AlbConnection => {
                        "no TLS handshake time: not a TLS connection, or it was not established"
                    }
                    LogKind::NlbAccess => "no TLS handshake time: the handshake failed",
                }),
                Err(()) => Outcome::Reject,
            });
        }
    }
}

impl State {
    /// Types every value of a line; the handshake when there is one, `None` when the line is
    /// well formed but has none. On a fault the reject is filled in.
    fn type_line(&mut self, kind: LogKind, text: &str) -> Result<Option<Typed>, ()> {
        let fields = kind.fields();
        // Only the documented values are kept: a line of a million values costs no more.
        let Some(n_values) = split_values(text.as_bytes(), &mut self.values, fields.len()) else {
            self.set_reject(None, Reason::InvalidValue, "", text.as_bytes());
            self.reject.detail = "a double quote is not closed".into();
            return Err(());
        };
        // Values past the documented ones are ignored: AWS appends fields to these logs over
        // time (`conn_trace_id` came later), and a reader must not reject the newer lines.
        if n_values < kind.n_required() {
            self.set_reject(
                None,
                Reason::TooFewFields,
                &n_values.to_string(),
                text.as_bytes(),
            );
            self.reject.detail = format!(
                "{} has {} fields, the last {} of them added later",
                kind.name(),
                fields.len(),
                fields.len() - kind.n_required()
            );
            return Err(());
        }
        let value_of = |values: &[Range<usize>], field: Field| -> Option<&str> {
            let index = fields.iter().position(|&f| f == field)?;
            values.get(index).map(|span| &text[span.clone()])
        };
        // Every documented field is typed, so a line with a bad value anywhere is rejected,
        // never half-used.
        for (index, &field) in fields.iter().enumerate().take(self.values.len()) {
            let value = &text[self.values[index].clone()];
            if let Err(fault) = check(field, value, self.latest_time) {
                self.fault(field, value, fault, text);
                return Err(());
            }
        }
        let (time_field, ip_field, handshake_field, unit_us, listener_field) = match kind {
            LogKind::AlbConnection => (
                Field::AlbTimestamp,
                Field::AlbClientIp,
                Field::AlbTlsHandshakeLatency,
                1_000_000,
                Field::AlbListenerPort,
            ),
            LogKind::NlbAccess => (
                match present(value_of(&self.values, Field::NlbTlsConnectionCreationTime)) {
                    Some(_) => Field::NlbTlsConnectionCreationTime,
                    None => Field::NlbTime,
                },
                Field::NlbClientPort,
                Field::NlbTlsHandshakeTime,
                1_000,
                Field::NlbListener,
            ),
        };
        // The time and the client are what a handshake is placed by: a line without them is
        // no record of a connection.
        for field in [time_field, ip_field] {
            if present(value_of(&self.values, field)).is_none() {
                self.fault(field, "-", Fault::Invalid("every connection has one"), text);
                return Err(());
            }
        }
        let Some(handshake) = present(value_of(&self.values, handshake_field)) else {
            return Ok(None);
        };
        if kind == LogKind::AlbConnection
            && present(value_of(&self.values, Field::AlbTlsVerifyStatus)) != Some("Success")
        {
            // A failed connection's latency times a handshake that never completed.
            return Ok(None);
        }
        let typed = || -> Result<Typed, Fault> {
            let time = parse_time(value_of(&self.values, time_field).unwrap_or_default())?;
            let (client_ip, client_port) = match kind {
                LogKind::AlbConnection => (
                    parse_ip(value_of(&self.values, Field::AlbClientIp).unwrap_or_default())?,
                    parse_port(value_of(&self.values, Field::AlbClientPort).unwrap_or("0"))
                        .unwrap_or(0),
                ),
                LogKind::NlbAccess => parse_address_port(
                    value_of(&self.values, Field::NlbClientPort).unwrap_or_default(),
                )?,
            };
            let handshake_us = parse_duration_us(handshake, unit_us)?;
            let count = |field| {
                present(value_of(&self.values, field)).and_then(|value| parse_count(value).ok())
            };
            Ok(Typed {
                time,
                client_ip,
                client_port,
                listener: fields
                    .iter()
                    .position(|&f| f == listener_field)
                    .unwrap_or(0),
                handshake_us: u32::try_from(handshake_us).unwrap_or(u32::MAX),
                received_bytes: count(Field::NlbReceivedBytes),
                sent_bytes: count(Field::NlbSentBytes),
            })
        };
        // Every value was checked above: typing the ones used again cannot fail.
        typed().map(Some).map_err(|_| ())
    }

    fn fault(&mut self, field: Field, value: &str, fault: Fault, text: &str) {
        let (reason, detail) = match (field.kind(), fault) {
            (_, Fault::OutOfRange(detail)) => (Reason::OutOfRange, detail),
            (Kind::Ip | Kind::AddressPort, Fault::Invalid(detail)) => {
                (Reason::InvalidAddress, detail)
            }
            (Kind::Port | Kind::Count | Kind::Seconds | Kind::Millis, Fault::Invalid(detail)) => {
                (Reason::InvalidNumber, detail)
            }
            (_, Fault::Invalid(detail)) => (Reason::InvalidValue, detail),
        };
        self.set_reject(Some(field), reason, value, text.as_bytes());
        self.reject.detail = detail.into();
    }

    fn set_reject(&mut self, field: Option<Field>, reason: Reason, value: &str, text: &[u8]) {
        let reject = &mut self.reject;
        reject.line = self.line_no;
        reject.field = field;
        reject.reason = reason;
        reject.value = shorten(value);
        reject.text = shorten(&String::from_utf8_lossy(
            &text[..text.len().min(KEPT_CHARS * 4)],
        ));
        reject.detail.clear();
    }
}

/// A value that is there: `-` means "not applicable".
fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|value| *value != "-")
}

/// Checks one value against its field's kind; `-` is "not applicable" and always passes.
fn check(field: Field, value: &str, latest_time: i64) -> Result<(), Fault> {
    if value == "-" {
        return Ok(());
    }
    match field.kind() {
        Kind::Time => {
            let time = parse_time(value)?;
            if time < EARLIEST_TIME || time > latest_time {
                return Err(Fault::OutOfRange(
                    "before 2014 or more than a day after the object's delivery",
                ));
            }
        }
        Kind::Ip => {
            parse_ip(value)?;
        }
        Kind::Port => {
            parse_port(value)?;
        }
        Kind::AddressPort => {
            parse_address_port(value)?;
        }
        Kind::Seconds => {
            parse_duration_us(value, 1_000_000)?;
        }
        Kind::Millis => {
            parse_duration_us(value, 1_000)?;
        }
        Kind::Count => {
            parse_count(value)?;
        }
        Kind::Choice(words) => {
            if !words.contains(&value) {
                return Err(Fault::Invalid("not a documented value"));
            }
        }
        Kind::Text => {}
    }
    Ok(())
}

/// The log a line is from, by its shape: `tls <version> <time> …` is an NLB access log, `<time>
/// <address> …` an ALB connection log.
pub fn sniff_line(line: &[u8]) -> Option<LogKind> {
    let text = std::str::from_utf8(line).ok()?;
    let mut values = text.split(' ').filter(|value| !value.is_empty());
    let (first, second, third) = (values.next()?, values.next()?, values.next());
    if first == "tls" && third.is_some_and(|time| parse_time(time).is_ok()) {
        return Some(LogKind::NlbAccess);
    }
    if parse_time(first).is_ok() && parse_ip(second).is_ok() {
        return Some(LogKind::AlbConnection);
    }
    None
}

/// The log an object is from, by its first line, given its first bytes (gzip or text; a few
/// kilobytes are enough). `None` when the first line is not one of the two logs' or is not
/// within `head`.
pub fn sniff_object(head: &[u8]) -> Option<LogKind> {
    /// Decoded bytes looked at: far more than any first line of these logs.
    const LOOKED_AT: u64 = 16 * 1024;
    let mut text = Vec::new();
    if head.starts_with(GZIP_MAGIC) {
        // The head is usually a cut-off stream: take what decodes before the cut, and stop at
        // the first whole line that is not blank (every object is sniffed, and decoding all of
        // a small one's head showed in profiles).
        let mut decoder = GzDecoder::new(head).take(LOOKED_AT);
        let mut chunk = [0u8; 1024];
        while let Ok(n_read @ 1..) = decoder.read(&mut chunk) {
            let searched = text.len();
            text.extend_from_slice(&chunk[..n_read]);
            if text[searched..].contains(&b'\n') && has_whole_line(&text) {
                break;
            }
        }
    } else {
        text.extend_from_slice(&head[..head.len().min(LOOKED_AT as usize)]);
    }
    let text = text.strip_prefix(UTF8_BOM).unwrap_or(&text);
    let first_line = text
        .split(|&byte| byte == b'\n')
        .find(|line| !is_blank(line))?;
    // A first line cut by the end of `head` may still show its first values.
    sniff_line(first_line.strip_suffix(b"\r").unwrap_or(first_line))
}

/// True when `text` holds a line that is not blank, ended by a newline.
fn has_whole_line(text: &[u8]) -> bool {
    let text = text.strip_prefix(UTF8_BOM).unwrap_or(text);
    let mut lines = text.split(|&byte| byte == b'\n');
    // The last piece has no newline after it.
    lines.next_back();
    lines.any(|line| !is_blank(line))
}

/// True for a line of spaces and carriage returns only, which no log begins with.
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&byte| byte == b' ' || byte == b'\r')
}
