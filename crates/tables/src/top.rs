//! The first questions people ask of the tables — which ISPs, cities, countries and client
//! prefixes carry the traffic — answered by reading the Parquet files directly with Arrow.

use std::collections::HashMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};

use crate::read::{files_in_range, for_each_batch_of_file};
use crate::{WriteError, city_networks, client_prefixes};

/// What to rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopBy {
    /// Client AS (ISP).
    Asn,
    /// Client city (with subdivision and country).
    City,
    /// Client country.
    Country,
    /// Client prefix.
    Prefix,
}

/// One ranked entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopEntry {
    /// What it is, e.g. `AS64500 Sample Cable Co` or `Milton, Washington, US`.
    pub label: String,
    /// Bytes from the clients.
    pub bytes_in: i64,
    /// Bytes to the clients.
    pub bytes_out: i64,
    /// Flow records.
    pub flows: i64,
    /// Rejected flow records.
    pub rejected_flows: i64,
}

impl TopEntry {
    /// Bytes in and out, saturating at `i64::MAX` like every sum of measures.
    pub fn bytes(&self) -> i64 {
        self.bytes_in.saturating_add(self.bytes_out)
    }
}

/// The ranking and the totals it is a share of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopReport {
    /// The first entries, most bytes first.
    pub entries: Vec<TopEntry>,
    /// Bytes in and out over everything read.
    pub total_bytes: i64,
    /// Files read.
    pub n_files: usize,
}

/// The columns that identify and label an entry ranked by `by` (see [`identity_of`] and
/// [`label_of`]); the performance tables carry the same client columns.
pub(crate) fn key_columns(by: TopBy) -> &'static [&'static str] {
    match by {
        TopBy::Asn => &["client_asn", "client_as_name"],
        TopBy::City => &[
            "client_city",
            "client_subdivision",
            "client_country_code",
            "client_geoname_id",
            "client_subdivision_code",
        ],
        TopBy::Country => &["client_country_code", "client_country"],
        TopBy::Prefix => &["client_prefix", "client_as_name"],
    }
}

/// A row's key columns as text (integers written out); `None` where null or missing.
pub(crate) fn key_parts(
    batch: &RecordBatch,
    key_columns: &[&str],
    row: usize,
) -> Vec<Option<String>> {
    key_columns
        .iter()
        .map(|name| {
            let column = batch.column_by_name(name)?;
            if column.is_null(row) {
                return None;
            }
            if let Some(ints) = column.as_primitive_opt::<Int64Type>() {
                return Some(ints.value(row).to_string());
            }
            column
                .as_string_opt::<i32>()
                .map(|texts| texts.value(row).to_string())
        })
        .collect()
}

/// Ranks clients by traffic over the windows in `[from, to)` (Unix seconds; open when `None`).
pub fn top(
    data_dir: &Path,
    by: TopBy,
    from: Option<i64>,
    to: Option<i64>,
    n: usize,
) -> Result<TopReport, WriteError> {
    let table = match by {
        TopBy::Asn | TopBy::City | TopBy::Country => city_networks().definition(),
        TopBy::Prefix => client_prefixes().definition(),
    };
    let key_columns = key_columns(by);
    let wanted: Vec<&str> = key_columns
        .iter()
        .copied()
        .chain([
            "window_start",
            "bytes_in",
            "bytes_out",
            "flows",
            "rejected_flows",
        ])
        .collect();
    let files = files_in_range(&data_dir.join(table.name), from, to)?;
    let mut totals: HashMap<String, TopEntry> = HashMap::new();
    for path in &files {
        for_each_batch_of_file(path, &table, Some(&wanted), |batch| {
            add_batch(batch, by, key_columns, from, to, &mut totals);
        })?;
    }
    let total_bytes = totals
        .values()
        .fold(0i64, |sum, entry| sum.saturating_add(entry.bytes()));
    let mut entries: Vec<TopEntry> = totals.into_values().collect();
    entries.sort_by(|a, b| {
        b.bytes()
            .cmp(&a.bytes())
            .then_with(|| a.label.cmp(&b.label))
    });
    entries.truncate(n);
    Ok(TopReport {
        entries,
        total_bytes,
        n_files: files.len(),
    })
}

