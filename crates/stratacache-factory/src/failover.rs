//! Graceful degradation: a circuit breaker in front of a remote cache, with a memory fallback.
//!
//! A [`FailoverCache`] puts a **primary** (typically a `RedisCache`) and a **fallback**
//! (typically a `MemoryCache`) behind one [`Cache`]. While the primary works, it serves every
//! operation. When it stops answering, callers get the fallback's answers instead of errors, and
//! once it has failed [`failure_threshold`](FailoverConfig::failure_threshold) times in a row no
//! call waits for it any more. A background task checks it and switches back by itself, after
//! making sure that nothing written during the outage is shadowed by what the primary still holds.
//! It works over any two [`SharedCache`]s (it does not depend on the Redis crate).
//!
//! ```
//! use std::sync::Arc;
//!
//! use stratacache_core::{Bytes, Cache, Ttl};
//! use stratacache_factory::failover::{FailoverCache, FailoverConfig, FailoverState};
//! use stratacache_memory::MemoryCache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> stratacache_core::Result<()> {
//! let primary = Arc::new(MemoryCache::new(100_000)?); // stands in for a RedisCache here
//! let fallback = Arc::new(MemoryCache::new(10_000)?);
//! let cache = FailoverCache::new(primary, fallback, FailoverConfig::default())?;
//! cache.set("user:1", Bytes::from_static(b"ada"), Ttl::secs(60)).await?;
//! assert_eq!(cache.state(), FailoverState::Primary);
//! assert_eq!(cache.get("user:1").await?, Some(Bytes::from_static(b"ada")));
//! # Ok(()) }
//! ```
//!
//! A cache whose Redis cannot be reached at start starts on the fallback with
//! [`FailoverCache::disconnected`] and a [`Connector`]; the background task connects it as soon
//! as the server answers:
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # async fn example() -> stratacache_core::Result<()> {
//! use std::sync::Arc;
//!
//! use stratacache_core::SharedCache;
//! use stratacache_factory::failover::{FailoverCache, FailoverConfig};
//! use stratacache_memory::MemoryCache;
//! use stratacache_redis::{RedisCache, RedisConfig};
//!
//! let redis_config = RedisConfig::new("redis://cache.internal:6379");
//! let fallback: SharedCache = Arc::new(MemoryCache::new(10_000)?);
//! let cache = match RedisCache::connect(redis_config.clone()).await {
//!     Ok(redis) => FailoverCache::new(Arc::new(redis), fallback, FailoverConfig::default())?,
//!     Err(e) if e.is_temporary() => {
//!         let connect = move || {
//!             let config = redis_config.clone();
//!             async move { Ok(Arc::new(RedisCache::connect(config).await?) as SharedCache) }
//!         };
//!         FailoverCache::disconnected(connect, fallback, FailoverConfig::default())?
//!     }
//!     Err(e) => return Err(e), // wrong password, bad TLS files...: not a reason to degrade
//! };
//! # Ok(()) }
//! # fn main() {}
//! ```
//!
//! # States
//!
//! | [`FailoverState`] | circuit | operations | background task |
//! |---|---|---|---|
//! | `Primary` | closed | go to the primary; one that fails with a temporary error is served by the fallback at once | only to repair a write that failed over (below) |
//! | `Fallback` | open | go to the fallback at once: no call waits on the primary | every [`probe_interval`](FailoverConfig::probe_interval): connects (if [`disconnected`](FailoverCache::disconnected)), then [`Cache::health`] within [`probe_timeout`](FailoverConfig::probe_timeout); on success replays, then closes the circuit |
//!
//! - **Temporary errors** ([`Error::is_temporary`](stratacache_core::Error::is_temporary):
//!   connection lost, timeout, unavailable) of the primary are never returned: the operation is
//!   run on the fallback and its answer (a read's value or miss, a write's outcome) is returned.
//!   Each one counts a failure; [`failure_threshold`](FailoverConfig::failure_threshold)
//!   consecutive failures open the circuit (logged once with `tracing::warn!`).
//! - **Other errors** (invalid input, authentication, a decryption failure in a layer below, ...)
//!   are returned unchanged, are not counted and do not reset the count; any success resets it.
//! - **The fallback's own errors** are returned: they are the cache's answer.
//! - The default TTL is the tiers' own: [`Ttl::Default`](stratacache_core::Ttl::Default) is
//!   passed through, so give both tiers the same default TTL.
//!
//! # Consistency on recovery
//!
//! Two rules keep the tiers from serving stale data to each other:
//!
//! 1. **The primary forgets what changed during the outage.** Every key written or deleted
//!    through the fallback (while the circuit is open, or by an operation that failed over while
//!    it was closed), and every pattern invalidated there, is recorded, up to
//!    [`max_replay_keys`](FailoverConfig::max_replay_keys) keys and patterns. Before the circuit
//!    closes, the background task **deletes** those keys from the primary and invalidates those
//!    patterns there, in batches of 256 keys ([`Cache::delete_many`]: one `UNLINK` on Redis), each
//!    batch bounded by the probe timeout. The values written during the outage are not copied to
//!    the primary (the next write or miss fills it), but no older value the primary still holds
//!    can shadow them, and nothing deleted during the outage comes back. A `clear()` during the
//!    outage clears the primary (its namespace), as the caller asked. **No other path deletes
//!    anything this instance did not change**: once the record holds `max_replay_keys` keys and
//!    patterns, further ones are not recorded but counted
//!    ([`FailoverCounters::unrecorded`]) and warned about; the primary may then serve older values
//!    of those keys until they expire, but no other instance's entries are lost. If the replay
//!    fails, the circuit stays open and the next probe tries again. Writes made while the replay runs are recorded and replayed before the circuit
//!    closes: the record is emptied and the circuit closed under one lock, and an operation
//!    records its write under that lock before it writes to the fallback. Then the fallback is
//!    cleared, so it does not serve data of this outage at a later one.
//! 2. **The fallback never holds a value older than the primary's.** While the circuit is closed,
//!    every write the primary accepts is followed by the same removal on the fallback (a `delete`
//!    of the key, an `invalidate_pattern`, a `clear`: a few hundred nanoseconds on a memory
//!    fallback), so a read that fails over later cannot find an outdated value there.
//!
//! A write that fails over while the circuit is closed (the primary failed fewer than
//! `failure_threshold` times) starts a **repair**: the background task replays the record on the
//! primary at the next probe interval, without opening the circuit. Until it has, a read that the
//! primary answers may return the value the failed write was meant to replace: this window is
//! at most about one probe interval once the primary answers again.
//!
//! Not covered: values changed in the primary by *other* processes during the outage are not
//! visible in the fallback (each process has its own), and writes made through other processes'
//! fallbacks are replayed by those processes only. A write that timed out on the primary was
//! sent, and may still be applied if the server was only slow: the replay removes it, unless the
//! request reaches the server after the replay did (a request stuck longer than a probe round
//! trip, the probe having gone through meanwhile).
//!
//! # Background task
//!
//! The task is spawned with `tokio::spawn` when the circuit opens (or a repair is needed, or at
//! once by [`disconnected`](FailoverCache::disconnected)) and ends when the circuit is closed and
//! nothing is left to replay. It holds only a [`Weak`](std::sync::Weak) reference to the cache's
//! state: dropping the [`FailoverCache`], calling [`Cache::close`] or
//! [`stop_recovery`](FailoverCache::stop_recovery) aborts it.
//! Opening the circuit needs a Tokio runtime (the current one, else the one the cache was built
//! in); without any, the cache stays on the fallback and logs an error. A connection attempt by
//! the [`Connector`] is not cut short by the probe timeout (a TLS handshake and a pool of
//! connections legitimately take longer than a `PING`): bound it in the connector
//! (`RedisConfig::connect_timeout` does). During the replay, pattern invalidations and clears of
//! the primary are bounded by the primary's own timeouts only.
//!
//! # Closing
//!
//! [`Cache::close`] closes the whole cache: the background task stops (a connection attempt in
//! progress is abandoned, and a primary it connected anyway is closed at once), the primary
//! (when connected) and the fallback are closed, and every later operation fails with an
//! [`ErrorKind::Closed`](stratacache_core::ErrorKind::Closed) error instead of being served by
//! either tier; [`Cache::health`] reports `Unhealthy`. A primary's own `Closed` error is not
//! temporary, so it is returned too, never served by the fallback. Dropping the cache only stops
//! the task.
//!
//! # Observability
//!
//! - [`FailoverCache::state`] and [`FailoverCache::counters`] ([`FailoverCounters`]: trips,
//!   recoveries, operations served by the fallback, probes, replays).
//! - [`Cache::health`]: `Healthy` on the primary when both tiers are; **`Degraded`** on the
//!   fallback, with a message saying since when and why, and the primary's last probe report in
//!   `inner` (then the fallback's report).
//! - [`Cache::stats`]: backend `"failover"`; reads, writes and errors as callers saw them; the
//!   data-set figures (entries, bytes, removals, evictions, expirations, bounds) of the active
//!   tier; `inner` holds the active tier's snapshot first, then, on the primary, the fallback's.
//!   The failover counters have no field in [`CacheStats`](stratacache_core::CacheStats): read
//!   them with [`FailoverCache::counters`].
//!
//! [`Cache`]: stratacache_core::Cache
//! [`Cache::health`]: stratacache_core::Cache::health
//! [`Cache::delete_many`]: stratacache_core::Cache::delete_many
//! [`Cache::close`]: stratacache_core::Cache::close
//! [`Cache::stats`]: stratacache_core::Cache::stats

