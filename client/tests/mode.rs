//! A ModeTracker fed by a real Scanner against an in-test QUIC gateway: a
//! gateway that stops answering takes the gate offline after the
//! configured failures, and the first fast answer to a probe brings it back.

use crate::support;

use scangate_client::{Attempt, Mode, ModeConfig, ModeTracker, Scanner};
use std::time::{Duration, Instant};
use support::{ANY_TOKEN, input, setup};

#[tokio::test]
async fn a_silent_gateway_takes_the_gate_offline_and_an_answer_brings_it_back() {
    let mut s = setup();
    s.config.request_timeout_ms = 200;
    s.config.attempts = 1;
    let scanner = Scanner::connect(s.config.clone()).await.expect("connect");
    // Slowness is not what this test is about: a loaded machine's
    // reconnect must not count as a slow answer.
    let config = ModeConfig {
        slow_answer_ms: 10_000,
        ..ModeConfig::default()
    };
    let mut tracker = ModeTracker::new(config.clone()).expect("tracker");
    let scan = |id: String| {
        let scanner = scanner.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = scanner.scan(input(ANY_TOKEN, &id)).await;
            (result, started.elapsed())
        })
    };

    for i in 0..config.failures_to_offline {
        assert_eq!(tracker.mode(), Mode::Online);
        assert!(tracker.try_online(Instant::now()));
        let task = scan(format!("silent-{i}"));
        let _unanswered = s.server.next().await;
        let (result, _) = task.await.expect("join");
        let error = result.expect_err("no answer");
        let attempt = Attempt::from_error(&error).expect("a gateway failure");
        assert_eq!(attempt, Attempt::TimedOut, "{error}");
        tracker.record(attempt, Instant::now());
    }
    assert_eq!(tracker.mode(), Mode::Offline);
    let went_offline = Instant::now();
    assert!(
        !tracker.try_online(went_offline),
        "no online try right after going offline"
    );

    // The probe, due one interval later, is answered at once.
    let probe_at = went_offline + Duration::from_millis(config.probe_interval_ms);
    assert!(tracker.try_online(probe_at));
    let task = scan("probe".into());
    loop {
        // Requests of the silent scans may still arrive on a new connection.
        let req = s.server.next().await;
        if req.scan_id().as_str() == "probe" {
            req.reply_ok().await;
            break;
        }
    }
    let (result, latency) = task.await.expect("join");
    assert!(result.expect("answered").decision.is_granted());
    assert_eq!(
        tracker.record(Attempt::Answered { latency }, probe_at + latency),
        Mode::Online
    );
}
