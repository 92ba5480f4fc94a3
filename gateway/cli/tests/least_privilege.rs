//! Least privilege on the admin API: a `viewer` token reads no pass token
//! and no holder link secret from any GET route the OpenAPI document lists,
//! gets 403 on QR images, on making a holder link and on a list with
//! tokens; an `operator`'s list holds no token either (only an admin asks
//! for them); and a burst of calls with one token is answered 429 with
//! `Retry-After` while another token is still served.

use crate::common;

use common::Gateway;
use common::floor::put_event;
use common::holder::{has_token, link};
use serde_json::{Value, json};

/// Every GET path of the OpenAPI document with `{id}` and `{event}` filled
/// in (the event-scoped lists name their event).
async fn documented_gets(gw: &Gateway, pass_id: &str) -> Vec<String> {
    let doc: Value = gw.get("/v1/openapi.json").await;
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .filter(|(_, item)| item.get("get").is_some())
        .map(|(path, _)| match path.as_str() {
            "/v1/scans" | "/v1/flags" => format!("{path}?event=fest"),
            p => p.replace("{id}", pass_id).replace("{event}", "fest"),
        })
        .collect()
}

/// Every documented GET route about pass `id`, as `viewer`: no token, no
/// holder secret (the random part of each of `secrets`), 403 on QR images.
async fn walk_as_viewer(gw: &Gateway, viewer: &str, id: &str, secrets: &[String]) {
    let paths = documented_gets(gw, id).await;
    assert!(
        paths.len() >= 10,
        "the document lists the GET routes: {paths:?}"
    );
    for path in paths {
        let (status, body) = gw.get_as(&path, viewer).await;
        let qr = path.ends_with("/qr");
        assert_eq!(status, if qr { 403 } else { 200 }, "GET {path}: {body}");
        // The document describes the `token` field; every other answer holds none.
        let describes = path == "/v1/openapi.json";
        assert!(
            !has_token(&body) && (describes || !body.contains("\"token\"")),
            "GET {path}: {body}"
        );
        for s in secrets {
            assert!(
                !body.contains(&s[33..]),
                "GET {path} holds a holder secret: {body}"
            );
        }
    }
    let (status, _) = gw
        .get_as(&format!("/v1/passes/{id}/qr?format=png"), viewer)
        .await;
    assert_eq!(status, 403, "a QR image needs operator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_gets_no_token_or_secret_and_a_burst_gets_429() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--admin-rate", "1", "--admin-burst", "60"]);
    let viewer = gw.token_for("viewer", "watch");
    let operator = gw.token_for("operator", "ops");
    let fixed = gw.issue_one(3).await;
    let dynamic = gw
        .issue(json!({"event": "fest", "dynamic_ttl_s": 60}))
        .await
        .remove(0);
    // A definition, so that its GET route answers too.
    let hall = json!({"gates": [{"name": "north", "zone": "hall", "direction": "in"}],
                      "zones": [{"name": "hall"}]});
    assert_eq!(put_event(&gw, "fest", &hall).await.0, 200);
    let mut secrets = Vec::new();
    for pass in [&fixed, &dynamic] {
        secrets.push(link(&gw, &pass.id).await.secret);
    }

    for pass in [&fixed, &dynamic] {
        walk_as_viewer(&gw, &viewer, &pass.id, &secrets).await;
    }

    // Making a holder link hands out the codes: operator and above.
    let made = reqwest::Client::new()
        .post(format!("http://{}/v1/passes/{}/link", gw.http, fixed.id))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("post");
    assert_eq!(made.status(), 403);
    // Lists: no tokens unless an admin asks.
    let (status, _) = gw.get_as("/v1/passes?tokens=true", &viewer).await;
    assert_eq!(status, 403);
    let (_, list) = gw.get_as("/v1/passes", &operator).await;
    assert!(!has_token(&list), "{list}");
    let (_, list) = gw.get_as("/v1/passes?tokens=true", &gw.token).await;
    assert!(
        list.contains(&fixed.token),
        "an admin asking gets them: {list}"
    );

    // A burst with the viewer's token runs out (burst 60, 1/s).
    let mut limited = None;
    for _ in 0..100 {
        let r = reqwest::Client::new()
            .get(format!("http://{}/v1/devices", gw.http))
            .bearer_auth(&viewer)
            .send()
            .await
            .expect("get");
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let limited = limited.expect("a burst past the token's rate gets 429");
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    let body = limited.text().await.expect("body");
    assert!(
        body.contains("rate_limited") && !body.contains(&viewer),
        "{body}"
    );
    let (status, _) = gw.get_as("/v1/devices", &operator).await;
    assert_eq!(status, 200, "another token has its own rate");
    gw.kill9();
}
