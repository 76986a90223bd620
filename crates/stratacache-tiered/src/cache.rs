//! [`TieredCache`]: the struct, its constructors and the helpers its [`Cache`] implementation uses.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stratacache_core::{Bytes, Cache, Error, Expiry, MIN_TTL, Result, StatsCounters, Ttl};

use crate::TieredConfig;
use crate::coherence::{Coherence, ReadTicket, WriteTicket};

/// Subtracted from a remaining lifetime before an entry is copied into L1: it covers the
/// millisecond rounding of the tiers' clocks, so that the copy never outlives the original.
const EXPIRY_MARGIN: Duration = Duration::from_millis(1);

/// Two caches as one: `L1` (small and fast, typically a bounded
/// [`MemoryCache`](https://docs.rs/stratacache-memory)) in front of `L2` (the source of truth,
/// typically Redis).
///
/// Reads try L1, then L2, and copy L2 hits into L1 with their remaining lifetime; writes go to L2,
/// then L1. The [crate documentation](crate) describes every operation, the consistency guarantees
/// and the counters.
///
/// Share it between tasks with an `Arc` (it is a [`Cache`], and `Arc<TieredCache<..>>` is one too).
pub struct TieredCache<L1, L2> {
    pub(crate) l1: L1,
    pub(crate) l2: L2,
    pub(crate) config: TieredConfig,
    pub(crate) counters: StatsCounters,
    pub(crate) tiers: TierCountersAtomic,
    pub(crate) coherence: Coherence,
    /// A cap on L1 lifetimes set at run time ([`TieredCache::cap_l1_ttl`]), in milliseconds;
    /// 0: none.
    pub(crate) l1_ttl_cap_ms: AtomicU64,
}

impl<L1: fmt::Debug, L2: fmt::Debug> fmt::Debug for TieredCache<L1, L2> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredCache")
            .field("l1", &self.l1)
            .field("l2", &self.l2)
            .field("config", &self.config)
            .field("tier_counters", &self.tier_counters())
            .finish_non_exhaustive()
    }
}

impl<L1: Cache, L2: Cache> TieredCache<L1, L2> {
    /// `l1` in front of `l2` with the default [`TieredConfig`]: entries written with
    /// [`Ttl::Default`] never expire, and entries stay at most
    /// [`DEFAULT_L1_TTL`](crate::DEFAULT_L1_TTL) (60 s) in L1.
    pub fn new(l1: L1, l2: L2) -> Self {
        Self::build(l1, l2, TieredConfig::default())
    }

    /// `l1` in front of `l2` with `config`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) naming every
    /// invalid setting (see [`TieredConfig::validate`]).
    pub fn with_config(l1: L1, l2: L2, config: TieredConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self::build(l1, l2, config))
    }

    fn build(l1: L1, l2: L2, config: TieredConfig) -> Self {
        Self {
            l1,
            l2,
            config,
            counters: StatsCounters::default(),
            tiers: TierCountersAtomic::default(),
            coherence: Coherence::new(),
            l1_ttl_cap_ms: AtomicU64::new(0),
        }
    }
}

impl<L1, L2> TieredCache<L1, L2> {
    /// The front tier. Writing to it directly bypasses the tiered cache's coherence.
    pub fn l1(&self) -> &L1 {
        &self.l1
    }

    /// The back tier, the source of truth.
    pub fn l2(&self) -> &L2 {
        &self.l2
    }

    /// The settings this cache was built with.
    pub fn config(&self) -> &TieredConfig {
        &self.config
    }

    /// How reads were served and how L1 was kept (see [`TierCounters`]).
    pub fn tier_counters(&self) -> TierCounters {
        let t = &self.tiers;
        TierCounters {
            l1_hits: t.l1_hits.load(Relaxed),
            l2_hits: t.l2_hits.load(Relaxed),
            promotions: t.promotions.load(Relaxed),
            promotions_skipped: t.promotions_skipped.load(Relaxed),
            l1_errors: t.l1_errors.load(Relaxed),
        }
    }

    /// The two tiers, L1 first.
    pub fn into_inner(self) -> (L1, L2) {
        (self.l1, self.l2)
    }
}

