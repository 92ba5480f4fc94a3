//! Roles and what each may read: a `viewer` walks every GET route of the
//! admin API and finds no pass token (static or minted), display payload or
//! QR code; an `operator` walking the same routes gets them, which shows the
//! search would find one.

use crate::common;

use common::holder::has_token;
use common::{Gateway, scan};
use scangate_core::offline::messages::{AckStatus, OfflineScan};
use scangate_core::{Decision, ScanId};
use scangate_gateway::operator::admin::routes::ROUTES;
use scangate_gateway::operator::tokens::Role;
use serde_json::json;

/// The display payload the passes carry: holder data a viewer must not read.
const DISPLAY: &str = "Ada Lovelace, row 4 seat 2";
/// Every GET route with `{id}` filled in and the parameters it needs.
fn get_paths(
    pass_id: &str,
) -> Vec<(
    &'static scangate_gateway::operator::admin::routes::Route,
    String,
)> {
    ROUTES
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| {
            let path = r.path.replace("{id}", pass_id).replace("{event}", "fest");
            // The event-scoped lists name their event.
            let path = if path == "/v1/scans" || path == "/v1/flags" {
                format!("{path}?event=fest")
            } else {
                path
            };
            (r, path)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_no_token_display_or_qr_on_any_get_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let viewer = gw.token_for("viewer", "watch");
    let operator = gw.token_for("operator", "ops");
    let fixed = gw
        .issue(json!({"event": "fest", "max_uses": 3, "display": DISPLAY}))
        .await
        .remove(0);
    let dynamic = gw
        .issue(json!({"event": "fest", "dynamic_ttl_s": 60, "display": DISPLAY}))
        .await
        .remove(0);
    // Something in every log: a scan, an annul-able grant, status changes.
    let s = gw.scanner("gate-1").await;
    assert!(
        scan(&s, &fixed.token, "A", None)
            .await
            .decision
            .is_granted()
    );
    for action in ["suspend", "reactivate"] {
        gw.post(
            &format!("/v1/passes/{}/{action}", fixed.id),
            json!({"reason": "check"}),
        )
        .await;
    }
    // An offline grant of the fixed pass, timed before its snapshot: a conflict.
    let offline = OfflineScan {
        token: fixed.token.clone(),
        gate: "A".into(),
        event: "fest".into(),
        scan_id: ScanId::new("offline-1").expect("scan id"),
        device_time_ms: scangate_gateway::now_ms() - 60_000,
        snapshot_version: u64::try_from(scangate_gateway::now_ms()).expect("positive"),
        decision: Decision::Granted,
    };
    let ack = s.upload(&[offline]).await.expect("upload");
    assert_eq!(ack.scans[0].status, AckStatus::Recorded);
    let (_, listed) = gw.get_as("/v1/conflicts", &viewer).await;
    assert!(listed.contains("time_before_snapshot"), "{listed}");
    // An event definition for `GET /v1/events/{event}` to show.
    let definition = json!({"gates": [{"name": "A", "zone": "hall", "direction": "in"}],
                            "zones": [{"name": "hall"}]});
    let (status, body) = common::floor::put_event(&gw, "fest", &definition).await;
    assert_eq!(status, 200, "{body}");

    for pass in [&fixed, &dynamic] {
        for (route, path) in get_paths(&pass.id) {
            let (status, body) = gw.get_as(&path, &viewer).await;
            if Role::Viewer.allows(route.needs) {
                assert_eq!(status, 200, "GET {path} as viewer: {body}");
            } else {
                assert_eq!(status, 403, "GET {path} as viewer: {body}");
            }
            assert!(
                !has_token(&body) && !body.contains(&fixed.token),
                "GET {path} as viewer holds a token: {body}"
            );
            assert!(
                !body.contains(DISPLAY) && !body.contains("\"token\""),
                "GET {path} as viewer: {body}"
            );
        }
    }

    // The same walk as operator finds them: the search above can fail.
    for pass in [&fixed, &dynamic] {
        let (status, body) = gw
            .get_as(&format!("/v1/passes/{}", pass.id), &operator)
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(has_token(&body) && body.contains(DISPLAY), "{body}");
        let (status, svg) = gw
            .get_as(&format!("/v1/passes/{}/qr", pass.id), &operator)
            .await;
        assert_eq!(status, 200, "{svg}");
        assert!(svg.contains("<svg"), "{svg}");
    }
    // A list holds tokens only when an admin asks (`tokens=true`).
    let (_, list) = gw.get_as("/v1/passes?event=fest", &operator).await;
    assert!(!has_token(&list) && list.contains(DISPLAY), "{list}");
    let (status, _) = gw
        .get_as("/v1/passes?event=fest&tokens=true", &operator)
        .await;
    assert_eq!(status, 403);
    let (_, list) = gw
        .get_as("/v1/passes?event=fest&tokens=true", &gw.token)
        .await;
    assert!(list.contains(&fixed.token), "{list}");
    gw.kill9();
}
