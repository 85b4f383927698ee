//! The state a scheduled run leaves for the next: the last window judged and the engine's open
//! event trackers ([`flowatlas_health::Carry`]). It is a cache of the health tables, never the
//! truth: whatever it says can be rebuilt from them, so a state that is missing, unreadable, of
//! another version or configuration, or ahead of the run is set aside and rebuilt.

use flowatlas_health::{Carry, HealthConfig};
use serde::{Deserialize, Serialize};

/// The state's name in the destination, beside the tables: Athena ignores names starting
/// with `_`.
pub const STATE_NAME: &str = "_health_state.json";

/// The layout version written; a state of another version is rebuilt.
pub const STATE_VERSION: u32 = 1;

/// What one scheduled run hands the next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_VERSION`] when written.
    pub version: u32,
    /// The configuration the trackers ran under (events open under other thresholds are not
    /// this configuration's).
    pub config: String,
    /// Start of the last window judged, Unix seconds.
    pub last_window: i64,
    /// The engine's trackers not at rest after it.
    pub carry: Carry,
}

/// Why a run did not resume from the stored state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rebuild {
    /// There is none (a first run, or it was deleted).
    Missing,
    /// It does not parse (`reason`), or is of another version.
    Unreadable(String),
    /// It was written under another configuration.
    OtherConfig,
    /// Its last window is not before the windows this run judges (a run `--at` an earlier
    /// time, or a clock that jumped back).
    Ahead,
    /// Its last window is older than [`crate::STALE_AFTER_SECONDS`].
    Stale,
}

impl Rebuild {
    /// snake_case, for logs and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Rebuild::Missing => "missing",
            Rebuild::Unreadable(_) => "unreadable",
            Rebuild::OtherConfig => "other_config",
            Rebuild::Ahead => "ahead",
            Rebuild::Stale => "stale",
        }
    }
}

/// The configuration as the state records it.
pub fn config_mark(config: &HealthConfig) -> String {
    format!("{config:?}")
}

impl State {
    /// The stored text as a state for a run judging windows before `to` under `config`, or
    /// why it cannot be used.
    pub fn usable(
        text: Option<&str>,
        config: &HealthConfig,
        to: i64,
        stale_after: i64,
    ) -> Result<State, Rebuild> {
        let text = text.ok_or(Rebuild::Missing)?;
        let state: State =
            serde_json::from_str(text).map_err(|error| Rebuild::Unreadable(error.to_string()))?;
        if state.version != STATE_VERSION {
            return Err(Rebuild::Unreadable(format!("version {}", state.version)));
        }
        if state.config != config_mark(config) {
            return Err(Rebuild::OtherConfig);
        }
        if state.last_window >= to {
            return Err(Rebuild::Ahead);
        }
        if state.last_window < to - stale_after {
            return Err(Rebuild::Stale);
        }
        Ok(state)
    }

    /// The JSON written.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}
