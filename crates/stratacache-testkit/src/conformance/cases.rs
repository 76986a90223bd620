//! The cases of the conformance suite, one function each, registered in the parent module.
//!
//! A case fails by panicking with a message that says what broke; the runner catches it.
//! Timing-based checks only ever assert that a short-lived entry is *gone* after generous sleeps
//! and that long-lived entries are *present*, so a loaded machine cannot make them flaky.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache_core::{
    Bytes, Codec, ErrorKind, Expiry, HealthStatus, Json, MAX_TTL, MIN_TTL, Postcard, Result, SharedCache,
    Ttl, Typed, TypedCacheExt,
};

use super::{Ctx, GLOB_CASES, GLOB_KEYS, panic_message};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Unwraps the result of a cache operation that must succeed, naming the operation otherwise.
trait Must<T> {
    fn must(self, op: impl fmt::Display) -> T;
}

impl<T> Must<T> for Result<T> {
    #[track_caller]
    fn must(self, op: impl fmt::Display) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{op} returned an error: {e} (at {})", Location::caller()),
        }
    }
}

/// Asserts that `result` is an error of `kind`.
#[track_caller]
fn assert_err<T: fmt::Debug>(result: Result<T>, kind: ErrorKind, op: impl fmt::Display) {
    match result {
        Ok(v) => panic!("{op} succeeded with {v:?}; expected a {kind} error"),
        Err(e) => assert_eq!(e.kind(), kind, "{op} failed with the wrong kind of error: {e}"),
    }
}

/// A short description of a value for failure messages.
fn describe(value: &[u8]) -> String {
    if value.len() <= 48 {
        format!("{:?} ({} bytes)", Bytes::copy_from_slice(value), value.len())
    } else {
        format!(
            "<{} bytes starting {:?}>",
            value.len(),
            Bytes::copy_from_slice(&value[..16])
        )
    }
}

/// Asserts that a read returned exactly `expected`.
#[track_caller]
fn assert_value(actual: Option<Bytes>, expected: &[u8], op: impl fmt::Display) {
    let Some(actual) = actual else {
        panic!("{op}: expected {}, got None", describe(expected));
    };
    if actual != expected {
        let first_diff = actual
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(actual.len().min(expected.len()));
        panic!(
            "{op}: wrong value: got {}, expected {} (first difference at byte {first_diff})",
            describe(&actual),
            describe(expected)
        );
    }
}

/// Asserts that a remaining lifetime is `After(d)` with `lo < d <= hi`.
#[track_caller]
fn assert_after(expiry: Option<Expiry>, lo: Duration, hi: Duration, op: impl fmt::Display) {
    match expiry {
        Some(Expiry::After(d)) if d > lo && d <= hi => {}
        other => panic!("{op}: expected Some(After(d)) with {lo:?} < d <= {hi:?}, got {other:?}"),
    }
}

/// Asserts that the remaining lifetime of a short-lived entry read right after writing it is at
/// most `max` (or that it is already gone, which a loaded machine can cause).
#[track_caller]
fn assert_short(expiry: Option<Expiry>, max: Duration, op: impl fmt::Display) {
    match expiry {
        None => {}
        Some(Expiry::After(d)) if d <= max => {}
        other => panic!("{op}: expected None or Some(After(d)) with d <= {max:?}, got {other:?}"),
    }
}

/// Asserts that `key` is absent by every read path (`get`, `exists`, `ttl`).
async fn assert_gone(cache: &SharedCache, key: &str, why: &str) {
    let value = cache.get(key).await.must(format_args!("get({key:?})"));
    assert!(
        value.is_none(),
        "get({key:?}) {why}: expected None, got {}",
        describe(&value.unwrap_or_default())
    );
    assert!(
        !cache.exists(key).await.must(format_args!("exists({key:?})")),
        "exists({key:?}) {why}: expected false"
    );
    let ttl = cache.ttl(key).await.must(format_args!("ttl({key:?})"));
    assert!(ttl.is_none(), "ttl({key:?}) {why}: expected None, got {ttl:?}");
}

/// Deterministic pseudo-random bytes (SplitMix64), so large values are not compressible patterns.
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// FNV-1a, 64 bits: the checksum of the concurrency case's shared values.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn sleep(ms: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(ms))
}

