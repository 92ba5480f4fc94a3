//! The public listener (`scangate serve --public-listen ADDR`), against the
//! real binary with both listeners on loopback:
//!
//! - the phones' routes answer there: a holder page and its fresh code, the
//!   guard page and its assets, a web scanner's enrollment and its scans
//!   (granted, then `used_up`, recorded under the device's name), over
//!   https with the gateway's certificate and over plain HTTP on loopback;
//!   the CLI's holder and enrollment links name the public address;
//! - every admin route (the whole route table, walked), the OpenAPI
//!   document, `/metrics`, `/readyz` and the dashboard answer the one
//!   generic 404 there, while the operator plane still serves them;
//! - a venue's own certificate and key serve it instead, and a missing
//!   key file stops the start with the file named.

use crate::common;

use common::Gateway;
use common::guard::{enroll_link, secret_of};
use scangate_gateway::operator::admin::routes::ROUTES;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Stdio;

/// The public address the running gateway wrote to `DATA/gateway.json`.
fn public_of(gw: &Gateway) -> SocketAddr {
    let text = std::fs::read_to_string(gw.dir.join("gateway.json")).expect("gateway.json");
    let endpoints: Value = serde_json::from_str(&text).expect("json");
    endpoints["public"]
        .as_str()
        .expect("a public address")
        .parse()
        .expect("an address")
}

