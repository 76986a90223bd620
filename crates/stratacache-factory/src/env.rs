//! Resolving a [`CacheConfig`] from the environment: a preset, then explicit environment
//! variables, then `CACHE_CUSTOM_CONFIG` overrides (each later source wins).

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::{CacheConfig, HashAlgorithm, LogLevel, PlaintextPolicy, TierSizes};
use crate::preset::{Environment, Preset};
use crate::problem::{ConfigError, Problem, suggestion};
use stratacache_core::{NAMESPACE_RULE, RedisUrl, Secret, redact_url};

/// An environment variable the factory reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    /// Its name.
    pub name: &'static str,
    /// What is accepted.
    pub accepted: &'static str,
    /// What it does.
    pub description: &'static str,
}

pub(crate) const BOOL: &str = "true/1/yes/on or false/0/no/off";

/// Every environment variable the factory reads, in documentation order.
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "CACHE_PRESET",
        accepted: "a preset name (default development)",
        description: "the starting configuration",
    },
    EnvVar {
        name: "CACHE_REDIS_URL",
        accepted: "redis:// or rediss:// URL",
        description: "Redis to use; unset: a memory-only cache",
    },
    EnvVar {
        name: "ENABLE_AI_CACHE",
        accepted: BOOL,
        description: "turns the AI response cache settings on or off",
    },
    EnvVar {
        name: "CACHE_CUSTOM_CONFIG",
        accepted: "a JSON object of override keys",
        description: "overrides applied last",
    },
    EnvVar {
        name: "ENVIRONMENT",
        accepted: "development, testing, staging, production (aliases: dev, local, test, ci, stage, preprod, uat, prod, live)",
        description: "decides the security rules and the recommended preset",
    },
    EnvVar {
        name: "REDIS_AUTH",
        accepted: "a password",
        description: "Redis password (AUTH)",
    },
    EnvVar {
        name: "REDIS_ACL_USERNAME",
        accepted: "an ACL user name",
        description: "Redis ACL user (requires REDIS_ACL_PASSWORD)",
    },
    EnvVar {
        name: "REDIS_ACL_PASSWORD",
        accepted: "a password",
        description: "the ACL user's password",
    },
    EnvVar {
        name: "REDIS_TLS_CERT_PATH",
        accepted: "an existing PEM file",
        description: "client certificate for mutual TLS",
    },
    EnvVar {
        name: "REDIS_TLS_KEY_PATH",
        accepted: "an existing PEM file",
        description: "client private key for mutual TLS",
    },
    EnvVar {
        name: "REDIS_TLS_CA_PATH",
        accepted: "an existing PEM file",
        description: "CA that signs the server certificate",
    },
    EnvVar {
        name: "REDIS_VERIFY_CERTIFICATES",
        accepted: BOOL,
        description: "verify the server certificate (default true; required in production)",
    },
    EnvVar {
        name: "REDIS_SECURITY_REQUIRE_TLS",
        accepted: BOOL,
        description: "require TLS in every environment",
    },
    EnvVar {
        name: "REDIS_INSECURE_ALLOW_PLAINTEXT",
        accepted: BOOL,
        description: "waive the authentication and TLS rules (logged loudly)",
    },
    EnvVar {
        name: "REDIS_ENCRYPTION_KEY",
        accepted: "44 characters of URL-safe base64 (32 bytes)",
        description: "encrypt values at rest (requires the crypto feature)",
    },
    EnvVar {
        name: "REDIS_ENCRYPTION_KEYS",
        accepted: "comma-separated older keys, optionally label=key",
        description: "older keys still accepted for reading (key rotation)",
    },
    EnvVar {
        name: "REDIS_ENCRYPTION_PLAINTEXT",
        accepted: "reject (default) or migrate; migrate requires REDIS_ENCRYPTION_KEY",
        description: "what reads do with values stored unencrypted: refuse them, or return them while a cache is migrated to encryption",
    },
    EnvVar {
        name: "CACHE_FLEET_INVALIDATION",
        accepted: BOOL,
        description: "announce every change on the namespace's invalidation channel and drop what other instances changed from the memory tier (default true)",
    },
    EnvVar {
        name: "CACHE_FLEET_DISCONNECTED_L1_TTL",
        accepted: "seconds, 0.01..=300",
        description: "how long memory-tier copies live while fleet invalidation is disconnected (default 5)",
    },
    EnvVar {
        name: "CACHE_COMPUTE_MAX_WAIT",
        accepted: "seconds, 0.001..=3600",
        description: "how long get_or_compute waits for another caller's computation of the same key before CACHE_COMPUTE_ON_WAIT_TIMEOUT applies (default 30)",
    },
    EnvVar {
        name: "CACHE_COMPUTE_ON_WAIT_TIMEOUT",
        accepted: "compute_self or fail",
        description: "what a caller does once it waited CACHE_COMPUTE_MAX_WAIT: replace the slow computation with its own (the others wait for that one), or fail with a timeout (default compute_self)",
    },
    EnvVar {
        name: "CACHE_COMPUTE_TTL_JITTER",
        accepted: "a fraction, 0..=0.5",
        description: "shortens the TTL of each entry get_or_compute stores by up to this fraction, at random, so that keys computed together do not expire together (default 0)",
    },
    EnvVar {
        name: "CACHE_COMPUTE_DISTRIBUTED",
        accepted: BOOL,
        description: "coalesce get_or_compute across processes: the computing one holds the key's lease on Redis and the others wait for its value (default true)",
    },
    EnvVar {
        name: "CACHE_COMPUTE_LEASE",
        accepted: "seconds, 0.1..=600",
        description: "how long a computing process's lease lasts unless renewed (it renews every third of it): a process that died is taken over after this (default 5)",
    },
    EnvVar {
        name: "CACHE_COMPUTE_POLL_INTERVAL",
        accepted: "seconds, 0.001..=1",
        description: "how often a process waiting for another's computation looks for the value, each wait jittered by ±50 % (default 0.002)",
    },
    EnvVar {
        name: "CACHE_COMPUTE_NEGATIVE_TTL",
        accepted: "seconds, 0..=3600",
        description: "negative caching, off at 0 (errors are never cached): how long a computation's error is stored and answered without computing (default 0)",
    },
    EnvVar {
        name: "CACHE_COMPUTE_EARLY_REFRESH",
        accepted: "a number, 0..=100",
        description: "XFetch β, off at 0 (1 is the paper's choice): refresh a value before it expires with a probability rising as expiry nears, weighted by its compute time (default 0)",
    },
    EnvVar {
        name: "CACHE_COMPUTE_STALE_WHILE_REVALIDATE",
        accepted: "seconds, 0..=604800",
        description: "stale-while-revalidate, off at 0: for how long past its TTL a value is still served while one caller refreshes it (default 0)",
    },
    EnvVar {
        name: "CACHE_COMPUTE_STALE_IF_ERROR",
        accepted: "seconds, 0..=604800",
        description: "stale-if-error, off at 0: for how long past its TTL a value is served when the computation or Redis fails, from this process's copies when Redis cannot be read (default 0)",
    },
];

