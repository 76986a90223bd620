//! The retention window: a ring of time slots of atomic counters, with a fixed memory bound.
//!
//! Recording touches only the current slot's atomics (relaxed adds) and one since-start
//! Prometheus bucket. When the clock enters a new slot period, the first recorder to notice takes
//! the rotation lock once, folds the slot's old contents into the since-start totals and zeroes it.
//! Snapshots merge the live slots (the window) and the retired totals plus every slot (since start).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::Release};
use std::time::Duration;

use stratacache_core::ErrorKind;

use crate::histogram::{self, BUCKETS, Counts};

/// A cache operation measured by the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// `Cache::get`.
    Get,
    /// `Cache::set`.
    Set,
    /// `Cache::delete`.
    Delete,
    /// `Cache::exists`.
    Exists,
    /// `Cache::ttl`.
    Ttl,
    /// `Cache::get_with_ttl`.
    GetWithTtl,
    /// `Cache::get_many`.
    GetMany,
    /// `Cache::set_many`.
    SetMany,
    /// `Cache::invalidate_pattern`.
    Invalidate,
    /// `Cache::clear`.
    Clear,
}

impl Operation {
    /// Every operation, in the order of snapshots and metrics.
    pub const ALL: [Self; 10] = [
        Self::Get,
        Self::Set,
        Self::Delete,
        Self::Exists,
        Self::Ttl,
        Self::GetWithTtl,
        Self::GetMany,
        Self::SetMany,
        Self::Invalidate,
        Self::Clear,
    ];

    /// The name used in snapshots and metric labels (`"get"`, `"get_many"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Set => "set",
            Self::Delete => "delete",
            Self::Exists => "exists",
            Self::Ttl => "ttl",
            Self::GetWithTtl => "get_with_ttl",
            Self::GetMany => "get_many",
            Self::SetMany => "set_many",
            Self::Invalidate => "invalidate",
            Self::Clear => "clear",
        }
    }

    /// Whether the operation is a read that counts hits and misses.
    pub const fn is_read(self) -> bool {
        matches!(self, Self::Get | Self::GetWithTtl | Self::GetMany)
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// Whether each successful call reads exactly one key, so its hits need no counter of their
    /// own: they are its calls minus its errors and misses.
    const fn single_read(self) -> bool {
        matches!(self, Self::Get | Self::GetWithTtl)
    }
}

/// Whether series `i` derives its hits (see [`Operation::single_read`]).
#[inline]
fn derives_hits(i: usize) -> bool {
    Operation::ALL.get(i).is_some_and(|op| op.single_read())
}

/// Histogram slots per time slot: the cache operations, then key generation.
pub(crate) const SERIES: usize = Operation::ALL.len() + 1;
/// The series of key generation timings.
pub(crate) const KEYGEN: usize = Operation::ALL.len();

/// Error kinds with their own counter; anything else counts as `"other"`.
pub(crate) const KINDS: [ErrorKind; ErrorKind::ALL.len()] = ErrorKind::ALL;

/// The label of error counter `i` (`KINDS` then `"other"`).
pub(crate) fn kind_name(i: usize) -> &'static str {
    KINDS.get(i).map_or("other", |k| k.as_str())
}

#[inline]
fn kind_index(kind: ErrorKind) -> usize {
    KINDS.iter().position(|k| *k == kind).unwrap_or(KINDS.len())
}

/// The nominal ladder of the Prometheus histogram buckets, in seconds (`+Inf` is implicit). Each
/// exported `le` is the edge of the recording histogram nearest below the nominal value (e.g.
/// 9.216 µs for 10 µs), so the exported counts are exact without a second counter per call.
pub(crate) const PROM_BUCKETS: [f64; 19] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The exported Prometheus buckets: `(le in seconds, number of recording-histogram buckets below
/// that edge)`.
pub(crate) fn prom_edges() -> Vec<(f64, usize)> {
    PROM_BUCKETS
        .iter()
        .map(|&nominal| {
            let index = histogram::bucket_of((nominal * 1e9) as u64);
            let (lower, _) = histogram::bucket_range(index);
            (lower as f64 / 1e9, index)
        })
        .collect()
}

