//! The handlers of the web transport: a scan by an enrolled web scanner,
//! and the redemption of an enrollment link.
//!
//! A scan is refused, cheapest first: no or an unknown credential (401
//! `unauthorized`), a revoked device (403 `device_revoked`), a bad body or
//! a token over [`TOKEN_MAX_CHARS`] characters (400 `invalid_request`,
//! before the token is decoded), a shutdown (503 `shutting_down`). Then the
//! shared scan path answers: a decision (200; `rate_limited` 429 and `busy`
//! 503, with `Retry-After`) or an error (its code, mapped to a status).

use super::scanners::{self, RedeemError};
use super::{TOKEN_MAX_CHARS, WEB_SCAN_TIMEOUT_MS, WebEdge};
use crate::edge::gate_label::LastGate;
use crate::edge::scan_service::Precheck;
use crate::operator::api::{ApiError, from_rejection};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::counter;
use scangate_core::wire::{ErrorCode, ResponseBody, ScanRequest};
use scangate_core::{Reason, ScanId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The body of `POST /v1/scan`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebScanRequest {
    /// The token read from the QR code.
    pub token: String,
    /// The gate the guard stands at.
    pub gate: String,
    /// The event the guard admits to, if it checks one.
    #[serde(default)]
    pub event: Option<String>,
    /// The page's id for this attempt; a retry reuses it.
    pub scan_id: String,
    /// The browser's clock at the scan (Unix ms); recorded, never trusted.
    #[serde(default)]
    pub scanner_time_ms: Option<i64>,
    /// `in` or `out` at a gate of an event with a definition that lets
    /// people pass both ways (as in the QUIC scan request); any other
    /// spelling is denied `unknown_direction`.
    #[serde(default)]
    pub direction: Option<scangate_core::wire::ScanDirection>,
    /// Decide only: nothing counted, moved or recorded.
    #[serde(default)]
    pub check_only: bool,
}

/// The body of `POST /v1/scanner/enroll`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The enrollment secret from the link.
    pub enrollment: String,
}

/// A request refused before the scan path, counted in
/// `scangate_web_scans_refused_total{code}` when answered.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn refusal(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        counter!("scangate_web_scans_refused_total", "code" => self.code).increment(1);
        ApiError::new(self.status, self.code, self.message).into_response()
    }
}

/// The enrolled device presenting `headers`' credential, or the refusal.
fn device(edge: &WebEdge, headers: &HeaderMap) -> Result<String, Refusal> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(name) = presented.and_then(|p| edge.scanners.authenticate(p)) else {
        return Err(refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "not an enrolled web scanner: send `Authorization: Bearer <device credential>` \
             (enroll this browser with `scangate scanner enroll NAME`)",
        ));
    };
    if edge.revoked.is_revoked(&name) {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "device_revoked",
            format!("web scanner {name:?} is revoked and can no longer scan"),
        ));
    }
    Ok(name)
}

/// The request as the scan path takes it, or a 400 naming the field.
fn request(body: WebScanRequest) -> Result<ScanRequest, Refusal> {
    if body.token.len() > TOKEN_MAX_CHARS {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("token: longer than {TOKEN_MAX_CHARS} characters"),
        ));
    }
    let scan_id = ScanId::new(body.scan_id).map_err(|e| {
        refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("scan_id: {e}"),
        )
    })?;
    Ok(ScanRequest {
        token: body.token,
        gate: body.gate,
        event: body.event,
        scan_id,
        scanner_time_ms: body.scanner_time_ms.unwrap_or_else(crate::now_ms),
        timeout_ms: Some(WEB_SCAN_TIMEOUT_MS),
        direction: body.direction,
        check_only: body.check_only,
    })
}