/// A key of `CACHE_CUSTOM_CONFIG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverrideKey {
    /// The key.
    pub name: &'static str,
    /// What is accepted.
    pub accepted: &'static str,
    /// Whether the reference (Python) system documented it.
    pub reference: bool,
}

const fn key(name: &'static str, accepted: &'static str, reference: bool) -> OverrideKey {
    OverrideKey {
        name,
        accepted,
        reference,
    }
}

/// Every key accepted in `CACHE_CUSTOM_CONFIG` (the reference's, then stratacache's own).
pub const OVERRIDE_KEYS: &[OverrideKey] = &[
    key("redis_url", "redis:// or rediss:// URL, or null", true),
    key("redis_password", "a string, or null", true),
    key("use_tls", "true or false", true),
    key("tls_cert_path", "path of an existing file, or null", true),
    key("tls_key_path", "path of an existing file, or null", true),
    key("max_connections", "integer 1..=256", true),
    key("connection_timeout", "seconds, 1..=300", true),
    key("default_ttl", "integer seconds, 1..=604800", true),
    key("memory_cache_size", "integer 1..=1000000", true),
    key("compression_threshold", "integer bytes, 100..=100000", true),
    key("compression_level", "integer 1..=9", true),
    key("enable_ai_cache", "true or false", true),
    key("text_hash_threshold", "integer characters, 100..=10000", true),
    key("hash_algorithm", "\"blake3\" or \"sha256\"", true),
    key(
        "text_size_tiers",
        "{\"small\": n, \"medium\": n, \"large\": n}, ascending",
        true,
    ),
    key(
        "operation_ttls",
        "{\"operation\": seconds >= 60, ...}, merged into the preset's",
        true,
    ),
    key("enable_smart_promotion", "true or false", true),
    key("max_text_length", "integer characters, 1..=10000000", true),
    key("enable_monitoring", "true or false", true),
    key("log_level", "DEBUG, INFO, WARNING, ERROR or CRITICAL", true),
    key("acl_username", "a string, or null", false),
    key("acl_password", "a string, or null", false),
    key("tls_ca_path", "path of an existing file, or null", false),
    key("verify_certificates", "true or false", false),
    key("namespace", NAMESPACE_RULE, false),
    key("redis_database", "integer 0..=9999, or null", false),
    key("fail_on_connection_error", "true or false", false),
    key("enable_l1_cache", "true or false", false),
    key("command_timeout", "seconds, 0.01..=60", false),
    key("max_decompressed_size", "integer bytes, 1024..=4294967295", false),
    key(
        "encryption_plaintext_policy",
        "\"reject\" or \"migrate\" (migrate requires an encryption key)",
        false,
    ),
    key("fleet_invalidation", "true or false", false),
    key("fleet_disconnected_l1_ttl", "seconds, 0.01..=300", false),
    key(
        "compute",
        "{\"max_wait\": seconds 0.001..=3600, \"on_wait_timeout\": \"compute_self\" | \"fail\", \"ttl_jitter\": 0..=0.5, \"distributed\": true | false, \"lease\": seconds 0.1..=600, \"poll_interval\": seconds 0.001..=1}, merged into the current settings",
        false,
    ),
];

