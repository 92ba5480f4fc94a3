//! The gateway reconciles uploaded offline scans (issue 26, gateway side):
//! each is recorded once as the fact it is, counted even beyond its limit,
//! flagged with every rule it broke, listed by `GET /v1/conflicts` and
//! `scangate conflicts list`, counted on `/metrics` and written to the
//! operator journal. Real `scangate` processes, real QUIC with device
//! certificates on loopback, uploads sent with `Scanner::upload`.

use crate::common;

use common::{Gateway, metric};
use scangate_client::Scanner;
use scangate_core::offline::messages::{
    AckStatus, ConflictKind, OfflineAck, OfflineScan, OfflineUpload, UPLOAD_BATCH_MAX,
};
use scangate_core::token::{Keyring, SigningKey};
use scangate_core::wire::{ErrorCode, RequestBody, ResponseBody};
use scangate_core::{Decision, PassId, Reason, ScanId};
use scangate_gateway::operator::api::rfc3339;
use serde_json::{Value, json};

/// How far before now the offline scans happened: a device that was cut
/// off for two minutes.
const OFFLINE_FOR_MS: i64 = 120_000;

fn now_ms() -> i64 {
    scangate_gateway::now_ms()
}

/// A grant of `token` at gate `A` of `fest` that a device decided at
/// `device_time_ms`, from a snapshot made a minute before.
fn offline(token: &str, scan_id: &str, device_time_ms: i64) -> OfflineScan {
    OfflineScan {
        token: token.to_owned(),
        gate: "A".into(),
        event: "fest".into(),
        scan_id: ScanId::new(scan_id).expect("scan id"),
        device_time_ms,
        snapshot_version: u64::try_from(device_time_ms - 60_000).expect("positive"),
        decision: Decision::Granted,
    }
}

async fn upload(scanner: &Scanner, scans: &[OfflineScan]) -> Vec<(AckStatus, Vec<ConflictKind>)> {
    let ack: OfflineAck = scanner.upload(scans).await.expect("upload");
    ack.scans
        .into_iter()
        .map(|a| (a.status, a.conflicts))
        .collect()
}

/// The conflicts `GET /v1/conflicts?QUERY` lists (one page).
async fn conflicts(gw: &Gateway, query: &str) -> Vec<Value> {
    let page = gw.get(&format!("/v1/conflicts?{query}")).await;
    page["items"].as_array().expect("items").clone()
}

/// The operator journal's `offline.conflict` lines.
async fn journal_lines(gw: &Gateway) -> Vec<Value> {
    let page = gw.get("/v1/audit/operator?action=offline.conflict").await;
    page["items"].as_array().expect("items").clone()
}

