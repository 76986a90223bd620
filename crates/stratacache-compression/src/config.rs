//! [`CompressionConfig`]: the settings of a [`CompressionLayer`](crate::CompressionLayer),
//! validated in one place.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use stratacache_core::{Error, Result};

/// Default [`CompressionConfig::threshold`]: 1000 bytes (the reference system's
/// `compression_threshold`).
pub const DEFAULT_THRESHOLD: usize = 1000;

/// Accepted [`CompressionConfig::threshold`] values: `100..=100_000` bytes, as the reference
/// system's `compression_threshold`.
pub const THRESHOLD_RANGE: RangeInclusive<usize> = 100..=100_000;

/// Default [`CompressionConfig::level`]: 6 (the reference system's `compression_level`).
pub const DEFAULT_LEVEL: u8 = 6;

/// Accepted [`CompressionConfig::level`] values: `1..=9`, as the reference system's
/// `compression_level`. Level `n` is zstd level `n`.
pub const LEVEL_RANGE: RangeInclusive<u8> = 1..=9;

/// Default [`CompressionConfig::max_decompressed_size`]: 8 MiB.
///
/// Above the admin API's largest request body (1 MiB by default), so every value written over
/// HTTP is still compressed, and small enough that a crafted value cannot make a read allocate
/// more than this.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 8 * 1024 * 1024;

/// Accepted [`CompressionConfig::max_decompressed_size`] values: 1 KiB up to `u32::MAX` bytes
/// (the header stores the original length in four bytes).
pub const MAX_DECOMPRESSED_SIZE_RANGE: RangeInclusive<usize> = 1024..=(u32::MAX as usize);

/// Default [`CompressionConfig::offload_threshold`]: 64 KiB.
///
/// About 0.8 ms of zstd work at level 6 on write and well under 0.1 ms on read: below it the
/// hand-off to a blocking thread would cost more than it saves.
pub const DEFAULT_OFFLOAD_THRESHOLD: usize = 64 * 1024;

/// Settings of a [`CompressionLayer`](crate::CompressionLayer).
///
/// A serde struct; unknown fields are rejected, missing ones take their defaults. The reference
/// system's names `compression_threshold` and `compression_level` are accepted as aliases of
/// `threshold` and `level`:
///
/// ```
/// use stratacache_compression::CompressionConfig;
///
/// let config: CompressionConfig =
///     serde_json::from_str(r#"{"compression_threshold": 500, "compression_level": 9}"#).unwrap();
/// assert_eq!((config.threshold, config.level), (500, 9));
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CompressionConfig {
    /// Values strictly longer than this many bytes are compressed; shorter ones, and those that
    /// do not shrink, are stored raw. `100..=100_000`, default 1000.
    #[serde(alias = "compression_threshold")]
    pub threshold: usize,
    /// Compression effort, `1..=9` (fastest to smallest); level `n` is zstd level `n`. Default 6.
    #[serde(alias = "compression_level")]
    pub level: u8,
    /// The largest value this layer decompresses, in bytes: a stored value that declares a
    /// larger original length is rejected before any memory is allocated for it
    /// (decompression-bomb protection). Values longer than this are written raw, so that every
    /// value the layer writes can be read back. `1024..=4_294_967_295`, default 8 MiB.
    pub max_decompressed_size: usize,
    /// Values longer than this many bytes are compressed and decompressed on tokio's blocking
    /// thread pool (`tokio::task::spawn_blocking`) instead of on the task that calls the cache,
    /// so that zstd work on a large value does not hold an executor thread. Shorter values are
    /// handled inline, where a thread hand-off would cost more than the work. Outside a tokio
    /// runtime everything runs inline. Any value (`0`: every compressed value is offloaded,
    /// `usize::MAX`: none); default 64 KiB.
    pub offload_threshold: usize,
    /// Read values that lack the layer's header (written without this layer) as they are,
    /// instead of failing with [`ErrorKind::Serialization`](stratacache_core::ErrorKind).
    ///
    /// For migrating a cache that already holds plain values; writes always carry the header.
    /// Default `false`.
    pub legacy_plain: bool,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
            level: DEFAULT_LEVEL,
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            offload_threshold: DEFAULT_OFFLOAD_THRESHOLD,
            legacy_plain: false,
        }
    }
}

impl CompressionConfig {
    /// Checks every setting and reports all problems at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) naming each
    /// invalid setting with its value and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if !THRESHOLD_RANGE.contains(&self.threshold) {
            problems.push(format!(
                "threshold (compression_threshold) = {} is out of range (accepted: {}..={} bytes)",
                self.threshold,
                THRESHOLD_RANGE.start(),
                THRESHOLD_RANGE.end()
            ));
        }
        if !LEVEL_RANGE.contains(&self.level) {
            problems.push(format!(
                "level (compression_level) = {} is out of range (accepted: {}..={})",
                self.level,
                LEVEL_RANGE.start(),
                LEVEL_RANGE.end()
            ));
        }
        if !MAX_DECOMPRESSED_SIZE_RANGE.contains(&self.max_decompressed_size) {
            problems.push(format!(
                "max_decompressed_size = {} is out of range (accepted: {}..={} bytes)",
                self.max_decompressed_size,
                MAX_DECOMPRESSED_SIZE_RANGE.start(),
                MAX_DECOMPRESSED_SIZE_RANGE.end()
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::configuration(format!(
                "invalid compression configuration: {}",
                problems.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use stratacache_core::ErrorKind;

    use super::*;

    #[test]
    fn defaults_match_the_reference_and_are_valid() {
        let c = CompressionConfig::default();
        assert_eq!((c.threshold, c.level), (1000, 6));
        assert_eq!(c.max_decompressed_size, 8 * 1024 * 1024);
        assert_eq!(c.offload_threshold, 64 * 1024);
        assert!(!c.legacy_plain);
        c.validate().unwrap();
    }

    #[test]
    fn reports_every_problem_with_value_and_range() {
        let c = CompressionConfig {
            threshold: 99,
            level: 0,
            max_decompressed_size: 10,
            ..CompressionConfig::default()
        };
        let err = c.validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        let msg = err.to_string();
        assert!(
            msg.contains(
                "threshold (compression_threshold) = 99 is out of range (accepted: 100..=100000 bytes)"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("level (compression_level) = 0 is out of range (accepted: 1..=9)"),
            "{msg}"
        );
        assert!(
            msg.contains("max_decompressed_size = 10 is out of range (accepted: 1024..=4294967295 bytes)"),
            "{msg}"
        );
    }

    #[test]
    fn range_edges() {
        let with = |threshold, level| CompressionConfig {
            threshold,
            level,
            ..CompressionConfig::default()
        };
        for (t, l) in [(100, 1), (100_000, 9)] {
            with(t, l).validate().unwrap();
        }
        for (t, l) in [(100_001, 6), (1000, 10)] {
            assert!(with(t, l).validate().is_err(), "{t} {l}");
        }
    }

    #[test]
    fn serde_rejects_unknown_fields_and_fills_defaults() {
        let c: CompressionConfig = serde_json::from_str(r#"{"threshold": 200}"#).unwrap();
        assert_eq!(
            c,
            CompressionConfig {
                threshold: 200,
                ..CompressionConfig::default()
            }
        );
        let err = serde_json::from_str::<CompressionConfig>(r#"{"treshold": 200}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `treshold`"), "{err}");
        let json = serde_json::to_value(CompressionConfig::default()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "threshold": 1000, "level": 6, "max_decompressed_size": 8388608,
                "offload_threshold": 65536, "legacy_plain": false
            })
        );
    }
}
