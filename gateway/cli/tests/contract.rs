//! The running gateway answers as its OpenAPI document says: refusals made
//! by axum's extractors and body limits come back as the documented JSON
//! error with a documented status, and schemathesis (when installed; CI
//! installs it) finds no answer that disagrees with the document.
//! `openapi.rs` checks the document itself.

use crate::common;

use common::Gateway;
use scangate_gateway::operator::admin::openapi;
use serde_json::Value;

/// Examples per operation and phase: 20 covers every operation's boundary
/// values (the coverage phase) and some fuzzing, ~1 200 requests in ~30 s on
/// a 2-core machine, inside CI's ~3 minutes for this check.
const SCHEMATHESIS_MAX_EXAMPLES: &str = "20";
/// A fixed seed: the same requests in every run, so a failure reproduces.
const SCHEMATHESIS_SEED: &str = "1";
/// The run is killed past this (CI's budget for it), and the test fails.
const SCHEMATHESIS_DEADLINE_S: &str = "180";
/// Set by `.ci/run`, which installs schemathesis: there a missing tool fails
/// the test instead of skipping it.
const REQUIRE_SCHEMATHESIS: &str = "SCANGATE_REQUIRE_SCHEMATHESIS";

/// Whether `tool --version` runs; when not, says SKIPPED loudly, or fails
/// when [`REQUIRE_SCHEMATHESIS`] is set.
fn installed(tool: &str) -> bool {
    let out = std::process::Command::new(tool).arg("--version").output();
    let why = match out {
        Ok(out) if out.status.success() => return true,
        Ok(out) => format!("exit {:?}", out.status.code()),
        Err(e) => e.to_string(),
    };
    assert!(
        std::env::var_os(REQUIRE_SCHEMATHESIS).is_none(),
        "{tool} is required here ({REQUIRE_SCHEMATHESIS} is set) but does not run: {why}"
    );
    eprintln!(
        "SKIPPED: {tool} is not installed ({why}); `pip install schemathesis` to run this check"
    );
    false
}

