//! [`AdminConfig`]: the API's keys and limits.

use std::time::Duration;

use stratacache_core::{Error, Result};
use stratacache_factory::Environment;

use crate::auth::ApiKeys;

/// The default [`AdminConfig::max_body_bytes`]: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The default [`AdminConfig::max_pattern_len`]: 256 characters.
pub const DEFAULT_MAX_PATTERN_LEN: usize = 256;
/// The shortest API key accepted outside development, in characters.
pub const MIN_API_KEY_LEN: usize = 16;
/// The environment variable that sets [`AdminConfig::require_auth_for_reads`] (`true`/`1`/`yes`/`on`
/// or `false`/`0`/`no`/`off`; default: on in staging and production, off in development and
/// testing). The server's `--require-auth-for-reads` flag wins over it.
pub const REQUIRE_AUTH_FOR_READS_VAR: &str = "API_REQUIRE_AUTH_FOR_READS";

/// The default [`AdminConfig::health_timeout`]: 80 ms (the health check's own default).
pub const DEFAULT_HEALTH_TIMEOUT: Duration = stratacache_factory::health::DEFAULT_TIMEOUT;

/// Settings of the admin API.
///
/// ```
/// use stratacache_admin::{AdminConfig, ApiKeys};
/// use stratacache_factory::Environment;
///
/// let config = AdminConfig {
///     keys: ApiKeys::new(["a-long-random-key".to_owned()]),
///     ..AdminConfig::default()
/// };
/// assert!(config.check(Environment::Production).is_ok());
/// // Without a key, only development and testing may run the API (open to anyone).
/// assert!(AdminConfig::default().check(Environment::Testing).is_ok());
/// assert!(AdminConfig::default().check(Environment::Staging).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// The accepted API keys ([`ApiKeys::from_env`] reads `API_KEY` and `ADDITIONAL_API_KEYS`).
    /// Empty: every request is allowed (development and testing only, see [`check`](Self::check)).
    pub keys: ApiKeys,
    /// Whether the read-only routes (status, statistics, metrics, health, OpenAPI) require a key
    /// too. Default `false` here: a key is optional on them, and a wrong key is refused.
    /// [`from_env_for`](Self::from_env_for) turns it on in staging and production unless
    /// [`REQUIRE_AUTH_FOR_READS_VAR`] says otherwise. The liveness answer
    /// (`GET /internal/cache/health/live`) never requires a key.
    pub require_auth_for_reads: bool,
    /// The largest accepted request body (the value of `PUT /internal/cache/entries/{key}`), in
    /// bytes; larger bodies are refused with 413 `PAYLOAD_TOO_LARGE`. Default 1 MiB.
    pub max_body_bytes: usize,
    /// The longest accepted invalidation pattern, in characters. Default 256.
    pub max_pattern_len: usize,
    /// The deadline of `GET /internal/cache/health` (ping, probe and statistics together).
    /// Default 80 ms.
    pub health_timeout: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            keys: ApiKeys::default(),
            require_auth_for_reads: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_pattern_len: DEFAULT_MAX_PATTERN_LEN,
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
        }
    }
}

impl AdminConfig {
    /// The defaults, with the keys of the process environment ([`ApiKeys::from_env`]).
    pub fn from_env() -> Self {
        Self {
            keys: ApiKeys::from_env(),
            ..Self::default()
        }
    }

    /// The settings of `environment` from `lookup` (the process environment, in the server):
    /// the keys of `API_KEY` and `ADDITIONAL_API_KEYS`, and [`require_auth_for_reads`](Self::require_auth_for_reads)
    /// from [`REQUIRE_AUTH_FOR_READS_VAR`], by default on in staging and production.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) naming
    /// [`REQUIRE_AUTH_FOR_READS_VAR`] when its value is not a boolean.
    pub fn from_env_for(environment: Environment, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let require_auth_for_reads = match lookup(REQUIRE_AUTH_FOR_READS_VAR) {
            Some(value) => parse_bool(&value).ok_or_else(|| {
                Error::configuration(format!(
                    "{REQUIRE_AUTH_FOR_READS_VAR} must be true/1/yes/on or false/0/no/off"
                ))
            })?,
            None => matches!(environment, Environment::Staging | Environment::Production),
        };
        Ok(Self {
            keys: ApiKeys::from_env_with(&lookup),
            require_auth_for_reads,
            ..Self::default()
        })
    }

