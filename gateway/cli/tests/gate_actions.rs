//! At the gate, through the real binary (real QUIC, real data dir): issuing
//! checks, `pass list --status used_up|expired`, guard overrides and
//! re-issue (issue 29).

use crate::common;

use common::gate_actions::{cli_failure, clock_past, post_as};
use common::{Gateway, scan};
use scangate_core::Decision;
use serde_json::{Value, json};

/// The JSON lines a `--json` CLI command printed.
fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The ids of a list of passes (API page items or CLI lines).
fn ids(passes: &[Value]) -> Vec<&str> {
    passes
        .iter()
        .map(|p| p["id"].as_str().expect("id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuing_refuses_a_window_that_ended_or_is_empty_naming_valid_until() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let ended = json!({"event": "fest", "valid_until": "2021-01-01T00:00:00Z"});
    let empty = json!({"event": "fest", "valid_from": "2030-01-02T00:00:00Z",
                       "valid_until": "2030-01-01T00:00:00Z"});
    for (body, field, words) in [
        (ended.clone(), "valid_until", "in the past"),
        (empty, "valid_until", "later than valid_from"),
        (
            json!([{"event": "fest"}, ended]),
            "[1].valid_until",
            "in the past",
        ),
    ] {
        let (status, text) = gw.post_answer("/v1/passes", body.clone()).await;
        assert_eq!(status.as_u16(), 400, "{body}: {text}");
        let e: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(e["error"]["field"], field, "{body}: {e}");
        let message = e["error"]["message"].as_str().expect("message");
        assert!(message.contains(words), "{body}: {message}");
    }
    let listed = gw.get("/v1/passes?event=fest").await;
    assert_eq!(listed["items"], json!([]), "all or none: nothing issued");

    // CSV import: the line and the field, the good line imported.
    let csv = "event,valid_until\nfest,2021-01-01T00:00:00Z\nfest,2100-01-01T00:00:00Z\n";
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/passes/import", gw.http))
        .bearer_auth(&gw.token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    let report: Value = resp.json().await.expect("report");
    assert_eq!(report["imported"], 1, "{report}");
    let rejected = &report["rejected"][0];
    assert_eq!(
        (&rejected["line"], &rejected["field"]),
        (&json!(2), &json!("valid_until"))
    );

    // The CLI says the field too, and exits non-zero.
    let args = [
        "pass",
        "issue",
        "--event",
        "fest",
        "--valid-until",
        "2021-01-01T00:00:00Z",
    ];
    let (code, stderr) = cli_failure(&gw, &args);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("valid_until") && stderr.contains("in the past"),
        "{stderr}"
    );
    assert!(gw.sigterm().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_list_status_takes_used_up_and_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let s = gw.scanner("gate-a").await;
    let fresh = gw.issue_one(1).await;
    let used = gw.issue_one(1).await;
    assert_eq!(
        scan(&s, &used.token, "A", None).await.decision,
        Decision::Granted
    );
    let until_ms = (scangate_gateway::now_ms() / 1_000 + 2) * 1_000;
    let ending = gw
        .issue(json!({"event": "fest", "valid_until": scangate_api::rfc3339(until_ms)}))
        .await
        .remove(0);
    gw.post(
        &format!("/v1/passes/{}/revoke", used.id),
        json!({"reason": "r"}),
    )
    .await;

    let page = |status: &'static str| {
        let gw = &gw;
        async move { gw.get(&format!("/v1/passes?status={status}")).await }
    };
    let used_up = page("used_up").await;
    assert_eq!(
        ids(used_up["items"].as_array().expect("items")),
        [used.id.as_str()],
        "used up whatever its status (revoked after its use)"
    );
    assert_eq!(page("expired").await["items"], json!([]), "none ended yet");
    clock_past(until_ms).await;
    let expired = page("expired").await;
    assert_eq!(
        ids(expired["items"].as_array().expect("items")),
        [ending.id.as_str()]
    );
    let active = page("active").await;
    let active = ids(active["items"].as_array().expect("items"));
    assert!(active.contains(&fresh.id.as_str()) && active.contains(&ending.id.as_str()));

    let (status, text) = gw.get_as("/v1/passes?status=spent", &gw.token).await;
    assert_eq!(status, 400, "{text}");
    let e: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(e["error"]["field"], "status");
    assert!(
        e["error"]["message"]
            .as_str()
            .expect("message")
            .contains("used_up"),
        "{e}"
    );

    let cli = gw.cli(&["pass", "list", "--status", "used_up", "--json"]);
    assert_eq!(ids(&json_lines(&cli)), [used.id.as_str()]);
    let cli = gw.cli(&["pass", "list", "--status", "expired", "--json"]);
    assert_eq!(ids(&json_lines(&cli)), [ending.id.as_str()]);
    assert!(gw.sigterm().success());
}

/// Issue test 6: an operator's override of a used-up pass is counted (one
/// use beyond `max_uses`, exact beside concurrent scans, kept over a kill
/// -9), marked on its scan record, in the pass's audit and the operator
/// journal with who and why; a viewer's is 403 and counts nothing; a
/// revoked pass is never admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_override_counts_and_is_journaled_a_viewers_is_403() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let s = gw.scanner("gate-a").await;
    let pass = gw.issue_one(1).await;
    assert_eq!(
        scan(&s, &pass.token, "north", None).await.decision,
        Decision::Granted
    );
    let denied = scan(&s, &pass.token, "north", None).await.decision;
    assert_eq!(denied.reason().map(|r| r.as_str()), Some("used_up"));
    let operator = gw.token_for("operator", "guard-7");
    let viewer = gw.token_for("viewer", "watcher");
    let path = format!("/v1/passes/{}/admit", pass.id);
    let body = json!({"gate": "north", "reason": "phone broke, id checked"});

    let (status, text) = post_as(&gw, &path, &viewer, &body).await;
    assert_eq!(status, 403, "{text}");
    assert_eq!(
        gw.pass(&pass.id).await.uses,
        1,
        "a refused override counts nothing"
    );

    let (status, text) = post_as(&gw, &path, &operator, &body).await;
    assert_eq!(status, 200, "{text}");
    let record: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        (&record["decision"], &record["uses_after"]),
        (&json!("granted"), &json!(2))
    );
    assert_eq!(record["guard_override"]["who"], "guard-7");
    assert_eq!(record["guard_override"]["overrode"], "used_up");
    let scan_id = record["scan_id"].as_str().expect("scan id").to_owned();
    assert_eq!(gw.pass(&pass.id).await.uses, 2, "counted beyond max_uses");
    let again = scan(&s, &pass.token, "north", None).await.decision;
    assert_eq!(
        again.reason().map(|r| r.as_str()),
        Some("used_up"),
        "the QR is still spent"
    );

    let journal = gw.get("/v1/audit/operator?action=pass.admit").await;
    let line = &journal["items"][0];
    assert_eq!(
        (&line["who"], &line["subject"]),
        (&json!("guard-7"), &json!(pass.id))
    );
    assert_eq!(line["reason"], "phone broke, id checked");
    assert!(
        line["detail"]
            .as_str()
            .expect("detail")
            .contains("overrode used_up"),
        "{line}"
    );

    // Concurrent scans and overrides of one pass: every use is one record.
    let busy = gw.issue_one(3).await;
    let (bpath, btoken) = (format!("/v1/passes/{}/admit", busy.id), busy.token.clone());
    let scans = (0..6).map(|_| {
        let (s, t) = (s.clone(), btoken.clone());
        tokio::spawn(async move { scan(&s, &t, "north", None).await.decision })
    });
    let scans: Vec<_> = scans.collect();
    for _ in 0..2 {
        let (status, text) = post_as(&gw, &bpath, &operator, &body).await;
        assert_eq!(status, 200, "{text}");
    }
    let mut scan_grants = 0;
    for t in scans {
        scan_grants += u32::from(t.await.expect("task").is_granted());
    }
    assert!(scan_grants <= 3, "scans never pass max_uses: {scan_grants}");
    gw.kill9();

    let gw = Gateway::start(dir.path(), &[]);
    let records = gw.scans(&busy.id).await;
    let granted = records
        .iter()
        .filter(|r| r["decision"] == "granted")
        .count();
    let overrides = records
        .iter()
        .filter(|r| r["guard_override"].is_object())
        .count();
    assert_eq!((overrides, granted as u32), (2, scan_grants + 2));
    assert_eq!(
        gw.pass(&busy.id).await.uses,
        scan_grants + 2,
        "exact after kill -9"
    );
    assert_eq!(gw.pass(&pass.id).await.uses, 2);
    let audit = gw.get(&format!("/v1/passes/{}/audit", pass.id)).await;
    let admits: Vec<&Value> = audit
        .as_array()
        .expect("array")
        .iter()
        .filter(|a| a["action"] == "admit")
        .collect();
    assert_eq!(admits.len(), 1, "{audit}");
    assert_eq!(
        (&admits[0]["who"], &admits[0]["scan_id"]),
        (&json!("guard-7"), &json!(scan_id))
    );

    // Never a revoked pass: 409, nothing counted.
    let revoked = gw.issue_one(1).await;
    gw.post(
        &format!("/v1/passes/{}/revoke", revoked.id),
        json!({"reason": "refund"}),
    )
    .await;
    let rpath = format!("/v1/passes/{}/admit", revoked.id);
    let (status, text) = gw.post_answer(&rpath, body.clone()).await;
    assert_eq!(status.as_u16(), 409, "{text}");
    assert!(text.contains("revoked"), "{text}");
    assert_eq!(gw.pass(&revoked.id).await.uses, 0);
    let (status, text) = gw.post_answer(&rpath, json!({"gate": "north"})).await;
    assert_eq!(status.as_u16(), 400, "no reason: {text}");

    // The CLI: one JSON line, the override marked.
    let out = gw.cli(&[
        "pass",
        "admit",
        &busy.id,
        "--gate",
        "south",
        "--reason",
        "lost phone",
        "--json",
    ]);
    let line = &json_lines(&out)[0];
    assert_eq!(
        (&line["gate"], &line["guard_override"]["reason"]),
        (&json!("south"), &json!("lost phone"))
    );
    assert!(gw.sigterm().success());
}

