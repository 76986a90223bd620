//! [`FleetSubscription`]: the task that listens on a namespace's invalidation channel over its
//! own connection, resubscribes by itself, and hands each decision of its [`Receiver`] to the
//! consumer (the memory tier) through a bounded channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Action, FlushReason, InstanceId, Receiver, channel};
use crate::RedisCache;

/// How often the receiver checks for overdue (lost) messages, and for room to hand over a flush
/// owed to a consumer that fell behind.
const TICK: Duration = Duration::from_millis(50);
/// How often the subscription's connection is checked with a `PING`: a connection that is open
/// but carries nothing (a half-open TCP connection, a hung server) is otherwise not noticed.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
/// How long a `PING` may wait for its answer before the subscription counts as lost.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// The first and the longest wait between two subscription attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// What a subscription counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SubscriptionCounters {
    /// Messages received on the channel (own ones included).
    pub received: u64,
    /// This instance's own messages, skipped.
    pub own: u64,
    /// Messages handed over to be applied.
    pub applied: u64,
    /// Flushes handed over, by reason: `gap`, `undecodable`, `disconnected`, `subscribed`
    /// (every time a subscription is established, the first one too), `too_many_publishers`,
    /// `lagged` (the consumer fell behind).
    pub flushes_gap: u64,
    /// See [`flushes_gap`](Self::flushes_gap).
    pub flushes_undecodable: u64,
    /// See [`flushes_gap`](Self::flushes_gap).
    pub flushes_disconnected: u64,
    /// See [`flushes_gap`](Self::flushes_gap).
    pub flushes_subscribed: u64,
    /// See [`flushes_gap`](Self::flushes_gap).
    pub flushes_too_many_publishers: u64,
    /// See [`flushes_gap`](Self::flushes_gap).
    pub flushes_lagged: u64,
    /// Successful subscriptions (the first, then every re-subscription).
    pub subscriptions: u64,
}

#[derive(Debug, Default)]
struct Shared {
    connected: AtomicBool,
    received: AtomicU64,
    own: AtomicU64,
    applied: AtomicU64,
    flushes: [AtomicU64; 6],
    subscriptions: AtomicU64,
}

