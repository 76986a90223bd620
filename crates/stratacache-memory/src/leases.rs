//! The memory cache's leases: who holds which key until when, beside the entries (which never
//! see them). They coordinate the tasks of one process sharing this cache.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Held {
    by_key: HashMap<String, (String, Instant)>,
    /// The size after the last sweep of expired leases: the next one runs when it has doubled,
    /// so sweeping costs O(1) per acquisition on average.
    swept_at: usize,
}

/// The leases in force, under one lock held for map operations only.
#[derive(Debug, Default)]
pub(crate) struct Leases(Mutex<Held>);

impl Leases {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `key` for `holder` until `duration` from `now`, unless another holder has it.
    pub(crate) fn acquire(&self, key: &str, holder: &str, duration: Duration, now: Instant) -> bool {
        let mut held = self.lock();
        if held.by_key.len() >= 2 * held.swept_at.max(64) {
            held.by_key.retain(|_, (_, until)| *until > now);
            held.swept_at = held.by_key.len();
        }
        match held.by_key.get(key) {
            Some((other, until)) if other != holder && *until > now => false,
            _ => {
                held.by_key
                    .insert(key.to_owned(), (holder.to_owned(), now + duration));
                true
            }
        }
    }

    /// Extends `holder`'s lease of `key` to `duration` from `now`, if it still holds it.
    pub(crate) fn renew(&self, key: &str, holder: &str, duration: Duration, now: Instant) -> bool {
        match self.lock().by_key.get_mut(key) {
            Some((current, until)) if current == holder && *until > now => {
                *until = now + duration;
                true
            }
            _ => false,
        }
    }

    /// Ends `holder`'s lease of `key`, if it holds it.
    pub(crate) fn release(&self, key: &str, holder: &str, now: Instant) -> bool {
        let mut held = self.lock();
        match held.by_key.get(key) {
            Some((current, until)) if current == holder => {
                let live = *until > now;
                held.by_key.remove(key);
                live
            }
            _ => false,
        }
    }

    /// Drops every lease (the cache is closed).
    pub(crate) fn clear(&self) {
        self.lock().by_key.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_exclusive_until_it_ends() {
        let (leases, t0, d) = (Leases::default(), Instant::now(), Duration::from_secs(10));
        assert!(leases.acquire("k", "a", d, t0));
        assert!(!leases.acquire("k", "b", d, t0), "held by a");
        assert!(leases.acquire("k", "a", d, t0), "a takes it again");
        assert!(!leases.renew("k", "b", d, t0));
        assert!(leases.renew("k", "a", d, t0 + Duration::from_secs(9)));
        assert!(
            !leases.acquire("k", "b", d, t0 + Duration::from_secs(15)),
            "renewed to 19 s"
        );
        assert!(!leases.release("k", "b", t0), "only the holder releases");
        assert!(leases.release("k", "a", t0));
        assert!(leases.acquire("k", "b", d, t0), "free after the release");
        assert!(
            leases.acquire("k", "c", d, t0 + Duration::from_secs(11)),
            "free once it ran out"
        );
        assert!(
            !leases.renew("k", "b", d, t0 + Duration::from_secs(11)),
            "b's ran out"
        );
    }

    #[test]
    fn expired_leases_are_swept_as_new_ones_come() {
        let (leases, t0, d) = (Leases::default(), Instant::now(), Duration::from_millis(1));
        for i in 0..10_000 {
            assert!(leases.acquire(&format!("k{i}"), "a", d, t0 + Duration::from_millis(i * 2)));
        }
        assert!(leases.len() < 200, "{} leases kept", leases.len());
    }
}
