//! Retention (issue 30, test 5): with `--retention-s S`, the background
//! sweep removes scan and audit records older than S seconds and nothing
//! newer. Records are made at known times (read back from the API) in two
//! groups a few seconds apart; the gateway is restarted with a period
//! whose cut-off falls between the groups.

use crate::common;

use common::Gateway;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time between the old records and the new ones: the cut-off sits in
/// this gap for as long as the test looks (seconds of margin either side).
const GAP_MS: i64 = 6_000;

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(since.as_millis()).expect("ms")
}

/// The times of `records`: `at_ms` (audit records) or `at` (RFC 3339, scans).
fn times(records: &Value) -> Vec<i64> {
    records
        .as_array()
        .expect("array")
        .iter()
        .map(|r| match r["at_ms"].as_i64() {
            Some(ms) => ms,
            None => {
                let at = r["at"].as_str().expect("a time");
                scangate_gateway::operator::api::parse_rfc3339("at", at).expect("rfc3339")
            }
        })
        .collect()
}

/// Waits until `done` holds, at most `limit`, checking every 50 ms.
async fn wait_until<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut done: impl FnMut() -> F,
) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "not done within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn change(gw: &Gateway, id: &str, action: &str) {
    gw.post(
        &format!("/v1/passes/{id}/{action}"),
        json!({"reason": "retention test"}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_records_older_than_the_period_and_nothing_newer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_unlimited().await;
    let scanner = gw.scanner("gate-1").await;
    assert!(
        common::scan(&scanner, &pass.token, "north", None)
            .await
            .decision
            .is_granted()
    );
    change(&gw, &pass.id, "suspend").await;
    change(&gw, &pass.id, "reactivate").await;
    let audit_path = format!("/v1/passes/{}/audit", pass.id);
    let old_last = times(&gw.get(&format!("/v1/passes/{}/scans", pass.id)).await)
        .into_iter()
        .chain(times(&gw.get(&audit_path).await))
        .max()
        .expect("old records");

    // The clock passes the gap (a condition on the clock, not a guess).
    wait_until(Duration::from_secs(30), || async {
        now_ms() > old_last + GAP_MS
    })
    .await;
    assert!(
        common::scan(&scanner, &pass.token, "north", None)
            .await
            .decision
            .is_granted()
    );
    change(&gw, &pass.id, "suspend").await;
    drop(scanner);
    assert!(gw.sigterm().success());

    // A period whose cut-off (now - S) lies a second or two after the old records.
    let period_s = (now_ms() - old_last) / 1_000 - 2;
    assert!(period_s >= 1, "period {period_s}");
    let gw = Gateway::start(dir.path(), &["--retention-s", &period_s.to_string()]);
    let scans_path = format!("/v1/passes/{}/scans", pass.id);
    wait_until(Duration::from_secs(30), || async {
        let scans = times(&gw.get(&scans_path).await);
        let audit = times(&gw.get(&audit_path).await);
        scans.iter().chain(&audit).all(|t| *t > old_last)
    })
    .await;
    let scans = times(&gw.get(&scans_path).await);
    let audit = times(&gw.get(&audit_path).await);
    assert_eq!(
        (scans.len(), audit.len()),
        (1, 1),
        "the new scan and suspension stay"
    );
    assert!(scans[0] > old_last + GAP_MS && audit[0] > old_last + GAP_MS);
    let metrics = gw.metrics().await;
    let removed = |table| {
        common::metric(
            &metrics,
            "scangate_retention_removed_total",
            &[("table", table)],
        )
    };
    assert_eq!(
        (removed("scans"), removed("audit")),
        (1.0, 2.0),
        "{metrics}"
    );
    assert_eq!(
        gw.pass(&pass.id).await.uses,
        2,
        "the pass's count is not a record to remove"
    );
}
