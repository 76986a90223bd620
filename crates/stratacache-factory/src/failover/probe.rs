//! The background task: connects a disconnected primary, checks it while the circuit is open,
//! replays the record and closes the circuit.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use stratacache_core::{Error, ErrorKind, Health, HealthStatus, Result, SharedCache};

use super::pending::Pending;
use super::state::{Shared, bump};

/// How many keys the replay deletes from the primary in one `delete_many` (one `UNLINK`).
pub(super) const REPLAY_BATCH: usize = 256;

/// How many records a recovery replays with the circuit still open before it closes the circuit
/// and replays what is left: writers that keep recording through the fallback faster than the
/// replay removes keys must not keep the circuit open forever. Deleting a key that this instance
/// has meanwhile written to the primary again only costs a miss, never serves a stale value.
const OPEN_REPLAY_PASSES: u32 = 4;

/// What a round of the background task ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// The circuit is closed and nothing is left to replay: the task ends.
    Done,
    /// Try again after the probe interval.
    Again,
}

/// What to do after looking at the record.
enum Next {
    Replay(Pending),
    /// The circuit was just closed with this record left: replay it, circuit closed.
    Last(Pending),
    /// The circuit opened during a repair: check the primary first.
    Check,
    /// The circuit is closed (`recovered`: just now) and the record empty: the task ends.
    Closed {
        recovered: bool,
    },
}

/// The task: a round every `interval` until one is [`Round::Done`], the cache is dropped (the
/// [`Weak`] no longer upgrades) or closed (which also aborts the task).
pub(super) async fn run(shared: Weak<Shared>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.is_stopped() || shared.round().await == Round::Done {
            return;
        }
    }
}

impl Shared {
    /// Connects if needed, checks the primary if the circuit is open, replays the record and
    /// closes the circuit.
    async fn round(&self) -> Round {
        let primary = match self.primary.get() {
            Some(primary) => Arc::clone(primary),
            None => match self.connect().await {
                Some(primary) => primary,
                None => return Round::Again,
            },
        };
        // A repair (the circuit closed, a write failed over) replays without a check: the replay
        // itself tells whether the primary answers.
        let checked = self.open.load(Ordering::Acquire);
        if checked && !self.check(&primary).await {
            return Round::Again;
        }
        let mut passes = 0;
        loop {
            passes += 1;
            let batch = match self.take_or_finish(checked, passes > OPEN_REPLAY_PASSES) {
                Next::Replay(batch) => batch,
                Next::Last(batch) => {
                    self.recovered().await;
                    batch
                }
                Next::Check => return Round::Again,
                Next::Closed { recovered } => {
                    if recovered {
                        self.recovered().await;
                    }
                    return Round::Done;
                }
            };
            let size = batch.len();
            if let Err(error) = self.replay(&primary, &batch).await {
                bump(&self.counters.failed_replays);
                let mut state = self.lock();
                // Counted once, when a replay succeeds.
                let batch = Pending {
                    unrecorded: 0,
                    ..batch
                };
                state.pending.merge(batch, self.config.max_replay_keys);
                state.last_error = Some(format!("replay: {error}"));
                drop(state);
                tracing::debug!(%error, "the replay on the primary failed: retrying later");
                return Round::Again;
            }
            self.counters.replayed.fetch_add(size as u64, Ordering::Relaxed);
        }
    }

    /// After the circuit closed on a recovery.
    async fn recovered(&self) {
        tracing::info!("the primary cache answers again: back from the fallback");
        // Written during the outage, its entries would be stale at the next one.
        if let Err(error) = self.fallback.clear().await {
            tracing::warn!(%error, "could not clear the fallback cache after the recovery");
        }
    }

