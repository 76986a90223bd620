//! Round trips at every size, what is stored, batch operations, statistics and concurrency.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{encrypted, encrypted_unshared, random_bytes, ring, stored, text_bytes};
use stratacache_core::{Bytes, Cache, Expiry, LayerExt, Ttl};
use stratacache_crypto::envelope::{self, HEADER_LEN, MAGIC, OVERHEAD, TAG_LEN, VERSION};
use stratacache_crypto::{EncryptionLayer, PlaintextPolicy};
use stratacache_memory::MemoryCache;

const SIZES: [usize; 5] = [0, 1024, 10 * 1024, 100 * 1024, 1024 * 1024];

#[tokio::test]
async fn round_trips_at_every_size_store_an_envelope() {
    let cache = encrypted();
    let primary = cache.key_ring().primary_id();
    for (i, len) in SIZES.into_iter().enumerate() {
        let key = format!("value:{len}");
        let value = Bytes::from(text_bytes(len));
        cache.set(&key, value.clone(), Ttl::Default).await.unwrap();

        let at_rest = stored(&cache, &key).await;
        assert_eq!(at_rest.len(), len + OVERHEAD, "{len}");
        assert_eq!(at_rest[..4], MAGIC);
        let header = envelope::inspect(&at_rest).unwrap();
        assert_eq!((header.version, header.key_id), (VERSION, primary));
        if len >= 64 {
            let window = &value[..64];
            assert!(
                !at_rest.windows(64).any(|w| w == window),
                "{len}: plaintext visible at rest"
            );
        }

        assert_eq!(cache.get(&key).await.unwrap(), Some(value), "{len}");
        let s = cache.encryption_stats();
        assert_eq!((s.encrypted, s.decrypted), (i as u64 + 1, i as u64 + 1));
    }
    let s = cache.stats().await.encryption.unwrap();
    let total: u64 = SIZES.iter().map(|n| *n as u64).sum();
    assert_eq!((s.bytes_encrypted, s.bytes_decrypted), (total, total));
    assert!(s.encrypt_nanos > 0 && s.decrypt_nanos > 0, "{s:?}");
    assert_eq!(s.failures(), 0);
}

#[tokio::test]
async fn values_decrypted_in_place_round_trip_too() {
    // Values fresh from Redis are not shared: the layer decrypts them without copying.
    let cache = encrypted_unshared(&ring(), PlaintextPolicy::Reject);
    for len in SIZES {
        let value = Bytes::from(random_bytes(len, len as u64));
        cache.set("k", value.clone(), Ttl::Default).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), Some(value.clone()), "{len}");
        let (got, _) = cache.get_with_ttl("k").await.unwrap().unwrap();
        assert_eq!(got, value);
        assert_eq!(cache.get_many(&["k", "none"]).await.unwrap(), [Some(value), None]);
    }
    assert_eq!(cache.encryption_stats().decrypted, 3 * SIZES.len() as u64);
}

#[tokio::test]
async fn every_write_uses_a_fresh_nonce() {
    let cache = encrypted();
    let value = Bytes::from_static(b"the same value, twice");
    cache.set("a", value.clone(), Ttl::Default).await.unwrap();
    let first = stored(&cache, "a").await;
    cache.set("a", value.clone(), Ttl::Default).await.unwrap();
    let second = stored(&cache, "a").await;
    assert_ne!(first, second, "same value, different envelopes");
    let (n1, n2) = (
        envelope::inspect(&first).unwrap().nonce,
        envelope::inspect(&second).unwrap().nonce,
    );
    assert_ne!(n1, n2);
    assert_eq!(cache.get("a").await.unwrap(), Some(value));
}

