//! Configuration resolution: every preset's values (snapshots), precedence of preset < environment
//! < `CACHE_CUSTOM_CONFIG`, the effect of every variable and override key, and a table of bad
//! inputs with their messages (snapshot).

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use stratacache_factory::{
    CacheConfig, ConfigError, ENV_VARS, Environment, HashAlgorithm, LogLevel, OVERRIDE_KEYS, PlaintextPolicy,
    Preset, WaitPolicy, recommend_preset,
};

fn resolve(vars: &[(&str, &str)]) -> Result<CacheConfig, ConfigError> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    CacheConfig::from_env_with(|k| vars.get(k).cloned())
}

#[test]
fn every_preset_resolves_to_the_reference_values() {
    for preset in Preset::ALL {
        let config = resolve(&[("CACHE_PRESET", preset.as_str())]).unwrap();
        assert_eq!(config, CacheConfig::preset(preset));
        // The compute layer's own defaults in every preset (not a reference value; its settings
        // grow with the compute layer, so they are compared rather than snapshotted).
        assert_eq!(
            config.compute,
            stratacache_factory::ComputeConfig::default(),
            "{preset}"
        );
        let mut shown = serde_json::to_value(&config).unwrap();
        shown["compute"] = json!("[ComputeConfig::default()]");
        insta::assert_json_snapshot!(format!("preset_{}", preset.as_str()), shown);
    }
}

#[test]
fn the_default_preset_is_development() {
    assert_eq!(resolve(&[]).unwrap().preset, Preset::Development);
}

#[test]
fn preset_names_accept_case_and_underscores() {
    let c = resolve(&[("CACHE_PRESET", "AI_Production")]).unwrap();
    assert_eq!(c.preset, Preset::AiProduction);
}

#[test]
fn preset_details_describe_each_preset() {
    for preset in Preset::ALL {
        let d = preset.details();
        assert_eq!(d.name, preset.as_str());
        assert!(!d.description.is_empty());
        assert!(!d.environment_contexts.is_empty());
        assert_eq!(d.configuration, CacheConfig::preset(preset));
    }
    let json = serde_json::to_value(Preset::AiProduction.details()).unwrap();
    assert_eq!(json["strategy"], "ai_optimized");
    assert_eq!(json["configuration"]["ai"]["operation_ttls"]["summarize"], 14_400);
}

#[test]
fn recommendations_follow_the_environment() {
    let cases = [
        (Some("development"), false, Preset::Development),
        (Some("dev"), false, Preset::Development),
        (Some("local"), true, Preset::AiDevelopment),
        (Some("testing"), false, Preset::Minimal),
        (Some("ci"), false, Preset::Minimal),
        (Some("stage"), false, Preset::Production),
        (Some("staging"), true, Preset::AiProduction),
        (Some("PROD"), false, Preset::Production),
        (Some("production"), true, Preset::AiProduction),
        (Some("moon-base"), false, Preset::Development),
        (None, false, Preset::Development),
    ];
    for (env, ai, expected) in cases {
        let r = recommend_preset(env, ai);
        assert_eq!(r.preset, expected, "{env:?} ai={ai}: {}", r.reason);
        assert!(!r.reason.is_empty());
    }
    assert!(
        recommend_preset(Some("production"), false).confidence
            > recommend_preset(Some("prod"), false).confidence
    );
    assert!(
        recommend_preset(Some("moon-base"), false)
            .reason
            .contains("unrecognised")
    );
}

