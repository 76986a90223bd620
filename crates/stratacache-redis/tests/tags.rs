//! Tags on a real redis-server: tag sets stay tidy as their entries expire (a tag whose entries
//! are all gone goes too; a tag that lives on sheds dead members as keys are added), what one tag
//! set costs per member, and a tag removal announced to other instances as the keys it removed.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use stratacache_core::{Bytes, Cache, TagsExt, Ttl};
use stratacache_redis::fleet::{Action, FlushReason, Scope};
use stratacache_testkit::redis::{RedisMode, RedisServer};

fn server() -> Option<RedisServer> {
    RedisServer::builder(RedisMode::Plain).local().start_or_skip()
}

/// `n` entries `{prefix}:{i}` tagged `tag`, written directly (SET and SADD, as the cache lays
/// them out).
async fn tag_directly(
    conn: &mut redis::aio::MultiplexedConnection,
    ns: &str,
    tag: &str,
    prefix: &str,
    n: usize,
) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("SET")
            .arg(format!("{ns}:{prefix}:{i}"))
            .arg("v")
            .ignore();
        pipe.cmd("SADD")
            .arg(format!(":tags:{ns}:{tag}"))
            .arg(format!("{prefix}:{i}"))
            .ignore();
    }
    pipe.query_async::<()>(conn).await.unwrap();
}

