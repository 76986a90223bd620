//! Per-key single-flight: of the callers that miss the same key at the same time, one (the
//! leader) computes and the others (followers) wait for its result.
//!
//! The leader holds a [`Leader`] guard. When it finishes it hands the result to every follower;
//! when it is dropped unfinished (its caller was cancelled) the followers are told the flight was
//! abandoned and race to lead the next one, so nobody waits on a computation that nobody runs.
//!
//! A flight can be **superseded**: the key was written, deleted or invalidated through the same
//! cache while it ran, or a follower that gave up waiting replaced it. A superseded flight leaves
//! the map at once (later callers start a new one) and its leader does not store its value,
//! which may be older than what was written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Error, Glob};
use tokio::sync::watch;

/// Where a flight is.
#[derive(Debug, Clone)]
pub(crate) enum State {
    /// The leader is getting ready (a second look at the cache, perhaps a wait for another
    /// process's lease).
    Running,
    /// The leader is computing.
    Computing,
    /// The leader finished: its value, or its error (shared by every follower).
    Done(Result<Bytes, Arc<Error>>),
    /// The leader was dropped before it finished.
    Abandoned,
    /// The flight ended without a value (a refresh that was not needed, or failed): a caller
    /// that joined it to compute leads or follows the next flight.
    Declined,
}

#[derive(Debug)]
pub(crate) struct Flight {
    state: watch::Sender<State>,
    superseded: AtomicBool,
    /// A refresh of a value still served (not a miss): its error is not cached.
    refresh: AtomicBool,
    /// The holder token of the lease the leader took, if it took one: when the leader is
    /// dropped unfinished, the caller that takes over releases it (this process knows it is
    /// dead) instead of waiting for it to run out.
    lease: Mutex<Option<String>>,
}

/// Releases a lease left by a leader dropped unfinished (in a task of its own: a drop cannot
/// wait), given the key and the holder token.
pub(crate) type Release = Box<dyn Fn(&str, String) + Send + Sync>;

/// How many leases of superseded or dropped flights are remembered before those older than the
/// lease (run out by now) are swept.
const STALE_SWEEP_AT: usize = 64;

/// The flights in progress, by key.
#[derive(Default)]
pub(crate) struct Flights {
    running: Mutex<HashMap<String, Arc<Flight>>>,
    /// Leases still held by superseded or dropped flights, by key, with when they were left:
    /// nobody will store a value under them, so the key's next flight releases the lease rather
    /// than wait for it.
    /// Several per key: a flight superseded twice may have left two.
    stale: Mutex<HashMap<String, Vec<(String, Instant)>>>,
    /// How long a stale lease may still be held (renewed up to `max_wait`, then run out):
    /// older entries are swept.
    lease: Duration,
    /// Set once by the cache: releases the lease of a leader dropped unfinished.
    release: OnceLock<Release>,
}

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights")
            .field("running", &self.len())
            .finish_non_exhaustive()
    }
}

/// A caller waiting for another's computation.
pub(crate) struct Follower {
    pub(crate) state: watch::Receiver<State>,
    flight: Arc<Flight>,
}

/// What a caller that missed is to do.
pub(crate) enum Role<'a> {
    /// Compute, then [`Leader::finish`].
    Leader(Leader<'a>),
    /// Wait for the leader's outcome.
    Follower(Follower),
}

impl Flights {
    /// Flights whose leases may be held (renewed, then run out) for at most `lease`.
    pub(crate) fn new(lease: Duration) -> Self {
        Self {
            lease,
            ..Self::default()
        }
    }

