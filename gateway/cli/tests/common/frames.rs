//! Request frames written by hand, for tests that drive a raw QUIC stream.

use scangate_core::ScanId;
use scangate_core::wire::{Request, RequestBody, ScanRequest};

/// A durable scan of `token` at gate "A" as request `id`, its scan id
/// `{prefix}-{id}`.
pub fn scan_frame(id: u64, token: &str, prefix: &str) -> Request {
    Request {
        id,
        body: RequestBody::Scan(ScanRequest {
            token: token.to_owned(),
            gate: "A".into(),
            event: None,
            scan_id: ScanId::new(format!("{prefix}-{id}")).expect("id"),
            scanner_time_ms: 0,
            timeout_ms: None,
            direction: None,
            check_only: false,
        }),
    }
}
