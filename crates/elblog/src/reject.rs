//! Rejected lines: where, which field, and why. Reasons are flow logs' closed set
//! ([`Reason`]), so counts by reason and their metric tags are the same for every source.

use std::fmt;

use flowatlas_flowlog::{Reason, write_reject};

use crate::field::Field;

/// A rejected line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// Line in the object.
    pub line: u64,
    /// The field at fault, when one is.
    pub field: Option<Field>,
    /// Why the line was rejected.
    pub reason: Reason,
    /// The offending value (or, for field-count errors, the count), shortened.
    pub value: String,
    /// The line's text, shortened.
    pub text: String,
    /// Extra words for the message.
    pub detail: String,
}

impl fmt::Display for Reject {
    /// `line 7: field `client_ip`: invalid_address "x" (not an IPv4 or IPv6 address)` — the
    /// caller prefixes the object.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field.map(Field::aws_name);
        write_reject(f, self.line, field, self.reason, &self.value, &self.detail)
    }
}
