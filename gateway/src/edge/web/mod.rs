//! The scanners' HTTP transport, used by the guard page (`/scanner`):
//! `POST /v1/scan` with a web scanner's device credential, and
//! `POST /v1/scanner/enroll` to redeem an enrollment link for one. It lives
//! in the edge, beside QUIC, because it is a scanner transport: a scan goes
//! through the same [`ScanService`] (field limits, per-device rate, token
//! signature before any actor, the pass actors and their durable commits)
//! and is recorded under the device's name. The HTTP plane serves it; the
//! handlers only admit and shape the answer (`docs/protocol.md`).
//!
//! Bounds: the body is at most [`SCAN_BODY_MAX_BYTES`]; the token at most
//! [`TOKEN_MAX_CHARS`] characters, checked before it is decoded; each device
//! has the QUIC devices' rate ([`crate::config::RateLimit`]) and at most
//! `max_in_flight_per_connection` scans being decided (beyond: `busy`);
//! enrollment attempts share one bucket ([`ENROLL_ATTEMPTS`]).

pub mod public;
pub mod scan;
pub mod scanners;

use crate::config::RateLimit;
use crate::datadir::DataDir;
use crate::edge::ratelimit::Bucket;
use crate::edge::scan_service::ScanService;
use crate::operator::devices::Revocations;
use crate::operator::http::REQUEST_TIMEOUT;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::post;
use scanners::WebScanners;
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

pub use scangate_core::token::TOKEN_MAX_CHARS;

/// Largest body of `POST /v1/scan` or `POST /v1/scanner/enroll`, bytes: a
/// scan request of the longest token, gate, event and scan id is under
/// 400 bytes of JSON.
pub const SCAN_BODY_MAX_BYTES: usize = 1_024;
/// How long a web scan may wait for its decision, ms (the scan request's
/// `timeout_ms`): 4 s, under the guard page's 5 s request deadline
/// (`REQUEST_TIMEOUT_MS` in `scanner.js`), so the page gets an answer
/// (`unavailable`, retried with the same scan id) rather than a timeout.
pub const WEB_SCAN_TIMEOUT_MS: u32 = 4_000;
/// Enrollment attempts, gateway-wide: 5 a second, bursts of 20. A venue
/// enrolls its phones one by one; a guesser (of 256-bit secrets) gets 429
/// and costs at most this many reads of the web scanners' file.
pub const ENROLL_ATTEMPTS: RateLimit = RateLimit {
    scans_per_s: NonZeroU32::new(5).expect("non-zero"),
    burst: NonZeroU32::new(20).expect("non-zero"),
    max_devices: 1,
};

/// What the web transport's handlers share.
pub struct WebEdge {
    /// The scan path QUIC uses too.
    pub service: Arc<ScanService>,
    /// Enrolled web scanners.
    pub scanners: WebScanners,
    /// Revoked devices (certificate and web scanners alike).
    pub revoked: Arc<Revocations>,
    /// Per-device rate and in-flight bounds, by device name.
    devices: moka::sync::Cache<String, Arc<DeviceSlot>>,
    rate: RateLimit,
    in_flight_per_device: usize,
    /// Cancelled when the gateway begins to shut down.
    pub shutdown: CancellationToken,
    /// The data directory (the web scanners' file, the journal).
    pub data: DataDir,
    enroll_attempts: Bucket,
}

/// One web scanner's bounds, shared by all its requests.
struct DeviceSlot {
    bucket: Bucket,
    in_flight: Arc<Semaphore>,
}

impl WebEdge {
    /// The web transport over `service`: each device gets `rate` (as QUIC
    /// devices do, at most `rate.max_devices` tracked) and at most
    /// `in_flight_per_device` scans being decided at once.
    pub fn new(
        service: Arc<ScanService>,
        revoked: Arc<Revocations>,
        data: DataDir,
        rate: RateLimit,
        in_flight_per_device: usize,
        shutdown: CancellationToken,
    ) -> Self {
        WebEdge {
            service,
            scanners: WebScanners::new(&data),
            revoked,
            devices: moka::sync::Cache::builder()
                .max_capacity(rate.max_devices)
                .build(),
            rate,
            in_flight_per_device,
            shutdown,
            data,
            enroll_attempts: Bucket::new(&ENROLL_ATTEMPTS),
        }
    }

    fn slot(&self, device: &str) -> Arc<DeviceSlot> {
        self.devices.get_with(device.to_owned(), || {
            Arc::new(DeviceSlot {
                bucket: Bucket::new(&self.rate),
                in_flight: Arc::new(Semaphore::new(self.in_flight_per_device)),
            })
        })
    }
}

/// `POST /v1/scan` and `POST /v1/scanner/enroll`, each body at most
/// [`SCAN_BODY_MAX_BYTES`], each answered within the plane's
/// [`REQUEST_TIMEOUT`] (a scan's own deadline is the actors' call deadline,
/// shorter).
pub fn router(edge: Arc<WebEdge>) -> Router {
    Router::new()
        .route("/v1/scan", post(scan::scan))
        .route("/v1/scanner/enroll", post(scan::enroll))
        .layer(DefaultBodyLimit::max(SCAN_BODY_MAX_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .with_state(edge)
}
