//! The command line's offline mode (issue 26, "Command line", and test 4's
//! CLI half): `scangate scanner snapshot`, `scangate scan --offline-dir`
//! and `scangate scanner sync`, each the real binary, against a real
//! gateway process killed with kill -9 and restarted on the same data dir
//! and ports, on real files. No CLI output ever holds a token in full.

use crate::common;
use crate::common::offline;

use common::Gateway;
use offline::{Lane, expired_snapshot, gateway_key};
use scangate_core::offline::SNAPSHOT_TTL_DEFAULT_MS;
use scangate_core::offline::key::SIGNATURE_BYTES;
use scangate_gateway::operator::api::rfc3339;
use serde_json::json;
use std::time::Duration;

/// Longest `scangate scan --offline-dir` may take at a dead gateway: its
/// handshake deadline (1 s) plus a process start and an fsync, with room
/// for two loaded CI cores.
const OFFLINE_ANSWER_MAX: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_gateway_leaves_the_gate_deciding_from_the_snapshot_and_sync_uploads_once() {
    let data = tempfile::tempdir().expect("tempdir");
    let lane_dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(data.path(), &[]);
    let passes = gw
        .issue(json!({"event": "fest", "count": 2, "max_uses": 1}))
        .await;
    let (first, second) = (&passes[0], &passes[1]);
    let lane = Lane::new(data.path(), lane_dir.path());

    let fetched = lane.run(&["scanner", "snapshot", "--event", "fest", "--json"]);
    assert_eq!(fetched.code, 0, "{fetched:?}");
    let s = fetched.json();
    assert_eq!((&s["event"], &s["passes"]), (&json!("fest"), &json!(2)));
    assert!(s["bytes"].as_u64().expect("bytes") > 0, "{s}");
    let version = s["version"].as_i64().expect("version");
    assert_eq!(s["expires"], rfc3339(version + SNAPSHOT_TTL_DEFAULT_MS));

    // The gateway answers: it decides, and the device notes the grant.
    let online = lane.scan(&second.token, &[]);
    assert_eq!(online.code, 0, "{online:?}");
    assert_eq!(online.json()["offline"], false);

    let (quic, http) = (gw.quic.to_string(), gw.http.to_string());
    gw.kill9();
    let granted = lane.scan(&first.token, &["--scan-id", "lane-1-a"]);
    eprintln!("an offline scan at a dead gateway took {:?}", granted.took);
    assert_eq!(granted.code, 0, "{granted:?}");
    let g = granted.json();
    assert_eq!(
        (&g["decision"], &g["offline"]),
        (&json!("granted"), &json!(true))
    );
    assert!(granted.took < OFFLINE_ANSWER_MAX, "{:?}", granted.took);
    let again = lane.scan(&first.token, &[]);
    assert_eq!(again.code, 1, "single use, counted offline: {again:?}");
    assert_eq!(again.json()["reason"], "used_up");
    assert_eq!(again.json()["offline"], true);
    let seen_online = lane.scan(&second.token, &[]);
    assert_eq!(
        seen_online.code, 1,
        "granted online before: {seen_online:?}"
    );
    assert_eq!(seen_online.json()["reason"], "used_up");
    assert_eq!(lane.queued(), 1, "the grant, not the denials");
    let stuck = lane.run(&["scanner", "sync", "--json"]);
    assert_eq!(stuck.code, 2, "the queue is not empty: {stuck:?}");
    assert_eq!(stuck.json()["pending"], 1);
    assert!(stuck.stderr.contains("1 offline scan(s) wait"), "{stuck:?}");

    let gw = Gateway::start(data.path(), &["--quic", &quic, "--http", &http]);
    let synced = lane.run(&["scanner", "sync", "--json"]);
    assert_eq!(synced.code, 0, "{synced:?}");
    let r = synced.json();
    assert_eq!(
        (
            &r["uploaded"],
            &r["conflicts"],
            &r["pending"],
            &r["dropped"]
        ),
        (&json!(1), &json!(0), &json!(0), &json!(0)),
        "{r}"
    );
    assert!(r["refresh"]["version"].as_i64().expect("refreshed") > version);
    assert_eq!(lane.queued(), 0);
    assert_eq!(gw.pass(&first.id).await.uses, 1, "the offline grant, once");
    assert_eq!(gw.pass(&second.id).await.uses, 1, "the online grant, once");
    let scans = gw.scans(&first.id).await;
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(
        (&scans[0]["scan_id"], &scans[0]["decision"]),
        (&json!("lane-1-a"), &json!("granted"))
    );

    let back = lane.scan(&first.token, &[]);
    assert_eq!(back.code, 1, "{back:?}");
    assert_eq!(
        (&back.json()["offline"], &back.json()["reason"]),
        (&json!(false), &json!("used_up"))
    );
    let idle = lane.run(&["scanner", "sync", "--json"]);
    assert_eq!(
        (idle.code, &idle.json()["uploaded"]),
        (0, &json!(0)),
        "{idle:?}"
    );
    assert_eq!(gw.pass(&first.id).await.uses, 1, "nothing counted twice");
    lane.assert_never_printed(&[&first.token, &second.token]);
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_an_expired_and_a_foreign_snapshot_are_refused_and_the_cli_says_why() {
    let data = tempfile::tempdir().expect("tempdir");
    let lane_dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(data.path(), &[]);
    let pass = gw.issue_one(1).await;
    let lane = Lane::new(data.path(), lane_dir.path());
    let fetched = lane.run(&["scanner", "snapshot", "--event", "fest"]);
    assert_eq!(fetched.code, 0, "{fetched:?}");
    assert!(
        fetched.stdout.starts_with("snapshot of \"fest\": version "),
        "{fetched:?}"
    );
    let good = std::fs::read(lane.snapshot_file()).expect("held");

    // Another gateway signs with its own key.
    let other_data = tempfile::tempdir().expect("tempdir");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = Gateway::start(other_data.path(), &[]);
    other.issue_one(1).await;
    let other_lane = Lane::new(other_data.path(), other_dir.path());
    assert_eq!(
        other_lane
            .run(&["scanner", "snapshot", "--event", "fest"])
            .code,
        0
    );
    let foreign = std::fs::read(other_lane.snapshot_file()).expect("held");
    other.kill9();
    gw.kill9();

    let ours = gateway_key(data.path()).fingerprint().to_string();
    let theirs = gateway_key(other_data.path()).fingerprint().to_string();
    let mut tampered = good.clone();
    // The last signed byte (an entry's), before the signature.
    let at = tampered.len() - SIGNATURE_BYTES - 1;
    tampered[at] ^= 0x01;
    let (expired, expires_ms) = expired_snapshot(data.path(), "fest");
    let cases = [
        ("tampered", tampered, vec!["signature".to_owned()]),
        (
            "expired",
            expired,
            vec![format!("expired at {}", rfc3339(expires_ms))],
        ),
        (
            "foreign",
            foreign,
            vec!["another key".into(), ours.clone(), theirs.clone()],
        ),
    ];
    for (what, bytes, says) in cases {
        std::fs::write(lane.snapshot_file(), bytes).expect("write");
        let refused = lane.scan(&pass.token, &[]);
        assert_eq!(refused.code, 2, "{what}: {refused:?}");
        assert_eq!(refused.stdout, "", "{what}: nothing decided");
        assert_eq!(
            refused.stderr.lines().count(),
            1,
            "{what}: one line: {refused:?}"
        );
        for part in says {
            assert!(
                refused.stderr.contains(&part),
                "{what}: no {part:?} in {refused:?}"
            );
        }
        assert_eq!(lane.queued(), 0, "{what}: nothing queued");
    }

    std::fs::write(lane.snapshot_file(), &good).expect("write");
    let other_event = lane.scan(&pass.token, &["--event", "expo"]);
    assert_eq!(other_event.code, 2, "{other_event:?}");
    assert!(
        other_event
            .stderr
            .contains("for event \"fest\", not \"expo\""),
        "{other_event:?}"
    );
    std::fs::remove_file(lane.snapshot_file()).expect("remove");
    let missing = lane.scan(&pass.token, &[]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("there is none of event \"fest\""),
        "{missing:?}"
    );
    assert_eq!(lane.queued(), 0);

    // The good bytes back: the same device decides (what failed was the bytes).
    std::fs::write(lane.snapshot_file(), &good).expect("write");
    let decided = lane.scan(&pass.token, &[]);
    assert_eq!(
        (decided.code, &decided.json()["offline"]),
        (0, &json!(true)),
        "{decided:?}"
    );
    assert_eq!(lane.queued(), 1);

    // Another gateway's key given to a device that pinned this one's: refused, naming both.
    let other_key = other_data.path().join("offline-signing-key.pub");
    let key_arg = other_key.to_str().expect("utf-8");
    let repin = lane.run(&[
        "scanner",
        "snapshot",
        "--event",
        "fest",
        "--snapshot-key",
        key_arg,
    ]);
    assert_eq!(repin.code, 2, "{repin:?}");
    for part in [&ours, &theirs, &"pinned".to_owned()] {
        assert!(
            repin.stderr.contains(part.as_str()),
            "no {part} in {repin:?}"
        );
    }
    lane.assert_never_printed(&[&pass.token]);
}
