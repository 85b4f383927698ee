//! The key layout, in one place: where AWS delivers flow logs (which names the account and
//! Region), and where flowatlas puts what it writes — Hive partitions (`dt=…/hour=…`), the
//! agent's `tcp_stats/` folder, manifests, rejects, batch journals and the names outputs
//! carry. Local folders and S3 share it: a local output is laid out exactly as the bucket.

use std::path::Path;

/// The folder of the agent's `tcp_stats` objects (and the table's name).
pub const TCP_STATS: &str = "tcp_stats";

/// The folder of manifests: one per object, written last.
pub const MANIFESTS: &str = "_manifests";

/// The folder of rejected records: one JSON Lines file per object that had any.
pub const REJECTS: &str = "_rejects";

/// The folder of batch journals and of the output's commit lock.
pub const BATCHES: &str = "_batches";

/// The folder of compaction: the source files a compacted hour holds, kept out of every
/// table's location (Athena skips names starting with `_`), each hour's compaction manifest,
/// and the journals of compactions under way.
pub const COMPACTED: &str = "_compacted";

/// Prefix of compacted files' names (`compacted-<id>.parquet`). Not `_` or `.`: Athena reads them.
const COMPACTED_PREFIX: &str = "compacted-";

/// Prefix of batch files' names (`batch-<id>.parquet`). Not `_` or `.`: Athena skips those.
const BATCH_PREFIX: &str = "batch-";

/// `dt=YYYY-MM-DD/hour=HH`: the Hive partition of the hour holding a Unix time (UTC).
pub fn partition_of(seconds: i64) -> String {
    let hour = seconds.rem_euclid(86_400) / 3_600;
    format!(
        "{}hour={hour:02}",
        day_folder(&flowatlas_time::utc_date(seconds))
    )
}

/// The hour holding a Unix time, counted in hours since the epoch: what tells rows of one
/// partition from another without naming it.
pub fn hour_of(seconds: i64) -> i64 {
    seconds.div_euclid(3_600)
}

/// `dt=YYYY-MM-DD/hour=HH`: the Hive partition of an hour counted as [`hour_of`] counts it.
pub fn partition_of_hour(hour: i64) -> String {
    partition_of(hour.saturating_mul(3_600))
}

/// The hour (Unix seconds) a partition `dt=YYYY-MM-DD/hour=HH` names.
pub fn hour_of_partition(partition: &str) -> Option<i64> {
    let (day, hour) = partition.split_once('/')?;
    let midnight = flowatlas_time::parse_date(day_of_folder(day)?)?;
    let hour: i64 = hour.strip_prefix("hour=")?.parse().ok()?;
    (0..24).contains(&hour).then_some(midnight + hour * 3_600)
}

/// `dt=YYYY-MM-DD/`: the folder of a day's hour partitions.
pub fn day_folder(date: &str) -> String {
    format!("dt={date}/")
}

/// The date (`YYYY-MM-DD`, unchecked) a day folder's name (`dt=YYYY-MM-DD`) names.
pub fn day_of_folder(name: &str) -> Option<&str> {
    name.strip_prefix("dt=")
}

/// The key of an object's manifest, relative to the output.
pub fn manifest_key(source_id: &str) -> String {
    format!("{MANIFESTS}/{source_id}.json")
}

/// The key of an object's rejects, relative to the output.
pub fn rejects_key(source_id: &str) -> String {
    format!("{REJECTS}/{source_id}.jsonl")
}

/// The key of a batch's journal, relative to the output.
pub fn journal_key(batch_id: &str) -> String {
    format!("{BATCHES}/{batch_id}.json")
}

/// True for the key or path of an agent's object: it lies under a `tcp_stats/` folder.
pub fn is_tcp_stats(key: &str) -> bool {
    key.split('/').any(|part| part == TCP_STATS)
}

/// A stable, filesystem- and S3-safe output name: the object's file name (sanitised) and a
/// hash of the raw bytes of its full identity (canonical path or S3 URL).
pub fn source_id(file_name: &str, identity: &[u8]) -> String {
    let stem: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    format!("{stem}-{:016x}", fnv1a(identity))
}

/// FNV-1a: stable across builds and platforms, unlike the standard library's hashers.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The file name (without extension) of part `part` of a source's files: part 0 is the
/// source id itself, part N `<source-id>.partN`.
pub fn part_name(source_id: &str, part: usize) -> String {
    if part == 0 {
        source_id.to_owned()
    } else {
        format!("{source_id}.part{part}")
    }
}

