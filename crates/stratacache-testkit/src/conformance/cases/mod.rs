//! The cases of the conformance suite, one function each, registered in the parent module.
//!
//! A case fails by panicking with a message that says what broke; the runner catches it.
//! Timing-based checks only ever assert that a short-lived entry is *gone* after generous sleeps
//! and that long-lived entries are *present*, so a loaded machine cannot make them flaky.
//!
//! The cases live in one module per area of the contract; this module holds the helpers they
//! share.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use stratacache_core::{Bytes, ErrorKind, Expiry, Result, SharedCache};

use super::{Ctx, GLOB_CASES, GLOB_KEYS, panic_message};

mod basic;
mod batch;
mod concurrency;
mod leases;
mod stats;
mod tags;
mod ttl;
mod typed;

pub(super) use basic::{delete, exists, health, missing_keys, overwrite, round_trips};
pub(super) use batch::{clear, delete_many, get_many_set_many, pattern_invalidation};
pub(super) use concurrency::concurrency;
pub(super) use leases::{lease_expiry, leases};
pub(super) use stats::{stats_accuracy, stats_after_expiry};
pub(super) use tags::{tags, tags_after_expiry_and_delete, tags_under_concurrency};
pub(super) use ttl::{default_ttl, get_with_ttl, ttl_expiry, ttl_validation};
pub(super) use typed::typed_access;

/// Unwraps the result of a cache operation that must succeed, naming the operation otherwise.
trait Must<T> {
    fn must(self, op: impl fmt::Display) -> T;
}

impl<T> Must<T> for Result<T> {
    #[track_caller]
    fn must(self, op: impl fmt::Display) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{op} returned an error: {e} (at {})", Location::caller()),
        }
    }
}

/// Asserts that `result` is an error of `kind`.
#[track_caller]
fn assert_err<T: fmt::Debug>(result: Result<T>, kind: ErrorKind, op: impl fmt::Display) {
    match result {
        Ok(v) => panic!("{op} succeeded with {v:?}; expected a {kind} error"),
        Err(e) => assert_eq!(e.kind(), kind, "{op} failed with the wrong kind of error: {e}"),
    }
}

/// A short description of a value for failure messages.
fn describe(value: &[u8]) -> String {
    if value.len() <= 48 {
        format!("{:?} ({} bytes)", Bytes::copy_from_slice(value), value.len())
    } else {
        format!(
            "<{} bytes starting {:?}>",
            value.len(),
            Bytes::copy_from_slice(&value[..16])
        )
    }
}

/// Asserts that a read returned exactly `expected`.
#[track_caller]
fn assert_value(actual: Option<Bytes>, expected: &[u8], op: impl fmt::Display) {
    let Some(actual) = actual else {
        panic!("{op}: expected {}, got None", describe(expected));
    };
    if actual != expected {
        let first_diff = actual
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(actual.len().min(expected.len()));
        panic!(
            "{op}: wrong value: got {}, expected {} (first difference at byte {first_diff})",
            describe(&actual),
            describe(expected)
        );
    }
}

/// Asserts that a remaining lifetime is `After(d)` with `lo < d <= hi`.
#[track_caller]
fn assert_after(expiry: Option<Expiry>, lo: Duration, hi: Duration, op: impl fmt::Display) {
    match expiry {
        Some(Expiry::After(d)) if d > lo && d <= hi => {}
        other => panic!("{op}: expected Some(After(d)) with {lo:?} < d <= {hi:?}, got {other:?}"),
    }
}

/// Asserts that the remaining lifetime of a short-lived entry read right after writing it is at
/// most `max` (or that it is already gone, which a loaded machine can cause).
#[track_caller]
fn assert_short(expiry: Option<Expiry>, max: Duration, op: impl fmt::Display) {
    match expiry {
        None => {}
        Some(Expiry::After(d)) if d <= max => {}
        other => panic!("{op}: expected None or Some(After(d)) with d <= {max:?}, got {other:?}"),
    }
}

/// Asserts that `key` is absent by every read path (`get`, `exists`, `ttl`).
async fn assert_gone(cache: &SharedCache, key: &str, why: &str) {
    let value = cache.get(key).await.must(format_args!("get({key:?})"));
    assert!(
        value.is_none(),
        "get({key:?}) {why}: expected None, got {}",
        describe(&value.unwrap_or_default())
    );
    assert!(
        !cache.exists(key).await.must(format_args!("exists({key:?})")),
        "exists({key:?}) {why}: expected false"
    );
    let ttl = cache.ttl(key).await.must(format_args!("ttl({key:?})"));
    assert!(ttl.is_none(), "ttl({key:?}) {why}: expected None, got {ttl:?}");
}

/// Deterministic pseudo-random bytes (SplitMix64), so large values are not compressible patterns.
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    crate::data::random_bytes(len, seed)
}

fn sleep(ms: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(ms))
}

const MINUTE: Duration = Duration::from_secs(60);
/// Lower bound for the remaining lifetime of a 60 s entry read within a few seconds of writing it.
const ALMOST_MINUTE: Duration = Duration::from_secs(50);
