//! [`RedisUrl`]: a Redis URL that may carry a password, held as a secret; and [`redact_url`].
//!
//! Redis URLs are parsed and redacted here and nowhere else, with the [`url`] crate: the parser
//! redis-rs itself uses, so what is redacted is exactly what the client would send as a password.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::Secret;

/// What replaces a password in a redacted URL.
pub const REDACTED_PASSWORD: &str = "***";

/// What a URL that does not parse is shown as: without a parse, nothing tells where a password
/// would be, so none of it is shown.
pub const UNPARSABLE_URL: &str = "<redacted: not a valid URL>";

/// Query parameters that carry a password in some client URL forms (redis-rs reads `pass` from
/// `unix://` URLs); their values are redacted too.
const SECRET_QUERY_KEYS: [&str; 3] = ["pass", "password", "auth"];

/// `url` with any password replaced by `***`, safe for logs, errors and responses:
/// `redis://user:pw@host:6379/0` becomes `redis://user:***@host:6379/0`. A string that does not
/// parse as a URL is shown as [`UNPARSABLE_URL`].
///
/// ```
/// use stratacache_core::redact_url;
///
/// assert_eq!(redact_url("rediss://app:s3cret@cache:6380/2"), "rediss://app:***@cache:6380/2");
/// assert_eq!(redact_url("redis://:s3cret@cache"), "redis://:***@cache");
/// assert_eq!(redact_url("redis://:p%40ss@[::1]:6379/0?protocol=resp3"), "redis://:***@[::1]:6379/0?protocol=resp3");
/// assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
/// assert_eq!(redact_url("redis://cache:s3cret"), "<redacted: not a valid URL>");
/// ```
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url.trim()) else {
        return UNPARSABLE_URL.to_owned();
    };
    if parsed.password().is_some() && parsed.set_password(Some(REDACTED_PASSWORD)).is_err() {
        return UNPARSABLE_URL.to_owned();
    }
    let secret_query = parsed
        .query_pairs()
        .any(|(k, _)| SECRET_QUERY_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s)));
    if secret_query {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let secret = SECRET_QUERY_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s));
                let v = if secret { REDACTED_PASSWORD.into() } else { v };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.into()
}

/// The parts of a [`RedisUrl`] that settings may contradict (see [`RedisUrl::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisUrlParts {
    /// The URL is `rediss://` (TLS).
    pub tls: bool,
    /// The host: a name, an IPv4 address, or an IPv6 address in brackets.
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
    /// The user name (percent-decoded), when given.
    pub username: Option<String>,
    /// Whether the URL carries a non-empty password.
    pub has_password: bool,
    /// The database index of the path (`/2`), when given.
    pub database: Option<i64>,
}

/// A `redis://` or `rediss://` URL, which may carry a password: held as a [`Secret`] (wiped on
/// drop), and shown by `Debug`, `Display` and serialization with its password replaced by `***`
/// (see [`redact_url`]). Deserializes from a plain string; [`parse`](Self::parse) checks it.
///
/// ```
/// use stratacache_core::RedisUrl;
///
/// let url = RedisUrl::new("redis://:hunter2@cache:6379/3");
/// assert_eq!(url.expose(), "redis://:hunter2@cache:6379/3");
/// assert_eq!(format!("{url} {url:?}"), r#"redis://:***@cache:6379/3 RedisUrl("redis://:***@cache:6379/3")"#);
/// assert_eq!(serde_json::to_string(&url).unwrap(), r#""redis://:***@cache:6379/3""#);
/// let parts = url.parse().unwrap();
/// assert!(parts.has_password && !parts.tls);
/// assert_eq!(parts.database, Some(3));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(Secret);

impl RedisUrl {
    /// Wraps a URL (surrounding whitespace removed). It is checked by [`parse`](Self::parse), not
    /// here.
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        let trimmed = url.trim();
        if trimmed.len() == url.len() {
            Self(Secret::new(url))
        } else {
            Self(Secret::new(trimmed))
        }
    }

    /// The URL itself, password included: for the client only, never for logs or messages.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The URL with its password replaced by `***` (see [`redact_url`]).
    pub fn redacted(&self) -> String {
        redact_url(self.expose())
    }

    /// Whether the scheme is `rediss://` (TLS).
    pub fn uses_tls(&self) -> bool {
        self.expose().starts_with("rediss://")
    }

    /// This URL with TLS: `redis://` becomes `rediss://`; any other URL is returned as is.
    #[must_use]
    pub fn with_tls(&self) -> Self {
        match self.expose().strip_prefix("redis://") {
            Some(rest) => Self::new(format!("rediss://{rest}")),
            None => self.clone(),
        }
    }

    /// Checks the URL and returns its parts.
    ///
    /// Accepted: `redis://` or `rediss://`, a host, an optional port, optional credentials
    /// (`user:password@`, `:password@`, `user@`, percent-encoded), an optional database path
    /// (`/0`) and query parameters. A fragment (`#...`) is rejected: redis-rs reads `#insecure` as
    /// "do not verify the server's certificate", which must be the explicit
    /// `verify_certificates` setting instead. `unix://` sockets are not accepted.
    ///
    /// # Errors
    ///
    /// What is wrong, without the URL (so without its password): the caller shows
    /// [`redacted`](Self::redacted) next to it.
    pub fn parse(&self) -> Result<RedisUrlParts, String> {
        let url = Url::parse(self.expose()).map_err(|e| format!("is not a valid URL ({e})"))?;
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
            other => return Err(format!("has scheme {other:?} (accepted: redis://, rediss://)")),
        };
        let host = match url.host() {
            Some(url::Host::Domain("")) | None => return Err("has no host".to_owned()),
            Some(host) => host.to_string(),
        };
        if url.fragment().is_some() {
            return Err(
                "has a fragment (#...): not accepted; certificate verification is the \
                 verify_certificates setting"
                    .to_owned(),
            );
        }
        let username = match url.username() {
            "" => None,
            user => Some(
                percent_encoding::percent_decode_str(user)
                    .decode_utf8()
                    .map_err(|_| "has a user name that is not UTF-8 once percent-decoded".to_owned())?
                    .into_owned(),
            ),
        };
        if let Some(pw) = url.password()
            && percent_encoding::percent_decode_str(pw).decode_utf8().is_err()
        {
            return Err("has a password that is not UTF-8 once percent-decoded".to_owned());
        }
        let database = match url.path().trim_matches('/') {
            "" => None,
            db => Some(
                db.parse::<i64>()
                    .map_err(|_| format!("has database path {db:?}, not a number"))?,
            ),
        };
        Ok(RedisUrlParts {
            tls,
            host,
            port: url.port(),
            username,
            has_password: url.password().is_some_and(|p| !p.is_empty()),
            database,
        })
    }

    /// Whether the URL carries a non-empty password.
    pub fn has_password(&self) -> bool {
        self.parse().is_ok_and(|p| p.has_password)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedisUrl").field(&self.redacted()).finish()
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl From<&str> for RedisUrl {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for RedisUrl {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&String> for RedisUrl {
    fn from(s: &String) -> Self {
        Self::new(s.as_str())
    }
}

impl Serialize for RedisUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for RedisUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

#[cfg(test)]
mod tests;
