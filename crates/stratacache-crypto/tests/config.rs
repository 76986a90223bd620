//! Keys from the environment: what is accepted, what fails at start, and that no message or
//! `Debug` output ever shows key material.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use stratacache_core::{ErrorKind, LayerExt};
use stratacache_crypto::{ENV_KEY, ENV_KEYS, EncryptionKey, EncryptionLayer, KeyRing, generate_key};
use stratacache_memory::MemoryCache;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// Fails if `text` contains any 6-character run of `secret` (ignoring padding).
fn assert_no_part_of(text: &str, secret: &str) {
    let secret = secret.trim().trim_end_matches('=');
    let chars: Vec<char> = secret.chars().collect();
    for w in chars.windows(6.min(chars.len())) {
        let piece: String = w.iter().collect();
        assert!(!text.contains(&piece), "{piece:?} of the key appears in {text:?}");
    }
}

/// The configuration error for `vars`, checked to be free of any of `secrets`.
fn config_error(vars: &[(&str, &str)], secrets: &[&str]) -> String {
    let err = KeyRing::from_env_with(env(vars)).expect_err("a configuration error");
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
    let shown = format!("{err} {err:?}");
    for secret in secrets {
        assert_no_part_of(&shown, secret);
    }
    err.message().to_owned()
}

#[test]
fn nothing_set_means_no_encryption() {
    assert!(KeyRing::from_env_with(env(&[])).unwrap().is_none());
    assert!(KeyRing::from_env_with(env(&[(ENV_KEYS, " ")])).unwrap().is_none());
}

#[test]
fn a_primary_key_alone_or_with_older_labelled_keys() {
    let (k1, k2, k3) = (generate_key(), generate_key(), generate_key());
    let ring = KeyRing::from_env_with(env(&[(ENV_KEY, &k1)])).unwrap().unwrap();
    assert_eq!(ring.key_count(), 1);
    assert_eq!(ring.primary_id(), EncryptionKey::from_base64(&k1).unwrap().id());

    let older = format!(" q3:{k2} , {k3},");
    let primary = format!("q4:{k1}");
    let ring = KeyRing::from_env_with(env(&[(ENV_KEY, &primary), (ENV_KEYS, &older)]))
        .unwrap()
        .unwrap();
    let keys: Vec<_> = ring.keys().map(|k| (k.label, k.is_primary)).collect();
    assert_eq!(keys, [(Some("q4"), true), (Some("q3"), false), (None, false)]);
    assert_eq!(ring.primary_id(), EncryptionKey::from_base64(&k1).unwrap().id());

    let shown = format!("{ring:?}");
    assert!(
        shown.contains("q4") && shown.contains(&ring.primary_id().to_string()),
        "{shown}"
    );
    for k in [&k1, &k2, &k3] {
        assert_no_part_of(&shown, k);
    }
}

#[test]
fn a_fernet_key_is_accepted_as_key_material() {
    // Fernet.generate_key(): 32 bytes, URL-safe base64, padded.
    let fernet = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    let ring = KeyRing::from_env_with(env(&[(ENV_KEY, fernet)]))
        .unwrap()
        .unwrap();
    assert_eq!(ring.key_count(), 1);
}

#[test]
fn older_keys_without_a_primary_key_are_an_error() {
    let k = generate_key();
    let msg = config_error(&[(ENV_KEYS, &k)], &[&k]);
    assert!(
        msg.contains("REDIS_ENCRYPTION_KEYS is set but REDIS_ENCRYPTION_KEY is not"),
        "{msg}"
    );
}

