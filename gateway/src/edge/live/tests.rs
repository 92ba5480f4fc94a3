use super::*;

const T0: i64 = 1_700_000_000_000;

fn pass(byte: u8) -> PassId {
    PassId([byte; 16])
}

fn scan(live: &Live, at_ms: i64, gate: &str, decision: Decision, pass: Option<PassId>) {
    let gate = live.gates().label(gate);
    live.record(
        at_ms,
        Sample {
            gate: &gate,
            decision,
            pass,
            counted_use: decision.is_granted(),
            latency: Some(Duration::from_millis(3)),
        },
    );
}

#[test]
fn counts_by_gate_reason_and_event() {
    let live = Live::new(T0);
    let (a, b) = (pass(1), pass(2));
    live.add_issued([(a, "fest", Some(2)), (b, "fest", None)].into_iter());
    scan(&live, T0, "north", Decision::Granted, Some(a));
    scan(&live, T0, "north", Decision::Granted, Some(b));
    scan(
        &live,
        T0 + 10,
        "south",
        Decision::Denied(Reason::UsedUp),
        Some(a),
    );
    scan(
        &live,
        T0 + 20,
        "south",
        Decision::Denied(Reason::Forged),
        None,
    );

    let s = live.snapshot(T0 + 1_500);
    assert_eq!((s.scans, s.granted, s.denied), (4, 2, 2));
    let north = s.gates.iter().find(|g| g.gate == "north").expect("north");
    assert_eq!((north.granted, north.denied), (2, 0));
    let used_up = s
        .reasons
        .iter()
        .find(|r| r.reason == "used_up")
        .expect("reason");
    assert_eq!(used_up.count, 1);
    assert_eq!(s.reasons.len(), Reason::ALL.len());
    let fest = &s.events[0];
    assert_eq!(
        (fest.passes, fest.capacity, fest.unlimited, fest.grants),
        (2, 2, 1, 2)
    );
    assert_eq!(s.recent_denials.len(), 2);
    assert_eq!(s.recent_denials[0].reason, "forged", "newest first");
    assert_eq!(s.recent_denials[1].pass.as_deref(), Some("01010101"));
    assert_eq!(s.series[WINDOW_SECS - 1], 4);
    assert_eq!(s.latency_ms.samples, 4);
    let p50 = s.latency_ms.p50.expect("p50");
    assert!((2.0..=5.0).contains(&p50), "p50 {p50} in the 2-5 ms bucket");
}

#[test]
fn rates_come_from_whole_seconds_in_the_window() {
    let live = Live::new(T0);
    for i in 0..20 {
        scan(&live, T0 + i * 100, "north", Decision::Granted, None);
    }
    // Two whole seconds of 10 scans each, averaged over RATE_SECS.
    let s = live.snapshot(T0 + 2_000);
    assert!((s.scans_per_s - 20.0 / RATE_SECS as f64).abs() < 1e-9);
    assert_eq!(
        s.grants_unattributed, 20,
        "no issued pass behind these grants"
    );
    // A minute later the window has moved on; totals stay.
    let later = live.snapshot(T0 + 2_000 + (WINDOW_SECS as i64 + 1) * 1000);
    assert_eq!(later.series.iter().sum::<u32>(), 0);
    assert_eq!(later.scans_per_s, 0.0);
    assert_eq!(later.latency_ms.p50, None);
    assert_eq!(later.scans, 20);
}

#[test]
fn slots_are_reused_not_grown() {
    let live = Live::new(T0);
    for s in 0..(3 * WINDOW_SECS as i64) {
        scan(
            &live,
            T0 + s * 1000,
            "g",
            Decision::Denied(Reason::Busy),
            None,
        );
    }
    let s = live.snapshot(T0 + 3 * WINDOW_SECS as i64 * 1000 - 1);
    assert_eq!(s.series.iter().sum::<u32>(), WINDOW_SECS as u32);
    assert_eq!(s.warnings.busy, WINDOW_SECS as u64);
    assert_eq!(s.warnings.busy_total, 3 * WINDOW_SECS as u64);
    assert_eq!(s.recent_denials.len(), RECENT_DENIALS_MAX);
    assert_eq!(live.lock().seconds.len(), SLOTS);
}

#[test]
fn events_beyond_the_cap_are_other() {
    let live = Live::new(T0);
    for i in 0..=EVENTS_MAX {
        let name = format!("e{i}");
        live.add_issued(std::iter::once((pass(7), name.as_str(), Some(1))));
    }
    let s = live.snapshot(T0);
    assert_eq!(s.events.len(), EVENTS_MAX + 1);
    assert_eq!(s.events[EVENTS_MAX].event, "other");
}

#[test]
fn scanners_are_counted_while_connected() {
    let live = Live::new(T0);
    let a = live.scanner_connected();
    let b = live.scanner_connected();
    assert_eq!(live.snapshot(T0).scanners, 2);
    drop(a);
    drop(b);
    assert_eq!(live.snapshot(T0).scanners, 0);
}

#[test]
fn quantiles_are_within_one_percent() {
    let mut latency = latency_histogram();
    assert_eq!(
        latency.distinct_values(),
        2_560,
        "the size the bound's comment states"
    );
    assert_eq!(quantile_ms(&latency, 0.5), None);
    latency.record_n(150, 100).expect("in range");
    assert_eq!(quantile_ms(&latency, 0.5), Some(0.15));
    latency.record_n(4_321_000, 100).expect("in range");
    let p99 = quantile_ms(&latency, 0.99).expect("p99");
    assert!((p99 / 4_321.0 - 1.0).abs() < 0.01, "{p99}");
}

#[test]
fn latencies_beyond_the_range_count_at_its_top() {
    let live = Live::new(T0);
    let gate = live.gates().label("north");
    live.record(
        T0,
        Sample {
            gate: &gate,
            decision: Decision::Granted,
            pass: None,
            counted_use: false,
            latency: Some(Duration::from_secs(3_600)),
        },
    );
    let s = live.snapshot(T0 + 1_000);
    assert_eq!(s.latency_ms.samples, 1);
    let p50 = s.latency_ms.p50.expect("p50");
    let top_ms = LATENCY_MAX_US as f64 / 1000.0;
    assert!((p50 / top_ms - 1.0).abs() < 0.01, "{p50}");
}
