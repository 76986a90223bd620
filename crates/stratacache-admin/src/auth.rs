//! API keys and the authentication of requests.
//!
//! A client sends its key as `Authorization: Bearer <key>`, or, when it sends no `Authorization`
//! header, as `X-API-Key: <key>`. The key is compared with every configured key in constant
//! time: both sides are hashed (BLAKE3, 32 bytes) and the digests compared with
//! [`subtle::ConstantTimeEq`], all of them, without stopping at a match, so neither the position of
//! the matching key nor the length of the keys shows in the timing. Only the digests are kept.
//!
//! | request | protected route | optional-auth read |
//! |---|---|---|
//! | no credentials | 401 (`missing`) | allowed |
//! | an empty `Authorization` or `X-API-Key`, `Bearer` without a token | 401 (`empty`) | 401 (`empty`) |
//! | `Authorization` not `Bearer <token>` (`Basic ...`, `Bearer a b`), non-ASCII header | 401 (`malformed`) | 401 (`malformed`) |
//! | a key that is not configured | 401 (`invalid`) | 401 (`invalid`) |
//! | a configured key | allowed | allowed |
//!
//! Every 401 carries `WWW-Authenticate: Bearer`, a message that names authentication and the API
//! key and never repeats what the client sent, and the reference's `detail: {message, context}`. With **no key configured** (allowed only in development and testing, see
//! [`AdminConfig::check`](crate::AdminConfig::check)) every request is allowed, whatever it sends.
//! With [`AdminConfig::require_auth_for_reads`](crate::AdminConfig::require_auth_for_reads), reads
//! are protected routes too. Every refused request is counted in the monitor
//! (`stratacache_auth_failures_total` in `/metrics`). The liveness answer
//! `GET /internal/cache/health/live` never asks for a key.

use std::fmt;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderName};
use actix_web::{FromRequest, HttpRequest, web};
use subtle::{Choice, ConstantTimeEq};

use crate::error::ApiError;
use crate::state::AdminState;

/// The environment variable with the main API key.
pub const API_KEY_VAR: &str = "API_KEY";
/// The environment variable with more accepted keys, comma-separated.
pub const ADDITIONAL_API_KEYS_VAR: &str = "ADDITIONAL_API_KEYS";
/// The header a key can be sent in when no `Authorization` header is sent.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The accepted API keys, kept as BLAKE3 digests and compared in constant time. `Debug` shows how
/// many there are, never the keys.
///
/// ```
/// use stratacache_admin::ApiKeys;
///
/// let keys = ApiKeys::from_env_with(|name| match name {
///     "API_KEY" => Some(" main-key ".into()),
///     "ADDITIONAL_API_KEYS" => Some("second, ,third,".into()),
///     _ => None,
/// });
/// assert_eq!(keys.len(), 3);
/// assert!(keys.verify("main-key") && keys.verify("third"));
/// assert!(!keys.verify("main"));
/// assert_eq!(format!("{keys:?}"), "ApiKeys { count: 3 }");
/// ```
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
    /// The length of the shortest key, in characters (`usize::MAX` without keys).
    shortest: usize,
}

impl ApiKeys {
    /// Keys from `API_KEY` and `ADDITIONAL_API_KEYS` (comma-separated) as `lookup` returns them;
    /// each key is trimmed, empty ones are ignored.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let main = lookup(API_KEY_VAR);
        let more = lookup(ADDITIONAL_API_KEYS_VAR);
        let keys = main
            .iter()
            .map(String::as_str)
            .chain(more.iter().flat_map(|v| v.split(',')))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        Self::new(keys)
    }

    /// Keys from the process environment (see [`from_env_with`](Self::from_env_with)).
    pub fn from_env() -> Self {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// These keys, as given (not trimmed); empty keys are ignored.
    pub fn new(keys: impl IntoIterator<Item = String>) -> Self {
        let mut shortest = usize::MAX;
        let mut digests: Vec<[u8; 32]> = keys
            .into_iter()
            .filter(|k| !k.is_empty())
            .map(|k| {
                shortest = shortest.min(k.chars().count());
                digest(&k)
            })
            .collect();
        digests.sort_unstable();
        digests.dedup();
        Self { digests, shortest }
    }

    /// The length of the shortest key, in characters; `None` without keys.
    /// [`AdminConfig::check`](crate::AdminConfig::check) refuses keys shorter than
    /// [`MIN_API_KEY_LEN`](crate::MIN_API_KEY_LEN) outside development.
    pub fn shortest_len(&self) -> Option<usize> {
        (!self.digests.is_empty()).then_some(self.shortest)
    }

    /// Whether no key is configured (the API is then open: see the [module docs](self)).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// How many distinct keys are configured.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether `candidate` is one of the keys. Compares with every key in constant time; the
    /// time taken depends only on the length of `candidate` (hashed) and the number of keys.
    pub fn verify(&self, candidate: &str) -> bool {
        let presented = digest(candidate);
        let matched = self
            .digests
            .iter()
            .fold(Choice::from(0), |acc, key| acc | key.as_slice().ct_eq(&presented));
        bool::from(matched)
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("count", &self.digests.len())
            .finish()
    }
}

fn digest(key: &str) -> [u8; 32] {
    *blake3::hash(key.as_bytes()).as_bytes()
}

