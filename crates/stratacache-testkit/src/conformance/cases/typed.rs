//! Typed access through the cache: serde values in JSON and postcard, and decoding errors.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use stratacache_core::{Bytes, Codec, ErrorKind, Json, Postcard, SharedCache, Ttl, Typed, TypedCacheExt};

use super::{Ctx, Must, assert_err};

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
pub(crate) async fn typed_access(ctx: Ctx<'_>) {
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
