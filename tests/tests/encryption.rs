//! End-to-end: encryption at rest over real Redis: what is stored, what an attacker with Redis
//! access can change, rotation without downtime, and migration from plaintext.

// Test code: helpers outside #[test] functions unwrap too (clippy exempts only the tests themselves).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use stratacache_compression::CompressionLayer;
use stratacache_core::{Bytes, Cache, ErrorKind, Expiry, LayerExt, SharedCache, Ttl};
use stratacache_crypto::rotate::{ReencryptOptions, reencrypt};
use stratacache_crypto::{EncryptionKey, EncryptionLayer, KeyRing, PlaintextPolicy, envelope};
use stratacache_redis::RedisCache;
use stratacache_testkit::redis::{RedisMode, RedisServer};

fn ring() -> KeyRing {
    KeyRing::new(EncryptionKey::generate())
}

/// A recognisable plaintext of `len` bytes.
fn secret_text(len: usize) -> Vec<u8> {
    b"TOP-SECRET-PAYLOAD ".iter().copied().cycle().take(len).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_and_redis_sees_only_envelopes() {
    let Some(server) = RedisServer::start_or_skip(RedisMode::Plain) else {
        return;
    };
    let redis = RedisCache::connect(common::redis_config(&server, "crypto"))
        .await
        .unwrap();
    let cache = redis.clone().layer(EncryptionLayer::new(ring()));
    let mut plain = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for len in [0, 1024, 10 * 1024, 100 * 1024, 1024 * 1024] {
        let key = format!("doc:{len}");
        let value = secret_text(len);
        cache
            .set(&key, Bytes::from(value.clone()), Ttl::secs(60))
            .await
            .unwrap();
        assert_eq!(
            cache.get(&key).await.unwrap().as_deref(),
            Some(&value[..]),
            "round trip of {len} bytes"
        );
        // What a plain client reading Redis gets: an envelope, with no trace of the plaintext.
        let raw: Vec<u8> = redis::cmd("GET")
            .arg(redis.redis_key(&key))
            .query_async(&mut plain)
            .await
            .unwrap();
        assert!(envelope::inspect(&raw).is_some(), "{len}: not an envelope");
        assert!(
            raw.len() >= len + 48,
            "{len}: the envelope is too short to hold the ciphertext"
        );
        if len >= 19 {
            assert!(
                !raw.windows(19).any(|w| w == b"TOP-SECRET-PAYLOAD "),
                "{len}: plaintext visible in Redis"
            );
        }
    }
    let stats = cache.stats().await.encryption.unwrap();
    assert_eq!((stats.encrypted, stats.decrypted, stats.failures()), (5, 5, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_and_moving_values_in_redis_is_detected() {
    let Some(server) = RedisServer::start_or_skip(RedisMode::Acl) else {
        return;
    };
    let redis = RedisCache::connect(common::redis_config(&server, "crypto"))
        .await
        .unwrap();
    let cache = redis.clone().layer(EncryptionLayer::new(ring()));
    cache
        .set("a", Bytes::from_static(b"alice's data"), Ttl::Never)
        .await
        .unwrap();
    cache
        .set("b", Bytes::from_static(b"bob's data"), Ttl::Never)
        .await
        .unwrap();

    // An attacker copies a's envelope over b: reading b must fail, not return alice's data.
    let a_raw = redis.get("a").await.unwrap().unwrap();
    redis.set("b", a_raw.clone(), Ttl::Never).await.unwrap();
    let err = cache.get("b").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decryption, "{err}");

    // A flipped bit anywhere is an error, never different plaintext.
    for at in [0, 4, 5, 9, 20, 40, a_raw.len() - 1] {
        let mut bytes = a_raw.to_vec();
        bytes[at] ^= 0x01;
        redis.set("a", Bytes::from(bytes), Ttl::Never).await.unwrap();
        let err = cache.get("a").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decryption, "flip at {at}: {err}");
    }

    // Plaintext planted in Redis is refused in strict mode.
    redis
        .set("planted", Bytes::from_static(b"{\"admin\": true}"), Ttl::Never)
        .await
        .unwrap();
    assert_eq!(
        cache.get("planted").await.unwrap_err().kind(),
        ErrorKind::Decryption
    );

    // The wrong key is an error, never a silent miss or plaintext.
    let stranger = redis.clone().layer(EncryptionLayer::new(ring()));
    cache
        .set("c", Bytes::from_static(b"carol"), Ttl::Never)
        .await
        .unwrap();
    assert_eq!(stranger.get("c").await.unwrap_err().kind(), ErrorKind::Decryption);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_without_downtime_over_tls() {
    let Some(server) = RedisServer::start_or_skip(RedisMode::Tls) else {
        return;
    };
    let redis = RedisCache::connect(common::redis_config(&server, "crypto"))
        .await
        .unwrap();
    let old_key = EncryptionKey::generate();
    let old_ring = KeyRing::new(old_key.clone());
    let old = redis.clone().layer(EncryptionLayer::new(old_ring.clone()));
    for i in 0..300 {
        old.set(
            &format!("k{i}"),
            Bytes::from(format!("value {i}")),
            Ttl::secs(3600),
        )
        .await
        .unwrap();
    }
    old.set("forever", Bytes::from_static(b"f"), Ttl::Never)
        .await
        .unwrap();

    // Deploy the new primary with the old key still in the ring: old values still read.
    let new_key = EncryptionKey::generate();
    let new_ring = KeyRing::from_keys(new_key.clone(), [old_key]).unwrap();
    let new = redis.clone().layer(EncryptionLayer::new(new_ring.clone()));
    assert_eq!(new.get("k7").await.unwrap().as_deref(), Some(&b"value 7"[..]));
    new.set("fresh", Bytes::from_static(b"new"), Ttl::Never)
        .await
        .unwrap();
    let fresh = redis.get("fresh").await.unwrap().unwrap();
    assert_eq!(envelope::inspect(&fresh).unwrap().key_id, new_ring.primary_id());

    // The pass re-seals everything under the new primary, keeping TTLs.
    let report = reencrypt(&redis, &new_ring, &ReencryptOptions::default())
        .await
        .unwrap();
    assert_eq!(report.reencrypted, 301, "{report:?}");
    assert_eq!(report.already_current, 1, "{report:?}");
    let again = reencrypt(&redis, &new_ring, &ReencryptOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (again.reencrypted, again.already_current),
        (0, 302),
        "a second pass has nothing to do"
    );
    assert!(matches!(redis.ttl("k1").await.unwrap(), Some(Expiry::After(d)) if d.as_secs() > 3500));
    assert_eq!(redis.ttl("forever").await.unwrap(), Some(Expiry::Never));

    // No old-key envelope is left: the old key can be retired.
    let mut cursor = 0;
    loop {
        let (next, keys) = stratacache_core::ScanKeys::scan_keys(&redis, "*", cursor)
            .await
            .unwrap();
        for key in keys {
            let raw = redis.get(&key).await.unwrap().unwrap();
            assert_eq!(
                envelope::inspect(&raw).unwrap().key_id,
                new_ring.primary_id(),
                "{key}"
            );
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let retired = redis.clone().layer(EncryptionLayer::new(KeyRing::new(new_key)));
    assert_eq!(
        retired.get("k299").await.unwrap().as_deref(),
        Some(&b"value 299"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_from_plaintext() {
    let Some(server) = RedisServer::start_or_skip(RedisMode::Password) else {
        return;
    };
    let redis = RedisCache::connect(common::redis_config(&server, "crypto"))
        .await
        .unwrap();
    // Values written before encryption was turned on.
    for i in 0..20 {
        redis
            .set(
                &format!("legacy:{i}"),
                Bytes::from(format!("plain {i}")),
                Ttl::Never,
            )
            .await
            .unwrap();
    }
    let ring = ring();
    let strict = redis.clone().layer(EncryptionLayer::new(ring.clone()));
    assert_eq!(
        strict.get("legacy:1").await.unwrap_err().kind(),
        ErrorKind::Decryption
    );

    let migrating = redis
        .clone()
        .layer(EncryptionLayer::new(ring.clone()).with_plaintext_policy(PlaintextPolicy::Migrate));
    assert_eq!(
        migrating.get("legacy:1").await.unwrap().as_deref(),
        Some(&b"plain 1"[..])
    );
    assert_eq!(migrating.encryption_stats().legacy_plaintext_reads, 1);
    // Tampered envelopes are still errors in migration mode.
    migrating
        .set("sealed", Bytes::from_static(b"x"), Ttl::Never)
        .await
        .unwrap();
    let mut raw = redis.get("sealed").await.unwrap().unwrap().to_vec();
    let last = raw.len() - 1;
    raw[last] ^= 0x80;
    redis.set("sealed", Bytes::from(raw), Ttl::Never).await.unwrap();
    assert_eq!(
        migrating.get("sealed").await.unwrap_err().kind(),
        ErrorKind::Decryption
    );

    // The pass seals the remaining plaintext; strict mode then reads everything.
    let options = ReencryptOptions::default().seal_plaintext(true);
    let report = reencrypt(&redis, &ring, &options).await.unwrap();
    assert_eq!(report.reencrypted, 20, "{report:?}");
    // The tampered envelope names the primary key: the pass leaves it alone (it does not open
    // current envelopes), and reads of it keep failing.
    assert_eq!(report.already_current, 1, "{report:?}");
    assert_eq!(
        strict.get("sealed").await.unwrap_err().kind(),
        ErrorKind::Decryption
    );
    assert_eq!(
        strict.get("legacy:19").await.unwrap().as_deref(),
        Some(&b"plain 19"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_over_mutual_tls() {
    let Some(server) = RedisServer::start_or_skip(RedisMode::MutualTls) else {
        return;
    };
    let redis = RedisCache::connect(common::redis_config(&server, "crypto"))
        .await
        .unwrap();
    let cache: SharedCache = Arc::new(redis.layer(EncryptionLayer::new(ring())));
    let tasks: Vec<_> = (0..200)
        .map(|t| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                for i in 0..10 {
                    let key = format!("t{t}:{i}");
                    let value = format!("task {t} item {i} ").repeat(1 + (t + i) % 50);
                    cache
                        .set(&key, Bytes::from(value.clone()), Ttl::secs(60))
                        .await
                        .unwrap();
                    assert_eq!(
                        cache.get(&key).await.unwrap().as_deref(),
                        Some(value.as_bytes()),
                        "{key}"
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_inside_encryption_saves_bytes() {
    let Some(server) = RedisServer::start_or_skip(RedisMode::Plain) else {
        return;
    };
    let redis = RedisCache::connect(common::redis_config(&server, "crypto"))
        .await
        .unwrap();
    let compression = CompressionLayer::builder().threshold(200).build().unwrap();
    // Outermost first: compression, then encryption, then Redis.
    let cache = redis
        .clone()
        .layer(EncryptionLayer::new(ring()))
        .layer(compression);
    let value = "a very repetitive JSON document, ".repeat(500);
    cache
        .set("doc", Bytes::from(value.clone()), Ttl::Never)
        .await
        .unwrap();
    assert_eq!(cache.get("doc").await.unwrap().as_deref(), Some(value.as_bytes()));
    let stored = redis.get("doc").await.unwrap().unwrap();
    assert!(
        stored.len() * 10 < value.len(),
        "stored {} bytes for {}",
        stored.len(),
        value.len()
    );
    let stats = cache.stats().await;
    let saved = stats.compression.unwrap().bytes_saved();
    assert!(saved > (value.len() as u64) * 9 / 10, "saved {saved}");
    assert_eq!(
        stats.encryption.unwrap().encrypted,
        1,
        "the encryption layer's stats travel up"
    );
}
