#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

fn keys(k: &[&str]) -> Scope {
    Scope::Keys(k.iter().map(|s| (*s).to_owned()).collect())
}

fn message(origin: InstanceId, seq: u64) -> Vec<u8> {
    Invalidation {
        v: VERSION,
        origin,
        seq,
        scope: keys(&["k"]),
    }
    .encode()
}

#[test]
fn every_scope_round_trips_and_the_wire_format_is_stable() {
    let p = Publisher::new(InstanceId(0x0123_4567_89ab_cdef_0011_2233_4455_6677));
    for scope in [
        keys(&["user:1", "user:2"]),
        Scope::Pattern("user:*".to_owned()),
        Scope::Tag("team-7".to_owned()),
        Scope::Clear,
    ] {
        let m = p.announce(scope);
        assert_eq!(Invalidation::decode(&m.encode()), Some(m));
    }
    let first = Publisher::new(InstanceId(0xff)).announce(keys(&["a"]));
    assert_eq!(
        String::from_utf8(first.encode()).unwrap(),
        r#"{"v":1,"origin":"000000000000000000000000000000ff","seq":1,"scope":{"keys":["a"]}}"#
    );
    let clear = Publisher::new(InstanceId(1)).announce(Scope::Clear);
    assert!(
        String::from_utf8(clear.encode())
            .unwrap()
            .ends_with(r#""scope":"clear"}"#)
    );
}

#[test]
fn the_borrowed_encoding_is_the_same_message() {
    let (owned, borrowed) = (Publisher::new(InstanceId(7)), Publisher::new(InstanceId(7)));
    let cases: [(Scope, ScopeRef<'_>); 5] = [
        (keys(&["user:1", "a\"b"]), ScopeRef::Keys(&["user:1", "a\"b"])),
        (keys(&[]), ScopeRef::Keys(&[])),
        (Scope::Pattern("user:*".to_owned()), ScopeRef::Pattern("user:*")),
        (Scope::Tag("té".to_owned()), ScopeRef::Tag("té")),
        (Scope::Clear, ScopeRef::Clear),
    ];
    for (scope, scope_ref) in cases {
        assert_eq!(owned.announce(scope).encode(), borrowed.encode_next(scope_ref));
    }
    assert_eq!(borrowed.announced(), 5);
}

#[test]
fn hostile_or_foreign_messages_do_not_decode() {
    let ok = r#"{"v":1,"origin":"000000000000000000000000000000ff","seq":1,"scope":"clear"}"#;
    assert!(Invalidation::decode(ok.as_bytes()).is_some());
    for bad in [
        r#"{"v":2,"origin":"000000000000000000000000000000ff","seq":1,"scope":"clear"}"#,
        r#"{"v":1,"origin":"000000000000000000000000000000ff","seq":0,"scope":"clear"}"#,
        r#"{"v":1,"origin":"ff","seq":1,"scope":"clear"}"#,
        r#"{"v":1,"origin":"zz000000000000000000000000000000","seq":1,"scope":"clear"}"#,
        r#"{"v":1,"origin":"000000000000000000000000000000ff","seq":1,"scope":"clear","x":1}"#,
        r#"{"v":1,"origin":"000000000000000000000000000000ff","seq":1,"scope":{"values":["secret"]}}"#,
        "not json",
        "",
    ] {
        assert_eq!(Invalidation::decode(bad.as_bytes()), None, "{bad}");
    }
    let huge = format!(
        r#"{{"v":1,"origin":"000000000000000000000000000000ff","seq":1,"scope":{{"pattern":"{}"}}}}"#,
        "a".repeat(MAX_MESSAGE_BYTES)
    );
    assert_eq!(Invalidation::decode(huge.as_bytes()), None);
    let mut r = Receiver::new(InstanceId(7));
    assert_eq!(
        r.receive(b"garbage", Instant::now()),
        Action::Flush(FlushReason::Undecodable)
    );
}

#[test]
fn own_messages_are_skipped_and_in_order_ones_applied() {
    let (me, other) = (InstanceId(1), InstanceId(2));
    let mut r = Receiver::new(me);
    let now = Instant::now();
    assert_eq!(r.receive(&message(me, 1), now), Action::Own);
    // The first message of a publisher may carry any number: we subscribed after its start.
    for seq in 40..45 {
        assert_eq!(r.receive(&message(other, seq), now), Action::Apply(keys(&["k"])));
    }
    assert_eq!(r.tick(now + REORDER_GRACE * 4), None);
}

#[test]
fn a_reordered_message_is_waited_for_and_a_lost_one_flushes_after_the_grace() {
    let other = InstanceId(2);
    let now = Instant::now();
    let mut r = Receiver::new(InstanceId(1));
    r.receive(&message(other, 1), now);
    r.receive(&message(other, 3), now);
    assert_eq!(r.tick(now + REORDER_GRACE / 2), None, "within the grace");
    assert_eq!(
        r.receive(&message(other, 2), now + REORDER_GRACE / 2),
        Action::Apply(keys(&["k"]))
    );
    assert_eq!(r.tick(now + REORDER_GRACE * 2), None, "2 arrived late");

    r.receive(&message(other, 5), now);
    assert_eq!(r.tick(now + REORDER_GRACE - Duration::from_millis(1)), None);
    assert_eq!(r.tick(now + REORDER_GRACE), Some(Action::Flush(FlushReason::Gap)));
    // The flush forgets: the next message starts a new baseline.
    assert_eq!(r.receive(&message(other, 9), now), Action::Apply(keys(&["k"])));
    assert_eq!(r.tick(now + REORDER_GRACE * 10), None);
}

#[test]
fn a_large_skip_a_disconnect_and_too_many_publishers_flush_at_once() {
    let other = InstanceId(2);
    let now = Instant::now();
    let mut r = Receiver::new(InstanceId(1));
    r.receive(&message(other, 1), now);
    let far = 2 + MAX_MISSING as u64 + 1;
    assert_eq!(
        r.receive(&message(other, far), now),
        Action::Flush(FlushReason::Gap)
    );

    r.receive(&message(other, 1), now);
    assert_eq!(r.disconnected(), Action::Flush(FlushReason::Disconnected));
    assert_eq!(r.receive(&message(other, 50), now), Action::Apply(keys(&["k"])));

    let mut r = Receiver::new(InstanceId(u128::MAX));
    for i in 0..MAX_PUBLISHERS as u128 {
        assert_eq!(
            r.receive(&message(InstanceId(i), 1), now),
            Action::Apply(keys(&["k"]))
        );
    }
    assert_eq!(
        r.receive(&message(InstanceId(u128::MAX - 1), 1), now),
        Action::Flush(FlushReason::TooManyPublishers)
    );
}

#[test]
fn a_publisher_numbers_from_one_without_repeats_across_threads() {
    let p = std::sync::Arc::new(Publisher::new(InstanceId::random()));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                (0..1000)
                    .map(|_| p.announce(Scope::Clear).seq)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=4000).collect::<Vec<_>>());
}

