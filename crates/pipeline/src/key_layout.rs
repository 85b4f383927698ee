//! What AWS's S3 key layouts for flow logs say about an object: its account and Region.
//!
//! Default and hourly: `<prefix>/AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>[/<HH>]/`;
//! Hive and Hive hourly: `<prefix>/AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/aws-region=<region>/year=.../`.
//! Local copies of a bucket keep the same folders, so the same parsing serves paths.

/// The account and Region a key names, when it follows one of AWS's layouts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyLocation {
    /// The 12-digit AWS account that delivered the logs.
    pub account_id: Option<String>,
    /// AWS Region code, e.g. `eu-west-1`.
    pub region: Option<String>,
}

/// Reads the account and Region from a key or path (either separator).
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

/// True when a key's file name is a flow-log file: AWS writes `….log.gz` (text) and
/// `….log.parquet`; plain `.log` and `.gz` are accepted for logs copied by hand. Folder markers
/// and hidden files (`.x`, `_x`) are not logs.
pub fn is_log_file_name(key: &str) -> bool {
    let file_name = key.rsplit(['/', '\\']).next().unwrap_or(key);
    !file_name.is_empty()
        && !file_name.starts_with(['.', '_'])
        && [".log", ".gz", ".parquet"]
            .iter()
            .any(|suffix| file_name.ends_with(suffix))
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
    fn log_file_names() {
        for key in [
            "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/06/01/123456789012_vpcflowlogs_us-east-1_fl-0abc_20260601T1405Z_1a2b3c4d.log.gz",
            "AWSLogs/aws-account-id=1/x.log.parquet",
            "copied/by hand.log",
        ] {
            assert!(is_log_file_name(key), "{key}");
        }
        for key in [
            "AWSLogs/",
            "AWSLogs/_manifest.json",
            "x/.hidden.log.gz",
            "x/readme.txt",
        ] {
            assert!(!is_log_file_name(key), "{key}");
        }
    }
}
