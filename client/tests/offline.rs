//! Offline mode end to end: an `OfflineScanner` against a fake gateway on
//! loopback (real QUIC, mutual TLS, a real signed snapshot) and real files.

mod support;

use scangate_certs::Pki;
use scangate_client::offline::files::{DELTAS_FILE, SNAPSHOT_FILE};
use scangate_client::queue::QUEUE_FILE;
use scangate_client::transfer::SNAPSHOT_WINDOW_CHUNKS;
use scangate_client::{
    Mode, ModeConfig, OfflineConfig, OfflineError, OfflineScanner, ScanId, ScanInput, Scanner,
    ScannerConfig,
};
use scangate_core::decision::{Decision, Reason};
use scangate_core::offline::SnapshotError;
use scangate_core::offline::messages::{AckStatus, OfflineScan, SNAPSHOT_CHUNK_MAX_BYTES};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::gateway::{EVENT, FakeGateway, now_ms};
use support::scanner_config;

/// Longest a test polls for the gateway to be back.
const BACK_WAIT: Duration = Duration::from_secs(20);

struct Env {
    dir: tempfile::TempDir,
    pki: Pki,
}

fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::open(&dir.path().join("pki"));
    pki.init(&[]).expect("pki init");
    Env { dir, pki }
}

/// Short deadlines, so an outage shows within a second; a new device
/// certificate each time (the PKI issues a name once).
fn fast(pki: &Pki, name: &str, addr: SocketAddr) -> ScannerConfig {
    static ISSUED: AtomicUsize = AtomicUsize::new(0);
    let n = ISSUED.fetch_add(1, Ordering::Relaxed);
    let mut config = scanner_config(pki, &format!("{name}-{n}"), addr);
    config.request_timeout_ms = 300;
    config.connect_timeout_ms = 300;
    config.attempts = 1;
    config
}

fn offline_config(dir: &Path) -> OfflineConfig {
    let mut config = OfflineConfig::new(dir.join("device"), EVENT);
    config.mode = ModeConfig {
        probe_interval_ms: 200,
        // Slowness is not what these tests are about.
        slow_answer_ms: 10_000,
        ..ModeConfig::default()
    };
    config
}

fn input(token: &str, id: &str) -> ScanInput {
    ScanInput {
        token: token.into(),
        gate: "north-1".into(),
        event: None,
        scan_id: Some(ScanId::new(id).expect("scan id")),
    }
}

fn queue_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("device").join(QUEUE_FILE)).expect("queue file")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

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
            contains(&queue_bytes(e.dir.path()), &id),
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
        !contains(&queue_bytes(e.dir.path()), "off-again"),
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

