//! Reading rollup rows back from the tables for a time range, for engines that work on rows
//! (health). Only the partitions in the range are opened; columns are found by name.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use flowatlas_geo::Facts;
use flowatlas_rollup::{CityNetworkRow, Measures, PrefixRow, ServiceLocation};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::WriteError;
use crate::top::files_in_range;

/// The `city_networks` rows of the windows in `[from, to)` (Unix seconds; open when `None`).
pub fn read_city_networks(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<CityNetworkRow>, WriteError> {
    let mut rows = Vec::new();
    let mut texts = Texts::default();
    for_each_batch(&data_dir.join("city_networks"), from, to, |batch| {
        let columns = Columns { batch };
        for row in columns.rows_in(from, to) {
            let mut text = |name| texts.get(columns.text(name, row));
            let client = Facts {
                asn: columns.int64("client_asn", row).map(|asn| asn as u32),
                as_name: text("client_as_name"),
                country_code: text("client_country_code"),
                country: text("client_country"),
                subdivision_code: text("client_subdivision_code"),
                subdivision: text("client_subdivision"),
                city: text("client_city"),
                metro_code: columns.int32("client_metro_code", row),
                latitude: columns.double("client_latitude", row),
                longitude: columns.double("client_longitude", row),
                postal_code: None,
                geoname_id: columns
                    .int64("client_geoname_id", row)
                    .and_then(|id| u32::try_from(id).ok()),
            };
            rows.push(CityNetworkRow {
                window_start: columns.seconds(row),
                location: columns.location(row, &mut texts),
                client,
                measures: columns.measures(row),
                client_ips: columns.int64("client_ips", row).unwrap_or(0),
            });
        }
    })?;
    Ok(rows)
}

/// The `client_prefixes` rows of the windows in `[from, to)` (Unix seconds; open when `None`).
/// Rows whose prefix does not parse are skipped: the writer never writes one.
pub fn read_client_prefixes(
    data_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<PrefixRow>, WriteError> {
    let mut rows = Vec::new();
    let mut texts = Texts::default();
    for_each_batch(&data_dir.join("client_prefixes"), from, to, |batch| {
        let columns = Columns { batch };
        for row in columns.rows_in(from, to) {
            let Some(client_prefix) = columns
                .text("client_prefix", row)
                .and_then(|prefix| prefix.parse().ok())
            else {
                continue;
            };
            rows.push(PrefixRow {
                window_start: columns.seconds(row),
                location: columns.location(row, &mut texts),
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
            });
        }
    })?;
    Ok(rows)
}

/// Opens every file of a table in the range and hands each batch over.
pub(crate) fn for_each_batch(
    table_dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
    mut each: impl FnMut(&RecordBatch),
) -> Result<(), WriteError> {
    for path in files_in_range(table_dir, from, to)? {
        for_each_batch_of_file(&path, &mut each)?;
    }
    Ok(())
}

/// Hands each batch of one Parquet file over.
pub(crate) fn for_each_batch_of_file(
    path: &Path,
    mut each: impl FnMut(&RecordBatch),
) -> Result<(), WriteError> {
    let parquet_error = |source| WriteError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let batches = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .map_err(parquet_error)?;
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

/// A batch's columns by name; a missing column reads as null.
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
        self.batch
            .column_by_name("window_start")
            .and_then(|column| column.as_primitive_opt::<TimestampMillisecondType>())
            .map_or(0, |column| column.value(row).div_euclid(1000))
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

/// Reads the rollup tables under `data_dir` for `[from, to)` with the history before it
/// (`flowatlas_health::HISTORY_SECONDS`) and assesses the range.
pub fn assess_folder(
    data_dir: &Path,
    config: &flowatlas_health::HealthConfig,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<flowatlas_health::Assessment, WriteError> {
    let history_from = from.map(|from| from - flowatlas_health::HISTORY_SECONDS);
    let mut observations = flowatlas_health::Observations::new();
    observations.add_city_networks(&read_city_networks(data_dir, history_from, to)?);
    observations.add_prefixes(&read_client_prefixes(data_dir, history_from, to)?);
    Ok(flowatlas_health::assess(
        &mut observations,
        config,
        from,
        to,
    ))
}

/// The name of the health tables' files in each partition: one writer (the assessment), so
/// a later assessment of the same hour replaces them.
pub const HEALTH_SOURCE_ID: &str = "flowatlas-health";

/// Writes an assessment's `city_network_health` and `health_events` under `data_dir`.
pub fn write_health(
    data_dir: &Path,
    assessment: &flowatlas_health::Assessment,
) -> Result<Vec<crate::WrittenFile>, crate::WriteError> {
    let mut written = crate::write_partitioned(
        &crate::city_network_health(),
        &assessment.city_networks,
        data_dir,
        HEALTH_SOURCE_ID,
    )?;
    written.extend(crate::write_partitioned(
        &crate::health_events(),
        &assessment.events,
        data_dir,
        HEALTH_SOURCE_ID,
    )?);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{city_networks, client_prefixes, write_partitioned};

    fn sample_rows() -> (Vec<CityNetworkRow>, Vec<PrefixRow>) {
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
}
