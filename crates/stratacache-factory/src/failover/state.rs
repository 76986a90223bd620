//! The state a [`FailoverCache`](super::FailoverCache) shares with its background task: the
//! circuit, the failure count, the replay record and the counters.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Instant;

use stratacache_core::{Error, Health, SharedCache, StatsCounters};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::pending::{Effect, Pending};
use super::{Connector, FailoverConfig, FailoverCounters};

/// The shared state. The background task holds a [`Weak`] to it only.
pub(super) struct Shared {
    pub(super) config: FailoverConfig,
    /// Set once: at construction, or by the background task's first successful connection.
    pub(super) primary: OnceLock<SharedCache>,
    pub(super) connector: Option<Box<dyn Connector>>,
    pub(super) fallback: SharedCache,
    /// `State::open`, readable without the lock (written under it).
    pub(super) open: AtomicBool,
    /// Incremented at every transition: a failure of an operation begun before it is not counted.
    pub(super) epoch: AtomicU64,
    /// Consecutive temporary failures of the primary while closed.
    pub(super) failures: AtomicU32,
    /// `Cache::close` was called: operations fail.
    pub(super) closed: AtomicBool,
    /// `Cache::close` or `stop_recovery` was called, or the cache dropped: no background task is
    /// started any more.
    pub(super) stopped: AtomicBool,
    pub(super) state: Mutex<State>,
    pub(super) counters: Counters,
    /// Reads, writes and errors as callers saw them.
    pub(super) stats: StatsCounters,
    /// The runtime the cache was built in, for a trip outside of any runtime context.
    pub(super) runtime: Option<Handle>,
    /// This state, for the background task.
    pub(super) me: Weak<Shared>,
}

/// What changes together, under the lock.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) open: bool,
    pub(super) pending: Pending,
    /// The background task, while one runs.
    pub(super) task: Option<JoinHandle<()>>,
    /// When the circuit opened.
    pub(super) opened_at: Option<Instant>,
    /// When the circuit last opened or closed.
    pub(super) switched_at: Option<Instant>,
    /// The error that opened the circuit, or the last failure of the background task.
    pub(super) last_error: Option<String>,
    /// The primary's answer to the last probe while open.
    pub(super) primary_health: Option<Health>,
}

/// The counters behind [`FailoverCounters`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) trips: AtomicU64,
    pub(super) recoveries: AtomicU64,
    pub(super) fallback_operations: AtomicU64,
    pub(super) primary_failures: AtomicU64,
    pub(super) probes: AtomicU64,
    pub(super) failed_probes: AtomicU64,
    pub(super) replayed: AtomicU64,
    pub(super) failed_replays: AtomicU64,
    pub(super) primary_clears: AtomicU64,
    pub(super) unrecorded: AtomicU64,
}

/// Adds one to a counter.
pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(super) fn snapshot(&self) -> FailoverCounters {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FailoverCounters {
            trips: load(&self.trips),
            recoveries: load(&self.recoveries),
            fallback_operations: load(&self.fallback_operations),
            primary_failures: load(&self.primary_failures),
            probes: load(&self.probes),
            failed_probes: load(&self.failed_probes),
            replayed: load(&self.replayed),
            failed_replays: load(&self.failed_replays),
            primary_clears: load(&self.primary_clears),
            unrecorded: load(&self.unrecorded),
        }
    }
}

impl Shared {
    /// The state, whatever panicked while holding the lock (every update is a few assignments).
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The primary when an operation with `effect` goes to it, with the current epoch; `None`
    /// when it goes to the fallback (then a write is recorded first).
    pub(super) fn primary_route(&self, effect: &Effect<'_>) -> Option<(&SharedCache, u64)> {
        let epoch = self.epoch.load(Ordering::Acquire);
        if !self.open.load(Ordering::Acquire)
            && let Some(primary) = self.primary.get()
        {
            return Some((primary, epoch));
        }
        if !effect.is_read() {
            // Recorded under the lock, before the fallback is written: the background task
            // closes the circuit under the same lock once the record is empty, so a write that
            // goes to the fallback is either in the record it replays or sees the circuit closed.
            let mut state = self.lock();
            if !state.open
                && let Some(primary) = self.primary.get()
            {
                return Some((primary, self.epoch.load(Ordering::Acquire)));
            }
            self.record(&mut state, effect);
        }
        bump(&self.counters.fallback_operations);
        None
    }

