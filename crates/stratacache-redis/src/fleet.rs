//! Fleet invalidation, the wire side: what one instance tells the others when it changes entries
//! ([`Invalidation`]), the channel it says it on ([`channel`]), and how a receiver decides
//! between applying a message and flushing its L1 because something was lost ([`Receiver`]).
//! The decision and its reasons: `docs/adr/0003-fleet-invalidation-pubsub.md`.
//!
//! Messages name keys, patterns, tags or a clear, in the caller's key space (without the Redis
//! namespace prefix); values never travel. Each carries its publisher's random [`InstanceId`]
//! and a per-publisher sequence number, so that a receiver skips its own messages and notices a
//! lost one.
//!
//! ```
//! use std::time::Instant;
//! use stratacache_redis::fleet::{Action, InstanceId, Publisher, Receiver, Scope};
//!
//! let a = Publisher::new(InstanceId::random());
//! let mut b = Receiver::new(InstanceId::random());
//! let message = a.announce(Scope::Keys(vec!["user:1".to_owned()])).encode();
//! assert_eq!(
//!     b.receive(&message, Instant::now()),
//!     Action::Apply(Scope::Keys(vec!["user:1".to_owned()]))
//! );
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;

/// The largest message a receiver decodes; a larger one is a [`FlushReason::Undecodable`] gap
/// (publishers split key batches below it).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The most keys one message names: publishers split larger batches, receivers refuse more
/// ([`FlushReason::Undecodable`]).
pub const MAX_KEYS_PER_MESSAGE: usize = 256;

/// How long a receiver waits for a message that arrived out of order before it counts it as
/// lost: concurrent writes of one instance go through different connections and may reach Redis
/// in another order than they were numbered, each up to an operation deadline (250 ms command
/// timeout and 50 ms of retries by default) plus the wait for a connection apart.
pub const REORDER_GRACE: Duration = Duration::from_secs(1);

/// How many publishers a receiver remembers; past that it flushes and starts over
/// ([`FlushReason::TooManyPublishers`]), since a forgotten publisher's gap could not be seen.
pub const MAX_PUBLISHERS: usize = 4096;

/// How many missing sequence numbers of one publisher a receiver waits for at once; more is a
/// gap at once.
pub const MAX_MISSING: usize = 1024;

/// The pub/sub channel of a namespace: `stratacache:invalidate:<namespace>`. An ACL user confined
/// to its namespace is given `&stratacache:invalidate:<namespace>`.
pub fn channel(namespace: &str) -> String {
    format!("stratacache:invalidate:{namespace}")
}

/// A random 128-bit instance id, chosen once per process (per cache), shown as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(u128);

impl InstanceId {
    /// A fresh random id (from the OS-seeded hasher keys of the standard library, the process
    /// id and the clock: no two processes or caches share one in practice).
    pub fn random() -> Self {
        let seed = (
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            NEXT_LOCAL.fetch_add(1, Ordering::Relaxed),
        );
        let high = RandomState::new().hash_one(seed);
        let low = RandomState::new().hash_one(seed);
        Self((u128::from(high) << 64) | u128::from(low))
    }
}

static NEXT_LOCAL: AtomicU64 = AtomicU64::new(0);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({self})")
    }
}

impl Serialize for InstanceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <&str>::deserialize(d)?;
        if text.len() != 32 {
            return Err(serde::de::Error::custom("an instance id is 32 hex digits"));
        }
        u128::from_str_radix(text, 16)
            .map(Self)
            .map_err(|_| serde::de::Error::custom("an instance id is 32 hex digits"))
    }
}

/// What changed, in the caller's key space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// These keys were written or deleted.
    Keys(Vec<String>),
    /// Every key matching this glob was removed.
    Pattern(String),
    /// Every entry with this tag was removed.
    Tag(String),
    /// The whole namespace was cleared.
    Clear,
    /// The publisher lost some of its messages (a `PUBLISH` failed): whatever they named is
    /// unknown, so receivers flush ([`FlushReason::Gap`]), whether or not they heard from it
    /// before.
    Lost,
}

