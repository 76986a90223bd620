//! Named caches shared by an application, and their shutdown.
//!
//! A [`CacheRegistry`] holds the application's caches by name, so that every component uses the
//! same instance (the same connections, the same counters) instead of building its own; it is
//! built once at start-up and shared (`Arc<CacheRegistry>`, or a `static`).
//!
//! - [`register`](CacheRegistry::register) / [`register_with_closer`](CacheRegistry::register_with_closer)
//!   add a cache built elsewhere; a [`Closer`] is its asynchronous shutdown hook (for Redis,
//!   [`Closer::redis`] closes the connection pool);
//! - [`get_or_try_init`](CacheRegistry::get_or_try_init) builds a cache on first use, once, even
//!   when many tasks ask at the same moment;
//! - [`shutdown`](CacheRegistry::shutdown) runs every closer, each bounded by a timeout, empties
//!   the registry and returns a [`ShutdownReport`] with the reference's
//!   `cleanup_cache_registry()` fields.
//!
//! ```
//! use std::sync::Arc;
//!
//! use stratacache_core::SharedCache;
//! use stratacache_factory::registry::{CacheRegistry, Closer};
//! use stratacache_memory::MemoryCache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> stratacache_core::Result<()> {
//! let registry = CacheRegistry::default();
//! let sessions = registry
//!     .get_or_try_init("sessions", || async {
//!         Ok(Arc::new(MemoryCache::new(10_000)?) as SharedCache)
//!     })
//!     .await?;
//! let again = registry.get("sessions").expect("registered");
//! assert!(Arc::ptr_eq(&sessions, &again));
//! registry.register_with_closer(
//!     "pages",
//!     Arc::new(MemoryCache::new(100)?),
//!     Closer::new(|| async { Ok(()) }),
//! );
//!
//! let report = registry.shutdown().await;
//! assert_eq!((report.total_entries, report.disconnected_caches), (2, 1));
//! assert!(registry.is_empty());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache_core::{Result, SharedCache};

/// How long [`CacheRegistry::shutdown`] gives each closer by default.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The future a [`Closer`] returns.
pub type CloseFuture = Pin<Box<dyn Future<Output = Result<()>> + Send + 'static>>;

/// An asynchronous shutdown hook of a registered cache: closes its connections, flushes what
/// must be flushed. It runs once, at [`CacheRegistry::shutdown`] (or when the caller runs the
/// closer of an entry it [removed](CacheRegistry::remove)).
///
/// A closer may capture what it needs (a `RedisCache` clone, even the [`SharedCache`] itself): it
/// is dropped once it has run, before [`ShutdownReport::active_caches`] is counted. Only a closer
/// that stores the cache somewhere else makes it count as active.
pub struct Closer(Box<dyn FnOnce() -> CloseFuture + Send + 'static>);

impl Closer {
    /// A closer running `close`.
    pub fn new<F, Fut>(close: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        Self(Box::new(move || Box::pin(close()) as CloseFuture))
    }

    /// A closer that calls [`RedisCache::close`](stratacache_redis::RedisCache::close): the pool
    /// is closed and every connection of the cache dropped; afterwards every clone fails fast.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(cache: stratacache_redis::RedisCache) -> Self {
        Self::new(move || async move {
            cache.close();
            Ok(())
        })
    }

    /// Runs the hook (without a timeout: [`CacheRegistry::shutdown`] adds one).
    ///
    /// # Errors
    ///
    /// Whatever the hook returns.
    pub async fn close(self) -> Result<()> {
        (self.0)().await
    }
}

impl fmt::Debug for Closer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closer(..)")
    }
}

/// A cache and its shutdown hook, as [`CacheRegistry::remove`] and
/// [`CacheRegistry::register`] hand them back. Dropping it does not run the closer.
#[non_exhaustive]
pub struct RegisteredCache {
    /// The cache.
    pub cache: SharedCache,
    /// Its shutdown hook, if it was registered with one.
    pub closer: Option<Closer>,
}

impl fmt::Debug for RegisteredCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredCache")
            .field("closer", &self.closer)
            .finish_non_exhaustive()
    }
}

