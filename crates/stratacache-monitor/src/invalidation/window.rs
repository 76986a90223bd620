//! A fixed ring of per-minute counters, updated without locks.
//!
//! Slot `minute % len` holds the counts of one minute, tagged with that minute. The first event of
//! a new minute claims the slot by swapping its tag for [`RESETTING`] (one compare-and-swap),
//! writes its own event as the slot's only content and publishes the new tag; events that find
//! the slot already tagged with their minute only add to it (`fetch_add` / `fetch_max`). Events of
//! the same minute that arrive during the few stores of a claim spin until it is published. An
//! event whose slot already holds a later minute (a clock that went back by more than the
//! retention, or a thread delayed for that long) is left out of the windows.

use std::sync::atomic::{AtomicU64, Ordering};

/// The tag of a slot being reset by the event that claimed it.
const RESETTING: u64 = u64::MAX;

/// One minute's counts. `tag` is the minute plus one (0: never used), or [`RESETTING`].
#[derive(Debug, Default)]
struct Slot {
    tag: AtomicU64,
    count: AtomicU64,
    keys: AtomicU64,
    nanos: AtomicU64,
    max_nanos: AtomicU64,
}

/// Sums over a range of minutes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WindowTotals {
    /// Invalidations.
    pub(crate) count: u64,
    /// Keys they removed.
    pub(crate) keys: u64,
    /// Their summed duration, in nanoseconds.
    pub(crate) nanos: u64,
    /// The longest of them, in nanoseconds.
    pub(crate) max_nanos: u64,
}

/// The ring of per-minute slots.
#[derive(Debug)]
pub(crate) struct MinuteRing {
    slots: Box<[Slot]>,
}

impl MinuteRing {
    /// A ring of `minutes` slots (at least one).
    pub(crate) fn new(minutes: u64) -> Self {
        let len = usize::try_from(minutes.max(1)).unwrap_or(usize::MAX);
        Self {
            slots: (0..len).map(|_| Slot::default()).collect(),
        }
    }

    /// The number of minutes kept.
    pub(crate) fn minutes(&self) -> u64 {
        self.slots.len() as u64
    }

    fn slot(&self, minute: u64) -> &Slot {
        // The remainder is below `slots.len()`, which is a `usize`.
        &self.slots[(minute % self.minutes()) as usize]
    }

    /// Adds one invalidation of `keys` keys taking `nanos` to `minute`.
    pub(crate) fn record(&self, minute: u64, keys: u64, nanos: u64) {
        let slot = self.slot(minute);
        let tag = minute + 1;
        let mut spins = 0_u32;
        loop {
            let current = slot.tag.load(Ordering::Acquire);
            if current == tag {
                slot.count.fetch_add(1, Ordering::Relaxed);
                slot.keys.fetch_add(keys, Ordering::Relaxed);
                slot.nanos.fetch_add(nanos, Ordering::Relaxed);
                slot.max_nanos.fetch_max(nanos, Ordering::Relaxed);
                return;
            }
            if current == RESETTING {
                // Another event of this minute is writing the slot: a handful of stores.
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            if current > tag {
                // The slot has moved on to a later minute: this event is older than the window.
                return;
            }
            if slot
                .tag
                .compare_exchange(current, RESETTING, Ordering::Acquire, Ordering::Acquire)
                .is_ok()
            {
                slot.count.store(1, Ordering::Relaxed);
                slot.keys.store(keys, Ordering::Relaxed);
                slot.nanos.store(nanos, Ordering::Relaxed);
                slot.max_nanos.store(nanos, Ordering::Relaxed);
                slot.tag.store(tag, Ordering::Release);
                return;
            }
        }
    }

    /// The totals of the `minutes` minutes ending with `now_minute` (included), at most the
    /// ring's length. Minutes after `now_minute` are left out.
    pub(crate) fn sum(&self, now_minute: u64, minutes: u64) -> WindowTotals {
        let minutes = minutes.min(self.minutes());
        let first = now_minute.saturating_sub(minutes - 1);
        let mut totals = WindowTotals::default();
        for slot in &self.slots {
            let tag = slot.tag.load(Ordering::Acquire);
            if tag == 0 || tag == RESETTING || !(first..=now_minute).contains(&(tag - 1)) {
                continue;
            }
            let count = slot.count.load(Ordering::Relaxed);
            let keys = slot.keys.load(Ordering::Relaxed);
            let nanos = slot.nanos.load(Ordering::Relaxed);
            let max_nanos = slot.max_nanos.load(Ordering::Relaxed);
            if slot.tag.load(Ordering::Acquire) != tag {
                // Claimed by a later minute while being read: that minute is not in the window.
                continue;
            }
            totals.count += count;
            totals.keys = totals.keys.saturating_add(keys);
            totals.nanos = totals.nanos.saturating_add(nanos);
            totals.max_nanos = totals.max_nanos.max(max_nanos);
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_age_out_and_slots_are_reused() {
        let ring = MinuteRing::new(60);
        ring.record(0, 3, 10);
        ring.record(0, 1, 30);
        ring.record(59, 2, 5);
        assert_eq!(
            ring.sum(59, 60),
            WindowTotals {
                count: 3,
                keys: 6,
                nanos: 45,
                max_nanos: 30
            }
        );
        assert_eq!(ring.sum(59, 1).count, 1);
        assert_eq!(
            ring.sum(60, 60).count,
            1,
            "minute 0 is out of the last 60 at minute 60"
        );
        // Minute 60 reuses minute 0's slot and starts from its own event only.
        ring.record(60, 7, 1);
        assert_eq!(
            ring.sum(60, 60),
            WindowTotals {
                count: 2,
                keys: 9,
                nanos: 6,
                max_nanos: 5
            }
        );
        // An event for minute 0 now finds its slot taken by a later minute and is dropped.
        ring.record(0, 100, 100);
        assert_eq!(ring.sum(60, 60).keys, 9);
        // Minutes after `now_minute` are not counted.
        assert_eq!(ring.sum(59, 60).count, 1);
    }

    #[test]
    fn threads_racing_to_claim_new_minutes_lose_nothing() {
        let ring = MinuteRing::new(200);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for i in 0..10_000_u64 {
                        ring.record(i / 100, 1, i);
                    }
                });
            }
        });
        let totals = ring.sum(99, 200);
        assert_eq!((totals.count, totals.keys), (80_000, 80_000));
        assert_eq!(totals.max_nanos, 9_999);
        for minute in 0..100 {
            assert_eq!(ring.sum(minute, 1).count, 800, "minute {minute}");
        }
    }

    #[test]
    fn the_window_is_capped_by_the_ring() {
        let ring = MinuteRing::new(10);
        for minute in 0..10 {
            ring.record(minute, 1, 1);
        }
        assert_eq!(ring.sum(9, 1_440).count, 10);
        assert_eq!(ring.sum(9, 5).count, 5);
        assert_eq!(ring.sum(3, 1_440).count, 4);
    }
}
