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
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
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
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(reply.as_bytes()).await.expect("write");
        String::from_utf8_lossy(&request).into_owned()
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
