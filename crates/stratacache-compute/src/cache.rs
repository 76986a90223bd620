//! [`ComputeCache`]: a cache that can compute what it misses, once per key at a time.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use serde::Serialize;
use serde::de::DeserializeOwned;
use stratacache_core::{
    Bytes, Cache, Codec, Error, ErrorKind, Glob, Json, Result, Ttl, async_trait, forward,
};
use tokio::time::Instant;

use crate::config::{ComputeConfig, WaitPolicy};
use crate::flight::{Flights, Leader, Role, State};
use crate::lease::Claimed;

/// What a [`ComputeCache`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ComputeStats {
    /// Calls answered from the cache, without computing.
    pub hits: u64,
    /// Computations run (by leaders, and by callers that stopped waiting and computed
    /// themselves).
    pub computations: u64,
    /// Callers that received another caller's outcome (value or error) instead of computing.
    pub coalesced: u64,
    /// Flights whose leader was dropped (cancelled) before it finished, taken over by a waiting
    /// caller (counted once per new flight).
    pub takeovers: u64,
    /// Callers that waited `max_wait` for another caller's computation.
    pub wait_timeouts: u64,
    /// Computations that returned an error (never cached).
    pub errors: u64,
    /// Computed values that could not be stored (returned to the callers all the same).
    pub store_errors: u64,
    /// Reads of the cache that failed and were treated as a miss.
    pub read_errors: u64,
    /// Computed values not stored (or removed again) because the key was written, deleted or
    /// invalidated through this cache while they were computed.
    pub superseded: u64,
    /// Flights of this process that found another process computing the key (its lease taken)
    /// and waited for its value instead.
    pub remote_waits: u64,
    /// Leases taken after waiting for another process whose lease ran out (it died or hung) or
    /// was released without a value.
    pub lease_takeovers: u64,
    /// Lease operations that failed (an acquisition then computes without the lease), and leases
    /// found lost while computing.
    pub lease_errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) computations: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) takeovers: AtomicU64,
    pub(crate) wait_timeouts: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) read_errors: AtomicU64,
    pub(crate) superseded: AtomicU64,
    pub(crate) remote_waits: AtomicU64,
    pub(crate) lease_takeovers: AtomicU64,
    pub(crate) lease_errors: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ComputeStats {
        ComputeStats {
            hits: self.hits.load(Relaxed),
            computations: self.computations.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            takeovers: self.takeovers.load(Relaxed),
            wait_timeouts: self.wait_timeouts.load(Relaxed),
            errors: self.errors.load(Relaxed),
            store_errors: self.store_errors.load(Relaxed),
            read_errors: self.read_errors.load(Relaxed),
            superseded: self.superseded.load(Relaxed),
            remote_waits: self.remote_waits.load(Relaxed),
            lease_takeovers: self.lease_takeovers.load(Relaxed),
            lease_errors: self.lease_errors.load(Relaxed),
        }
    }
}

/// Where a [`ComputeCache::fetch`]ed value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Source {
    /// Read from the cache.
    Cache,
    /// Computed by this caller (and stored).
    Computed,
    /// Computed by another caller of this process, which this one waited for.
    Shared,
}

/// A value and where it came from ([`ComputeCache::fetch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetched {
    /// The value.
    pub value: Bytes,
    /// Where it came from.
    pub source: Source,
}

