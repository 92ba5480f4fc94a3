//! The real binary, end to end: a few seconds of `--spawn` with every kind of
//! scan in the mix and the checker on; any violation fails the test. Plus
//! the one-sentence errors of bad arguments.

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

#[test]
fn a_short_spawned_run_with_every_mix_passes_the_check() {
    let plot = tempfile::Builder::new()
        .suffix(".svg")
        .tempfile()
        .expect("temp file");
    let plot_path = plot.path().to_str().expect("utf-8 path");
    let out = load(&[
        "--spawn",
        "--profile",
        "constant",
        "--rate",
        "400",
        "--duration",
        "3",
        "--devices",
        "4",
        "--gates",
        "2",
        "--depth",
        "16",
        "--mix",
        "first=60,rescan=10,forged=5,unknown=5,revoked=8,expired=5,retry=7",
        "--json",
        "--plot",
        plot_path,
    ]);
    let report = common::json_report(&out);
    assert_eq!(report["verdict"], "pass", "{report:#}");
    assert_eq!(
        report["check"]["violations"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(report["scans"], 1_200);
    for kind in [
        "first", "rescan", "forged", "unknown", "revoked", "expired", "retry",
    ] {
        let c = &report["by_kind"][kind];
        let n = c["granted"].as_u64().unwrap_or(0)
            + c["denied"]
                .as_object()
                .map_or(0, |d| d.values().filter_map(Value::as_u64).sum());
        assert!(n > 0, "no decided scan of kind {kind}: {report:#}");
    }
    // Each kind got the answer it should (revoked passes may be granted before their revoke).
    assert_eq!(report["by_kind"]["forged"]["granted"], 0);
    assert_eq!(report["by_kind"]["unknown"]["granted"], 0);
    assert_eq!(report["by_kind"]["expired"]["granted"], 0);
    assert!(report["by_kind"]["forged"]["denied"]["forged"].as_u64() > Some(0));
    assert!(report["by_kind"]["rescan"]["denied"]["used_up"].as_u64() > Some(0));
    for key in ["scans_per_s", "p50_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert!(report[key].as_f64().is_some(), "{key} missing");
    }
    assert!(!report["series"].as_array().expect("series").is_empty());
    let svg = std::fs::read_to_string(plot.path()).expect("svg written");
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
}

#[test]
fn bad_arguments_get_one_clear_sentence_and_exit_2() {
    let out = load(&["--spawn", "--devices", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--devices"), "{stderr}");

    let out = load(&["--mix", "first=1,teleport=2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("teleport"));
}

#[test]
fn no_running_gateway_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = load(&[
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
        "--profile",
        "constant",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no running gateway found"), "{stderr}");
}

#[test]
fn a_spawn_without_the_gateway_binary_names_it_and_the_flag() {
    let out = load(&[
        "--spawn",
        "--scangate-bin",
        "/nonexistent/scangate",
        "--profile",
        "constant",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot start /nonexistent/scangate") && stderr.contains("--scangate-bin"),
        "{stderr}"
    );
}

#[test]
fn a_spawned_gateway_that_exits_before_it_is_ready_fails_the_run_at_once() {
    let started = std::time::Instant::now();
    let out = load(&[
        "--spawn",
        "--scangate-bin",
        "false",
        "--profile",
        "constant",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("before it was ready"), "{stderr}");
    // Far below the 30 s readiness deadline: the exit is noticed, not waited out.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