    /// A success of the primary: the failure count starts again.
    pub(super) fn succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    /// A temporary failure of the primary for an operation begun in `epoch`, which the fallback
    /// serves next: counts it (opening the circuit at the threshold) and records a write.
    pub(super) fn failed_over(&self, epoch: u64, error: &Error, effect: &Effect<'_>) {
        bump(&self.counters.primary_failures);
        bump(&self.counters.fallback_operations);
        if self.epoch.load(Ordering::Acquire) == epoch {
            let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
            tracing::debug!(%error, failures, "the primary cache failed; served from the fallback");
            if failures >= self.config.failure_threshold {
                self.trip(error);
            }
        }
        if !effect.is_read() {
            let mut state = self.lock();
            self.record(&mut state, effect);
        }
    }

    /// Opens the circuit (once per transition).
    fn trip(&self, error: &Error) {
        let mut state = self.lock();
        if state.open {
            return;
        }
        state.open = true;
        self.open.store(true, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.failures.store(0, Ordering::Relaxed);
        state.opened_at = Some(Instant::now());
        state.switched_at = state.opened_at;
        state.last_error = Some(error.to_string());
        state.primary_health = None;
        bump(&self.counters.trips);
        tracing::warn!(
            %error,
            failures = self.config.failure_threshold,
            probe_interval = ?self.config.probe_interval,
            "the primary cache failed {} times in a row: serving from the fallback until it answers again",
            self.config.failure_threshold
        );
        self.ensure_task(&mut state);
    }

    /// Records a write that goes to the fallback and makes sure the background task will replay
    /// it.
    fn record(&self, state: &mut State, effect: &Effect<'_>) {
        if state.pending.record(effect, self.config.max_replay_keys) {
            tracing::warn!(
                max_replay_keys = self.config.max_replay_keys,
                "more keys were changed through the fallback than max_replay_keys: further keys \
                 are not recorded, and the primary may serve their older values after the \
                 recovery until they expire"
            );
        }
        self.ensure_task(state);
    }

    /// Starts the background task unless one runs, or the cache was closed.
    pub(super) fn ensure_task(&self, state: &mut State) {
        if state.task.as_ref().is_some_and(|task| !task.is_finished()) || self.is_stopped() {
            return;
        }
        let Some(runtime) = Handle::try_current().ok().or_else(|| self.runtime.clone()) else {
            tracing::error!(
                "no Tokio runtime: the failover cache cannot check its primary in the background \
                 and stays on the fallback"
            );
            return;
        };
        let task = super::probe::run(self.me.clone(), self.config.probe_interval);
        state.task = Some(runtime.spawn(task));
    }

    /// Stops the background task for good, and with `close` makes operations fail from now on;
    /// returns the primary, if connected, for the caller to close. A primary the task connects
    /// afterwards is closed by the task (see `connect`): both look at `stopped` under the lock.
    pub(super) fn stop(&self, close: bool) -> Option<SharedCache> {
        let mut state = self.lock();
        if close {
            self.closed.store(true, Ordering::Release);
        }
        self.stopped.store(true, Ordering::Release);
        if let Some(task) = state.task.take() {
            task.abort();
        }
        self.primary.get().cloned()
    }

    /// Whether the cache was closed: operations fail.
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether the background task was stopped for good.
    pub(super) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// The error of every operation after `close`.
    pub(super) fn closed_error() -> Error {
        Error::closed("the failover cache (its primary and its fallback)")
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailoverCache")
            .field("open", &self.open.load(Ordering::Relaxed))
            .field("connected", &self.primary.get().is_some())
            .field("config", &self.config)
            .field("counters", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}
