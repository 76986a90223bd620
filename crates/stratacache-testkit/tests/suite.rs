//! Tests of the suite itself: a simple reference backend passes it, and broken backends fail it
//! with every failing case named.

// Test code: helpers outside `#[test]` functions fail the test by unwrapping too.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stratacache_core::{
    Bytes, Cache, CacheStats, Expiry, Glob, Health, Result, StatsCounters, Ttl, async_trait,
};
use stratacache_testkit::conformance::{self, Suite};

/// A fault injected into [`MapCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// `exists` counts as a read.
    ExistsIsARead,
    /// `clear` panics.
    ClearPanics,
    /// `health` never returns.
    HealthHangs,
}

/// A straightforward reference implementation of the contract over a mutex-protected map.
#[derive(Debug)]
struct MapCache {
    entries: Mutex<HashMap<String, (Bytes, Option<Instant>)>>,
    tags: Mutex<HashMap<String, Vec<String>>>,
    leases: Mutex<HashMap<String, (String, Instant)>>,
    counters: StatsCounters,
    default_ttl: Option<Duration>,
    fault: Fault,
}

impl MapCache {
    fn new(default_ttl: Option<Duration>, fault: Fault) -> Self {
        Self {
            entries: Mutex::default(),
            tags: Mutex::default(),
            leases: Mutex::default(),
            counters: StatsCounters::default(),
            default_ttl,
            fault,
        }
    }

    /// The live entry of `key`, dropping it if it expired.
    fn live(&self, key: &str) -> Option<(Bytes, Option<Instant>)> {
        let mut map = self.entries.lock().unwrap();
        match map.get(key) {
            Some((_, Some(at))) if *at <= Instant::now() => {
                map.remove(key);
                None
            }
            other => other.cloned(),
        }
    }

    fn purge_expired(&self) {
        let now = Instant::now();
        self.entries
            .lock()
            .unwrap()
            .retain(|_, (_, at)| at.is_none_or(|at| at > now));
    }
}

fn remaining(at: Option<Instant>) -> Expiry {
    match at {
        None => Expiry::Never,
        Some(at) => {
            let left = at.saturating_duration_since(Instant::now());
            Expiry::After(Duration::from_millis(left.as_nanos().div_ceil(1_000_000) as u64))
        }
    }
}

#[async_trait]
impl Cache for MapCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let value = self.live(key).map(|(v, _)| v);
        self.counters.record_read(value.is_some());
        Ok(value)
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let deadline = ttl
            .resolve(self.default_ttl)?
            .duration()
            .map(|d| Instant::now() + d);
        self.entries
            .lock()
            .unwrap()
            .insert(key.to_owned(), (value, deadline));
        self.counters.record_writes(1);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let removed = self.live(key).is_some() && self.entries.lock().unwrap().remove(key).is_some();
        self.counters.record_removals(u64::from(removed));
        Ok(removed)
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        let found = self.live(key).is_some();
        if self.fault == Fault::ExistsIsARead {
            self.counters.record_read(found);
        }
        Ok(found)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        Ok(self.live(key).map(|(_, at)| remaining(at)))
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.purge_expired();
        let glob = Glob::new(pattern);
        let mut map = self.entries.lock().unwrap();
        let before = map.len();
        map.retain(|k, _| !glob.matches(k));
        let removed = (before - map.len()) as u64;
        self.counters.record_removals(removed);
        Ok(removed)
    }

    async fn clear(&self) -> Result<()> {
        assert!(self.fault != Fault::ClearPanics, "boom: clear is broken");
        self.purge_expired();
        let mut map = self.entries.lock().unwrap();
        self.counters.record_removals(map.len() as u64);
        map.clear();
        Ok(())
    }

    async fn add_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        stratacache_core::validate_tags(tags)?;
        ttl.check()?;
        let mut map = self.tags.lock().unwrap();
        for tag in tags {
            map.entry((*tag).to_owned()).or_default().push(key.to_owned());
        }
        Ok(())
    }

    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        stratacache_core::validate_tag(tag)?;
        let keys = self.tags.lock().unwrap().remove(tag).unwrap_or_default();
        let mut removed = Vec::new();
        for key in keys {
            if self.live(&key).is_some() && self.entries.lock().unwrap().remove(&key).is_some() {
                removed.push(key);
            }
        }
        self.counters.record_removals(removed.len() as u64);
        Ok(removed)
    }

    async fn acquire_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        stratacache_core::validate_lease(holder, duration)?;
        let (mut leases, now) = (self.leases.lock().unwrap(), Instant::now());
        if leases
            .get(key)
            .is_some_and(|(h, until)| h != holder && *until > now)
        {
            return Ok(false);
        }
        leases.insert(key.to_owned(), (holder.to_owned(), now + duration));
        Ok(true)
    }

    async fn renew_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        stratacache_core::validate_lease(holder, duration)?;
        let (mut leases, now) = (self.leases.lock().unwrap(), Instant::now());
        match leases.get_mut(key) {
            Some((h, until)) if h == holder && *until > now => {
                *until = now + duration;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<bool> {
        let (mut leases, now) = (self.leases.lock().unwrap(), Instant::now());
        match leases.get(key) {
            Some((h, until)) if h == holder => {
                let live = *until > now;
                leases.remove(key);
                Ok(live)
            }
            _ => Ok(false),
        }
    }

    async fn health(&self) -> Health {
        if self.fault == Fault::HealthHangs {
            std::future::pending::<()>().await;
        }
        Health::healthy("map")
    }

    async fn stats(&self) -> CacheStats {
        self.purge_expired();
        let mut stats = self.counters.snapshot("map");
        let map = self.entries.lock().unwrap();
        stats.entries = Some(map.len() as u64);
        stats.bytes = Some(map.iter().map(|(k, (v, _))| (k.len() + v.len()) as u64).sum());
        stats
    }
}

/// Runs `suite` on its own runtime and thread, returning its panic message if it failed.
fn run_isolated(
    fault: Fault,
    configure: fn(Suite<MakeFn>) -> Suite<MakeFn>,
) -> std::result::Result<(), String> {
    let joined = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(configure(Suite::new(make_fn(fault))).run());
    })
    .join();
    joined.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

