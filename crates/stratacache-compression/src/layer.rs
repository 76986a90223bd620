//! [`CompressionLayer`] and the wrapper it builds, [`Compressed`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use stratacache_core::{
    Bytes, Cache, CacheStats, CompressionStats, Error, ErrorKind, Expiry, Layer, Result, Ttl, async_trait,
};

use crate::CompressionConfig;
use crate::format::{self, Decoded, Encoded};

/// A layer that compresses large values on their way into any [`Cache`] and decompresses them
/// on the way out.
///
/// Built from a validated [`CompressionConfig`]; `CompressionLayer::default()` uses the
/// reference defaults (threshold 1000 bytes, level 6). See the [crate documentation](crate) for
/// the format, an example, and where the layer belongs in a stack.
#[derive(Debug, Clone, Default)]
pub struct CompressionLayer {
    config: Arc<CompressionConfig>,
}

impl CompressionLayer {
    /// A layer with the given settings.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) listing every
    /// invalid setting (see [`CompressionConfig::validate`]).
    pub fn new(config: CompressionConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// A builder starting from [`CompressionConfig::default`].
    pub fn builder() -> CompressionLayerBuilder {
        CompressionLayerBuilder {
            config: CompressionConfig::default(),
        }
    }

    /// The settings of this layer.
    pub fn config(&self) -> &CompressionConfig {
        &self.config
    }
}

impl<C> Layer<C> for CompressionLayer {
    type Cache = Compressed<C>;

    fn layer(&self, inner: C) -> Compressed<C> {
        Compressed {
            inner,
            config: Arc::clone(&self.config),
            counters: Counters::default(),
        }
    }
}

/// Builds a [`CompressionLayer`] setting by setting; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct CompressionLayerBuilder {
    config: CompressionConfig,
}

impl CompressionLayerBuilder {
    /// Values strictly longer than `bytes` are compressed (`100..=100_000`).
    #[must_use]
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.config.threshold = bytes;
        self
    }

    /// Compression level `1..=9`, mapped onto zstd levels 1 to 9.
    #[must_use]
    pub fn level(mut self, level: u8) -> Self {
        self.config.level = level;
        self
    }

    /// The largest original length the layer decompresses (`1024..=u32::MAX` bytes).
    #[must_use]
    pub fn max_decompressed_size(mut self, bytes: usize) -> Self {
        self.config.max_decompressed_size = bytes;
        self
    }

    /// Whether values without the layer's header are read as they are (`true`) or rejected.
    #[must_use]
    pub fn legacy_plain(mut self, enabled: bool) -> Self {
        self.config.legacy_plain = enabled;
        self
    }

    /// Validates the settings and builds the layer.
    ///
    /// # Errors
    ///
    /// As [`CompressionLayer::new`].
    pub fn build(self) -> Result<CompressionLayer> {
        CompressionLayer::new(self.config)
    }
}

/// Lock-free counters behind [`CompressionStats`], plus the errors this layer raised.
#[derive(Debug, Default)]
struct Counters {
    compressed: AtomicU64,
    stored_raw: AtomicU64,
    decompressed: AtomicU64,
    bytes_in: AtomicU64,
    bytes_stored: AtomicU64,
    compress_nanos: AtomicU64,
    decompress_nanos: AtomicU64,
    errors: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// Counts a value written to the inner cache.
    fn written(&self, e: &Encoded) {
        let kind = if e.compressed {
            &self.compressed
        } else {
            &self.stored_raw
        };
        add(kind, 1);
        add(&self.bytes_in, e.original_len as u64);
        add(&self.bytes_stored, e.stored.len() as u64);
        add(&self.compress_nanos, e.nanos);
    }

    fn snapshot(&self) -> CompressionStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = CompressionStats::default();
        s.compressed = load(&self.compressed);
        s.stored_raw = load(&self.stored_raw);
        s.decompressed = load(&self.decompressed);
        s.bytes_in = load(&self.bytes_in);
        s.bytes_stored = load(&self.bytes_stored);
        s.compress_nanos = load(&self.compress_nanos);
        s.decompress_nanos = load(&self.decompress_nanos);
        s
    }
}

/// A cache whose values are compressed by a [`CompressionLayer`]: built by
/// `CompressionLayer::layer(inner)` or `inner.layer(compression_layer)`.
///
/// `set` and `set_many` store every value with the layer's header (compressed or raw); `get`,
/// `get_many` and `get_with_ttl` decode it and return exactly the bytes that were written. The
/// other operations are forwarded unchanged.
#[derive(Debug)]
pub struct Compressed<C> {
    inner: C,
    config: Arc<CompressionConfig>,
    counters: Counters,
}