async fn query<T: redis::FromRedisValue>(server: &RedisServer, cmd: &mut redis::Cmd) -> T {
    let mut conn = common::observer(server).await;
    cmd.query_async(&mut conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_set_lives_as_long_as_its_longest_entry() {
    let Some(server) = server() else { return };
    let cache = common::connect(common::config_for(&server)).await;
    let set = format!(":tags:{}:short", cache.namespace());
    for (key, ms) in [("a", 300), ("b", 600)] {
        cache
            .set_with_tags(
                key,
                Bytes::from_static(b"v"),
                Ttl::After(Duration::from_millis(ms)),
                &["short"],
            )
            .await
            .unwrap();
    }
    let pttl: i64 = query(&server, redis::cmd("PTTL").arg(&set)).await;
    assert!(pttl > 300 && pttl <= 600, "the set lives as long as b: {pttl} ms");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let exists: u64 = query(&server, redis::cmd("EXISTS").arg(&set)).await;
    assert_eq!(exists, 0, "the tag set went with its entries");

    // An entry without expiry makes its tag persistent; a later expiring one does not undo it.
    cache
        .set_with_tags("c", Bytes::from_static(b"v"), Ttl::Never, &["forever"])
        .await
        .unwrap();
    cache
        .set_with_tags(
            "d",
            Bytes::from_static(b"v"),
            Ttl::After(Duration::from_secs(5)),
            &["forever"],
        )
        .await
        .unwrap();
    let pttl: i64 = query(
        &server,
        redis::cmd("PTTL").arg(format!(":tags:{}:forever", cache.namespace())),
    )
    .await;
    assert_eq!(pttl, -1);
}

/// 1000 short-lived members expire beside a live one; adding 300 live ones sheds dead members (three random members
/// checked per addition), so the set does not keep every key it ever held. Prints the memory of a
/// tag set per member (`MEMORY USAGE`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_that_lives_on_sheds_its_expired_members() {
    let Some(server) = server() else { return };
    let cache = common::connect(common::config_for(&server)).await;
    let set = format!(":tags:{}:hot", cache.namespace());
    // A live member keeps the set alive while the others expire.
    cache
        .set_with_tags("anchor", Bytes::from_static(b"v"), Ttl::Never, &["hot"])
        .await
        .unwrap();
    for i in 0..1000 {
        cache
            .set_with_tags(
                &format!("old:{i}"),
                Bytes::from_static(b"v"),
                Ttl::After(Duration::from_millis(100)),
                &["hot"],
            )
            .await
            .unwrap();
    }
    let bytes: u64 = query(&server, redis::cmd("MEMORY").arg("USAGE").arg(&set)).await;
    println!(
        "a tag set of 1000 members of 7 to 9 bytes: {bytes} bytes ({} per member)",
        bytes / 1000
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..300 {
        cache
            .set_with_tags(
                &format!("new:{i}"),
                Bytes::from_static(b"v"),
                Ttl::Never,
                &["hot"],
            )
            .await
            .unwrap();
    }
    let members: u64 = query(&server, redis::cmd("SCARD").arg(&set)).await;
    println!("after 300 additions over 1000 expired members: {members} members (301 live)");
    assert!(members < 1050, "dead members were shed: {members} of 1301");
    // Removal counts only the live entries.
    assert_eq!(cache.invalidate_tag("hot").await.unwrap(), 301);
}

/// Another instance hears a tag removal as the keys it removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_removal_is_announced_as_its_keys() {
    let Some(server) = server() else { return };
    let mut config = common::config_for(&server);
    config.publish_invalidations = true;
    let a = common::connect(config.clone()).await;
    let b = common::connect(config).await;
    let (_subscription, mut actions) = b.subscribe_invalidations(64);
    let next = async |actions: &mut tokio::sync::mpsc::Receiver<Action>| {
        tokio::time::timeout(Duration::from_secs(10), actions.recv())
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(next(&mut actions).await, Action::Flush(FlushReason::Subscribed));
    while !_subscription.is_connected() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for key in ["x:1", "x:2"] {
        a.set_with_tags(key, Bytes::from_static(b"v"), Ttl::Never, &["grp"])
            .await
            .unwrap();
        assert_eq!(
            next(&mut actions).await,
            Action::Apply(Scope::Keys(vec![key.to_owned()]))
        );
    }
    let mut removed = a.remove_tagged("grp").await.unwrap();
    removed.sort();
    assert_eq!(removed, ["x:1", "x:2"]);
    let Action::Apply(Scope::Keys(mut announced)) = next(&mut actions).await else {
        panic!("expected the removed keys");
    };
    announced.sort();
    assert_eq!(announced, ["x:1", "x:2"]);
    // Tag sets are outside the key space: a clear removes them, pattern invalidation does not.
    a.set_with_tags("y", Bytes::from_static(b"v"), Ttl::Never, &["kept"])
        .await
        .unwrap();
    assert_eq!(a.invalidate_pattern("*").await.unwrap(), 1);
    a.set_with_tags("y", Bytes::from_static(b"v"), Ttl::Never, &["kept"])
        .await
        .unwrap();
    assert_eq!(
        a.count_keys().await.unwrap(),
        1,
        "tag sets are not counted as keys"
    );
    a.clear().await.unwrap();
    let sets: u64 = query(
        &server,
        redis::cmd("EXISTS").arg(format!(":tags:{}:kept", a.namespace())),
    )
    .await;
    assert_eq!(sets, 0, "a clear removes the namespace's tag sets");
}

/// A large tag is removed in batches (Redis is never blocked for the whole tag), entirely, and
/// announced as the tag rather than thousands of keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_tag_is_removed_in_batches_and_announced_as_the_tag() {
    let Some(server) = server() else { return };
    let mut config = common::config_for(&server);
    config.publish_invalidations = true;
    let a = common::connect(config.clone()).await;
    let b = common::connect(config).await;
    let (subscription, mut actions) = b.subscribe_invalidations(64);
    while !subscription.is_connected() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // 5000 tagged entries, written directly.
    let (ns, n) = (a.namespace().to_owned(), 5000);
    let mut conn = common::observer(&server).await;
    tag_directly(&mut conn, &ns, "big", "big", n).await;
    let evals = async || -> u64 {
        let info: String = query(&server, redis::cmd("INFO").arg("commandstats")).await;
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_eval:calls="))
            .and_then(|rest| rest.split(',').next()?.parse().ok())
            .unwrap_or(0)
    };
    let before = evals().await;
    let removed = a.remove_tagged("big").await.unwrap();
    let scripts = evals().await - before;
    assert_eq!(removed.len(), n);
    assert_eq!(a.count_keys().await.unwrap(), 0, "every entry removed");
    let set: u64 = query(&server, redis::cmd("EXISTS").arg(format!(":tags:{ns}:big"))).await;
    assert_eq!(set, 0, "the tag set is gone");
    assert_eq!(scripts, 5, "5000 members in batches of 1000");
    loop {
        let action = tokio::time::timeout(Duration::from_secs(10), actions.recv())
            .await
            .unwrap()
            .unwrap();
        match action {
            Action::Apply(Scope::Tag(tag)) => {
                assert_eq!(tag, "big");
                break;
            }
            Action::Flush(FlushReason::Subscribed) => {}
            other => panic!("expected the tag, got {other:?}"),
        }
    }
}

/// Entries tagged while a removal runs either go or survive with their tag; every entry tagged
/// before it began goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_takes_every_entry_tagged_before_it_whatever_is_tagged_meanwhile() {
    let Some(server) = server() else { return };
    let cache = common::connect(common::config_for(&server)).await;
    let (ns, n) = (cache.namespace().to_owned(), 3000);
    let mut conn = common::observer(&server).await;
    tag_directly(&mut conn, &ns, "t", "old", n).await;

    let writer = {
        let cache = cache.clone();
        tokio::spawn(async move {
            let mut written = 0;
            for i in 0..2000 {
                cache
                    .set_with_tags(&format!("new:{i}"), Bytes::from_static(b"v"), Ttl::Never, &["t"])
                    .await
                    .unwrap();
                written += 1;
                tokio::task::yield_now().await;
            }
            written
        })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let removed = cache.remove_tagged("t").await.unwrap();
    let written = writer.await.unwrap();

    let mut exists = redis::pipe();
    for i in 0..n {
        exists.cmd("EXISTS").arg(format!("{ns}:old:{i}"));
    }
    let old: Vec<u64> = exists.query_async(&mut conn).await.unwrap();
    assert_eq!(
        old.iter().sum::<u64>(),
        0,
        "every entry tagged before the removal went"
    );
    assert!(removed.len() >= n);
    // Each new entry still there is still tagged: the next removal takes it.
    let mut survivors = 0;
    for i in 0..written {
        let key = format!("new:{i}");
        let there: u64 = query(&server, redis::cmd("EXISTS").arg(format!("{ns}:{key}"))).await;
        let tagged: u64 = query(
            &server,
            redis::cmd("SISMEMBER").arg(format!(":tags:{ns}:t")).arg(&key),
        )
        .await;
        assert!(there == 0 || tagged == 1, "{key} survived without its tag");
        survivors += there;
    }
    println!(
        "{} removed, {survivors} of {written} entries tagged meanwhile survive",
        removed.len()
    );
    assert_eq!(cache.remove_tagged("t").await.unwrap().len() as u64, survivors);
}

/// A removal cancelled between two batches is announced as the tag: the others flush, although
/// nobody knows which entries went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_tag_removal_is_announced_as_the_tag() {
    use stratacache_testkit::fault::FaultProxy;
    let Some(server) = server() else { return };
    let proxy = FaultProxy::start(format!("{}:{}", server.host(), server.port()).parse().unwrap());
    let mut config = common::patient_config_for(&server);
    config.publish_invalidations = true;
    let b = common::connect(config.clone()).await;
    config.url = proxy.url().into();
    let a = common::connect(config).await;
    let (subscription, mut actions) = b.subscribe_invalidations(64);
    while !subscription.is_connected() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (ns, n) = (a.namespace().to_owned(), 4000);
    let mut conn = common::observer(&server).await;
    tag_directly(&mut conn, &ns, "c", "c", n).await;

    // Each batch takes at least 100 ms through the proxy: cancelled after about two.
    proxy.slow(Duration::from_millis(100));
    let removal = tokio::spawn({
        let a = a.clone();
        async move { a.remove_tagged("c").await }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    removal.abort();
    assert!(removal.await.unwrap_err().is_cancelled());
    proxy.pass();
    let left = a.count_keys().await.unwrap();
    assert!(
        0 < left && left < n as u64,
        "cancelled mid-way: {left} of {n} left"
    );
    loop {
        let action = tokio::time::timeout(Duration::from_secs(10), actions.recv())
            .await
            .unwrap()
            .unwrap();
        match action {
            Action::Apply(Scope::Tag(tag)) => {
                assert_eq!(tag, "c");
                break;
            }
            Action::Flush(FlushReason::Subscribed) | Action::Own => {}
            other => panic!("expected the tag, got {other:?}"),
        }
    }
}