impl Fetched {
    fn new(value: Bytes, source: Source) -> Self {
        Self { value, source }
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// A cache that computes what it misses: [`get_or_compute`](Self::get_or_compute) returns the
/// cached value, or runs the given computation, stores its result and returns it. Of concurrent
/// callers missing the same key in this process, one computes and the others wait for its result
/// (single-flight); across processes, the computing caller takes the key's lease first and the
/// other processes wait for its value ([`ComputeConfig::distributed`]):
///
/// - if the computing caller is cancelled (its future dropped), a waiting caller takes over;
/// - an error of the computation is returned to every waiting caller and is not cached;
/// - a caller waits at most [`max_wait`](ComputeConfig::max_wait), then computes itself or fails
///   ([`on_wait_timeout`](ComputeConfig::on_wait_timeout));
/// - a failed read of the cache counts as a miss, and a failed store still returns the computed
///   value (both counted): the computation is the source of truth;
/// - a key written, deleted or invalidated through this cache while it is computed is not
///   overwritten by the computation (which may have started before the change): the value is
///   returned to the callers that asked before the change, not stored, and callers that ask after
///   it start a new computation.
///
/// It is a [`Cache`] itself: every other operation goes to the wrapped cache unchanged (the
/// writes also supersede the flights of the keys they change). Writes made past it (another
/// handle, another process) are not seen: a computation that started before one may store an
/// older value over it, as with any cache-aside.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> stratacache_core::Result<()> {
/// use stratacache_compute::ComputeCache;
/// use stratacache_core::{Bytes, Ttl};
/// use stratacache_memory::MemoryCache;
///
/// let cache = ComputeCache::new(MemoryCache::builder().build()?);
/// let answer = cache
///     .get_or_compute("answer", Ttl::secs(60), || async { Ok(Bytes::from_static(b"42")) })
///     .await?;
/// assert_eq!(answer, "42");
/// // Now cached: this computation does not run.
/// let again = cache
///     .get_or_compute("answer", Ttl::secs(60), || async { unreachable!() })
///     .await?;
/// assert_eq!(again, "42");
/// assert_eq!(cache.compute_stats().computations, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ComputeCache<C> {
    pub(crate) inner: C,
    pub(crate) config: ComputeConfig,
    pub(crate) flights: Flights,
    pub(crate) counters: Counters,
    /// Set once the cache refused a lease as unsupported: coalescing stays within the process.
    pub(crate) no_leases: AtomicBool,
}

impl<C: Cache> ComputeCache<C> {
    /// Wraps `inner` with the default settings ([`ComputeConfig::default`]).
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            config: ComputeConfig::default(),
            flights: Flights::default(),
            counters: Counters::default(),
            no_leases: AtomicBool::new(false),
        }
    }

    /// Wraps `inner` with `config`.
    ///
    /// # Errors
    ///
    /// As [`ComputeConfig::validate`].
    pub fn with_config(inner: C, config: ComputeConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            ..Self::new(inner)
        })
    }

    /// The wrapped cache.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The settings.
    pub fn config(&self) -> &ComputeConfig {
        &self.config
    }

    /// What this cache counted so far.
    pub fn compute_stats(&self) -> ComputeStats {
        self.counters.snapshot()
    }

    /// How many keys are being computed right now.
    pub fn computing(&self) -> usize {
        self.flights.len()
    }

    /// How many callers are waiting for another caller's computation right now.
    pub fn waiting(&self) -> usize {
        self.flights.waiting()
    }

    /// The cached value of `key`, or the value `compute` returns, stored for `ttl` (shortened by
    /// the configured jitter). See [`ComputeCache`] for what concurrent callers do.
    ///
    /// # Errors
    ///
    /// The error of the computation (this caller's, or the one it waited for): the same kind
    /// and message for every caller, with the computation's error as its
    /// [`source`](std::error::Error::source); [`ErrorKind::Timeout`] when it waited `max_wait`
    /// under [`WaitPolicy::Fail`]; [`ErrorKind::InvalidInput`] for an invalid TTL (before
    /// anything is computed).
    pub async fn get_or_compute<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<Bytes>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        Ok(self.fetch(key, ttl, compute).await?.value)
    }

    /// [`get_or_compute`](Self::get_or_compute), telling where the value came from.
    ///
    /// # Errors
    ///
    /// As [`get_or_compute`](Self::get_or_compute).
    pub async fn fetch<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<Fetched>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        ttl.check()?;
        if let Some(value) = self.read(key).await {
            bump(&self.counters.hits);
            return Ok(Fetched::new(value, Source::Cache));
        }
        // Run at most once: by this caller as a leader, or after it stopped waiting.
        let mut compute = Some(compute);
        // Before the leader computes: its own wait for a lease, and some.
        let mut deadline = Instant::now() + 2 * self.config.max_wait;
        let (mut after_abandon, mut replaced_once) = (false, false);
        loop {
            let mut follower = match self.flights.join(key) {
                Role::Leader(leader) => {
                    if after_abandon {
                        bump(&self.counters.takeovers);
                    }
                    return self.lead(leader, key, ttl, take(&mut compute), true).await;
                }
                Role::Follower(follower) => follower,
            };
            // Until the leader computes (it may first wait up to `max_wait` for another
            // process's lease), then at most `max_wait` for its result.
            let mut computing = false;
            let waited = loop {
                // Owned at once: the borrow of the channel must not be held across an await.
                let seen = tokio::time::timeout_at(
                    deadline,
                    follower.state.wait_for(|state| match state {
                        State::Running => false,
                        State::Computing => !computing,
                        State::Done(_) | State::Abandoned => true,
                    }),
                )
                .await
                .map(|seen| seen.map(|state| state.clone()));
                if let Ok(Ok(State::Computing)) = seen {
                    computing = true;
                    deadline = Instant::now() + self.config.max_wait;
                    continue;
                }
                break seen;
            };
            match waited {
                Ok(Ok(State::Done(outcome))) => {
                    bump(&self.counters.coalesced);
                    return unshare(&outcome).map(|value| Fetched::new(value, Source::Shared));
                }
                // The leader was cancelled (or its flight went away without a word): lead or
                // follow the next flight.
                Ok(Ok(State::Abandoned | State::Running | State::Computing) | Err(_)) => {
                    after_abandon = true;
                    // The leader is gone with this process's lease: free it for the next one.
                    if let Some(token) = follower.abandoned_lease()
                        && let Err(e) = self.inner.release_lease(key, &token).await
                    {
                        tracing::debug!(key, error = %e, "get_or_compute: an abandoned lease could not be released");
                    }
                }
                Err(_) => {
                    bump(&self.counters.wait_timeouts);
                    match self.config.on_wait_timeout {
                        WaitPolicy::Fail => {
                            return Err(Error::new(
                                ErrorKind::Timeout,
                                format!(
                                    "waited {:?} (max_wait) for another caller's computation of {key:?}",
                                    self.config.max_wait
                                ),
                            ));
                        }
                        WaitPolicy::ComputeSelf => {
                            // The first caller to give up replaces the flight and computes; the
                            // others wait for that computation (once), rather than each running
                            // its own.
                            if let Some(leader) = self.flights.replace(key, &follower) {
                                // Waited enough: no second wait, for the lease.
                                return self.lead(leader, key, ttl, take(&mut compute), false).await;
                            }
                            if replaced_once {
                                let value =
                                    self.compute_and_store(None, key, ttl, take(&mut compute)).await?;
                                return Ok(Fetched::new(value, Source::Computed));
                            }
                            replaced_once = true;
                            deadline = Instant::now() + 2 * self.config.max_wait;
                        }
                    }
                }
            }
        }
    }

    /// Leads a flight: reads again (another flight may have stored the value meanwhile), or
    /// computes and stores, and hands the outcome to the followers.
    /// `patient`: wait for another process that holds the key's lease (not when this caller
    /// already waited `max_wait`).
    async fn lead<F, Fut>(
        &self,
        leader: Leader<'_>,
        key: &str,
        ttl: Ttl,
        compute: F,
        patient: bool,
    ) -> Result<Fetched>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        if let Some(value) = self.read(key).await {
            bump(&self.counters.hits);
            leader.finish(Ok(value.clone()));
            return Ok(Fetched::new(value, Source::Cache));
        }
        let outcome = match self.claim(key, &leader, patient).await {
            Claimed::Value(value) => {
                leader.finish(Ok(value.clone()));
                return Ok(Fetched::new(value, Source::Shared));
            }
            Claimed::Compute(lease) => self.compute_holding(&leader, key, ttl, compute, lease).await,
            Claimed::Failed(e) => Err(e),
        };
        match outcome {
            Ok(value) => {
                leader.finish(Ok(value.clone()));
                Ok(Fetched::new(value, Source::Computed))
            }
            Err(e) => {
                let shared = Arc::new(e);
                leader.finish(Err(Arc::clone(&shared)));
                Err(copy(&shared))
            }
        }
    }

    /// [`get_or_compute`](Self::get_or_compute) of a typed value, encoded with codec `K`.
    ///
    /// # Errors
    ///
    /// As [`get_or_compute`](Self::get_or_compute), and
    /// [`ErrorKind::Serialization`] when the value cannot be encoded or the cached bytes do not
    /// decode.
    pub async fn get_or_compute_as<K, T, F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        K: Codec,
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        let mut computed = None;
        let bytes = self
            .get_or_compute(key, ttl, || async {
                let value = compute().await?;
                let bytes = K::encode(&value)?;
                // What is stored must read back (JSON has no NaN, say): checked before it is
                // stored, and every caller gets the value as read back.
                computed = Some(K::decode::<T>(&bytes)?);
                Ok(Bytes::from(bytes))
            })
            .await?;
        match computed {
            Some(value) => Ok(value),
            None => K::decode(&bytes),
        }
    }

    /// [`get_or_compute_as`](Self::get_or_compute_as) with JSON.
    ///
    /// # Errors
    ///
    /// As [`get_or_compute_as`](Self::get_or_compute_as).
    pub async fn get_or_compute_json<T, F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        self.get_or_compute_as::<Json, T, F, Fut>(key, ttl, compute).await
    }

    /// [`get_or_compute_as`](Self::get_or_compute_as) with postcard (compact binary).
    ///
    /// # Errors
    ///
    /// As [`get_or_compute_as`](Self::get_or_compute_as).
    #[cfg(feature = "postcard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postcard")))]
    pub async fn get_or_compute_postcard<T, F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        self.get_or_compute_as::<stratacache_core::Postcard, T, F, Fut>(key, ttl, compute)
            .await
    }

    /// Reads `key`; a failed read is a miss (counted, logged).
    pub(crate) async fn read(&self, key: &str) -> Option<Bytes> {
        match self.inner.get(key).await {
            Ok(value) => value,
            Err(e) => {
                bump(&self.counters.read_errors);
                tracing::warn!(key, error = %e, "get_or_compute: the cache could not be read; computing");
                None
            }
        }
    }

    /// Computes and stores, unless `leader`'s flight was superseded (the key changed
    /// meanwhile): then the value is returned but not stored, and one stored while it was
    /// superseded is deleted again (the change may have come first).
    pub(crate) async fn compute_and_store<F, Fut>(
        &self,
        leader: Option<&Leader<'_>>,
        key: &str,
        ttl: Ttl,
        compute: F,
    ) -> Result<Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        bump(&self.counters.computations);
        let value = compute().await.inspect_err(|_| bump(&self.counters.errors))?;
        let superseded = || leader.is_some_and(Leader::is_superseded);
        if superseded() {
            bump(&self.counters.superseded);
            return Ok(value);
        }
        let ttl = jittered(ttl, self.config.ttl_jitter);
        match self.inner.set(key, value.clone(), ttl).await {
            Ok(()) if superseded() => {
                // Changed while we stored: what we stored may be older than the change.
                bump(&self.counters.superseded);
                if let Err(e) = self.inner.delete(key).await {
                    tracing::warn!(key, error = %e, "get_or_compute: a superseded value could not be removed");
                }
            }
            Ok(()) => {}
            Err(e) => {
                bump(&self.counters.store_errors);
                tracing::warn!(key, error = %e, "get_or_compute: the computed value could not be stored");
            }
        }
        Ok(value)
    }
}

