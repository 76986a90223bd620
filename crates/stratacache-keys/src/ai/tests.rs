use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::python;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn parse(options: &str) -> Map<String, Value> {
    obj(serde_json::from_str(options).unwrap())
}

fn reference() -> AiKeyBuilder {
    AiKeyBuilder::new().with_scheme(KeyScheme::Reference)
}

/// The four test vectors of the reference system (reference-system.md, section 3).
#[test]
fn reference_vectors() {
    let b = reference();
    assert_eq!(
        b.key("Sample document", "summarize", &parse(r#"{"max_length": 100}"#))
            .unwrap(),
        "ai_cache:op:summarize|txt:Sample document|opts:5104236b"
    );
    assert_eq!(
        b.key(
            "Document content",
            "qa",
            &parse(r#"{"question": "What is the main point?", "max_tokens": 150}"#)
        )
        .unwrap(),
        "ai_cache:op:qa|txt:Document content|opts:9169c942|q:732ed4fc"
    );
    assert_eq!(
        b.key(&"A".repeat(10000), "summarize", &Map::new()).unwrap(),
        "ai_cache:op:summarize|txt:hash:605035e5ef3e21da"
    );
    assert_eq!(
        b.key("a|b:c", "sentiment", &Map::new()).unwrap(),
        "ai_cache:op:sentiment|txt:a_b_c"
    );
}

struct Vector {
    text: String,
    operation: &'static str,
    options: &'static str,
    threshold: usize,
    key: String,
    /// Python's `"&".join(f"{k}={v}" for k, v in sorted(options.items()))`.
    options_string: &'static str,
}

fn v(
    text: String,
    operation: &'static str,
    options: &'static str,
    threshold: usize,
    key: String,
    options_string: &'static str,
) -> Vector {
    Vector {
        text,
        operation,
        options,
        threshold,
        key,
        options_string,
    }
}

/// Extra vectors, computed with CPython 3.11.7 running the reference algorithm (its `str()`,
/// `repr()`, `len()`, `str.split()`, `hashlib.md5` and `hashlib.sha256`) on `json.loads(options)`.
#[test]
fn reference_vectors_from_cpython() {
    let vectors = [
        v(
            "Sample document".to_owned(),
            "summarize",
            "{\"temperature\": 0.7, \"top_p\": 1.0}",
            1000,
            "ai_cache:op:summarize|txt:Sample document|opts:50137279".to_owned(),
            "temperature=0.7&top_p=1.0",
        ),
        v(
            "Sample document".to_owned(),
            "summarize",
            "{\"stream\": true, \"stop\": null, \"n\": 1}",
            1000,
            "ai_cache:op:summarize|txt:Sample document|opts:3630a57e".to_owned(),
            "n=1&stop=None&stream=True",
        ),
        v(
            "Sample document".to_owned(),
            "key_points",
            "{\"style\": {\"tone\": \"formal\", \"bullets\": [1, 2.5, \"x\"]}, \"max_length\": 150}",
            1000,
            "ai_cache:op:key_points|txt:Sample document|opts:770761b3".to_owned(),
            "max_length=150&style={'tone': 'formal', 'bullets': [1, 2.5, 'x']}",
        ),
        v(
            "Café — naïve résumé 日本語".to_owned(),
            "sentiment",
            "{\"lang\": \"fr\", \"note\": \"it's\"}",
            1000,
            "ai_cache:op:sentiment|txt:Café — naïve résumé 日本語|opts:05e25874".to_owned(),
            "lang=fr&note=it's",
        ),
        v(
            "quotes".to_owned(),
            "questions",
            "{\"a\": [\"it's\", \"say \\\"hi\\\"\", \"both ' \\\"\"], \"b\": {\"k\\n\": \"\\t\\\\\"}}",
            1000,
            "ai_cache:op:questions|txt:quotes|opts:fbf9eb36".to_owned(),
            "a=[\"it's\", 'say \"hi\"', 'both \\' \"']&b={'k\\n': '\\t\\\\'}",
        ),
        v(
            "numbers".to_owned(),
            "summarize",
            "{\"eps\": 1e-05, \"big\": 1e16, \"x\": 123456789012345.0, \"y\": 0.1, \"z\": 1E2}",
            1000,
            "ai_cache:op:summarize|txt:numbers|opts:ea0e4082".to_owned(),
            "big=1e+16&eps=1e-05&x=123456789012345.0&y=0.1&z=100.0",
        ),
        v(
            "Document content".to_owned(),
            "qa",
            "{\"question\": \"Qu'est-ce que c'est ? 日本\", \"max_tokens\": 50}",
            1000,
            "ai_cache:op:qa|txt:Document content|opts:0e659288|q:9cbb2504".to_owned(),
            "max_tokens=50&question=Qu'est-ce que c'est ? 日本",
        ),
        v(
            "Document content".to_owned(),
            "qa",
            "{\"question\": \"\"}",
            1000,
            "ai_cache:op:qa|txt:Document content|opts:ac849af7".to_owned(),
            "question=",
        ),
        v(
            "é".repeat(1000),
            "summarize",
            "{}",
            1000,
            format!("ai_cache:op:summarize|txt:{}", "é".repeat(1000)),
            "",
        ),
        v(
            "é".repeat(1001),
            "summarize",
            "{}",
            1000,
            "ai_cache:op:summarize|txt:hash:bdc7fa0ade3e8b1f".to_owned(),
            "",
        ),
        v(
            "word ".repeat(300),
            "summarize",
            "{\"max_length\": 100}",
            1000,
            "ai_cache:op:summarize|txt:hash:aa44eb0410f6e339|opts:5104236b".to_owned(),
            "max_length=100",
        ),
        v(
            "a\u{1c}b ".repeat(300),
            "summarize",
            "{}",
            1000,
            "ai_cache:op:summarize|txt:hash:65e4967c88300373".to_owned(),
            "",
        ),
        v(
            "x".repeat(600),
            "sentiment",
            "{}",
            500,
            "ai_cache:op:sentiment|txt:hash:ccdda2ec894533fa".to_owned(),
            "",
        ),
        v(
            "x".repeat(500),
            "sentiment",
            "{}",
            500,
            format!("ai_cache:op:sentiment|txt:{}", "x".repeat(500)),
            "",
        ),
        v(
            "line1\nline2\tend|x:y".to_owned(),
            "summarize",
            "{}",
            1000,
            "ai_cache:op:summarize|txt:line1\nline2\tend_x_y".to_owned(),
            "",
        ),
        v(
            String::new(),
            "summarize",
            "{}",
            1000,
            "ai_cache:op:summarize|txt:".to_owned(),
            "",
        ),
        v(
            "sort".to_owned(),
            "summarize",
            "{\"b\": 1, \"a\": 2, \"é\": 3, \"Z\": 4}",
            1000,
            "ai_cache:op:summarize|txt:sort|opts:d5191b80".to_owned(),
            "Z=4&a=2&b=1&é=3",
        ),
        v(
            "nonprint".to_owned(),
            "summarize",
            "{\"s\": [\"\\u200b\", \"\\u0000\", \"😀\", \"\\u00e9\\u0301\"], \"t\": \"\\u200b\"}",
            1000,
            "ai_cache:op:summarize|txt:nonprint|opts:76cf3190".to_owned(),
            "s=['\\u200b', '\\x00', '😀', 'é́']&t=\u{200b}",
        ),
        v(
            "ints".to_owned(),
            "summarize",
            "{\"n\": -5, \"big\": 18446744073709551615, \"zero\": 0, \"negzero\": -0.0}",
            1000,
            "ai_cache:op:summarize|txt:ints|opts:9157e6b3".to_owned(),
            "big=18446744073709551615&n=-5&negzero=-0.0&zero=0",
        ),
        v(
            "  spaced\u{3000}text\u{a0} ".repeat(100),
            "summarize",
            "{}",
            1000,
            "ai_cache:op:summarize|txt:hash:154b9c3b7d4954a7".to_owned(),
            "",
        ),
    ];
    for vector in vectors {
        let options = parse(vector.options);
        assert_eq!(
            python::options_string(&options),
            vector.options_string,
            "options {}",
            vector.options
        );
        let b = reference().with_text_hash_threshold(vector.threshold).unwrap();
        let key = b.key(&vector.text, vector.operation, &options).unwrap();
        assert_eq!(
            key, vector.key,
            "text {:?} options {}",
            vector.text, vector.options
        );
    }
}

#[test]
fn reference_text_id_threshold_is_inclusive_and_in_characters() {
    let b = reference().with_text_hash_threshold(100).unwrap();
    let at = "é".repeat(100);
    assert_eq!(
        b.key(&at, "summarize", &Map::new()).unwrap(),
        format!("ai_cache:op:summarize|txt:{at}")
    );
    let over = "é".repeat(101);
    assert!(
        b.key(&over, "summarize", &Map::new())
            .unwrap()
            .contains("|txt:hash:")
    );
}

#[test]
fn reference_question_must_be_a_non_empty_string() {
    let b = reference();
    for options in [
        json!({"question": ""}),
        json!({"question": 5}),
        json!({"question": null}),
    ] {
        let key = b.key("t", "qa", &obj(options)).unwrap();
        assert!(key.contains("|opts:") && !key.contains("|q:"), "{key}");
    }
}

#[test]
fn hashed_format() {
    let b = AiKeyBuilder::new();
    assert_eq!(b.scheme(), KeyScheme::Hashed);
    let key = b
        .key("Sample document", "summarize", &parse(r#"{"max_length": 100}"#))
        .unwrap();
    let parts: Vec<&str> = key.split(':').collect();
    assert_eq!(parts.len(), 5, "{key}");
    assert_eq!(&parts[..3], ["ai", "v1", "summarize"]);
    assert_eq!(parts[3].len(), 32);
    assert_eq!(parts[4].len(), 32);
    assert!(parts[3..].iter().all(|p| {
        p.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    }));
    assert_eq!(parts[3], hashed::text_digest(None, "Sample document"));
    // Pinned: the hashed scheme is a storage format and must not change silently.
    assert_eq!(
        parts[3],
        hex::encode(
            &blake3::hash(
                &[
                    &b"stratacache.keys.ai.v1.text\0"[..],
                    &15u64.to_le_bytes(),
                    b"Sample document"
                ]
                .concat()
            )
            .as_bytes()[..16]
        )
    );
    // Every key of the operation matches its pattern; the key length is bounded whatever the text.
    assert!(key.starts_with(&b.operation_prefix("summarize").unwrap()));
    let long = b
        .key(&"x".repeat(100_000), &"o".repeat(MAX_OPERATION_LEN), &Map::new())
        .unwrap();
    assert_eq!(long.len(), 6 + MAX_OPERATION_LEN + 1 + 32 + 1 + 32);
}

#[test]
fn hashed_options_are_canonical() {
    let b = AiKeyBuilder::new();
    let k1 = b
        .key("t", "op", &parse(r#"{"a": 1, "b": {"x": 1.0, "y": [0.5]}}"#))
        .unwrap();
    let k2 = b
        .key("t", "op", &parse(r#"{"b": {"y": [5e-1], "x": 1}, "a": 1.0}"#))
        .unwrap();
    assert_eq!(k1, k2);
    let k3 = b
        .key("t", "op", &parse(r#"{"a": 2, "b": {"x": 1.0, "y": [0.5]}}"#))
        .unwrap();
    assert_ne!(k1, k3);
    // Text and options are separate inputs: moving bytes between them changes the key.
    assert_ne!(
        b.key("ab", "op", &Map::new()).unwrap(),
        b.key("a", "op", &Map::new()).unwrap()
    );
    assert_ne!(
        b.key("t", "op", &Map::new()).unwrap(),
        b.key("t", "op", &parse(r#"{"a": null}"#)).unwrap()
    );
    assert_ne!(
        b.key("t", "op1", &Map::new()).unwrap(),
        b.key("t", "op2", &Map::new()).unwrap()
    );
}

#[test]
fn keyed_and_unkeyed_digests_differ() {
    let options = parse(r#"{"max_length": 100}"#);
    let plain = AiKeyBuilder::new();
    let a = AiKeyBuilder::new().with_secret([1; 32]);
    let a2 = AiKeyBuilder::new().with_secret([1; 32]);
    let b = AiKeyBuilder::new().with_secret([2; 32]);
    assert!(!plain.is_keyed() && a.is_keyed());
    let kp = plain.key("text", "summarize", &options).unwrap();
    let ka = a.key("text", "summarize", &options).unwrap();
    let kb = b.key("text", "summarize", &options).unwrap();
    assert_eq!(ka, a2.key("text", "summarize", &options).unwrap());
    let digests = |k: &str| k.rsplitn(3, ':').take(2).map(str::to_owned).collect::<Vec<_>>();
    for (x, y) in [(&kp, &ka), (&kp, &kb), (&ka, &kb)] {
        assert_ne!(x, y);
        let (dx, dy) = (digests(x), digests(y));
        assert_ne!(dx[0], dy[0], "options digests");
        assert_ne!(dx[1], dy[1], "text digests");
    }
    // The same operation pattern covers keyed and unkeyed keys.
    assert_eq!(
        a.operation_pattern("summarize").unwrap(),
        plain.operation_pattern("summarize").unwrap()
    );
    // The reference scheme ignores the secret.
    assert_eq!(
        reference()
            .with_secret([9; 32])
            .key("text", "summarize", &options)
            .unwrap(),
        reference().key("text", "summarize", &options).unwrap()
    );
}

#[test]
fn debug_redacts_the_secret() {
    let secret = [0xAB; 32];
    let b = AiKeyBuilder::new().with_secret(secret);
    let debug = format!("{b:?}");
    assert!(debug.contains("keyed: true"), "{debug}");
    assert!(debug.contains("secret: <redacted>"), "{debug}");
    assert!(
        !debug.contains("171") && !debug.to_lowercase().contains("ab, ab"),
        "{debug}"
    );
    assert!(!debug.contains(&hex::encode(secret)), "{debug}");
    let pretty = format!("{b:#?}");
    assert!(!pretty.contains("171"), "{pretty}");
    let plain = format!("{:?}", AiKeyBuilder::new());
    assert!(
        plain.contains("keyed: false") && !plain.contains("secret"),
        "{plain}"
    );
}

#[test]
fn operation_patterns() {
    assert_eq!(
        reference().operation_prefix("summarize").unwrap(),
        "ai_cache:op:summarize|"
    );
    assert_eq!(
        reference().operation_pattern("key_points").unwrap(),
        "ai_cache:op:key_points|*"
    );
    assert_eq!(AiKeyBuilder::new().operation_pattern("qa").unwrap(), "ai:v1:qa:*");
    assert_eq!(AiKeyBuilder::new().pattern_all(), "ai:v1:*");
    assert_eq!(reference().pattern_all(), "ai_cache:*");
    let key = reference().key("x", "key_points", &Map::new()).unwrap();
    assert!(key.starts_with(&reference().operation_prefix("key_points").unwrap()));
    assert!(!key.starts_with(&reference().operation_prefix("key").unwrap()));
}

#[test]
fn operations_are_validated() {
    for b in [AiKeyBuilder::new(), reference()] {
        assert_eq!(
            b.key("t", "", &Map::new()),
            Err(KeyError::Empty {
                part: KeyPart::Operation
            })
        );
        let err = b.key("t", "Summarize", &Map::new()).unwrap_err();
        assert!(matches!(
            err,
            KeyError::InvalidCharacter {
                part: KeyPart::Operation,
                position: 0,
                character: 'S',
                ..
            }
        ));
        assert!(err.to_string().contains("only a-z, 0-9, '_' and '-'"), "{err}");
        for bad in ["a*", "a:b", "a|b", "a b", "é"] {
            assert!(
                matches!(
                    b.operation_pattern(bad),
                    Err(KeyError::InvalidCharacter {
                        part: KeyPart::Operation,
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            b.key("t", "a\nb", &Map::new()),
            Err(KeyError::ControlCharacter {
                part: KeyPart::Operation,
                position: 1,
                ..
            })
        ));
        let long = "o".repeat(MAX_OPERATION_LEN + 1);
        assert!(matches!(
            b.key("t", &long, &Map::new()),
            Err(KeyError::TooLong {
                part: KeyPart::Operation,
                len: 65,
                max: 64,
                ..
            })
        ));
        assert!(b.key("t", "key_points-2", &Map::new()).is_ok());
    }
}

#[test]
fn text_hash_threshold_is_validated() {
    assert_eq!(
        AiKeyBuilder::new().text_hash_threshold(),
        DEFAULT_TEXT_HASH_THRESHOLD
    );
    for ok in [100, 500, 10000] {
        assert_eq!(
            AiKeyBuilder::new()
                .with_text_hash_threshold(ok)
                .unwrap()
                .text_hash_threshold(),
            ok
        );
    }
    for bad in [0, 99, 10001] {
        let err = AiKeyBuilder::new().with_text_hash_threshold(bad).unwrap_err();
        assert_eq!(
            err,
            KeyError::OutOfRange {
                field: "text_hash_threshold",
                value: bad,
                min: 100,
                max: 10000
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("text_hash_threshold") && msg.contains(&bad.to_string()),
            "{msg}"
        );
        assert!(msg.contains("100") && msg.contains("10000"), "{msg}");
    }
}

#[test]
fn max_text_length_counts_characters() {
    for b in [AiKeyBuilder::new(), reference()] {
        let b = b.with_max_text_length(Some(10));
        assert_eq!(b.max_text_length(), Some(10));
        assert!(b.key(&"é".repeat(10), "op", &Map::new()).is_ok());
        let err = b.key(&"é".repeat(11), "op", &Map::new()).unwrap_err();
        assert_eq!(err, KeyError::TextTooLong { chars: 11, max: 10 });
        assert_eq!(
            err.to_string(),
            "text is 11 characters long, more than the maximum of 10 characters"
        );
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(Duration, usize)>>);

impl KeyGenObserver for Recorder {
    fn on_key_generated(&self, duration: Duration, text_len: usize) {
        self.0.lock().unwrap().push((duration, text_len));
    }
}

#[test]
fn observer_sees_each_successful_key() {
    let recorder = Arc::new(Recorder::default());
    let b = AiKeyBuilder::new()
        .with_observer(recorder.clone())
        .with_max_text_length(Some(100));
    assert!(format!("{b:?}").contains("observer: true"));
    b.key("héllo", "op", &Map::new()).unwrap();
    reference()
        .with_observer(recorder.clone())
        .key(&"x".repeat(50), "op", &Map::new())
        .unwrap();
    assert!(b.key(&"x".repeat(101), "op", &Map::new()).is_err());
    assert!(b.key("x", "BAD", &Map::new()).is_err());
    let seen = recorder.0.lock().unwrap();
    assert_eq!(seen.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [5, 50]);
    assert!(seen.iter().all(|(d, _)| *d < Duration::from_secs(5)));
}

#[test]
fn scheme_names() {
    assert_eq!(KeyScheme::default(), KeyScheme::Hashed);
    assert_eq!(KeyScheme::Reference.to_string(), "reference");
    assert_eq!(serde_json::to_string(&KeyScheme::Hashed).unwrap(), r#""hashed""#);
    assert_eq!(
        serde_json::from_str::<KeyScheme>(r#""reference""#).unwrap(),
        KeyScheme::Reference
    );
}
