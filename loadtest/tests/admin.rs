//! The load tool's admin calls against a real gateway (the `scangate`
//! binary on loopback, started and stopped as `--spawn` does).

mod common;

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
