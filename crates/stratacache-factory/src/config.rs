//! [`CacheConfig`]: everything the factory needs to assemble a cache, as data.
//!
//! A configuration comes from a [`Preset`], then explicit environment variables,
//! then `CACHE_CUSTOM_CONFIG` overrides (see [`CacheConfig::from_env`]), and is checked in one
//! place, [`CacheConfig::validate`], which reports every problem at once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache_core::{RedisUrl, validate_namespace};

use crate::preset::{Environment, Preset, Strategy};
use crate::problem::{ConfigError, Problem};
use stratacache_core::Secret;

/// The accepted default TTL: 1 s to 7 days (the reference's preset range).
pub const DEFAULT_TTL_RANGE: (u64, u64) = (1, 604_800);
/// The accepted `max_connections`: 1 to 256 multiplexed connections.
pub const MAX_CONNECTIONS_RANGE: (u32, u32) = (1, 256);
/// The accepted `connection_timeout`, in seconds: 1 to 300.
pub const CONNECTION_TIMEOUT_RANGE: (u64, u64) = (1, 300);
/// The accepted `command_timeout`, in seconds: 0.01 to 60.
pub const COMMAND_TIMEOUT_RANGE: (f64, f64) = (0.01, 60.0);
/// The accepted `memory_cache_size` (entries): 1 to 1 000 000.
pub const MEMORY_CACHE_SIZE_RANGE: (u64, u64) = (1, 1_000_000);
/// The accepted `compression_threshold` (bytes): 100 to 100 000.
pub const COMPRESSION_THRESHOLD_RANGE: (usize, usize) = (100, 100_000);
/// The accepted `compression_level`: 1 to 9.
pub const COMPRESSION_LEVEL_RANGE: (u8, u8) = (1, 9);
/// The default `max_decompressed_size` (bytes): 8 MiB, as the compression layer's default;
/// above the admin API's largest request body (1 MiB by default), so every value written over
/// HTTP is stored compressed and read back.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 8 * 1024 * 1024;
/// The accepted `max_decompressed_size` (bytes): 1 KiB to 4 294 967 295 (the compression header
/// stores the length in four bytes).
pub const MAX_DECOMPRESSED_SIZE_RANGE: (usize, usize) = (1024, u32::MAX as usize);
/// The accepted `text_hash_threshold` (characters): 100 to 10 000.
pub const TEXT_HASH_THRESHOLD_RANGE: (usize, usize) = (100, 10_000);
/// The shortest accepted operation TTL: 60 s.
pub const MIN_OPERATION_TTL: u64 = 60;
/// The accepted `max_text_length` (characters): 1 to 10 000 000.
pub const MAX_TEXT_LENGTH_RANGE: (usize, usize) = (1, 10_000_000);

/// How long texts are hashed in AI keys (`hash_algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    /// Keyed BLAKE3 digests of text and options; no user text in keys (the hashed key scheme,
    /// the default).
    #[default]
    Blake3,
    /// The reference system's keys, byte for byte (SHA-256 of long texts, short texts verbatim):
    /// for sharing a Redis database with the Python system. Stores user text in keys.
    Sha256,
}

impl HashAlgorithm {
    /// Every accepted value.
    pub const ALL: [Self; 2] = [Self::Blake3, Self::Sha256];

    /// The configuration name (`"blake3"`, `"sha256"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Blake3 => "blake3",
            Self::Sha256 => "sha256",
        }
    }
}

impl FromStr for HashAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| "one of: blake3, sha256".to_owned())
    }
}

/// Log verbosity (`log_level`), the reference's names. The library never installs a logger; the
/// server binary and applications read it to set their `tracing` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    /// Everything, including per-request detail.
    Debug,
    /// Normal operation.
    Info,
    /// Problems that were handled.
    Warning,
    /// Failures only.
    Error,
    /// Severe failures only.
    Critical,
}

impl LogLevel {
    /// Every level, most verbose first.
    pub const ALL: [Self; 5] = [
        Self::Debug,
        Self::Info,
        Self::Warning,
        Self::Error,
        Self::Critical,
    ];

