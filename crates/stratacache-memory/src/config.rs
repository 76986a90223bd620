//! [`MemoryConfig`]: the settings of a [`MemoryCache`](crate::MemoryCache), validated in one place.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache_core::{Error, Expiry, Result};

/// The largest accepted `max_entries`: one billion.
pub const MAX_ENTRIES_LIMIT: u64 = 1_000_000_000;

/// The smallest accepted `max_bytes`: 1 KiB.
pub const MIN_BYTES_LIMIT: u64 = 1024;

/// Which entry leaves first when the cache is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvictionPolicy {
    /// Least recently used leaves first (the reference system's policy). Every write is admitted.
    #[default]
    Lru,
    /// moka's TinyLFU: admission by estimated frequency, better hit ratios on skewed or scanning
    /// workloads. A write may be refused admission when the cache is full, so a value just set
    /// can read as a miss.
    TinyLfu,
}

/// Settings of a [`MemoryCache`](crate::MemoryCache).
///
/// Deserializes from JSON with durations in seconds:
/// `{"max_entries": 1000, "max_bytes": 67108864, "default_ttl": 300, "eviction": "lru"}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// Maximum number of entries, `1..=1_000_000_000`. Default 10 000.
    pub max_entries: u64,
    /// Optional bound on the bytes held by keys and values, `>= 1024`. Default: unbounded.
    ///
    /// With both bounds, each entry is charged at least `max_bytes / max_entries` bytes, which
    /// enforces both limits with one weigher (small entries are bounded by count, large ones by size).
    pub max_bytes: Option<u64>,
    /// TTL of entries written with [`Ttl::Default`](stratacache_core::Ttl::Default); `None`: they
    /// never expire. Between 1 ms and 100 years. Default: `None`.
    #[serde(with = "stratacache_core::serde_secs::option")]
    pub default_ttl: Option<Duration>,
    /// The eviction policy. Default [`EvictionPolicy::Lru`].
    pub eviction: EvictionPolicy,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: None,
            default_ttl: None,
            eviction: EvictionPolicy::Lru,
        }
    }
}

impl fmt::Debug for MemoryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryConfig")
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("default_ttl", &self.default_ttl)
            .field("eviction", &self.eviction)
            .finish()
    }
}

impl MemoryConfig {
    /// A configuration holding at most `max_entries` entries, with the other defaults.
    pub fn with_max_entries(max_entries: u64) -> Self {
        Self {
            max_entries,
            ..Self::default()
        }
    }

    /// Checks every setting and reports all problems at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) listing each
    /// invalid setting with its value and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if !(1..=MAX_ENTRIES_LIMIT).contains(&self.max_entries) {
            problems.push(format!(
                "max_entries = {} is out of range (accepted: 1..={MAX_ENTRIES_LIMIT})",
                self.max_entries
            ));
        }
        if let Some(bytes) = self.max_bytes
            && bytes < MIN_BYTES_LIMIT
        {
            problems.push(format!(
                "max_bytes = {bytes} is out of range (accepted: >= {MIN_BYTES_LIMIT})"
            ));
        }
        if let Some(ttl) = self.default_ttl
            && let Err(e) = Expiry::checked(ttl, "default_ttl")
        {
            problems.push(format!(
                "{} (accepted: 1ms..=100 years, or none for no expiry)",
                e.message()
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::configuration(format!(
                "invalid memory cache configuration: {}",
                problems.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_problem_with_value_and_range() {
        let config = MemoryConfig {
            max_entries: 0,
            max_bytes: Some(10),
            default_ttl: Some(Duration::ZERO),
            eviction: EvictionPolicy::Lru,
        };
        let err = config.validate().unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("configuration: "), "{msg}");
        assert!(
            msg.contains("max_entries = 0 is out of range (accepted: 1..=1000000000)"),
            "{msg}"
        );
        assert!(
            msg.contains("max_bytes = 10 is out of range (accepted: >= 1024)"),
            "{msg}"
        );
        assert!(msg.contains("default_ttl must be at least 1ms"), "{msg}");
    }

    #[test]
    fn default_is_valid_and_json_uses_seconds() {
        MemoryConfig::default().validate().unwrap();
        let c: MemoryConfig =
            serde_json::from_str(r#"{"max_entries": 5, "default_ttl": 1.5, "eviction": "tiny_lfu"}"#)
                .unwrap();
        assert_eq!(c.max_entries, 5);
        assert_eq!(c.default_ttl, Some(Duration::from_millis(1500)));
        assert_eq!(c.eviction, EvictionPolicy::TinyLfu);
        let err = serde_json::from_str::<MemoryConfig>(r#"{"max_entrys": 5}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `max_entrys`"), "{err}");
    }
}
