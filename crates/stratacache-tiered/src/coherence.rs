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
//! Pattern invalidations and clears may touch any key, but only the keys they match matter: each
//! one is logged with its [`Glob`] (a clear with one that matches everything) and a sequence
//! number while it runs ([`InvalidationTicket`]), and a little after. Then:
//!
//! - a reader promotes only if no invalidation matching its key was in flight before it read L2,
//!   and removes its L1 copy again if an invalidation matching its key began since; promotions of
//!   other keys go on during the invalidation;
//! - a writer of a key that an invalidation in flight (or begun since the write) matches removes
//!   the key from L1 after its own L1 write;
//! - an invalidation that overlapped any write runs its L1 pass again after L2's.
//!
//! Removing from L1 is always safe (the next read goes to L2), so every doubt resolves to a
//! removal. Keys sharing a stripe only cause extra removals or skipped promotions, never stale
//! values; a ticket older than an invalidation dropped from the log counts as overlapped by it.
//! The counters are sequentially consistent atomics, and the invalidation log is behind a mutex
//! held for a few instructions only, never across an `await` (and not at all while no
//! invalidation ran since the ticket was taken).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, PoisonError};

use stratacache_core::Glob;

/// The number of stripes keys are spread over.
pub(crate) const STRIPES: usize = 64;

/// How many finished invalidations the log keeps for the tickets taken before they began.
const LOGGED: usize = 64;

/// The counters of one stripe, on a cache line of their own.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe {
    begun: AtomicU64,
    done: AtomicU64,
}

/// What an invalidation removes.
#[derive(Debug)]
pub(crate) enum Scope {
    /// Every key (`clear`).
    All,
    /// The keys matching a pattern (`invalidate_pattern`).
    Matching(Glob),
}

impl Scope {
    fn covers(&self, key: &str) -> bool {
        match self {
            Self::All => true,
            Self::Matching(glob) => glob.matches(key),
        }
    }
}

/// One invalidation of the log.
#[derive(Debug)]
struct Logged {
    seq: u64,
    scope: Scope,
    done: bool,
}

/// The recent invalidations, in sequence order: every one in flight, and up to [`LOGGED`] in all.
#[derive(Debug, Default)]
struct Log {
    entries: VecDeque<Logged>,
    /// One above the highest number dropped from the log: a ticket older than that may have
    /// missed an invalidation.
    dropped_below: u64,
}

impl Log {
    /// Whether an invalidation numbered `since` or later covers `key`; `true` when one of them
    /// may have been dropped from the log already.
    fn covers_since(&self, since: u64, key: &str) -> bool {
        since < self.dropped_below || self.entries.iter().any(|e| e.seq >= since && e.scope.covers(key))
    }
}

/// Write counters per stripe of keys, and the log of invalidations.
#[derive(Debug)]
pub(crate) struct Coherence {
    stripes: Box<[Stripe]>,
    /// Invalidations begun: the sequence number of the next one. Written under the log's lock.
    invalidations: AtomicU64,
    /// Invalidations in flight. Written under the log's lock.
    in_flight: AtomicU64,
    log: Mutex<Log>,
}

