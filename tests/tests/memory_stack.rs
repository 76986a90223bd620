//! End-to-end: the memory stack as an application assembles it (keys → layers → memory backend,
//! held as a `SharedCache`), exercised through typed access.

// Test code: helpers outside #[test] functions unwrap too (clippy exempts only the tests themselves).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stratacache_core::{
    Bytes, Cache, CacheStats, ErrorKind, Expiry, Layer, LayerExt, Result, SharedCache, Stack, Ttl, Typed,
    TypedCacheExt, async_trait,
};
use stratacache_keys::{AiKeyBuilder, KeyScheme, Namespace};
use stratacache_memory::MemoryCache;

/// A minimal layer written the way later layers are: it counts the calls that reach the inner
/// cache, so the test can see the layer really sits in the path.
#[derive(Debug, Clone, Default)]
struct CountingLayer {
    calls: Arc<AtomicU64>,
}

struct Counting<C> {
    inner: C,
    calls: Arc<AtomicU64>,
}

impl<C: Cache> Layer<C> for CountingLayer {
    type Cache = Counting<C>;

    fn layer(&self, inner: C) -> Counting<C> {
        Counting {
            inner,
            calls: Arc::clone(&self.calls),
        }
    }
}

impl<C: Cache> Counting<C> {
    fn tick(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

// Every method it does not write (the other batch operations, `health`, `close`) is forwarded
// as it is: see `stratacache_core::forward`.
#[stratacache_core::forward(self.inner)]
#[async_trait]
impl<C: Cache> Cache for Counting<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.tick();
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.tick();
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.tick();
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool> {
        self.tick();
        self.inner.exists(key).await
    }
    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        self.tick();
        self.inner.ttl(key).await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.tick();
        self.inner.invalidate_pattern(pattern).await
    }
    async fn clear(&self) -> Result<()> {
        self.tick();
        self.inner.clear().await
    }
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.tick();
        self.inner.get_many(keys).await
    }
    async fn stats(&self) -> CacheStats {
        let mut stats = CacheStats::new("counting");
        stats.inner.push(self.inner.stats().await);
        stats
    }
}

fn memory() -> MemoryCache {
    MemoryCache::builder()
        .max_entries(10_000)
        .default_ttl(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Clone)]
struct Summary {
    text: String,
    tokens: u32,
}

