//! [`RedisCache`]: the [`Cache`] over a Redis server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deadpool_redis::Pool;
use redis::Value;
use stratacache_core::glob::escape;
use stratacache_core::{
    Bytes, Cache, CacheStats, Error, Expiry, Glob, Health, HealthStatus, Result, StatsCounters, Ttl,
    async_trait,
};

use crate::announce::{self, Announce, Announcer, Change, StopOnDrop, TAG_KEYS_ANNOUNCED};
use crate::config::{RedisConfig, RetryConfig};
use crate::conn::Idempotence::{Idempotent, ReportsEffect, Write};
use crate::conn::{Held, Slot};
use crate::connect::{self, Endpoint};
use crate::error;
use crate::fleet::{self, InstanceId, Publisher, Scope};
use crate::status::RedisStatus;

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    /// The client the pool was made from: fleet invalidation subscribes on its own connection.
    pub(crate) client: redis::Client,
    pub(crate) slots: Box<[Slot]>,
    pub(crate) next: AtomicUsize,
    /// Set by [`RedisCache::close`]: no connection is handed out any more.
    pub(crate) closed: AtomicBool,
    /// `{namespace}:`, prepended to every key.
    prefix: String,
    /// The prefix, glob-escaped, for `SCAN MATCH`.
    scan_prefix: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) namespace: String,
    default_ttl: Option<Duration>,
    scan_count: u32,
    pub(crate) retry: RetryConfig,
    pub(crate) command_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) counters: StatsCounters,
    /// This cache's instance id and message numbering, for fleet invalidation.
    pub(crate) publisher: Publisher,
    /// What this cache changed, waiting to be announced, when it publishes invalidations
    /// ([`RedisConfig::publish_invalidations`]); the announcing task ends when this is dropped.
    announcer: Option<StopOnDrop>,
    /// The namespace's fleet invalidation channel.
    channel: String,
}

