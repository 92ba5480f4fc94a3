//! `DELETE /v1/passes/{id}`: erases a pass's personal data for good and
//! revokes it, in one act, ordered with its scans through its actor.

use super::params::PathParam;
use super::reason::{ReasonBody, ReasonJson};
use super::schema::PassIdParam;
use crate::operator::api::{ErrorBody, PassView};
use crate::operator::state::{AppState, Who};
use axum::Json;
use axum::extract::State;
use scangate_core::AdminAction;

/// `DELETE /v1/passes/{id}`, with `{"reason": ...}`: the pass's display
/// text and card fields become unrecoverable (its key is destroyed; see
/// `docs/operations.md`, "Erasure"), the pass is revoked, and the act is
/// kept in the audit log and the operator journal. The pass id, its scans
/// and its audit stay. Erasing an erased pass succeeds and changes nothing
/// more. Needs the operator role or above.
#[utoipa::path(
    delete,
    path = "/v1/passes/{id}",
    operation_id = "erase_pass",
    tag = "passes",
    params(PassIdParam),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Erased and revoked (operator role or above); the pass as it is now, without display or card", body = PassView),
        (status = 400, description = "Not a pass id, or no reason (or one over 256 bytes), or not the JSON body described", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn erase(
    State(s): State<AppState>,
    who: Who,
    PathParam(id): PathParam,
    body: ReasonJson,
) -> Result<Json<PassView>, crate::operator::api::ApiError> {
    super::passes::change(s, who.0.name, id, AdminAction::Erase, body).await
}
