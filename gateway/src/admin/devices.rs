//! Scanner devices: list (issued certificates and revocations), revoke.

use super::Who;
use crate::api::{ApiError, ErrorBody};
use crate::devices::{self, RevokedDevice};
use crate::http::AppState;
use axum::Json;
use axum::extract::{Path, State};
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

/// `GET /v1/devices`: scanner certificates issued here, and revocations.
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
        let mut names = devices::issued(&data.pki())?;
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

/// `POST /v1/devices/{name}/revoke`: the device can no longer connect, and
/// its open connections are closed.
#[utoipa::path(
    post,
    path = "/v1/devices/{name}/revoke",
    operation_id = "revoke_device",
    tag = "devices",
    params(("name" = String, Path, description = "The device's certificate name")),
    responses(
        (status = 200, description = "The device, revoked", body = DeviceView),
        (status = 400, description = "Not a valid device name", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn revoke(
    State(state): State<AppState>,
    who: Who,
    Path(name): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    scangate_certs::validate_scanner_name(&name)
        .map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let path = state.data.revoked_devices();
    let (n, w) = (name.clone(), who.0.name.clone());
    tokio::task::spawn_blocking(move || devices::revoke(&path, &n, &w, crate::now_ms()))
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?
        .map_err(internal)?;
    state.devices.refresh();
    tracing::info!(device = %name, who = %who.0.name, "scanner device revoked");
    let revocation = devices::list(&state.data.revoked_devices())
        .map_err(internal)?
        .into_iter()
        .find(|r| r.name == name);
    Ok(Json(DeviceView {
        name,
        revoked: true,
        revocation,
    }))
}