/// schemathesis (PyPI), when installed, sends the running gateway requests
/// made from its own document, valid and invalid, with an admin token, and
/// checks every answer against the document (`--checks all`: statuses,
/// content types, bodies, headers; valid requests accepted, invalid ones
/// refused; no 5xx). Its settings and the few rules a schema cannot state
/// are in `gateway/cli/tests/schemathesis.toml`.
#[test]
fn schemathesis_finds_the_answers_agree_with_the_document() {
    if !installed("schemathesis") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let gw = Gateway::start(&data, &[]);
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    let out = std::process::Command::new("timeout")
        .arg(SCHEMATHESIS_DEADLINE_S)
        .args(["schemathesis", "--no-color", "--config-file", config, "run"])
        .arg(format!("http://{}/v1/openapi.json", gw.http))
        .args(["--header", &format!("Authorization: Bearer {}", gw.token)])
        .args(["--max-examples", SCHEMATHESIS_MAX_EXAMPLES])
        .args(["--seed", SCHEMATHESIS_SEED])
        // One worker: hypothesis parses source with `ast` to describe its
        // strategies, which CPython 3.11 fails at from two threads at once
        // ("SystemError: AST constructor recursion depth mismatch").
        .args(["--checks", "all", "--workers", "1"])
        // Every check but "deleted resource still available" (ST301):
        // `DELETE /v1/passes/{id}` erases a pass's personal data and revokes
        // it, and by contract its id, scans and audit stay (anonymous), so
        // reading them afterwards answers 200.
        .args(["--exclude-checks", "use_after_free"])
        .current_dir(dir.path())
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    let tail: String = {
        let lines: Vec<&str> = report.lines().collect();
        lines[lines.len().saturating_sub(200)..].join("\n")
    };
    assert_ne!(
        out.status.code(),
        Some(124),
        "schemathesis ran past {SCHEMATHESIS_DEADLINE_S} s:\n{tail}"
    );
    assert!(
        out.status.success(),
        "schemathesis found answers that disagree with the document:\n{tail}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    gw.kill9();
}

/// One request that an extractor or a body limit refuses, and the answer
/// the document declares for it.
struct Refusal {
    /// The operation, as the document names it.
    method: &'static str,
    path: &'static str,
    /// The request line and headers, then the body.
    head: String,
    body: Vec<u8>,
    /// The expected status and error code (`""`: a success, no error).
    status: u16,
    code: &'static str,
}

/// Sends `r` on a fresh connection; the answer's status and body.
async fn send(gw: &Gateway, r: &Refusal) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(gw.http)
        .await
        .expect("connect");
    conn.write_all(r.head.as_bytes()).await.expect("send head");
    // The gateway may answer and close before it has read all of the body.
    let _ = conn.write_all(&r.body).await;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.expect("read answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok());
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let status = status.unwrap_or_else(|| panic!("not HTTP: {answer}"));
    (status, body.to_owned())
}

/// The refusals, against a gateway holding the pass `pass_id`.
fn refusals(token: &str, pass_id: &str) -> Vec<Refusal> {
    let head = |method: &str, path: &str, headers: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\n\
             {headers}Connection: close\r\n\r\n"
        )
    };
    let json = |body: &str| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    let revoke = format!("/v1/passes/{pass_id}/revoke");
    let qr = format!("/v1/passes/{pass_id}/qr?format=svg&format=png");
    let over = scangate_gateway::operator::admin::routes::ISSUE_BODY_MAX_BYTES + 1;
    let chunked = [
        format!("{over:x}\r\n").into_bytes(),
        vec![b' '; over],
        b"\r\n0\r\n\r\n".to_vec(),
    ]
    .concat();
    let r = |method, path, head: String, body: &[u8], status, code| Refusal {
        method,
        path,
        head,
        body: body.to_vec(),
        status,
        code,
    };
    let reason = br#"{"reason": "x"}"#;
    vec![
        r(
            "POST",
            "/v1/passes/{id}/revoke",
            head("POST", &revoke, &json("{}")),
            b"{}",
            400,
            "invalid",
        ),
        r(
            "POST",
            "/v1/passes/{id}/revoke",
            head("POST", &revoke, &json("[]")),
            b"[]",
            400,
            "invalid",
        ),
        r(
            "POST",
            "/v1/scans/{scan_id}/annul",
            head("POST", "/v1/scans/s1/annul", "Content-Length: 15\r\n"),
            reason,
            415,
            "unsupported_media_type",
        ),
        r(
            "GET",
            "/v1/passes/{id}/qr",
            head("GET", &qr, ""),
            b"",
            400,
            "invalid",
        ),
        r(
            "GET",
            "/v1/passes/{id}",
            head("GET", "/v1/passes/%FF%FE", ""),
            b"",
            400,
            "invalid",
        ),
        r(
            "GET",
            "/v1/audit",
            head("GET", "/v1/audit?after=", ""),
            b"",
            400,
            "invalid",
        ),
        r(
            "POST",
            "/v1/devices/{name}/revoke",
            head("POST", "/v1/devices/lost/revoke", &json("null")),
            b"null",
            200,
            "",
        ),
        r(
            "POST",
            "/v1/devices/{name}/revoke",
            head("POST", "/v1/devices/lost/revoke", &json("[]")),
            b"[]",
            400,
            "invalid",
        ),
        r(
            "POST",
            "/v1/passes",
            head(
                "POST",
                "/v1/passes",
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
            ),
            &chunked,
            413,
            "too_large",
        ),
    ]
}

/// Refusals made by axum's extractors and body limits (a body of the wrong
/// shape, no JSON content type, a duplicate or undecodable parameter, a
/// chunked body over the limit) come back as the JSON error body with a
/// status the operation documents: 400, not 422; 415 listed; no plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_the_json_error_the_document_declares() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let doc: Value = serde_json::from_str(openapi::json()).expect("the document is JSON");
    let pass = gw.issue_one(1).await;
    for r in refusals(&gw.token, &pass.id) {
        let (got, answer) = send(&gw, &r).await;
        let what = r.head.lines().next().unwrap_or_default().to_owned();
        assert_eq!(got, r.status, "{what}: {answer}");
        if r.status < 400 {
            continue;
        }
        let e: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|_| panic!("{what}: not the JSON error body: {answer}"));
        assert_eq!(e["error"]["code"], r.code, "{what}: {answer}");
        let documented = &doc["paths"][r.path][r.method.to_ascii_lowercase()]["responses"]
            [r.status.to_string()]["content"]["application/json"]["schema"]["$ref"];
        assert!(
            documented == "#/components/schemas/ErrorBody",
            "{} {} does not document {} with the error body",
            r.method,
            r.path,
            r.status
        );
    }
    gw.kill9();
}