mod config;
mod ops;
mod pending;
mod probe;
mod state;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use stratacache_core::{Error, Result, SharedCache, StatsCounters};

pub use config::FailoverConfig;

use state::{Counters, Shared, State};

/// The future a [`Connector`] returns: the connected primary, or why it could not be connected.
pub type ConnectFuture = Pin<Box<dyn Future<Output = Result<SharedCache>> + Send + 'static>>;

/// How a [`FailoverCache::disconnected`] cache connects its primary: called by the background
/// task every [`probe_interval`](FailoverConfig::probe_interval) until it succeeds, then never
/// again (the connected cache is kept and reconnects by itself).
///
/// Any `Fn() -> impl Future<Output = Result<SharedCache>>` closure that is `Send + Sync +
/// 'static` is a connector:
///
/// ```
/// use std::sync::Arc;
///
/// use stratacache_core::SharedCache;
/// use stratacache_factory::failover::Connector;
/// use stratacache_memory::MemoryCache;
///
/// fn takes(_: impl Connector) {}
/// takes(|| async { Ok(Arc::new(MemoryCache::new(100)?) as SharedCache) });
/// ```
pub trait Connector: Send + Sync + 'static {
    /// One connection attempt.
    fn connect(&self) -> ConnectFuture;
}

impl<F, Fut> Connector for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<SharedCache>> + Send + 'static,
{
    fn connect(&self) -> ConnectFuture {
        Box::pin(self())
    }
}

