//! Text size tiers: `small`, `medium`, `large` and `xlarge` texts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::KeyError;

/// The size class of a text, by its length in characters.
///
/// Serialised in lower case: `"small"`, `"medium"`, `"large"`, `"xlarge"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextTier {
    /// Shorter than [`TextTiers::small`].
    Small,
    /// At least [`TextTiers::small`], shorter than [`TextTiers::medium`].
    Medium,
    /// At least [`TextTiers::medium`], shorter than [`TextTiers::large`].
    Large,
    /// At least [`TextTiers::large`].
    Xlarge,
}

impl TextTier {
    /// Every tier, smallest first.
    pub const ALL: [Self; 4] = [Self::Small, Self::Medium, Self::Large, Self::Xlarge];

    /// The lower-case name: `"small"`, `"medium"`, `"large"` or `"xlarge"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
            Self::Xlarge => "xlarge",
        }
    }
}

impl fmt::Display for TextTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`TextTier`] from a string that is not one of its names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown text tier {0:?}: expected small, medium, large or xlarge")]
pub struct ParseTextTierError(String);

impl FromStr for TextTier {
    type Err = ParseTextTierError;

    /// Parses a lower-case tier name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ParseTextTierError(crate::error::excerpt(s)))
    }
}

/// The thresholds between text size tiers, in characters (Unicode scalar values, as Python's `len`).
///
/// A text of `n` characters is [`Small`](TextTier::Small) if `n < small`,
/// [`Medium`](TextTier::Medium) if `small <= n < medium`, [`Large`](TextTier::Large) if
/// `medium <= n < large` and [`Xlarge`](TextTier::Xlarge) otherwise. The defaults are the reference
/// system's: 500, 5000 and 50000. Thresholds are strictly ascending; [`new`](Self::new) and
/// deserialisation check it.
///
/// Serialised as `{"small": 500, "medium": 5000, "large": 50000}`, the reference system's
/// `text_size_tiers` setting.
///
/// ```
/// use stratacache_keys::{TextTier, TextTiers};
///
/// let tiers = TextTiers::default();
/// assert_eq!(tiers.tier_of(&"x".repeat(499)), TextTier::Small);
/// assert_eq!(tiers.tier_of(&"x".repeat(500)), TextTier::Medium);
/// assert!(TextTiers::new(500, 500, 1000).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawTiers")]
pub struct TextTiers {
    small: usize,
    medium: usize,
    large: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTiers {
    small: usize,
    medium: usize,
    large: usize,
}

impl TryFrom<RawTiers> for TextTiers {
    type Error = KeyError;

    fn try_from(raw: RawTiers) -> Result<Self, Self::Error> {
        Self::new(raw.small, raw.medium, raw.large)
    }
}

impl Default for TextTiers {
    /// The reference system's tiers: 500, 5000, 50000 characters.
    fn default() -> Self {
        Self {
            small: 500,
            medium: 5000,
            large: 50000,
        }
    }
}

impl TextTiers {
    /// Creates tiers from their thresholds, in characters.
    ///
    /// # Errors
    ///
    /// [`KeyError::TiersNotAscending`] (naming the field and both values) unless
    /// `small < medium < large`.
    pub fn new(small: usize, medium: usize, large: usize) -> Result<Self, KeyError> {
        if medium <= small {
            return Err(KeyError::TiersNotAscending {
                field: "medium",
                value: medium,
                previous_field: "small",
                previous: small,
            });
        }
        if large <= medium {
            return Err(KeyError::TiersNotAscending {
                field: "large",
                value: large,
                previous_field: "medium",
                previous: medium,
            });
        }
        Ok(Self { small, medium, large })
    }

    /// The first length that is not [`Small`](TextTier::Small).
    pub fn small(&self) -> usize {
        self.small
    }

    /// The first length that is [`Large`](TextTier::Large) or more.
    pub fn medium(&self) -> usize {
        self.medium
    }

    /// The first length that is [`Xlarge`](TextTier::Xlarge).
    pub fn large(&self) -> usize {
        self.large
    }

