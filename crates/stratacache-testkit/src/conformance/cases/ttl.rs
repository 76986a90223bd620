//! Expiry: entries expiring, the default TTL, TTL validation and `get_with_ttl`.

use std::time::Duration;

use stratacache_core::{Bytes, ErrorKind, Expiry, MAX_TTL, MIN_TTL, Ttl};

use super::{
    ALMOST_MINUTE, Ctx, MINUTE, Must, assert_after, assert_err, assert_gone, assert_short, assert_value,
    sleep,
};

/// Entries with a millisecond TTL disappear from every read path; long-lived ones stay.
pub(crate) async fn ttl_expiry(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    cache
        .set("exp:a", Bytes::from_static(b"a"), Ttl::millis(40))
        .await
        .must("set with Ttl::millis(40)");
    cache
        .set("exp:b", Bytes::from_static(b"b"), Ttl::secs(60))
        .await
        .must("set with Ttl::secs(60)");
    assert_short(
        cache.ttl("exp:a").await.must("ttl"),
        Duration::from_millis(40),
        "ttl right after set(40ms)",
    );
    assert_after(
        cache.ttl("exp:b").await.must("ttl"),
        ALMOST_MINUTE,
        MINUTE,
        "ttl right after set(60s)",
    );

    sleep(200).await;
    assert_gone(&cache, "exp:a", "160ms after its 40ms TTL").await;
    let got = cache.get_with_ttl("exp:a").await.must("get_with_ttl");
    assert!(got.is_none(), "get_with_ttl of an expired entry returned {got:?}");
    assert!(
        !cache.delete("exp:a").await.must("delete"),
        "delete of an expired entry returned true"
    );

    assert_value(
        cache.get("exp:b").await.must("get"),
        b"b",
        "get of a 60s entry after 200ms",
    );
    assert_after(
        cache.ttl("exp:b").await.must("ttl"),
        ALMOST_MINUTE,
        MINUTE,
        "ttl of a 60s entry after 200ms",
    );
    let got = cache.get_many(&["exp:a", "exp:b"]).await.must("get_many");
    assert_eq!(
        got,
        vec![None, Some(Bytes::from_static(b"b"))],
        "get_many over an expired and a live entry"
    );
}

/// `Ttl::Default` uses the cache's default TTL, or never expires when there is none.
pub(crate) async fn default_ttl(ctx: Ctx<'_>) {
    let default = Duration::from_millis(300);
    let cache = ctx.cache_with_default_ttl(default).await;
    cache
        .set("dt:default", Bytes::from_static(b"d"), Ttl::Default)
        .await
        .must("set with Ttl::Default");
    let many = [
        ("dt:many:1", Bytes::from_static(b"m1")),
        ("dt:many:2", Bytes::from_static(b"m2")),
    ];
    cache
        .set_many(&many, Ttl::Default)
        .await
        .must("set_many with Ttl::Default");
    cache
        .set("dt:never", Bytes::from_static(b"n"), Ttl::Never)
        .await
        .must("set with Ttl::Never");
    cache
        .set("dt:explicit", Bytes::from_static(b"e"), Ttl::secs(60))
        .await
        .must("set with Ttl::secs(60)");

    for key in ["dt:default", "dt:many:1"] {
        let ttl = cache.ttl(key).await.must(format_args!("ttl({key:?})"));
        assert_short(
            ttl,
            default,
            format_args!("ttl({key:?}) of a Ttl::Default entry, default TTL {default:?}"),
        );
    }
    let ttl = cache.ttl("dt:never").await.must("ttl");
    assert_eq!(
        ttl,
        Some(Expiry::Never),
        "Ttl::Never in a cache with a default TTL"
    );
    let ttl = cache.ttl("dt:explicit").await.must("ttl");
    assert_after(
        ttl,
        ALMOST_MINUTE,
        MINUTE,
        "Ttl::secs(60) in a cache with a default TTL of 300ms",
    );

    sleep(600).await;
    for key in ["dt:default", "dt:many:1", "dt:many:2"] {
        assert_gone(
            &cache,
            key,
            "300ms after a Ttl::Default write with a 300ms default TTL",
        )
        .await;
    }
    assert_value(
        cache.get("dt:never").await.must("get"),
        b"n",
        "a Ttl::Never entry after 600ms",
    );
    assert_eq!(
        cache.ttl("dt:never").await.must("ttl"),
        Some(Expiry::Never),
        "ttl of a Ttl::Never entry"
    );
    assert_value(
        cache.get("dt:explicit").await.must("get"),
        b"e",
        "a Ttl::secs(60) entry after 600ms",
    );

    let cache = ctx.cache().await;
    cache
        .set("dt:default", Bytes::from_static(b"d"), Ttl::Default)
        .await
        .must("set with Ttl::Default");
    cache
        .set_many(&many, Ttl::Default)
        .await
        .must("set_many with Ttl::Default");
    for key in ["dt:default", "dt:many:1"] {
        let ttl = cache.ttl(key).await.must(format_args!("ttl({key:?})"));
        assert_eq!(
            ttl,
            Some(Expiry::Never),
            "ttl({key:?}) of a Ttl::Default entry in a cache without default TTL"
        );
    }
}