    /// The reference name (`"DEBUG"`, `"INFO"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warning => "WARNING",
            Self::Error => "ERROR",
            Self::Critical => "CRITICAL",
        }
    }

    /// The matching `tracing` level (`CRITICAL` is `ERROR`).
    pub const fn tracing_level(self) -> tracing::Level {
        match self {
            Self::Debug => tracing::Level::DEBUG,
            Self::Info => tracing::Level::INFO,
            Self::Warning => tracing::Level::WARN,
            Self::Error | Self::Critical => tracing::Level::ERROR,
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let s = if s.eq_ignore_ascii_case("warn") {
            "WARNING"
        } else {
            s
        };
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| "one of: DEBUG, INFO, WARNING, ERROR, CRITICAL".to_owned())
    }
}

/// The upper bounds, in characters, of the small, medium and large text tiers (`text_size_tiers`);
/// longer texts are extra large. Strictly ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSizes {
    /// Texts up to this many characters are small.
    pub small: usize,
    /// Texts up to this many characters are medium.
    pub medium: usize,
    /// Texts up to this many characters are large.
    pub large: usize,
}

/// Settings of the AI response cache (used when [`CacheConfig::enable_ai_cache`] is on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiSettings {
    /// Texts longer than this many characters are hashed in reference-scheme keys (100..=10000).
    pub text_hash_threshold: usize,
    /// The key scheme's hashing (see [`HashAlgorithm`]).
    pub hash_algorithm: HashAlgorithm,
    /// The text size tiers.
    pub text_size_tiers: TierSizes,
    /// TTL per AI operation (`summarize`, `sentiment`, ...), applied on write; at least 60 s
    /// each. Operations not listed use the cache's default TTL.
    #[serde(with = "secs_map")]
    pub operation_ttls: BTreeMap<String, Duration>,
    /// Whether reads served by Redis are promoted into the memory tier (`false`: the memory tier
    /// holds only what this process wrote).
    pub enable_smart_promotion: bool,
    /// The longest text accepted, in characters; longer texts are an input error.
    pub max_text_length: usize,
}

/// A map of durations written as seconds.
mod secs_map {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Secs(#[serde(with = "stratacache_core::serde_secs")] Duration);

    pub(super) fn serialize<S: Serializer>(
        map: &BTreeMap<String, Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        map.iter()
            .map(|(k, v)| (k, Secs(*v)))
            .collect::<BTreeMap<_, _>>()
            .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Duration>, D::Error> {
        let map = BTreeMap::<String, Secs>::deserialize(d)?;
        Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

/// What the encryption layer does with stored values that are not encrypted
/// (`REDIS_ENCRYPTION_PLAINTEXT`, override key `encryption_plaintext_policy`); the factory's name
/// for `stratacache_crypto::PlaintextPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaintextPolicy {
    /// A stored value that is not an encryption envelope is an `ErrorKind::Decryption` error,
    /// never returned (the default).
    #[default]
    Reject,
    /// For turning encryption on over a cache that holds unencrypted values: a stored value that
    /// does not start with the envelope's magic byte is returned as it is (counted in
    /// `legacy_plaintext_reads` and logged as a warning); envelopes that do not open are still
    /// errors, and every write is encrypted. Switch back to `reject` once
    /// `cargo xtask reencrypt --seal-plaintext` has sealed what is left.
    Migrate,
}

impl PlaintextPolicy {
    /// Every accepted value.
    pub const ALL: [Self; 2] = [Self::Reject, Self::Migrate];

    /// The configuration name (`"reject"`, `"migrate"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reject => "reject",
            Self::Migrate => "migrate",
        }
    }
}

impl FromStr for PlaintextPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| "reject or migrate".to_owned())
    }
}

/// Encryption keys, from `REDIS_ENCRYPTION_KEY` (the primary key) and `REDIS_ENCRYPTION_KEYS`
/// (older keys still accepted for reading), and what to do with unencrypted values
/// (`REDIS_ENCRYPTION_PLAINTEXT`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionSettings {
    /// The primary key (44 characters of URL-safe base64).
    pub key: Option<Secret>,
    /// Older keys, comma-separated, optionally labelled (see `stratacache_crypto::KeyRing`).
    pub older_keys: Option<Secret>,
    /// What reads do with stored values that are not encrypted (default `reject`); requires a
    /// key when `migrate`.
    #[serde(default)]
    pub plaintext_policy: PlaintextPolicy,
}

