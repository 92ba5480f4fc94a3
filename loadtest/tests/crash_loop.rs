//! The crash loop end to end (issue 28): the real `scangate` binary spawned
//! and killed with SIGKILL at random moments under load, started again on
//! the same data dir and ports each time, and the whole history checked
//! against the last gateway. The run must have crashed every cycle and
//! granted across them, so it cannot pass by never crashing.

use crate::common;

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

/// The crash loop's gateway listens on a port outside the kernel's
/// ephemeral range, so no client socket is given it while the gateway is
/// down; a stranger that binds it by number holds up the restart, which
/// names the port once its wait is over, and goes on once the port is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_names_the_port_a_stranger_holds_and_goes_on_once_it_is_free() {
    use scangate_load::{LoadError, ports, target::Target};
    let target = Target::spawn(&common::scangate_bin(), 1)
        .await
        .expect("gateway");
    let (first, last) = ports::ephemeral_range();
    let port = target.quic.port();
    assert!(
        port >= ports::PORT_FLOOR && !(first..=last).contains(&port),
        "port {port} inside the ephemeral range {first}-{last}"
    );
    assert_eq!(target.quic, target.http, "QUIC and HTTP share the number");
    target.crash().await.expect("kill -9");
    let stranger = std::net::UdpSocket::bind(target.quic).expect("the stranger binds it");
    let started = std::time::Instant::now();
    let err = target.start_again().await.expect_err("the port is taken");
    assert!(
        started.elapsed() >= ports::PORT_FREE_WAIT,
        "it did not wait"
    );
    match &err {
        LoadError::PortTaken { addr, reason } => {
            assert_eq!(*addr, target.quic);
            assert!(reason.starts_with("UDP"), "{reason}");
        }
        other => panic!("not PortTaken: {other}"),
    }
    assert!(err.to_string().contains(&target.quic.to_string()), "{err}");
    drop(stranger);
    target.start_again().await.expect("free again");
    target.until_ready().await.expect("ready on the same port");
    target.stop().await.expect("stop");
}