#[test]
fn precedence_is_preset_then_environment_then_custom_json() {
    // The preset says 2000 / development; the environment names a URL and turns AI on; the
    // custom JSON overrides the URL again.
    let c = resolve(&[
        ("CACHE_PRESET", "development"),
        ("ENVIRONMENT", "testing"),
        ("CACHE_REDIS_URL", "redis://env-host:1"),
        ("ENABLE_AI_CACHE", "true"),
        (
            "CACHE_CUSTOM_CONFIG",
            r#"{"redis_url": "redis://json-host:2", "compression_threshold": 700}"#,
        ),
    ])
    .unwrap();
    assert_eq!(
        c.redis_url.as_ref().map(|u| u.expose()),
        Some("redis://json-host:2")
    );
    assert!(c.enable_ai_cache);
    assert_eq!(c.compression_threshold, 700);
    assert_eq!(c.compression_level, 3, "untouched values keep the preset's");
    // JSON beats the environment for the AI toggle too.
    let c = resolve(&[
        ("ENABLE_AI_CACHE", "yes"),
        ("CACHE_CUSTOM_CONFIG", r#"{"enable_ai_cache": false}"#),
    ])
    .unwrap();
    assert!(!c.enable_ai_cache);
}

#[test]
fn enable_ai_cache_toggles_the_ai_settings() {
    for (value, expected) in [
        ("true", true),
        ("1", true),
        ("YES", true),
        ("on", true),
        ("false", false),
        ("0", false),
        ("no", false),
    ] {
        let c = resolve(&[("CACHE_PRESET", "ai-production"), ("ENABLE_AI_CACHE", value)]).unwrap();
        assert_eq!(c.enable_ai_cache, expected, "{value}");
        let c = resolve(&[("CACHE_PRESET", "simple"), ("ENABLE_AI_CACHE", value)]).unwrap();
        assert_eq!(c.enable_ai_cache, expected, "{value}");
    }
    // Production's AI settings are ai-production's.
    let c = resolve(&[("CACHE_PRESET", "production"), ("ENABLE_AI_CACHE", "true")]).unwrap();
    assert_eq!(c.ai, CacheConfig::preset(Preset::AiProduction).ai);
}

/// Every environment variable, with a value and what it must change.
#[test]
fn every_environment_variable_takes_effect() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, "pem").unwrap();
        p.to_str().unwrap().to_owned()
    };
    let (cert, key, ca) = (file("cert.pem"), file("key.pem"), file("ca.pem"));
    let base = || CacheConfig::preset(Preset::Development);
    type Check = Box<dyn Fn(&CacheConfig) -> bool>;
    let cases: Vec<(&str, Vec<(&str, String)>, Check)> = vec![
        (
            "CACHE_PRESET",
            vec![("CACHE_PRESET", "minimal".into())],
            Box::new(|c| c.preset == Preset::Minimal),
        ),
        (
            "CACHE_REDIS_URL",
            vec![
                ("CACHE_REDIS_URL", "redis://h:1".into()),
                ("ENVIRONMENT", "testing".into()),
            ],
            Box::new(|c| c.redis_url.as_ref().map(|u| u.expose()) == Some("redis://h:1")),
        ),
        (
            "ENABLE_AI_CACHE",
            vec![("ENABLE_AI_CACHE", "true".into())],
            Box::new(|c| c.enable_ai_cache),
        ),
        (
            "CACHE_CUSTOM_CONFIG",
            vec![("CACHE_CUSTOM_CONFIG", r#"{"default_ttl": 42}"#.into())],
            Box::new(|c| c.default_ttl == Duration::from_secs(42)),
        ),
        (
            "ENVIRONMENT",
            vec![("ENVIRONMENT", "stage".into())],
            Box::new(|c| c.environment == Environment::Staging),
        ),
        (
            "REDIS_AUTH",
            vec![("REDIS_AUTH", "pw".into())],
            Box::new(|c| c.redis_password.as_ref().map(|s| s.expose()) == Some("pw")),
        ),
        (
            "REDIS_ACL_USERNAME",
            vec![
                ("REDIS_ACL_USERNAME", "app".into()),
                ("REDIS_ACL_PASSWORD", "apw".into()),
            ],
            Box::new(|c| c.acl_username.as_deref() == Some("app")),
        ),
        (
            "REDIS_ACL_PASSWORD",
            vec![
                ("REDIS_ACL_USERNAME", "app".into()),
                ("REDIS_ACL_PASSWORD", "apw".into()),
                ("REDIS_AUTH", "ignored".into()),
            ],
            Box::new(|c| c.redis_password.as_ref().map(|s| s.expose()) == Some("apw")),
        ),
        (
            "REDIS_TLS_CERT_PATH",
            vec![
                ("REDIS_TLS_CERT_PATH", cert.clone()),
                ("REDIS_TLS_KEY_PATH", key.clone()),
            ],
            Box::new(move |c| c.tls_cert_path.is_some()),
        ),
        (
            "REDIS_TLS_KEY_PATH",
            vec![("REDIS_TLS_CERT_PATH", cert), ("REDIS_TLS_KEY_PATH", key)],
            Box::new(|c| c.tls_key_path.is_some()),
        ),
        (
            "REDIS_TLS_CA_PATH",
            vec![("REDIS_TLS_CA_PATH", ca)],
            Box::new(|c| c.tls_ca_path.is_some()),
        ),
        (
            "REDIS_VERIFY_CERTIFICATES",
            vec![("REDIS_VERIFY_CERTIFICATES", "false".into())],
            Box::new(|c| !c.verify_certificates),
        ),
        (
            "REDIS_SECURITY_REQUIRE_TLS",
            vec![("REDIS_SECURITY_REQUIRE_TLS", "true".into())],
            Box::new(|c| c.require_tls),
        ),
        (
            "REDIS_INSECURE_ALLOW_PLAINTEXT",
            vec![("REDIS_INSECURE_ALLOW_PLAINTEXT", "1".into())],
            Box::new(|c| c.insecure_allow_plaintext),
        ),
        (
            "REDIS_ENCRYPTION_KEY",
            vec![("REDIS_ENCRYPTION_KEY", stratacache_crypto::generate_key())],
            Box::new(|c| c.encryption.key.is_some()),
        ),
        (
            "REDIS_ENCRYPTION_KEYS",
            vec![
                ("REDIS_ENCRYPTION_KEY", stratacache_crypto::generate_key()),
                ("REDIS_ENCRYPTION_KEYS", stratacache_crypto::generate_key()),
            ],
            Box::new(|c| c.encryption.older_keys.is_some()),
        ),
        (
            "REDIS_ENCRYPTION_PLAINTEXT",
            vec![
                ("REDIS_ENCRYPTION_KEY", stratacache_crypto::generate_key()),
                ("REDIS_ENCRYPTION_PLAINTEXT", "Migrate".into()),
            ],
            Box::new(|c| c.encryption.plaintext_policy == PlaintextPolicy::Migrate),
        ),
        (
            "CACHE_FLEET_INVALIDATION",
            vec![("CACHE_FLEET_INVALIDATION", "off".into())],
            Box::new(|c| !c.fleet_invalidation),
        ),
        (
            "CACHE_FLEET_DISCONNECTED_L1_TTL",
            vec![("CACHE_FLEET_DISCONNECTED_L1_TTL", "1.5".into())],
            Box::new(|c| c.fleet_disconnected_l1_ttl == Duration::from_millis(1500)),
        ),
        (
            "CACHE_COMPUTE_MAX_WAIT",
            vec![("CACHE_COMPUTE_MAX_WAIT", "2.5".into())],
            Box::new(|c| c.compute.max_wait == Duration::from_millis(2500)),
        ),
        (
            "CACHE_COMPUTE_ON_WAIT_TIMEOUT",
            vec![("CACHE_COMPUTE_ON_WAIT_TIMEOUT", "Fail".into())],
            Box::new(|c| c.compute.on_wait_timeout == WaitPolicy::Fail),
        ),
        (
            "CACHE_COMPUTE_TTL_JITTER",
            vec![("CACHE_COMPUTE_TTL_JITTER", "0.1".into())],
            Box::new(|c| c.compute.ttl_jitter == 0.1),
        ),
        (
            "CACHE_COMPUTE_DISTRIBUTED",
            vec![("CACHE_COMPUTE_DISTRIBUTED", "no".into())],
            Box::new(|c| !c.compute.distributed),
        ),
        (
            "CACHE_COMPUTE_LEASE",
            vec![("CACHE_COMPUTE_LEASE", "12".into())],
            Box::new(|c| c.compute.lease == Duration::from_secs(12)),
        ),
        (
            "CACHE_COMPUTE_POLL_INTERVAL",
            vec![("CACHE_COMPUTE_POLL_INTERVAL", "0.02".into())],
            Box::new(|c| c.compute.poll_interval == Duration::from_millis(20)),
        ),
        (
            "CACHE_COMPUTE_NEGATIVE_TTL",
            vec![("CACHE_COMPUTE_NEGATIVE_TTL", "2.5".into())],
            Box::new(|c| c.compute.negative_ttl == Duration::from_millis(2500)),
        ),
        (
            "CACHE_COMPUTE_EARLY_REFRESH",
            vec![("CACHE_COMPUTE_EARLY_REFRESH", "1".into())],
            Box::new(|c| c.compute.freshness.early_refresh == 1.0),
        ),
        (
            "CACHE_COMPUTE_STALE_WHILE_REVALIDATE",
            vec![("CACHE_COMPUTE_STALE_WHILE_REVALIDATE", "30".into())],
            Box::new(|c| c.compute.freshness.stale_while_revalidate == Duration::from_secs(30)),
        ),
        (
            "CACHE_COMPUTE_STALE_IF_ERROR",
            vec![("CACHE_COMPUTE_STALE_IF_ERROR", "600".into())],
            Box::new(|c| c.compute.freshness.stale_if_error == Duration::from_secs(600)),
        ),
    ];
    let covered: Vec<&str> = cases.iter().map(|(name, ..)| *name).collect();
    for var in ENV_VARS {
        assert!(covered.contains(&var.name), "{} has no effect test", var.name);
    }
    for (name, vars, check) in cases {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let c = resolve(&vars).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(check(&c), "{name} had no effect");
        assert!(!check(&base()), "{name}: the check passes without the variable");
    }
}

/// Every override key, with a value different from the preset's and the field it must change.
#[test]
fn every_override_key_takes_effect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pem");
    std::fs::write(&path, "pem").unwrap();
    let path = path.to_str().unwrap().to_owned();
    let cases: Vec<(&str, Value, fn(&CacheConfig) -> Value)> = vec![
        ("redis_url", json!("redis://h:9"), |c| json!(c.redis_url)),
        ("redis_password", json!("pw"), |c| {
            json!(c.redis_password.as_ref().map(|s| s.expose().to_owned()))
        }),
        ("use_tls", json!(true), |c| json!(c.use_tls)),
        ("tls_cert_path", json!(path), |c| json!(c.tls_cert_path)),
        ("tls_key_path", json!(path), |c| json!(c.tls_key_path)),
        ("max_connections", json!(7), |c| json!(c.max_connections)),
        ("connection_timeout", json!(9), |c| {
            json!(c.connection_timeout.as_secs())
        }),
        ("default_ttl", json!(1234), |c| json!(c.default_ttl.as_secs())),
        ("memory_cache_size", json!(2000), |c| json!(c.memory_cache_size)),
        ("compression_threshold", json!(500), |c| {
            json!(c.compression_threshold)
        }),
        ("compression_level", json!(8), |c| json!(c.compression_level)),
        ("enable_ai_cache", json!(true), |c| json!(c.enable_ai_cache)),
        ("text_hash_threshold", json!(700), |c| {
            json!(c.ai.text_hash_threshold)
        }),
        ("hash_algorithm", json!("sha256"), |c| json!(c.ai.hash_algorithm)),
        (
            "text_size_tiers",
            json!({"small": 10, "medium": 20, "large": 30}),
            |c| json!(c.ai.text_size_tiers),
        ),
        (
            "operation_ttls",
            json!({"qa": 3600, "translate": 120}),
            |c| json!({"qa": c.ai.operation_ttls["qa"].as_secs(), "translate": c.ai.operation_ttls.get("translate").map(Duration::as_secs)}),
        ),
        ("enable_smart_promotion", json!(false), |c| {
            json!(c.ai.enable_smart_promotion)
        }),
        ("max_text_length", json!(1000), |c| json!(c.ai.max_text_length)),
        ("enable_monitoring", json!(false), |c| json!(c.enable_monitoring)),
        ("log_level", json!("ERROR"), |c| json!(c.log_level)),
        ("acl_username", json!("app"), |c| json!(c.acl_username)),
        ("acl_password", json!("apw"), |c| {
            json!(c.redis_password.as_ref().map(|s| s.expose().to_owned()))
        }),
        ("tls_ca_path", json!(path), |c| json!(c.tls_ca_path)),
        ("verify_certificates", json!(false), |c| {
            json!(c.verify_certificates)
        }),
        ("namespace", json!("shop"), |c| json!(c.namespace)),
        ("redis_database", json!(3), |c| json!(c.redis_database)),
        ("fail_on_connection_error", json!(true), |c| {
            json!(c.fail_on_connection_error)
        }),
        ("enable_l1_cache", json!(false), |c| json!(c.enable_l1_cache)),
        ("command_timeout", json!(0.75), |c| {
            json!(c.command_timeout.as_secs_f64())
        }),
        ("max_decompressed_size", json!(2_097_152), |c| {
            json!(c.max_decompressed_size)
        }),
        ("encryption_plaintext_policy", json!("migrate"), |c| {
            json!(c.encryption.plaintext_policy)
        }),
        ("fleet_invalidation", json!(false), |c| {
            json!(c.fleet_invalidation)
        }),
        ("fleet_disconnected_l1_ttl", json!(2.5), |c| {
            json!(c.fleet_disconnected_l1_ttl.as_secs_f64())
        }),
        (
            "compute",
            json!({"max_wait": 2.0, "on_wait_timeout": "fail", "ttl_jitter": 0.2, "distributed": false, "lease": 3.0, "poll_interval": 0.01}),
            |c| {
                json!({
                    "max_wait": c.compute.max_wait.as_secs_f64(),
                    "on_wait_timeout": c.compute.on_wait_timeout,
                    "ttl_jitter": c.compute.ttl_jitter,
                    "distributed": c.compute.distributed,
                    "lease": c.compute.lease.as_secs_f64(),
                    "poll_interval": c.compute.poll_interval.as_secs_f64(),
                })
            },
        ),
    ];
    for key in OVERRIDE_KEYS {
        assert!(
            cases.iter().any(|(k, ..)| *k == key.name),
            "{} has no effect test",
            key.name
        );
    }
    assert_eq!(
        OVERRIDE_KEYS.iter().filter(|k| k.reference).count(),
        20,
        "the reference's 20 keys"
    );
    for (key, value, field) in cases {
        let base = CacheConfig::preset(Preset::Development);
        let mut overrides = serde_json::Map::new();
        overrides.insert(key.to_owned(), value.clone());
        // Pairs that only validate together.
        match key {
            "tls_cert_path" => drop(overrides.insert("tls_key_path".into(), json!(path))),
            "tls_key_path" => drop(overrides.insert("tls_cert_path".into(), json!(path))),
            "acl_username" => drop(overrides.insert("acl_password".into(), json!("apw"))),
            _ => {}
        }
        let json = Value::Object(overrides).to_string();
        let encryption_key = stratacache_crypto::generate_key();
        let mut vars = vec![("CACHE_CUSTOM_CONFIG", json.as_str()), ("ENVIRONMENT", "testing")];
        if key == "encryption_plaintext_policy" {
            // Migrating to encryption needs a key (checked in `bad_inputs`).
            vars.push(("REDIS_ENCRYPTION_KEY", &encryption_key));
        }
        let c = resolve(&vars).unwrap_or_else(|e| panic!("{key}: {e}"));
        let expected = if key == "operation_ttls" {
            json!({"qa": 3600, "translate": 120})
        } else {
            value
        };
        assert_eq!(field(&c), expected, "{key} did not take effect");
        assert_ne!(field(&base), expected, "{key}: the preset already has this value");
    }
    assert_eq!(
        CacheConfig::preset(Preset::Development).ai.hash_algorithm,
        HashAlgorithm::Blake3
    );
    assert_eq!(LogLevel::Error.tracing_level(), tracing::Level::ERROR);
}