impl EncryptionSettings {
    /// Whether a key is configured.
    pub fn is_configured(&self) -> bool {
        self.key.is_some() || self.older_keys.is_some()
    }
}

/// The full configuration of a cache built by the [`CacheFactory`](crate::CacheFactory).
///
/// Field names are the reference system's override keys. Durations are seconds in JSON.
/// Secrets serialize as `"<redacted>"`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// The preset this configuration started from.
    pub preset: Preset,
    /// The preset's strategy (informational).
    pub strategy: Strategy,
    /// The deployment environment (`ENVIRONMENT`): decides the security rules.
    pub environment: Environment,
    /// `redis://` or `rediss://` URL; `None`: a memory-only cache. Held as a secret: `Debug` and
    /// serialization show it with its password replaced by `***`.
    pub redis_url: Option<RedisUrl>,
    /// Redis password (`REDIS_AUTH`, or the ACL user's password with `acl_username`).
    pub redis_password: Option<Secret>,
    /// Redis ACL user name (`REDIS_ACL_USERNAME`); requires a password.
    pub acl_username: Option<String>,
    /// Connect with TLS (turns a `redis://` URL into `rediss://`).
    pub use_tls: bool,
    /// Client certificate for mutual TLS (`REDIS_TLS_CERT_PATH`).
    pub tls_cert_path: Option<PathBuf>,
    /// Client private key for mutual TLS (`REDIS_TLS_KEY_PATH`).
    pub tls_key_path: Option<PathBuf>,
    /// CA certificate that signs the server's (`REDIS_TLS_CA_PATH`).
    pub tls_ca_path: Option<PathBuf>,
    /// Verify the server certificate (`REDIS_VERIFY_CERTIFICATES`, default `true`).
    pub verify_certificates: bool,
    /// Require TLS in every environment (`REDIS_SECURITY_REQUIRE_TLS`).
    pub require_tls: bool,
    /// Waive the authentication and TLS rules (`REDIS_INSECURE_ALLOW_PLAINTEXT`); logged as an
    /// error-level warning at every start.
    pub insecure_allow_plaintext: bool,
    /// Multiplexed Redis connections kept open (the pool size).
    pub max_connections: u32,
    /// Time allowed to connect to Redis, seconds.
    #[serde(with = "stratacache_core::serde_secs")]
    pub connection_timeout: Duration,
    /// Time allowed for one Redis reply, seconds (250 ms in the web presets, 500 ms in the AI
    /// ones). A reply that does not come in time fails over to the memory fallback at once, so
    /// this bounds what a hung Redis costs a request.
    #[serde(with = "stratacache_core::serde_secs")]
    pub command_timeout: Duration,
    /// TTL of entries written without one, seconds.
    #[serde(with = "stratacache_core::serde_secs")]
    pub default_ttl: Duration,
    /// Entries of the memory cache (or of the memory tier in front of Redis).
    pub memory_cache_size: u64,
    /// Whether a Redis cache has a memory tier (L1) in front of it (default `true`).
    pub enable_l1_cache: bool,
    /// Values larger than this many bytes are compressed.
    pub compression_threshold: usize,
    /// Compression level, 1 (fastest) to 9 (smallest).
    pub compression_level: u8,
    /// The largest value, in bytes, the compression layer decompresses: a stored value that
    /// declares more is an error, refused before anything is allocated for it (default 8 MiB).
    /// Longer values are written uncompressed, so they are still read back.
    pub max_decompressed_size: usize,
    /// Whether the AI response cache settings apply (`ENABLE_AI_CACHE`).
    pub enable_ai_cache: bool,
    /// AI response cache settings.
    pub ai: AiSettings,
    /// Whether operations are measured by a `MonitoringLayer`.
    pub enable_monitoring: bool,
    /// Log verbosity for the server and applications.
    pub log_level: LogLevel,
    /// Encryption at rest.
    pub encryption: EncryptionSettings,
    /// Fail at start when Redis cannot be reached, instead of degrading to memory.
    pub fail_on_connection_error: bool,
    /// Prefix of every Redis key this cache writes (`{namespace}:{key}`).
    pub namespace: String,
    /// Redis database index, when not in the URL.
    pub redis_database: Option<i64>,
    /// Fleet invalidation (`CACHE_FLEET_INVALIDATION`, default `true`): every write, deletion,
    /// invalidation and clear is announced on the namespace's channel, and the memory tier (L1)
    /// of a tiered cache drops what other instances changed. Needs `+publish +subscribe` and the
    /// channel `&stratacache:invalidate:<namespace>` for an ACL user (`docs/operations.md`).
    #[serde(default = "default_true")]
    pub fleet_invalidation: bool,
    /// The longest L1 copies live while fleet invalidation cannot hear the other instances
    /// (before the first subscription and after a dropped one), seconds
    /// (`CACHE_FLEET_DISCONNECTED_L1_TTL`, default 5): the staleness bound while disconnected.
    #[serde(
        default = "default_disconnected_l1_ttl",
        with = "stratacache_core::serde_secs"
    )]
    pub fleet_disconnected_l1_ttl: Duration,
    /// Compute-on-miss ([`BuiltCache::get_or_compute`](crate::BuiltCache::get_or_compute)): how
    /// long callers wait for another's computation and what they do then, the lease that
    /// coalesces computations across processes, and the TTL jitter of computed entries (the
    /// `compute` override key, `CACHE_COMPUTE_*` variables; default
    /// [`ComputeConfig::default`](stratacache_compute::ComputeConfig::default)). In JSON, an
    /// object with durations in seconds.
    #[serde(default)]
    pub compute: stratacache_compute::ComputeConfig,
}

