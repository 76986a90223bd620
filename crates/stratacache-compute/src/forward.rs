//! A [`ComputeCache`] is a [`Cache`]: reads strip the freshness header (and treat a value past
//! its TTL as expired), writes supersede the flights of the keys they change and apply to the
//! local copies too; everything else goes to the wrapped cache.

use std::sync::atomic::Ordering;
use std::time::Duration;

use stratacache_core::{Bytes, Cache, Expiry, Glob, Result, Ttl, async_trait, forward};

use crate::cache::{ComputeCache, Shared};
use crate::freshness::is_stale;
use crate::stored;

impl<C: Cache> Shared<C> {
    /// A stored value as a plain read sees it: without its header, `None` once past its TTL.
    fn plain(stored: Option<Bytes>) -> Result<Option<Bytes>> {
        let Some(stored) = stored else {
            return Ok(None);
        };
        if stored::negative(&stored).is_some() {
            // A cached error is no value.
            return Ok(None);
        }
        let entry = stored::decode(stored)?;
        Ok((!is_stale(&entry, stored::now_ms())).then_some(entry.value))
    }

    /// Runs `change` on the local copies, if any (a failure there is logged, not returned: the
    /// copies are this process's own, and the change was made on the cache).
    async fn on_local<'a, F, Fut, T>(&'a self, what: &str, keys: Option<&[&str]>, change: F)
    where
        F: FnOnce(&'a dyn Cache) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        // Before the copies go: a read that began before this change and keeps a copy after
        // it sees the bump and removes its copy (see `keep_local_copy`).
        self.generations.bump(keys);
        if let Some(local) = &self.local
            && let Err(e) = change(local.as_ref()).await
        {
            tracing::warn!(error = %e, "{what} could not be applied to the local copies");
        }
    }
}

/// Reads strip the freshness header; writes supersede the flights of the keys they change
/// (after the change, applied or not: a failed write may have been applied) and apply to the
/// local copies; everything else is forwarded. Once this cache wrote a value behind a header,
/// `exists` and `ttl` read as `get_with_ttl` does (a value past its TTL, kept for a stale window,
/// does not exist; its TTL is the value's own); before, they are the wrapped cache's (no value
/// is read). A process that only reads values other processes wrote under a policy sees the
/// wrapped cache's `exists` and `ttl`.
#[forward(self.shared.inner)]
#[async_trait]
impl<C: Cache> Cache for ComputeCache<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Shared::<C>::plain(self.shared.inner.get(key).await?)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.shared
            .inner
            .get_many(keys)
            .await?
            .into_iter()
            .map(Shared::<C>::plain)
            .collect()
    }

    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        let Some((stored, expiry)) = self.shared.inner.get_with_ttl(key).await? else {
            return Ok(None);
        };
        if stored::negative(&stored).is_some() {
            return Ok(None);
        }
        let entry = stored::decode(stored)?;
        let now = stored::now_ms();
        Ok(match entry.fresh_until {
            Some(until) if now >= until => None,
            Some(until) => Some((entry.value, Expiry::After(Duration::from_millis(until - now)))),
            None => Some((entry.value, expiry)),
        })
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        if !self.shared.headers_written.load(Ordering::Relaxed) {
            return self.shared.inner.exists(key).await;
        }
        Ok(self.get_with_ttl(key).await?.is_some())
    }

    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        if !self.shared.headers_written.load(Ordering::Relaxed) {
            return self.shared.inner.ttl(key).await;
        }
        Ok(self.get_with_ttl(key).await?.map(|(_, expiry)| expiry))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let stored = stored::escape(&value);
        self.shared.note_written(&stored);
        let result = self.shared.inner.set(key, stored, ttl).await;
        self.shared.flights.supersede(key);
        self.shared
            .on_local("a write", Some(&[key]), |local| local.delete(key))
            .await;
        result
    }

    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        let escaped: Vec<(&str, Bytes)> = entries
            .iter()
            .map(|(key, value)| (*key, stored::escape(value)))
            .collect();
        escaped
            .iter()
            .for_each(|(_, stored)| self.shared.note_written(stored));
        let result = self.shared.inner.set_many(&escaped, ttl).await;
        entries
            .iter()
            .for_each(|(key, _)| self.shared.flights.supersede(key));
        let keys: Vec<&str> = entries.iter().map(|(key, _)| *key).collect();
        self.shared
            .on_local("a write", Some(&keys), |local| local.delete_many(&keys))
            .await;
        result
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let result = self.shared.inner.delete(key).await;
        self.shared.flights.supersede(key);
        self.shared
            .on_local("a delete", Some(&[key]), |local| local.delete(key))
            .await;
        result
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let result = self.shared.inner.delete_many(keys).await;
        keys.iter().for_each(|key| self.shared.flights.supersede(key));
        self.shared
            .on_local("a delete", Some(keys), |local| local.delete_many(keys))
            .await;
        result
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        let result = self.shared.inner.invalidate_pattern(pattern).await;
        self.shared.flights.supersede_matching(Some(&Glob::new(pattern)));
        self.shared
            .on_local("an invalidation", None, |local| local.invalidate_pattern(pattern))
            .await;
        result
    }

    async fn clear(&self) -> Result<()> {
        let result = self.shared.inner.clear().await;
        self.shared.flights.supersede_matching(None);
        self.shared.on_local("a clear", None, |local| local.clear()).await;
        result
    }

    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        let result = self.shared.inner.remove_tagged(tag).await;
        match &result {
            Ok(removed) => {
                removed.iter().for_each(|key| self.shared.flights.supersede(key));
                let keys: Vec<&str> = removed.iter().map(String::as_str).collect();
                self.shared
                    .on_local("a tag removal", Some(&keys), |local| local.delete_many(&keys))
                    .await;
            }
            // Which entries went is unknown.
            Err(_) => {
                self.shared.flights.supersede_matching(None);
                self.shared
                    .on_local("a tag removal", None, |local| local.clear())
                    .await;
            }
        }
        result
    }
}
