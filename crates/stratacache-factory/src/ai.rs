//! [`AiResponseCache`]: typed AI responses keyed by (text, operation, options), with the active
//! preset's per-operation TTLs applied on write, and computed once per key fleet-wide on a miss
//! ([`AiResponseCache::get_or_compute`]).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use stratacache_compute::{ComputeCache, Source};
use stratacache_core::{Bytes, Cache, Error, ErrorKind, Result, SharedCache, Ttl};
use stratacache_keys::{AiKeyBuilder, KeyGenObserver, KeyScheme, TextTier, TextTiers};

use crate::config::{AiSettings, HashAlgorithm};

mod counters;

use counters::{Counters, Event};
pub use counters::{OTHER_OPERATIONS, UNLISTED_OPERATIONS};

/// Hits, misses and writes of one AI operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OperationMetrics {
    /// Reads that found a response ([`get`](AiResponseCache::get), and
    /// [`get_or_compute`](AiResponseCache::get_or_compute) answered from the cache).
    pub hits: u64,
    /// Reads that found nothing (a `get_or_compute` that computed, waited for another caller's
    /// computation or failed counts one).
    pub misses: u64,
    /// Responses stored ([`set`](AiResponseCache::set), and responses computed by this caller
    /// of `get_or_compute`).
    pub sets: u64,
    /// `hits / (hits + misses)`, `None` before the first read.
    pub hit_ratio: Option<f64>,
}

/// Per-operation and per-tier counters of an [`AiResponseCache`].
///
/// Operations are reported under their names: each one the settings list (`operation_ttls`), and
/// the first [`UNLISTED_OPERATIONS`] other names used; names beyond those are reported together
/// under [`OTHER_OPERATIONS`]. An operation or tier appears once something was counted for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AiMetrics {
    /// Counters by operation name.
    pub by_operation: BTreeMap<String, OperationMetrics>,
    /// Counters by text tier (`small`, `medium`, `large`, `xlarge`).
    pub by_text_tier: BTreeMap<String, OperationMetrics>,
    /// Keys removed by [`AiResponseCache::invalidate_by_operation`], by operation.
    pub invalidated: BTreeMap<String, u64>,
}

/// A response of [`AiResponseCache::fetch`] and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AiFetched<T> {
    /// The response.
    pub response: T,
    /// Where it came from: the cache, this caller's computation, or another caller's (in this
    /// process, or in another one holding the key's lease).
    pub source: Source,
}

/// A cache of AI responses (the reference system's `AIResponseCache`).
///
/// Keys come from an [`AiKeyBuilder`]: the hashed scheme (`hash_algorithm = "blake3"`, the
/// default; no user text in keys, keyed with the encryption key's derived secret when one is
/// configured) or the reference scheme (`"sha256"`, byte-compatible with the Python system).
/// Responses are stored as JSON with the operation's TTL from
/// [`AiSettings::operation_ttls`] (the cache's default TTL for operations not listed). Texts
/// longer than [`AiSettings::max_text_length`] are rejected with
/// [`ErrorKind::InvalidInput`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> stratacache_core::Result<()> {
/// use serde_json::{json, Map};
/// use stratacache_factory::{AiResponseCache, CacheFactory};
///
/// let built = CacheFactory::for_ai_app(None).await?;
/// let ai = AiResponseCache::from_built(&built)?;
/// let options = Map::new();
/// let ttl = ai.set("A long article ...", "summarize", &options, &json!({"summary": "short"})).await?;
/// assert_eq!(ttl.as_secs(), 1800); // the preset's summarize TTL, applied
/// let hit: Option<serde_json::Value> = ai.get("A long article ...", "summarize", &options).await?;
/// assert_eq!(hit, Some(json!({"summary": "short"})));
/// assert_eq!(ai.invalidate_by_operation("summarize").await?, 1);
/// assert_eq!(ai.metrics().by_operation["summarize"].hits, 1);
/// # Ok(()) }
/// ```
///
/// [`get_or_compute`](Self::get_or_compute) returns the cached response or calls the model once
/// for every caller that asks for the same key at the same time, in this process and (through the
/// key's lease on Redis) in every process of the fleet, and stores the response with the
/// operation's TTL.
pub struct AiResponseCache {
    /// The compute layer (outermost): every read and write goes through it, so that writes
    /// supersede computations in flight.
    cache: SharedCache,
    compute: Arc<ComputeCache<SharedCache>>,
    keys: AiKeyBuilder,
    tiers: TextTiers,
    settings: AiSettings,
    default_ttl: Duration,
    /// Lock-free: counting a read or a write neither locks nor allocates.
    counters: Counters,
}

impl fmt::Debug for AiResponseCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AiResponseCache")
            .field("scheme", &self.keys.scheme())
            .field("settings", &self.settings)
            .field("default_ttl", &self.default_ttl)
            .finish_non_exhaustive()
    }
}

