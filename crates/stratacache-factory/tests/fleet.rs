//! Fleet invalidation as applications see it: two caches built by the factory (each a memory tier
//! in front of the same redis-server and namespace, as two processes of one service would have),
//! where what one instance changes is what the other reads next, not a copy its L1 kept.
//!
//! Without fleet invalidation each of these tests fails: the other instance's L1 keeps the old
//! value for `l1_ttl` (60 s), far past the patience of [`eventually`].
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, SharedCache, Ttl};
use stratacache_factory::{BuiltCache, CacheConfig, CacheFactory, Environment, FleetStatus};
use stratacache_testkit::coherence;
use stratacache_testkit::fault::FaultProxy;
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

/// Far below `l1_ttl` (60 s): an L1 that was never told would still serve the old value.
const PATIENCE: Duration = Duration::from_secs(10);

fn server() -> Option<RedisServer> {
    RedisServer::builder(RedisMode::Plain).local().start_or_skip()
}

/// The `simple` preset (a memory tier in front of Redis) on `url` in `namespace`, in the testing
/// environment (no password needed).
fn config(url: &str, namespace: &str) -> CacheConfig {
    let mut config = CacheConfig::web_app();
    config.environment = Environment::Testing;
    config.redis_url = Some(url.into());
    config.namespace = namespace.to_owned();
    config
}

async fn instance(url: &str, namespace: &str) -> BuiltCache {
    let built = CacheFactory::from_config(config(url, namespace)).await.unwrap();
    assert_eq!(built.layers.iter().filter(|l| **l == "tiered").count(), 1);
    connected(&built).await;
    built
}

fn status(built: &BuiltCache) -> FleetStatus {
    built
        .fleet_status()
        .expect("a Redis cache has fleet invalidation")
}

/// Waits until `built`'s subscription is established and its first flush applied (the cap on
/// L1 lifetimes lifted).
async fn connected(built: &BuiltCache) {
    eventually("the fleet subscription is established", async || {
        let s = status(built);
        s.connected && s.l1_ttl_cap.is_none()
    })
    .await;
}

/// Waits until `built`'s failover serves from Redis and its Redis answers (the failover opens
/// while Redis cannot be reached, and only notices a restarted server at its next operation).
async fn on_redis(built: &BuiltCache) {
    let (failover, redis) = (built.failover.as_ref().unwrap(), built.redis.as_ref().unwrap());
    eventually("the failover serves from Redis", async || {
        let mut answered = true;
        for _ in 0..8 {
            answered &= redis.get("absent").await.is_ok();
        }
        answered && failover.state() == stratacache_factory::FailoverState::Primary
    })
    .await;
}

async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn v(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// The testkit's coherence cases, on two instances over one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tiered_instances_pass_the_coherence_suite() {
    let Some(server) = server() else { return };
    let url = server.url().to_owned();
    let report = coherence::run(async || {
        let namespace = unique_namespace("fleet");
        let a = instance(&url, &namespace).await;
        let b = instance(&url, &namespace).await;
        (a.cache.clone(), b.cache.clone(), (a, b))
    })
    .await;
    assert_eq!(report.passed.len(), coherence::case_names().len());
}

/// What B applied is counted, and A's own messages are skipped by A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_applies_the_others_messages_and_skips_its_own() {
    let Some(server) = server() else { return };
    let namespace = unique_namespace("fleet");
    let a = instance(server.url(), &namespace).await;
    let b = instance(server.url(), &namespace).await;
    b.cache.set("k", v("old"), Ttl::Default).await.unwrap();
    assert_eq!(a.cache.get("k").await.unwrap(), Some(v("old")));
    let (published, applied) = (status(&a).published, status(&b).applied);
    a.cache.set("k", v("new"), Ttl::Default).await.unwrap();
    eventually("B drops its copy", async || {
        b.cache.get("k").await.unwrap() == Some(v("new"))
    })
    .await;
    assert!(status(&a).published > published, "{:?}", status(&a));
    assert!(status(&b).applied > applied, "{:?}", status(&b));
    eventually("A hears its own message", async || status(&a).own >= 1).await;
    let a_status = status(&a);
    assert!(a_status.publishing && a_status.subscribing && a_status.connected);
}

