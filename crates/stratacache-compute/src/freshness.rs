//! [`Freshness`]: when a cached value is refreshed before it expires (XFetch), served after it
//! expired while it is refreshed (stale-while-revalidate), or served after it expired because
//! it cannot be had anew (stale-if-error).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache_core::{Bytes, Error, Result};

use crate::stored::Entry;

/// The longest stale window accepted ([`Freshness::stale_while_revalidate`],
/// [`Freshness::stale_if_error`]): one week.
pub const MAX_STALE_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// The largest XFetch β accepted ([`Freshness::early_refresh`]).
pub const MAX_BETA: f64 = 100.0;

/// How a computed value stays fresh, for a whole [`ComputeCache`](crate::ComputeCache)
/// ([`ComputeConfig::freshness`](crate::ComputeConfig::freshness)) or one call
/// ([`ComputeCache::with_freshness`](crate::ComputeCache::with_freshness)). Every policy is off
/// by default; values are then stored as they are.
///
/// With any policy on, values are stored with a small header (until when the value is fresh,
/// how long it took to compute) and live in the backend for the TTL plus the longer stale
/// window; reads through the [`ComputeCache`](crate::ComputeCache) strip the header and treat a
/// value past its TTL as expired. Policies need a TTL of their own: a value stored with
/// `Ttl::Default` or `Ttl::Never` has no soft expiry, and no policy applies to it.
///
/// ```
/// use std::time::Duration;
/// use stratacache_compute::Freshness;
///
/// let policy = Freshness {
///     early_refresh: 1.0,
///     stale_while_revalidate: Duration::from_secs(30),
///     stale_if_error: Duration::from_secs(600),
/// };
/// policy.validate().unwrap();
/// assert!(Freshness { early_refresh: -1.0, ..policy }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Freshness {
    /// XFetch (Vattani, Chierichetti and Lowenstein, VLDB 2015): the β of probabilistic early
    /// refresh; `0` is off (the default), `1` the paper's choice, larger refreshes earlier (0 to
    /// 100). A caller that reads a fresh value refreshes it with a probability that rises as
    /// expiry nears, weighted by how long the value took to compute (δ): at `t` before expiry,
    /// `exp(-t / (δ·β))`. The refreshing caller computes (one per key in the process, and one
    /// in the fleet through the lease); every other caller is answered from the cache at once.
    /// A failed refresh keeps the value, which is still fresh.
    pub early_refresh: f64,
    /// For how long after its TTL a value is still served while it is refreshed (default 0:
    /// off; at most a week). The first caller to read it refreshes it (one per key in the
    /// process, one in the fleet through the lease) and gets the new value; every other caller
    /// gets the old one at once. With [`ComputeCache::get_or_revalidate`](crate::ComputeCache::get_or_revalidate)
    /// the refresh runs in the background and every caller gets the old value at once. In
    /// JSON, seconds.
    #[serde(with = "stratacache_core::serde_secs")]
    pub stale_while_revalidate: Duration,
    /// For how long after its TTL a value is served when it cannot be had anew (default 0: off;
    /// at most a week): the computation failed, a wait for another caller timed out under
    /// `on_wait_timeout = fail`, or the cache could not be read (then from the process's
    /// [local copies](crate::ComputeCacheBuilder::local_copies), if set). In JSON, seconds.
    #[serde(with = "stratacache_core::serde_secs")]
    pub stale_if_error: Duration,
}

