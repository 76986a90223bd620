//! The connections a [`RedisCache`] keeps, how a lost one is replaced, and how one command runs
//! within its time budget.
//!
//! - **Slots.** The cache keeps `pool_size` multiplexed connections, one per slot, checked out of
//!   the deadpool pool for the cache's lifetime. A command takes the next slot's connection
//!   (round robin), or any open one when that slot is empty.
//! - **Reconnection, once per slot.** When every slot is empty, the command starts (or joins) the
//!   slot's one reconnection attempt, a task bounded by `connect_timeout`, and waits for it within
//!   its own deadline only. Concurrent callers never queue for pool permits one after another: they
//!   all wait on the same attempt, and all get its error when it fails.
//! - **Deadline.** An operation has `command_timeout` for its reply plus `retry.budget` for
//!   retries; nothing it does (waiting for a connection, a reply, a backoff) goes past
//!   `command_timeout + retry.budget`.
//! - **Retries** are for failures that a second attempt may fix quickly: a connection that broke or
//!   could not be opened. A timeout is never retried (the server is hung or overloaded: waiting
//!   again only doubles the caller's wait). A command whose effect is reported (`DEL`'s count, a
//!   compare-and-set) is retried only when it cannot have reached the server, so that a retry
//!   never misreports an applied command. A write (`SET`) is also retried when its connection
//!   turned out to be closed already (redis-rs's "broken pipe": the usual fate of the first
//!   command on a connection that died idle), but not after a reset or another failure while its
//!   reply was awaited: it may have been applied, and a second copy would bring back a value that
//!   another instance deleted in between. (redis-rs also reports a server that closes the
//!   connection while a reply is awaited as a broken pipe: that narrow case is retried.)

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redis::RedisResult;
use redis::aio::MultiplexedConnection;
use stratacache_core::{Error, ErrorKind, Result};
use tokio::sync::watch;

use crate::cache::RedisCache;
use crate::{connect, error};

/// A pool object held by a slot, and a clone of its multiplexed connection for commands.
pub(crate) struct Held {
    /// Keeps the connection checked out of the pool; dropping it returns it, and the pool's
    /// recycle check (`PING`) decides whether it is reused or replaced.
    pub(crate) _object: deadpool_redis::Connection,
    pub(crate) conn: MultiplexedConnection,
}

/// Replies in a row that a slot's connection did not deliver in time before it is replaced: a
/// connection whose peer vanished without a reset (a dropped flow, a moved server) only ever
/// times out, and the kernel may keep it open for many minutes.
const TIMEOUTS_BEFORE_REPLACING: u32 = 2;

/// The least time worth sending a command in: with less left, it is not sent (so that a command
/// whose reply reports its effect is never applied and reported as failed).
const MIN_SEND_TIME: Duration = Duration::from_millis(1);

/// One connection of the cache, and its reconnection attempt while it has none.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) held: RwLock<Option<Held>>,
    /// The last reconnection attempt, running or finished.
    attempt: Mutex<Option<watch::Receiver<Attempt>>>,
    /// Timeouts in a row on this slot's connection, reset by any reply.
    timeouts: AtomicU32,
}

impl Slot {
    /// A slot holding `held`.
    pub(crate) fn new(held: Held) -> Self {
        Self {
            held: RwLock::new(Some(held)),
            attempt: Mutex::default(),
            timeouts: AtomicU32::new(0),
        }
    }

    fn conn(&self) -> Option<MultiplexedConnection> {
        self.held
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|held| held.conn.clone())
    }

    /// Empties the slot; the connection goes back to the pool.
    pub(crate) fn take(&self) -> Option<Held> {
        self.held.write().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// How a reconnection attempt went.
#[derive(Debug, Clone)]
enum Attempt {
    Running,
    Connected,
    Failed {
        kind: ErrorKind,
        message: String,
        at: Instant,
    },
}

/// Whether a command may be sent again after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotence {
    /// Sending it twice has the effect and the reply of sending it once (reads, `SCAN`).
    Idempotent,
    /// Its reply reports what it did (`DEL`'s count, a compare-and-set): retried only when it was
    /// never sent.
    ReportsEffect,
    /// A write (`SET`): sent twice, the second copy would bring back a value that another client
    /// deleted in between; retried only when it was never sent or its connection was found
    /// closed (see [the module documentation](self)).
    Write,
}