    /// Sets how a lease left by a dropped leader is released (once).
    pub(crate) fn on_dropped_lease(&self, release: Release) {
        let _ = self.release.set(release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Flight>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stale(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(String, Instant)>>> {
        self.stale.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers that the lease `token` of `key` will store nothing, sweeping entries whose
    /// lease ran out by now (so keys never asked for again do not pile up).
    fn leave(&self, key: &str, token: String) {
        let mut stale = self.stale();
        if stale.len() >= STALE_SWEEP_AT {
            let lease = self.lease;
            stale.retain(|_, tokens| {
                tokens.retain(|(_, left)| left.elapsed() < lease);
                !tokens.is_empty()
            });
        }
        let tokens = stale.entry(key.to_owned()).or_default();
        if !tokens.iter().any(|(t, _)| *t == token) {
            tokens.push((token, Instant::now()));
        }
    }

    /// Marks `flight` of `key` superseded, remembering the lease it holds.
    fn mark(&self, key: &str, flight: &Flight) {
        flight.superseded.store(true, SeqCst);
        if let Some(token) = flight
            .lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            self.leave(key, token);
        }
    }

    /// The lease of `key` a superseded or dropped flight of this process still holds, if any
    /// (taken: the caller releases it).
    pub(crate) fn take_stale_lease(&self, key: &str) -> Option<String> {
        let mut stale = self.stale();
        let tokens = stale.get_mut(key)?;
        let token = tokens.pop().map(|(token, _)| token);
        if tokens.is_empty() {
            stale.remove(key);
        }
        token
    }

    /// Joins the flight of `key`, leading it when there is none.
    pub(crate) fn join<'a>(&'a self, key: &str) -> Role<'a> {
        let mut running = self.lock();
        if let Some(flight) = running.get(key) {
            return Role::Follower(Follower {
                state: flight.state.subscribe(),
                flight: Arc::clone(flight),
            });
        }
        Role::Leader(self.lead(&mut running, key))
    }

    /// Replaces the flight `follower` waited for, when it is still the one of `key`: the caller
    /// leads the new one, and the old one's leader will not store its value. `None` when another
    /// caller replaced or ended it first.
    pub(crate) fn replace<'a>(&'a self, key: &str, follower: &Follower) -> Option<Leader<'a>> {
        let mut running = self.lock();
        if !running.get(key).is_some_and(|f| Arc::ptr_eq(f, &follower.flight)) {
            return None;
        }
        // Not a change of the key: its lease stays with it (the slow leader may still store
        // nothing, but it must not be made to compute twice by releasing its lease here).
        follower.flight.superseded.store(true, SeqCst);
        Some(self.lead(&mut running, key))
    }

    fn lead<'a>(&'a self, running: &mut HashMap<String, Arc<Flight>>, key: &str) -> Leader<'a> {
        let flight = Arc::new(Flight {
            state: watch::Sender::new(State::Running),
            superseded: AtomicBool::new(false),
            refresh: AtomicBool::new(false),
            lease: Mutex::new(None),
        });
        running.insert(key.to_owned(), Arc::clone(&flight));
        Leader {
            flights: self,
            key: key.to_owned(),
            flight,
            finished: false,
        }
    }

    /// `key` was changed through the cache: its flight (if any) is superseded.
    pub(crate) fn supersede(&self, key: &str) {
        let removed = self.lock().remove(key);
        if let Some(flight) = removed {
            self.mark(key, &flight);
        }
    }

    /// Every key matching `glob` was removed (all keys with `None`): their flights are
    /// superseded. Costs the number of flights in progress, not of entries.
    pub(crate) fn supersede_matching(&self, glob: Option<&Glob>) {
        let mut superseded = Vec::new();
        self.lock().retain(|key, flight| {
            let keep = glob.is_some_and(|g| !g.matches(key));
            if !keep {
                superseded.push((key.clone(), Arc::clone(flight)));
            }
            keep
        });
        for (key, flight) in superseded {
            self.mark(&key, &flight);
        }
    }

    /// Whether a flight of `key` is in progress.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// How many flights are in progress.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// How many callers wait for another's computation.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().values().map(|f| f.state.receiver_count()).sum()
    }

    fn end(&self, key: &str, flight: &Arc<Flight>) {
        let mut running = self.lock();
        if running.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            running.remove(key);
        }
    }
}

/// The leader of a flight; dropping it unfinished abandons the flight.
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: String,
    flight: Arc<Flight>,
    finished: bool,
}