impl AiResponseCache {
    /// An AI cache over `cache` with `settings`; `default_ttl` for operations without their own.
    /// `cache` is wrapped in a [`ComputeCache`] of its own with the default settings, for
    /// [`get_or_compute`](Self::get_or_compute); [`from_built`](Self::from_built) shares the built
    /// cache's instead.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`] for settings the key builder or the tiers refuse.
    pub fn new(cache: SharedCache, settings: &AiSettings, default_ttl: Duration) -> Result<Self> {
        Self::with_keys(
            Arc::new(ComputeCache::new(cache)),
            settings,
            default_ttl,
            None,
            None,
        )
    }

    /// The AI cache of a built cache: its stack, AI settings and default TTL; key generation
    /// timed by its monitor; hashed keys keyed with a secret derived from its encryption key;
    /// its compute layer ([`BuiltCache::compute`](crate::BuiltCache::compute)), whose settings
    /// and counters it shares.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`] when `enable_ai_cache` is off for this configuration, or as
    /// [`new`](Self::new).
    pub fn from_built(built: &crate::BuiltCache) -> Result<Self> {
        let config = &built.config;
        if !config.enable_ai_cache {
            return Err(Error::configuration(format!(
                "enable_ai_cache is off for preset {}: set ENABLE_AI_CACHE=true or use an ai-* preset",
                config.preset
            )));
        }
        #[cfg(feature = "crypto")]
        let secret = config.key_ring()?.map(|ring| *ring.ai_key_secret());
        #[cfg(not(feature = "crypto"))]
        let secret = None;
        let observer = built.monitor.clone().map(|m| m as Arc<dyn KeyGenObserver>);
        Self::with_keys(
            Arc::clone(&built.compute),
            &config.ai,
            config.default_ttl,
            secret,
            observer,
        )
    }

    fn with_keys(
        compute: Arc<ComputeCache<SharedCache>>,
        settings: &AiSettings,
        default_ttl: Duration,
        secret: Option<[u8; 32]>,
        observer: Option<Arc<dyn KeyGenObserver>>,
    ) -> Result<Self> {
        let scheme = match settings.hash_algorithm {
            HashAlgorithm::Blake3 => KeyScheme::Hashed,
            HashAlgorithm::Sha256 => KeyScheme::Reference,
        };
        let mut keys = AiKeyBuilder::new()
            .with_scheme(scheme)
            .with_text_hash_threshold(settings.text_hash_threshold)?
            .with_max_text_length(Some(settings.max_text_length));
        if let Some(secret) = secret {
            keys = keys.with_secret(secret);
        }
        if let Some(observer) = observer {
            keys = keys.with_observer(observer);
        }
        let t = settings.text_size_tiers;
        let tiers = TextTiers::new(t.small, t.medium, t.large)?;
        Ok(Self {
            cache: compute.clone(),
            compute,
            keys,
            tiers,
            settings: settings.clone(),
            default_ttl,
            counters: Counters::new(settings.operation_ttls.keys().map(String::as_str)),
        })
    }

    /// The key of the response to `operation` on `text` with `options`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for an invalid operation name or a text over the maximum
    /// length.
    pub fn key(&self, text: &str, operation: &str, options: &Map<String, Value>) -> Result<String> {
        Ok(self.keys.key(text, operation, options)?)
    }

    /// The TTL applied to responses of `operation`.
    pub fn ttl_for(&self, operation: &str) -> Duration {
        self.settings
            .operation_ttls
            .get(operation)
            .copied()
            .unwrap_or(self.default_ttl)
    }

    /// The size tier of `text`.
    pub fn tier_of(&self, text: &str) -> TextTier {
        self.tiers.tier_of(text)
    }

    /// The settings in use.
    pub fn settings(&self) -> &AiSettings {
        &self.settings
    }

