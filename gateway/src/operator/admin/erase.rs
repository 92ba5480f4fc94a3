//! `DELETE /v1/passes/{id}`: erases a pass's personal data for good and
//! revokes it, in one act, ordered with its scans through its actor; and
//! the rule that makes an erase final.
//!
//! An erased pass is never made usable or reachable again: reactivating
//! it, re-issuing it or giving it a holder link is refused with 409
//! `pass_erased` ([`refuse_if_erased`]), and the erase itself removes its
//! holder link. A pass is erased when it is revoked and the change that
//! revoked it (its audit record at `status_since_ms`) is an erase: no
//! other change applies to an erased pass, so that record stays the last
//! status change. Erasures and the changes they make final are serialized
//! per pass ([`ErasureLocks`]), so a reactivation cannot slip in between
//! its check and an erase on this gateway.

use super::failures::store_error;
use super::params::PathParam;
use super::reason::{ReasonBody, ReasonJson};
use super::schema::PassIdParam;
use crate::operator::api::{ApiError, ErrorBody, PassView};
use crate::operator::state::{AppState, Who};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use scangate_core::{AdminAction, Pass, PassId, Status};
use scangate_storage::AuditQuery;
use tokio::sync::{Mutex, MutexGuard};

/// Locks serializing an erase with the checks of [`refuse_if_erased`],
/// by pass id. 64 stripes: admin changes are rare next to scans, so
/// unrelated passes sharing a stripe wait microseconds at most, and the
/// set costs a few KiB whatever the number of passes.
pub const ERASURE_LOCK_STRIPES: usize = 64;
/// Audit records read at an erased pass's last status change time: an
/// erase and at most a few refused-then-retried changes share a
/// millisecond; the read never grows with the pass's history.
pub const ERASE_LOOKUP_MAX: usize = 8;

/// A fixed set of locks; a pass takes the one its id hashes to.
pub struct ErasureLocks {
    stripes: Box<[Mutex<()>]>,
}

impl Default for ErasureLocks {
    fn default() -> Self {
        ErasureLocks {
            stripes: (0..ERASURE_LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl ErasureLocks {
    /// Waits for `id`'s stripe. Pass ids are random, so their first byte
    /// spreads them evenly.
    pub async fn lock(&self, id: PassId) -> MutexGuard<'_, ()> {
        let stripe = usize::from(id.0[0]) % self.stripes.len();
        self.stripes[stripe].lock().await
    }
}

/// Whether `pass` was erased: revoked, by an erase.
pub async fn erased(state: &AppState, pass: &Pass) -> Result<bool, ApiError> {
    let (Status::Revoked, Some(since)) = (pass.status, pass.status_since_ms) else {
        return Ok(false);
    };
    let query = AuditQuery {
        pass: Some(pass.id),
        from_ms: Some(since),
        until_ms: Some(since.saturating_add(1)),
        after: None,
        limit: ERASE_LOOKUP_MAX,
    };
    let page = state.store.query_audit(query).await.map_err(store_error)?;
    Ok(page.items.iter().any(|a| a.action == AdminAction::Erase))
}

/// 409 `pass_erased` when `pass` was erased: `what` (e.g. "reactivated")
/// names the change refused.
pub async fn refuse_if_erased(state: &AppState, pass: &Pass, what: &str) -> Result<(), ApiError> {
    if erased(state, pass).await? {
        metrics::counter!("scangate_erased_pass_changes_refused_total").increment(1);
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "pass_erased",
            format!(
                "pass {} was erased (its holder's personal data destroyed), and an erase is final: \
                 it cannot be {what}; issue a new pass instead",
                pass.id
            ),
        ));
    }
    Ok(())
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
    let pass_id = super::params::parse_id(&id)?;
    let _serial = s.erasures.lock(pass_id).await;
    let erased = super::passes::change(s.clone(), who.0.name, id, AdminAction::Erase, body).await?;
    s.store.remove_holder_link(pass_id).await.map_err(|e| {
        let mut api = store_error(e);
        api.message = format!(
            "pass {pass_id} was erased, but its holder link could not be removed ({}); \
                 erase it again to remove it",
            api.message
        );
        api
    })?;
    Ok(erased)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn a_pass_waits_for_its_own_stripe_only() {
        let locks = ErasureLocks::default();
        let pass = PassId([7; 16]);
        let same_stripe = PassId([7 + ERASURE_LOCK_STRIPES as u8; 16]);
        let other = PassId([8; 16]);
        let held = locks.lock(pass).await;
        assert!(
            locks.lock(pass).now_or_never().is_none(),
            "the same pass waits"
        );
        assert!(
            locks.lock(same_stripe).now_or_never().is_none(),
            "its stripe waits"
        );
        assert!(
            locks.lock(other).now_or_never().is_some(),
            "another stripe does not"
        );
        drop(held);
        assert!(
            locks.lock(pass).now_or_never().is_some(),
            "free once let go"
        );
    }
}
