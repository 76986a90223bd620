//! [`ComputeCache`]: a cache that can compute what it misses, once per key at a time.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use stratacache_core::{Bytes, Cache, Error, ErrorKind, Result, SharedCache, Ttl};
use tokio::time::Instant;

use crate::config::{ComputeConfig, WaitPolicy};
use crate::flight::{Flights, Leader, Role, State};
use crate::freshness::{Found, Freshness, classify};
use crate::generation::{Generations, Seen};
use crate::lease::Claimed;
use crate::refresh::Refresh;
use crate::stats::{ComputeStats, Counters, Fetched, Source, bump};
use crate::stored;

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
#[derive(Clone)]
pub struct ComputeCache<C> {
    pub(crate) shared: Arc<Shared<C>>,
}

impl<C> std::fmt::Debug for ComputeCache<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeCache")
            .field("config", &self.shared.config)
            .field("local_copies", &self.shared.local.is_some())
            .field("stats", &self.shared.counters.snapshot())
            .finish_non_exhaustive()
    }
}

/// What the handles of one [`ComputeCache`] share.
pub(crate) struct Shared<C> {
    pub(crate) inner: C,
    pub(crate) config: ComputeConfig,
    pub(crate) flights: Flights,
    /// Bumped by every change made through this cache, by key (see [`Generations`]).
    pub(crate) generations: Generations,
    /// Set once this cache wrote a value behind a header (a policy, a cached error, an escaped
    /// value): until then `exists` and `ttl` need not read values.
    pub(crate) headers_written: AtomicBool,
    pub(crate) counters: Counters,
    /// Set once the cache refused a lease as unsupported: coalescing stays within the process.
    pub(crate) no_leases: AtomicBool,
    /// Until when leases are not asked for, after the cache refused one for want of permission.
    pub(crate) leases_refused_until: Mutex<Option<Instant>>,
    /// Draws for XFetch (seedable, for reproducible tests and simulations).
    rng: Mutex<fastrand::Rng>,
    /// This process's copies of computed values, for stale-if-error when the cache fails.
    pub(crate) local: Option<SharedCache>,
}

/// Builds a [`ComputeCache`] ([`ComputeCache::builder`]).
#[must_use]
pub struct ComputeCacheBuilder<C> {
    inner: C,
    config: ComputeConfig,
    local: Option<SharedCache>,
    seed: Option<u64>,
}

impl<C> std::fmt::Debug for ComputeCacheBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeCacheBuilder")
            .field("config", &self.config)
            .field("local_copies", &self.local.is_some())
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl<C: Cache + 'static> ComputeCacheBuilder<C> {
    /// The settings (default: [`ComputeConfig::default`]).
    pub fn config(mut self, config: ComputeConfig) -> Self {
        self.config = config;
        self
    }

    /// A cache of this process (typically a small `MemoryCache`) that keeps a copy of every
    /// value computed or read under a stale-if-error policy, served when the wrapped cache
    /// fails (Redis down), or answers a miss (a failover's empty fallback) and the computation
    /// fails too, within [`Freshness::stale_if_error`] of the value's TTL. Writes, deletes and
    /// invalidations through the [`ComputeCache`] apply to it too; those made past it (by other
    /// processes) do not, which is what the stale-if-error bound is for. Each read hit under
    /// that policy writes the copy: one memory write per hit.
    pub fn local_copies(mut self, cache: SharedCache) -> Self {
        self.local = Some(cache);
        self
    }

    /// Seeds the draws of XFetch, for reproducible tests and simulations (default: random).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The cache.
    ///
    /// # Errors
    ///
    /// As [`ComputeConfig::validate`].
    pub fn build(self) -> Result<ComputeCache<C>> {
        self.config.validate()?;
        let rng = self
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let shared = Arc::new(Shared {
            inner: self.inner,
            config: self.config,
            flights: Flights::new(self.config.lease + self.config.max_wait),
            generations: Generations::default(),
            // A configuration that writes headers reads as if it had: every process with it
            // answers `exists` and `ttl` alike, whatever it wrote so far.
            headers_written: AtomicBool::new(
                self.config.freshness.needs_header() || !self.config.negative_ttl.is_zero(),
            ),
            counters: Counters::default(),
            no_leases: AtomicBool::new(false),
            leases_refused_until: Mutex::new(None),
            rng: Mutex::new(rng),
            local: self.local,
        });
        // A leader dropped unfinished (its caller cancelled, its task panicked) releases its
        // lease at once, so no process waits for it to run out.
        let weak = Arc::downgrade(&shared);
        shared.flights.on_dropped_lease(Box::new(move |key, token| {
            let (Ok(runtime), Some(shared)) = (tokio::runtime::Handle::try_current(), weak.upgrade())
            else {
                return;
            };
            let key = key.to_owned();
            runtime.spawn(async move {
                if let Err(e) = shared.inner.release_lease(&key, &token).await {
                    tracing::debug!(key, error = %e, "get_or_compute: a dropped leader's lease could not be released; it runs out by itself");
                }
            });
        }));
        Ok(ComputeCache { shared })
    }
}

