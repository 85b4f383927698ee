//! The manifest: written last for each object, so its presence means the object's outputs
//! are all there. One serde type writes it and reads it everywhere (commit, backfill's skip
//! check, the Lambda's completion check); the field names are those of every manifest ever
//! written, and a field an older manifest lacks reads as its default.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use flowatlas_store::layout::{is_batch_file, is_named_for};

use crate::{ObjectReport, Source};

/// What one object's processing wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Manifest {
    /// How messages name the object: a path or `s3://bucket/key`.
    pub source: String,
    /// The name its outputs carry.
    pub source_id: String,
    /// The object's ETag when processed (S3): backfill skips an object whose manifest has
    /// its current ETag.
    pub source_etag: Option<String>,
    /// The object's size when processed.
    pub source_size: Option<u64>,
    /// `flowatlas_tables::SCHEMA_VERSION` of the files written.
    pub schema_version: String,
    /// Records read, ok, skipped and rejected.
    pub records: Records,
    /// Bytes the reader decoded (after decompression).
    pub bytes_decoded: u64,
    /// `bytes` of OK records.
    pub ok_bytes: i64,
    /// Bytes of OK records in no row, by kind.
    pub other_bytes: BTreeMap<String, i64>,
    /// OK records per peer kind.
    pub peers: BTreeMap<String, u64>,
    /// Rows written per table.
    pub rows: BTreeMap<String, u64>,
    /// OK records the `flows` table could not hold for want of `start` and `end`.
    pub flows_without_time: u64,
    /// Every file holding the object's rows, relative to the output.
    pub files: Vec<String>,
}

/// A manifest's record counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Records {
    /// Records read.
    pub read: u64,
    /// Records typed whole.
    pub ok: u64,
    /// NODATA and SKIPDATA records.
    pub skipped: u64,
    /// Records rejected.
    pub rejected: u64,
}

impl Manifest {
    /// The manifest of `source` processed as `report` says.
    pub fn of(source: &Source, report: &ObjectReport) -> Manifest {
        let counts = &report.counts;
        let by_name = |map: &BTreeMap<&'static str, i64>| {
            map.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        Manifest {
            source: source.name.clone(),
            source_id: source.id.clone(),
            source_etag: source.etag.clone(),
            source_size: source.size,
            schema_version: flowatlas_tables::SCHEMA_VERSION.to_owned(),
            records: Records {
                read: counts.read,
                ok: counts.ok,
                skipped: counts.skipped,
                rejected: counts.rejected,
            },
            bytes_decoded: counts.bytes,
            ok_bytes: report.ok_bytes,
            other_bytes: by_name(&report.other_bytes),
            peers: report
                .peers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            rows: report
                .rows
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            flows_without_time: report.flows_without_time,
            files: report
                .files
                .iter()
                .map(|file| file.to_string_lossy().into_owned())
                .collect(),
        }
    }

    /// The counts it records, as a report of one object (rows of the tables flowatlas knows).
    pub fn report(&self) -> ObjectReport {
        let mut report = ObjectReport {
            n_objects: 1,
            ..ObjectReport::default()
        };
        report.counts.read = self.records.read;
        report.counts.ok = self.records.ok;
        report.counts.skipped = self.records.skipped;
        report.counts.rejected = self.records.rejected;
        report.counts.bytes = self.bytes_decoded;
        for table in flowatlas_tables::catalog_tables() {
            if let Some(n) = self.rows.get(table.name) {
                report.rows.insert(table.name, *n);
            }
        }
        report
    }

    /// The files it lists, as paths relative to the output.
    pub fn file_paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(PathBuf::from).collect()
    }
}

/// The one stale-file rule: the files an earlier manifest of `source_id` lists that this run
/// did not write (`written`), which must go so that no rows of the earlier run survive — the
/// source's own files (its name or a part of it), to delete, and batch files, to take its rows
/// out of. Only relative paths inside the output are ever returned, whatever the manifest says.
pub fn stale_files(earlier: &Manifest, source_id: &str, written: &[PathBuf]) -> Vec<PathBuf> {
    earlier
        .file_paths()
        .into_iter()
        .filter(|file| !written.contains(file) && is_inside(file))
        .filter(|file| {
            is_batch_file(file)
                || file
                    .file_stem()
                    .is_some_and(|stem| is_named_for(&stem.to_string_lossy(), source_id))
        })
        .collect()
}

/// True for a relative path that stays inside the output, whatever a manifest says.
pub(crate) fn is_inside(path: &Path) -> bool {
    path.components()
        .all(|part| matches!(part, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_files_are_the_sources_own_files_and_parts_only() {
        let manifest: Manifest = serde_json::from_value(serde_json::json!({"files": [
            "city_networks/dt=2026-06-01/hour=12/x-1.parquet",
            "city_networks/dt=2026-06-01/hour=12/x-1.part2.parquet",
            "city_networks/dt=2026-06-01/hour=13/x-1.part10.parquet",
            "city_networks/dt=2026-06-01/hour=12/x-1.partial.parquet",
            "city_networks/dt=2026-06-01/hour=12/x-10.parquet",
            "city_networks/dt=2026-06-01/hour=12/x-1.part.parquet",
            "../x-1.parquet",
        ]}))
        .unwrap();
        let written = [PathBuf::from(
            "city_networks/dt=2026-06-01/hour=12/x-1.parquet",
        )];
        assert_eq!(
            stale_files(&manifest, "x-1", &written),
            [
                PathBuf::from("city_networks/dt=2026-06-01/hour=12/x-1.part2.parquet"),
                PathBuf::from("city_networks/dt=2026-06-01/hour=13/x-1.part10.parquet"),
            ]
        );
    }

    #[test]
    fn a_manifest_reads_back_with_the_field_names_of_earlier_ones() {
        let earlier = serde_json::json!({
            "source": "s3://b/k.log.gz", "source_id": "k.log.gz-1", "source_etag": "e",
            "source_size": 10, "schema_version": "2",
            "records": {"read": 3, "ok": 2, "skipped": 0, "rejected": 1},
            "bytes_decoded": 99, "ok_bytes": 7, "other_bytes": {}, "peers": {"internet": 2},
            "rows": {"city_networks": 1}, "flows_without_time": 0,
            "files": ["city_networks/dt=2026-06-01/hour=12/k.log.gz-1.parquet"],
        });
        let manifest: Manifest = serde_json::from_value(earlier.clone()).unwrap();
        assert_eq!(manifest.source_etag.as_deref(), Some("e"));
        assert_eq!(manifest.records.rejected, 1);
        assert_eq!(serde_json::to_value(&manifest).unwrap(), earlier);
    }
}
