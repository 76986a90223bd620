//! Invalidation analytics with bounded memory: [`InvalidationTracker`] records each pattern
//! invalidation (pattern, keys removed, duration, operation context) and reports
//! [`InvalidationStats`] (the `invalidation` section of the performance statistics, served at
//! `/internal/cache/invalidation-stats`), an [`AlertLevel`] and [`Recommendation`]s.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use stratacache_monitor::ManualClock;
//! use stratacache_monitor::invalidation::{AlertLevel, InvalidationConfig, InvalidationTracker};
//!
//! let clock = Arc::new(ManualClock::new(Duration::from_secs(1_795_253_400)));
//! let tracker = InvalidationTracker::with_clock(InvalidationConfig::default(), clock.clone())?;
//! tracker.record("user:42:*", 3, Duration::from_millis(2), "profile update");
//! let stats = tracker.snapshot();
//! assert_eq!((stats.total_invalidations, stats.rates.last_hour), (1, 1));
//! assert_eq!(stats.recent[0].timestamp, "2026-11-21T09:30:00Z");
//! clock.advance(Duration::from_secs(3_600));
//! assert_eq!(tracker.snapshot().rates.last_hour, 0);
//! assert_eq!(tracker.alert_level(), AlertLevel::Normal);
//! # Ok::<(), stratacache_core::Error>(())
//! ```
//!
//! # Memory and locking
//!
//! Memory is fixed by the configuration, whatever the traffic:
//!
//! - the time windows are a ring of one slot per retained minute (40 bytes each, 57.6 KB for
//!   24 hours), each slot `{minute, count, keys, duration sum, longest}` in atomics;
//! - pattern counts name at most `max_patterns` patterns, the rest are counted as `"(other)"`;
//! - the latest `recent_events` invalidations are kept in a fixed-capacity ring;
//! - patterns and operation contexts longer than 256 bytes are truncated (at a character
//!   boundary) before being stored.
//!
//! [`InvalidationTracker::record`] takes no lock for the per-event counters (totals, per-type
//! counts and the minute slot are atomic `fetch_add`s: a mutex there would serialise every
//! invalidation of every thread on one lock). Two short locks remain, none held across I/O: the
//! read side of the pattern table's `RwLock` for one hash lookup (its write side only when a new
//! pattern is first seen, at most `max_patterns` times in the tracker's life, for one insertion),
//! and the recent-events `Mutex` for one push into a preallocated ring, without allocating
//! (skipped entirely when `recent_events` is 0). [`InvalidationTracker::snapshot`] holds each
//! lock only to copy counts and reference-counted strings out.

mod config;
mod patterns;
mod recommendations;
mod stats;
mod window;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use stratacache_core::Result;

pub use config::{
    InvalidationConfig, MAX_PATTERNS_LIMIT, MAX_RECENT_EVENTS_LIMIT, MAX_RETENTION, MIN_RETENTION,
};
pub use recommendations::{
    DOMINANT_PATTERN_SHARE, HIGH_IMPACT_KEYS, LOW_EFFICIENCY_KEYS, MIN_EVENTS_FOR_RECOMMENDATIONS,
    Recommendation, RecommendationList, Severity,
};
pub use stats::{
    AlertLevel, InvalidationEfficiency, InvalidationRates, InvalidationStats, InvalidationThresholds,
    InvalidationTypes, PatternCount, PatternStats, PatternType, RecentInvalidation,
};
/// Formats a time since the Unix epoch as an ISO 8601 UTC timestamp:
/// [`stratacache_core::format_timestamp`], re-exported under its former path.
pub use stratacache_core::format_timestamp;

use crate::{Clock, SystemClock};
use patterns::PatternTable;
use window::MinuteRing;

/// The name under which patterns past `max_patterns` are counted.
pub const OTHER_PATTERNS: &str = "(other)";
/// Longest stored pattern or operation context, in bytes; longer ones are truncated.
pub const MAX_TEXT_LEN: usize = 256;
/// How many patterns `most_common_patterns` lists.
pub const MOST_COMMON_PATTERNS: usize = 10;
/// Longest duration counted for one invalidation (24 hours), which keeps the per-minute duration
/// sums far from overflow.
const MAX_EVENT_NANOS: u64 = 86_400 * 1_000_000_000;

/// One invalidation kept for display.
#[derive(Debug)]
struct Event {
    at: Duration,
    pattern: Arc<str>,
    keys: u64,
    duration: Duration,
    context: Arc<str>,
}

/// Records invalidations and reports rates, alert level, pattern statistics and recommendations,
/// in bounded memory (see the [module documentation](self)).
pub struct InvalidationTracker {
    config: InvalidationConfig,
    clock: Arc<dyn Clock>,
    started: Duration,
    total_invalidations: AtomicU64,
    total_keys: AtomicU64,
    types: [AtomicU64; 6],
    window: MinuteRing,
    patterns: PatternTable,
    recent: Mutex<VecDeque<Event>>,
}

