//! The plaintext policy: strict by default, a migration mode for caches that held plaintext.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use common::{encrypted, encrypted_with, ring, store_raw, stored};
use stratacache_core::{Bytes, Cache, ErrorKind, Ttl};
use stratacache_crypto::envelope::{self, MAGIC};
use stratacache_crypto::{EncryptionLayer, PlaintextPolicy};

const LEGACY: &[u8] = br#"{"written":"by the reference system, without a key"}"#;

#[test]
fn reject_is_the_default() {
    assert_eq!(PlaintextPolicy::default(), PlaintextPolicy::Reject);
    assert_eq!(
        EncryptionLayer::new(ring()).plaintext_policy(),
        PlaintextPolicy::Reject
    );
}

#[tokio::test]
async fn strict_mode_refuses_plaintext() {
    let cache = encrypted();
    for (i, legacy) in [
        LEGACY,
        b"",
        b"plain text",
        b"\xC1SCZ\x01\x00compressed, not encrypted",
        b"\xC0not ours",
    ]
    .into_iter()
    .enumerate()
    {
        store_raw(&cache, "legacy", Bytes::from_static(legacy)).await;
        let err = cache.get("legacy").await.expect_err("plaintext is refused");
        assert_eq!(err.kind(), ErrorKind::Decryption);
        assert!(err.message().contains("not an encryption envelope"), "{err}");
        assert!(err.message().contains("Migrate"), "the way out is named: {err}");
        assert!(err.message().contains("\"legacy\""), "the key is named: {err}");
        assert!(
            !err.message().contains("reference system"),
            "the value never appears: {err}"
        );
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(cache.encryption_stats().failed_not_envelope, i as u64 + 1);
    }
    assert!(cache.get_with_ttl("legacy").await.is_err());
    assert!(cache.get_many(&["legacy"]).await.is_err());
    let stats = cache.stats().await;
    assert_eq!(stats.errors, 7);
    assert_eq!(stats.encryption.unwrap().legacy_plaintext_reads, 0);
}

#[tokio::test]
async fn migration_mode_reads_legacy_values_and_writes_envelopes() {
    let ring = ring();
    let cache = encrypted_with(&ring, PlaintextPolicy::Migrate);
    store_raw(&cache, "legacy", Bytes::from_static(LEGACY)).await;
    store_raw(&cache, "empty", Bytes::new()).await;
    // Reference-system Fernet tokens are base64 text: legacy bytes too (returned as they are,
    // not decrypted; such values must be repopulated).
    store_raw(&cache, "fernet", Bytes::from_static(b"gAAAAABl...token")).await;
    cache
        .set("new", Bytes::from_static(b"encrypted"), Ttl::Default)
        .await
        .unwrap();

    assert_eq!(cache.get("legacy").await.unwrap().as_deref(), Some(LEGACY));
    assert_eq!(cache.get("empty").await.unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(
        cache
            .get_many(&["legacy", "new", "fernet", "missing"])
            .await
            .unwrap(),
        [
            Some(Bytes::from_static(LEGACY)),
            Some(Bytes::from_static(b"encrypted")),
            Some(Bytes::from_static(b"gAAAAABl...token")),
            None
        ]
    );
    let (value, _) = cache.get_with_ttl("legacy").await.unwrap().unwrap();
    assert_eq!(value, LEGACY);
    let s = cache.encryption_stats();
    assert_eq!(
        (s.legacy_plaintext_reads, s.decrypted, s.failures()),
        (5, 1, 0),
        "{s:?}"
    );
    assert_eq!(cache.stats().await.errors, 0);

    // Rewriting a legacy value encrypts it: the migration converges.
    cache.set("legacy", value, Ttl::Default).await.unwrap();
    let at_rest = stored(&cache, "legacy").await;
    assert_eq!(at_rest[..4], MAGIC);
    assert_eq!(envelope::inspect(&at_rest).unwrap().key_id, ring.primary_id());
    assert_eq!(cache.get("legacy").await.unwrap().as_deref(), Some(LEGACY));
    assert_eq!(
        cache.encryption_stats().legacy_plaintext_reads,
        5,
        "no longer legacy"
    );
}

#[tokio::test]
async fn migration_mode_still_refuses_broken_envelopes() {
    let ring = ring();
    let cache = encrypted_with(&ring, PlaintextPolicy::Migrate);
    cache
        .set("k", Bytes::from(vec![7_u8; 100]), Ttl::Default)
        .await
        .unwrap();
    let sealed = stored(&cache, "k").await.to_vec();

    // Tampered ciphertext, a damaged magic byte, another key's value, a foreign key id.
    let mut tampered = sealed.clone();
    tampered[60] ^= 0x10;
    let mut damaged_magic = sealed.clone();
    damaged_magic[0] = b'{';
    let mut foreign_id = sealed.clone();
    foreign_id[5] ^= 0xFF;
    for (key, bytes) in [
        ("tampered", tampered),
        ("damaged", damaged_magic),
        ("moved", sealed),
        ("foreign", foreign_id),
    ] {
        store_raw(&cache, key, bytes).await;
        let err = cache.get(key).await.expect_err(key);
        assert_eq!(err.kind(), ErrorKind::Decryption, "{key}");
    }
    // A value that merely starts with 0xC0 is not a UTF-8 legacy value: refused as well.
    store_raw(&cache, "c0", Bytes::from_static(b"\xC0binary")).await;
    assert!(cache.get("c0").await.is_err());
    let s = cache.encryption_stats();
    assert_eq!(
        (
            s.failed_authentication,
            s.failed_malformed,
            s.failed_unknown_key,
            s.failed_not_envelope
        ),
        (2, 1, 1, 1),
        "{s:?}"
    );
    assert_eq!(s.legacy_plaintext_reads, 0);
}
