//! Coalescing across processes: before a flight's leader computes, it takes the key's lease on
//! the cache ([`Cache::acquire_lease`]). A process that finds the lease taken waits for the value
//! instead, looking for it every `poll_interval` (jittered; one read, the lease asked for again
//! only every tenth of the lease, at most every 50 ms), and takes the lease over when it
//! runs out (its holder died, or computed longer than `max_wait`) or is released without a
//! value. The holder renews its lease every third of its duration while it computes (up to
//! `max_wait`), and releases it once the value is stored. A holder cancelled mid-way leaves it
//! to the caller of its process that takes over (which releases it), or, if there is none, to
//! run out.

use std::sync::PoisonError;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use stratacache_core::{Bytes, Cache, Error, ErrorKind, Result, Ttl};
use tokio::time::Instant;

use crate::cache::Shared;
use crate::config::WaitPolicy;
use crate::flight::Leader;
use crate::freshness::Freshness;
use crate::stats::bump;

/// How long leases are not asked for after the cache refused one for want of permission.
const LEASE_REFUSAL_PAUSE: Duration = Duration::from_secs(60);

/// A lease this process holds: its key's holder token.
pub(crate) struct Held(String);

/// What the leader of a flight does after its second look at the cache.
pub(crate) enum Claimed {
    /// Another process computed it meanwhile.
    Value(Bytes),
    /// Compute: holding the lease, or without one (the cache has none, it failed, or the wait
    /// timed out under `compute_self`).
    Compute(Option<Held>),
    /// The wait for another process timed out under [`WaitPolicy::Fail`].
    Failed(Error),
}

/// A fresh holder token: 128 random bits.
fn token() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// `interval` scaled by a random factor between 0.5 and 1.5.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.5 + fastrand::f64())
}

/// Why a lease could not be used.
pub(crate) enum NoLease {
    /// Taken by another holder.
    Taken,
    /// The cache has no leases, or the call failed: compute without one.
    Unusable,
}

