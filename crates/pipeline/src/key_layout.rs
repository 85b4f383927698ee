//! Which keys name a log flowatlas reads: the object's content kinds (flow logs, the
//! load-balancer logs that time clients) decided by name before anything is fetched. Where
//! keys are (partitions, AWS's layouts) is `flowatlas_store::layout`.

/// True when a key's file name is a log flowatlas reads: AWS writes `….log.gz` (text) and
/// `….log.parquet`; plain `.log` and `.gz` are accepted for logs copied by hand. Folder markers
/// and hidden files (`.x`, `_x`) are not logs, nor are the load-balancer logs that carry no
/// client timing (ALB access logs, Classic Load Balancer logs).
pub fn is_log_file_name(key: &str) -> bool {
    let file_name = key.rsplit(['/', '\\']).next().unwrap_or(key);
    let unread_elb_log = matches!(
        flowatlas_elblog::parse_key(key).map(|elb_key| elb_key.file),
        Some(flowatlas_elblog::ElbFile::NotRead(_))
    );
    !unread_elb_log
        && !file_name.is_empty()
        && !file_name.starts_with(['.', '_'])
        && [".log", ".gz", ".parquet"]
            .iter()
            .any(|suffix| file_name.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_file_names() {
        for key in [
            "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/06/01/123456789012_vpcflowlogs_us-east-1_fl-0abc_20260601T1405Z_1a2b3c4d.log.gz",
            "AWSLogs/aws-account-id=1/x.log.parquet",
            "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2026/06/01/conn_log_123456789012_elasticloadbalancing_us-east-2_app.my-alb.50dc6c495c0c9188_20260601T1205Z_198.51.100.7_2soosksg.log.gz",
            "copied/by hand.log",
        ] {
            assert!(is_log_file_name(key), "{key}");
        }
        for key in [
            "AWSLogs/",
            "AWSLogs/_manifest.json",
            "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2026/06/01/123456789012_elasticloadbalancing_us-east-2_app.my-alb.50dc6c495c0c9188_20260601T1205Z_198.51.100.7_2soosksg.log.gz",
            "x/.hidden.log.gz",
            "x/readme.txt",
        ] {
            assert!(!is_log_file_name(key), "{key}");
        }
    }
}
