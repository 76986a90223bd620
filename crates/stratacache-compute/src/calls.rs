//! The calls of a [`ComputeCache`]: [`get_or_compute`](ComputeCache::get_or_compute) and its
//! typed and background variants, under the cache's freshness policy or one of the call's
//! ([`ComputeCache::with_freshness`]).

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use stratacache_core::{Bytes, Cache, Codec, Json, Result, Ttl};

use crate::cache::ComputeCache;
use crate::freshness::{Found, Freshness};
use crate::refresh::{Refresh, spawn_refresh};
use crate::stats::{Fetched, Source};

/// A [`ComputeCache`] under a freshness policy of its own, for the calls made through it
/// ([`ComputeCache::with_freshness`]). Everything else (flights, leases, counters) is the
/// cache's.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> stratacache_core::Result<()> {
/// use std::time::Duration;
/// use stratacache_compute::{ComputeCache, Freshness};
/// use stratacache_core::{Bytes, Ttl};
/// use stratacache_memory::MemoryCache;
///
/// let cache = ComputeCache::new(MemoryCache::builder().build()?);
/// let forecast = Freshness { stale_if_error: Duration::from_secs(3600), ..Freshness::default() };
/// let value = cache
///     .with_freshness(forecast)
///     .get_or_compute("forecast:paris", Ttl::secs(300), || async { Ok(Bytes::from_static(b"sunny")) })
///     .await?;
/// assert_eq!(value, "sunny");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct WithFreshness<'a, C> {
    cache: &'a ComputeCache<C>,
    policy: Freshness,
}

impl<C: Cache + 'static> ComputeCache<C> {
    /// The calls of this cache under `policy` instead of
    /// [`ComputeConfig::freshness`](crate::ComputeConfig::freshness). An invalid policy fails
    /// each call with [`ErrorKind::InvalidInput`](stratacache_core::ErrorKind::InvalidInput).
    pub fn with_freshness(&self, policy: Freshness) -> WithFreshness<'_, C> {
        WithFreshness { cache: self, policy }
    }

    fn configured(&self) -> WithFreshness<'_, C> {
        self.with_freshness(self.config().freshness)
    }

    /// The cached value of `key`, or the value `compute` returns, stored for `ttl` (shortened by
    /// the configured jitter), under the configured [`Freshness`]. See [`ComputeCache`] for what
    /// concurrent callers do.
    ///
    /// # Errors
    ///
    /// The error of the computation (this caller's, or the one it waited for): the same kind
    /// and message for every caller, with the computation's error as its
    /// [`source`](std::error::Error::source); [`ErrorKind::Timeout`](stratacache_core::ErrorKind::Timeout)
    /// when it waited `max_wait` under [`WaitPolicy::Fail`](crate::WaitPolicy::Fail);
    /// [`ErrorKind::InvalidInput`](stratacache_core::ErrorKind::InvalidInput) for an invalid
    /// TTL (before anything is computed). Under stale-if-error, a value past its TTL within the
    /// window is returned instead of the error.
    pub async fn get_or_compute<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<Bytes>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        self.configured().get_or_compute(key, ttl, compute).await
    }

    /// [`get_or_compute`](Self::get_or_compute), telling where the value came from.
    ///
    /// # Errors
    ///
    /// As [`get_or_compute`](Self::get_or_compute).
    pub async fn fetch<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<Fetched>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        self.configured().fetch(key, ttl, compute).await
    }

    /// [`fetch`](Self::fetch), with refreshes in the background: a value due for an early
    /// refresh (XFetch) or within its stale-while-revalidate window is returned at once, and
    /// the refresh runs in a task of its own (`tokio::spawn`: one per key in the process, one
    /// in the fleet through the lease). A miss computes as [`fetch`](Self::fetch) does. The
    /// computation must therefore own what it uses (`'static`).
    ///
    /// # Errors
    ///
    /// As [`get_or_compute`](Self::get_or_compute); a background refresh's error is counted
    /// ([`ComputeStats::refresh_errors`](crate::ComputeStats::refresh_errors)) and logged.
    pub async fn get_or_revalidate<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<Fetched>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Bytes>> + Send + 'static,
    {
        self.configured().get_or_revalidate(key, ttl, compute).await
    }

    /// [`get_or_compute`](Self::get_or_compute) of a typed value, encoded with codec `K`.
    ///
    /// # Errors
    ///
    /// As [`get_or_compute`](Self::get_or_compute), and
    /// [`ErrorKind::Serialization`](stratacache_core::ErrorKind::Serialization) when the value
    /// cannot be encoded or the cached bytes do not decode.
    pub async fn get_or_compute_as<K, T, F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        K: Codec,
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        self.configured()
            .get_or_compute_as::<K, T, F, Fut>(key, ttl, compute)
            .await
    }

    /// [`get_or_compute_as`](Self::get_or_compute_as) with JSON.
    ///
    /// # Errors
    ///
    /// As [`get_or_compute_as`](Self::get_or_compute_as).
    pub async fn get_or_compute_json<T, F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        self.get_or_compute_as::<Json, T, F, Fut>(key, ttl, compute).await
    }

    /// [`get_or_compute_as`](Self::get_or_compute_as) with postcard (compact binary).
    ///
    /// # Errors
    ///
    /// As [`get_or_compute_as`](Self::get_or_compute_as).
    #[cfg(feature = "postcard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postcard")))]
    pub async fn get_or_compute_postcard<T, F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        self.get_or_compute_as::<stratacache_core::Postcard, T, F, Fut>(key, ttl, compute)
            .await
    }
}

