//! Tags on Redis: one set per tag, `:tags:{namespace}:{tag}`, holding the keys it names. The
//! leading `:` keeps tag sets out of every namespace's key space (`{namespace}:{key}` never starts
//! with `:`, since a namespace cannot contain one): no key collides with them, and pattern
//! invalidation, key counts and key scans never see them; `clear` removes the namespace's.
//!
//! - **Adding** a key to a tag (one script per tag, pipelined) also gives the set the longest
//!   lifetime of its entries (an entry without expiry makes it persistent), so a tag whose
//!   entries all expired goes with them; and it checks three random members, removing those whose
//!   entry is gone, so a tag that lives on does not fill up with expired keys.
//! - **Removing** a tag first renames its set to a draining set of this removal's own
//!   (`:tags:{namespace}:\u{1}removing:{id}`: a tag cannot contain a control character, so no
//!   tag's set is ever named so), then takes its members in batches of [`REMOVAL_BATCH`]
//!   (`SPOP`), each batch with its entries in one script, until the draining set is empty. Redis
//!   is never blocked for longer than one batch, however large the tag; every entry tagged before
//!   the removal began goes; a key tagged meanwhile lands in a new set, and its entry and its tag
//!   survive together. A draining set left behind by a process that died mid-way expires after an
//!   hour (and `clear` removes it).
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

/// How long a draining set lives at most (a removal that died mid-way leaves one).
const DRAINING_TTL_MS: u64 = 3_600_000;

/// `KEYS[1]` the tag set, `KEYS[2]` this removal's draining set, `ARGV[1]` the namespace prefix,
/// `ARGV[2]` the batch size, `ARGV[3]` `1` for the first batch (which renames the tag set to the
/// draining set), `ARGV[4]` the draining set's lifetime in ms: the keys whose entries this batch
/// removed, then how many members the draining set still has.
const REMOVE: &str = r"
if ARGV[3] == '1' then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    return {'0'}
  end
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
local members = redis.call('SPOP', KEYS[2], tonumber(ARGV[2]))
local removed = {}
for _, member in ipairs(members) do
  if redis.call('UNLINK', ARGV[1] .. member) == 1 then
    removed[#removed + 1] = member
  end
end
removed[#removed + 1] = tostring(redis.call('SCARD', KEYS[2]))
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

    /// Removes `tag`'s entries, batch after batch; the keys removed.
    pub(crate) async fn remove_tagged_impl(&self, tag: &str) -> Result<Vec<String>> {
        let (tag_key, prefix) = (&self.tag_key(tag), &self.redis_key(""));
        let draining = &format!(
            "{TAG_PREFIX}{}:\u{1}removing:{}",
            self.namespace(),
            crate::fleet::InstanceId::random()
        );
        let mut removed = Vec::new();
        let mut first = true;
        loop {
            let mut batch: Vec<String> = self
                .run("EVAL (tag removal)", ReportsEffect, |mut c| async move {
                    redis::cmd("EVAL")
                        .arg(REMOVE)
                        .arg(2)
                        .arg(tag_key)
                        .arg(draining)
                        .arg(prefix)
                        .arg(REMOVAL_BATCH)
                        .arg(if first { "1" } else { "0" })
                        .arg(DRAINING_TTL_MS)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            first = false;
            let remaining: usize = batch.pop().and_then(|n| n.parse().ok()).unwrap_or(0);
            removed.append(&mut batch);
            // Nobody adds to the draining set: this ends.
            if remaining == 0 {
                return Ok(removed);
            }
        }
    }
}
