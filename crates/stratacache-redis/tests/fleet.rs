//! Fleet invalidation over a real redis-server: two caches on one server, one publishing what its
//! writes change (queued after each change, published in batches), the other receiving it; the subscription skips
//! its own messages, flushes on an undecodable one, and flushes, resubscribes and flushes again
//! when its connection is killed or the server restarts.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use stratacache_redis::RedisCache;
use stratacache_redis::fleet::{Action, FlushReason, InstanceId, Publisher, Scope, channel};
use stratacache_testkit::redis::{RedisMode, RedisServer};
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(10);

async fn next(actions: &mut mpsc::Receiver<Action>) -> Action {
    tokio::time::timeout(PATIENCE, actions.recv())
        .await
        .expect("no action within the patience")
        .expect("the subscription ended")
}

async fn until_connected(subscription: &stratacache_redis::fleet::FleetSubscription) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !subscription.is_connected() {
        assert!(tokio::time::Instant::now() < deadline, "never subscribed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Subscribes `cache` and waits until the subscription is established and has handed over its
/// first flush (L1 may hold what changed before anyone listened).
async fn subscribed(
    cache: &RedisCache,
) -> (
    stratacache_redis::fleet::FleetSubscription,
    mpsc::Receiver<Action>,
) {
    let (subscription, mut actions) = cache.subscribe_invalidations(16);
    until_connected(&subscription).await;
    assert_eq!(
        next(&mut actions).await,
        Action::Flush(FlushReason::Subscribed),
        "flushed at the start"
    );
    (subscription, actions)
}

/// Publishes `payload` on `cache`'s channel from a connection of its own; how many subscribers
/// received it.
async fn publish(server: &RedisServer, cache: &RedisCache, payload: Vec<u8>) -> u64 {
    let mut conn = common::observer(server).await;
    redis::cmd("PUBLISH")
        .arg(channel(cache.namespace()))
        .arg(payload)
        .query_async(&mut conn)
        .await
        .unwrap()
}

async fn kill_subscribers(server: &RedisServer) {
    let mut conn = common::observer(server).await;
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(killed >= 1, "no subscriber to kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_instances_messages_are_handed_over_and_own_ones_skipped() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let cache = common::connect(common::config_for(&server)).await;
    let me = cache.instance_id();
    let (subscription, mut actions) = subscribed(&cache).await;

    let other = Publisher::new(InstanceId::random());
    let scope = Scope::Keys(vec!["user:1".to_owned()]);
    assert_eq!(
        publish(&server, &cache, other.announce(scope.clone()).encode()).await,
        1
    );
    assert_eq!(next(&mut actions).await, Action::Apply(scope));

    let own = Publisher::new(me);
    publish(&server, &cache, own.announce(Scope::Clear).encode()).await;
    let pattern = Scope::Pattern("item:*".to_owned());
    publish(&server, &cache, other.announce(pattern.clone()).encode()).await;
    assert_eq!(
        next(&mut actions).await,
        Action::Apply(pattern),
        "own clear skipped"
    );

    publish(&server, &cache, b"{not an invalidation".to_vec()).await;
    assert_eq!(next(&mut actions).await, Action::Flush(FlushReason::Undecodable));
    let c = subscription.counters();
    assert_eq!(
        (c.received, c.own, c.applied, c.flushes_undecodable),
        (4, 1, 2, 1),
        "{c:?}"
    );

    // Another namespace's channel is not ours.
    let mut conn = common::observer(&server).await;
    let heard: u64 = redis::cmd("PUBLISH")
        .arg(channel("some-other-app"))
        .arg(other.announce(Scope::Clear).encode())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(heard, 0);
    subscription.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_subscription_flushes_resubscribes_and_flushes_again() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let cache = common::connect(common::config_for(&server)).await;
    let (subscription, mut actions) = subscribed(&cache).await;

    kill_subscribers(&server).await;
    assert_eq!(next(&mut actions).await, Action::Flush(FlushReason::Disconnected));
    // Once subscribed again: whatever L1 read meanwhile may be stale.
    assert_eq!(next(&mut actions).await, Action::Flush(FlushReason::Subscribed));
    until_connected(&subscription).await;
    assert_eq!(subscription.counters().subscriptions, 2);

    let other = Publisher::new(InstanceId::random());
    publish(
        &server,
        &cache,
        other.announce(Scope::Tag("t".to_owned())).encode(),
    )
    .await;
    assert_eq!(
        next(&mut actions).await,
        Action::Apply(Scope::Tag("t".to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_resubscribed_by_itself() {
    let Some(mut server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let mut config = common::impatient(common::config_for(&server));
    config.pool_size = 1;
    let cache = common::connect(config).await;
    let (subscription, mut actions) = subscribed(&cache).await;

    server.kill9();
    assert_eq!(next(&mut actions).await, Action::Flush(FlushReason::Disconnected));
    assert!(!subscription.is_connected());
    server.restart();
    assert_eq!(next(&mut actions).await, Action::Flush(FlushReason::Subscribed));
    until_connected(&subscription).await;

    let other = Publisher::new(InstanceId::random());
    publish(&server, &cache, other.announce(Scope::Clear).encode()).await;
    assert_eq!(next(&mut actions).await, Action::Apply(Scope::Clear));
}

/// Two instances on one server: every change A makes reaches B as the matching scope, in the
/// caller's key space; B's own writes are not handed to B; without `publish_invalidations`
/// nothing is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_of_a_publishing_instance_reaches_the_other() {
    use stratacache_core::{Bytes, Cache, Ttl};

    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let mut config = common::config_for(&server);
    config.publish_invalidations = true;
    let a = common::connect(config.clone()).await;
    let b = common::connect(config.clone()).await;
    assert_ne!(a.instance_id(), b.instance_id());
    let (subscription, mut actions) = subscribed(&b).await;
    let keys = |k: &[&str]| Scope::Keys(k.iter().map(|s| (*s).to_owned()).collect());
    let v = || Bytes::from_static(b"v");

    // B's own write is skipped; A's arrive in order.
    b.set("mine", v(), Ttl::Never).await.unwrap();
    a.set("user:1", v(), Ttl::Never).await.unwrap();
    assert_eq!(next(&mut actions).await, Action::Apply(keys(&["user:1"])));
    a.set_many(&[("user:2", v()), ("user:3", v())], Ttl::Never)
        .await
        .unwrap();
    assert_eq!(
        next(&mut actions).await,
        Action::Apply(keys(&["user:2", "user:3"]))
    );
    assert!(
        a.delete("user:1").await.unwrap(),
        "DEL's own reply survives the pipeline"
    );
    assert_eq!(next(&mut actions).await, Action::Apply(keys(&["user:1"])));
    assert_eq!(a.delete_many(&["user:2", "nope"]).await.unwrap(), 1);
    assert_eq!(next(&mut actions).await, Action::Apply(keys(&["user:2", "nope"])));
    assert_eq!(
        a.invalidate_pattern("user:3").await.unwrap(),
        1,
        "a literal pattern"
    );
    assert_eq!(next(&mut actions).await, Action::Apply(keys(&["user:3"])));
    a.set("item:1", v(), Ttl::Never).await.unwrap();
    assert_eq!(next(&mut actions).await, Action::Apply(keys(&["item:1"])));
    assert_eq!(a.invalidate_pattern("item:*").await.unwrap(), 1);
    assert_eq!(
        next(&mut actions).await,
        Action::Apply(Scope::Pattern("item:*".to_owned()))
    );
    a.clear().await.unwrap();
    assert_eq!(next(&mut actions).await, Action::Apply(Scope::Clear));
    assert_eq!(
        b.get("mine").await.unwrap(),
        None,
        "A's clear cleared the namespace"
    );
    let c = subscription.counters();
    assert_eq!((c.own, c.applied, c.flushes_gap), (1, 8, 0), "{c:?}");

    // A cache that does not publish sends nothing.
    config.publish_invalidations = false;
    let quiet = common::connect(config).await;
    quiet.set("user:9", v(), Ttl::Never).await.unwrap();
    a.set("user:10", v(), Ttl::Never).await.unwrap();
    assert_eq!(
        next(&mut actions).await,
        Action::Apply(keys(&["user:10"])),
        "nothing from quiet"
    );
}

/// An ACL user without the channel: with publishing on, `connect` refuses at once with the rule
/// to add (rather than every write being applied and reported as failed); without, it connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_the_channel_cannot_turn_publishing_on() {
    use stratacache_core::ErrorKind;

    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let mut admin = common::observer(&server).await;
    redis::cmd("ACL")
        .arg(
            &[
                "SETUSER",
                "nochannel",
                "on",
                ">pw-0123456789",
                "~*",
                "resetchannels",
                "+@all",
            ][..],
        )
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let mut config = common::config_for(&server);
    config.security.username = Some("nochannel".to_owned());
    config.security.password = Some(stratacache_redis::Secret::new("pw-0123456789".to_owned()));
    config.publish_invalidations = true;
    let err = RedisCache::connect(config.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
    let expected = format!("&{}", channel(&config.namespace));
    assert!(err.to_string().contains(&expected), "{err}");
    assert!(!err.to_string().contains("pw-0123456789"), "{err}");
    config.publish_invalidations = false;
    RedisCache::connect(config).await.unwrap();
}

/// Many concurrent writes are announced in fewer messages than writes (group commit), and every
/// key reaches the other instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_announced_in_batches() {
    use std::collections::HashSet;
    use stratacache_core::{Bytes, Cache, Ttl};

    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let mut config = common::config_for(&server);
    config.publish_invalidations = true;
    let a = common::connect(config.clone()).await;
    let b = common::connect(config).await;
    let (_subscription, mut actions) = subscribed(&b).await;
    let published = a.invalidations_published();
    let writes = (0..400).map(|i| {
        let a = a.clone();
        tokio::spawn(async move {
            a.set(&format!("k{i}"), Bytes::from_static(b"v"), Ttl::Never)
                .await
        })
    });
    for write in writes.collect::<Vec<_>>() {
        write.await.unwrap().unwrap();
    }
    let mut heard = HashSet::new();
    let mut messages = 0;
    while heard.len() < 400 {
        match next(&mut actions).await {
            Action::Apply(Scope::Keys(keys)) => {
                messages += 1;
                heard.extend(keys);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(a.invalidations_published() - published, messages);
    assert!(messages < 400, "one message per write: {messages}");
}

fn upstream(server: &RedisServer) -> std::net::SocketAddr {
    format!("{}:{}", server.host(), server.port()).parse().unwrap()
}

/// The subscription's connection stays open but carries nothing back (a half-open connection, a
/// hung server): the liveness `PING` is not answered, the subscription counts as lost (a flush),
/// and it resubscribes by itself once the way is clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_noticed_by_its_ping() {
    use stratacache_redis::fleet::{PING_INTERVAL, PING_TIMEOUT};
    use stratacache_testkit::fault::FaultProxy;
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let proxy = FaultProxy::start(upstream(&server));
    let mut config = common::impatient(common::config_for(&server));
    config.url = proxy.url().into();
    let cache = common::connect(config).await;
    let (subscription, mut actions) = subscribed(&cache).await;

    proxy.drop_replies();
    let started = std::time::Instant::now();
    assert_eq!(next(&mut actions).await, Action::Flush(FlushReason::Disconnected));
    assert!(!subscription.is_connected());
    println!(
        "noticed after {:?} (PING every {PING_INTERVAL:?}, answered within {PING_TIMEOUT:?})",
        started.elapsed()
    );

    proxy.pass();
    assert_eq!(next(&mut actions).await, Action::Flush(FlushReason::Subscribed));
    until_connected(&subscription).await;
    let other = Publisher::new(InstanceId::random());
    publish(&server, &cache, other.announce(Scope::Clear).encode()).await;
    assert_eq!(next(&mut actions).await, Action::Apply(Scope::Clear));
}

/// A consumer that does not keep up never holds the subscription back: what does not fit in its
/// channel is dropped and replaced by one flush, handed over as soon as there is room; then the
/// messages are applied again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_consumer_gets_one_flush_instead_of_a_backlog() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let cache = common::connect(common::config_for(&server)).await;
    let (subscription, mut actions) = cache.subscribe_invalidations(4);
    until_connected(&subscription).await;
    assert_eq!(next(&mut actions).await, Action::Flush(FlushReason::Subscribed));

    let other = Publisher::new(InstanceId::random());
    let keys = |i: usize| Scope::Keys(vec![format!("k{i}")]);
    for i in 0..20 {
        publish(&server, &cache, other.announce(keys(i)).encode()).await;
    }
    // Wait until all 20 were received, without taking anything.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while subscription.counters().received < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            subscription.counters()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..4 {
        assert_eq!(next(&mut actions).await, Action::Apply(keys(i)));
    }
    assert_eq!(next(&mut actions).await, Action::Flush(FlushReason::Lagged));
    publish(&server, &cache, other.announce(keys(99)).encode()).await;
    assert_eq!(next(&mut actions).await, Action::Apply(keys(99)));
    let counters = subscription.counters();
    assert_eq!(
        (counters.applied, counters.flushes_lagged),
        (5, 1),
        "{counters:?}"
    );
}

/// A change whose announcement could not be sent (Redis unreachable from the publisher) is not
/// silently lost when the publisher then stays quiet: it keeps saying that it lost messages until
/// that arrives, and the receiver flushes, although it never heard from that publisher before
/// (so no gap in the numbers could have shown it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_announcement_is_followed_by_one_that_flushes_every_receiver() {
    use stratacache_core::{Bytes, Cache, Ttl};
    use stratacache_testkit::fault::FaultProxy;
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let proxy = FaultProxy::start(upstream(&server));
    let mut config = common::impatient(common::config_for(&server));
    let b = common::connect(config.clone()).await;
    config.url = proxy.url().into();
    config.publish_invalidations = true;
    let a = common::connect(config).await;
    let (_subscription, mut actions) = subscribed(&b).await;

    proxy.cut();
    assert!(a.set("k", Bytes::from_static(b"2"), Ttl::secs(60)).await.is_err());
    // Long enough for the announcement and its repetition after the operation deadline to fail.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.pass();
    // Nothing else is written: what reaches B is A saying it lost messages (perhaps after the
    // repeated announcement of k).
    loop {
        match next(&mut actions).await {
            Action::Flush(FlushReason::Gap) => break,
            Action::Apply(Scope::Keys(keys)) if keys == ["k"] => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_lost_message_flushes_and_a_message_with_too_many_keys_is_refused() {
    use std::time::Instant;
    let mut b = stratacache_redis::fleet::Receiver::new(InstanceId::random());
    let a = Publisher::new(InstanceId::random());
    assert_eq!(
        b.receive(&a.announce(Scope::Lost).encode(), Instant::now()),
        Action::Flush(FlushReason::Gap),
        "even as the first message of a publisher"
    );
    let many = Scope::Keys(
        (0..=stratacache_redis::fleet::MAX_KEYS_PER_MESSAGE)
            .map(|i| i.to_string())
            .collect(),
    );
    assert_eq!(
        b.receive(&a.announce(many).encode(), Instant::now()),
        Action::Flush(FlushReason::Undecodable)
    );
}