impl Shared {
    fn flushed(&self, reason: FlushReason) {
        let i = match reason {
            FlushReason::Gap => 0,
            FlushReason::Undecodable => 1,
            FlushReason::Disconnected => 2,
            FlushReason::TooManyPublishers => 3,
            FlushReason::Subscribed => 4,
            FlushReason::Lagged => 5,
        };
        self.flushes[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// A running subscription to a namespace's invalidation channel; dropping it (or
/// [`stop`](Self::stop)) ends the task.
///
/// The task connects with the cache's settings (TLS, credentials, database) on a connection of
/// its own, `SUBSCRIBE`s, and sends every [`Action`] other than [`Action::Own`] to the channel
/// returned with it. Every time it is subscribed (the first time too) it sends a flush: whatever
/// was read into L1 before may be stale. When the connection drops, or does not answer a `PING`
/// ([`PING_INTERVAL`], [`PING_TIMEOUT`]: a half-open connection or a hung server), it sends a
/// flush and reconnects with a backoff (50 ms doubling to 2 s). It never waits for the consumer:
/// when the channel is full, what does not fit is dropped and a flush ([`FlushReason::Lagged`])
/// is handed over as soon as there is room, which covers it. It ends, unsubscribed, within 50 ms
/// of the cache being [closed](RedisCache::close) or dropped.
#[derive(Debug)]
pub struct FleetSubscription {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FleetSubscription {
    /// Whether the subscription is established now. While it is not, changes made by other
    /// instances go unnoticed: keep L1 copies short-lived.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// The counters so far.
    pub fn counters(&self) -> SubscriptionCounters {
        let s = &*self.shared;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SubscriptionCounters {
            received: load(&s.received),
            own: load(&s.own),
            applied: load(&s.applied),
            flushes_gap: load(&s.flushes[0]),
            flushes_undecodable: load(&s.flushes[1]),
            flushes_disconnected: load(&s.flushes[2]),
            flushes_too_many_publishers: load(&s.flushes[3]),
            flushes_subscribed: load(&s.flushes[4]),
            flushes_lagged: load(&s.flushes[5]),
            subscriptions: load(&s.subscriptions),
        }
    }

    /// Ends the task (also on drop).
    pub fn stop(&self) {
        self.task.abort();
        self.shared.connected.store(false, Ordering::Release);
    }
}

impl Drop for FleetSubscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedisCache {
    /// Subscribes this cache's instance ([`instance_id`](Self::instance_id), whose own messages
    /// are skipped) to its namespace channel ([`channel`](super::channel)): a task (on the
    /// current Tokio runtime) that hands what to do to the returned receiver, holding at most
    /// `capacity` decisions the consumer has not taken.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn subscribe_invalidations(&self, capacity: usize) -> (FleetSubscription, mpsc::Receiver<Action>) {
        let me = self.instance_id();
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let shared = Arc::new(Shared::default());
        let cache = Arc::downgrade(&self.inner);
        let closed = move || {
            cache
                .upgrade()
                .is_none_or(|inner| inner.closed.load(Ordering::SeqCst))
        };
        let task = tokio::spawn(run(
            closed,
            self.inner.client.clone(),
            channel(&self.inner.namespace),
            self.inner.connect_timeout,
            me,
            Arc::clone(&shared),
            sender,
        ));
        (FleetSubscription { shared, task }, receiver)
    }
}

/// Hands decisions over to the consumer without waiting for it (but for the flushes that move
/// the L1 cap), counting them.
struct Handover {
    shared: Arc<Shared>,
    sender: mpsc::Sender<Action>,
    /// A flush is owed: decisions were dropped because the channel was full.
    lagged: bool,
}

impl Handover {
    /// Offers `action`; `false` once the consumer is gone.
    fn offer(&mut self, action: Action) -> bool {
        if action == Action::Own {
            self.shared.own.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if self.lagged && !self.settle() {
            // The owed flush, still waiting for room, covers this decision too.
            return !self.sender.is_closed();
        }
        self.try_send(action)
    }

    /// Tries to hand over the owed flush; whether nothing is owed any more.
    fn settle(&mut self) -> bool {
        if self.lagged {
            self.try_send(Action::Flush(FlushReason::Lagged));
        }
        !self.lagged
    }

    /// Counts an action before the consumer can see it (a permit is taken first), so whoever
    /// receives an action also sees it in [`SubscriptionCounters`].
    fn try_send(&mut self, action: Action) -> bool {
        match self.sender.try_reserve() {
            Ok(permit) => {
                if let Action::Flush(FlushReason::Lagged) = action {
                    self.lagged = false;
                }
                self.count(&action);
                permit.send(action);
                true
            }
            Err(mpsc::error::TrySendError::Full(())) => {
                self.lagged = true;
                true
            }
            Err(mpsc::error::TrySendError::Closed(())) => false,
        }
    }

    /// Hands over a flush that moves the L1 cap (disconnected, subscribed), waiting for room if
    /// need be: it must not be lost. It covers any owed flush. `false` once the consumer is gone.
    async fn flush(&mut self, reason: FlushReason) -> bool {
        let Ok(permit) = self.sender.reserve().await else {
            return false;
        };
        let action = Action::Flush(reason);
        self.lagged = false;
        self.count(&action);
        permit.send(action);
        true
    }

    fn count(&self, action: &Action) {
        match action {
            Action::Own => self.shared.own.fetch_add(1, Ordering::Relaxed),
            Action::Apply(_) => self.shared.applied.fetch_add(1, Ordering::Relaxed),
            Action::Flush(reason) => {
                self.shared.flushed(*reason);
                0
            }
        };
    }
}

async fn run(
    closed: impl Fn() -> bool,
    client: redis::Client,
    channel: String,
    connect_timeout: Duration,
    me: InstanceId,
    shared: Arc<Shared>,
    sender: mpsc::Sender<Action>,
) {
    /// Whatever way the task ends (the consumer gone, aborted), it is not connected any more.
    struct NotConnectedOnExit(Arc<Shared>);
    impl Drop for NotConnectedOnExit {
        fn drop(&mut self) {
            self.0.connected.store(false, Ordering::Release);
        }
    }
    let _exit = NotConnectedOnExit(Arc::clone(&shared));
    let mut handover = Handover {
        shared: Arc::clone(&shared),
        sender,
        lagged: false,
    };
    let mut receiver = Receiver::new(me);
    let mut backoff = BACKOFF.0;
    loop {
        if closed() {
            return;
        }
        let subscribed = tokio::time::timeout(connect_timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match subscribed {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => {
                // Loud once the backoff is at its longest: a missing channel permission (ACL
                // `&channel`) fails here forever.
                if backoff == BACKOFF.1 {
                    tracing::warn!(%channel, error = %e, "fleet invalidation: cannot subscribe");
                } else {
                    tracing::debug!(%channel, error = %e, "fleet invalidation: cannot subscribe");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
                continue;
            }
            Err(_) => {
                tracing::debug!(%channel, "fleet invalidation: subscribing timed out");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
                continue;
            }
        };
        backoff = BACKOFF.0;
        shared.subscriptions.fetch_add(1, Ordering::Relaxed);
        shared.connected.store(true, Ordering::Release);
        // What L1 took in while nobody could tell it what changed may be stale.
        receiver.subscribed();
        if !handover.flush(FlushReason::Subscribed).await {
            return;
        }
        tracing::info!(%channel, "fleet invalidation: subscribed");
        let (sink, mut messages) = pubsub.split();
        // The liveness check runs beside the reading: a PING waiting for its answer holds up
        // neither the messages nor the end of the task.
        let (pinger, mut silent) = spawn_pinger(sink);
        let _pinger = AbortOnDrop(pinger);
        let mut ticker = tokio::time::interval(TICK);
        loop {
            let action = tokio::select! {
                message = messages.next() => match message {
                    Some(message) => {
                        shared.received.fetch_add(1, Ordering::Relaxed);
                        Some(receiver.receive(message.get_payload_bytes(), Instant::now()))
                    }
                    None => break,
                },
                _ = &mut silent => {
                    tracing::warn!(%channel, "fleet invalidation: no answer to PING on the subscription");
                    break;
                }
                _ = ticker.tick() => {
                    if closed() {
                        return;
                    }
                    handover.settle();
                    receiver.tick(Instant::now())
                }
                () = handover.sender.closed() => return,
            };
            if let Some(action) = action
                && !handover.offer(action)
            {
                return;
            }
        }
        shared.connected.store(false, Ordering::Release);
        tracing::warn!(%channel, "fleet invalidation: subscription lost; flushing L1 and resubscribing");
        receiver.disconnected();
        if !handover.flush(FlushReason::Disconnected).await {
            return;
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A task that `PING`s the subscription's connection every [`PING_INTERVAL`], and completes the
/// returned receiver when one is not answered within [`PING_TIMEOUT`].
fn spawn_pinger(mut sink: redis::aio::PubSubSink) -> (JoinHandle<()>, tokio::sync::oneshot::Receiver<()>) {
    let (silent, heard) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(PING_INTERVAL).await;
            let answer = tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>()).await;
            if !matches!(answer, Ok(Ok(_))) {
                let _ = silent.send(());
                return;
            }
        }
    });
    (task, heard)
}
