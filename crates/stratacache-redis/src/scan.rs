//! [`ScanKeys`] for [`RedisCache`]: SCAN pages of the namespace, and a Lua compare-and-set that
//! keeps the TTL (`SET ... KEEPTTL`, Redis 6.0 and later).

use stratacache_core::glob::escape;
use stratacache_core::{Bytes, Result, ScanKeys, async_trait};

use crate::RedisCache;
use crate::conn::Idempotence::ReportsEffect;

/// Replaces `KEYS[1]` with `ARGV[2]` only if it still holds `ARGV[1]`, keeping its TTL.
const REPLACE_IF_UNCHANGED: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0";

#[async_trait]
impl ScanKeys for RedisCache {
    /// One `SCAN` step over the namespace (`COUNT` = `scan_count`); keys come back without the
    /// namespace prefix.
    async fn scan_keys(&self, pattern: &str, cursor: u64) -> Result<(u64, Vec<String>)> {
        let full = format!("{}:{pattern}", escape(&self.inner.namespace));
        let (next, raw) = self.scan_page(&full, cursor).await?;
        let prefix = self.redis_key("");
        let keys = raw
            .into_iter()
            .filter_map(|k| {
                String::from_utf8(k)
                    .ok()?
                    .strip_prefix(prefix.as_str())
                    .map(str::to_owned)
            })
            .collect();
        Ok((next, keys))
    }

    /// One `EVAL` of a compare-and-set script: atomic against every other client of the server.
    async fn replace_if_unchanged(&self, key: &str, expected: &[u8], value: Bytes) -> Result<bool> {
        let key = &self.redis_key(key);
        let value = &value;
        let replaced: i64 = self
            .run("EVAL replace-if-unchanged", ReportsEffect, |mut c| async move {
                redis::cmd("EVAL")
                    .arg(REPLACE_IF_UNCHANGED)
                    .arg(1)
                    .arg(key)
                    .arg(expected)
                    .arg(&value[..])
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(replaced == 1)
    }
}
