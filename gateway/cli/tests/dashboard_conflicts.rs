//! The dashboard's conflicts panel (issue 26) in a real headless Chromium.
//! Conflicts are recorded the real way: offline grants uploaded over QUIC
//! by scanners with their own device certificates, to a real `scangate`
//! process. The panel counts them from the store, so the counts survive a
//! restart of the gateway; it lists every kind (zeros included) and the
//! latest conflicts with their devices, and follows a new one without a
//! reload. No token, no display text and no full pass id reach the page.
//!
//! Set `SCANGATE_CONFLICTS_SCREENSHOT=PATH` to save a PNG of the panel
//! (that is how docs/dashboard-conflicts.png is made).

use crate::browser;
use crate::common;

use browser::{Driver, browser_available};
use common::Gateway;
use scangate_client::Scanner;
use scangate_core::offline::messages::{AckStatus, ConflictKind, OfflineScan};
use scangate_core::{Decision, ScanId};
use serde_json::{Value, json};

/// Holder data on the passes: it must never reach the page.
const DISPLAY: &str = "Ada Lovelace, row 7 seat 12";
/// How long before now the devices were cut off.
const OFFLINE_FOR_MS: i64 = 120_000;
/// A phone held upright, CSS pixels.
const NARROW_WIDTH: u32 = 360;

/// A grant a device decided alone at gate `north` of `fest`, at
/// `device_time_ms`, from a snapshot made a minute before.
fn offline_grant(token: &str, scan_id: &str, device_time_ms: i64) -> OfflineScan {
    OfflineScan {
        token: token.to_owned(),
        gate: "north".into(),
        event: "fest".into(),
        scan_id: ScanId::new(scan_id).expect("scan id"),
        device_time_ms,
        snapshot_version: u64::try_from(device_time_ms - 60_000).expect("positive"),
        decision: Decision::Granted,
    }
}

/// Uploads one scan; it must be recorded. Returns the rules it broke.
async fn upload(scanner: &Scanner, scan: OfflineScan) -> Vec<ConflictKind> {
    let ack = scanner.upload(&[scan]).await.expect("upload");
    assert_eq!(ack.scans.len(), 1, "{ack:?}");
    assert_eq!(ack.scans[0].status, AckStatus::Recorded, "{ack:?}");
    ack.scans[0].conflicts.clone()
}

/// What the test reads from the panel, in one round trip.
const READ_PANEL: &str = r##"
const kinds = {};
for (const r of document.querySelectorAll("#conflict-counts tr[data-kind]")) {
  kinds[r.dataset.kind] = r.children[1].textContent.trim();
}
return {
  status: document.getElementById("status").dataset.state,
  note: document.getElementById("conflicts-note").textContent,
  kinds,
  row_headers: document.querySelectorAll('#conflict-counts th[scope="row"]').length,
  latest: Array.from(document.querySelectorAll("#conflicts tr[data-kind]"), (r) =>
    [r.dataset.kind].concat(Array.from(r.children, (c) => c.textContent.trim()))),
  not_reloaded: window.notReloaded === true,
  width: window.innerWidth,
  overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  html: document.documentElement.outerHTML,
};
"##;

