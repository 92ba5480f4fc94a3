//! An erase is final, against the real binary: an erased pass cannot be
//! reactivated, re-issued or given a holder link (409 `pass_erased`, from
//! the admin API and the CLI), its holder link stops working, and it keeps
//! scanning as revoked; a pass only revoked is reactivated as before.
//! `scangate event purge` refuses an event whose passes are still valid
//! (erasing nothing), purges it once every pass's validity is past, and
//! with `--force` purges passes that never end.

use crate::common;

use common::Gateway;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// POST `path` with a reason: status and body.
async fn change(gw: &Gateway, path: &str) -> (u16, Value) {
    let (status, body) = gw.post_answer(path, json!({"reason": "test"})).await;
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status.as_u16(), body)
}

/// `scangate ARGS`: whether it succeeded, its stdout and its stderr.
fn cli_outcome(gw: &Gateway, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(common::bin())
        .args(args)
        .args(["--data-dir", gw.dir.to_str().expect("utf-8")])
        .output()
        .expect("run scangate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_pass_is_never_reactivated_reissued_or_linked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let spec = json!({"event": "fest", "max_uses": 3, "display": "Ada Lovelace"});
    let pass = gw.issue(spec.clone()).await.pop().expect("a pass");
    let control = gw.issue(spec).await.pop().expect("a pass");
    let link = common::holder::link(&gw, &pass.id).await;
    let (status, _) = gw.get_as(&link.path, "").await;
    assert_eq!(status, 200, "the link works before the erase");

    // Revoked first, then erased: the erase is what counts.
    let (status, _) = change(&gw, &format!("/v1/passes/{}/revoke", pass.id)).await;
    assert_eq!(status, 200);
    gw.cli(&["pass", "erase", &pass.id, "--reason", "holder asked"]);
    let (status, _) = gw.get_as(&link.path, "").await;
    assert_eq!(status, 404, "the erase removed the holder link");

    for (path, what) in [
        ("reactivate", "reactivated"),
        ("reissue", "re-issued"),
        ("link", "given a holder link"),
    ] {
        let (status, body) = change(&gw, &format!("/v1/passes/{}/{path}", pass.id)).await;
        assert_eq!(status, 409, "{path}: {body}");
        assert_eq!(body["error"]["code"], "pass_erased", "{path}: {body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("an erase is final") && message.contains(what),
            "{path}: {message}"
        );
    }
    let (ok, _, said) = cli_outcome(&gw, &["pass", "reactivate", &pass.id, "--reason", "undo"]);
    assert!(!ok, "the CLI's reactivate is refused too");
    assert!(said.contains("an erase is final"), "{said}");
    // A second erase is still idempotent, and still final.
    gw.cli(&["pass", "erase", &pass.id, "--reason", "asked twice"]);
    let (status, _) = change(&gw, &format!("/v1/passes/{}/reactivate", pass.id)).await;
    assert_eq!(status, 409);

    let now = gw.pass(&pass.id).await;
    assert_eq!((now.status.as_str(), now.display), ("revoked", None));
    let audit = gw.get(&format!("/v1/passes/{}/audit", pass.id)).await;
    let actions: Vec<&str> = audit
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["revoke", "erase", "erase"],
        "nothing refused was applied"
    );
    let scanner = gw.scanner("gate-1").await;
    let reply = common::scan(&scanner, &pass.token, "north", None).await;
    assert!(!reply.decision.is_granted(), "{reply:?}");
    assert_eq!(reply.display, None);

    // A pass only revoked comes back as before, link and all.
    let (status, _) = change(&gw, &format!("/v1/passes/{}/revoke", control.id)).await;
    assert_eq!(status, 200);
    let (status, body) = change(&gw, &format!("/v1/passes/{}/reactivate", control.id)).await;
    assert_eq!((status, &body["status"]), (200, &json!("active")), "{body}");
    let (status, _) = change(&gw, &format!("/v1/passes/{}/reissue", control.id)).await;
    assert_eq!(status, 200);
    let (status, _) = change(&gw, &format!("/v1/passes/{}/link", control.id)).await;
    assert_eq!(status, 201);
    let metrics = gw.metrics().await;
    let refused = common::metric(&metrics, "scangate_erased_pass_changes_refused_total", &[]);
    assert_eq!(
        refused, 5.0,
        "three by the API, one by the CLI, one after the second erase"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_waits_for_the_event_to_end_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    // Valid for a few seconds from now: the event ends by itself.
    let until_ms = scangate_gateway::now_ms() + 3_000;
    let until = scangate_api::rfc3339(until_ms);
    let gala = gw
        .issue(json!({"event": "gala", "count": 2, "display": "Gala guest", "valid_until": until}))
        .await;
    let purge = ["event", "purge", "gala", "--reason", "event over", "--json"];
    let (ok, _, said) = cli_outcome(&gw, &purge);
    assert!(!ok, "purged while its passes are still valid");
    assert!(
        said.contains("event gala has not ended: 2 of its 2 passes are still valid")
            && said.contains("nothing was erased"),
        "{said}"
    );
    for pass in &gala {
        let now = gw.pass(&pass.id).await;
        assert_eq!(now.display.as_deref(), Some("Gala guest"), "untouched");
    }

    // Once the last pass's validity is past, the same command purges.
    let deadline = Instant::now() + Duration::from_secs(30);
    while scangate_gateway::now_ms() <= until_ms {
        assert!(Instant::now() < deadline, "the clock never passed {until}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = gw.cli(&purge);
    let report: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(report, json!({"event": "gala", "erased": 2}));
    for pass in &gala {
        let now = gw.pass(&pass.id).await;
        assert_eq!((now.display, now.status.as_str()), (None, "revoked"));
    }

    // Passes without an end of validity never end: only --force purges them.
    let open = gw
        .issue(json!({"event": "fair", "display": "Fair guest"}))
        .await
        .pop()
        .expect("a pass");
    let (ok, _, said) = cli_outcome(&gw, &["event", "purge", "fair", "--reason", "over"]);
    assert!(!ok && said.contains("no end of validity"), "{said}");
    let out = gw.cli(&[
        "event", "purge", "fair", "--reason", "over", "--force", "--json",
    ]);
    let report: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(report, json!({"event": "fair", "erased": 1}));
    assert_eq!(gw.pass(&open.id).await.display, None);
}