/// Out-of-range TTLs are `InvalidInput` and write nothing, not even part of a batch.
pub(crate) async fn ttl_validation(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    cache
        .set("tv:existing", Bytes::from_static(b"v1"), Ttl::Never)
        .await
        .must("set");
    let bad = [
        (Ttl::After(Duration::ZERO), "Ttl::After(0)"),
        (Ttl::After(Duration::from_micros(500)), "Ttl::After(500µs)"),
        (
            Ttl::After(MAX_TTL + Duration::from_secs(1)),
            "Ttl::After(MAX_TTL + 1s)",
        ),
    ];
    for (ttl, label) in bad {
        assert_err(
            cache.set("tv:new", Bytes::from_static(b"v"), ttl).await,
            ErrorKind::InvalidInput,
            format_args!("set with {label}"),
        );
        assert_gone(&cache, "tv:new", &format!("after a set with {label} was refused")).await;

        let result = cache.set("tv:existing", Bytes::from_static(b"v2"), ttl).await;
        assert_err(
            result,
            ErrorKind::InvalidInput,
            format_args!("overwriting set with {label}"),
        );
        let got = cache.get("tv:existing").await.must("get");
        assert_value(
            got,
            b"v1",
            format_args!("existing value after a refused overwrite with {label}"),
        );
        let ttl_now = cache.ttl("tv:existing").await.must("ttl");
        assert_eq!(
            ttl_now,
            Some(Expiry::Never),
            "TTL of an existing entry after a refused overwrite with {label}"
        );

        let batch = [
            ("tv:many:1", Bytes::from_static(b"m1")),
            ("tv:many:2", Bytes::from_static(b"m2")),
            ("tv:existing", Bytes::from_static(b"v3")),
        ];
        assert_err(
            cache.set_many(&batch, ttl).await,
            ErrorKind::InvalidInput,
            format_args!("set_many with {label}"),
        );
        for key in ["tv:many:1", "tv:many:2"] {
            assert_gone(&cache, key, &format!("after a set_many with {label} was refused")).await;
        }
        let got = cache.get("tv:existing").await.must("get");
        assert_value(
            got,
            b"v1",
            format_args!("existing value after a refused set_many with {label}"),
        );
        assert_err(
            cache.set_many(&[], ttl).await,
            ErrorKind::InvalidInput,
            format_args!("empty set_many with {label}"),
        );
    }

    // The bounds themselves are accepted.
    cache
        .set("tv:min", Bytes::from_static(b"v"), Ttl::After(MIN_TTL))
        .await
        .must("set with Ttl::After(MIN_TTL)");
    cache
        .set("tv:max", Bytes::from_static(b"v"), Ttl::After(MAX_TTL))
        .await
        .must("set with Ttl::After(MAX_TTL)");
    let ttl = cache.ttl("tv:max").await.must("ttl");
    assert_after(
        ttl,
        MAX_TTL - MINUTE,
        MAX_TTL,
        "ttl of an entry written with Ttl::After(MAX_TTL)",
    );
}

/// `get_with_ttl` returns the value with its remaining lifetime and counts as one read.
pub(crate) async fn get_with_ttl(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    cache
        .set("gwt:ttl", Bytes::from_static(b"t"), Ttl::secs(60))
        .await
        .must("set");
    cache
        .set("gwt:never", Bytes::from_static(b"n"), Ttl::Never)
        .await
        .must("set");
    let before = cache.stats().await;

    match cache.get_with_ttl("gwt:ttl").await.must("get_with_ttl") {
        Some((value, expiry)) => {
            assert_value(Some(value), b"t", "get_with_ttl of a 60s entry");
            assert_after(
                Some(expiry),
                ALMOST_MINUTE,
                MINUTE,
                "remaining TTL from get_with_ttl",
            );
        }
        None => panic!("get_with_ttl of a live 60s entry returned None"),
    }
    let got = cache.get_with_ttl("gwt:never").await.must("get_with_ttl");
    assert_eq!(
        got,
        Some((Bytes::from_static(b"n"), Expiry::Never)),
        "get_with_ttl of a Ttl::Never entry"
    );
    let got = cache.get_with_ttl("gwt:missing").await.must("get_with_ttl");
    assert!(got.is_none(), "get_with_ttl of a missing key returned {got:?}");

    let after = cache.stats().await;
    assert_eq!(
        (after.hits - before.hits, after.misses - before.misses),
        (2, 1),
        "2 get_with_ttl hits and 1 miss must count as (hits, misses) = (2, 1)"
    );
}
