//! [`AdminState`]: the one cache (and its monitor) every request of the API works on.

use std::fmt;
use std::sync::Arc;

use stratacache_core::{Cache, LayerExt, Result, SharedCache};
use stratacache_factory::{AiResponseCache, BuiltCache, CacheRegistry};
use stratacache_monitor::{Monitor, Monitored, MonitoringLayer};

use crate::config::AdminConfig;

/// What the API observes: the cache built once at start-up by the caller (never per request),
/// its monitor, the application's registry and the API's settings. Cheap to clone (one `Arc`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> stratacache_core::Result<()> {
/// use std::sync::Arc;
///
/// use stratacache_admin::{AdminConfig, AdminState};
/// use stratacache_factory::{CacheFactory, CacheRegistry};
///
/// let built = CacheFactory::for_web_app(None).await?;
/// let registry = Arc::new(CacheRegistry::default());
/// registry.register_with_closer("web", built.cache.clone(), built.closer());
/// let state = AdminState::new(built, registry, AdminConfig::default());
/// assert!(state.monitor().is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AdminState {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    cache: SharedCache,
    monitor: Option<Arc<Monitor>>,
    source: Source,
    registry: Arc<CacheRegistry>,
    config: AdminConfig,
    ai: Option<Arc<AiResponseCache>>,
    /// The namespace's key count, refreshed at a slow pace (it walks the whole database).
    key_count: Arc<crate::routes::status::KeyCount>,
}

/// Where the cache came from, for what only its origin knows (invalidation context, Redis status).
#[derive(Clone)]
enum Source {
    /// Built by the factory.
    Built(Box<BuiltCache>),
    /// Any cache, wrapped in a monitoring layer by [`AdminState::from_cache`].
    Monitored(Arc<Monitored<SharedCache>>),
    /// Any cache, unmonitored.
    Plain,
}

impl AdminState {
    pub(crate) fn key_count(&self) -> &crate::routes::status::KeyCount {
        &self.inner.key_count
    }

    /// The state of a cache built by the factory: its stack (monitored when its configuration
    /// enables monitoring), configuration, Redis connection and failover are all reported.
    pub fn new(built: BuiltCache, registry: Arc<CacheRegistry>, config: AdminConfig) -> Self {
        Self::from_inner(Inner {
            cache: Arc::clone(&built.cache),
            monitor: built.monitor.clone(),
            source: Source::Built(Box::new(built)),
            registry,
            config,
            ai: None,
            key_count: Arc::default(),
        })
    }

    /// The state of any cache (one not built by the factory, or a test double). With
    /// `monitoring`, the cache is wrapped in that layer, so the metrics endpoints report what
    /// goes through the API; without it, they answer 503 `SERVICE_UNAVAILABLE`. The status
    /// reports the cache as it describes itself: no Redis section details, no security
    /// configuration (`environment` is `"unknown"`).
    pub fn from_cache(
        cache: SharedCache,
        monitoring: Option<MonitoringLayer>,
        registry: Arc<CacheRegistry>,
        config: AdminConfig,
    ) -> Self {
        let (cache, monitor, source): (SharedCache, _, _) = match monitoring {
            Some(layer) => {
                let monitor = layer.monitor();
                let monitored = Arc::new(cache.layer(layer));
                (monitored.clone(), Some(monitor), Source::Monitored(monitored))
            }
            None => (cache, None, Source::Plain),
        };
        Self::from_inner(Inner {
            cache,
            monitor,
            source,
            registry,
            config,
            ai: None,
            key_count: Arc::default(),
        })
    }

    fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Reports the per-operation counters of `ai` in the status's `ai_metrics` section (shown
    /// when the configuration enables the AI cache). Pass the application's own instance, the
    /// one its requests go through.
    #[must_use]
    pub fn with_ai_cache(mut self, ai: Arc<AiResponseCache>) -> Self {
        Arc::make_mut(&mut self.inner).ai = Some(ai);
        self
    }

    /// The cache the API works on (its outermost layer).
    pub fn cache(&self) -> &SharedCache {
        &self.inner.cache
    }

    /// The monitor, when the cache is monitored.
    pub fn monitor(&self) -> Option<&Arc<Monitor>> {
        self.inner.monitor.as_ref()
    }

    /// The factory's cache, when the state was made with [`new`](Self::new).
    pub fn built(&self) -> Option<&BuiltCache> {
        match &self.inner.source {
            Source::Built(built) => Some(built),
            _ => None,
        }
    }

    /// The application's registry.
    pub fn registry(&self) -> &Arc<CacheRegistry> {
        &self.inner.registry
    }

    /// The API's settings.
    pub fn config(&self) -> &AdminConfig {
        &self.inner.config
    }

    /// The AI cache given to [`with_ai_cache`](Self::with_ai_cache).
    pub fn ai_cache(&self) -> Option<&Arc<AiResponseCache>> {
        self.inner.ai.as_ref()
    }

    /// Invalidates `pattern`, recording `context` with the invalidation when monitored.
    pub(crate) async fn invalidate(&self, pattern: &str, context: &str) -> Result<u64> {
        match &self.inner.source {
            Source::Built(built) => built.invalidate_pattern_with_context(pattern, context).await,
            Source::Monitored(monitored) => monitored.invalidate_pattern_with_context(pattern, context).await,
            Source::Plain => self.inner.cache.invalidate_pattern(pattern).await,
        }
    }

    /// Removes every entry tagged `tag`, recording the invalidation with `context` (as the
    /// pattern `tag:<tag>`) when the cache is monitored.
    pub(crate) async fn invalidate_tag(&self, tag: &str, context: &str) -> Result<u64> {
        use stratacache_core::TagsExt as _;
        match &self.inner.source {
            Source::Built(built) => built.invalidate_tag_with_context(tag, context).await,
            Source::Monitored(monitored) => {
                Ok(monitored.remove_tagged_with_context(tag, context).await?.len() as u64)
            }
            Source::Plain => self.inner.cache.invalidate_tag(tag).await,
        }
    }
}

impl fmt::Debug for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.inner.source {
            Source::Built(built) => format!("{built:?}"),
            Source::Monitored(_) => "monitored cache".to_owned(),
            Source::Plain => "cache".to_owned(),
        };
        f.debug_struct("AdminState")
            .field("source", &source)
            .field("monitored", &self.inner.monitor.is_some())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
