//! The gateway serves signed offline snapshots over `scangate/1` (issue 26,
//! gateway side): a device downloads one chunk by chunk, verifies it with
//! the gateway's public key and decides a real token from it; a revocation
//! reaches it as a delta; the bytes name no pass and hold no token or
//! display text; the signing key survives a restart and differs between
//! gateways. Real `scangate` processes, real QUIC on loopback, real files.

use crate::common;

use bytes::BytesMut;
use common::scanners::snapshot_key;
use common::{Gateway, bin, raw_connection, read_response};
use data_encoding::HEXLOWER;
use scangate_core::frame;
use scangate_core::offline::SnapshotError;
use scangate_core::offline::messages::{Downloaded, SnapshotDownload, SnapshotFetch};
use scangate_core::wire::{ErrorCode, Request, RequestBody, ResponseBody};
use scangate_core::{Decision, Reason};
use scangate_gateway::operator::api::PassView;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

/// Passes per test event: 600 entries of 19 bytes take four chunks.
const PASSES: u32 = 600;
/// Longer than the gateway's reuse interval (5 s), with room for a build.
const NEW_VERSION_DEADLINE: Duration = Duration::from_secs(30);
const DISPLAY: &str = "Ada Lovelace, row 4 seat 2";

/// One QUIC stream to the gateway, speaking frames by hand.
struct Device {
    _conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    inbox: BytesMut,
    next_id: u64,
}

impl Device {
    async fn connect(gw: &Gateway, name: &str) -> Device {
        let conn = raw_connection(&gw.dir, gw.quic, name).await;
        let (send, recv) = conn.open_bi().await.expect("stream");
        Device {
            _conn: conn,
            send,
            recv,
            inbox: BytesMut::new(),
            next_id: 1,
        }
    }

    async fn ask(&mut self, body: RequestBody) -> ResponseBody {
        let id = self.next_id;
        self.next_id += 1;
        let mut out = BytesMut::new();
        frame::encode(&Request { id, body }, &mut out).expect("encode");
        self.send.write_all(&out).await.expect("write");
        let reply = read_response(&mut self.recv, &mut self.inbox).await;
        assert_eq!(reply.id, id);
        reply.body
    }

    /// Downloads `event`'s snapshot (or delta from `have`) chunk by chunk;
    /// the blob and how many chunks it took.
    async fn download(&mut self, event: &str, have: Option<u64>) -> (Downloaded, usize) {
        let mut download = SnapshotDownload::new(event, have);
        let mut chunks = 0;
        while let Some(req) = download.next_request() {
            match self.ask(RequestBody::Snapshot(req)).await {
                ResponseBody::Snapshot(chunk) => download.accept(&chunk).expect("chunk"),
                other => panic!("expected a chunk, got {other:?}"),
            }
            chunks += 1;
        }
        (download.finish().expect("whole"), chunks)
    }