/// Which tier serves a [`FailoverCache`]'s operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverState {
    /// The circuit is closed: operations go to the primary (and fall back one by one when it
    /// fails).
    Primary,
    /// The circuit is open (or the primary was never connected): operations go to the fallback
    /// without waiting on the primary.
    Fallback,
}

/// What a [`FailoverCache`] did, from [`FailoverCache::counters`]. Every counter only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FailoverCounters {
    /// Transitions to the fallback (the circuit opened).
    pub trips: u64,
    /// Transitions back to the primary (the circuit closed after a successful probe and replay).
    pub recoveries: u64,
    /// Operations served by the fallback: while the circuit was open, and after a temporary
    /// failure of the primary.
    pub fallback_operations: u64,
    /// Temporary failures of the primary that an operation fell back from.
    pub primary_failures: u64,
    /// Checks of the primary by the background task (health checks and connection attempts).
    pub probes: u64,
    /// Those that failed (unhealthy, no answer within the probe timeout, connection refused).
    pub failed_probes: u64,
    /// Keys deleted and patterns invalidated on the primary by replays.
    pub replayed: u64,
    /// Replays that failed (retried at the next probe).
    pub failed_replays: u64,
    /// Replays that cleared the primary's namespace because `clear()` was called during the
    /// outage (never for any other reason).
    pub primary_clears: u64,
    /// Keys and patterns changed through the fallback that did not fit in the record
    /// ([`max_replay_keys`](FailoverConfig::max_replay_keys)): the primary may serve older values
    /// of those keys after the recovery, until they expire.
    pub unrecorded: u64,
}

/// A primary cache with a fallback and a circuit breaker; see the [module documentation](self).
///
/// Share it with an `Arc` (`Arc<FailoverCache>` is a [`Cache`](stratacache_core::Cache) too).
/// Dropping it stops its background task.
pub struct FailoverCache {
    shared: Arc<Shared>,
}

