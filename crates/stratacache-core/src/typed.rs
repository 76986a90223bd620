//! Typed access on top of the byte-level [`Cache`]: serde values through a [`Codec`].

use std::fmt;
use std::marker::PhantomData;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Cache, Error, Result, Ttl};

/// Turns serde values into bytes and back.
pub trait Codec: Send + Sync + 'static {
    /// A short name used in error messages (`"json"`, `"postcard"`).
    const NAME: &'static str;

    /// Encodes `value`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`](crate::ErrorKind::Serialization) when the value cannot be encoded.
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>>;

    /// Decodes a value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`](crate::ErrorKind::Serialization) when the bytes are not a
    /// valid encoding of `T`.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T>;
}

/// JSON (`serde_json`): readable, self-describing, interoperable with other languages.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Codec for Json {
    const NAME: &'static str = "json";

    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(value)
            .map_err(|e| Error::serialization(format!("cannot encode value as JSON: {e}")).with_source(e))
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::serialization(format!("cannot decode JSON value: {e}")).with_source(e))
    }
}

/// [postcard](https://docs.rs/postcard): a compact binary format with a stable wire format since
/// 1.0. Not self-describing: decoding with another type than the one encoded is an error or garbage,
/// so version your keys when the type changes.
#[cfg(feature = "postcard")]
#[cfg_attr(docsrs, doc(cfg(feature = "postcard")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

#[cfg(feature = "postcard")]
impl Codec for Postcard {
    const NAME: &'static str = "postcard";

    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
        postcard::to_stdvec(value)
            .map_err(|e| Error::serialization(format!("cannot encode value as postcard: {e}")).with_source(e))
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
        postcard::from_bytes(bytes)
            .map_err(|e| Error::serialization(format!("cannot decode postcard value: {e}")).with_source(e))
    }
}

fn decode_for<K: Codec, T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    K::decode(bytes).map_err(|e| {
        Error::serialization(format!(
            "value of key {key:?} is not a valid {} encoding: {}",
            K::NAME,
            e.message()
        ))
        .with_source(e)
    })
}

/// Typed reads and writes on any [`Cache`], with the codec chosen per call.
///
/// ```
/// # use stratacache_core::{Cache, TypedCacheExt, Json, Ttl, Result};
/// # async fn demo(cache: &dyn Cache) -> Result<()> {
/// cache.set_json("answer", &42u32, Ttl::Default).await?;
/// let v: Option<u32> = cache.get_json("answer").await?;
/// assert_eq!(v, Some(42));
/// let same: Option<u32> = cache.get_as::<Json, u32>("answer").await?;
/// # Ok(()) }
/// ```
#[async_trait]
pub trait TypedCacheExt: Cache {
    /// Reads and decodes a value with codec `K`.
    ///
    /// # Errors
    ///
    /// Backend errors; [`ErrorKind::Serialization`](crate::ErrorKind::Serialization) when the
    /// stored bytes do not decode as `T` (the message names the key).
    async fn get_as<K: Codec, T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key).await? {
            Some(bytes) => decode_for::<K, T>(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Encodes `value` with codec `K` and writes it.
    ///
    /// # Errors
    ///
    /// Encoding errors and the errors of [`Cache::set`].
    async fn set_as<K: Codec, T: Serialize + Sync + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Ttl,
    ) -> Result<()> {
        let bytes = K::encode(value)?;
        self.set(key, Bytes::from(bytes), ttl).await
    }

    /// [`get_as`](Self::get_as) with [`Json`].
    ///
    /// # Errors
    ///
    /// As [`get_as`](Self::get_as).
    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get_as::<Json, T>(key).await
    }

    /// [`set_as`](Self::set_as) with [`Json`].
    ///
    /// # Errors
    ///
    /// As [`set_as`](Self::set_as).
    async fn set_json<T: Serialize + Sync + ?Sized>(&self, key: &str, value: &T, ttl: Ttl) -> Result<()> {
        self.set_as::<Json, T>(key, value, ttl).await
    }

    /// [`get_as`](Self::get_as) with [`Postcard`].
    ///
    /// # Errors
    ///
    /// As [`get_as`](Self::get_as).
    #[cfg(feature = "postcard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postcard")))]
    async fn get_postcard<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get_as::<Postcard, T>(key).await
    }

    /// [`set_as`](Self::set_as) with [`Postcard`].
    ///
    /// # Errors
    ///
    /// As [`set_as`](Self::set_as).
    #[cfg(feature = "postcard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postcard")))]
    async fn set_postcard<T: Serialize + Sync + ?Sized>(&self, key: &str, value: &T, ttl: Ttl) -> Result<()> {
        self.set_as::<Postcard, T>(key, value, ttl).await
    }
}

impl<C: Cache + ?Sized> TypedCacheExt for C {}

/// A view of a cache that holds values of one type `T`, encoded with codec `K`.
///
/// ```
/// # use stratacache_core::{SharedCache, Typed, Json, Ttl, Result};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Serialize, Deserialize, PartialEq, Debug)]
/// struct User { name: String }
///
/// # async fn demo(cache: SharedCache) -> Result<()> {
/// let users: Typed<SharedCache, User, Json> = Typed::new(cache);
/// users.set("user:1", &User { name: "ada".into() }, Ttl::Default).await?;
/// assert_eq!(users.get("user:1").await?.unwrap().name, "ada");
/// # Ok(()) }
/// ```
pub struct Typed<C, T, K = Json> {
    cache: C,
    _marker: PhantomData<fn() -> (T, K)>,
}

impl<C: Cache, T: Serialize + DeserializeOwned + Sync, K: Codec> Typed<C, T, K> {
    /// Wraps `cache`.
    pub const fn new(cache: C) -> Self {
        Self {
            cache,
            _marker: PhantomData,
        }
    }

    /// The underlying byte cache.
    pub fn inner(&self) -> &C {
        &self.cache
    }

    /// Reads and decodes a value.
    ///
    /// # Errors
    ///
    /// As [`TypedCacheExt::get_as`].
    pub async fn get(&self, key: &str) -> Result<Option<T>> {
        self.cache.get_as::<K, T>(key).await
    }

    /// Encodes and writes a value.
    ///
    /// # Errors
    ///
    /// As [`TypedCacheExt::set_as`].
    pub async fn set(&self, key: &str, value: &T, ttl: Ttl) -> Result<()> {
        self.cache.set_as::<K, T>(key, value, ttl).await
    }

    /// Reads a value, or computes, stores and returns it on a miss.
    ///
    /// # Errors
    ///
    /// Cache errors and the errors returned by `compute`.
    pub async fn get_or_insert_with<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        if let Some(v) = self.get(key).await? {
            return Ok(v);
        }
        let value = compute().await?;
        self.set(key, &value, ttl).await?;
        Ok(value)
    }
}

impl<C: Clone, T, K> Clone for Typed<C, T, K> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            _marker: PhantomData,
        }
    }
}

impl<C: fmt::Debug, T, K: Codec> fmt::Debug for Typed<C, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Typed")
            .field("cache", &self.cache)
            .field("type", &std::any::type_name::<T>())
            .field("codec", &K::NAME)
            .finish()
    }
}
