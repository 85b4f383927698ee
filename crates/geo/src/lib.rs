//! Who is on the other end of each flow: which side is the internet peer, what kind of peer it
//! is, and its ASN, AS name and place from the mmdb databases users already have.
//!
//! # Overview
//!
//! - [`PeerRules`] says which addresses are local (special ranges plus the user's own CIDRs) and
//!   which belong to AWS; a [`PeerFinder`] applies them to each [`flowatlas_flowlog::Record`] of
//!   an object and returns a [`Peer`]: side, [`PeerKind`], address and [`Direction`].
//! - [`Databases`] opens the ASN and geo databases of any supported vendor (memory-mapped, shared
//!   across threads) plus a CSV of user overrides; [`Enricher`] answers [`Enrichment`]s with a
//!   cache keyed by matched network, and keeps [`EnrichStats`].
//! - [`FactField`] is the catalogue of [`Facts`]: the one list the tables' client and peer
//!   columns and `parse`'s JSON are made from.
//! - [`write_mmdb`] builds `.mmdb` files from JSON, for test and demo databases.
#![deny(missing_docs)]

mod enrich;
mod fact_field;
mod mmdb;
mod mmdb_writer;
mod peer;
mod prefix_map;

pub use enrich::{Databases, EnrichStats, Enricher, Enrichment, GeoConfig, GeoError};
pub use fact_field::{FactField, FactInput, FactKind, FactValue};
pub use ipnetwork::IpNetwork;
pub use mmdb::{Database, DbError, Facts, Provides};
pub use mmdb_writer::{WriteError, write_mmdb};
pub use peer::{Direction, Peer, PeerFinder, PeerKind, PeerRules, RulesError, Side};
pub use prefix_map::PrefixMap;