/// Bad inputs: each row fails at start with every problem named (snapshot of the messages).
#[test]
fn bad_inputs_are_reported_with_field_value_and_range() {
    let rows: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("unknown preset", vec![("CACHE_PRESET", "producton")]),
        (
            "invalid json",
            vec![("CACHE_CUSTOM_CONFIG", "{\"default_ttl\": ")],
        ),
        ("json not an object", vec![("CACHE_CUSTOM_CONFIG", "[1, 2]")]),
        (
            "unknown override key",
            vec![("CACHE_CUSTOM_CONFIG", r#"{"compresion_level": 3}"#)],
        ),
        (
            "wrong types",
            vec![(
                "CACHE_CUSTOM_CONFIG",
                r#"{"default_ttl": "an hour", "use_tls": "yes", "log_level": "LOUD", "hash_algorithm": "md5"}"#,
            )],
        ),
        (
            "out of range, all at once",
            vec![(
                "CACHE_CUSTOM_CONFIG",
                r#"{"default_ttl": 0, "compression_level": 12, "compression_threshold": 5, "memory_cache_size": 0, "max_connections": 1000, "connection_timeout": 0.1, "command_timeout": 0, "text_hash_threshold": 50, "max_text_length": 0}"#,
            )],
        ),
        (
            "ai settings",
            vec![(
                "CACHE_CUSTOM_CONFIG",
                r#"{"text_size_tiers": {"small": 500, "medium": 100, "large": 1000}, "operation_ttls": {"summarize": 30, "Bad Op": 600}}"#,
            )],
        ),
        (
            "bad booleans and environment",
            vec![
                ("ENABLE_AI_CACHE", "maybe"),
                ("REDIS_VERIFY_CERTIFICATES", "sure"),
                ("ENVIRONMENT", "moon"),
            ],
        ),
        (
            "missing tls files",
            vec![
                ("REDIS_TLS_CA_PATH", "/nonexistent/ca.pem"),
                ("REDIS_TLS_CERT_PATH", "/nonexistent/cert.pem"),
            ],
        ),
        ("acl password without user", vec![("REDIS_ACL_PASSWORD", "pw")]),
        ("url scheme", vec![("CACHE_REDIS_URL", "http://u:secret@h:1")]),
        ("no auth in development", vec![("CACHE_REDIS_URL", "redis://h:1")]),
        (
            "production without tls",
            vec![
                ("ENVIRONMENT", "production"),
                ("CACHE_REDIS_URL", "redis://:secret@h:1"),
            ],
        ),
        (
            "production without verification",
            vec![
                ("ENVIRONMENT", "prod"),
                ("CACHE_REDIS_URL", "rediss://:secret@h:1"),
                ("REDIS_VERIFY_CERTIFICATES", "false"),
            ],
        ),
        (
            "require tls",
            vec![
                ("ENVIRONMENT", "testing"),
                ("CACHE_REDIS_URL", "redis://h:1"),
                ("REDIS_SECURITY_REQUIRE_TLS", "true"),
            ],
        ),
        (
            "invalid encryption key",
            vec![("REDIS_ENCRYPTION_KEY", "not-a-key")],
        ),
        (
            "decompression limit out of range",
            vec![("CACHE_CUSTOM_CONFIG", r#"{"max_decompressed_size": 100}"#)],
        ),
        (
            "decompression limit not a number",
            vec![(
                "CACHE_CUSTOM_CONFIG",
                r#"{"max_decompressed_size": 4294967296.5}"#,
            )],
        ),
        (
            "unknown plaintext policy",
            vec![
                ("REDIS_ENCRYPTION_PLAINTEXT", "accept"),
                (
                    "CACHE_CUSTOM_CONFIG",
                    r#"{"encryption_plaintext_policy": "allow"}"#,
                ),
            ],
        ),
        (
            "plaintext migration without a key",
            vec![("REDIS_ENCRYPTION_PLAINTEXT", "migrate")],
        ),
        (
            "fleet invalidation settings out of range",
            vec![
                ("CACHE_FLEET_INVALIDATION", "sometimes"),
                ("CACHE_FLEET_DISCONNECTED_L1_TTL", "forever"),
            ],
        ),
        (
            "fleet staleness bound too long",
            vec![(
                "CACHE_CUSTOM_CONFIG",
                r#"{"fleet_disconnected_l1_ttl": 3600, "fleet_invalidation": "yes"}"#,
            )],
        ),
        (
            "fleet staleness bound zero",
            vec![("CACHE_FLEET_DISCONNECTED_L1_TTL", "0")],
        ),
        (
            "compute variables that do not parse",
            vec![
                ("CACHE_COMPUTE_MAX_WAIT", "soon"),
                ("CACHE_COMPUTE_LEASE", "-1"),
                ("CACHE_COMPUTE_POLL_INTERVAL", "fast"),
                ("CACHE_COMPUTE_TTL_JITTER", "a bit"),
                ("CACHE_COMPUTE_DISTRIBUTED", "everywhere"),
                ("CACHE_COMPUTE_ON_WAIT_TIMEOUT", "give_up"),
                ("CACHE_COMPUTE_EARLY_REFRESH", "often"),
                ("CACHE_COMPUTE_STALE_IF_ERROR", "forever"),
            ],
        ),
        (
            "compute settings out of range, all at once",
            vec![
                ("CACHE_COMPUTE_MAX_WAIT", "7200"),
                ("CACHE_COMPUTE_LEASE", "0.01"),
                ("CACHE_COMPUTE_POLL_INTERVAL", "5"),
                ("CACHE_COMPUTE_TTL_JITTER", "0.9"),
                ("CACHE_COMPUTE_NEGATIVE_TTL", "7200"),
                ("CACHE_COMPUTE_EARLY_REFRESH", "1000"),
                ("CACHE_COMPUTE_STALE_WHILE_REVALIDATE", "700000"),
            ],
        ),
        (
            "compute overrides of the wrong type",
            vec![(
                "CACHE_CUSTOM_CONFIG",
                r#"{"compute": {"lease": "long", "on_wait_timeout": "retry"}}"#,
            )],
        ),
        (
            "compute override not an object",
            vec![("CACHE_CUSTOM_CONFIG", r#"{"compute": 30, "default_ttl": 0}"#)],
        ),
    ];
    let mut report = String::new();
    for (name, vars) in rows {
        let err = resolve(&vars).expect_err(name);
        let text = err.to_string();
        assert!(!text.contains("secret"), "{name}: a secret leaked: {text}");
        report.push_str(&format!("## {name}\n{text}\n\n"));
    }
    insta::assert_snapshot!("bad_inputs", report);
}

#[test]
fn the_escape_hatch_waives_the_security_rules() {
    let vars = [("ENVIRONMENT", "production"), ("CACHE_REDIS_URL", "redis://h:1")];
    assert!(resolve(&vars).is_err());
    let c = resolve(&[vars[0], vars[1], ("REDIS_INSECURE_ALLOW_PLAINTEXT", "true")]).unwrap();
    assert!(c.insecure_allow_plaintext);
    // Credentials in the URL count as authentication; the testing environment needs none.
    resolve(&[("CACHE_REDIS_URL", "redis://:pw@h:1")]).unwrap();
    resolve(&[("ENVIRONMENT", "testing"), ("CACHE_REDIS_URL", "redis://h:1")]).unwrap();
    // No password is ever invented.
    let c = resolve(&[("ENVIRONMENT", "testing"), ("CACHE_REDIS_URL", "redis://h:1")]).unwrap();
    assert!(c.redis_password.is_none());
}

/// URL credentials, ACL and AUTH passwords and encryption keys never show in the configuration's
/// `Debug`, its JSON, or the messages of an invalid configuration.
#[test]
fn secrets_never_show() {
    let (key, older) = (
        stratacache_crypto::generate_key(),
        stratacache_crypto::generate_key(),
    );
    let secrets = [
        "url-s3cret",
        "acl-s3cret",
        "auth-s3cret",
        key.as_str(),
        older.as_str(),
    ];
    let keys = [
        ("REDIS_ENCRYPTION_KEY", key.as_str()),
        ("REDIS_ENCRYPTION_KEYS", older.as_str()),
    ];
    for vars in [
        vec![("CACHE_REDIS_URL", "redis://app:url-s3cret@h:1/2?protocol=resp3")],
        vec![("CACHE_REDIS_URL", "rediss://:url-s3cret@[::1]:6380")],
        vec![("CACHE_REDIS_URL", "redis://:url%2Ds3cret@h:1")],
        vec![
            ("CACHE_REDIS_URL", "redis://h:1"),
            ("REDIS_ACL_USERNAME", "app"),
            ("REDIS_ACL_PASSWORD", "acl-s3cret"),
        ],
        vec![("CACHE_REDIS_URL", "redis://h:1"), ("REDIS_AUTH", "auth-s3cret")],
        vec![(
            "CACHE_CUSTOM_CONFIG",
            r#"{"redis_url": "redis://:url-s3cret@h:1", "acl_username": "app", "acl_password": "acl-s3cret"}"#,
        )],
    ] {
        let all: Vec<_> = vars.iter().chain(&keys).copied().collect();
        let c = resolve(&all).unwrap();
        let mut shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        // An invalid configuration's messages (production rules, a bad override) too.
        let mut invalid = all.clone();
        invalid.push(("ENVIRONMENT", "production"));
        invalid.push((
            "CACHE_CUSTOM_CONFIG",
            r#"{"redis_url": "redis://:url-s3cret@h:port"}"#,
        ));
        shown.push_str(&resolve(&invalid).unwrap_err().to_string());
        if let Some(url) = &c.redis_url {
            shown.push_str(&format!("{url} {url:?} {}", url.redacted()));
        }
        for secret in secrets {
            assert!(!shown.contains(secret), "{vars:?}: {secret} shows in {shown}");
        }
        assert!(!shown.contains("url%2Ds3cret"), "{shown}");
    }
}

#[test]
fn use_tls_upgrades_the_url() {
    let c = resolve(&[
        ("ENVIRONMENT", "testing"),
        ("CACHE_REDIS_URL", "redis://h:1/2"),
        ("CACHE_CUSTOM_CONFIG", r#"{"use_tls": true}"#),
    ])
    .unwrap();
    assert_eq!(
        c.effective_redis_url().as_ref().map(|u| u.expose()),
        Some("rediss://h:1/2")
    );
    assert!(c.uses_tls());
}