const RECORDED: AckStatus = AckStatus::Recorded;
const DUPLICATE: AckStatus = AckStatus::Duplicate;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ticket_on_two_offline_devices_counts_twice_and_is_flagged_over_limit_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let before = gw.metrics().await;
    for kind in ConflictKind::ALL {
        let line = format!(
            "scangate_offline_conflicts_total{{kind=\"{}\"}} 0",
            kind.as_str()
        );
        assert!(before.contains(&line), "{line} listed before any upload");
    }
    let pass = gw.issue_one(1).await;
    let (a, b) = (gw.scanner("gate-a-1").await, gw.scanner("gate-b-2").await);
    let t = now_ms() - OFFLINE_FOR_MS;

    let first = upload(&a, &[offline(&pass.token, "a-1", t)]).await;
    assert_eq!(first, [(RECORDED, vec![])], "within the limit");
    let second = upload(&b, &[offline(&pass.token, "b-1", t + 1_000)]).await;
    assert_eq!(second, [(RECORDED, vec![ConflictKind::OverLimit])]);
    assert_eq!(gw.pass(&pass.id).await.uses, 2, "both entries counted");

    let over = conflicts(&gw, "kind=over_limit").await;
    assert_eq!(over.len(), 1, "exactly one over_limit: {over:?}");
    let c = &over[0];
    assert_eq!(c["pass_id"], json!(pass.id));
    assert_eq!(c["device"], "gate-b-2");
    assert_eq!(
        c["other_devices"],
        json!(["gate-a-1"]),
        "both devices named"
    );
    assert_eq!(c["scan_id"], "b-1");
    assert_eq!(c["gate"], "A");
    assert_eq!(c["device_time"], json!(rfc3339(t + 1_000)));

    let viewer = gw.token_for("viewer", "watch");
    let (status, body) = gw.get_as("/v1/conflicts?event=fest", &viewer).await;
    assert_eq!(status, 200, "a viewer reads conflicts: {body}");

    let listed: Value =
        serde_json::from_str(&gw.cli(&["conflicts", "list", "--json"])).expect("one JSON object");
    let rows = listed["conflicts"].as_array().expect("conflicts");
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(rows[0]["kind"], "over_limit");
    assert_eq!(rows[0]["other_devices"], json!(["gate-a-1"]));
    assert!(listed["next"].is_null(), "{listed}");
    let table = gw.cli(&["conflicts", "list", "--kind", "over_limit"]);
    assert!(
        table.contains("over_limit") && table.contains("also on gate-a-1"),
        "{table}"
    );

    let m = gw.metrics().await;
    let kind = |k: &str| metric(&m, "scangate_offline_conflicts_total", &[("kind", k)]);
    assert_eq!(kind("over_limit"), 1.0);
    assert_eq!(kind("forged"), 0.0);
    let recorded = metric(
        &m,
        "scangate_offline_scans_total",
        &[("status", "recorded")],
    );
    assert_eq!(recorded, 2.0);

    let lines = journal_lines(&gw).await;
    assert_eq!(lines.len(), 1, "one journal line per conflict: {lines:?}");
    assert_eq!(lines[0]["who"], "device:gate-b-2");
    assert_eq!(lines[0]["subject"], "b-1");
    let detail = lines[0]["detail"].as_str().expect("detail");
    assert!(detail.starts_with("over_limit: pass "), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_after_a_revocation_is_flagged_and_one_before_it_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_one(3).await;
    let device = gw.scanner("gate-a-1").await;
    let before = now_ms();
    gw.post(
        &format!("/v1/passes/{}/revoke", pass.id),
        json!({"reason": "reported stolen"}),
    )
    .await;
    let after = now_ms();

    let acks = upload(
        &device,
        &[
            offline(&pass.token, "rv-after", after + 1),
            offline(&pass.token, "rv-before", before - 1),
        ],
    )
    .await;
    assert_eq!(
        acks,
        [
            (RECORDED, vec![ConflictKind::RevokedBeforeScan]),
            (RECORDED, vec![]),
        ]
    );
    assert_eq!(
        gw.pass(&pass.id).await.uses,
        2,
        "facts count on a revoked pass"
    );
    let listed = conflicts(&gw, &format!("pass={}", pass.id)).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["kind"], "revoked_before_scan");
    assert_eq!(listed[0]["scan_id"], "rv-after");
    assert_eq!(listed[0]["other_devices"], json!([]));
}

/// A device whose snapshot predates a re-issue admits the old code; the
/// upload counts it and flags it `superseded`, the rule the gateway would
/// have denied it by online. The new code's grant breaks no rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_grant_of_a_superseded_token_is_counted_and_flagged_superseded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_one(3).await;
    let reissued = gw
        .post(
            &format!("/v1/passes/{}/reissue", pass.id),
            json!({"reason": "screenshot posted online"}),
        )
        .await;
    let new_token = reissued["token"].as_str().expect("the new token");
    assert_ne!(new_token, pass.token);
    let device = gw.scanner("gate-a-1").await;
    let t = now_ms() - OFFLINE_FOR_MS;

    let acks = upload(
        &device,
        &[
            offline(&pass.token, "old-code", t),
            offline(new_token, "new-code", t + 1),
        ],
    )
    .await;
    assert_eq!(
        acks,
        [
            (RECORDED, vec![ConflictKind::Superseded]),
            (RECORDED, vec![]),
        ]
    );
    assert_eq!(gw.pass(&pass.id).await.uses, 2, "both entries counted");
    let listed = conflicts(&gw, "kind=superseded").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (&listed[0]["scan_id"], &listed[0]["pass_id"]),
        (&json!("old-code"), &json!(pass.id))
    );
    let m = gw.metrics().await;
    let kind = |k: &str| metric(&m, "scangate_offline_conflicts_total", &[("kind", k)]);
    assert_eq!(kind("superseded"), 1.0);
    // The same upload again: a duplicate, flagged as first recorded.
    let again = upload(&device, &[offline(&pass.token, "old-code", t)]).await;
    assert_eq!(again, [(DUPLICATE, vec![ConflictKind::Superseded])]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_uploaded_again_counts_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let gated = gw
        .issue(json!({"event": "fest", "max_uses": 2, "gates": ["A"]}))
        .await
        .remove(0);
    let open = gw.issue_unlimited().await;
    let device = gw.scanner("gate-b-2").await;
    let t = now_ms() - OFFLINE_FOR_MS;
    let mut at_b = offline(&gated.token, "dup-1", t);
    at_b.gate = "B".into();
    let batch = [at_b, offline(&open.token, "dup-2", t + 1)];

    let first = upload(&device, &batch).await;
    assert_eq!(
        first,
        [
            (RECORDED, vec![ConflictKind::WrongGate]),
            (RECORDED, vec![])
        ]
    );
    let again = upload(&device, &batch).await;
    assert_eq!(
        again,
        [
            (DUPLICATE, vec![ConflictKind::WrongGate]),
            (DUPLICATE, vec![])
        ],
        "the first upload's conflicts, nothing anew"
    );
    assert_eq!(gw.pass(&gated.id).await.uses, 1);
    assert_eq!(gw.pass(&open.id).await.uses, 1);
    assert_eq!(gw.scans(&gated.id).await.len(), 1, "one record");
    assert_eq!(conflicts(&gw, "event=fest").await.len(), 1, "no second row");
    assert_eq!(journal_lines(&gw).await.len(), 1, "no second journal line");
    let m = gw.metrics().await;
    let status = |s: &str| metric(&m, "scangate_offline_scans_total", &[("status", s)]);
    assert_eq!((status("recorded"), status("duplicate")), (2.0, 2.0));
    let wrong_gate = metric(
        &m,
        "scangate_offline_conflicts_total",
        &[("kind", "wrong_gate")],
    );
    assert_eq!(wrong_gate, 1.0, "counted once");
}

