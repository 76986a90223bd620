//! Serde helpers that write a [`Duration`] as a number of seconds, the unit of the reference
//! configuration vocabulary (`"default_ttl": 300`). Fractions are accepted on input (`0.5`).
//!
//! ```
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Config {
//!     #[serde(with = "stratacache_core::serde_secs")]
//!     timeout: Duration,
//!     #[serde(with = "stratacache_core::serde_secs::option", default)]
//!     default_ttl: Option<Duration>,
//! }
//!
//! let c: Config = serde_json::from_str(r#"{"timeout": 1.5, "default_ttl": 300}"#).unwrap();
//! assert_eq!(c.timeout, Duration::from_millis(1500));
//! assert_eq!(c.default_ttl, Some(Duration::from_secs(300)));
//! assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"timeout":1.5,"default_ttl":300}"#);
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Serializes whole seconds as an integer, anything else as a float.
///
/// # Errors
///
/// Those of the serializer.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    if d.subsec_nanos() == 0 {
        s.serialize_u64(d.as_secs())
    } else {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// Deserializes a non-negative number of seconds.
///
/// # Errors
///
/// A negative, non-finite or too large number.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs)
        .map_err(|e| serde::de::Error::custom(format!("invalid duration of {secs} seconds: {e}")))
}

/// The same for `Option<Duration>` (`null` or absent is `None`; pair with `#[serde(default)]`).
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `None` as `null`, `Some` as seconds.
    ///
    /// # Errors
    ///
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Deserializes `null` as `None`, a number as seconds.
    ///
    /// # Errors
    ///
    /// A negative, non-finite or too large number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|secs| {
                Duration::try_from_secs_f64(secs)
                    .map_err(|e| serde::de::Error::custom(format!("invalid duration of {secs} seconds: {e}")))
            })
            .transpose()
    }
}
