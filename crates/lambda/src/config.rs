//! The function's configuration, from environment variables, checked at cold start: a missing
//! or invalid setting stops the function before it takes any event, with a message that names
//! the variable.

use std::path::PathBuf;
use std::time::Duration;

use flowatlas_flowlog::Format;
use flowatlas_pipeline::Tables;
use flowatlas_s3::S3Url;

/// Where a file the function needs at cold start lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    /// A local path, e.g. in a Lambda layer under `/opt`.
    Local(PathBuf),
    /// An S3 object, fetched once per cold start.
    S3(S3Url),
}

/// Everything the function is told by its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Buckets and prefixes the function may read; events naming anything else are refused.
    pub sources: Vec<S3Url>,
    /// Where the tables go.
    pub destination: S3Url,
    /// Which tables to write.
    pub tables: Tables,
    /// Client prefix lengths, IPv4 and IPv6.
    pub prefix_lengths: (u8, u8),
    /// The user's own networks.
    pub local_cidrs: Vec<String>,
    /// ASN databases, tried in order.
    pub asn_dbs: Vec<FileSource>,
    /// Location databases, tried in order.
    pub geo_dbs: Vec<FileSource>,
    /// Prefix overrides CSV.
    pub prefixes: Option<FileSource>,
    /// AWS's ip-ranges.json.
    pub aws_ip_ranges: Option<FileSource>,
    /// The log format, when every object has the same custom format and no header.
    pub format: Option<Format>,
    /// Time kept back from the invocation's deadline for uploads: reading stops this long
    /// before the deadline and the object fails for retry.
    pub time_reserve: Duration,
    /// Table files above this size are uploaded in parts of this size.
    pub part_size: u64,
    /// The scheduled health mode's settings.
    pub health: HealthSettings,
}

/// How the scheduled health mode assesses the destination's tables.
#[derive(Clone, Debug)]
pub struct HealthSettings {
    /// Thresholds, in Internet Monitor's `HealthEventsConfig` shape.
    pub config: flowatlas_health::HealthConfig,
    /// Windows younger than this are not assessed yet: their flow logs are still arriving.
    pub delay: Duration,
    /// The EventBridge bus health events are put on; `None` publishes nothing.
    pub event_bus: Option<String>,
}

/// Every variable the function reads; any other `FLOWATLAS_` variable is a typo and an error.
const VARIABLES: &[&str] = &[
    "FLOWATLAS_SOURCES",
    "FLOWATLAS_DESTINATION",
    "FLOWATLAS_TABLES",
    "FLOWATLAS_PREFIX_LENGTHS",
    "FLOWATLAS_LOCAL_CIDRS",
    "FLOWATLAS_ASN_DBS",
    "FLOWATLAS_GEO_DBS",
    "FLOWATLAS_PREFIXES",
    "FLOWATLAS_AWS_IP_RANGES",
    "FLOWATLAS_FORMAT",
    "FLOWATLAS_TIME_RESERVE_SECONDS",
    "FLOWATLAS_PART_SIZE_MIB",
    "FLOWATLAS_HEALTH_CONFIG",
    "FLOWATLAS_HEALTH_DELAY_MINUTES",
    "FLOWATLAS_HEALTH_EVENT_BUS",
];

/// S3's smallest multipart part.
const MIN_PART_SIZE_MIB: u64 = 5;

