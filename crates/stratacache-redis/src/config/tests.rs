use super::*;

fn problems(config: &RedisConfig) -> String {
    config.validate().unwrap_err().to_string()
}

#[test]
fn defaults_are_valid() {
    RedisConfig::new("redis://127.0.0.1:7000").validate().unwrap();
    RedisConfig::new("rediss://cache.example:6380/3")
        .validate()
        .unwrap();
}

#[test]
fn every_problem_is_reported_with_value_and_range() {
    let mut c = RedisConfig::new("redis://127.0.0.1:7000");
    c.pool_size = 0;
    c.scan_count = 0;
    c.database = Some(-1);
    c.command_timeout = Duration::ZERO;
    c.retry.max_retries = 11;
    c.namespace = String::new();
    let msg = problems(&c);
    for expected in [
        "pool_size = 0 is out of range (accepted: 1..=256)",
        "scan_count = 0 is out of range (accepted: 1..=100000)",
        "database = -1 is out of range (accepted: 0..=9999)",
        "command_timeout = 0ns is out of range (accepted: 1ms..=300s)",
        "retry.max_retries = 11 is out of range (accepted: 0..=10)",
        "namespace: got \"\" (empty), accepted: 1..=64 bytes",
    ] {
        assert!(msg.contains(expected), "missing {expected:?} in {msg}");
    }
}

#[test]
fn url_and_settings_must_agree() {
    let mut c = RedisConfig::new("redis://:pw@127.0.0.1:7000/2");
    c.database = Some(3);
    c.security.password = Some(Secret::new("other"));
    c.security.tls.ca_file = Some("/nonexistent/ca.pem".into());
    let msg = problems(&c);
    assert!(
        msg.contains("database = 3 contradicts the url's database /2"),
        "{msg}"
    );
    assert!(
        msg.contains("given both in the url and in security.password"),
        "{msg}"
    );
    assert!(msg.contains("is redis:// (use rediss:// for TLS)"), "{msg}");
    assert!(
        msg.contains("security.tls.ca_file = /nonexistent/ca.pem does not exist"),
        "{msg}"
    );
    assert!(
        !msg.contains("pw@") && !msg.contains("other"),
        "secrets leaked: {msg}"
    );

    let mut c = RedisConfig::new("redis://alice:pw@127.0.0.1:7000");
    c.security.username = Some("bob".into());
    assert!(problems(&c).contains("security.username = \"bob\" contradicts the url's user \"alice\""));
}

#[test]
fn bad_urls_are_named() {
    for (url, expected) in [
        ("127.0.0.1:7000", "is not a valid URL"),
        ("rediss://h:1#insecure", "has a fragment"),
        ("unix:///tmp/redis.sock", "has scheme \"unix\""),
        (
            "http://127.0.0.1",
            "has scheme \"http\" (accepted: redis://, rediss://)",
        ),
        ("redis://", "has no host"),
        ("redis://h:1/x", "has database path \"x\", not a number"),
    ] {
        let msg = problems(&RedisConfig::new(url));
        assert!(msg.contains(expected), "{url}: {msg}");
    }
}

#[test]
fn acl_and_mutual_tls_need_their_pairs() {
    let mut c = RedisConfig::new("rediss://127.0.0.1:7000");
    c.security.username = Some("app".into());
    c.security.tls.client_cert_file = Some("/tmp".into());
    let msg = problems(&c);
    assert!(
        msg.contains("security.username is set without a password"),
        "{msg}"
    );
    assert!(
        msg.contains("client_cert_file and client_key_file must be given together"),
        "{msg}"
    );
    // A password in the URL satisfies the ACL user.
    let mut c = RedisConfig::new("redis://app:pw@127.0.0.1:7000");
    c.security.username = Some("app".into());
    c.validate().unwrap();
}

#[test]
fn a_namespace_with_the_separator_is_rejected() {
    let mut c = RedisConfig::new("redis://127.0.0.1:7000");
    c.namespace = "app:v2".to_owned();
    let expected = validate_namespace("app:v2").unwrap_err().to_string();
    assert!(problems(&c).contains(&expected), "{}", problems(&c));
    c.namespace = "app-v2".to_owned();
    c.validate().unwrap();
}

#[test]
fn secrets_never_show_in_debug() {
    let mut c = RedisConfig::new("redis://user:hunter2@127.0.0.1:7000");
    c.security.password = Some(Secret::new("sw0rdfish"));
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("sw0rdfish"),
        "{debug}"
    );
    assert!(debug.contains("redis://user:***@127.0.0.1:7000"), "{debug}");
}

#[test]
fn redact_url_cases() {
    assert_eq!(redact_url("redis://127.0.0.1:1"), "redis://127.0.0.1:1");
    assert_eq!(redact_url("redis://:p@h:1/0"), "redis://:***@h:1/0");
    assert_eq!(redact_url("rediss://u:p:q@h"), "rediss://u:***@h");
    assert_eq!(redact_url("redis://u@h"), "redis://u@h");
    assert_eq!(redact_url("not a url"), stratacache_core::UNPARSABLE_URL);
}

#[test]
fn json_uses_seconds_and_rejects_unknown_fields() {
    let c: RedisConfig = serde_json::from_str(
        r#"{"url": "redis://h:1", "command_timeout": 0.25, "default_ttl": 60, "retry": {"max_retries": 0}}"#,
    )
    .unwrap();
    assert_eq!(c.command_timeout, Duration::from_millis(250));
    assert_eq!(c.default_ttl, Some(Duration::from_secs(60)));
    assert_eq!(c.retry.max_retries, 0);
    let err = serde_json::from_str::<RedisConfig>(r#"{"url": "redis://h:1", "pool": 3}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `pool`"), "{err}");
}
