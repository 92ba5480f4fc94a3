//! Offline mode end to end: an `OfflineScanner` against a fake gateway on
//! loopback (real QUIC, mutual TLS, a real signed snapshot) and real files.

use crate::support;

use scangate_client::offline::files::DELTAS_FILE;
use scangate_client::transfer::SNAPSHOT_WINDOW_CHUNKS;
use scangate_client::{Mode, OfflineError, OfflineScanner, ScanId, Scanner};
use scangate_core::decision::{Decision, Reason};
use scangate_core::offline::SnapshotError;
use scangate_core::offline::messages::{
    AckStatus, ConflictKind, OfflineScan, SNAPSHOT_CHUNK_MAX_BYTES,
};
use scangate_core::wire::ErrorCode;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::device::{Env, contains, env, fast, offline_config};
use support::gateway::{EVENT, FakeGateway, now_ms};
use support::input;

/// Longest a test polls for the gateway to be back.
const BACK_WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_stopped_gateway_takes_the_scanner_offline_and_back_and_each_grant_is_uploaded_once() {
    let e = env();
    let mut gw = FakeGateway::start(&e.pki, 40, 1);
    let key = gw.state().signer.verifier();
    let config = offline_config(e.dir.path());
    let threshold = config.mode.failures_to_offline;
    let mut s =
        OfflineScanner::open(fast(&e.pki, "lane-1", gw.addr), config, Some(key)).expect("open");
    assert_eq!(s.refresh(now_ms()).await.expect("refresh").version, 1);
    let tokens: Vec<String> = (0..40).map(|n| gw.state().token(n)).collect();
    let token = |n: usize| tokens[n].clone();
    let online = s
        .scan(input(&token(0), "on-0"), now_ms())
        .await
        .expect("scan");
    assert_eq!(
        (online.mode, online.reply.decision),
        (Mode::Online, Decision::Granted)
    );

    gw.stop();
    let mut offline_grants = Vec::new();
    for i in 1..=threshold as usize {
        assert_eq!(s.mode(), Mode::Online, "still online before failure {i}");
        let id = format!("off-{i}");
        let d = s.scan(input(&token(i), &id), now_ms()).await.expect("scan");
        // The failed online try falls back to the snapshot at once.
        assert_eq!(
            (d.mode, d.reply.decision),
            (Mode::Offline, Decision::Granted)
        );
        assert!(
            contains(&e.queue_bytes(), &id),
            "{id} queued before scan returned"
        );
        offline_grants.push(id);
    }
    assert_eq!(
        s.mode(),
        Mode::Offline,
        "offline after {threshold} failures"
    );
    // Offline, the device counts its own grants: a single-use ticket
    // admitted offline is used up.
    let again = s
        .scan(input(&token(1), "off-again"), now_ms())
        .await
        .expect("scan");
    assert_eq!(again.reply.decision, Decision::Denied(Reason::UsedUp));
    assert!(
        !contains(&e.queue_bytes(), "off-again"),
        "a denial is not queued"
    );
    assert_eq!(s.queue().len(), threshold as usize);

    gw.restart().await;
    // Poll with a scan the device denies offline (not a token): the first
    // probe the gateway answers brings the scanner back online.
    let deadline = Instant::now() + BACK_WAIT;
    let mut n = 0;
    loop {
        n += 1;
        let d = s
            .scan(input("not-a-token", &format!("poll-{n}")), now_ms())
            .await;
        if d.expect("scan").mode == Mode::Online {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the scanner never went back online"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.mode(), Mode::Online);
    let report = s.sync(now_ms()).await.expect("sync");
    assert_eq!(
        (report.uploaded, report.pending, report.dropped),
        (threshold as usize, 0, 0)
    );
    let again = s.sync(now_ms()).await.expect("sync again");
    assert_eq!(again.uploaded, 0, "an emptied queue uploads nothing");
    let state = gw.state();
    for id in &offline_grants {
        let id = ScanId::new(id.as_str()).expect("id");
        assert_eq!(state.recorded.get(&id), Some(&1), "{id} recorded once");
    }
    assert_eq!(
        state.uploaded.len(),
        offline_grants.len(),
        "each uploaded once"
    );
}

#[tokio::test]
async fn a_reupload_of_an_acknowledged_batch_counts_nothing_twice() {
    let e = env();
    let gw = FakeGateway::start(&e.pki, 10, 1);
    let scanner = Scanner::connect(fast(&e.pki, "lane-1", gw.addr))
        .await
        .expect("connect");
    // Ten scans: two batches of at most UPLOAD_BATCH_MAX.
    let scans: Vec<OfflineScan> = (0..10)
        .map(|n| OfflineScan {
            token: gw.state().token(n),
            gate: "north-1".into(),
            event: EVENT.into(),
            scan_id: ScanId::new(format!("s-{n}")).expect("id"),
            device_time_ms: now_ms(),
            snapshot_version: 1,
            decision: Decision::Granted,
        })
        .collect();
    let first = scanner.upload(&scans).await.expect("upload");
    assert!(first.scans.iter().all(|a| a.status == AckStatus::Recorded));
    let second = scanner.upload(&scans).await.expect("re-upload");
    assert_eq!(second.scans.len(), 10);
    assert!(
        second
            .scans
            .iter()
            .all(|a| a.status == AckStatus::Duplicate)
    );
    let state = gw.state();
    assert_eq!(state.uploaded.len(), 20, "both uploads reached the gateway");
    assert_eq!(state.recorded.len(), 10);
    assert!(
        state.recorded.values().all(|n| *n == 1),
        "nothing counted twice"
    );
}

#[tokio::test]
async fn sync_keeps_what_may_be_recorded_later_and_drops_what_never_will() {
    let e = env();
    let mut gw = FakeGateway::start(&e.pki, 10, 1);
    e.with_snapshot(&gw).await;
    gw.stop();
    let tokens: Vec<String> = (0..4).map(|n| gw.state().token(n)).collect();
    let mut s = e.open(gw.addr);
    for (n, token) in tokens.iter().enumerate() {
        let d = s
            .scan(input(token, &format!("q-{n}")), now_ms())
            .await
            .expect("scan");
        assert_eq!(
            (d.mode, d.reply.decision),
            (Mode::Offline, Decision::Granted)
        );
    }
    gw.restart().await;
    {
        let mut state = gw.state();
        let id = |n: usize| ScanId::new(format!("q-{n}")).expect("id");
        state.refuse.insert(id(1), ErrorCode::InvalidRequest);
        state.refuse.insert(id(2), ErrorCode::Unavailable);
        state.flag.insert(id(3), ConflictKind::OverLimit);
    }
    let report = s.sync(now_ms()).await.expect("sync");
    assert_eq!(
        (
            report.uploaded,
            report.conflicts,
            report.dropped,
            report.pending
        ),
        (2, 1, 1, 1)
    );
    assert!(
        matches!(report.refresh, Some(Ok(_))),
        "{:?}",
        report.refresh
    );
    let left: Vec<&str> = s.queue().pending().map(|p| p.scan_id.as_str()).collect();
    assert_eq!(left, ["q-2"], "only the scan refused as unavailable waits");
    gw.state().refuse.clear();
    let report = s.sync(now_ms()).await.expect("sync again");
    assert_eq!((report.uploaded, report.pending), (1, 0));
    assert!(!s.refresh_due(now_ms()), "just refreshed");
    let interval = offline_config(e.dir.path()).refresh_interval_ms;
    assert!(s.refresh_due(now_ms() + interval));
}

/// The snapshot problem `err` reports; any other error fails the test.
fn snapshot_problem(err: &OfflineError) -> &SnapshotError {
    match err {
        OfflineError::Snapshot { source, .. } => source,
        other => panic!("not a snapshot problem: {other}"),
    }
}

/// An offline scan on a device pointed at a stopped gateway.
async fn offline_scan(e: &Env, addr: SocketAddr, now: i64) -> Result<Mode, OfflineError> {
    let mut config = offline_config(e.dir.path());
    config.mode.failures_to_offline = 1;
    let mut s = OfflineScanner::open(fast(&e.pki, "lane-1", addr), config, None)?;
    let token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let d = s.scan(input(token, "refused-1"), now).await?;
    Ok(d.mode)
}

#[tokio::test]
async fn a_tampered_an_expired_and_a_foreign_snapshot_are_refused_saying_why() {
    let e = env();
    let mut gw = FakeGateway::start(&e.pki, 10, 1);
    let good = e.with_snapshot(&gw).await;
    gw.stop();
    let path = e
        .device()
        .join(scangate_client::offline::files::SNAPSHOT_FILE);

    let mut flipped = good.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x01;
    std::fs::write(&path, &flipped).expect("write");
    let err = offline_scan(&e, gw.addr, now_ms())
        .await
        .expect_err("tampered");
    assert!(
        matches!(snapshot_problem(&err), SnapshotError::BadSignature),
        "{err}"
    );
    assert!(err.to_string().contains("altered"), "{err}");

    std::fs::write(&path, &good).expect("write");
    let expires = gw.state().versions[0].0.expires_ms();
    let err = offline_scan(&e, gw.addr, expires)
        .await
        .expect_err("expired");
    assert!(
        matches!(snapshot_problem(&err), SnapshotError::Expired { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(
        offline_scan(&e, gw.addr, expires - 1).await.expect("valid"),
        Mode::Offline
    );

    let mut other = FakeGateway::start(&e.pki, 10, 2);
    let foreign = other.state().newest_bytes();
    std::fs::write(&path, &foreign).expect("write");
    let err = offline_scan(&e, gw.addr, now_ms())
        .await
        .expect_err("foreign");
    assert!(
        matches!(snapshot_problem(&err), SnapshotError::WrongKey { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("pin"), "says how to re-pin: {err}");

    // Fetched from a gateway with another key: refused, nothing written.
    std::fs::write(&path, &good).expect("write");
    other.state().rebuild();
    let mut s = e.open(other.addr);
    let err = s.refresh(now_ms()).await.expect_err("foreign refresh");
    assert!(
        matches!(snapshot_problem(&err), SnapshotError::WrongKey { .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        good,
        "the held snapshot is kept"
    );
    assert_eq!(s.version(), Some(1));
    other.stop();
    drop(s);
    // Only the one valid decision above queued anything, and it was a denial.
    assert!(!contains(&e.queue_bytes(), "refused-1"));
}

#[tokio::test]
async fn a_device_without_a_snapshot_refuses_to_decide_offline() {
    let e = env();
    let mut gw = FakeGateway::start(&e.pki, 10, 1);
    let key = gw.state().signer.verifier();
    let token = gw.state().token(1);
    gw.stop();
    let mut config = offline_config(e.dir.path());
    config.mode.failures_to_offline = 1;
    let mut s = OfflineScanner::open(fast(&e.pki, "lane", gw.addr), config, Some(key))
        .expect("opens with no gateway reachable");
    let err = s
        .scan(input(&token, "none-1"), now_ms())
        .await
        .expect_err("no snapshot");
    assert!(matches!(err, OfflineError::NoSnapshot { .. }), "{err}");
    assert!(err.to_string().contains("no offline snapshot"), "{err}");
    assert!(s.queue().is_empty(), "nothing granted, nothing queued");
}

#[tokio::test]
async fn a_device_keeps_its_pinned_key_until_told_to_change_it() {
    let e = env();
    let mut gw = FakeGateway::start(&e.pki, 10, 1);
    e.with_snapshot(&gw).await;
    gw.stop();
    let mut other = FakeGateway::start(&e.pki, 10, 2);
    other.state().rebuild();
    let new_key = other.state().signer.verifier();
    let err = OfflineScanner::open(
        fast(&e.pki, "lane", other.addr),
        offline_config(e.dir.path()),
        Some(new_key.clone()),
    )
    .expect_err("another key than the pinned one");
    assert!(matches!(err, OfflineError::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("pin_key"), "{err}");
    let mut s = e.open(other.addr);
    s.pin_key(new_key).expect("re-pin");
    assert_eq!(
        s.version(),
        None,
        "the held snapshot was signed by the old key"
    );
    let r = s
        .refresh(now_ms())
        .await
        .expect("refresh under the new key");
    assert_eq!((r.version, r.delta), (2, false));
    drop(s);
    assert_eq!(
        e.open(other.addr).version(),
        Some(2),
        "the new key stays pinned"
    );
    other.stop();
}

#[tokio::test]
async fn a_revocation_delivered_by_a_delta_makes_the_device_deny_revoked_offline() {
    let e = env();
    let mut gw = FakeGateway::start(&e.pki, 50, 1);
    e.with_snapshot(&gw).await;
    gw.state().revoke(3);
    let token = gw.state().token(3);
    let mut s = e.open(gw.addr);
    let r = s.refresh(now_ms()).await.expect("refresh");
    assert!(r.delta, "a delta, not the whole snapshot");
    assert_eq!(r.version, 2);
    assert!(gw.state().delta_chunks > 0);
    assert!(
        r.bytes < gw.state().newest_bytes().len(),
        "the delta is smaller"
    );
    assert!(
        !std::fs::read(e.device().join(DELTAS_FILE))
            .expect("deltas")
            .is_empty()
    );
    gw.stop();
    let d = s
        .scan(input(&token, "rev-1"), now_ms())
        .await
        .expect("scan");
    assert_eq!(
        (d.mode, d.reply.decision),
        (Mode::Offline, Decision::Denied(Reason::Revoked))
    );
    drop(s);
    // Reloaded from disk: the delta is verified and applied again.
    let mut s = e.open(gw.addr);
    assert_eq!(s.version(), Some(2));
    let d = s
        .scan(input(&token, "rev-2"), now_ms())
        .await
        .expect("scan");
    assert_eq!(d.reply.decision, Decision::Denied(Reason::Revoked));
    let other = gw.state().token(4);
    let d = s.scan(input(&other, "ok-1"), now_ms()).await.expect("scan");
    assert_eq!(
        d.reply.decision,
        Decision::Granted,
        "the others still get in"
    );
}

#[tokio::test]
async fn snapshot_chunks_are_requested_several_at_a_time() {
    let e = env();
    let gw = FakeGateway::start(&e.pki, 10_000, 1);
    gw.state().chunk_delay = Some(Duration::from_millis(20));
    let len = gw.state().newest_bytes().len();
    let chunks = len.div_ceil(SNAPSHOT_CHUNK_MAX_BYTES);
    let mut s = OfflineScanner::open(
        fast(&e.pki, "lane-1", gw.addr),
        offline_config(e.dir.path()),
        Some(gw.state().signer.verifier()),
    )
    .expect("open");
    let started = Instant::now();
    let r = s.refresh(now_ms()).await.expect("refresh");
    let took = started.elapsed();
    assert_eq!((r.bytes, r.entries, r.delta), (len, 10_000, false));
    let state = gw.state();
    eprintln!(
        "{chunks} chunks ({len} bytes) at 20 ms each in {took:?}, {} at once at most",
        state.chunks_waiting_max
    );
    assert_eq!(state.whole_chunks, chunks);
    assert!(
        state.chunks_waiting_max > 1 && state.chunks_waiting_max <= SNAPSHOT_WINDOW_CHUNKS,
        "at most the window in flight, more than one: {}",
        state.chunks_waiting_max
    );
}
