//! Operations over many keys: `get_many`/`set_many`, pattern invalidation and `clear`.

use std::collections::BTreeMap;

use stratacache_core::{Bytes, Expiry, Ttl};

use super::{
    ALMOST_MINUTE, Ctx, GLOB_CASES, GLOB_KEYS, MINUTE, Must, assert_after, assert_gone, assert_value,
    pseudo_random, sleep,
};

/// Batch reads answer per key, in order; batch writes apply the TTL to every entry.
pub(crate) async fn get_many_set_many(ctx: Ctx<'_>) {
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

/// `delete_many` removes exactly the listed keys, counts those that existed (missing and
/// repeated keys count once or not at all), and accepts an empty batch.
pub(crate) async fn delete_many(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    for k in ["dm:a", "dm:b", "dm:c", "dm:keep"] {
        cache
            .set(k, Bytes::from_static(b"v"), Ttl::Never)
            .await
            .must("set before delete_many");
    }
    assert_eq!(
        cache.delete_many(&[]).await.must("delete_many of nothing"),
        0,
        "an empty batch removes nothing"
    );
    assert_eq!(
        cache
            .delete_many(&["dm:a", "dm:b", "dm:missing"])
            .await
            .must("delete_many"),
        2,
        "two of the three keys existed"
    );
    for k in ["dm:a", "dm:b"] {
        assert!(!cache.exists(k).await.must("exists"), "{k} survived delete_many");
    }
    assert!(
        cache.exists("dm:keep").await.must("exists"),
        "a key outside the batch was removed"
    );
    assert_eq!(
        cache
            .delete_many(&["dm:c", "dm:c"])
            .await
            .must("delete_many with a repeated key"),
        1,
        "a repeated key is removed (and counted) once"
    );
}

/// `invalidate_pattern` removes exactly the keys the glob table says, and counts only live ones.
pub(crate) async fn pattern_invalidation(ctx: Ctx<'_>) {
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
pub(crate) async fn clear(ctx: Ctx<'_>) {
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
