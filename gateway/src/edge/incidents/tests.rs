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

fn at(device: &str, token: &str, at_ms: i64) -> Refusal<'static> {
    Refusal {
        at_ms,
        device: device.to_owned().leak(),
        gate: "north",
        reason: Reason::Malformed,
        token: token.to_owned().leak(),
    }
}

async fn flushed(log: &Incidents) {
    assert!(log.flush(Duration::from_secs(10)).await, "flushed in time");
}

#[tokio::test]
async fn the_file_keeps_incidents_across_a_reopen_and_seq_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("incidents.jsonl");
    let token = "SG1.THETOKENTEXTTHATMUSTNEVERREACHTHEDISK";
    {
        let log = Incidents::open(path.clone()).expect("open");
        let w = ForgeryWindow::default();
        for device in ["a", "b", "a"] {
            log.note(at(device, token, 10), w.count(Instant::now(), 10));
        }
        flushed(&log).await;
    }
    let bytes = std::fs::read(&path).expect("read");
    assert!(
        !bytes.windows(12).any(|w| w == b"THETOKENTEXT"),
        "no token text"
    );
    let again = Incidents::open(path.clone()).expect("reopen");
    let (items, _) = again.page(None, None, 10);
    assert_eq!(items.iter().map(|i| i.seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(items[1].device, "b");
    again.note(
        at("c", token, 20),
        ForgeryWindow::default().count(Instant::now(), 10),
    );
    let (after, _) = again.page(Some(2), None, 10);
    assert_eq!((after.len(), after[0].seq), (1, 3), "seq continues");
    flushed(&again).await;
    drop(again);
    let (items, _) = Incidents::open(path).expect("reopen").page(None, None, 10);
    assert_eq!(items.len(), 4);
}

#[tokio::test]
async fn retention_removes_old_incidents_from_memory_and_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("incidents.jsonl");
    let log = Incidents::open(path.clone()).expect("open");
    let w = ForgeryWindow::default();
    log.note(at("old-device", "x", 1_000), w.count(Instant::now(), 10));
    log.note(at("new-device", "y", 5_000), w.count(Instant::now(), 10));
    let now = Instant::now();
    assert_eq!(log.retain(2_000, now), 1);
    assert_eq!(log.retain(2_000, now), 0, "nothing more");
    let (items, _) = log.page(None, None, 10);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].device, "new-device");
    flushed(&log).await;
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        !text.contains("old-device") && text.contains("new-device"),
        "{text}"
    );
    // Within the rewrite interval the file waits; memory does not.
    log.note(at("older", "z", 1_500), w.count(Instant::now(), 10));
    assert_eq!(log.retain(2_000, now + Duration::from_secs(1)), 1);
    flushed(&log).await;
    assert!(
        std::fs::read_to_string(&path)
            .expect("read")
            .contains("older")
    );
    assert_eq!(log.retain(2_000, now + REWRITE_MIN_INTERVAL), 0);
    flushed(&log).await;
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        !text.contains("older") && text.contains("new-device"),
        "{text}"
    );
    // Every incident expired: numbering still goes on after a reopen.
    assert_eq!(log.retain(i64::MAX, now + 2 * REWRITE_MIN_INTERVAL), 1);
    flushed(&log).await;
    drop(log);
    let log = Incidents::open(path).expect("reopen");
    assert!(log.page(None, None, 10).0.is_empty());
    log.note(at("next", "w", 9_000), w.count(Instant::now(), 10));
    assert_eq!(log.page(None, None, 10).0[0].seq, 3);
}

#[tokio::test]
async fn damaged_lines_are_skipped_and_the_file_is_rewritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("incidents.jsonl");
    let good = Incident {
        seq: 7,
        at_ms: 1,
        device: "d".into(),
        gate: "north".into(),
        reason: Reason::Forged,
        fingerprint: "0011aabb".into(),
        flags: vec![],
    };
    let mut text = serde_json::to_string(&good).expect("json");
    text.push('\n');
    text.push_str(&"x".repeat(file::LINE_MAX_BYTES * 3));
    text.push_str("\nnot json\n{\"seq\": 8, \"torn");
    std::fs::write(&path, text).expect("write");
    let log = Incidents::open(path.clone()).expect("open");
    let (items, _) = log.page(None, None, 10);
    assert_eq!(items, vec![good.clone()]);
    flushed(&log).await;
    let mut expect = "{\"next_seq\":8}\n".to_owned();
    expect.push_str(&serde_json::to_string(&good).expect("json"));
    expect.push('\n');
    assert_eq!(std::fs::read_to_string(&path).expect("read"), expect);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&path).expect("meta").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "private");
}