/// A keyring whose key 1 (the gateway's first key id) has another secret:
/// its tokens name a key the gateway knows but do not verify.
fn forger_ring() -> Keyring {
    Keyring::new(
        &[SigningKey {
            id: 1,
            secret: [7; 32],
        }],
        1,
    )
    .expect("ring")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_and_unknown_passes_are_flagged_never_counted_and_kept_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_one(5).await;
    let pass_id: PassId = pass.id.parse().expect("pass id");
    let ours = scangate_gateway::keys::load(&dir.path().join("signing-keys.json")).expect("keys");
    let forged = forger_ring().sign(pass_id, None);
    let unknown = ours.sign(PassId([0x5a; 16]), None);
    let device = gw.scanner("gate-c-3").await;
    let t = now_ms() - OFFLINE_FOR_MS;
    let mut denied = offline(&forged, "forged-denied", t + 2);
    denied.decision = Decision::Denied(Reason::Unknown);
    let batch = [
        offline(&forged, "forged-1", t),
        offline(&unknown, "unknown-1", t + 1),
        denied,
    ];

    for round in ["first", "again"] {
        let acks = upload(&device, &batch).await;
        assert_eq!(
            acks,
            [
                (RECORDED, vec![ConflictKind::Forged]),
                (RECORDED, vec![ConflictKind::UnknownPass]),
                (RECORDED, vec![]),
            ],
            "{round}"
        );
        let listed = conflicts(&gw, "event=fest").await;
        let kinds: Vec<(&str, &str)> = listed
            .iter()
            .map(|c| {
                (
                    c["scan_id"].as_str().unwrap_or(""),
                    c["kind"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [("forged-1", "forged"), ("unknown-1", "unknown_pass")],
            "{round}: one row each, none for the device's denial"
        );
        assert!(listed.iter().all(|c| c["pass_id"].is_null()), "{listed:?}");
    }
    let stored = gw.pass(&pass.id).await;
    assert_eq!(stored.uses, 0, "a forged token counts nothing");
    assert!(gw.scans(&pass.id).await.is_empty(), "and records no scan");
    let forged_only = conflicts(&gw, "kind=forged").await;
    assert_eq!(forged_only.len(), 1, "{forged_only:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_batch_is_refused_whole_and_a_bad_scan_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_unlimited().await;
    let device = gw.scanner("gate-a-1").await;
    let t = now_ms() - OFFLINE_FOR_MS;
    let scan = offline(&pass.token, "bad-1", t);
    let too_many: Vec<OfflineScan> = (0..=UPLOAD_BATCH_MAX)
        .map(|i| offline(&pass.token, &format!("many-{i}"), t))
        .collect();
    for scans in [vec![scan.clone(), scan.clone()], too_many, vec![]] {
        let n = scans.len();
        let reply = device
            .request(RequestBody::OfflineUpload(OfflineUpload { scans }))
            .await
            .expect("an answer");
        match reply.body {
            ResponseBody::Error(e) => assert_eq!(e.code, ErrorCode::InvalidRequest, "{n} scans"),
            other => panic!("{n} scans: expected invalid_request, got {other:?}"),
        }
    }
    assert_eq!(
        gw.pass(&pass.id).await.uses,
        0,
        "nothing of a refused batch"
    );

    let mut no_gate = offline(&pass.token, "bad-2", t);
    no_gate.gate = String::new();
    let acks = upload(&device, &[no_gate, scan]).await;
    assert_eq!(
        acks,
        [
            (AckStatus::Refused(ErrorCode::InvalidRequest), vec![]),
            (RECORDED, vec![]),
        ]
    );
    assert_eq!(gw.pass(&pass.id).await.uses, 1, "the good scan alone");
    let m = gw.metrics().await;
    let refused = metric(&m, "scangate_offline_scans_total", &[("status", "refused")]);
    assert_eq!(refused, (2 + UPLOAD_BATCH_MAX + 1 + 1) as f64);
}
