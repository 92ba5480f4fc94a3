//! The outage scenario end to end (issue 26, test 8): the real `scangate`
//! binary spawned, killed (or frozen) in the middle of a run while four
//! offline-capable devices keep deciding, brought back on the same data
//! dir and ports; the devices upload what they granted alone, and the
//! checker accounts every offline grant and conflict. The run must go
//! offline, grant offline and get conflicts flagged, so it cannot pass by
//! never leaving the online path.

use crate::common;

use serde_json::Value;
use std::process::Command;

/// A few seconds at a rate four devices carry one scan at a time; a
/// single-use pass rescanned offline (the device's snapshot predates its
/// online grant) is granted and must come back flagged `over_limit`.
fn outage_run(kind: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_scangate-load"))
        .args(["--spawn", "--profile", "constant", "--rate", "60"])
        .args(["--duration", "6", "--devices", "4", "--gates", "2"])
        .args([
            "--timeout-ms",
            "300",
            "--mix",
            "first=60,rescan=30,forged=5,expired=5",
        ])
        .args(["--outage", "1.5:2", "--outage-kind", kind, "--json"])
        .env("SCANGATE_LOG", "warn")
        .env("SCANGATE_BIN", common::scangate_bin())
        .output()
        .expect("run scangate-load");
    common::json_report(&out)
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn assert_offline_accounted(report: &Value) {
    assert_eq!(report["verdict"], "pass", "{report:#}");
    let check = &report["check"];
    assert_eq!(check["violations"].as_array().map(Vec::len), Some(0));
    assert!(count(&check["passes_checked"]) > 0, "{report:#}");
    let offline = &report["offline"];
    assert!(offline["outage_error"].is_null(), "{report:#}");
    assert!(
        count(&offline["offline_decisions"]) > 0,
        "never went offline: {report:#}"
    );
    let grants = count(&offline["offline_grants"]);
    assert!(grants > 0, "no offline grant: {report:#}");
    // Nothing lost: every offline grant acknowledged by the gateway.
    assert_eq!(count(&offline["uploaded"]), grants, "{report:#}");
    assert_eq!(count(&offline["not_uploaded"]), 0, "{report:#}");
    // Conflicts were there to check: rescans of used passes granted offline.
    assert!(
        count(&offline["conflicts"]["over_limit"]) > 0,
        "no over_limit conflict to check: {report:#}"
    );
    for key in ["switch_offline_s", "drain_s", "restart_ready_s"] {
        assert!(offline[key].as_f64().is_some(), "{key} missing: {report:#}");
    }
}

#[test]
fn a_gateway_killed_mid_run_loses_no_offline_grant_and_flags_every_over_limit_one() {
    let report = outage_run("kill");
    assert_offline_accounted(&report);
    assert_eq!(report["offline"]["outage_kind"], "kill");
}

#[test]
fn a_gateway_frozen_mid_run_as_by_a_network_cut_is_accounted_the_same() {
    let report = outage_run("pause");
    assert_offline_accounted(&report);
    assert_eq!(report["offline"]["outage_kind"], "pause");
}
