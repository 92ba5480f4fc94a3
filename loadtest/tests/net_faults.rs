//! Faults on the wire end to end (issue 28): the real `scangate` binary
//! spawned, four scanners reaching it over real QUIC and mutual TLS through
//! the load tool's UDP fault proxy (`--net-fault`), and the checker reading
//! every touched pass back. Each run must have met its fault (datagrams
//! lost, duplicated, cut, flows moved), so none passes on a clean path.

mod common;

use serde_json::Value;
use std::process::Command;

/// A constant load on four devices with SDK retries and retried scan ids,
/// through the proxy with `spec`, `depth` scans in flight per device and
/// attempts of `timeout_ms`.
fn run_through(spec: &str, seconds: &str, depth: &str, timeout_ms: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_scangate-load"))
        .args(["--spawn", "--profile", "constant", "--rate", "80"])
        .args(["--duration", seconds, "--devices", "4", "--gates", "2"])
        .args(["--depth", depth, "--uses-per-pass", "2", "--attempts", "3"])
        .args(["--timeout-ms", timeout_ms])
        .args(["--mix", "first=50,rescan=30,retry=15,forged=5"])
        .args(["--net-fault", spec, "--json"])
        .env("SCANGATE_LOG", "warn")
        .env("SCANGATE_BIN", common::scangate_bin())
        .output()
        .expect("run scangate-load");
    common::json_report(&out)
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The checker found nothing: no pass over its limit, no acknowledged grant
/// lost, no scan id counted twice, every retry answered from the first
/// decision; and it had grants to judge.
fn assert_counts_exact(report: &Value) {
    assert_eq!(report["verdict"], "pass", "{report:#}");
    let check = &report["check"];
    assert_eq!(check["violations"].as_array().map(Vec::len), Some(0));
    assert!(count(&check["ok"]) > 50, "{report:#}");
    assert!(count(&check["passes_checked"]) > 20, "{report:#}");
    assert_eq!(report["net_fault"]["held"], true, "{report:#}");
}

#[test]
fn a_lossy_duplicating_reordering_path_keeps_every_count_exact() {
    let report = run_through(
        "loss=10%,dup=5%,reorder=5%,delay=5ms,jitter=5ms",
        "4",
        "32",
        "2000",
    );
    assert_counts_exact(&report);
    let net = &report["net_fault"];
    let proxy = &net["proxy"];
    for met in ["lost", "duplicated", "reordered"] {
        assert!(count(&proxy[met]) > 10, "{met}: {report:#}");
    }
    // Retries of decided scan ids went through the faults and were answered
    // from the stored first decision.
    assert!(count(&net["replayed"]) > 10, "{report:#}");
    assert!(count(&net["answered"]) > 250, "{report:#}");
}

/// One scan waiting per scanner (`--depth 1`): its next attempt holds the
/// reconnect for a whole attempt deadline. With many scans waiting, see
/// the ignored test below.
#[test]
fn after_a_partition_heals_the_scanners_are_answered_again_and_nothing_is_counted_twice() {
    let report = run_through("partition=2:2", "6", "1", "1000");
    assert_counts_exact(&report);
    let net = &report["net_fault"];
    assert!(count(&net["proxy"]["partitioned"]) > 0, "{report:#}");
    // The cut was felt: scans waited through it and the scanners
    // connected again.
    assert!(
        net["answered_max_ms"].as_f64() > Some(1_000.0),
        "{report:#}"
    );
    assert!(count(&net["reconnects"]) > 0, "{report:#}");
    let recovery = net["recovery_s"].as_f64().expect("recovered");
    let bound = net["recovery_bound_s"].as_f64().expect("bound");
    assert!(recovery <= bound, "{report:#}");
    let cut = net["partition_s"].as_f64().expect("cut");
    assert!((1.9..3.0).contains(&cut), "{report:#}");
}

/// The defect this suite found (usually reproduced, not always): with 32
/// scans waiting per scanner and 500 ms attempts, once the path heals the
/// SDK's reconnect is run by whichever scan holds its reconnect lock and
/// abandoned at that scan's deadline; the lock is first come first served,
/// so the holder is always the scan with the least time left, and each
/// handshake is dropped within milliseconds, before the gateway's Retry
/// and TLS finish (the proxy counted ~10,000 connection attempts in 4 s,
/// the gateway saw 2 handshakes complete). Run it with `--ignored` once
/// the SDK keeps a reconnect going past the caller's deadline.
#[test]
#[ignore = "SDK defect: reconnect storm after a partition with many scans waiting (docs/reliability.md, Network faults)"]
fn after_a_partition_heals_scanners_with_many_scans_waiting_are_answered_again() {
    let report = run_through("partition=2:2", "6", "32", "500");
    assert_counts_exact(&report);
}

#[test]
fn a_roaming_scanner_keeps_its_connection_and_its_scans() {
    // The SDK's default attempt deadline (2 s): a reply in flight to the
    // old address is lost at each move and resent after a probe timeout.
    let report = run_through("roam=500ms", "4", "32", "2000");
    assert_counts_exact(&report);
    let net = &report["net_fault"];
    // Every device's flow moved several times...
    assert!(count(&net["proxy"]["roamed"]) >= 4 * 4, "{report:#}");
    // ...and the gateway migrated each connection: none was opened again,
    // no scan was left unanswered.
    assert_eq!(count(&net["reconnects"]), 0, "{report:#}");
    assert_eq!(count(&net["unanswered"]), 0, "{report:#}");
}
