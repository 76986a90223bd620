//! The layer order: every stack the factory builds lists its layers in `LAYER_ORDER`, and
//! `LAYER_ORDER` is the order of the diagram in docs/architecture.md ("Layers").

#![allow(clippy::unwrap_used)]

use stratacache_factory::{CacheConfig, CacheFactory, LAYER_ORDER, Preset, Secret};
use stratacache_testkit::redis::{RedisMode, unique_namespace};
use stratacache_testkit::redis_server_or_skip;

/// Asserts that `layers` appear in `LAYER_ORDER`, in its order, and returns them.
fn assert_ordered<'a>(what: &str, layers: &'a [&'static str]) -> &'a [&'static str] {
    let ranks: Vec<usize> = layers
        .iter()
        .map(|l| {
            LAYER_ORDER
                .iter()
                .position(|o| o == l)
                .unwrap_or_else(|| panic!("{what}: {l} is not in LAYER_ORDER"))
        })
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] < w[1]),
        "{what}: {layers:?} is out of order"
    );
    layers
}

fn with_key(mut config: CacheConfig) -> CacheConfig {
    config.encryption.key = Some(Secret::new(stratacache_crypto::generate_key()));
    config
}

#[tokio::test]
async fn every_memory_stack_follows_the_layer_order() {
    for preset in Preset::ALL {
        for keyed in [false, true] {
            let mut config = CacheConfig::preset(preset);
            if keyed {
                config = with_key(config);
            }
            let built = CacheFactory::from_config(config.clone()).await.unwrap();
            let layers = assert_ordered(&format!("{preset} keyed={keyed}"), &built.layers);
            assert_eq!(layers.contains(&"encryption"), keyed, "{preset}");
            assert_eq!(
                layers.contains(&"monitoring"),
                config.enable_monitoring,
                "{preset}"
            );
            assert_eq!(layers.last(), Some(&"memory"));
        }
    }
}

#[tokio::test]
async fn every_redis_stack_follows_the_layer_order() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    for l1 in [false, true] {
        for keyed in [false, true] {
            for monitoring in [false, true] {
                let mut config = CacheConfig::testing();
                config.redis_url = Some(server.url().into());
                config.namespace = unique_namespace("order");
                config.enable_l1_cache = l1;
                config.enable_monitoring = monitoring;
                if keyed {
                    config = with_key(config);
                }
                let built = CacheFactory::from_config(config).await.unwrap();
                let what = format!("l1={l1} keyed={keyed} monitoring={monitoring}");
                let layers = assert_ordered(&what, &built.layers);
                let tail: &[&str] = if l1 {
                    &["failover", "tiered", "memory", "redis"]
                } else {
                    &["failover", "redis"]
                };
                assert!(layers.ends_with(tail), "{what}: {layers:?}");
                built.close().await.unwrap();
            }
        }
    }
}

/// The diagram of docs/architecture.md names the layers, one per line, outermost first: the
/// first word of each line of the `text` block after "The order is fixed".
#[test]
fn the_architecture_page_shows_the_same_order() {
    let page = include_str!("../../../docs/architecture.md");
    let start = page.find("The order is fixed").expect("the Layers section");
    let block = page[start..].split("```text\n").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    let documented: Vec<&str> = block
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(
        documented, LAYER_ORDER,
        "docs/architecture.md and LAYER_ORDER differ"
    );
}
