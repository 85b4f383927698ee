//! Reading rollup rows back from the tables for a time range, for engines that work on rows
//! (health). Only the partitions in the range are opened; columns are found by name.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use flowatlas_geo::{FactField, FactInput, FactKind, Facts};
use flowatlas_health::{
    CityNetwork, CityNetworkHealth, Identity, ImpactType, Method, PerformanceHealth, RatioEvidence,
    RoundTripTime, Signal, Status,
};
use flowatlas_rollup::{CityNetworkRow, Measures, PrefixRow, RttSource, ServiceLocation};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;

use crate::{
    TableDefinition, WriteError, city_network_health, city_networks, client_prefixes,
    health_events, partition_of,
};

/// The `city_networks` rows of the windows in `[from, to)` (Unix seconds; open when `None`).
pub fn read_city_networks(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<CityNetworkRow>, WriteError> {
    let table = city_networks().definition();
    read_rows(data_dir, &table, from, to, city_network_row)
}

/// One `city_networks` row of a batch.
pub(crate) fn city_network_row(
    columns: &Columns<'_>,
    row: usize,
    texts: &mut Texts,
) -> Option<CityNetworkRow> {
    Some(CityNetworkRow {
        window_start: columns.seconds(row),
        location: columns.location(row, texts),
        client: columns.client(row, texts),
        measures: columns.measures(row),
        client_ips: columns.int64("client_ips", row).unwrap_or(0),
    })
}

/// The `client_prefixes` rows of the windows in `[from, to)` (Unix seconds; open when `None`).
/// Rows whose prefix does not parse are skipped: the writer never writes one.
pub fn read_client_prefixes(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<PrefixRow>, WriteError> {
    let table = client_prefixes().definition();
    read_rows(data_dir, &table, from, to, prefix_row)
}

/// One `client_prefixes` row of a batch; `None` when its prefix does not parse.
pub(crate) fn prefix_row(
    columns: &Columns<'_>,
    row: usize,
    texts: &mut Texts,
) -> Option<PrefixRow> {
    let client_prefix = columns.text("client_prefix", row)?.parse().ok()?;
    Some(PrefixRow {
        window_start: columns.seconds(row),
        location: columns.location(row, texts),
        client_prefix,
        city_network_id: texts
            .get(columns.text("city_network_id", row))
            .unwrap_or_else(|| Arc::from("")),
        client_asn: columns.int64("client_asn", row).map(|asn| asn as u32),
        client_as_name: texts.get(columns.text("client_as_name", row)),
        client_country_code: texts.get(columns.text("client_country_code", row)),
        client_city: texts.get(columns.text("client_city", row)),
        measures: columns.measures(row),
        client_ips: columns.int64("client_ips", row).unwrap_or(0),
    })
}

/// The `city_network_health` rows of the windows in `[from, to)` (Unix seconds; open when
/// `None`). Rows of one city-network share one `Arc<CityNetwork>`.
pub fn read_city_network_health(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<CityNetworkHealth>, WriteError> {
    // One `Arc` per city-network, replaced when its attributes change between files.
    let mut city_networks: HashMap<Identity, Arc<CityNetwork>> = HashMap::new();
    let table = city_network_health().definition();
    read_rows(data_dir, &table, from, to, |columns, row, texts| {
        let city_network = CityNetwork {
            account_id: texts.get(columns.text("account_id", row)),
            region: texts.get(columns.text("region", row)),
            client: columns.client(row, texts),
        };
        let city_network = match city_networks.get(&city_network.identity()) {
            Some(shared) if **shared == city_network => shared.clone(),
            _ => {
                let shared = Arc::new(city_network);
                city_networks.insert(shared.identity(), shared.clone());
                shared
            }
        };
        Some(CityNetworkHealth {
            window_start: columns.seconds(row),
            city_network,
            observed_bytes: columns.int64("observed_bytes", row).unwrap_or(0),
            expected_bytes: columns.int64("expected_bytes", row),
            baseline: columns.text("baseline", row).and_then(Method::from_name),
            history_days: columns.int32("history_days", row).unwrap_or(0),
            demand_scale: columns.double("demand_scale", row),
            window_demand: columns.double("window_demand", row),
            availability_score: columns.double("availability_score", row),
            performance_score: columns.double("performance_score", row),
            percent_of_client_location_impacted: columns
                .double("percent_of_client_location_impacted", row),
            percent_of_total_traffic_impacted: columns
                .double("percent_of_total_traffic_impacted", row),
            percent_of_total_traffic: columns
                .double("percent_of_total_traffic", row)
                .unwrap_or(0.0),
            unanswered_out: columns.ratio(
                "unanswered_out_percent",
                "unanswered_out_expected_percent",
                row,
            ),
            unanswered_in: columns.ratio(
                "unanswered_in_percent",
                "unanswered_in_expected_percent",
                row,
            ),
            reset: columns.ratio("reset_percent", "reset_expected_percent", row),
            rejected: columns.ratio("rejected_percent", "rejected_expected_percent", row),
            impact_signal: columns
                .text("impact_signal", row)
                .and_then(Signal::from_name),
            performance: columns.performance_health(row),
        })
    })
}

/// A `health_events` row as the table holds it: the impacted city-networks are their labels
/// ([`CityNetwork::label`]), the ASNs, prefixes and signals plain lists.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthEventRecord {
    /// `<start>/<impact type>-<place>`.
    pub event_id: String,
    /// Overall or local.
    pub impact_type: ImpactType,
    /// Active or resolved at the end of the assessed range.
    pub status: Status,
    /// Start of the first impacted window, Unix seconds.
    pub started_at: i64,
    /// End of the window after which it was raised, Unix seconds.
    pub detected_at: i64,
    /// End of the last impacted window, once resolved.
    pub ended_at: Option<i64>,
    /// The threshold in force.
    pub health_score_threshold: f64,
    /// Mean share of all traffic impacted, percent.
    pub percent_of_total_traffic_impacted: f64,
    /// Highest share of all traffic impacted in one window, percent.
    pub peak_percent_of_total_traffic_impacted: f64,
    /// Lowest score in one window.
    pub lowest_availability_score: f64,
    /// How many windows the event judged as impacted.
    pub impacted_windows: i64,
    /// Bytes the impacted city-networks were expected to carry.
    pub expected_bytes: i64,
    /// Bytes they carried.
    pub observed_bytes: i64,
    /// Signals that showed impact (names that do not parse are left out).
    pub signals: Vec<Signal>,
    /// AS numbers of the impacted city-networks.
    pub impacted_asns: Vec<u32>,
    /// Labels of the impacted city-networks, most impacted first.
    pub impacted_city_networks: Vec<String>,
    /// Their `city_network_id`s, in the same order: what identifies them (labels may repeat).
    pub impacted_city_network_ids: Vec<String>,
    /// Client prefixes whose traffic fell short (availability) or was degraded (performance).
    pub impacted_prefixes: Vec<String>,
    /// Performance events: the RTT source judged.
    pub rtt_source: Option<RttSource>,
    /// Performance events: the most impacted city-network's RTT in its worst window.
    pub round_trip_time: Option<RoundTripTime>,
    /// ... and what was expected.
    pub expected_round_trip_time: Option<RoundTripTime>,
    /// ... and its retransmissions, percent, now and expected.
    pub retransmission: RatioEvidence,
}

impl HealthEventRecord {
    /// Whether the event covers any time in `[from, to)` (open when `None`).
    pub fn overlaps(&self, from: Option<i64>, to: Option<i64>) -> bool {
        to.is_none_or(|to| self.started_at < to)
            && from.is_none_or(|from| self.ended_at.is_none_or(|end| end > from))
    }
}

/// The `health_events` rows of events that cover any time in `[from, to)`, by start. Files are
/// partitioned by start, so every partition before `to` is read: an event may start long
/// before the range it still covers.
pub fn read_health_events(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<HealthEventRecord>, WriteError> {
    let mut events = Vec::new();
    for_each_batch(data_dir, &health_events().definition(), None, to, |batch| {
        let columns = Columns { batch };
        for row in 0..batch.num_rows() {
            let (Some(event_id), Some(impact_type), Some(status), Some(started_at)) = (
                columns.text("event_id", row),
                columns
                    .text("impact_type", row)
                    .and_then(ImpactType::from_name),
                columns.text("status", row).and_then(Status::from_name),
                columns.timestamp("started_at", row),
            ) else {
                continue;
            };
            let double = |name| columns.double(name, row).unwrap_or(0.0);
            let int = |name| columns.int64(name, row).unwrap_or(0);
            let event = HealthEventRecord {
                event_id: event_id.to_string(),
                impact_type,
                status,
                started_at,
                detected_at: columns.timestamp("detected_at", row).unwrap_or(started_at),
                ended_at: columns.timestamp("ended_at", row),
                health_score_threshold: double("health_score_threshold"),
                percent_of_total_traffic_impacted: double("percent_of_total_traffic_impacted"),
                peak_percent_of_total_traffic_impacted: double(
                    "peak_percent_of_total_traffic_impacted",
                ),
                lowest_availability_score: double("lowest_availability_score"),
                impacted_windows: int("impacted_windows"),
                expected_bytes: int("expected_bytes"),
                observed_bytes: int("observed_bytes"),
                signals: columns
                    .list("signals", row)
                    .into_iter()
                    .filter_map(Signal::from_name)
                    .collect(),
                impacted_asns: columns
                    .list("impacted_asns", row)
                    .into_iter()
                    .filter_map(|asn| asn.parse().ok())
                    .collect(),
                impacted_city_networks: columns
                    .text("impacted_city_networks", row)
                    .map(|labels| {
                        labels
                            .split("; ")
                            .filter(|label| !label.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                impacted_city_network_ids: columns.text_list("impacted_city_network_ids", row),
                impacted_prefixes: columns
                    .list("impacted_prefixes", row)
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                rtt_source: columns
                    .text("rtt_source", row)
                    .and_then(RttSource::from_name),
                round_trip_time: columns.round_trip_time("", row),
                expected_round_trip_time: columns.round_trip_time("expected_", row),
                retransmission: columns.ratio(
                    "retransmission_percent",
                    "retransmission_expected_percent",
                    row,
                ),
            };
            if event.overlaps(from, to) {
                events.push(event);
            }
        }
    })?;
    events.sort_by(|a, b| (a.started_at, &a.event_id).cmp(&(b.started_at, &b.event_id)));
    Ok(events)
}

/// The rows of a table's files whose windows lie in `[from, to)` (Unix seconds; open when
/// `None`), each decoded by `row_of` from its batch's columns; `None` skips a row (one the
/// writers never write, such as an unparsable prefix). Texts are shared as the rollup shares
/// them.
pub(crate) fn read_rows<T>(
    data_dir: &Path,
    table: &TableDefinition,
    from: Option<i64>,
    to: Option<i64>,
    row_of: impl FnMut(&Columns<'_>, usize, &mut Texts) -> Option<T>,
) -> Result<Vec<T>, WriteError> {
    let mut rows = Vec::new();
    for_each_row(data_dir, table, from, to, row_of, |row| rows.push(row))?;
    Ok(rows)
}

/// Like [`read_rows`], each row handed to `each` as it is decoded instead of collected.
pub(crate) fn for_each_row<T>(
    data_dir: &Path,
    table: &TableDefinition,
    from: Option<i64>,
    to: Option<i64>,
    mut row_of: impl FnMut(&Columns<'_>, usize, &mut Texts) -> Option<T>,
    mut each: impl FnMut(T),
) -> Result<(), WriteError> {
    let mut texts = Texts::default();
    for_each_batch(data_dir, table, from, to, |batch| {
        let columns = Columns { batch };
        for row in columns.rows_in(from, to) {
            if let Some(decoded) = row_of(&columns, row, &mut texts) {
                each(decoded);
            }
        }
    })
}

/// Parquet files of a table whose partition may hold windows in `[from, to)` (Unix seconds),
/// as Athena sees them: names starting with `.` or `_` (temporary and bookkeeping files) are
/// not the table's.
pub(crate) fn files_in_range(
    table_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<PathBuf>, WriteError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    let lowest = from.map(|from| partition_of(from - from.rem_euclid(3_600)));
    let highest = to.map(|to| partition_of(to - 1));
    let mut files = Vec::new();
    let Ok(days) = std::fs::read_dir(table_dir) else {
        return Ok(files);
    };
    for day in days {
        let day = day.map_err(io(table_dir))?.path();
        let Ok(hours) = std::fs::read_dir(&day) else {
            continue;
        };
        for hour in hours {
            let hour = hour.map_err(io(&day))?.path();
            let partition = format!(
                "{}/{}",
                day.file_name().unwrap_or_default().to_string_lossy(),
                hour.file_name().unwrap_or_default().to_string_lossy()
            );
            // Partition names sort like the times they name.
            if lowest.as_ref().is_some_and(|low| &partition < low)
                || highest.as_ref().is_some_and(|high| &partition > high)
            {
                continue;
            }
            for file in std::fs::read_dir(&hour).map_err(io(&hour))? {
                let file = file.map_err(io(&hour))?.path();
                let hidden = file
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with(['.', '_']));
                if !hidden
                    && file
                        .extension()
                        .is_some_and(|extension| extension == "parquet")
                {
                    files.push(file);
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Opens every file of a table under `data_dir` in the range, checked against the table's
/// definition, and hands each batch over.
pub(crate) fn for_each_batch(
    data_dir: &Path,
    table: &TableDefinition,
    from: Option<i64>,
    to: Option<i64>,
    mut each: impl FnMut(&RecordBatch),
) -> Result<(), WriteError> {
    for path in files_in_range(&data_dir.join(table.name), from, to)? {
        for_each_batch_of_file(&path, table, None, &mut each)?;
    }
    Ok(())
}

/// Hands over each batch of the files of a table under `data_dir` whose hour partitions
/// overlap `[from, to)` (Unix seconds; open when `None`), with only `columns` decoded, each
/// file checked against the table's definition for those columns (a nullable column the files
/// lack is absent from the batches). Rows outside the range are the caller's to skip. One
/// batch is in memory at a time.
pub fn for_each_batch_of_columns(
    data_dir: &Path,
    table: &TableDefinition,
    from: Option<i64>,
    to: Option<i64>,
    columns: &[&str],
    mut each: impl FnMut(&RecordBatch),
) -> Result<(), WriteError> {
    for path in files_in_range(&data_dir.join(table.name), from, to)? {
        for_each_batch_of_file(&path, table, Some(columns), &mut each)?;
    }
    Ok(())
}

/// Hands each batch of one Parquet file of `table` over (only `columns` when given).
pub(crate) fn for_each_batch_of_file(
    path: &Path,
    table: &TableDefinition,
    columns: Option<&[&str]>,
    each: impl FnMut(&RecordBatch),
) -> Result<(), WriteError> {
    let file = std::fs::File::open(path).map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    for_each_batch_of(file, path, table, columns, each)
}

/// Hands each batch of one Parquet object of `table` (a file, or an S3 object read in
/// ranges) over, one batch in memory at a time (only `columns` decoded when given), after
/// checking its schema against the table's definition; errors name the object `name`.
pub(crate) fn for_each_batch_of<R: ChunkReader + 'static>(
    object: R,
    name: &Path,
    table: &TableDefinition,
    columns: Option<&[&str]>,
    mut each: impl FnMut(&RecordBatch),
) -> Result<(), WriteError> {
    let parquet_error = |source| WriteError::Parquet {
        path: name.to_path_buf(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(object).map_err(parquet_error)?;
    table.check(builder.schema(), name, columns)?;
    let builder = match columns {
        Some(columns) => {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder.with_projection(mask)
        }
        None => builder,
    };
    let batches = builder.build().map_err(parquet_error)?;
    for batch in batches {
        each(&batch.map_err(|error| parquet_error(error.into()))?);
    }
    Ok(())
}

/// Shares one `Arc<str>` per distinct text, as the rollup does.
#[derive(Default)]
pub(crate) struct Texts(HashSet<Arc<str>>);

impl Texts {
    pub(crate) fn get(&mut self, text: Option<&str>) -> Option<Arc<str>> {
        let text = text?;
        if let Some(shared) = self.0.get(text) {
            return Some(shared.clone());
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(shared.clone());
        Some(shared)
    }
}

/// A batch's columns by name. The file was checked against its table's definition, so a
/// column missing here is a nullable one the file predates: it reads as null.
pub(crate) struct Columns<'b> {
    pub(crate) batch: &'b RecordBatch,
}

impl Columns<'_> {
    pub(crate) fn rows_in(
        &self,
        from: Option<i64>,
        to: Option<i64>,
    ) -> impl Iterator<Item = usize> + '_ {
        (0..self.batch.num_rows()).filter(move |&row| {
            let seconds = self.seconds(row);
            from.is_none_or(|from| seconds >= from) && to.is_none_or(|to| seconds < to)
        })
    }

    pub(crate) fn seconds(&self, row: usize) -> i64 {
        self.timestamp("window_start", row).unwrap_or(0)
    }

    /// A timestamp column in Unix seconds.
    fn timestamp(&self, name: &str, row: usize) -> Option<i64> {
        let column = self
            .batch
            .column_by_name(name)?
            .as_primitive_opt::<TimestampMillisecondType>()?;
        column
            .is_valid(row)
            .then(|| column.value(row).div_euclid(1000))
    }

    pub(crate) fn int64(&self, name: &str, row: usize) -> Option<i64> {
        let column = self
            .batch
            .column_by_name(name)?
            .as_primitive_opt::<Int64Type>()?;
        column.is_valid(row).then(|| column.value(row))
    }

    pub(crate) fn int32(&self, name: &str, row: usize) -> Option<i32> {
        let column = self
            .batch
            .column_by_name(name)?
            .as_primitive_opt::<Int32Type>()?;
        column.is_valid(row).then(|| column.value(row))
    }

    pub(crate) fn double(&self, name: &str, row: usize) -> Option<f64> {
        let column = self
            .batch
            .column_by_name(name)?
            .as_primitive_opt::<Float64Type>()?;
        column.is_valid(row).then(|| column.value(row))
    }

    pub(crate) fn text(&self, name: &str, row: usize) -> Option<&str> {
        let column = self.batch.column_by_name(name)?.as_string_opt::<i32>()?;
        column.is_valid(row).then(|| column.value(row))
    }

    /// The client columns shared by `city_networks` and `city_network_health`.
    pub(crate) fn client(&self, row: usize, texts: &mut Texts) -> Facts {
        let mut facts = Facts::default();
        for &field in FactField::ALL {
            let Some(column) = field.client_column() else {
                continue;
            };
            let value = match field.kind() {
                FactKind::Int64 => FactInput::Int(self.int64(column, row)),
                FactKind::Int32 => FactInput::Int(self.int32(column, row).map(i64::from)),
                FactKind::Double => FactInput::Double(self.double(column, row)),
                FactKind::Text => FactInput::Text(texts.get(self.text(column, row))),
            };
            field.set(&mut facts, value);
        }
        facts
    }

    fn ratio(&self, observed: &str, expected: &str, row: usize) -> RatioEvidence {
        RatioEvidence {
            observed_percent: self.double(observed, row),
            expected_percent: self.double(expected, row),
        }
    }

    /// The values of a list cell; `None` when the column is missing (files written before it)
    /// or the cell null.
    pub(crate) fn list_values(&self, name: &str, row: usize) -> Option<ArrayRef> {
        let list = self
            .batch
            .column_by_name(name)?
            .as_list_opt::<i32>()
            .filter(|list| list.is_valid(row))?;
        Some(list.value(row))
    }

    /// The texts of a list cell; empty when missing or null.
    fn text_list(&self, name: &str, row: usize) -> Vec<String> {
        let Some(values) = self.list_values(name, row) else {
            return Vec::new();
        };
        values
            .as_string_opt::<i32>()
            .map(|values| values.iter().flatten().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// A comma-separated list column, empty when null.
    fn list(&self, name: &str, row: usize) -> Vec<&str> {
        self.text(name, row)
            .map(|text| text.split(',').filter(|item| !item.is_empty()).collect())
            .unwrap_or_default()
    }

    /// `<prefix>rtt_p50_ms`, `_p90_ms`, `_p95_ms`, when all three are there.
    fn round_trip_time(&self, prefix: &str, row: usize) -> Option<RoundTripTime> {
        let at = |q: &str| self.double(&format!("{prefix}rtt_{q}_ms"), row);
        Some(RoundTripTime {
            p50_ms: at("p50")?,
            p90_ms: at("p90")?,
            p95_ms: at("p95")?,
        })
    }

    /// The performance columns of a `city_network_health` row; `None` where nothing was
    /// measured (no RTT source).
    fn performance_health(&self, row: usize) -> Option<PerformanceHealth> {
        Some(PerformanceHealth {
            rtt_source: RttSource::from_name(self.text("rtt_source", row)?)?,
            measured_weight: self.int64("rtt_weight", row).unwrap_or(0),
            round_trip_time: self.round_trip_time("", row)?,
            expected_round_trip_time: self.round_trip_time("expected_", row),
            degraded_above_ms: self.double("degraded_above_ms", row),
            retransmission: self.ratio(
                "retransmission_percent",
                "retransmission_expected_percent",
                row,
            ),
            percent_of_client_location_degraded: self
                .double("percent_of_client_location_degraded", row),
            percent_of_total_traffic_degraded: self
                .double("percent_of_total_traffic_degraded", row),
            signal: self
                .text("performance_signal", row)
                .and_then(Signal::from_name),
        })
    }

    pub(crate) fn location(&self, row: usize, texts: &mut Texts) -> ServiceLocation {
        ServiceLocation {
            account_id: texts.get(self.text("account_id", row)),
            region: texts.get(self.text("region", row)),
            az_id: texts.get(self.text("az_id", row)),
            vpc_id: texts.get(self.text("vpc_id", row)),
        }
    }

    pub(crate) fn measures(&self, row: usize) -> Measures {
        let int = |name| self.int64(name, row).unwrap_or(0);
        Measures {
            bytes_in: int("bytes_in"),
            bytes_out: int("bytes_out"),
            packets_in: int("packets_in"),
            packets_out: int("packets_out"),
            flows: int("flows"),
            accepted_flows: int("accepted_flows"),
            rejected_flows: int("rejected_flows"),
            tcp_syn_in: int("tcp_syn_in"),
            tcp_syn_out: int("tcp_syn_out"),
            tcp_synack_in: int("tcp_synack_in"),
            tcp_synack_out: int("tcp_synack_out"),
            tcp_fin_in: int("tcp_fin_in"),
            tcp_fin_out: int("tcp_fin_out"),
            tcp_rst_in: int("tcp_rst_in"),
            tcp_rst_out: int("tcp_rst_out"),
        }
    }
}

/// The name of `city_network_health`'s file in each partition: one writer (the health job),
/// so a later assessment of the same hour replaces it.
pub const HEALTH_SOURCE_ID: &str = "flowatlas-health";

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{city_networks, client_prefixes, write_partitioned};

    pub(crate) fn sample_rows() -> (Vec<CityNetworkRow>, Vec<PrefixRow>) {
        let location = ServiceLocation {
            account_id: Some(Arc::from("123456789012")),
            region: Some(Arc::from("us-east-1")),
            az_id: Some(Arc::from("use1-az1")),
            vpc_id: None,
        };
        let measures = |seed: i64| Measures {
            bytes_in: seed,
            bytes_out: 2 * seed,
            packets_in: 3,
            packets_out: 4,
            flows: 5,
            accepted_flows: 4,
            rejected_flows: 1,
            tcp_syn_in: 6,
            tcp_syn_out: 7,
            tcp_synack_in: 8,
            tcp_synack_out: 9,
            tcp_fin_in: 10,
            tcp_fin_out: 11,
            tcp_rst_in: 12,
            tcp_rst_out: 13,
        };
        let client = Facts {
            asn: Some(64499),
            as_name: Some(Arc::from("Albion Broadband")),
            country_code: Some(Arc::from("GB")),
            country: Some(Arc::from("United Kingdom")),
            subdivision_code: Some(Arc::from("ENG")),
            subdivision: Some(Arc::from("England")),
            city: Some(Arc::from("London")),
            metro_code: None,
            latitude: Some(51.51),
            longitude: Some(-0.13),
            postal_code: None,
            geoname_id: Some(2643743),
        };
        let windows = [1_780_272_000, 1_780_272_300, 1_780_279_200];
        let city_rows = windows
            .iter()
            .map(|&window_start| CityNetworkRow {
                window_start,
                location: location.clone(),
                client: client.clone(),
                measures: measures(window_start % 1000),
                client_ips: 3,
            })
            .collect();
        let prefix_rows = windows
            .iter()
            .map(|&window_start| PrefixRow {
                window_start,
                location: location.clone(),
                client_prefix: "198.18.6.0/24".parse().unwrap(),
                city_network_id: Arc::from("AS64499|geoname:2643743"),
                client_asn: client.asn,
                client_as_name: client.as_name.clone(),
                client_country_code: client.country_code.clone(),
                client_city: client.city.clone(),
                measures: measures(window_start % 1000 + 1),
                client_ips: 2,
            })
            .collect();
        (city_rows, prefix_rows)
    }

    #[test]
    fn health_tables_read_back_as_written() {
        let dir =
            std::env::temp_dir().join(format!("flowatlas-read-health-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (city_rows, _) = sample_rows();
        let city_network = Arc::new(CityNetwork {
            account_id: city_rows[0].location.account_id.clone(),
            region: city_rows[0].location.region.clone(),
            client: city_rows[0].client.clone(),
        });
        let ratio = |observed: f64| RatioEvidence {
            observed_percent: Some(observed),
            expected_percent: None,
        };
        let health: Vec<CityNetworkHealth> = city_rows
            .iter()
            .map(|row| CityNetworkHealth {
                window_start: row.window_start,
                city_network: city_network.clone(),
                observed_bytes: row.measures.bytes_in,
                expected_bytes: Some(4_000),
                baseline: Some(Method::RecentHour),
                history_days: 0,
                demand_scale: Some(0.9),
                window_demand: Some(0.95),
                availability_score: Some(35.5),
                performance_score: None,
                percent_of_client_location_impacted: Some(64.5),
                percent_of_total_traffic_impacted: Some(12.0),
                percent_of_total_traffic: 18.0,
                unanswered_out: ratio(1.0),
                unanswered_in: ratio(2.0),
                reset: ratio(3.0),
                rejected: ratio(4.0),
                impact_signal: Some(Signal::Traffic),
                performance: None,
            })
            .collect();
        // One window measured round-trip times too, another measured them without history.
        let measured = PerformanceHealth {
            rtt_source: RttSource::TlsHandshake,
            measured_weight: 52_000,
            round_trip_time: RoundTripTime {
                p50_ms: 41.5,
                p90_ms: 380.25,
                p95_ms: 402.0,
            },
            expected_round_trip_time: Some(RoundTripTime {
                p50_ms: 40.0,
                p90_ms: 52.5,
                p95_ms: 61.0,
            }),
            degraded_above_ms: Some(78.75),
            retransmission: ratio(4.5),
            percent_of_client_location_degraded: Some(55.0),
            percent_of_total_traffic_degraded: Some(9.5),
            signal: Some(Signal::RoundTripTime),
        };
        let mut health = health;
        health[1].performance_score = Some(45.0);
        health[1].performance = Some(measured);
        health[2].performance = Some(PerformanceHealth {
            expected_round_trip_time: None,
            degraded_above_ms: None,
            retransmission: RatioEvidence::default(),
            percent_of_client_location_degraded: None,
            percent_of_total_traffic_degraded: None,
            signal: None,
            ..measured
        });
        let started_at = city_rows[0].window_start;
        let event = flowatlas_health::HealthEvent {
            event_id: "2026-06-01T00-00-00Z/local-availability-x".to_string(),
            impact_type: ImpactType::LocalAvailability,
            status: Status::Resolved,
            started_at,
            detected_at: started_at + 600,
            ended_at: Some(started_at + 900),
            health_score_threshold: 60.0,
            percent_of_total_traffic_impacted: 10.0,
            peak_percent_of_total_traffic_impacted: 12.0,
            lowest_availability_score: 35.5,
            impacted_windows: 3,
            expected_bytes: 12_000,
            observed_bytes: 3_000,
            signals: vec![Signal::Traffic, Signal::Reset],
            impacted_locations: vec![flowatlas_health::ImpactedLocation {
                city_network: city_network.clone(),
                expected_bytes: 12_000,
                observed_bytes: 3_000,
                peak_percent_of_client_location_impacted: 64.5,
                peak_percent_of_total_traffic_impacted: 12.0,
                prefixes: vec!["198.18.6.0/24".to_string(), "2001:db8:6::/48".to_string()],
                performance: None,
            }],
        };
        let mut performance_event = event.clone();
        performance_event.event_id = "2026-06-01T00-00-00Z/local-performance-x".to_string();
        performance_event.impact_type = ImpactType::LocalPerformance;
        performance_event.impacted_locations[0].performance = Some(measured);
        let assessment = flowatlas_health::Assessment {
            city_networks: health.clone(),
            overall: Vec::new(),
            events: vec![event.clone(), performance_event],
        };
        write_partitioned(
            &crate::city_network_health(),
            &assessment.city_networks,
            &dir,
            "x",
        )
        .unwrap();
        write_partitioned(&crate::health_events(), &assessment.events, &dir, "x").unwrap();

        assert_eq!(read_city_network_health(&dir, None, None).unwrap(), health);
        let events = read_health_events(&dir, None, None).unwrap();
        assert_eq!(events.len(), 2);
        let (record, performance_record) = (&events[0], &events[1]);
        assert_eq!(record.round_trip_time, None);
        assert_eq!(record.rtt_source, None);
        assert_eq!(performance_record.impact_type, ImpactType::LocalPerformance);
        assert_eq!(performance_record.rtt_source, Some(RttSource::TlsHandshake));
        assert_eq!(
            performance_record.round_trip_time,
            Some(measured.round_trip_time)
        );
        assert_eq!(
            performance_record.expected_round_trip_time,
            measured.expected_round_trip_time
        );
        assert_eq!(performance_record.retransmission, measured.retransmission);
        assert_eq!(
            (record.event_id.as_str(), record.impact_type, record.status),
            (event.event_id.as_str(), event.impact_type, event.status)
        );
        assert_eq!(
            (record.started_at, record.detected_at, record.ended_at),
            (event.started_at, event.detected_at, event.ended_at)
        );
        assert_eq!(record.signals, event.signals);
        assert_eq!(record.impacted_asns, event.asns());
        assert_eq!(record.impacted_city_networks, [city_network.label()]);
        assert_eq!(
            record.impacted_city_network_ids,
            [flowatlas_rollup::CityNetworkKey::of(&city_network.client).to_string()]
        );
        assert_eq!(
            record.impacted_prefixes,
            event.impacted_locations[0].prefixes
        );
        // An event is found by any range it overlaps, also one starting before the range.
        let overlapping = read_health_events(&dir, Some(started_at + 600), Some(started_at + 601));
        assert_eq!(overlapping.unwrap().len(), 2);
        let after = read_health_events(&dir, Some(started_at + 900), None).unwrap();
        assert!(after.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rows_read_back_as_written_within_the_range() {
        let dir = std::env::temp_dir().join(format!("flowatlas-read-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (city_rows, prefix_rows) = sample_rows();
        write_partitioned(&city_networks(), &city_rows, &dir, "sample").unwrap();
        write_partitioned(&client_prefixes(), &prefix_rows, &dir, "sample").unwrap();

        assert_eq!(read_city_networks(&dir, None, None).unwrap(), city_rows);
        assert_eq!(read_client_prefixes(&dir, None, None).unwrap(), prefix_rows);
        // The range is half-open and applies to windows, not only to partitions.
        let first_two = read_city_networks(&dir, Some(1_780_272_000), Some(1_780_272_600)).unwrap();
        assert_eq!(first_two, city_rows[..2]);
        let last = read_client_prefixes(&dir, Some(1_780_272_301), None).unwrap();
        assert_eq!(last, prefix_rows[2..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Writes `batch` as the only file of `city_networks` under a fresh folder.
    fn folder_with_city_networks_file(name: &str, batch: &RecordBatch) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("flowatlas-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let partition = dir.join("city_networks/dt=2026-06-01/hour=00");
        std::fs::create_dir_all(&partition).unwrap();
        let file = std::fs::File::create(partition.join("odd.parquet")).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
        dir
    }

    #[test]
    fn files_are_read_through_their_tables_definition() {
        let (city_rows, _) = sample_rows();
        let batch = city_networks().batch(&city_rows).unwrap();
        let without = |name: &str| {
            let kept: Vec<usize> = (0..batch.num_columns())
                .filter(|&index| batch.schema().field(index).name() != name)
                .collect();
            batch.project(&kept).unwrap()
        };

        // A required column missing is an error naming the file and the column, not zeros.
        let dir = folder_with_city_networks_file("read-missing-column", &without("bytes_in"));
        let error = read_city_networks(&dir, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "odd.parquet: column `bytes_in`: missing, and table city_networks requires it"
            ),
            "{error}"
        );
        assert!(crate::top(&dir, crate::TopBy::Asn, None, None, 5).is_err());

        // A column of another type is an error too (it would read as null).
        let index = batch.schema().index_of("bytes_in").unwrap();
        let mut fields: Vec<arrow_schema::Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|field| field.as_ref().clone())
            .collect();
        fields[index] = arrow_schema::Field::new("bytes_in", arrow_schema::DataType::Utf8, false);
        let mut columns = batch.columns().to_vec();
        columns[index] = Arc::new(arrow_array::StringArray::from(vec!["1"; batch.num_rows()]));
        let retyped =
            RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap();
        let dir = folder_with_city_networks_file("read-retyped-column", &retyped);
        let error = read_city_networks(&dir, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "column `bytes_in`: has type Utf8, but table city_networks defines it as Int64"
            ),
            "{error}"
        );

        // A nullable column a file lacks (written before it existed) reads as null.
        let dir = folder_with_city_networks_file("read-older-file", &without("client_city"));
        let rows = read_city_networks(&dir, None, None).unwrap();
        assert_eq!(rows.len(), city_rows.len());
        assert!(rows.iter().all(|row| row.client.city.is_none()));
        assert_eq!(rows[0].measures, city_rows[0].measures);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