#[test]
fn each_problem_is_named_without_the_key() {
    let good = generate_key();
    let short = "MDEyMzQ1Njc4OWFiY2RlZg=="; // 16 bytes
    // 48 bytes: two 32-character groups of whole base64 quanta.
    let long = format!("{}{}", &good[..32], &generate_key()[..32]);
    let not_base64 = format!("{}!{}", &good[..20], &good[21..]);
    let placeholder = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let mixed = format!("{}-+{}", &good[..20], &good[22..]);

    let msg = config_error(&[(ENV_KEY, "")], &[]);
    assert!(msg.contains("REDIS_ENCRYPTION_KEY is set but empty"), "{msg}");
    let msg = config_error(&[(ENV_KEY, &not_base64)], &[&not_base64]);
    assert!(msg.contains("REDIS_ENCRYPTION_KEY is not valid base64"), "{msg}");
    let msg = config_error(&[(ENV_KEY, &mixed)], &[&mixed]);
    assert!(msg.contains("is not valid base64"), "mixed alphabets: {msg}");
    let msg = config_error(&[(ENV_KEY, short)], &[short]);
    assert!(
        msg.contains("REDIS_ENCRYPTION_KEY decodes to 16 bytes, expected 32"),
        "{msg}"
    );
    let msg = config_error(&[(ENV_KEY, &long)], &[&long]);
    assert!(msg.contains("decodes to 48 bytes, expected 32"), "{msg}");
    let msg = config_error(&[(ENV_KEY, placeholder)], &[]);
    assert!(msg.contains("32 identical bytes"), "{msg}");
    let msg = config_error(&[(ENV_KEY, &format!("primary:{short}"))], &[short]);
    assert!(msg.contains("REDIS_ENCRYPTION_KEY decodes to 16 bytes"), "{msg}");

    // In the list: the position is named, counting from 1 (empty entries count too).
    let keys = format!("{},,{short}", generate_key());
    let msg = config_error(&[(ENV_KEY, &good), (ENV_KEYS, &keys)], &[&good, short]);
    assert!(
        msg.contains("REDIS_ENCRYPTION_KEYS entry 3 decodes to 16 bytes, expected 32"),
        "{msg}"
    );
    let keys = format!("old:{not_base64}");
    let msg = config_error(&[(ENV_KEY, &good), (ENV_KEYS, &keys)], &[&good, &not_base64]);
    assert!(
        msg.contains("REDIS_ENCRYPTION_KEYS entry 1 is not valid base64"),
        "{msg}"
    );
    let labelled = generate_key();
    let keys = format!("bad label:{labelled}");
    let msg = config_error(&[(ENV_KEY, &good), (ENV_KEYS, &keys)], &[&good, &labelled]);
    assert!(
        msg.contains("REDIS_ENCRYPTION_KEYS entry 1: the label before ':' is not valid"),
        "{msg}"
    );

    // The same key twice.
    let keys = format!("{},{good}", generate_key());
    let msg = config_error(&[(ENV_KEY, &good), (ENV_KEYS, &keys)], &[&good]);
    assert!(
        msg.contains("REDIS_ENCRYPTION_KEYS entry 2 is the same key as REDIS_ENCRYPTION_KEY"),
        "{msg}"
    );
    let other = generate_key();
    let keys = format!("a:{other},b:{other}");
    let msg = config_error(&[(ENV_KEY, &good), (ENV_KEYS, &keys)], &[&good, &other]);
    assert!(
        msg.contains("entry 2 is the same key as REDIS_ENCRYPTION_KEYS entry 1"),
        "{msg}"
    );
}

#[test]
fn from_base64_errors_do_not_echo_either() {
    let short = "MDEyMzQ1Njc4OWFiY2RlZg==";
    let err = EncryptionKey::from_base64(short).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert_eq!(
        err.message(),
        "the encryption key decodes to 16 bytes, expected 32"
    );
    assert_no_part_of(&format!("{err:?}"), short);
}

#[test]
fn debug_output_never_shows_keys() {
    let text = generate_key();
    let key = EncryptionKey::from_base64(&text)
        .unwrap()
        .with_label("primary")
        .unwrap();
    let material_forms = {
        let bytes = base64_bytes(&text);
        [
            format!("{bytes:?}"),
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        ]
    };
    let ring = KeyRing::new(key.clone());
    let layer = EncryptionLayer::new(ring.clone());
    let cache = MemoryCache::new(10).unwrap().layer(layer.clone());
    for shown in [
        format!("{key:?}"),
        format!("{ring:?}"),
        format!("{layer:?}"),
        format!("{cache:?}"),
        format!("{:#?}", cache),
    ] {
        assert_no_part_of(&shown, &text);
        for form in &material_forms {
            assert!(!shown.contains(&form[..12]), "{shown}");
        }
        assert!(shown.contains(&key.id().to_string()), "the id is shown: {shown}");
    }
    assert!(format!("{key:?}").contains("<redacted>"));
}

/// The 32 bytes of a generated key (URL-safe base64), decoded by hand for the test.
fn base64_bytes(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0_u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = alphabet.iter().position(|a| *a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    assert_eq!(out.len(), 32);
    out
}
