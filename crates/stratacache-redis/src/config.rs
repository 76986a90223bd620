//! [`RedisConfig`]: every setting of a [`RedisCache`](crate::RedisCache), validated in one place.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use stratacache_core::{Error, Expiry, Result, validate_namespace};
pub use stratacache_core::{RedisUrl, Secret, redact_url};

/// The lowest TLS version the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2 or 1.3 (the reference default).
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}

/// TLS settings. TLS is on when the URL is `rediss://`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsConfig {
    /// PEM file of the CA(s) that sign the server's certificate. Without it, the system's trusted
    /// roots are used.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate, for mutual TLS (requires `client_key_file`).
    pub client_cert_file: Option<PathBuf>,
    /// PEM file of the client's private key, for mutual TLS (requires `client_cert_file`).
    pub client_key_file: Option<PathBuf>,
    /// Verify the server's certificate chain and host name (default `true`). Turning it off
    /// accepts any server: it is logged as a warning at every connect.
    pub verify_certificates: bool,
    /// The lowest accepted TLS version (default 1.2). With 1.3, a handshake limited to TLS 1.3 is
    /// made at connect time, and rustls's downgrade protection keeps later handshakes at 1.3.
    pub min_version: TlsVersion,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            verify_certificates: true,
            min_version: TlsVersion::Tls12,
        }
    }
}

/// Authentication and transport security.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SecurityConfig {
    /// The password: `AUTH <password>`, or with `username`, the ACL user's password.
    pub password: Option<Secret>,
    /// The ACL user name (`AUTH <username> <password>`); requires `password`.
    pub username: Option<String>,
    /// TLS settings, used when the URL is `rediss://`.
    pub tls: TlsConfig,
}

impl fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("username", &self.username)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Retries of operations whose connection broke or could not be opened.
///
/// A cache must give up sooner than the work it saves, so retries are bounded by time as well as
/// by number: a retry starts only if the time since the operation began plus the backoff stays
/// within [`budget`](Self::budget), and no operation ever takes longer than
/// [`RedisConfig::command_timeout`] plus the budget. Timeouts are never retried (the server is
/// hung or overloaded), and a command whose reply reports its effect (`DEL`'s count, a
/// compare-and-set) is retried only when it was never sent, so a retry cannot misreport it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Retries after the first attempt, `0..=10` (default 3, as the reference).
    pub max_retries: u32,
    /// Wait before the first retry (default 10 ms), doubled at each retry.
    #[serde(with = "stratacache_core::serde_secs")]
    pub initial_backoff: Duration,
    /// Longest wait between two attempts (default 100 ms).
    #[serde(with = "stratacache_core::serde_secs")]
    pub max_backoff: Duration,
    /// Total time an operation may spend on retries, backoff included, `0..=60 s`
    /// (default 50 ms): a dead server is reported within about this long.
    #[serde(with = "stratacache_core::serde_secs")]
    pub budget: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            budget: Duration::from_millis(50),
        }
    }
}