/// The computation, which every path runs at most once before it returns.
fn take<F>(compute: &mut Option<F>) -> F {
    compute
        .take()
        .unwrap_or_else(|| unreachable!("a caller computes at most once, then returns"))
}

/// `ttl` shortened by a random fraction of at most `jitter`.
fn jittered(ttl: Ttl, jitter: f64) -> Ttl {
    match ttl {
        Ttl::After(d) if jitter > 0.0 => {
            // `d` is at least MIN_TTL (checked first): the floor never lengthens it.
            let cut = d.mul_f64(jitter * fastrand::f64());
            Ttl::After((d - cut).max(stratacache_core::MIN_TTL))
        }
        other => other,
    }
}

/// A caller's copy of a shared error: its kind and message, with it as the source.
fn copy(shared: &Arc<Error>) -> Error {
    Error::new(shared.kind(), shared.message().to_owned()).with_source(Arc::clone(shared))
}

fn unshare(outcome: &Result<Bytes, Arc<Error>>) -> Result<Bytes> {
    outcome.clone().map_err(|e| copy(&e))
}

/// The writes supersede the flights of the keys they change (after the change, applied or not:
/// a failed write may have been applied); everything else is forwarded.
#[forward(self.inner)]
#[async_trait]
impl<C: Cache> Cache for ComputeCache<C> {
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let result = self.inner.set(key, value, ttl).await;
        self.flights.supersede(key);
        result
    }

    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        let result = self.inner.set_many(entries, ttl).await;
        entries.iter().for_each(|(key, _)| self.flights.supersede(key));
        result
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let result = self.inner.delete(key).await;
        self.flights.supersede(key);
        result
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let result = self.inner.delete_many(keys).await;
        keys.iter().for_each(|key| self.flights.supersede(key));
        result
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        let result = self.inner.invalidate_pattern(pattern).await;
        self.flights.supersede_matching(Some(&Glob::new(pattern)));
        result
    }

    async fn clear(&self) -> Result<()> {
        let result = self.inner.clear().await;
        self.flights.supersede_matching(None);
        result
    }

    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        let result = self.inner.remove_tagged(tag).await;
        match &result {
            Ok(removed) => removed.iter().for_each(|key| self.flights.supersede(key)),
            // Which entries went is unknown.
            Err(_) => self.flights.supersede_matching(None),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The futures are `Send`: callers spawn them on multi-threaded runtimes.
    #[test]
    fn get_or_compute_is_send() {
        fn send<T: Send>(_: &T) {}
        let cache = ComputeCache::new(stratacache_memory::MemoryCache::builder().build().unwrap());
        let future = cache.get_or_compute("k", Ttl::Default, || async { Ok(Bytes::new()) });
        send(&future);
        let typed = cache.get_or_compute_json("k", Ttl::Default, || async { Ok(1u8) });
        send(&typed);
    }

    #[test]
    fn jitter_only_shortens_and_stays_within_the_fraction() {
        let base = Duration::from_secs(100);
        let mut seen = Vec::new();
        for _ in 0..1000 {
            let Ttl::After(d) = jittered(Ttl::After(base), 0.1) else {
                panic!("stays a duration");
            };
            assert!(d <= base && d >= Duration::from_secs(90), "{d:?}");
            seen.push(d);
        }
        seen.sort();
        assert!(
            seen[999] - seen[0] > Duration::from_secs(5),
            "spread over the range"
        );
        assert_eq!(jittered(Ttl::Never, 0.5), Ttl::Never);
        assert_eq!(jittered(Ttl::Default, 0.5), Ttl::Default);
        assert_eq!(jittered(Ttl::After(base), 0.0), Ttl::After(base));
    }
}
