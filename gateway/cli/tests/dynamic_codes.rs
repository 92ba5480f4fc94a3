//! Dynamic codes and card shares, end to end: minted short-lived tokens, the
//! QR endpoint, and what a card-share scan reveals.

use crate::common;

use common::{Gateway, scan};
use scangate_core::{Decision, PassId, Reason};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_passes_only_accept_fresh_minted_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let s = gw.scanner("dyn").await;
    let pass = gw
        .issue(json!({"event": "fest", "unlimited": true, "dynamic_ttl_s": 600}))
        .await
        .remove(0);
    assert_eq!(pass.token.len(), 63, "a minted token carries its not-after");
    assert!(scan(&s, &pass.token, "A", None).await.decision.is_granted());

    let keyring =
        scangate_gateway::keys::load(&dir.path().join("signing-keys.json")).expect("keyring");
    let id: PassId = pass.id.parse().expect("id");
    let screenshot = keyring.sign(id, Some(1_600_000_000));
    assert_eq!(
        scan(&s, &screenshot, "A", None).await.decision,
        Decision::Denied(Reason::Expired)
    );
    let static_token = keyring.sign(id, None);
    assert_eq!(
        scan(&s, &static_token, "A", None).await.decision,
        Decision::Denied(Reason::Expired)
    );

    // Every read of the pass mints a fresh token that works.
    let again = gw.pass(&pass.id).await;
    assert!(
        scan(&s, &again.token, "A", None)
            .await
            .decision
            .is_granted()
    );
    assert!(gw.sigterm().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_codes_render_on_demand_as_svg_or_png() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_one(1).await;
    let http = reqwest::Client::new();
    let get = |format: &str| {
        http.get(format!(
            "http://{}/v1/passes/{}/qr?format={format}",
            gw.http, pass.id
        ))
        .bearer_auth(&gw.token)
        .send()
    };
    let svg = get("svg").await.expect("svg");
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert_eq!(svg.headers()["cache-control"], "no-store");
    assert!(svg.text().await.expect("body").contains("<svg"));
    let png = get("png").await.expect("png");
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.expect("body")[..8], b"\x89PNG\r\n\x1a\n");
    let gif = get("gif").await.expect("gif");
    assert_eq!(gif.status(), 400);
    let anonymous = reqwest::get(format!("http://{}/v1/passes/{}/qr", gw.http, pass.id))
        .await
        .expect("get");
    assert_eq!(anonymous.status(), 401);
    assert!(gw.sigterm().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_share_reveals_only_its_display_and_revoking_blocks_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let s = gw.scanner("booth").await;
    let shared = "Ada Lovelace, Analytical Engines Ltd";
    let card = gw
        .issue(json!({"event": "expo", "kind": "card_share", "unlimited": true, "display": shared}))
        .await
        .remove(0);
    let reply = scan(&s, &card.token, "booth-7", None).await;
    assert_eq!(reply.decision, Decision::Granted);
    assert_eq!(reply.display.as_deref(), Some(shared));
    assert_eq!(
        reply.pass.as_deref(),
        Some(&card.id[..8]),
        "only the short pass id"
    );
    gw.post(
        &format!("/v1/passes/{}/revoke", card.id),
        json!({"reason": "holder withdrew"}),
    )
    .await;
    let blocked = scan(&s, &card.token, "booth-7", None).await;
    assert_eq!(blocked.decision, Decision::Denied(Reason::Revoked));
    assert_eq!(blocked.display, None, "nothing is revealed once revoked");
    assert!(gw.sigterm().success());
}
