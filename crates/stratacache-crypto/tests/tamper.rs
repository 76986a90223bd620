//! Tampering, wrong keys, forged key ids, moved values: always an error, never wrong plaintext,
//! whatever the plaintext policy.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use common::{encrypted_unshared, encrypted_with, random_bytes, ring, store_raw, stored};
use stratacache_core::{Bytes, Cache, EncryptionStats, ErrorKind, Ttl};
use stratacache_crypto::envelope::{self, HEADER_LEN, Malformed, OVERHEAD, OpenError};
use stratacache_crypto::{EncryptionKey, KeyRing, PlaintextPolicy};

const POLICIES: [PlaintextPolicy; 2] = [PlaintextPolicy::Reject, PlaintextPolicy::Migrate];

/// Which counter a failure must land in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cause {
    Malformed,
    UnknownKey,
    Authentication,
}

fn count(s: &EncryptionStats, cause: Cause) -> u64 {
    match cause {
        Cause::Malformed => s.failed_malformed,
        Cause::UnknownKey => s.failed_unknown_key,
        Cause::Authentication => s.failed_authentication,
    }
}

/// What a flipped byte at `pos` of an envelope with `len` bytes of plaintext must cause.
fn expected_cause(pos: usize) -> Cause {
    match pos {
        0..=4 => Cause::Malformed,  // magic (damaged), version (unsupported)
        5..=8 => Cause::UnknownKey, // key id (no such key in a one-key ring)
        _ => Cause::Authentication, // nonce, ciphertext, tag
    }
}

/// Every byte of the header and the tag, and samples of the ciphertext.
fn positions(len: usize) -> Vec<usize> {
    let body = HEADER_LEN..HEADER_LEN + len;
    let mut p: Vec<usize> = (0..HEADER_LEN).collect();
    p.extend([body.start, body.start + 1, body.start + len / 2, body.end - 1]);
    p.extend(body.end..body.end + 16);
    p
}

#[tokio::test]
async fn a_bit_flip_anywhere_is_an_error_in_every_mode() {
    let ring = ring();
    let value = Bytes::from(random_bytes(300, 1));
    for policy in POLICIES {
        // Shared values are copied before decryption, unshared ones decrypted in place: both paths.
        for unshared in [false, true] {
            let shared_cache = encrypted_with(&ring, policy);
            let unshared_cache = encrypted_unshared(&ring, policy);
            shared_cache.set("k", value.clone(), Ttl::Default).await.unwrap();
            let sealed = stored(&shared_cache, "k").await.to_vec();
            for pos in positions(value.len()) {
                for bit in [0_u8, 3, 7] {
                    let mut bad = sealed.clone();
                    bad[pos] ^= 1 << bit;
                    let before = if unshared {
                        store_raw(&unshared_cache, "t", bad).await;
                        unshared_cache.encryption_stats()
                    } else {
                        store_raw(&shared_cache, "t", bad).await;
                        shared_cache.encryption_stats()
                    };
                    let (result, after) = if unshared {
                        (unshared_cache.get("t").await, unshared_cache.encryption_stats())
                    } else {
                        (shared_cache.get("t").await, shared_cache.encryption_stats())
                    };
                    let what = format!("{policy:?}, unshared {unshared}, byte {pos}, bit {bit}");
                    let err = result.expect_err(&what);
                    assert_eq!(err.kind(), ErrorKind::Decryption, "{what}: {err}");
                    let cause = expected_cause(pos);
                    assert_eq!(count(&after, cause), count(&before, cause) + 1, "{what}: {err}");
                    assert_eq!(after.legacy_plaintext_reads, 0, "{what}");
                }
            }
        }
    }
}

#[tokio::test]
async fn truncated_envelopes_are_errors_in_every_mode() {
    let ring = ring();
    for policy in POLICIES {
        let cache = encrypted_with(&ring, policy);
        cache
            .set("k", Bytes::from_static(b"twelve bytes"), Ttl::Default)
            .await
            .unwrap();
        let sealed = stored(&cache, "k").await;
        for len in 1..sealed.len() {
            store_raw(&cache, "t", sealed.slice(..len)).await;
            let err = cache.get("t").await.expect_err(&format!("{policy:?} {len}"));
            assert_eq!(err.kind(), ErrorKind::Decryption, "{len}");
            let low = envelope::open(&ring, "t", &sealed[..len]).unwrap_err();
            if len < OVERHEAD {
                assert_eq!(low, OpenError::Malformed(Malformed::Truncated { len }), "{len}");
            } else {
                assert_eq!(low, OpenError::Authentication(ring.primary_id()), "{len}");
            }
        }
        let s = cache.encryption_stats();
        assert_eq!(s.failed_malformed, OVERHEAD as u64 - 1, "{policy:?} {s:?}");
        assert_eq!(s.failed_authentication, (sealed.len() - OVERHEAD) as u64, "{s:?}");
    }
}