impl Coherence {
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            invalidations: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            log: Mutex::new(Log::default()),
        }
    }

    /// The stripe of `key` (FNV-1a: cheap, and collisions cost only extra L1 removals).
    fn index(key: &str) -> usize {
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        (hash % STRIPES as u64) as usize
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // Every update of the log is a push, a flag or a pop: consistent whatever panicked.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first invalidation a ticket taken now must look at: the oldest in flight, else the
    /// next to begin. Lock-free while none is in flight.
    fn invalidations_since(&self) -> u64 {
        // `invalidations` first: an invalidation it counts is still counted by `in_flight`
        // below, unless it is done (then its L2 removal came before anything the caller does).
        let next = self.invalidations.load(SeqCst);
        if self.in_flight.load(SeqCst) == 0 {
            return next;
        }
        let log = self.log();
        log.entries
            .iter()
            .find(|e| !e.done)
            .map_or(next, |e| e.seq.min(next))
    }

    /// Whether an invalidation numbered `since` or later covers `key` (lock-free when none began).
    fn invalidated_since(&self, since: u64, key: &str) -> bool {
        self.invalidations.load(SeqCst) != since && self.log().covers_since(since, key)
    }

    /// Called before reading `key` from L2 for a promotion.
    pub(crate) fn read<'a>(&'a self, key: &'a str) -> ReadTicket<'a> {
        let stripe = &self.stripes[Self::index(key)];
        // `done` first: equal counts then mean no write was in flight when `begun` was read.
        let done = stripe.done.load(SeqCst);
        let begun = stripe.begun.load(SeqCst);
        let since = self.invalidations.load(SeqCst);
        // Any invalidation in flight that covers the key was begun before `since`.
        let invalidating = self.in_flight.load(SeqCst) != 0
            && self.log().entries.iter().any(|e| !e.done && e.scope.covers(key));
        ReadTicket {
            coherence: self,
            key,
            stripe,
            begun,
            since,
            quiet: begun == done && !invalidating,
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
            since: self.invalidations_since(),
        }
    }

    /// Logs an invalidation of `scope` (pattern invalidation, clear) until the ticket is dropped.
    pub(crate) fn invalidate(&self, scope: Scope) -> InvalidationTicket<'_> {
        let seq = {
            let mut log = self.log();
            let seq = self.invalidations.load(SeqCst);
            log.entries.push_back(Logged {
                seq,
                scope,
                done: false,
            });
            // In flight before begun: see `invalidations_since`.
            self.in_flight.fetch_add(1, SeqCst);
            self.invalidations.store(seq + 1, SeqCst);
            seq
        };
        // After logging: a write this snapshot misses has seen the invalidation in the log.
        let writes = self
            .stripes
            .iter()
            .map(|s| {
                let done = s.done.load(SeqCst);
                (s.begun.load(SeqCst), done)
            })
            .collect();
        InvalidationTicket {
            coherence: self,
            seq,
            writes,
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

/// What a reader saw of its key's stripe and of the invalidations before reading L2.
#[derive(Debug)]
pub(crate) struct ReadTicket<'a> {
    coherence: &'a Coherence,
    key: &'a str,
    stripe: &'a Stripe,
    begun: u64,
    /// The first invalidation not known when the ticket was taken.
    since: u64,
    quiet: bool,
}

impl ReadTicket<'_> {
    /// Whether the value read from L2 may be copied into L1: no write of the key's stripe and no
    /// invalidation covering the key was in flight.
    pub(crate) fn may_promote(&self) -> bool {
        self.quiet
    }

    /// Whether a write of the key's stripe or an invalidation covering the key began since the
    /// ticket was taken: a copy made into L1 may be stale and must be removed.
    pub(crate) fn overlapped(&self) -> bool {
        self.stripe.begun.load(SeqCst) != self.begun || self.coherence.invalidated_since(self.since, self.key)
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
    /// The first invalidation that was in flight or not begun yet when the write began.
    since: u64,
}

impl WriteTicket<'_> {
    fn slot_contended(&self, slot: &Slot) -> bool {
        // Another write was in flight when this one began, or began since.
        slot.begun_before != slot.done_at_start
            || self.coherence.stripes[slot.index].begun.load(SeqCst) != slot.begun_before + 1
    }

    /// Whether another write of `key`'s stripe, or an invalidation covering `key`, overlapped
    /// this write: call it after the L1 write, and remove `key` from L1 if it did.
    pub(crate) fn contended(&self, key: &str) -> bool {
        let index = Coherence::index(key);
        self.slots
            .iter()
            .find(|slot| slot.index == index)
            .is_none_or(|slot| self.slot_contended(slot))
            || self.coherence.invalidated_since(self.since, key)
    }
}

impl Drop for WriteTicket<'_> {
    fn drop(&mut self) {
        for slot in &self.slots {
            self.coherence.stripes[slot.index].done.fetch_add(1, SeqCst);
        }
    }
}

/// An invalidation in flight; marked done in the log when dropped.
#[derive(Debug)]
pub(crate) struct InvalidationTicket<'a> {
    coherence: &'a Coherence,
    seq: u64,
    /// Each stripe's writes begun and done when the invalidation was logged.
    writes: Box<[(u64, u64)]>,
}

impl InvalidationTicket<'_> {
    /// Whether a write (of any key) was in flight when the invalidation began, or began since:
    /// its L1 write may have come after the invalidation's L1 pass.
    pub(crate) fn any_contended(&self) -> bool {
        self.coherence
            .stripes
            .iter()
            .zip(&*self.writes)
            .any(|(stripe, &(begun, done))| begun != done || stripe.begun.load(SeqCst) != begun)
    }
}

