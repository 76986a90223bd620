//! The counters of an [`AiResponseCache`](super::AiResponseCache): atomics in tables fixed at
//! construction, so that counting a read or a write takes no lock and allocates nothing.
//!
//! - Operations the settings list (`operation_ttls`) get a slot each, found by binary search.
//! - Other valid operation names claim one of [`UNLISTED_OPERATIONS`] slots on first use (the only
//!   allocation: the name, once); when all are taken, further names share the
//!   [`OTHER_OPERATIONS`] slot. This also bounds the memory that callers choosing operation names
//!   can make the counters take.
//! - Text tiers are a fixed array indexed by [`TextTier`].

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use stratacache_keys::TextTier;

use super::{AiMetrics, OperationMetrics};

/// How many operations the settings do not list are counted under their own names.
pub const UNLISTED_OPERATIONS: usize = 64;

/// The name operations are counted under once the [`UNLISTED_OPERATIONS`] slots are taken. Not a
/// valid operation name (those are `[a-z0-9_-]`), so it cannot be confused with one.
pub const OTHER_OPERATIONS: &str = "(other)";

/// What happened to a response.
#[derive(Debug, Clone, Copy)]
pub(super) enum Event {
    /// A read found it.
    Hit,
    /// A read found nothing.
    Miss,
    /// It was stored.
    Set,
}

/// Hits, misses and sets.
#[derive(Debug, Default)]
struct Tally {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
}

