//! Per-key single-flight: of the callers that miss the same key at the same time, one (the
//! leader) computes and the others (followers) wait for its result.
//!
//! The leader holds a [`Leader`] guard. When it finishes it hands the result to every follower;
//! when it is dropped unfinished (its caller was cancelled) the followers are told the flight was
//! abandoned and race to lead the next one, so nobody waits on a computation that nobody runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use stratacache_core::{Bytes, Error};
use tokio::sync::watch;

/// Where a flight is.
#[derive(Debug, Clone)]
pub(crate) enum State {
    /// The leader is computing.
    Running,
    /// The leader finished: its value, or its error (shared by every follower).
    Done(Result<Bytes, Arc<Error>>),
    /// The leader was dropped before it finished.
    Abandoned,
}

#[derive(Debug)]
struct Flight {
    state: watch::Sender<State>,
}

/// The flights in progress, by key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    running: Mutex<HashMap<String, Arc<Flight>>>,
}

/// What a caller that missed is to do.
pub(crate) enum Role<'a> {
    /// Compute, then [`Leader::finish`].
    Leader(Leader<'a>),
    /// Wait for the leader's outcome.
    Follower(watch::Receiver<State>),
}

impl Flights {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Flight>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the flight of `key`, leading it when there is none.
    pub(crate) fn join<'a>(&'a self, key: &str) -> Role<'a> {
        let mut running = self.lock();
        if let Some(flight) = running.get(key) {
            return Role::Follower(flight.state.subscribe());
        }
        let flight = Arc::new(Flight {
            state: watch::Sender::new(State::Running),
        });
        running.insert(key.to_owned(), Arc::clone(&flight));
        Role::Leader(Leader {
            flights: self,
            key: key.to_owned(),
            flight,
            finished: false,
        })
    }

    /// How many flights are in progress.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
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
            // Out of the map first: a follower woken by `Abandoned` must find no flight and lead.
            self.flights.end(&self.key, &self.flight);
            self.flight.state.send_replace(State::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_leader_per_key_and_the_flight_ends_with_it() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join("k") else {
            panic!("the first caller leads");
        };
        let Role::Follower(follower) = flights.join("k") else {
            panic!("the second follows");
        };
        assert!(matches!(flights.join("other"), Role::Leader(_)));
        leader.finish(Ok(Bytes::from_static(b"v")));
        assert!(matches!(&*follower.borrow(), State::Done(Ok(v)) if v == "v"));
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
        let Role::Follower(follower) = flights.join("k") else {
            panic!("follows");
        };
        drop(leader);
        assert!(matches!(&*follower.borrow(), State::Abandoned));
        assert!(
            matches!(flights.join("k"), Role::Leader(_)),
            "a follower can take over"
        );
    }
}