/// The counts shown are `expected` for the kinds named, 0 for every other.
fn counts_are(page: &Value, expected: &[(ConflictKind, &str)]) -> bool {
    ConflictKind::ALL.iter().all(|kind| {
        let want = expected
            .iter()
            .find(|(k, _)| k == kind)
            .map_or("0", |(_, n)| *n);
        page["kinds"][kind.as_str()] == want
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_counts_conflicts_from_the_store_and_follows_new_ones() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = tempfile::tempdir().expect("browser profile dir");
    let gw = Gateway::start(dir.path(), &[]);
    let one = json!({"event": "fest", "max_uses": 1, "display": DISPLAY});
    let single = gw.issue(one).await.remove(0);
    let three = json!({"event": "fest", "max_uses": 3, "display": DISPLAY});
    let stolen = gw.issue(three).await.remove(0);
    let (a, b) = (gw.scanner("gate-a-1").await, gw.scanner("gate-b-2").await);

    // One single-use ticket on two offline devices: over_limit on the second.
    let t = scangate_gateway::now_ms() - OFFLINE_FOR_MS;
    assert_eq!(upload(&a, offline_grant(&single.token, "a-1", t)).await, []);
    let twice = upload(&b, offline_grant(&single.token, "b-1", t + 1_000)).await;
    assert_eq!(twice, [ConflictKind::OverLimit]);
    // A pass revoked, then scanned on a device that did not know.
    let path = format!("/v1/passes/{}/revoke", stolen.id);
    gw.post(&path, json!({"reason": "reported stolen"})).await;
    let after = scangate_gateway::now_ms();
    let late = upload(&a, offline_grant(&stolen.token, "a-2", after + 1)).await;
    assert_eq!(late, [ConflictKind::RevokedBeforeScan]);

    // The counts come from the store: a restarted gateway shows them.
    a.close().await;
    b.close().await;
    assert!(gw.sigterm().success(), "a clean stop");
    let gw = Gateway::start(dir.path(), &[]);
    let driver = Driver::open(&gw, profile.path()).await;
    let page = driver
        .wait_for("the two conflicts", READ_PANEL, |p| {
            counts_are(
                p,
                &[
                    (ConflictKind::OverLimit, "1"),
                    (ConflictKind::RevokedBeforeScan, "1"),
                ],
            ) && p["latest"].as_array().is_some_and(|l| l.len() == 2)
        })
        .await;
    assert_eq!(page["row_headers"], ConflictKind::ALL.len(), "every kind");
    let note = page["note"].as_str().expect("note");
    assert!(note.starts_with("2 in all, counted "), "{note}");
    // Newest first: [kind, recorded, words, gate, device, device time, pass].
    let revoked = &page["latest"][0];
    assert_eq!(revoked[0], "revoked_before_scan", "{revoked}");
    assert_eq!(revoked[2], "Revoked before the scan", "{revoked}");
    assert_eq!(
        (&revoked[3], &revoked[4]),
        (&json!("north"), &json!("gate-a-1"))
    );
    assert_eq!(revoked[6], &stolen.id[..8], "the pass, shortened");
    let over = &page["latest"][1];
    assert_eq!(over[0], "over_limit", "{over}");
    assert_eq!(over[2], "Used beyond its limit", "{over}");
    assert_eq!(over[4], "gate-b-2", "{over}");
    assert_eq!(over[6], &single.id[..8], "the pass, shortened");
    let html = page["html"].as_str().expect("html");
    assert!(!html.contains(DISPLAY), "display text on the page");
    for pass in [&single, &stolen] {
        assert!(!html.contains(&pass.token), "a token on the page");
        assert!(!html.contains(&pass.id), "a full pass id on the page");
    }
    assert!(
        html.contains("scangate conflicts list"),
        "the full list's hint"
    );

    // One more, while the page is open: it follows without a reload.
    driver.js("window.notReloaded = true; return true;").await;
    let c = gw.scanner("gate-c-3").await;
    let third = upload(&c, offline_grant(&single.token, "c-1", t + 2_000)).await;
    assert_eq!(third, [ConflictKind::OverLimit]);
    let page = driver
        .wait_for("the third conflict", READ_PANEL, |p| {
            p["kinds"]["over_limit"] == "2" && p["latest"][0][4] == "gate-c-3"
        })
        .await;
    assert!(page["not_reloaded"].as_bool().expect("bool"), "no reload");
    assert!(counts_are(
        &page,
        &[
            (ConflictKind::OverLimit, "2"),
            (ConflictKind::RevokedBeforeScan, "1")
        ]
    ));
    let (status, body) = gw.probe("/live/conflicts").await;
    assert_eq!(status, reqwest::StatusCode::OK, "no token needed: {body}");
    let panel: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (&panel["total"], &panel["complete"]),
        (&json!(3), &json!(true))
    );

    if let Ok(path) = std::env::var("SCANGATE_CONFLICTS_SCREENSHOT") {
        let top = r#"document.getElementById("conflicts-card").scrollIntoView(); return true;"#;
        driver.js(top).await;
        let panel = driver.element("#conflicts-card").await;
        let command = format!("/element/{panel}/screenshot");
        driver.save_png(&command, std::path::Path::new(&path)).await;
    }

    // A phone's width: the page does not scroll sideways.
    let rect = json!({"width": NARROW_WIDTH, "height": 800});
    driver.call("POST", "/window/rect", Some(rect)).await;
    let narrow = driver
        .wait_for("the narrow layout", READ_PANEL, |p| {
            p["width"]
                .as_u64()
                .is_some_and(|w| w <= u64::from(NARROW_WIDTH))
        })
        .await;
    assert_eq!(
        narrow["overflow"], 0,
        "sideways scroll at {}",
        narrow["width"]
    );

    c.close().await;
    assert!(gw.sigterm().success(), "a clean stop");
    driver.call("DELETE", "", None).await;
}
