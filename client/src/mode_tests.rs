//! The mode rules with a fixed clock: `now` is a base instant plus offsets.

use super::*;
use proptest::prelude::*;
use scangate_core::wire::{ErrorCode, WireError};

fn tracker() -> ModeTracker {
    ModeTracker::new(ModeConfig::default()).expect("defaults are valid")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn fast() -> Attempt {
    Attempt::Answered { latency: ms(5) }
}

fn slow() -> Attempt {
    Attempt::Answered {
        latency: ms(DEFAULT_SLOW_ANSWER_MS + 1),
    }
}

#[test]
fn online_by_default_and_every_scan_tries_the_gateway() {
    let t0 = Instant::now();
    let mut t = tracker();
    assert_eq!(t.mode(), Mode::Online);
    for i in 0..100 {
        assert!(t.try_online(t0 + ms(i)));
    }
}

#[test]
fn consecutive_failures_switch_to_offline_and_an_answer_resets_the_count() {
    let t0 = Instant::now();
    let mut t = tracker();
    let n = DEFAULT_FAILURES_TO_OFFLINE;
    for _ in 1..n {
        assert_eq!(t.record(Attempt::TimedOut, t0), Mode::Online);
    }
    assert_eq!(t.record(fast(), t0), Mode::Online, "an answer resets");
    for _ in 1..n {
        assert_eq!(t.record(Attempt::Refused, t0), Mode::Online);
    }
    assert_eq!(t.record(Attempt::ConnectionLost, t0), Mode::Offline);
}

#[test]
fn enough_slow_answers_in_the_window_switch_to_offline() {
    let t0 = Instant::now();
    let mut t = tracker();
    let (k, m) = (DEFAULT_SLOW_TO_OFFLINE, DEFAULT_SLOW_WINDOW);
    // k - 1 slow answers, then a whole window of fast ones pushes them out.
    for _ in 1..k {
        assert_eq!(t.record(slow(), t0), Mode::Online);
    }
    for _ in 0..m {
        assert_eq!(t.record(fast(), t0), Mode::Online);
    }
    // Slow answers mixed with fast ones: the k-th slow within the window switches.
    for i in 1..k {
        assert_eq!(t.record(slow(), t0), Mode::Online, "slow answer {i}");
        assert_eq!(t.record(fast(), t0), Mode::Online);
    }
    assert_eq!(t.record(slow(), t0), Mode::Offline);
}

#[test]
fn an_answer_exactly_at_the_threshold_is_not_slow() {
    let t0 = Instant::now();
    let mut t = tracker();
    let at = Attempt::Answered {
        latency: ms(DEFAULT_SLOW_ANSWER_MS),
    };
    for _ in 0..DEFAULT_SLOW_WINDOW * 2 {
        assert_eq!(t.record(at, t0), Mode::Online);
    }
}

fn offline_at(t0: Instant) -> ModeTracker {
    let mut t = tracker();
    for _ in 0..DEFAULT_FAILURES_TO_OFFLINE {
        t.record(Attempt::TimedOut, t0);
    }
    assert_eq!(t.mode(), Mode::Offline);
    t
}

#[test]
fn offline_probes_at_most_once_per_interval() {
    let t0 = Instant::now();
    let mut t = offline_at(t0);
    let interval = ms(DEFAULT_PROBE_INTERVAL_MS);
    assert!(!t.try_online(t0), "no probe right after going offline");
    assert!(!t.try_online(t0 + interval - ms(1)));
    assert!(t.try_online(t0 + interval), "the probe is due");
    assert!(
        !t.try_online(t0 + interval),
        "a concurrent scan does not probe too"
    );
    assert!(!t.try_online(t0 + interval * 2 - ms(1)));
    assert!(
        t.try_online(t0 + interval * 2),
        "an unanswered probe does not block the next one"
    );
}

#[test]
fn a_failed_probe_waits_a_whole_interval_from_its_end() {
    let t0 = Instant::now();
    let mut t = offline_at(t0);
    let interval = ms(DEFAULT_PROBE_INTERVAL_MS);
    assert!(t.try_online(t0 + interval));
    // The probe ran into a 2 s timeout.
    let ended = t0 + interval + ms(2_000);
    assert_eq!(t.record(Attempt::TimedOut, ended), Mode::Offline);
    assert!(!t.try_online(ended + interval - ms(1)));
    assert!(t.try_online(ended + interval));
}

#[test]
fn a_fast_answer_goes_back_online_a_slow_one_does_not() {
    let t0 = Instant::now();
    let mut t = offline_at(t0);
    let interval = ms(DEFAULT_PROBE_INTERVAL_MS);
    assert!(t.try_online(t0 + interval));
    assert_eq!(t.record(slow(), t0 + interval), Mode::Offline);
    assert!(!t.try_online(t0 + interval + ms(1)));
    assert!(t.try_online(t0 + interval * 2));
    assert_eq!(t.record(fast(), t0 + interval * 2), Mode::Online);
    assert!(t.try_online(t0 + interval * 2));
    // Back online, the counts start afresh: it takes N failures again.
    for _ in 1..DEFAULT_FAILURES_TO_OFFLINE {
        assert_eq!(t.record(Attempt::Unavailable, t0), Mode::Online);
    }
}

#[test]
fn limits_are_checked() {
    let bad = [
        ModeConfig {
            failures_to_offline: 0,
            ..ModeConfig::default()
        },
        ModeConfig {
            slow_window: SLOW_WINDOW_MAX + 1,
            ..ModeConfig::default()
        },
        ModeConfig {
            slow_to_offline: DEFAULT_SLOW_WINDOW + 1,
            ..ModeConfig::default()
        },
        ModeConfig {
            probe_interval_ms: 0,
            ..ModeConfig::default()
        },
        ModeConfig {
            slow_answer_ms: MODE_INTERVAL_MAX_MS + 1,
            ..ModeConfig::default()
        },
    ];
    for config in bad {
        assert!(
            matches!(
                ModeTracker::new(config.clone()),
                Err(ClientError::Config(_))
            ),
            "{config:?}"
        );
    }
}

#[test]
fn sdk_errors_are_classified_by_what_they_say_about_the_gateway() {
    let addr = "127.0.0.1:1".parse().expect("addr");
    let connect = ClientError::Connect {
        addr,
        reason: "no handshake".into(),
    };
    assert_eq!(Attempt::from_error(&connect), Some(Attempt::Refused));
    let all = ClientError::AllGatewaysFailed {
        tried: 2,
        last: Box::new(connect),
    };
    assert_eq!(Attempt::from_error(&all), Some(Attempt::Refused));
    let timeout = ClientError::Timeout {
        attempts: 3,
        per_attempt: ms(2_000),
    };
    assert_eq!(Attempt::from_error(&timeout), Some(Attempt::TimedOut));
    assert_eq!(
        Attempt::from_error(&ClientError::ConnectionLost),
        Some(Attempt::ConnectionLost)
    );
    let unavailable = WireError::new(ErrorCode::Unavailable, "store slow");
    assert_eq!(
        Attempt::from_error(&ClientError::Rejected(unavailable)),
        Some(Attempt::Unavailable)
    );
    let invalid = WireError::new(ErrorCode::InvalidRequest, "gate too long");
    assert_eq!(Attempt::from_error(&ClientError::Rejected(invalid)), None);
    assert_eq!(Attempt::from_error(&ClientError::Config("x".into())), None);
    assert_eq!(Attempt::from_error(&ClientError::Closed), None);
}

fn attempt() -> impl Strategy<Value = Attempt> {
    prop_oneof![
        (0..3_000u64).prop_map(|l| Attempt::Answered { latency: ms(l) }),
        Just(Attempt::Refused),
        Just(Attempt::TimedOut),
        Just(Attempt::ConnectionLost),
        Just(Attempt::Unavailable),
    ]
}

proptest! {
    /// Whatever the outcomes: online, every scan tries the gateway; offline,
    /// at most one try per probe interval; a fast answer always leaves the
    /// tracker online; and it goes offline only after enough failures in a
    /// row or enough slow answers in the window.
    #[test]
    fn the_mode_rules_hold_for_any_sequence(
        steps in proptest::collection::vec((attempt(), 0..3_000u64), 1..200)
    ) {
        let t0 = Instant::now();
        let config = ModeConfig::default();
        let interval = ms(config.probe_interval_ms);
        let mut t = ModeTracker::new(config.clone()).expect("valid");
        let mut now = t0;
        let mut last_probe: Option<Instant> = None;
        let mut failures_in_a_row = 0u32;
        let mut window: VecDeque<bool> = VecDeque::new();
        for (attempt, dt) in steps {
            now += ms(dt);
            let before = t.mode();
            let tried = t.try_online(now);
            match before {
                Mode::Online => prop_assert!(tried),
                Mode::Offline if tried => {
                    if let Some(p) = last_probe {
                        prop_assert!(now >= p + interval, "two probes within one interval");
                    }
                    last_probe = Some(now);
                }
                Mode::Offline => {}
            }
            if !tried {
                continue;
            }
            let after = t.record(attempt, now);
            match attempt {
                Attempt::Answered { latency } => {
                    failures_in_a_row = 0;
                    let is_slow = latency > ms(config.slow_answer_ms);
                    if window.len() == config.slow_window as usize {
                        window.pop_front();
                    }
                    window.push_back(is_slow);
                    if !is_slow {
                        prop_assert_eq!(after, Mode::Online, "a fast answer leaves it online");
                    }
                }
                _ => failures_in_a_row += 1,
            }
            if before == Mode::Online && after == Mode::Offline {
                let slow = window.iter().filter(|s| **s).count() as u32;
                prop_assert!(
                    failures_in_a_row >= config.failures_to_offline
                        || slow >= config.slow_to_offline,
                    "offline after {} failures and {} slow answers", failures_in_a_row, slow
                );
            }
            if before != after {
                failures_in_a_row = 0;
                window.clear();
                last_probe = if after == Mode::Offline { Some(now) } else { None };
            }
        }
    }
}
