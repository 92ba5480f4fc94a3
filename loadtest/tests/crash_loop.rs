//! The crash loop end to end (issue 28): the real `scangate` binary spawned
//! and killed with SIGKILL at random moments under load, started again on
//! the same data dir and ports each time, and the whole history checked
//! against the last gateway. The run must have crashed every cycle and
//! granted across them, so it cannot pass by never crashing.

mod common;

use std::process::Command;

#[test]
fn a_gateway_killed_and_restarted_under_load_loses_and_double_counts_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_scangate-load"))
        .args(["--spawn", "--crash-loop", "4", "--rate", "80"])
        .args(["--devices", "4", "--uses-per-pass", "2"])
        .args(["--attempts", "3", "--timeout-ms", "1000"])
        .args(["--mix", "first=50,rescan=30,retry=15,forged=5", "--json"])
        .env("SCANGATE_LOG", "warn")
        .env("SCANGATE_BIN", common::scangate_bin())
        .output()
        .expect("run scangate-load");
    let report = common::json_report(&out);
    assert_eq!(report["verdict"], "pass", "{report:#}");
    let crash = &report["crash_loop"];
    assert_eq!(crash["cycles"], 4, "{report:#}");
    assert!(crash["error"].is_null(), "{report:#}");
    assert!(crash["kills"].as_u64() >= Some(4), "{report:#}");
    let restart = |key: &str| crash[key].as_f64().unwrap_or(0.0);
    assert!(restart("restart_p50_s") > 0.0, "{report:#}");
    assert!(
        restart("restart_max_s") >= restart("restart_p99_s"),
        "{report:#}"
    );
    // Grants all through the cycles, every one read back and judged.
    let check = &report["check"];
    assert!(check["ok"].as_u64() > Some(50), "{report:#}");
    assert!(check["passes_checked"].as_u64() > Some(20), "{report:#}");
    let seconds_with_grants = report["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter(|s| s["granted"].as_u64() > Some(0))
        .count();
    assert!(seconds_with_grants >= 3, "{report:#}");
}
