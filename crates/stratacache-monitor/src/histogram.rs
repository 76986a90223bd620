//! Fixed-size log-linear latency histograms.
//!
//! Durations are bucketed in nanoseconds: one bucket below 1 024 ns (about 1 µs), then 8 linear
//! sub-buckets per power of two from 2¹⁰ ns up to 2³⁶ ns (about 68.7 s), then one overflow bucket.
//! A bucket spans at most 1/8 of its lower bound, so the midpoint used as a percentile estimate is
//! within 6.25 % of any value in the bucket (and percentiles are clamped to the observed minimum
//! and maximum). 210 buckets in all.

use std::time::Duration;

/// Sub-buckets per power of two (2³).
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// The first power of two with sub-buckets: 2¹⁰ ns.
const MIN_EXP: u32 = 10;
/// Values at or above 2^MAX_EXP ns go to the overflow bucket.
const MAX_EXP: u32 = 36;

/// Number of buckets of a histogram.
pub(crate) const BUCKETS: usize = 1 + (MAX_EXP - MIN_EXP) as usize * SUB + 1;

/// The bucket of a duration of `nanos` nanoseconds.
#[inline]
pub(crate) fn bucket_of(nanos: u64) -> usize {
    if nanos < (1 << MIN_EXP) {
        return 0;
    }
    let exp = 63 - nanos.leading_zeros();
    if exp >= MAX_EXP {
        return BUCKETS - 1;
    }
    let mantissa = ((nanos >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    1 + (exp - MIN_EXP) as usize * SUB + mantissa
}

/// The range `[lower, upper)` of bucket `index`, in nanoseconds (`upper` is `u64::MAX` for the
/// overflow bucket).
pub(crate) fn bucket_range(index: usize) -> (u64, u64) {
    if index == 0 {
        return (0, 1 << MIN_EXP);
    }
    if index >= BUCKETS - 1 {
        return (1 << MAX_EXP, u64::MAX);
    }
    let exp = MIN_EXP + ((index - 1) / SUB) as u32;
    let mantissa = ((index - 1) % SUB) as u64;
    let step = 1u64 << (exp - SUB_BITS);
    let lower = (SUB as u64 + mantissa) * step;
    (lower, lower + step)
}

/// Merged (plain) counts of one histogram, for percentile queries.
#[derive(Debug, Clone)]
pub(crate) struct Counts {
    pub(crate) buckets: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum_nanos: u64,
    pub(crate) max_nanos: u64,
    pub(crate) min_nanos: u64,
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            buckets: vec![0; BUCKETS],
            count: 0,
            sum_nanos: 0,
            max_nanos: 0,
            min_nanos: u64::MAX,
        }
    }
}

impl Counts {
    /// Adds another histogram's counts.
    pub(crate) fn merge(&mut self, other: &Self) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum_nanos = self.sum_nanos.saturating_add(other.sum_nanos);
        self.max_nanos = self.max_nanos.max(other.max_nanos);
        self.min_nanos = self.min_nanos.min(other.min_nanos);
    }

    /// The `q`-quantile (`0.0..=1.0`), `None` when empty: the midpoint of the bucket holding the
    /// rank `ceil(q × count)`, clamped to the observed minimum and maximum.
    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (lower, upper) = bucket_range(index);
                let mid = if upper == u64::MAX {
                    self.max_nanos
                } else {
                    lower + (upper - lower) / 2
                };
                let clamped = mid.clamp(self.min_nanos.min(self.max_nanos), self.max_nanos);
                return Some(Duration::from_nanos(clamped));
            }
        }
        Some(Duration::from_nanos(self.max_nanos))
    }

    /// The mean, `None` when empty.
    pub(crate) fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_nanos(self.sum_nanos / self.count))
    }

    /// The largest value, `None` when empty.
    pub(crate) fn max(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_nanos(self.max_nanos))
    }

    /// The smallest value, `None` when empty.
    pub(crate) fn min(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_nanos(self.min_nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        assert_eq!(BUCKETS, 210);
        let mut previous_upper = 0;
        for index in 0..BUCKETS {
            let (lower, upper) = bucket_range(index);
            assert_eq!(lower, previous_upper, "bucket {index}");
            previous_upper = upper;
            if index > 0 && index < BUCKETS - 1 {
                assert!((upper - lower) * 8 <= lower, "bucket {index} too wide");
            }
            assert_eq!(bucket_of(lower), index);
            if upper != u64::MAX {
                assert_eq!(bucket_of(upper - 1), index);
            }
        }
    }

    #[test]
    fn quantiles_of_a_single_value() {
        let mut c = Counts::default();
        let v = 1_234_567;
        c.buckets[bucket_of(v)] += 1;
        c.count = 1;
        c.sum_nanos = v;
        c.max_nanos = v;
        c.min_nanos = v;
        // Clamped to the only observed value.
        assert_eq!(c.quantile(0.5), Some(Duration::from_nanos(v)));
        assert_eq!(Counts::default().quantile(0.5), None);
    }
}