type MakeFn = Box<dyn Fn(Option<Duration>) -> std::future::Ready<MapCache> + Send>;

fn make_fn(fault: Fault) -> MakeFn {
    Box::new(move |default_ttl| std::future::ready(MapCache::new(default_ttl, fault)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_backend_conforms() {
    let report = conformance::run(|default_ttl| async move { MapCache::new(default_ttl, Fault::None) }).await;
    assert_eq!(report.passed.len(), conformance::case_names().len());
    assert!(report.skipped.is_empty());
    eprintln!("{report:#?}");
}

#[test]
fn every_failing_case_is_reported_by_name() {
    let message = run_isolated(Fault::ExistsIsARead, |s| s).unwrap_err();
    assert!(
        message.starts_with(
            "conformance suite: 2 of 23 cases failed (exists, stats_accuracy), 21 passed, 0 skipped"
        ),
        "{message}"
    );
    assert!(
        message.contains("--- case exists ---\nexists must not count as a read"),
        "{message}"
    );
    assert!(
        message.contains("--- case stats_accuracy ---\nassertion `left == right` failed: hits after"),
        "{message}"
    );
}

#[test]
fn a_panicking_case_does_not_stop_the_others() {
    let message = run_isolated(Fault::ClearPanics, |s| s).unwrap_err();
    assert!(
        message.starts_with("conformance suite: 2 of 23 cases failed (clear, leases), 21 passed"),
        "{message}"
    );
    assert!(
        message.contains("--- case clear ---\nboom: clear is broken"),
        "{message}"
    );
}

#[test]
fn a_hanging_case_times_out() {
    let message = run_isolated(Fault::HealthHangs, |s| s.case_timeout(Duration::from_secs(2))).unwrap_err();
    assert!(
        message.starts_with("conformance suite: 1 of 23 cases failed (health)"),
        "{message}"
    );
    assert!(message.contains("did not finish within 2s"), "{message}");
}

#[test]
fn skipped_cases_do_not_run_and_are_reported() {
    run_isolated(Fault::ExistsIsARead, |s| {
        s.skip("exists", "exists counts as a read here")
            .skip("stats_accuracy", "so the read counts are off")
    })
    .unwrap();
}

#[test]
#[should_panic(
    expected = "cannot skip unknown conformance case \"no_such_case\"; the cases are: round_trips"
)]
fn skipping_an_unknown_case_panics() {
    let _ = Suite::new(make_fn(Fault::None)).skip("no_such_case", "typo");
}

#[test]
fn case_names_are_unique_and_complete() {
    let names = conformance::case_names();
    assert_eq!(names.len(), 23);
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
    assert_eq!(names.first(), Some(&"round_trips"));
    assert_eq!(names.last(), Some(&"health"));
}