impl fmt::Debug for InvalidationTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidationTracker")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("started", &self.started)
            .field(
                "total_invalidations",
                &self.total_invalidations.load(Ordering::Relaxed),
            )
            .field("total_keys", &self.total_keys.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// `s` cut to at most [`MAX_TEXT_LEN`] bytes at a character boundary.
fn truncated(s: &str) -> &str {
    if s.len() <= MAX_TEXT_LEN {
        return s;
    }
    let mut end = MAX_TEXT_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl InvalidationTracker {
    /// A tracker on the system clock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) when the
    /// configuration is invalid (see [`InvalidationConfig::validate`]).
    pub fn new(config: InvalidationConfig) -> Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A tracker on `clock`; the tracker's start (for `average_per_hour`) is the clock's
    /// current reading.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) when the
    /// configuration is invalid (see [`InvalidationConfig::validate`]).
    pub fn with_clock(config: InvalidationConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            started: clock.now(),
            clock,
            total_invalidations: AtomicU64::new(0),
            total_keys: AtomicU64::new(0),
            types: Default::default(),
            window: MinuteRing::new(config.retention_minutes()),
            patterns: PatternTable::new(config.max_patterns),
            recent: Mutex::new(VecDeque::with_capacity(config.recent_events)),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &InvalidationConfig {
        &self.config
    }

    /// Records one invalidation of `pattern` that removed `keys_removed` keys in `duration`,
    /// triggered by `context` (free text such as an operation name). Lock-free except for the
    /// brief locks described in the [module documentation](self).
    pub fn record(&self, pattern: &str, keys_removed: u64, duration: Duration, context: &str) {
        let now = self.clock.now();
        let pattern = truncated(pattern);
        let nanos = u64::try_from(duration.as_nanos())
            .unwrap_or(u64::MAX)
            .min(MAX_EVENT_NANOS);
        self.total_invalidations.fetch_add(1, Ordering::Relaxed);
        self.total_keys.fetch_add(keys_removed, Ordering::Relaxed);
        self.types[PatternType::of(pattern).index()].fetch_add(1, Ordering::Relaxed);
        self.window.record(now.as_secs() / 60, keys_removed, nanos);
        self.patterns.record(pattern);
        if self.config.recent_events > 0 {
            let event = Event {
                at: now,
                pattern: pattern.into(),
                keys: keys_removed,
                duration,
                context: truncated(context).into(),
            };
            let evicted = {
                let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
                let evicted = if recent.len() >= self.config.recent_events {
                    recent.pop_front()
                } else {
                    None
                };
                recent.push_back(event);
                evicted
            };
            drop(evicted); // freed outside the lock
        }
    }

    /// The current statistics (see [`InvalidationStats`] for the windows of each figure).
    pub fn snapshot(&self) -> InvalidationStats {
        let now = self.clock.now();
        let now_minute = now.as_secs() / 60;
        let hour = self.window.sum(now_minute, 60);
        let day = self.window.sum(now_minute, 24 * 60);
        let covered_hours = (now.saturating_sub(self.started).as_secs_f64() / 3_600.0)
            .clamp(1.0, (self.window.minutes() as f64 / 60.0).max(1.0));
        let per_event = |value: u64| {
            if day.count == 0 {
                0.0
            } else {
                value as f64 / day.count as f64
            }
        };
        let types = PatternType::ALL.map(|ty| self.types[ty.index()].load(Ordering::Relaxed));
        let recent = {
            // Reference-count increments only: the lock is not held across an allocation per event.
            let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            recent
                .iter()
                .map(|e| (e.at, e.pattern.clone(), e.keys, e.duration, e.context.clone()))
                .collect::<Vec<_>>()
        };
        InvalidationStats {
            total_invalidations: self.total_invalidations.load(Ordering::Relaxed),
            total_keys_invalidated: self.total_keys.load(Ordering::Relaxed),
            rates: InvalidationRates {
                last_hour: hour.count,
                last_24_hours: day.count,
                average_per_hour: day.count as f64 / covered_hours,
            },
            thresholds: InvalidationThresholds {
                warning_per_hour: self.config.warning_per_hour,
                critical_per_hour: self.config.critical_per_hour,
                current_alert_level: self.level_of(hour.count),
            },
            patterns: PatternStats {
                most_common_patterns: self.patterns.top(MOST_COMMON_PATTERNS),
                invalidation_types: InvalidationTypes::from_counts(types),
            },
            efficiency: InvalidationEfficiency {
                avg_keys_per_invalidation: per_event(day.keys),
                avg_duration: per_event(day.nanos) / 1e9,
                max_duration: day.max_nanos as f64 / 1e9,
            },
            recent: recent
                .into_iter()
                .map(|(at, pattern, keys, duration, context)| RecentInvalidation {
                    timestamp: format_timestamp(at),
                    pattern: pattern.to_string(),
                    keys_invalidated: keys,
                    duration: duration.as_secs_f64(),
                    operation_context: context.to_string(),
                })
                .collect(),
        }
    }

    /// The recommendations of the current statistics (see
    /// [`InvalidationStats::recommendations`] for when each is made).
    pub fn recommendations(&self) -> Vec<Recommendation> {
        self.snapshot().recommendations()
    }

    /// The alert level of the invalidations in the last hour (see [`AlertLevel`]).
    pub fn alert_level(&self) -> AlertLevel {
        let now_minute = self.clock.now().as_secs() / 60;
        self.level_of(self.window.sum(now_minute, 60).count)
    }

    fn level_of(&self, last_hour: u64) -> AlertLevel {
        AlertLevel::for_rate(
            last_hour,
            self.config.warning_per_hour,
            self.config.critical_per_hour,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_sync_debug() {
        fn assert_traits<T: Send + Sync + fmt::Debug>() {}
        assert_traits::<InvalidationTracker>();
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncated("short"), "short");
        let long = "é".repeat(200); // 400 bytes
        let cut = truncated(&long);
        assert_eq!(cut.len(), 256);
        assert!(cut.chars().all(|c| c == 'é'));
        let odd = format!("a{long}");
        assert_eq!(truncated(&odd).len(), 255);
    }
}
