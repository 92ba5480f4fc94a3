//! The revoked-devices list against the real binary: it holds its stated
//! capacity (written before start at the worst-case entry size, then one
//! revoke through the API at the bound), refuses one more without writing,
//! answers what it wrote, is enforced after a restart, is never read as
//! empty (a corrupt list keeps the last good one while running, with an
//! alarm metric, and stops a restart), and `scangate certs revoke` returns
//! only once the running gateway refuses the device.

use crate::common;

use common::{Gateway, bin, metric, raw_connection, scan, try_scan, wait_with_deadline};
use scangate_gateway::operator::devices::{REVOKED_MAX, RevokedDevice, RevokedFile};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long a refused connection may take to be closed by the gateway.
const CLOSE_DEADLINE: Duration = Duration::from_secs(10);
/// The QUIC close code of a revoked device (`docs/protocol.md`).
const DEVICE_REVOKED: u32 = 4;

/// The largest entry the file may hold: the longest name and `who`.
fn longest(i: usize) -> RevokedDevice {
    RevokedDevice {
        name: format!("{i:05}{}", "n".repeat(59)),
        at_ms: i64::MIN,
        who: format!("cli:{}", "u".repeat(76)),
    }
}

fn listed(dir: &Path) -> Vec<RevokedDevice> {
    scangate_gateway::operator::devices::list(&dir.join("revoked-devices.json"))
        .expect("the list reads")
}

/// Connects as `device` and waits until the gateway closes the connection;
/// true when it was closed as a revoked device.
/// `device`, not revoked, connects and is granted a scan of `token`.
async fn assert_admits(gw: &Gateway, device: &str, token: &str) {
    let scanner = gw.scanner(device).await;
    let reply = scan(&scanner, token, "A", None).await;
    assert!(
        reply.decision.is_granted(),
        "{device}: {:?}",
        reply.decision
    );
}

async fn refused_at_connect(gw: &Gateway, device: &str) -> bool {
    let conn = raw_connection(&gw.dir, gw.quic, device).await;
    let closed = tokio::time::timeout(CLOSE_DEADLINE, conn.closed()).await;
    match closed {
        Ok(quinn::ConnectionError::ApplicationClosed(c)) => {
            c.error_code == quinn::VarInt::from_u32(DEVICE_REVOKED)
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_holds_its_capacity_and_refuses_one_more_without_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("revoked-devices.json");
    let file = RevokedFile {
        revoked: (0..REVOKED_MAX - 1).map(longest).collect(),
    };
    std::fs::write(&path, serde_json::to_vec_pretty(&file).expect("json")).expect("write");
    let gw = Gateway::start(dir.path(), &[]);

    let body = json!({"reason": "stolen"});
    let answer = gw.post("/v1/devices/lost-phone/revoke", body).await;
    let written = listed(dir.path());
    assert_eq!(written.len(), REVOKED_MAX, "the last place is taken");
    let entry = written
        .iter()
        .find(|d| d.name == "lost-phone")
        .expect("written");
    let answered: RevokedDevice =
        serde_json::from_value(answer["revocation"].clone()).expect("the revocation");
    assert_eq!(&answered, entry, "the answer is what was written");

    let before = std::fs::read(&path).expect("bytes");
    let (status, text) = gw
        .post_answer("/v1/devices/one-more/revoke", json!({}))
        .await;
    assert_eq!(status.as_u16(), 409, "{text}");
    assert!(text.contains("full"), "{text}");
    assert_eq!(
        std::fs::read(&path).expect("bytes"),
        before,
        "nothing written"
    );
    let again = gw.post("/v1/devices/lost-phone/revoke", json!({})).await;
    assert_eq!(again["revocation"], answer["revocation"], "revoked once");

    assert!(refused_at_connect(&gw, "lost-phone").await);
    let pass = gw.issue_unlimited().await;
    assert_admits(&gw, "fresh-phone", &pass.token).await;
    gw.kill9();

    let gw = Gateway::start(dir.path(), &[]);
    assert!(
        refused_at_connect(&gw, "lost-phone").await,
        "after a restart"
    );
    assert!(
        refused_at_connect(&gw, &longest(0).name).await,
        "the first entry too"
    );
    assert_admits(&gw, "fresh-phone", &pass.token).await;
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_list_keeps_the_last_good_one_and_stops_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("revoked-devices.json");
    let gw = Gateway::start(dir.path(), &[]);
    gw.post("/v1/devices/lost-phone/revoke", json!({})).await;
    assert!(refused_at_connect(&gw, "lost-phone").await);
    let alarm = [("file", "revoked-devices.json")];
    assert_eq!(
        metric(
            &gw.metrics().await,
            "scangate_watched_file_unreadable",
            &alarm
        ),
        0.0
    );

    // Replaced by rename, as every writer does, so the gateway sees a new file.
    let tmp = dir.path().join("corrupt.tmp");
    std::fs::write(&tmp, b"{\"revoked\": [{\"name\": \"lost-").expect("write");
    std::fs::rename(&tmp, &path).expect("rename");
    assert!(
        refused_at_connect(&gw, "lost-phone").await,
        "never read as empty"
    );
    assert_eq!(
        metric(
            &gw.metrics().await,
            "scangate_watched_file_unreadable",
            &alarm
        ),
        1.0
    );
    let pass = gw.issue_unlimited().await;
    assert_admits(&gw, "fresh-phone", &pass.token).await;
    gw.kill9();

    let log = dir.path().join("restart.log");
    let mut child = Command::new(bin())
        .args(["serve", "--data-dir", dir.path().to_str().expect("utf-8")])
        .args(["--quic", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start scangate");
    let status = wait_with_deadline(&mut child);
    let said = std::fs::read_to_string(&log).expect("log");
    assert!(
        !status.success(),
        "a gateway must not start on a corrupt list"
    );
    assert!(said.contains("revoked-devices.json"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_revoke_returns_once_the_running_gateway_refuses_the_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_unlimited().await;
    let phone = gw.scanner("gate-phone").await;
    let mut granted = 0;
    for i in 0..20 {
        let id = format!("before-{i}");
        granted += u32::from(
            scan(&phone, &pass.token, "A", Some(&id))
                .await
                .decision
                .is_granted(),
        );
    }
    let said = gw.cli(&["certs", "revoke", "gate-phone", "--reason", "lost"]);
    // The first scan sent after the command returned is not decided.
    let after = try_scan(&phone, &pass.token, "A", Some("after-0")).await;
    assert!(
        after.is_err(),
        "decided after the revoke returned: {after:?}"
    );
    assert!(said.contains("refuses it from now on"), "{said}");
    let view: Value = gw.get(&format!("/v1/passes/{}", pass.id)).await;
    assert_eq!(view["uses"], granted, "no use counted after the revoke");
    let journal = gw.cli(&["audit", "operator", "--json"]);
    assert_eq!(journal.matches("device.revoke").count(), 1, "{journal}");
    gw.kill9();
}

/// The pass side of the same promise: `scangate pass revoke` goes through
/// the pass's actor, ordered with its scans, so the first scan after the
/// command returned is denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_pass_revoke_applies_to_the_next_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_unlimited().await;
    let phone = gw.scanner("gate-phone").await;
    assert!(
        scan(&phone, &pass.token, "A", None)
            .await
            .decision
            .is_granted()
    );
    gw.cli(&["pass", "revoke", &pass.id, "--reason", "refund"]);
    let after = scan(&phone, &pass.token, "A", None).await;
    assert_eq!(
        after.decision,
        scangate_core::Decision::Denied(scangate_core::Reason::Revoked)
    );
    gw.kill9();
}