/// Settings of a [`RedisCache`](crate::RedisCache). Durations are seconds in JSON.
///
/// ```
/// use stratacache_redis::RedisConfig;
///
/// let config: RedisConfig = serde_json::from_str(r#"{
///     "url": "rediss://cache.internal:6380",
///     "namespace": "web",
///     "pool_size": 8,
///     "command_timeout": 0.5,
///     "security": { "username": "app", "password": "s3cret", "tls": { "ca_file": "/etc/ca.pem" } }
/// }"#).unwrap();
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// `redis://[user[:password]@]host[:port][/db]` or `rediss://...` for TLS (see
    /// [`RedisUrl::parse`] for what is accepted). Held as a secret: `Debug` shows it with its
    /// password replaced by `***`.
    pub url: RedisUrl,
    /// Prefix of every key this cache writes (`{namespace}:{key}`); `clear` and
    /// `invalidate_pattern` never touch keys outside it. 1..=64 bytes, without `:` or control
    /// characters ([`validate_namespace`]): a `:` would nest namespaces (clearing `app` would
    /// delete `app:v2`'s keys).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The database index; may also be given in the URL path (they must agree).
    #[serde(default)]
    pub database: Option<i64>,
    /// Multiplexed connections kept open, `1..=256` (default 2). Each one pipelines the commands
    /// of every task using it, so a few are enough; more help on many-core clients and servers
    /// with I/O threads, and isolate slow replies (large values) from other traffic.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Time allowed to open a connection, TLS and AUTH included (default 5 s).
    #[serde(default = "default_connect_timeout", with = "stratacache_core::serde_secs")]
    pub connect_timeout: Duration,
    /// Time allowed for one command's reply (default 250 ms). Separate from
    /// [`connect_timeout`](Self::connect_timeout): a cache that waits longer for a reply than the
    /// work it saves is worse than none. A reply that does not come in time fails the operation
    /// with [`ErrorKind::Timeout`](stratacache_core::ErrorKind::Timeout), and is not retried.
    #[serde(default = "default_command_timeout", with = "stratacache_core::serde_secs")]
    pub command_timeout: Duration,
    /// Retries of temporary failures.
    #[serde(default)]
    pub retry: RetryConfig,
    /// TTL of entries written with `Ttl::Default` (`None`: they never expire).
    #[serde(default, with = "stratacache_core::serde_secs::option")]
    pub default_ttl: Option<Duration>,
    /// `COUNT` hint of each `SCAN` step of pattern invalidation, `1..=100000` (default 500).
    #[serde(default = "default_scan_count")]
    pub scan_count: u32,
    /// Authentication and TLS.
    #[serde(default)]
    pub security: SecurityConfig,
    /// Whether every write, removal, invalidation and clear also announces what it changed on
    /// the namespace's fleet invalidation channel, so that other instances' memory tiers drop
    /// their copies: once the change's command returned (or failed, or was cancelled), its keys
    /// are queued, and a background task publishes what is queued in batches (group commit: at
    /// most one pipeline of `PUBLISH`es per round trip and per millisecond). Default `false`; see
    /// [`fleet`](crate::fleet) and `docs/adr/0003-fleet-invalidation-pubsub.md`.
    #[serde(default)]
    pub publish_invalidations: bool,
}

fn default_namespace() -> String {
    "stratacache".to_owned()
}
const fn default_pool_size() -> usize {
    2
}
const fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
const fn default_command_timeout() -> Duration {
    Duration::from_millis(250)
}
const fn default_scan_count() -> u32 {
    500
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url)
            .field("namespace", &self.namespace)
            .field("database", &self.database)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("retry", &self.retry)
            .field("default_ttl", &self.default_ttl)
            .field("scan_count", &self.scan_count)
            .field("security", &self.security)
            .field("publish_invalidations", &self.publish_invalidations)
            .finish()
    }
}

/// Largest accepted database index. Servers reject indexes at or above their `databases` setting
/// (16 by default) at connect time.
pub const MAX_DATABASE: i64 = 9999;

impl RedisConfig {
    /// A configuration for `url` with every other setting at its default.
    pub fn new(url: impl Into<RedisUrl>) -> Self {
        Self {
            url: url.into(),
            namespace: default_namespace(),
            database: None,
            pool_size: default_pool_size(),
            connect_timeout: default_connect_timeout(),
            command_timeout: default_command_timeout(),
            retry: RetryConfig::default(),
            default_ttl: None,
            scan_count: default_scan_count(),
            security: SecurityConfig::default(),
            publish_invalidations: false,
        }
    }

    /// Whether connections use TLS (the URL is `rediss://`).
    pub fn uses_tls(&self) -> bool {
        self.url.uses_tls()
    }

