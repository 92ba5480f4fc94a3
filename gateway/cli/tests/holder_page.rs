//! The holder page (`/h/{secret}`) in a real headless Chromium: the QR code
//! a dynamic pass's page shows, read back from a screenshot, scans
//! `granted`; after that code's lifetime the page shows a new one that
//! scans `granted` while the old one is `expired`. A replaced, revoked,
//! guessed or malformed secret gets one generic 404, and a burst from one
//! address is rate-limited while another address is still served.
//!
//! Set `SCANGATE_HOLDER_SCREENSHOT=PATH` to keep a PNG of the page (that is
//! how docs/holder-page.png is made).

use crate::browser;
use crate::common;

use browser::{DEADLINE, Driver, POLL, open_dashboard};
use common::holder::{decode_qr, link};
use common::{Gateway, scan};
use scangate_core::{Decision, Reason};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

/// A code's lifetime: short, so the test sees it end.
const TTL_S: u32 = 3;

/// What the test reads from the page, in one round trip.
const READ_PAGE: &str = r##"
const qr = document.getElementById("qr");
return {
  generation: Number(qr.dataset.generation),
  expires_at: Number(qr.dataset.expiresAt),
  countdown: document.getElementById("countdown").textContent,
  status: document.getElementById("status").textContent,
  event: document.getElementById("event").textContent,
  html: document.documentElement.outerHTML,
};
"##;

