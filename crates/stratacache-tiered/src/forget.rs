//! Dropping L1 copies only: what another instance changed in L2 (fleet invalidation). L2 is not
//! touched: it already holds the other instance's change.
//!
//! Each removal goes through the same coherence bookkeeping as this instance's own writes and
//! invalidations, so a read that fetched the older value from L2 just before the change, and
//! promotes it just after the removal, does not leave it behind in L1.

use stratacache_core::{Cache, Glob, Result};

use crate::TieredCache;
use crate::coherence::Scope;

impl<L1: Cache, L2: Cache> TieredCache<L1, L2> {
    /// Drops `keys` from L1 (another instance wrote or deleted them in L2).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> stratacache_core::Result<()> {
    /// use stratacache_core::{Bytes, Cache, Ttl};
    /// use stratacache_memory::MemoryCache;
    /// use stratacache_tiered::TieredCache;
    ///
    /// let tiered = TieredCache::new(MemoryCache::new(100)?, MemoryCache::new(100)?);
    /// tiered.set("k", Bytes::from_static(b"v1"), Ttl::Never).await?;
    /// // Another instance writes v2 to the shared L2, then tells us:
    /// tiered.l2().set("k", Bytes::from_static(b"v2"), Ttl::Never).await?;
    /// tiered.forget_keys(&["k"]).await?;
    /// assert_eq!(tiered.get("k").await?, Some(Bytes::from_static(b"v2")));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// L1's error when it could not remove them (the copies then live at most `l1_ttl`).
    pub async fn forget_keys(&self, keys: &[&str]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let ticket = self.coherence.write(keys.iter().copied());
        let removed = self.l1_result(self.l1.delete_many(keys).await);
        drop(ticket);
        removed.map(drop)
    }

    /// Drops every L1 copy whose key matches `pattern` (another instance invalidated it, or
    /// invalidated a tag whose keys this instance does not know).
    ///
    /// # Errors
    ///
    /// As [`forget_keys`](Self::forget_keys).
    pub async fn forget_matching(&self, pattern: &str) -> Result<()> {
        let ticket = self.coherence.invalidate(Scope::Matching(Glob::new(pattern)));
        let removed = self.l1_result(self.l1.invalidate_pattern(pattern).await);
        drop(ticket);
        removed.map(drop)
    }

    /// Drops every L1 copy: another instance cleared L2, or this instance may have missed a
    /// change (a lost invalidation message, a dropped subscription).
    ///
    /// # Errors
    ///
    /// As [`forget_keys`](Self::forget_keys).
    pub async fn forget_all(&self) -> Result<()> {
        let ticket = self.coherence.invalidate(Scope::All);
        let removed = self.l1_result(self.l1.clear().await);
        drop(ticket);
        removed
    }
}
