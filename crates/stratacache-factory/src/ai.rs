//! [`AiResponseCache`]: typed AI responses keyed by (text, operation, options), with the active
//! preset's per-operation TTLs applied on write.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use stratacache_core::{Bytes, Cache, Error, ErrorKind, Result, SharedCache, Ttl};
use stratacache_keys::{AiKeyBuilder, KeyGenObserver, KeyScheme, TextTier, TextTiers};

use crate::config::{AiSettings, HashAlgorithm};

mod counters;

use counters::{Counters, Event};
pub use counters::{OTHER_OPERATIONS, UNLISTED_OPERATIONS};

/// Hits, misses and writes of one AI operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OperationMetrics {
    /// Reads that found a response.
    pub hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// Responses stored.
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
pub struct AiResponseCache {
    cache: SharedCache,
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
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`] for settings the key builder or the tiers refuse.
    pub fn new(cache: SharedCache, settings: &AiSettings, default_ttl: Duration) -> Result<Self> {
        Self::with_keys(cache, settings, default_ttl, None, None)
    }

    /// The AI cache of a built cache: its stack, AI settings and default TTL; key generation
    /// timed by its monitor; hashed keys keyed with a secret derived from its encryption key.
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
            Arc::clone(&built.cache),
            &config.ai,
            config.default_ttl,
            secret,
            observer,
        )
    }

    fn with_keys(
        cache: SharedCache,
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
            cache,
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
        found
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    Error::new(
                        ErrorKind::Serialization,
                        format!("cached {operation} response: {e}"),
                    )
                })
            })
            .transpose()
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
        let bytes = serde_json::to_vec(response)
            .map_err(|e| Error::new(ErrorKind::Serialization, format!("{operation} response: {e}")))?;
        let ttl = self.ttl_for(operation);
        self.cache.set(&key, Bytes::from(bytes), Ttl::After(ttl)).await?;
        self.count(operation, text, Event::Set);
        Ok(ttl)
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
