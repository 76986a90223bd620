//! The report types: [`InvalidationStats`] (the `invalidation` section of the performance
//! statistics), [`AlertLevel`] and [`PatternType`].

use serde::{Deserialize, Serialize};

/// The alert level of the invalidation rate, from the invalidations of the last hour `n`:
/// `critical` when `n >= critical_per_hour`, else `warning` when `n >= warning_per_hour`, else
/// `normal`. Serializes in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    /// Below the warning threshold.
    Normal,
    /// At or above the warning threshold, below the critical one.
    Warning,
    /// At or above the critical threshold.
    Critical,
}

impl AlertLevel {
    /// The level of `last_hour` invalidations against the thresholds.
    ///
    /// ```
    /// use stratacache_monitor::invalidation::AlertLevel;
    ///
    /// assert_eq!(AlertLevel::for_rate(49, 50, 100), AlertLevel::Normal);
    /// assert_eq!(AlertLevel::for_rate(50, 50, 100), AlertLevel::Warning);
    /// assert_eq!(AlertLevel::for_rate(100, 50, 100), AlertLevel::Critical);
    /// ```
    pub fn for_rate(last_hour: u64, warning_per_hour: u64, critical_per_hour: u64) -> Self {
        if last_hour >= critical_per_hour {
            Self::Critical
        } else if last_hour >= warning_per_hour {
            Self::Warning
        } else {
            Self::Normal
        }
    }

    /// The serialized name: `"normal"`, `"warning"` or `"critical"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// What an invalidation pattern selects, in the glob syntax of
/// [`stratacache_core::Glob`] (`*`, `?`, `[...]`, `\` escapes). Serializes in snake case.
///
/// ```
/// use stratacache_monitor::invalidation::PatternType;
///
/// assert_eq!(PatternType::of("user:42"), PatternType::Exact);
/// assert_eq!(PatternType::of("user:*"), PatternType::Prefix);
/// assert_eq!(PatternType::of("*:profile"), PatternType::Suffix);
/// assert_eq!(PatternType::of("*summarize*"), PatternType::Contains);
/// assert_eq!(PatternType::of("user:?:*"), PatternType::Glob);
/// assert_eq!(PatternType::of("*"), PatternType::All);
/// assert_eq!(PatternType::of(r"user:\*"), PatternType::Exact);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternType {
    /// No wildcard (escaped ones are literal): one key.
    Exact,
    /// `literal*`: the keys starting with a literal.
    Prefix,
    /// `*literal`: the keys ending with a literal.
    Suffix,
    /// `*literal*`: the keys containing a literal (the AI cache's substring invalidation).
    Contains,
    /// Any other use of `*`, `?` or `[...]`.
    Glob,
    /// Only stars (`*`): every key.
    All,
}

impl PatternType {
    /// Every type, in the order of [`InvalidationTypes`]' fields.
    pub(crate) const ALL: [Self; 6] = [
        Self::Exact,
        Self::Prefix,
        Self::Suffix,
        Self::Contains,
        Self::Glob,
        Self::All,
    ];

    /// Classifies a pattern.
    pub fn of(pattern: &str) -> Self {
        // The pattern as runs of literal bytes (`false`) and of stars (`true`); more than three
        // runs, `?` or `[` make it a glob.
        let mut runs = [false; 3];
        let mut len = 0;
        let mut bytes = pattern.bytes();
        while let Some(b) = bytes.next() {
            let star = match b {
                b'*' => true,
                b'?' | b'[' => return Self::Glob,
                b'\\' => {
                    bytes.next();
                    false
                }
                _ => false,
            };
            if len > 0 && runs[len - 1] == star {
                continue;
            }
            if len == runs.len() {
                return Self::Glob;
            }
            runs[len] = star;
            len += 1;
        }
        match &runs[..len] {
            [] | [false] => Self::Exact,
            [true] => Self::All,
            [false, true] => Self::Prefix,
            [true, false] => Self::Suffix,
            [true, false, true] => Self::Contains,
            _ => Self::Glob,
        }
    }

    /// The position of the type in [`Self::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The `invalidation` section of the performance statistics, served at
/// `/internal/cache/invalidation-stats`.
///
/// Totals and pattern counts cover the tracker's lifetime; rates, the alert level and
/// `efficiency` cover the time windows described on each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidationStats {
    /// Invalidations recorded since the tracker started (exact).
    pub total_invalidations: u64,
    /// Keys they removed (exact).
    pub total_keys_invalidated: u64,
    /// Invalidations per time window.
    pub rates: InvalidationRates,
    /// The thresholds and the current alert level.
    pub thresholds: InvalidationThresholds,
    /// The most frequent patterns and the count per pattern type.
    pub patterns: PatternStats,
    /// Keys removed and time taken per invalidation, over the retention window.
    pub efficiency: InvalidationEfficiency,
    /// The latest invalidations, oldest first (at most `recent_events` of them).
    pub recent: Vec<RecentInvalidation>,
}

