//! The live dashboard in a real headless Chromium, driven over WebDriver
//! (`chromedriver`): load `/`, scan over QUIC, and wait until the page (fed
//! by server-sent events) shows the new numbers. No personal data and no
//! token may appear on the page. A store that fails (a disk filled under a
//! file-size limit) must show on the page as a warning with its cause.
//!
//! The browser is `browser::Driver` (Chromium and chromedriver; see there
//! to skip). Set `SCANGATE_DASHBOARD_SCREENSHOT=PATH` to save a PNG of the
//! page at the end (that is how docs/dashboard.png is made).

use crate::browser;
use crate::common;

use browser::{Driver, open_dashboard};
use common::{Gateway, scan};
use scangate_core::{Decision, Reason};
use serde_json::json;
use std::path::Path;

/// What the test reads from the page, in one round trip.
const READ_PAGE: &str = r##"
const t = (id) => document.getElementById(id).textContent.trim();
const cells = (sel) => Array.from(document.querySelectorAll(sel), (r) =>
    Array.from(r.children, (c) => c.textContent.trim()));
return {
  status: document.getElementById("status").dataset.state,
  scans: t("total-scans"), granted: t("total-granted"), denied: t("total-denied"),
  scanners: t("scanners"), p50: t("p50"),
  north: cells('#gates tr[data-gate="north"]')[0] || null,
  gate_head: Array.from(document.querySelectorAll("#gates")[0].parentElement.querySelectorAll("thead th"), (c) => c.textContent.trim()),
  used_up: (document.querySelector('#reasons [data-reason="used_up"] .count') || {}).textContent || null,
  fest: cells('#events tr[data-event="fest"]')[0] || null,
  denials: cells("#denials tr"),
  disk: t("disk"),
  warnings: document.getElementById("warnings").hidden ? null : t("warnings"),
  html: document.documentElement.outerHTML,
};
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_follows_real_scans_live() {
    let Some((_dirs, gw, driver)) = open_dashboard(|dir| Gateway::start(dir, &[])).await else {
        return;
    };

    // The page connects and shows an empty gateway, and its disk's room.
    let first = driver
        .wait_for("the first snapshot", READ_PAGE, |p| {
            p["status"] == "live" && p["scans"] == "0" && p["scanners"] == "0"
        })
        .await;
    let disk = first["disk"].as_str().expect("disk");
    assert!(
        disk.contains(" GiB free of ") && disk.ends_with(" GiB"),
        "{disk}"
    );
    // A healthy store raises no warning (a nearly full disk of this machine may).
    let warnings = first["warnings"].as_str().unwrap_or("");
    assert!(!warnings.contains("store failed"), "{warnings}");

    let passes = gw
        .issue(json!({"event": "fest", "max_uses": 2, "count": 2}))
        .await;
    let scanner = gw.scanner("dash-north").await;
    for pass in &passes {
        assert_eq!(
            scan(&scanner, &pass.token, "north", None).await.decision,
            Decision::Granted
        );
    }
    let a = &passes[0];
    assert_eq!(
        scan(&scanner, &a.token, "north", None).await.decision,
        Decision::Granted
    );
    assert_eq!(
        scan(&scanner, &a.token, "north", None).await.decision,
        Decision::Denied(Reason::UsedUp)
    );

    // 3 granted, 1 denied (used_up), 1 scanner, uses 3 of capacity 4.
    let page = driver
        .wait_for("the scans", READ_PAGE, |p| {
            p["scans"] == "4"
                && p["granted"] == "3"
                && p["denied"] == "1"
                && p["scanners"] == "1"
                && p["used_up"] == "1"
                && p["north"][2] == "3"
                && p["north"][3] == "1"
                && p["fest"][1] == "3"
                && p["fest"][2] == "4"
                // Latency quantiles come from the last seconds' samples and
                // may show a snapshot after the counts.
                && p["p50"] != "–"
        })
        .await;
    // Each gate's p99 (issue 29): on the page, in its own column, and in
    // /metrics as a histogram labelled by gate, one sample per timed scan.
    let timed = driver
        .wait_for("north's p99", READ_PAGE, |p| {
            p["north"][4].as_str().is_some_and(|t| t.ends_with(" ms"))
        })
        .await;
    assert_eq!(timed["gate_head"][4], "p99", "{timed}");
    let metrics = gw.metrics().await;
    let count = common::metric(
        &metrics,
        "scangate_gate_scan_seconds_count",
        &[("gate", "north")],
    );
    assert_eq!(count, 4.0, "four scans reached north's actors");
    let short = &a.id[..8];
    let denial = &page["denials"][0];
    assert_eq!(denial[1], "north", "{denial}");
    assert_eq!(denial[2], "used_up", "{denial}");
    assert_eq!(denial[3], short, "the pass id, shortened: {denial}");
    let html = page["html"].as_str().expect("html");
    for pass in &passes {
        assert!(!html.contains(&pass.token), "a token on the page");
        assert!(!html.contains(&pass.id), "a full pass id on the page");
    }

    if let Ok(path) = std::env::var("SCANGATE_DASHBOARD_SCREENSHOT") {
        screenshot(&gw, &driver, &scanner, Path::new(&path)).await;
    }

    // The scanner leaves: the page follows.
    scanner.close().await;
    drop(scanner);
    driver
        .wait_for("the scanner leaving", READ_PAGE, |p| p["scanners"] == "0")
        .await;

    // A page still streaming does not hold up a graceful stop: the stream
    // ends with the HTTP plane (the harness fails the test past its deadline).
    let status = gw.sigterm();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    driver.call("DELETE", "", None).await;
}

