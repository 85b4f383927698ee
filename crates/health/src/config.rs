//! When health events are raised: Internet Monitor's `HealthEventsConfig`, with its defaults.

/// Internet Monitor's default overall availability threshold.
pub const DEFAULT_AVAILABILITY_THRESHOLD: f64 = 95.0;
/// Internet Monitor's default local (city-network) threshold.
pub const DEFAULT_LOCAL_THRESHOLD: f64 = 60.0;
/// Internet Monitor's default minimum share of all traffic, in percent, for a local event
/// (the API documentation's value; CloudFormation's documentation says 0.01).
pub const DEFAULT_MIN_TRAFFIC_IMPACT_PERCENT: f64 = 0.1;

/// When to raise health events. Performance thresholds are absent on purpose: flow logs carry
/// no round-trip times, so there is no performance score to compare.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthConfig {
    /// An overall `AVAILABILITY` event is raised when the overall score is at or below this.
    pub availability_score_threshold: f64,
    /// `LOCAL_AVAILABILITY` events.
    pub local: LocalConfig,
}

/// When to raise local (city-network) events.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalConfig {
    /// Local events on or off.
    pub enabled: bool,
    /// A city-network's score at or below this is locally impacted.
    pub health_score_threshold: f64,
    /// ... and only if its impact is at least this percent of all traffic.
    pub min_traffic_impact_percent: f64,
}

impl Default for HealthConfig {
    fn default() -> HealthConfig {
        HealthConfig {
            availability_score_threshold: DEFAULT_AVAILABILITY_THRESHOLD,
            local: LocalConfig {
                enabled: true,
                health_score_threshold: DEFAULT_LOCAL_THRESHOLD,
                min_traffic_impact_percent: DEFAULT_MIN_TRAFFIC_IMPACT_PERCENT,
            },
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An object names the same key twice (JSON parsers keep one silently).
    #[error("{0}")]
    DuplicateKey(serde_json::Error),
    /// A key that is not part of the configuration.
    #[error("unknown key `{key}` (known: {known})")]
    UnknownKey {
        /// The key as the configuration spelled it.
        key: String,
        /// The keys allowed where it was found.
        known: &'static str,
    },
    /// A value of the wrong type or out of range.
    #[error("`{key}`: {problem}")]
    Invalid {
        /// The configuration key whose value is wrong.
        key: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}

const TOP_KEYS: &str = "availabilityScoreThreshold, availabilityLocalHealthEventsConfig";
const LOCAL_KEYS: &str = "status, healthScoreThreshold, minTrafficImpact";

impl HealthConfig {
    /// Reads Internet Monitor's `HealthEventsConfig` shape, camelCase, e.g.
    /// `{"availabilityScoreThreshold": 95, "availabilityLocalHealthEventsConfig":
    /// {"status": "ENABLED", "healthScoreThreshold": 60, "minTrafficImpact": 0.1}}`. Missing
    /// keys keep their defaults; unknown keys are refused, so a typo never passes silently.
    pub fn from_json(text: &str) -> Result<HealthConfig, ConfigError> {
        let mut config = HealthConfig::default();
        let UniqueKeys(value) = serde_json::from_str(text).map_err(|error| {
            // The only data error the parse can raise is a repeated key; the rest is syntax.
            if error.is_data() {
                ConfigError::DuplicateKey(error)
            } else {
                ConfigError::Json(error)
            }
        })?;
        let top = object(&value, "(top level)")?;
        for (key, value) in top {
            match key.as_str() {
                "availabilityScoreThreshold" => {
                    config.availability_score_threshold =
                        score(value, "availabilityScoreThreshold")?;
                }
                "availabilityLocalHealthEventsConfig" => {
                    for (key, value) in object(value, "availabilityLocalHealthEventsConfig")? {
                        match key.as_str() {
                            "status" => {
                                config.local.enabled = match value.as_str() {
                                    Some("ENABLED") => true,
                                    Some("DISABLED") => false,
                                    _ => {
                                        return Err(ConfigError::Invalid {
                                            key: "status",
                                            problem: "expected \"ENABLED\" or \"DISABLED\"",
                                        });
                                    }
                                }
                            }
                            "healthScoreThreshold" => {
                                config.local.health_score_threshold =
                                    score(value, "healthScoreThreshold")?;
                            }
                            "minTrafficImpact" => {
                                config.local.min_traffic_impact_percent =
                                    score(value, "minTrafficImpact")?;
                            }
                            _ => {
                                return Err(ConfigError::UnknownKey {
                                    key: key.clone(),
                                    known: LOCAL_KEYS,
                                });
                            }
                        }
                    }
                }
                _ => {
                    return Err(ConfigError::UnknownKey {
                        key: key.clone(),
                        known: TOP_KEYS,
                    });
                }
            }
        }
        Ok(config)
    }
}

/// JSON read like `serde_json::Value`, except that an object naming a key twice is an error:
/// `{"availabilityScoreThreshold": 90, "availabilityScoreThreshold": 50}` is a mistake to
/// show, not a value to pick.
struct UniqueKeys(serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<UniqueKeys, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }

    fn visit_i64<E>(self, value: i64) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E>(self, value: f64) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }

    fn visit_str<E>(self, value: &str) -> Result<serde_json::Value, E> {
        Ok(value.into())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut items: A,
    ) -> Result<serde_json::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(UniqueKeys(value)) = items.next_element()? {
            values.push(value);
        }
        Ok(values.into())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut entries: A,
    ) -> Result<serde_json::Value, A::Error> {
        let mut map = serde_json::Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "key `{key}` appears twice"
                )));
            }
            let UniqueKeys(value) = entries.next_value()?;
            map.insert(key, value);
        }
        Ok(map.into())
    }
}