/// True when a file name (without extension) is one of `source_id`'s: its own, or a part.
pub fn is_named_for(stem: &str, source_id: &str) -> bool {
    stem == source_id
        || stem
            .strip_prefix(source_id)
            .and_then(|rest| rest.strip_prefix(".part"))
            .is_some_and(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
}

/// True for the path of a batch file (a name `batch-….parquet`); object ids always end with
/// `-<16 hex digits>` after the object's own name, so a batch name is never an object's.
pub fn is_batch_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with(BATCH_PREFIX) && name.ends_with(".parquet"))
}

/// The file name (without extension) of a batch with this id.
pub fn batch_file_stem(batch_id: &str) -> String {
    format!("{BATCH_PREFIX}{batch_id}")
}

/// True for the name of a compacted file (`compacted-….parquet`); object ids end with
/// `-<16 hex digits>` after the object's own name, so an object's file never has this shape.
pub fn is_compacted_file(name: &str) -> bool {
    name.starts_with(COMPACTED_PREFIX) && name.ends_with(".parquet")
}

/// The file name of a compaction with this id.
pub fn compacted_file_name(compaction_id: &str) -> String {
    format!("{COMPACTED_PREFIX}{compaction_id}.parquet")
}

/// The source id a file name (without extension) of one object carries: its own, or that of
/// the object whose part it is ([`part_name`]'s inverse).
pub fn source_of_stem(stem: &str) -> &str {
    match stem.rsplit_once(".part") {
        Some((source_id, part))
            if !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()) =>
        {
            source_id
        }
        _ => stem,
    }
}

/// An hour partition of a table: `<table>/dt=YYYY-MM-DD/hour=HH`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TablePartition {
    /// The table's name (its folder).
    pub table: String,
    /// `dt=YYYY-MM-DD/hour=HH`.
    pub partition: String,
}

impl TablePartition {
    /// The partition and file name of a key `<table>/dt=…/hour=…/<name>`; `None` for any other
    /// shape (or a partition that names no hour).
    pub fn of_key(key: &str) -> Option<(TablePartition, &str)> {
        let mut parts = key.splitn(4, '/');
        let (table, day, hour, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if name.contains('/') || table.is_empty() || name.is_empty() {
            return None;
        }
        let partition = TablePartition {
            table: table.to_owned(),
            partition: format!("{day}/{hour}"),
        };
        partition.start()?;
        Some((partition, name))
    }

    /// Start of the hour, Unix seconds; `None` when the partition names no hour.
    pub fn start(&self) -> Option<i64> {
        hour_of_partition(&self.partition)
    }

    /// The key of a file of the partition.
    pub fn key(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.table, self.partition)
    }

    /// The key under which a compacted source file of the partition is kept.
    pub fn kept_key(&self, name: &str) -> String {
        format!("{COMPACTED}/{}/{}/{name}", self.table, self.partition)
    }

    /// The key of the partition's compaction manifest (beside its kept files).
    pub fn compaction_key(&self) -> String {
        self.kept_key("_compaction.json")
    }

    /// The key of the journal of a compaction of the partition under way.
    pub fn journal_key(&self) -> String {
        format!(
            "{COMPACTED}/{COMPACTION_JOURNALS}/{}/{}.json",
            self.table, self.partition
        )
    }

    /// The partition a journal key names.
    pub fn of_journal_key(key: &str) -> Option<TablePartition> {
        let rest = key
            .strip_prefix(COMPACTED)?
            .strip_prefix('/')?
            .strip_prefix(COMPACTION_JOURNALS)?
            .strip_prefix('/')?
            .strip_suffix(".json")?;
        let (partition, _) = TablePartition::of_key(&format!("{rest}/x"))?;
        Some(partition)
    }
}

/// The folder (under [`COMPACTED`]) of compaction journals.
pub const COMPACTION_JOURNALS: &str = "_journals";

/// The account and Region a key names, when it follows one of AWS's flow-log layouts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyLocation {
    /// The 12-digit AWS account that delivered the logs.
    pub account_id: Option<String>,
    /// AWS Region code, e.g. `eu-west-1`.
    pub region: Option<String>,
}

