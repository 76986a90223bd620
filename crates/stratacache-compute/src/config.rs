//! [`ComputeConfig`]: how long followers wait, what they do then, and how much TTLs are spread.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache_core::{Error, Result};

use crate::freshness::Freshness;

/// What a follower does when the leader's computation takes longer than
/// [`max_wait`](ComputeConfig::max_wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitPolicy {
    /// Take over: the first caller to give up starts a new computation that replaces the slow
    /// one (whose value will not be stored), and the other callers wait for that one, once more
    /// at most `max_wait`, before each computes itself. One more computation, not one per
    /// caller.
    #[default]
    ComputeSelf,
    /// Fail with [`ErrorKind::Timeout`](stratacache_core::ErrorKind::Timeout).
    Fail,
}

/// The settings of a [`ComputeCache`](crate::ComputeCache).
///
/// ```
/// use std::time::Duration;
/// use stratacache_compute::{ComputeConfig, WaitPolicy};
///
/// let config = ComputeConfig {
///     max_wait: Duration::from_secs(2),
///     on_wait_timeout: WaitPolicy::Fail,
///     ttl_jitter: 0.1,
///     ..ComputeConfig::default()
/// };
/// config.validate().unwrap();
/// assert!(ComputeConfig { ttl_jitter: 1.5, ..config }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// How long a caller waits for another caller's computation of the same key before
    /// [`on_wait_timeout`](Self::on_wait_timeout) applies (default 30 s; 1 ms to 1 hour). In
    /// JSON, seconds.
    #[serde(with = "stratacache_core::serde_secs")]
    pub max_wait: Duration,
    /// What a caller does once it waited [`max_wait`](Self::max_wait) (default: compute itself).
    pub on_wait_timeout: WaitPolicy,
    /// The fraction by which computed entries' TTLs are shortened at random, so that keys
    /// computed together do not expire together (default 0: none; 0 to 0.5). A TTL of 100 s with
    /// 0.1 becomes 90 to 100 s. Never lengthens a TTL; `Ttl::Default` and `Ttl::Never` are kept.
    pub ttl_jitter: f64,
    /// Coalesce across processes too: a leader first takes the key's lease on the cache
    /// ([`Cache::acquire_lease`](stratacache_core::Cache::acquire_lease)); a process that finds it
    /// taken waits for the value instead of computing (default true; a cache without leases
    /// coalesces within the process only).
    pub distributed: bool,
    /// How long a lease lasts unless renewed (default 5 s; 100 ms to 10 minutes). The leader
    /// renews it every third of that while it computes; a leader that dies stops renewing, and
    /// another process takes over once it ran out. In JSON, seconds.
    #[serde(with = "stratacache_core::serde_secs")]
    pub lease: Duration,
    /// How often a process waiting for another's computation looks for the value (default
    /// 2 ms, each wait drawn between half and 1.5 times that; 1 ms to 1 s): one read per look;
    /// the lease is asked for again only every tenth of [`lease`](Self::lease), between this
    /// and 50 ms. In JSON, seconds.
    #[serde(with = "stratacache_core::serde_secs")]
    pub poll_interval: Duration,
    /// Negative caching: how long a computation's error is stored in the cache and returned to
    /// the callers that ask in the meantime, without computing (default 0: off, errors are never
    /// cached; at most 1 hour). Not under a stale-if-error policy, whose answer to an error is
    /// the last value. In JSON, seconds.
    #[serde(with = "stratacache_core::serde_secs")]
    pub negative_ttl: Duration,
    /// The freshness policy of this cache's calls (default: none), unless a call has its own
    /// ([`ComputeCache::with_freshness`](crate::ComputeCache::with_freshness)).
    pub freshness: Freshness,
}

/// The default [`ComputeConfig::max_wait`].
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30);
/// The default [`ComputeConfig::lease`].
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);
/// The default [`ComputeConfig::poll_interval`].
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(2);

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            max_wait: DEFAULT_MAX_WAIT,
            on_wait_timeout: WaitPolicy::ComputeSelf,
            ttl_jitter: 0.0,
            distributed: true,
            lease: DEFAULT_LEASE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            negative_ttl: Duration::ZERO,
            freshness: Freshness::default(),
        }
    }
}

impl ComputeConfig {
    /// Checks every setting.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) naming the
    /// setting, its value and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let (min, max) = (Duration::from_millis(1), Duration::from_secs(3600));
        if !(min..=max).contains(&self.max_wait) {
            return Err(Error::configuration(format!(
                "max_wait = {:?} is out of range (accepted: 1 ms to 1 hour)",
                self.max_wait
            )));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&self.lease) {
            return Err(Error::configuration(format!(
                "lease = {:?} is out of range (accepted: 100 ms to 10 minutes)",
                self.lease
            )));
        }
        if !(Duration::from_millis(1)..=Duration::from_secs(1)).contains(&self.poll_interval) {
            return Err(Error::configuration(format!(
                "poll_interval = {:?} is out of range (accepted: 1 ms to 1 s)",
                self.poll_interval
            )));
        }
        if !(0.0..=0.5).contains(&self.ttl_jitter) {
            return Err(Error::configuration(format!(
                "ttl_jitter = {} is out of range (accepted: 0 to 0.5)",
                self.ttl_jitter
            )));
        }
        if self.negative_ttl > Duration::from_secs(3600) {
            return Err(Error::configuration(format!(
                "negative_ttl = {:?} is out of range (accepted: 0 (off) to 1 hour)",
                self.negative_ttl
            )));
        }
        self.freshness.validate()
    }
}
