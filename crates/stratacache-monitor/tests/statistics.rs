//! Percentiles against known distributions and retention expiry, with synthetic latencies and a
//! `ManualClock` (no sleeps).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use stratacache_core::ErrorKind;
use stratacache_monitor::{ManualClock, Monitor, MonitorConfig, Operation};

fn monitor(clock: &ManualClock) -> Monitor {
    Monitor::with_clock(MonitorConfig::default(), Arc::new(clock.clone())).unwrap()
}

fn clock() -> ManualClock {
    ManualClock::new(Duration::from_secs(1_795_253_400))
}

/// `actual` within `tolerance` (relative) of `expected` seconds.
fn close(actual: Option<f64>, expected: f64, tolerance: f64) {
    let actual = actual.unwrap();
    assert!(
        (actual - expected).abs() <= expected * tolerance,
        "{actual} is not within {tolerance} of {expected}"
    );
}

#[test]
fn percentiles_of_a_uniform_distribution() {
    let m = monitor(&clock());
    // 1 ms, 2 ms, ..., 1000 ms.
    for i in 1..=1_000u64 {
        m.record_latency(Operation::Get, Duration::from_millis(i));
    }
    let s = m.snapshot(None);
    let get = &s.cache_operations.by_operation_type["get"];
    assert_eq!(get.count, 1_000);
    close(get.p50, 0.5, 0.0625);
    close(get.p95, 0.95, 0.0625);
    close(get.p99, 0.99, 0.0625);
    // Mean, max and min are exact.
    close(get.avg_duration, 0.5005, 1e-9);
    assert_eq!(get.max_duration, Some(1.0));
    assert_eq!(get.min_duration, Some(0.001));
    // Slow above 50 ms: 51 ms to 1000 ms, 950 of them.
    assert_eq!(get.slow_operations, 950);
    assert_eq!(s.cache_operations.slow_operations, 950);
}

#[test]
fn percentiles_of_a_skewed_distribution_across_operations() {
    let m = monitor(&clock());
    // 90 % at 100 µs, 9 % at 10 ms, 1 % at 2 s; spread over get and set.
    for i in 0..10_000u32 {
        let d = match i % 100 {
            0 => Duration::from_secs(2),
            1..=9 => Duration::from_millis(10),
            _ => Duration::from_micros(100),
        };
        let op = if i % 2 == 0 {
            Operation::Get
        } else {
            Operation::Set
        };
        m.record_latency(op, d);
    }
    let ops = m.snapshot(None).cache_operations;
    assert_eq!(ops.total_operations, 10_000);
    close(ops.p50, 0.000_1, 0.0625);
    close(ops.median_duration, 0.000_1, 0.0625);
    close(ops.p95, 0.01, 0.0625);
    close(ops.p99, 0.01, 0.0625);
    assert_eq!(ops.max_duration, Some(2.0));
    assert_eq!(ops.slow_operations, 100);
    // Microsecond and minute-scale values stay within the histogram's range.
    let m = monitor(&clock());
    m.record_latency(Operation::Delete, Duration::from_nanos(700));
    m.record_latency(Operation::Delete, Duration::from_secs(90));
    let del = &m.snapshot(None).cache_operations.by_operation_type["delete"];
    assert_eq!(del.min_duration, Some(0.000_000_7));
    assert_eq!(del.p99, Some(90.0));
}

#[test]
fn old_slots_leave_the_window() {
    let clock = clock();
    let m = monitor(&clock);
    for _ in 0..10 {
        m.record_latency(Operation::Set, Duration::from_secs(1));
        m.record_read(Operation::Get, Duration::from_millis(1), 1, 0);
    }
    m.record_error(Operation::Get, Duration::from_millis(1), ErrorKind::Timeout);
    clock.advance(Duration::from_secs(30 * 60));
    for _ in 0..5 {
        m.record_read(Operation::Get, Duration::from_millis(1), 0, 1);
    }
    let s = m.snapshot(None);
    assert_eq!(s.total_cache_operations, 26);
    assert_eq!((s.cache_hits, s.cache_misses), (10, 5));
    assert_eq!(s.cache_operations.max_duration, Some(1.0));

    // 59 minutes after the first batch it is still in the window (60 one-minute slots).
    clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(m.snapshot(None).total_cache_operations, 26);
    // An hour later, the first batch is gone; the second stays.
    clock.advance(Duration::from_secs(60));
    let s = m.snapshot(None);
    assert_eq!(s.total_cache_operations, 5);
    assert_eq!((s.cache_hits, s.cache_misses), (0, 5));
    assert_eq!(s.hit_ratio, Some(0.0));
    assert_eq!(s.cache_operations.max_duration, Some(0.001));
    assert!(s.cache_operations.errors_by_kind.is_empty());
    assert!(!s.cache_operations.by_operation_type.contains_key("set"));
    // Totals since start keep everything.
    assert_eq!(s.since_start.operations, 26);
    assert_eq!(
        (s.since_start.hits, s.since_start.misses, s.since_start.errors),
        (10, 5, 1)
    );

    // Recording in a reused slot retires its old contents into the totals, exactly.
    clock.advance(Duration::from_secs(3 * 3_600));
    m.record_latency(Operation::Clear, Duration::from_millis(3));
    let s = m.snapshot(None);
    assert_eq!(s.total_cache_operations, 1);
    assert_eq!(s.since_start.operations, 27);
    assert_eq!(s.since_start.hit_ratio, Some(10.0 / 15.0));
    // Prometheus counters are since start too.
    let text = m.render_prometheus(None);
    assert!(
        text.contains("stratacache_operations_total{op=\"get\",result=\"ok\"} 15"),
        "{text}"
    );
    assert!(
        text.contains("stratacache_operations_total{op=\"get\",result=\"error\"} 1"),
        "{text}"
    );
}

#[test]
fn a_clock_going_back_does_not_wipe_newer_slots() {
    let clock = clock();
    let m = monitor(&clock);
    m.record_latency(Operation::Get, Duration::from_millis(1));
    clock.set(Duration::from_secs(1_795_253_400 - 3_600));
    m.record_latency(Operation::Get, Duration::from_millis(1));
    clock.set(Duration::from_secs(1_795_253_400));
    let s = m.snapshot(None);
    assert_eq!(s.since_start.operations, 2);
    assert!(s.total_cache_operations >= 1);
}

#[test]
fn memory_status_follows_the_thresholds() {
    let m = monitor(&clock());
    assert_eq!(m.snapshot(None).memory_usage.status, "unknown");
    m.record_redis_memory(60 * 1024 * 1024);
    let s = m.snapshot(None);
    assert_eq!(s.memory_usage.status, "warning");
    assert_eq!(
        s.memory_usage.current.redis_used_memory_bytes,
        Some(60 * 1024 * 1024)
    );
    m.record_redis_memory(100 * 1024 * 1024);
    assert_eq!(m.snapshot(None).memory_usage.status, "critical");
    m.record_redis_memory(1024);
    assert_eq!(m.snapshot(None).memory_usage.status, "normal");
}
