//! Rejected records: where, which field, and why.

use std::fmt;

use crate::field::Field;

/// Why a record was rejected. The set is closed, so the snake_case name can tag a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Fewer values than the format has fields.
    TooFewFields,
    /// More values than the format has fields.
    TooManyFields,
    /// A number field holds something that is not a non-negative integer.
    InvalidNumber,
    /// A number that does not fit its field (a port above 65535, say).
    OutOfRange,
    /// An address field holds something that is not an IPv4 or IPv6 address.
    InvalidAddress,
    /// A closed-set field (`action`, `log-status`, `flow-direction`) holds another word.
    InvalidValue,
    /// The line is not UTF-8.
    InvalidUtf8,
    /// The line is longer than the reader's limit.
    LineTooLong,
    /// The compressed stream ends early or is corrupt; what follows this line is lost.
    TruncatedInput,
}

impl Reason {
    /// Every reason, for reports that list counts by reason.
    pub const ALL: &'static [Reason] = &[
        Reason::TooFewFields,
        Reason::TooManyFields,
        Reason::InvalidNumber,
        Reason::OutOfRange,
        Reason::InvalidAddress,
        Reason::InvalidValue,
        Reason::InvalidUtf8,
        Reason::LineTooLong,
        Reason::TruncatedInput,
    ];

    /// The reason's stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::TooFewFields => "too_few_fields",
            Reason::TooManyFields => "too_many_fields",
            Reason::InvalidNumber => "invalid_number",
            Reason::OutOfRange => "out_of_range",
            Reason::InvalidAddress => "invalid_address",
            Reason::InvalidValue => "invalid_value",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::LineTooLong => "line_too_long",
            Reason::TruncatedInput => "truncated_input",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rejected record. A Parquet row group that cannot be read is one reject standing for all
/// of its rows (counted as that many), from its first row's number; its detail says so. The
/// field type is a parameter so that every log reader's rejects (load-balancer logs have their
/// own catalogue) share one shape and one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject<F = Field> {
    /// Line in the object (Parquet: 1-based row).
    pub line: u64,
    /// The field at fault, when one is.
    pub field: Option<F>,
    /// Why the record was rejected.
    pub reason: Reason,
    /// The offending value (or, for field-count errors, the count), shortened.
    pub value: String,
    /// What the record's text was, shortened; empty when there was none (Parquet rows).
    pub text: String,
    /// Extra words for the message, e.g. the expected field count.
    pub detail: String,
}

/// Longest value and line kept in a reject, so a bad multi-megabyte line costs little memory.
pub const KEPT_CHARS: usize = 512;

/// `text`, cut to [`KEPT_CHARS`] characters with an ellipsis.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(KEPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

impl<F: fmt::Display> fmt::Display for Reject<F> {
    /// `line 7: field `srcaddr`: invalid_address "x"` — the caller prefixes the object.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.reason)?;
        if !self.value.is_empty() {
            write!(f, " {:?}", self.value)?;
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}
