//! The security-incident log kept (issue 30): forged tokens refused by the
//! real gateway stay listed by `GET /v1/incidents` across a clean restart
//! and a kill -9 (their `seq` numbers going on), no file of the data
//! directory ever holds the token text, and the retention sweep removes
//! incidents past the gateway's period from the API and from the disk.

use crate::common;

use common::privacy::{file_count, files_containing};
use common::{Gateway, metric, scan};
use scangate_core::token::{Keyring, SigningKey};
use scangate_core::{Decision, PassId, Reason};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Waits until `done` holds, at most 30 s, looking every 50 ms.
async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A token signed with a key the gateway does not have, for `pass`.
fn forged(pass: u8) -> String {
    let forger = Keyring::new(
        &[SigningKey {
            id: 1,
            secret: [9; 32],
        }],
        1,
    )
    .expect("ring");
    forger.sign(PassId([pass; 16]), None)
}

/// Sends `token` from device `device`; it must be refused as forged.
async fn refuse(gw: &Gateway, device: &str, token: &str) {
    let scanner = gw.scanner(device).await;
    let reply = scan(&scanner, token, "north", None).await;
    assert_eq!(reply.decision, Decision::Denied(Reason::Forged));
}

/// The incidents listed, as `(seq, device, fingerprint)`.
async fn listed(gw: &Gateway) -> Vec<(u64, String, String)> {
    let page: Value = gw.get("/v1/incidents?limit=100").await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["seq"].as_u64().expect("seq"),
                i["device"].as_str().expect("device").to_owned(),
                i["fingerprint"].as_str().expect("fingerprint").to_owned(),
            )
        })
        .collect()
}

/// No file under `dir` holds any token of `tokens` (or its signed tail).
fn no_token_on_disk(dir: &Path, tokens: &[&str]) {
    assert!(file_count(dir) > 0);
    for t in tokens {
        for needle in [*t, &t[t.len() - 16..]] {
            let found = files_containing(dir, needle.as_bytes());
            assert!(found.is_empty(), "token text in {found:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_survive_restarts_never_hold_tokens_and_expire_with_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, second, third) = (forged(1), forged(2), forged(3));
    let gw = Gateway::start(dir.path(), &[]);
    refuse(&gw, "gate-a", &first).await;
    let before = listed(&gw).await;
    assert_eq!(before.len(), 1);
    assert_eq!((before[0].0, before[0].1.as_str()), (0, "gate-a"));
    assert!(gw.sigterm().success());

    // A clean restart: the same incident, the same seq; the next one goes on.
    let gw = Gateway::start(dir.path(), &[]);
    assert_eq!(listed(&gw).await, before, "kept across a restart");
    refuse(&gw, "gate-b", &second).await;
    let two = listed(&gw).await;
    assert_eq!(two.len(), 2);
    assert_eq!((two[1].0, two[1].1.as_str()), (1, "gate-b"), "seq goes on");
    // kill -9 once the disk thread has written it.
    let file = dir.path().join("incidents.jsonl");
    let fingerprint = two[1].2.clone();
    wait_until("the second incident on disk", || async {
        std::fs::read_to_string(&file).is_ok_and(|t| t.contains(&fingerprint))
    })
    .await;
    gw.kill9();

    let gw = Gateway::start(dir.path(), &[]);
    assert_eq!(listed(&gw).await, two, "kept across a kill -9");
    refuse(&gw, "gate-c", &third).await;
    let all = listed(&gw).await;
    assert_eq!(all.iter().map(|i| i.0).collect::<Vec<_>>(), [0, 1, 2]);
    let last_at = std::time::SystemTime::now();
    assert!(gw.sigterm().success());
    no_token_on_disk(dir.path(), &[&first, &second, &third]);

    // Retention: a 1 s period, once the last incident is older than that.
    wait_until("the incidents older than 1 s", || async {
        last_at
            .elapsed()
            .is_ok_and(|e| e > Duration::from_millis(1_500))
    })
    .await;
    let gw = Gateway::start(dir.path(), &["--retention-s", "1"]);
    wait_until("the incidents gone from the API", || async {
        listed(&gw).await.is_empty()
    })
    .await;
    wait_until("the incidents gone from the disk", || async {
        all.iter()
            .all(|i| files_containing(dir.path(), i.2.as_bytes()).is_empty())
    })
    .await;
    let metrics = gw.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "scangate_retention_removed_total",
            &[("table", "incidents")]
        ),
        3.0,
        "{metrics}"
    );
    // A new incident is kept (younger than the period) and numbered on.
    let fourth = forged(4);
    refuse(&gw, "gate-d", &fourth).await;
    let now = listed(&gw).await;
    assert!(
        now.len() == 1 && now[0].0 == 3 && now[0].1 == "gate-d",
        "{now:?}"
    );
    assert!(gw.sigterm().success());
}