/// [`Scope`], borrowed: what a publisher encodes without copying what it names (the same JSON).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ScopeRef<'a> {
    Keys(&'a [&'a str]),
    Pattern(&'a str),
    Tag(&'a str),
    Clear,
    Lost,
}

/// [`Invalidation`], borrowed.
#[derive(Serialize)]
struct InvalidationRef<'a> {
    v: u32,
    origin: InstanceId,
    seq: u64,
    scope: ScopeRef<'a>,
}

/// One message on the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invalidation {
    /// The format version ([`VERSION`]).
    pub v: u32,
    /// The publishing instance.
    pub origin: InstanceId,
    /// The publisher's sequence number, from 1, one per message.
    pub seq: u64,
    /// What changed.
    pub scope: Scope,
}

impl Invalidation {
    /// The message as sent: compact JSON.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing these types cannot fail: strings, integers and a tagged enum.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A received message, or `None` when it is too large, not this format or another version.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return None;
        }
        serde_json::from_slice::<Self>(bytes)
            .ok()
            .filter(|m| m.v == VERSION && m.seq > 0)
    }
}

/// Numbers the messages of one instance.
#[derive(Debug)]
pub struct Publisher {
    origin: InstanceId,
    last: AtomicU64,
}

impl Publisher {
    /// The publisher of instance `origin`.
    pub fn new(origin: InstanceId) -> Self {
        Self {
            origin,
            last: AtomicU64::new(0),
        }
    }

    /// This instance's id.
    pub fn origin(&self) -> InstanceId {
        self.origin
    }

    /// How many messages were numbered so far (each is sent in the round trip of its change; a
    /// change whose command never reached Redis took a number all the same, which receivers
    /// see as a gap and flush for).
    pub fn announced(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }

    /// The next message, announcing `scope`, encoded ([`Invalidation::encode`]) without
    /// copying what it names.
    pub(crate) fn encode_next(&self, scope: ScopeRef<'_>) -> Vec<u8> {
        let message = InvalidationRef {
            v: VERSION,
            origin: self.origin,
            seq: self.next_seq(),
            scope,
        };
        // Serializing these types cannot fail: strings, integers and a tagged enum.
        serde_json::to_vec(&message).unwrap_or_default()
    }

    fn next_seq(&self) -> u64 {
        self.last.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The next message, announcing `scope`.
    pub fn announce(&self, scope: Scope) -> Invalidation {
        Invalidation {
            v: VERSION,
            origin: self.origin,
            seq: self.next_seq(),
            scope,
        }
    }
}

/// Why a receiver flushes its whole L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlushReason {
    /// A publisher's message never arrived (its sequence number was skipped and not filled
    /// within [`REORDER_GRACE`], or more than [`MAX_MISSING`] were skipped at once), or the
    /// publisher said it lost some ([`Scope::Lost`]).
    Gap,
    /// A message did not decode (too large, more than [`MAX_KEYS_PER_MESSAGE`] keys, another
    /// format or version).
    Undecodable,
    /// The subscription dropped (reconnect, Redis restart, no answer to the liveness `PING`).
    Disconnected,
    /// A subscription was established (the first one too): what L1 took in before it may be
    /// stale.
    Subscribed,
    /// More than [`MAX_PUBLISHERS`] publishers were seen.
    TooManyPublishers,
    /// The consumer fell behind: its channel was full, and what did not fit is covered by a
    /// flush instead (the subscription never waits for the consumer).
    Lagged,
}

impl FlushReason {
    /// The reason's name, as in the metrics (`gap`, `undecodable`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gap => "gap",
            Self::Undecodable => "undecodable",
            Self::Disconnected => "disconnected",
            Self::Subscribed => "subscribed",
            Self::TooManyPublishers => "too_many_publishers",
            Self::Lagged => "lagged",
        }
    }
}

