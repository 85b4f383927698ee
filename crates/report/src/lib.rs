//! The tables of a range as one self-contained HTML page, after Internet Monitor's console: a
//! world map of city-networks, availability and traffic over time with health events shaded,
//! each event with its evidence, and the top ISPs, cities, countries and prefixes.
//!
//! # Overview
//!
//! - [`ReportBuilder`] sums `city_networks`, `client_prefixes` and `city_network_health` rows
//!   (in batches, in any order) around the `health_events` of the range into a [`Report`].
//!   City-networks are grouped by one key, [`city_network_key`].
//! - [`render`] writes the [`Report`] as one HTML document: style, script, SVG charts and the
//!   map inline (country outlines from Natural Earth, embedded at build time), all text
//!   escaped, and a Content-Security-Policy that allows no request to any host.
//! - [`read_folder`] builds the report of a folder of tables for a range; an empty range gives
//!   a report that renders as a "no data in this range" page.
#![deny(missing_docs)]

mod format;
mod html;
mod model;
mod svg;
mod world;

pub use html::render;
pub use model::{
    CityNetworkView, EventView, ImpactChart, Report, ReportBuilder, TOP_N, Top, TopKind, TopRow,
    WindowPoint, city_network_key,
};

use std::path::Path;

use flowatlas_tables::{
    WriteError, read_city_network_health, read_city_networks, read_client_prefixes,
    read_health_events,
};

/// The report of the tables under `data_dir` for `[from, to)` (Unix seconds; the data's own
/// span when `None`).
pub fn read_folder(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Report, WriteError> {
    let mut builder = ReportBuilder::new(from, to, read_health_events(data_dir, from, to)?);
    builder.add_city_networks(&read_city_networks(data_dir, from, to)?);
    builder.add_prefixes(&read_client_prefixes(data_dir, from, to)?);
    builder.add_health(&read_city_network_health(data_dir, from, to)?);
    Ok(builder.finish())
}
