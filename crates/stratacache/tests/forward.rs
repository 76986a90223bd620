#![allow(clippy::unwrap_used)]
//! A layer written against the facade alone: `#[forward(.., crate = stratacache)]` names the
//! paths through `stratacache`, with no direct dependency on stratacache-core.

use std::sync::atomic::{AtomicU64, Ordering};

use stratacache::memory::MemoryCache;
use stratacache::{Bytes, Cache, Result, Ttl, async_trait, forward};

struct CountWrites<C> {
    inner: C,
    writes: AtomicU64,
}

#[forward(self.inner, crate = stratacache)]
#[async_trait]
impl<C: Cache> Cache for CountWrites<C> {
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.set(key, value, ttl).await
    }
}

#[tokio::test]
async fn a_layer_through_the_facade_forwards_what_it_does_not_write() {
    let cache = CountWrites {
        inner: MemoryCache::new(100).unwrap(),
        writes: AtomicU64::new(0),
    };
    cache
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    cache
        .set_many(&[("a", Bytes::from_static(b"1"))], Ttl::Default)
        .await
        .unwrap();
    assert_eq!(
        cache.writes.load(Ordering::Relaxed),
        1,
        "set_many is forwarded whole"
    );
    assert_eq!(cache.get("k").await.unwrap(), Some(Bytes::from_static(b"v")));
    assert_eq!(
        cache.get_many(&["a", "b"]).await.unwrap()[0],
        Some(Bytes::from_static(b"1"))
    );
    assert!(cache.delete("k").await.unwrap());
    assert_eq!(cache.stats().await.backend, "memory");
}
