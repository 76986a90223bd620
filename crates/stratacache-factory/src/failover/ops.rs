//! The [`Cache`] implementation of [`FailoverCache`].

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, CacheStats, Expiry, Health, HealthStatus, Result, Ttl, async_trait};

use super::FailoverCache;
use super::pending::Effect;
use super::state::Shared;

/// Runs `$call` (an expression using `$cache: &dyn Cache`) on the primary, or on the fallback
/// when the circuit is open or the primary failed with a temporary error.
macro_rules! route {
    ($self:ident, $effect:expr, |$cache:ident| $call:expr) => {{
        let shared: &Shared = &$self.shared;
        let effect = $effect;
        let result = if shared.is_closed() {
            Err(Shared::closed_error())
        } else {
            match shared.primary_route(&effect) {
                Some((primary, epoch)) => {
                    let $cache: &dyn Cache = &**primary;
                    match $call.await {
                        Ok(value) => {
                            shared.succeeded();
                            shared.mirror(&effect).await;
                            Ok(value)
                        }
                        Err(error) if error.is_temporary() => {
                            shared.failed_over(epoch, &error, &effect);
                            let $cache: &dyn Cache = &*shared.fallback;
                            $call.await
                        }
                        Err(error) => Err(error),
                    }
                }
                None => {
                    let $cache: &dyn Cache = &*shared.fallback;
                    $call.await
                }
            }
        };
        if result.is_err() {
            shared.stats.record_error();
        }
        result
    }};
}

impl Shared {
    /// After the primary accepted a write: the same removal on the fallback, so that it never
    /// holds a value older than the primary's (it serves reads when the primary fails).
    async fn mirror(&self, effect: &Effect<'_>) {
        let fallback = &*self.fallback;
        let removed = match effect {
            Effect::Read => return,
            Effect::Key(key) => fallback.delete(key).await.map(drop),
            Effect::Entries(entries) => {
                let mut removed = Ok(());
                for (key, _) in *entries {
                    if let Err(e) = fallback.delete(key).await {
                        removed = Err(e);
                    }
                }
                removed
            }
            Effect::Keys(keys) => fallback.delete_many(keys).await.map(drop),
            Effect::Pattern(pattern) => fallback.invalidate_pattern(pattern).await.map(drop),
            Effect::Tag(tag) => fallback.remove_tagged(tag).await.map(drop),
            Effect::Clear => fallback.clear().await,
        };
        if let Err(error) = removed {
            tracing::debug!(%error, "the fallback cache could not follow a write of the primary");
        }
    }
}

