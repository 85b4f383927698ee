//! Reads AWS VPC and Transit Gateway flow logs — every field of every version, any custom
//! format, gzip or plain text or Parquet — into typed records, and accounts for every record.
//!
//! # Overview
//!
//! - [`Field`] is the catalogue: each AWS field with its version and [`Kind`].
//! - [`Format`] is the ordered field list of a log. It comes from [`Options::format`], else the
//!   object's header line, else the 14-field version 2 default (Parquet: the column names).
//! - [`Reader`] turns one object's bytes into [`Entry`] values: a [`Record`] (OK, NODATA or
//!   SKIPDATA) or a [`Reject`] naming the line, the field and the [`Reason`]. Only I/O failures
//!   and an unknowable format are errors. [`Counts`] always satisfy
//!   `read == ok + skipped + rejected`.
//!
//! ```
//! use flowatlas_flowlog::{Entry, Field, Options, Reader};
//!
//! let log = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
//! 2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK
//! 2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA
//! 2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 notaport 6 20 4249 1418530010 1418530070 REJECT OK
//! ";
//! let mut reader = Reader::new(log.as_bytes(), &Options::default())?;
//! while let Some(entry) = reader.next_entry()? {
//!     match entry {
//!         Entry::Record(record) => assert!(record.int(Field::Start).is_some()),
//!         Entry::Reject(reject) => {
//!             assert_eq!(reject.to_string(), r#"line 4: field `dstport`: invalid_number "notaport""#)
//!         }
//!     }
//! }
//! let counts = reader.counts();
//! assert_eq!((counts.read, counts.ok, counts.skipped, counts.rejected), (3, 1, 1, 1));
//! # Ok::<(), flowatlas_flowlog::Error>(())
//! ```
#![deny(missing_docs)]

mod error;
mod field;
mod format;
mod lines;
mod parquet_rows;
mod reader;
mod record;
mod reject;
mod value;

pub use error::Error;
pub use field::{ACTION_VALUES, FLOW_DIRECTION_VALUES, Field, Kind, LOG_STATUS_VALUES, N_FIELDS};
pub use format::{Format, FormatError};
pub use lines::{LineEvent, Lines};
pub use reader::{Counts, Entry, Options, Reader};
pub use record::{LogStatus, Record, Value};
pub use reject::{KEPT_CHARS, Reason, Reject, shorten};
pub use value::EARLIEST_TIME;