/// Values are encrypted and compressed in Redis; only keys travel on the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_invalidation_works_with_encryption_and_compression() {
    let Some(server) = server() else { return };
    let namespace = unique_namespace("fleet");
    let key = stratacache_crypto::generate_key();
    let make = async || {
        let mut config = config(server.url(), &namespace);
        config.encryption.key = Some(stratacache_factory::Secret::new(key.clone()));
        let built = CacheFactory::from_config(config).await.unwrap();
        assert!(built.layers.contains(&"encryption") && built.layers.contains(&"compression"));
        connected(&built).await;
        built
    };
    let (a, b) = (make().await, make().await);
    let large = |c: char| Bytes::from(c.to_string().repeat(50_000));
    a.cache.set("doc", large('x'), Ttl::Default).await.unwrap();
    assert_eq!(b.cache.get("doc").await.unwrap(), Some(large('x')));
    a.cache.set("doc", large('y'), Ttl::Default).await.unwrap();
    eventually("B reads A's new document", async || {
        b.cache.get("doc").await.unwrap() == Some(large('y'))
    })
    .await;
}

/// B's subscription is cut by a proxy: B flushes, caps its L1 lifetimes while it cannot hear A,
/// resubscribes by itself once the proxy passes again, and hears A's changes after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_subscription_flushes_caps_l1_and_recovers() {
    let Some(server) = server() else { return };
    let namespace = unique_namespace("fleet");
    let proxy = FaultProxy::start(format!("{}:{}", server.host(), server.port()).parse().unwrap());
    let a = instance(server.url(), &namespace).await;
    let b = instance(&proxy.url(), &namespace).await;
    a.cache.set("k", v("1"), Ttl::Default).await.unwrap();
    assert_eq!(b.cache.get("k").await.unwrap(), Some(v("1")));

    proxy.cut();
    eventually("B notices the cut", async || {
        let s = status(&b);
        !s.connected && s.flushes.disconnected >= 1 && s.l1_ttl_cap.is_some()
    })
    .await;
    let cut = status(&b);
    assert_eq!(
        cut.l1_ttl_cap,
        Some(stratacache_factory::config::DEFAULT_FLEET_DISCONNECTED_L1_TTL),
        "{cut:?}"
    );

    proxy.pass();
    connected(&b).await;
    assert!(status(&b).subscriptions >= 2, "{:?}", status(&b));
    eventually("B reads from Redis again", async || {
        b.cache.get("k").await.unwrap() == Some(v("1"))
    })
    .await;
    a.cache.set("k", v("2"), Ttl::Default).await.unwrap();
    eventually("B hears A again", async || {
        b.cache.get("k").await.unwrap() == Some(v("2"))
    })
    .await;
}

/// Redis killed with SIGKILL and restarted on its port: both instances resubscribe, and what A
/// writes afterwards reaches B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_instances_recover_after_a_redis_restart() {
    let Some(mut server) = server() else { return };
    let namespace = unique_namespace("fleet");
    let a = instance(server.url(), &namespace).await;
    let b = instance(server.url(), &namespace).await;
    server.kill9();
    server.restart();
    for built in [&a, &b] {
        eventually("resubscribed after the restart", async || {
            status(built).subscriptions >= 2
        })
        .await;
        connected(built).await;
    }
    // Both back on Redis (their failovers may open on the first failed operation; what is
    // written to a fallback is not copied to Redis afterwards).
    on_redis(&a).await;
    on_redis(&b).await;
    eventually("A's write lands in Redis", async || {
        // Stored framed by the compression layer: present is what counts here.
        a.cache.set("k", v("1"), Ttl::Default).await.unwrap();
        a.redis.as_ref().unwrap().exists("k").await.unwrap_or(false)
    })
    .await;
    eventually("B reads A's value from Redis", async || {
        b.cache.get("k").await.unwrap() == Some(v("1"))
    })
    .await;
    a.cache.set("k", v("2"), Ttl::Default).await.unwrap();
    eventually("B hears A after the restart", async || {
        b.cache.get("k").await.unwrap() == Some(v("2"))
    })
    .await;
}

