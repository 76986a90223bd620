//! [`RedisCache`]: the [`Cache`] over a Redis server.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use deadpool_redis::Pool;
use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Value};
use stratacache_core::glob::escape;
use stratacache_core::{
    Bytes, Cache, CacheStats, Error, ErrorKind, Expiry, Health, HealthStatus, Result, StatsCounters, Ttl,
    async_trait,
};

use crate::config::{RedisConfig, RetryConfig};
use crate::connect::{self, Endpoint};
use crate::error;
use crate::status::RedisStatus;

/// A pool object held by the cache, and a clone of its multiplexed connection for commands.
struct Held {
    /// Keeps the connection checked out of the pool; dropping it returns it, and the pool's
    /// recycle check (`PING`) decides whether it is reused or replaced.
    _object: deadpool_redis::Connection,
    conn: MultiplexedConnection,
}

pub(crate) struct Inner {
    pool: Pool,
    slots: Box<[RwLock<Option<Held>>]>,
    next: AtomicUsize,
    /// Set by [`RedisCache::close`]: no connection is handed out any more.
    closed: AtomicBool,
    /// `{namespace}:`, prepended to every key.
    prefix: String,
    /// The prefix, glob-escaped, for `SCAN MATCH`.
    scan_prefix: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) namespace: String,
    default_ttl: Option<Duration>,
    scan_count: u32,
    retry: RetryConfig,
    counters: StatsCounters,
}