#[tokio::test]
async fn layered_shared_stack_counts_every_call_and_keeps_semantics() {
    let outer = CountingLayer::default();
    let inner = CountingLayer::default();
    let cache: SharedCache = Arc::new(memory().layer(Stack::new(inner.clone(), outer.clone())));

    cache.set_json("a", &1u8, Ttl::Default).await.unwrap();
    assert_eq!(cache.get_json::<u8>("a").await.unwrap(), Some(1));
    // A batch stays one call through every layer, down to the backend.
    assert_eq!(cache.get_many(&["a", "b"]).await.unwrap().len(), 2);
    assert_eq!(outer.calls.load(Ordering::Relaxed), 3);
    assert_eq!(inner.calls.load(Ordering::Relaxed), 3);

    // The zero-TTL rule holds through the layers.
    let err = cache
        .set("z", Bytes::from_static(b"v"), Ttl::millis(0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    // Stats of the backend are reachable through the layers, counting reads only.
    let stats = cache.stats().await;
    let backend = &stats.inner[0].inner[0];
    assert_eq!(backend.backend, "memory");
    assert_eq!((backend.hits, backend.misses, backend.writes), (2, 1, 1));
}

#[tokio::test]
async fn optional_layer_boxes_either_way() {
    let layer = CountingLayer::default();
    let on: Box<dyn Cache> = Some(layer.clone()).layer(memory());
    let off: Box<dyn Cache> = None::<CountingLayer>.layer(memory());
    on.set("k", Bytes::from_static(b"v"), Ttl::Default).await.unwrap();
    off.set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    assert_eq!(layer.calls.load(Ordering::Relaxed), 1);
    assert_eq!(off.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn namespaces_isolate_tenants_in_one_cache() {
    let cache: SharedCache = Arc::new(memory());
    let web = Namespace::new("web", "v1").unwrap();
    let web2 = Namespace::new("web", "v2").unwrap();
    let admin = Namespace::new("admin", "v1").unwrap();
    for ns in [&web, &web2, &admin] {
        for id in 0..10 {
            cache
                .set_json(&ns.key(&format!("user:{id}")).unwrap(), &id, Ttl::Default)
                .await
                .unwrap();
        }
    }
    // Bumping the version is an instant, complete invalidation of the old namespace's readers...
    assert_eq!(cache.invalidate_pattern(&web.pattern_all()).await.unwrap(), 10);
    // ...and never touches its neighbours.
    assert_eq!(
        cache.get_json::<u32>(&web2.key("user:3").unwrap()).await.unwrap(),
        Some(3)
    );
    assert_eq!(
        cache
            .get_json::<u32>(&admin.key("user:3").unwrap())
            .await
            .unwrap(),
        Some(3)
    );
    assert_eq!(
        cache
            .invalidate_pattern(&admin.pattern("user:[0-4]").unwrap())
            .await
            .unwrap(),
        5
    );
    assert_eq!(cache.stats().await.entries, Some(15));
}

async fn ai_round_trip(builder: &AiKeyBuilder) -> (String, u64) {
    let cache: SharedCache = Arc::new(memory());
    let responses: Typed<SharedCache, Summary> = Typed::new(Arc::clone(&cache));
    let doc = "Rust caches should never leak user text into Redis keys.";
    let opts = |n: u64| -> Map<String, Value> { json!({ "max_length": n }).as_object().cloned().unwrap() };

    let key = builder.key(doc, "summarize", &opts(100)).unwrap();
    let mut computed = 0;
    for _ in 0..3 {
        responses
            .get_or_insert_with(&key, Ttl::secs(7200), || async {
                computed += 1;
                Ok(Summary {
                    text: "short".into(),
                    tokens: 3,
                })
            })
            .await
            .unwrap();
    }
    assert_eq!(
        computed, 1,
        "the response is computed once and served from the cache after"
    );
    // Different options are a different entry; another operation is unaffected by invalidation.
    responses
        .set(
            &builder.key(doc, "summarize", &opts(50)).unwrap(),
            &Summary {
                text: "s".into(),
                tokens: 1,
            },
            Ttl::Default,
        )
        .await
        .unwrap();
    let sentiment = builder.key(doc, "sentiment", &Map::new()).unwrap();
    responses
        .set(
            &sentiment,
            &Summary {
                text: "positive".into(),
                tokens: 1,
            },
            Ttl::secs(3600),
        )
        .await
        .unwrap();

    let removed = cache
        .invalidate_pattern(&builder.operation_pattern("summarize").unwrap())
        .await
        .unwrap();
    assert!(responses.get(&sentiment).await.unwrap().is_some());
    assert!(responses.get(&key).await.unwrap().is_none());
    (key, removed)
}

#[tokio::test]
async fn ai_responses_with_reference_keys() {
    let (key, removed) = ai_round_trip(&AiKeyBuilder::new().with_scheme(KeyScheme::Reference)).await;
    assert_eq!(
        key,
        "ai_cache:op:summarize|txt:Rust caches should never leak user text into Redis keys.|opts:5104236b"
    );
    assert_eq!(removed, 2);
}

#[tokio::test]
async fn ai_responses_with_hashed_keys_hide_the_text() {
    let (key, removed) = ai_round_trip(&AiKeyBuilder::new().with_secret([7; 32])).await;
    assert!(key.starts_with("ai:v1:summarize:"), "{key}");
    assert!(!key.contains("Rust") && !key.contains("leak"), "{key}");
    assert_eq!(removed, 2);
}

#[tokio::test]
async fn postcard_values_and_expiry_through_the_shared_stack() {
    let cache: SharedCache = Arc::new(memory());
    let value = Summary {
        text: "bin".into(),
        tokens: 9,
    };
    cache.set_postcard("p", &value, Ttl::millis(50)).await.unwrap();
    cache.set_postcard("q", &value, Ttl::Never).await.unwrap();
    assert_eq!(cache.ttl("q").await.unwrap(), Some(Expiry::Never));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(cache.get_postcard::<Summary>("p").await.unwrap(), None);
    assert_eq!(cache.get_postcard::<Summary>("q").await.unwrap(), Some(value));
    // A JSON reader of a postcard value gets a serialization error naming the key, not garbage.
    let err = cache.get_json::<Summary>("q").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(err.message().contains("\"q\""), "{err}");
}