fn add_batch(
    batch: &RecordBatch,
    by: TopBy,
    key_columns: &[&str],
    from: Option<i64>,
    to: Option<i64>,
    totals: &mut HashMap<String, TopEntry>,
) {
    let int = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|column| column.as_primitive_opt::<Int64Type>().cloned())
    };
    let (Some(bytes_in), Some(bytes_out), Some(flows), Some(rejected)) = (
        int("bytes_in"),
        int("bytes_out"),
        int("flows"),
        int("rejected_flows"),
    ) else {
        return;
    };
    let windows = batch.column_by_name("window_start").and_then(|column| {
        column
            .as_primitive_opt::<TimestampMillisecondType>()
            .cloned()
    });
    for row in 0..batch.num_rows() {
        if let Some(windows) = &windows {
            let seconds = windows.value(row) / 1000;
            if from.is_some_and(|from| seconds < from) || to.is_some_and(|to| seconds >= to) {
                continue;
            }
        }
        let parts = key_parts(batch, key_columns, row);
        let entry = totals
            .entry(identity_of(by, &parts))
            .or_insert_with(|| TopEntry {
                label: label_of(by, &parts),
                bytes_in: 0,
                bytes_out: 0,
                flows: 0,
                rejected_flows: 0,
            });
        // Saturating, as the rollup's sums: a total that reached i64::MAX reads "at least".
        entry.bytes_in = entry.bytes_in.saturating_add(bytes_in.value(row));
        entry.bytes_out = entry.bytes_out.saturating_add(bytes_out.value(row));
        entry.flows = entry.flows.saturating_add(flows.value(row));
        entry.rejected_flows = entry.rejected_flows.saturating_add(rejected.value(row));
    }
}

/// What makes rows one entry: the AS number, the place (its GeoNames id where the database has
/// one, else country, subdivision and city: never the coordinates), the country code or the
/// prefix; names only where the number or code is unknown.
pub(crate) fn identity_of(by: TopBy, parts: &[Option<String>]) -> String {
    let part = |idx: usize| parts.get(idx).cloned().flatten().unwrap_or_default();
    match by {
        TopBy::Asn | TopBy::Country | TopBy::Prefix => match parts.first().cloned().flatten() {
            Some(key) => key,
            None => format!("\u{1f}{}", part(1)),
        },
        TopBy::City => match parts.get(3).cloned().flatten() {
            Some(geoname_id) => format!("geoname:{geoname_id}"),
            None => {
                let subdivision = parts.get(4).cloned().flatten().unwrap_or_else(|| part(1));
                format!("{}|{subdivision}|{}", part(2), part(0))
            }
        },
    }
}

/// How an entry is shown: the names of the first row of it read.
pub(crate) fn label_of(by: TopBy, parts: &[Option<String>]) -> String {
    let part = |idx: usize| parts.get(idx).cloned().flatten();
    let unknown = || "(unknown)".to_string();
    match by {
        TopBy::Asn => match (part(0), part(1)) {
            (Some(asn), Some(name)) => format!("AS{asn} {name}"),
            (Some(asn), None) => format!("AS{asn}"),
            (None, Some(name)) => name,
            (None, None) => unknown(),
        },
        TopBy::City => {
            let known: Vec<String> = (0..3).filter_map(part).collect();
            if known.is_empty() {
                unknown()
            } else {
                known.join(", ")
            }
        }
        TopBy::Country => match (part(0), part(1)) {
            (Some(code), Some(name)) => format!("{code} {name}"),
            (Some(code), None) => code,
            (None, Some(name)) => name,
            (None, None) => unknown(),
        },
        TopBy::Prefix => match (part(0), part(1)) {
            (Some(prefix), Some(name)) => format!("{prefix} ({name})"),
            (Some(prefix), None) => prefix,
            (None, _) => unknown(),
        },
    }
}