impl<C: Cache> Shared<C> {
    pub(crate) async fn try_lease(
        &self,
        key: &str,
        leader: &Leader<'_>,
    ) -> std::result::Result<Held, NoLease> {
        if !self.config.distributed || self.no_leases.load(Relaxed) || self.leases_refused() {
            return Err(NoLease::Unusable);
        }
        let holder = token();
        // Recorded first: cancelled during the call, the lease may be ours all the same.
        leader.hold_lease(Some(&holder));
        let taken = self.inner.acquire_lease(key, &holder, self.config.lease).await;
        if !matches!(taken, Ok(true)) {
            leader.hold_lease(None);
        }
        match taken {
            Ok(true) => {
                bump(&self.counters.leases_acquired);
                Ok(Held(holder))
            }
            Ok(false) => Err(NoLease::Taken),
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                self.no_leases.store(true, Relaxed);
                Err(NoLease::Unusable)
            }
            Err(e) if e.kind() == ErrorKind::Authentication => {
                // Not going to change from one miss to the next (an ACL rule without the
                // lease keys, typically): said once, then tried again after a pause.
                bump(&self.counters.lease_errors);
                *self
                    .leases_refused_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + LEASE_REFUSAL_PAUSE);
                tracing::warn!(
                    key,
                    error = %e,
                    "get_or_compute: the cache refuses leases (does the ACL rule grant the :lease:<namespace>:* keys?); \
                     coalescing within this process only, asking again in {LEASE_REFUSAL_PAUSE:?}"
                );
                Err(NoLease::Unusable)
            }
            Err(e) => {
                bump(&self.counters.lease_errors);
                tracing::warn!(key, error = %e, "get_or_compute: the lease could not be taken; computing without it");
                Err(NoLease::Unusable)
            }
        }
    }

    /// Whether leases were refused for want of permission a short while ago.
    fn leases_refused(&self) -> bool {
        let mut until = self
            .leases_refused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    /// Takes the lease of `key`, or waits for the process that holds it (at most `max_wait`).
    pub(crate) async fn claim(
        &self,
        key: &str,
        leader: &Leader<'_>,
        policy: &Freshness,
        patient: bool,
    ) -> Claimed {
        let deadline = Instant::now() + self.config.max_wait;
        let mut waited = false;
        loop {
            match self.try_lease(key, leader).await {
                Ok(held) => {
                    // The holder before us may have stored the value, then released.
                    if let Some(outcome) = self.look(key, policy).await.outcome() {
                        self.release(key, &held).await;
                        leader.hold_lease(None);
                        return self.claimed(outcome);
                    }
                    if waited {
                        bump(&self.counters.lease_takeovers);
                    }
                    return Claimed::Compute(Some(held));
                }
                Err(NoLease::Unusable) => return Claimed::Compute(None),
                Err(NoLease::Taken) => {
                    // Held by a superseded flight of this process: its value will not be
                    // stored, so nobody should wait for it.
                    // (Released here, or already by the task a dropped leader spawned: ask
                    // again either way, once.)
                    if let Some(stale) = self.flights.take_stale_lease(key) {
                        if let Err(e) = self.inner.release_lease(key, &stale).await {
                            tracing::debug!(key, error = %e, "get_or_compute: a stale lease could not be released");
                        }
                        continue;
                    }
                    if !patient {
                        return Claimed::Compute(None);
                    }
                }
            }
            if !waited {
                waited = true;
                bump(&self.counters.remote_waits);
            }
            // Look for the value every `poll_interval` (one read); ask for the lease again
            // (one script) only every `lease_check`, which is how soon a lease that ran out
            // (its holder died) is taken over.
            let next_check = Instant::now() + self.lease_check();
            loop {
                if leader.is_superseded() || Instant::now() >= deadline {
                    return self.gave_up(key, leader);
                }
                let poll = Instant::now() + jittered(self.config.poll_interval);
                tokio::time::sleep_until(deadline.min(next_check).min(poll)).await;
                if let Some(outcome) = self.look(key, policy).await.outcome() {
                    return self.claimed(outcome);
                }
                if Instant::now() >= next_check {
                    break;
                }
            }
        }
    }

    /// How often a process waiting for another's value asks for the lease again: a tenth of
    /// the lease, at most 50 ms, at least `poll_interval`.
    fn lease_check(&self) -> Duration {
        // Not `clamp`: a `poll_interval` above 50 ms is valid, and wins.
        (self.config.lease / 10)
            .min(Duration::from_millis(50))
            .max(self.config.poll_interval)
    }

    /// The wait for another process ended without its value: superseded (compute, not to be
    /// stored), or `max_wait` reached (by policy).
    fn gave_up(&self, key: &str, leader: &Leader<'_>) -> Claimed {
        if !leader.is_superseded() {
            bump(&self.counters.wait_timeouts);
            if self.config.on_wait_timeout == WaitPolicy::Fail {
                return Claimed::Failed(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "waited {:?} (max_wait) for another process's computation of {key:?}",
                        self.config.max_wait
                    ),
                ));
            }
        }
        Claimed::Compute(None)
    }

    /// What another process left: its value, or its cached error.
    fn claimed(&self, outcome: Result<Bytes>) -> Claimed {
        match outcome {
            Ok(value) => {
                bump(&self.counters.coalesced);
                Claimed::Value(value)
            }
            Err(error) => {
                bump(&self.counters.negative_hits);
                Claimed::Failed(error)
            }
        }
    }

    /// Computes and stores while holding `lease` (renewed every third of its duration), then
    /// releases it; without a lease, just computes and stores.
    pub(crate) async fn compute_holding<F, Fut>(
        &self,
        leader: &Leader<'_>,
        key: &str,
        ttl: Ttl,
        policy: &Freshness,
        compute: F,
        lease: Option<Held>,
    ) -> Result<Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        let Some(held) = lease else {
            leader.computing();
            return self
                .compute_and_store(Some(leader), key, ttl, policy, compute)
                .await;
        };
        // Renewed while the computation runs, up to `max_wait` (nobody waits longer for it): a
        // computation that hangs then loses its lease, and another process takes over.
        let renewing = async {
            let (every, until) = (self.config.lease / 3, Instant::now() + self.config.max_wait);
            while Instant::now() + every <= until {
                tokio::time::sleep(every).await;
                if leader.is_superseded() {
                    // Its value will not be stored: nobody should wait for it, and the key's
                    // next flight releases the lease (it must not be taken back here).
                    break;
                }
                match self.inner.renew_lease(key, &held.0, self.config.lease).await {
                    Ok(true) => {}
                    // Not ours any more, or never seen by the cache answering (a failover to
                    // its fallback): take it again with the same token, unless another holder
                    // has it.
                    Ok(false) => match self.inner.acquire_lease(key, &held.0, self.config.lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            bump(&self.counters.lease_errors);
                            tracing::warn!(
                                key,
                                "get_or_compute: the lease was lost while computing; another process may compute too"
                            );
                            break;
                        }
                        Err(e) => {
                            bump(&self.counters.lease_errors);
                            tracing::warn!(key, error = %e, "get_or_compute: the lease could not be taken again");
                        }
                    },
                    Err(e) => {
                        bump(&self.counters.lease_errors);
                        tracing::warn!(key, error = %e, "get_or_compute: the lease could not be renewed");
                    }
                }
            }
            std::future::pending::<()>().await;
        };
        leader.computing();
        let outcome = tokio::select! {
            outcome = self.compute_and_store(Some(leader), key, ttl, policy, compute) => outcome,
            () = renewing => unreachable!("renewing never ends"),
        };
        self.release(key, &held).await;
        leader.hold_lease(None);
        outcome
    }

    pub(crate) async fn release(&self, key: &str, held: &Held) {
        if let Err(e) = self.inner.release_lease(key, &held.0).await {
            bump(&self.counters.lease_errors);
            tracing::warn!(key, error = %e, "get_or_compute: the lease could not be released; it runs out by itself");
        }
    }
}