/// Counters of a [`TieredCache`] beyond [`CacheStats`](stratacache_core::CacheStats), from
/// [`TieredCache::tier_counters`].
///
/// `l1_hits + l2_hits` is the `hits` of the tiered cache's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TierCounters {
    /// Reads served by L1.
    pub l1_hits: u64,
    /// Reads that missed L1 and were served by L2.
    pub l2_hits: u64,
    /// L2 hits copied into L1.
    pub promotions: u64,
    /// L2 hits not copied into L1 (or copied and removed again): less than a millisecond left to
    /// live, a concurrent write of a key of the same stripe or invalidation of a pattern matching
    /// the key, L1 refusing the value, or the remaining lifetime of a batch read not being
    /// available.
    pub promotions_skipped: u64,
    /// Failed L1 operations. Failed reads fell through to L2; failed writes were compensated by
    /// removing the key from L1 (and reported as errors when even that failed).
    pub l1_errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct TierCountersAtomic {
    pub(crate) l1_hits: AtomicU64,
    pub(crate) l2_hits: AtomicU64,
    pub(crate) promotions: AtomicU64,
    pub(crate) promotions_skipped: AtomicU64,
    pub(crate) l1_errors: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

impl<L1: Cache, L2: Cache> TieredCache<L1, L2> {
    /// The TTL of an L1 copy of an entry whose remaining lifetime in L2, measured no earlier than
    /// `since`, was `expiry`: what is left of it now (minus [`EXPIRY_MARGIN`]), capped by `l1_ttl`.
    /// `None` when less than [`MIN_TTL`] is left: the entry is not worth copying.
    pub(crate) fn l1_ttl_for(&self, expiry: Expiry, since: Instant) -> Option<Ttl> {
        let cap = self.l1_ttl();
        let left = match expiry {
            Expiry::Never => return Some(cap.map_or(Ttl::Never, Ttl::After)),
            Expiry::After(d) => d.checked_sub(since.elapsed() + EXPIRY_MARGIN)?,
        };
        let left = cap.map_or(left, |cap| left.min(cap));
        (left >= MIN_TTL).then_some(Ttl::After(left))
    }

    /// The longest an entry copied into L1 now may live there: the configured `l1_ttl`, or the
    /// run-time cap of [`cap_l1_ttl`](Self::cap_l1_ttl) when it is shorter.
    pub fn l1_ttl(&self) -> Option<Duration> {
        let cap = match self.l1_ttl_cap_ms.load(Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        match (self.config.l1_ttl, cap) {
            (Some(configured), Some(cap)) => Some(configured.min(cap)),
            (configured, cap) => configured.or(cap),
        }
    }

    /// Caps, from now on, how long copies made into L1 live there (`None`: back to the configured
    /// `l1_ttl`). Fleet invalidation sets it while it cannot hear other instances' changes, so
    /// that staleness stays bounded; copies made before keep their lifetime (it flushes L1 when
    /// it sets the cap). A cap under a millisecond counts as one millisecond.
    pub fn cap_l1_ttl(&self, cap: Option<Duration>) {
        let ms = cap.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        self.l1_ttl_cap_ms.store(ms, Relaxed);
    }

    /// Counts an error returned to the caller and passes the result on.
    pub(crate) fn counted<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.counters.record_error();
        }
        result
    }

    /// An L1 result, its failure counted (the caller decides whether it matters).
    pub(crate) fn l1_result<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            bump(&self.tiers.l1_errors);
        }
        result
    }

    /// Copies an L2 hit into L1, unless a write of the key (or of its stripe) got in the way.
    pub(crate) async fn promote(
        &self,
        key: &str,
        value: Bytes,
        expiry: Expiry,
        since: Instant,
        ticket: &ReadTicket<'_>,
    ) {
        if !self.config.promote_on_read {
            return;
        }
        let ttl = self.l1_ttl_for(expiry, since).filter(|_| ticket.may_promote());
        let Some(ttl) = ttl else {
            bump(&self.tiers.promotions_skipped);
            return;
        };
        if self.l1_result(self.l1.set(key, value, ttl).await).is_err() {
            // L1 refused the value (too large for its bound, ...): it keeps no copy of it.
            bump(&self.tiers.promotions_skipped);
            return;
        }
        if ticket.overlapped() {
            // A write began while this value travelled from L2: it may be older than the write.
            // A failure leaves a possibly stale copy that only its TTL removes: nothing better
            // can be done on a read, which must not fail because of L1.
            let _ = self.l1_result(self.l1.delete(key).await);
            bump(&self.tiers.promotions_skipped);
        } else {
            bump(&self.tiers.promotions);
        }
    }

    /// After L2 accepted a write of `key` with `expiry` (sent no earlier than `since`): puts the
    /// value into L1, or makes sure L1 holds no copy of `key`.
    ///
    /// `cleared`: whether `key` was removed from L1 before L2 was written.
    ///
    /// # Errors
    ///
    /// When L1 can neither take the value nor remove an older copy of it: L1 could then serve a
    /// value L2 no longer holds.
    pub(crate) async fn sync_l1(
        &self,
        (key, value): (&str, Bytes),
        l1_ttl: Option<Ttl>,
        mut cleared: bool,
        ticket: &WriteTicket<'_>,
    ) -> Result<()> {
        if let Some(ttl) = l1_ttl {
            // A failed set may have left anything behind: make sure nothing is.
            cleared = self.l1_result(self.l1.set(key, value, ttl).await).is_ok();
        }
        if !cleared || ticket.contended(key) {
            self.l1_result(self.l1.delete(key).await)
                .map_err(|e| l1_left_behind(&e, "the write was stored in L2"))?;
        }
        Ok(())
    }
}

/// The error returned when L2 was changed but L1 may still hold an older copy.
pub(crate) fn l1_left_behind(e: &Error, done: &str) -> Error {
    Error::new(
        e.kind(),
        format!(
            "{done}, but L1 could not remove its copy and may serve it until it expires: {}",
            e.message()
        ),
    )
}
