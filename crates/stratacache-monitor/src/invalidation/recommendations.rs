//! [`Recommendation`]s derived from [`InvalidationStats`].

use serde::{Deserialize, Serialize};

use super::OTHER_PATTERNS;
use super::stats::{AlertLevel, InvalidationStats, PatternCount};

/// Invalidations needed (since start for `dominant_pattern`, in the retention window for
/// `low_efficiency` and `high_impact`) before those recommendations are made: averages and shares
/// of a handful of events say little.
pub const MIN_EVENTS_FOR_RECOMMENDATIONS: u64 = 10;
/// The share of all invalidations above which one pattern is dominant (strictly above 50 %).
pub const DOMINANT_PATTERN_SHARE: f64 = 0.5;
/// Keys per invalidation on average below which invalidations are inefficient.
pub const LOW_EFFICIENCY_KEYS: f64 = 1.0;
/// Keys per invalidation on average above which invalidations have a high impact.
pub const HIGH_IMPACT_KEYS: f64 = 100.0;

/// How urgent a [`Recommendation`] is. Serializes in lower case; orders from `low` to `critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Costs hit ratio or load; fix soon.
    Medium,
    /// Hurts the cache's usefulness now.
    High,
    /// Part of the shared vocabulary; the invalidation recommendations stop at `high`.
    Critical,
}

/// Advice derived from the invalidation statistics, as served at
/// `/internal/cache/invalidation-recommendations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    /// How urgent it is.
    pub severity: Severity,
    /// A stable identifier: `high_frequency`, `dominant_pattern`, `low_efficiency` or
    /// `high_impact`.
    pub issue: String,
    /// What was observed, with the figures.
    pub message: String,
    /// What to do about it.
    pub suggestions: Vec<String>,
}

/// The body of `/internal/cache/invalidation-recommendations`: `{"recommendations": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecommendationList {
    /// The recommendations, possibly none.
    pub recommendations: Vec<Recommendation>,
}

impl From<Vec<Recommendation>> for RecommendationList {
    fn from(recommendations: Vec<Recommendation>) -> Self {
        Self { recommendations }
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl InvalidationStats {
    /// The recommendations these statistics call for, in this order, each present exactly when its
    /// condition holds:
    ///
    /// - `high_frequency`: `rates.last_hour >= warning_per_hour`; severity `medium`, `high` from
    ///   `critical_per_hour`.
    /// - `dominant_pattern`: at least [`MIN_EVENTS_FOR_RECOMMENDATIONS`] invalidations since start
    ///   and the most common pattern (not `"(other)"`) used by more than
    ///   [`DOMINANT_PATTERN_SHARE`] of them; severity `medium`.
    /// - `low_efficiency`: at least [`MIN_EVENTS_FOR_RECOMMENDATIONS`] invalidations in the
    ///   retention window removing fewer than [`LOW_EFFICIENCY_KEYS`] key each on average;
    ///   severity `low`.
    /// - `high_impact`: at least [`MIN_EVENTS_FOR_RECOMMENDATIONS`] invalidations in the retention
    ///   window removing more than [`HIGH_IMPACT_KEYS`] keys each on average; severity `medium`.
    pub fn recommendations(&self) -> Vec<Recommendation> {
        let mut out = Vec::new();
        let last_hour = self.rates.last_hour;
        let level = self.thresholds.current_alert_level;
        if level != AlertLevel::Normal {
            let (severity, threshold) = if level == AlertLevel::Critical {
                (Severity::High, self.thresholds.critical_per_hour)
            } else {
                (Severity::Medium, self.thresholds.warning_per_hour)
            };
            out.push(Recommendation {
                severity,
                issue: "high_frequency".to_owned(),
                message: format!(
                    "{last_hour} invalidations in the last hour, at or above the {} threshold of \
                     {threshold} per hour: frequent invalidation keeps the hit ratio low",
                    level.as_str()
                ),
                suggestions: strings(&[
                    "Batch related invalidations into one pattern instead of one call per key",
                    "Let entries that tolerate brief staleness expire by TTL instead of \
                     invalidating them on every write",
                    "Debounce invalidations triggered by bursts of updates to the same entity",
                    "Look for a retry loop or a scheduled job invalidating the same keys repeatedly",
                ]),
            });
        }
        let total = self.total_invalidations;
        let top = self
            .patterns
            .most_common_patterns
            .iter()
            .find(|p| p.pattern != OTHER_PATTERNS);
        if let Some(PatternCount { pattern, count }) = top
            && total >= MIN_EVENTS_FOR_RECOMMENDATIONS
            && *count as f64 > DOMINANT_PATTERN_SHARE * total as f64
        {
            out.push(Recommendation {
                severity: Severity::Medium,
                issue: "dominant_pattern".to_owned(),
                message: format!(
                    "Pattern `{pattern}` accounts for {count} of {total} invalidations ({:.0} %)",
                    100.0 * *count as f64 / total as f64
                ),
                suggestions: vec![
                    format!(
                        "Find out why `{pattern}` is invalidated so often: the data behind it may \
                         change too fast to be worth caching"
                    ),
                    format!("Give the keys matched by `{pattern}` a shorter TTL so they expire on their own"),
                    "Key the entries more finely so that one change invalidates only the entries \
                     it affects"
                        .to_owned(),
                ],
            });
        }
        let windowed = self.rates.last_24_hours;
        let avg_keys = self.efficiency.avg_keys_per_invalidation;
        if windowed >= MIN_EVENTS_FOR_RECOMMENDATIONS && avg_keys < LOW_EFFICIENCY_KEYS {
            out.push(Recommendation {
                severity: Severity::Low,
                issue: "low_efficiency".to_owned(),
                message: format!(
                    "{windowed} recent invalidations removed {avg_keys:.2} keys each on average: \
                     most of them found nothing to delete"
                ),
                suggestions: strings(&[
                    "Check that invalidation patterns match the keys actually written (prefix, \
                     namespace, hashed parts)",
                    "Invalidate only after a write that changed cached data, not on every request",
                    "Merge repeated single-key invalidations into one pattern",
                ]),
            });
        }
        if windowed >= MIN_EVENTS_FOR_RECOMMENDATIONS && avg_keys > HIGH_IMPACT_KEYS {
            out.push(Recommendation {
                severity: Severity::Medium,
                issue: "high_impact".to_owned(),
                message: format!(
                    "{windowed} recent invalidations removed {avg_keys:.1} keys each on average: \
                     each one empties a large part of the cache"
                ),
                suggestions: strings(&[
                    "Narrow broad patterns such as `prefix:*` to the entities that changed",
                    "Namespace keys per entity so that one change removes only its own entries",
                    "Schedule large invalidations off peak or warm the cache after them to avoid \
                     a burst of misses on the backend",
                ]),
            });
        }
        out
    }
}
