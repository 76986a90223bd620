//! [`Monitor`]: the shared state a [`MonitoringLayer`](crate::MonitoringLayer) records into, and
//! [`MonitorConfig`], its settings.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use quanta::Instant;

use serde::{Deserialize, Serialize};
use stratacache_core::{Error, ErrorKind, KeyGenObserver, Result};

use crate::clock::{Clock, SystemClock};
use crate::invalidation::{InvalidationConfig, InvalidationTracker};
use crate::window::{KEYGEN, Operation, Outcome, Window, nanos_of};

/// The longest accepted retention: 7 days.
pub const MAX_RETENTION: Duration = Duration::from_secs(7 * 24 * 3_600);
/// The largest accepted number of slots.
pub const MAX_SLOTS: usize = 1_440;

/// Settings of a [`Monitor`]. `MonitorConfig::default()` has the reference values.
///
/// Deserializes from JSON with durations in seconds; absent fields take their defaults:
/// `{"retention": 3600, "slots": 60, "slow_operation_threshold": 0.05}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// How long measurements count in the snapshot's window statistics (percentiles, counts,
    /// hit ratio). Default one hour (the reference's retention). `1 s..=7 days`.
    #[serde(with = "stratacache_core::serde_secs")]
    pub retention: Duration,
    /// How many time slots the window is divided into (`1..=1440`, each at least one second).
    /// Default 60: one-minute slots. Measurements leave the window one slot at a time.
    pub slots: usize,
    /// A cache operation taking longer than this is slow. Default 0.05 s (reference).
    #[serde(with = "stratacache_core::serde_secs")]
    pub slow_operation_threshold: Duration,
    /// A key generation taking longer than this is slow. Default 0.1 s (reference).
    #[serde(with = "stratacache_core::serde_secs")]
    pub slow_key_generation_threshold: Duration,
    /// Memory use from which `memory_usage.status` is `warning`. Default 50 MiB (reference).
    pub memory_warning_bytes: u64,
    /// Memory use from which `memory_usage.status` is `critical`. Default 100 MiB (reference).
    pub memory_critical_bytes: u64,
    /// Settings of the invalidation analytics.
    pub invalidation: InvalidationConfig,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(3_600),
            slots: 60,
            slow_operation_threshold: Duration::from_millis(50),
            slow_key_generation_threshold: Duration::from_millis(100),
            memory_warning_bytes: 50 * 1024 * 1024,
            memory_critical_bytes: 100 * 1024 * 1024,
            invalidation: InvalidationConfig::default(),
        }
    }
}

impl MonitorConfig {
    /// Checks every setting (the invalidation settings are checked by the tracker).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`] listing every invalid setting.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.retention < Duration::from_secs(1) || self.retention > MAX_RETENTION {
            problems.push(format!(
                "retention must be 1 s..=7 days, got {:?}",
                self.retention
            ));
        }
        if self.slots == 0 || self.slots > MAX_SLOTS {
            problems.push(format!("slots must be 1..={MAX_SLOTS}, got {}", self.slots));
        } else if self.retention / self.slots as u32 <= Duration::from_millis(999) {
            problems.push(format!(
                "each of the {} slots must cover at least 1 s of the {:?} retention",
                self.slots, self.retention
            ));
        }
        if self.slow_operation_threshold.is_zero() {
            problems.push("slow_operation_threshold must be above zero".to_owned());
        }
        if self.slow_key_generation_threshold.is_zero() {
            problems.push("slow_key_generation_threshold must be above zero".to_owned());
        }
        if self.memory_warning_bytes == 0 || self.memory_warning_bytes > self.memory_critical_bytes {
            problems.push(format!(
                "memory thresholds must satisfy 0 < warning ({}) <= critical ({})",
                self.memory_warning_bytes, self.memory_critical_bytes
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::configuration(format!(
                "invalid monitor settings: {}",
                problems.join("; ")
            )))
        }
    }
}

