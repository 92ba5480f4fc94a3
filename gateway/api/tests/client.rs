//! The admin client against a real HTTP peer on loopback: one canned answer
//! per connection, so each test states what the server said and checks what
//! the client made of it (and what it sent).

use scangate_api::{AdminClient, ClientError};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Deadline of each test request: far above a loopback round trip.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Most request bytes the canned server reads (headers and a small body).
const REQUEST_MAX: usize = 16 * 1024;

/// Serves `status` and `body` to one connection; hands back the request's head.
async fn answer_once(
    status: &'static str,
    body: &'static str,
) -> (SocketAddr, tokio::task::JoinHandle<String>) {
    let (addr, task) = answer_in_turn(vec![(status, "", body)]).await;
    let first = tokio::spawn(async move {
        let mut heads = task.await.expect("server");
        heads.remove(0)
    });
    (addr, first)
}

/// Serves one answer per connection, in turn: `(status, extra header
/// lines, body)`; hands back each request's head.
async fn answer_in_turn(
    answers: Vec<(&'static str, &'static str, &'static str)>,
) -> (SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut heads = Vec::new();
        for (status, headers, body) in answers {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < REQUEST_MAX {
                let n = conn.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let reply = format!(
                "HTTP/1.1 {status}\r\n{headers}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(reply.as_bytes()).await.expect("write");
            heads.push(String::from_utf8_lossy(&request).into_owned());
        }
        heads
    });
    (addr, task)
}

fn client(addr: SocketAddr) -> AdminClient {
    AdminClient::new(&format!("http://{addr}/"), "sga_secret".into(), TIMEOUT).expect("client")
}

#[tokio::test]
async fn a_2xx_answer_is_decoded_and_the_request_carries_the_bearer_token() {
    let (addr, server) = answer_once("200 OK", r#"{"n": 7}"#).await;
    let got: serde_json::Value = client(addr).get("/v1/things").await.expect("answer");
    assert_eq!(got["n"], 7);
    let request = server.await.expect("server");
    assert!(request.starts_with("GET /v1/things HTTP/1.1"), "{request}");
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: bearer sga_secret"),
        "{request}"
    );
}

#[tokio::test]
async fn an_error_answer_is_the_apis_error_with_its_status() {
    let body = r#"{"error": {"code": "not_found", "message": "no such pass", "field": null}}"#;
    let (addr, server) = answer_once("404 Not Found", body).await;
    let err = client(addr)
        .post::<_, serde_json::Value>("/v1/passes/x/revoke", &serde_json::json!({}))
        .await
        .expect_err("404");
    let ClientError::Api(api) = &err else {
        panic!("not the API's error: {err:?}");
    };
    assert_eq!((api.status.as_u16(), api.code.as_str()), (404, "not_found"));
    assert_eq!(err.to_string(), "no such pass");
    server.await.expect("server");
}

#[tokio::test]
async fn a_2xx_body_of_the_wrong_shape_is_unexpected() {
    let (addr, server) = answer_once("200 OK", "[1, 2").await;
    let err = client(addr)
        .get::<serde_json::Value>("/v1/passes")
        .await
        .expect_err("not JSON");
    assert!(matches!(err, ClientError::Unexpected(_)), "{err:?}");
    assert!(!err.is_connect());
    server.await.expect("server");
}

#[tokio::test]
async fn nothing_listening_is_a_refused_connection_naming_the_address() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr")
    };
    let err = client(addr)
        .get_bytes("/readyz", scangate_api::client::NO_QUERY)
        .await
        .expect_err("nobody listens");
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("cannot reach the admin API at http://{addr}")
    );
}

/// The gateway's answer to a token over its rate.
const RATE_LIMITED: &str = r#"{"error": {"code": "rate_limited", "message": "token \"admin\" made more calls than its rate allows", "field": null}}"#;

#[tokio::test]
async fn a_429_is_sent_again_after_its_retry_after_when_the_client_waits_out_rate_limits() {
    let (addr, server) = answer_in_turn(vec![
        ("429 Too Many Requests", "retry-after: 1\r\n", RATE_LIMITED),
        ("200 OK", "", r#"{"n": 7}"#),
    ])
    .await;
    let started = std::time::Instant::now();
    let got: serde_json::Value = client(addr)
        .waiting_out_rate_limits(Duration::from_secs(5))
        .post("/v1/passes/x/revoke", &serde_json::json!({"reason": "r"}))
        .await
        .expect("answered the second time");
    assert_eq!(got["n"], 7);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "sent again before Retry-After: {:?}",
        started.elapsed()
    );
    let heads = server.await.expect("server");
    assert_eq!(heads.len(), 2);
    for head in &heads {
        assert!(head.starts_with("POST /v1/passes/x/revoke"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("authorization: bearer sga_secret")
        );
    }
}

#[tokio::test]
async fn a_429_whose_retry_after_is_past_the_budget_fails_at_once_naming_the_wait() {
    let (addr, server) = answer_in_turn(vec![(
        "429 Too Many Requests",
        "retry-after: 30\r\n",
        RATE_LIMITED,
    )])
    .await;
    let started = std::time::Instant::now();
    let err = client(addr)
        .waiting_out_rate_limits(Duration::from_secs(5))
        .get::<serde_json::Value>("/v1/passes/x")
        .await
        .expect_err("over the budget");
    assert!(started.elapsed() < Duration::from_secs(5), "it waited");
    let ClientError::RateLimited { budget, last, .. } = &err else {
        panic!("not RateLimited: {err:?}");
    };
    assert_eq!(
        (*budget, last.status.as_u16()),
        (Duration::from_secs(5), 429)
    );
    assert!(err.to_string().contains("(429)"), "{err}");
    assert_eq!(server.await.expect("server").len(), 1);
}

#[tokio::test]
async fn a_429_is_the_apis_error_at_once_unless_the_client_waits_out_rate_limits() {
    let (addr, server) = answer_once("429 Too Many Requests", RATE_LIMITED).await;
    let err = client(addr)
        .get::<serde_json::Value>("/v1/passes/x")
        .await
        .expect_err("429");
    let ClientError::Api(api) = &err else {
        panic!("not the API's error: {err:?}");
    };
    assert_eq!(
        (api.status.as_u16(), api.code.as_str()),
        (429, "rate_limited")
    );
    server.await.expect("server");
}
