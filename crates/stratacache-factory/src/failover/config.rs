//! [`FailoverConfig`]: the settings of a [`FailoverCache`](super::FailoverCache), validated in one
//! place.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache_core::{Error, Result};

/// The accepted range of [`FailoverConfig::failure_threshold`].
const FAILURE_THRESHOLD: (u32, u32) = (1, 100);
/// The accepted range of [`FailoverConfig::probe_interval`].
const PROBE_INTERVAL: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(60));
/// The accepted range of [`FailoverConfig::probe_timeout`].
const PROBE_TIMEOUT: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(60));
/// The largest accepted [`FailoverConfig::max_replay_keys`].
const MAX_REPLAY_KEYS: usize = 1_000_000;

/// Settings of a [`FailoverCache`](super::FailoverCache).
///
/// Deserializes from JSON with durations in seconds (fractions accepted); an absent field takes
/// its default: `{"failure_threshold": 5, "probe_interval": 0.5}`.
///
/// | field | default | accepted |
/// |---|---|---|
/// | `failure_threshold` | 3 | 1 ..= 100 |
/// | `probe_interval` | 1 s | 0.05 ..= 60 s |
/// | `probe_timeout` | 0.25 s | 0.01 ..= 60 s |
/// | `max_replay_keys` | 100 000 | 0 ..= 1 000 000 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FailoverConfig {
    /// Consecutive temporary failures of the primary (connection lost, timeout, unavailable) that
    /// open the circuit. Any success of the primary resets the count. 1 ..= 100, default 3.
    pub failure_threshold: u32,
    /// How often the background task checks the primary while the circuit is open (and retries a
    /// connection of a [`disconnected`](super::FailoverCache::disconnected) cache).
    /// 50 ms ..= 60 s, default 1 s.
    #[serde(with = "stratacache_core::serde_secs")]
    pub probe_interval: Duration,
    /// How long one check of the primary ([`Cache::health`](stratacache_core::Cache::health))
    /// and each key deleted from it during the replay may take. 10 ms ..= 60 s, default 250 ms.
    #[serde(with = "stratacache_core::serde_secs")]
    pub probe_timeout: Duration,
    /// How many keys and patterns written, deleted or invalidated through the fallback are
    /// remembered for the replay before the return to the primary (about 100 bytes each plus the
    /// key). Beyond it further keys are not recorded (counted in
    /// [`FailoverCounters::unrecorded`](super::FailoverCounters::unrecorded)): the primary may
    /// serve their older values after the recovery until they expire; nothing else is deleted.
    /// 0 ..= 1 000 000, default 100 000.
    pub max_replay_keys: usize,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(250),
            max_replay_keys: 100_000,
        }
    }
}

impl FailoverConfig {
    /// These settings with [`failure_threshold`](Self::failure_threshold) set.
    #[must_use]
    pub fn with_failure_threshold(mut self, failure_threshold: u32) -> Self {
        self.failure_threshold = failure_threshold;
        self
    }

    /// These settings with [`probe_interval`](Self::probe_interval) set.
    #[must_use]
    pub fn with_probe_interval(mut self, probe_interval: Duration) -> Self {
        self.probe_interval = probe_interval;
        self
    }

    /// These settings with [`probe_timeout`](Self::probe_timeout) set.
    #[must_use]
    pub fn with_probe_timeout(mut self, probe_timeout: Duration) -> Self {
        self.probe_timeout = probe_timeout;
        self
    }

    /// These settings with [`max_replay_keys`](Self::max_replay_keys) set.
    #[must_use]
    pub fn with_max_replay_keys(mut self, max_replay_keys: usize) -> Self {
        self.max_replay_keys = max_replay_keys;
        self
    }

    /// Checks every setting and reports all problems at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) naming each invalid
    /// setting with its value and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        let (min, max) = FAILURE_THRESHOLD;
        if !(min..=max).contains(&self.failure_threshold) {
            problems.push(format!(
                "failure_threshold = {} is out of range (accepted: {min}..={max})",
                self.failure_threshold
            ));
        }
        for (name, value, (min, max)) in [
            ("probe_interval", self.probe_interval, PROBE_INTERVAL),
            ("probe_timeout", self.probe_timeout, PROBE_TIMEOUT),
        ] {
            if !(min..=max).contains(&value) {
                problems.push(format!(
                    "{name} = {value:?} is out of range (accepted: {min:?}..={max:?})"
                ));
            }
        }
        if self.max_replay_keys > MAX_REPLAY_KEYS {
            problems.push(format!(
                "max_replay_keys = {} is out of range (accepted: 0..={MAX_REPLAY_KEYS})",
                self.max_replay_keys
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::configuration(format!(
                "invalid failover configuration: {}",
                problems.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use stratacache_core::ErrorKind;

    #[test]
    fn defaults_and_bounds_are_valid() {
        let config = FailoverConfig::default();
        assert_eq!(config.failure_threshold, 3);
        assert_eq!(config.probe_interval, Duration::from_secs(1));
        assert_eq!(config.probe_timeout, Duration::from_millis(250));
        assert_eq!(config.max_replay_keys, 100_000);
        config.validate().unwrap();
        for config in [
            FailoverConfig::default()
                .with_failure_threshold(1)
                .with_probe_interval(Duration::from_millis(50))
                .with_probe_timeout(Duration::from_millis(10))
                .with_max_replay_keys(0),
            FailoverConfig::default()
                .with_failure_threshold(100)
                .with_probe_interval(Duration::from_secs(60))
                .with_probe_timeout(Duration::from_secs(60))
                .with_max_replay_keys(1_000_000),
        ] {
            config.validate().unwrap();
        }
    }

    #[test]
    fn reports_every_problem_with_field_value_and_range() {
        let config = FailoverConfig::default()
            .with_failure_threshold(0)
            .with_probe_interval(Duration::from_millis(49))
            .with_probe_timeout(Duration::from_secs(61))
            .with_max_replay_keys(1_000_001);
        let err = config.validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        let msg = err.to_string();
        for expected in [
            "configuration: invalid failover configuration: ",
            "failure_threshold = 0 is out of range (accepted: 1..=100)",
            "probe_interval = 49ms is out of range (accepted: 50ms..=60s)",
            "probe_timeout = 61s is out of range (accepted: 10ms..=60s)",
            "max_replay_keys = 1000001 is out of range (accepted: 0..=1000000)",
        ] {
            assert!(msg.contains(expected), "{expected:?} not in {msg}");
        }
        let err = FailoverConfig::default()
            .with_failure_threshold(101)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("failure_threshold = 101"), "{err}");
        assert!(!err.to_string().contains("probe_interval"), "{err}");
    }

    #[test]
    fn json_uses_seconds_and_defaults() {
        let c: FailoverConfig =
            serde_json::from_str(r#"{"failure_threshold": 5, "probe_interval": 0.5}"#).unwrap();
        assert_eq!(
            c,
            FailoverConfig::default()
                .with_failure_threshold(5)
                .with_probe_interval(Duration::from_millis(500))
        );
        let json = serde_json::to_string(&FailoverConfig::default()).unwrap();
        assert_eq!(
            json,
            r#"{"failure_threshold":3,"probe_interval":1,"probe_timeout":0.25,"max_replay_keys":100000}"#
        );
        let err = serde_json::from_str::<FailoverConfig>(r#"{"threshold": 5}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `threshold`"), "{err}");
    }
}
