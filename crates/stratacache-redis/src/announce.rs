//! Fleet invalidation, the sending side: what this cache changed, announced on its namespace's
//! channel by one background task, in batches (group commit).
//!
//! A change is queued once its command has returned (or failed, or was cancelled: a command whose
//! outcome is unknown may have been applied, and an extra invalidation only costs the others a
//! re-read). The task takes everything queued, numbers it and sends it as one pipeline of
//! `PUBLISH`es; what is queued while that is in flight goes in the next pipeline. So a write pays
//! nothing on its own path, one instance publishes at most one pipeline per round trip (and per
//! [`FLUSH_INTERVAL`]) however many tasks write, and every message is sent after the change it
//! names was made.
//!
//! A write costs one short lock and a copy of its key into a shared buffer (no allocation per
//! key; the announcing task is woken once per batch). A pipeline that fails lost what it named:
//! the task then sends [`Scope::Lost`](crate::fleet::Scope::Lost) every [`RETRY_INTERVAL`]
//! until one arrives, and every receiver flushes, even one that never heard from this instance
//! before (a gap in the numbers would only show to those that had).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::RedisCache;
use crate::cache::Inner;
use crate::conn::Idempotence::Idempotent;
use crate::fleet::{MAX_MESSAGE_BYTES, Publisher, ScopeRef};

/// The shortest time between two pipelines of announcements.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(1);

/// After a failed pipeline, how long until the next attempt to tell the others that messages
/// were lost.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// A tag removal of more keys than this is announced as the tag (the others flush their L1)
/// rather than key by key.
pub(crate) const TAG_KEYS_ANNOUNCED: usize = 16 * KEYS_PER_MESSAGE;

/// How many keys one message names at most.
pub(crate) const KEYS_PER_MESSAGE: usize = crate::fleet::MAX_KEYS_PER_MESSAGE;
/// How many bytes of keys one message carries at most (well under [`MAX_MESSAGE_BYTES`], which
/// receivers refuse).
const KEY_BYTES_PER_MESSAGE: usize = 64 * 1024;
/// JSON escapes a byte into at most 6 (`\u00XX`).
const _: () = assert!(KEY_BYTES_PER_MESSAGE * 6 < MAX_MESSAGE_BYTES);

/// What is waiting to be announced.
#[derive(Debug, Default)]
struct Queue {
    /// The keys, back to back (one buffer: no allocation per key).
    key_bytes: String,
    /// Where each key ends in `key_bytes`.
    key_ends: Vec<usize>,
    patterns: Vec<String>,
    tags: Vec<String>,
    clear: bool,
    /// A [`Scope::Lost`](crate::fleet::Scope::Lost) is owed: the last pipeline failed.
    lost: bool,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.key_ends.is_empty()
            && self.patterns.is_empty()
            && self.tags.is_empty()
            && !self.clear
            && !self.lost
    }

    fn push_key(&mut self, key: &str) {
        self.key_bytes.push_str(key);
        self.key_ends.push(self.key_bytes.len());
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.key_ends.iter().copied());
        starts
            .zip(&self.key_ends)
            .map(|(start, &end)| &self.key_bytes[start..end])
    }

    /// The messages to send, numbered by `publisher`: an owed `lost` first (receivers flush,
    /// which covers the rest: it alone is sent), else a clear covers everything else; keys in
    /// messages of at most [`KEYS_PER_MESSAGE`] keys and [`KEY_BYTES_PER_MESSAGE`] bytes (a
    /// longer key goes alone).
    fn messages(&self, publisher: &Publisher) -> Vec<Vec<u8>> {
        if self.lost {
            return vec![publisher.encode_next(ScopeRef::Lost)];
        }
        if self.clear {
            return vec![publisher.encode_next(ScopeRef::Clear)];
        }
        let mut messages: Vec<Vec<u8>> = self
            .patterns
            .iter()
            .map(|p| publisher.encode_next(ScopeRef::Pattern(p)))
            .collect();
        messages.extend(self.tags.iter().map(|t| publisher.encode_next(ScopeRef::Tag(t))));
        let (mut batch, mut bytes): (Vec<&str>, usize) = (Vec::new(), 0);
        for key in self.keys() {
            if !batch.is_empty()
                && (batch.len() == KEYS_PER_MESSAGE || bytes + key.len() > KEY_BYTES_PER_MESSAGE)
            {
                messages.push(publisher.encode_next(ScopeRef::Keys(&batch)));
                batch.clear();
                bytes = 0;
            }
            bytes += key.len();
            batch.push(key);
        }
        if !batch.is_empty() {
            messages.push(publisher.encode_next(ScopeRef::Keys(&batch)));
        }
        messages
    }
}

