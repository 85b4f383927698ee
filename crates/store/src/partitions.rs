//! A table's hour partitions in any store, for the engines that read local folders (the health
//! job, the report): which hours hold files, the files of one hour, the span of days a table
//! holds, and a range's partitions copied into a folder. Only the day folders of a range are
//! listed, never a whole table, so a run's listing grows with its range, not with history.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use flowatlas_time::utc_date;

use crate::layout::{TablePartition, day_folder, day_of_folder, partition_of};
use crate::{Error, Store};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// True for a file name a table reader opens: Parquet, and not hidden from Athena (`.` is a
/// file being written, `_` is flowatlas's own bookkeeping).
fn is_table_file(name: &str) -> bool {
    name.ends_with(".parquet") && !name.starts_with('.') && !name.starts_with('_')
}

/// The table files under the day folders of `table` that overlap `[from, to)`, with the hour
/// of each (keys `<table>/dt=…/hour=…/<name>.parquet`).
fn table_files(
    store: &dyn Store,
    table: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(String, i64)>, Error> {
    let mut files = Vec::new();
    for folder in day_folders(store, table, from, to)? {
        for listed in store.list(&folder)? {
            let Some((partition, name)) = TablePartition::of_key(&listed.key) else {
                continue;
            };
            if let Some(hour) = partition.start()
                && partition.table == table
                && hour + HOUR > from
                && hour < to
                && is_table_file(name)
            {
                files.push((listed.key, hour));
            }
        }
    }
    Ok(files)
}

/// The day folders of `table` (keys ending with `/`) that overlap `[from, to)`.
fn day_folders(store: &dyn Store, table: &str, from: i64, to: i64) -> Result<Vec<String>, Error> {
    if to <= from {
        return Ok(Vec::new());
    }
    let days: BTreeSet<String> = (from.div_euclid(DAY)..=(to - 1).div_euclid(DAY))
        .map(|day| format!("{table}/{}", day_folder(&utc_date(day * DAY))))
        .collect();
    Ok(store
        .list_folders(&format!("{table}/"))?
        .into_iter()
        .filter(|folder| days.contains(folder))
        .collect())
}

/// Copies `table`'s files of the hour partitions overlapping `[from, to)` into the folder
/// `into`, keeping the layout (`<table>/dt=…/hour=…/<file>.parquet`). Returns the number of
/// files copied.
pub fn download_partitions(
    store: &dyn Store,
    table: &str,
    from: i64,
    to: i64,
    into: &Path,
) -> Result<usize, Error> {
    let files = table_files(store, table, from, to)?;
    for (key, _) in &files {
        store.download(key, &into.join(key))?;
    }
    Ok(files.len())
}

/// The hours (Unix seconds) overlapping `[from, to)` whose partition of `table` holds a file:
/// listed, not read.
pub fn hours_with_files(
    store: &dyn Store,
    table: &str,
    from: i64,
    to: i64,
) -> Result<BTreeSet<i64>, Error> {
    Ok(files_by_hour(store, table, from, to)?.into_keys().collect())
}

/// The keys of `table`'s files by the hour (Unix seconds) of their partition, for the hours
/// overlapping `[from, to)`: one listing per day folder.
pub fn files_by_hour(
    store: &dyn Store,
    table: &str,
    from: i64,
    to: i64,
) -> Result<BTreeMap<i64, Vec<String>>, Error> {
    let mut hours: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (key, hour) in table_files(store, table, from, to)? {
        hours.entry(hour).or_default().push(key);
    }
    Ok(hours)
}

/// The names of `table`'s files in the partition of the hour starting at `hour`.
pub fn files_in_hour(store: &dyn Store, table: &str, hour: i64) -> Result<Vec<String>, Error> {
    let folder = format!("{table}/{}/", partition_of(hour));
    Ok(store
        .list(&folder)?
        .into_iter()
        .filter_map(|listed| Some(listed.key.strip_prefix(&folder)?.to_owned()))
        .filter(|name| !name.contains('/') && is_table_file(name))
        .collect())
}

/// The first and last day (Unix seconds of their midnights) of `table`'s `dt=` folders; `None`
/// when it has none. One listing of day folders, no object listed.
pub fn table_days(store: &dyn Store, table: &str) -> Result<Option<(i64, i64)>, Error> {
    let days: Vec<i64> = store
        .list_folders(&format!("{table}/"))?
        .iter()
        .filter_map(|folder| {
            let name = folder.trim_end_matches('/').rsplit('/').next()?;
            flowatlas_time::parse_date(day_of_folder(name)?)
        })
        .collect();
    Ok(days
        .iter()
        .min()
        .zip(days.iter().max())
        .map(|(&first, &last)| (first, last)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalStore;

    const MONDAY: i64 = 1_780_272_000;

    #[test]
    fn partitions_of_a_range_are_found_listed_and_copied() {
        let root =
            std::env::temp_dir().join(format!("flowatlas-partitions-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let store = LocalStore::new(root.join("tables"));
        let scratch = root.join("scratch.parquet");
        std::fs::write(&scratch, b"PAR1").unwrap();
        for (hour, name) in [
            (MONDAY - HOUR, "a.parquet"),
            (MONDAY + 2 * HOUR, "b.parquet"),
            (MONDAY + 2 * HOUR, "_compacted.parquet"),
            (MONDAY + 2 * HOUR, ".b.parquet.tmp"),
            (MONDAY + 2 * DAY, "c.parquet"),
        ] {
            let key = format!("t/{}/{name}", partition_of(hour));
            store.publish(&key, &scratch).unwrap();
        }
        store.publish("t/not-a-day/x.parquet", &scratch).unwrap();
        let dyn_store: &dyn Store = &store;
        assert_eq!(
            hours_with_files(dyn_store, "t", MONDAY - HOUR + 1, MONDAY + 3 * DAY).unwrap(),
            BTreeSet::from([MONDAY - HOUR, MONDAY + 2 * HOUR, MONDAY + 2 * DAY])
        );
        assert_eq!(
            hours_with_files(dyn_store, "t", MONDAY, MONDAY + DAY).unwrap(),
            BTreeSet::from([MONDAY + 2 * HOUR])
        );
        assert_eq!(
            files_in_hour(dyn_store, "t", MONDAY + 2 * HOUR).unwrap(),
            ["b.parquet"]
        );
        assert_eq!(
            table_days(dyn_store, "t").unwrap(),
            Some((MONDAY - DAY, MONDAY + 2 * DAY))
        );
        assert_eq!(table_days(dyn_store, "missing").unwrap(), None);
        let into = root.join("copy");
        assert_eq!(
            download_partitions(dyn_store, "t", MONDAY, MONDAY + 3 * HOUR, &into).unwrap(),
            1
        );
        assert!(
            into.join("t")
                .join(partition_of(MONDAY + 2 * HOUR))
                .join("b.parquet")
                .exists()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
