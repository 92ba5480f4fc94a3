use super::*;

fn refusal<'a>(device: &'a str, token: &'a str) -> Refusal<'a> {
    Refusal {
        at_ms: 1,
        device,
        gate: "north",
        reason: Reason::Forged,
        token,
    }
}

#[test]
fn a_burst_is_past_the_threshold_within_one_window() {
    let w = ForgeryWindow::default();
    let t0 = Instant::now();
    let counts: Vec<Counted> = (0..12).map(|_| w.count(t0, 10)).collect();
    assert!(counts[..10].iter().all(|c| !c.burst));
    assert!(counts[10].burst && counts[10].first_burst);
    assert!(counts[11].burst && !counts[11].first_burst);
    // A new window starts once the minute is over.
    let later = w.count(t0 + FORGERY_WINDOW, 10);
    assert_eq!((later.in_window, later.burst), (1, false));
}

#[test]
fn an_incident_keeps_a_fingerprint_never_the_token() {
    let log = Incidents::default();
    let token = "SG1.FORGEDTOKENTEXTTHATMUSTNOTBEKEPT";
    let w = ForgeryWindow::default();
    log.note(refusal("d1", token), w.count(Instant::now(), 10));
    let (items, next) = log.page(None, None, 10);
    assert_eq!((items.len(), next), (1, None));
    let kept = format!("{:?}", items[0]);
    assert!(!kept.contains("FORGED"), "{kept}");
    assert_eq!(items[0].fingerprint.len(), FINGERPRINT_HEX);
}

#[test]
fn one_device_logs_a_bounded_number_per_window_and_the_log_is_bounded() {
    let log = Incidents::default();
    let w = ForgeryWindow::default();
    let now = Instant::now();
    for _ in 0..1_000 {
        log.note(refusal("flood", "x"), w.count(now, 10));
    }
    let (items, _) = log.page(None, None, 1_000);
    assert_eq!(items.len(), INCIDENTS_PER_DEVICE_MINUTE as usize);
    assert!(items[9].flags.is_empty() && items[10].flags == vec![Flag::ForgeryBurst]);
    // Many devices: the oldest go first.
    for i in 0..(INCIDENTS_MAX + 5) {
        let device = format!("d{i}");
        log.note(
            refusal(&device, "x"),
            ForgeryWindow::default().count(now, 10),
        );
    }
    let (all, _) = log.page(None, None, INCIDENTS_MAX * 2);
    assert_eq!(all.len(), INCIDENTS_MAX);
    assert_eq!(all[0].device, "d5", "the oldest were dropped first");
}

#[test]
fn pages_follow_the_cursor_and_filter_by_device() {
    let log = Incidents::default();
    let now = Instant::now();
    for device in ["a", "b", "a", "b", "a"] {
        log.note(
            refusal(device, "x"),
            ForgeryWindow::default().count(now, 10),
        );
    }
    let (first, next) = log.page(None, Some("a"), 2);
    assert_eq!(first.iter().map(|i| i.seq).collect::<Vec<_>>(), vec![0, 2]);
    let (rest, end) = log.page(next, Some("a"), 2);
    assert_eq!(rest.iter().map(|i| i.seq).collect::<Vec<_>>(), vec![4]);
    assert_eq!(end, None);
}