/// Parses a boolean environment value.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl CacheConfig {
    /// The configuration from the process environment (see [`from_env_with`](Self::from_env_with)).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// The configuration from the variables `lookup` returns: the preset `CACHE_PRESET` (default
    /// `development`), then the explicit variables of [`ENV_VARS`], then the `CACHE_CUSTOM_CONFIG`
    /// overrides, validated. Every problem is collected and reported at once.
    ///
    /// ```
    /// use stratacache_factory::{CacheConfig, Preset};
    ///
    /// let env = [
    ///     ("CACHE_PRESET", "simple"),
    ///     ("CACHE_CUSTOM_CONFIG", r#"{"compression_threshold": 500, "memory_cache_size": 2000}"#),
    /// ];
    /// let config = CacheConfig::from_env_with(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
    /// assert_eq!(config.preset, Preset::Simple);
    /// assert_eq!((config.compression_threshold, config.memory_cache_size), (500, 2000));
    ///
    /// let env = [("CACHE_PRESET", "simple"), ("CACHE_CUSTOM_CONFIG", r#"{"compresion_level": 3}"#)];
    /// let err = CacheConfig::from_env_with(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap_err();
    /// assert!(err.to_string().contains("did you mean `compression_level`?"));
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem: an unknown preset, unparsable variables, invalid
    /// JSON, unknown override keys, values out of range and security rules broken.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut problems = Vec::new();
        let preset = match get("CACHE_PRESET") {
            None => Preset::Development,
            Some(name) => name.parse::<Preset>().unwrap_or_else(|e| {
                problems.push(Problem::new("CACHE_PRESET", format!("{name:?}"), e.to_string()));
                Preset::Development
            }),
        };
        let mut config = Self::preset(preset);
        config.apply_env(&get, &mut problems);
        if let Some(json) = get("CACHE_CUSTOM_CONFIG") {
            config.apply_json(&json, &mut problems);
        }
        config.check(&mut problems);
        ConfigError::from_problems(problems).map(|()| config)
    }

    fn apply_env(&mut self, get: &impl Fn(&str) -> Option<String>, p: &mut Vec<Problem>) {
        let boolean = |name: &str, p: &mut Vec<Problem>| {
            let v = get(name)?;
            let parsed = parse_bool(&v);
            if parsed.is_none() {
                p.push(Problem::new(name, format!("{v:?}"), BOOL));
            }
            parsed
        };
        if let Some(url) = get("CACHE_REDIS_URL") {
            self.redis_url = Some(RedisUrl::new(url));
        }
        if let Some(ai) = boolean("ENABLE_AI_CACHE", p) {
            self.enable_ai_cache = ai;
        }
        if let Some(env) = get("ENVIRONMENT") {
            match Environment::parse(&env) {
                Some(e) => self.environment = e,
                None => p.push(Problem::new(
                    "ENVIRONMENT",
                    format!("{env:?}"),
                    "development, testing, staging or production (or an alias: dev, local, test, ci, stage, preprod, uat, prod, live)",
                )),
            }
        }
        if let Some(user) = get("REDIS_ACL_USERNAME") {
            self.acl_username = Some(user);
            if let Some(pw) = get("REDIS_ACL_PASSWORD") {
                self.redis_password = Some(Secret::new(pw));
            }
        } else if let Some(pw) = get("REDIS_AUTH") {
            self.redis_password = Some(Secret::new(pw));
        }
        if get("REDIS_ACL_USERNAME").is_none() && get("REDIS_ACL_PASSWORD").is_some() {
            p.push(Problem::new(
                "REDIS_ACL_PASSWORD",
                "set without REDIS_ACL_USERNAME",
                "REDIS_ACL_USERNAME and REDIS_ACL_PASSWORD together (or REDIS_AUTH alone)",
            ));
        }
        for (name, field) in [
            ("REDIS_TLS_CERT_PATH", &mut self.tls_cert_path),
            ("REDIS_TLS_KEY_PATH", &mut self.tls_key_path),
            ("REDIS_TLS_CA_PATH", &mut self.tls_ca_path),
        ] {
            if let Some(path) = get(name) {
                *field = Some(PathBuf::from(path));
            }
        }
        if let Some(v) = boolean("REDIS_VERIFY_CERTIFICATES", p) {
            self.verify_certificates = v;
        }
        if let Some(v) = boolean("REDIS_SECURITY_REQUIRE_TLS", p) {
            self.require_tls = v;
        }
        if let Some(v) = boolean("REDIS_INSECURE_ALLOW_PLAINTEXT", p) {
            self.insecure_allow_plaintext = v;
        }
        if let Some(k) = get("REDIS_ENCRYPTION_KEY") {
            self.encryption.key = Some(Secret::new(k));
        }
        if let Some(k) = get("REDIS_ENCRYPTION_KEYS") {
            self.encryption.older_keys = Some(Secret::new(k));
        }
        if let Some(v) = boolean("CACHE_FLEET_INVALIDATION", p) {
            self.fleet_invalidation = v;
        }
        if let Some(v) = get("CACHE_FLEET_DISCONNECTED_L1_TTL") {
            match v
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
            {
                Some(d) => self.fleet_disconnected_l1_ttl = d,
                None => p.push(Problem::new(
                    "CACHE_FLEET_DISCONNECTED_L1_TTL",
                    format!("{v:?}"),
                    "seconds, 0.01..=300",
                )),
            }
        }
        crate::compute::apply_env(&mut self.compute, get, p);
        if let Some(v) = get("REDIS_ENCRYPTION_PLAINTEXT") {
            match v.parse::<PlaintextPolicy>() {
                Ok(policy) => self.encryption.plaintext_policy = policy,
                Err(accepted) => p.push(Problem::new(
                    "REDIS_ENCRYPTION_PLAINTEXT",
                    format!("{v:?}"),
                    accepted,
                )),
            }
        }
    }

    /// The Redis settings of this configuration (`None` without a URL): the one mapping from the
    /// environment's vocabulary (`CACHE_REDIS_URL`, `REDIS_*`, `CACHE_CUSTOM_CONFIG`'s
    /// `redis_database`, `namespace`, `use_tls`, `verify_certificates`, timeouts, ...) to a
    /// [`RedisConfig`](stratacache_redis::RedisConfig). The factory connects with it, and so does
    /// the re-encryption pass ([`reencrypt_from_env`](crate::reencrypt_from_env)), so both
    /// reach the same database, namespace and server.
    ///
    /// ```
    /// use stratacache_factory::CacheConfig;
    ///
    /// let env = [
    ///     ("ENVIRONMENT", "testing"),
    ///     ("CACHE_REDIS_URL", "redis://cache:6379"),
    ///     ("CACHE_CUSTOM_CONFIG", r#"{"redis_database": 4, "namespace": "web", "use_tls": true}"#),
    /// ];
    /// let config = CacheConfig::from_env_with(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
    /// let redis = config.redis_config().unwrap();
    /// assert_eq!((redis.database, redis.namespace.as_str()), (Some(4), "web"));
    /// assert_eq!(redis.url.expose(), "rediss://cache:6379");
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis_config(&self) -> Option<stratacache_redis::RedisConfig> {
        let mut redis = stratacache_redis::RedisConfig::new(self.effective_redis_url()?);
        redis.namespace.clone_from(&self.namespace);
        redis.database = self.redis_database;
        redis.pool_size = self.max_connections as usize;
        redis.connect_timeout = self.connection_timeout;
        redis.command_timeout = self.command_timeout;
        redis.default_ttl = Some(self.default_ttl);
        redis.security.password.clone_from(&self.redis_password);
        redis.security.username.clone_from(&self.acl_username);
        let tls = &mut redis.security.tls;
        tls.ca_file.clone_from(&self.tls_ca_path);
        tls.client_cert_file.clone_from(&self.tls_cert_path);
        tls.client_key_file.clone_from(&self.tls_key_path);
        tls.verify_certificates = self.verify_certificates;
        redis.publish_invalidations = self.fleet_invalidation;
        Some(redis)
    }

    /// The key ring of the configured encryption keys (`REDIS_ENCRYPTION_KEY`, then the older
    /// `REDIS_ENCRYPTION_KEYS`); `None` without a key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) when a key does
    /// not parse (the key is never shown).
    #[cfg(feature = "crypto")]
    #[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
    pub fn key_ring(&self) -> stratacache_core::Result<Option<stratacache_crypto::KeyRing>> {
        use stratacache_crypto::{ENV_KEY, ENV_KEYS, KeyRing};
        KeyRing::from_env_with(|name| {
            let secret = match name {
                ENV_KEY => self.encryption.key.as_ref(),
                ENV_KEYS => self.encryption.older_keys.as_ref(),
                _ => None,
            };
            secret.map(|s| s.expose().to_owned())
        })
    }

    /// Applies a JSON object of override keys (the format of `CACHE_CUSTOM_CONFIG`), then
    /// validates the result.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem; `self` may be partly updated.
    pub fn apply_overrides(&mut self, json: &str) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        self.apply_json(json, &mut problems);
        self.check(&mut problems);
        ConfigError::from_problems(problems)
    }

    fn apply_json(&mut self, json: &str, p: &mut Vec<Problem>) {
        let map = match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                p.push(Problem::new(
                    "CACHE_CUSTOM_CONFIG",
                    format!("a JSON {}", json_type(&other)),
                    "a JSON object of override keys",
                ));
                return;
            }
            Err(e) => {
                // The position only: the text may hold secrets.
                p.push(Problem::new(
                    "CACHE_CUSTOM_CONFIG",
                    format!("invalid JSON ({e})"),
                    "a JSON object of override keys",
                ));
                return;
            }
        };
        self.apply_map(&map, p);
    }

    fn apply_map(&mut self, map: &Map<String, Value>, p: &mut Vec<Problem>) {
        for (name, value) in map {
            let Some(spec) = OVERRIDE_KEYS.iter().find(|k| k.name == name) else {
                let valid: Vec<&str> = OVERRIDE_KEYS.iter().map(|k| k.name).collect();
                p.push(Problem::new(
                    "CACHE_CUSTOM_CONFIG",
                    format!("unknown key {name:?}"),
                    format!(
                        "one of: {}{}",
                        valid.join(", "),
                        suggestion(name, valid.iter().copied())
                    ),
                ));
                continue;
            };
            let mut parsed = Override {
                name,
                value,
                accepted: spec.accepted,
                problems: p,
            };
            match spec.name {
                "redis_url" => set(&mut self.redis_url, parsed.get()),
                "redis_password" | "acl_password" => set(
                    &mut self.redis_password,
                    parsed.get::<Option<String>>().map(|v| v.map(Secret::new)),
                ),
                "acl_username" => set(&mut self.acl_username, parsed.get()),
                "use_tls" => set(&mut self.use_tls, parsed.get()),
                "tls_cert_path" => set(&mut self.tls_cert_path, parsed.get()),
                "tls_key_path" => set(&mut self.tls_key_path, parsed.get()),
                "tls_ca_path" => set(&mut self.tls_ca_path, parsed.get()),
                "verify_certificates" => set(&mut self.verify_certificates, parsed.get()),
                "max_connections" => set(&mut self.max_connections, parsed.get()),
                "connection_timeout" => set(&mut self.connection_timeout, parsed.seconds()),
                "command_timeout" => set(&mut self.command_timeout, parsed.seconds()),
                "default_ttl" => set(
                    &mut self.default_ttl,
                    parsed.get::<u64>().map(Duration::from_secs),
                ),
                "memory_cache_size" => set(&mut self.memory_cache_size, parsed.get()),
                "compression_threshold" => set(&mut self.compression_threshold, parsed.get()),
                "compression_level" => set(&mut self.compression_level, parsed.get()),
                "max_decompressed_size" => set(&mut self.max_decompressed_size, parsed.get()),
                "encryption_plaintext_policy" => set(
                    &mut self.encryption.plaintext_policy,
                    parsed.parse::<PlaintextPolicy>(),
                ),
                "enable_ai_cache" => set(&mut self.enable_ai_cache, parsed.get()),
                "text_hash_threshold" => set(&mut self.ai.text_hash_threshold, parsed.get()),
                "hash_algorithm" => set(&mut self.ai.hash_algorithm, parsed.parse::<HashAlgorithm>()),
                "text_size_tiers" => set(&mut self.ai.text_size_tiers, parsed.get::<TierSizes>()),
                "operation_ttls" => {
                    if let Some(ttls) = parsed.get::<std::collections::BTreeMap<String, f64>>() {
                        for (op, secs) in ttls {
                            match Duration::try_from_secs_f64(secs) {
                                Ok(d) => {
                                    self.ai.operation_ttls.insert(op, d);
                                }
                                Err(_) => parsed.problem(format!("operation_ttls.{op}"), secs.to_string()),
                            }
                        }
                    }
                }
                "enable_smart_promotion" => set(&mut self.ai.enable_smart_promotion, parsed.get()),
                "max_text_length" => set(&mut self.ai.max_text_length, parsed.get()),
                "enable_monitoring" => set(&mut self.enable_monitoring, parsed.get()),
                "log_level" => set(&mut self.log_level, parsed.parse::<LogLevel>()),
                "namespace" => set(&mut self.namespace, parsed.get()),
                "redis_database" => set(&mut self.redis_database, parsed.get()),
                "fail_on_connection_error" => set(&mut self.fail_on_connection_error, parsed.get()),
                "enable_l1_cache" => set(&mut self.enable_l1_cache, parsed.get()),
                "fleet_invalidation" => set(&mut self.fleet_invalidation, parsed.get()),
                "fleet_disconnected_l1_ttl" => set(&mut self.fleet_disconnected_l1_ttl, parsed.seconds()),
                "compute" => crate::compute::apply_override(&mut self.compute, value, spec.accepted, p),
                other => parsed.problem(other.to_owned(), "a key listed but not handled".to_owned()),
            }
        }
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One override being parsed; a failure is recorded as a problem naming the key.
struct Override<'a> {
    name: &'a str,
    value: &'a Value,
    accepted: &'static str,
    problems: &'a mut Vec<Problem>,
}