/// What a receiver does with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Drop what the scope names from L1.
    Apply(Scope),
    /// Flush the whole L1 (which also covers the message's own scope).
    Flush(FlushReason),
    /// This instance's own message: its L1 already holds the fresh value.
    Own,
}

/// What a receiver knows of one publisher.
#[derive(Debug, Default)]
struct Seen {
    highest: u64,
    /// Skipped sequence numbers, with when they were first missed.
    missing: BTreeMap<u64, Instant>,
}

/// Decides, message by message, whether to apply it or to flush L1 because something was lost.
/// One per subscription; not shared.
#[derive(Debug)]
pub struct Receiver {
    me: InstanceId,
    seen: HashMap<InstanceId, Seen>,
}

impl Receiver {
    /// The receiver of instance `me` (whose own messages are [`Action::Own`]).
    pub fn new(me: InstanceId) -> Self {
        Self {
            me,
            seen: HashMap::new(),
        }
    }

    /// Decides what to do with `bytes`, received at `now`.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Action {
        let Some(message) = Invalidation::decode(bytes) else {
            return self.flush(FlushReason::Undecodable);
        };
        if message.origin == self.me {
            return Action::Own;
        }
        match &message.scope {
            Scope::Lost => return self.flush(FlushReason::Gap),
            // Publishers never send more; a bound on what one message costs to hold.
            Scope::Keys(keys) if keys.len() > MAX_KEYS_PER_MESSAGE => {
                return self.flush(FlushReason::Undecodable);
            }
            _ => {}
        }
        if !self.seen.contains_key(&message.origin) && self.seen.len() >= MAX_PUBLISHERS {
            return self.flush(FlushReason::TooManyPublishers);
        }
        let seen = self.seen.entry(message.origin).or_default();
        let seq = message.seq;
        if seen.highest == 0 {
            // The first message of this publisher since we subscribed: nothing before it was ours
            // to see.
            seen.highest = seq;
        } else if seq > seen.highest {
            let skipped = seq - seen.highest - 1;
            if skipped as usize > MAX_MISSING.saturating_sub(seen.missing.len()) {
                return self.flush(FlushReason::Gap);
            }
            for lost in seen.highest + 1..seq {
                seen.missing.insert(lost, now);
            }
            seen.highest = seq;
        } else {
            // Late (reordered) or repeated: applying an invalidation twice is harmless.
            seen.missing.remove(&seq);
        }
        Action::Apply(message.scope)
    }

    /// Checks, at `now`, for skipped messages that did not arrive within [`REORDER_GRACE`]: a
    /// flush when one is overdue. Call it on a timer (and after each message).
    pub fn tick(&mut self, now: Instant) -> Option<Action> {
        // The lowest missing number of a publisher was missed first: one look per publisher.
        let overdue = self.seen.values().any(|seen| {
            seen.missing
                .first_key_value()
                .is_some_and(|(_, since)| now.saturating_duration_since(*since) >= REORDER_GRACE)
        });
        overdue.then(|| self.flush(FlushReason::Gap))
    }

    /// The subscription dropped: flush, and forget every publisher (their numbering restarts
    /// from whatever arrives first after the new subscription).
    pub fn disconnected(&mut self) -> Action {
        self.flush(FlushReason::Disconnected)
    }

    /// A subscription was established: flush (L1 may hold what changed while nobody listened),
    /// and start from whatever arrives next.
    pub fn subscribed(&mut self) -> Action {
        self.flush(FlushReason::Subscribed)
    }

    fn flush(&mut self, reason: FlushReason) -> Action {
        self.seen.clear();
        Action::Flush(reason)
    }
}

mod subscription;

pub use subscription::{FleetSubscription, PING_INTERVAL, PING_TIMEOUT, SubscriptionCounters};

#[cfg(test)]
mod tests;