fn object<'v>(
    value: &'v serde_json::Value,
    key: &'static str,
) -> Result<&'v serde_json::Map<String, serde_json::Value>, ConfigError> {
    value.as_object().ok_or(ConfigError::Invalid {
        key,
        problem: "expected an object",
    })
}

fn score(value: &serde_json::Value, key: &'static str) -> Result<f64, ConfigError> {
    value
        .as_f64()
        .filter(|number| (0.0..=100.0).contains(number))
        .ok_or(ConfigError::Invalid {
            key,
            problem: "expected a number from 0 to 100",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_object_is_internet_monitors_defaults() {
        assert_eq!(
            HealthConfig::from_json("{}").unwrap(),
            HealthConfig::default()
        );
        let defaults = HealthConfig::default();
        assert_eq!(defaults.availability_score_threshold, 95.0);
        assert_eq!(defaults.local.health_score_threshold, 60.0);
        assert_eq!(defaults.local.min_traffic_impact_percent, 0.1);
        assert!(defaults.local.enabled);
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        for text in [
            r#"{"availabilityScoreThreshold": 90, "availabilityScoreThreshold": 50}"#,
            r#"{"availabilityLocalHealthEventsConfig": {"status": "ENABLED", "status": "DISABLED"}}"#,
        ] {
            let error = HealthConfig::from_json(text).unwrap_err();
            assert!(
                matches!(error, ConfigError::DuplicateKey(_)),
                "{text}: {error}"
            );
            assert!(error.to_string().contains("appears twice"), "{error}");
        }
        // The same key in two different objects is not a repeat.
        assert!(
            HealthConfig::from_json(r#"{"availabilityScoreThreshold": 90, "availabilityLocalHealthEventsConfig": {"healthScoreThreshold": 50}}"#)
                .is_ok()
        );
    }

    #[test]
    fn every_key_is_read_and_unknown_keys_are_refused() {
        let config = HealthConfig::from_json(
            r#"{"availabilityScoreThreshold": 90, "availabilityLocalHealthEventsConfig":
               {"status": "DISABLED", "healthScoreThreshold": 50, "minTrafficImpact": 0.5}}"#,
        )
        .unwrap();
        assert_eq!(config.availability_score_threshold, 90.0);
        assert_eq!(
            config.local,
            LocalConfig {
                enabled: false,
                health_score_threshold: 50.0,
                min_traffic_impact_percent: 0.5
            }
        );
        for bad in [
            r#"{"availabilityScoreTreshold": 90}"#,
            r#"{"availabilityLocalHealthEventsConfig": {"status": "ON"}}"#,
            r#"{"availabilityScoreThreshold": 101}"#,
            r#"{"performanceScoreThreshold": 95}"#,
            "[]",
        ] {
            assert!(HealthConfig::from_json(bad).is_err(), "{bad}");
        }
    }
}
