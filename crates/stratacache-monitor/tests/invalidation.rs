//! Invalidation analytics on a manual clock: windows, alert levels, patterns, efficiency,
//! recommendations, bounded memory, concurrency and the JSON shape.

// Submodules live in `tests/invalidation/` (a crate root looks for `mod` files beside itself).
#[path = "invalidation/concurrency.rs"]
mod concurrency;
#[path = "invalidation/recommendations.rs"]
mod recommendations;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stratacache_core::ErrorKind;
use stratacache_monitor::ManualClock;
use stratacache_monitor::invalidation::{
    AlertLevel, InvalidationConfig, InvalidationStats, InvalidationTracker, PatternType, Severity,
};

/// 2026-11-21T09:30:00Z, on a minute boundary.
const T0: Duration = Duration::from_secs(1_795_253_400);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3_600);
const MS: Duration = Duration::from_millis(1);

fn tracker(config: InvalidationConfig) -> (InvalidationTracker, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let tracker = InvalidationTracker::with_clock(config, clock.clone()).expect("valid config");
    (tracker, clock)
}

fn thresholds(warning: u64, critical: u64) -> InvalidationConfig {
    InvalidationConfig {
        warning_per_hour: warning,
        critical_per_hour: critical,
        ..InvalidationConfig::default()
    }
}

fn rates(t: &InvalidationTracker) -> (u64, u64) {
    let s = t.snapshot();
    (s.rates.last_hour, s.rates.last_24_hours)
}

fn issues(t: &InvalidationTracker) -> Vec<(String, Severity)> {
    t.recommendations()
        .into_iter()
        .map(|r| (r.issue, r.severity))
        .collect()
}

#[test]
fn rates_age_out_of_the_hour_then_of_the_day() {
    let (t, clock) = tracker(InvalidationConfig::default());
    for _ in 0..3 {
        t.record("a:*", 1, MS, "");
    }
    clock.advance(Duration::from_secs(59)); // still the first minute
    t.record("a:*", 1, MS, "");
    assert_eq!(
        t.snapshot().rates.average_per_hour,
        4.0,
        "at least one hour is covered"
    );
    clock.set(T0 + 30 * MINUTE);
    t.record("b:*", 1, MS, "");
    assert_eq!(rates(&t), (5, 5));
    clock.set(T0 + 60 * MINUTE - Duration::from_secs(1));
    assert_eq!(rates(&t), (5, 5), "59:59 after the first events");
    clock.set(T0 + 60 * MINUTE);
    assert_eq!(rates(&t), (1, 5), "the first minute left the last hour");
    clock.set(T0 + 2 * HOUR);
    assert_eq!(rates(&t), (0, 5));
    assert_eq!(t.snapshot().rates.average_per_hour, 2.5, "5 over 2 hours");
    clock.set(T0 + 24 * HOUR - Duration::from_secs(1));
    assert_eq!(rates(&t), (0, 5));
    assert!((t.snapshot().rates.average_per_hour - 5.0 / 24.0).abs() < 0.01);
    clock.set(T0 + 24 * HOUR);
    assert_eq!(rates(&t), (0, 1), "the first minute left the last 24 hours");
    clock.set(T0 + 24 * HOUR + 30 * MINUTE);
    assert_eq!(rates(&t), (0, 0));
    clock.set(T0 + 100 * HOUR);
    t.record("c", 1, MS, "");
    let s = t.snapshot();
    assert_eq!((s.rates.last_hour, s.rates.last_24_hours), (1, 1));
    assert_eq!(s.rates.average_per_hour, 1.0 / 24.0, "capped at 24 hours");
    assert_eq!(s.total_invalidations, 6, "totals are exact since start");
}

#[test]
fn a_shorter_retention_bounds_the_long_window() {
    let config = InvalidationConfig {
        retention: 2 * HOUR,
        ..InvalidationConfig::default()
    };
    let (t, clock) = tracker(config);
    t.record("a", 1, MS, "");
    clock.advance(90 * MINUTE);
    t.record("a", 1, MS, "");
    assert_eq!(rates(&t), (1, 2));
    assert_eq!(t.snapshot().rates.average_per_hour, 2.0 / 1.5);
    clock.advance(2 * HOUR);
    assert_eq!(rates(&t), (0, 0));
    assert_eq!(t.snapshot().total_invalidations, 2);
}

