//! The one error type of stratacache.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// A boxed error that can cross threads, used as the [`source`](StdError::source) of an [`Error`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// `Result<T, stratacache_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in categories a caller can act on.
///
/// The enum is `#[non_exhaustive]`: new kinds may be added in minor releases, so match with a
/// wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Invalid configuration, detected at start (a setting out of range, a bad URL, a missing key).
    Configuration,
    /// The backend could not be reached or the connection broke. Usually temporary.
    Connection,
    /// An operation did not finish within its deadline. Usually temporary.
    Timeout,
    /// The backend refused the credentials (AUTH, ACL, TLS client certificate).
    Authentication,
    /// A value could not be encoded or decoded (typed access, compression envelope).
    Serialization,
    /// A value could not be decrypted or authenticated: wrong key, tampered data, or plaintext
    /// where an envelope was required. Never retried, never turned into a miss.
    Decryption,
    /// The caller passed something the cache cannot accept (an empty key, a zero TTL, a bad pattern).
    InvalidInput,
    /// The backend is temporarily unable to serve (overloaded, circuit open, shutting down).
    Unavailable,
    /// The operation is not supported by this backend or layer.
    Unsupported,
    /// Any other backend failure (a protocol error, an unexpected reply).
    Backend,
    /// The cache was closed ([`Cache::close`](crate::Cache::close)): it will never serve again.
    /// Not temporary, so never retried and never served by a fallback; build a new cache.
    Closed,
}

impl ErrorKind {
    /// Every kind, in declaration order (grows when a kind is added).
    pub const ALL: [ErrorKind; 11] = [
        Self::Configuration,
        Self::Connection,
        Self::Timeout,
        Self::Authentication,
        Self::Serialization,
        Self::Decryption,
        Self::InvalidInput,
        Self::Unavailable,
        Self::Unsupported,
        Self::Backend,
        Self::Closed,
    ];

    /// A short, stable, lower-case name for logs and metric labels (`"timeout"`, `"decryption"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Configuration => "configuration",
            Self::Connection => "connection",
            Self::Timeout => "timeout",
            Self::Authentication => "authentication",
            Self::Serialization => "serialization",
            Self::Decryption => "decryption",
            Self::InvalidInput => "invalid_input",
            Self::Unavailable => "unavailable",
            Self::Unsupported => "unsupported",
            Self::Backend => "backend",
            Self::Closed => "closed",
        }
    }

    /// Whether an error of this kind may succeed if the operation is retried later.
    pub const fn is_temporary(self) -> bool {
        matches!(self, Self::Connection | Self::Timeout | Self::Unavailable)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned by every stratacache operation.
///
/// It carries an [`ErrorKind`], a human-readable message that never contains secrets, and
/// optionally the underlying backend error as its [`source`](StdError::source).
///
/// ```
/// use stratacache_core::{Error, ErrorKind};
///
/// let err = Error::new(ErrorKind::Timeout, "GET took longer than 250ms");
/// assert!(err.is_temporary());
/// assert_eq!(err.to_string(), "timeout: GET took longer than 250ms");
/// ```
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    source: Option<BoxError>,
}

impl Error {
    /// Creates an error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error, reported through [`StdError::source`].
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// A [`ErrorKind::InvalidInput`] error.
    pub fn invalid_input(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// A [`ErrorKind::Configuration`] error.
    pub fn configuration(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Configuration, message)
    }

    /// A [`ErrorKind::Closed`] error: `what` (say, `"the Redis cache for redis://host:6379"`)
    /// was closed.
    ///
    /// ```
    /// use stratacache_core::{Error, ErrorKind};
    ///
    /// let err = Error::closed("the memory cache");
    /// assert_eq!(err.kind(), ErrorKind::Closed);
    /// assert!(!err.is_temporary());
    /// assert_eq!(err.to_string(), "closed: the memory cache was closed (Cache::close)");
    /// ```
    pub fn closed(what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Closed, format!("{what} was closed (Cache::close)"))
    }

    /// A [`ErrorKind::Serialization`] error.
    pub fn serialization(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Serialization, message)
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether retrying the operation later may succeed (connection loss, timeout, unavailable).
    pub fn is_temporary(&self) -> bool {
        self.kind.is_temporary()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_kinds() {
        let temporary: Vec<_> = ErrorKind::ALL
            .into_iter()
            .filter(|k| Error::new(*k, "x").is_temporary())
            .collect();
        assert_eq!(
            temporary,
            [ErrorKind::Connection, ErrorKind::Timeout, ErrorKind::Unavailable]
        );
    }

    #[test]
    fn source_is_exposed() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Error::new(ErrorKind::Connection, "cannot reach 127.0.0.1:1").with_source(io);
        let source = err.source().expect("source");
        assert_eq!(source.to_string(), "refused");
        assert_eq!(err.to_string(), "connection: cannot reach 127.0.0.1:1");
        assert!(format!("{err:?}").contains("ConnectionRefused"));
    }
}
