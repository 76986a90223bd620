//! Fleet invalidation in a built cache: the memory tier (L1) of a tiered cache drops what other
//! instances changed in Redis.
//!
//! The Redis backend announces every change it makes on the namespace's channel
//! ([`CacheConfig::fleet_invalidation`](crate::CacheConfig::fleet_invalidation)); here, each
//! tiered primary the factory builds subscribes to that channel and a consumer task applies
//! every decision of the subscription to the tier:
//!
//! | decision | what the tier does |
//! |---|---|
//! | keys changed | [`forget_keys`](stratacache_tiered::TieredCache::forget_keys) |
//! | pattern invalidated | [`forget_matching`](stratacache_tiered::TieredCache::forget_matching) |
//! | tag invalidated, namespace cleared | [`forget_all`](stratacache_tiered::TieredCache::forget_all) |
//! | a lost message, an undecodable one | `forget_all` |
//! | subscription dropped | caps new L1 lifetimes at `fleet_disconnected_l1_ttl`, then `forget_all` |
//! | subscribed | `forget_all`, then lifts the cap |
//!
//! Until the first subscription is established the cap is on as well: nothing an instance
//! copies into L1 while it cannot hear the others outlives the bound.

use std::time::Duration;

use serde::Serialize;

/// What fleet invalidation is doing, for status pages and metrics
/// ([`BuiltCache::fleet_status`](crate::BuiltCache::fleet_status)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FleetStatus {
    /// Whether this cache announces its changes on the namespace's channel.
    pub publishing: bool,
    /// Whether this cache listens for other instances' changes (a tiered cache only: without a
    /// memory tier there is nothing to drop).
    pub subscribing: bool,
    /// Whether the subscription is established now.
    pub connected: bool,
    /// Messages this instance announced (sent with its changes).
    pub published: u64,
    /// Messages received on the channel (this instance's own included).
    pub received: u64,
    /// This instance's own messages, skipped (its L1 already holds the fresh value).
    pub own: u64,
    /// Other instances' messages applied to L1.
    pub applied: u64,
    /// Whole-L1 flushes, by reason.
    pub flushes: FleetFlushes,
    /// Successful subscriptions (the first, then every re-subscription).
    pub subscriptions: u64,
    /// Decisions the memory tier could not apply (its copies then live at most `l1_ttl`).
    pub apply_errors: u64,
    /// The cap on new L1 lifetimes now in force because the subscription is down, if any.
    #[serde(with = "optional_secs")]
    pub l1_ttl_cap: Option<Duration>,
}

/// Whole-L1 flushes of fleet invalidation, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FleetFlushes {
    /// A message of another instance never arrived.
    pub gap: u64,
    /// A message did not decode.
    pub undecodable: u64,
    /// The subscription dropped (or its connection did not answer the liveness `PING`).
    pub disconnected: u64,
    /// A subscription was established (what L1 took in before may be stale).
    pub subscribed: u64,
    /// Too many publishers to keep track of.
    pub too_many_publishers: u64,
    /// The memory tier fell behind applying messages: one flush replaced what did not fit.
    pub lagged: u64,
}

impl FleetFlushes {
    /// Each reason with its count, in the order of the fields (for metrics).
    pub fn by_reason(&self) -> [(&'static str, u64); 6] {
        [
            ("gap", self.gap),
            ("undecodable", self.undecodable),
            ("disconnected", self.disconnected),
            ("subscribed", self.subscribed),
            ("too_many_publishers", self.too_many_publishers),
            ("lagged", self.lagged),
        ]
    }
}

mod optional_secs {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(feature = "redis")]
pub(crate) use listen::Fleet;

#[cfg(feature = "redis")]
mod listen {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, PoisonError, Weak};
    use std::time::Duration;

    use stratacache_core::Result;
    use stratacache_memory::MemoryCache;
    use stratacache_redis::RedisCache;
    use stratacache_redis::fleet::{Action, FleetSubscription, FlushReason, Scope};
    use stratacache_tiered::TieredCache;
    use tokio::task::JoinHandle;

    use super::{FleetFlushes, FleetStatus};

    /// The tier the factory builds in front of Redis.
    pub(crate) type Tier = TieredCache<MemoryCache, RedisCache>;

    /// How many decisions the subscription may hold before the consumer takes them: beyond
    /// that, what does not fit becomes one flush (`lagged`). With at most 256 keys and 1 MiB per
    /// message, a bound on the memory a stalled consumer can cost.
    const BACKLOG: usize = 1024;

    /// Fleet invalidation of one built cache: survives the failover connecting a new primary
    /// (after a degraded start), each of which [`attach`](Self::attach)es itself.
    #[derive(Debug)]
    pub(crate) struct Fleet {
        publishing: bool,
        subscribing: bool,
        bound: Duration,
        shared: Arc<Shared>,
        /// `None` once stopped: a primary connected after that is not listened for.
        current: Mutex<Option<Option<Attached>>>,
    }

    /// What the consumer task and the status share.
    #[derive(Debug, Default)]
    struct Shared {
        apply_errors: AtomicU64,
        /// Whether new L1 lifetimes are capped (not subscribed).
        capped: AtomicBool,
    }

    #[derive(Debug)]
    struct Attached {
        redis: RedisCache,
        listening: Option<(FleetSubscription, JoinHandle<()>)>,
    }

