//! The conformance suite: the behaviour every [`Cache`] implementation must have.
//!
//! [`run`] executes every case against caches built by a backend's factory; [`Suite`] does the
//! same with documented exceptions. Each case gets fresh, empty caches from the factory, runs to
//! completion even when another case failed, and the suite panics once at the end with every
//! failing case and its message.
//!
//! The cases are listed by [`case_names`]. The pattern-invalidation case runs the table
//! [`GLOB_CASES`] over [`GLOB_KEYS`]; its expectations follow Redis `MATCH` semantics and are checked
//! against [`Glob`](stratacache_core::Glob) by the testkit's own tests.

use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use stratacache_core::{Cache, SharedCache};

mod cases;
mod glob_table;

pub use glob_table::{GLOB_CASES, GLOB_KEYS, GlobCase};

/// A boxed future that need not be `Send` (cases run on the caller's task, not spawned).
pub(crate) type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The backend's factory with its cache type erased.
type MakeFn<'a> = dyn Fn(Option<Duration>) -> LocalFuture<'a, SharedCache> + 'a;

/// What a case receives: a way to build fresh, empty caches.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    make: &'a MakeFn<'a>,
}

impl Ctx<'_> {
    /// A fresh, empty cache whose entries never expire by default.
    async fn cache(self) -> SharedCache {
        (self.make)(None).await
    }

    /// A fresh, empty cache whose [`Ttl::Default`](stratacache_core::Ttl::Default) is `ttl`.
    async fn cache_with_default_ttl(self, ttl: Duration) -> SharedCache {
        (self.make)(Some(ttl)).await
    }
}

type CaseFn = for<'a> fn(Ctx<'a>) -> LocalFuture<'a, ()>;

/// Declares the cases in running order: their names (the functions' names) and boxed entry points.
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        const CASE_NAMES: &[&str] = &[$(stringify!($name)),*];

        const CASES: &[(&str, CaseFn)] = &[$((stringify!($name), {
            fn boxed(ctx: Ctx<'_>) -> LocalFuture<'_, ()> {
                Box::pin(cases::$name(ctx))
            }
            boxed
        })),*];
    };
}

cases!(
    round_trips,
    missing_keys,
    overwrite,
    delete,
    exists,
    ttl_expiry,
    default_ttl,
    ttl_validation,
    get_with_ttl,
    get_many_set_many,
    delete_many,
    pattern_invalidation,
    clear,
    tags,
    tags_after_expiry_and_delete,
    tags_under_concurrency,
    leases,
    lease_expiry,
    stats_accuracy,
    stats_after_expiry,
    concurrency,
    typed_access,
    health,
);

/// The names of every case, in the order they run. These are the names [`Suite::skip`] accepts
/// and failure reports use.
pub fn case_names() -> &'static [&'static str] {
    CASE_NAMES
}

/// Runs every case of the suite against caches built by `make`, and panics at the end, listing
/// every failing case with its message, if any failed.
///
/// `make(default_ttl)` must return a fresh, **empty** cache (its statistics too) whose
/// [`Ttl::Default`](stratacache_core::Ttl::Default) resolves to `default_ttl` (`None`: entries
/// written with the default never expire). A case may call it several times; caches from
/// different calls must not share entries.
///
/// Call it from a Tokio runtime with the time driver enabled (`#[tokio::test]`); a multi-threaded
/// runtime also exercises the backend's thread safety in the concurrency case.
///
/// ```rust,no_run
/// use std::time::Duration;
/// use stratacache_core::Cache;
///
/// /// Runs the suite on a backend whose constructor takes the default TTL.
/// async fn check<C: Cache + 'static>(new_cache: fn(Option<Duration>) -> C) {
///     stratacache_testkit::conformance::run(|default_ttl| async move { new_cache(default_ttl) }).await;
/// }
/// ```
///
/// # Panics
///
/// When a case fails; the message lists every failed case.
pub async fn run<C, F, Fut>(make: F) -> Report
where
    C: Cache + 'static,
    F: Fn(Option<Duration>) -> Fut,
    Fut: Future<Output = C>,
{
    Suite::new(make).run().await
}

/// The conformance suite with options: cases to skip, per-case timeout.
///
/// ```rust,no_run
/// use std::time::Duration;
/// use stratacache_core::Cache;
///
/// async fn check<C: Cache + 'static>(new_cache: fn(Option<Duration>) -> C) {
///     stratacache_testkit::conformance::Suite::new(|default_ttl| async move { new_cache(default_ttl) })
///         .skip("stats_accuracy", "this backend keeps no statistics")
///         .case_timeout(Duration::from_secs(120))
///         .run()
///         .await;
/// }
/// ```
pub struct Suite<F> {
    make: F,
    skipped: Vec<(&'static str, String)>,
    case_timeout: Duration,
}

impl<F> fmt::Debug for Suite<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Suite")
            .field("skipped", &self.skipped)
            .field("case_timeout", &self.case_timeout)
            .finish_non_exhaustive()
    }
}

