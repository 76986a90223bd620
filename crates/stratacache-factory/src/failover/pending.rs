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
    /// Several keys (`delete_many`).
    Keys(&'a [&'a str]),
    /// Several keys with values (`set_many`).
    Entries(&'a [(&'a str, Bytes)]),
    /// Every key matching a pattern (`invalidate_pattern`).
    Pattern(&'a str),
    /// Every key with a tag (`remove_tagged`).
    Tag(&'a str),
    /// Every key (`clear`).
    Clear,
}

impl Effect<'_> {
    /// Whether the operation changes nothing.
    pub(super) fn is_read(&self) -> bool {
        matches!(self, Effect::Read)
    }
}

/// Which set [`Pending::add_scope`] adds to.
#[derive(Clone, Copy)]
enum Scope {
    Pattern,
    Tag,
}

/// Keys and patterns changed through the fallback, or a clear, bounded by `max_replay_keys`.
///
/// Only what this instance changed is ever recorded, so a replay never touches another
/// instance's keys: past the bound, further keys are **not** recorded (and counted in
/// `unrecorded`); the record never turns into a clear of the namespace.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub(super) keys: HashSet<String>,
    pub(super) patterns: HashSet<String>,
    /// Tags removed through the fallback: the primary's entries with them go too.
    pub(super) tags: HashSet<String>,
    /// `clear()` was called through the fallback: clearing the primary covers the keys and
    /// patterns, which are then empty.
    pub(super) clear: bool,
    /// Keys and patterns changed through the fallback that did not fit in the record.
    pub(super) unrecorded: u64,
}

impl Pending {
    /// Whether nothing is to be replayed.
    pub(super) fn is_empty(&self) -> bool {
        !self.clear
            && self.keys.is_empty()
            && self.patterns.is_empty()
            && self.tags.is_empty()
            && self.unrecorded == 0
    }

    /// Keys and patterns recorded.
    pub(super) fn len(&self) -> usize {
        self.keys.len() + self.patterns.len() + self.tags.len()
    }

    /// Records `effect`; `true` when the record became full just now (the first key or pattern
    /// that did not fit).
    pub(super) fn record(&mut self, effect: &Effect<'_>, max: usize) -> bool {
        if self.clear {
            return false;
        }
        let before = self.unrecorded;
        match effect {
            Effect::Read => {}
            Effect::Key(key) => self.add_key(key, max),
            Effect::Keys(keys) => keys.iter().for_each(|key| self.add_key(key, max)),
            Effect::Entries(entries) => entries.iter().for_each(|(key, _)| self.add_key(key, max)),
            Effect::Pattern(pattern) => self.add_scope(Scope::Pattern, pattern, max),
            Effect::Tag(tag) => self.add_scope(Scope::Tag, tag, max),
            Effect::Clear => {
                self.clear = true;
                self.keys = HashSet::new();
                self.patterns = HashSet::new();
                self.tags = HashSet::new();
            }
        }
        before == 0 && self.unrecorded > 0
    }

    /// Adds what `other` holds (a replay that failed goes back into the record), within `max`.
    pub(super) fn merge(&mut self, other: Pending, max: usize) {
        if other.clear {
            self.record(&Effect::Clear, max);
        }
        if self.clear {
            return;
        }
        self.unrecorded += other.unrecorded;
        for key in other.keys {
            if self.len() < max || self.keys.contains(&key) {
                self.keys.insert(key);
            } else {
                self.unrecorded += 1;
            }
        }
        for pattern in other.patterns {
            self.add_scope(Scope::Pattern, &pattern, max);
        }
        for tag in other.tags {
            self.add_scope(Scope::Tag, &tag, max);
        }
    }

    /// Adds a pattern or a tag, within `max`.
    fn add_scope(&mut self, scope: Scope, name: &str, max: usize) {
        let full = self.len() >= max;
        let set = match scope {
            Scope::Pattern => &mut self.patterns,
            Scope::Tag => &mut self.tags,
        };
        if set.contains(name) {
            return;
        }
        if full {
            self.unrecorded += 1;
        } else {
            set.insert(name.to_owned());
        }
    }

    fn add_key(&mut self, key: &str, max: usize) {
        if self.keys.contains(key) {
            return;
        }
        if self.len() < max {
            self.keys.insert(key.to_owned());
        } else {
            self.unrecorded += 1;
        }
    }

    /// The recorded keys in batches of at most `size`.
    pub(super) fn key_batches(&self, size: usize) -> Vec<Vec<&str>> {
        let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        keys.chunks(size.max(1)).map(<[&str]>::to_vec).collect()
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
        assert!(!p.record(&Effect::Keys(&["c", "d"]), 10));
        assert!(!p.record(&Effect::Pattern("user:*"), 10));
        assert_eq!(p.len(), 5);
        assert!(p.keys.contains("d") && p.patterns.contains("user:*"));
        assert!(!p.record(&Effect::Clear, 10));
        assert!(p.clear);
        assert_eq!(p.len(), 0);
        // A clear covers everything that follows.
        assert!(!p.record(&Effect::Key("e"), 10));
        assert_eq!(p.len(), 0);
        assert!(!p.is_empty());
    }

    #[test]
    fn a_full_record_stops_recording_and_never_becomes_a_clear() {
        let mut p = Pending::default();
        assert!(!p.record(&Effect::Key("a"), 2));
        assert!(!p.record(&Effect::Pattern("x*"), 2));
        assert!(
            p.record(&Effect::Key("b"), 2),
            "the first key that does not fit is reported"
        );
        assert!(!p.record(&Effect::Key("c"), 2), "reported once");
        assert!(
            !p.record(&Effect::Key("a"), 2),
            "a recorded key is not counted again"
        );
        assert!(!p.clear, "a full record must not clear the namespace");
        assert_eq!((p.len(), p.unrecorded), (2, 2));
        assert!(p.keys.contains("a") && p.patterns.contains("x*"));

        let mut zero = Pending::default();
        assert!(zero.record(&Effect::Key("a"), 0));
        assert!(
            !zero.is_empty(),
            "an unrecorded change still needs a (warning) replay"
        );
        assert!(!zero.clear);

        let many: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let mut p = Pending::default();
        assert!(p.record(&Effect::Keys(&many), 10));
        assert_eq!((p.len(), p.unrecorded), (10, 990));
    }

    #[test]
    fn merge_keeps_clears_and_the_bound() {
        let mut p = Pending::default();
        p.record(&Effect::Key("a"), 10);
        let mut back = Pending::default();
        back.record(&Effect::Key("b"), 10);
        back.record(&Effect::Pattern("p*"), 10);
        p.merge(back, 10);
        assert_eq!(p.len(), 3);

        let mut back = Pending::default();
        back.record(&Effect::Key("c"), 10);
        back.record(&Effect::Key("d"), 10);
        p.merge(back, 4);
        assert_eq!((p.len(), p.unrecorded, p.clear), (4, 1, false));

        let mut back = Pending::default();
        back.record(&Effect::Clear, 10);
        p.merge(back, 10);
        assert!(p.clear);
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn batches_cover_every_key_once() {
        let mut p = Pending::default();
        let keys: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        p.record(&Effect::Keys(&keys), 10_000);
        let batches = p.key_batches(100);
        assert_eq!(batches.len(), 11);
        assert!(batches.iter().all(|b| b.len() <= 100));
        let mut all: Vec<&str> = batches.concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1001);
    }
}
