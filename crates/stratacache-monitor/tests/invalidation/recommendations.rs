//! Each recommendation appears exactly when its condition holds.

use stratacache_monitor::invalidation::{InvalidationConfig, RecommendationList, Severity};

use super::{HOUR, MS, issues, keys, thresholds, tracker};

#[test]
fn high_frequency_follows_the_alert_level() {
    let (t, clock) = tracker(thresholds(5, 10));
    for i in 0..4 {
        t.record(&format!("k{i}"), 5, MS, "");
    }
    assert_eq!(issues(&t), []);
    t.record("k4", 5, MS, "");
    assert_eq!(issues(&t), [("high_frequency".to_owned(), Severity::Medium)]);
    for i in 5..10 {
        t.record(&format!("k{i}"), 5, MS, "");
    }
    assert_eq!(issues(&t), [("high_frequency".to_owned(), Severity::High)]);
    let rec = &t.recommendations()[0];
    assert!(
        rec.message.contains("10 invalidations in the last hour"),
        "{}",
        rec.message
    );
    assert!(
        rec.message.contains("critical threshold of 10"),
        "{}",
        rec.message
    );
    assert!(rec.suggestions.len() >= 3);
    clock.advance(HOUR);
    assert_eq!(issues(&t), []);
}

#[test]
fn dominant_pattern_needs_a_majority_of_enough_events() {
    let (t, _clock) = tracker(InvalidationConfig::default());
    for _ in 0..9 {
        t.record("hot:*", 5, MS, "");
    }
    assert_eq!(issues(&t), [], "9 events are too few");
    t.record("cold", 5, MS, "");
    assert_eq!(issues(&t), [("dominant_pattern".to_owned(), Severity::Medium)]);
    let rec = &t.recommendations()[0];
    assert!(
        rec.message.contains("`hot:*` accounts for 9 of 10"),
        "{}",
        rec.message
    );
    assert!(rec.suggestions.iter().any(|s| s.contains("hot:*")));

    // Exactly half is not a majority.
    let (t, _clock) = tracker(InvalidationConfig::default());
    for i in 0..10 {
        t.record(if i % 2 == 0 { "half" } else { "other-half" }, 5, MS, "");
    }
    assert_eq!(issues(&t), []);

    // "(other)" is not a pattern.
    let config = InvalidationConfig {
        max_patterns: 1,
        ..InvalidationConfig::default()
    };
    let (t, _clock) = tracker(config);
    for i in 0..12 {
        t.record(&format!("k{i}"), 5, MS, "");
    }
    assert_eq!(t.snapshot().patterns.most_common_patterns[0].pattern, "(other)");
    assert_eq!(issues(&t), []);
}

#[test]
fn low_efficiency_below_one_key_per_invalidation() {
    let (t, clock) = tracker(InvalidationConfig::default());
    for i in 0..9 {
        t.record(&format!("k{i}"), 0, MS, "");
    }
    assert_eq!(issues(&t), [], "9 events are too few");
    t.record("k9", 9, MS, ""); // 9 keys over 10 invalidations
    assert_eq!(issues(&t), [("low_efficiency".to_owned(), Severity::Low)]);
    assert!(t.recommendations()[0].message.contains("0.90 keys"));
    clock.advance(24 * HOUR);
    assert_eq!(issues(&t), [], "the window is empty again");

    let (t, _clock) = tracker(InvalidationConfig::default());
    for i in 0..10 {
        t.record(&format!("k{i}"), 1, MS, "");
    }
    assert_eq!(issues(&t), [], "exactly one key each is fine");
}

#[test]
fn high_impact_above_a_hundred_keys_per_invalidation() {
    let (t, _clock) = tracker(InvalidationConfig::default());
    for i in 0..10 {
        t.record(&format!("k{i}"), 100, MS, "");
    }
    assert_eq!(issues(&t), [], "exactly 100 keys each is not above");
    t.record("k10", 12, MS, ""); // (1000 + 12) / 11 = 92
    t.record("big", 2_000, MS, ""); // 3012 / 12 = 251
    assert_eq!(issues(&t), [("high_impact".to_owned(), Severity::Medium)]);
    assert!(t.recommendations()[0].message.contains("251.0 keys"));

    let (t, _clock) = tracker(InvalidationConfig::default());
    for i in 0..9 {
        t.record(&format!("k{i}"), 5_000, MS, "");
    }
    assert_eq!(issues(&t), [], "9 events are too few");
}

#[test]
fn several_recommendations_come_in_a_fixed_order() {
    let (t, _clock) = tracker(thresholds(5, 10));
    for _ in 0..12 {
        t.record("all:*", 500, MS, "");
    }
    let got: Vec<String> = issues(&t).into_iter().map(|(issue, _)| issue).collect();
    assert_eq!(got, ["high_frequency", "dominant_pattern", "high_impact"]);
    let body = serde_json::to_value(RecommendationList::from(t.recommendations())).expect("json");
    let first = &body["recommendations"][0];
    assert_eq!(first["severity"], "high");
    assert_eq!(first["issue"], "high_frequency");
    assert!(first["message"].is_string() && first["suggestions"].is_array());
    assert_eq!(keys(first), ["issue", "message", "severity", "suggestions"]);
}