impl Leader<'_> {
    /// Records, before it is asked for, the lease this leader is taking (so that a caller taking
    /// over after a cancellation, or the key's next flight after a change, can release it), or,
    /// with `None`, forgets it (released, or not taken).
    pub(crate) fn hold_lease(&self, token: Option<&str>) {
        let mut lease = self.flight.lease.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = std::mem::replace(&mut *lease, token.map(str::to_owned));
        {
            let mut stale = self.flights.stale();
            if let Some(previous) = previous
                && let Some(tokens) = stale.get_mut(&self.key)
            {
                // Only this flight's own token: others left by earlier flights stay.
                tokens.retain(|(t, _)| *t != previous);
                if tokens.is_empty() {
                    stale.remove(&self.key);
                }
            }
        }
        if let Some(token) = token
            && self.flight.superseded.load(SeqCst)
        {
            // Superseded before the lease was recorded: the key's next flight may release it.
            self.flights.leave(&self.key, token.to_owned());
        }
    }

    /// Marks this flight a refresh of a value still served (its error is not cached).
    pub(crate) fn refreshing(&self) {
        self.flight.refresh.store(true, SeqCst);
    }

    /// Whether this flight is a refresh ([`refreshing`](Self::refreshing)).
    pub(crate) fn is_refresh(&self) -> bool {
        self.flight.refresh.load(SeqCst)
    }

    /// Tells the followers the computation itself begins: their `max_wait` runs from now.
    pub(crate) fn computing(&self) {
        self.flight.state.send_replace(State::Computing);
    }

    /// Whether the key was changed (or the flight replaced) since this flight began: its value
    /// must not be stored.
    pub(crate) fn is_superseded(&self) -> bool {
        self.flight.superseded.load(SeqCst)
    }

    /// Ends the flight without a value (a refresh not needed, or failed; its lease, if any,
    /// released by the caller): a follower leads or follows the next flight.
    pub(crate) fn decline(mut self) {
        self.finished = true;
        self.flights.end(&self.key, &self.flight);
        self.flight.state.send_replace(State::Declined);
    }

    /// Hands `outcome` to every follower, and ends the flight: the next miss starts another.
    pub(crate) fn finish(mut self, outcome: Result<Bytes, Arc<Error>>) {
        self.finished = true;
        // Followers joining between these two steps see the outcome at once.
        self.flight.state.send_replace(State::Done(outcome));
        self.flights.end(&self.key, &self.flight);
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Its lease stores nothing: remembered for the key's next flight of this process
            // (before the flight leaves the map, so that no next flight misses it), and released
            // at once in a task.
            let token = self
                .flight
                .lease
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(token) = &token {
                self.flights.leave(&self.key, token.clone());
            }
            // Out of the map before the word: a follower woken by `Abandoned` must find no
            // flight and lead.
            self.flights.end(&self.key, &self.flight);
            if let Some(token) = token
                && let Some(release) = self.flights.release.get()
            {
                release(&self.key, token);
            }
            self.flight.state.send_replace(State::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow(flights: &Flights, key: &str) -> Follower {
        match flights.join(key) {
            Role::Follower(f) => f,
            Role::Leader(_) => panic!("expected a flight of {key} in progress"),
        }
    }

    #[test]
    fn one_leader_per_key_and_the_flight_ends_with_it() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join("k") else {
            panic!("the first caller leads");
        };
        let follower = follow(&flights, "k");
        assert_eq!(flights.waiting(), 1);
        assert!(matches!(flights.join("other"), Role::Leader(_)));
        leader.finish(Ok(Bytes::from_static(b"v")));
        assert!(matches!(&*follower.state.borrow(), State::Done(Ok(v)) if v == "v"));
        assert_eq!(flights.len(), 0);
        assert!(
            matches!(flights.join("k"), Role::Leader(_)),
            "a new flight after the end"
        );
    }

    #[test]
    fn a_dropped_leader_abandons_its_flight() {
        let flights = Flights::default();
        let leader = flights.join("k");
        let follower = follow(&flights, "k");
        drop(leader);
        assert!(matches!(&*follower.state.borrow(), State::Abandoned));
        assert!(
            matches!(flights.join("k"), Role::Leader(_)),
            "a follower can take over"
        );
    }

    #[test]
    fn a_change_supersedes_the_flight_and_a_new_one_starts() {
        let flights = Flights::default();
        let Role::Leader(old) = flights.join("user:1") else {
            panic!("leads");
        };
        let Role::Leader(other) = flights.join("post:1") else {
            panic!("leads");
        };
        flights.supersede("user:1");
        assert!(old.is_superseded());
        let Role::Leader(new) = flights.join("user:1") else {
            panic!("a caller after the change starts a new flight");
        };
        old.finish(Ok(Bytes::new()));
        assert_eq!(
            flights.len(),
            2,
            "the old leader's end leaves the new flight alone"
        );
        let glob = Glob::new("user:*");
        flights.supersede_matching(Some(&glob));
        assert!(new.is_superseded() && !other.is_superseded());
        flights.supersede_matching(None);
        assert!(other.is_superseded());
        assert_eq!(flights.len(), 0);
    }

    #[test]
    fn only_the_first_follower_replaces_a_flight() {
        let flights = Flights::default();
        let Role::Leader(hung) = flights.join("k") else {
            panic!("leads");
        };
        let (a, b) = (follow(&flights, "k"), follow(&flights, "k"));
        let replacement = flights.replace("k", &a).expect("the first replaces");
        assert!(hung.is_superseded() && !replacement.is_superseded());
        assert!(
            flights.replace("k", &b).is_none(),
            "the second follows the replacement"
        );
        hung.finish(Ok(Bytes::new()));
        assert_eq!(flights.len(), 1, "the hung leader's end leaves the replacement");
    }
}