impl<C> Compressed<C> {
    /// The wrapped cache (reading it directly returns stored values, headers included).
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Unwraps the inner cache.
    pub fn into_inner(self) -> C {
        self.inner
    }

    /// The settings of the layer.
    pub fn config(&self) -> &CompressionConfig {
        &self.config
    }

    /// What the layer did so far: values compressed or stored raw, bytes in and stored, time
    /// spent. The same numbers are in [`CacheStats::compression`] of [`Cache::stats`].
    pub fn compression_stats(&self) -> CompressionStats {
        self.counters.snapshot()
    }

    /// Encodes `value`: inline, or on tokio's blocking pool when it is large enough to be
    /// worth it (see [`CompressionConfig::offload_threshold`]).
    async fn encode(&self, value: Bytes) -> Result<Encoded> {
        let config = Arc::clone(&self.config);
        let offload = format::encode_offloads(value.len(), &config);
        run(offload, move || format::encode(&value, &config))
            .await
            .inspect_err(|_| add(&self.counters.errors, 1))
    }

    /// Decodes `stored` read at `key`: inline, or on tokio's blocking pool for a large
    /// compressed value.
    async fn decode(&self, key: &str, stored: Bytes) -> Result<Bytes> {
        let config = Arc::clone(&self.config);
        let offload = format::decode_offloads(&stored, &config);
        match run(offload, move || format::decode(stored, &config)).await {
            Ok(Decoded::Raw(value) | Decoded::Plain(value)) => Ok(value),
            Ok(Decoded::Decompressed { value, nanos }) => {
                add(&self.counters.decompressed, 1);
                add(&self.counters.decompress_nanos, nanos);
                Ok(value)
            }
            Err(e) => {
                add(&self.counters.errors, 1);
                Err(annotate(key, e))
            }
        }
    }
}

/// Runs `work` on tokio's blocking thread pool when `offload` is set and a tokio runtime is
/// current, inline otherwise (small values, or another executor).
///
/// A panic in `work` is resumed here, as it would be inline.
async fn run<T: Send + 'static>(
    offload: bool,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    if offload && let Ok(runtime) = tokio::runtime::Handle::try_current() {
        return match runtime.spawn_blocking(work).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::new(
                ErrorKind::Unavailable,
                "the compression task was cancelled: the tokio runtime is shutting down",
            )
            .with_source(e)),
        };
    }
    work()
}

/// The error with the key in front of its message; the original error is kept as the source.
fn annotate(key: &str, e: Error) -> Error {
    Error::new(e.kind(), format!("cannot read key {key:?}: {}", e.message())).with_source(e)
}

#[stratacache_core::forward(self.inner)]
#[async_trait]
impl<C: Cache> Cache for Compressed<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self.inner.get(key).await? {
            Some(stored) => self.decode(key, stored).await.map(Some),
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        ttl.check()?;
        let encoded = self.encode(value).await?;
        self.inner.set(key, encoded.stored.clone(), ttl).await?;
        self.counters.written(&encoded);
        Ok(())
    }

    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        match self.inner.get_with_ttl(key).await? {
            Some((stored, expiry)) => Ok(Some((self.decode(key, stored).await?, expiry))),
            None => Ok(None),
        }
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let stored = self.inner.get_many(keys).await?;
        let mut values = Vec::with_capacity(stored.len());
        for (key, slot) in keys.iter().zip(stored) {
            values.push(match slot {
                Some(s) => Some(self.decode(key, s).await?),
                None => None,
            });
        }
        Ok(values)
    }

    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        ttl.check()?;
        let mut encoded = Vec::with_capacity(entries.len());
        for (_, value) in entries {
            encoded.push(self.encode(value.clone()).await?);
        }
        let stored: Vec<(&str, Bytes)> = entries
            .iter()
            .zip(&encoded)
            .map(|((key, _), e)| (*key, e.stored.clone()))
            .collect();
        self.inner.set_many(&stored, ttl).await?;
        for e in &encoded {
            self.counters.written(e);
        }
        Ok(())
    }

    /// The inner cache's snapshot with [`CacheStats::compression`] filled in and this layer's
    /// errors (values it could not decode or encode) added to `errors`. (An inner compression
    /// layer's counters, if any, are replaced by this layer's.)
    async fn stats(&self) -> CacheStats {
        let mut stats = self.inner.stats().await;
        stats.compression = Some(self.counters.snapshot());
        stats.errors = stats
            .errors
            .saturating_add(self.counters.errors.load(Ordering::Relaxed));
        stats
    }
}