/// Issue test 7: after `reissue` the old token is `superseded` and the new
/// one granted, over a kill -9 too; the re-issue is in the pass's audit and
/// the journal, and both scans in the pass's scans; uses and status are
/// untouched; a viewer may not re-issue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_reissue_the_old_token_is_superseded_and_the_new_one_granted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let s = gw.scanner("gate-a").await;
    let pass = gw.issue_one(3).await;
    assert_eq!(
        scan(&s, &pass.token, "north", None).await.decision,
        Decision::Granted
    );
    let viewer = gw.token_for("viewer", "watcher");
    let path = format!("/v1/passes/{}/reissue", pass.id);
    let reason = json!({"reason": "screenshot posted online"});
    let (status, text) = post_as(&gw, &path, &viewer, &reason).await;
    assert_eq!(status, 403, "{text}");

    let out = gw.cli(&[
        "pass",
        "reissue",
        &pass.id,
        "--reason",
        "screenshot posted online",
        "--json",
    ]);
    let fresh = &json_lines(&out)[0];
    let new_token = fresh["token"].as_str().expect("token").to_owned();
    assert_ne!(new_token, pass.token);
    assert_eq!(
        (&fresh["status"], &fresh["uses"]),
        (&json!("active"), &json!(1))
    );

    let old = scan(&s, &pass.token, "north", None).await.decision;
    assert_eq!(old.reason().map(|r| r.as_str()), Some("superseded"));
    assert_eq!(
        scan(&s, &new_token, "north", None).await.decision,
        Decision::Granted
    );
    assert_eq!(
        gw.pass(&pass.id).await.token,
        new_token,
        "show hands out the new token"
    );
    gw.kill9();

    let gw = Gateway::start(dir.path(), &[]);
    let s = gw.scanner("gate-a").await;
    let old = scan(&s, &pass.token, "north", None).await.decision;
    assert_eq!(
        old.reason().map(|r| r.as_str()),
        Some("superseded"),
        "after kill -9"
    );
    assert_eq!(
        scan(&s, &new_token, "north", None).await.decision,
        Decision::Granted
    );
    assert_eq!(
        gw.pass(&pass.id).await.uses,
        3,
        "the superseded scan counted nothing"
    );

    let audit = gw.get(&format!("/v1/passes/{}/audit", pass.id)).await;
    let reissues: Vec<&Value> = audit
        .as_array()
        .expect("array")
        .iter()
        .filter(|a| a["action"] == "reissue")
        .collect();
    assert_eq!(reissues.len(), 1, "{audit}");
    assert_eq!(
        (&reissues[0]["reason"], &reissues[0]["token_generation"]),
        (&json!("screenshot posted online"), &json!(1))
    );
    let scans = gw.scans(&pass.id).await;
    let words: Vec<(&Value, &Value)> = scans
        .iter()
        .map(|r| (&r["decision"], &r["reason"]))
        .collect();
    assert_eq!(
        words,
        [
            (&json!("granted"), &Value::Null),
            (&json!("denied"), &json!("superseded")),
            (&json!("granted"), &Value::Null),
            (&json!("denied"), &json!("superseded")),
            (&json!("granted"), &Value::Null),
        ]
    );
    let journal = gw.get("/v1/audit/operator?action=pass.reissue").await;
    assert_eq!(journal["items"][0]["detail"], "token generation now 1");
    assert!(gw.sigterm().success());
}
