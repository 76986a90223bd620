//! The AI cache key secret: hashed AI keys keyed by a secret derived from the key ring.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use serde_json::{Map, Value};
use stratacache_crypto::{EncryptionKey, KeyRing};
use stratacache_keys::AiKeyBuilder;

fn key(builder: &AiKeyBuilder) -> String {
    let mut options = Map::new();
    options.insert("model".into(), Value::from("small"));
    builder
        .key(
            "Summarise the attached contract for a customer",
            "summarize",
            &options,
        )
        .unwrap()
}

#[test]
fn keyed_ai_keys_differ_from_unkeyed_ones_and_between_rings() {
    let primary = EncryptionKey::generate();
    let ring = KeyRing::new(primary.clone());
    let same_key = KeyRing::new(primary);
    let other = KeyRing::new(EncryptionKey::generate());

    let unkeyed = key(&AiKeyBuilder::new());
    let keyed = key(&AiKeyBuilder::new().with_secret(*ring.ai_key_secret()));
    let keyed_again = key(&AiKeyBuilder::new().with_secret(*same_key.ai_key_secret()));
    let keyed_other = key(&AiKeyBuilder::new().with_secret(*other.ai_key_secret()));

    assert_eq!(keyed, keyed_again, "stable for a given key");
    assert_ne!(keyed, unkeyed);
    assert_ne!(keyed, keyed_other);
    assert!(!keyed.contains("contract"), "no user text in the key: {keyed}");
}

#[test]
fn the_secret_is_the_documented_derivation() {
    let bytes = *b"0123456789abcdef0123456789ABCDEF";
    let ring = KeyRing::new(EncryptionKey::from_bytes(bytes));
    let expected = blake3::derive_key("stratacache 2026-11 ai cache key secret v1", &bytes);
    assert_eq!(*ring.ai_key_secret(), expected);
    assert_ne!(*ring.ai_key_secret(), bytes, "not the encryption key itself");
}

#[test]
fn rotation_changes_the_secret_unless_derived_from_a_kept_key() {
    let stable = EncryptionKey::generate();
    let stable_id = stable.id();
    let before = KeyRing::new(stable.clone());
    let after = KeyRing::from_keys(EncryptionKey::generate(), [stable]).unwrap();
    assert_ne!(
        *before.ai_key_secret(),
        *after.ai_key_secret(),
        "a new primary, a cold AI cache"
    );
    assert_eq!(
        *before.ai_key_secret(),
        *after.ai_key_secret_from(stable_id).unwrap(),
        "derived from a key that stays in the ring: the same AI keys"
    );
    assert!(
        after
            .ai_key_secret_from(stratacache_crypto::KeyId::from_bytes([1, 2, 3, 4]))
            .is_none()
    );
}
