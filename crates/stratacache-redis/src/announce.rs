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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::RedisCache;
use crate::cache::Inner;
use crate::conn::Idempotence::Idempotent;
use crate::fleet::{MAX_MESSAGE_BYTES, Scope};

/// The shortest time between two pipelines of announcements.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(1);

/// How many keys one message names at most.
pub(crate) const KEYS_PER_MESSAGE: usize = 256;
/// How many bytes of keys one message carries at most (well under [`MAX_MESSAGE_BYTES`], which
/// receivers refuse).
const KEY_BYTES_PER_MESSAGE: usize = 64 * 1024;
const _: () = assert!(KEY_BYTES_PER_MESSAGE * 4 < MAX_MESSAGE_BYTES);

/// What is waiting to be announced.
#[derive(Debug, Default)]
struct Queue {
    keys: Vec<String>,
    patterns: Vec<String>,
    tags: Vec<String>,
    clear: bool,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.patterns.is_empty() && self.tags.is_empty() && !self.clear
    }

    /// The scopes to send: a clear covers everything else; keys in messages of at most
    /// [`KEYS_PER_MESSAGE`] keys and [`KEY_BYTES_PER_MESSAGE`] bytes (a longer key goes alone).
    fn into_scopes(self) -> Vec<Scope> {
        if self.clear {
            return vec![Scope::Clear];
        }
        let mut scopes: Vec<Scope> = self.patterns.into_iter().map(Scope::Pattern).collect();
        scopes.extend(self.tags.into_iter().map(Scope::Tag));
        let (mut batch, mut bytes) = (Vec::new(), 0);
        for key in self.keys {
            if !batch.is_empty()
                && (batch.len() == KEYS_PER_MESSAGE || bytes + key.len() > KEY_BYTES_PER_MESSAGE)
            {
                scopes.push(Scope::Keys(std::mem::take(&mut batch)));
                bytes = 0;
            }
            bytes += key.len();
            batch.push(key);
        }
        if !batch.is_empty() {
            scopes.push(Scope::Keys(batch));
        }
        scopes
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

    /// Queues `keys` as changed.
    pub(crate) fn keys<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        self.lock().keys.extend(keys.into_iter().map(str::to_owned));
        self.wake.notify_one();
    }

    /// Queues every key matching `pattern` as removed.
    pub(crate) fn pattern(&self, pattern: &str) {
        self.lock().patterns.push(pattern.to_owned());
        self.wake.notify_one();
    }

    /// Queues a tag whose entries are not known (its removal failed): receivers flush.
    pub(crate) fn tag(&self, tag: &str) {
        self.lock().tags.push(tag.to_owned());
        self.wake.notify_one();
    }

    /// Queues a clear of the namespace.
    pub(crate) fn clear(&self) {
        self.lock().clear = true;
        self.wake.notify_one();
    }

    /// The cache is gone or closed: the task ends (what is still queued is not sent).
    pub(crate) fn stop(&self) {
        self.gone.store(true, Ordering::SeqCst);
        self.wake.notify_one();
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
}

impl Announcer {
    fn queue(&self, change: &Change<'_>) {
        match change {
            Change::Keys(keys) => self.keys(keys.iter().copied()),
            Change::Pattern(pattern) => self.pattern(pattern),
            Change::Clear => self.clear(),
        }
    }
}

/// A change kept for its second announcement.
enum OwnedChange {
    Keys(Vec<String>),
    Pattern(String),
    Clear,
}

impl Drop for Announce<'_> {
    fn drop(&mut self) {
        let Some((announcer, deadline)) = self.target else {
            return;
        };
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
    loop {
        announcer.wake.notified().await;
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
        publish(&cache, queue).await;
    }
}

/// Sends `queue` as one pipeline of `PUBLISH`es.
async fn publish(cache: &RedisCache, queue: Queue) {
    let mut pipe = redis::pipe();
    for scope in queue.into_scopes() {
        pipe.add_command(cache.publish_cmd(scope)).ignore();
    }
    let pipe = &pipe;
    if let Err(e) = cache
        .run("PUBLISH", Idempotent, |mut c| async move {
            pipe.query_async::<()>(&mut c).await
        })
        .await
    {
        // The numbers are used: the other instances see the gap at the next message and flush.
        tracing::warn!(error = %e, "fleet invalidation: PUBLISH failed; other instances will flush");
    }
}

/// Publishes what is still queued, now (before the cache closes its connections).
pub(crate) async fn flush_now(cache: &RedisCache, announcer: &Announcer) {
    let queue = announcer.take();
    if !queue.is_empty() {
        publish(cache, queue).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(scope: &Scope) -> usize {
        match scope {
            Scope::Keys(keys) => keys.len(),
            _ => 0,
        }
    }

    #[test]
    fn keys_are_split_by_count_and_by_bytes() {
        let queue = Queue {
            keys: (0..600).map(|i| format!("k{i}")).collect(),
            ..Queue::default()
        };
        let scopes = queue.into_scopes();
        assert_eq!(scopes.iter().map(keys).collect::<Vec<_>>(), [256, 256, 88]);

        let long = "x".repeat(40 * 1024);
        let queue = Queue {
            keys: vec![long.clone(), long, "short".to_owned(), "x".repeat(200 * 1024)],
            ..Queue::default()
        };
        let scopes = queue.into_scopes();
        assert_eq!(scopes.iter().map(keys).collect::<Vec<_>>(), [1, 2, 1]);
        for scope in &scopes {
            let message = crate::fleet::Publisher::new(crate::fleet::InstanceId::random())
                .announce(scope.clone())
                .encode();
            assert!(message.len() < MAX_MESSAGE_BYTES);
        }
    }

    #[test]
    fn a_clear_covers_everything_queued_with_it() {
        let queue = Queue {
            keys: vec!["a".to_owned()],
            patterns: vec!["user:*".to_owned()],
            tags: vec!["t".to_owned()],
            clear: true,
        };
        assert_eq!(queue.into_scopes(), [Scope::Clear]);
        let queue = Queue {
            keys: vec!["a".to_owned()],
            patterns: vec!["user:*".to_owned()],
            tags: vec!["t".to_owned()],
            clear: false,
        };
        assert_eq!(
            queue.into_scopes(),
            [
                Scope::Pattern("user:*".to_owned()),
                Scope::Tag("t".to_owned()),
                Scope::Keys(vec!["a".to_owned()])
            ]
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
        assert_eq!(queue.keys, ["a", "b"]);
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
}