/// The queue and the task's wake-up, shared by the cache and its announcing task.
#[derive(Debug, Default)]
pub(crate) struct Announcer {
    queue: Mutex<Queue>,
    wake: Notify,
    /// Set when the cache is gone: the task ends.
    gone: AtomicBool,
}

impl Announcer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds to the queue; wakes the task when the queue was empty (once per batch: the task takes
    /// the whole queue).
    fn push(&self, add: impl FnOnce(&mut Queue)) {
        if self.is_gone() {
            // Closed or dropped: nobody sends it any more.
            return;
        }
        let mut queue = self.lock();
        let was_empty = queue.is_empty();
        add(&mut queue);
        drop(queue);
        if was_empty {
            self.wake.notify_one();
        }
    }

    /// Queues `keys` as changed.
    pub(crate) fn keys<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        self.push(|q| keys.into_iter().for_each(|k| q.push_key(k)));
    }

    /// Queues every key matching `pattern` as removed.
    pub(crate) fn pattern(&self, pattern: &str) {
        self.push(|q| q.patterns.push(pattern.to_owned()));
    }

    /// Queues a tag whose entries are not known (its removal failed): receivers flush.
    pub(crate) fn tag(&self, tag: &str) {
        self.push(|q| q.tags.push(tag.to_owned()));
    }

    /// Queues a clear of the namespace.
    pub(crate) fn clear(&self) {
        self.push(|q| q.clear = true);
    }

    /// The cache is gone or closed: the task ends (what is still queued is not sent).
    pub(crate) fn stop(&self) {
        self.gone.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn is_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    fn take(&self) -> Queue {
        std::mem::take(&mut *self.lock())
    }
}

