//! The load tool's admin calls against a real gateway (the `scangate`
//! binary on loopback, started and stopped as `--spawn` does).

use crate::common;

use scangate_core::Status;
use scangate_load::admin::Admin;
use scangate_load::target::Target;

/// Against a real gateway: `scangate serve`, started as `--spawn` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_up_revoke_is_done_once_the_pass_is_revoked() {
    let target = Target::spawn(&common::scangate_bin(), 1)
        .await
        .expect("gateway");
    let admin = Admin::new(target.http, target.admin_token.clone()).expect("admin");
    let issued = admin
        .issue(&serde_json::json!({"event": "fest", "count": 2}))
        .await
        .expect("issue");
    admin
        .revoke_settled(&issued[0].id, "test")
        .await
        .expect("a plain revoke");
    // A revoke that landed although its answer was lost: the next
    // attempt is refused (409), and the pass, read back, is revoked.
    admin.revoke(&issued[1].id, "test").await.expect("revoke");
    assert!(admin.revoke(&issued[1].id, "again").await.is_err());
    admin
        .revoke_settled(&issued[1].id, "test")
        .await
        .expect("already revoked is done");
    for pass in &issued {
        assert_eq!(
            admin.pass(&pass.id).await.expect("read").status,
            Status::Revoked
        );
    }
    // A pass that does not exist is never revoked: the last error.
    let missing = admin
        .revoke_settled(&"0".repeat(32), "test")
        .await
        .expect_err("no such pass");
    assert!(
        missing.to_string().contains("cannot revoke a pass"),
        "{missing}"
    );
    target.stop().await.expect("stop");
}

/// Admin calls per second (and burst) of the gateway in the read-back test:
/// far below the ~160 calls the read-back of its ~80 passes makes, so most
/// of them are refused 429 at least once.
const SMALL_ADMIN_RATE: &str = "10";

/// The admin API of a gateway whose admin rate is small refuses most of the
/// read-back's calls 429; the read-back waits as each `Retry-After` says,
/// and the run ends `pass` with every touched pass checked, not `unknown`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_back_refused_for_the_admin_rate_waits_and_the_run_passes() {
    let rate = SMALL_ADMIN_RATE.to_owned();
    let serve_args = vec![
        "--admin-rate".into(),
        rate.clone(),
        "--admin-burst".into(),
        rate,
    ];
    let target = Target::spawn_with(&common::scangate_bin(), 8, serve_args)
        .await
        .expect("gateway");
    let dir = target.data_dir.to_str().expect("utf-8 path").to_owned();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scangate-load"))
        .args(["--data-dir", &dir, "--profile", "constant", "--rate", "40"])
        .args(["--duration", "2", "--devices", "2", "--uses-per-pass", "1"])
        .args(["--mix", "first=100", "--json"])
        .env("SCANGATE_LOG", "warn")
        .output()
        .await
        .expect("run scangate-load");
    let report = common::json_report(&out);
    assert_eq!(report["verdict"], "pass", "{report:#}");
    let check = &report["check"];
    assert_eq!(check["unchecked"], serde_json::json!([]), "{report:#}");
    assert!(check["passes_checked"].as_u64() >= Some(60), "{report:#}");
    // The gateway did refuse the read-back (the run would pass without it).
    let admin = scangate_api::AdminClient::new(
        &format!("http://{}", target.http),
        target.admin_token.clone(),
        std::time::Duration::from_secs(10),
    )
    .expect("client")
    .waiting_out_rate_limits(std::time::Duration::from_secs(30));
    let metrics = admin
        .get_bytes("/metrics", scangate_api::client::NO_QUERY)
        .await
        .expect("metrics");
    let refused = String::from_utf8_lossy(&metrics)
        .lines()
        .find_map(|l| l.strip_prefix("scangate_admin_rate_limited_total "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(refused >= 50.0, "only {refused} calls refused 429");
    target.stop().await.expect("stop");
}
