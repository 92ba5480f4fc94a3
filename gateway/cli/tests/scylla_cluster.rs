//! Two real gateway processes on one ScyllaDB cluster (`SCYLLA_NODES`, in a
//! fresh keyspace): 50 scanners split between them on one pass with
//! `max_uses = 3` get exactly 3 grants, and a revocation through one gateway
//! stops the pass on the other. Skipped, with a message, without a cluster.
//! The flags' errors are checked without one.

use crate::common;

use common::{Gateway, bin, connect};
use scangate_client::{ScanInput, Scanner};
use scangate_core::{Decision, Reason, ScanId};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

/// Scanners in the burst, alternating between the two gateways.
const SCANNERS: usize = 50;

/// Times one scan is retried (same scan id) when it got no decision or
/// `busy`: the client already retries inside each of these.
const DECIDE_ATTEMPTS: usize = 10;

/// The cluster's flags for a fresh keyspace, or `None` after a skip message
/// that shows even when test output is captured.
fn cluster_flags() -> Option<Vec<String>> {
    let Ok(nodes) = std::env::var("SCYLLA_NODES") else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: two gateways on one ScyllaDB cluster: set SCYLLA_NODES=host:9042 to run it"
        );
        return None;
    };
    let replication = std::env::var("SCYLLA_REPLICATION").unwrap_or_else(|_| "1".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let keyspace = format!("sg_cluster_{nanos:x}_{}", std::process::id());
    Some(vec![
        "--store".into(),
        "scylla".into(),
        "--scylla-nodes".into(),
        nodes,
        "--scylla-keyspace".into(),
        keyspace,
        "--scylla-replication".into(),
        replication,
    ])
}

/// Scans until decided (not `busy`, not an error), with one scan id.
async fn decide(scanner: &Scanner, token: &str, scan_id: &str) -> Decision {
    let mut last = None;
    for _ in 0..DECIDE_ATTEMPTS {
        let input = ScanInput {
            token: token.to_owned(),
            gate: "main".into(),
            event: None,
            scan_id: Some(ScanId::new(scan_id).expect("scan id")),
        };
        match scanner.scan(input).await {
            Ok(reply) if reply.decision == Decision::Denied(Reason::Busy) => {
                last = Some("busy".to_owned())
            }
            Ok(reply) => return reply.decision,
            Err(e) => last = Some(e.to_string()),
        }
    }
    panic!("scan {scan_id} undecided after {DECIDE_ATTEMPTS} attempts: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_on_one_cluster_never_over_grant() {
    let Some(flags) = cluster_flags() else {
        return;
    };
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let dir_a = tempfile::tempdir().expect("tempdir");
    let a = Gateway::start(dir_a.path(), &flags);
    // The second gateway verifies the same tokens: same signing keys.
    let dir_b = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        a.dir.join("signing-keys.json"),
        dir_b.path().join("signing-keys.json"),
    )
    .expect("copy signing keys");
    let b = Gateway::start(dir_b.path(), &flags);

    let pass = a.issue_one(3).await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..SCANNERS {
        let (dir, quic) = if n % 2 == 0 {
            (a.dir.clone(), a.quic)
        } else {
            (b.dir.clone(), b.quic)
        };
        let token = pass.token.clone();
        tasks.spawn(async move {
            let scanner = connect(Path::new(&dir), quic, &format!("scanner-{n}")).await;
            decide(&scanner, &token, &format!("burst-{n}")).await
        });
    }
    let (mut granted, mut used_up) = (0, 0);
    while let Some(decision) = tasks.join_next().await {
        match decision.expect("scanner task") {
            Decision::Granted => granted += 1,
            Decision::Denied(Reason::UsedUp) => used_up += 1,
            other => panic!("unexpected decision {other:?}"),
        }
    }
    assert_eq!((granted, used_up), (3, SCANNERS - 3));
    assert_eq!(a.pass(&pass.id).await.uses, 3);
    let scans = a.scans(&pass.id).await;
    let grants = scans
        .iter()
        .filter(|s| s["decision"] == json!("granted"))
        .count();
    assert_eq!(grants, 3, "scan log of both gateways: {scans:?}");

    // Revoke through A; B, which holds the pass active in memory, refuses it.
    let other = a.issue_one(5).await;
    let at_b = b.scanner("gate-b").await;
    assert_eq!(
        decide(&at_b, &other.token, "before-revoke").await,
        Decision::Granted
    );
    a.post(
        &format!("/v1/passes/{}/revoke", other.id),
        json!({"reason": "reported stolen"}),
    )
    .await;
    assert_eq!(
        decide(&at_b, &other.token, "after-revoke").await,
        Decision::Denied(Reason::Revoked)
    );
    assert_eq!(a.pass(&other.id).await.uses, 1);

    assert!(b.sigterm().success());
    assert!(a.sigterm().success());
}

/// `scangate serve` with `args`, expected to fail before it is ready.
fn serve_fails(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--quic", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(args)
        .env_remove("SCANGATE_SCYLLA_NODES")
        .env_remove("SCANGATE_STORE")
        .output()
        .expect("run scangate");
    assert!(!out.status.success(), "serve {args:?} must fail");
    out
}

#[test]
fn scylla_flags_are_checked_and_a_missing_cluster_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let out = serve_fails(dir.path(), &["--store", "scylla"]);
    assert!(stderr(&out).contains("--scylla-nodes"), "{}", stderr(&out));

    // A cluster nothing listens on (port 1), with a user: the password
    // comes from a file that is not there, then from the command line.
    let no_cluster = [
        "--store",
        "scylla",
        "--scylla-nodes",
        "127.0.0.1:1",
        "--scylla-user",
        "gw",
    ];
    let missing = dir.path().join("no-such-password");
    let out = serve_fails(
        dir.path(),
        &[
            &no_cluster[..],
            &["--scylla-password-file", missing.to_str().expect("utf-8")],
        ]
        .concat(),
    );
    assert!(stderr(&out).contains("password file"), "{}", stderr(&out));

    let out = serve_fails(
        dir.path(),
        &["--store", "scylla", "--scylla-replication", "dc1:3,dc1:3"],
    );
    assert!(stderr(&out).contains("named twice"), "{}", stderr(&out));

    // The gateway says which cluster it could not reach, and never prints
    // the password.
    let out = serve_fails(
        dir.path(),
        &[&no_cluster[..], &["--scylla-password", "hunter2-secret"]].concat(),
    );
    let text = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cannot connect to ScyllaDB at 127.0.0.1:1"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "the password leaked: {text}");
}