    /// The error code the gateway answers `fetch` with.
    async fn refused(&mut self, fetch: serde_json::Value) -> (ErrorCode, String) {
        let fetch = serde_json::from_value(fetch).expect("fetch");
        match self.ask(RequestBody::Snapshot(fetch)).await {
            ResponseBody::Error(e) => (e.code, e.message().to_owned()),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

fn now_ms() -> i64 {
    scangate_gateway::now_ms()
}

async fn issue_fest(gw: &Gateway) -> Vec<PassView> {
    gw.issue(json!({"event": "fest", "count": PASSES, "max_uses": 1, "display": DISPLAY}))
        .await
}

fn snapshot_bytes(blob: Downloaded) -> Vec<u8> {
    match blob {
        Downloaded::Snapshot(bytes) => bytes,
        other => panic!("expected a whole snapshot, got {other:?}"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_decides_from_the_snapshot_and_a_delta_brings_a_revocation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let key_line = gw.wait_for_line("offline snapshots signed by key");
    let verifier = snapshot_key(dir.path());
    assert!(
        key_line.contains(&HEXLOWER.encode(&verifier.to_bytes())),
        "{key_line}"
    );
    let passes = issue_fest(&gw).await;
    let mut device = Device::connect(&gw, "gate-a-1").await;

    let (blob, chunks) = device.download("fest", None).await;
    assert!(chunks >= 2, "{PASSES} passes came in {chunks} chunk(s)");
    let bytes = snapshot_bytes(blob);
    let snapshot = verifier
        .open_snapshot(&bytes, "fest", now_ms())
        .expect("a valid snapshot");
    assert_eq!(snapshot.entries().len(), PASSES as usize);
    let version = snapshot.version();
    let created = snapshot.created_ms();
    assert_eq!(version, u64::try_from(created).expect("positive"));
    assert!((now_ms() - created).abs() < 60_000, "created {created}");
    let decide = |s: &scangate_core::offline::Snapshot, token: &str| {
        s.decide(token, "A", Some("fest"), now_ms(), |_| 0)
            .expect("usable")
            .decision
    };
    assert_eq!(decide(&snapshot, &passes[0].token), Decision::Granted);

    assert_private(&bytes, &passes);

    // Within the reuse interval, a device that holds the newest is current.
    let (current, _) = device.download("fest", Some(version)).await;
    assert_eq!(current, Downloaded::Current);

    let revoke = format!("/v1/passes/{}/revoke", passes[0].id);
    gw.post(&revoke, json!({"reason": "reported stolen"})).await;
    let deadline = Instant::now() + NEW_VERSION_DEADLINE;
    let delta = loop {
        match device.download("fest", Some(version)).await.0 {
            Downloaded::Delta(delta) => break delta,
            Downloaded::Current if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("expected a delta by the deadline, got {other:?}"),
        }
    };
    let delta = verifier
        .open_delta(&delta, "fest", now_ms())
        .expect("a valid delta");
    assert_eq!(delta.base_version(), version);
    assert!(delta.version() > version);
    assert_eq!(delta.changed().len(), 1, "one pass changed");
    let refreshed = snapshot.apply(&delta).expect("applies");
    assert_eq!(
        decide(&refreshed, &passes[0].token),
        Decision::Denied(Reason::Revoked)
    );
    assert_eq!(decide(&refreshed, &passes[1].token), Decision::Granted);

    assert_counted(&gw, bytes.len()).await;
}

/// Privacy: no display text, no pass id (raw or hex), no token in `bytes`.
fn assert_private(bytes: &[u8], passes: &[PassView]) {
    assert!(!contains(bytes, DISPLAY.as_bytes()));
    for pass in passes {
        assert!(!contains(bytes, pass.token.as_bytes()), "a token");
        assert!(!contains(bytes, pass.id.as_bytes()), "a hex pass id");
        let raw = HEXLOWER.decode(pass.id.as_bytes()).expect("hex id");
        assert!(!contains(bytes, &raw), "a raw pass id");
    }
}

/// A metric, its labels, and the least it may read.
type Floor<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// Two builds, chunks of every kind, and at least `held` bytes held.
async fn assert_counted(gw: &Gateway, held: usize) {
    let metrics = gw.metrics().await;
    let at_least: [Floor; 6] = [
        (
            "scangate_offline_snapshot_builds_total",
            &[("outcome", "built")],
            2.0,
        ),
        ("scangate_offline_snapshot_build_seconds_count", &[], 2.0),
        (
            "scangate_offline_snapshot_chunks_total",
            &[("kind", "snapshot")],
            2.0,
        ),
        (
            "scangate_offline_snapshot_chunks_total",
            &[("kind", "delta")],
            1.0,
        ),
        (
            "scangate_offline_snapshot_chunks_total",
            &[("kind", "current")],
            1.0,
        ),
        ("scangate_offline_snapshot_bytes", &[], held as f64),
    ];
    for (name, labels, min) in at_least {
        let got = common::metric(&metrics, name, labels);
        assert!(
            got >= min,
            "{name}{labels:?} = {got}, expected at least {min}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_survives_a_restart_and_another_gateway_signs_with_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    issue_fest(&gw).await;
    let first_key = snapshot_key(dir.path());
    let mut device = Device::connect(&gw, "gate-b-1").await;
    let before = snapshot_bytes(device.download("fest", None).await.0);
    let version = first_key
        .open_snapshot(&before, "fest", now_ms())
        .expect("valid")
        .version();
    assert!(gw.sigterm().success());

    // Restarted on the same data dir: the same key; the version the device
    // holds is not held any more, so it gets the whole snapshot, newer.
    let gw = Gateway::start(dir.path(), &[]);
    assert_eq!(snapshot_key(dir.path()), first_key, "the .pub file");
    let mut device = Device::connect(&gw, "gate-b-1").await;
    let after = snapshot_bytes(device.download("fest", Some(version)).await.0);
    let reopened = first_key
        .open_snapshot(&after, "fest", now_ms())
        .expect("signed with the same key");
    assert!(reopened.version() > version);
    gw.kill9();

    // Another data dir, another key: the first key refuses its snapshots.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = Gateway::start(other_dir.path(), &[]);
    issue_fest(&other).await;
    let mut device = Device::connect(&other, "gate-b-2").await;
    let foreign = snapshot_bytes(device.download("fest", None).await.0);
    assert_ne!(snapshot_key(other_dir.path()), first_key);
    assert!(matches!(
        first_key.open_snapshot(&foreign, "fest", now_ms()),
        Err(SnapshotError::WrongKey { .. })
    ));
    other.kill9();

    // A damaged key file stops the start with a sentence naming it.
    std::fs::write(dir.path().join("offline-signing-key"), [1u8; 5]).expect("damage");
    let out = Command::new(bin())
        .args(["serve", "--data-dir", dir.path().to_str().expect("utf-8")])
        .args(["--quic", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("offline-signing-key") && stderr.contains("5 bytes"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_gateway_cannot_serve_get_the_codes_the_protocol_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    issue_fest(&gw).await;
    let mut device = Device::connect(&gw, "gate-c-1").await;

    let (code, message) = device.refused(json!({"event": "no-such-event"})).await;
    assert_eq!(code, ErrorCode::SnapshotUnavailable, "{message}");
    let (code, message) = device
        .refused(json!({"event": "fest", "version": 12345, "offset": 3072}))
        .await;
    assert_eq!(code, ErrorCode::SnapshotUnavailable, "{message}");
    assert!(message.contains("start the download again"), "{message}");
    let (code, message) = device.refused(json!({"event": "fest\n"})).await;
    assert_eq!(code, ErrorCode::InvalidRequest, "{message}");
    let (code, _) = device.refused(json!({"event": "fest", "offset": 10})).await;
    assert_eq!(
        code,
        ErrorCode::InvalidRequest,
        "a first request starts at 0"
    );

    // An offset past the end of a held blob.
    let bytes = snapshot_bytes(device.download("fest", None).await.0);
    let version = snapshot_key(dir.path())
        .open_snapshot(&bytes, "fest", now_ms())
        .expect("valid")
        .version();
    let past = u32::try_from(bytes.len() + 1).expect("small");
    let (code, _) = device
        .refused(json!({"event": "fest", "version": version, "offset": past}))
        .await;
    assert_eq!(code, ErrorCode::InvalidRequest);

    // An empty upload is refused as a whole, and the stream lives
    // (reconciliation itself: offline_upload.rs).
    let upload = RequestBody::OfflineUpload(scangate_core::offline::messages::OfflineUpload {
        scans: Vec::new(),
    });
    assert!(matches!(
        device.ask(upload).await,
        ResponseBody::Error(e) if e.code == ErrorCode::InvalidRequest
    ));
    assert_eq!(device.ask(RequestBody::Ping).await, ResponseBody::Pong);
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_requests_take_from_the_devices_rate_and_chunks_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--device-rate", "1", "--device-burst", "2"]);
    issue_fest(&gw).await;
    let mut device = Device::connect(&gw, "gate-d-1").await;
    // More chunks than the burst: only the first request takes a token.
    let (blob, chunks) = device.download("fest", None).await;
    assert!(chunks > 2, "{chunks} chunks");
    let version = snapshot_key(dir.path())
        .open_snapshot(&snapshot_bytes(blob), "fest", now_ms())
        .expect("valid")
        .version();
    // "Am I current?" again and again: refused once the bucket is empty.
    let ask = SnapshotFetch {
        event: "fest".into(),
        have_version: Some(version),
        version: None,
        offset: 0,
    };
    for _ in 0..10 {
        match device.ask(RequestBody::Snapshot(ask.clone())).await {
            ResponseBody::Snapshot(chunk) => assert_eq!(chunk.total_len, 0, "current"),
            ResponseBody::Error(e) => {
                assert_eq!(e.code, ErrorCode::Unavailable, "{}", e.message());
                assert!(e.message().contains("too often"), "{}", e.message());
                gw.kill9();
                return;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("ten first requests at once were never refused at 1 a second");
}
