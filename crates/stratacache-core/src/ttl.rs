//! Time-to-live semantics shared by every backend and layer.
//!
//! A write says how long its entry lives with a [`Ttl`]; the cache resolves it to an [`Expiry`]
//! with [`Ttl::resolve`], which applies the default TTL and rejects durations no backend can honour
//! the same way. Reading the remaining lifetime of an entry ([`Cache::ttl`](crate::Cache::ttl))
//! returns an [`Expiry`] too, so a value can be copied between tiers with its remaining lifetime.

use std::fmt;
use std::time::Duration;

use crate::{Error, Result};

/// The shortest TTL a cache accepts: one millisecond, the resolution of Redis `SET ... PX`.
pub const MIN_TTL: Duration = Duration::from_millis(1);

/// The longest TTL a cache accepts: 100 years (about 3.15 × 10⁹ seconds).
///
/// Longer lifetimes are not useful for a cache and overflow clocks (`Instant + Duration`) on some
/// platforms; use [`Ttl::Never`] for entries that must not expire.
pub const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// How long an entry written with [`Cache::set`](crate::Cache::set) lives.
///
/// `Ttl::Default` (also what `None` converts to) uses the cache's configured default TTL.
///
/// ```
/// use std::time::Duration;
/// use stratacache_core::{Expiry, Ttl};
///
/// let default = Some(Duration::from_secs(300));
/// assert_eq!(Ttl::Default.resolve(default).unwrap(), Expiry::After(Duration::from_secs(300)));
/// assert_eq!(Ttl::from(None).resolve(default).unwrap(), Expiry::After(Duration::from_secs(300)));
/// assert_eq!(Ttl::Never.resolve(default).unwrap(), Expiry::Never);
/// assert_eq!(Ttl::secs(5).resolve(default).unwrap(), Expiry::After(Duration::from_secs(5)));
/// // A zero TTL is an error, not "no expiry".
/// assert!(Ttl::from(Duration::ZERO).resolve(default).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ttl {
    /// The cache's default TTL (which may itself be "never").
    #[default]
    Default,
    /// The entry never expires; it leaves the cache only when deleted, invalidated or evicted.
    Never,
    /// The entry expires after this duration. Must be between [`MIN_TTL`] and [`MAX_TTL`];
    /// sub-millisecond parts are truncated.
    After(Duration),
}

impl Ttl {
    /// `Ttl::After` a number of seconds.
    pub const fn secs(secs: u64) -> Self {
        Self::After(Duration::from_secs(secs))
    }

    /// `Ttl::After` a number of milliseconds.
    pub const fn millis(millis: u64) -> Self {
        Self::After(Duration::from_millis(millis))
    }

    /// Checks an explicit duration (`Ttl::After`) without resolving the default: what a layer does
    /// before spending work on a write that the backend would refuse.
    ///
    /// # Errors
    ///
    /// As [`resolve`](Self::resolve), for `Ttl::After` only.
    pub fn check(self) -> Result<()> {
        if let Self::After(d) = self {
            Expiry::checked(d, "ttl")?;
        }
        Ok(())
    }

    /// Resolves this TTL against a cache's default (`None` = the cache's entries never expire by
    /// default).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when the duration (given or
    /// default) is shorter than [`MIN_TTL`] or longer than [`MAX_TTL`].
    pub fn resolve(self, default: Option<Duration>) -> Result<Expiry> {
        match self {
            Self::Never => Ok(Expiry::Never),
            Self::Default => default.map_or(Ok(Expiry::Never), |d| Expiry::checked(d, "default TTL")),
            Self::After(d) => Expiry::checked(d, "ttl"),
        }
    }
}

impl From<Duration> for Ttl {
    fn from(d: Duration) -> Self {
        Self::After(d)
    }
}

impl From<Option<Duration>> for Ttl {
    /// `None` is the cache's default TTL, `Some(d)` expires after `d`.
    fn from(d: Option<Duration>) -> Self {
        d.map_or(Self::Default, Self::After)
    }
}

impl From<Expiry> for Ttl {
    fn from(e: Expiry) -> Self {
        match e {
            Expiry::Never => Self::Never,
            Expiry::After(d) => Self::After(d),
        }
    }
}

/// A resolved lifetime: either a duration (whole milliseconds, ≥ 1 ms) or never.
///
/// Returned by [`Ttl::resolve`] and, as the *remaining* lifetime of an entry, by
/// [`Cache::ttl`](crate::Cache::ttl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expiry {
    /// Expires after this duration.
    After(Duration),
    /// Never expires.
    Never,
}

impl Expiry {
    /// Validates `d` as a TTL and truncates it to whole milliseconds.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming `what` when `d` is
    /// below [`MIN_TTL`] or above [`MAX_TTL`].
    pub fn checked(d: Duration, what: &str) -> Result<Self> {
        if d < MIN_TTL {
            return Err(Error::invalid_input(format!(
                "{what} must be at least 1ms (got {d:?}); use Ttl::Never for entries that never expire"
            )));
        }
        if d > MAX_TTL {
            return Err(Error::invalid_input(format!(
                "{what} must be at most {}s (100 years) (got {}s); use Ttl::Never for entries that never expire",
                MAX_TTL.as_secs(),
                d.as_secs()
            )));
        }
        Ok(Self::After(Duration::from_millis(d.as_millis() as u64)))
    }

    /// The duration, or `None` for [`Expiry::Never`].
    pub const fn duration(self) -> Option<Duration> {
        match self {
            Self::After(d) => Some(d),
            Self::Never => None,
        }
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::After(d) => write!(f, "{}ms", d.as_millis()),
            Self::Never => f.write_str("never"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn sub_millisecond_and_zero_are_rejected() {
        for d in [
            Duration::ZERO,
            Duration::from_micros(999),
            Duration::from_nanos(1),
        ] {
            let err = Ttl::After(d).resolve(None).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.message().contains("at least 1ms"), "{err}");
        }
    }

    #[test]
    fn bad_default_is_rejected_and_named() {
        let err = Ttl::Default.resolve(Some(Duration::ZERO)).unwrap_err();
        assert!(err.message().starts_with("default TTL"), "{err}");
    }

    #[test]
    fn too_long_is_rejected() {
        let err = Ttl::After(MAX_TTL + Duration::from_secs(1))
            .resolve(None)
            .unwrap_err();
        assert!(err.message().contains("at most"), "{err}");
        assert_eq!(Ttl::After(MAX_TTL).resolve(None).unwrap(), Expiry::After(MAX_TTL));
    }

    #[test]
    fn truncates_to_millis() {
        let e = Ttl::After(Duration::from_micros(1_999)).resolve(None).unwrap();
        assert_eq!(e, Expiry::After(Duration::from_millis(1)));
    }

    #[test]
    fn default_resolution() {
        assert_eq!(Ttl::Default.resolve(None).unwrap(), Expiry::Never);
        assert_eq!(
            Ttl::from(None)
                .resolve(Some(Duration::from_secs(2)))
                .unwrap()
                .duration(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(Ttl::from(Expiry::Never), Ttl::Never);
        assert_eq!(Ttl::millis(5), Ttl::After(Duration::from_millis(5)));
    }
}