/// A [`Cache`] on Redis, through a deadpool-redis pool of multiplexed connections.
///
/// Keys are stored as `{namespace}:{key}`; [`Cache::clear`] and [`Cache::invalidate_pattern`]
/// only ever remove keys of the namespace, with `SCAN MATCH ... COUNT` and `UNLINK` in batches
/// (never `KEYS` or `FLUSHDB`). TTLs are set in milliseconds (`SET ... PX`) and read with `PTTL`.
/// Temporary failures (connection lost, timeout) are retried with bounded exponential backoff; a
/// broken connection is handed back to the pool, which replaces it, so the cache recovers by
/// itself after a server restart.
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
            slots.push(RwLock::new(Some(Held {
                _object: object,
                conn,
            })));
        }
        let prefix = format!("{}:", config.namespace);
        let scan_prefix = format!("{}:", escape(&config.namespace));
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
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
                counters: StatsCounters::default(),
            }),
        })
    }

    /// The `deadpool-redis` pool, for commands this crate does not wrap. Keys written through it
    /// are not namespaced.
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
    /// with an [`ErrorKind::Unavailable`] error whose message says that the cache was closed
    /// (never retried, even though `Unavailable` counts as temporary: the cache will not come
    /// back), and [`Cache::health`] reports [`HealthStatus::Unhealthy`]. There is no way to reopen
    /// a closed cache: connect a new one.
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
        for slot in &inner.slots {
            let held = slot
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            drop(held);
        }
        tracing::debug!(url = %inner.endpoint.url, namespace = %inner.namespace, "Redis cache closed");
    }

    /// Whether [`close`](Self::close) was called (on this cache or on any clone).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// The error of every operation after [`close`](Self::close).
    fn closed_error(&self) -> Error {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "the Redis cache for {} (namespace {:?}) was closed (RedisCache::close)",
                self.inner.endpoint.url, self.inner.namespace
            ),
        )
    }

    /// A connection for the next command: a slot's connection, or a fresh one from the pool.
    async fn connection(&self) -> Result<(usize, MultiplexedConnection)> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let inner = &*self.inner;
        let i = inner.next.fetch_add(1, Ordering::Relaxed) % inner.slots.len();
        if let Some(conn) = read(&inner.slots[i]).as_ref().map(|h| h.conn.clone()) {
            return Ok((i, conn));
        }
        let object = connect::checkout(&inner.pool, &inner.endpoint)
            .await
            .map_err(|e| if self.is_closed() { self.closed_error() } else { e })?;
        let conn = connect::multiplexed(&object);
        let mut slot = inner.slots[i]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // `close` sets the flag before emptying this slot under the same lock: checked here, a
        // connection checked out during `close` is never left behind in a slot.
        if self.is_closed() {
            return Err(self.closed_error());
        }
        match slot.as_ref() {
            Some(held) => Ok((i, held.conn.clone())), // filled meanwhile; `object` goes back to the pool
            None => {
                *slot = Some(Held {
                    _object: object,
                    conn: conn.clone(),
                });
                Ok((i, conn))
            }
        }
    }

    /// Drops slot `i`'s connection (back to the pool, whose recycle check replaces it if broken).
    fn discard(&self, i: usize) {
        let held = self.inner.slots[i]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(held);
    }

    /// Runs `command` on a connection, retrying temporary failures with bounded backoff.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, command: F) -> Result<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let retry = self.inner.retry;
        let mut backoff = retry.initial_backoff;
        let mut attempt = 0;
        loop {
            let outcome = match self.connection().await {
                Ok((i, conn)) => command(conn).await.map_err(|e| {
                    if error::breaks_connection(&e) {
                        self.discard(i);
                    }
                    error::map(e, what)
                }),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err(e) if e.is_temporary() && attempt < retry.max_retries && !self.is_closed() => {
                    tracing::debug!(error = %e, attempt, "retrying Redis command");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(retry.max_backoff);
                    attempt += 1;
                }
                Err(e) => {
                    self.inner.counters.record_error();
                    return Err(e);
                }
            }
        }
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
        self.run("SCAN", |mut c| async move {
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

    /// Removes every key matching `pattern` (prefix included), `UNLINK`ing each SCAN page.
    async fn scan_unlink(&self, pattern: &str) -> Result<u64> {
        let (mut cursor, mut removed) = (0, 0u64);
        loop {
            let (next, keys) = self.scan_page(pattern, cursor).await?;
            if !keys.is_empty() {
                let keys = &keys;
                removed += self
                    .run("UNLINK", |mut c| async move {
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

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
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
            .run("GET", |mut c| async move {
                redis::cmd("GET").arg(key).query_async(&mut c).await
            })
            .await?;
        self.inner.counters.record_read(value.is_some());
        Ok(value.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let expiry = self.resolve(ttl)?;
        let cmd = &set_cmd(&self.redis_key(key), &value, expiry);
        self.run("SET", |mut c| async move { cmd.query_async::<()>(&mut c).await })
            .await?;
        self.inner.counters.record_writes(1);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let key = &self.redis_key(key);
        let n: u64 = self
            .run("DEL", |mut c| async move {
                redis::cmd("DEL").arg(key).query_async(&mut c).await
            })
            .await?;
        self.inner.counters.record_removals(n);
        Ok(n > 0)
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        let key = &self.redis_key(key);
        let n: u64 = self
            .run("EXISTS", |mut c| async move {
                redis::cmd("EXISTS").arg(key).query_async(&mut c).await
            })
            .await?;
        Ok(n > 0)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        let key = &self.redis_key(key);
        let pttl: i64 = self
            .run("PTTL", |mut c| async move {
                redis::cmd("PTTL").arg(key).query_async(&mut c).await
            })
            .await?;
        Ok(pttl_to_expiry(pttl))
    }

    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        let key = &self.redis_key(key);
        let (value, pttl): (Option<Vec<u8>>, i64) = self
            .run("GET+PTTL", |mut c| async move {
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
            .run("MGET", |mut c| async move {
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
        let pipe = &pipe;
        self.run("SET pipeline", |mut c| async move {
            pipe.query_async::<()>(&mut c).await
        })
        .await?;
        self.inner.counters.record_writes(entries.len() as u64);
        Ok(())
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        let full = format!("{}{pattern}", self.inner.scan_prefix);
        self.scan_unlink(&full).await
    }

    async fn clear(&self) -> Result<()> {
        let all = format!("{}*", self.inner.scan_prefix);
        self.scan_unlink(&all).await.map(|_| ())
    }

    async fn health(&self) -> Health {
        let start = Instant::now();
        let ping = self
            .run("PING", |mut c| async move {
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