impl<C: Cache + 'static> ComputeCache<C> {
    /// Wraps `inner` with the default settings ([`ComputeConfig::default`]).
    pub fn new(inner: C) -> Self {
        match Self::builder(inner).build() {
            Ok(cache) => cache,
            Err(e) => unreachable!("the default settings are valid: {e}"),
        }
    }

    /// Wraps `inner` with `config`.
    ///
    /// # Errors
    ///
    /// As [`ComputeConfig::validate`].
    pub fn with_config(inner: C, config: ComputeConfig) -> Result<Self> {
        Self::builder(inner).config(config).build()
    }

    /// A builder, for the settings, [local copies](ComputeCacheBuilder::local_copies) and a
    /// [seed](ComputeCacheBuilder::seed).
    pub fn builder(inner: C) -> ComputeCacheBuilder<C> {
        ComputeCacheBuilder {
            inner,
            config: ComputeConfig::default(),
            local: None,
            seed: None,
        }
    }
}

impl<C: Cache> ComputeCache<C> {
    /// The wrapped cache.
    pub fn inner(&self) -> &C {
        &self.shared.inner
    }

    /// The settings.
    pub fn config(&self) -> &ComputeConfig {
        &self.shared.config
    }

    /// What this cache counted so far (shared by its clones).
    pub fn compute_stats(&self) -> ComputeStats {
        self.shared.counters.snapshot()
    }

    /// How many keys are being computed right now.
    pub fn computing(&self) -> usize {
        self.shared.flights.len()
    }

    /// How many callers are waiting for another caller's computation right now.
    pub fn waiting(&self) -> usize {
        self.shared.flights.waiting()
    }
}

