//! Key rotation at the layer level: old values still read, new writes use the new primary key.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::random_bytes;
use stratacache_core::{Bytes, Cache, ErrorKind, LayerExt, Ttl};
use stratacache_crypto::envelope::{self, OpenError};
use stratacache_crypto::{Encrypted, EncryptionKey, EncryptionLayer, KeyRing};
use stratacache_memory::MemoryCache;

/// Key id of what the backend holds for `key`.
async fn sealed_with(backend: &MemoryCache, key: &str) -> stratacache_crypto::KeyId {
    let raw = backend.get(key).await.unwrap().unwrap();
    envelope::inspect(&raw).unwrap().key_id
}

fn over(backend: &Arc<MemoryCache>, ring: &KeyRing) -> Encrypted<Arc<MemoryCache>> {
    Arc::clone(backend).layer(EncryptionLayer::new(ring.clone()))
}

#[tokio::test]
async fn rotation_keeps_old_values_readable_and_seals_with_the_new_key() {
    let backend = Arc::new(MemoryCache::new(1000).unwrap());
    let old = EncryptionKey::generate().with_label("2026-q3").unwrap();
    let new = EncryptionKey::generate().with_label("2026-q4").unwrap();
    let (old_id, new_id) = (old.id(), new.id());

    // Before: the old key is the primary.
    let before = over(&backend, &KeyRing::new(old.clone()));
    let values: Vec<Bytes> = (0..10)
        .map(|i| Bytes::from(random_bytes(100 + i, i as u64)))
        .collect();
    for (i, v) in values.iter().enumerate() {
        before
            .set(&format!("k{i}"), v.clone(), Ttl::Default)
            .await
            .unwrap();
    }
    assert_eq!(sealed_with(&backend, "k0").await, old_id);

    // After: the new key is the primary, the old one still decrypts.
    let ring = KeyRing::from_keys(new.clone(), [old]).unwrap();
    assert_eq!(ring.primary_id(), new_id);
    let after = over(&backend, &ring);
    for (i, v) in values.iter().enumerate() {
        assert_eq!(after.get(&format!("k{i}")).await.unwrap().as_ref(), Some(v));
    }
    let s = after.encryption_stats();
    assert_eq!(
        (s.decrypted, s.old_key_reads),
        (10, 10),
        "every read used the old key"
    );

    // New writes, and rewrites, are sealed with the new key.
    after
        .set("fresh", Bytes::from_static(b"new"), Ttl::Default)
        .await
        .unwrap();
    assert_eq!(sealed_with(&backend, "fresh").await, new_id);
    let v0 = after.get("k0").await.unwrap().unwrap();
    after.set("k0", v0.clone(), Ttl::Default).await.unwrap();
    assert_eq!(sealed_with(&backend, "k0").await, new_id);
    let reads_before = after.encryption_stats().old_key_reads;
    assert_eq!(after.get("k0").await.unwrap(), Some(v0));
    assert_eq!(
        after.encryption_stats().old_key_reads,
        reads_before,
        "now a primary-key read"
    );

    // Once the old key leaves the ring, values still sealed with it are errors, not misses.
    let only_new = over(&backend, &KeyRing::new(new));
    assert_eq!(only_new.get("k0").await.unwrap().unwrap().len(), 100);
    let err = only_new.get("k1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decryption);
    assert!(err.message().contains(&old_id.to_string()), "{err}");
    assert_eq!(only_new.encryption_stats().failed_unknown_key, 1);
}

#[tokio::test]
async fn a_rotation_pass_with_the_low_level_api() {
    // What a maintenance job does: open with any key, reseal with the primary.
    let old = EncryptionKey::generate();
    let new = EncryptionKey::generate();
    let old_ring = KeyRing::new(old.clone());
    let ring = KeyRing::from_keys(new, [old]).unwrap();
    let backend = MemoryCache::new(100).unwrap();
    for i in 0..5 {
        let key = format!("k{i}");
        let sealed = envelope::seal(&old_ring, &key, format!("value {i}").as_bytes());
        backend.set(&key, sealed.into(), Ttl::Default).await.unwrap();
    }
    for i in 0..5 {
        let key = format!("k{i}");
        let raw = backend.get(&key).await.unwrap().unwrap();
        let header = envelope::inspect(&raw).unwrap();
        assert_ne!(header.key_id, ring.primary_id());
        let opened = envelope::open(&ring, &key, &raw).unwrap();
        assert!(!opened.is_primary);
        assert_eq!(opened.key_id, header.key_id);
        let resealed = envelope::seal(&ring, &key, &opened.plaintext);
        backend.set(&key, resealed.into(), Ttl::Default).await.unwrap();
    }
    let new_only = KeyRing::new(EncryptionKey::from_bytes(*b"not the key, just 32 bytes long!"));
    for i in 0..5 {
        let key = format!("k{i}");
        let raw = backend.get(&key).await.unwrap().unwrap();
        let opened = envelope::open(&ring, &key, &raw).unwrap();
        assert!(opened.is_primary);
        assert_eq!(opened.plaintext, format!("value {i}").as_bytes());
        assert!(matches!(
            envelope::open(&old_ring, &key, &raw),
            Err(OpenError::UnknownKey(_))
        ));
        assert!(matches!(
            envelope::open(&new_only, &key, &raw),
            Err(OpenError::UnknownKey(_))
        ));
    }
}

#[test]
fn ring_accessors() {
    let old = EncryptionKey::generate().with_label("old").unwrap();
    let new = EncryptionKey::generate();
    let (old_id, new_id) = (old.id(), new.id());
    let ring = KeyRing::from_keys(new, [old]).unwrap();
    assert!(ring.contains(old_id) && ring.contains(new_id));
    assert!(!ring.contains(stratacache_crypto::KeyId::from_bytes([0; 4])) || old_id.to_bytes() == [0; 4]);
    let keys: Vec<_> = ring.keys().map(|k| (k.id, k.label, k.is_primary)).collect();
    assert_eq!(keys, [(new_id, None, true), (old_id, Some("old"), false)]);

    let dup = EncryptionKey::generate();
    let err = KeyRing::from_keys(dup.clone(), [dup]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(
        err.message()
            .contains("older key 1 is the same key as the primary key"),
        "{err}"
    );
}
