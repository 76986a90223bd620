//! Leases on Redis: one key per lease, `:lease:{namespace}:{key}`, holding the holder's token
//! with the lease's lifetime. The leading `:` keeps leases out of every namespace's key space
//! (as tag sets): reads, pattern invalidation, `clear` and key counts never see them. Taking a
//! lease is `SET NX` unless the holder already has it; renewing and releasing compare the holder
//! first (a script), so nobody renews or ends another holder's lease. An ACL user needs the key
//! pattern `~:lease:<namespace>:*`.

use std::time::Duration;

use stratacache_core::Result;

use crate::RedisCache;
use crate::conn::Idempotence::{Idempotent, ReportsEffect};

/// Where leases live: `:lease:{namespace}:{key}`.
pub(crate) const LEASE_PREFIX: &str = ":lease:";

/// `KEYS[1]` the lease, `ARGV[1]` the holder, `ARGV[2]` the lifetime in ms: 1 when taken.
const ACQUIRE: &str = r"
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// `KEYS[1]` the lease, `ARGV[1]` the holder, `ARGV[2]` the lifetime in ms: 1 when renewed.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// `KEYS[1]` the lease, `ARGV[1]` the holder: 1 when released.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisCache {
    /// The Redis key of the lease `key`.
    pub(crate) fn lease_key(&self, key: &str) -> String {
        format!("{LEASE_PREFIX}{}:{key}", self.namespace())
    }

    async fn lease_script(
        &self,
        what: &'static str,
        script: &'static str,
        key: &str,
        holder: &str,
        ms: Option<u64>,
    ) -> Result<bool> {
        let lease = &self.lease_key(key);
        let idempotence = if ms.is_some() { Idempotent } else { ReportsEffect };
        let done: u64 = self
            .run(what, idempotence, |mut c| async move {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(script).arg(1).arg(lease).arg(holder);
                if let Some(ms) = ms {
                    cmd.arg(ms);
                }
                cmd.query_async(&mut c).await
            })
            .await?;
        Ok(done == 1)
    }

    pub(crate) async fn acquire_lease_impl(
        &self,
        key: &str,
        holder: &str,
        duration: Duration,
    ) -> Result<bool> {
        self.lease_script("EVAL (lease)", ACQUIRE, key, holder, Some(millis(duration)))
            .await
    }

    pub(crate) async fn renew_lease_impl(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        self.lease_script("EVAL (lease renewal)", RENEW, key, holder, Some(millis(duration)))
            .await
    }

    pub(crate) async fn release_lease_impl(&self, key: &str, holder: &str) -> Result<bool> {
        self.lease_script("EVAL (lease release)", RELEASE, key, holder, None)
            .await
    }
}
