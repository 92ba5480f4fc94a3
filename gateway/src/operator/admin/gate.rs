//! At the gate: a guard's override (`POST /v1/passes/{id}/admit`), through
//! the pass's actor and the same durable commit as a scan.
//!
//! What an override may not do: admit a revoked or suspended pass (409; only
//! an explicit reactivate lifts those, and an override never changes a
//! status), or stand in for a scanner (it carries no token, so it is never
//! answered from a scan id a scanner sent). Everything else a scan would be
//! denied for (`used_up`, `expired`, `not_yet_valid`, `wrong_gate`,
//! `superseded`) a guard may override; the record keeps what was overridden.

use super::failures::{admin_error, store_error};
use super::params::{PathParam, parse_id};
use super::reason::{JsonObject, ReasonJson, check_reason};
use super::schema::PassIdParam;
use crate::operator::api::{ApiError, ErrorBody, ScanView};
use crate::operator::journal::{OperatorAction, OperatorRecord};
use crate::operator::state::{AppState, Who};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use scangate_actors::AdmitOrder;
use scangate_core::{Decision, Reason, ScanId};
use serde::Deserialize;
use utoipa::ToSchema;

/// The body of `POST /v1/passes/{id}/admit`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmitBody {
    /// The gate the guard stands at: a gate name, 1 to 64 bytes of
    /// letters, digits, ASCII punctuation and inner spaces (other
    /// characters are refused 400 naming `gate`).
    #[schema(value_type = scangate_api::GateName)]
    pub gate: String,
    /// Why (kept on the scan record, in the audit log and the operator
    /// journal): 1 to 256 bytes, not only white space.
    #[schema(min_length = 1, max_length = 256, pattern = "[^\\t\\n\\u000b\\f\\r ]")]
    pub reason: String,
}

/// Reads and checks an admit body: a JSON object with a gate name and a
/// reason, each within its bound.
fn admit_body(body: ReasonJson) -> Result<AdmitBody, ApiError> {
    let Json(object): Json<JsonObject> = body.map_err(crate::operator::api::from_rejection)?;
    let body: AdmitBody = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| ApiError::invalid("body", e.to_string()))?;
    check_reason(&body.reason)?;
    Ok(body)
}

/// `POST /v1/passes/{id}/admit` with `{"gate", "reason"}`.
#[utoipa::path(
    post,
    path = "/v1/passes/{id}/admit",
    operation_id = "admit_pass",
    tag = "passes",
    params(PassIdParam),
    request_body = AdmitBody,
    responses(
        (status = 200, description = "Admitted: the override's scan record (counted, marked \
            `guard_override` with who, why and the denial overridden)", body = ScanView),
        (status = 400, description = "Not a pass id, a bad gate name, no reason (or one over \
            256 bytes), or not the JSON body described", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
        (status = 409, description = "The pass is revoked or suspended: an override never lifts \
            those (reactivate it first)", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn admit(
    State(state): State<AppState>,
    who: Who,
    PathParam(id): PathParam,
    body: ReasonJson,
) -> Result<Json<ScanView>, ApiError> {
    let id = parse_id(&id)?;
    let AdmitBody { gate, reason } = admit_body(body)?;
    let now = crate::now_ms();
    let scan_id = ScanId::new(format!(
        "admit:{}",
        ScanId::from_random(crate::secret::random_bytes())
    ))
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let order = AdmitOrder {
        scan_id: scan_id.clone(),
        gate: gate.clone(),
        reason: reason.clone(),
        who: who.0.name.clone(),
        asked_ms: now,
    };
    order
        .check()
        .map_err(|e| ApiError::invalid(e.field(), e.to_string()))?;
    let outcome = state
        .registry
        .admit(id, order)
        .await
        .map_err(|e| admin_error(id, e))?;
    if let Decision::Denied(held) = outcome.decision {
        return Err(refused(held));
    }
    metrics::counter!("scangate_guard_overrides_total").increment(1);
    // A person went in: counted with the scans, under its own reason, at
    // the gate's bounded label.
    state.live.gates().label(&gate).count_override();
    let record = state
        .store
        .find_scan(&scan_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::unavailable("the override was counted but cannot be read back"))?;
    let overrode = record
        .guard_override
        .as_ref()
        .and_then(|o| o.overrode)
        .map_or("nothing (the rules would have granted)", Reason::as_str);
    let entry = OperatorRecord::new(now, who.0.name, OperatorAction::PassAdmit, id.to_string())
        .reason(Some(&reason))
        .detail(format!(
            "at gate {gate}, scan {scan_id}, overrode {overrode}; uses now {}",
            record.uses_after
        ));
    super::operator::record(&state, entry, &format!("pass {id} was admitted")).await?;
    Ok(Json(ScanView::from(&record)))
}

/// An override the pass's state does not allow (recorded as a denial).
fn refused(held: Reason) -> ApiError {
    match held {
        Reason::Busy | Reason::RateLimited => {
            ApiError::unavailable("the gateway is busy; nothing was counted, try again")
        }
        other => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "cannot admit a pass that is {other}: an override never lifts a revoke or a \
                 suspension (reactivate it first)"
            ),
        ),
    }
}
