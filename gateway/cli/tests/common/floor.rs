//! Helpers of the event floor's tests: event definitions through the admin
//! API, and scans with a direction or as a check.

use super::Gateway;
use scangate_client::{Direction, ScanInput, ScanOptions, Scanner};
use scangate_core::Reason;
use scangate_core::wire::ScanReply;
use serde_json::Value;

/// PUT `definition` as `event`'s definition: the status and the body.
pub async fn put_event(gw: &Gateway, event: &str, definition: &Value) -> (u16, String) {
    let resp = reqwest::Client::new()
        .put(format!("http://{}/v1/events/{event}", gw.http))
        .bearer_auth(&gw.token)
        .json(definition)
        .send()
        .await
        .expect("put event");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// A scan of `token` at `gate`, in `direction` (`None`: the gate's own),
/// as a check or not; panics unless it was decided.
pub async fn scan_floor(
    scanner: &Scanner,
    token: &str,
    gate: &str,
    direction: Option<Direction>,
    check_only: bool,
) -> ScanReply {
    let input = ScanInput {
        token: token.to_owned(),
        gate: gate.to_owned(),
        event: None,
        scan_id: None,
    };
    let options = ScanOptions {
        direction,
        check_only,
    };
    scanner
        .scan_with(input, options)
        .await
        .expect("scan decided")
}

/// The denial reason of `reply`, `None` for a grant.
pub fn reason(reply: &ScanReply) -> Option<Reason> {
    reply.decision.reason()
}
