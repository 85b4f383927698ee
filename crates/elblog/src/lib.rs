//! Reads Elastic Load Balancing logs that time clients' TLS handshakes — Application Load
//! Balancer connection logs and Network Load Balancer access logs — into one handshake per
//! client connection, and accounts for every line.
//!
//! # Overview
//!
//! - [`Field`] is the catalogue: every documented field of both logs with its [`Kind`];
//!   [`LogKind::fields`] gives a log's fields in their documented order.
//! - [`parse_key`] reads AWS's key layout (`AWSLogs/<account>/elasticloadbalancing/<region>/
//!   yyyy/mm/dd/<file>`): the account, the Region, the load balancer and which log the file
//!   name says it is. [`sniff_object`] tells the log by content when there is no layout.
//! - [`Reader`] turns one object's bytes (gzip or text) into [`Entry`] values: a
//!   [`Handshake`], a [`Skip`] (a well-formed line without a handshake time: not TLS, or a
//!   failed handshake) or a [`Reject`] naming the line, the field and the reason. Only I/O
//!   failures and content that is neither log are errors. Counts always satisfy
//!   `read == ok + skipped + rejected`, `ok` being handshakes.
//!
//! A TLS handshake time is about one round trip plus both ends' processing (the client's
//! and the load balancer's crypto, certificate checks): a proxy for the round-trip time, never
//! to be mixed with a kernel's smoothed RTT in one percentile.
//!
//! ```
//! use flowatlas_elblog::{Entry, LogKind, Options, Reader};
//!
//! let log = "2026-06-01T12:00:01.104392Z 203.0.113.7 50312 443 TLSv1.3 TLS_AES_128_GCM_SHA256 0.042 - - - Success TID_1
//! 2026-06-01T12:00:02.530110Z 203.0.113.9 50313 80 - - - - - - - TID_2
//! 2026-06-01T12:00:03.000001Z 203.0.113.x 50314 443 TLSv1.3 TLS_AES_128_GCM_SHA256 0.051 - - - Success TID_3
//! ";
//! let mut reader = Reader::new(log.as_bytes(), &Options::default())?;
//! while let Some(entry) = reader.next_entry()? {
//!     match entry {
//!         Entry::Handshake(handshake) => assert_eq!(handshake.handshake_us, 42_000),
//!         Entry::Skip(skip) => assert_eq!(skip.line, 2),
//!         Entry::Reject(reject) => assert_eq!(
//!             reject.to_string(),
//!             r#"line 3: field `client_ip`: invalid_address "203.0.113.x" (not an IPv4 or IPv6 address)"#
//!         ),
//!     }
//! }
//! assert_eq!(reader.kind(), Some(LogKind::AlbConnection));
//! let counts = reader.counts();
//! assert_eq!((counts.read, counts.ok, counts.skipped, counts.rejected), (3, 1, 1, 1));
//! # Ok::<(), flowatlas_elblog::Error>(())
//! ```
#![deny(missing_docs)]

mod field;
mod layout;
mod reader;
mod reject;
mod value;

pub use field::{Field, Kind, LogKind, NLB_TYPE_VALUES};
pub use layout::{ElbFile, ElbKey, parse_key};
pub use reader::{Entry, Error, Handshake, Options, Reader, Skip, sniff_line, sniff_object};
pub use reject::Reject;
