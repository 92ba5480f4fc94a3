//! The operator journal end to end: passes issued (one spec, an array,
//! NDJSON), imported from CSV, revoked, a scan annulled and a device revoked
//! through the admin API; tokens created and revoked and a device revoked
//! through the CLI; then `GET /v1/audit/operator` and `scangate audit
//! operator` (through the API and `--local`) show each action once, with the
//! right who, action and subject, and the journal holds no secret and no
//! personal data.

use crate::common;

use common::{Gateway, scan};
use serde_json::{Value, json};

async fn raw(gw: &Gateway, path: &str, token: &str) -> (u16, Value) {
    let (status, body) = gw.get_as(path, token).await;
    (status, serde_json::from_str(&body).expect("json"))
}

async fn post_raw(gw: &Gateway, path: &str, content_type: &str, body: &str) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("http://{}{path}", gw.http))
        .bearer_auth(&gw.token)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .expect("post");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.expect("json")
}

/// Every record of the journal through the API, in pages of `limit`.
async fn all_pages(gw: &Gateway, query: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let page = gw
            .get(&format!("/v1/audit/operator?limit={limit}{query}{after}"))
            .await;
        out.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => return out,
        }
    }
}

fn ids(passes: &Value) -> Vec<String> {
    passes
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_action_is_journaled_and_queryable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let mut secrets = vec![gw.token.clone()];

    // Through the API, as `bootstrap`.
    let one = gw
        .post("/v1/passes", json!({"event": "fest", "count": 3}))
        .await;
    let array = gw
        .post(
            "/v1/passes",
            json!([{"event": "conf", "count": 2}, {"event": "expo", "kind": "card_share", "display": "Ada Lovelace, ACME"}]),
        )
        .await;
    let nd = post_raw(
        &gw,
        "/v1/passes",
        "application/x-ndjson",
        "{\"event\":\"fest\"}\n{\"event\":\"fest\",\"max_uses\":2}\n",
    )
    .await;
    let report = post_raw(
        &gw,
        "/v1/passes/import",
        "text/csv",
        "event,kind,display\nexpo,ticket,Grace Hopper\nexpo,bogus,\nexpo,pass,\n",
    )
    .await;
    assert_eq!(
        (report["imported"].clone(), report["rejected_count"].clone()),
        (json!(2), json!(1))
    );
    let imported = report["passes"].clone();
    let revoked = ids(&one)[0].clone();
    gw.post(
        &format!("/v1/passes/{revoked}/revoke"),
        json!({"reason": "reported stolen"}),
    )
    .await;
    let s = gw.scanner("gate-a").await;
    let token = one[1]["token"].as_str().expect("token");
    assert!(
        scan(&s, token, "north", Some("dup-1"))
            .await
            .decision
            .is_granted()
    );
    gw.post("/v1/scans/dup-1/annul", json!({"reason": "double scan"}))
        .await;
    gw.post(
        "/v1/devices/gate-a/revoke",
        json!({"reason": "lost at gate 3"}),
    )
    .await;
    gw.post("/v1/devices/gate-a/revoke", json!({})).await; // no change: no line
    for passes in [&one, &array, &nd, &imported] {
        for p in passes.as_array().expect("array") {
            secrets.push(p["token"].as_str().expect("token").to_owned());
        }
    }

    // Through the CLI, as `cli:tester`, while the gateway runs.
    let viewer = gw
        .cli(&[
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "auditor",
            "--reason",
            "night audit",
        ])
        .trim()
        .to_owned();
    let temp = gw.token_for("admin", "temp");
    gw.cli(&["token", "revoke", "temp", "--reason", "shift over"]);
    gw.cli(&["certs", "revoke", "dev-scanner", "--reason", "retired"]);
    secrets.extend([viewer.clone(), temp.clone()]);

    // A viewer may read the journal; it shows each action once, in order.
    let (status, page) = raw(&gw, "/v1/audit/operator?limit=1000", &viewer).await;
    assert_eq!(status, 200, "{page}");
    let got = page["items"].as_array().expect("items").clone();
    assert_eq!(page["next"], Value::Null);
    let summary: Vec<(String, String, String)> = got
        .iter()
        .map(|r| {
            (
                r["who"].as_str().expect("who").to_owned(),
                r["action"].as_str().expect("action").to_owned(),
                r["subject"].as_str().expect("subject").to_owned(),
            )
        })
        .collect();
    let b = |a: &str, s: &str| ("bootstrap".to_owned(), a.to_owned(), s.to_owned());
    let c = |a: &str, s: &str| ("cli:tester".to_owned(), a.to_owned(), s.to_owned());
    assert_eq!(
        summary,
        [
            b("passes.issue", "fest"),
            b("passes.issue", "conf, expo"),
            b("passes.issue", "fest"),
            b("passes.import", "expo"),
            b("pass.revoke", &revoked),
            b("scan.annul", "dup-1"),
            b("device.revoke", "gate-a"),
            c("token.create", "auditor"),
            c("token.create", "temp"),
            c("token.revoke", "temp"),
            c("device.revoke", "dev-scanner"),
        ]
    );
    let batch = |r: &Value, passes: &Value| {
        let ids = ids(passes);
        assert_eq!(r["count"], ids.len(), "{r}");
        assert_eq!(r["first_pass"], ids[0], "{r}");
        assert_eq!(r["last_pass"], ids[ids.len() - 1], "{r}");
    };
    batch(&got[0], &one);
    batch(&got[1], &array);
    batch(&got[2], &nd);
    batch(&got[3], &imported);
    assert_eq!(got[0]["detail"], "1 spec as one JSON object");
    assert_eq!(got[1]["detail"], "2 specs as a JSON array");
    assert_eq!(got[2]["detail"], "2 specs as NDJSON");
    assert_eq!(got[3]["detail"], "2 CSV lines imported, 1 rejected");
    assert_eq!(got[4]["reason"], "reported stolen");
    assert_eq!(got[4]["detail"], "now revoked");
    assert_eq!(got[5]["reason"], "double scan");
    assert_eq!(got[6]["reason"], "lost at gate 3");
    assert_eq!(got[7]["reason"], "night audit");
    assert_eq!(got[7]["detail"], "role viewer");
    assert_eq!(got[9]["reason"], "shift over");
    assert_eq!(got[9]["detail"], "role admin");
    assert_eq!(got[10]["reason"], "retired");
    let mut last = 0;
    for r in &got {
        let at = r["at_ms"].as_i64().expect("at_ms");
        assert!(at >= last, "oldest first: {r}");
        last = at;
    }

    // Pages and filters.
    assert_eq!(all_pages(&gw, "", 2).await, got, "pages of 2 add up");
    let tokens = all_pages(&gw, "&action=token.create", 1).await;
    assert_eq!(tokens.len(), 2);
    let by_cli = all_pages(&gw, "&who=cli:tester", 1000).await;
    assert_eq!(by_cli.len(), 4);
    let temp_only = all_pages(&gw, "&subject=temp", 1000).await;
    assert_eq!(temp_only.len(), 2);
    let future = all_pages(&gw, "&from=2999-01-01T00:00:00Z", 1000).await;
    assert!(future.is_empty());
    for (query, field) in [
        ("action=token.eat", "action"),
        ("after=0000000000000001", "after"),
        ("after=zz", "after"),
        ("until=tomorrow", "until"),
        ("pass=x", "pass"),
    ] {
        let (status, e) = raw(&gw, &format!("/v1/audit/operator?{query}"), &gw.token).await;
        assert_eq!(status, 400, "{query}: {e}");
        assert_eq!(e["error"]["field"], field, "{query}: {e}");
    }

    // The CLI shows the same, through the API and from the file.
    let through_api = gw.cli(&["audit", "operator", "--json"]);
    let local = gw.cli(&["audit", "operator", "--json", "--local"]);
    let parse = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    };
    assert_eq!(parse(&through_api), got);
    assert_eq!(parse(&local), got);
    let text = gw.cli(&[
        "audit",
        "operator",
        "--action",
        "device.revoke",
        "--who",
        "cli:tester",
    ]);
    assert!(
        text.trim()
            .ends_with("cli:tester device.revoke dev-scanner: retired"),
        "{text}"
    );

    // No secret and no personal data in the journal.
    let journal =
        std::fs::read_to_string(dir.path().join("operator-audit.jsonl")).expect("journal");
    for secret in &secrets {
        assert!(
            !journal.contains(secret.as_str()),
            "a secret in the journal"
        );
        let tail = &secret[secret.len() - 16..];
        assert!(!journal.contains(tail), "part of a secret in the journal");
    }
    for personal in ["Ada Lovelace", "Grace Hopper"] {
        assert!(!journal.contains(personal), "{personal} in the journal");
    }

    // A journal that cannot be written: the change stands, the answer says so.
    let path = dir.path().join("operator-audit.jsonl");
    std::fs::rename(&path, dir.path().join("operator-audit-old.jsonl")).expect("rotate");
    std::fs::create_dir(&path).expect("a directory where the journal goes");
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/devices/spare/revoke", gw.http))
        .bearer_auth(&gw.token)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 500);
    let e: Value = resp.json().await.expect("json");
    assert_eq!(e["error"]["code"], "journal_failed", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("device spare was revoked")),
        "{e}"
    );
    let devices = gw.get("/v1/devices").await;
    assert!(
        devices
            .as_array()
            .expect("devices")
            .iter()
            .any(|d| d["name"] == "spare" && d["revoked"] == true),
        "{devices}"
    );
    // After a rotation the journal starts again.
    std::fs::remove_dir(&path).expect("rmdir");
    gw.post("/v1/passes", json!({"event": "late"})).await;
    let fresh = all_pages(&gw, "", 10).await;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0]["subject"], "late");
    gw.kill9();
}
