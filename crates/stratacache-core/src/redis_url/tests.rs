use proptest::prelude::*;

use super::*;

#[test]
fn redaction_cases() {
    for (url, shown) in [
        ("redis://127.0.0.1:1", "redis://127.0.0.1:1"),
        ("redis://:p@h:1/0", "redis://:***@h:1/0"),
        ("rediss://u:p:q@h", "rediss://u:***@h"),
        ("redis://u:p@q@h/1", "redis://u:***@h/1"),
        ("redis://u@h", "redis://u@h"),
        ("redis://u:@h", "redis://u@h"),
        ("redis://:pw@[::1]:7000", "redis://:***@[::1]:7000"),
        ("redis://:pw@h/?protocol=resp3", "redis://:***@h/?protocol=resp3"),
        (
            "unix:///tmp/redis.sock?db=1&pass=pw",
            "unix:///tmp/redis.sock?db=1&pass=***",
        ),
        ("  redis://:pw@h  ", "redis://:***@h"),
        ("not a url", UNPARSABLE_URL),
        ("redis://h:secret", UNPARSABLE_URL),
        ("redis://:pa/ss@h", UNPARSABLE_URL),
    ] {
        assert_eq!(redact_url(url), shown, "{url}");
    }
}

#[test]
fn parts_and_rejections() {
    let parts = RedisUrl::new("rediss://app%20user:p%40ss@[::1]:6380/2?protocol=resp3")
        .parse()
        .unwrap();
    assert!(parts.tls && parts.has_password);
    assert_eq!(parts.username.as_deref(), Some("app user"));
    assert_eq!(
        (parts.host.as_str(), parts.port, parts.database),
        ("[::1]", Some(6380), Some(2))
    );
    assert!(!RedisUrl::new("redis://u:@h").has_password());
    for (url, why) in [
        ("http://h", "has scheme \"http\""),
        ("unix:///tmp/redis.sock", "has scheme \"unix\""),
        ("redis://", "has no host"),
        ("redis://h/x", "not a number"),
        ("rediss://h#insecure", "has a fragment"),
        ("redis://:s3cret-pw@h:port", "is not a valid URL"),
    ] {
        let err = RedisUrl::new(url).parse().unwrap_err();
        assert!(err.contains(why), "{url}: {err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}

#[test]
fn with_tls_changes_the_scheme_only() {
    assert_eq!(
        RedisUrl::new("redis://:pw@h").with_tls().expose(),
        "rediss://:pw@h"
    );
    assert_eq!(RedisUrl::new("rediss://h").with_tls().expose(), "rediss://h");
}

/// Percent-encodes every byte outside RFC 3986's unreserved set.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A password: an upper-case marker (nothing else in the generated URLs is upper case) followed by
/// any characters, unreserved ones or anything that needs encoding (`@`, `:`, `/`, `%`, `#`,
/// spaces, non-ASCII).
fn password() -> impl Strategy<Value = String> {
    "PW[A-Za-z0-9@:/%#?!$&'()*+,;= é~._-]{0,16}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
        (0u8..=255, 0u8..=255).prop_map(|(a, b)| format!("10.{a}.{b}.1")),
        Just("[::1]".to_owned()),
        Just("[2001:db8::42]".to_owned()),
    ]
}

/// A URL in an accepted form, with the password written raw when only unreserved characters and
/// sub-delimiters are in it, else percent-encoded.
fn url_with_password() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![Just("redis"), Just("rediss")],
        proptest::option::of("[a-z][a-z0-9_.-]{0,8}"),
        password(),
        host(),
        proptest::option::of(1u16..),
        proptest::option::of(0i64..16),
        proptest::option::of(prop_oneof![Just("protocol=resp3"), Just("protocol=resp2&x=y")]),
    )
        .prop_map(|(scheme, user, pw, host, port, db, query)| {
            let raw_ok = pw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=".contains(c));
            let written = if raw_ok { pw.clone() } else { encode(&pw) };
            let mut url = format!("{scheme}://{}:{written}@{host}", user.unwrap_or_default());
            if let Some(port) = port {
                url.push_str(&format!(":{port}"));
            }
            if db.is_some() || query.is_some() {
                url.push('/');
            }
            if let Some(db) = db {
                url.push_str(&db.to_string());
            }
            if let Some(q) = query {
                url.push('?');
                url.push_str(q);
            }
            (url, pw)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No accepted form leaves its password (or any part of it, encoded or not) visible in
    /// `redact_url`, `Display`, `Debug` or serialization, and the redacted URL still names the host.
    #[test]
    fn no_accepted_url_shows_its_password((url, pw) in url_with_password()) {
        let parsed = RedisUrl::new(url.as_str());
        let parts = parsed.parse().map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;
        prop_assert!(parts.has_password, "{}", url);
        for shown in [
            redact_url(&url),
            parsed.to_string(),
            format!("{parsed:?}"),
            serde_json::to_string(&parsed).unwrap_or_default(),
        ] {
            prop_assert!(!shown.contains("PW"), "{} shows its password: {}", url, shown);
            prop_assert!(!shown.contains(&encode(&pw)), "{}: {}", url, shown);
            prop_assert!(shown.contains(REDACTED_PASSWORD), "{}: {}", url, shown);
        }
        let redacted = RedisUrl::new(redact_url(&url)).parse().map_err(TestCaseError::fail)?;
        prop_assert_eq!((redacted.host, redacted.port, redacted.database), (parts.host, parts.port, parts.database));
    }

    /// Whatever the input, a redacted string never contains a password the parser finds in it.
    #[test]
    fn arbitrary_strings_never_show_a_parsed_password(s in "(redis|rediss|unix)://[a-zA-Z0-9:@/%?#=&.\\[\\]-]{0,40}") {
        let shown = redact_url(&s);
        if let Ok(u) = Url::parse(&s)
            && let Some(pw) = u.password()
            && pw.len() >= 3
        {
            prop_assert!(!shown.contains(&format!(":{pw}@")), "{} -> {}", s, shown);
        }
    }
}
