//! The admin API end to end: the whole role × endpoint matrix, tokens
//! created and revoked while the gateway runs, lists with filters and
//! cursors, issue in bulk, CSV import, annul, device revocation, bad input.

use crate::common;

use common::{Gateway, scan};
use scangate_client::ScanInput;
use scangate_core::ScanId;
use scangate_gateway::operator::admin::routes::{ROUTES, method_of};
use scangate_gateway::operator::tokens::Role;
use serde_json::{Value, json};

async fn call(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, format!("http://{}{path}", gw.http));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_checks_the_role_and_tokens_change_without_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let admin = gw.token_for("admin", "lead");
    let operator = gw.token_for("operator", "ops");
    let viewer = gw.token_for("viewer", "view");
    let listed = gw.cli(&["token", "list", "--json"]);
    assert!(
        listed.contains("\"ops\"") && !listed.contains(&operator),
        "{listed}"
    );
    let pass = gw.issue_one(5).await;

    for route in ROUTES {
        let path = route
            .path
            .replace("{id}", &pass.id)
            .replace("{scan_id}", "no-such-scan")
            .replace("{name}", "matrix-device")
            .replace("{event}", "fest");
        let m = method_of(route);
        let body = (m == reqwest::Method::POST).then(|| json!({}));
        let (none, _) = call(&gw, m.clone(), &path, None, body.clone()).await;
        assert_eq!(none, 401, "{} {path} without a token", route.method);
        let (bad, e) = call(&gw, m.clone(), &path, Some("sgt_wrong"), body.clone()).await;
        assert_eq!(bad, 401, "{} {path} with a wrong token", route.method);
        assert_eq!(e["error"]["code"], "unauthorized");
        for (role, token) in [
            (Role::Admin, &admin),
            (Role::Operator, &operator),
            (Role::Viewer, &viewer),
        ] {
            let (status, e) = call(&gw, m.clone(), &path, Some(token), body.clone()).await;
            if role.allows(route.needs) {
                assert!(
                    status != 401 && status != 403,
                    "{} {path} as {role:?}: {status} {e}",
                    route.method
                );
            } else {
                assert_eq!(status, 403, "{} {path} as {role:?}: {e}", route.method);
                assert_eq!(e["error"]["code"], "forbidden");
            }
        }
    }

    // The operator's name is the audit's `who`.
    let (status, _) = call(
        &gw,
        reqwest::Method::POST,
        &format!("/v1/passes/{}/suspend", pass.id),
        Some(&operator),
        Some(json!({"reason": "check id"})),
    )
    .await;
    assert_eq!(status, 200);
    let trail = gw.get(&format!("/v1/passes/{}/audit", pass.id)).await;
    assert_eq!(trail[0]["who"], "ops");
    assert_eq!(trail[0]["action"], "suspend");

    // Revoked while the gateway runs: refused at the next request.
    gw.cli(&["token", "revoke", "view"]);
    let (status, _) = call(&gw, reqwest::Method::GET, "/v1/passes", Some(&viewer), None).await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &gw,
        reqwest::Method::GET,
        "/v1/passes",
        Some(&gw.token),
        None,
    )
    .await;
    assert_eq!(status, 200, "the bootstrap token keeps working");
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_list_import_scans_audit_and_annul() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    // An array of specs, and NDJSON.
    let many = gw
        .post("/v1/passes", json!([{"event": "conf", "count": 3}, {"event": "conf", "kind": "card_share", "display": "Ada, ACME"}]))
        .await;
    assert_eq!(many.as_array().map(Vec::len), Some(4));
    let nd = reqwest::Client::new()
        .post(format!("http://{}/v1/passes", gw.http))
        .bearer_auth(&gw.token)
        .header("content-type", "application/x-ndjson")
        .body("{\"event\":\"conf\"}\n{\"event\":\"other\"}\n")
        .send()
        .await
        .expect("ndjson");
    assert_eq!(nd.status(), 201);

    // List by event, then by kind, in pages of 2.
    let page = gw.get("/v1/passes?event=conf&limit=2").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    let next = page["next"].as_str().expect("a next cursor").to_owned();
    let rest = gw
        .get(&format!("/v1/passes?event=conf&limit=100&after={next}"))
        .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(3));
    let cards = gw.get("/v1/passes?event=conf&kind=card_share").await;
    assert_eq!(cards["items"][0]["display"], "Ada, ACME");

    // CSV import with a per-line report.
    let csv = "event,kind,max_uses,gates,display\nexpo,ticket,2,north;south,\n,ticket,1,,\nexpo,bogus,1,,\nexpo,pass,unlimited,,\"Row 4, seat 2\"\n";
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/passes/import", gw.http))
        .bearer_auth(&gw.token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    assert_eq!(resp.status(), 201);
    let report: Value = resp.json().await.expect("report");
    assert_eq!(report["imported"], 2);
    assert_eq!(report["rejected_count"], 2);
    assert_eq!(report["rejected"][0]["line"], 3);
    assert_eq!(report["rejected"][1]["line"], 4);
    assert_eq!(report["rejected"][1]["field"], "kind");
    assert_eq!(report["passes"][1]["display"], "Row 4, seat 2");

    // Scans of an event, filtered; then annul gives the use back.
    let s = gw.scanner("gate-x").await;
    let one = gw
        .issue(json!({"event": "gala", "max_uses": 1}))
        .await
        .remove(0);
    let granted = scan(&s, &one.token, "east", Some("annul-me")).await;
    assert!(granted.decision.is_granted());
    let denied = scan(&s, &one.token, "west", None).await;
    assert!(!denied.decision.is_granted());
    let ev = gw.get("/v1/scans?event=gala").await;
    assert_eq!(ev["items"].as_array().map(Vec::len), Some(2));
    let used = gw
        .get("/v1/scans?event=gala&decision=denied&reason=used_up&gate=west")
        .await;
    assert_eq!(used["items"].as_array().map(Vec::len), Some(1));
    let annulled = gw
        .post("/v1/scans/annul-me/annul", json!({"reason": "double scan"}))
        .await;
    assert_eq!(annulled["annulled_by"], "bootstrap");
    assert_eq!(gw.pass(&one.id).await.uses, 0);
    let (again, e) = call(
        &gw,
        reqwest::Method::POST,
        "/v1/scans/annul-me/annul",
        Some(&gw.token),
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!(again, 409, "{e}");
    assert!(
        scan(&s, &one.token, "east", None)
            .await
            .decision
            .is_granted(),
        "the use is back"
    );
    let audit = gw.get(&format!("/v1/audit?pass={}", one.id)).await;
    assert_eq!(audit["items"][0]["action"], "annul");
    assert_eq!(audit["items"][0]["scan_id"], "annul-me");
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_json_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let t = Some(gw.token.as_str());
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    for (m, path, body, status, field) in [
        (get.clone(), "/v1/passes?limit=0", None, 400, "limit"),
        (get.clone(), "/v1/passes?colour=red", None, 400, "colour"),
        (get.clone(), "/v1/passes?status=lost", None, 400, "status"),
        (get.clone(), "/v1/passes?after=zz", None, 400, "after"),
        (get.clone(), "/v1/passes/not-an-id", None, 400, "id"),
        (get.clone(), "/v1/scans?gate=a", None, 400, "event"),
        (
            get.clone(),
            "/v1/scans?event=e&reason=sleepy",
            None,
            400,
            "reason",
        ),
        (get.clone(), "/v1/audit?from=yesterday", None, 400, "from"),
        (
            post.clone(),
            "/v1/passes",
            Some(json!({"event": ""})),
            400,
            "event",
        ),
        (
            post.clone(),
            "/v1/passes",
            Some(json!([{"event": "e"}, {"event": "e", "max_uses": 0}])),
            400,
            "[1].max_uses",
        ),
        (
            post.clone(),
            "/v1/scans/bad%20id/annul",
            Some(json!({"reason": "x"})),
            400,
            "scan_id",
        ),
        (
            post.clone(),
            "/v1/devices/bad%20name/revoke",
            None,
            400,
            "name",
        ),
    ] {
        let (got, e) = call(&gw, m, path, t, body).await;
        assert_eq!(got, status, "{path}: {e}");
        assert_eq!(e["error"]["field"], field, "{path}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let (got, e) = call(
        &gw,
        post.clone(),
        "/v1/passes/00000000000000000000000000000000/revoke",
        t,
        Some(json!({"reason": ""})),
    )
    .await;
    assert_eq!((got, e["error"]["field"].clone()), (400, json!("reason")));
    // Oversized bodies: 413, for a status change and for an import.
    let big = json!({"reason": "x".repeat(100 * 1024)});
    let (got, _) = call(
        &gw,
        post.clone(),
        "/v1/passes/00000000000000000000000000000000/revoke",
        t,
        Some(big),
    )
    .await;
    assert_eq!(got, 413);
    let (status, answer) = oversized_import(&gw).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains(r#""code":"too_large""#), "{answer}");
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_cannot_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_one(10).await;
    let s = gw.scanner("lost-phone").await;
    assert!(scan(&s, &pass.token, "A", None).await.decision.is_granted());
    let devices = gw.get("/v1/devices").await;
    assert!(
        devices
            .as_array()
            .expect("array")
            .iter()
            .any(|d| d["name"] == "lost-phone" && d["revoked"] == false)
    );
    gw.post("/v1/devices/lost-phone/revoke", json!({})).await;
    let input = || ScanInput {
        token: pass.token.clone(),
        gate: "A".into(),
        event: None,
        scan_id: Some(ScanId::new("after-revoke").expect("id")),
    };
    // The open connection is closed; a new one is refused after the handshake.
    assert!(
        s.scan(input()).await.is_err(),
        "the open connection must be closed"
    );
    let pki = scangate_certs::Pki::open(&dir.path().join("pki"));
    let files = pki.scanner_files("lost-phone").expect("name");
    let config = scangate_client::ScannerConfig::from_files(
        gw.quic,
        &pki.ca_cert_path(),
        &files.cert,
        &files.key,
    )
    .expect("config");
    if let Ok(again) = scangate_client::Scanner::connect(config).await {
        assert!(
            again.scan(input()).await.is_err(),
            "a revoked device cannot scan"
        );
    }
    let listed = gw.cli(&["certs", "list", "--json"]);
    assert!(
        listed.contains("\"lost-phone\"") && listed.contains("\"revoked\":true"),
        "{listed}"
    );
    assert_eq!(gw.pass(&pass.id).await.uses, 1);
    gw.kill9();
}

/// The status and the whole answer to an import that declares a body over
/// the limit. Sent by hand, headers only: the gateway refuses on the
/// declared length without reading (a client still writing a large body
/// when the refused connection closes would see a broken pipe instead).
async fn oversized_import(gw: &Gateway) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let declared = scangate_gateway::operator::admin::routes::IMPORT_BODY_MAX_BYTES + 1;
    let mut conn = tokio::net::TcpStream::connect(gw.http)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/passes/import HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n",
        gw.http, gw.token
    );
    conn.write_all(head.as_bytes()).await.expect("send headers");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer)
        .await
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split_whitespace().nth(1).unwrap_or_default();
    let status = status
        .parse()
        .unwrap_or_else(|_| panic!("not an HTTP answer: {answer}"));
    (status, answer)
}
