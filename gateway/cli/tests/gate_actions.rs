//! At the gate, through the real binary (real QUIC, real data dir): issuing
//! checks, `pass list --status used_up|expired`, guard overrides and
//! re-issue (issue 29).

mod common;

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
