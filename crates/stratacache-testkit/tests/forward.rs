#![allow(clippy::unwrap_used)]
//! `#[forward]` (stratacache-core): a layer that writes no method forwards every one of them,
//! each as the same single call on the wrapped cache (a batch stays one batch); a method the
//! layer writes is not forwarded; smart pointers forward everything too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use stratacache_core::{Bytes, Cache, Result, SharedCache, Ttl, async_trait, forward};
use stratacache_testkit::double::{Op, ScriptedCache};

/// Writes nothing: everything is forwarded.
struct Transparent<C> {
    inner: C,
}

#[forward(self.inner)]
#[async_trait]
impl<C: Cache> Cache for Transparent<C> {}

/// Writes `get` (and counts it), forwards the rest; the wrapped cache is reached through a method.
struct CountGets {
    inner: SharedCache,
    gets: AtomicU64,
}

impl CountGets {
    fn wrapped(&self) -> &SharedCache {
        &self.inner
    }
}

#[forward(*self.wrapped())]
#[async_trait]
impl Cache for CountGets {
    async fn get(&self, _key: &str) -> Result<Option<Bytes>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Bytes::from_static(b"mine")))
    }
}

/// Counts `close` (which `ScriptedCache` does not script or count) and forwards the rest to the
/// spy.
struct CountClose {
    inner: ScriptedCache,
    closes: Arc<AtomicU64>,
}

#[forward(self.inner)]
#[async_trait]
impl Cache for CountClose {
    async fn close(&self) -> Result<()> {
        self.closes.fetch_add(1, Ordering::Relaxed);
        self.inner.close().await
    }
}

/// Calls every method of `cache` once.
async fn call_every_method(cache: &dyn Cache) {
    let v = || Bytes::from_static(b"v");
    cache.get("k").await.unwrap();
    cache.set("k", v(), Ttl::Default).await.unwrap();
    cache.delete("k").await.unwrap();
    cache.delete_many(&["a", "b"]).await.unwrap();
    cache.exists("k").await.unwrap();
    cache.ttl("k").await.unwrap();
    cache.get_with_ttl("k").await.unwrap();
    cache.get_many(&["a", "b"]).await.unwrap();
    cache
        .set_many(&[("a", v()), ("b", v())], Ttl::Default)
        .await
        .unwrap();
    cache.invalidate_pattern("p:*").await.unwrap();
    cache.clear().await.unwrap();
    cache.add_tags("k", &["t"], Ttl::Default).await.unwrap();
    cache.remove_tagged("t").await.unwrap();
    let lease = std::time::Duration::from_secs(1);
    cache.acquire_lease("k", "me", lease).await.unwrap();
    cache.renew_lease("k", "me", lease).await.unwrap();
    cache.release_lease("k", "me").await.unwrap();
    cache.health().await;
    cache.stats().await;
    cache.close().await.unwrap();
}

fn inner() -> ScriptedCache {
    ScriptedCache::wrap(stratacache_testkit::double::Empty)
}

#[tokio::test]
async fn a_layer_that_writes_nothing_forwards_every_method_once() {
    for pointer in ["layer", "Arc", "Box", "&"] {
        let spy = inner();
        let closes = Arc::new(AtomicU64::new(0));
        let counted = CountClose {
            inner: spy.clone(),
            closes: Arc::clone(&closes),
        };
        match pointer {
            "layer" => call_every_method(&Transparent { inner: counted }).await,
            "Arc" => call_every_method(&Arc::new(counted)).await,
            "Box" => call_every_method(&Box::new(counted)).await,
            _ => call_every_method(&&counted).await,
        }
        for op in Op::ALL {
            assert_eq!(spy.calls(op), 1, "{pointer}: {op:?}");
        }
        assert_eq!(closes.load(Ordering::Relaxed), 1, "{pointer}: close");
        let journal = spy.journal();
        let batch = journal.iter().find(|c| c.op == Op::DeleteMany).unwrap();
        assert_eq!(batch.keys, ["a", "b"], "{pointer}: one batch, its keys intact");
        let write = journal.iter().find(|c| c.op == Op::SetMany).unwrap();
        assert_eq!(write.ttl, Some(Ttl::Default), "{pointer}");
    }
}

#[tokio::test]
async fn a_method_the_layer_writes_is_not_forwarded() {
    let spy = inner();
    let layer = CountGets {
        inner: spy.shared(),
        gets: AtomicU64::new(0),
    };
    call_every_method(&layer).await;
    assert_eq!(layer.gets.load(Ordering::Relaxed), 1);
    assert_eq!(spy.calls(Op::Get), 0, "get was the layer's own");
    assert_eq!(spy.total_calls(), Op::ALL.len() as u64 - 1);
    assert_eq!(layer.get("x").await.unwrap(), Some(Bytes::from_static(b"mine")));
}
