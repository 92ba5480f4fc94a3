//! Zone capacity with live occupancy end to end (issue 29, test 2): a zone
//! of capacity 100, 400 entries at once through 8 gates, exactly 100
//! granted and 300 `zone_full`; exits free places; occupancy never above
//! the capacity while the crowd pushes, and the same after kill -9 (rebuilt
//! from the passes' durable presence). Real binary, real QUIC, real data dir.
//!
//! 400 concurrent scans come from 40 scanner devices (QUIC connections)
//! with 10 scans in flight each, not 400 devices: 400 handshakes at once
//! from one loopback address meet the gateway's per-address handshake
//! admission, which is not what this test is about.

use crate::common;

use common::Gateway;
use common::floor::{put_event, reason};
use futures_util::future::join_all;
use scangate_client::{ScanInput, Scanner};
use scangate_core::wire::ScanReply;
use scangate_core::{Decision, Reason};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const CAPACITY: u64 = 100;
const CROWD: usize = 400;
const GATES: usize = 8;
const DEVICES: usize = 40;

/// The hall (capacity 100) with 8 entry gates and one exit gate.
fn floor() -> Value {
    let mut gates: Vec<Value> = (0..GATES)
        .map(|i| json!({"name": format!("in-{i}"), "zone": "hall", "direction": "in"}))
        .collect();
    gates.push(json!({"name": "out", "zone": "hall", "direction": "out"}));
    json!({"gates": gates,
           "zones": [{"name": "hall", "capacity": CAPACITY}],
           "policy": {"reentry": true, "anti_passback": "strict"}})
}

async fn scan_at(scanner: &Scanner, token: &str, gate: &str) -> ScanReply {
    let input = ScanInput {
        token: token.to_owned(),
        gate: gate.to_owned(),
        event: None,
        scan_id: None,
    };
    scanner.scan(input).await.expect("scan decided")
}

/// The hall's line of `GET /v1/events/floor/occupancy`: inside and free.
async fn hall(gw: &Gateway) -> (u64, u64) {
    let view = gw.get("/v1/events/floor/occupancy").await;
    let zone = &view["zones"][0];
    assert_eq!(zone["zone"], "hall", "{view}");
    assert_eq!(zone["capacity"], CAPACITY, "{view}");
    let n = |k: &str| zone[k].as_u64().unwrap_or_else(|| panic!("{k}: {view}"));
    (n("inside"), n("free"))
}

async fn scanners(gw: &Gateway) -> Vec<Scanner> {
    let mut all = Vec::with_capacity(DEVICES);
    for i in 0..DEVICES {
        all.push(gw.scanner(&format!("hall-{i}")).await);
    }
    all
}

/// Scans every token of `tokens` at once, token `i` on scanner `i % 40`
/// at gate `gate(i)`: the replies in token order.
async fn all_at_once(
    scanners: &[Scanner],
    tokens: &[&str],
    gate: impl Fn(usize) -> String,
) -> Vec<ScanReply> {
    let scans = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let g = gate(i);
            async move { scan_at(&scanners[i % scanners.len()], t, &g).await }
        })
        .collect::<Vec<_>>();
    join_all(scans).await
}

