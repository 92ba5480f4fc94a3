//! `DELETE /v1/passes/{id}`: erases a pass's personal data for good and
//! revokes it, in one act, ordered with its scans through its actor; and
//! the answer that makes an erase final.
//!
//! An erased pass is never made usable or reachable again, and the store
//! is the arbiter of that: the erase's own atomic write removes the pass's
//! holder link and keeps an erased marker with the pass (no retention
//! sweep, restart or replay removes it); a reactivation, a re-issue or a
//! new holder link of an erased pass is a write the store refuses
//! ([`StoreError::Erased`]), on every gateway of a shared store, whatever
//! raced with the erase. The handlers answer that refusal with 409
//! `pass_erased` ([`refusal`]). No lock on this gateway is needed for it:
//! the per-pass lock stripes that used to serialize an erase with those
//! changes here (and only here) are gone.

use super::failures::store_error;
use super::params::PathParam;
use super::reason::{ReasonBody, ReasonJson};
use super::schema::PassIdParam;
use crate::operator::api::{ApiError, ErrorBody, PassView};
use crate::operator::state::{AppState, Who};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use scangate_core::{AdminAction, PassId};
use scangate_storage::StoreError;

/// 409 `pass_erased`: the store refused to change erased pass `id`;
/// `what` (e.g. "reactivated") names the change refused.
pub fn refusal(id: PassId, what: &str) -> ApiError {
    metrics::counter!("scangate_erased_pass_changes_refused_total").increment(1);
    ApiError::new(
        StatusCode::CONFLICT,
        "pass_erased",
        format!(
            "pass {id} was erased (its holder's personal data destroyed), and an erase is final: \
             it cannot be {what}; issue a new pass instead"
        ),
    )
}

/// A store error as the answer to `what` of pass `id`: [`refusal`] when the
/// pass is erased, [`store_error`] otherwise.
pub fn change_error(id: PassId, what: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::Erased(_) => refusal(id, what),
        e => store_error(e),
    }
}

/// `DELETE /v1/passes/{id}`, with `{"reason": ...}`: the pass's display
/// text and card fields become unrecoverable (its key is destroyed; see
/// `docs/operations.md`, "Erasure"), the pass is revoked, its holder link
/// removed, and the act is kept in the audit log and the operator journal.
/// The pass id, its scans and its audit stay. Erasing an erased pass
/// succeeds and changes nothing more. An erase is final. Needs the
/// operator role or above.
#[utoipa::path(
    delete,
    path = "/v1/passes/{id}",
    operation_id = "erase_pass",
    tag = "passes",
    params(PassIdParam),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Erased and revoked (operator role or above), its holder link removed; the pass as it is now, without display or card. Final: it can never be reactivated, re-issued or linked again", body = PassView),
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
) -> Result<Json<PassView>, ApiError> {
    // The store removes the holder link in the erase's own write.
    super::passes::change(s, who.0.name, id, AdminAction::Erase, body).await
}
