//! The basic entry operations: round trips, missing keys, overwrite, delete, exists, and health.

use std::time::Duration;

use stratacache_core::{Bytes, Expiry, HealthStatus, Ttl};

use super::{
    ALMOST_MINUTE, Ctx, MINUTE, Must, assert_after, assert_gone, assert_value, pseudo_random, sleep,
};

/// `get` returns exactly what was `set`: empty, every byte value, UTF-8, 1.5 MiB, odd keys.
pub(crate) async fn round_trips(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let values: Vec<(&str, Vec<u8>)> = vec![
        ("rt:empty", Vec::new()),
        ("rt:all-bytes", (0..=255u8).collect()),
        ("rt:utf8", "héllo wörld, 日本語, 🦀".as_bytes().to_vec()),
        ("rt:large", pseudo_random(0x5EED, 1536 * 1024)),
        (
            "rt:key with spaces, ünïcode 🔑 and \"quotes\"",
            b"odd key".to_vec(),
        ),
    ];
    for (key, value) in &values {
        cache
            .set(key, Bytes::from(value.clone()), Ttl::Never)
            .await
            .must(format_args!("set({key:?})"));
    }
    for (key, value) in &values {
        let got = cache.get(key).await.must(format_args!("get({key:?})"));
        assert_value(got, value, format_args!("get({key:?}) after set"));
    }
    assert!(
        cache.exists("rt:empty").await.must("exists(\"rt:empty\")"),
        "an empty value must be stored as a value: exists returned false"
    );
}

/// An absent key reads as `Ok(None)` everywhere and deleting it is not an error.
pub(crate) async fn missing_keys(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    cache
        .set("missing:other", Bytes::from_static(b"x"), Ttl::Never)
        .await
        .must("set(\"missing:other\")");
    let key = "missing:never-written";
    assert_gone(&cache, key, "of a key never written").await;
    assert!(
        !cache.delete(key).await.must("delete of a missing key"),
        "delete of a missing key returned true"
    );
    let got = cache
        .get_with_ttl(key)
        .await
        .must("get_with_ttl of a missing key");
    assert!(got.is_none(), "get_with_ttl of a missing key returned {got:?}");
    let got = cache.get_many(&[key]).await.must("get_many of a missing key");
    assert_eq!(got, vec![None], "get_many of a missing key");
}

/// A second `set` replaces the value and the TTL.
pub(crate) async fn overwrite(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let k = "ow:key";
    let long = pseudo_random(3, 5000);
    cache
        .set(k, Bytes::from(long), Ttl::Never)
        .await
        .must("set (long value)");
    cache
        .set(k, Bytes::from_static(b"short"), Ttl::Never)
        .await
        .must("set (short value)");
    assert_value(
        cache.get(k).await.must("get"),
        b"short",
        "get after overwriting a long value with a short one",
    );
    assert_eq!(
        cache.ttl(k).await.must("ttl"),
        Some(Expiry::Never),
        "ttl after set with Ttl::Never"
    );

    cache
        .set(k, Bytes::from_static(b"v3"), Ttl::secs(60))
        .await
        .must("set with Ttl::secs(60)");
    assert_value(
        cache.get(k).await.must("get"),
        b"v3",
        "get after overwriting with a TTL",
    );
    assert_after(
        cache.ttl(k).await.must("ttl"),
        Duration::from_secs(59),
        MINUTE,
        "ttl after overwriting a Never entry with Ttl::secs(60)",
    );

    cache
        .set(k, Bytes::from_static(b"v4"), Ttl::secs(3600))
        .await
        .must("set with Ttl::secs(3600)");
    cache
        .set(k, Bytes::from_static(b"v5"), Ttl::secs(60))
        .await
        .must("set with Ttl::secs(60)");
    assert_after(
        cache.ttl(k).await.must("ttl"),
        ALMOST_MINUTE,
        MINUTE,
        "ttl after shortening 3600s to 60s",
    );

    cache
        .set(k, Bytes::from_static(b"v6"), Ttl::Never)
        .await
        .must("set with Ttl::Never");
    assert_value(
        cache.get(k).await.must("get"),
        b"v6",
        "get after the last overwrite",
    );
    assert_eq!(
        cache.ttl(k).await.must("ttl"),
        Some(Expiry::Never),
        "ttl after overwriting a 60s entry with Ttl::Never (the old TTL must not survive)"
    );
}

/// `delete` reports removal once, is idempotent, and removes only its key.
pub(crate) async fn delete(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    cache
        .set("del:other", Bytes::from_static(b"keep"), Ttl::Never)
        .await
        .must("set(\"del:other\")");
    cache
        .set("del:k", Bytes::from_static(b"v"), Ttl::Never)
        .await
        .must("set(\"del:k\")");
    assert!(
        cache.delete("del:k").await.must("first delete"),
        "first delete of an existing key returned false"
    );
    assert!(
        !cache.delete("del:k").await.must("second delete"),
        "second delete of the same key returned true"
    );
    assert_gone(&cache, "del:k", "after delete").await;
    assert!(
        !cache.delete("del:k").await.must("third delete"),
        "third delete returned true"
    );
    assert_value(
        cache.get("del:other").await.must("get"),
        b"keep",
        "another key after delete",
    );
    cache
        .set("del:k", Bytes::from_static(b"again"), Ttl::Never)
        .await
        .must("set after delete");
    assert_value(
        cache.get("del:k").await.must("get"),
        b"again",
        "get of a key written again after delete",
    );
}

/// `exists` follows the entry's life and is not a read.
pub(crate) async fn exists(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    cache
        .set("ex:k", Bytes::from_static(b"v"), Ttl::Never)
        .await
        .must("set");
    cache
        .set("ex:empty", Bytes::new(), Ttl::Never)
        .await
        .must("set (empty value)");
    cache
        .set("ex:short", Bytes::from_static(b"v"), Ttl::millis(30))
        .await
        .must("set with Ttl::millis(30)");
    let before = cache.stats().await;

    assert!(
        cache.exists("ex:k").await.must("exists"),
        "exists after set returned false"
    );
    assert!(
        cache.exists("ex:empty").await.must("exists"),
        "exists of an empty value returned false"
    );
    assert!(
        !cache.exists("ex:missing").await.must("exists"),
        "exists of a missing key returned true"
    );
    cache.delete("ex:k").await.must("delete");
    assert!(
        !cache.exists("ex:k").await.must("exists"),
        "exists after delete returned true"
    );
    sleep(150).await;
    assert!(
        !cache.exists("ex:short").await.must("exists"),
        "exists of an entry 120ms past its 30ms TTL returned true"
    );

    let after = cache.stats().await;
    assert!(
        after.hits == before.hits && after.misses == before.misses,
        "exists must not count as a read: hits went {} -> {}, misses {} -> {}",
        before.hits,
        after.hits,
        before.misses,
        after.misses
    );
}

/// A working cache reports itself healthy.
pub(crate) async fn health(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let report = cache.health().await;
    assert_eq!(
        report.status,
        HealthStatus::Healthy,
        "health() of a fresh cache: {report:?}"
    );
    assert!(
        !report.backend.is_empty(),
        "health().backend is empty: {report:?}"
    );
    for i in 0..10u64 {
        cache
            .set(&format!("h:{i}"), Bytes::from(pseudo_random(i, 32)), Ttl::Never)
            .await
            .must("set");
    }
    let report = cache.health().await;
    assert!(report.is_healthy(), "health() after 10 writes: {report:?}");
}