impl Override<'_> {
    /// The value shown in problems; secrets and URL passwords masked.
    fn shown(&self) -> String {
        match (self.name, self.value) {
            ("redis_password" | "acl_password", _) => "***".to_owned(),
            ("redis_url", Value::String(url)) => format!("{:?}", redact_url(url)),
            (_, v) => v.to_string(),
        }
    }

    fn problem(&mut self, field: String, value: String) {
        self.problems.push(Problem::new(field, value, self.accepted));
    }

    /// The value as `T`, or `None` with a problem recorded.
    fn get<T: DeserializeOwned>(&mut self) -> Option<T> {
        match T::deserialize(self.value) {
            Ok(v) => Some(v),
            Err(_) => {
                let (field, shown) = (self.name.to_owned(), self.shown());
                self.problem(field, shown);
                None
            }
        }
    }

    /// A string value parsed with `FromStr`.
    fn parse<T: std::str::FromStr>(&mut self) -> Option<T> {
        let parsed = self.value.as_str().and_then(|s| s.parse().ok());
        if parsed.is_none() {
            let (field, shown) = (self.name.to_owned(), self.shown());
            self.problem(field, shown);
        }
        parsed
    }

    /// A number of seconds.
    fn seconds(&mut self) -> Option<Duration> {
        let parsed = self
            .value
            .as_f64()
            .and_then(|s| Duration::try_from_secs_f64(s).ok());
        if parsed.is_none() {
            let (field, shown) = (self.name.to_owned(), self.shown());
            self.problem(field, shown);
        }
        parsed
    }
}

/// An encryption key needs the crypto feature, and must parse (part of
/// [`CacheConfig::validate`]: nothing is connected with a key that cannot be used).
pub(crate) fn check_encryption(config: &CacheConfig, p: &mut Vec<Problem>) {
    if !config.encryption.is_configured() {
        return;
    }
    #[cfg(not(feature = "crypto"))]
    p.push(Problem::new(
        "REDIS_ENCRYPTION_KEY",
        "set (value not shown)",
        "unset, or build stratacache-factory with the `crypto` feature \
         (features = [\"crypto\"]) so that values are encrypted; plaintext is never a fallback",
    ));
    #[cfg(feature = "crypto")]
    if let Err(e) = config.key_ring() {
        p.push(Problem::new(
            "REDIS_ENCRYPTION_KEY",
            "set (value not shown)",
            e.message().to_owned(),
        ));
    }
}