const MINUTE: Duration = Duration::from_secs(60);
/// Lower bound for the remaining lifetime of a 60 s entry read within a few seconds of writing it.
const ALMOST_MINUTE: Duration = Duration::from_secs(50);

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// `get` returns exactly what was `set`: empty, every byte value, UTF-8, 1.5 MiB, odd keys.
pub(super) async fn round_trips(ctx: Ctx<'_>) {
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
pub(super) async fn missing_keys(ctx: Ctx<'_>) {
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
pub(super) async fn overwrite(ctx: Ctx<'_>) {
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
pub(super) async fn delete(ctx: Ctx<'_>) {
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
pub(super) async fn exists(ctx: Ctx<'_>) {
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

/// Entries with a millisecond TTL disappear from every read path; long-lived ones stay.
pub(super) async fn ttl_expiry(ctx: Ctx<'_>) {
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
pub(super) async fn default_ttl(ctx: Ctx<'_>) {
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
pub(super) async fn ttl_validation(ctx: Ctx<'_>) {
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
pub(super) async fn get_with_ttl(ctx: Ctx<'_>) {
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

/// Batch reads answer per key, in order; batch writes apply the TTL to every entry.
pub(super) async fn get_many_set_many(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let stored: BTreeMap<String, Vec<u8>> = (0..50u64)
        .map(|i| (format!("gm:{i}"), pseudo_random(i, (i as usize * 37) % 300)))
        .collect();
    let entries: Vec<(&str, Bytes)> = stored
        .iter()
        .map(|(k, v)| (k.as_str(), Bytes::from(v.clone())))
        .collect();
    cache
        .set_many(&entries, Ttl::secs(60))
        .await
        .must("set_many of 50 entries");
    for key in ["gm:0", "gm:17", "gm:49"] {
        let ttl = cache.ttl(key).await.must(format_args!("ttl({key:?})"));
        assert_after(
            ttl,
            ALMOST_MINUTE,
            MINUTE,
            format_args!("ttl({key:?}) after set_many with Ttl::secs(60)"),
        );
    }

    let mut keys: Vec<String> = Vec::new();
    for i in 0..50 {
        keys.push(format!("gm:{i}"));
        if i % 5 == 0 {
            keys.push(format!("gm:missing:{i}"));
        }
    }
    keys.extend(["gm:7", "gm:missing:x", "gm:7", "gm:missing:x"].map(String::from));
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got = cache.get_many(&key_refs).await.must("get_many");
    assert_eq!(
        got.len(),
        keys.len(),
        "get_many must return one slot per key (duplicates included)"
    );
    for (slot, (key, value)) in keys.iter().zip(got).enumerate() {
        match stored.get(key) {
            Some(expected) => assert_value(value, expected, format_args!("get_many slot {slot} ({key:?})")),
            None => assert!(
                value.is_none(),
                "get_many slot {slot} ({key:?}, never written) returned a value"
            ),
        }
    }

    let empty = cache.get_many(&[]).await.must("get_many(&[])");
    assert!(empty.is_empty(), "get_many(&[]) returned {} slots", empty.len());
    cache
        .set_many(&[], Ttl::Never)
        .await
        .must("set_many(&[], Ttl::Never)");
    cache
        .set_many(&[], Ttl::Default)
        .await
        .must("set_many(&[], Ttl::Default)");

    let update = [
        ("gm:0", Bytes::from_static(b"new")),
        ("gm:new", Bytes::from_static(b"n")),
    ];
    cache
        .set_many(&update, Ttl::Never)
        .await
        .must("set_many overwriting an entry");
    let got = cache.get_many(&["gm:new", "gm:0", "gm:1"]).await.must("get_many");
    assert_value(got[0].clone(), b"n", "get_many of an entry added by set_many");
    assert_value(
        got[1].clone(),
        b"new",
        "get_many of an entry overwritten by set_many",
    );
    assert_value(
        got[2].clone(),
        &stored["gm:1"],
        "get_many of an entry set_many left alone",
    );
    assert_eq!(
        cache.ttl("gm:0").await.must("ttl"),
        Some(Expiry::Never),
        "set_many must replace the TTL too"
    );
}

/// `invalidate_pattern` removes exactly the keys the glob table says, and counts only live ones.
pub(super) async fn pattern_invalidation(ctx: Ctx<'_>) {
    let entries: Vec<(&str, Bytes)> = GLOB_KEYS
        .iter()
        .map(|k| (*k, Bytes::from(format!("value of {k}"))))
        .collect();
    let mut failures = Vec::new();
    for case in GLOB_CASES {
        let cache = ctx.cache().await;
        cache
            .set_many(&entries, Ttl::Never)
            .await
            .must("set_many of GLOB_KEYS");
        let pattern = case.pattern;
        let removed = cache
            .invalidate_pattern(pattern)
            .await
            .must(format_args!("invalidate_pattern({pattern:?})"));
        let mut problems = Vec::new();
        if removed != case.expected.len() as u64 {
            problems.push(format!("returned {removed}, expected {}", case.expected.len()));
        }
        let (mut kept, mut lost) = (Vec::new(), Vec::new());
        for key in GLOB_KEYS {
            let present = cache.exists(key).await.must(format_args!("exists({key:?})"));
            match (case.expected.contains(key), present) {
                (true, true) => kept.push(*key),
                (false, false) => lost.push(*key),
                _ => {}
            }
        }
        if !kept.is_empty() {
            problems.push(format!("matching keys still present: {kept:?}"));
        }
        if !lost.is_empty() {
            problems.push(format!("non-matching keys removed: {lost:?}"));
        }
        let again = cache
            .invalidate_pattern(pattern)
            .await
            .must(format_args!("invalidate_pattern({pattern:?})"));
        if again != 0 {
            problems.push(format!("a second invalidation returned {again}, expected 0"));
        }
        if !problems.is_empty() {
            failures.push(format!("pattern {pattern:?}: {}", problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} glob cases misbehaved (expectations: Redis MATCH semantics):\n  {}",
        failures.len(),
        GLOB_CASES.len(),
        failures.join("\n  ")
    );

    let cache = ctx.cache().await;
    let short = [
        ("pexp:1", Bytes::from_static(b"1")),
        ("pexp:2", Bytes::from_static(b"2")),
    ];
    cache
        .set_many(&short, Ttl::millis(20))
        .await
        .must("set_many with Ttl::millis(20)");
    cache
        .set("pexp:live", Bytes::from_static(b"l"), Ttl::secs(60))
        .await
        .must("set");
    cache
        .set("pexp:never", Bytes::from_static(b"n"), Ttl::Never)
        .await
        .must("set");
    sleep(150).await;
    assert_eq!(
        cache
            .invalidate_pattern("pexp:1")
            .await
            .must("invalidate_pattern"),
        0,
        "literal pattern on an expired entry"
    );
    let removed = cache
        .invalidate_pattern("pexp:*")
        .await
        .must("invalidate_pattern(\"pexp:*\")");
    assert_eq!(
        removed, 2,
        "invalidate_pattern must count live entries only (2 live, 2 expired)"
    );
    assert_gone(&cache, "pexp:live", "after invalidate_pattern(\"pexp:*\")").await;
}

/// `clear` removes everything and leaves a usable cache.
pub(super) async fn clear(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let keys: Vec<String> = (0..30).map(|i| format!("clr:{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        let ttl = [Ttl::Never, Ttl::secs(60), Ttl::Default][i % 3];
        cache
            .set(key, Bytes::from(pseudo_random(i as u64, 64)), ttl)
            .await
            .must(format_args!("set({key:?})"));
    }
    cache.clear().await.must("clear");
    for key in &keys {
        assert_gone(&cache, key, "after clear").await;
    }
    if let Some(entries) = cache.stats().await.entries {
        assert_eq!(entries, 0, "stats().entries after clear");
    }
    assert_eq!(
        cache
            .invalidate_pattern("*")
            .await
            .must("invalidate_pattern(\"*\")"),
        0,
        "entries left after clear"
    );
    cache
        .set("clr:after", Bytes::from_static(b"a"), Ttl::Never)
        .await
        .must("set after clear");
    assert_value(
        cache.get("clr:after").await.must("get"),
        b"a",
        "get of an entry written after clear",
    );
    assert!(
        cache.exists("clr:after").await.must("exists"),
        "exists of an entry written after clear"
    );
}

/// Hits, misses and writes are exact; only reads count; sizes are reported when known.
pub(super) async fn stats_accuracy(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let s = cache.stats().await;
    assert_eq!(
        (s.hits, s.misses, s.writes),
        (0, 0, 0),
        "a fresh cache's (hits, misses, writes)"
    );
    assert_eq!(s.hit_ratio(), None, "hit_ratio before any read");
    if let Some(entries) = s.entries {
        assert_eq!(entries, 0, "stats().entries of a fresh cache");
    }

    for key in ["st:a", "st:b", "st:c"] {
        cache
            .set(key, Bytes::from_static(b"value"), Ttl::Never)
            .await
            .must("set");
    }
    assert!(
        cache.get("st:a").await.must("get").is_some(),
        "get(\"st:a\") after set"
    );
    assert!(
        cache.get("st:m1").await.must("get").is_none(),
        "get of a missing key"
    );
    assert!(
        cache.get("st:m2").await.must("get").is_none(),
        "get of a missing key"
    );
    let got = cache.get_many(&["st:b", "st:m3", "st:m4"]).await.must("get_many");
    assert!(
        got[0].is_some() && got[1].is_none() && got[2].is_none(),
        "get_many returned {got:?}"
    );
    let batch = [
        ("st:d", Bytes::from_static(b"value")),
        ("st:e", Bytes::from_static(b"value")),
    ];
    cache.set_many(&batch, Ttl::secs(60)).await.must("set_many");
    // None of these is a read.
    cache.exists("st:a").await.must("exists");
    cache.exists("st:m5").await.must("exists");
    cache.ttl("st:a").await.must("ttl");
    cache.ttl("st:m6").await.must("ttl");
    assert!(cache.delete("st:e").await.must("delete"), "delete(\"st:e\")");
    cache.delete("st:m7").await.must("delete");

    let s = cache.stats().await;
    let script = "3 sets, get hit, 2 get misses, get_many of 1 hit + 2 misses, set_many of 2, \
                  exists/ttl/delete calls";
    assert_eq!(s.hits, 2, "hits after {script}");
    assert_eq!(s.misses, 4, "misses after {script}");
    assert_eq!(s.writes, 5, "writes after {script} (each set_many entry counts)");
    assert_eq!(s.hit_ratio(), Some(2.0 / 6.0), "hit_ratio after {script}");
    assert_eq!(
        s.removals, 1,
        "removals after one successful delete and one of a missing key"
    );
    if let Some(entries) = s.entries {
        assert_eq!(entries, 4, "stats().entries after {script} (4 live entries)");
    }
    if let Some(bytes) = s.bytes {
        assert!(bytes > 0, "stats().bytes is 0 with 4 live entries");
    }
    let again = cache.stats().await;
    assert_eq!(
        (again.hits, again.misses),
        (s.hits, s.misses),
        "stats() itself must not count reads"
    );
}

/// Expired entries are not live entries: `stats().entries` excludes them at once, expiry is not a
/// read, and reading an expired entry is a miss.
pub(super) async fn stats_after_expiry(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let short: Vec<(String, Bytes)> = (0..3)
        .map(|i| (format!("se:short:{i}"), Bytes::from(pseudo_random(i, 100))))
        .collect();
    let short: Vec<(&str, Bytes)> = short.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    cache
        .set_many(&short, Ttl::millis(30))
        .await
        .must("set_many with Ttl::millis(30)");
    cache
        .set("se:long:1", Bytes::from_static(b"l1"), Ttl::Never)
        .await
        .must("set");
    cache
        .set("se:long:2", Bytes::from_static(b"l2"), Ttl::secs(60))
        .await
        .must("set");
    sleep(150).await;

    let s = cache.stats().await;
    assert_eq!((s.hits, s.misses), (0, 0), "expiry must not count as a read");
    if let Some(entries) = s.entries {
        assert_eq!(
            entries, 2,
            "stats().entries 120ms after 3 of 5 entries expired (it must count live entries only): {s:?}"
        );
    }
    assert!(
        cache.get("se:short:0").await.must("get").is_none(),
        "get of an expired entry"
    );
    let s = cache.stats().await;
    assert_eq!(
        (s.hits, s.misses),
        (0, 1),
        "(hits, misses) after reading one expired entry"
    );
}

const TASKS: usize = 200;
const KEYS_PER_TASK: usize = 20;
const SHARED_KEYS: usize = 5;

fn private_value(task: usize, i: usize) -> Vec<u8> {
    let len = if i % 7 == 3 {
        4096 + (task * 13 + i * 31) % 4096
    } else {
        (task * 31 + i * 97) % 600
    };
    pseudo_random(((task as u64) << 32) | i as u64, len)
}

/// A shared-key value: `task=N;key=J;` + pseudo-random payload + FNV-1a of the rest (8 bytes LE).
fn shared_value(task: usize, key: usize) -> Vec<u8> {
    let mut v = format!("task={task};key={key};").into_bytes();
    v.extend(pseudo_random(
        0xABCD_0000 + (task * SHARED_KEYS + key) as u64,
        100 + (task * 37) % 3000,
    ));
    let sum = fnv1a(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// Checks a shared-key value: complete, uncorrupted and written by some task for this key.
fn check_shared(value: &[u8], key: usize) -> std::result::Result<usize, String> {
    let Some(split) = value.len().checked_sub(8) else {
        return Err(format!(
            "shared key {key} holds a {}-byte value, too short to be one written",
            value.len()
        ));
    };
    let (body, sum) = value.split_at(split);
    if fnv1a(body).to_le_bytes() != sum {
        return Err(format!(
            "shared key {key} holds a corrupted value (checksum mismatch, {} bytes)",
            value.len()
        ));
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(32)]);
    let task = text
        .strip_prefix("task=")
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&t| t < TASKS)
        .ok_or_else(|| format!("shared key {key} holds a value with a bad header: {text:?}"))?;
    if value != shared_value(task, key) {
        return Err(format!(
            "shared key {key} holds a value claiming task {task} that differs from what it wrote"
        ));
    }
    Ok(task)
}

/// 200 tasks write, read back and overwrite concurrently; nothing is lost, torn or mixed up.
pub(super) async fn concurrency(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let mut handles = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let cache = Arc::clone(&cache);
        handles.push(tokio::spawn(async move {
            for i in 0..KEYS_PER_TASK {
                let key = format!("t{task}:k{i}");
                let value = Bytes::from(private_value(task, i));
                cache
                    .set(&key, value, Ttl::Never)
                    .await
                    .map_err(|e| format!("set({key:?}): {e}"))?;
                if i % 4 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            for j in 0..SHARED_KEYS {
                let key = format!("shared:{j}");
                let value = Bytes::from(shared_value(task, j));
                cache
                    .set(&key, value, Ttl::Never)
                    .await
                    .map_err(|e| format!("set({key:?}): {e}"))?;
            }
            for i in 0..KEYS_PER_TASK {
                let key = format!("t{task}:k{i}");
                let got = cache.get(&key).await.map_err(|e| format!("get({key:?}): {e}"))?;
                if got.as_deref() != Some(private_value(task, i).as_slice()) {
                    let got = got.map(|v| describe(&v));
                    return Err(format!("get({key:?}) right after writing it returned {got:?}"));
                }
            }
            for j in 0..SHARED_KEYS {
                let key = format!("shared:{j}");
                match cache.get(&key).await.map_err(|e| format!("get({key:?}): {e}"))? {
                    Some(value) => check_shared(&value, j)?,
                    None => return Err(format!("get({key:?}) returned None after this task wrote it")),
                };
            }
            Ok::<(), String>(())
        }));
    }
    let mut errors = Vec::new();
    for (task, handle) in handles.into_iter().enumerate() {
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(format!("task {task}: {e}")),
            Err(e) if e.is_panic() => errors.push(format!(
                "task {task} panicked: {}",
                panic_message(&*e.into_panic())
            )),
            Err(e) => errors.push(format!("task {task}: {e}")),
        }
    }
    assert!(
        errors.is_empty(),
        "{} of {TASKS} concurrent tasks failed; first ones:\n  {}",
        errors.len(),
        errors.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
    );

    let mut lost = Vec::new();
    for task in 0..TASKS {
        let keys: Vec<String> = (0..KEYS_PER_TASK).map(|i| format!("t{task}:k{i}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let got = cache.get_many(&refs).await.must("get_many");
        for (i, value) in got.into_iter().enumerate() {
            if value.as_deref() != Some(private_value(task, i).as_slice()) {
                lost.push(format!("{}: {:?}", keys[i], value.map(|v| describe(&v))));
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} private keys do not read back what was written after all tasks finished; first ones:\n  {}",
        lost.len(),
        TASKS * KEYS_PER_TASK,
        lost.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
    );
    for j in 0..SHARED_KEYS {
        let key = format!("shared:{j}");
        let Some(value) = cache.get(&key).await.must("get") else {
            panic!("shared key {key:?} is missing after every task wrote it");
        };
        if let Err(e) = check_shared(&value, j) {
            panic!("{e}");
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    tags: Vec<String>,
    admin: bool,
    scores: BTreeMap<String, i64>,
    manager: Option<Box<Profile>>,
}

/// A type postcard cannot decode from JSON text (`{` is not a valid bool).
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Flag {
    on: bool,
}

/// A type of another shape than [`Profile`] for JSON.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Counter {
    count: u32,
}

fn sample_profile() -> Profile {
    let boss = Profile {
        id: 1,
        name: "Grace".into(),
        tags: vec![],
        admin: true,
        scores: BTreeMap::new(),
        manager: None,
    };
    Profile {
        // 42 is `*` as the first postcard byte: not valid JSON.
        id: 42,
        name: "Ada \"Countess\" Lovelace — 🦀".into(),
        tags: vec!["math".into(), "engines".into(), String::new()],
        admin: false,
        scores: BTreeMap::from([("a".into(), -7), ("b".into(), i64::MAX)]),
        manager: Some(Box::new(boss)),
    }
}

/// Typed access through the cache round-trips serde values; bad bytes are `Serialization` errors.
pub(super) async fn typed_access(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let profile = sample_profile();
    cache
        .set_json("typed:json", &profile, Ttl::Never)
        .await
        .must("set_json");
    cache
        .set_postcard("typed:postcard", &profile, Ttl::Never)
        .await
        .must("set_postcard");
    let got: Option<Profile> = cache.get_json("typed:json").await.must("get_json");
    assert_eq!(got.as_ref(), Some(&profile), "get_json after set_json");
    let got: Option<Profile> = cache.get_postcard("typed:postcard").await.must("get_postcard");
    assert_eq!(got.as_ref(), Some(&profile), "get_postcard after set_postcard");
    let missing: Option<Profile> = cache
        .get_json("typed:missing")
        .await
        .must("get_json of a missing key");
    assert!(
        missing.is_none(),
        "get_json of a missing key returned {missing:?}"
    );

    let got = cache
        .get_many(&["typed:json", "typed:postcard"])
        .await
        .must("get_many");
    let (Some(json), Some(post)) = (&got[0], &got[1]) else {
        panic!("get_many of two typed entries returned {got:?}");
    };
    assert_eq!(
        Json::decode::<Profile>(json).must("decoding get_many's JSON bytes"),
        profile,
        "JSON via get_many"
    );
    assert_eq!(
        Postcard::decode::<Profile>(post).must("decoding get_many's postcard bytes"),
        profile,
        "postcard via get_many"
    );

    let typed: Typed<SharedCache, Profile, Postcard> = Typed::new(Arc::clone(&cache));
    typed
        .set("typed:view", &profile, Ttl::Never)
        .await
        .must("Typed::set");
    assert_eq!(
        typed.get("typed:view").await.must("Typed::get"),
        Some(profile.clone()),
        "Typed view round trip"
    );

    cache
        .set(
            "typed:garbage",
            Bytes::from_static(&[0xff, 0xff, 0xff]),
            Ttl::Never,
        )
        .await
        .must("set");
    assert_err(
        cache.get_postcard::<Flag>("typed:json").await,
        ErrorKind::Serialization,
        "JSON bytes read as postcard",
    );
    assert_err(
        cache.get_json::<Counter>("typed:json").await,
        ErrorKind::Serialization,
        "JSON of another shape",
    );
    assert_err(
        cache.get_json::<Profile>("typed:postcard").await,
        ErrorKind::Serialization,
        "postcard bytes read as JSON",
    );
    assert_err(
        cache.get_json::<Profile>("typed:garbage").await,
        ErrorKind::Serialization,
        "garbage read as JSON",
    );
    assert_err(
        cache.get_postcard::<Profile>("typed:garbage").await,
        ErrorKind::Serialization,
        "garbage read as postcard",
    );
    let got: Option<Profile> = cache
        .get_json("typed:json")
        .await
        .must("get_json after decoding errors");
    assert_eq!(
        got,
        Some(profile),
        "a decoding error must not disturb the stored value"
    );
}

/// A working cache reports itself healthy.
pub(super) async fn health(ctx: Ctx<'_>) {
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