#[async_trait]
impl Cache for FailoverCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let found = route!(self, Effect::Read, |cache| cache.get(key))?;
        self.shared.stats.record_read(found.is_some());
        Ok(found)
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        if let Err(e) = ttl.check() {
            self.shared.stats.record_error();
            return Err(e);
        }
        route!(self, Effect::Key(key), |cache| cache.set(key, value.clone(), ttl))?;
        self.shared.stats.record_writes(1);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        route!(self, Effect::Key(key), |cache| cache.delete(key))
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        route!(self, Effect::Keys(keys), |cache| cache.delete_many(keys))
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        route!(self, Effect::Read, |cache| cache.exists(key))
    }

    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        route!(self, Effect::Read, |cache| cache.ttl(key))
    }

    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        let found = route!(self, Effect::Read, |cache| cache.get_with_ttl(key))?;
        self.shared.stats.record_read(found.is_some());
        Ok(found)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let found = route!(self, Effect::Read, |cache| cache.get_many(keys))?;
        let hits = found.iter().filter(|v| v.is_some()).count() as u64;
        self.shared.stats.record_reads(hits, found.len() as u64 - hits);
        Ok(found)
    }

    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        if let Err(e) = ttl.check() {
            self.shared.stats.record_error();
            return Err(e);
        }
        if entries.is_empty() {
            return Ok(());
        }
        route!(self, Effect::Entries(entries), |cache| cache
            .set_many(entries, ttl))?;
        self.shared.stats.record_writes(entries.len() as u64);
        Ok(())
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        route!(self, Effect::Pattern(pattern), |cache| cache
            .invalidate_pattern(pattern))
    }

    async fn clear(&self) -> Result<()> {
        route!(self, Effect::Clear, |cache| cache.clear())
    }

    async fn add_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        route!(self, Effect::Key(key), |cache| cache.add_tags(key, tags, ttl))
    }

    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        route!(self, Effect::Tag(tag), |cache| cache.remove_tagged(tag))
    }

    /// Leases change no data (nothing to replay): on the primary they are shared with the other
    /// instances; on the fallback, only within this process.
    async fn acquire_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        route!(self, Effect::Read, |cache| cache
            .acquire_lease(key, holder, duration))
    }

    async fn renew_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        route!(self, Effect::Read, |cache| cache
            .renew_lease(key, holder, duration))
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<bool> {
        route!(self, Effect::Read, |cache| cache.release_lease(key, holder))
    }

    /// On the primary: its report, `Healthy` when both tiers are (`Degraded` when only one is,
    /// `Unhealthy` when neither). On the fallback: `Degraded` (`Unhealthy` if the fallback is),
    /// with a message saying since when and why; the primary is not asked, its last probe result
    /// is shown. `inner` holds the primary's report (when known), then the fallback's.
    async fn health(&self) -> Health {
        let start = Instant::now();
        let shared = &*self.shared;
        if shared.is_closed() {
            return Health::new("failover", HealthStatus::Unhealthy)
                .with_message(Shared::closed_error().to_string())
                .with_latency(start.elapsed());
        }
        let fallback = shared.fallback.health().await;
        let primary = match shared.primary.get() {
            Some(primary) if !shared.open.load(Ordering::Acquire) => Some(primary),
            _ => None,
        };
        let mut health = if let Some(primary) = primary {
            let primary = primary.health().await;
            let status = match (primary.status, fallback.status) {
                (HealthStatus::Healthy, HealthStatus::Healthy) => HealthStatus::Healthy,
                (HealthStatus::Unhealthy, HealthStatus::Unhealthy) => HealthStatus::Unhealthy,
                _ => HealthStatus::Degraded,
            };
            let mut health = Health::new("failover", status);
            if !primary.is_healthy() {
                health = health.with_message(format!(
                    "the primary ({}) is {}: operations fall back to the {} cache when it fails: {}",
                    primary.backend,
                    primary.status.as_str(),
                    fallback.backend,
                    primary.messages.join("; ")
                ));
            }
            health = with_fallback_note(health, &fallback);
            health.inner = vec![primary, fallback];
            health
        } else {
            let state = shared.lock();
            let status = if fallback.status == HealthStatus::Unhealthy {
                HealthStatus::Unhealthy
            } else {
                HealthStatus::Degraded
            };
            let since = state.opened_at.map_or_else(String::new, |at| {
                format!(" for {:.1}s", at.elapsed().as_secs_f64())
            });
            let why = if shared.primary.get().is_none() {
                "the primary is not connected".to_owned()
            } else {
                format!(
                    "the primary failed {} times in a row",
                    shared.config.failure_threshold
                )
            };
            let last = state
                .last_error
                .as_deref()
                .map_or_else(String::new, |e| format!(" (last error: {e})"));
            let mut health = Health::new("failover", status).with_message(format!(
                "serving from the fallback ({}){since}: {why}{last}; checking it every {:?}",
                fallback.backend, shared.config.probe_interval
            ));
            health = with_fallback_note(health, &fallback);
            health.inner = state.primary_health.iter().cloned().collect();
            drop(state);
            health.inner.push(fallback);
            health
        };
        health.latency = start.elapsed();
        health
    }

    /// Reads (`hits`, `misses`), `writes` and `errors` as callers saw them, whichever tier served
    /// them; the data-set figures (`removals`, `evictions`, `expirations`, `entries`, `bytes`, the
    /// bounds) are the active tier's. `inner` holds the active tier's snapshot first (its
    /// `backend` says which one), then, on the primary, the fallback's. On the fallback the
    /// primary is not asked.
    async fn stats(&self) -> CacheStats {
        let shared = &*self.shared;
        let primary = match shared.primary.get() {
            Some(primary) if !shared.open.load(Ordering::Acquire) => Some(primary),
            _ => None,
        };
        let mut inner = Vec::with_capacity(2);
        if let Some(primary) = primary {
            inner.push(primary.stats().await);
        }
        inner.push(shared.fallback.stats().await);
        let active = &inner[0];
        let mut stats = shared.stats.snapshot("failover");
        stats.take_data_set_of(active);
        stats.inner = inner;
        stats
    }

    /// Stops the background task, closes the primary (if connected) and the fallback; every
    /// later operation fails with [`ErrorKind::Closed`](stratacache_core::ErrorKind::Closed).
    /// See [Closing](super#closing).
    async fn close(&self) -> Result<()> {
        let primary = self.shared.stop(true);
        let primary = match primary {
            Some(primary) => primary.close().await,
            None => Ok(()),
        };
        let fallback = self.shared.fallback.close().await;
        primary.and(fallback)
    }
}

/// `health` with a message about the fallback when it is not healthy.
fn with_fallback_note(health: Health, fallback: &Health) -> Health {
    if fallback.is_healthy() {
        return health;
    }
    health.with_message(format!(
        "the fallback ({}) is {}: {}",
        fallback.backend,
        fallback.status.as_str(),
        fallback.messages.join("; ")
    ))
}
