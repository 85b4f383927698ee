//! Health scores, anomaly detection and health events from the flowatlas tables, in CloudWatch
//! Internet Monitor's terms — measured from your own flow logs, so what flow logs cannot show
//! (round-trip times) is reported as not measured, never made up.
//!
//! # Overview
//!
//! - [`Observations`] takes `city_networks` and `client_prefixes` rows from any source (the
//!   engine does no I/O) and sums them per window and per city-network of a Region.
//! - [`assess`] walks the windows in order, as if live. For each city-network it finds the
//!   expected traffic from its own history ([`Method`]: same time of week, else of day, else the
//!   last hour), scaled by the service's demand now against history so a global dip is not
//!   blamed on one network; then the impact per signal (traffic short of expected, connection
//!   attempts unanswered, resets, rejections, each against its own baseline); then the
//!   availability scores and the [`HealthEvent`]s, raised and resolved with hysteresis.
//! - The [`Assessment`] holds a [`CityNetworkHealth`] per window × city-network, an
//!   [`OverallHealth`] per window and the events; [`publish`] turns them into EventBridge
//!   events and CloudWatch embedded-metric lines.
//!
//! ```
//! use flowatlas_health::{HealthConfig, Observations, assess};
//!
//! let mut observations = Observations::new();
//! // observations.add_city_networks(&rows); observations.add_prefixes(&prefix_rows);
//! let assessment = assess(&mut observations, &HealthConfig::default(), None, None);
//! assert!(assessment.events.is_empty());
//! ```
#![deny(missing_docs)]

mod assess;
mod assessment;
mod availability;
mod baseline;
mod config;
mod event;
mod observations;
mod performance;
pub mod publish;
mod resume;
#[cfg(test)]
mod test_world;

pub use assess::{assess, assess_after};
pub use assessment::{Assessment, CityNetworkHealth, Connections, OverallHealth, RatioEvidence};
pub use baseline::{HISTORY_SECONDS, Method, history_window_starts};
pub use config::{
    ConfigError, DEFAULT_AVAILABILITY_THRESHOLD, DEFAULT_LOCAL_THRESHOLD,
    DEFAULT_MIN_TRAFFIC_IMPACT_PERCENT, DEFAULT_PERFORMANCE_THRESHOLD, HealthConfig, LocalConfig,
};
pub use event::{
    CLOSE_AFTER, HealthEvent, ImpactType, ImpactedLocation, OPEN_AFTER, Signal, Status,
};
pub use observations::{CityNetwork, Identity, Observations};
pub use performance::{PerformanceHealth, RoundTripTime};
pub use resume::{Before, Carry, Earlier, Resumed};
