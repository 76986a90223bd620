//! [`InvalidationConfig`]: the settings of an
//! [`InvalidationTracker`](super::InvalidationTracker), validated in one place.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache_core::{Error, Result};

/// The shortest accepted `retention`: one hour, the window of `last_hour` and of the alert level.
pub const MIN_RETENTION: Duration = Duration::from_secs(3_600);
/// The longest accepted `retention`: 24 hours, the longest window the statistics report.
pub const MAX_RETENTION: Duration = Duration::from_secs(86_400);
/// The largest accepted `max_patterns`.
pub const MAX_PATTERNS_LIMIT: usize = 65_536;
/// The largest accepted `recent_events`.
pub const MAX_RECENT_EVENTS_LIMIT: usize = 10_000;

/// Settings of an [`InvalidationTracker`](super::InvalidationTracker).
///
/// Deserializes from JSON with the retention in seconds:
/// `{"retention": 86400, "warning_per_hour": 50, "critical_per_hour": 100, "max_patterns": 256,
/// "recent_events": 100}`; absent fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InvalidationConfig {
    /// How long per-minute counts are kept: `1h..=24h`, rounded up to whole minutes. Default 24 h.
    ///
    /// `last_24_hours`, `average_per_hour` and the `efficiency` section cover this window, so a
    /// retention below 24 h shortens them; each retained minute costs 40 bytes (57.6 KB for 24 h).
    #[serde(with = "stratacache_core::serde_secs")]
    pub retention: Duration,
    /// Invalidations in the last hour from which the alert level is `warning`: `>= 1`. Default 50.
    pub warning_per_hour: u64,
    /// Invalidations in the last hour from which the alert level is `critical`:
    /// `>= warning_per_hour`. Default 100.
    pub critical_per_hour: u64,
    /// How many distinct patterns are counted by name, `1..=65536`; invalidations with further
    /// patterns are counted together as `"(other)"`. Default 256.
    pub max_patterns: usize,
    /// How many of the latest invalidations are kept for display, `0..=10000`. Default 100.
    pub recent_events: usize,
}

impl Default for InvalidationConfig {
    fn default() -> Self {
        Self {
            retention: MAX_RETENTION,
            warning_per_hour: 50,
            critical_per_hour: 100,
            max_patterns: 256,
            recent_events: 100,
        }
    }
}

impl InvalidationConfig {
    /// Checks every setting and reports all problems at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) listing each
    /// invalid setting with its value and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if !(MIN_RETENTION..=MAX_RETENTION).contains(&self.retention) {
            problems.push(format!(
                "retention = {}s is out of range (accepted: {}s..={}s, 1 to 24 hours)",
                self.retention.as_secs_f64(),
                MIN_RETENTION.as_secs(),
                MAX_RETENTION.as_secs()
            ));
        }
        if self.warning_per_hour == 0 {
            problems.push("warning_per_hour = 0 is out of range (accepted: >= 1)".to_owned());
        }
        if self.critical_per_hour == 0 || self.critical_per_hour < self.warning_per_hour {
            problems.push(format!(
                "critical_per_hour = {} is out of range (accepted: >= 1 and >= warning_per_hour = {})",
                self.critical_per_hour, self.warning_per_hour
            ));
        }
        if !(1..=MAX_PATTERNS_LIMIT).contains(&self.max_patterns) {
            problems.push(format!(
                "max_patterns = {} is out of range (accepted: 1..={MAX_PATTERNS_LIMIT})",
                self.max_patterns
            ));
        }
        if self.recent_events > MAX_RECENT_EVENTS_LIMIT {
            problems.push(format!(
                "recent_events = {} is out of range (accepted: 0..={MAX_RECENT_EVENTS_LIMIT})",
                self.recent_events
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::configuration(format!(
                "invalid invalidation monitor configuration: {}",
                problems.join("; ")
            )))
        }
    }

    /// The number of per-minute slots kept: the retention in whole minutes, rounded up.
    pub(crate) fn retention_minutes(&self) -> u64 {
        let minutes = self.retention.as_nanos().div_ceil(60_000_000_000).max(1);
        u64::try_from(minutes).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_round_trips() {
        let config = InvalidationConfig::default();
        config.validate().expect("valid");
        assert_eq!(config.retention_minutes(), 1_440);
        let json = serde_json::to_string(&config).expect("serialize");
        assert_eq!(
            json,
            r#"{"retention":86400,"warning_per_hour":50,"critical_per_hour":100,"max_patterns":256,"recent_events":100}"#
        );
        let back: InvalidationConfig = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, config);
        let partial: InvalidationConfig =
            serde_json::from_str(r#"{"retention": 3600.5}"#).expect("deserialize");
        assert_eq!(partial.retention, Duration::from_millis(3_600_500));
        assert_eq!(partial.retention_minutes(), 61);
        assert!(serde_json::from_str::<InvalidationConfig>(r#"{"retension": 3600}"#).is_err());
    }
}
