//! Tags on Redis: one set per tag, `:tags:{namespace}:{tag}`, holding the keys it names. The
//! leading `:` keeps tag sets out of every namespace's key space (`{namespace}:{key}` never starts
//! with `:`, since a namespace cannot contain one): no key collides with them, and pattern
//! invalidation, key counts and key scans never see them; `clear` removes the namespace's.
//!
//! - **Adding** a key to a tag (one script per tag, pipelined) also gives the set the longest
//!   lifetime of its entries (an entry without expiry makes it persistent), so a tag whose
//!   entries all expired goes with them; and it checks three random members, removing those whose
//!   entry is gone, so a tag that lives on does not fill up with expired keys.
//! - **Removing** a tag takes its members in batches of [`REMOVAL_BATCH`] (`SPOP`), each batch
//!   with its entries in one script, until the set is empty: Redis is never blocked for longer
//!   than one batch, however large the tag. A key tagged at the same time is either taken by a
//!   batch (its entry is removed) or lands in the set after the last one (its entry and its tag
//!   survive together).
//!
//! Both need `EVAL` and the set commands; an ACL user needs the key pattern
//! `~:tags:<namespace>:*` besides `~<namespace>:*`.

use stratacache_core::{Expiry, Result};

use crate::RedisCache;
use crate::conn::Idempotence::{ReportsEffect, Write};

/// Where tag sets live: `:tags:{namespace}:{tag}`.
pub(crate) const TAG_PREFIX: &str = ":tags:";

/// `KEYS[1]` the tag set, `ARGV[1]` the member, `ARGV[2]` its lifetime in ms (-1: none),
/// `ARGV[3]` the namespace prefix.
const ADD: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
local previous = redis.call('PTTL', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl < 0 then
  redis.call('PERSIST', KEYS[1])
elseif existed == 0 or (previous >= 0 and previous < ttl) then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
for _, member in ipairs(redis.call('SRANDMEMBER', KEYS[1], 3)) do
  if member ~= ARGV[1] and redis.call('EXISTS', ARGV[3] .. member) == 0 then
    redis.call('SREM', KEYS[1], member)
  end
end
return 1
";

/// How many members of a tag one removal script takes at most.
pub(crate) const REMOVAL_BATCH: usize = 1000;

/// `KEYS[1]` the tag set, `ARGV[1]` the namespace prefix, `ARGV[2]` the batch size: the keys
/// whose entries it removed, then how many members the set still has.
const REMOVE: &str = r"
local members = redis.call('SPOP', KEYS[1], tonumber(ARGV[2]))
local removed = {}
for _, member in ipairs(members) do
  if redis.call('UNLINK', ARGV[1] .. member) == 1 then
    removed[#removed + 1] = member
  end
end
removed[#removed + 1] = tostring(redis.call('SCARD', KEYS[1]))
return removed
";

impl RedisCache {
    /// The Redis key of `tag`'s set.
    pub(crate) fn tag_key(&self, tag: &str) -> String {
        format!("{TAG_PREFIX}{}:{tag}", self.namespace())
    }

    /// The `SCAN MATCH` pattern of every tag set of the namespace.
    pub(crate) fn tag_scan_pattern(&self) -> String {
        format!(
            "{TAG_PREFIX}{}:*",
            stratacache_core::glob::escape(self.namespace())
        )
    }

    pub(crate) async fn add_tags_impl(&self, key: &str, tags: &[&str], expiry: Expiry) -> Result<()> {
        let ttl_ms: i64 = match expiry {
            Expiry::Never => -1,
            Expiry::After(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        };
        let prefix = self.redis_key("");
        let mut pipe = redis::pipe();
        for tag in tags {
            pipe.cmd("EVAL")
                .arg(ADD)
                .arg(1)
                .arg(self.tag_key(tag))
                .arg(key)
                .arg(ttl_ms)
                .arg(&prefix)
                .ignore();
        }
        let pipe = &pipe;
        self.run("EVAL (tag)", Write, |mut c| async move {
            pipe.query_async::<()>(&mut c).await
        })
        .await
    }

    /// Removes `tag`'s entries, batch after batch; the keys removed. A set still refilled by
    /// other writers after as many batches as it had members at the first is left to the next
    /// removal (what they tag later is theirs).
    pub(crate) async fn remove_tagged_impl(&self, tag: &str) -> Result<Vec<String>> {
        let (tag_key, prefix) = (&self.tag_key(tag), &self.redis_key(""));
        let mut removed = Vec::new();
        let mut batches_left: Option<usize> = None;
        loop {
            let mut batch: Vec<String> = self
                .run("EVAL (tag removal)", ReportsEffect, |mut c| async move {
                    redis::cmd("EVAL")
                        .arg(REMOVE)
                        .arg(1)
                        .arg(tag_key)
                        .arg(prefix)
                        .arg(REMOVAL_BATCH)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            let remaining: usize = batch.pop().and_then(|n| n.parse().ok()).unwrap_or(0);
            removed.append(&mut batch);
            let left = batches_left.get_or_insert(remaining.div_ceil(REMOVAL_BATCH));
            if remaining == 0 || *left == 0 {
                return Ok(removed);
            }
            *left -= 1;
        }
    }
}