    /// Checks every setting and reports all problems at once; secrets are never echoed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) listing each
    /// invalid setting with its value and the accepted range, and each contradiction between the
    /// URL and the explicit settings.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, problem: String| {
            if !ok {
                problems.push(problem);
            }
        };
        let url = self.url.redacted();
        match self.url.parse() {
            Err(e) => check(false, format!("url {url:?} {e}")),
            Ok(parts) => {
                if let (Some(db), Some(url_db)) = (self.database, parts.database) {
                    check(
                        db == url_db,
                        format!("database = {db} contradicts the url's database /{url_db}"),
                    );
                }
                if let (Some(user), Some(url_user)) = (&self.security.username, &parts.username) {
                    check(
                        user == url_user,
                        format!("security.username = {user:?} contradicts the url's user {url_user:?}"),
                    );
                }
                check(
                    !(parts.has_password && self.security.password.is_some()),
                    "the password is given both in the url and in security.password: keep one".to_owned(),
                );
                let tls = &self.security.tls;
                let tls_files =
                    tls.ca_file.is_some() || tls.client_cert_file.is_some() || tls.client_key_file.is_some();
                check(
                    parts.tls || !tls_files,
                    format!(
                        "security.tls files are set but the url {url:?} is redis:// (use rediss:// for TLS)"
                    ),
                );
                check(
                    parts.tls || tls.min_version == TlsVersion::Tls12,
                    "security.tls.min_version = 1.3 needs a rediss:// url".to_owned(),
                );
            }
        }
        if let Err(e) = validate_namespace(&self.namespace) {
            check(false, e.to_string());
        }
        if let Some(db) = self.database {
            check(
                (0..=MAX_DATABASE).contains(&db),
                format!("database = {db} is out of range (accepted: 0..={MAX_DATABASE})"),
            );
        }
        check(
            (1..=256).contains(&self.pool_size),
            format!(
                "pool_size = {} is out of range (accepted: 1..=256)",
                self.pool_size
            ),
        );
        for (name, d, max) in [
            ("connect_timeout", self.connect_timeout, Duration::from_secs(300)),
            ("command_timeout", self.command_timeout, Duration::from_secs(300)),
            (
                "retry.max_backoff",
                self.retry.max_backoff,
                Duration::from_secs(60),
            ),
        ] {
            check(
                d >= Duration::from_millis(1) && d <= max,
                format!(
                    "{name} = {d:?} is out of range (accepted: 1ms..={}s)",
                    max.as_secs()
                ),
            );
        }
        check(
            self.retry.initial_backoff <= self.retry.max_backoff,
            format!(
                "retry.initial_backoff = {:?} is above retry.max_backoff = {:?}",
                self.retry.initial_backoff, self.retry.max_backoff
            ),
        );
        check(
            self.retry.budget <= Duration::from_secs(60),
            format!(
                "retry.budget = {:?} is out of range (accepted: 0s..=60s)",
                self.retry.budget
            ),
        );
        check(
            self.retry.max_retries <= 10,
            format!(
                "retry.max_retries = {} is out of range (accepted: 0..=10)",
                self.retry.max_retries
            ),
        );
        check(
            (1..=100_000).contains(&self.scan_count),
            format!(
                "scan_count = {} is out of range (accepted: 1..=100000)",
                self.scan_count
            ),
        );
        if let Some(ttl) = self.default_ttl
            && let Err(e) = Expiry::checked(ttl, "default_ttl")
        {
            check(
                false,
                format!("{} (accepted: 1ms..=100 years, or none)", e.message()),
            );
        }
        let sec = &self.security;
        check(
            sec.username.is_none() || sec.password.is_some() || self.url.has_password(),
            "security.username is set without a password (an ACL user needs security.password)".to_owned(),
        );
        check(
            sec.tls.client_cert_file.is_some() == sec.tls.client_key_file.is_some(),
            "security.tls.client_cert_file and client_key_file must be given together (mutual TLS)"
                .to_owned(),
        );
        for (name, path) in [
            ("security.tls.ca_file", &sec.tls.ca_file),
            ("security.tls.client_cert_file", &sec.tls.client_cert_file),
            ("security.tls.client_key_file", &sec.tls.client_key_file),
        ] {
            if let Some(path) = path {
                check(
                    path.is_file(),
                    format!("{name} = {} does not exist or is not a file", path.display()),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::configuration(format!(
                "invalid Redis configuration: {}",
                problems.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests;