impl Freshness {
    /// Checks every setting.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) naming the
    /// setting, its value and the accepted range.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=MAX_BETA).contains(&self.early_refresh) {
            return Err(Error::configuration(format!(
                "freshness.early_refresh = {} is out of range (accepted: 0 (off) to {MAX_BETA})",
                self.early_refresh
            )));
        }
        for (name, window) in [
            ("stale_while_revalidate", self.stale_while_revalidate),
            ("stale_if_error", self.stale_if_error),
        ] {
            if window > MAX_STALE_WINDOW {
                return Err(Error::configuration(format!(
                    "freshness.{name} = {window:?} is out of range (accepted: 0 (off) to 7 days)"
                )));
            }
        }
        Ok(())
    }

    /// Whether values are stored with the freshness header (some policy is on).
    pub fn needs_header(&self) -> bool {
        self.early_refresh > 0.0 || !self.stale_window().is_zero()
    }

    /// How long past its TTL a value is kept in the backend: the longer stale window.
    pub fn stale_window(&self) -> Duration {
        self.stale_while_revalidate.max(self.stale_if_error)
    }
}

/// Whether XFetch refreshes a value now: `remaining` before its expiry, computed in `delta`,
/// with `beta` and a uniform draw `u` in `[0, 1)`. True when `δ·β·(−ln u) ≥ remaining`, which
/// happens with probability `exp(−remaining / (δ·β))`.
pub(crate) fn xfetch_due(remaining: Duration, delta: Duration, beta: f64, u: f64) -> bool {
    if beta <= 0.0 || delta.is_zero() {
        return false;
    }
    // 1 - u is in (0, 1]: its logarithm is finite.
    let gap = delta.as_secs_f64() * beta * -(1.0 - u).ln();
    gap >= remaining.as_secs_f64()
}

/// What a read of a key found, for a caller under a policy.
#[derive(Debug)]
pub(crate) enum Found {
    /// A fresh value.
    Fresh(Bytes),
    /// A fresh value that XFetch says to refresh now.
    Due(Bytes, Option<u64>),
    /// A value past its TTL, within the stale-while-revalidate window.
    Revalidate(Bytes, Option<u64>),
    /// The cache could not be read: this process's copy, past its TTL within the
    /// stale-if-error window (a fresh copy is [`Found::Fresh`]).
    Fallback(Bytes),
    /// A cached error of the computation (negative caching).
    Failed(Error),
    /// Nothing usable: compute. `stale` is a value past its TTL within the stale-if-error
    /// window, served if computing fails.
    Miss {
        /// The stale value, if any.
        stale: Option<Bytes>,
    },
}

impl Found {
    pub(crate) fn miss() -> Self {
        Self::Miss { stale: None }
    }

    /// The answer without computing, if any: a fresh value (or one due for a refresh), or a
    /// cached error.
    pub(crate) fn outcome(self) -> Option<Result<Bytes>> {
        match self {
            Self::Failed(error) => Some(Err(error)),
            other => other.usable().map(Ok),
        }
    }

    /// The value to answer with without computing, if any (fresh, or due for a refresh).
    pub(crate) fn usable(self) -> Option<Bytes> {
        match self {
            Self::Fresh(v) | Self::Due(v, _) => Some(v),
            Self::Revalidate(..) | Self::Fallback(_) | Self::Failed(_) | Self::Miss { .. } => None,
        }
    }
}

/// Classifies `entry` at `now_ms` under `policy`, drawing `u` for XFetch.
pub(crate) fn classify(entry: Entry, policy: &Freshness, now_ms: u64, u: f64) -> Found {
    let Some(until) = entry.fresh_until else {
        return Found::Fresh(entry.value);
    };
    if now_ms < until {
        let remaining = Duration::from_millis(until - now_ms);
        if xfetch_due(remaining, entry.delta, policy.early_refresh, u) {
            return Found::Due(entry.value, entry.fresh_until);
        }
        return Found::Fresh(entry.value);
    }
    let age = Duration::from_millis(now_ms - until);
    if age < policy.stale_while_revalidate {
        Found::Revalidate(entry.value, entry.fresh_until)
    } else if age < policy.stale_if_error {
        Found::Miss {
            stale: Some(entry.value),
        }
    } else {
        Found::miss()
    }
}

