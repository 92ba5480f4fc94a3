//! Helpers of the gate-action tests (issuing checks, guard overrides,
//! re-issue): the wall clock, requests as another role, CLI failures.

use super::{Gateway, bin};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// Waits until the wall clock is past `ms` (Unix ms): the condition a test
/// of an ended window waits on, since issuing refuses a window that has
/// ended already. Asserts the clock got there.
pub async fn clock_past(ms: i64) {
    let left = ms.saturating_sub(scangate_gateway::now_ms()) + 1;
    if left > 0 {
        tokio::time::sleep(Duration::from_millis(left.unsigned_abs())).await;
    }
    assert!(scangate_gateway::now_ms() > ms, "the clock passed {ms}");
}

/// POST `body` to `path` with `token`: the status and the body.
pub async fn post_as(gw: &Gateway, path: &str, token: &str, body: &Value) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("http://{}{path}", gw.http))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// Runs `scangate ARGS --data-dir DIR` expecting it to fail: its exit code
/// and stderr.
pub fn cli_failure(gw: &Gateway, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin())
        .args(args)
        .args(["--data-dir", gw.dir.to_str().expect("utf-8")])
        .env("USER", "tester")
        .output()
        .expect("run scangate");
    assert!(!out.status.success(), "{args:?} should fail");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
