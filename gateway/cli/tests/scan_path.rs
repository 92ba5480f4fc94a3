//! End to end over real QUIC and TLS on loopback: every denial reason, exact
//! counts under concurrency, retries, admin changes, forgeries.

use crate::common;

use common::frames::scan_frame;
use common::{Gateway, metric, scan};
use scangate_client::ScanInput;
use scangate_core::frame;
use scangate_core::token::{Keyring, SigningKey};
use scangate_core::wire::{Response, ResponseBody};
use scangate_core::{Decision, PassId, Reason};
use serde_json::json;
use std::time::Duration;

/// A keyring whose key 1 (the gateway's first key id) has a secret of
/// 32 bytes `secret`: its tokens name a key the gateway knows but are
/// not the gateway's.
fn forger_ring(secret: u8) -> Keyring {
    Keyring::new(
        &[SigningKey {
            id: 1,
            secret: [secret; 32],
        }],
        1,
    )
    .expect("ring")
}

/// The forger's one attempt per scan, ms: a forged token is refused in
/// microseconds; a minute covers a debug gateway starved by a loaded
/// machine, where the SDK's default 2 s attempt was once missed.
const FORGER_TIMEOUT_MS: u64 = 60_000;

fn reason(d: Decision) -> Option<&'static str> {
    d.reason().map(Reason::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_denial_reason_comes_from_a_real_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--max-queued-per-pass", "1"]);
    let s = gw.scanner("gate-a").await;
    let keyring =
        scangate_gateway::keys::load(&dir.path().join("signing-keys.json")).expect("keyring");

    let one = gw.issue_one(1).await;
    assert_eq!(
        scan(&s, &one.token, "A", None).await.decision,
        Decision::Granted
    );
    let mut seen = vec![reason(scan(&s, &one.token, "A", None).await.decision)];

    seen.push(reason(scan(&s, "NOT-A-TOKEN", "A", None).await.decision));
    let other = forger_ring(9);
    let id: PassId = one.id.parse().expect("id");
    seen.push(reason(
        scan(&s, &other.sign(id, None), "A", None).await.decision,
    ));
    seen.push(reason(
        scan(&s, &keyring.sign(PassId([1; 16]), None), "A", None)
            .await
            .decision,
    ));

    let revoked = gw.issue_one(5).await;
    gw.post(
        &format!("/v1/passes/{}/revoke", revoked.id),
        json!({"reason": "refunded"}),
    )
    .await;
    seen.push(reason(scan(&s, &revoked.token, "A", None).await.decision));
    let suspended = gw.issue_one(5).await;
    gw.post(
        &format!("/v1/passes/{}/suspend", suspended.id),
        json!({"reason": "check id"}),
    )
    .await;
    seen.push(reason(scan(&s, &suspended.token, "A", None).await.decision));

    let future = gw
        .issue(json!({"event": "fest", "valid_from": "2100-01-01T00:00:00Z"}))
        .await;
    seen.push(reason(scan(&s, &future[0].token, "A", None).await.decision));
    // Issuing refuses a window that has ended already: this one ends on
    // the next whole second but one, and the scan waits for the clock.
    let until_ms = (scangate_gateway::now_ms() / 1_000 + 2) * 1_000;
    let until = scangate_api::rfc3339(until_ms);
    let past = gw
        .issue(json!({"event": "fest", "valid_from": "2020-01-01T00:00:00Z", "valid_until": until}))
        .await;
    common::gate_actions::clock_past(until_ms).await;
    seen.push(reason(scan(&s, &past[0].token, "A", None).await.decision));
    let short_lived = keyring.sign(one.id.parse().expect("id"), Some(1_600_000_000));
    assert_eq!(
        reason(scan(&s, &short_lived, "A", None).await.decision),
        Some("expired")
    );

    let gated = gw.issue(json!({"event": "fest", "gates": ["north"]})).await;
    seen.push(reason(
        scan(&s, &gated[0].token, "south", None).await.decision,
    ));
    let wrong_event = s
        .scan(ScanInput {
            token: gated[0].token.clone(),
            gate: "north".into(),
            event: Some("other-event".into()),
            scan_id: None,
        })
        .await
        .expect("decided");
    seen.push(reason(wrong_event.decision));

    // busy: one queued scan per pass, 40 at once on one pass.
    let busy_pass = gw.issue(json!({"event": "fest", "unlimited": true})).await;
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let s = s.clone();
            let t = busy_pass[0].token.clone();
            tokio::spawn(async move { scan(&s, &t, "A", None).await.decision })
        })
        .collect();
    let mut busy = 0;
    for t in tasks {
        if reason(t.await.expect("task")) == Some("busy") {
            busy += 1;
        }
    }
    assert!(busy > 0, "a full per-pass queue answers busy");
    seen.push(Some("busy"));

    assert_eq!(
        seen,
        [
            "used_up",
            "malformed",
            "forged",
            "unknown",
            "revoked",
            "suspended",
            "not_yet_valid",
            "expired",
            "wrong_gate",
            "wrong_event",
            "busy"
        ]
        .map(Some)
    );
    assert!(gw.sigterm().success());

    // rate_limited: a gateway whose devices may send 3 scans at once.
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--device-rate", "1", "--device-burst", "3"]);
    let s = gw.scanner("greedy").await;
    let pass = gw.issue(json!({"event": "fest", "unlimited": true})).await;
    let mut reasons = Vec::new();
    for _ in 0..5 {
        reasons.push(reason(scan(&s, &pass[0].token, "A", None).await.decision));
    }
    assert_eq!(reasons[..3], [None, None, None]);
    assert_eq!(reasons[4], Some("rate_limited"));
    assert!(gw.sigterm().success());
}

