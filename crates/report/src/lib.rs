//! The tables of a range as one self-contained HTML page, after Internet Monitor's console: a
//! world map of city-networks, availability and traffic over time with health events shaded,
//! each event with its evidence, and the top ISPs, cities, countries and prefixes.
//!
//! # Overview
//!
//! - [`ReportBuilder`] sums `city_networks`, `client_prefixes` and `city_network_health`
//!   batches (in any order; only the columns it reads are decoded) around the `health_events`
//!   of the range into a [`Report`]. City-networks are grouped by their identity: service
//!   location and `city_network_id`.
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
    CLIENT_COLUMNS, CityNetworkView, EventView, HEALTH_COLUMNS, ImpactChart, PREFIX_COLUMNS,
    Report, ReportBuilder, TOP_N, TRAFFIC_COLUMNS, Top, TopKind, TopRow, WindowPoint,
};

use std::path::Path;

use flowatlas_tables::{WriteError, for_each_batch_of_columns, read_health_events};

/// The report of the tables under `data_dir` for `[from, to)` (Unix seconds; the data's own
/// span when `None`): the hour partitions of the range, batch by batch, only the columns the
/// page needs.
pub fn read_folder(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Report, WriteError> {
    let mut builder = ReportBuilder::new(from, to, read_health_events(data_dir, from, to)?);
    let table = |name: &str| data_dir.join(name);
    let city_columns = [CLIENT_COLUMNS, TRAFFIC_COLUMNS].concat();
    for_each_batch_of_columns(&table("city_networks"), from, to, &city_columns, |batch| {
        builder.add_city_networks(batch)
    })?;
    for_each_batch_of_columns(
        &table("client_prefixes"),
        from,
        to,
        PREFIX_COLUMNS,
        |batch| builder.add_prefixes(batch),
    )?;
    let health_columns = [CLIENT_COLUMNS, HEALTH_COLUMNS].concat();
    for_each_batch_of_columns(
        &table("city_network_health"),
        from,
        to,
        &health_columns,
        |batch| builder.add_health(batch),
    )?;
    Ok(builder.finish())
}