/// Whether `entry` is past its TTL at `now_ms` (what a plain read through the compute cache
/// treats as expired).
pub(crate) fn is_stale(entry: &Entry, now_ms: u64) -> bool {
    entry.fresh_until.is_some_and(|until| now_ms >= until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fresh_until: Option<u64>, delta_ms: u64) -> Entry {
        Entry {
            value: Bytes::from_static(b"v"),
            fresh_until,
            delta: Duration::from_millis(delta_ms),
        }
    }

    /// The empirical frequency of refreshes matches `exp(-t / (δβ))` at several distances from
    /// expiry (fixed seed: the test is deterministic).
    #[test]
    fn xfetch_refreshes_with_the_papers_probability() {
        let mut rng = fastrand::Rng::with_seed(20_151_012);
        let delta = Duration::from_millis(100);
        for (remaining_ms, beta) in [
            (10, 1.0),
            (50, 1.0),
            (100, 1.0),
            (200, 1.0),
            (300, 2.0),
            (500, 1.0),
        ] {
            let remaining = Duration::from_millis(remaining_ms);
            let n = 200_000;
            let due = (0..n)
                .filter(|_| xfetch_due(remaining, delta, beta, rng.f64()))
                .count();
            #[allow(clippy::cast_precision_loss)]
            let seen = due as f64 / f64::from(n);
            let expected = (-remaining.as_secs_f64() / (delta.as_secs_f64() * beta)).exp();
            // 200 000 draws: the standard error is below 0.0012.
            assert!(
                (seen - expected).abs() < 0.005,
                "{remaining_ms} ms before expiry, β {beta}: refreshed {seen}, expected {expected}"
            );
        }
        assert!(!xfetch_due(Duration::ZERO, delta, 0.0, 0.99), "β 0 is off");
        assert!(
            !xfetch_due(Duration::ZERO, Duration::ZERO, 1.0, 0.99),
            "no δ, no refresh"
        );
        assert!(xfetch_due(Duration::ZERO, delta, 1.0, 0.0), "at expiry, always");
    }

    #[test]
    fn values_are_fresh_then_revalidated_then_kept_for_errors_then_gone() {
        let policy = Freshness {
            early_refresh: 0.0,
            stale_while_revalidate: Duration::from_secs(10),
            stale_if_error: Duration::from_secs(60),
        };
        let at = |now| classify(entry(Some(100_000), 5), &policy, now, 0.5);
        assert!(matches!(at(99_999), Found::Fresh(_)));
        assert!(matches!(at(100_000), Found::Revalidate(_, Some(100_000))));
        assert!(matches!(at(109_999), Found::Revalidate(..)));
        assert!(matches!(at(110_000), Found::Miss { stale: Some(_) }));
        assert!(matches!(at(159_999), Found::Miss { stale: Some(_) }));
        assert!(matches!(at(160_000), Found::Miss { stale: None }));
        let plain = classify(entry(None, 0), &policy, u64::MAX, 0.5);
        assert!(
            matches!(plain, Found::Fresh(_)),
            "no header: fresh while it lives"
        );
        let off = Freshness::default();
        assert!(matches!(
            classify(entry(Some(100), 5), &off, 100, 0.5),
            Found::Miss { stale: None }
        ));
        assert!(is_stale(&entry(Some(100), 0), 100) && !is_stale(&entry(Some(100), 0), 99));
    }

    #[test]
    fn settings_out_of_range_are_named() {
        let e = Freshness {
            early_refresh: f64::NAN,
            ..Freshness::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("freshness.early_refresh = NaN"), "{e}");
        let e = Freshness {
            stale_if_error: Duration::from_secs(8 * 24 * 3600),
            ..Freshness::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("freshness.stale_if_error"), "{e}");
        assert!(!Freshness::default().needs_header());
        assert!(
            Freshness {
                early_refresh: 1.0,
                ..Freshness::default()
            }
            .needs_header()
        );
    }
}