#[test]
fn ids_are_random_and_channels_namespaced() {
    let ids: std::collections::HashSet<_> = (0..1000).map(|_| InstanceId::random()).collect();
    assert_eq!(ids.len(), 1000);
    assert_eq!(channel("web"), "stratacache:invalidate:web");
    assert_eq!(FlushReason::TooManyPublishers.as_str(), "too_many_publishers");
}

proptest! {
    /// Any order of one publisher's messages, delivered within the grace, never flushes; drop
    /// any one of them (but the last) and the receiver flushes once the grace has passed.
    #[test]
    fn reordering_never_flushes_and_any_loss_does(
        order in (2..60u64).prop_flat_map(|n| Just((1..=n).collect::<Vec<_>>()).prop_shuffle()),
        lose in any::<prop::sample::Index>(),
    ) {
        let (other, now) = (InstanceId(2), Instant::now());
        let mut r = Receiver::new(InstanceId(1));
        // The first delivered message is the baseline: start from seq 1 so the baseline is known.
        r.receive(&message(other, 1), now);
        for seq in order.iter().filter(|s| **s != 1) {
            prop_assert_eq!(r.receive(&message(other, *seq), now), Action::Apply(keys(&["k"])));
        }
        prop_assert_eq!(r.tick(now + REORDER_GRACE * 2), None);

        let mut r = Receiver::new(InstanceId(1));
        r.receive(&message(other, 1), now);
        let n = *order.iter().max().unwrap();
        let lost = 2 + lose.index((n - 2) as usize + 1) as u64 % (n - 1);
        for seq in order.iter().filter(|s| **s != 1 && **s != lost) {
            r.receive(&message(other, *seq), now);
        }
        let expected = if lost == n { None } else { Some(Action::Flush(FlushReason::Gap)) };
        prop_assert_eq!(r.tick(now + REORDER_GRACE), expected);
    }
}