fn zeros<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// The atomics of one series in one slot.
#[derive(Debug)]
struct Series {
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
    max_nanos: AtomicU64,
    min_nanos: AtomicU64,
    errors: AtomicU64,
    slow: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Series {
    fn new() -> Self {
        Self {
            buckets: zeros(),
            sum_nanos: AtomicU64::new(0),
            max_nanos: AtomicU64::new(0),
            min_nanos: AtomicU64::new(u64::MAX),
            errors: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    #[inline]
    fn record(&self, nanos: u64, slow: bool) {
        self.buckets[histogram::bucket_of(nanos)].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
        // Loads first: the read-modify-writes are rare once the extremes are established.
        if nanos > self.max_nanos.load(Relaxed) {
            self.max_nanos.fetch_max(nanos, Relaxed);
        }
        if nanos < self.min_nanos.load(Relaxed) {
            self.min_nanos.fetch_min(nanos, Relaxed);
        }
        if slow {
            self.slow.fetch_add(1, Relaxed);
        }
    }

    fn add_to(&self, agg: &mut SeriesAgg, derive_hits: bool) {
        let mut count = 0;
        for (a, b) in agg.counts.buckets.iter_mut().zip(&self.buckets) {
            let n = b.load(Relaxed);
            *a += n;
            count += n;
        }
        agg.counts.count += count;
        let c = &mut agg.counts;
        c.sum_nanos = c.sum_nanos.saturating_add(self.sum_nanos.load(Relaxed));
        c.max_nanos = c.max_nanos.max(self.max_nanos.load(Relaxed));
        c.min_nanos = c.min_nanos.min(self.min_nanos.load(Relaxed));
        let errors = self.errors.load(Relaxed);
        let misses = self.misses.load(Relaxed);
        agg.errors += errors;
        agg.slow += self.slow.load(Relaxed);
        agg.hits += if derive_hits {
            // Saturating: concurrent recorders bump the bucket before the miss or error counter.
            count.saturating_sub(errors).saturating_sub(misses)
        } else {
            self.hits.load(Relaxed)
        };
        agg.misses += misses;
    }

    fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
        self.sum_nanos.store(0, Relaxed);
        self.max_nanos.store(0, Relaxed);
        self.min_nanos.store(u64::MAX, Relaxed);
        self.errors.store(0, Relaxed);
        self.slow.store(0, Relaxed);
        self.hits.store(0, Relaxed);
        self.misses.store(0, Relaxed);
    }
}

/// One time slot: every series, plus errors by kind and key text lengths.
#[derive(Debug)]
struct Slot {
    /// The period this slot holds (`now / slot_len`); `u64::MAX` when never used.
    period: AtomicU64,
    series: [Series; SERIES],
    errors_by_kind: [AtomicU64; KINDS.len() + 1],
    text_len_sum: AtomicU64,
    text_len_max: AtomicU64,
}

impl Slot {
    fn new() -> Self {
        Self {
            period: AtomicU64::new(u64::MAX),
            series: std::array::from_fn(|_| Series::new()),
            errors_by_kind: zeros(),
            text_len_sum: AtomicU64::new(0),
            text_len_max: AtomicU64::new(0),
        }
    }

    fn add_to(&self, agg: &mut Agg) {
        for (i, (s, a)) in self.series.iter().zip(&mut agg.series).enumerate() {
            s.add_to(a, derives_hits(i));
        }
        for (a, b) in agg.errors_by_kind.iter_mut().zip(&self.errors_by_kind) {
            *a += b.load(Relaxed);
        }
        agg.text_len_sum += self.text_len_sum.load(Relaxed);
        agg.text_len_max = agg.text_len_max.max(self.text_len_max.load(Relaxed));
    }

    fn reset(&self) {
        self.series.iter().for_each(Series::reset);
        self.errors_by_kind.iter().for_each(|e| e.store(0, Relaxed));
        self.text_len_sum.store(0, Relaxed);
        self.text_len_max.store(0, Relaxed);
    }
}

/// Merged counts of one series.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeriesAgg {
    pub(crate) counts: Counts,
    pub(crate) errors: u64,
    pub(crate) slow: u64,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
}

/// Merged counts of several slots.
#[derive(Debug, Clone)]
pub(crate) struct Agg {
    pub(crate) series: Vec<SeriesAgg>,
    pub(crate) errors_by_kind: [u64; KINDS.len() + 1],
    pub(crate) text_len_sum: u64,
    pub(crate) text_len_max: u64,
}

impl Default for Agg {
    fn default() -> Self {
        Self {
            series: vec![SeriesAgg::default(); SERIES],
            errors_by_kind: [0; KINDS.len() + 1],
            text_len_sum: 0,
            text_len_max: 0,
        }
    }
}

impl Agg {
    /// The cache operations' series (key generation excluded).
    pub(crate) fn operations(&self) -> &[SeriesAgg] {
        &self.series[..KEYGEN]
    }

