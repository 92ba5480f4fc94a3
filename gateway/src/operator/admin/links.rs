//! Holder links of passes (`POST /v1/passes/{id}/link`, `POST
//! /v1/passes/{id}/link/revoke`): made, replaced and revoked through the
//! store, each change journaled (who, which pass; never the secret). A link
//! shows the pass's QR code to whoever holds it, so both need `operator`,
//! as the QR code does.

use super::failures::store_error;
use super::params::PathParam;
use super::schema::PassIdParam;
use crate::operator::api::{ApiError, ErrorBody, rfc3339};
use crate::operator::holder::secret;
use crate::operator::journal::{OperatorAction, OperatorRecord};
use crate::operator::state::{AppState, Who};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use scangate_api::{HolderLinkRevoked, HolderLinkView};

/// `POST /v1/passes/{id}/link`: a new holder link, replacing any earlier one.
#[utoipa::path(
    post,
    path = "/v1/passes/{id}/link",
    operation_id = "link_pass",
    tag = "passes",
    params(PassIdParam),
    responses(
        (status = 201, description = "The new link: its secret and path are shown this once \
            (the gateway keeps only a hash); any earlier link of the pass stops working",
            body = HolderLinkView),
        (status = 400, description = "Not a pass id", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
        (status = 409, description = "The pass was erased, and an erase is final (`pass_erased`)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn link(
    State(state): State<AppState>,
    who: Who,
    PathParam(id): PathParam,
) -> Result<(StatusCode, Json<HolderLinkView>), ApiError> {
    let pass = super::passes::load(&state, &id).await?;
    let now = crate::now_ms();
    let (secret, link) = secret::mint(pass.id, now);
    // Conditional in the store: an erased pass (erased before, or by an
    // erase racing with this call on any gateway) gets no link.
    state
        .store
        .put_holder_link(link)
        .await
        .map_err(|e| super::erase::change_error(pass.id, "given a holder link", e))?;
    let entry = OperatorRecord::new(
        now,
        who.0.name,
        OperatorAction::PassLink,
        pass.id.to_string(),
    )
    .detail("a new holder link; any earlier one revoked".to_owned());
    super::operator::record(
        &state,
        entry,
        &format!("pass {} got a holder link", pass.id),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(HolderLinkView {
            pass_id: pass.id.to_string(),
            path: format!("/h/{secret}"),
            secret,
            created: rfc3339(now),
        }),
    ))
}

/// `POST /v1/passes/{id}/link/revoke`: the pass's holder link stops working.
/// Idempotent: a pass without a link answers `revoked: false` and nothing
/// is journaled (nothing changed).
#[utoipa::path(
    post,
    path = "/v1/passes/{id}/link/revoke",
    operation_id = "unlink_pass",
    tag = "passes",
    params(PassIdParam),
    responses(
        (status = 200, description = "The pass has no holder link now (`revoked`: whether it \
            had one, which answers 404 from now on)", body = HolderLinkRevoked),
        (status = 400, description = "Not a pass id", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn unlink(
    State(state): State<AppState>,
    who: Who,
    PathParam(id): PathParam,
) -> Result<Json<HolderLinkRevoked>, ApiError> {
    let pass = super::passes::load(&state, &id).await?;
    let had = state
        .store
        .remove_holder_link(pass.id)
        .await
        .map_err(store_error)?;
    if had {
        let entry = OperatorRecord::new(
            crate::now_ms(),
            who.0.name,
            OperatorAction::PassUnlink,
            pass.id.to_string(),
        );
        let done = format!("pass {}'s holder link was revoked", pass.id);
        super::operator::record(&state, entry, &done).await?;
    }
    Ok(Json(HolderLinkRevoked {
        pass_id: pass.id.to_string(),
        revoked: had,
    }))
}