#[tokio::test]
async fn batch_operations_and_ttls() {
    let cache = encrypted();
    let entries: Vec<(String, Bytes)> = (0..20)
        .map(|i| (format!("k{i}"), Bytes::from(random_bytes(i * 37, i as u64))))
        .collect();
    let refs: Vec<(&str, Bytes)> = entries.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    cache.set_many(&refs, Ttl::secs(300)).await.unwrap();
    let keys: Vec<&str> = entries
        .iter()
        .map(|(k, _)| k.as_str())
        .chain(["missing"])
        .collect();
    let got = cache.get_many(&keys).await.unwrap();
    for ((_, value), slot) in entries.iter().zip(&got) {
        assert_eq!(slot.as_ref(), Some(value));
    }
    assert_eq!(got.last(), Some(&None));

    let (value, expiry) = cache.get_with_ttl("k3").await.unwrap().unwrap();
    assert_eq!(value, entries[3].1);
    assert!(
        matches!(expiry, Expiry::After(d) if d.as_secs() > 290),
        "{expiry:?}"
    );
    assert!(cache.exists("k3").await.unwrap());
    assert!(cache.delete("k3").await.unwrap());
    assert_eq!(cache.get("k3").await.unwrap(), None);

    // A bad TTL is refused before anything is sealed.
    let err = cache
        .set("x", Bytes::new(), Ttl::After(std::time::Duration::ZERO))
        .await;
    assert!(err.is_err());
    let s = cache.encryption_stats();
    assert_eq!(
        (s.encrypted, s.decrypted),
        (20, 21),
        "get_many opened 20, get_with_ttl 1"
    );
}

#[tokio::test]
async fn stats_travel_with_the_inner_snapshot() {
    let cache = encrypted();
    cache
        .set("a", Bytes::from_static(b"1"), Ttl::Default)
        .await
        .unwrap();
    cache.get("a").await.unwrap();
    cache.get("b").await.unwrap();
    let stats = cache.stats().await;
    assert_eq!(stats.backend, "memory");
    assert_eq!(
        (stats.hits, stats.misses, stats.writes, stats.errors),
        (1, 1, 1, 0)
    );
    assert_eq!(stats.encryption, Some(cache.encryption_stats()));
    assert!(cache.health().await.is_healthy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_tasks_without_corruption() {
    let layer = EncryptionLayer::new(ring());
    let cache = Arc::new(MemoryCache::new(100_000).unwrap().layer(layer));
    let tasks: Vec<_> = (0..200_u64)
        .map(|t| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                for round in 0..10_u64 {
                    let key = format!("task:{t}:{}", round % 3);
                    let value =
                        Bytes::from(random_bytes(((t * 131 + round * 17) % 4096) as usize, t ^ round));
                    cache.set(&key, value.clone(), Ttl::Default).await.unwrap();
                    assert_eq!(cache.get(&key).await.unwrap(), Some(value), "{key}");
                    // A key every task writes: whatever is read must be one whole value.
                    let shared = Bytes::from(vec![t as u8; 512]);
                    cache.set("shared", shared, Ttl::Default).await.unwrap();
                    let got = cache.get("shared").await.unwrap().unwrap();
                    assert_eq!(got.len(), 512);
                    assert!(got.iter().all(|b| *b == got[0]), "a torn or corrupted value");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let s = cache.encryption_stats();
    assert_eq!((s.encrypted, s.decrypted, s.failures()), (4000, 4000, 0));
}

#[test]
fn low_level_seal_open_inspect() {
    let ring = ring();
    let sealed = envelope::seal(&ring, "user:1", b"hello");
    assert_eq!(sealed.len(), 5 + OVERHEAD);
    assert_eq!(HEADER_LEN + TAG_LEN, OVERHEAD);
    let opened = envelope::open(&ring, "user:1", &sealed).unwrap();
    assert_eq!(opened.plaintext.as_ref(), b"hello");
    assert_eq!(opened.key_id, ring.primary_id());
    assert!(opened.is_primary);
    assert!(
        !format!("{opened:?}").contains("hello"),
        "Debug hides the plaintext"
    );
    assert!(envelope::inspect(b"{\"json\":1}").is_none());
    assert!(envelope::inspect(&sealed[..HEADER_LEN - 1]).is_none());

    // `?` turns an OpenError into a Decryption error.
    let as_core =
        || -> stratacache_core::Result<Bytes> { Ok(envelope::open(&ring, "user:2", &sealed)?.plaintext) };
    assert_eq!(
        as_core().unwrap_err().kind(),
        stratacache_core::ErrorKind::Decryption
    );
}

#[test]
fn long_keys_are_bound_too() {
    // Keys longer than the stack buffer for associated data take the allocating path.
    let ring = ring();
    let long = "k".repeat(2000);
    let sealed = envelope::seal(&ring, &long, b"v");
    assert_eq!(
        envelope::open(&ring, &long, &sealed).unwrap().plaintext.as_ref(),
        b"v"
    );
    let other = format!("{}j", "k".repeat(1999));
    assert!(envelope::open(&ring, &other, &sealed).is_err());
}
