//! The tables of a range as one self-contained HTML page, after Internet Monitor's console: a
//! world map of city-networks, availability, performance and traffic over time with health
//! events shaded, each event with its evidence, the round-trip times of the city-networks
//! measured (per source, never mixed), and the top ISPs, cities, countries and prefixes.
//!
//! # Overview
//!
//! - [`ReportBuilder`] sums `city_networks`, `client_prefixes` and `city_network_health`
//!   batches (in any order; only the columns it reads are decoded) and merges the RTT
//!   histograms of `city_network_performance` around the `health_events` of the range into a
//!   [`Report`]. City-networks are grouped by their identity: service
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
    PrefixRanking, Report, ReportBuilder, RttView, TOP_N, TRAFFIC_COLUMNS, Top, TopKind, TopRow,
    WindowPoint,
};

use std::path::Path;

use arrow_array::RecordBatch;
use flowatlas_tables::{
    WriteError, city_network_health, city_networks, client_prefixes, for_each_batch_of_columns,
    for_each_city_network_performance, read_health_events,
};

/// The report of the tables under `data_dir` for `[from, to)` (Unix seconds; the data's own
/// span when `None`): the hour partitions of the range, batch by batch, only the columns the
/// page needs.
pub fn read_folder(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Report, WriteError> {
    let mut builder = ReportBuilder::new(from, to, read_health_events(data_dir, from, to)?);
    let city_columns = [CLIENT_COLUMNS, TRAFFIC_COLUMNS].concat();
    let health_columns = [CLIENT_COLUMNS, HEALTH_COLUMNS].concat();
    let (city_table, health_table) = (city_networks(), city_network_health());
    let reads = [
        (Part::CityNetworks, city_table.definition(), &city_columns),
        (Part::Health, health_table.definition(), &health_columns),
    ];
    let mut prefixes = builder.prefix_ranking();
    // Prefixes are ranked from their own table, apart from everything else: one thread sums
    // them. Decoding Parquet is independent of the sums: another decodes the city-network
    // and health batches while this one adds them, in the order one thread would (the page
    // is the same).
    let (sender, batches) = std::sync::mpsc::sync_channel::<(Part, RecordBatch)>(8);
    std::thread::scope(|scope| {
        let prefix_sums = scope.spawn(|| {
            let table = client_prefixes();
            let table = table.definition();
            for_each_batch_of_columns(data_dir, &table, from, to, PREFIX_COLUMNS, |batch| {
                prefixes.add(batch)
            })
        });
        let decoder = scope.spawn(move || {
            for (part, table, columns) in reads {
                for_each_batch_of_columns(data_dir, &table, from, to, columns, |batch| {
                    // A send fails only when the receiving side has already given up.
                    let _ = sender.send((part, batch.clone()));
                })?;
            }
            Ok(())
        });
        for (part, batch) in batches {
            match part {
                Part::CityNetworks => builder.add_city_networks(&batch),
                Part::Health => builder.add_health(&batch),
            }
        }
        let join = |thread: std::thread::ScopedJoinHandle<'_, Result<(), WriteError>>| {
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        join(decoder).and(join(prefix_sums))
    })?;
    builder.set_prefixes(prefixes);
    // Round-trip times are few rows (one per window, city-network and source measured): read
    // after the rest, histograms merged as they are decoded.
    for_each_city_network_performance(data_dir, from, to, |row| builder.add_performance(&row))?;
    Ok(builder.finish())
}

/// Which table a decoded batch belongs to.
#[derive(Clone, Copy)]
enum Part {
    CityNetworks,
    Health,
}