/// The default [`CacheConfig::fleet_disconnected_l1_ttl`]: 5 s.
pub const DEFAULT_FLEET_DISCONNECTED_L1_TTL: Duration = Duration::from_secs(5);
/// Accepted [`CacheConfig::fleet_disconnected_l1_ttl`] values, seconds.
pub const FLEET_DISCONNECTED_L1_TTL_RANGE: (f64, f64) = (0.01, 300.0);

fn default_true() -> bool {
    true
}

fn default_disconnected_l1_ttl() -> Duration {
    DEFAULT_FLEET_DISCONNECTED_L1_TTL
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Serialization already hides secrets (passwords, keys, the URL's password) and redacts
        // nothing else.
        match serde_json::to_string(self) {
            Ok(json) => write!(f, "CacheConfig {json}"),
            Err(_) => f.write_str("CacheConfig { .. }"),
        }
    }
}

impl CacheConfig {
    /// The configuration of `preset` (no Redis URL, no secrets, development environment).
    pub fn preset(preset: Preset) -> Self {
        crate::preset::values(preset)
    }

    /// The Redis URL with `use_tls` applied (`redis://` becomes `rediss://`), if any.
    pub fn effective_redis_url(&self) -> Option<RedisUrl> {
        let url = self.redis_url.as_ref()?;
        Some(if self.use_tls { url.with_tls() } else { url.clone() })
    }

    /// Whether connections to Redis use TLS.
    pub fn uses_tls(&self) -> bool {
        self.effective_redis_url().is_some_and(|u| u.uses_tls())
    }

    /// Whether Redis authentication is configured (a password setting or credentials in the URL).
    pub fn has_authentication(&self) -> bool {
        self.redis_password.is_some() || self.redis_url.as_ref().is_some_and(RedisUrl::has_password)
    }

    /// Whether this configuration builds a memory-only cache: the `disabled` preset, or no URL.
    pub fn is_memory_only(&self) -> bool {
        self.preset == Preset::Disabled || self.redis_url.is_none()
    }