/// A [`Cache`] on Redis, through a deadpool-redis pool of multiplexed connections.
///
/// Keys are stored as `{namespace}:{key}`; [`Cache::clear`] and [`Cache::invalidate_pattern`]
/// only ever remove keys of the namespace, with `SCAN MATCH ... COUNT` and `UNLINK` in batches
/// (never `KEYS` or `FLUSHDB`); a pattern without wildcards ([`Glob::literal`]: `user:42`, or
/// `user:\*` for the key `user:*`) is one `UNLINK` of its key, without a `SCAN`. TTLs are set in milliseconds (`SET ... PX`) and read with `PTTL`.
/// Every operation has a deadline (`command_timeout` plus the retry budget, 300 ms by default):
/// a broken or refused connection is retried with a short backoff within the budget, a reply that
/// does not come in time is a timeout at once, and a broken connection is replaced by one
/// reconnection per slot that concurrent callers share, so the cache recovers by itself after a
/// server restart and never holds a caller for longer than the deadline.
///
/// Cloning is cheap and clones share the connections. See the [crate documentation](crate).
#[derive(Clone)]
pub struct RedisCache {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("url", &self.inner.endpoint.url)
            .field("namespace", &self.inner.namespace)
            .field("tls", &self.inner.endpoint.tls)
            .field("auth", &self.inner.endpoint.auth)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Validates `config`, connects, authenticates and opens `pool_size` connections.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration): invalid settings
    ///   (all listed), unreadable certificate files, a server without TLS 1.3 when it is required;
    /// - [`ErrorKind::Authentication`](stratacache_core::ErrorKind::Authentication): wrong password
    ///   or ACL user, untrusted server certificate or host name mismatch;
    /// - [`ErrorKind::Connection`](stratacache_core::ErrorKind::Connection) or
    ///   [`ErrorKind::Timeout`](stratacache_core::ErrorKind::Timeout): the server cannot be reached
    ///   within `connect_timeout`.
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        config.validate()?;
        let (client, endpoint) = connect::client(&config)?;
        connect::check_min_tls(&config, &client, &endpoint).await?;
        let pool = connect::pool(&config, &client)?;
        let channel = fleet::channel(&config.namespace);
        let publisher = Publisher::new(InstanceId::random());
        let mut slots = Vec::with_capacity(config.pool_size);
        for _ in 0..config.pool_size {
            let object = connect::checkout(&pool, &endpoint).await?;
            let mut conn = connect::multiplexed(&object);
            // Opening a connection does not prove the credentials: a server with `requirepass`
            // accepts it and refuses commands. PING does.
            redis::cmd("PING")
                .query_async::<Value>(&mut conn)
                .await
                .map_err(|e| error::map(e, &format!("PING {}", endpoint.url)))?;
            if config.publish_invalidations && slots.is_empty() {
                // Refused here rather than on every write: an ACL user without the channel would
                // have each write applied and reported as failed.
                let probe = publisher.announce(Scope::Keys(Vec::new())).encode();
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(probe)
                    .query_async::<u64>(&mut conn)
                    .await
                    .map_err(|e| {
                        Error::configuration(format!(
                            "publish_invalidations = true but PUBLISH on {channel} was refused ({}): \
                             an ACL user needs +publish +subscribe &{channel} (or turn fleet \
                             invalidation off: CACHE_FLEET_INVALIDATION=false in stratacache-factory)",
                            error::map(e, "PUBLISH")
                        ))
                    })?;
            }
            slots.push(Slot::new(Held {
                _object: object,
                conn,
            }));
        }
        let prefix = format!("{}:", config.namespace);
        let scan_prefix = format!("{}:", escape(&config.namespace));
        let announcer = config
            .publish_invalidations
            .then(|| StopOnDrop(Arc::new(Announcer::default())));
        let cache = Self {
            inner: Arc::new(Inner {
                pool,
                client,
                slots: slots.into_boxed_slice(),
                next: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                prefix,
                scan_prefix,
                endpoint,
                namespace: config.namespace,
                default_ttl: config.default_ttl,
                scan_count: config.scan_count,
                retry: config.retry,
                command_timeout: config.command_timeout,
                connect_timeout: config.connect_timeout,
                counters: StatsCounters::default(),
                publisher,
                announcer,
                channel,
            }),
        };
        if let Some(StopOnDrop(announcer)) = &cache.inner.announcer {
            tokio::spawn(announce::run(Arc::downgrade(&cache.inner), Arc::clone(announcer)));
        }
        Ok(cache)
    }

    /// The namespace every key of this cache is stored under (`{namespace}:{key}`).
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The `deadpool-redis` pool, for commands this crate does not wrap. Keys written through it
    /// are not namespaced.
    ///
    /// The cache keeps `pool_size` of the pool's connections for itself; the pool has two more,
    /// so up to two checkouts (`pool().get()`) can be held at a time besides the cache's own, and
    /// a further one waits (up to `connect_timeout`) until one is returned. Hold them briefly:
    /// the cache also uses the spare connections while replacing a broken one.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The key as stored in Redis: `{namespace}:{key}`.
    pub fn redis_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.inner.prefix.len() + key.len());
        k.push_str(&self.inner.prefix);
        k.push_str(key);
        k
    }

    /// Server information a caller can show: connected, version, memory, clients, keys in the
    /// namespace, TLS and authentication method. Never fails: problems show in the report.
    ///
    /// Counting the keys walks the whole database with `SCAN` (Redis has no per-prefix count):
    /// on large databases prefer [`server_status`](Self::server_status) and
    /// [`count_keys`](Self::count_keys) at a slower pace, as the admin API does.
    pub async fn status(&self) -> RedisStatus {
        crate::status::collect(self).await
    }

    /// [`status`](Self::status) without the key count (`keys_in_namespace` is `None`): one `INFO`
    /// round trip.
    pub async fn server_status(&self) -> RedisStatus {
        crate::status::server(self).await
    }

    /// The number of keys in this cache's namespace, counted with `SCAN MATCH` over the whole
    /// database (one round trip per `scan_count` keys of the database).
    ///
    /// # Errors
    ///
    /// Connection and timeout errors of the `SCAN` commands.
    pub async fn count_keys(&self) -> Result<u64> {
        crate::status::count_keys(self).await
    }

    /// Closes the cache: the pool is closed and the long-lived connections it held are dropped,
    /// so that no connection of this cache stays open. Every clone shares the pool, so every
    /// clone is closed.
    ///
    /// Afterwards every operation of every clone fails at once, without touching the network,
    /// with an [`ErrorKind::Closed`](stratacache_core::ErrorKind::Closed) error whose message says
    /// that the cache was closed (not temporary: never retried, and a failover in front of the
    /// cache returns it instead of serving its fallback), and [`Cache::health`] reports
    /// [`HealthStatus::Unhealthy`]. There is no way to reopen a closed cache: connect a new one.
    /// [`Cache::close`] does the same.
    ///
    /// Commands already in flight finish (or time out) on their connection, which closes when
    /// they are done. Closing twice does nothing more. Call it at shutdown, for example from a
    /// registry's close hook, so that the server sees its clients leave instead of a reset when
    /// the process exits.
    pub fn close(&self) {
        let inner = &*self.inner;
        if inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        // Closing first: an object handed back afterwards is dropped, not kept idle.
        inner.pool.close();
        if let Some(StopOnDrop(announcer)) = &inner.announcer {
            announcer.stop();
        }
        for slot in &inner.slots {
            drop(slot.take());
        }
        tracing::debug!(url = %inner.endpoint.url, namespace = %inner.namespace, "Redis cache closed");
    }

    /// Whether [`close`](Self::close) was called (on this cache or on any clone).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// The error of every operation after [`close`](Self::close).
    pub(crate) fn closed_error(&self) -> Error {
        Error::closed(format_args!(
            "the Redis cache for {} (namespace {:?})",
            self.inner.endpoint.url, self.inner.namespace
        ))
    }

    fn resolve(&self, ttl: Ttl) -> Result<Expiry> {
        let resolved = ttl.resolve(self.inner.default_ttl);
        if resolved.is_err() {
            self.inner.counters.record_error();
        }
        resolved
    }

    /// One `SCAN cursor MATCH pattern COUNT n` step (a full Redis pattern, prefix included):
    /// the next cursor (0 at the end) and the page of keys. Each step is one short command, so
    /// walking a namespace never blocks the server.
    pub(crate) async fn scan_page(&self, pattern: &str, cursor: u64) -> Result<(u64, Vec<Vec<u8>>)> {
        let count = self.inner.scan_count;
        self.run("SCAN", Idempotent, |mut c| async move {
            redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(count)
                .query_async(&mut c)
                .await
        })
        .await
    }

    /// What announces, once dropped, that `keys` changed (nothing when this cache does not
    /// publish): create it before the change's command, so that it announces after the command
    /// returned, failed or was cancelled.
    fn announcing<'a>(&'a self, keys: &'a [&'a str]) -> Announce<'a> {
        Announce::new(self.announce_target(), Change::Keys(keys))
    }

    /// As [`announcing`](Self::announcing), for a pattern (`Some`) or a clear (`None`).
    fn announcing_removal<'a>(&'a self, pattern: Option<&'a str>) -> Announce<'a> {
        let change = pattern.map_or(Change::Clear, Change::Pattern);
        Announce::new(self.announce_target(), change)
    }

    /// Where announcements go, and the operation deadline after which an unconfirmed change is
    /// announced again.
    fn announce_target(&self) -> Option<(&Arc<Announcer>, Duration)> {
        let deadline = self.inner.command_timeout + self.inner.retry.budget;
        self.inner
            .announcer
            .as_ref()
            .map(|StopOnDrop(announcer)| (announcer, deadline))
    }

    /// The `PUBLISH` of an encoded message on this cache's channel.
    pub(crate) fn publish_cmd(&self, message: Vec<u8>) -> redis::Cmd {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.inner.channel).arg(message);
        cmd
    }

    /// Runs a removal (`DEL`/`UNLINK`) that replies a count.
    async fn removal(&self, what: &'static str, cmd: redis::Cmd) -> Result<u64> {
        let cmd = &cmd;
        self.run(what, ReportsEffect, |mut c| async move {
            cmd.query_async(&mut c).await
        })
        .await
    }

    /// This cache's instance id: the origin of the invalidations it publishes, and the one whose
    /// messages its [`subscribe_invalidations`](Self::subscribe_invalidations) skips.
    pub fn instance_id(&self) -> InstanceId {
        self.inner.publisher.origin()
    }

    /// Whether this cache publishes invalidations ([`RedisConfig::publish_invalidations`]).
    pub fn publishes_invalidations(&self) -> bool {
        self.inner.announcer.is_some()
    }

    /// How many invalidation messages this cache has numbered and sent with its changes (the
    /// connection check at start included); 0 when it does not publish.
    pub fn invalidations_published(&self) -> u64 {
        self.inner.publisher.announced()
    }

    /// Removes every key matching `pattern` (prefix included), `UNLINK`ing each SCAN page.
    async fn scan_unlink(&self, pattern: &str) -> Result<u64> {
        let (mut cursor, mut removed) = (0, 0u64);
        loop {
            let (next, keys) = self.scan_page(pattern, cursor).await?;
            if !keys.is_empty() {
                let keys = &keys;
                removed += self
                    .run("UNLINK", ReportsEffect, |mut c| async move {
                        redis::cmd("UNLINK").arg(keys).query_async::<u64>(&mut c).await
                    })
                    .await?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        self.inner.counters.record_removals(removed);
        Ok(removed)
    }
}

/// `PTTL`'s reply as a remaining lifetime: -2 absent, -1 no expiry. A key about to expire (0 ms)
/// reports 1 ms, so that a copy made from it is still valid and expires at once.
fn pttl_to_expiry(pttl: i64) -> Option<Expiry> {
    match pttl {
        -2 => None,
        n if n < 0 => Some(Expiry::Never),
        n => Some(Expiry::After(Duration::from_millis(n.max(1) as u64))),
    }
}

fn set_cmd(key: &str, value: &[u8], expiry: Expiry) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    if let Expiry::After(d) = expiry {
        cmd.arg("PX").arg(d.as_millis() as u64);
    }
    cmd
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let key = &self.redis_key(key);
        let value: Option<Vec<u8>> = self
            .run("GET", Idempotent, |mut c| async move {
                redis::cmd("GET").arg(key).query_async(&mut c).await
            })
            .await?;
        self.inner.counters.record_read(value.is_some());
        Ok(value.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let expiry = self.resolve(ttl)?;
        let cmd = &set_cmd(&self.redis_key(key), &value, expiry);
        let keys = [key];
        let mut announce = self.announcing(&keys);
        let result = self
            .run("SET", Write, |mut c| async move {
                cmd.query_async::<()>(&mut c).await
            })
            .await;
        announce.confirm(&result);
        result?;
        self.inner.counters.record_writes(1);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let mut del = redis::cmd("DEL");
        del.arg(self.redis_key(key));
        let keys = [key];
        let mut announce = self.announcing(&keys);
        let n = self.removal("DEL", del).await;
        announce.confirm(&n);
        let n = n?;
        self.inner.counters.record_removals(n);
        Ok(n > 0)
    }

    /// One `UNLINK` of the whole batch (freeing memory off the server's main thread).
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut unlink = redis::cmd("UNLINK");
        unlink.arg(keys.iter().map(|k| self.redis_key(k)).collect::<Vec<_>>());
        let mut announce = self.announcing(keys);
        let n = self.removal("UNLINK", unlink).await;
        announce.confirm(&n);
        let n = n?;
        self.inner.counters.record_removals(n);
        Ok(n)
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        let key = &self.redis_key(key);
        let n: u64 = self
            .run("EXISTS", Idempotent, |mut c| async move {
                redis::cmd("EXISTS").arg(key).query_async(&mut c).await
            })
            .await?;
        Ok(n > 0)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        let key = &self.redis_key(key);
        let pttl: i64 = self
            .run("PTTL", Idempotent, |mut c| async move {
                redis::cmd("PTTL").arg(key).query_async(&mut c).await
            })
            .await?;
        Ok(pttl_to_expiry(pttl))
    }

    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        let key = &self.redis_key(key);
        let (value, pttl): (Option<Vec<u8>>, i64) = self
            .run("GET+PTTL", Idempotent, |mut c| async move {
                redis::pipe()
                    .atomic()
                    .cmd("GET")
                    .arg(key)
                    .cmd("PTTL")
                    .arg(key)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let found = value.zip(pttl_to_expiry(pttl)).map(|(v, e)| (Bytes::from(v), e));
        self.inner.counters.record_read(found.is_some());
        Ok(found)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: &Vec<String> = &keys.iter().map(|k| self.redis_key(k)).collect();
        let values: Vec<Option<Vec<u8>>> = self
            .run("MGET", Idempotent, |mut c| async move {
                redis::cmd("MGET").arg(keys).query_async(&mut c).await
            })
            .await?;
        let hits = values.iter().filter(|v| v.is_some()).count() as u64;
        self.inner.counters.record_reads(hits, values.len() as u64 - hits);
        Ok(values.into_iter().map(|v| v.map(Bytes::from)).collect())
    }

    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        let expiry = self.resolve(ttl)?;
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (key, value) in entries {
            pipe.add_command(set_cmd(&self.redis_key(key), value, expiry))
                .ignore();
        }
        let keys: Vec<&str> = entries.iter().map(|(key, _)| *key).collect();
        let mut announce = self.announcing(&keys);
        let pipe = &pipe;
        let result = self
            .run("SET pipeline", Write, |mut c| async move {
                pipe.query_async::<()>(&mut c).await
            })
            .await;
        announce.confirm(&result);
        result?;
        self.inner.counters.record_writes(entries.len() as u64);
        Ok(())
    }

    /// A pattern without wildcards ([`Glob::literal`]) is one `UNLINK` of its key; any other
    /// walks the namespace with `SCAN MATCH` pages, each `UNLINK`ed.
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        if let Some(key) = Glob::new(pattern).literal() {
            let mut unlink = redis::cmd("UNLINK");
            unlink.arg(self.redis_key(&key));
            let keys = [&*key];
            let mut announce = self.announcing(&keys);
            let n = self.removal("UNLINK", unlink).await;
            announce.confirm(&n);
            let n = n?;
            self.inner.counters.record_removals(n);
            return Ok(n);
        }
        let full = format!("{}{pattern}", self.inner.scan_prefix);
        // Announced whatever the walk's outcome: a failed or cancelled walk may have removed
        // some keys.
        let mut announce = self.announcing_removal(Some(pattern));
        let removed = self.scan_unlink(&full).await;
        announce.confirm(&removed);
        removed
    }

    async fn add_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        stratacache_core::validate_tags(tags).inspect_err(|_| self.inner.counters.record_error())?;
        let expiry = self.resolve(ttl)?;
        if tags.is_empty() {
            return Ok(());
        }
        self.add_tags_impl(key, tags, expiry).await
    }

    /// One script: the tag's set and its entries go at once (see the module `tags`); what it
    /// removed is announced to the other instances as keys.
    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        stratacache_core::validate_tag(tag).inspect_err(|_| self.inner.counters.record_error())?;
        // Until the removal completes, which entries went is unknown (a batch may be applied
        // after its reply was lost, or the call is cancelled between batches): announced as the
        // tag (the others flush), now and again after the operation deadline.
        let unknown = Announce::new(self.announce_target(), Change::Tag(tag));
        let removed = self.remove_tagged_impl(tag).await?;
        unknown.settle();
        let done = Ok(());
        if removed.len() > TAG_KEYS_ANNOUNCED {
            // Cheaper for the others to flush than to drop this many keys one by one.
            Announce::new(self.announce_target(), Change::Tag(tag)).confirm(&done);
        } else {
            let keys: Vec<&str> = removed.iter().map(String::as_str).collect();
            self.announcing(&keys).confirm(&done);
        }
        self.inner.counters.record_removals(removed.len() as u64);
        Ok(removed)
    }

    async fn clear(&self) -> Result<()> {
        let all = format!("{}*", self.inner.scan_prefix);
        let mut announce = self.announcing_removal(None);
        let cleared = self.scan_unlink(&all).await;
        // The namespace's tag sets go too (they live outside its key space).
        let cleared = match cleared {
            Ok(n) => self.scan_unlink(&self.tag_scan_pattern()).await.map(|_| n),
            Err(e) => Err(e),
        };
        announce.confirm(&cleared);
        cleared.map(|_| ())
    }

    async fn health(&self) -> Health {
        let start = Instant::now();
        let ping = self
            .run("PING", Idempotent, |mut c| async move {
                redis::cmd("PING").query_async::<Value>(&mut c).await
            })
            .await;
        let health = match ping {
            Ok(_) => Health::new("redis", HealthStatus::Healthy).with_message(format!(
                "PING answered by {} (tls: {})",
                self.inner.endpoint.url, self.inner.endpoint.tls
            )),
            Err(e) => Health::new("redis", HealthStatus::Unhealthy).with_message(e.to_string()),
        };
        health.with_latency(start.elapsed())
    }

    async fn stats(&self) -> CacheStats {
        // Entry counts would need a SCAN of the namespace: see `RedisCache::status`.
        self.inner.counters.snapshot("redis")
    }

    /// Leases shared by every process on this Redis and namespace (`:lease:{namespace}:{key}`).
    async fn acquire_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        stratacache_core::validate_lease(holder, duration)
            .inspect_err(|_| self.inner.counters.record_error())?;
        self.acquire_lease_impl(key, holder, duration).await
    }

    async fn renew_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        stratacache_core::validate_lease(holder, duration)
            .inspect_err(|_| self.inner.counters.record_error())?;
        self.renew_lease_impl(key, holder, duration).await
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<bool> {
        self.release_lease_impl(key, holder).await
    }

    /// [`RedisCache::close`].
    /// Publishes the announcements still queued (within the operation deadline), then closes.
    async fn close(&self) -> Result<()> {
        if let Some(StopOnDrop(announcer)) = &self.inner.announcer
            && !self.is_closed()
        {
            let deadline = self.inner.command_timeout + self.inner.retry.budget;
            let _ = tokio::time::timeout(deadline, announce::flush_now(self, announcer)).await;
        }
        RedisCache::close(self);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pttl_replies() {
        assert_eq!(pttl_to_expiry(-2), None);
        assert_eq!(pttl_to_expiry(-1), Some(Expiry::Never));
        assert_eq!(pttl_to_expiry(0), Some(Expiry::After(Duration::from_millis(1))));
        assert_eq!(
            pttl_to_expiry(1500),
            Some(Expiry::After(Duration::from_millis(1500)))
        );
    }

    #[test]
    fn set_uses_px_milliseconds() {
        let cmd = set_cmd("k", b"v", Expiry::After(Duration::from_millis(1500)));
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => b.to_vec(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(
            args,
            [
                b"SET".to_vec(),
                b"k".to_vec(),
                b"v".to_vec(),
                b"PX".to_vec(),
                b"1500".to_vec()
            ]
        );
        assert_eq!(set_cmd("k", b"v", Expiry::Never).args_iter().count(), 3);
    }
}
