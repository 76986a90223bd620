#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The scripted test double: each script does what it says, and calls are counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, ErrorKind, Ttl};
use stratacache_testkit::double::{Empty, Gate, Op, Script, ScriptedCache};

#[tokio::test]
async fn scripts_fail_hang_delay_and_count() {
    let cache = ScriptedCache::new(Arc::new(Empty));
    assert_eq!(cache.get("k").await.unwrap(), None);
    cache.script(Op::Get, Script::fail(ErrorKind::Connection, "down"));
    let err = cache.get("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(cache.exists("k").await.is_ok(), "other operations still pass");
    cache.script(Op::Get, Script::Hang);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), cache.get("k"))
            .await
            .is_err()
    );
    let hanging = tokio::spawn({
        let cache = cache.clone();
        async move { cache.get("k").await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    cache.pass_all();
    assert_eq!(hanging.await.unwrap().unwrap(), None);
    cache.script(Op::Set, Script::Delay(Duration::from_millis(100)));
    let started = Instant::now();
    cache
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    cache.fail_all(ErrorKind::Timeout, "hung");
    assert_eq!(
        cache.health().await.status,
        stratacache_core::HealthStatus::Unhealthy
    );
    assert_eq!(cache.calls(Op::Get), 4);
    assert_eq!(cache.calls(Op::Set), 1);
    assert_eq!(cache.calls(Op::Health), 1);
    cache.reset_calls();
    assert_eq!(cache.total_calls(), 0);
}

/// A script scoped to keys applies to matching keys only (any key of a batch; the pattern of an
/// invalidation), and can hang a matching call while others pass.
#[tokio::test]
async fn scripts_scoped_to_keys_touch_only_those_keys() {
    let cache = ScriptedCache::wrap(Empty);
    cache.script_all(
        &Op::READS,
        &Script::for_keys("down*", Script::fail(ErrorKind::Timeout, "simulated timeout")),
    );
    let err = cache.get("down:1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(cache.get("up:1").await.unwrap().is_none());
    assert!(cache.get_many(&["up:1", "down:2"]).await.is_err());
    assert!(cache.get_many(&["up:1", "up:2"]).await.is_ok());
    assert!(cache.exists("downstream").await.is_err());
    // Writes were not scripted.
    cache
        .set("down:1", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    assert_eq!(cache.calls(Op::Get), 2);

    cache.script(
        Op::InvalidatePattern,
        Script::for_keys("down*", Script::fail(ErrorKind::Connection, "no")),
    );
    assert!(cache.invalidate_pattern("down*").await.is_err());
    assert_eq!(cache.invalidate_pattern("up*").await.unwrap(), 0);

    cache.script(Op::Get, Script::for_keys("slow", Script::Hang));
    let hanging = tokio::spawn({
        let cache = cache.clone();
        async move { cache.get("slow").await }
    });
    assert!(cache.get("fast").await.unwrap().is_none());
    tokio::task::yield_now().await;
    assert!(!hanging.is_finished(), "a matching call hangs");
    cache.script(Op::Get, Script::Pass);
    assert!(hanging.await.unwrap().unwrap().is_none());
}

/// `After` scripts apply once the wrapped cache answered: the operation took effect (the inner
/// double counted it) when its answer is held back or replaced by an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_scripts_hold_or_fail_an_answer_the_wrapped_cache_gave() {
    let inner = ScriptedCache::wrap(Empty);
    let cache = ScriptedCache::new(inner.shared());
    let v = || Bytes::from_static(b"v");

    // A write applied whose reply was lost.
    cache.script(
        Op::Set,
        Script::after(Script::fail(ErrorKind::Connection, "reply lost")),
    );
    let err = cache.set("k", v(), Ttl::Default).await.unwrap_err();
    assert_eq!((err.kind(), inner.calls(Op::Set)), (ErrorKind::Connection, 1));
    // The same script before forwarding would not have reached the inner cache.
    cache.script(Op::Set, Script::fail(ErrorKind::Connection, "refused"));
    cache.set("k", v(), Ttl::Default).await.unwrap_err();
    assert_eq!(inner.calls(Op::Set), 1);

    // A read held after it read: counted as held, released by re-scripting.
    cache.script_all(&[Op::Get, Op::GetMany], &Script::after(Script::Hang));
    let readers = [
        tokio::spawn({
            let cache = cache.clone();
            async move { cache.get("k").await.map(|_| ()) }
        }),
        tokio::spawn({
            let cache = cache.clone();
            async move { cache.get_many(&["k"]).await.map(|_| ()) }
        }),
    ];
    cache.wait_held(2).await;
    assert_eq!((inner.calls(Op::Get), inner.calls(Op::GetMany)), (1, 1));
    assert!(readers.iter().all(|reader| !reader.is_finished()));
    cache.script_all(&[Op::Get, Op::GetMany], &Script::Pass);
    for reader in readers {
        reader.await.unwrap().unwrap();
    }
    assert_eq!(cache.held(), 0);

    // `After` scoped to keys; `After` on a health check passes.
    cache.script(
        Op::Delete,
        Script::for_keys("x*", Script::after(Script::fail(ErrorKind::Timeout, "late"))),
    );
    assert!(cache.delete("k").await.is_ok());
    assert_eq!(cache.delete("x1").await.unwrap_err().kind(), ErrorKind::Timeout);
    assert_eq!(inner.calls(Op::Delete), 2);
    cache.script(Op::Health, Script::after(Script::Hang));
    assert!(cache.health().await.is_healthy());
}

/// A call held on a gate stays held when the operation is re-scripted: one write is held while
/// the next one passes, until the gate opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_holds_one_call_while_later_ones_pass() {
    let inner = ScriptedCache::wrap(Empty);
    let cache = ScriptedCache::new(inner.shared());
    let gate = Gate::new();
    cache.script(Op::Set, Script::after(Script::Hold(gate.clone())));
    let first = tokio::spawn({
        let cache = cache.clone();
        async move { cache.set("k", Bytes::from_static(b"1"), Ttl::Default).await }
    });
    cache.wait_held(1).await;
    cache.script(Op::Set, Script::Pass);
    cache
        .set("k", Bytes::from_static(b"2"), Ttl::Default)
        .await
        .unwrap();
    assert_eq!(inner.calls(Op::Set), 2);
    tokio::task::yield_now().await;
    assert!(
        !first.is_finished() && !gate.is_open(),
        "re-scripting released the gate"
    );
    assert_eq!(cache.held(), 1);
    gate.open();
    first.await.unwrap().unwrap();
    assert_eq!(cache.held(), 0);
    // An open gate holds nothing.
    cache.script(Op::Get, Script::Hold(gate));
    assert!(cache.get("k").await.unwrap().is_none());
    assert_eq!(cache.calls_of(&[Op::Get, Op::Set]), 3);
    assert_eq!(
        cache.calls_of(&Op::DATA),
        cache.total_calls() - cache.calls(Op::Health)
    );
}

/// Re-scripting another operation wakes hanging calls without releasing them: they stay
/// counted as held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_calls_stay_counted_while_other_operations_are_rescripted() {
    let cache = ScriptedCache::wrap(Empty);
    cache.script(Op::Get, Script::Hang);
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get("k").await.map(|_| ()) })
        })
        .collect();
    cache.wait_held(2).await;
    for _ in 0..50 {
        cache.script(Op::Set, Script::Pass);
        tokio::task::yield_now().await;
        assert_eq!(cache.held(), 2);
    }
    cache.script(Op::Get, Script::Pass);
    for reader in readers {
        reader.await.unwrap().unwrap();
    }
    assert_eq!(cache.held(), 0);
}
