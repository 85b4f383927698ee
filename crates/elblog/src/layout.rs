//! What AWS's S3 key layout for Elastic Load Balancing logs says about an object: its account,
//! Region, load balancer and which log it is.
//!
//! `<prefix>/AWSLogs/<account>/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/<file>`, where the
//! file name has one of the documented shapes:
//! - ALB connection log: `conn_log.<account>_elasticloadbalancing_<region>_app.<name>.<id>_<end-time>_<ip>_<random>.log.gz`
//!   (delivered objects are named `conn_log_…`, with an underscore; both are accepted);
//! - NLB access log: `<account>_elasticloadbalancing_<region>_net.<name>.<id>_<end-time>_<random>.log.gz`;
//! - ALB access log (`…_app.<name>.<id>_…` without `conn_log`) and Classic Load Balancer log
//!   (`…_<name>_…`): these carry no client network timing and are not read.
//!
//! Local copies of a bucket keep the same folders, so the same parsing serves paths.

use crate::field::LogKind;

/// An object under the Elastic Load Balancing layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElbKey {
    /// The account ID (12 digits).
    pub account_id: String,
    /// The Region of the load balancer (and of the bucket).
    pub region: String,
    /// What the file name says.
    pub file: ElbFile,
}

/// What an Elastic Load Balancing file name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElbFile {
    /// A log flowatlas reads, of the load balancer named.
    Read {
        /// Which log.
        kind: LogKind,
        /// The load balancer's name (`my-lb` of `app/my-lb/50dc6c495c0c9188`).
        load_balancer: String,
    },
    /// Another log of the layout, which carries no client network timing; what it is.
    NotRead(&'static str),
}

/// The layout's facts about `key` (a key or a path, either separator); `None` when it is not
/// under `AWSLogs/<account>/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/`.
pub fn parse_key(key: &str) -> Option<ElbKey> {
    let parts: Vec<&str> = key.split(['/', '\\']).collect();
    let logs_idx = parts.iter().rposition(|part| *part == "AWSLogs")?;
    let [
        account,
        "elasticloadbalancing",
        region,
        year,
        month,
        day,
        file_name,
    ] = parts[logs_idx + 1..]
    else {
        return None;
    };
    let is_digits = |text: &str, len: usize| {
        text.len() == len && text.bytes().all(|byte| byte.is_ascii_digit())
    };
    if !is_digits(account, 12)
        || region.is_empty()
        || !is_digits(year, 4)
        || !is_digits(month, 2)
        || !is_digits(day, 2)
    {
        return None;
    }
    Some(ElbKey {
        account_id: account.to_owned(),
        region: region.to_owned(),
        file: parse_file_name(file_name, account, region),
    })
}

/// Which log a file name of the layout is.
fn parse_file_name(file_name: &str, account: &str, region: &str) -> ElbFile {
    let (connection_log, rest) = match file_name
        .strip_prefix("conn_log.")
        .or_else(|| file_name.strip_prefix("conn_log_"))
    {
        Some(rest) => (true, rest),
        None => (false, file_name),
    };
    let Some(resource) = rest
        .strip_prefix(account)
        .and_then(|rest| rest.strip_prefix("_elasticloadbalancing_"))
        .and_then(|rest| rest.strip_prefix(region))
        .and_then(|rest| rest.strip_prefix('_'))
    else {
        return ElbFile::NotRead("a file of an unknown name shape");
    };
    // `<type>.<name>.<id>_<end-time>_…`: the resource ID with `/` written as `.`.
    let resource_id = resource.split('_').next().unwrap_or_default();
    let mut id_parts = resource_id.split('.');
    let (lb_type, name) = (id_parts.next(), id_parts.next());
    match (connection_log, lb_type, name) {
        (true, Some("app"), Some(name)) if !name.is_empty() => ElbFile::Read {
            kind: LogKind::AlbConnection,
            load_balancer: name.to_owned(),
        },
        (false, Some("net"), Some(name)) if !name.is_empty() => ElbFile::Read {
            kind: LogKind::NlbAccess,
            load_balancer: name.to_owned(),
        },
        (false, Some("app"), Some(_)) => {
            ElbFile::NotRead("an ALB access log (flowatlas reads ALB connection logs)")
        }
        (true, _, _) => ElbFile::NotRead("a connection log of an unknown load-balancer type"),
        _ => ElbFile::NotRead("a Classic Load Balancer log or another file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(kind: LogKind, name: &str) -> ElbFile {
        ElbFile::Read {
            kind,
            load_balancer: name.into(),
        }
    }

    #[test]
    fn documented_file_name_shapes() {
        let folder = "logs/AWSLogs/123456789012/elasticloadbalancing/us-east-2/2026/06/01";
        for (file_name, expected) in [
            (
                "conn_log.123456789012_elasticloadbalancing_us-east-2_app.my-alb.50dc6c495c0c9188_20260601T1205Z_198.51.100.7_2soosksg.log.gz",
                read(LogKind::AlbConnection, "my-alb"),
            ),
            (
                "conn_log_123456789012_elasticloadbalancing_us-east-2_app.my-alb.50dc6c495c0c9188_20260601T1205Z_198.51.100.7_2soosksg.log.gz",
                read(LogKind::AlbConnection, "my-alb"),
            ),
            (
                "123456789012_elasticloadbalancing_us-east-2_net.my-nlb.1234567890abcdef_20260601T1205Z_2soosksg.log.gz",
                read(LogKind::NlbAccess, "my-nlb"),
            ),
            (
                "123456789012_elasticloadbalancing_us-east-2_app.my-alb.50dc6c495c0c9188_20260601T1205Z_198.51.100.7_2soosksg.log.gz",
                ElbFile::NotRead("an ALB access log (flowatlas reads ALB connection logs)"),
            ),
            (
                "123456789012_elasticloadbalancing_us-east-2_my-classic_20260601T1205Z_198.51.100.7_2soosksg.log",
                ElbFile::NotRead("a Classic Load Balancer log or another file"),
            ),
            (
                "999999999999_elasticloadbalancing_us-east-2_net.x.1_20260601T1205Z_a.log.gz",
                ElbFile::NotRead("a file of an unknown name shape"),
            ),
        ] {
            let key = format!("{folder}/{file_name}");
            let parsed = parse_key(&key).unwrap();
            assert_eq!(parsed.account_id, "123456789012");
            assert_eq!(parsed.region, "us-east-2");
            assert_eq!(parsed.file, expected, "{file_name}");
        }
    }

    #[test]
    fn other_layouts_are_not_elb() {
        for key in [
            "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/06/01/x.log.gz",
            "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/06/x.log.gz",
            "AWSLogs/12345/elasticloadbalancing/us-east-1/2026/06/01/x.log.gz",
            "elasticloadbalancing/us-east-1/2026/06/01/x.log.gz",
        ] {
            assert_eq!(parse_key(key), None, "{key}");
        }
    }
}