impl<C: Cache> Shared<C> {
    /// The cached value of `key` under `policy`, or the computed one.
    pub(crate) async fn fetch<F, Fut>(
        &self,
        key: &str,
        ttl: Ttl,
        policy: &Freshness,
        compute: F,
    ) -> Result<Fetched>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        check(ttl, policy)?;
        let generation = self.generations.of(key);
        let found = self.look(key, policy).await;
        self.act(key, ttl, policy, compute, found, generation).await
    }

    /// Answers a call from what its read `found` (at `generation`): from the cache, by a
    /// refresh, or by computing.
    pub(crate) async fn act<F, Fut>(
        &self,
        key: &str,
        ttl: Ttl,
        policy: &Freshness,
        compute: F,
        found: Found,
        generation: Seen,
    ) -> Result<Fetched>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        match found {
            Found::Fresh(value) => {
                bump(&self.counters.hits);
                Ok(Fetched::new(value, Source::Cache))
            }
            Found::Due(value, seen) => Ok(self
                .refresh(key, ttl, policy, value, seen, compute, Refresh::Early)
                .await),
            Found::Revalidate(value, seen) => Ok(self
                .refresh(key, ttl, policy, value, seen, compute, Refresh::Stale)
                .await),
            Found::Fallback(value) => Ok(self.serve_stale_if_error(key, value, None)),
            Found::Failed(error) => {
                bump(&self.counters.negative_hits);
                Err(error)
            }
            Found::Miss { stale } => self.miss(key, ttl, policy, compute, stale, generation).await,
        }
    }

    /// Notes that `stored` is about to be written (see `headers_written`).
    pub(crate) fn note_written(&self, stored: &[u8]) {
        if stored.starts_with(&stored::MAGIC) || stored.starts_with(&stored::NEGATIVE_MAGIC) {
            self.headers_written.store(true, Ordering::Relaxed);
        }
    }

    /// A miss: computes (or waits for whoever computes); if that fails, serves `stale`, or the
    /// local copy, under stale-if-error.
    async fn miss<F, Fut>(
        &self,
        key: &str,
        ttl: Ttl,
        policy: &Freshness,
        compute: F,
        stale: Option<Bytes>,
        generation: Seen,
    ) -> Result<Fetched>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        let error = match self.compute_or_wait(key, ttl, policy, compute).await {
            Ok(fetched) => return Ok(fetched),
            Err(error) => error,
        };
        if policy.stale_if_error.is_zero() {
            return Err(error);
        }
        if self.generations.of(key) != generation {
            // Changed through this cache meanwhile: what was read before may be gone or
            // replaced. Read again.
            return match self.look(key, policy).await {
                Found::Fresh(value) | Found::Due(value, _) => {
                    bump(&self.counters.hits);
                    Ok(Fetched::new(value, Source::Cache))
                }
                Found::Revalidate(value, _) | Found::Miss { stale: Some(value) } | Found::Fallback(value) => {
                    Ok(self.serve_stale_if_error(key, value, Some(&error)))
                }
                Found::Failed(_) | Found::Miss { stale: None } => Err(error),
            };
        }
        let stale = match stale {
            Some(stale) => Some(stale),
            // Fresh or not: the cache lost it, and it cannot be had anew.
            None => self.local_copy(key, policy).await.map(|(value, _)| value),
        };
        match stale {
            Some(value) => Ok(self.serve_stale_if_error(key, value, Some(&error))),
            None => Err(error),
        }
    }

    fn serve_stale_if_error(&self, key: &str, value: Bytes, error: Option<&Error>) -> Fetched {
        bump(&self.counters.stale_if_error);
        match error {
            Some(e) => {
                tracing::warn!(key, error = %e, "get_or_compute: serving a stale value (stale-if-error)");
            }
            None => tracing::warn!(
                key,
                "get_or_compute: the cache failed; serving this process's copy (stale-if-error)"
            ),
        }
        Fetched::new(value, Source::Stale)
    }

    /// Computes, or waits for the caller (of this process or another) that computes.
    async fn compute_or_wait<F, Fut>(
        &self,
        key: &str,
        ttl: Ttl,
        policy: &Freshness,
        compute: F,
    ) -> Result<Fetched>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
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
                    return self
                        .lead(leader, key, ttl, policy, take(&mut compute), true)
                        .await;
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
                        State::Done(_) | State::Abandoned | State::Declined => true,
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
                // The flight ended without a value (a refresh not needed, or failed): lead or
                // follow the next one.
                Ok(Ok(State::Declined)) => {
                    deadline = Instant::now() + 2 * self.config.max_wait;
                }
                // The leader was cancelled (or its flight went away without a word): lead or
                // follow the next flight (the leader's lease was released when it was dropped).
                Ok(Ok(State::Abandoned | State::Running | State::Computing) | Err(_)) => {
                    after_abandon = true;
                    // The next flight is waited for afresh.
                    deadline = Instant::now() + 2 * self.config.max_wait;
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
                                return self
                                    .lead(leader, key, ttl, policy, take(&mut compute), false)
                                    .await;
                            }
                            if replaced_once {
                                let value = self
                                    .compute_and_store(None, key, ttl, policy, take(&mut compute))
                                    .await?;
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
        policy: &Freshness,
        compute: F,
        patient: bool,
    ) -> Result<Fetched>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        match self.look(key, policy).await.outcome() {
            Some(Ok(value)) => {
                bump(&self.counters.hits);
                leader.finish(Ok(value.clone()));
                return Ok(Fetched::new(value, Source::Cache));
            }
            Some(Err(error)) => {
                bump(&self.counters.negative_hits);
                let shared = Arc::new(error);
                leader.finish(Err(Arc::clone(&shared)));
                return Err(copy(&shared));
            }
            None => {}
        }
        let outcome = match self.claim(key, &leader, policy, patient).await {
            Claimed::Value(value) => {
                leader.finish(Ok(value.clone()));
                return Ok(Fetched::new(value, Source::Shared));
            }
            Claimed::Compute(lease) => {
                self.compute_holding(&leader, key, ttl, policy, compute, lease)
                    .await
            }
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

    /// What a read of `key` finds under `policy`: a failed read is counted and logged, then
    /// answered by the local copy (stale-if-error) if there is one, else a miss.
    pub(crate) async fn look(&self, key: &str, policy: &Freshness) -> Found {
        let generation = self.generations.of(key);
        let stored = match self.inner.get(key).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Found::miss(),
            Err(e) => {
                bump(&self.counters.read_errors);
                tracing::warn!(key, error = %e, "get_or_compute: the cache could not be read; computing");
                return match self.local_copy(key, policy).await {
                    Some((value, true)) => Found::Fresh(value),
                    Some((value, false)) => Found::Fallback(value),
                    None => Found::miss(),
                };
            }
        };
        if let Some(error) = stored::negative(&stored) {
            return Found::Failed(error);
        }
        let entry = match stored::decode(stored.clone()) {
            Ok(entry) => entry,
            Err(e) => {
                bump(&self.counters.read_errors);
                tracing::warn!(key, error = %e, "get_or_compute: the cached value could not be read; computing");
                return Found::miss();
            }
        };
        let until = entry.fresh_until;
        // Drawn only when XFetch is on (no lock on the hit path otherwise).
        let u = if policy.early_refresh > 0.0 {
            self.rng.lock().unwrap_or_else(PoisonError::into_inner).f64()
        } else {
            0.0
        };
        let now = stored::now_ms();
        let found = classify(entry, policy, now, u);
        if !policy.stale_if_error.is_zero() && self.local.is_some() {
            match until {
                Some(until) if matches!(found, Found::Fresh(_) | Found::Due(..)) => {
                    // Kept for as long as the stored value may serve under stale-if-error.
                    let kept =
                        std::time::Duration::from_millis(until.saturating_sub(now)) + policy.stale_if_error;
                    self.keep_local_copy(key, stored, Ttl::After(kept), generation)
                        .await;
                }
                // A value without a soft expiry: any older copy must not outlive it.
                None => self.drop_local_copy(key).await,
                Some(_) => {}
            }
        }
        found
    }

    /// Keeps `stored` as the local copy of `key`, unless the key was changed through this cache
    /// since `generation` (what was read may be older than the change: the copy goes again).
    async fn keep_local_copy(&self, key: &str, stored: Bytes, ttl: Ttl, generation: Seen) {
        let Some(local) = &self.local else { return };
        if let Err(e) = local.set(key, stored, ttl).await {
            tracing::debug!(key, error = %e, "get_or_compute: a local copy could not be kept");
        }
        // A change bumps the generation before it removes the copies: either it removed this
        // copy, or this sees its bump.
        if self.generations.of(key) != generation {
            self.drop_local_copy(key).await;
        }
    }

    async fn drop_local_copy(&self, key: &str) {
        if let Some(local) = &self.local
            && let Err(e) = local.delete(key).await
        {
            tracing::debug!(key, error = %e, "get_or_compute: a local copy could not be removed");
        }
    }

    /// The local copy of `key`, if it is fresh (`true`) or within the stale-if-error window.
    async fn local_copy(&self, key: &str, policy: &Freshness) -> Option<(Bytes, bool)> {
        let stored = self.local.as_ref()?.get(key).await.ok()??;
        let entry = stored::decode(stored).ok()?;
        let now = stored::now_ms();
        match entry.fresh_until {
            Some(until) if now >= until => (std::time::Duration::from_millis(now - until)
                < policy.stale_if_error)
                .then_some((entry.value, false)),
            Some(_) => Some((entry.value, true)),
            // Copies are kept only of values with a soft expiry.
            None => None,
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
        policy: &Freshness,
        compute: F,
    ) -> Result<Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        bump(&self.counters.computations);
        let started = Instant::now();
        let superseded = || leader.is_some_and(Leader::is_superseded);
        let value = match compute().await {
            Ok(value) => value,
            Err(error) => {
                bump(&self.counters.errors);
                // A failed refresh keeps the value served: its error is not cached.
                if !leader.is_some_and(Leader::is_refresh) {
                    self.store_error(key, &error, policy, superseded()).await;
                }
                return Err(error);
            }
        };
        let delta = started.elapsed();
        if superseded() {
            bump(&self.counters.superseded);
            return Ok(value);
        }
        let generation = self.generations.of(key);
        let (stored, stored_ttl) = stored_form(&value, jittered(ttl, self.config.ttl_jitter), policy, delta);
        self.note_written(&stored);
        match self.inner.set(key, stored.clone(), stored_ttl).await {
            Ok(()) if superseded() => {
                // Changed while we stored: what we stored may be older than the change.
                bump(&self.counters.superseded);
                if let Err(e) = self.inner.delete(key).await {
                    tracing::warn!(key, error = %e, "get_or_compute: a superseded value could not be removed");
                }
                return Ok(value);
            }
            Ok(()) => {}
            Err(e) => {
                bump(&self.counters.store_errors);
                tracing::warn!(key, error = %e, "get_or_compute: the computed value could not be stored");
            }
        }
        // Copies only of values with a soft expiry (a TTL of their own, under a policy); an
        // older copy must not outlive a newer value of which none is kept.
        if !policy.stale_if_error.is_zero() && policy.needs_header() && matches!(stored_ttl, Ttl::After(_)) {
            self.keep_local_copy(key, stored, stored_ttl, generation).await;
        } else {
            self.drop_local_copy(key).await;
        }
        Ok(value)
    }
}

