//! [`TieredConfig`]: the settings of a [`TieredCache`](crate::TieredCache), validated in one place.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache_core::{Error, MAX_TTL, MIN_TTL, Result};

/// The default [`TieredConfig::l1_ttl`]: an entry stays at most 60 seconds in L1 before it is read
/// from L2 again.
pub const DEFAULT_L1_TTL: Duration = Duration::from_secs(60);

/// Settings of a [`TieredCache`](crate::TieredCache).
///
/// Deserializes from JSON with durations in seconds; `null` means "none" and an absent field takes
/// its default: `{"default_ttl": 3600, "l1_ttl": 30}`, or `{"l1_ttl": null}` for no L1 cap.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TieredConfig {
    /// The TTL of entries written with [`Ttl::Default`](stratacache_core::Ttl::Default); `None`:
    /// they never expire. Between 1 ms and 100 years. Default: `None`.
    ///
    /// The tiered cache resolves every TTL itself and hands both tiers the same explicit TTL, so
    /// the tiers' own default TTLs are never used by writes made through it: set this to the TTL
    /// the L2 would have applied.
    #[serde(with = "stratacache_core::serde_secs::option")]
    pub default_ttl: Option<Duration>,
    /// The longest time an entry stays in L1 (it never stays longer than its remaining TTL in L2
    /// either); `None`: no cap beyond the entry's own TTL. Between 1 ms and 100 years. Default:
    /// [`DEFAULT_L1_TTL`] (60 s).
    ///
    /// L1 is per process and nothing tells it yet when another process changes L2, so this is the
    /// bound on how stale a value served from L1 can be after another process overwrote or deleted
    /// it (see the crate documentation).
    #[serde(with = "stratacache_core::serde_secs::option")]
    pub l1_ttl: Option<Duration>,
    /// Whether values read from L2 are copied into L1 (default `true`). Off, L1 holds only what
    /// this process wrote: large or rarely reused values stay out of the memory tier.
    pub promote_on_read: bool,
}

impl Default for TieredConfig {
    fn default() -> Self {
        Self {
            default_ttl: None,
            l1_ttl: Some(DEFAULT_L1_TTL),
            promote_on_read: true,
        }
    }
}

impl fmt::Debug for TieredConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredConfig")
            .field("default_ttl", &self.default_ttl)
            .field("l1_ttl", &self.l1_ttl)
            .field("promote_on_read", &self.promote_on_read)
            .finish()
    }
}

impl TieredConfig {
    /// The defaults with `default_ttl` set (`None`: entries written with the default never expire).
    #[must_use]
    pub fn with_default_ttl(mut self, default_ttl: Option<Duration>) -> Self {
        self.default_ttl = default_ttl;
        self
    }

    /// These settings with `promote_on_read` set.
    #[must_use]
    pub fn with_promote_on_read(mut self, promote: bool) -> Self {
        self.promote_on_read = promote;
        self
    }

    /// These settings with `l1_ttl` set (`None`: entries stay in L1 as long as in L2).
    #[must_use]
    pub fn with_l1_ttl(mut self, l1_ttl: Option<Duration>) -> Self {
        self.l1_ttl = l1_ttl;
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
        let fields = [
            (
                "default_ttl",
                self.default_ttl,
                "null for entries that never expire",
            ),
            ("l1_ttl", self.l1_ttl, "null for no cap"),
        ];
        for (name, value, none_means) in fields {
            if let Some(d) = value
                && !(MIN_TTL..=MAX_TTL).contains(&d)
            {
                problems.push(format!(
                    "{name} = {d:?} is out of range (accepted: 1ms ..= {}s (100 years), or {none_means})",
                    MAX_TTL.as_secs()
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::configuration(format!(
                "invalid tiered cache configuration: {}",
                problems.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratacache_core::ErrorKind;

    #[test]
    fn reports_every_problem_with_field_value_and_range() {
        let config = TieredConfig {
            default_ttl: Some(Duration::ZERO),
            l1_ttl: Some(MAX_TTL + Duration::from_secs(1)),
            promote_on_read: true,
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        let msg = err.to_string();
        assert!(
            msg.starts_with("configuration: invalid tiered cache configuration: "),
            "{msg}"
        );
        assert!(
            msg.contains("default_ttl = 0ns is out of range (accepted: 1ms ..= 3153600000s (100 years), or null for entries that never expire)"),
            "{msg}"
        );
        assert!(
            msg.contains("l1_ttl = 3153600001s is out of range (accepted: 1ms ..= 3153600000s (100 years), or null for no cap)"),
            "{msg}"
        );
        let sub_ms = TieredConfig::default().with_l1_ttl(Some(Duration::from_micros(999)));
        assert!(
            sub_ms
                .validate()
                .unwrap_err()
                .to_string()
                .contains("l1_ttl = 999µs")
        );
    }

    #[test]
    fn defaults_and_bounds_are_valid() {
        let config = TieredConfig::default();
        assert_eq!(config.default_ttl, None);
        assert_eq!(config.l1_ttl, Some(DEFAULT_L1_TTL));
        config.validate().unwrap();
        let bounds = TieredConfig::default()
            .with_default_ttl(Some(MIN_TTL))
            .with_l1_ttl(Some(MAX_TTL));
        bounds.validate().unwrap();
        TieredConfig::default().with_l1_ttl(None).validate().unwrap();
    }

    #[test]
    fn json_uses_seconds_null_and_defaults() {
        let c: TieredConfig = serde_json::from_str(r#"{"default_ttl": 3600, "l1_ttl": 0.5}"#).unwrap();
        assert_eq!(c.default_ttl, Some(Duration::from_secs(3600)));
        assert_eq!(c.l1_ttl, Some(Duration::from_millis(500)));

        let c: TieredConfig = serde_json::from_str(r#"{"l1_ttl": null}"#).unwrap();
        assert_eq!(c, TieredConfig::default().with_l1_ttl(None));
        let c: TieredConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, TieredConfig::default());

        let json = serde_json::to_string(&TieredConfig::default()).unwrap();
        assert_eq!(json, r#"{"default_ttl":null,"l1_ttl":60,"promote_on_read":true}"#);
        let err = serde_json::from_str::<TieredConfig>(r#"{"l1ttl": 5}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `l1ttl`"), "{err}");
    }
}