/// What a change names.
pub(crate) enum Change<'a> {
    /// These keys.
    Keys(&'a [&'a str]),
    /// Every key matching a pattern.
    Pattern(&'a str),
    /// Entries of a tag, not known (receivers flush).
    Tag(&'a str),
    /// The whole namespace.
    Clear,
}

/// Queues what a change named when dropped: after the command returned, failed, or was cancelled.
/// Unless [`confirm`](Self::confirm)ed, the outcome is unknown: the command may still be applied
/// after the announcement (a timed-out command on its connection, while the announcement goes on
/// another), so it is announced again once the operation deadline has passed.
pub(crate) struct Announce<'a> {
    target: Option<(&'a Arc<Announcer>, Duration)>,
    change: Change<'a>,
    confirmed: bool,
}

impl<'a> Announce<'a> {
    /// Announces `change` on `announcer` (nothing when `None`), again after `deadline` unless
    /// confirmed.
    pub(crate) fn new(target: Option<(&'a Arc<Announcer>, Duration)>, change: Change<'a>) -> Self {
        Self {
            target,
            change,
            confirmed: false,
        }
    }

    /// The command succeeded: it was applied before its reply, so one announcement suffices.
    pub(crate) fn confirm<T>(&mut self, result: &stratacache_core::Result<T>) {
        self.confirmed = result.is_ok();
    }

    /// The change completed and is announced otherwise (more precisely): nothing from this one.
    pub(crate) fn settle(mut self) {
        self.target = None;
    }
}

impl Announcer {
    fn queue(&self, change: &Change<'_>) {
        match change {
            Change::Keys(keys) => self.keys(keys.iter().copied()),
            Change::Pattern(pattern) => self.pattern(pattern),
            Change::Tag(tag) => self.tag(tag),
            Change::Clear => self.clear(),
        }
    }
}

/// A change kept for its second announcement.
enum OwnedChange {
    Keys(Vec<String>),
    Pattern(String),
    Tag(String),
    Clear,
}

impl Drop for Announce<'_> {
    fn drop(&mut self) {
        let Some((announcer, deadline)) = self.target else {
            return;
        };
        if announcer.is_gone() {
            return;
        }
        announcer.queue(&self.change);
        if self.confirmed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let owned = match self.change {
            Change::Keys(keys) => OwnedChange::Keys(keys.iter().map(|k| (*k).to_owned()).collect()),
            Change::Pattern(pattern) => OwnedChange::Pattern(pattern.to_owned()),
            Change::Tag(tag) => OwnedChange::Tag(tag.to_owned()),
            Change::Clear => OwnedChange::Clear,
        };
        let announcer = Arc::downgrade(announcer);
        runtime.spawn(async move {
            tokio::time::sleep(deadline).await;
            let Some(announcer) = announcer.upgrade() else {
                return;
            };
            match &owned {
                OwnedChange::Keys(keys) => announcer.keys(keys.iter().map(String::as_str)),
                OwnedChange::Pattern(pattern) => announcer.pattern(pattern),
                OwnedChange::Tag(tag) => announcer.tag(tag),
                OwnedChange::Clear => announcer.clear(),
            }
        });
    }
}

/// Ends the announcing task when the last clone of the cache is dropped.
#[derive(Debug)]
pub(crate) struct StopOnDrop(pub(crate) Arc<Announcer>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The announcing task of `cache`: sends what is queued, one pipeline at a time, until the cache
/// is closed or dropped.
pub(crate) async fn run(cache: Weak<Inner>, announcer: Arc<Announcer>) {
    let mut last = Instant::now() - FLUSH_INTERVAL;
    let mut retry_at = None;
    loop {
        match retry_at {
            None => announcer.wake.notified().await,
            Some(at) => {
                tokio::select! {
                    () = announcer.wake.notified() => {}
                    () = tokio::time::sleep_until(at) => announcer.push(|q| q.lost = true),
                }
            }
        }
        // Under a steady stream of writes, at most one pipeline per interval: the rest of the
        // stream joins it. A change after a quiet spell goes out at once.
        let since = last.elapsed();
        if since < FLUSH_INTERVAL {
            tokio::time::sleep(FLUSH_INTERVAL - since).await;
        }
        last = Instant::now();
        if announcer.gone.load(Ordering::SeqCst) {
            return;
        }
        let queue = announcer.take();
        if queue.is_empty() {
            continue;
        }
        let Some(inner) = cache.upgrade() else {
            return;
        };
        let cache = RedisCache { inner };
        if cache.is_closed() {
            return;
        }
        retry_at = (!publish(&cache, &queue).await).then(|| tokio::time::Instant::now() + RETRY_INTERVAL);
    }
}

/// Sends `queue` as one pipeline of `PUBLISH`es; whether it was sent.
async fn publish(cache: &RedisCache, queue: &Queue) -> bool {
    let mut pipe = redis::pipe();
    for message in queue.messages(&cache.inner.publisher) {
        pipe.add_command(cache.publish_cmd(message)).ignore();
    }
    let pipe = &pipe;
    match cache
        .run("PUBLISH", Idempotent, |mut c| async move {
            pipe.query_async::<()>(&mut c).await
        })
        .await
    {
        Ok(()) => true,
        Err(e) => {
            // The numbers are used: the other instances see the gap at the next message (an
            // empty one, sent until it arrives) and flush.
            tracing::warn!(error = %e, "fleet invalidation: PUBLISH failed; other instances will flush");
            false
        }
    }
}

/// Publishes what is still queued, now (before the cache closes its connections).
pub(crate) async fn flush_now(cache: &RedisCache, announcer: &Announcer) {
    let queue = announcer.take();
    if !queue.is_empty() {
        publish(cache, &queue).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{InstanceId, Invalidation, Scope};

    fn queue_of(keys: &[&str]) -> Queue {
        let mut queue = Queue::default();
        keys.iter().for_each(|k| queue.push_key(k));
        queue
    }

    fn decoded(queue: &Queue) -> Vec<Scope> {
        let publisher = Publisher::new(InstanceId::random());
        queue
            .messages(&publisher)
            .iter()
            .map(|m| {
                assert!(m.len() < MAX_MESSAGE_BYTES);
                Invalidation::decode(m).expect("decodes").scope
            })
            .collect()
    }

    fn keys(scope: &Scope) -> usize {
        match scope {
            Scope::Keys(keys) => keys.len(),
            _ => 0,
        }
    }

    #[test]
    fn keys_are_split_by_count_and_by_bytes() {
        let names: Vec<String> = (0..600).map(|i| format!("k{i}")).collect();
        let queue = queue_of(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let scopes = decoded(&queue);
        assert_eq!(scopes.iter().map(keys).collect::<Vec<_>>(), [256, 256, 88]);
        let all: Vec<String> = scopes
            .into_iter()
            .flat_map(|s| match s {
                Scope::Keys(k) => k,
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(all, names, "every key once, in order");

        let long = "x".repeat(40 * 1024);
        let huge = "x".repeat(200 * 1024);
        let queue = queue_of(&[&long, &long, "short", &huge]);
        assert_eq!(decoded(&queue).iter().map(keys).collect::<Vec<_>>(), [1, 2, 1]);
    }

    #[test]
    fn a_clear_covers_everything_queued_with_it_and_a_loss_covers_everything() {
        let mut queue = queue_of(&["a"]);
        queue.patterns.push("user:*".to_owned());
        queue.tags.push("t".to_owned());
        assert_eq!(
            decoded(&queue),
            [
                Scope::Pattern("user:*".to_owned()),
                Scope::Tag("t".to_owned()),
                Scope::Keys(vec!["a".to_owned()])
            ]
        );
        queue.clear = true;
        assert_eq!(decoded(&queue), [Scope::Clear]);
        queue.lost = true;
        assert_eq!(
            decoded(&queue),
            [Scope::Lost],
            "receivers flush: that covers the rest"
        );

        let lost = Queue {
            lost: true,
            ..Queue::default()
        };
        assert!(!lost.is_empty());
        assert_eq!(decoded(&lost), [Scope::Lost]);
        assert!(
            Queue::default()
                .messages(&Publisher::new(InstanceId::random()))
                .is_empty()
        );
    }

    #[tokio::test]
    async fn nothing_is_queued_once_the_cache_is_gone() {
        let announcer = Arc::new(Announcer::default());
        announcer.stop();
        announcer.keys(["a"]);
        announcer.clear();
        drop(Announce::new(
            Some((&announcer, Duration::from_millis(10))),
            Change::Keys(&["b"]),
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            announcer.take().is_empty(),
            "a closed cache's changes are not kept"
        );
    }

    #[tokio::test]
    async fn announcing_after_the_change_whatever_its_outcome() {
        let announcer = Arc::new(Announcer::default());
        let target = Some((&announcer, Duration::from_millis(50)));
        {
            let mut announce = Announce::new(target, Change::Keys(&["a", "b"]));
            assert!(announcer.take().is_empty(), "not before the change returned");
            announce.confirm(&Ok(()));
        }
        drop(Announce::new(None, Change::Clear));
        let queue = announcer.take();
        assert_eq!(queue.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(!queue.clear);
        // Unconfirmed (failed, timed out, cancelled): announced now and again after the deadline.
        drop(Announce::new(target, Change::Pattern("p*")));
        assert_eq!(announcer.take().patterns, ["p*"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            announcer.take().patterns,
            ["p*"],
            "announced again after the deadline"
        );
    }

    #[tokio::test]
    async fn the_task_is_woken_once_per_batch() {
        let announcer = Announcer::default();
        announcer.keys(["a"]);
        announcer.keys(["b"]);
        announcer.clear();
        // One stored wake-up for the whole batch...
        tokio::time::timeout(Duration::from_millis(100), announcer.wake.notified())
            .await
            .expect("woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), announcer.wake.notified())
                .await
                .is_err(),
            "only once while the queue was not taken"
        );
        let queue = announcer.take();
        assert_eq!(queue.keys().collect::<Vec<_>>(), ["a", "b"]);
        // ...and one again once it was taken.
        announcer.keys(["c"]);
        tokio::time::timeout(Duration::from_millis(100), announcer.wake.notified())
            .await
            .expect("woken again after the queue was taken");
    }
}