    impl Drop for Attached {
        fn drop(&mut self) {
            if let Some((subscription, consumer)) = &self.listening {
                subscription.stop();
                consumer.abort();
            }
        }
    }

    impl Fleet {
        /// Fleet invalidation of a cache whose Redis backend announces its changes when
        /// `publishing`, listening for the tiers it is given when `subscribing`, capping L1
        /// lifetimes at `bound` while not connected.
        pub(crate) fn new(publishing: bool, subscribing: bool, bound: Duration) -> Self {
            Self {
                publishing,
                subscribing,
                bound,
                shared: Arc::default(),
                current: Mutex::new(Some(None)),
            }
        }

        /// Takes over the primary just built: `redis`, with `tier` in front of it when the cache
        /// has a memory tier. Replaces the previous primary's subscription; listens when
        /// subscribing and there is a tier, with L1 lifetimes capped until it is subscribed.
        pub(crate) fn attach(&self, redis: &RedisCache, tier: Option<&Arc<Tier>>) {
            let listening = tier.filter(|_| self.subscribing).map(|tier| {
                self.shared.capped.store(true, Ordering::Release);
                tier.cap_l1_ttl(Some(self.bound));
                let (subscription, actions) = redis.subscribe_invalidations(BACKLOG);
                let consumer = tokio::spawn(consume(
                    Arc::downgrade(tier),
                    actions,
                    self.bound,
                    Arc::clone(&self.shared),
                ));
                (subscription, consumer)
            });
            let attached = Attached {
                redis: redis.clone(),
                listening,
            };
            let mut current = self.lock();
            let previous = match current.as_mut() {
                Some(slot) => slot.replace(attached),
                // Closed while this primary connected: it is not listened for.
                None => Some(attached),
            };
            drop(current);
            drop(previous);
        }

        /// Stops listening (when the cache is closed).
        pub(crate) fn stop(&self) {
            let attached = self.lock().take();
            drop(attached);
        }

        /// What fleet invalidation is doing now.
        pub(crate) fn status(&self) -> FleetStatus {
            let guard = self.lock();
            let Some(attached) = guard.as_ref().and_then(Option::as_ref) else {
                // Not connected yet (a degraded start): nothing published, nothing heard.
                return FleetStatus {
                    publishing: self.publishing,
                    subscribing: self.subscribing,
                    l1_ttl_cap: self.subscribing.then_some(self.bound),
                    ..FleetStatus::default()
                };
            };
            let mut status = FleetStatus {
                publishing: attached.redis.publishes_invalidations(),
                subscribing: attached.listening.is_some(),
                published: attached.redis.invalidations_published(),
                apply_errors: self.shared.apply_errors.load(Ordering::Relaxed),
                ..FleetStatus::default()
            };
            let Some((subscription, _)) = &attached.listening else {
                return status;
            };
            status.connected = subscription.is_connected();
            let c = subscription.counters();
            status.received = c.received;
            status.own = c.own;
            status.applied = c.applied;
            status.subscriptions = c.subscriptions;
            status.flushes = FleetFlushes {
                gap: c.flushes_gap,
                undecodable: c.flushes_undecodable,
                disconnected: c.flushes_disconnected,
                subscribed: c.flushes_subscribed,
                too_many_publishers: c.flushes_too_many_publishers,
                lagged: c.flushes_lagged,
            };
            status.l1_ttl_cap = self.shared.capped.load(Ordering::Acquire).then_some(self.bound);
            status
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, Option<Option<Attached>>> {
            self.current.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// Applies each decision of the subscription to the tier, until either is gone.
    async fn consume(
        tier: Weak<Tier>,
        mut actions: tokio::sync::mpsc::Receiver<Action>,
        bound: Duration,
        shared: Arc<Shared>,
    ) {
        while let Some(action) = actions.recv().await {
            let Some(tier) = tier.upgrade() else {
                return;
            };
            if let Err(e) = apply(&tier, action, bound, &shared).await {
                shared.apply_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "fleet invalidation: the memory tier could not drop what changed");
            }
        }
    }

    /// Applies one decision (see the module's table).
    async fn apply(tier: &Tier, action: Action, bound: Duration, shared: &Shared) -> Result<()> {
        match action {
            Action::Own => Ok(()),
            Action::Apply(Scope::Keys(keys)) => {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                tier.forget_keys(&keys).await
            }
            Action::Apply(Scope::Pattern(pattern)) => tier.forget_matching(&pattern).await,
            // This instance does not know which of its copies carry the tag.
            // (`Lost` arrives as a flush; a flush if it ever came as a scope.)
            Action::Apply(Scope::Tag(_) | Scope::Clear | Scope::Lost) => tier.forget_all().await,
            Action::Flush(FlushReason::Disconnected) => {
                // Capped first: what is read back into L1 after the flush lives at most `bound`.
                shared.capped.store(true, Ordering::Release);
                tier.cap_l1_ttl(Some(bound));
                tier.forget_all().await
            }
            Action::Flush(FlushReason::Subscribed) => {
                tier.forget_all().await?;
                tier.cap_l1_ttl(None);
                shared.capped.store(false, Ordering::Release);
                Ok(())
            }
            Action::Flush(_) => tier.forget_all().await,
        }
    }
}