/// `method path` to `addr` over plain HTTP with the bootstrap admin token
/// (and an empty JSON body where one may be read): status and body.
async fn call(gw: &Gateway, addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new()
        .request(method.clone(), format!("http://{addr}{path}"))
        .bearer_auth(&gw.token);
    if method != reqwest::Method::GET {
        req = req.json(&json!({"reason": "walk"}));
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// An admin route's path with real-looking parameters.
fn filled(path: &str, pass: &str) -> String {
    path.replace("{id}", pass)
        .replace("{scan_id}", "walk-scan")
        .replace("{name}", "walk-device")
        .replace("{event}", "fest")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_reach_only_their_routes_on_the_public_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--public-listen", "127.0.0.1:0"]);
    let public = public_of(&gw);
    assert_ne!(public, gw.http);
    let pass = gw
        .issue(json!({"event": "fest", "max_uses": 1, "display": "Ada Lovelace"}))
        .await
        .pop()
        .expect("a pass");

    // The holder page and its code, through the public listener.
    let made = gw.cli(&["pass", "link", &pass.id, "--json"]);
    let made: Value = serde_json::from_str(made.trim()).expect("json");
    let url = made["url"].as_str().expect("url");
    assert_eq!(
        url,
        format!("https://{public}{}", made["path"].as_str().expect("path"))
    );
    let path = made["path"].as_str().expect("path");
    let (status, page) = call(&gw, public, "GET", path).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Valid: show this code at the gate") && page.contains("<svg"),
        "{page}"
    );
    let (status, code) = call(&gw, public, "GET", &format!("{path}/code")).await;
    assert_eq!(status, 200, "{code}");
    assert!(code.contains("\"svg\""), "{code}");
    for asset in [
        "/holder.css",
        "/holder.js",
        "/scanner",
        "/scanner.css",
        "/scanner.js",
        "/scanner/jsQR.js",
        "/healthz",
    ] {
        let (status, body) = call(&gw, public, "GET", asset).await;
        assert_eq!(status, 200, "{asset}: {body}");
    }

    // A guard's phone enrolls and scans through it.
    let link = enroll_link(&gw, "gate-phone", "north");
    assert!(
        link.starts_with(&format!("https://{public}/scanner#enroll=sge_")),
        "{link}"
    );
    let enroll = json!({"enrollment": secret_of(&link)});
    let resp = reqwest::Client::new()
        .post(format!("http://{public}/v1/scanner/enroll"))
        .json(&enroll)
        .send()
        .await
        .expect("enroll");
    assert_eq!(resp.status().as_u16(), 200);
    let enrolled: Value = resp.json().await.expect("json");
    let credential = enrolled["credential"].as_str().expect("credential");
    let mut seen = Vec::new();
    for scan_id in ["first", "second"] {
        let resp = reqwest::Client::new()
            .post(format!("http://{public}/v1/scan"))
            .bearer_auth(credential)
            .json(&json!({"token": pass.token, "gate": "north", "scan_id": scan_id}))
            .send()
            .await
            .expect("scan");
        assert_eq!(resp.status().as_u16(), 200);
        let reply: Value = resp.json().await.expect("json");
        seen.push((reply["decision"].clone(), reply["reason"].clone()));
    }
    assert_eq!(
        seen,
        [
            (json!("granted"), Value::Null),
            (json!("denied"), json!("used_up"))
        ]
    );
    let scans = gw.scans(&pass.id).await;
    assert_eq!(scans.len(), 2, "{scans:?}");
    assert!(
        scans.iter().all(|s| s["device"] == "gate-phone"),
        "{scans:?}"
    );

    // Every admin route, and everything else of the operator plane, is the
    // generic 404 there; the operator plane still routes each of them.
    let mut walked = 0;
    for route in ROUTES {
        let path = filled(route.path, &pass.id);
        let (status, body) = call(&gw, public, route.method, &path).await;
        assert_eq!(
            status, 404,
            "{} {path} on the public listener: {body}",
            route.method
        );
        assert!(body.contains("no such endpoint"), "{body}");
        let (_, body) = call(&gw, gw.http, route.method, &path).await;
        assert!(
            !body.contains("no such endpoint"),
            "{} {path}: {body}",
            route.method
        );
        walked += 1;
    }
    assert!(walked >= 25, "the whole route table: {walked}");
    let operator_only = [
        "/",
        "/dashboard.js",
        "/live/snapshot",
        "/metrics",
        "/readyz",
        "/v1/openapi.json",
    ];
    for path in operator_only {
        let (status, body) = call(&gw, public, "GET", path).await;
        assert_eq!(
            (status, body.contains("no such endpoint")),
            (404, true),
            "{path}: {body}"
        );
        let (status, _) = call(&gw, gw.http, "GET", path).await;
        assert_eq!(status, 200, "{path} on the operator plane");
    }

    // Over https with the gateway's certificate, as phones reach it.
    let tls = common::https::trusting(&dir.path().join("pki/ca.pem"));
    let (status, page) = common::https::get(public, "localhost", &tls, "/scanner")
        .await
        .expect("https /scanner");
    assert_eq!(status, 200, "{page}");
    let (status, _) = common::https::get(public, "localhost", &tls, "/v1/passes")
        .await
        .expect("https /v1/passes");
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venues_own_certificate_serves_the_public_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let venue = tempfile::tempdir().expect("venue dir");
    let issued = rcgen::generate_simple_self_signed(vec!["gate.example".to_owned()])
        .expect("a venue certificate");
    let (cert, key) = (venue.path().join("cert.pem"), venue.path().join("key.pem"));
    std::fs::write(&cert, issued.cert.pem()).expect("cert");
    std::fs::write(&key, issued.signing_key.serialize_pem()).expect("key");
    let (cert_arg, key_arg) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));

    // A key file that is not there stops the start, naming it.
    let missing = venue.path().join("missing-key.pem");
    let log = venue.path().join("refused.log");
    let refused = Gateway::try_start_logging_to(
        dir.path(),
        &[
            "--public-listen",
            "127.0.0.1:0",
            "--public-cert",
            cert_arg,
            "--public-key",
            missing.to_str().expect("utf-8"),
        ],
        Stdio::from(std::fs::File::create(&log).expect("log")),
    );
    assert!(refused.is_err(), "a start without its key file");
    let said = std::fs::read_to_string(&log).expect("log");
    assert!(said.contains("missing-key.pem"), "{said}");

    let gw = Gateway::start(
        dir.path(),
        &[
            "--public-listen",
            "127.0.0.1:0",
            "--public-cert",
            cert_arg,
            "--public-key",
            key_arg,
        ],
    );
    let public = public_of(&gw);
    let venue_trust = common::https::trusting(&cert);
    let (status, page) = common::https::get(public, "gate.example", &venue_trust, "/scanner")
        .await
        .expect("https with the venue's certificate");
    assert_eq!(status, 200, "{page}");
    // Phones trust the venue's certificate, not the gateway's own CA: the
    // public listener does not serve the gateway's certificate.
    let gateway_trust = common::https::trusting(&dir.path().join("pki/ca.pem"));
    let other = common::https::get(public, "localhost", &gateway_trust, "/scanner").await;
    assert!(
        other.is_err(),
        "the gateway's certificate on the public listener"
    );
}