    /// The cached response, if any.
    ///
    /// # Errors
    ///
    /// As [`key`](Self::key); the cache's errors; [`ErrorKind::Serialization`] when the stored
    /// value is not a `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        text: &str,
        operation: &str,
        options: &Map<String, Value>,
    ) -> Result<Option<T>> {
        let key = self.key(text, operation, options)?;
        let found = self.cache.get(&key).await?;
        self.count(
            operation,
            text,
            if found.is_some() { Event::Hit } else { Event::Miss },
        );
        found.map(|bytes| decode(operation, &bytes)).transpose()
    }

    /// Stores `response` with the operation's TTL, and returns that TTL.
    ///
    /// # Errors
    ///
    /// As [`key`](Self::key); the cache's errors; [`ErrorKind::Serialization`] when `response`
    /// does not serialize.
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        text: &str,
        operation: &str,
        options: &Map<String, Value>,
        response: &T,
    ) -> Result<Duration> {
        let key = self.key(text, operation, options)?;
        let bytes = encode(operation, response)?;
        let ttl = self.ttl_for(operation);
        self.cache.set(&key, Bytes::from(bytes), Ttl::After(ttl)).await?;
        self.count(operation, text, Event::Set);
        Ok(ttl)
    }

    /// The cached response to `operation` on `text` with `options`, or the one `compute`
    /// returns (the model call), stored as JSON with the operation's TTL
    /// ([`ttl_for`](Self::ttl_for), shortened by the configured `ttl_jitter`). Of the callers
    /// asking for the same key at the same time, one computes and the others wait for its
    /// response: in this process, and across processes sharing a Redis, through the key's lease
    /// (`compute.distributed`). A failed computation is returned to every caller that waited for
    /// it and is not cached.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> stratacache_core::Result<()> {
    /// use serde_json::{json, Map, Value};
    /// use stratacache_factory::{AiResponseCache, CacheFactory};
    ///
    /// let built = CacheFactory::for_ai_app(None).await?;
    /// let ai = AiResponseCache::from_built(&built)?;
    /// let options = Map::new();
    /// let summary: Value = ai
    ///     .get_or_compute("A long article ...", "summarize", &options, || async {
    ///         // The model call: made once per key, however many callers ask at the same time.
    ///         Ok(json!({"summary": "short"}))
    ///     })
    ///     .await?;
    /// assert_eq!(summary, json!({"summary": "short"}));
    /// let key = ai.key("A long article ...", "summarize", &options)?;
    /// let ttl = stratacache_core::Cache::ttl(built.cache.as_ref(), &key).await?;
    /// let secs = ttl.and_then(|e| e.duration()).map(|d| d.as_secs());
    /// assert!(matches!(secs, Some(1790..=1800)), "{ttl:?}"); // summarize's TTL
    /// assert_eq!(built.compute_stats().computations, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`key`](Self::key) (before anything is computed); the computation's error (this
    /// caller's or the one it waited for); [`ErrorKind::Serialization`] when the response does
    /// not serialize to JSON that reads back as a `T`, or the cached one is not a `T`; a
    /// [`ErrorKind::Timeout`] after `max_wait` under `on_wait_timeout: fail`.
    pub async fn get_or_compute<T, F, Fut>(
        &self,
        text: &str,
        operation: &str,
        options: &Map<String, Value>,
        compute: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        Ok(self.fetch(text, operation, options, compute).await?.response)
    }

    /// [`get_or_compute`](Self::get_or_compute), telling where the response came from.
    ///
    /// # Errors
    ///
    /// As [`get_or_compute`](Self::get_or_compute).
    pub async fn fetch<T, F, Fut>(
        &self,
        text: &str,
        operation: &str,
        options: &Map<String, Value>,
        compute: F,
    ) -> Result<AiFetched<T>>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        let key = self.key(text, operation, options)?;
        let ttl = Ttl::After(self.ttl_for(operation));
        let mut computed = None;
        let fetched = self
            .compute
            .fetch(&key, ttl, || async {
                let response = compute().await?;
                let bytes = encode(operation, &response)?;
                // What is stored must read back as a `T`: checked before it is stored.
                computed = Some(decode::<T>(operation, &bytes)?);
                Ok(Bytes::from(bytes))
            })
            .await;
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(e) => {
                self.count(operation, text, Event::Miss);
                return Err(e);
            }
        };
        match fetched.source {
            Source::Computed => {
                self.count(operation, text, Event::Miss);
                self.count(operation, text, Event::Set);
            }
            Source::Shared => self.count(operation, text, Event::Miss),
            // The cache, and whatever other sources the compute layer may name (a stale value
            // served, say): a response was found.
            _ => self.count(operation, text, Event::Hit),
        }
        let response = match computed {
            Some(response) => response,
            None => decode(operation, &fetched.value)?,
        };
        Ok(AiFetched {
            response,
            source: fetched.source,
        })
    }

    /// Removes every cached response of `operation` and returns how many were removed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for an invalid operation name; the cache's errors.
    pub async fn invalidate_by_operation(&self, operation: &str) -> Result<u64> {
        let pattern = self.keys.operation_pattern(operation)?;
        let removed = self.cache.invalidate_pattern(&pattern).await?;
        self.counters.count_invalidation(operation, removed);
        Ok(removed)
    }

    /// Removes every cached AI response and returns how many were removed.
    ///
    /// # Errors
    ///
    /// The cache's errors.
    pub async fn invalidate_all(&self) -> Result<u64> {
        self.cache.invalidate_pattern(self.keys.pattern_all()).await
    }

    /// The counters by operation and by text tier (see [`AiMetrics`] for which names appear).
    ///
    /// Each figure is read atomically on its own, so a snapshot taken while other tasks count may
    /// combine figures from slightly different moments.
    pub fn metrics(&self) -> AiMetrics {
        self.counters.snapshot()
    }

    fn count(&self, operation: &str, text: &str, event: Event) {
        self.counters.count(operation, self.tiers.tier_of(text), event);
    }
}

/// A response as stored: JSON.
fn encode<T: Serialize + ?Sized>(operation: &str, response: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(response)
        .map_err(|e| Error::new(ErrorKind::Serialization, format!("{operation} response: {e}")))
}

/// A stored response.
fn decode<T: DeserializeOwned>(operation: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorKind::Serialization,
            format!("cached {operation} response: {e}"),
        )
    })
}