#[test]
fn alert_level_transitions_as_time_passes() {
    let (t, clock) = tracker(thresholds(5, 10));
    assert_eq!(t.alert_level(), AlertLevel::Normal);
    for i in 0..10 {
        t.record(&format!("k{i}"), 1, MS, "");
        let expected = match i + 1 {
            0..5 => AlertLevel::Normal,
            5..10 => AlertLevel::Warning,
            _ => AlertLevel::Critical,
        };
        assert_eq!(t.alert_level(), expected, "after {} events", i + 1);
        assert_eq!(t.snapshot().thresholds.current_alert_level, expected);
        clock.advance(5 * MINUTE);
    }
    // Events were at minutes 0, 5, ..., 45; now is minute 50.
    clock.set(T0 + 61 * MINUTE); // minutes 0 and 5 are out: 8 left
    assert_eq!(t.alert_level(), AlertLevel::Warning);
    clock.set(T0 + 86 * MINUTE); // minutes 0..=25 are out: 4 left
    assert_eq!(t.alert_level(), AlertLevel::Normal);
    let s = t.snapshot().thresholds;
    assert_eq!((s.warning_per_hour, s.critical_per_hour), (5, 10));
}

#[test]
fn most_common_patterns_are_ordered_and_capped() {
    let config = InvalidationConfig {
        max_patterns: 12,
        ..InvalidationConfig::default()
    };
    let (t, _clock) = tracker(config);
    // Pattern p{i} is used i + 1 times, p00 first: p00..p11 fill the table.
    for i in 0..15 {
        for _ in 0..=i {
            t.record(&format!("p{i:02}"), 1, MS, "");
        }
    }
    let top: Vec<(String, u64)> = t
        .snapshot()
        .patterns
        .most_common_patterns
        .into_iter()
        .map(|p| (p.pattern, p.count))
        .collect();
    // p12..p14 (13 + 14 + 15 uses) are counted together.
    let mut expected = vec![("(other)".to_owned(), 42)];
    expected.extend((2..=11).rev().map(|i| (format!("p{i:02}"), i + 1)));
    expected.truncate(10);
    assert_eq!(top, expected);

    let (t, _clock) = tracker(InvalidationConfig::default());
    for p in ["b", "a", "c", "a", "b"] {
        t.record(p, 1, MS, "");
    }
    let top: Vec<_> = t
        .snapshot()
        .patterns
        .most_common_patterns
        .into_iter()
        .map(|p| (p.pattern, p.count))
        .collect();
    assert_eq!(
        top,
        [("a".to_owned(), 2), ("b".to_owned(), 2), ("c".to_owned(), 1)],
        "ties by pattern"
    );
}

#[test]
fn invalidation_types_are_counted() {
    let (t, _clock) = tracker(InvalidationConfig::default());
    let patterns = ["user:1", "user:2", "user:*", "*:v2", "*chat*", "user:[0-9]*", "*"];
    for p in patterns {
        t.record(p, 1, MS, "");
    }
    let types = t.snapshot().patterns.invalidation_types;
    let got: Vec<u64> = [
        PatternType::Exact,
        PatternType::Prefix,
        PatternType::Suffix,
        PatternType::Contains,
        PatternType::Glob,
        PatternType::All,
    ]
    .into_iter()
    .map(|ty| types.get(ty))
    .collect();
    assert_eq!(got, [2, 1, 1, 1, 1, 1]);
    let json = serde_json::to_value(types).expect("serialize");
    assert_eq!(
        json,
        serde_json::json!({"exact": 2, "prefix": 1, "suffix": 1, "contains": 1, "glob": 1, "all": 1})
    );
}

#[test]
fn efficiency_covers_the_window() {
    let (t, clock) = tracker(InvalidationConfig::default());
    let e = t.snapshot().efficiency;
    assert_eq!(
        (e.avg_keys_per_invalidation, e.avg_duration, e.max_duration),
        (0.0, 0.0, 0.0)
    );
    t.record("a", 1, Duration::from_millis(10), "");
    t.record("b", 2, Duration::from_millis(20), "");
    clock.advance(3 * HOUR);
    t.record("c", 6, Duration::from_millis(90), "");
    let s = t.snapshot();
    assert_eq!(s.efficiency.avg_keys_per_invalidation, 3.0);
    assert!((s.efficiency.avg_duration - 0.04).abs() < 1e-12);
    assert!((s.efficiency.max_duration - 0.09).abs() < 1e-12);
    assert_eq!((s.total_invalidations, s.total_keys_invalidated), (3, 9));
    clock.advance(22 * HOUR); // the first two left the last 24 hours
    let s = t.snapshot();
    assert_eq!(s.efficiency.avg_keys_per_invalidation, 6.0);
    assert!((s.efficiency.max_duration - 0.09).abs() < 1e-12);
    assert_eq!((s.total_invalidations, s.total_keys_invalidated), (3, 9));
}

