//! Rejected lines: where, which field, and why — flow logs' [`flowatlas_flowlog::Reject`] shape
//! and closed set of reasons, with this crate's fields, so counts by reason, metric tags and
//! messages are the same for every source.

use crate::field::Field;

/// A rejected line: line, field of the load-balancer log, reason, value, text and detail.
pub type Reject = flowatlas_flowlog::Reject<Field>;
