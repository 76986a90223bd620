//! Property tests of the key builders.

use proptest::prelude::*;
use serde_json::{Map, Value};
use stratacache_core::glob::{Glob, escape};
use stratacache_keys::{
    AiKeyBuilder, KeyError, KeyPart, KeyScheme, MAX_KEY_LEN, Namespace, TextTier, TextTiers, escape_glob,
};

/// Namespace names and versions: printable, without `:`, glob metacharacters included on purpose.
fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_*?\\[\\]\\\\.é-]{1,16}"
}

/// Caller keys: printable, with separators and glob metacharacters.
fn user_key() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9:_*?\\[\\]\\\\|/ é日-]{1,64}"
}

fn options() -> impl Strategy<Value = Map<String, Value>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z '\"]{0,8}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(("[a-c]{1,2}", inner), 0..3)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    });
    prop::collection::vec(("[a-z_]{1,6}", value), 0..5).prop_map(|entries| entries.into_iter().collect())
}

fn reversed(map: &Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    entries.reverse();
    entries.into_iter().collect()
}

proptest! {
    #[test]
    fn namespace_keys_round_trip(name in segment(), version in segment(), key in user_key()) {
        let ns = Namespace::new(&name, &version).unwrap();
        prop_assert_eq!(ns.name(), name.as_str());
        prop_assert_eq!(ns.version(), version.as_str());
        let full = ns.key(&key).unwrap();
        prop_assert_eq!(&full, &format!("{name}:{version}:{key}"));
        prop_assert!(full.starts_with(ns.prefix()));
        prop_assert_eq!(ns.strip_prefix(&full), Some(key.as_str()));
    }

    #[test]
    fn namespace_patterns_match_their_keys_only(
        name in segment(),
        version in segment(),
        other in segment(),
        key in user_key(),
    ) {
        let ns = Namespace::new(&name, &version).unwrap();
        prop_assert_eq!(ns.pattern_prefix(), escape_glob(ns.prefix()));
        let all = Glob::new(&ns.pattern_all());
        prop_assert!(all.matches(&ns.key(&key).unwrap()));
        // A different namespace never matches, even when ours holds glob metacharacters.
        if other != name {
            let theirs = Namespace::new(&other, &version).unwrap();
            prop_assert!(!all.matches(&theirs.key(&key).unwrap()));
        }
        // A literal suffix, escaped, matches exactly that key.
        let exact = Glob::new(&ns.pattern(&escape(&key)).unwrap());
        prop_assert!(exact.matches(&ns.key(&key).unwrap()));
    }

    #[test]
    fn namespace_rejects_control_characters(key in "[a-z]{0,5}[\\x00-\\x1f\\x7f][a-z]{0,5}") {
        let ns = Namespace::new("web", "v1").unwrap();
        let position = key.chars().position(char::is_control).unwrap();
        match ns.key(&key) {
            Err(KeyError::ControlCharacter { part: KeyPart::Key, position: p, .. }) => prop_assert_eq!(p, position),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn namespace_keys_respect_the_maximum(len in 1usize..2 * MAX_KEY_LEN) {
        let ns = Namespace::new("web", "v1").unwrap();
        let result = ns.key(&"k".repeat(len));
        prop_assert_eq!(result.is_ok(), len + ns.prefix().len() <= MAX_KEY_LEN);
    }

    #[test]
    fn hashed_keys_never_contain_the_text(
        text in "[a-zA-Z0-9]{8,200}",
        options in options(),
        secret in proptest::option::of(any::<[u8; 32]>()),
    ) {
        let mut builder = AiKeyBuilder::new();
        if let Some(secret) = secret {
            builder = builder.with_secret(secret);
        }
        let key = builder.key(&text, "summarize", &options).unwrap();
        prop_assert!(!key.contains(&text), "{} contains {}", key, text);
        prop_assert!(key.starts_with("ai:v1:summarize:"));
        prop_assert_eq!(key.len(), "ai:v1:summarize:".len() + 32 + 1 + 32);
    }

    #[test]
    fn keys_ignore_option_order(text in ".{0,50}", options in options()) {
        for scheme in [KeyScheme::Hashed, KeyScheme::Reference] {
            let builder = AiKeyBuilder::new().with_scheme(scheme);
            prop_assert_eq!(
                builder.key(&text, "qa", &options).unwrap(),
                builder.key(&text, "qa", &reversed(&options)).unwrap()
            );
        }
    }

    #[test]
    fn reference_text_id_has_no_separators(text in "[a-z|: \\n]{0,120}", threshold in 100usize..=150) {
        let builder = AiKeyBuilder::new()
            .with_scheme(KeyScheme::Reference)
            .with_text_hash_threshold(threshold)
            .unwrap();
        let key = builder.key(&text, "sentiment", &Map::new()).unwrap();
        let text_id = key.strip_prefix("ai_cache:op:sentiment|txt:").unwrap();
        prop_assert!(!text_id.contains('|'));
        if text.chars().count() <= threshold {
            prop_assert_eq!(text_id, text.replace(['|', ':'], "_"));
        } else {
            prop_assert!(text_id.starts_with("hash:"));
            prop_assert_eq!(text_id.len(), 5 + 16);
            prop_assert!(!text_id[5..].contains(':'));
        }
    }

    #[test]
    fn different_texts_give_different_hashed_keys(a in ".{0,40}", b in ".{0,40}") {
        prop_assume!(a != b);
        let builder = AiKeyBuilder::new();
        prop_assert_ne!(
            builder.key(&a, "op", &Map::new()).unwrap(),
            builder.key(&b, "op", &Map::new()).unwrap()
        );
    }

    #[test]
    fn tiers_are_monotonic(small in 1usize..1000, d1 in 1usize..1000, d2 in 1usize..1000, len in 0usize..4000) {
        let tiers = TextTiers::new(small, small + d1, small + d1 + d2).unwrap();
        let tier = tiers.tier_for_len(len);
        prop_assert!(tiers.tier_for_len(len + 1) >= tier);
        let expected = if len < small {
            TextTier::Small
        } else if len < small + d1 {
            TextTier::Medium
        } else if len < small + d1 + d2 {
            TextTier::Large
        } else {
            TextTier::Xlarge
        };
        prop_assert_eq!(tier, expected);
    }
}