fn tally(replies: &[ScanReply]) -> (usize, usize, Vec<String>) {
    let granted = replies
        .iter()
        .filter(|r| r.decision == Decision::Granted)
        .count();
    let full = replies
        .iter()
        .filter(|r| reason(r) == Some(Reason::ZoneFull))
        .count();
    let other = replies
        .iter()
        .filter(|r| r.decision != Decision::Granted && reason(r) != Some(Reason::ZoneFull))
        .map(|r| format!("{:?}", r.decision))
        .collect();
    (granted, full, other)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_zone_admits_exactly_its_capacity_under_a_crowd_and_after_kill9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let (status, body) = put_event(&gw, "floor", &floor()).await;
    assert_eq!(status, 200, "{body}");
    let passes = gw
        .issue(json!({"event": "floor", "max_uses": 1, "count": CROWD}))
        .await;
    assert_eq!(passes.len(), CROWD);
    let tokens: Vec<&str> = passes.iter().map(|p| p.token.as_str()).collect();
    assert_eq!(hall(&gw).await, (0, CAPACITY));
    let s = scanners(&gw).await;

    // The crowd, while a watcher reads the occupancy over and over.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (url, token, done) = (gw.http, gw.token.clone(), done.clone());
        tokio::spawn(async move { watch_occupancy(url, token, done).await })
    };
    let replies = all_at_once(&s, &tokens, |i| format!("in-{}", i % GATES)).await;
    done.store(true, Ordering::Release);
    let seen = watcher.await.expect("watcher");
    let (granted, full, other) = tally(&replies);
    assert_eq!(
        (granted, full),
        (CAPACITY as usize, CROWD - CAPACITY as usize),
        "others: {other:?}"
    );
    assert!(
        seen.len() > 1,
        "the watcher read the occupancy while the crowd pushed"
    );
    assert!(
        seen.iter().all(|&n| n <= CAPACITY),
        "never above capacity: {seen:?}"
    );
    assert_eq!(hall(&gw).await, (CAPACITY, 0));
    let metrics = gw.metrics().await;
    let labels = [("event", "floor"), ("zone", "hall")];
    assert_eq!(
        common::metric(&metrics, "scangate_zone_occupancy", &labels),
        CAPACITY as f64
    );

    // 10 of those inside go out; 10 of those turned away now get in.
    let inside: Vec<&str> = (0..CROWD)
        .filter(|&i| replies[i].decision == Decision::Granted)
        .map(|i| tokens[i])
        .collect();
    let waiting: Vec<&str> = (0..CROWD)
        .filter(|&i| replies[i].decision != Decision::Granted)
        .map(|i| tokens[i])
        .collect();
    let exits = all_at_once(&s, &inside[..10], |_| "out".into()).await;
    assert_eq!(tally(&exits).0, 10, "every exit granted");
    assert_eq!(hall(&gw).await, (CAPACITY - 10, 10));
    let back = all_at_once(&s, &waiting[..20], |i| format!("in-{}", i % GATES)).await;
    let (granted, full, other) = tally(&back);
    assert_eq!(
        (granted, full),
        (10, 10),
        "10 of 20 get the 10 freed places, 10 find it full again: {other:?}"
    );
    assert_eq!(hall(&gw).await, (CAPACITY, 0));
    for scanner in s {
        scanner.close().await;
    }
    gw.kill9();

    // Rebuilt from the passes' presence: still full, still exact.
    let gw = Gateway::start(dir.path(), &[]);
    assert_eq!(hall(&gw).await, (CAPACITY, 0), "occupancy survives kill -9");
    let s = gw.scanner("hall-0").await;
    let refused = scan_at(&s, waiting[30], "in-3").await;
    assert_eq!(reason(&refused), Some(Reason::ZoneFull));
    assert_eq!(
        scan_at(&s, inside[20], "out").await.decision,
        Decision::Granted
    );
    assert_eq!(
        scan_at(&s, waiting[30], "in-3").await.decision,
        Decision::Granted,
        "an exit after the restart frees a place"
    );
    let line = gw.cli(&["event", "occupancy", "floor", "--json"]);
    let view: Value = serde_json::from_str(line.trim()).expect("json");
    assert_eq!(
        (&view["zones"][0]["inside"], &view["exact"]),
        (&json!(CAPACITY), &json!(true))
    );
    let text = gw.cli(&["event", "occupancy", "floor"]);
    assert!(text.contains("hall: 100 inside of 100, 0 free"), "{text}");
    s.close().await;
    gw.kill9();
}

