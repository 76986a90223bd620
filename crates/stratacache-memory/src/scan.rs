//! [`ScanKeys`] for [`MemoryCache`]: every matching key in one page, and conditional replacement
//! through moka's per-key compute.

use moka::ops::compute::{CompResult, Op};
use stratacache_core::{Bytes, Glob, Result, ScanKeys, async_trait};

use crate::MemoryCache;
use crate::cache::Entry;

#[async_trait]
impl ScanKeys for MemoryCache {
    /// All live keys matching `pattern` in one page (the cache is bounded, so the page is too);
    /// the next cursor is always 0.
    async fn scan_keys(&self, pattern: &str, _cursor: u64) -> Result<(u64, Vec<String>)> {
        self.check_open()?;
        let glob = Glob::new(pattern);
        let prefix = glob.literal_prefix();
        let keys = self
            .moka()
            .iter()
            .filter(|(k, e)| e.is_live() && k.starts_with(prefix.as_ref()) && glob.matches(k))
            .map(|(k, _)| k.as_ref().clone())
            .collect();
        Ok((0, keys))
    }

    /// Replaces the value under moka's per-key lock, keeping the entry's deadline. Serialised with
    /// other conditional replacements of the key; a plain `set` racing it may be overwritten.
    async fn replace_if_unchanged(&self, key: &str, expected: &[u8], value: Bytes) -> Result<bool> {
        self.check_open()?;
        let result = self
            .moka()
            .entry_by_ref(key)
            .and_compute_with(|current| async move {
                match current.map(moka::Entry::into_value) {
                    Some(entry) if entry.is_live() && entry.value == expected => Op::Put(Entry {
                        value,
                        expires_at: entry.expires_at,
                    }),
                    _ => Op::Nop,
                }
            })
            .await;
        Ok(matches!(result, CompResult::ReplacedWith(_)))
    }
}