    /// Reads that found an entry.
    pub(crate) fn hits(&self) -> u64 {
        self.operations().iter().map(|s| s.hits).sum()
    }

    /// Reads that found nothing.
    pub(crate) fn misses(&self) -> u64 {
        self.operations().iter().map(|s| s.misses).sum()
    }

    /// All cache operations' counts merged into one histogram.
    pub(crate) fn all_operations(&self) -> SeriesAgg {
        let mut all = SeriesAgg::default();
        for s in self.operations() {
            all.counts.merge(&s.counts);
            all.errors += s.errors;
            all.slow += s.slow;
            all.hits += s.hits;
            all.misses += s.misses;
        }
        all
    }

    fn merge(&mut self, other: &Self) {
        for (a, b) in self.series.iter_mut().zip(&other.series) {
            a.counts.merge(&b.counts);
            a.errors += b.errors;
            a.slow += b.slow;
            a.hits += b.hits;
            a.misses += b.misses;
        }
        for (a, b) in self.errors_by_kind.iter_mut().zip(other.errors_by_kind) {
            *a += b;
        }
        self.text_len_sum += other.text_len_sum;
        self.text_len_max = self.text_len_max.max(other.text_len_max);
    }
}

/// What happened to a measured call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// A write or other non-read that succeeded.
    Ok,
    /// A read that succeeded, with its hits and misses (one key or a batch).
    Read { hits: u64, misses: u64 },
    /// A failed call.
    Error(ErrorKind),
}