/// What a request presented.
#[derive(Debug, PartialEq, Eq)]
enum Credentials<'a> {
    None,
    Empty,
    Malformed,
    Key(&'a str),
}

/// `Authorization: Bearer <key>` first; without an `Authorization` header, `X-API-Key: <key>`.
fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let Ok(value) = value.to_str() else {
            return Credentials::Malformed;
        };
        let mut parts = value.trim().splitn(2, ' ');
        let scheme = parts.next().unwrap_or_default();
        let token = parts.next().unwrap_or_default().trim();
        if scheme.is_empty() || (scheme.eq_ignore_ascii_case("bearer") && token.is_empty()) {
            return Credentials::Empty;
        }
        if !scheme.eq_ignore_ascii_case("bearer") || token.contains(' ') {
            return Credentials::Malformed;
        }
        return Credentials::Key(token);
    }
    match headers.get(HeaderName::from_static(API_KEY_HEADER)) {
        None => Credentials::None,
        Some(value) => match value.to_str().map(str::trim) {
            Ok("") => Credentials::Empty,
            Ok(key) => Credentials::Key(key),
            Err(_) => Credentials::Malformed,
        },
    }
}

/// What a route asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Mutations and entries: a key is always required (unless none is configured).
    Protected,
    /// Reads: a key is optional unless `require_auth_for_reads`; a wrong one is refused.
    Read,
}

impl AdminState {
    /// Decides whether the request may go on.
    pub(crate) fn authorize(&self, req: &HttpRequest, access: Access) -> Result<(), ApiError> {
        let config = self.config();
        let keys = &config.keys;
        if keys.is_empty() {
            return Ok(());
        }
        let required = access == Access::Protected || config.require_auth_for_reads;
        let result = match credentials(req.headers()) {
            Credentials::None if required => Err(ApiError::unauthorized("missing")),
            Credentials::None => Ok(()),
            Credentials::Empty => Err(ApiError::unauthorized("empty")),
            Credentials::Malformed => Err(ApiError::unauthorized("malformed")),
            Credentials::Key(key) if keys.verify(key) => Ok(()),
            Credentials::Key(_) => Err(ApiError::unauthorized("invalid")),
        };
        if result.is_err()
            && let Some(monitor) = self.monitor()
        {
            monitor.record_auth_failure();
        }
        result
    }
}

fn state_of(req: &HttpRequest) -> Result<&AdminState, ApiError> {
    req.app_data::<web::Data<AdminState>>()
        .map(|d| d.get_ref())
        .ok_or_else(|| {
            tracing::error!(
                "admin API route without its AdminState: mount it with stratacache_admin::configure"
            );
            ApiError::new(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                crate::error::ErrorCode::ConfigurationError,
                "the admin API is not configured",
            )
        })
}

/// Extractor (first argument of a handler, so that it runs before the query and the body are
/// read): the request presented a configured key, or the API is open.
#[derive(Debug)]
pub(crate) struct Protected;

impl FromRequest for Protected {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            state_of(req)
                .and_then(|s| s.authorize(req, Access::Protected))
                .map(|()| Self),
        )
    }
}

/// Extractor for reads: no key, or a configured one (a key is required with
/// `require_auth_for_reads`).
#[derive(Debug)]
pub(crate) struct ReadAccess;

impl FromRequest for ReadAccess {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            state_of(req)
                .and_then(|s| s.authorize(req, Access::Read))
                .map(|()| Self),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn bearer_comes_first_then_x_api_key() {
        use Credentials::*;
        let cases: &[(&[(&str, &str)], Credentials<'_>)] = &[
            (&[], None),
            (&[("authorization", "Bearer k1")], Key("k1")),
            (&[("authorization", "bearer   k1 ")], Key("k1")),
            (&[("authorization", "Bearer k1"), ("x-api-key", "k2")], Key("k1")),
            (&[("x-api-key", " k2 ")], Key("k2")),
            (&[("x-api-key", "")], Empty),
            (&[("authorization", "")], Empty),
            (&[("authorization", "Bearer")], Empty),
            (&[("authorization", "Bearer ")], Empty),
            (&[("authorization", "Basic dXNlcjpwYXNz")], Malformed),
            (&[("authorization", "Bearer a b")], Malformed),
            (&[("authorization", "Basic x"), ("x-api-key", "k2")], Malformed),
        ];
        for (pairs, expected) in cases {
            assert_eq!(&credentials(&headers(pairs)), expected, "{pairs:?}");
        }
    }

    #[test]
    fn keys_are_trimmed_deduplicated_and_never_shown() {
        let keys = ApiKeys::from_env_with(|name| match name {
            API_KEY_VAR => Some("secret-one".into()),
            ADDITIONAL_API_KEYS_VAR => Some("secret-two,secret-one,  ,".into()),
            _ => None,
        });
        assert_eq!(keys.len(), 2);
        assert!(keys.verify("secret-one") && keys.verify("secret-two"));
        assert!(!keys.verify("") && !keys.verify("secret") && !keys.verify("secret-one "));
        assert!(!format!("{keys:?}").contains("secret"));
        assert!(ApiKeys::from_env_with(|_| Some("  ".into())).is_empty());
        assert!(ApiKeys::new(Vec::new()).is_empty());
    }
}
