//! The event floor end to end (issue 29, test 8): the real `scangate`
//! binary spawned by the real `scangate-load --floor`, entries and exits
//! through three nested zones from many devices at once, every answer
//! judged by the checker against the event's scan log read back.

use crate::common;

use serde_json::Value;
use std::process::{Command, Output};

fn load(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scangate-load"))
        .args(args)
        .env("SCANGATE_LOG", "warn")
        .env("SCANGATE_BIN", common::scangate_bin())
        .output()
        .expect("run scangate-load")
}

/// A short floor run: 6 gates (one of each role), 8 devices, 1,200 scans.
fn floor_run(capacity: &str) -> Output {
    load(&[
        "--spawn",
        "--floor",
        "--floor-capacity",
        capacity,
        "--profile",
        "constant",
        "--rate",
        "300",
        "--duration",
        "4",
        "--devices",
        "8",
        "--gates",
        "6",
        "--depth",
        "8",
        "--json",
    ])
}

fn count(report: &Value, kind: &str, reason: &str) -> u64 {
    report["by_kind"][kind]["denied"][reason]
        .as_u64()
        .unwrap_or(0)
}

fn zones(report: &Value) -> Vec<Value> {
    report["check"]["floor"]["zones"]
        .as_array()
        .cloned()
        .expect("the floor's zone figures")
}

/// `--floor-capacity auto` gives the zones capacities only when the
/// gateway answers `zone_full` (its probe scans into a zone of capacity
/// 0). On a gateway that does not enforce capacity yet the zones have
/// none and the run checks presence, uses and the scan log only; once
/// capacity is enforced the same test demands `zone_full` denials and
/// every zone's peak within its capacity, and the occupancy the gateway
/// reports at the end equal to the replay's (the checker compares them
/// whenever the occupancy route answers).
#[test]
fn a_short_floor_run_passes_the_check_with_capacity_as_the_gateway_enforces_it() {
    let report = common::json_report(&floor_run("auto"));
    assert_eq!(report["verdict"], "pass", "{report:#}");
    assert_eq!(
        report["check"]["violations"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(report["scans"], 1_200);
    let enforced = report["floor"]["capacity_enforced"]
        .as_bool()
        .expect("the probe's answer");
    let floor = &report["check"]["floor"];
    assert!(floor["entries"].as_u64() > Some(100), "{floor:#}");
    assert!(floor["exits"].as_u64() > Some(100), "{floor:#}");
    // Re-entry is on and each pass admits once: admissions are at most the passes.
    assert!(floor["admissions"].as_u64() > Some(0), "{floor:#}");
    assert!(
        floor["admissions"].as_u64() <= report["floor"]["passes"].as_u64(),
        "{report:#}"
    );
    // Wrong zones are never granted; checks are answered.
    assert_eq!(report["by_kind"]["wrong_zone"]["granted"], 0);
    assert!(count(&report, "wrong_zone", "wrong_zone") > 0);
    assert!(report["by_kind"]["check"]["granted"].as_u64() > Some(0));
    // Anti-passback denials happen (passes in flight race their belief).
    assert!(count(&report, "entry", "already_inside") + count(&report, "exit", "not_inside") > 0);
    for zone in zones(&report) {
        assert!(zone["peak"].as_u64() > Some(0), "{zone:#}");
        if enforced {
            let capacity = zone["capacity"].as_u64().expect("a capacity");
            assert!(zone["peak"].as_u64() <= Some(capacity), "{zone:#}");
        } else {
            assert!(zone["capacity"].is_null(), "{zone:#}");
        }
    }
    if enforced {
        assert!(count(&report, "entry", "zone_full") > 0, "{report:#}");
    }
}

/// The checker's over_capacity rule against the real binary: with
/// capacities on, a gateway that enforces them passes (with `zone_full`
/// denials), and one that does not is caught over capacity, and only that.
#[test]
fn capacities_on_pass_where_enforced_and_are_caught_over_capacity_where_not() {
    let out = floor_run("on");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().expect("a JSON line"))
        .expect("the last line is one JSON object");
    let zone_full = count(&report, "entry", "zone_full");
    if zone_full > 0 {
        assert_eq!(report["verdict"], "pass", "{report:#}");
        assert_eq!(out.status.code(), Some(0));
    } else {
        assert_eq!(report["verdict"], "fail", "{report:#}");
        assert_eq!(out.status.code(), Some(1));
        let by_rule = report["check"]["by_rule"].as_object().expect("by_rule");
        assert_eq!(
            by_rule.keys().collect::<Vec<_>>(),
            vec!["over_capacity"],
            "{report:#}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("VIOLATION OverCapacity pass -: zone hall"),
            "{stderr}"
        );
        let hall = &zones(&report)[0];
        assert!(
            hall["peak"].as_u64() > hall["capacity"].as_u64(),
            "{hall:#}"
        );
    }
}