/// The state a monitoring layer records into: latency histograms in a bounded retention window,
/// read outcomes, errors by kind, key generation timings, invalidation analytics and the last
/// known Redis memory use.
///
/// Shared as `Arc<Monitor>` between the [`Monitored`](crate::Monitored) caches that record into it
/// and whoever reads it: [`snapshot`](Self::snapshot) for the JSON statistics,
/// [`render_prometheus`](Self::render_prometheus) for a scrape endpoint. It is also a
/// [`KeyGenObserver`]: pass it to `AiKeyBuilder::with_observer` to time key generation.
pub struct Monitor {
    pub(crate) config: MonitorConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) window: Window,
    pub(crate) invalidations: InvalidationTracker,
    /// `u64::MAX` until [`record_redis_memory`](Self::record_redis_memory) is called.
    redis_memory: AtomicU64,
    /// Requests refused for want of valid credentials (see [`record_auth_failure`](Self::record_auth_failure)).
    auth_failures: AtomicU64,
    /// See [`Clock::monotonic_anchor`].
    anchor: Option<(Instant, u64)>,
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// A monitor on the system clock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`] when a setting is invalid.
    pub fn new(config: MonitorConfig) -> Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A monitor reading wall-clock time from `clock` (a [`ManualClock`](crate::ManualClock) in
    /// tests). Latencies are always measured with [`std::time::Instant`].
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_clock(config: MonitorConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        let invalidations = InvalidationTracker::with_clock(config.invalidation.clone(), Arc::clone(&clock))?;
        Ok(Self {
            window: Window::new(config.retention, config.slots),
            redis_memory: AtomicU64::new(u64::MAX),
            auth_failures: AtomicU64::new(0),
            // The clock's anchor pairs a std Instant with wall time; calls are timed with quanta,
            // so pair a quanta reading with the same wall time instead.
            anchor: clock
                .monotonic_anchor()
                .map(|(_, wall)| (Instant::now(), nanos_of(wall))),
            invalidations,
            clock,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// The invalidation analytics (also in every snapshot).
    pub fn invalidations(&self) -> &InvalidationTracker {
        &self.invalidations
    }

    /// Records the memory Redis reports as used (`INFO memory` `used_memory`), shown in
    /// `memory_usage` and used for its status.
    pub fn record_redis_memory(&self, bytes: u64) {
        self.redis_memory
            .store(bytes.min(u64::MAX - 1), Ordering::Relaxed);
    }

    /// The last Redis memory use recorded, if any.
    pub fn redis_memory(&self) -> Option<u64> {
        let v = self.redis_memory.load(Ordering::Relaxed);
        (v != u64::MAX).then_some(v)
    }

    /// Counts one request refused by an API's authentication (a missing, empty, malformed or
    /// wrong key), exported as `stratacache_auth_failures_total`.
    pub fn record_auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The failed authentications recorded since start.
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures.load(Ordering::Relaxed)
    }

    /// Now, since the Unix epoch: from the anchor when the clock has one.
    pub(crate) fn now(&self) -> Duration {
        match self.anchor {
            Some(_) => self.now_at(Instant::now()),
            None => self.clock.now(),
        }
    }

    /// The wall-clock time of `instant` (the clock's own reading when it has no anchor).
    #[inline]
    fn now_at(&self, instant: Instant) -> Duration {
        Duration::from_nanos(self.nanos_at(instant))
    }

    /// [`now_at`](Self::now_at) in nanoseconds since the Unix epoch (64-bit arithmetic only).
    #[inline]
    fn nanos_at(&self, instant: Instant) -> u64 {
        match self.anchor {
            Some((origin, wall)) => {
                let since = instant.saturating_duration_since(origin);
                wall.saturating_add(nanos_of(since))
            }
            None => nanos_of(self.clock.now()),
        }
    }

    #[inline]
    pub(crate) fn record(&self, op: Operation, elapsed: Duration, outcome: Outcome) {
        self.record_at(op, elapsed, Instant::now(), outcome);
    }

    /// Records a call that ended at `end`, having taken `elapsed`.
    #[inline]
    pub(crate) fn record_at(&self, op: Operation, elapsed: Duration, end: Instant, outcome: Outcome) {
        let slow = elapsed > self.config.slow_operation_threshold;
        self.window
            .record(self.nanos_at(end), op.index(), elapsed, slow, outcome);
    }

    /// Records a call of `op` that took `elapsed` and succeeded without a read outcome, as the
    /// layer does. For tests and benchmarks of the statistics.
    #[doc(hidden)]
    pub fn record_latency(&self, op: Operation, elapsed: Duration) {
        self.record(op, elapsed, Outcome::Ok);
    }

    /// Records a failed call of `op`, as the layer does.
    #[doc(hidden)]
    pub fn record_error(&self, op: Operation, elapsed: Duration, kind: ErrorKind) {
        self.record(op, elapsed, Outcome::Error(kind));
    }

    /// Records a successful read of `op` with its hits and misses, as the layer does. A single-key
    /// read (`Get`, `GetWithTtl`) is one call: its hits are derived as calls minus errors minus
    /// misses, so pass `hits + misses == 1` for those.
    #[doc(hidden)]
    pub fn record_read(&self, op: Operation, elapsed: Duration, hits: u64, misses: u64) {
        self.record(op, elapsed, Outcome::Read { hits, misses });
    }

    /// Records one invalidation: `pattern` removed `keys_removed` keys in `duration`; `context`
    /// says why (empty when unknown).
    pub fn record_invalidation(&self, pattern: &str, keys_removed: u64, duration: Duration, context: &str) {
        self.invalidations
            .record(pattern, keys_removed, duration, context);
    }

    /// Records one key generation (what [`KeyGenObserver::on_key_generated`] does).
    pub fn record_key_generation(&self, duration: Duration, text_len: usize) {
        let now = self.now();
        let slow = duration > self.config.slow_key_generation_threshold;
        self.window
            .record(nanos_of(now), KEYGEN, duration, slow, Outcome::Ok);
        self.window.record_text_len(now, text_len as u64);
    }
}

impl KeyGenObserver for Monitor {
    fn on_key_generated(&self, duration: Duration, text_len: usize) {
        self.record_key_generation(duration, text_len);
    }
}