/// Off, nothing is published nor heard: the other instance's L1 keeps its copy (what the
/// setting trades away), and the status says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_nothing_is_published_or_heard() {
    let Some(server) = server() else { return };
    let namespace = unique_namespace("fleet");
    let make = async || {
        let mut config = config(server.url(), &namespace);
        config.fleet_invalidation = false;
        CacheFactory::from_config(config).await.unwrap()
    };
    let (a, b) = (make().await, make().await);
    a.cache.set("k", v("1"), Ttl::Default).await.unwrap();
    assert_eq!(b.cache.get("k").await.unwrap(), Some(v("1")));
    a.cache.set("k", v("2"), Ttl::Default).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.cache.get("k").await.unwrap(), Some(v("1")), "B's L1 copy");
    let s = status(&a);
    assert!(!s.publishing && !s.subscribing && !s.connected, "{s:?}");
    assert_eq!(s.published, 0);
}

/// A cache without a memory tier publishes (other instances may have one) but does not listen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_without_l1_publishes_for_the_others() {
    let Some(server) = server() else { return };
    let namespace = unique_namespace("fleet");
    let mut plain = config(server.url(), &namespace);
    plain.enable_l1_cache = false;
    let writer = CacheFactory::from_config(plain).await.unwrap();
    let reader = instance(server.url(), &namespace).await;
    writer.cache.set("k", v("1"), Ttl::Default).await.unwrap();
    assert_eq!(reader.cache.get("k").await.unwrap(), Some(v("1")));
    writer.cache.set("k", v("2"), Ttl::Default).await.unwrap();
    eventually("the reader drops its copy", async || {
        reader.cache.get("k").await.unwrap() == Some(v("2"))
    })
    .await;
    let s = status(&writer);
    assert!(s.publishing && !s.subscribing && s.published >= 1, "{s:?}");
}

/// Subscribers of `namespace`'s channel, as the server counts them (`PUBSUB NUMSUB`).
fn subscribers(server: &RedisServer, namespace: &str) -> u64 {
    let out = std::process::Command::new("redis-cli")
        .args(server.redis_cli_args())
        .args(["PUBSUB", "NUMSUB", &stratacache_redis::fleet::channel(namespace)])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().nth(1).unwrap().trim().parse().unwrap()
}

/// Closing a built cache ends its subscription on the server, and so does closing the Redis
/// cache alone (as a registry's closer does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_ends_the_subscription() {
    let Some(server) = server() else { return };
    let namespace = unique_namespace("fleet");
    let a = instance(server.url(), &namespace).await;
    let b = instance(server.url(), &namespace).await;
    assert_eq!(subscribers(&server, &namespace), 2);
    a.close().await.unwrap();
    assert!(!status(&a).connected);
    let cache: SharedCache = Arc::clone(&a.cache);
    assert!(cache.get("k").await.is_err());
    b.redis.as_ref().unwrap().close();
    let deadline = Instant::now() + PATIENCE;
    while subscribers(&server, &namespace) != 0 {
        assert!(Instant::now() < deadline, "a subscription outlived its cache");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The least-privilege ACL user of `docs/security.md`, with its namespace: every command the cache
/// and fleet invalidation send, keys of the namespace only, and the namespace's channel only.
const LEAST_PRIVILEGE: &str = "on >{password} ~{ns}:* ~:tags:{ns}:* ~:lease:{ns}:* resetchannels &stratacache:invalidate:{ns} -@all \
    +get +set +del +unlink +exists +pttl +mget +scan +ping +info +multi +exec +unwatch +select +eval \
    +publish +subscribe +sadd +srem +spop +scard +rename +srandmember +pexpire +persist";

/// `docs/security.md` documents the same rule (for the namespace `app`), word for word after the
/// password.
#[test]
fn the_tested_rule_is_the_documented_one() {
    let doc = include_str!("../../../docs/security.md");
    let documented = doc
        .lines()
        .find_map(|l| l.strip_prefix("user app on #<sha256 of the password> "))
        .expect("the rule in docs/security.md");
    let tested = LEAST_PRIVILEGE.replace("{ns}", "app");
    let tested = tested.strip_prefix("on >{password} ").unwrap();
    assert_eq!(
        documented.split_whitespace().collect::<Vec<_>>(),
        tested.split_whitespace().collect::<Vec<_>>()
    );
}

/// A server whose ACL file defines the user `app` by `rule`, and the file (kept while it runs).
fn with_user(rule: &str) -> (Option<RedisServer>, tempfile::TempPath) {
    use std::io::Write as _;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "user default on nopass ~* &* +@all\nuser app {rule}").unwrap();
    let path = file.into_temp_path();
    let server = RedisServer::builder(RedisMode::Plain)
        .local()
        .config("aclfile", path.to_str().unwrap())
        .start_or_skip();
    (server, path)
}

