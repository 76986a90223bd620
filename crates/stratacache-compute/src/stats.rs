//! What a [`ComputeCache`](crate::ComputeCache)(crate::ComputeCache) counts, and where a fetched value came from.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;
use stratacache_core::Bytes;

/// What a [`ComputeCache`](crate::ComputeCache) counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ComputeStats {
    /// Calls answered from the cache with a fresh value, without computing (a caller that
    /// refreshed a value early is not counted here).
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
    /// Leases this process took on the cache, to compute a missing value or to refresh one
    /// (also when, once taken, the value turned out to be there already).
    pub leases_acquired: u64,
    /// Leases taken after waiting for another process whose lease ran out (it died or hung) or
    /// was released without a value.
    pub lease_takeovers: u64,
    /// Lease operations that failed (an acquisition then computes without the lease), and leases
    /// found lost while computing.
    pub lease_errors: u64,
    /// Refreshes of a still fresh value that XFetch ([`Freshness::early_refresh`](crate::Freshness::early_refresh))
    /// started.
    pub early_refreshes: u64,
    /// Refreshes of a value past its TTL, within the stale-while-revalidate window, started
    /// inline or in the background.
    pub revalidations: u64,
    /// Early refreshes and revalidations that failed: the value served stayed the old one.
    pub refresh_errors: u64,
    /// Calls answered with a value past its TTL within the stale-while-revalidate window.
    pub stale_served: u64,
    /// Calls answered with a value past its TTL because the computation or the cache failed
    /// (stale-if-error).
    pub stale_if_error: u64,
    /// Errors of the computation stored for [`negative_ttl`](crate::ComputeConfig::negative_ttl).
    pub negative_stored: u64,
    /// Calls answered with a stored error, without computing.
    pub negative_hits: u64,
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
    pub(crate) leases_acquired: AtomicU64,
    pub(crate) lease_takeovers: AtomicU64,
    pub(crate) lease_errors: AtomicU64,
    pub(crate) early_refreshes: AtomicU64,
    pub(crate) revalidations: AtomicU64,
    pub(crate) refresh_errors: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) stale_if_error: AtomicU64,
    pub(crate) negative_stored: AtomicU64,
    pub(crate) negative_hits: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ComputeStats {
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
            leases_acquired: self.leases_acquired.load(Relaxed),
            lease_takeovers: self.lease_takeovers.load(Relaxed),
            lease_errors: self.lease_errors.load(Relaxed),
            early_refreshes: self.early_refreshes.load(Relaxed),
            revalidations: self.revalidations.load(Relaxed),
            refresh_errors: self.refresh_errors.load(Relaxed),
            stale_served: self.stale_served.load(Relaxed),
            stale_if_error: self.stale_if_error.load(Relaxed),
            negative_stored: self.negative_stored.load(Relaxed),
            negative_hits: self.negative_hits.load(Relaxed),
        }
    }
}

/// Where a [`ComputeCache::fetch`](crate::ComputeCache::fetch)ed value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Source {
    /// Read from the cache.
    Cache,
    /// Computed by this caller (and stored).
    Computed,
    /// Computed by another caller (of this process, or of another process holding the key's
    /// lease), which this one waited for.
    Shared,
    /// A value past its TTL, served under stale-while-revalidate or stale-if-error
    /// ([`Freshness`](crate::Freshness)).
    Stale,
}

/// A value and where it came from ([`ComputeCache::fetch`](crate::ComputeCache::fetch)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetched {
    /// The value.
    pub value: Bytes,
    /// Where it came from.
    pub source: Source,
}

impl Fetched {
    pub(crate) fn new(value: Bytes, source: Source) -> Self {
        Self { value, source }
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}
