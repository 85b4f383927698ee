//! One CloudWatch Embedded Metric Format line per invocation: CloudWatch turns it into metrics
//! (namespace `flowatlas`, dimension `function`) with no API call from the function.

use std::collections::BTreeMap;
use std::io::Write;

use flowatlas_pipeline::ObjectReport;
use serde_json::{Map, Value, json};

/// What one invocation did.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Objects processed into the tables.
    pub objects: u64,
    /// Objects that failed (and will be retried).
    pub objects_failed: u64,
    /// Objects that are not flow logs.
    pub objects_ignored: u64,
    /// Objects outside the configured sources.
    pub objects_refused: u64,
    /// Records read, ok, skipped and rejected.
    pub records: flowatlas_flowlog::Counts,
    /// Object bytes as stored (compressed).
    pub object_bytes: u64,
    /// Rows written per table.
    pub rows: BTreeMap<&'static str, u64>,
    /// Time the invocation took.
    pub duration_ms: i64,
    /// The longest time from an object's creation to its tables being complete.
    pub max_lag_ms: Option<i64>,
}

impl Metrics {
    /// Adds a processed object.
    pub fn add_object(&mut self, report: &ObjectReport, object_bytes: u64, lag_ms: Option<i64>) {
        self.objects += 1;
        self.records += report.counts;
        self.object_bytes += object_bytes;
        for (table, rows) in &report.rows {
            *self.rows.entry(table).or_default() += rows;
        }
        self.max_lag_ms = self.max_lag_ms.max(lag_ms);
    }

    /// The EMF document.
    pub fn emf(&self, function: &str, timestamp_ms: i64) -> Value {
        let mut values: Vec<(String, Value, &str)> = vec![
            ("objects".into(), self.objects.into(), "Count"),
            ("objects_failed".into(), self.objects_failed.into(), "Count"),
            (
                "objects_ignored".into(),
                self.objects_ignored.into(),
                "Count",
            ),
            (
                "objects_refused".into(),
                self.objects_refused.into(),
                "Count",
            ),
            ("records_read".into(), self.records.read.into(), "Count"),
            ("records_ok".into(), self.records.ok.into(), "Count"),
            (
                "records_skipped".into(),
                self.records.skipped.into(),
                "Count",
            ),
            (
                "records_rejected".into(),
                self.records.rejected.into(),
                "Count",
            ),
            ("object_bytes".into(), self.object_bytes.into(), "Bytes"),
            ("decoded_bytes".into(), self.records.bytes.into(), "Bytes"),
            (
                "duration_ms".into(),
                self.duration_ms.into(),
                "Milliseconds",
            ),
        ];
        for (table, rows) in &self.rows {
            values.push((format!("rows_{table}"), (*rows).into(), "Count"));
        }
        if let Some(lag) = self.max_lag_ms {
            values.push(("lag_ms".into(), lag.into(), "Milliseconds"));
        }
        let definitions: Vec<Value> = values
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
            .collect();
        let mut document = Map::new();
        document.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": "flowatlas",
                    "Dimensions": [["function"]],
                    "Metrics": definitions,
                }],
            }),
        );
        document.insert("function".into(), function.into());
        for (name, value, _) in values {
            document.insert(name, value);
        }
        Value::Object(document)
    }

    /// Writes the EMF line to standard output, where Lambda sends it to CloudWatch Logs.
    pub fn emit(&self, function: &str, timestamp_ms: i64) {
        let line = self.emf(function, timestamp_ms).to_string();
        // Nothing to do if stdout is gone: the invocation's result matters more than its metrics.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_has_a_definition_and_the_reverse() {
        let mut metrics = Metrics::default();
        let mut report = ObjectReport::default();
        report.counts.read = 10;
        report.counts.ok = 9;
        report.counts.rejected = 1;
        report.rows.insert("city_networks", 4);
        metrics.add_object(&report, 1234, Some(90_000));
        metrics.add_object(&report, 1000, Some(30_000));
        let emf = metrics.emf("flowatlas", 1_780_272_000_000);
        let definitions = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for definition in definitions {
            let name = definition["Name"].as_str().unwrap();
            assert!(emf[name].is_number(), "{name} has no value");
        }
        let n_values = emf.as_object().unwrap().len() - 2; // less `_aws` and `function`
        assert_eq!(definitions.len(), n_values);
        assert_eq!(emf["records_read"], 20);
        assert_eq!(emf["rows_city_networks"], 8);
        assert_eq!(emf["object_bytes"], 2234);
        assert_eq!(emf["lag_ms"], 90_000);
    }
}