impl Settings {
    /// Reads the settings from `(name, value)` pairs (the process environment in production).
    pub fn from_vars<I: IntoIterator<Item = (String, String)>>(
        vars: I,
    ) -> Result<Settings, String> {
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, _)| name.starts_with("FLOWATLAS_"))
            .collect();
        if let Some((unknown, _)) = vars
            .iter()
            .find(|(name, _)| !VARIABLES.contains(&name.as_str()))
        {
            return Err(format!(
                "{unknown}: unknown setting (known: {})",
                VARIABLES.join(", ")
            ));
        }
        let get = |name: &str| {
            vars.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.trim())
                .filter(|value| !value.is_empty())
        };
        let invalid = |name: &str, why: String| format!("{name}: {why}");
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|value| {
                    value
                        .split([',', ' ', '\n'])
                        .filter(|item| !item.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let s3_url = |name: &str, text: &str| {
            S3Url::parse(text).map_err(|error| invalid(name, error.to_string()))
        };
        let file_source = |name: &str, text: &str| -> Result<FileSource, String> {
            if text.starts_with("s3://") {
                Ok(FileSource::S3(s3_url(name, text)?))
            } else if text.starts_with('/') {
                Ok(FileSource::Local(PathBuf::from(text)))
            } else {
                Err(invalid(
                    name,
                    format!("`{text}`: expected an absolute path or s3://bucket/key"),
                ))
            }
        };

        let sources = list("FLOWATLAS_SOURCES")
            .iter()
            .map(|text| s3_url("FLOWATLAS_SOURCES", text))
            .collect::<Result<Vec<_>, _>>()?;
        if sources.is_empty() {
            return Err(
                "FLOWATLAS_SOURCES: required: the s3://bucket/prefix URLs the function may read"
                    .into(),
            );
        }
        let destination = match get("FLOWATLAS_DESTINATION") {
            Some(text) => s3_url("FLOWATLAS_DESTINATION", text)?,
            None => {
                return Err(
                    "FLOWATLAS_DESTINATION: required: the s3://bucket/prefix the tables go to"
                        .into(),
                );
            }
        };
        if let Some(source) = sources.iter().find(|source| {
            source.contains(&destination.bucket, &destination.prefix)
                || destination.contains(&source.bucket, &source.prefix)
        }) {
            return Err(format!(
                "FLOWATLAS_DESTINATION: {destination} overlaps the source {source}: the function would read its own output"
            ));
        }
        let tables = match get("FLOWATLAS_TABLES") {
            Some(text) => text
                .parse::<TableList>()
                .map(|list| list.0)
                .map_err(|why| invalid("FLOWATLAS_TABLES", why))?,
            None => Tables::default(),
        };
        let prefix_lengths = match get("FLOWATLAS_PREFIX_LENGTHS") {
            Some(text) => flowatlas_rollup::parse_prefix_lengths(text)
                .map_err(|why| invalid("FLOWATLAS_PREFIX_LENGTHS", why))?,
            None => (24, 48),
        };
        let file_sources = |name: &str| -> Result<Vec<FileSource>, String> {
            list(name)
                .iter()
                .map(|text| file_source(name, text))
                .collect()
        };
        let optional_file = |name: &str| -> Result<Option<FileSource>, String> {
            get(name).map(|text| file_source(name, text)).transpose()
        };
        let format = get("FLOWATLAS_FORMAT")
            .map(|text| {
                Format::parse(text).map_err(|error| invalid("FLOWATLAS_FORMAT", error.to_string()))
            })
            .transpose()?;
        let number = |name: &str, default: u64| -> Result<u64, String> {
            get(name).map_or(Ok(default), |text| {
                text.parse()
                    .map_err(|_| invalid(name, format!("`{text}` is not a whole number")))
            })
        };
        let part_size_mib = number("FLOWATLAS_PART_SIZE_MIB", 16)?;
        if part_size_mib < MIN_PART_SIZE_MIB {
            return Err(invalid(
                "FLOWATLAS_PART_SIZE_MIB",
                format!("{part_size_mib}: S3 parts are at least {MIN_PART_SIZE_MIB} MiB"),
            ));
        }
        let health_config = match get("FLOWATLAS_HEALTH_CONFIG") {
            Some(text) => flowatlas_health::HealthConfig::from_json(text)
                .map_err(|error| invalid("FLOWATLAS_HEALTH_CONFIG", error.to_string()))?,
            None => flowatlas_health::HealthConfig::default(),
        };
        let health = HealthSettings {
            config: health_config,
            delay: Duration::from_secs(60 * number("FLOWATLAS_HEALTH_DELAY_MINUTES", 15)?),
            event_bus: match get("FLOWATLAS_HEALTH_EVENT_BUS") {
                Some("none") => None,
                Some(bus) => Some(bus.to_owned()),
                None => Some("default".to_owned()),
            },
        };
        Ok(Settings {
            health,
            sources,
            destination,
            tables,
            prefix_lengths,
            local_cidrs: list("FLOWATLAS_LOCAL_CIDRS"),
            asn_dbs: file_sources("FLOWATLAS_ASN_DBS")?,
            geo_dbs: file_sources("FLOWATLAS_GEO_DBS")?,
            prefixes: optional_file("FLOWATLAS_PREFIXES")?,
            aws_ip_ranges: optional_file("FLOWATLAS_AWS_IP_RANGES")?,
            format,
            time_reserve: Duration::from_secs(number("FLOWATLAS_TIME_RESERVE_SECONDS", 20)?),
            part_size: part_size_mib << 20,
        })
    }

    /// True when the function may read `bucket`/`key`.
    pub fn may_read(&self, bucket: &str, key: &str) -> bool {
        self.sources
            .iter()
            .any(|source| source.contains(bucket, key))
    }
}