/// Two instances logged in as the documented least-privilege user pass the coherence cases: the
/// rule grants what fleet invalidation needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_least_privilege_user_runs_fleet_invalidation() {
    let (ns, password) = ("leastpriv", "s3cret-for-the-test");
    let rule = LEAST_PRIVILEGE
        .replace("{ns}", ns)
        .replace("{password}", password);
    let (Some(server), _acl) = with_user(&rule) else {
        return;
    };
    let make = async || {
        let mut config = config(server.url(), ns);
        config.acl_username = Some("app".to_owned());
        config.redis_password = Some(stratacache_factory::Secret::new(password.to_owned()));
        let built = CacheFactory::from_config(config).await.unwrap();
        assert!(built.degraded.is_none(), "{:?}", built.degraded);
        connected(&built).await;
        built
    };
    let report = coherence::run(async || {
        let (a, b) = (make().await, make().await);
        a.cache.clear().await.unwrap();
        (a.cache.clone(), b.cache.clone(), (a, b))
    })
    .await;
    assert_eq!(report.passed.len(), coherence::case_names().len());
    // Leases (`~:lease:<ns>:*`, the scripts' GET/SET/PEXPIRE/DEL).
    let built = make().await;
    let minute = Duration::from_secs(60);
    assert!(built.cache.acquire_lease("job", "a", minute).await.unwrap());
    assert!(!built.cache.acquire_lease("job", "b", minute).await.unwrap());
    assert!(built.cache.renew_lease("job", "a", minute).await.unwrap());
    assert!(built.cache.release_lease("job", "a").await.unwrap());
}

/// The same user without the channel: fleet invalidation cannot publish, and the start fails with
/// what to grant (or to turn off), rather than every write being reported as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_the_channel_fails_at_start_naming_the_fix() {
    let (ns, password) = ("nochannel", "s3cret-for-the-test");
    let rule = LEAST_PRIVILEGE
        .replace(" &stratacache:invalidate:{ns}", "")
        .replace("{ns}", ns)
        .replace("{password}", password);
    let (Some(server), _acl) = with_user(&rule) else {
        return;
    };
    let mut config = config(server.url(), ns);
    config.acl_username = Some("app".to_owned());
    config.redis_password = Some(stratacache_factory::Secret::new(password.to_owned()));
    let err = CacheFactory::from_config(config.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("&stratacache:invalidate:nochannel") && err.contains("CACHE_FLEET_INVALIDATION"),
        "{err}"
    );
    assert!(!err.contains(password), "{err}");
    config.fleet_invalidation = false;
    let built = CacheFactory::from_config(config).await.unwrap();
    built.cache.set("k", v("1"), Ttl::Default).await.unwrap();
}