/// Reads the account and Region from a key or path (either separator). Default and hourly:
/// `<prefix>/AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>[/<HH>]/`; Hive and Hive
/// hourly: `<prefix>/AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/aws-region=<region>/year=.../`.
/// Local copies of a bucket keep the same folders, so the same parsing serves paths.
pub fn location_from_key(key: &str) -> KeyLocation {
    let parts: Vec<&str> = key.split(['/', '\\']).collect();
    let Some(logs_idx) = parts.iter().rposition(|part| *part == "AWSLogs") else {
        return KeyLocation::default();
    };
    let rest = &parts[logs_idx + 1..];
    match rest {
        [account, "vpcflowlogs", region, ..] if is_account(account) => KeyLocation {
            account_id: Some((*account).to_string()),
            region: Some((*region).to_string()),
        },
        [account, service, region, ..] if service == &"aws-service=vpcflowlogs" => {
            let account = account
                .strip_prefix("aws-account-id=")
                .filter(|account| is_account(account));
            let region = region.strip_prefix("aws-region=");
            KeyLocation {
                account_id: account.map(str::to_string),
                region: region
                    .filter(|region| !region.is_empty())
                    .map(str::to_string),
            }
        }
        _ => KeyLocation::default(),
    }
}

fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_layouts() {
        let expected = KeyLocation {
            account_id: Some("123456789012".into()),
            region: Some("eu-west-1".into()),
        };
        for key in [
            "logs/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/06/01/123456789012_vpcflowlogs_eu-west-1_fl-1_20260601T1200Z_ab.log.gz",
            "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/06/01/12/x.log.gz",
            "p/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2026/month=06/day=01/x.log.gz",
            "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2026/month=06/day=01/hour=12/x.log.parquet",
        ] {
            assert_eq!(location_from_key(key), expected, "{key}");
        }
        assert_eq!(location_from_key("data/flows.log"), KeyLocation::default());
        assert_eq!(
            location_from_key("AWSLogs/notanaccount/vpcflowlogs/eu-west-1/x"),
            KeyLocation::default()
        );
    }

    #[test]
    fn outputs_are_named_for_their_source() {
        assert_eq!(part_name("x-1", 0), "x-1");
        assert_eq!(part_name("x-1", 3), "x-1.part3");
        assert!(is_named_for("x-1.part10", "x-1"));
        for other in ["x-1.partial", "x-10", "x-1.part"] {
            assert!(!is_named_for(other, "x-1"), "{other}");
        }
        assert_eq!(
            partition_of(1_780_315_200 + 7 * 3_600),
            "dt=2026-06-01/hour=19"
        );
        assert_eq!(day_of_folder("dt=2026-06-01"), Some("2026-06-01"));
        assert_eq!(
            hour_of_partition("dt=2026-06-01/hour=13"),
            Some(1_780_272_000 + 13 * 3_600)
        );
        assert_eq!(hour_of_partition("dt=2026-06-01/hour=24"), None);
        assert_eq!(hour_of_partition("dt=2026-06-01/hour=x"), None);
        assert_eq!(
            hour_of_partition(&partition_of(1_780_272_000 + 7_300)),
            Some(1_780_272_000 + 7_200)
        );
        assert_eq!(manifest_key("x-1"), "_manifests/x-1.json");
        assert!(is_tcp_stats(
            "tcp_stats/dt=2026-06-01/hour=12/web-1.parquet"
        ));
        assert!(!is_tcp_stats("AWSLogs/tcp_stats_x/a.log"));
    }

    #[test]
    fn compaction_keys_name_their_partition() {
        assert_eq!(source_of_stem("x.log.gz-1.part12"), "x.log.gz-1");
        assert_eq!(source_of_stem("x.log.gz-1"), "x.log.gz-1");
        assert_eq!(source_of_stem("x.partial-1"), "x.partial-1");
        let (partition, name) =
            TablePartition::of_key("city_networks/dt=2026-06-01/hour=19/a-1.parquet").unwrap();
        assert_eq!(name, "a-1.parquet");
        assert_eq!(partition.start(), Some(1_780_315_200 + 7 * 3_600));
        assert_eq!(
            partition.kept_key(name),
            "_compacted/city_networks/dt=2026-06-01/hour=19/a-1.parquet"
        );
        assert_eq!(
            TablePartition::of_journal_key(&partition.journal_key()),
            Some(partition)
        );
        for key in [
            "city_networks/dt=2026-06-01/hour=24/a.parquet",
            "city_networks/dt=2026-13-01/hour=01/a.parquet",
            "city_networks/dt=2026-06-01/a.parquet",
            "city_networks/dt=2026-06-01/hour=01/x/a.parquet",
        ] {
            assert_eq!(TablePartition::of_key(key), None, "{key}");
        }
        assert!(is_compacted_file(&compacted_file_name("19a-2")));
        assert!(!is_compacted_file("batch-1.parquet"));
    }
}