#[tokio::test]
async fn an_unsupported_version_is_malformed() {
    let ring = ring();
    let mut sealed = envelope::seal(&ring, "k", b"value");
    sealed[4] = 2;
    assert_eq!(
        envelope::open(&ring, "k", &sealed).unwrap_err(),
        OpenError::Malformed(Malformed::UnsupportedVersion(2))
    );
    assert_eq!(envelope::inspect(&sealed).unwrap().version, 2);
}

#[tokio::test]
async fn a_ring_without_the_key_cannot_read() {
    let writer = ring();
    let reader = ring();
    for policy in POLICIES {
        let cache = encrypted_with(&writer, policy);
        cache
            .set("k", Bytes::from_static(b"secret"), Ttl::Default)
            .await
            .unwrap();
        let sealed = stored(&cache, "k").await;

        let other = encrypted_with(&reader, policy);
        store_raw(&other, "k", sealed).await;
        let err = other.get("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decryption);
        assert!(err.message().contains(&writer.primary_id().to_string()), "{err}");
        assert!(err.message().contains("not in the key ring"), "{err}");
        let s = other.encryption_stats();
        assert_eq!((s.failed_unknown_key, s.failures()), (1, 1), "{s:?}");
        assert_eq!(other.stats().await.errors, 1);
    }
}

#[tokio::test]
async fn a_forged_key_id_fails_authentication() {
    let a = EncryptionKey::generate();
    let b = EncryptionKey::generate();
    let (a_id, b_id) = (a.id(), b.id());
    let ring = KeyRing::from_keys(a, [b]).unwrap();
    let cache = encrypted_with(&ring, PlaintextPolicy::Migrate);
    cache
        .set("k", Bytes::from_static(b"sealed with a"), Ttl::Default)
        .await
        .unwrap();
    let mut sealed = stored(&cache, "k").await.to_vec();
    assert_eq!(envelope::inspect(&sealed).unwrap().key_id, a_id);

    // Point the key id at b, which the ring holds: b cannot authenticate a's envelope.
    sealed[5..9].copy_from_slice(&b_id.to_bytes());
    store_raw(&cache, "k", sealed).await;
    let err = cache.get("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decryption);
    assert!(err.message().contains("authentication failed"), "{err}");
    let s = cache.encryption_stats();
    assert_eq!(
        (s.failed_authentication, s.failures(), s.old_key_reads),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn a_value_moved_to_another_key_fails() {
    let ring = ring();
    for policy in POLICIES {
        let cache = encrypted_with(&ring, policy);
        cache
            .set(
                "user:1",
                Bytes::from_static(b"{\"role\":\"admin\"}"),
                Ttl::Default,
            )
            .await
            .unwrap();
        let sealed = stored(&cache, "user:1").await;
        store_raw(&cache, "user:2", sealed.clone()).await;
        store_raw(&cache, "user:10", sealed).await;
        for key in ["user:2", "user:10"] {
            let err = cache.get(key).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decryption, "{key}");
            assert!(err.message().contains("another cache key"), "{err}");
        }
        assert!(
            cache.get("user:1").await.unwrap().is_some(),
            "the original still reads"
        );
        assert!(
            cache.get_many(&["user:1", "user:2"]).await.is_err(),
            "no partial result"
        );
        assert_eq!(cache.encryption_stats().failed_authentication, 3);
    }
}

#[tokio::test]
async fn errors_from_batch_and_ttl_reads() {
    let ring = ring();
    let cache = encrypted_with(&ring, PlaintextPolicy::Reject);
    cache
        .set("good", Bytes::from_static(b"ok"), Ttl::Default)
        .await
        .unwrap();
    let mut bad = stored(&cache, "good").await.to_vec();
    *bad.last_mut().unwrap() ^= 1;
    store_raw(&cache, "bad", bad).await;
    assert!(cache.get_with_ttl("bad").await.is_err());
    assert!(cache.get_many(&["good", "bad"]).await.is_err());
    assert_eq!(cache.encryption_stats().failed_authentication, 2);
    assert_eq!(cache.stats().await.errors, 2);
}