/// `FLOWATLAS_TABLES`: a comma-separated list of table names, e.g.
/// `city_networks,client_prefixes,flows`.
struct TableList(Tables);

impl std::str::FromStr for TableList {
    type Err = String;

    fn from_str(list: &str) -> Result<TableList, String> {
        let mut tables = Tables {
            city_networks: false,
            client_prefixes: false,
            flows: false,
        };
        for name in list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            match name {
                flowatlas_tables::CITY_NETWORKS => tables.city_networks = true,
                flowatlas_tables::CLIENT_PREFIXES => tables.client_prefixes = true,
                flowatlas_tables::FLOWS => tables.flows = true,
                other => {
                    return Err(format!(
                        "unknown table `{other}` (known: city_networks, client_prefixes, flows)"
                    ));
                }
            }
        }
        if !(tables.city_networks || tables.client_prefixes || tables.flows) {
            return Err("no table named".into());
        }
        Ok(TableList(tables))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    const MINIMAL: [(&str, &str); 2] = [
        ("FLOWATLAS_SOURCES", "s3://logs-bucket/AWSLogs/"),
        ("FLOWATLAS_DESTINATION", "s3://tables-bucket/flowatlas/"),
    ];

    #[test]
    fn defaults_fill_what_is_not_set() {
        let settings = settings(&MINIMAL).unwrap();
        assert_eq!(settings.tables, Tables::default());
        assert_eq!(settings.prefix_lengths, (24, 48));
        assert_eq!(settings.part_size, 16 << 20);
        assert!(settings.may_read("logs-bucket", "AWSLogs/1/x.log.gz"));
        assert!(!settings.may_read("logs-bucket", "elsewhere/x.log.gz"));
        assert!(!settings.may_read("other-bucket", "AWSLogs/1/x.log.gz"));
    }

    #[test]
    fn every_error_names_its_variable() {
        let with = |extra: (&str, &str)| {
            let mut vars = MINIMAL.to_vec();
            vars.retain(|(name, _)| *name != extra.0);
            vars.push(extra);
            settings(&vars).unwrap_err()
        };
        let cases = [
            ("FLOWATLAS_SOURCES", ""),
            ("FLOWATLAS_SOURCES", "logs-bucket/AWSLogs"),
            ("FLOWATLAS_DESTINATION", "s3://logs-bucket/AWSLogs/tables/"),
            ("FLOWATLAS_TABLES", "city_networks,everything"),
            ("FLOWATLAS_PREFIX_LENGTHS", "24"),
            ("FLOWATLAS_ASN_DBS", "asn.mmdb"),
            ("FLOWATLAS_FORMAT", "${version} ${nonsense}"),
            ("FLOWATLAS_PART_SIZE_MIB", "4"),
            ("FLOWATLAS_TIME_RESERVE_SECONDS", "soon"),
            ("FLOWATLAS_TABELS", "flows"),
            (
                "FLOWATLAS_HEALTH_CONFIG",
                "{\"availabilityScoreThreshold\": 120}",
            ),
        ];
        for (name, value) in cases {
            let error = with((name, value));
            assert!(error.starts_with(name), "{name}={value}: {error}");
        }
        assert!(
            settings(&MINIMAL[..1])
                .unwrap_err()
                .starts_with("FLOWATLAS_DESTINATION")
        );
    }

    #[test]
    fn files_come_from_layers_or_s3() {
        let mut vars = MINIMAL.to_vec();
        vars.push((
            "FLOWATLAS_ASN_DBS",
            "/opt/geo/asn-v4.mmdb, s3://geo-bucket/asn-v6.mmdb",
        ));
        let settings = settings(&vars).unwrap();
        assert_eq!(settings.asn_dbs.len(), 2);
        assert!(matches!(&settings.asn_dbs[1], FileSource::S3(url) if url.prefix == "asn-v6.mmdb"));
    }
}
