//! The [`Cache`] implementation of [`TieredCache`].

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use stratacache_core::{
    Bytes, Cache, CacheStats, Error, ErrorKind, Expiry, Glob, Health, HealthStatus, Result, Ttl, async_trait,
};

use crate::TieredCache;
use crate::cache::{bump, l1_left_behind};
use crate::coherence::Scope;
use crate::join::{BoxFuture, join_bounded};

/// How many `ttl` requests a batch read sends to L2 at once to promote its hits.
const TTL_LOOKUPS_IN_FLIGHT: usize = 16;

#[async_trait]
impl<L1: Cache, L2: Cache> Cache for TieredCache<L1, L2> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        // An L1 failure falls through like a miss: L1 is an optimisation, L2 has the answer.
        if let Ok(Some(value)) = self.l1_result(self.l1.get(key).await) {
            self.counters.record_read(true);
            bump(&self.tiers.l1_hits);
            return Ok(Some(value));
        }
        let ticket = self.coherence.read(key);
        let since = Instant::now();
        let found = self.counted(self.l2.get_with_ttl(key).await)?;
        self.counters.record_read(found.is_some());
        let Some((value, expiry)) = found else {
            return Ok(None);
        };
        bump(&self.tiers.l2_hits);
        self.promote(key, value.clone(), expiry, since, &ticket).await;
        Ok(Some(value))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let expiry = self.counted(ttl.resolve(self.config.default_ttl))?;
        let ticket = self.coherence.write([key]);
        // L1 first: a write cancelled after L2 was written then leaves no older copy in L1.
        let cleared = self.l1_result(self.l1.delete(key).await).is_ok();
        let since = Instant::now();
        if let Err(e) = self.l2.set(key, value.clone(), Ttl::from(expiry)).await {
            // L2 may still have applied the write (a timeout): with a write overlapping, L1 may
            // hold the other write's value, which L2 may no longer hold.
            if !cleared || ticket.contended(key) {
                let _ = self.l1_result(self.l1.delete(key).await);
            }
            return self.counted(Err(e));
        }
        self.counters.record_writes(1);
        let l1_ttl = self.l1_ttl_for(expiry, since);
        let synced = self.sync_l1((key, value), l1_ttl, cleared, &ticket).await;
        self.counted(synced)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let ticket = self.coherence.write([key]);
        let first = self.l1_result(self.l1.delete(key).await);
        let in_l2 = self.l2.delete(key).await;
        let mut in_l1 = first.as_ref().is_ok_and(|removed| *removed);
        let l1 = match first {
            Err(_) => self.l1_result(self.l1.delete(key).await),
            Ok(_) if ticket.contended(key) => self.l1_result(self.l1.delete(key).await),
            Ok(removed) => Ok(removed),
        };
        let in_l2 = self.counted(in_l2)?;
        match l1 {
            Ok(removed) => in_l1 |= removed,
            Err(e) => return self.counted(Err(l1_left_behind(&e, "the entry was deleted from L2"))),
        }
        Ok(in_l1 || in_l2)
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        // As `delete`, for a batch: L1 first, L2 in one call, and L1 again for a key that a
        // promotion may have refilled meanwhile (or whose first removal failed).
        let ticket = self.coherence.write(keys.iter().copied());
        let mut failed = Vec::new();
        for key in keys {
            if self.l1_result(self.l1.delete(key).await).is_err() {
                failed.push(*key);
            }
        }
        let in_l2 = self.l2.delete_many(keys).await;
        let mut left_behind = None;
        for key in keys {
            if (failed.contains(key) || ticket.contended(key))
                && let Err(e) = self.l1_result(self.l1.delete(key).await)
            {
                left_behind = Some(e);
            }
        }
        let in_l2 = self.counted(in_l2)?;
        if let Some(e) = left_behind {
            return self.counted(Err(l1_left_behind(&e, "the entries were deleted from L2")));
        }
        // L2 holds every entry L1 holds (write-through), so its count is the batch's.
        Ok(in_l2)
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        if let Ok(true) = self.l1_result(self.l1.exists(key).await) {
            return Ok(true);
        }
        self.counted(self.l2.exists(key).await)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        self.counted(self.l2.ttl(key).await)
    }

    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        // Without an L1 cap, an L1 copy's remaining lifetime is the entry's (a little less, never
        // more). With a cap it may be the cap's: only L2 knows the entry's.
        if self.l1_ttl().is_none()
            && let Ok(Some(found)) = self.l1_result(self.l1.get_with_ttl(key).await)
        {
            self.counters.record_read(true);
            bump(&self.tiers.l1_hits);
            return Ok(Some(found));
        }
        let ticket = self.coherence.read(key);
        let since = Instant::now();
        let found = self.counted(self.l2.get_with_ttl(key).await)?;
        self.counters.record_read(found.is_some());
        if let Some((value, expiry)) = &found {
            bump(&self.tiers.l2_hits);
            self.promote(key, value.clone(), *expiry, since, &ticket).await;
        }
        Ok(found)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let mut out = match self.l1_result(self.l1.get_many(keys).await) {
            Ok(values) if values.len() == keys.len() => values,
            _ => vec![None; keys.len()],
        };
        let missed: Vec<usize> = (0..keys.len()).filter(|&i| out[i].is_none()).collect();
        let l1_hits = (keys.len() - missed.len()) as u64;
        if missed.is_empty() {
            self.counters.record_reads(l1_hits, 0);
            self.tiers.l1_hits.fetch_add(l1_hits, Relaxed);
            return Ok(out);
        }

        let missed_keys: Vec<&str> = missed.iter().map(|&i| keys[i]).collect();
        let tickets: Vec<_> = missed_keys.iter().map(|key| self.coherence.read(key)).collect();
        let since = Instant::now();
        let fetched = self.counted(self.l2.get_many(&missed_keys).await)?;
        if fetched.len() != missed_keys.len() {
            return self.counted(Err(Error::new(
                ErrorKind::Backend,
                format!(
                    "L2 get_many returned {} values for {} keys",
                    fetched.len(),
                    missed_keys.len()
                ),
            )));
        }
        let l2_hits = fetched.iter().filter(|v| v.is_some()).count() as u64;
        self.counters
            .record_reads(l1_hits + l2_hits, missed.len() as u64 - l2_hits);
        self.tiers.l1_hits.fetch_add(l1_hits, Relaxed);
        self.tiers.l2_hits.fetch_add(l2_hits, Relaxed);

        // `get_many` returns no lifetimes: ask L2 for the remaining TTL of each hit worth
        // promoting, a bounded number at a time.
        let mut promotable = Vec::new();
        for (slot, value) in fetched.iter().enumerate() {
            if value.is_none() || !self.config.promote_on_read {
                continue;
            }
            if tickets[slot].may_promote() {
                promotable.push(slot);
            } else {
                bump(&self.tiers.promotions_skipped);
            }
        }
        let lookups: Vec<BoxFuture<'_, Result<Option<Expiry>>>> = promotable
            .iter()
            .map(|&slot| self.l2.ttl(missed_keys[slot]))
            .collect();
        let expiries = join_bounded(lookups, TTL_LOOKUPS_IN_FLIGHT).await;
        for (&slot, expiry) in promotable.iter().zip(expiries) {
            if let (Ok(Some(expiry)), Some(value)) = (expiry, &fetched[slot]) {
                self.promote(missed_keys[slot], value.clone(), expiry, since, &tickets[slot])
                    .await;
            } else {
                // Gone since, or its lifetime is unknown: never guess one.
                bump(&self.tiers.promotions_skipped);
            }
        }
        for (slot, value) in fetched.into_iter().enumerate() {
            out[missed[slot]] = value;
        }
        Ok(out)
    }

    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        let expiry = self.counted(ttl.resolve(self.config.default_ttl))?;
        if entries.is_empty() {
            return Ok(());
        }
        let ticket = self.coherence.write(entries.iter().map(|(key, _)| *key));
        let mut cleared = Vec::with_capacity(entries.len());
        for (key, _) in entries {
            cleared.push(self.l1_result(self.l1.delete(key).await).is_ok());
        }
        let since = Instant::now();
        if let Err(e) = self.l2.set_many(entries, Ttl::from(expiry)).await {
            for ((key, _), cleared) in entries.iter().zip(&cleared) {
                if !cleared || ticket.contended(key) {
                    let _ = self.l1_result(self.l1.delete(key).await);
                }
            }
            return self.counted(Err(e));
        }
        self.counters.record_writes(entries.len() as u64);

        let l1_ttl = self.l1_ttl_for(expiry, since);
        if let Some(ttl) = l1_ttl
            && self.l1_result(self.l1.set_many(entries, ttl).await).is_ok()
        {
            // Every value is in L1: only contended keys still need a look.
            let mut result = Ok(());
            for (key, _) in entries {
                if ticket.contended(key)
                    && let Err(e) = self.l1_result(self.l1.delete(key).await)
                {
                    result = Err(l1_left_behind(&e, "the writes were stored in L2"));
                }
            }
            return self.counted(result);
        }
        // No L1 TTL left, or L1 refused the batch (one value too large for it, say): key by key,
        // so that the values L1 accepts are still cached.
        let mut result = Ok(());
        for ((key, value), cleared) in entries.iter().zip(cleared) {
            let synced = self.sync_l1((key, value.clone()), l1_ttl, cleared, &ticket).await;
            if synced.is_err() {
                result = synced;
            }
        }
        self.counted(result)
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        // Promotions of the keys the pattern matches wait for it; others go on.
        let ticket = self.coherence.invalidate(Scope::Matching(Glob::new(pattern)));
        let first = self.l1_result(self.l1.invalidate_pattern(pattern).await);
        let removed = self.l2.invalidate_pattern(pattern).await;
        let l1 = if first.is_err() || ticket.any_contended() {
            self.l1_result(self.l1.invalidate_pattern(pattern).await)
        } else {
            first
        };
        // L2 is the source of truth and L1 holds copies of some of its entries: L2's count is the
        // number of entries the cache no longer has.
        let removed = self.counted(removed)?;
        match l1 {
            Ok(_) => Ok(removed),
            Err(e) => self.counted(Err(l1_left_behind(&e, "the entries were invalidated in L2"))),
        }
    }

    /// Leases live in L2, the store every instance shares.
    async fn acquire_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        let taken = self.l2.acquire_lease(key, holder, duration).await;
        self.counted(taken)
    }

    async fn renew_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        let renewed = self.l2.renew_lease(key, holder, duration).await;
        self.counted(renewed)
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<bool> {
        let released = self.l2.release_lease(key, holder).await;
        self.counted(released)
    }

    /// Tags live in L2 only: L1 holds copies, and drops them by key when a tag is removed.
    async fn add_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        let added = self.l2.add_tags(key, tags, ttl).await;
        self.counted(added)
    }

    /// L2 removes the tagged entries and says which; then their L1 copies go, through the same
    /// coherence bookkeeping as [`forget_keys`](TieredCache::forget_keys).
    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        let removed = match self.l2.remove_tagged(tag).await {
            Ok(removed) => removed,
            Err(e) => {
                // Which keys went is unknown (a removal may have been applied before its reply
                // was lost): no L1 copy may outlive it.
                let _ = self.forget_all().await;
                return self.counted(Err(e));
            }
        };
        let keys: Vec<&str> = removed.iter().map(String::as_str).collect();
        // A failure is counted as an L1 error; the copies then live at most `l1_ttl`.
        let _ = self.forget_keys(&keys).await;
        Ok(removed)
    }

    async fn clear(&self) -> Result<()> {
        let ticket = self.coherence.invalidate(Scope::All);
        let first = self.l1_result(self.l1.clear().await);
        let cleared = self.l2.clear().await;
        let l1 = if first.is_err() || ticket.any_contended() {
            self.l1_result(self.l1.clear().await)
        } else {
            first
        };
        self.counted(cleared)?;
        match l1 {
            Ok(()) => Ok(()),
            Err(e) => self.counted(Err(l1_left_behind(&e, "L2 was cleared"))),
        }
    }

    async fn health(&self) -> Health {
        let start = Instant::now();
        let l1 = self.l1.health().await;
        let l2 = self.l2.health().await;
        let status = match (l1.status, l2.status) {
            (_, HealthStatus::Unhealthy) => HealthStatus::Unhealthy,
            (HealthStatus::Healthy, HealthStatus::Healthy) => HealthStatus::Healthy,
            _ => HealthStatus::Degraded,
        };
        let mut health = Health::new("tiered", status).with_latency(start.elapsed());
        for (tier, report, consequence) in [
            ("L1", &l1, "reads fall through to L2"),
            ("L2", &l2, "L2 is the source of truth"),
        ] {
            if !report.is_healthy() {
                let status = report.status.as_str();
                health = health.with_message(format!(
                    "{tier} ({}) is {status} ({consequence}): {}",
                    report.backend,
                    report.messages.join("; ")
                ));
            }
        }
        health.inner = vec![l1, l2];
        health
    }

    /// Reads (`hits`, `misses`), `writes` and `errors` as callers of the tiered cache see them;
    /// the data-set figures (`removals`, `evictions`, `expirations`, `entries`, `bytes` and the
    /// bounds) are L2's, the tier holding every entry. `inner` holds L1's then L2's own snapshot.
    async fn stats(&self) -> CacheStats {
        let l1 = self.l1.stats().await;
        let l2 = self.l2.stats().await;
        let mut stats = self.counters.snapshot("tiered");
        stats.take_data_set_of(&l2);
        stats.inner = vec![l1, l2];
        stats
    }

    /// Closes both tiers (L2 even when closing L1 fails); the first error is returned.
    async fn close(&self) -> Result<()> {
        let l1 = self.l1.close().await;
        let l2 = self.l2.close().await;
        l1.and(l2)
    }
}