/// What one attempt of a command ended with.
enum Outcome<T> {
    Done(T),
    /// It failed without reaching the server (no connection could be had).
    Unsent(Error),
    /// It failed after it was sent (or while being sent).
    Sent(Error),
    /// It failed because its connection was closed already (redis-rs's broken pipe): as a rule
    /// it was never written.
    Closed(Error),
}

impl RedisCache {
    /// Runs `command` on a connection within the operation's deadline, retrying what
    /// [the module documentation](self) says may be retried.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, idempotence: Idempotence, command: F) -> Result<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let inner = &*self.inner;
        let (retry, reply_timeout) = (inner.retry, inner.command_timeout);
        let started = Instant::now();
        let deadline = started + reply_timeout + retry.budget;
        let mut backoff = retry.initial_backoff;
        let mut attempt = 0;
        loop {
            let error = match self.attempt(what, deadline, &command).await {
                Outcome::Done(value) => return Ok(value),
                Outcome::Unsent(e) => e,
                Outcome::Sent(e) if idempotence == Idempotence::Idempotent => e,
                Outcome::Closed(e) if idempotence != Idempotence::ReportsEffect => e,
                Outcome::Sent(e) | Outcome::Closed(e) => return Err(self.failed(e)),
            };
            let retryable = error.is_temporary() && error.kind() != ErrorKind::Timeout && !self.is_closed();
            if !retryable || attempt >= retry.max_retries || started.elapsed() + backoff > retry.budget {
                return Err(self.failed(error));
            }
            tracing::debug!(%error, attempt, "retrying Redis command");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(retry.max_backoff);
            attempt += 1;
        }
    }

    /// Counts a failed operation.
    fn failed(&self, error: Error) -> Error {
        self.inner.counters.record_error();
        error
    }

    async fn attempt<T, F, Fut>(&self, what: &str, deadline: Instant, command: &F) -> Outcome<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (i, conn) = match self.connection(deadline).await {
            Ok(found) => found,
            Err(e) => return Outcome::Unsent(e),
        };
        let limit = deadline
            .saturating_duration_since(Instant::now())
            .min(self.inner.command_timeout);
        if limit < MIN_SEND_TIME {
            return Outcome::Unsent(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{what}: no time left to send it to {} (waited for a connection)",
                    self.inner.endpoint.url
                ),
            ));
        }
        let slot = &self.inner.slots[i];
        match tokio::time::timeout(limit, command(conn)).await {
            Ok(Ok(value)) => {
                slot.timeouts.store(0, Ordering::Relaxed);
                Outcome::Done(value)
            }
            Ok(Err(e)) => {
                let closed = error::found_closed(&e);
                if error::breaks_connection(&e) {
                    self.discard(i);
                } else if !e.is_timeout() {
                    // The server answered (with an error reply): the connection works.
                    slot.timeouts.store(0, Ordering::Relaxed);
                } else {
                    self.timed_out(i);
                }
                let e = error::map(e, what);
                if closed {
                    Outcome::Closed(e)
                } else {
                    Outcome::Sent(e)
                }
            }
            Err(_) => {
                self.timed_out(i);
                Outcome::Sent(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "{what}: no reply from {} within {limit:?} (command_timeout)",
                        self.inner.endpoint.url
                    ),
                ))
            }
        }
    }

    /// A connection for the next command and its slot: the next slot's, any open one, or the one
    /// a reconnection opens before `deadline`.
    pub(crate) async fn connection(&self, deadline: Instant) -> Result<(usize, MultiplexedConnection)> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let slots = &self.inner.slots;
        let first = self.inner.next.fetch_add(1, Ordering::Relaxed) % slots.len();
        if let Some(conn) = slots[first].conn() {
            return Ok((first, conn));
        }
        // This slot lost its connection: reopen it in the background, and meanwhile use any
        // other open one.
        let mut attempt = self.reconnect(first);
        for i in (first + 1..slots.len()).chain(0..first) {
            if let Some(conn) = slots[i].conn() {
                return Ok((i, conn));
            }
        }
        let finished = attempt.wait_for(|a| !matches!(a, Attempt::Running));
        let outcome = match tokio::time::timeout_at(deadline.into(), finished).await {
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no connection to {} before the operation's deadline: reconnecting",
                        self.inner.endpoint.url
                    ),
                ));
            }
            Ok(Err(_)) => {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    "the reconnection task ended without an answer",
                ));
            }
            Ok(Ok(outcome)) => outcome.clone(),
        };
        if self.is_closed() {
            return Err(self.closed_error());
        }
        match outcome {
            Attempt::Failed { kind, message, .. } => Err(Error::new(kind, message)),
            _ => slots[first].conn().map(|conn| (first, conn)).ok_or_else(|| {
                Error::new(
                    ErrorKind::Connection,
                    format!("the connection to {} was lost again", self.inner.endpoint.url),
                )
            }),
        }
    }

    /// The running reconnection attempt of slot `i`, or a new one. A failed attempt younger than
    /// `retry.initial_backoff` is answered again rather than repeated, so that a refused server
    /// is not hammered by every caller.
    fn reconnect(&self, i: usize) -> watch::Receiver<Attempt> {
        let slot = &self.inner.slots[i];
        let mut last = slot.attempt.lock().unwrap_or_else(PoisonError::into_inner);
        // An attempt still "running" whose task is gone (cancelled with its runtime) never
        // reports: start anew.
        let orphaned = |rx: &watch::Receiver<Attempt>| {
            matches!(*rx.borrow(), Attempt::Running) && rx.has_changed().is_err()
        };
        if let Some(rx) = last.as_ref().filter(|rx| !orphaned(rx)) {
            let reuse = match &*rx.borrow() {
                Attempt::Running => true,
                Attempt::Failed { at, .. } => at.elapsed() < self.inner.retry.initial_backoff,
                Attempt::Connected => false,
            };
            if reuse {
                return rx.clone();
            }
        }
        let (tx, rx) = watch::channel(Attempt::Running);
        *last = Some(rx.clone());
        drop(last);
        let cache = self.clone();
        tokio::spawn(async move {
            let outcome = cache.open_slot(i).await;
            let _ = tx.send(match outcome {
                Ok(()) => Attempt::Connected,
                Err(e) => Attempt::Failed {
                    kind: e.kind(),
                    message: e.message().to_owned(),
                    at: Instant::now(),
                },
            });
        });
        rx
    }

    /// Opens slot `i`'s connection, within `connect_timeout`.
    async fn open_slot(&self, i: usize) -> Result<()> {
        let inner = &*self.inner;
        let timeout = inner.connect_timeout;
        let object = tokio::time::timeout(timeout, connect::checkout(&inner.pool, &inner.endpoint))
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "connect to {}: no connection within {timeout:?}",
                        inner.endpoint.url
                    ),
                )
            })??;
        let conn = connect::multiplexed(&object);
        let mut held = inner.slots[i]
            .held
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // `close` sets the flag before emptying the slots under their locks: checked here, a
        // connection opened during `close` is never left behind in a slot.
        if self.is_closed() {
            return Err(self.closed_error());
        }
        if held.is_none() {
            *held = Some(Held {
                _object: object,
                conn,
            });
        }
        Ok(())
    }

    /// Drops slot `i`'s connection (back to the pool, whose recycle check replaces it if broken).
    fn discard(&self, i: usize) {
        self.inner.slots[i].timeouts.store(0, Ordering::Relaxed);
        drop(self.inner.slots[i].take());
    }

    /// Counts a timeout on slot `i`; [`TIMEOUTS_BEFORE_REPLACING`] in a row replace its
    /// connection (a hung server then costs reconnection attempts, which no caller waits for
    /// beyond its deadline).
    fn timed_out(&self, i: usize) {
        let slot = &self.inner.slots[i];
        if slot.timeouts.fetch_add(1, Ordering::Relaxed) + 1 >= TIMEOUTS_BEFORE_REPLACING {
            tracing::debug!(slot = i, "replacing a Redis connection that stopped answering");
            self.discard(i);
        }
    }
}
