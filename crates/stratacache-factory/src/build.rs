//! Translating a [`CacheConfig`] into the settings of each layer.

use stratacache_core::Result;
use stratacache_memory::MemoryCache;

#[cfg(feature = "crypto")]
use crate::config::PlaintextPolicy;
use crate::config::{CacheConfig, EncryptionSettings};

/// The memory cache of a configuration: `memory_cache_size` entries, `default_ttl`.
pub(crate) fn memory(config: &CacheConfig, entries: u64) -> Result<MemoryCache> {
    MemoryCache::builder()
        .max_entries(entries)
        .default_ttl(config.default_ttl)
        .build()
}

/// The key ring of the configured encryption keys.
#[cfg(feature = "crypto")]
pub(crate) fn key_ring(settings: &EncryptionSettings) -> Result<Option<stratacache_crypto::KeyRing>> {
    use stratacache_crypto::{ENV_KEY, ENV_KEYS, KeyRing};
    KeyRing::from_env_with(|name| {
        let secret = match name {
            ENV_KEY => settings.key.as_ref(),
            ENV_KEYS => settings.older_keys.as_ref(),
            _ => None,
        };
        secret.map(|s| s.expose().to_owned())
    })
}

/// The encryption layer of a configuration: the configured key ring and plaintext policy, or
/// `None` without a key.
#[cfg(feature = "crypto")]
pub(crate) fn encryption(
    settings: &EncryptionSettings,
) -> Result<Option<stratacache_crypto::EncryptionLayer>> {
    use stratacache_crypto::{EncryptionLayer, PlaintextPolicy as Policy};
    let Some(ring) = key_ring(settings)? else {
        return Ok(None);
    };
    let policy = match settings.plaintext_policy {
        PlaintextPolicy::Reject => Policy::Reject,
        PlaintextPolicy::Migrate => {
            tracing::warn!(
                "REDIS_ENCRYPTION_PLAINTEXT=migrate: values stored unencrypted are returned as \
                 they are (anyone who can write to the backend can choose what is read); seal \
                 them with `cargo xtask reencrypt --seal-plaintext` and switch back to reject"
            );
            Policy::Migrate
        }
    };
    Ok(Some(EncryptionLayer::new(ring).with_plaintext_policy(policy)))
}

/// The compression layer of a configuration.
#[cfg(feature = "compression")]
pub(crate) fn compression(config: &CacheConfig) -> Result<stratacache_compression::CompressionLayer> {
    stratacache_compression::CompressionLayer::builder()
        .threshold(config.compression_threshold)
        .level(config.compression_level)
        .max_decompressed_size(config.max_decompressed_size)
        .build()
}

/// Without the crypto feature, a configured key is an error (checked at resolution too).
#[cfg(not(feature = "crypto"))]
pub(crate) fn no_crypto(settings: &EncryptionSettings) -> Result<()> {
    if settings.is_configured() {
        return Err(stratacache_core::Error::configuration(
            "REDIS_ENCRYPTION_KEY is set but stratacache-factory was built without the `crypto` \
             feature: enable it (features = [\"crypto\"]) so that values are encrypted, or unset \
             the key; plaintext is never a silent fallback",
        ));
    }
    Ok(())
}