impl<C: Cache + 'static> WithFreshness<'_, C> {
    /// The policy of these calls.
    pub fn policy(&self) -> &Freshness {
        &self.policy
    }

    /// [`ComputeCache::get_or_compute`] under this policy.
    ///
    /// # Errors
    ///
    /// As [`ComputeCache::get_or_compute`].
    pub async fn get_or_compute<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<Bytes>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        Ok(self.fetch(key, ttl, compute).await?.value)
    }

    /// [`ComputeCache::fetch`] under this policy.
    ///
    /// # Errors
    ///
    /// As [`ComputeCache::get_or_compute`].
    pub async fn fetch<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<Fetched>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        self.cache.shared.fetch(key, ttl, &self.policy, compute).await
    }

    /// [`ComputeCache::get_or_revalidate`] under this policy.
    ///
    /// # Errors
    ///
    /// As [`ComputeCache::get_or_revalidate`].
    pub async fn get_or_revalidate<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<Fetched>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Bytes>> + Send + 'static,
    {
        let shared = &self.cache.shared;
        crate::cache::check(ttl, &self.policy)?;
        let generation = shared.generations.of(key);
        let (current, seen, kind) = match shared.look(key, &self.policy).await {
            Found::Due(value, seen) => (value, seen, Refresh::Early),
            Found::Revalidate(value, seen) => (value, seen, Refresh::Stale),
            // Nothing to refresh in the background: answered from this read.
            found => {
                return shared
                    .act(key, ttl, &self.policy, compute, found, generation)
                    .await;
            }
        };
        if !shared.flights.contains(key) {
            spawn_refresh(shared, key, ttl, self.policy, seen, compute, kind);
        }
        Ok(shared.keep(current, kind))
    }

    /// [`ComputeCache::get_or_compute_as`] under this policy.
    ///
    /// # Errors
    ///
    /// As [`ComputeCache::get_or_compute_as`].
    pub async fn get_or_compute_as<K, T, F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        K: Codec,
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        let mut computed = None;
        let fetched = self
            .fetch(key, ttl, || async {
                let value = compute().await?;
                let bytes = K::encode(&value)?;
                // What is stored must read back (JSON has no NaN, say): checked before it is
                // stored, and every caller gets the value as read back.
                computed = Some(K::decode::<T>(&bytes)?);
                Ok(Bytes::from(bytes))
            })
            .await?;
        match (computed, fetched.source) {
            (Some(value), Source::Computed) => Ok(value),
            _ => K::decode(&fetched.value),
        }
    }

    /// [`ComputeCache::get_or_compute_json`] under this policy.
    ///
    /// # Errors
    ///
    /// As [`ComputeCache::get_or_compute_as`].
    pub async fn get_or_compute_json<T, F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        self.get_or_compute_as::<Json, T, F, Fut>(key, ttl, compute).await
    }
}
