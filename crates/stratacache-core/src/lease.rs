//! Leases: short-lived, exclusive claims on a key that the processes sharing a cache use to
//! agree on who does something (computes a missing value, say), with [`Cache::acquire_lease`],
//! [`Cache::renew_lease`] and [`Cache::release_lease`].

use std::time::Duration;

use crate::{Error, ErrorKind, MAX_TTL, MIN_TTL, Result};

/// The longest holder name, in characters.
pub const MAX_LEASE_HOLDER_LEN: usize = 256;

/// Checks a lease request: a holder of 1 to [`MAX_LEASE_HOLDER_LEN`] characters without
/// control characters, and a duration between [`MIN_TTL`] and [`MAX_TTL`].
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] naming what is wrong.
pub fn validate_lease(holder: &str, duration: Duration) -> Result<()> {
    if holder.is_empty()
        || holder.chars().count() > MAX_LEASE_HOLDER_LEN
        || holder.chars().any(char::is_control)
    {
        return Err(Error::invalid_input(format!(
            "invalid lease holder {:?}: 1 to {MAX_LEASE_HOLDER_LEN} characters without control characters",
            holder.chars().take(64).collect::<String>()
        )));
    }
    if !(MIN_TTL..=MAX_TTL).contains(&duration) {
        return Err(Error::invalid_input(format!(
            "lease duration {duration:?} is out of range (accepted: {MIN_TTL:?} to {MAX_TTL:?})"
        )));
    }
    Ok(())
}

pub(crate) fn unsupported() -> Error {
    Error::new(ErrorKind::Unsupported, "this cache does not support leases")
}
