//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use stratacache_core::{Bytes, Cache, Expiry, LayerExt, Result, Ttl};
use stratacache_crypto::{Encrypted, EncryptionKey, EncryptionLayer, KeyRing, PlaintextPolicy};
use stratacache_memory::MemoryCache;

// Each test file uses a different subset of these helpers.
#[allow(unused_imports)]
pub use stratacache_testkit::data::{random_bytes, text_bytes};

/// A ring of one fresh random key.
pub fn ring() -> KeyRing {
    KeyRing::new(EncryptionKey::generate())
}

/// An encryption layer with `ring` and `policy` over a fresh memory cache.
pub fn encrypted_with(ring: &KeyRing, policy: PlaintextPolicy) -> Encrypted<MemoryCache> {
    let layer = EncryptionLayer::new(ring.clone()).with_plaintext_policy(policy);
    MemoryCache::new(100_000).unwrap().layer(layer)
}

/// A strict encryption layer with a fresh key over a fresh memory cache.
pub fn encrypted() -> Encrypted<MemoryCache> {
    encrypted_with(&ring(), PlaintextPolicy::Reject)
}

/// What the inner cache holds for `key`.
pub async fn stored<C: Cache>(cache: &Encrypted<C>, key: &str) -> Bytes {
    cache
        .inner()
        .get(key)
        .await
        .unwrap()
        .expect("stored in the inner cache")
}

/// Writes raw `bytes` under `key` in the inner cache, behind the layer's back.
pub async fn store_raw<C: Cache>(cache: &Encrypted<C>, key: &str, bytes: impl Into<Bytes>) {
    cache.inner().set(key, bytes.into(), Ttl::Default).await.unwrap();
}

/// An inner cache that hands out values it does not share (as the Redis backend does), so the
/// layer decrypts them in place instead of copying.
#[derive(Debug)]
pub struct Unshared<C>(pub C);

/// A copy of `b` in a buffer of its own (as `Bytes::from(Vec)` in the Redis backend).
fn unshare(b: &Bytes) -> Bytes {
    Bytes::from(b.to_vec())
}

#[stratacache_core::forward(self.0)]
#[stratacache_core::async_trait]
impl<C: Cache> Cache for Unshared<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.0.get(key).await?.as_ref().map(unshare))
    }
    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        Ok(self.0.get_with_ttl(key).await?.map(|(v, e)| (unshare(&v), e)))
    }
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        Ok(self
            .0
            .get_many(keys)
            .await?
            .into_iter()
            .map(|v| v.as_ref().map(unshare))
            .collect())
    }
}

/// An encryption layer over an [`Unshared`] memory cache.
pub fn encrypted_unshared(ring: &KeyRing, policy: PlaintextPolicy) -> Encrypted<Unshared<MemoryCache>> {
    let layer = EncryptionLayer::new(ring.clone()).with_plaintext_policy(policy);
    Unshared(MemoryCache::new(100_000).unwrap()).layer(layer)
}