/// The page as read, the token its QR code holds (from a screenshot taken
/// while the page kept one code), and the screenshot.
async fn shown_code(driver: &Driver, shot: &Path) -> (Value, String) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let before = driver.js(READ_PAGE).await;
        driver.save_png("/screenshot", shot).await;
        let after = driver.js(READ_PAGE).await;
        let codes = decode_qr(&std::fs::read(shot).expect("screenshot"));
        if before["generation"] == after["generation"] && codes.len() == 1 {
            return (after, codes[0].clone());
        }
        assert!(
            Instant::now() < deadline,
            "no steady, readable code on the page: {codes:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_pass_page_shows_a_code_that_scans_and_renews_it() {
    let Some((dirs, gw, driver)) = open_dashboard(|dir| Gateway::start(dir, &[])).await else {
        return;
    };
    let pass = gw
        .issue(json!({"event": "Summer Fest", "unlimited": true, "dynamic_ttl_s": TTL_S}))
        .await
        .remove(0);
    let link = link(&gw, &pass.id).await;
    // A phone's screen.
    driver
        .call(
            "POST",
            "/window/rect",
            Some(json!({"width": 412, "height": 915})),
        )
        .await;
    let url = format!("http://{}{}", gw.http, link.path);
    driver.call("POST", "/url", Some(json!({"url": url}))).await;
    driver
        .wait_for("the countdown", READ_PAGE, |p| {
            p["countdown"]
                .as_str()
                .is_some_and(|t| t.starts_with("New code in"))
        })
        .await;

    let shot = dirs[1].path().join("holder.png");
    let (first, old) = shown_code(&driver, &shot).await;
    assert_eq!(first["event"], "Summer Fest");
    assert!(
        first["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("Valid")),
        "{first}"
    );
    let scanner = gw.scanner("holder-gate").await;
    assert_eq!(
        scan(&scanner, &old, "A", None).await.decision,
        Decision::Granted
    );
    let html = first["html"].as_str().expect("html");
    assert!(
        !html.contains(&old) && !html.contains(&link.secret[33..]),
        "the token and the secret appear only as the QR drawing"
    );

    // After the first code's lifetime (its own end, by the gateway's clock)
    // the page shows another code.
    let ends = first["expires_at"].as_i64().expect("a dynamic code's end");
    let deadline = Instant::now() + DEADLINE;
    while scangate_gateway::now_ms() <= ends {
        assert!(Instant::now() < deadline, "the code never ended");
        tokio::time::sleep(POLL).await;
    }
    let (now, new) = shown_code(&driver, &shot).await;
    assert!(
        now["generation"].as_i64() > first["generation"].as_i64(),
        "the page fetched a new code: {now}"
    );
    assert_ne!(new, old);
    assert_eq!(
        scan(&scanner, &new, "A", None).await.decision,
        Decision::Granted
    );
    assert_eq!(
        scan(&scanner, &old, "A", None).await.decision,
        Decision::Denied(Reason::Expired)
    );
    if let Ok(keep) = std::env::var("SCANGATE_HOLDER_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("keep the screenshot");
    }
    drop(driver);
    gw.kill9();
}

/// `GET path` on the gateway from the local address `from`.
async fn get_from(gw: &Gateway, from: Ipv4Addr, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(from))
        .build()
        .expect("client")
        .get(format!("http://{}{path}", gw.http))
        .send()
        .await
        .expect("holder page request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_revoked_and_guessed_links_get_one_404_and_a_burst_is_limited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("log dir");
    let log = logs.path().join("gateway.log");
    let gw = Gateway::start_logging_to(
        dir.path(),
        &["--holder-rate", "1", "--holder-burst", "20"],
        std::fs::File::create(&log).expect("log file").into(),
    );
    let here = Ipv4Addr::LOCALHOST;
    let pass = gw
        .issue(json!({"event": "expo", "kind": "card_share", "display": "Ada, ACME"}))
        .await
        .remove(0);
    let first = link(&gw, &pass.id).await;
    let page = get_from(&gw, here, &first.path).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let body = page.text().await.expect("page");
    assert!(
        body.contains("expo") && body.contains("Ada, ACME") && body.contains("<svg"),
        "{body}"
    );

    // A new link (here through the CLI) replaces the first.
    let made: Value =
        serde_json::from_str(&gw.cli(&["pass", "link", &pass.id, "--json"])).expect("json");
    let second = made["path"].as_str().expect("path").to_owned();
    assert_eq!(made["url"], format!("http://{}{second}", gw.http));
    assert_eq!(get_from(&gw, here, &second).await.status(), 200);

    let secret = made["secret"].as_str().expect("secret");
    let mut guessed = secret.to_owned();
    let last = guessed.pop().expect("a char");
    guessed.push(if last == '0' { '1' } else { '0' });
    let unknown_pass = format!("{}{}", "0".repeat(32), &secret[32..]);
    let mut not_found = Vec::new();
    for path in [
        first.path.clone(),
        format!("/h/{guessed}"),
        format!("/h/{unknown_pass}"),
        "/h/abc".to_owned(),
        format!("/h/{secret}x"),
        format!("/h/{guessed}/code"),
    ] {
        let r = get_from(&gw, here, &path).await;
        assert_eq!(r.status(), 404, "{path}");
        not_found.push(r.text().await.expect("body"));
    }
    assert!(
        not_found.windows(2).all(|w| w[0] == w[1]),
        "one generic 404: {not_found:?}"
    );
    assert!(!not_found[0].contains(&secret[33..]), "{}", not_found[0]);

    let revoked = gw.cli(&["pass", "link", &pass.id, "--revoke", "--json"]);
    assert!(revoked.contains("\"revoked\":true"), "{revoked}");
    let again = gw.cli(&["pass", "link", &pass.id, "--revoke", "--json"]);
    assert!(again.contains("\"revoked\":false"), "idempotent: {again}");
    assert_eq!(
        get_from(&gw, here, &second)
            .await
            .text()
            .await
            .expect("body"),
        not_found[0]
    );
    let journal = gw.cli(&["audit", "operator", "--json"]);
    assert_eq!(journal.matches("\"pass.link\"").count(), 2, "{journal}");
    assert_eq!(journal.matches("\"pass.unlink\"").count(), 1, "{journal}");
    assert!(!journal.contains(&secret[33..]) && !journal.contains(&first.secret[33..]));

    // A burst from this address runs out; another address is still served.
    let third = link(&gw, &pass.id).await;
    let mut limited = None;
    for _ in 0..40 {
        let r = get_from(&gw, here, &third.path).await;
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let limited = limited.expect("a burst of 40 from one address is limited (burst 20)");
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry >= 1, "{retry}");
    let other = get_from(&gw, Ipv4Addr::new(127, 0, 0, 2), &third.path).await;
    assert_eq!(other.status(), 200, "another address has its own rate");
    gw.kill9();

    // No secret anywhere on disk: not in the store, journal or log.
    let secrets = [&first.secret, &secret.to_owned(), &third.secret].map(|s| s[33..].to_owned());
    assert_nowhere(&[log, dir.path().to_owned()], &secrets);
}

/// Fails if any file at or under `roots` holds one of `needles`.
fn assert_nowhere(roots: &[std::path::PathBuf], needles: &[String]) {
    let mut files = Vec::new();
    let mut todo = roots.to_vec();
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                todo.push(entry.expect("entry").path());
            }
        } else {
            files.push(path);
        }
    }
    assert!(files.len() > 5, "the data dir was searched: {files:?}");
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        for n in needles {
            let found = bytes.windows(n.len()).any(|w| w == n.as_bytes());
            assert!(!found, "{} holds a holder secret", file.display());
        }
    }
}