    /// Checks every setting, and the security rules of the environment, and reports all problems
    /// at once, each with the setting, the value and what is accepted. Secrets are never echoed.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        self.check(&mut problems);
        ConfigError::from_problems(problems)
    }

    pub(crate) fn check(&self, p: &mut Vec<Problem>) {
        range(
            p,
            "default_ttl",
            self.default_ttl.as_secs(),
            DEFAULT_TTL_RANGE,
            "s",
        );
        if self.default_ttl.subsec_nanos() != 0 {
            p.push(Problem::new(
                "default_ttl",
                format!("{:?}", self.default_ttl),
                "whole seconds",
            ));
        }
        range(
            p,
            "max_connections",
            self.max_connections,
            MAX_CONNECTIONS_RANGE,
            "",
        );
        let timeout = self.connection_timeout.as_secs_f64();
        if !(CONNECTION_TIMEOUT_RANGE.0 as f64..=CONNECTION_TIMEOUT_RANGE.1 as f64).contains(&timeout) {
            p.push(Problem::new(
                "connection_timeout",
                format!("{timeout}"),
                format!(
                    "{}..={} s",
                    CONNECTION_TIMEOUT_RANGE.0, CONNECTION_TIMEOUT_RANGE.1
                ),
            ));
        }
        let timeout = self.command_timeout.as_secs_f64();
        if !(COMMAND_TIMEOUT_RANGE.0..=COMMAND_TIMEOUT_RANGE.1).contains(&timeout) {
            p.push(Problem::new(
                "command_timeout",
                format!("{timeout}"),
                format!("{}..={} s", COMMAND_TIMEOUT_RANGE.0, COMMAND_TIMEOUT_RANGE.1),
            ));
        }
        let bound = self.fleet_disconnected_l1_ttl.as_secs_f64();
        if !(FLEET_DISCONNECTED_L1_TTL_RANGE.0..=FLEET_DISCONNECTED_L1_TTL_RANGE.1).contains(&bound) {
            p.push(Problem::new(
                "fleet_disconnected_l1_ttl",
                format!("{bound}"),
                format!(
                    "{}..={} s",
                    FLEET_DISCONNECTED_L1_TTL_RANGE.0, FLEET_DISCONNECTED_L1_TTL_RANGE.1
                ),
            ));
        }
        range(
            p,
            "memory_cache_size",
            self.memory_cache_size,
            MEMORY_CACHE_SIZE_RANGE,
            "",
        );
        range(
            p,
            "compression_threshold",
            self.compression_threshold,
            COMPRESSION_THRESHOLD_RANGE,
            "",
        );
        range(
            p,
            "compression_level",
            self.compression_level,
            COMPRESSION_LEVEL_RANGE,
            "",
        );
        range(
            p,
            "max_decompressed_size",
            self.max_decompressed_size,
            MAX_DECOMPRESSED_SIZE_RANGE,
            "bytes",
        );
        if self.encryption.plaintext_policy == PlaintextPolicy::Migrate && !self.encryption.is_configured() {
            p.push(Problem::new(
                "encryption_plaintext_policy",
                "migrate without REDIS_ENCRYPTION_KEY",
                "reject, or migrate together with REDIS_ENCRYPTION_KEY (migrate reads values \
                 stored before encryption was turned on)",
            ));
        }
        self.check_ai(p);
        crate::compute::check(&self.compute, p);
        self.check_redis(p);
        crate::env::check_encryption(self, p);
        if let Err(e) = validate_namespace(&self.namespace) {
            p.push(Problem::new("namespace", e.value(), e.accepted()));
        }
        if let Some(db) = self.redis_database
            && !(0..=9999).contains(&db)
        {
            p.push(Problem::new("redis_database", db.to_string(), "0..=9999"));
        }
    }

    fn check_ai(&self, p: &mut Vec<Problem>) {
        let ai = &self.ai;
        range(
            p,
            "text_hash_threshold",
            ai.text_hash_threshold,
            TEXT_HASH_THRESHOLD_RANGE,
            "",
        );
        range(
            p,
            "max_text_length",
            ai.max_text_length,
            MAX_TEXT_LENGTH_RANGE,
            "",
        );
        let t = ai.text_size_tiers;
        if !(0 < t.small && t.small < t.medium && t.medium < t.large) {
            p.push(Problem::new(
                "text_size_tiers",
                format!("{{small: {}, medium: {}, large: {}}}", t.small, t.medium, t.large),
                "0 < small < medium < large",
            ));
        }
        for (op, ttl) in &ai.operation_ttls {
            let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
            if op.is_empty() || op.len() > 64 || !op.chars().all(valid_char) {
                p.push(Problem::new(
                    "operation_ttls",
                    format!("{op:?}"),
                    "operation names of 1..=64 characters from [a-z0-9_-]",
                ));
            }
            if ttl.as_secs() < MIN_OPERATION_TTL || ttl.as_secs() > DEFAULT_TTL_RANGE.1 {
                p.push(Problem::new(
                    format!("operation_ttls.{op}"),
                    format!("{}", ttl.as_secs_f64()),
                    format!("{MIN_OPERATION_TTL}..={} s", DEFAULT_TTL_RANGE.1),
                ));
            }
        }
    }

    fn check_redis(&self, p: &mut Vec<Problem>) {
        if self.acl_username.is_some() && self.redis_password.is_none() {
            p.push(Problem::new(
                "acl_username",
                format!("{:?}", self.acl_username.as_deref().unwrap_or_default()),
                "an ACL user name requires a password (REDIS_ACL_PASSWORD)",
            ));
        }
        for (name, path) in [
            ("tls_cert_path", &self.tls_cert_path),
            ("tls_key_path", &self.tls_key_path),
            ("tls_ca_path", &self.tls_ca_path),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                p.push(Problem::new(
                    name,
                    path.display().to_string(),
                    "an existing, readable file",
                ));
            }
        }
        if self.tls_cert_path.is_some() != self.tls_key_path.is_some() {
            p.push(Problem::new(
                "tls_cert_path",
                "only one of tls_cert_path and tls_key_path".to_owned(),
                "both (mutual TLS) or neither",
            ));
        }
        let Some(url) = self.effective_redis_url() else {
            return;
        };
        if let Err(e) = url.parse() {
            p.push(Problem::new(
                "redis_url",
                format!("{url} ({e})"),
                "a redis:// or rediss:// URL: [user[:password]@]host[:port][/database]",
            ));
            return;
        }
        if self.is_memory_only() {
            return;
        }
        self.check_security(p, &url);
    }

    /// The reference system's security rules by environment.
    fn check_security(&self, p: &mut Vec<Problem>, url: &RedisUrl) {
        let env = self.environment;
        if env == Environment::Production && self.uses_tls() && !self.verify_certificates {
            p.push(Problem::new(
                "verify_certificates",
                "false (environment production)".to_owned(),
                "true in production",
            ));
        }
        if self.insecure_allow_plaintext {
            return;
        }
        if env != Environment::Testing && !self.has_authentication() {
            p.push(Problem::new(
                "redis_password",
                format!("none (environment {})", env.as_str()),
                "a password outside testing: set REDIS_AUTH (or REDIS_ACL_USERNAME and \
                 REDIS_ACL_PASSWORD, or credentials in the URL); REDIS_INSECURE_ALLOW_PLAINTEXT=true \
                 waives this for local development",
            ));
        }
        let tls_required = self.require_tls || matches!(env, Environment::Staging | Environment::Production);
        if tls_required && !self.uses_tls() {
            let why = if self.require_tls {
                "REDIS_SECURITY_REQUIRE_TLS".to_owned()
            } else {
                format!("environment {}", env.as_str())
            };
            p.push(Problem::new(
                "use_tls",
                format!("false for {url} ({why})"),
                "TLS: a rediss:// URL or use_tls=true",
            ));
        }
    }
}

fn range<T: PartialOrd + fmt::Display + Copy>(
    p: &mut Vec<Problem>,
    name: &str,
    v: T,
    (lo, hi): (T, T),
    unit: &str,
) {
    if v < lo || v > hi {
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        p.push(Problem::new(name, v.to_string(), format!("{lo}..={hi}{unit}")));
    }
}
