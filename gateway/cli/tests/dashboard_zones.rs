//! The dashboard's occupancy panel (issue 29) in a real headless Chromium:
//! entries through a real gateway over QUIC fill a zone with a capacity,
//! the panel follows without a reload (inside, capacity, free, and the
//! full zone marked), an exit frees a place on the page, and no token or
//! pass id reaches it.

use crate::browser;
use crate::common;

use browser::open_dashboard;
use common::floor::put_event;
use common::{Gateway, scan};
use scangate_core::{Decision, Reason};
use serde_json::json;

/// The zones table's rows, each with its `data-zone` and cells.
const READ_ZONES: &str = r##"
const rows = {};
for (const r of document.querySelectorAll("#zones tr[data-zone]")) {
  rows[r.dataset.zone] = {
    cells: Array.from(r.children, (c) => c.textContent.trim()),
    full: r.classList.contains("full"),
  };
}
return { rows, html: document.documentElement.outerHTML };
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_follows_a_zone_filling_and_emptying() {
    let Some((_dirs, gw, driver)) = open_dashboard(|dir| Gateway::start(dir, &[])).await else {
        return;
    };
    let definition = json!({
        "gates": [{"name": "north", "zone": "hall", "direction": "in"},
                  {"name": "north-out", "zone": "hall", "direction": "out"},
                  {"name": "vip-door", "zone": "vip", "direction": "both"}],
        "zones": [{"name": "hall", "capacity": 2}, {"name": "vip", "parent": "hall"}],
        "policy": {"reentry": true, "anti_passback": "strict"}});
    let (status, body) = put_event(&gw, "fest", &definition).await;
    assert_eq!(status, 200, "{body}");
    driver
        .wait_for("the empty zones", READ_ZONES, |p| {
            p["rows"]["fest/hall"]["cells"] == json!(["fest", "hall", "0", "2", "2"])
                && p["rows"]["fest/vip"]["cells"] == json!(["fest", "vip (in hall)", "0", "–", "–"])
        })
        .await;

    let passes = gw
        .issue(json!({"event": "fest", "max_uses": 1, "count": 3}))
        .await;
    let s = gw.scanner("zones-north").await;
    for pass in &passes[..2] {
        assert_eq!(
            scan(&s, &pass.token, "north", None).await.decision,
            Decision::Granted
        );
    }
    let third = scan(&s, &passes[2].token, "north", None).await;
    assert_eq!(third.decision, Decision::Denied(Reason::ZoneFull));
    let page = driver
        .wait_for("a full hall", READ_ZONES, |p| {
            p["rows"]["fest/hall"]["cells"] == json!(["fest", "hall", "2", "2", "0"])
                && p["rows"]["fest/hall"]["full"] == true
        })
        .await;
    let html = page["html"].as_str().expect("html");
    for pass in &passes {
        assert!(!html.contains(&pass.token) && !html.contains(&pass.id));
    }

    assert_eq!(
        scan(&s, &passes[0].token, "north-out", None).await.decision,
        Decision::Granted
    );
    driver
        .wait_for("a place freed", READ_ZONES, |p| {
            p["rows"]["fest/hall"]["cells"] == json!(["fest", "hall", "1", "2", "1"])
                && p["rows"]["fest/hall"]["full"] == false
        })
        .await;
    s.close().await;
    driver.call("DELETE", "", None).await;
    gw.kill9();
}
