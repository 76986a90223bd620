//! [`MonitoringLayer`] and the wrapper it builds, [`Monitored`].

use std::sync::Arc;
// Calls are timed with quanta's TSC clock: two readings per call, a few nanoseconds each.
use quanta::Instant;

use stratacache_core::{Bytes, Cache, Expiry, Layer, Result, Ttl, async_trait};

use crate::clock::Clock;
use crate::monitor::{Monitor, MonitorConfig};
use crate::snapshot::PerformanceSnapshot;
use crate::window::{Operation, Outcome};

/// A layer that measures every operation of the cache it wraps into a shared [`Monitor`].
///
/// Every cache wrapped by the same layer (or its clones) records into the same monitor; keep
/// [`monitor`](Self::monitor) for the admin API or a Prometheus endpoint. Put it outermost, so it
/// measures what callers see.
#[derive(Debug, Clone)]
pub struct MonitoringLayer {
    monitor: Arc<Monitor>,
}

impl MonitoringLayer {
    /// A layer with a new monitor on the system clock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) when a setting of
    /// `config` is invalid.
    pub fn new(config: MonitorConfig) -> Result<Self> {
        Ok(Self::from_monitor(Arc::new(Monitor::new(config)?)))
    }

    /// A layer with a new monitor reading wall-clock time from `clock`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_clock(config: MonitorConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        Ok(Self::from_monitor(Arc::new(Monitor::with_clock(config, clock)?)))
    }

    /// A layer recording into an existing monitor.
    pub fn from_monitor(monitor: Arc<Monitor>) -> Self {
        Self { monitor }
    }

    /// The shared monitor.
    pub fn monitor(&self) -> Arc<Monitor> {
        Arc::clone(&self.monitor)
    }
}

impl<C> Layer<C> for MonitoringLayer {
    type Cache = Monitored<C>;

    fn layer(&self, inner: C) -> Monitored<C> {
        Monitored {
            inner,
            monitor: Arc::clone(&self.monitor),
        }
    }
}

/// A cache measured by a [`MonitoringLayer`]: every call is forwarded to the inner cache and its
/// latency and outcome recorded. Hits and misses are counted on reads only (`get`, each key of
/// `get_many`, `get_with_ttl`); `exists` and `ttl` are timed but are not reads.
#[derive(Debug)]
pub struct Monitored<C> {
    inner: C,
    monitor: Arc<Monitor>,
}

impl<C> Monitored<C> {
    /// The wrapped cache.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Unwraps the inner cache.
    pub fn into_inner(self) -> C {
        self.inner
    }

    /// The monitor this cache records into.
    pub fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    /// Runs `operation`, records it under `op` with its duration and outcome, and returns its
    /// result.
    async fn timed<T>(
        &self,
        op: Operation,
        operation: impl Future<Output = Result<T>>,
        outcome: impl FnOnce(&T) -> Outcome,
    ) -> Result<T> {
        let start = Instant::now();
        let result = operation.await;
        let end = Instant::now();
        let recorded = match &result {
            Ok(v) => outcome(v),
            Err(e) => Outcome::Error(e.kind()),
        };
        self.monitor
            .record_at(op, end.saturating_duration_since(start), end, recorded);
        result
    }
}

fn ok<T>(_: &T) -> Outcome {
    Outcome::Ok
}

fn one_read<T>(v: &Option<T>) -> Outcome {
    let hit = v.is_some();
    Outcome::Read {
        hits: u64::from(hit),
        misses: u64::from(!hit),
    }
}

impl<C: Cache> Monitored<C> {
    /// [`invalidate_pattern`](Cache::invalidate_pattern), recording `context` (why the
    /// invalidation happened, e.g. `"user_update"`) with the invalidation.
    ///
    /// # Errors
    ///
    /// Those of the inner cache.
    pub async fn invalidate_pattern_with_context(&self, pattern: &str, context: &str) -> Result<u64> {
        let start = Instant::now();
        let result = self.inner.invalidate_pattern(pattern).await;
        let elapsed = start.elapsed();
        match &result {
            Ok(removed) => {
                self.monitor.record(Operation::Invalidate, elapsed, Outcome::Ok);
                self.monitor
                    .record_invalidation(pattern, *removed, elapsed, context);
            }
            Err(e) => self
                .monitor
                .record(Operation::Invalidate, elapsed, Outcome::Error(e.kind())),
        }
        result
    }

    /// [`remove_tagged`](Cache::remove_tagged), recorded in the invalidation analytics as the
    /// pattern `tag:<tag>` with `context`.
    ///
    /// # Errors
    ///
    /// Those of the inner cache.
    pub async fn remove_tagged_with_context(&self, tag: &str, context: &str) -> Result<Vec<String>> {
        let start = Instant::now();
        let result = self.inner.remove_tagged(tag).await;
        let elapsed = start.elapsed();
        match &result {
            Ok(removed) => {
                self.monitor.record(Operation::Invalidate, elapsed, Outcome::Ok);
                self.monitor.record_invalidation(
                    &format!("tag:{tag}"),
                    removed.len() as u64,
                    elapsed,
                    context,
                );
            }
            Err(e) => self
                .monitor
                .record(Operation::Invalidate, elapsed, Outcome::Error(e.kind())),
        }
        result
    }

    /// The monitor's statistics with the inner cache's [`stats`](Cache::stats) (compression,
    /// encryption, memory).
    pub async fn snapshot(&self) -> PerformanceSnapshot {
        let stats = self.inner.stats().await;
        self.monitor.snapshot(Some(&stats))
    }

    /// The Prometheus text exposition with the inner cache's [`stats`](Cache::stats).
    pub async fn render_prometheus(&self) -> String {
        let stats = self.inner.stats().await;
        self.monitor.render_prometheus(Some(&stats))
    }
}

// `health`, `stats` (the inner cache's, unchanged: the monitor's own figures are in
// `snapshot`) and `close` are forwarded.
#[stratacache_core::forward(self.inner)]
#[async_trait]
impl<C: Cache> Cache for Monitored<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.timed(Operation::Get, self.inner.get(key), one_read).await
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.timed(Operation::Set, self.inner.set(key, value, ttl), ok)
            .await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.timed(Operation::Delete, self.inner.delete(key), ok).await
    }

    /// Timed as one `delete` call, whatever the batch size.
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.timed(Operation::Delete, self.inner.delete_many(keys), ok)
            .await
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        self.timed(Operation::Exists, self.inner.exists(key), ok).await
    }

    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        self.timed(Operation::Ttl, self.inner.ttl(key), ok).await
    }

    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        self.timed(Operation::GetWithTtl, self.inner.get_with_ttl(key), one_read)
            .await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.timed(Operation::GetMany, self.inner.get_many(keys), |values| {
            let hits = values.iter().filter(|v| v.is_some()).count() as u64;
            Outcome::Read {
                hits,
                misses: values.len() as u64 - hits,
            }
        })
        .await
    }

    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        self.timed(Operation::SetMany, self.inner.set_many(entries, ttl), ok)
            .await
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.invalidate_pattern_with_context(pattern, "").await
    }

    async fn clear(&self) -> Result<()> {
        self.timed(Operation::Clear, self.inner.clear(), ok).await
    }

    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        self.remove_tagged_with_context(tag, "").await
    }
}
