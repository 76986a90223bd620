//! The embedded default in one file: a memory cache with typed values, namespaced keys, hits,
//! misses, TTL expiry and pattern invalidation, then its statistics.
//!
//! ```text
//! cargo run --example quickstart
//! ```
#![allow(clippy::print_stdout)]

use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache::keys::Namespace;
use stratacache::memory::MemoryCache;
use stratacache::{Cache, Result, Ttl, TypedCacheExt};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Profile {
    name: String,
    plan: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cache = MemoryCache::builder()
        .max_entries(10_000)
        .max_bytes(16 * 1024 * 1024)
        .default_ttl(Duration::from_secs(300))
        .build()?;
    let users = Namespace::new("web", "v1")?;

    // Typed writes: JSON values under namespaced keys, with the default TTL and a short one.
    for (id, name) in [(1, "ada"), (2, "grace"), (3, "linus")] {
        let profile = Profile {
            name: name.into(),
            plan: "pro".into(),
        };
        cache
            .set_json(&users.key(&format!("user:{id}"))?, &profile, Ttl::Default)
            .await?;
    }
    let otp = users.key("otp:ada")?;
    cache.set_json(&otp, &"493021", Ttl::millis(150)).await?;

    // A hit, then a miss.
    let ada: Option<Profile> = cache.get_json(&users.key("user:1")?).await?;
    println!("hit:   web:v1:user:1  -> {ada:?}");
    let nobody: Option<Profile> = cache.get_json(&users.key("user:404")?).await?;
    println!("miss:  web:v1:user:404 -> {nobody:?}");

    // TTL expiry at millisecond resolution.
    println!(
        "ttl:   {otp} expires in {}",
        cache.ttl(&otp).await?.map_or("-".into(), |e| e.to_string())
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let code: Option<String> = cache.get_json(&otp).await?;
    println!("after 200ms: {otp} -> {code:?} (expired)");

    // Pattern invalidation with Redis MATCH semantics, scoped to the namespace.
    let pattern = users.pattern("user:[12]")?;
    let removed = cache.invalidate_pattern(&pattern).await?;
    println!("invalidate {pattern:?}: removed {removed} entries");
    let linus: Option<Profile> = cache.get_json(&users.key("user:3")?).await?;
    println!("still cached: web:v1:user:3 -> {linus:?}");

    let stats = cache.stats().await;
    println!(
        "stats: hits={} misses={} hit_ratio={:.2} writes={} removals={} entries={} bytes={}",
        stats.hits,
        stats.misses,
        stats.hit_ratio().unwrap_or(0.0),
        stats.writes,
        stats.removals,
        stats.entries.unwrap_or(0),
        stats.bytes.unwrap_or(0),
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&stats).expect("stats serialize")
    );
    Ok(())
}
