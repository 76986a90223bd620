//! Generations of the keys changed through a [`ComputeCache`](crate::ComputeCache): a read notes
//! its key's generation before it reads, and a change bumps it before it removes the key's local
//! copy, so that a read that raced with a change keeps no copy of what it read (and stale-if-error
//! reads again). Striped by key (a change of one key does not discard the copies other reads are
//! keeping), with one more counter for the changes of many keys at once (clear, a pattern).

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// How many stripes the keys are spread over.
const STRIPES: usize = 64;

/// The generations.
#[derive(Debug)]
pub(crate) struct Generations {
    all: AtomicU64,
    stripes: [AtomicU64; STRIPES],
}

impl Default for Generations {
    fn default() -> Self {
        Self {
            all: AtomicU64::new(0),
            stripes: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A key's generation, as a read saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen(u64, u64);

impl Generations {
    fn stripe(&self, key: &str) -> &AtomicU64 {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        // The remainder is below STRIPES: it fits.
        #[allow(clippy::cast_possible_truncation)]
        &self.stripes[(hash % STRIPES as u64) as usize]
    }

    /// `key`'s generation now.
    pub(crate) fn of(&self, key: &str) -> Seen {
        Seen(self.all.load(SeqCst), self.stripe(key).load(SeqCst))
    }

    /// `keys` changed (every key with `None`).
    pub(crate) fn bump(&self, keys: Option<&[&str]>) {
        match keys {
            Some(keys) => keys.iter().for_each(|key| {
                self.stripe(key).fetch_add(1, SeqCst);
            }),
            None => {
                self.all.fetch_add(1, SeqCst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_moves_its_keys_and_a_change_of_all_moves_every_key() {
        let g = Generations::default();
        let (a, b) = (g.of("a"), g.of("b"));
        g.bump(Some(&["a"]));
        assert_ne!(g.of("a"), a);
        // "b" moved only if it shares a's stripe (1 in 64); find a key that does not.
        let other = (0..)
            .map(|i| format!("k{i}"))
            .find(|k| g.of(k) == Seen(0, 0))
            .unwrap();
        assert_eq!(g.of(&other), Seen(0, 0));
        let before = g.of("b");
        g.bump(None);
        assert_ne!(g.of("b"), before);
        assert_ne!(g.of("b"), b);
    }
}
