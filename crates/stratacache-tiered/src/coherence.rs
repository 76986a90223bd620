//! Keeping L1 coherent with L2 while tasks of this process read and write the same keys.
//!
//! Writes go to L2, then L1; a read that misses L1 copies what it found in L2 into L1. Without
//! coordination, two interleavings leave L1 holding a value L2 no longer has:
//!
//! - a read fetches `v1` from L2, a write stores `v2` in both tiers, then the read promotes `v1`;
//! - two writes of the same key reach L2 in one order and L1 in the other.
//!
//! Each key maps to one of [`STRIPES`] stripes holding two counters: writes begun and writes done.
//! A writer counts itself in before touching any tier and out (on drop, so a cancelled write is
//! counted out too) after its last L1 operation. Then:
//!
//! - a reader promotes only if no write was in flight on the stripe before it read L2, and removes
//!   its L1 copy again if a write began on the stripe before the copy was made
//!   ([`ReadTicket`]);
//! - a writer that overlapped another write on the stripe removes the key from L1 after its own L1
//!   write ([`WriteTicket::contended`]); when two writes overlap, both see it, so the last L1
//!   operation on the key is a removal.
//!
//! Removing from L1 is always safe (the next read goes to L2), so every doubt resolves to a
//! removal. Keys sharing a stripe only cause extra removals or skipped promotions, never stale
//! values. The counters are sequentially consistent atomics: no lock is held across an `await`.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// The number of stripes keys are spread over.
pub(crate) const STRIPES: usize = 64;

/// The counters of one stripe, on a cache line of their own.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe {
    begun: AtomicU64,
    done: AtomicU64,
}

/// Write counters per stripe of keys.
#[derive(Debug)]
pub(crate) struct Coherence {
    stripes: Box<[Stripe]>,
}

impl Coherence {
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }

    /// The stripe of `key` (FNV-1a: cheap, and collisions cost only extra L1 removals).
    fn index(key: &str) -> usize {
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        (hash % STRIPES as u64) as usize
    }

    /// Called before reading `key` from L2 for a promotion.
    pub(crate) fn read(&self, key: &str) -> ReadTicket<'_> {
        let stripe = &self.stripes[Self::index(key)];
        // `done` first: equal counts then mean no write was in flight when `begun` was read.
        let done = stripe.done.load(SeqCst);
        let begun = stripe.begun.load(SeqCst);
        ReadTicket {
            stripe,
            begun,
            quiet: begun == done,
        }
    }

    /// Counts in a write of `keys` (one count per distinct stripe, so a batch does not contend
    /// with itself).
    pub(crate) fn write<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> WriteTicket<'_> {
        let mut seen = [false; STRIPES];
        let mut slots = Vec::new();
        for key in keys {
            let index = Self::index(key);
            if !std::mem::replace(&mut seen[index], true) {
                slots.push(self.begin(index));
            }
        }
        WriteTicket {
            coherence: self,
            slots,
        }
    }

    /// Counts in a write that may touch any key (pattern invalidation, clear).
    pub(crate) fn write_all(&self) -> WriteTicket<'_> {
        WriteTicket {
            coherence: self,
            slots: (0..STRIPES).map(|index| self.begin(index)).collect(),
        }
    }

    fn begin(&self, index: usize) -> Slot {
        let stripe = &self.stripes[index];
        let begun_before = stripe.begun.fetch_add(1, SeqCst);
        let done_at_start = stripe.done.load(SeqCst);
        Slot {
            index,
            begun_before,
            done_at_start,
        }
    }
}

/// What a reader saw of its key's stripe before reading L2.
#[derive(Debug)]
pub(crate) struct ReadTicket<'a> {
    stripe: &'a Stripe,
    begun: u64,
    quiet: bool,
}

impl ReadTicket<'_> {
    /// Whether the value read from L2 may be copied into L1: no write was in flight.
    pub(crate) fn may_promote(&self) -> bool {
        self.quiet
    }

    /// Whether a write began since the ticket was taken: a copy made into L1 may be stale and must
    /// be removed.
    pub(crate) fn overlapped(&self) -> bool {
        self.stripe.begun.load(SeqCst) != self.begun
    }
}

/// One stripe counted in by a write.
#[derive(Debug)]
struct Slot {
    index: usize,
    begun_before: u64,
    done_at_start: u64,
}

/// A write in flight; counted out when dropped.
#[derive(Debug)]
pub(crate) struct WriteTicket<'a> {
    coherence: &'a Coherence,
    slots: Vec<Slot>,
}

impl WriteTicket<'_> {
    fn slot_contended(&self, slot: &Slot) -> bool {
        // Another write was in flight when this one began, or began since.
        slot.begun_before != slot.done_at_start
            || self.coherence.stripes[slot.index].begun.load(SeqCst) != slot.begun_before + 1
    }

    /// Whether another write overlapped this one on `key`'s stripe: call it after the L1 write,
    /// and remove `key` from L1 if it did.
    pub(crate) fn contended(&self, key: &str) -> bool {
        let index = Coherence::index(key);
        self.slots
            .iter()
            .find(|slot| slot.index == index)
            .is_none_or(|slot| self.slot_contended(slot))
    }

    /// Whether another write overlapped this one on any of its stripes.
    pub(crate) fn any_contended(&self) -> bool {
        self.slots.iter().any(|slot| self.slot_contended(slot))
    }
}

impl Drop for WriteTicket<'_> {
    fn drop(&mut self) {
        for slot in &self.slots {
            self.coherence.stripes[slot.index].done.fetch_add(1, SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_write_is_not_contended_and_lets_reads_promote() {
        let c = Coherence::new();
        let before = c.read("k");
        assert!(before.may_promote());
        let w = c.write(["k"]);
        assert!(!w.contended("k"));
        assert!(before.overlapped(), "a write began after the read ticket");
        assert!(!c.read("k").may_promote(), "a write is in flight");
        drop(w);
        let after = c.read("k");
        assert!(after.may_promote() && !after.overlapped());
    }

    #[test]
    fn overlapping_writes_both_see_contention() {
        let c = Coherence::new();
        let first = c.write(["k"]);
        let second = c.write(["k"]);
        assert!(first.contended("k"), "a later write began");
        assert!(second.contended("k"), "an earlier write is in flight");
        drop(first);
        drop(second);
        let third = c.write(["k"]);
        assert!(!third.contended("k"), "earlier writes are done");
        assert!(!third.any_contended());
    }

    #[test]
    fn a_batch_does_not_contend_with_itself() {
        let c = Coherence::new();
        let keys: Vec<String> = (0..500).map(|i| format!("key:{i}")).collect();
        let w = c.write(keys.iter().map(String::as_str));
        assert_eq!(w.slots.len(), STRIPES, "500 keys cover every stripe once");
        assert!(!w.any_contended());
        assert!(keys.iter().all(|k| !w.contended(k)));
        let all = c.write_all();
        assert!(w.any_contended() && all.any_contended());
    }

    #[test]
    fn a_write_finished_before_the_read_does_not_block_promotion() {
        let c = Coherence::new();
        drop(c.write(["k"]));
        drop(c.write_all());
        assert!(c.read("k").may_promote());
    }
}