async fn race(gw: &Gateway, max_uses: u32) {
    let pass = gw.issue_one(max_uses).await;
    let mut scanners = Vec::new();
    for i in 0..50 {
        scanners.push(gw.scanner(&format!("race-{max_uses}-{i}")).await);
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = scanners
        .into_iter()
        .map(|s| {
            let token = pass.token.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                scan(&s, &token, "A", None).await.decision
            })
        })
        .collect();
    let mut granted = 0;
    let mut used_up = 0;
    for t in tasks {
        match t.await.expect("task") {
            Decision::Granted => granted += 1,
            Decision::Denied(Reason::UsedUp) => used_up += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((granted, used_up), (max_uses, 50 - max_uses));
    let stored = gw.pass(&pass.id).await;
    assert_eq!(stored.uses, max_uses);
    let scans = gw.scans(&pass.id).await;
    assert_eq!(scans.len(), 50, "every decision is logged");
    assert_eq!(
        scans.iter().filter(|s| s["decision"] == "granted").count() as u32,
        max_uses
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_scanners_at_once_grant_exactly_max_uses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    race(&gw, 1).await;
    race(&gw, 3).await;
    assert!(gw.sigterm().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_scan_id_counts_once_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_one(2).await;
    let s = gw.scanner("retry").await;
    let first = scan(&s, &pass.token, "A", Some("scan-1")).await;
    assert_eq!(
        (first.decision, first.uses, first.replayed),
        (Decision::Granted, Some(1), false)
    );
    let again = scan(&s, &pass.token, "A", Some("scan-1")).await;
    assert_eq!(
        (again.decision, again.uses, again.replayed),
        (Decision::Granted, Some(1), true)
    );
    assert_eq!(gw.pass(&pass.id).await.uses, 1);

    // The same scan id on another pass is refused, not counted.
    let other = gw.issue_one(2).await;
    let err = s
        .scan(ScanInput {
            token: other.token.clone(),
            gate: "A".into(),
            event: None,
            scan_id: Some(scangate_core::ScanId::new("scan-1").expect("id")),
        })
        .await
        .expect_err("conflict");
    assert!(err.to_string().contains("another pass"), "{err}");
    assert_eq!(gw.pass(&other.id).await.uses, 0);

    // After kill -9 and a restart the stored first decision still answers.
    drop(s);
    gw.kill9();
    let gw = Gateway::start(dir.path(), &[]);
    let s = gw.scanner("retry").await;
    let after = scan(&s, &pass.token, "A", Some("scan-1")).await;
    assert_eq!(
        (after.decision, after.uses, after.replayed),
        (Decision::Granted, Some(1), true)
    );
    let fresh = scan(&s, &pass.token, "A", Some("scan-2")).await;
    assert_eq!((fresh.decision, fresh.uses), (Decision::Granted, Some(2)));
    let denied = scan(&s, &pass.token, "A", Some("scan-3")).await;
    assert_eq!(reason(denied.decision), Some("used_up"));
    let denied_again = scan(&s, &pass.token, "A", Some("scan-3")).await;
    assert_eq!(
        (reason(denied_again.decision), denied_again.replayed),
        (Some("used_up"), true)
    );
    assert_eq!(gw.pass(&pass.id).await.uses, 2);
    assert!(gw.sigterm().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_suspend_reactivate_apply_to_the_next_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw
        .issue(json!({"event": "fest", "unlimited": true}))
        .await
        .remove(0);
    let s = gw.scanner("door").await;
    let path = |a: &str| format!("/v1/passes/{}/{a}", pass.id);
    assert!(scan(&s, &pass.token, "A", None).await.decision.is_granted());
    gw.post(&path("suspend"), json!({"reason": "lost"})).await;
    assert_eq!(
        reason(scan(&s, &pass.token, "A", None).await.decision),
        Some("suspended")
    );
    gw.post(&path("revoke"), json!({"reason": "stolen"})).await;
    assert_eq!(
        reason(scan(&s, &pass.token, "A", None).await.decision),
        Some("revoked")
    );
    let view = gw
        .post(&path("reactivate"), json!({"reason": "found"}))
        .await;
    assert_eq!(view["status"], "active");
    assert!(scan(&s, &pass.token, "A", None).await.decision.is_granted());
    let audit = gw.get(&path("audit")).await;
    let actions: Vec<_> = audit
        .as_array()
        .expect("array")
        .iter()
        .map(|a| a["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [json!("suspend"), json!("revoke"), json!("reactivate")]
    );
    assert_eq!(gw.pass(&pass.id).await.uses, 2);
    assert!(gw.sigterm().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_touch_no_actor_and_no_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_one(1).await;
    // One attempt per scan: a forged token is never stored, so an SDK retry
    // (after an attempt that missed its deadline on a starved machine) is
    // decided and counted again, and the forged count would be 101. The
    // long deadline keeps a slow answer an answer.
    let s = gw
        .scanner_with("forger", |c| {
            c.attempts = 1;
            c.request_timeout_ms = FORGER_TIMEOUT_MS;
        })
        .await;
    let before = gw.metrics().await;
    let forger = forger_ring(7);
    let id: PassId = pass.id.parse().expect("id");
    for i in 0..100u8 {
        let token = if i % 2 == 0 {
            forger.sign(id, None)
        } else {
            forger.sign(PassId([i; 16]), None)
        };
        assert_eq!(
            reason(scan(&s, &token, "A", None).await.decision),
            Some("forged")
        );
    }
    let after = gw.metrics().await;
    let forged = |t: &str| metric(t, "scangate_scans_total", &[("reason", "forged")]);
    assert_eq!(forged(&after) - forged(&before), 100.0);
    for name in [
        "scangate_store_reads_total",
        "scangate_actors_started_total",
        "scangate_store_commits_total",
    ] {
        assert_eq!(
            metric(&before, name, &[]),
            metric(&after, name, &[]),
            "{name} moved"
        );
    }
    // The pass itself is untouched and still grants, and that grant does
    // move the counters above (so their standing still means something).
    assert!(scan(&s, &pass.token, "A", None).await.decision.is_granted());
    let control = gw.metrics().await;
    for name in [
        "scangate_actors_started_total",
        "scangate_store_commits_total",
    ] {
        assert!(
            metric(&control, name, &[]) > metric(&after, name, &[]),
            "{name} did not move"
        );
    }
    assert!(gw.sigterm().success());
}

/// A scanner that sends its scans and at once finishes its side of the
/// stream still gets every scan answered, each counted once, and then the
/// end of the stream: the stream's task decides its scans itself (no task
/// per scan) and answers all it took before it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_finished_by_its_scanner_answers_every_scan_before_it_ends() {
    const PASSES: u64 = 20;
    const SCANS: u64 = 200;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let passes = gw
        .issue(json!({"event": "fest", "unlimited": true, "count": PASSES}))
        .await;
    let conn = common::raw_connection(dir.path(), gw.quic, "finisher").await;
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    let mut out = bytes::BytesMut::new();
    for id in 1..=SCANS {
        let token = &passes[usize::try_from(id % PASSES).expect("index")].token;
        frame::encode(&scan_frame(id, token, "finished"), &mut out).expect("fits");
    }
    send.write_all(&out).await.expect("write every scan");
    send.finish().expect("finish the scanner's side");

    let mut inbox = bytes::BytesMut::new();
    let mut granted = std::collections::HashSet::new();
    loop {
        while let Ok((v, payload)) = frame::split_frame(&mut inbox) {
            let reply: Response = frame::decode(v, &payload).expect("response");
            let ResponseBody::Scan(s) = &reply.body else {
                panic!("expected a scan reply, got {reply:?}")
            };
            assert_eq!(s.decision, Decision::Granted, "request {}", reply.id);
            assert!(granted.insert(reply.id), "one reply per request");
        }
        let read = tokio::time::timeout(Duration::from_secs(30), recv.read_chunk(64 * 1024, true));
        match read.await.expect("replies, then the stream's end, in time") {
            Ok(Some(chunk)) => inbox.extend_from_slice(&chunk.bytes),
            Ok(None) => break,
            Err(e) => panic!("the stream failed before its end: {e}"),
        }
    }
    assert!(inbox.is_empty(), "no partial reply at the end");
    assert_eq!(granted.len() as u64, SCANS, "every scan answered");
    for pass in &passes {
        assert_eq!(u64::from(gw.pass(&pass.id).await.uses), SCANS / PASSES);
    }
    let scans_total = metric(&gw.metrics().await, "scangate_scans_total", &[]);
    assert_eq!(scans_total, SCANS as f64, "every decision counted once");
    assert!(gw.sigterm().success());
}