    /// The tier of a text of `chars` characters.
    pub fn tier_for_len(&self, chars: usize) -> TextTier {
        if chars < self.small {
            TextTier::Small
        } else if chars < self.medium {
            TextTier::Medium
        } else if chars < self.large {
            TextTier::Large
        } else {
            TextTier::Xlarge
        }
    }

    /// The tier of `text`, by its length in characters.
    pub fn tier_of(&self, text: &str) -> TextTier {
        // A text has at most as many characters as bytes: skip counting when the bytes decide.
        if text.len() < self.small {
            return TextTier::Small;
        }
        self.tier_for_len(text.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_boundaries() {
        let t = TextTiers::default();
        for (len, tier) in [
            (0, TextTier::Small),
            (499, TextTier::Small),
            (500, TextTier::Medium),
            (4999, TextTier::Medium),
            (5000, TextTier::Large),
            (49999, TextTier::Large),
            (50000, TextTier::Xlarge),
            (usize::MAX, TextTier::Xlarge),
        ] {
            assert_eq!(t.tier_for_len(len), tier, "{len}");
        }
        assert_eq!(t.tier_of(&"a".repeat(499)), TextTier::Small);
        assert_eq!(t.tier_of(&"a".repeat(500)), TextTier::Medium);
        // Characters, not bytes: 499 two-byte characters are still small.
        assert_eq!(t.tier_of(&"é".repeat(499)), TextTier::Small);
        assert_eq!(t.tier_of(&"é".repeat(500)), TextTier::Medium);
        assert_eq!(t.tier_of(&"日".repeat(4999)), TextTier::Medium);
        assert_eq!(t.tier_of(&"日".repeat(5000)), TextTier::Large);
        assert_eq!(t.tier_of(&"a".repeat(50000)), TextTier::Xlarge);
    }

    #[test]
    fn custom_tiers() {
        // The ai-development preset's tiers.
        let t = TextTiers::new(500, 2000, 10000).unwrap();
        assert_eq!((t.small(), t.medium(), t.large()), (500, 2000, 10000));
        assert_eq!(t.tier_for_len(1999), TextTier::Medium);
        assert_eq!(t.tier_for_len(2000), TextTier::Large);
        assert_eq!(t.tier_for_len(10000), TextTier::Xlarge);
    }

    #[test]
    fn thresholds_must_ascend() {
        let err = TextTiers::new(500, 500, 1000).unwrap_err();
        assert_eq!(
            err,
            KeyError::TiersNotAscending {
                field: "medium",
                value: 500,
                previous_field: "small",
                previous: 500
            }
        );
        assert_eq!(
            err.to_string(),
            "text size tiers must be strictly ascending: medium = 500 must be greater than small = 500"
        );
        let err = TextTiers::new(1, 5000, 4000).unwrap_err();
        assert!(
            err.to_string()
                .contains("large = 4000 must be greater than medium = 5000"),
            "{err}"
        );
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let json = serde_json::to_string(&TextTiers::default()).unwrap();
        assert_eq!(json, r#"{"small":500,"medium":5000,"large":50000}"#);
        let back: TextTiers = serde_json::from_str(&json).unwrap();
        assert_eq!(back, TextTiers::default());

        let err =
            serde_json::from_str::<TextTiers>(r#"{"small":500,"medium":400,"large":50000}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("medium = 400 must be greater than small = 500"),
            "{err}"
        );
        assert!(serde_json::from_str::<TextTiers>(r#"{"small":1,"medium":2}"#).is_err());

        assert_eq!(serde_json::to_string(&TextTier::Xlarge).unwrap(), r#""xlarge""#);
        let tiers: Vec<TextTier> = serde_json::from_str(r#"["small","medium","large","xlarge"]"#).unwrap();
        assert_eq!(tiers, TextTier::ALL);
        assert!(serde_json::from_str::<TextTier>(r#""Small""#).is_err());
    }

    #[test]
    fn names_parse_and_display() {
        for tier in TextTier::ALL {
            assert_eq!(tier.as_str().parse::<TextTier>().unwrap(), tier);
            assert_eq!(tier.to_string(), tier.as_str());
        }
        let err = "huge".parse::<TextTier>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown text tier "huge": expected small, medium, large or xlarge"#
        );
        assert!(TextTier::Small < TextTier::Xlarge);
    }
}