/// `POST /v1/scan`: one scan by an enrolled web scanner, through the same
/// scan path, actors and durable commits as a QUIC scan.
pub async fn scan(
    State(edge): State<Arc<WebEdge>>,
    headers: HeaderMap,
    body: Result<Json<WebScanRequest>, JsonRejection>,
) -> Response {
    let device = match device(&edge, &headers) {
        Ok(device) => device,
        Err(refused) => return refused.into_response(),
    };
    let req = match body.map_err(from_rejection) {
        Ok(Json(body)) => match request(body) {
            Ok(req) => req,
            Err(refused) => return refused.into_response(),
        },
        Err(e) => {
            counter!("scangate_web_scans_refused_total", "code" => e.code.clone()).increment(1);
            return e.into_response();
        }
    };
    if edge.shutdown.is_cancelled() {
        return answer(
            &device,
            crate::edge::scan_service::counted_error(
                ErrorCode::ShuttingDown,
                "the gateway is shutting down; retry with the same scan id",
            ),
        );
    }
    let service = &edge.service;
    let slot = edge.slot(&device);
    let mut last_gate = LastGate::new(service.live().gates());
    let body = match service.precheck(&req, &mut last_gate, &device, &slot.bucket) {
        Precheck::Answer(body) => body,
        Precheck::Decide(claims, gate) => match slot.in_flight.clone().try_acquire_owned() {
            Ok(_permit) => service.decide(&device, &gate, claims, req).await,
            Err(_) => {
                counter!("scangate_busy_total", "cause" => "web_device").increment(1);
                service.denied(&req, &gate, Reason::Busy)
            }
        },
    };
    answer(&device, body)
}

/// The JSON answer to a scan: the scan reply's fields, with `decision`
/// spelled `granted` / `denied`, `reason` (a denial's contract spelling)
/// and `device`; an error as the API's error body.
fn answer(device: &str, body: ResponseBody) -> Response {
    let reply = match body {
        ResponseBody::Scan(reply) => reply,
        ResponseBody::Error(e) => {
            let status = match e.code {
                ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                ErrorCode::ScanIdConflict => StatusCode::CONFLICT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            return ApiError::new(status, e.code.as_str(), e.message()).into_response();
        }
        _ => return ApiError::unavailable("the scan path gave no scan reply").into_response(),
    };
    let reason = reply.decision.reason();
    let mut view = serde_json::to_value(&reply).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut view {
        let word = if reply.decision.is_granted() {
            "granted"
        } else {
            "denied"
        };
        fields.insert("decision".into(), json!(word));
        fields.insert("reason".into(), json!(reason.map(Reason::as_str)));
        fields.insert("device".into(), json!(device));
    }
    let status = match reason {
        Some(Reason::RateLimited) => StatusCode::TOO_MANY_REQUESTS,
        Some(Reason::Busy) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    let mut response = (status, Json(view)).into_response();
    if status != StatusCode::OK {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

/// `POST /v1/scanner/enroll` with `{"enrollment": SECRET}`: redeems a
/// one-time enrollment link; answers `{"device", "credential"}` once.
pub async fn enroll(
    State(edge): State<Arc<WebEdge>>,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Response {
    if !edge.enroll_attempts.try_take() {
        let mut refused = refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many enrollment attempts; retry in a few seconds",
        )
        .into_response();
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        return refused;
    }
    let secret = match body {
        Ok(Json(b)) => b.enrollment,
        Err(e) => return from_rejection(e).into_response(),
    };
    let data = edge.data.clone();
    let now = crate::now_ms();
    let redeemed = tokio::task::spawn_blocking(move || scanners::redeem(&data, &secret, now)).await;
    match redeemed {
        Ok(Ok(enrolled)) => {
            tracing::info!(device = %enrolled.name, "web scanner enrolled");
            let body = json!({"device": enrolled.name, "credential": enrolled.credential});
            ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
        }
        Ok(Err(e @ RedeemError::NotValid)) => {
            refusal(StatusCode::NOT_FOUND, "enrollment_not_valid", e.to_string()).into_response()
        }
        Ok(Err(e)) => ApiError::unavailable(e.to_string()).into_response(),
        Err(e) => ApiError::unavailable(e.to_string()).into_response(),
    }
}