/// Reads the hall's occupancy until `done`: every value seen.
async fn watch_occupancy(
    http: std::net::SocketAddr,
    token: String,
    done: Arc<AtomicBool>,
) -> Vec<u64> {
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    loop {
        let finished = done.load(Ordering::Acquire);
        let view: Value = client
            .get(format!("http://{http}/v1/events/floor/occupancy"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("occupancy")
            .json()
            .await
            .expect("json");
        let zone = &view["zones"][0];
        seen.push(zone["inside"].as_u64().expect("inside"));
        if finished {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_occupancy_and_a_check_only_entry_sees_a_full_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let mut small = floor();
    small["zones"][0]["capacity"] = json!(1);
    let (status, body) = put_event(&gw, "floor", &small).await;
    assert_eq!(status, 200, "{body}");
    let passes = gw
        .issue(json!({"event": "floor", "max_uses": 1, "count": 2}))
        .await;
    let s = gw.scanner("hall-check").await;
    let first = scan_at(&s, &passes[0].token, "in-0").await;
    assert_eq!(first.decision, Decision::Granted);
    let check = common::floor::scan_floor(&s, &passes[1].token, "in-1", None, true).await;
    assert_eq!(
        reason(&check),
        Some(Reason::ZoneFull),
        "a check sees it full"
    );
    assert_eq!(gw.pass(&passes[1].id).await.uses, 0, "and changes nothing");

    let viewer = gw.token_for("viewer", "door-screen");
    let (status, body) = gw.get_as("/v1/events/floor/occupancy", &viewer).await;
    assert_eq!(status, 200, "{body}");
    let view: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(view["zones"][0]["inside"], 1);
    assert!(!body.contains(&passes[0].id), "counts only, no pass");
    let (status, _) = gw.get_as("/v1/events/nowhere/occupancy", &viewer).await;
    assert_eq!(status, 404, "an event without a definition has no zones");
    s.close().await;
    gw.kill9();
}

/// A zone dropped from an event's definition leaves `/metrics` at the next
/// scrape (occupancy and capacity alike); the zones kept go on reading
/// what is inside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_dropped_from_the_definition_leaves_metrics_at_the_next_scrape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let mut two = floor();
    two["zones"]
        .as_array_mut()
        .expect("zones")
        .push(json!({"name": "lounge", "capacity": 5}));
    two["gates"]
        .as_array_mut()
        .expect("gates")
        .push(json!({"name": "lounge-in", "zone": "lounge", "direction": "in"}));
    let (status, body) = put_event(&gw, "floor", &two).await;
    assert_eq!(status, 200, "{body}");
    let passes = gw
        .issue(json!({"event": "floor", "max_uses": 1, "count": 2}))
        .await;
    let s = gw.scanner("zones-1").await;
    let entries = [("in-0", &passes[0]), ("lounge-in", &passes[1])];
    for (gate, pass) in entries {
        assert_eq!(
            scan_at(&s, &pass.token, gate).await.decision,
            Decision::Granted
        );
    }
    let series = |text: &str, name: &str, zone: &str| {
        common::metric(text, name, &[("event", "floor"), ("zone", zone)])
    };
    let has = |text: &str, zone: &str| text.contains(&format!("zone=\"{zone}\""));
    let before = gw.metrics().await;
    assert_eq!(series(&before, "scangate_zone_occupancy", "lounge"), 1.0);
    assert_eq!(series(&before, "scangate_zone_capacity", "lounge"), 5.0);

    let (status, body) = put_event(&gw, "floor", &floor()).await;
    assert_eq!(status, 200, "{body}");
    let after = gw.metrics().await;
    assert!(!has(&after, "lounge"), "the dropped zone is gone:\n{after}");
    assert_eq!(series(&after, "scangate_zone_occupancy", "hall"), 1.0);
    assert_eq!(
        series(&after, "scangate_zone_capacity", "hall"),
        CAPACITY as f64
    );
    let types = after
        .matches("# TYPE scangate_zone_occupancy gauge")
        .count();
    assert_eq!(types, 1, "one family header:\n{after}");
    s.close().await;
    gw.kill9();
}