/// Invalidation counts per window, at minute granularity: a window of `n` minutes is the current
/// minute (of the Unix epoch, UTC) and the `n - 1` before it, so an event leaves the last hour
/// between 59 and 60 minutes after it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidationRates {
    /// Invalidations in the last 60 minutes.
    pub last_hour: u64,
    /// Invalidations in the last 24 hours (in the retention window, if shorter).
    pub last_24_hours: u64,
    /// `last_24_hours` divided by the hours it covers: the time since the tracker started,
    /// at least 1 hour and at most the retention (24 hours by default).
    pub average_per_hour: f64,
}

/// The alert thresholds and the current level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidationThresholds {
    /// Invalidations per hour from which the level is `warning`.
    pub warning_per_hour: u64,
    /// Invalidations per hour from which the level is `critical`.
    pub critical_per_hour: u64,
    /// The level of [`InvalidationRates::last_hour`].
    pub current_alert_level: AlertLevel,
}

/// Pattern counts since the tracker started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternStats {
    /// The 10 most frequent patterns, by count descending then pattern ascending. Patterns past
    /// the `max_patterns` distinct ones are counted together as `"(other)"`.
    pub most_common_patterns: Vec<PatternCount>,
    /// Invalidations per [`PatternType`].
    pub invalidation_types: InvalidationTypes,
}

/// A pattern and how many invalidations used it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternCount {
    /// The pattern (truncated to 256 bytes), or `"(other)"`.
    pub pattern: String,
    /// Invalidations with it.
    pub count: u64,
}

/// Invalidations per [`PatternType`]; serializes as a map from type name to count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidationTypes {
    /// [`PatternType::Exact`].
    pub exact: u64,
    /// [`PatternType::Prefix`].
    pub prefix: u64,
    /// [`PatternType::Suffix`].
    pub suffix: u64,
    /// [`PatternType::Contains`].
    pub contains: u64,
    /// [`PatternType::Glob`].
    pub glob: u64,
    /// [`PatternType::All`].
    pub all: u64,
}

impl InvalidationTypes {
    /// Builds the counts from an array in the order of [`PatternType::ALL`].
    pub(crate) fn from_counts(c: [u64; 6]) -> Self {
        let [exact, prefix, suffix, contains, glob, all] = c;
        Self {
            exact,
            prefix,
            suffix,
            contains,
            glob,
            all,
        }
    }

    /// The count of one type.
    pub fn get(&self, ty: PatternType) -> u64 {
        match ty {
            PatternType::Exact => self.exact,
            PatternType::Prefix => self.prefix,
            PatternType::Suffix => self.suffix,
            PatternType::Contains => self.contains,
            PatternType::Glob => self.glob,
            PatternType::All => self.all,
        }
    }
}

/// Keys removed and time taken per invalidation, over the retention window (the last 24 hours by
/// default); zeros when the window holds no invalidation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidationEfficiency {
    /// Keys removed per invalidation, on average.
    pub avg_keys_per_invalidation: f64,
    /// Mean duration of an invalidation, in seconds.
    pub avg_duration: f64,
    /// Longest invalidation, in seconds.
    pub max_duration: f64,
}

/// One recorded invalidation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentInvalidation {
    /// When it was recorded, ISO 8601 UTC (`2026-11-21T09:30:00Z`).
    pub timestamp: String,
    /// Its pattern (truncated to 256 bytes).
    pub pattern: String,
    /// Keys it removed.
    pub keys_invalidated: u64,
    /// How long it took, in seconds.
    pub duration: f64,
    /// What triggered it, as given by the caller (truncated to 256 bytes).
    pub operation_context: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let cases = [
            ("", PatternType::Exact),
            ("user:1", PatternType::Exact),
            (r"a\*b\?", PatternType::Exact),
            (r"trailing\", PatternType::Exact),
            ("*", PatternType::All),
            ("***", PatternType::All),
            ("user:*", PatternType::Prefix),
            ("user:**", PatternType::Prefix),
            ("*:v1", PatternType::Suffix),
            ("*op*", PatternType::Contains),
            (r"*a\*b*", PatternType::Contains),
            ("a*b", PatternType::Glob),
            ("*a*b", PatternType::Glob),
            ("user:?", PatternType::Glob),
            ("user:[0-9]", PatternType::Glob),
            ("a*b*c*d", PatternType::Glob),
        ];
        for (pattern, ty) in cases {
            assert_eq!(PatternType::of(pattern), ty, "{pattern:?}");
        }
        for (i, ty) in PatternType::ALL.into_iter().enumerate() {
            assert_eq!(ty.index(), i);
        }
    }

    #[test]
    fn names() {
        let json = serde_json::to_string(&PatternType::ALL).expect("serialize");
        assert_eq!(json, r#"["exact","prefix","suffix","contains","glob","all"]"#);
        for level in [AlertLevel::Normal, AlertLevel::Warning, AlertLevel::Critical] {
            let json = serde_json::to_string(&level).expect("serialize");
            assert_eq!(json, format!("\"{}\"", level.as_str()));
        }
    }
}