/// Opens a device that holds version 1 of `gw`'s snapshot, then closes it.
async fn device_with_snapshot(e: &Env, gw: &FakeGateway) -> Vec<u8> {
    let key = gw.state().signer.verifier();
    let mut s = OfflineScanner::open(
        fast(&e.pki, "lane-1", gw.addr),
        offline_config(e.dir.path()),
        Some(key),
    )
    .expect("open");
    s.refresh(now_ms()).await.expect("refresh");
    s.close().await;
    std::fs::read(e.dir.path().join("device").join(SNAPSHOT_FILE)).expect("snapshot file")
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
    let good = device_with_snapshot(&e, &gw).await;
    gw.stop();
    let path = e.dir.path().join("device").join(SNAPSHOT_FILE);

    let mut flipped = good.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x01;
    std::fs::write(&path, &flipped).expect("write");
    let err = offline_scan(&e, gw.addr, now_ms())
        .await
        .expect_err("tampered");
    assert!(
        matches!(
            err,
            OfflineError::Snapshot {
                source: SnapshotError::BadSignature,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("altered"), "{err}");

    std::fs::write(&path, &good).expect("write");
    let expires = gw.state().versions[0].0.expires_ms();
    let err = offline_scan(&e, gw.addr, expires)
        .await
        .expect_err("expired");
    assert!(
        matches!(
            err,
            OfflineError::Snapshot {
                source: SnapshotError::Expired { .. },
                ..
            }
        ),
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
        matches!(
            err,
            OfflineError::Snapshot {
                source: SnapshotError::WrongKey { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("pin"), "says how to re-pin: {err}");

    // Fetched from a gateway with another key: refused, nothing written.
    std::fs::write(&path, &good).expect("write");
    other.state().rebuild();
    let mut s = OfflineScanner::open(
        fast(&e.pki, "lane-1", other.addr),
        offline_config(e.dir.path()),
        None,
    )
    .expect("open");
    let err = s.refresh(now_ms()).await.expect_err("foreign refresh");
    assert!(
        matches!(
            err,
            OfflineError::Snapshot {
                source: SnapshotError::WrongKey { .. },
                ..
            }
        ),
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
    assert!(!contains(&queue_bytes(e.dir.path()), "refused-1"));
}

#[tokio::test]
async fn a_revocation_delivered_by_a_delta_makes_the_device_deny_revoked_offline() {
    let e = env();
    let mut gw = FakeGateway::start(&e.pki, 50, 1);
    device_with_snapshot(&e, &gw).await;
    gw.state().revoke(3);
    let token = gw.state().token(3);
    let mut s = OfflineScanner::open(
        fast(&e.pki, "lane-1", gw.addr),
        offline_config(e.dir.path()),
        None,
    )
    .expect("open");
    let r = s.refresh(now_ms()).await.expect("refresh");
    assert!(r.delta, "a delta, not the whole snapshot");
    assert_eq!(r.version, 2);
    assert!(gw.state().delta_chunks > 0);
    assert!(
        r.bytes < gw.state().newest_bytes().len(),
        "the delta is smaller"
    );
    assert!(
        !std::fs::read(e.dir.path().join("device").join(DELTAS_FILE))
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
    let mut s = OfflineScanner::open(
        fast(&e.pki, "lane-1", gw.addr),
        offline_config(e.dir.path()),
        None,
    )
    .expect("reopen");
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
    assert_eq!(state.whole_chunks, chunks);
    assert!(
        state.chunks_waiting_max > 1 && state.chunks_waiting_max <= SNAPSHOT_WINDOW_CHUNKS,
        "at most the window in flight, more than one: {}",
        state.chunks_waiting_max
    );
    eprintln!(
        "{chunks} chunks ({len} bytes) at 20 ms each in {took:?}, {} at once at most",
        state.chunks_waiting_max
    );
}

const CHILD_DIR: &str = "SCANGATE_TEST_OFFLINE_DIR";
const CHILD_ADDR: &str = "SCANGATE_TEST_OFFLINE_ADDR";
const CHILD_TOKEN: &str = "SCANGATE_TEST_OFFLINE_TOKEN";
const GRANTED: &str = "granted offline";

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_scanner_killed_right_after_an_offline_grant_uploads_it_once_after_restart() {
    let e = env();
    let mut gw = FakeGateway::start(&e.pki, 10, 1);
    device_with_snapshot(&e, &gw).await;
    gw.stop();
    let exe = std::env::current_exe().expect("test binary");
    let mut child = KillOnDrop(
        Command::new(exe)
            .args(["--exact", "offline_child", "--ignored", "--nocapture"])
            .env(CHILD_DIR, e.dir.path())
            .env(CHILD_ADDR, gw.addr.to_string())
            .env(CHILD_TOKEN, gw.state().token(2))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let granted = lines.any(|l| l.map(|l| l.contains(GRANTED)).unwrap_or(false));
    assert!(granted, "the child granted offline");
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reaped");

    gw.restart().await;
    let mut s = OfflineScanner::open(
        fast(&e.pki, "lane-1", gw.addr),
        offline_config(e.dir.path()),
        None,
    )
    .expect("reopen after the crash");
    let id = ScanId::new("child-1").expect("id");
    assert!(s.queue().contains(&id), "the grant survived the kill");
    let report = s.sync(now_ms()).await.expect("sync");
    assert_eq!((report.uploaded, report.pending), (1, 0));
    drop(s);
    let mut s = OfflineScanner::open(
        fast(&e.pki, "lane-1", gw.addr),
        offline_config(e.dir.path()),
        None,
    )
    .expect("reopen");
    assert_eq!(s.sync(now_ms()).await.expect("sync").uploaded, 0);
    let state = gw.state();
    assert_eq!(state.recorded.get(&id), Some(&1));
    assert_eq!(state.uploaded, [id], "uploaded exactly once");
}

#[tokio::test]
#[ignore = "started as a child process by a_scanner_killed_right_after_an_offline_grant_uploads_it_once_after_restart"]
async fn offline_child() {
    let (Some(dir), Ok(addr), Ok(token)) = (
        std::env::var_os(CHILD_DIR),
        std::env::var(CHILD_ADDR),
        std::env::var(CHILD_TOKEN),
    ) else {
        return;
    };
    let dir = Path::new(&dir);
    let pki = Pki::open(&dir.join("pki"));
    let addr: SocketAddr = addr.parse().expect("addr");
    // No gateway is reachable: the scanner starts anyway and decides from
    // the snapshot on disk.
    let mut s =
        OfflineScanner::open(fast(&pki, "lane-2", addr), offline_config(dir), None).expect("open");
    let d = s
        .scan(input(&token, "child-1"), now_ms())
        .await
        .expect("scan");
    assert_eq!(
        (d.mode, d.reply.decision),
        (Mode::Offline, Decision::Granted)
    );
    println!("{GRANTED}");
    // Wait to be killed: no exit, no destructor, as in a crash.
    loop {
        std::thread::park();
    }
}