impl fmt::Debug for FailoverCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl FailoverCache {
    /// `primary` with `fallback` behind it, starting on the primary (circuit closed).
    ///
    /// No task is started until the circuit opens; this may be called outside a Tokio runtime
    /// (the circuit can then only open inside one).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) naming every
    /// invalid setting (see [`FailoverConfig::validate`]).
    pub fn new(primary: SharedCache, fallback: SharedCache, config: FailoverConfig) -> Result<Self> {
        config.validate()?;
        let connected = OnceLock::new();
        let _ = connected.set(primary);
        Ok(Self::build(connected, None, fallback, config, State::default()))
    }

    /// A cache whose primary is not connected yet: it starts on the fallback (circuit open), and
    /// its background task calls `connector` every
    /// [`probe_interval`](FailoverConfig::probe_interval) until it returns a cache, then checks
    /// it, replays what was written meanwhile (see the [module documentation](self)) and
    /// switches to it.
    ///
    /// Use it when connecting the primary failed with a temporary error at start, so that the
    /// application starts on memory and returns to the primary by itself.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) naming every
    /// invalid setting, or when called outside a Tokio runtime (the task must be spawned).
    pub fn disconnected(
        connector: impl Connector,
        fallback: SharedCache,
        config: FailoverConfig,
    ) -> Result<Self> {
        config.validate()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::configuration(
                "FailoverCache::disconnected must be called within a Tokio runtime: its \
                 background task connects the primary",
            ));
        }
        let state = State {
            open: true,
            opened_at: Some(Instant::now()),
            switched_at: Some(Instant::now()),
            last_error: Some("not connected yet".to_owned()),
            ..State::default()
        };
        let cache = Self::build(
            OnceLock::new(),
            Some(Box::new(connector)),
            fallback,
            config,
            state,
        );
        let mut state = cache.shared.lock();
        cache.shared.ensure_task(&mut state);
        drop(state);
        Ok(cache)
    }

    fn build(
        primary: OnceLock<SharedCache>,
        connector: Option<Box<dyn Connector>>,
        fallback: SharedCache,
        config: FailoverConfig,
        state: State,
    ) -> Self {
        let shared = Arc::new_cyclic(|me| Shared {
            config,
            primary,
            connector,
            fallback,
            open: AtomicBool::new(state.open),
            epoch: AtomicU64::new(0),
            failures: AtomicU32::new(0),
            closed: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            state: Mutex::new(state),
            counters: Counters::default(),
            stats: StatsCounters::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            me: me.clone(),
        });
        Self { shared }
    }

    /// Which tier serves operations now.
    pub fn state(&self) -> FailoverState {
        if self.shared.open.load(Ordering::Acquire) {
            FailoverState::Fallback
        } else {
            FailoverState::Primary
        }
    }

    /// How long ago the circuit last opened or closed (for a cache started
    /// [`disconnected`](Self::disconnected): since it started); `None` when it never switched.
    pub fn since_last_switch(&self) -> Option<std::time::Duration> {
        self.shared.lock().switched_at.map(|at| at.elapsed())
    }

    /// Why the circuit is open (the error that opened it, or the background task's last
    /// failure); `None` while the primary serves.
    pub fn last_error(&self) -> Option<String> {
        let state = self.shared.lock();
        if state.open {
            state.last_error.clone()
        } else {
            None
        }
    }

    /// What the cache did so far.
    pub fn counters(&self) -> FailoverCounters {
        self.shared.counters.snapshot()
    }

    /// The settings this cache was built with.
    pub fn config(&self) -> &FailoverConfig {
        &self.shared.config
    }

    /// The primary; `None` while a [`disconnected`](Self::disconnected) cache has not connected
    /// it yet. Writing to it directly bypasses the failover's record.
    pub fn primary(&self) -> Option<&SharedCache> {
        self.shared.primary.get()
    }

    /// The fallback. Writing to it directly bypasses the failover's record.
    pub fn fallback(&self) -> &SharedCache {
        &self.shared.fallback
    }

    /// Whether the cache was closed ([`Cache::close`](stratacache_core::Cache::close)).
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Stops the background task for good, without closing anything: a cache stopped on the
    /// fallback stays there (the circuit no longer closes by itself, a disconnected cache never
    /// connects), and operations keep working on the tier that serves them. To release
    /// everything, use [`Cache::close`](stratacache_core::Cache::close) instead.
    pub fn stop_recovery(&self) {
        drop(self.shared.stop(false));
    }
}

impl Drop for FailoverCache {
    /// Stops the background task (the tiers are closed by [`Cache::close`] only, as they may be
    /// shared).
    ///
    /// [`Cache::close`]: stratacache_core::Cache::close
    fn drop(&mut self) {
        drop(self.shared.stop(false));
    }
}