impl Tally {
    fn count(&self, event: Event) {
        let counter = match event {
            Event::Hit => &self.hits,
            Event::Miss => &self.misses,
            Event::Set => &self.sets,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures, or `None` while nothing was counted (such names are not reported).
    fn snapshot(&self) -> Option<OperationMetrics> {
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        let sets = self.sets.load(Ordering::Relaxed);
        let reads = hits + misses;
        (reads + sets > 0).then(|| OperationMetrics {
            hits,
            misses,
            sets,
            hit_ratio: (reads > 0).then(|| hits as f64 / reads as f64),
        })
    }
}

/// The counters of one operation.
#[derive(Debug, Default)]
struct Operation {
    tally: Tally,
    /// Keys removed by invalidations of the operation.
    invalidated: AtomicU64,
    /// Whether the operation was invalidated at all (it is reported from then on, even at 0).
    was_invalidated: AtomicBool,
}

impl Operation {
    fn invalidated(&self) -> Option<u64> {
        self.was_invalidated
            .load(Ordering::Acquire)
            .then(|| self.invalidated.load(Ordering::Relaxed))
    }
}

/// Per-operation and per-tier counters.
#[derive(Debug)]
pub(super) struct Counters {
    /// The listed operations, sorted by name.
    listed: Box<[(Box<str>, Operation)]>,
    /// Slots claimed by other operations on first use, in order.
    unlisted: Box<[(OnceLock<Box<str>>, Operation)]>,
    /// Operations beyond the unlisted slots.
    other: Operation,
    /// By tier, in the order of [`TextTier::ALL`].
    tiers: [Tally; 4],
}

impl Counters {
    /// Counters with a slot for each of `listed` (duplicates are kept once).
    pub(super) fn new<'a>(listed: impl IntoIterator<Item = &'a str>) -> Self {
        let mut names: Vec<&str> = listed.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        Self {
            listed: names
                .into_iter()
                .map(|n| (Box::from(n), Operation::default()))
                .collect(),
            unlisted: (0..UNLISTED_OPERATIONS).map(|_| Default::default()).collect(),
            other: Operation::default(),
            tiers: Default::default(),
        }
    }

    /// Counts `event` for `operation` and for `tier`.
    pub(super) fn count(&self, operation: &str, tier: TextTier, event: Event) {
        self.operation(operation).tally.count(event);
        self.tiers[tier_index(tier)].count(event);
    }

    /// Counts an invalidation of `operation` that removed `removed` keys.
    pub(super) fn count_invalidation(&self, operation: &str, removed: u64) {
        let op = self.operation(operation);
        op.invalidated.fetch_add(removed, Ordering::Relaxed);
        op.was_invalidated.store(true, Ordering::Release);
    }

    /// The figures of every operation and tier counted so far.
    pub(super) fn snapshot(&self) -> AiMetrics {
        let mut metrics = AiMetrics::default();
        let named = self
            .listed
            .iter()
            .map(|(name, op)| (&**name, op))
            .chain(
                self.unlisted
                    .iter()
                    .filter_map(|(name, op)| name.get().map(|n| (&**n, op))),
            )
            .chain(std::iter::once((OTHER_OPERATIONS, &self.other)));
        for (name, op) in named {
            if let Some(figures) = op.tally.snapshot() {
                metrics.by_operation.insert(name.to_owned(), figures);
            }
            if let Some(removed) = op.invalidated() {
                metrics.invalidated.insert(name.to_owned(), removed);
            }
        }
        metrics.by_text_tier = TextTier::ALL
            .iter()
            .zip(&self.tiers)
            .filter_map(|(tier, tally)| tally.snapshot().map(|f| (tier.as_str().to_owned(), f)))
            .collect::<BTreeMap<_, _>>();
        metrics
    }

    /// The slot of `operation`: its listed slot, the unlisted slot it claimed (claiming the first
    /// free one on first use), or the shared slot once every unlisted slot is taken.
    fn operation(&self, operation: &str) -> &Operation {
        if let Ok(i) = self.listed.binary_search_by(|(name, _)| (**name).cmp(operation)) {
            return &self.listed[i].1;
        }
        // Slots fill in order and never empty, so every task looking for a name passes the same
        // filled slots and meets at the same first free one: a name gets a single slot.
        for (name, op) in &*self.unlisted {
            let claimed: &str = match name.get() {
                Some(claimed) => claimed,
                None => {
                    // Losing the race to another name leaves that one in place.
                    let _ = name.set(Box::from(operation));
                    name.get().map_or("", |n| n)
                }
            };
            if claimed == operation {
                return op;
            }
        }
        &self.other
    }
}

fn tier_index(tier: TextTier) -> usize {
    match tier {
        TextTier::Small => 0,
        TextTier::Medium => 1,
        TextTier::Large => 2,
        TextTier::Xlarge => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_index_follows_all() {
        for (i, tier) in TextTier::ALL.into_iter().enumerate() {
            assert_eq!(tier_index(tier), i, "{tier}");
        }
    }

    #[test]
    fn listed_unlisted_and_overflowing_operations() {
        let c = Counters::new(["qa", "summarize", "qa"]);
        c.count("summarize", TextTier::Small, Event::Set);
        c.count("qa", TextTier::Large, Event::Miss);
        for i in 0..UNLISTED_OPERATIONS + 3 {
            c.count(&format!("op{i}"), TextTier::Small, Event::Hit);
        }
        // A name seen before keeps its slot, beyond the first claim too.
        c.count("op0", TextTier::Small, Event::Hit);
        c.count_invalidation("op1", 4);
        c.count_invalidation(&format!("op{}", UNLISTED_OPERATIONS + 1), 2);
        let m = c.snapshot();
        assert_eq!(m.by_operation.len(), 2 + UNLISTED_OPERATIONS + 1, "{m:?}");
        assert_eq!(m.by_operation["op0"].hits, 2);
        assert_eq!(m.by_operation[&format!("op{}", UNLISTED_OPERATIONS - 1)].hits, 1);
        assert!(!m.by_operation.contains_key(&format!("op{UNLISTED_OPERATIONS}")));
        assert_eq!(m.by_operation[OTHER_OPERATIONS].hits, 3, "{m:?}");
        assert_eq!(m.by_operation["qa"].hit_ratio, Some(0.0));
        assert_eq!(m.by_operation["summarize"].hit_ratio, None);
        assert_eq!(
            m.invalidated,
            BTreeMap::from([("op1".to_owned(), 4), (OTHER_OPERATIONS.to_owned(), 2)])
        );
        assert_eq!(m.by_text_tier.keys().collect::<Vec<_>>(), ["large", "small"]);
        assert_eq!(m.by_text_tier["small"].hits, UNLISTED_OPERATIONS as u64 + 4);
    }
}