    /// Under the lock: the record to replay, or, when it is empty, the end of the task (closing
    /// the circuit if it is open and `checked`). With `close_now` (and `checked`), an open
    /// circuit closes whatever is left, which comes back as [`Next::Last`].
    fn take_or_finish(&self, checked: bool, close_now: bool) -> Next {
        let mut state = self.lock();
        let close_now = close_now && checked && state.open;
        if !state.pending.is_empty() && !close_now {
            return Next::Replay(std::mem::take(&mut state.pending));
        }
        if state.open && !checked {
            // Opened during a repair: check the primary at the next round first.
            return Next::Check;
        }
        let recovered = state.open;
        if recovered {
            state.open = false;
            self.open.store(false, Ordering::Release);
            self.epoch.fetch_add(1, Ordering::AcqRel);
            self.failures.store(0, Ordering::Relaxed);
            state.opened_at = None;
            state.switched_at = Some(std::time::Instant::now());
            state.last_error = None;
            bump(&self.counters.recoveries);
        }
        if !state.pending.is_empty() {
            // `close_now`: the rest is replayed with the circuit closed; the task goes on.
            return Next::Last(std::mem::take(&mut state.pending));
        }
        state.task = None;
        Next::Closed { recovered }
    }

    /// One connection attempt of a disconnected cache.
    async fn connect(&self) -> Option<SharedCache> {
        let connector = self.connector.as_ref()?;
        bump(&self.counters.probes);
        match connector.connect().await {
            Ok(primary) => {
                let state = self.lock();
                if self.is_stopped() {
                    // Closed (or stopped) while connecting: nobody will use or close this
                    // primary but us.
                    drop(state);
                    if let Err(error) = primary.close().await {
                        tracing::debug!(%error, "closing a primary connected after close");
                    }
                    return None;
                }
                let primary = Arc::clone(self.primary.get_or_init(|| primary));
                drop(state);
                tracing::debug!("the failover cache connected its primary");
                Some(primary)
            }
            Err(error) => {
                bump(&self.counters.failed_probes);
                tracing::debug!(%error, "connecting the primary cache failed");
                self.lock().last_error = Some(error.to_string());
                None
            }
        }
    }

    /// Asks the primary for its health, within the probe timeout: `true` unless it is unhealthy.
    async fn check(&self, primary: &SharedCache) -> bool {
        bump(&self.counters.probes);
        let timeout = self.config.probe_timeout;
        let health = tokio::time::timeout(timeout, primary.health())
            .await
            .unwrap_or_else(|_| {
                Health::new("primary", HealthStatus::Unhealthy)
                    .with_latency(timeout)
                    .with_message(format!("no answer within the probe timeout ({timeout:?})"))
            });
        let ok = health.status != HealthStatus::Unhealthy;
        let mut state = self.lock();
        if !ok {
            bump(&self.counters.failed_probes);
            state.last_error = Some(health.messages.join("; "));
        }
        state.primary_health = Some(health);
        ok
    }

    /// Makes the primary forget what `batch` names: a requested clear, or the recorded patterns
    /// and keys (keys in [`REPLAY_BATCH`]es, each one `delete_many` within the probe timeout).
    /// Nothing else is ever deleted: a record that overflowed only warns about what it missed.
    async fn replay(&self, primary: &SharedCache, batch: &Pending) -> Result<()> {
        if batch.clear {
            primary.clear().await?;
            bump(&self.counters.primary_clears);
            return Ok(());
        }
        if batch.unrecorded > 0 {
            self.counters
                .unrecorded
                .fetch_add(batch.unrecorded, Ordering::Relaxed);
            tracing::warn!(
                unrecorded = batch.unrecorded,
                max_replay_keys = self.config.max_replay_keys,
                "more keys were changed through the fallback than max_replay_keys: the primary may \
                 serve older values of those keys until they expire (only the recorded keys are \
                 removed from it; other instances' keys are never touched)"
            );
        }
        for pattern in &batch.patterns {
            skip_invalid(primary.invalidate_pattern(pattern).await.map(drop))?;
        }
        for tag in &batch.tags {
            skip_invalid(primary.remove_tagged(tag).await.map(drop))?;
        }
        let timeout = self.config.probe_timeout;
        for keys in batch.key_batches(REPLAY_BATCH) {
            match tokio::time::timeout(timeout, primary.delete_many(&keys)).await {
                Ok(deleted) => skip_invalid(deleted.map(drop))?,
                Err(_) => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "deleting {} keys from the primary took longer than {timeout:?}",
                            keys.len()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A key or pattern the primary refuses as invalid input (an empty key, say) cannot have been
/// stored there: there is nothing to remove.
fn skip_invalid(result: Result<()>) -> Result<()> {
    match result {
        Err(e) if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::Unsupported) => Ok(()),
        other => other,
    }
}
