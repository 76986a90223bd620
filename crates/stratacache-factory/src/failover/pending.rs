//! The record of what was written through the fallback: what the primary must forget before the
//! cache returns to it.

use std::collections::HashSet;

use stratacache_core::Bytes;

/// What an operation changes, as far as the record is concerned.
#[derive(Debug, Clone, Copy)]
pub(super) enum Effect<'a> {
    /// Nothing (`get`, `exists`, `ttl`, ...).
    Read,
    /// One key (`set`, `delete`).
    Key(&'a str),
    /// Several keys (`set_many`).
    Entries(&'a [(&'a str, Bytes)]),
    /// Every key matching a pattern (`invalidate_pattern`).
    Pattern(&'a str),
    /// Every key (`clear`).
    Clear,
}

impl Effect<'_> {
    /// Whether the operation changes nothing.
    pub(super) fn is_read(&self) -> bool {
        matches!(self, Effect::Read)
    }
}

/// Why the primary is to be cleared rather than have keys deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClearReason {
    /// `clear()` was called through the fallback.
    Requested,
    /// More than `max_replay_keys` keys and patterns were recorded.
    Overflow,
}

/// Keys and patterns changed through the fallback, or a clear.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub(super) keys: HashSet<String>,
    pub(super) patterns: HashSet<String>,
    /// When set, the keys and patterns are empty: clearing the primary covers them.
    pub(super) clear: Option<ClearReason>,
}

impl Pending {
    /// Whether nothing is to be replayed.
    pub(super) fn is_empty(&self) -> bool {
        self.clear.is_none() && self.keys.is_empty() && self.patterns.is_empty()
    }

    /// Keys and patterns recorded.
    pub(super) fn len(&self) -> usize {
        self.keys.len() + self.patterns.len()
    }

    /// Records `effect`; `true` when the record overflowed `max` just now.
    pub(super) fn record(&mut self, effect: &Effect<'_>, max: usize) -> bool {
        if self.clear.is_some() {
            return false;
        }
        match effect {
            Effect::Read => return false,
            Effect::Key(key) => self.add_key(key),
            Effect::Entries(entries) => {
                for (key, _) in *entries {
                    self.add_key(key);
                    if self.len() > max {
                        break;
                    }
                }
            }
            Effect::Pattern(pattern) => {
                if !self.patterns.contains(*pattern) {
                    self.patterns.insert((*pattern).to_owned());
                }
            }
            Effect::Clear => {
                self.set_clear(ClearReason::Requested);
                return false;
            }
        }
        self.check_overflow(max)
    }

    /// Adds what `other` holds (a replay that failed goes back into the record); `true` when the
    /// record overflowed `max` just now.
    pub(super) fn merge(&mut self, other: Pending, max: usize) -> bool {
        match (self.clear, other.clear) {
            (Some(ClearReason::Overflow), _) => false,
            (_, Some(reason)) => {
                self.set_clear(reason);
                false
            }
            (Some(ClearReason::Requested), None) => false,
            (None, None) => {
                self.keys.extend(other.keys);
                self.patterns.extend(other.patterns);
                self.check_overflow(max)
            }
        }
    }

    fn add_key(&mut self, key: &str) {
        if !self.keys.contains(key) {
            self.keys.insert(key.to_owned());
        }
    }

    fn check_overflow(&mut self, max: usize) -> bool {
        if self.len() > max {
            self.set_clear(ClearReason::Overflow);
            true
        } else {
            false
        }
    }

    fn set_clear(&mut self, reason: ClearReason) {
        self.clear = Some(reason);
        self.keys = HashSet::new();
        self.patterns = HashSet::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keys_patterns_and_clears() {
        let mut p = Pending::default();
        assert!(p.is_empty());
        assert!(!p.record(&Effect::Read, 10));
        assert!(p.is_empty());
        assert!(!p.record(&Effect::Key("a"), 10));
        assert!(!p.record(&Effect::Key("a"), 10));
        let entries = [("b", Bytes::new()), ("c", Bytes::new())];
        assert!(!p.record(&Effect::Entries(&entries), 10));
        assert!(!p.record(&Effect::Pattern("user:*"), 10));
        assert_eq!(p.len(), 4);
        assert!(p.keys.contains("c") && p.patterns.contains("user:*"));
        assert!(!p.record(&Effect::Clear, 10));
        assert_eq!((p.clear, p.len()), (Some(ClearReason::Requested), 0));
        // A clear covers everything that follows.
        assert!(!p.record(&Effect::Key("d"), 10));
        assert_eq!(p.len(), 0);
        assert!(!p.is_empty());
    }

    #[test]
    fn overflow_turns_into_a_clear_once() {
        let mut p = Pending::default();
        assert!(!p.record(&Effect::Key("a"), 2));
        assert!(!p.record(&Effect::Pattern("x*"), 2));
        assert!(p.record(&Effect::Key("b"), 2));
        assert_eq!((p.clear, p.len()), (Some(ClearReason::Overflow), 0));
        assert!(!p.record(&Effect::Key("c"), 2), "reported once");

        let mut zero = Pending::default();
        assert!(zero.record(&Effect::Key("a"), 0), "0: any write clears");
        let many: Vec<(String, Bytes)> = (0..1000).map(|i| (format!("k{i}"), Bytes::new())).collect();
        let many: Vec<(&str, Bytes)> = many.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let mut p = Pending::default();
        assert!(p.record(&Effect::Entries(&many), 10));
        assert_eq!(p.clear, Some(ClearReason::Overflow));
    }

    #[test]
    fn merge_keeps_the_strongest_request() {
        let mut p = Pending::default();
        p.record(&Effect::Key("a"), 10);
        let mut back = Pending::default();
        back.record(&Effect::Key("b"), 10);
        back.record(&Effect::Pattern("p*"), 10);
        assert!(!p.merge(back, 10));
        assert_eq!(p.len(), 3);

        let mut back = Pending::default();
        back.record(&Effect::Key("c"), 10);
        assert!(p.merge(back, 3), "4 > 3 overflows");
        assert_eq!(p.clear, Some(ClearReason::Overflow));

        let mut p = Pending::default();
        p.record(&Effect::Clear, 10);
        let mut back = Pending::default();
        back.set_clear(ClearReason::Overflow);
        p.merge(back, 10);
        assert_eq!(p.clear, Some(ClearReason::Overflow));
        let mut back = Pending::default();
        back.record(&Effect::Clear, 10);
        p.merge(back, 10);
        assert_eq!(p.clear, Some(ClearReason::Overflow));
    }
}
