//! Typed records, borrowed from the reader's buffers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::field::Field;
use crate::format::Format;
use crate::value::Typed;

/// A parsed value. `-` in the log is `Absent`, never 0 or "".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'r> {
    /// The field is `-`, null, or not in the format.
    Absent,
    /// An integer (ports, counts, codes; timestamps in Unix seconds).
    Int(i64),
    /// An address.
    Ip(IpAddr),
    /// Text, including the closed-set words of `action`, `log-status` and `flow-direction`.
    Text(&'r str),
}

/// What a value of a record is, stored without a borrow so the reader can keep it between lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Absent,
    Int(i64),
    /// An IPv4 address's bits (see [`Typed::V4`]).
    V4(u32),
    V6(Ipv6Addr),
    /// A closed set's word (`action`, `log-status`, `flow-direction`).
    Word(&'static str),
    /// Byte range in the reader's text buffer.
    Text {
        start: u32,
        end: u32,
    },
}

impl Slot {
    /// Where a typed value is kept; `span` is where text is in the buffer.
    #[inline]
    pub(crate) fn of(typed: Typed, span: Range<usize>) -> Slot {
        match typed {
            Typed::Absent => Slot::Absent,
            Typed::Int(int) => Slot::Int(int),
            Typed::V4(bits) => Slot::V4(bits),
            Typed::V6(v6) => Slot::V6(v6),
            Typed::Word(word) => Slot::Word(word),
            Typed::Text => Slot::Text {
                start: span.start as u32,
                end: span.end as u32,
            },
        }
    }
}

/// What `log-status` says of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStatus {
    /// Traffic was logged (also assumed when the format has no `log-status`).
    Ok,
    /// No traffic on the interface in the interval.
    NoData,
    /// AWS dropped records in the interval.
    SkipData,
}

/// One record, valid until the reader moves on.
#[derive(Clone, Copy, Debug)]
pub struct Record<'r> {
    pub(crate) format: &'r Format,
    pub(crate) slots: &'r [Slot],
    /// The text slots point into.
    pub(crate) text: &'r str,
    pub(crate) line: u64,
}

impl<'r> Record<'r> {
    /// The record's line in its object (Parquet: its 1-based row).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The record's format.
    pub fn format(&self) -> &'r Format {
        self.format
    }

    /// The value of a field; `Absent` also when the format does not have it.
    #[inline]
    pub fn get(&self, field: Field) -> Value<'r> {
        match self.format.position(field) {
            Some(position) => self.value_at(position),
            None => Value::Absent,
        }
    }

    #[inline]
    fn value_at(&self, position: usize) -> Value<'r> {
        match self.slots[position] {
            Slot::Absent => Value::Absent,
            Slot::Int(int) => Value::Int(int),
            Slot::V4(bits) => Value::Ip(IpAddr::V4(Ipv4Addr::from_bits(bits))),
            Slot::V6(v6) => Value::Ip(IpAddr::V6(v6)),
            Slot::Word(word) => Value::Text(word),
            Slot::Text { start, end } => Value::Text(
                self.text
                    .get(start as usize..end as usize)
                    .unwrap_or_default(),
            ),
        }
    }

    /// An integer field's value.
    #[inline]
    pub fn int(&self, field: Field) -> Option<i64> {
        match self.get(field) {
            Value::Int(int) => Some(int),
            _ => None,
        }
    }

    /// An address field's value.
    #[inline]
    pub fn ip(&self, field: Field) -> Option<IpAddr> {
        match self.get(field) {
            Value::Ip(ip) => Some(ip),
            _ => None,
        }
    }

    /// A text field's value.
    #[inline]
    pub fn text(&self, field: Field) -> Option<&'r str> {
        match self.get(field) {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The record's `log-status`; `Ok` when the format has none.
    pub fn status(&self) -> LogStatus {
        let Some(position) = self.format.position(Field::LogStatus) else {
            return LogStatus::Ok;
        };
        match self.slots[position] {
            Slot::Word("NODATA") => LogStatus::NoData,
            Slot::Word("SKIPDATA") => LogStatus::SkipData,
            _ => LogStatus::Ok,
        }
    }

    /// Every field of the format with its value, in record order.
    pub fn values(&self) -> impl Iterator<Item = (Field, Value<'r>)> + '_ {
        self.format
            .fields()
            .iter()
            .enumerate()
            .map(|(position, &field)| (field, self.value_at(position)))
    }
}

/// What one step produced, without borrowing, so the borrow is made once at the end.
pub(crate) enum Outcome {
    Record {
        line: u64,
        text: Range<usize>,
    },
    Reject,
    /// One reject standing for several records (a Parquet row group that cannot be read).
    RejectRows(u64),
    End,
}
