//! A test double for failure paths and races: a [`MemoryCache`] whose operations can be made to
//! fail, to report a health status, or to pause. Not a model of Redis: it only lets a test reach
//! the tiered cache's error and interleaving handling deterministically.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use stratacache_core::{
    Bytes, Cache, CacheStats, Error, ErrorKind, Expiry, Health, HealthStatus, Result, Ttl, async_trait,
};
use stratacache_memory::MemoryCache;

/// A memory cache with switches.
#[derive(Debug)]
pub struct Switchable {
    pub inner: MemoryCache,
    /// `get`, `get_with_ttl`, `get_many`, `exists` and `ttl` fail.
    pub fail_reads: AtomicBool,
    /// `set` and `set_many` fail without writing.
    pub fail_writes: AtomicBool,
    /// `delete`, `invalidate_pattern` and `clear` fail without removing.
    pub fail_removals: AtomicBool,
    /// `get_with_ttl` and `get_many` wait this long after reading (0: no wait).
    pub read_pause_ms: AtomicU64,
    /// `set` waits this long after writing (0: no wait).
    pub write_pause_ms: AtomicU64,
    /// While set, `get_with_ttl` and `get_many` wait after reading until it is cleared.
    pub hold_reads: AtomicBool,
    /// While it holds a value, a `set` of that value waits after writing until it is cleared.
    pub hold_writes_of: Mutex<Option<Bytes>>,
    /// While set, `invalidate_pattern` and `clear` wait before removing until it is cleared.
    pub hold_invalidations: AtomicBool,
    /// How many operations are waiting on `hold_reads`, `hold_writes_of` or `hold_invalidations`.
    pub held: AtomicU64,
    pub health: Mutex<HealthStatus>,
}

impl Switchable {
    pub fn new() -> Self {
        Self::wrap(MemoryCache::new(10_000).unwrap())
    }

    pub fn wrap(inner: MemoryCache) -> Self {
        Self {
            inner,
            fail_reads: AtomicBool::new(false),
            fail_writes: AtomicBool::new(false),
            fail_removals: AtomicBool::new(false),
            read_pause_ms: AtomicU64::new(0),
            write_pause_ms: AtomicU64::new(0),
            hold_reads: AtomicBool::new(false),
            hold_writes_of: Mutex::new(None),
            hold_invalidations: AtomicBool::new(false),
            held: AtomicU64::new(0),
            health: Mutex::new(HealthStatus::Healthy),
        }
    }

    fn check(flag: &AtomicBool, op: &str) -> Result<()> {
        if flag.load(SeqCst) {
            Err(Error::new(
                ErrorKind::Connection,
                format!("{op} failed (test double)"),
            ))
        } else {
            Ok(())
        }
    }

    async fn pause(&self, ms: &AtomicU64, hold: impl Fn() -> bool) {
        let ms = ms.load(SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if hold() {
            self.held.fetch_add(1, SeqCst);
            while hold() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            self.held.fetch_sub(1, SeqCst);
        }
    }

    /// Waits until `n` operations are held.
    pub async fn wait_held(&self, n: u64) {
        while self.held.load(SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[async_trait]
impl Cache for Switchable {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Self::check(&self.fail_reads, "get")?;
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        Self::check(&self.fail_writes, "set")?;
        self.inner.set(key, value.clone(), ttl).await?;
        self.pause(&self.write_pause_ms, || {
            self.hold_writes_of.lock().unwrap().as_ref() == Some(&value)
        })
        .await;
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        Self::check(&self.fail_removals, "delete")?;
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool> {
        Self::check(&self.fail_reads, "exists")?;
        self.inner.exists(key).await
    }
    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        Self::check(&self.fail_reads, "ttl")?;
        self.inner.ttl(key).await
    }
    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        Self::check(&self.fail_reads, "get_with_ttl")?;
        let found = self.inner.get_with_ttl(key).await?;
        self.pause(&self.read_pause_ms, || self.hold_reads.load(SeqCst))
            .await;
        Ok(found)
    }
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        Self::check(&self.fail_reads, "get_many")?;
        let found = self.inner.get_many(keys).await?;
        self.pause(&self.read_pause_ms, || self.hold_reads.load(SeqCst))
            .await;
        Ok(found)
    }
    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        Self::check(&self.fail_writes, "set_many")?;
        self.inner.set_many(entries, ttl).await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        Self::check(&self.fail_removals, "invalidate_pattern")?;
        self.pause(&AtomicU64::new(0), || self.hold_invalidations.load(SeqCst))
            .await;
        self.inner.invalidate_pattern(pattern).await
    }
    async fn clear(&self) -> Result<()> {
        Self::check(&self.fail_removals, "clear")?;
        self.pause(&AtomicU64::new(0), || self.hold_invalidations.load(SeqCst))
            .await;
        self.inner.clear().await
    }
    async fn health(&self) -> Health {
        let status = *self.health.lock().unwrap();
        Health::new("switchable", status).with_message(format!("set to {status:?} by the test"))
    }
    async fn stats(&self) -> CacheStats {
        self.inner.stats().await
    }
}
