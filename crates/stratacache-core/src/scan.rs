//! [`ScanKeys`]: walking and conditionally rewriting the entries of a cache, for maintenance jobs
//! such as re-encryption under a new key.

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Cache, Result};

/// Maintenance access to a cache's entries, beyond the [`Cache`] contract: enumerate keys page by
/// page, and replace a value only if it is still the one that was read.
///
/// Implemented by the memory and Redis backends. Keys are the caller's keys (without a backend's
/// namespace prefix), and patterns use [`Glob`](crate::Glob) semantics.
#[async_trait]
pub trait ScanKeys: Cache {
    /// One page of the keys matching `pattern`, starting at `cursor` (0 for the first page):
    /// returns the next cursor (0 when done) and the keys. As with Redis `SCAN`, a key present
    /// for the whole walk is returned at least once; keys written during the walk may or may not
    /// be; a page may be empty before the walk is done.
    ///
    /// # Errors
    ///
    /// Backend failures.
    async fn scan_keys(&self, pattern: &str, cursor: u64) -> Result<(u64, Vec<String>)>;

    /// Replaces the value of `key` with `value` if, and only if, it is still exactly `expected`,
    /// keeping the entry's remaining TTL. Returns whether it replaced. How it is made atomic is
    /// the backend's to document (Redis: one Lua script, atomic against every writer; memory:
    /// serialised with other conditional replacements of the key).
    ///
    /// # Errors
    ///
    /// Backend failures.
    async fn replace_if_unchanged(&self, key: &str, expected: &[u8], value: Bytes) -> Result<bool>;
}
