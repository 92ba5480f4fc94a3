//! The event floor end to end (issue 29): event definitions through the
//! admin API and the CLI, entry and exit with anti-passback and re-entry
//! (presence surviving kill -9), zones on passes, and check-only scans.
//! Real binary, real QUIC, real data dir.

use crate::common;

use common::Gateway;
use common::floor::{put_event, reason, scan_floor};
use common::frames::scan_frame;
use scangate_client::Direction;
use scangate_core::frame;
use scangate_core::wire::{RequestBody, Response, ResponseBody, ScanDirection};
use scangate_core::{Decision, Reason};
use serde_json::{Value, json};

/// The issue's minimal definition, as it stands.
fn issue_example() -> Value {
    json!({"gates": [{"name": "north", "zone": "hall", "direction": "in"},
                     {"name": "north-out", "zone": "hall", "direction": "out"},
                     {"name": "vip-door", "zone": "vip", "direction": "both"}],
           "zones": [{"name": "hall", "capacity": 5}, {"name": "vip", "parent": "hall"}],
           "policy": {"reentry": true, "anti_passback": "strict"}})
}

async fn define(gw: &Gateway, event: &str, definition: &Value) {
    let (status, body) = put_event(gw, event, definition).await;
    assert_eq!(status, 200, "PUT /v1/events/{event}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_exit_and_reentry_keep_presence_across_kill9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    define(&gw, "fest", &issue_example()).await;
    let pass = gw.issue_one(1).await;
    let s = gw.scanner("floor-1").await;
    let t = pass.token.as_str();

    let first = scan_floor(&s, t, "north", None, false).await;
    assert_eq!(first.decision, Decision::Granted);
    let guard = first.guard.clone().expect("the guard's view");
    assert_eq!((first.uses, first.max_uses), (Some(1), Some(1)));
    assert_eq!(
        (guard.inside, guard.zone.as_deref()),
        (Some(true), Some("hall"))
    );
    let again = scan_floor(&s, t, "north", None, false).await;
    assert_eq!(reason(&again), Some(Reason::AlreadyInside));
    let out = scan_floor(&s, t, "north-out", None, false).await;
    assert_eq!(out.decision, Decision::Granted);
    assert_eq!(out.guard.expect("view").inside, Some(false));
    let back = scan_floor(&s, t, "north", None, false).await;
    assert_eq!(
        back.decision,
        Decision::Granted,
        "re-entry on a used-up count"
    );
    assert_eq!(back.uses, Some(1), "re-entry does not spend max_uses");
    assert_eq!(
        scan_floor(&s, t, "north-out", None, false).await.decision,
        Decision::Granted
    );
    let outside = scan_floor(&s, t, "north-out", None, false).await;
    assert_eq!(reason(&outside), Some(Reason::NotInside));

    // Specific denials for what the definition does not allow.
    let unknown = scan_floor(&s, t, "south", None, false).await;
    assert_eq!(reason(&unknown), Some(Reason::UnknownGate));
    let both = scan_floor(&s, t, "vip-door", None, false).await;
    assert_eq!(reason(&both), Some(Reason::DirectionNeeded));
    let wrong_way = scan_floor(&s, t, "north", Some(Direction::Out), false).await;
    assert_eq!(reason(&wrong_way), Some(Reason::WrongDirection));

    // In again, deeper into vip, then a crash: count and presence hold.
    assert_eq!(
        scan_floor(&s, t, "north", None, false).await.decision,
        Decision::Granted
    );
    let vip = scan_floor(&s, t, "vip-door", Some(Direction::In), false).await;
    assert_eq!(vip.decision, Decision::Granted);
    let seen = gw.pass(&pass.id).await;
    assert_eq!(
        (seen.uses, seen.presence.as_str(), seen.zone.as_deref()),
        (1, "inside", Some("vip"))
    );
    s.close().await;
    gw.kill9();

    let gw = Gateway::start(dir.path(), &[]);
    let after = gw.pass(&pass.id).await;
    assert_eq!(
        (after.uses, after.presence.as_str(), after.zone.as_deref()),
        (1, "inside", Some("vip")),
        "presence and count survive kill -9"
    );
    let s = gw.scanner("floor-1").await;
    let inside = scan_floor(&s, t, "north", None, false).await;
    assert_eq!(
        reason(&inside),
        Some(Reason::AlreadyInside),
        "the definition survives too"
    );
    let vip_out = scan_floor(&s, t, "vip-door", Some(Direction::Out), false).await;
    assert_eq!(vip_out.guard.expect("view").zone.as_deref(), Some("hall"));
    let gone = scan_floor(&s, t, "north-out", None, false).await;
    assert_eq!(gone.decision, Decision::Granted);
    assert_eq!(gw.pass(&pass.id).await.presence, "left");
    let scans = gw.scans(&pass.id).await;
    let granted = scans.iter().filter(|v| v["decision"] == "granted").count();
    assert_eq!(
        granted, 8,
        "every granted entry and exit is in the scan log: {scans:?}"
    );
    s.close().await;
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_on_passes_and_parent_access() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    define(&gw, "fest", &issue_example()).await;
    let vip = gw
        .issue(json!({"event": "fest", "max_uses": 1, "zones": ["vip"]}))
        .await
        .remove(0);
    assert_eq!(vip.zones, ["vip"]);
    // The CLI issues a hall pass.
    let line = gw.cli(&[
        "pass", "issue", "--event", "fest", "--zone", "hall", "--json",
    ]);
    let hall: Value = serde_json::from_str(line.trim()).expect("pass json");
    let hall_token = hall["token"].as_str().expect("token");
    assert_eq!(hall["zones"], json!(["hall"]));

    let s = gw.scanner("floor-2").await;
    let refused = scan_floor(&s, &vip.token, "north", None, false).await;
    assert_eq!(
        reason(&refused),
        Some(Reason::WrongZone),
        "parent_access is off"
    );
    let vip_in = scan_floor(&s, &vip.token, "vip-door", Some(Direction::In), false).await;
    assert_eq!(vip_in.decision, Decision::Granted);
    assert_eq!(vip_in.guard.expect("view").zones, ["vip"]);
    let child = scan_floor(&s, hall_token, "vip-door", Some(Direction::In), false).await;
    assert_eq!(
        reason(&child),
        Some(Reason::WrongZone),
        "never a child zone"
    );

    let mut with_parents = issue_example();
    with_parents["policy"]["parent_access"] = json!(true);
    define(&gw, "fest", &with_parents).await;
    let vip2 = gw
        .issue(json!({"event": "fest", "max_uses": 1, "zones": ["vip"]}))
        .await
        .remove(0);
    let hall_in = scan_floor(&s, &vip2.token, "north", None, false).await;
    assert_eq!(
        hall_in.decision,
        Decision::Granted,
        "the definition allows the parent"
    );
    let deeper = scan_floor(&s, &vip2.token, "vip-door", Some(Direction::In), false).await;
    assert_eq!((deeper.decision, deeper.uses), (Decision::Granted, Some(1)));
    let child = scan_floor(&s, hall_token, "vip-door", Some(Direction::In), false).await;
    assert_eq!(
        reason(&child),
        Some(Reason::WrongZone),
        "still never a child zone"
    );
    s.close().await;
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_only_scan_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    define(&gw, "fest", &issue_example()).await;
    let pass = gw.issue_one(1).await;
    let t = pass.token.as_str();
    let s = gw.scanner("floor-3").await;
    let input = |id: &str| scangate_client::ScanInput {
        token: t.to_owned(),
        gate: "north".into(),
        event: None,
        scan_id: Some(scangate_core::ScanId::new(id).expect("id")),
    };
    let check = scangate_client::ScanOptions {
        direction: None,
        check_only: true,
    };
    let checked = s.scan_with(input("same-id"), check).await.expect("decided");
    assert_eq!(
        (checked.decision, checked.uses),
        (Decision::Granted, Some(0))
    );
    assert_eq!(checked.guard.expect("view").inside, Some(false));
    let seen = gw.pass(&pass.id).await;
    assert_eq!((seen.uses, seen.presence.as_str()), (0, "outside"));
    assert!(gw.scans(&pass.id).await.is_empty(), "nothing recorded");

    // The scan id stays free: the real scan with it is decided afresh.
    let real = s
        .scan_with(input("same-id"), Default::default())
        .await
        .expect("decided");
    assert_eq!(
        (real.decision, real.replayed, real.uses),
        (Decision::Granted, false, Some(1))
    );

    let inside = scan_floor(&s, t, "north", None, true).await;
    assert_eq!(reason(&inside), Some(Reason::AlreadyInside));
    let would_leave = scan_floor(&s, t, "north-out", None, true).await;
    assert_eq!(would_leave.decision, Decision::Granted);
    assert_eq!(
        would_leave.guard.expect("view").inside,
        Some(true),
        "still inside"
    );
    let seen = gw.pass(&pass.id).await;
    assert_eq!((seen.uses, seen.presence.as_str()), (1, "inside"));
    assert_eq!(gw.scans(&pass.id).await.len(), 1, "only the real scan");
    s.close().await;
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_definitions_are_refused_with_every_problem_and_the_old_one_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let (status, _) = gw.get_as("/v1/events/fest", &gw.token).await;
    assert_eq!(status, 404, "no definition yet");
    // Without a definition a pass is decided as before: any gate, no presence.
    let plain = gw.issue_one(1).await;
    let s = gw.scanner("floor-4").await;
    let before = scan_floor(&s, &plain.token, "anywhere", Some(Direction::Out), false).await;
    assert_eq!(before.decision, Decision::Granted);
    assert_eq!(
        before.guard.expect("view").inside,
        None,
        "presence is not tracked"
    );

    let file = dir.path().join("fest.json");
    std::fs::write(&file, issue_example().to_string()).expect("write");
    gw.cli(&[
        "event",
        "set",
        "fest",
        "--file",
        file.to_str().expect("utf-8"),
    ]);
    let shown: Value =
        serde_json::from_str(gw.cli(&["event", "show", "fest", "--json"]).trim()).expect("json");
    assert_eq!(shown["gates"][2]["direction"], "both");

    let bad = json!({"gates": [{"name": "a", "zone": "nowhere", "direction": "in"},
                               {"name": "a", "zone": "hall", "direction": "out"}],
                     "zones": [{"name": "hall", "parent": "vip", "capacity": -3},
                               {"name": "vip", "parent": "hall"}]});
    let (status, body) = put_event(&gw, "fest", &bad).await;
    assert_eq!(status, 400, "{body}");
    for named in [
        "gate \\\"a\\\" is defined twice",
        "gate \\\"a\\\" is in zone \\\"nowhere\\\"",
        "capacity -3",
        "zone \\\"hall\\\" lies inside itself",
        "zone \\\"vip\\\" lies inside itself",
    ] {
        assert!(body.contains(named), "{named} not named in {body}");
    }
    let (status, body) = put_event(&gw, "fest", &json!({"gates": [], "zonez": []})).await;
    assert_eq!(status, 400, "an unknown field is named: {body}");
    assert!(body.contains("zonez"), "{body}");
    let kept = gw.get("/v1/events/fest").await;
    assert_eq!(kept, shown, "the old definition stays");

    let journal = gw.get("/v1/audit/operator?action=event.set").await;
    let items = journal["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "one change, one line: {journal}");
    assert_eq!(items[0]["subject"], "fest");
    assert!(
        items[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("3 gates"))
    );
    let viewer = gw.token_for("viewer", "v");
    let (status, _) = gw.get_as("/v1/events/fest", &viewer).await;
    assert_eq!(status, 200, "a viewer reads a definition");
    s.close().await;
    gw.kill9();
}

/// A direction other than `in` or `out` is a specific denial,
/// `unknown_direction`, decided at the edge: nothing counted or moved, the
/// frame is not refused as malformed and the same stream goes on (the next
/// scan, with a direction, is granted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_direction_is_denied_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    define(&gw, "fest", &issue_example()).await;
    let pass = gw.issue_one(1).await;
    let conn = common::raw_connection(dir.path(), gw.quic, "floor-raw").await;
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    let mut out = bytes::BytesMut::new();
    for (id, direction) in [(1, ScanDirection::Unknown), (2, ScanDirection::In)] {
        let mut request = scan_frame(id, &pass.token, "dir");
        if let RequestBody::Scan(scan) = &mut request.body {
            scan.gate = "vip-door".into();
            scan.direction = Some(direction);
        }
        frame::encode(&request, &mut out).expect("fits");
    }
    send.write_all(&out).await.expect("write both scans");
    send.finish().expect("finish");
    let mut inbox = bytes::BytesMut::new();
    let mut replies = std::collections::BTreeMap::new();
    while replies.len() < 2 {
        let chunk = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            recv.read_chunk(64 * 1024, true),
        )
        .await
        .expect("replies in time")
        .expect("stream")
        .expect("two replies before the end");
        inbox.extend_from_slice(&chunk.bytes);
        while let Ok((v, payload)) = frame::split_frame(&mut inbox) {
            let reply: Response = frame::decode(v, &payload).expect("response");
            let ResponseBody::Scan(s) = reply.body else {
                panic!(
                    "a scan reply for request {}, got {:?}",
                    reply.id, reply.body
                )
            };
            replies.insert(reply.id, s.decision);
        }
    }
    assert_eq!(replies[&1], Decision::Denied(Reason::UnknownDirection));
    assert_eq!(replies[&2], Decision::Granted, "the stream goes on");
    let stored = gw.pass(&pass.id).await;
    assert_eq!(stored.uses, 1, "only the scan with a direction counted");
    assert!(gw.sigterm().success());
}
