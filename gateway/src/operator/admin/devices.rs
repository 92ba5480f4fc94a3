//! Scanner devices: list (issued certificates and revocations), revoke
//! (recorded in the operator journal).

use super::operator::journal_failed;
use super::params::PathParam;
use super::schema::DeviceNameParam;
use crate::operator::api::{ApiError, ErrorBody};
use crate::operator::devices::{self, RevokeError, RevokedDevice};
use crate::operator::journal::{JournalError, OperatorAction};
use crate::operator::state::AppState;
use crate::operator::state::Who;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use scangate_core::pass::{REASON_MAX_BYTES, check_len};
use serde::{Deserialize, Serialize};

/// A device as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceView {
    /// The certificate name.
    pub name: String,
    /// Whether it is revoked.
    pub revoked: bool,
    /// The revocation, if any.
    pub revocation: Option<RevokedDevice>,
}

fn internal(e: anyhow::Error) -> ApiError {
    ApiError::unavailable(format!("{e:#}"))
}

/// `GET /v1/devices`: scanner certificates issued here, web scanners, and
/// revocations.
#[utoipa::path(
    get,
    path = "/v1/devices",
    operation_id = "list_devices",
    tag = "devices",
    responses((status = 200, description = "Every known device", body = [DeviceView])),
    security(("bearer" = [])),
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<DeviceView>>, ApiError> {
    let data = state.data.clone();
    let views = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<DeviceView>> {
        let revoked = devices::list(&data.revoked_devices())?;
        let mut names = devices::known(&data)?;
        for r in &revoked {
            if !names.contains(&r.name) {
                names.push(r.name.clone());
            }
        }
        Ok(names
            .into_iter()
            .map(|name| {
                let revocation = revoked.iter().find(|r| r.name == name).cloned();
                DeviceView {
                    revoked: revocation.is_some(),
                    name,
                    revocation,
                }
            })
            .collect())
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?
    .map_err(internal)?;
    Ok(Json(views))
}

/// The optional body of a device revocation.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRevokeBody {
    /// Why (kept in the operator journal); optional, at most 256 bytes.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub reason: Option<String>,
}

/// `POST /v1/devices/{name}/revoke`, optionally with `{"reason": ...}`: the
/// device can no longer connect, and its open connections are closed.
/// Recorded in the operator journal (`device.revoke`) when it changed
/// anything; revoking a revoked device answers the same and records nothing.
#[utoipa::path(
    post,
    path = "/v1/devices/{name}/revoke",
    operation_id = "revoke_device",
    tag = "devices",
    params(DeviceNameParam),
    request_body(content = Option<DeviceRevokeBody>, description = "Optional: `{\"reason\": ...}` (at most 256 bytes), `null` or nothing"),
    responses(
        (status = 200, description = "The device, revoked", body = DeviceView),
        (status = 400, description = "Not a valid device name, or a bad body", body = ErrorBody),
        (status = 409, description = "The revoked list is full; nothing was written", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn revoke(
    State(state): State<AppState>,
    who: Who,
    PathParam(name): PathParam,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DeviceView>, ApiError> {
    scangate_certs::validate_scanner_name(&name)
        .map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let reason = revoke_reason(body)?;
    let data = state.data.clone();
    let (n, w) = (name.clone(), who.0.name.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        devices::revoke_recorded(&data, &n, &w, reason.as_deref(), crate::now_ms())
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?;
    // Revoked even when its journal line failed: open connections go now,
    // and this answer leaves only once the gateway refuses the device.
    state.devices.refresh();
    match outcome {
        Ok(revoked) => {
            tracing::info!(device = %name, who = %who.0.name, changed = revoked.changed, "scanner device revoked");
            Ok(Json(DeviceView {
                name,
                revoked: true,
                revocation: Some(revoked.entry),
            }))
        }
        Err(e) if e.downcast_ref::<JournalError>().is_some() => Err(journal_failed(
            OperatorAction::DeviceRevoke,
            &who.0.name,
            &name,
            &format!("device {name} was revoked"),
            &format!("{e:#}"),
        )),
        Err(e) => Err(match e.downcast_ref::<RevokeError>() {
            Some(RevokeError::Full { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            Some(RevokeError::InvalidName(_)) => ApiError::invalid("name", e.to_string()),
            _ => internal(e),
        }),
    }
}

/// The reason of an optional `{"reason": ...}` body (none: no body, `null`,
/// or blank).
pub fn revoke_reason(body: Result<Bytes, BytesRejection>) -> Result<Option<String>, ApiError> {
    let body = body.map_err(crate::operator::api::from_rejection)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let parsed: Option<DeviceRevokeBody> = match body.trim_ascii() {
        b"null" => None,
        object => Some(
            crate::operator::api::from_json_object(object)
                .map_err(|e| ApiError::invalid("body", e.to_string()))?,
        ),
    };
    let reason = parsed.and_then(|p| p.reason);
    // The limit applies to the reason as sent, as the document states it.
    if let Some(r) = &reason {
        check_len("reason", r, REASON_MAX_BYTES)
            .map_err(|e| ApiError::invalid("reason", e.to_string()))?;
    }
    Ok(reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty()))
}
