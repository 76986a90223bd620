//! Refreshes of a value that is still served: early (XFetch, the value is fresh) or after its
//! TTL (stale-while-revalidate), inline by the caller that found it or in the background.
//!
//! A refresh leads the key's flight (one per key in the process) and takes the key's lease (one
//! in the fleet): a caller that finds either taken is answered with the value it read. Once it
//! leads, it reads the key again, and refreshes only if the value is still the one it read: a
//! key deleted meanwhile stays deleted, and a value written or refreshed meanwhile is the answer.
//! A refresh that computes nothing ends its flight without a value ([`Leader::decline`]), so a
//! caller that joined it on a real miss computes rather than being handed an old value.

use std::future::Future;
use std::sync::Arc;

use stratacache_core::{Bytes, Cache, Result, Ttl};

use crate::cache::Shared;
use crate::flight::{Leader, Role};
use crate::freshness::Freshness;
use crate::lease::NoLease;
use crate::stats::{Fetched, Source, bump};
use crate::stored;

/// How a refresh of a value that is still served came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// XFetch: the value is fresh.
    Early,
    /// Stale-while-revalidate: the value is past its TTL.
    Stale,
}

/// What a refresh came to.
enum Refreshed {
    /// A new value: computed, or found (written or refreshed by another caller meanwhile).
    Value(Fetched),
    /// No new value: another process refreshes it, the key was deleted, or the refresh failed.
    Nothing,
}

/// What the key holds once the refresh leads, compared with what was read.
enum Reread {
    /// Still the value read (or an older one): refresh it.
    Same,
    /// Another, fresh value: the answer.
    Changed(Bytes),
    /// Nothing (deleted, expired, or an error cached meanwhile): no refresh.
    Gone,
}

impl<C: Cache> Shared<C> {
    /// Refreshes `current` now, unless a caller of this process or another process already
    /// does (then `current` is the answer); a refresh that finds nothing new answers `current`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn refresh<F, Fut>(
        &self,
        key: &str,
        ttl: Ttl,
        policy: &Freshness,
        current: Bytes,
        seen: Option<u64>,
        compute: F,
        kind: Refresh,
    ) -> Fetched
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        let Role::Leader(leader) = self.flights.join(key) else {
            return self.keep(current, kind);
        };
        match self
            .lead_refresh(leader, key, ttl, policy, seen, compute, kind)
            .await
        {
            Refreshed::Value(fetched) => fetched,
            Refreshed::Nothing => self.keep(current, kind),
        }
    }

    /// A background refresh: leads the key's flight unless a caller of this process already
    /// does.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn refresh_in_background<F, Fut>(
        &self,
        key: &str,
        ttl: Ttl,
        policy: &Freshness,
        seen: Option<u64>,
        compute: F,
        kind: Refresh,
    ) where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        if let Role::Leader(leader) = self.flights.join(key) {
            self.lead_refresh(leader, key, ttl, policy, seen, compute, kind)
                .await;
        }
    }

    /// The answer with the value being refreshed.
    pub(crate) fn keep(&self, current: Bytes, kind: Refresh) -> Fetched {
        match kind {
            Refresh::Early => {
                bump(&self.counters.hits);
                Fetched::new(current, Source::Cache)
            }
            Refresh::Stale => {
                bump(&self.counters.stale_served);
                Fetched::new(current, Source::Stale)
            }
        }
    }

    /// A refresh by `leader`, which it ends: with the new value, or without one.
    #[allow(clippy::too_many_arguments)]
    async fn lead_refresh<F, Fut>(
        &self,
        leader: Leader<'_>,
        key: &str,
        ttl: Ttl,
        policy: &Freshness,
        seen: Option<u64>,
        compute: F,
        kind: Refresh,
    ) -> Refreshed
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        let outcome = self
            .refresh_holding(&leader, key, ttl, policy, seen, compute, kind)
            .await;
        match &outcome {
            Refreshed::Value(fetched) => leader.finish(Ok(fetched.value.clone())),
            Refreshed::Nothing => leader.decline(),
        }
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn refresh_holding<F, Fut>(
        &self,
        leader: &Leader<'_>,
        key: &str,
        ttl: Ttl,
        policy: &Freshness,
        seen: Option<u64>,
        compute: F,
        kind: Refresh,
    ) -> Refreshed
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        leader.refreshing();
        let lease = match self.try_lease(key, leader).await {
            Ok(held) => Some(held),
            // Another process refreshes it: nobody waits for a value there is already.
            Err(NoLease::Taken) => return Refreshed::Nothing,
            Err(NoLease::Unusable) => None,
        };
        // Read again now that this caller leads (and holds the lease): the key may have been
        // deleted, written or refreshed since it was read.
        let reread = self.reread(key, seen).await;
        if !matches!(reread, Reread::Same) {
            if let Some(held) = &lease {
                self.release(key, held).await;
            }
            leader.hold_lease(None);
            return match reread {
                Reread::Changed(value) => Refreshed::Value(Fetched::new(value, Source::Shared)),
                Reread::Gone | Reread::Same => Refreshed::Nothing,
            };
        }
        bump(match kind {
            Refresh::Early => &self.counters.early_refreshes,
            Refresh::Stale => &self.counters.revalidations,
        });
        match self
            .compute_holding(leader, key, ttl, policy, compute, lease)
            .await
        {
            Ok(value) => Refreshed::Value(Fetched::new(value, Source::Computed)),
            Err(e) => {
                bump(&self.counters.refresh_errors);
                tracing::warn!(key, error = %e, "get_or_compute: a refresh failed; the value served stays the old one");
                Refreshed::Nothing
            }
        }
    }

    /// What `key` holds, compared with the value fresh until `seen` that was read.
    async fn reread(&self, key: &str, seen: Option<u64>) -> Reread {
        let stored = match self.inner.get(key).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Reread::Gone,
            // Unknown: refresh as planned (the value read is what callers are served).
            Err(_) => return Reread::Same,
        };
        if stored::negative(&stored).is_some() {
            return Reread::Gone;
        }
        let Ok(entry) = stored::decode(stored) else {
            return Reread::Same;
        };
        let now = stored::now_ms();
        match entry.fresh_until {
            until if until == seen => Reread::Same,
            // Written without a header, or fresh: another value than the one read.
            None => Reread::Changed(entry.value),
            Some(until) if now < until => Reread::Changed(entry.value),
            Some(_) => Reread::Same,
        }
    }
}

/// Spawns a background refresh of `key` on `shared`, counting a panic of the computation as a
/// refresh error (its lease is released as the flight's leader is dropped).
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_refresh<C, F, Fut>(
    shared: &Arc<Shared<C>>,
    key: &str,
    ttl: Ttl,
    policy: Freshness,
    seen: Option<u64>,
    compute: F,
    kind: Refresh,
) where
    C: Cache + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Bytes>> + Send + 'static,
{
    let (task, key) = (Arc::clone(shared), key.to_owned());
    let refresh = tokio::spawn(async move {
        task.refresh_in_background(&key, ttl, &policy, seen, compute, kind)
            .await;
    });
    let counters = Arc::clone(shared);
    tokio::spawn(async move {
        if let Err(e) = refresh.await
            && e.is_panic()
        {
            bump(&counters.counters.refresh_errors);
            tracing::warn!(
                "get_or_compute: a background refresh panicked; the value served stays the old one"
            );
        }
    });
}