/// What [`CacheRegistry::shutdown`] did, with the reference's `cleanup_cache_registry()` fields.
///
/// `active_caches + dead_references == total_entries`; `disconnected_caches + errors.len()` is the
/// number of entries that had a closer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownReport {
    /// The entries the registry held when the shutdown started.
    pub total_entries: usize,
    /// Entries whose cache was still used outside the registry once the closers had run (more
    /// than one strong reference): something still holds it, closed or not.
    pub active_caches: usize,
    /// Entries that only the registry still referenced: dropping them freed the cache.
    pub dead_references: usize,
    /// Closers that completed successfully within the timeout.
    pub disconnected_caches: usize,
    /// `"<name>: <message>"` for each closer that failed, panicked or timed out, by name.
    pub errors: Vec<String>,
}

/// One entry: the cache and its closer.
struct Entry {
    cache: SharedCache,
    closer: Option<Closer>,
}

/// Named caches shared by an application, each built once; see the [module documentation](self).
///
/// All methods take `&self`; share it with an `Arc`. The registry can be used again after
/// [`shutdown`](Self::shutdown).
pub struct CacheRegistry {
    entries: Mutex<BTreeMap<String, Entry>>,
    /// One lock per name being (or once) built by `get_or_try_init`: builders of the same name
    /// run one at a time. Never removed (one small lock per name ever built).
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    close_timeout: Duration,
}

impl Default for CacheRegistry {
    fn default() -> Self {
        Self::with_close_timeout(DEFAULT_CLOSE_TIMEOUT)
    }
}

