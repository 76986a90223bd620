//! [`Clock`]: the time source of the monitor, injectable so that retention and rates are tested
//! without sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock time for the monitor's windows, as a duration since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, since the Unix epoch.
    fn now(&self) -> Duration;

    /// For a clock that advances with [`Instant`]: one reading of both, from which the monitor
    /// derives the time of an operation from the `Instant` it already takes to measure its latency
    /// (saving a clock read per operation). `None` (the default) makes the monitor call
    /// [`now`](Self::now) instead.
    fn monotonic_anchor(&self) -> Option<(Instant, Duration)> {
        None
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }

    fn monotonic_anchor(&self) -> Option<(Instant, Duration)> {
        Some((Instant::now(), self.now()))
    }
}

/// A clock that only moves when told to: for tests.
///
/// ```
/// use std::time::Duration;
/// use stratacache_monitor::{Clock, ManualClock};
///
/// let clock = ManualClock::new(Duration::from_secs(1_000));
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now(), Duration::from_secs(1_090));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `start` (since the Unix epoch).
    pub fn new(start: Duration) -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(start.as_nanos() as u64)),
        }
    }

    /// Moves the clock forward (clones share the same time).
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Sets the clock.
    pub fn set(&self, to: Duration) {
        self.nanos.store(to.as_nanos() as u64, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}