#[test]
fn recent_events_are_a_bounded_ring() {
    let config = InvalidationConfig {
        recent_events: 3,
        ..InvalidationConfig::default()
    };
    let (t, clock) = tracker(config);
    for i in 0..5_u64 {
        t.record(
            &format!("p{i}"),
            i,
            Duration::from_millis(250 * i),
            &format!("op{i}"),
        );
        clock.advance(Duration::from_secs(90));
    }
    let recent = t.snapshot().recent;
    let got: Vec<_> = recent
        .iter()
        .map(|e| {
            (
                e.pattern.as_str(),
                e.keys_invalidated,
                e.duration,
                e.operation_context.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("p2", 2, 0.5, "op2"),
            ("p3", 3, 0.75, "op3"),
            ("p4", 4, 1.0, "op4")
        ]
    );
    let stamps: Vec<_> = recent.iter().map(|e| e.timestamp.as_str()).collect();
    assert_eq!(
        stamps,
        [
            "2026-11-21T09:33:00Z",
            "2026-11-21T09:34:30Z",
            "2026-11-21T09:36:00Z"
        ]
    );

    let long = "x".repeat(10_000);
    t.record(&long, 1, MS, &long);
    let s = t.snapshot();
    let last = s.recent.last().expect("an event");
    assert_eq!((last.pattern.len(), last.operation_context.len()), (256, 256));
    let stored = s
        .patterns
        .most_common_patterns
        .iter()
        .find(|p| p.pattern.starts_with('x'));
    assert_eq!(stored.map(|p| p.pattern.len()), Some(256));

    let config = InvalidationConfig {
        recent_events: 0,
        ..InvalidationConfig::default()
    };
    let (t, _clock) = tracker(config);
    t.record("a", 1, MS, "");
    let s = t.snapshot();
    assert!(s.recent.is_empty());
    assert_eq!(s.total_invalidations, 1);
}

#[test]
fn invalid_configurations_list_every_problem() {
    let config = InvalidationConfig {
        retention: Duration::from_secs(30),
        warning_per_hour: 0,
        critical_per_hour: 0,
        max_patterns: 0,
        recent_events: 10_001,
    };
    let err = InvalidationTracker::new(config).expect_err("invalid");
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let msg = err.to_string();
    for part in [
        "retention = 30s is out of range (accepted: 3600s..=86400s",
        "warning_per_hour = 0 is out of range (accepted: >= 1)",
        "critical_per_hour = 0 is out of range (accepted: >= 1 and >= warning_per_hour = 0)",
        "max_patterns = 0 is out of range (accepted: 1..=65536)",
        "recent_events = 10001 is out of range (accepted: 0..=10000)",
    ] {
        assert!(msg.contains(part), "{part:?} missing from {msg}");
    }
    let err = thresholds(100, 50)
        .validate()
        .expect_err("critical below warning");
    assert!(
        err.to_string().ends_with(
            "critical_per_hour = 50 is out of range (accepted: >= 1 and >= warning_per_hour = 100)"
        ),
        "{err}"
    );
    assert!(
        InvalidationConfig {
            retention: 25 * HOUR,
            ..InvalidationConfig::default()
        }
        .validate()
        .is_err()
    );
    thresholds(7, 7)
        .validate()
        .expect("equal thresholds are accepted");
    InvalidationTracker::new(InvalidationConfig::default()).expect("system clock");
}

fn keys(v: &Value) -> Vec<&str> {
    let keys: BTreeSet<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.into_iter().collect()
}

#[test]
fn json_has_the_reference_shape() {
    let (t, _clock) = tracker(InvalidationConfig::default());
    t.record("user:*", 4, Duration::from_millis(1_500), "profile update");
    let stats = t.snapshot();
    let v = serde_json::to_value(&stats).expect("serialize");
    assert_eq!(
        keys(&v),
        [
            "efficiency",
            "patterns",
            "rates",
            "recent",
            "thresholds",
            "total_invalidations",
            "total_keys_invalidated"
        ]
    );
    assert_eq!(
        keys(&v["rates"]),
        ["average_per_hour", "last_24_hours", "last_hour"]
    );
    assert_eq!(
        keys(&v["thresholds"]),
        ["critical_per_hour", "current_alert_level", "warning_per_hour"]
    );
    assert_eq!(
        keys(&v["patterns"]),
        ["invalidation_types", "most_common_patterns"]
    );
    assert_eq!(
        keys(&v["efficiency"]),
        ["avg_duration", "avg_keys_per_invalidation", "max_duration"]
    );
    assert_eq!(
        keys(&v["recent"][0]),
        [
            "duration",
            "keys_invalidated",
            "operation_context",
            "pattern",
            "timestamp"
        ]
    );
    assert_eq!(v["thresholds"]["current_alert_level"], "normal");
    assert_eq!(
        v["patterns"]["most_common_patterns"][0],
        serde_json::json!({"pattern": "user:*", "count": 1})
    );
    assert_eq!(v["efficiency"]["max_duration"], 1.5);
    assert_eq!(v["recent"][0]["timestamp"], "2026-11-21T09:30:00Z");
    assert_eq!(v["recent"][0]["duration"], 1.5);
    assert!(v["rates"]["average_per_hour"].is_f64());
    let back: InvalidationStats = serde_json::from_value(v).expect("deserialize");
    assert_eq!(back, stats);
}