/// A store that fails (its disk full) shows on the page with its cause,
/// while the page stays live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_warns_when_the_store_fails() {
    let Some((_dirs, gw, driver)) = open_dashboard(Gateway::start_on_a_small_disk).await else {
        return;
    };
    let first = driver
        .wait_for("the first snapshot", READ_PAGE, |p| p["status"] == "live")
        .await;
    let warnings = first["warnings"].as_str().unwrap_or("");
    assert!(!warnings.contains("store failed"), "{warnings}");

    let (_, (status, body)) = gw.fill_disk().await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let page = driver
        .wait_for("the store failure", READ_PAGE, |p| {
            p["warnings"].as_str().is_some_and(|w| {
                w.contains("the store failed, so no scan is granted: ")
                    && w.contains("File too large")
            })
        })
        .await;
    assert_eq!(
        page["status"], "live",
        "the page keeps following the gateway"
    );

    let status = gw.sigterm();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    driver.call("DELETE", "", None).await;
}

/// A few more gates and denial reasons, so the picture shows every panel,
/// then a PNG of the page.
async fn screenshot(
    gw: &Gateway,
    driver: &Driver,
    scanner: &scangate_client::Scanner,
    path: &Path,
) {
    let gated = gw
        .issue(json!({"event": "fest", "max_uses": 1, "gates": ["south"], "count": 40}))
        .await;
    gw.issue(json!({"event": "expo", "max_uses": 3, "count": 10}))
        .await;
    for (i, pass) in gated.iter().enumerate() {
        let gate = ["south", "south", "east"][i % 3];
        scan(scanner, &pass.token, gate, None).await;
    }
    scan(scanner, &gated[0].token, "south", None).await;
    scan(scanner, "NOT-A-TOKEN", "east", None).await;
    driver
        .wait_for("the extra scans", READ_PAGE, |p| p["scans"] == "46")
        .await;
    driver.save_png("/screenshot", path).await;
}

/// A gate name is a scanner's text: markup in it (allowed by the name rule,
/// `<`, `>` and `"` are ASCII punctuation) is shown as text, never parsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_gate_name_is_shown_as_text() {
    let Some((_dirs, gw, driver)) = open_dashboard(|dir| Gateway::start(dir, &[])).await else {
        return;
    };
    let pass = gw.issue_one(1).await;
    let scanner = gw.scanner("dash-markup").await;
    let gate = r#"<img id="pwned" src="x">"#;
    assert!(
        scan(&scanner, &pass.token, gate, None)
            .await
            .decision
            .is_granted()
    );
    let read = r##"return {
        gates: Array.from(document.querySelectorAll("#gates tr td:first-child"), (c) => c.textContent),
        injected: document.getElementById("pwned") !== null || document.querySelector("#gates img") !== null,
    };"##;
    let page = driver
        .wait_for("the gate", read, |p| p["gates"][0] == gate)
        .await;
    assert_eq!(page["injected"], false, "markup was parsed: {page}");
    gw.kill9();
    driver.call("DELETE", "", None).await;
}
