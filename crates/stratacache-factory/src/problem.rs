//! [`ConfigError`]: every configuration problem found, each naming the setting, the value and what
//! is accepted.

use std::fmt;

use serde::Serialize;
use stratacache_core::{Error, ErrorKind};

/// One invalid setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The setting: an override key (`compression_level`), a nested key (`operation_ttls.qa`) or
    /// an environment variable (`CACHE_PRESET`).
    pub field: String,
    /// The offending value as given (secrets are never echoed).
    pub value: String,
    /// What is accepted.
    pub accepted: String,
}

impl Problem {
    /// A problem with `field`, its `value` and what is `accepted`.
    pub fn new(field: impl Into<String>, value: impl Into<String>, accepted: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            value: value.into(),
            accepted: accepted.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: got {}, accepted: {}",
            self.field, self.value, self.accepted
        )
    }
}

/// An invalid configuration: every problem found, in the order found.
///
/// Converts into a [`stratacache_core::Error`] of kind
/// [`Configuration`](ErrorKind::Configuration) with the same message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    problems: Vec<Problem>,
}

impl ConfigError {
    /// `Ok` when `problems` is empty, else the error.
    pub(crate) fn from_problems(problems: Vec<Problem>) -> Result<(), Self> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Self { problems })
        }
    }

    /// Every problem found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "invalid cache configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Self::new(ErrorKind::Configuration, e.to_string())
    }
}

/// The candidate nearest to `given` (case-insensitive edit distance), if it is close enough to be
/// a plausible typo.
pub(crate) fn nearest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&given, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `"; did you mean `x`?"` or nothing.
pub(crate) fn suggestion<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    nearest(given, candidates).map_or_else(String::new, |c| format!("; did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_only() {
        let keys = ["compression_level", "compression_threshold", "default_ttl"];
        assert_eq!(nearest("compresion_level", keys), Some("compression_level"));
        assert_eq!(nearest("DEFAULT_TTL", keys), Some("default_ttl"));
        assert_eq!(nearest("colour", keys), None);
    }
}
