//! An erase lasts, against the real binary and a real data dir: once the
//! retention sweep has removed every audit record of an erased pass
//! (including the erase's own), the pass is still known erased — a
//! reactivation, a re-issue and a holder link are refused 409
//! `pass_erased` — and still after a kill -9 and a restart (the store's
//! marker is replayed, not rebuilt from the audit log), and on a data dir
//! the previous build wrote and erased in.

use crate::common;

use common::Gateway;
use common::floor::put_event;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The event's retention period, seconds: short, so the sweep removes the
/// erase's audit record within the test.
const PERIOD_S: u64 = 1;
/// How long the sweep may take to remove a record past its period on a
/// loaded machine (it steps once a second).
const SWEEP_DEADLINE: Duration = Duration::from_secs(30);

/// POST `path` with a reason: status and body.
async fn change(gw: &Gateway, path: &str) -> (u16, Value) {
    let (status, body) = gw.post_answer(path, json!({"reason": "test"})).await;
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status.as_u16(), body)
}

/// Every change an erase makes final is refused 409 `pass_erased`.
async fn refused_every_way(gw: &Gateway, id: &str, when: &str) {
    for path in ["reactivate", "reissue", "link"] {
        let (status, body) = change(gw, &format!("/v1/passes/{id}/{path}")).await;
        assert_eq!(status, 409, "{when}: {path}: {body}");
        assert_eq!(
            body["error"]["code"], "pass_erased",
            "{when}: {path}: {body}"
        );
    }
    let now = gw.pass(id).await;
    assert_eq!(now.status.as_str(), "revoked", "{when}");
}

/// The pass's audit records as the API lists them.
async fn audit(gw: &Gateway, id: &str) -> Vec<Value> {
    let audit = gw.get(&format!("/v1/passes/{id}/audit")).await;
    audit.as_array().expect("array").clone()
}

/// An event whose records are kept [`PERIOD_S`], a pass of it erased, and
/// the sweep waited for until the pass's audit records (the erase's own
/// included) are gone: the old rule (the last status change's record is
/// an erase) has nothing left to read. Returns the pass id.
async fn erased_and_swept(gw: &Gateway) -> String {
    let definition = json!({
        "gates": [{"name": "north", "zone": "hall", "direction": "in"}],
        "zones": [{"name": "hall"}],
        "policy": {"retention_s": PERIOD_S},
    });
    let (status, body) = put_event(gw, "brief", &definition).await;
    assert_eq!(status, 200, "{body}");
    let pass = gw
        .issue(json!({"event": "brief", "max_uses": 2, "display": "Erase me"}))
        .await
        .pop()
        .expect("a pass");
    gw.cli(&["pass", "erase", &pass.id, "--reason", "holder asked"]);
    let deadline = Instant::now() + SWEEP_DEADLINE;
    while !audit(gw, &pass.id).await.is_empty() {
        assert!(Instant::now() < deadline, "the sweep kept the audit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pass.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erase_outlives_its_audit_record_and_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let id = erased_and_swept(&gw).await;
    refused_every_way(&gw, &id, "after retention removed the audit").await;

    let dir = gw.dir.clone();
    gw.kill9();
    let gw = Gateway::start(&dir, &[]);
    refused_every_way(&gw, &id, "after kill -9 and a restart").await;
    assert!(audit(&gw, &id).await.is_empty(), "nothing refused was kept");
}

/// A data dir written by the previous build (`SCANGATE_PREVIOUS_BIN`: its
/// `scangate`, e.g. main's), where that build erased a pass and its sweep
/// removed the erase's audit record, opened by this build: the pass is
/// known erased (the marker every erase has written) and refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_erased_by_the_previous_build_stays_erased() {
    let Ok(previous) = std::env::var("SCANGATE_PREVIOUS_BIN") else {
        eprintln!("SKIPPED: set SCANGATE_PREVIOUS_BIN=PATH/TO/OLD/scangate to run it");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // `sh -c 'shift; exec "$0" "$@"' OLD NEW serve ...` runs OLD serve ...
    let old = Gateway::start_under(
        &["sh", "-c", "shift; exec \"$0\" \"$@\"", previous.as_str()],
        dir.path(),
        &[],
    );
    let id = erased_and_swept(&old).await;
    assert!(old.sigterm().success(), "the previous build stops cleanly");
    let gw = Gateway::start(dir.path(), &[]);
    refused_every_way(&gw, &id, "this build, on the previous build's data dir").await;
}