impl<C: Cache> Shared<C> {
    /// Negative caching: stores the computation's `error` for `negative_ttl`, unless off, the
    /// key changed meanwhile, or a stale-if-error policy answers errors with the last value.
    async fn store_error(&self, key: &str, error: &Error, policy: &Freshness, superseded: bool) {
        let ttl = self.config.negative_ttl;
        if ttl.is_zero() || superseded || !policy.stale_if_error.is_zero() {
            return;
        }
        let stored = stored::encode_error(error);
        self.note_written(&stored);
        // No older copy may answer for the key while its error is the answer.
        self.drop_local_copy(key).await;
        match self.inner.set(key, stored, Ttl::After(ttl)).await {
            Ok(()) => bump(&self.counters.negative_stored),
            Err(e) => tracing::warn!(key, error = %e, "get_or_compute: the error could not be cached"),
        }
    }
}

/// Checks a call's TTL and policy before anything is read or computed.
pub(crate) fn check(ttl: Ttl, policy: &Freshness) -> Result<()> {
    ttl.check()?;
    policy
        .validate()
        .map_err(|e| Error::new(ErrorKind::InvalidInput, e.message().to_owned()))
}

/// What is stored for `value` computed in `delta`, and for how long: as it is without a policy;
/// with one, behind the freshness header, for `ttl` plus the stale window.
fn stored_form(value: &Bytes, ttl: Ttl, policy: &Freshness, delta: std::time::Duration) -> (Bytes, Ttl) {
    if !policy.needs_header() {
        return (stored::escape(value), ttl);
    }
    match ttl {
        Ttl::After(fresh) => {
            let until = stored::now_ms().saturating_add(u64::try_from(fresh.as_millis()).unwrap_or(u64::MAX));
            let kept = (fresh + policy.stale_window()).min(stratacache_core::MAX_TTL);
            (stored::encode(value, Some(until), delta), Ttl::After(kept))
        }
        other => (stored::encode(value, None, delta), other),
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