impl<C, F, Fut> Suite<F>
where
    C: Cache + 'static,
    F: Fn(Option<Duration>) -> Fut,
    Fut: Future<Output = C>,
{
    /// The full suite over caches built by `make` (see [`run`] for its contract), with a per-case
    /// timeout of 60 seconds.
    pub fn new(make: F) -> Self {
        Self {
            make,
            skipped: Vec::new(),
            case_timeout: Duration::from_secs(60),
        }
    }

    /// Skips the case named `case` (one of [`case_names`]). The `reason` is printed when the suite
    /// runs and kept in the [`Report`]: say why the backend legitimately differs.
    ///
    /// # Panics
    ///
    /// When `case` is not the name of a case, or is skipped twice.
    #[must_use]
    pub fn skip(mut self, case: &str, reason: impl Into<String>) -> Self {
        let Some(&name) = CASE_NAMES.iter().find(|&&n| n == case) else {
            panic!(
                "cannot skip unknown conformance case {case:?}; the cases are: {}",
                CASE_NAMES.join(", ")
            );
        };
        assert!(
            !self.skipped.iter().any(|(n, _)| *n == name),
            "conformance case {case:?} is skipped twice"
        );
        self.skipped.push((name, reason.into()));
        self
    }

    /// How long one case may run before it counts as failed (default 60 seconds).
    #[must_use]
    pub fn case_timeout(mut self, timeout: Duration) -> Self {
        self.case_timeout = timeout;
        self
    }

    /// Runs every case that is not skipped, each on fresh caches, and returns what ran.
    ///
    /// # Panics
    ///
    /// Once, after every case ran, when any case failed: the message lists each failed case by
    /// name with its message.
    pub async fn run(self) -> Report {
        let make = &self.make;
        let erased = move |default_ttl: Option<Duration>| -> LocalFuture<'_, SharedCache> {
            let building = make(default_ttl);
            Box::pin(async move { Arc::new(building.await) as SharedCache })
        };
        let ctx = Ctx { make: &erased };

        let started = Instant::now();
        let mut report = Report::default();
        let mut failures: Vec<(&'static str, String)> = Vec::new();
        for &(name, case) in CASES {
            if let Some((_, reason)) = self.skipped.iter().find(|(n, _)| *n == name) {
                #[expect(
                    clippy::print_stderr,
                    reason = "a skipped case must be visible in test output"
                )]
                {
                    eprintln!("conformance: skipping case {name}: {reason}");
                }
                report.skipped.push((name, reason.clone()));
                continue;
            }
            let case_started = Instant::now();
            let outcome = tokio::time::timeout(self.case_timeout, catch_panic(case(ctx))).await;
            let elapsed = case_started.elapsed();
            match outcome {
                Ok(Ok(())) => report.passed.push((name, elapsed)),
                Ok(Err(message)) => failures.push((name, message)),
                Err(_) => failures.push((
                    name,
                    format!(
                        "did not finish within {:?} (hung or far too slow)",
                        self.case_timeout
                    ),
                )),
            }
        }
        report.elapsed = started.elapsed();

        if !failures.is_empty() {
            let mut message = format!(
                "conformance suite: {} of {} cases failed ({}), {} passed, {} skipped",
                failures.len(),
                CASES.len() - report.skipped.len(),
                failures.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
                report.passed.len(),
                report.skipped.len(),
            );
            for (name, failure) in &failures {
                message.push_str(&format!("\n\n--- case {name} ---\n{failure}"));
            }
            panic!("{message}");
        }
        report
    }
}

/// What a suite run did (returned when every case that ran passed).
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct Report {
    /// The cases that passed, with how long each took, in running order.
    pub passed: Vec<(&'static str, Duration)>,
    /// The skipped cases with the reason given to [`Suite::skip`].
    pub skipped: Vec<(&'static str, String)>,
    /// How long the whole run took.
    pub elapsed: Duration,
}

/// A case of a suite run by [`run_named`]: its name and the fixture it runs on.
pub(crate) type NamedCase<F> = for<'f> fn(&'static str, &'f F) -> LocalFuture<'f, ()>;

/// Runs each case of `names` on a fresh fixture from `make` (dropped with its guard once the case
/// ended), each within `timeout`; like the conformance suite it runs them all, then panics once,
/// as `{suite}: N of M cases failed`, listing each failure.
pub(crate) async fn run_named<F, G>(
    suite: &str,
    names: &[&'static str],
    timeout: Duration,
    make: impl AsyncFn() -> (F, G),
    case: NamedCase<F>,
) -> Report {
    let started = Instant::now();
    let mut report = Report::default();
    let mut failures = Vec::new();
    for &name in names {
        let (fixture, guard) = make().await;
        let case_started = Instant::now();
        let outcome = tokio::time::timeout(timeout, catch_panic(case(name, &fixture))).await;
        drop(fixture);
        drop(guard);
        match outcome {
            Ok(Ok(())) => report.passed.push((name, case_started.elapsed())),
            Ok(Err(message)) => failures.push((name, message)),
            Err(_) => failures.push((name, format!("did not finish within {timeout:?}"))),
        }
    }
    report.elapsed = started.elapsed();
    if !failures.is_empty() {
        let mut message = format!("{suite}: {} of {} cases failed", failures.len(), names.len());
        for (name, failure) in &failures {
            message.push_str(&format!("\n\n--- case {name} ---\n{failure}"));
        }
        panic!("{message}");
    }
    report
}

/// Polls `fut` to completion, turning a panic into `Err(message)`.
pub(crate) async fn catch_panic(mut fut: LocalFuture<'_, ()>) -> Result<(), String> {
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    })
    .await
}

/// The message of a panic payload (`panic!` with a literal or with formatting).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "panicked with a non-string payload".to_owned()
    }
}