impl Drop for InvalidationTicket<'_> {
    fn drop(&mut self) {
        let coherence = self.coherence;
        let mut log = coherence.log();
        if let Some(entry) = log.entries.iter_mut().find(|e| e.seq == self.seq) {
            entry.done = true;
        }
        coherence.in_flight.fetch_sub(1, SeqCst);
        // Keep `LOGGED` for the tickets taken before they began, dropping the oldest finished
        // ones first; never one in flight.
        while log.entries.len() > LOGGED {
            let Some(dropped) = log
                .entries
                .iter()
                .position(|e| e.done)
                .and_then(|i| log.entries.remove(i))
            else {
                break;
            };
            log.dropped_below = log.dropped_below.max(dropped.seq + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matching(pattern: &str) -> Scope {
        Scope::Matching(Glob::new(pattern))
    }

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
    }

    #[test]
    fn a_batch_does_not_contend_with_itself() {
        let c = Coherence::new();
        let keys: Vec<String> = (0..500).map(|i| format!("key:{i}")).collect();
        let w = c.write(keys.iter().map(String::as_str));
        assert_eq!(w.slots.len(), STRIPES, "500 keys cover every stripe once");
        assert!(keys.iter().all(|k| !w.contended(k)));
        let all = c.invalidate(Scope::All);
        assert!(all.any_contended(), "the batch is in flight");
        assert!(
            keys.iter().all(|k| w.contended(k)),
            "a clear overlapped the batch"
        );
    }

    #[test]
    fn a_write_or_invalidation_finished_before_the_read_does_not_block_promotion() {
        let c = Coherence::new();
        drop(c.write(["k"]));
        drop(c.invalidate(Scope::All));
        drop(c.invalidate(matching("k")));
        let read = c.read("k");
        assert!(read.may_promote() && !read.overlapped());
        let write = c.write(["k"]);
        assert!(!write.contended("k"));
    }

    #[test]
    fn an_invalidation_blocks_only_the_keys_it_matches() {
        let c = Coherence::new();
        let before = [c.read("user:1"), c.read("item:1")];
        let invalidation = c.invalidate(matching("user:*"));
        assert!(!invalidation.any_contended(), "no write is in flight");
        // Tickets taken during the invalidation.
        assert!(!c.read("user:2").may_promote());
        let other = c.read("item:2");
        assert!(other.may_promote() && !other.overlapped());
        // Tickets taken before it: the matching key's copy must go, the other stays.
        assert!(before[0].overlapped() && !before[1].overlapped());
        // Writes during it: a matching key is removed from L1 after its write.
        let (user, item) = (c.write(["user:3"]), c.write(["item:3"]));
        assert!(user.contended("user:3") && !item.contended("item:3"));
        assert!(
            invalidation.any_contended(),
            "writes began during the invalidation"
        );
        drop(invalidation);
        assert!(
            user.contended("user:3"),
            "still overlapped once the invalidation is done"
        );
        drop((user, item));
        assert!(c.read("user:2").may_promote(), "done: promotions go on");
    }

    #[test]
    fn a_clear_blocks_every_key() {
        let c = Coherence::new();
        let before = c.read("k");
        let clear = c.invalidate(Scope::All);
        assert!(before.overlapped());
        assert!(!c.read("anything").may_promote());
        assert!(c.write(["x"]).contended("x"));
        drop(clear);
        assert!(c.read("anything").may_promote());
    }

    #[test]
    fn a_ticket_older_than_the_log_counts_as_overlapped() {
        let c = Coherence::new();
        let old = c.read("item:1");
        let write = c.write(["item:2"]);
        for _ in 0..=LOGGED {
            drop(c.invalidate(matching("user:*")));
        }
        assert_eq!(c.log().entries.len(), LOGGED);
        assert!(old.overlapped(), "an invalidation it may have missed was dropped");
        assert!(write.contended("item:2"));
        let fresh = c.read("item:1");
        assert!(fresh.may_promote() && !fresh.overlapped());
    }

    #[test]
    fn an_invalidation_in_flight_stays_logged() {
        let c = Coherence::new();
        let long = c.invalidate(matching("user:*"));
        for _ in 0..2 * LOGGED {
            drop(c.invalidate(matching("item:*")));
        }
        assert_eq!(c.log().entries.len(), LOGGED);
        assert!(
            !c.read("user:1").may_promote(),
            "the long invalidation still blocks its keys"
        );
        assert!(c.write(["user:1"]).contended("user:1"));
        drop(long);
        assert!(c.read("user:1").may_promote());
    }
}
