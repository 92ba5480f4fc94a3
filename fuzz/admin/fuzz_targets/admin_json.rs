//! Feeds arbitrary bytes to the admin API's JSON bodies, read and checked by
//! the handlers' own functions. The first byte picks the body:
//!
//! - 0: an issue body (`POST /v1/passes`) as JSON (one spec or an array);
//! - 1: the same as NDJSON (by its content type);
//! - 2: a status change or annul body (`{"reason": ...}`, required);
//! - 3: a device revoke body (`{"reason": ...}`, optional).
//!
//! Must never panic; what passes must hold what the checks promise: 1 to
//! `ISSUE_MAX` passes, each valid by the core's own rules; a reason of 1
//! to `REASON_MAX_BYTES` bytes that is not white space alone.
#![no_main]

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use scangate_core::pass::REASON_MAX_BYTES;
use scangate_gateway::operator::admin::devices::revoke_reason;
use scangate_gateway::operator::admin::passes::issue_body;
use scangate_gateway::operator::admin::reason::{JsonObject, reason};
use scangate_gateway::operator::admin::routes::ISSUE_SPECS_MAX;
use scangate_gateway::operator::api::ISSUE_MAX;

/// A fixed clock: 2026-12-06T00:00:00Z.
const NOW_MS: i64 = 1_796_515_200_000;

fn issue(body: &[u8], ndjson: bool) {
    let mut headers = HeaderMap::new();
    if ndjson {
        let ndjson = HeaderValue::from_static("application/x-ndjson");
        headers.insert(header::CONTENT_TYPE, ndjson);
    }
    let Ok(issue) = issue_body(&headers, body, NOW_MS) else {
        return;
    };
    assert!((1..=ISSUE_SPECS_MAX).contains(&issue.specs));
    assert!((1..=ISSUE_MAX as usize).contains(&issue.passes.len()));
    for pass in &issue.passes {
        assert!(
            pass.validate().is_ok(),
            "an invalid pass was built: {pass:?}"
        );
    }
}

/// White space a reason may not consist of alone (the API's rule).
fn blank(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

fn status_change(body: &[u8]) {
    // axum's `Json` extractor reads the object with serde_json, as here.
    let Ok(object) = serde_json::from_slice::<JsonObject>(body) else {
        return;
    };
    if let Ok(reason) = reason(Ok(Json(object))) {
        assert!(!reason.bytes().all(blank), "a blank reason passed");
        assert!(reason.len() <= REASON_MAX_BYTES);
    }
}

fn device_revoke(body: &[u8]) {
    if let Ok(Some(reason)) = revoke_reason(Ok(Bytes::copy_from_slice(body))) {
        assert!(!reason.is_empty() && reason.len() <= REASON_MAX_BYTES);
        assert_eq!(reason.trim(), reason, "kept untrimmed");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => issue(body, false),
        1 => issue(body, true),
        2 => status_change(body),
        _ => device_revoke(body),
    }
});