    /// Checks the settings and the authentication rule of `environment`: without a key, the API
    /// may only run in development and testing (it is then open to anyone who can reach it, which
    /// is logged as a warning); staging and production refuse to start.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) listing every
    /// problem: no key in staging or production (naming `API_KEY`), a key shorter than
    /// [`MIN_API_KEY_LEN`] characters outside development (naming `API_KEY` and
    /// `ADDITIONAL_API_KEYS`), a zero limit or timeout.
    pub fn check(&self, environment: Environment) -> Result<()> {
        let mut problems = Vec::new();
        if self.keys.is_empty() {
            match environment {
                Environment::Development | Environment::Testing => tracing::warn!(
                    environment = environment.as_str(),
                    "no API key configured (API_KEY): the admin API is open to anyone who can \
                     reach it, including invalidation and entry writes"
                ),
                Environment::Staging | Environment::Production => problems.push(format!(
                    "no API key configured: set API_KEY (and optionally ADDITIONAL_API_KEYS, \
                     comma-separated) to run the admin API in {environment}"
                )),
            }
        }
        if environment != Environment::Development
            && self.keys.shortest_len().is_some_and(|n| n < MIN_API_KEY_LEN)
        {
            problems.push(format!(
                "an API key in API_KEY or ADDITIONAL_API_KEYS is shorter than {MIN_API_KEY_LEN} \
                 characters: use long random keys outside development (ENVIRONMENT={environment})"
            ));
        }
        if self.max_body_bytes == 0 {
            problems.push("max_body_bytes must be above zero".to_owned());
        }
        if self.max_pattern_len == 0 {
            problems.push("max_pattern_len must be above zero".to_owned());
        }
        if self.health_timeout.is_zero() {
            problems.push("health_timeout must be above zero".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::configuration(format!(
                "invalid admin API configuration: {}",
                problems.join("; ")
            )))
        }
    }
}

/// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`, any case.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use stratacache_core::ErrorKind;

    use super::*;

    #[test]
    fn without_a_key_only_development_and_testing_start() {
        let open = AdminConfig::default();
        for env in Environment::ALL {
            let result = open.check(env);
            match env {
                Environment::Development | Environment::Testing => assert!(result.is_ok()),
                _ => {
                    let err = result.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::Configuration);
                    assert!(err.to_string().contains("API_KEY"), "{err}");
                }
            }
        }
        let keyed = AdminConfig {
            keys: ApiKeys::new(["a-key-of-16-char".to_owned()]),
            ..AdminConfig::default()
        };
        for env in Environment::ALL {
            keyed.check(env).unwrap();
        }
    }

    #[test]
    fn short_keys_are_refused_outside_development() {
        let short = AdminConfig {
            keys: ApiKeys::new(["a-long-enough-key".to_owned(), "fifteen-chars!!".to_owned()]),
            ..AdminConfig::default()
        };
        for env in Environment::ALL {
            let result = short.check(env);
            if env == Environment::Development {
                result.unwrap();
            } else {
                let text = result.unwrap_err().to_string();
                assert!(text.contains("API_KEY") && text.contains("16"), "{env}: {text}");
                assert!(!text.contains("fifteen"), "{env}: the key shows: {text}");
            }
        }
    }

    #[test]
    fn reads_need_a_key_by_default_in_staging_and_production() {
        for env in Environment::ALL {
            let config = AdminConfig::from_env_for(env, |_| None).unwrap();
            let expected = matches!(env, Environment::Staging | Environment::Production);
            assert_eq!(config.require_auth_for_reads, expected, "{env}");
            for (value, wanted) in [("true", true), ("OFF", false), ("1", true), ("no", false)] {
                let config = AdminConfig::from_env_for(env, |name| {
                    (name == REQUIRE_AUTH_FOR_READS_VAR).then(|| value.to_owned())
                })
                .unwrap();
                assert_eq!(config.require_auth_for_reads, wanted, "{env} {value}");
            }
        }
        let err = AdminConfig::from_env_for(Environment::Production, |name| {
            (name == REQUIRE_AUTH_FOR_READS_VAR).then(|| "maybe".to_owned())
        })
        .unwrap_err();
        assert!(err.to_string().contains(REQUIRE_AUTH_FOR_READS_VAR), "{err}");
    }

    #[test]
    fn zero_limits_are_refused() {
        let config = AdminConfig {
            max_body_bytes: 0,
            max_pattern_len: 0,
            health_timeout: Duration::ZERO,
            ..AdminConfig::default()
        };
        let text = config.check(Environment::Testing).unwrap_err().to_string();
        for field in ["max_body_bytes", "max_pattern_len", "health_timeout"] {
            assert!(text.contains(field), "{text}");
        }
    }
}