impl fmt::Debug for CacheRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheRegistry")
            .field("names", &self.names())
            .field("close_timeout", &self.close_timeout)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent whatever panicked while holding the lock (single inserts/removes).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CacheRegistry {
    /// An empty registry whose [`shutdown`](Self::shutdown) gives each closer `close_timeout`.
    pub fn with_close_timeout(close_timeout: Duration) -> Self {
        Self {
            entries: Mutex::new(BTreeMap::new()),
            building: Mutex::new(HashMap::new()),
            close_timeout,
        }
    }

    /// How long [`shutdown`](Self::shutdown) gives each closer.
    pub fn close_timeout(&self) -> Duration {
        self.close_timeout
    }

    /// Registers `cache` under `name`, without a shutdown hook. An entry already registered under
    /// that name is replaced and returned (its closer is not run).
    pub fn register(&self, name: impl Into<String>, cache: SharedCache) -> Option<RegisteredCache> {
        self.insert(name.into(), cache, None)
    }

    /// Registers `cache` under `name` with `closer`, run at [`shutdown`](Self::shutdown). An entry
    /// already registered under that name is replaced and returned (its closer is not run).
    pub fn register_with_closer(
        &self,
        name: impl Into<String>,
        cache: SharedCache,
        closer: Closer,
    ) -> Option<RegisteredCache> {
        self.insert(name.into(), cache, Some(closer))
    }

    fn insert(&self, name: String, cache: SharedCache, closer: Option<Closer>) -> Option<RegisteredCache> {
        lock(&self.entries)
            .insert(name, Entry { cache, closer })
            .map(|old| RegisteredCache {
                cache: old.cache,
                closer: old.closer,
            })
    }

    /// The cache registered under `name`.
    pub fn get(&self, name: &str) -> Option<SharedCache> {
        lock(&self.entries).get(name).map(|e| Arc::clone(&e.cache))
    }

    /// The cache registered under `name`, built by `build` and registered if there is none.
    ///
    /// Builds at most once: while one task builds, the others asking for the same name wait for
    /// it and get its cache. A failed build is not remembered: its error goes to the task that ran
    /// it, and the next waiting (or later) task runs its own builder. Builds of different names
    /// do not wait for each other. If the building task is cancelled, the next one builds. If the
    /// name is [registered](Self::register) by hand while the builder runs, that cache is returned
    /// and the one just built is dropped (its closer, if any, is run first).
    ///
    /// # Errors
    ///
    /// The builder's error.
    pub async fn get_or_try_init<F, Fut>(&self, name: &str, build: F) -> Result<SharedCache>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SharedCache>>,
    {
        self.get_or_try_init_inner(name, || async { Ok((build().await?, None)) })
            .await
    }

    /// As [`get_or_try_init`](Self::get_or_try_init), for a builder that also returns the
    /// cache's [`Closer`] (run at [`shutdown`](Self::shutdown)).
    ///
    /// # Errors
    ///
    /// The builder's error.
    pub async fn get_or_try_init_with_closer<F, Fut>(&self, name: &str, build: F) -> Result<SharedCache>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(SharedCache, Closer)>>,
    {
        self.get_or_try_init_inner(name, || async {
            let (cache, closer) = build().await?;
            Ok((cache, Some(closer)))
        })
        .await
    }

    async fn get_or_try_init_inner<F, Fut>(&self, name: &str, build: F) -> Result<SharedCache>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(SharedCache, Option<Closer>)>>,
    {
        if let Some(cache) = self.get(name) {
            return Ok(cache);
        }
        let gate = Arc::clone(lock(&self.building).entry(name.to_owned()).or_default());
        let _building = gate.lock().await;
        // Built by the task we waited for?
        if let Some(cache) = self.get(name) {
            return Ok(cache);
        }
        let (cache, closer) = build().await?;
        let registered_meanwhile = {
            let mut entries = lock(&self.entries);
            match entries.get(name) {
                Some(existing) => Some((Arc::clone(&existing.cache), closer)),
                None => {
                    let entry = Entry {
                        cache: Arc::clone(&cache),
                        closer,
                    };
                    entries.insert(name.to_owned(), entry);
                    None
                }
            }
        };
        // Registered by hand while we built: that one wins, and ours (never shared) is closed.
        if let Some((existing, closer)) = registered_meanwhile {
            if let Some(closer) = closer
                && let Err(e) = closer.close().await
            {
                tracing::warn!(name, error = %e, "closing a cache built for a name registered meanwhile");
            }
            return Ok(existing);
        }
        Ok(cache)
    }

    /// The registered names, in order.
    pub fn names(&self) -> Vec<String> {
        lock(&self.entries).keys().cloned().collect()
    }

    /// How many caches are registered.
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Whether no cache is registered.
    pub fn is_empty(&self) -> bool {
        lock(&self.entries).is_empty()
    }

    /// Removes the entry `name` and hands it back, closer included: the registry does not run it
    /// (call [`Closer::close`] if the cache should be shut down).
    pub fn remove(&self, name: &str) -> Option<RegisteredCache> {
        lock(&self.entries).remove(name).map(|e| RegisteredCache {
            cache: e.cache,
            closer: e.closer,
        })
    }

    /// Empties the registry and runs every closer, all at the same time, each bounded by
    /// [`close_timeout`](Self::close_timeout) (a closer still running then is dropped and
    /// reported as timed out; a panicking closer is reported too). Then the registry's references
    /// are dropped and the [`ShutdownReport`] counts what happened.
    ///
    /// After it the registry is empty (a second shutdown reports zeros) and can be used again.
    /// Needs a Tokio runtime (the closers run as tasks); if the returned future is dropped before
    /// it finishes, the entries are gone and the closers still running are aborted.
    pub async fn shutdown(&self) -> ShutdownReport {
        let entries = std::mem::take(&mut *lock(&self.entries));
        let mut report = ShutdownReport {
            total_entries: entries.len(),
            ..ShutdownReport::default()
        };
        let timeout = self.close_timeout;
        let mut closing = tokio::task::JoinSet::new();
        let mut closing_names = HashMap::new();
        let mut caches = Vec::with_capacity(entries.len());
        for (name, entry) in entries {
            if let Some(closer) = entry.closer {
                let task = closing.spawn(tokio::time::timeout(timeout, closer.close()));
                closing_names.insert(task.id(), name.clone());
            }
            caches.push((name, entry.cache));
        }
        while let Some(joined) = closing.join_next_with_id().await {
            let id = match &joined {
                Ok((id, _)) => *id,
                Err(e) => e.id(),
            };
            let name = closing_names.remove(&id).unwrap_or_default();
            match joined {
                Ok((_, Ok(Ok(())))) => report.disconnected_caches += 1,
                Ok((_, Ok(Err(e)))) => report.errors.push(format!("{name}: {e}")),
                Ok((_, Err(_))) => report
                    .errors
                    .push(format!("{name}: the closer did not finish within {timeout:?}")),
                Err(e) if e.is_panic() => report.errors.push(format!("{name}: the closer panicked")),
                Err(e) => report.errors.push(format!("{name}: the closer did not run: {e}")),
            }
        }
        for (name, cache) in caches {
            if Arc::strong_count(&cache) > 1 {
                report.active_caches += 1;
            } else {
                report.dead_references += 1;
            }
            tracing::debug!(name, "cache removed from the registry");
        }
        report.errors.sort();
        report
    }
}