/// A duration in nanoseconds, saturating (64-bit arithmetic only).
#[inline]
pub(crate) fn nanos_of(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// The ring of slots and the retired totals.
#[derive(Debug)]
pub(crate) struct Window {
    slots: Box<[Slot]>,
    slot_nanos: u64,
    /// The latest period seen and its slot index, packed as `period << 16 | index`, so the hot
    /// path finds its slot without a division (slots are at most 1440, periods under 2⁴⁸).
    current: AtomicU64,
    retired: Mutex<Agg>,
}

/// Bits of [`Window::current`] holding the slot index.
const INDEX_BITS: u32 = 16;

/// Snapshots of the window and of the totals since start.
#[derive(Debug, Clone)]
pub(crate) struct Merged {
    pub(crate) window: Agg,
    pub(crate) total: Agg,
}

impl Window {
    /// A window of `slots` slots of `retention / slots` each.
    pub(crate) fn new(retention: Duration, slots: usize) -> Self {
        let slot_nanos = (retention.as_nanos() / slots as u128).max(1) as u64;
        Self {
            slots: (0..slots).map(|_| Slot::new()).collect(),
            slot_nanos,
            current: AtomicU64::new(0),
            retired: Mutex::new(Agg::default()),
        }
    }

    /// The period containing `now` (64-bit arithmetic: a 128-bit division costs tens of ns).
    #[inline]
    fn period(&self, now: Duration) -> u64 {
        nanos_of(now) / self.slot_nanos
    }

    /// The slot of the period containing `now`, rotated if it held an older period.
    #[inline]
    fn slot(&self, now: u64) -> &Slot {
        // Fast path: `now` falls in the latest period seen, whose slot is cached. The pair is
        // checked against the slot's own period, so a stale or torn reading only costs the slow
        // path.
        let current = self.current.load(Relaxed);
        let period = current >> INDEX_BITS;
        if now.wrapping_sub(period.wrapping_mul(self.slot_nanos)) < self.slot_nanos {
            let index = (current & ((1 << INDEX_BITS) - 1)) as usize;
            if let Some(slot) = self.slots.get(index)
                && slot.period.load(Relaxed) == period
            {
                return slot;
            }
        }
        self.slot_slow(now)
    }

    #[cold]
    fn slot_slow(&self, now: u64) -> &Slot {
        let period = now / self.slot_nanos;
        let index = (period % self.slots.len() as u64) as usize;
        let slot = &self.slots[index];
        if slot.period.load(Relaxed) != period {
            self.rotate(slot, period);
        }
        // Only the latest period is cached: a recorder with an older clock reading leaves it.
        self.current
            .fetch_max((period << INDEX_BITS) | index as u64, Relaxed);
        slot
    }

    #[cold]
    fn rotate(&self, slot: &Slot, period: u64) {
        let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        let held = slot.period.load(Relaxed);
        // Only move forward: a recorder with a stale clock reading never wipes a newer slot.
        if held != u64::MAX && held >= period {
            return;
        }
        let mut old = Agg::default();
        slot.add_to(&mut old);
        retired.merge(&old);
        slot.reset();
        slot.period.store(period, Release);
    }

    /// Records one measured call of series `series`.
    #[inline]
    pub(crate) fn record(
        &self,
        now_nanos: u64,
        series: usize,
        elapsed: Duration,
        slow: bool,
        outcome: Outcome,
    ) {
        let nanos = nanos_of(elapsed);
        let slot = self.slot(now_nanos);
        let s = &slot.series[series];
        s.record(nanos, slow);
        match outcome {
            Outcome::Ok => {}
            Outcome::Read { hits, misses } => {
                // Single-key reads derive their hits (calls − errors − misses): one atomic fewer.
                if hits > 0 && !derives_hits(series) {
                    s.hits.fetch_add(hits, Relaxed);
                }
                if misses > 0 {
                    s.misses.fetch_add(misses, Relaxed);
                }
            }
            Outcome::Error(kind) => {
                s.errors.fetch_add(1, Relaxed);
                slot.errors_by_kind[kind_index(kind)].fetch_add(1, Relaxed);
            }
        }
    }

    /// Records the text length of a key generation (its timing goes through [`record`](Self::record)).
    pub(crate) fn record_text_len(&self, now: Duration, len: u64) {
        let slot = self.slot(nanos_of(now));
        slot.text_len_sum.fetch_add(len, Relaxed);
        slot.text_len_max.fetch_max(len, Relaxed);
    }

    /// The window ending at `now` and the totals since start.
    pub(crate) fn merged(&self, now: Duration) -> Merged {
        let current = self.period(now);
        let oldest = current.saturating_sub(self.slots.len() as u64 - 1);
        // Holding the rotation lock: no slot moves into the retired totals while we read.
        let retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        let mut window = Agg::default();
        let mut total = retired.clone();
        for slot in &self.slots {
            let period = slot.period.load(Relaxed);
            if period == u64::MAX {
                continue;
            }
            let mut one = Agg::default();
            slot.add_to(&mut one);
            if (oldest..=current).contains(&period) {
                window.merge(&one);
            }
            total.merge(&one);
        }
        drop(retired);
        Merged { window, total }
    }
}
