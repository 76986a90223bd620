//! The bounded table of invalidation counts per pattern.
//!
//! A `RwLock<HashMap<pattern, AtomicU64>>`: a known pattern takes the read lock for one lookup and
//! one `fetch_add`, so concurrent invalidations of known patterns never wait for each other; only
//! the first invalidation of a new pattern takes the write lock, for one insertion (at most
//! `max_patterns` times in the tracker's life). Once the table is full, new patterns are counted
//! in one `"(other)"` counter without any write lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use super::OTHER_PATTERNS;
use super::stats::PatternCount;

/// Counts per pattern, at most `max` patterns by name.
#[derive(Debug)]
pub(crate) struct PatternTable {
    max: usize,
    counts: RwLock<HashMap<Box<str>, AtomicU64>>,
    other: AtomicU64,
}

impl PatternTable {
    /// An empty table naming at most `max` patterns.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            counts: RwLock::new(HashMap::new()),
            other: AtomicU64::new(0),
        }
    }

    /// Counts one invalidation with `pattern` (already truncated).
    pub(crate) fn record(&self, pattern: &str) {
        {
            let counts = self.counts.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = counts.get(pattern) {
                count.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if counts.len() >= self.max {
                self.other.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let key: Box<str> = pattern.into(); // allocated before taking the write lock
        let mut counts = self.counts.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get(pattern) {
            count.fetch_add(1, Ordering::Relaxed);
        } else if counts.len() < self.max {
            counts.insert(key, AtomicU64::new(1));
        } else {
            self.other.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The `n` largest counts (`"(other)"` included when non-zero), by count descending then
    /// pattern ascending.
    pub(crate) fn top(&self, n: usize) -> Vec<PatternCount> {
        let other = self.other.load(Ordering::Relaxed);
        let counts = self.counts.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<(&str, u64)> = counts
            .iter()
            .map(|(p, c)| (&**p, c.load(Ordering::Relaxed)))
            .chain((other > 0).then_some((OTHER_PATTERNS, other)))
            .collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        all.truncate(n);
        all.into_iter()
            .map(|(pattern, count)| PatternCount {
                pattern: pattern.to_owned(),
                count,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_with_other() {
        let table = PatternTable::new(2);
        for p in ["a", "b", "a", "c", "d", "a", "b", "c"] {
            table.record(p);
        }
        let top = table.top(10);
        let got: Vec<_> = top.iter().map(|p| (p.pattern.as_str(), p.count)).collect();
        assert_eq!(got, [("(other)", 3), ("a", 3), ("b", 2)]); // ties by pattern bytes
        assert_eq!(table.top(1).len(), 1);
    }
}
