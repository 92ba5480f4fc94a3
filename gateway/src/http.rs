//! The operator HTTP plane: the admin API under `/v1/` (bearer token),
//! `/metrics`, `/healthz`, `/readyz`. Every handler runs under a timeout and
//! every body under a size limit.

use crate::api::{self, ApiError, IssueRequest, PassView, ScanView};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use scangate_actors::{AdminChange, AdminError, Registry};
use scangate_core::pass::{REASON_MAX_BYTES, check_len};
use scangate_core::token::Keyring;
use scangate_core::{AdminAction, AuditRecord, PassId};
use scangate_storage::{Store, StoreError};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tower_http::timeout::TimeoutLayer;

/// Largest request body, bytes. An issue request of 10,000 passes is a few
/// hundred bytes; bulk import (a later issue) gets its own limit.
pub const BODY_MAX_BYTES: usize = 64 * 1024;
/// Every request is answered within this, or gets 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most scans or audit records one list request returns.
pub const LIST_MAX: usize = 1_000;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Per-pass actors (admin changes are ordered with scans through them).
    pub registry: Registry,
    /// The store, for issue and lists.
    pub store: Arc<dyn Store>,
    /// Signs tokens for issued passes.
    pub keyring: Keyring,
    /// The admin bearer token.
    pub admin_token: Arc<str>,
    /// True once scans are accepted; false again while draining.
    pub ready: Arc<AtomicBool>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

/// The router.
pub fn router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/v1/passes", post(issue))
        .route("/v1/passes/{id}", get(show))
        .route("/v1/passes/{id}/scans", get(scans))
        .route("/v1/passes/{id}/audit", get(audit))
        .route("/v1/passes/{id}/{action}", post(change))
        .layer(middleware::from_fn_with_state(state.clone(), require_admin));
    Router::new()
        .merge(admin)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(BODY_MAX_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if bool::from(token.as_bytes().ct_eq(state.admin_token.as_bytes())) => {
            next.run(req).await
        }
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin token is not valid",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing `Authorization: Bearer <admin token>`",
        )
        .into_response(),
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

fn parse_id(id: &str) -> Result<PassId, ApiError> {
    id.parse()
        .map_err(|e| ApiError::invalid("id", format!("{e}")))
}

async fn issue(
    State(state): State<AppState>,
    body: Result<Json<IssueRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Vec<PassView>>), ApiError> {
    let Json(req) = body.map_err(ApiError::from_json)?;
    let passes = api::build_passes(&req, crate::now_ms())?;
    state
        .store
        .insert_passes(passes.clone())
        .await
        .map_err(ApiError::store)?;
    let views = passes
        .iter()
        .map(|p| PassView::new(p, &state.keyring))
        .collect();
    Ok((StatusCode::CREATED, Json(views)))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PassView>, ApiError> {
    let id = parse_id(&id)?;
    match state.registry.pass(id).await {
        Ok(Some(pass)) => Ok(Json(PassView::new(&pass, &state.keyring))),
        Ok(None) => Err(ApiError::not_found(format!("no pass {id}"))),
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

fn list_limit(q: &ListQuery) -> Result<usize, ApiError> {
    match q.limit {
        None => Ok(LIST_MAX),
        Some(n) if (1..=LIST_MAX).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {LIST_MAX}"),
        )),
    }
}

async fn scans(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<ScanView>>, ApiError> {
    let id = parse_id(&id)?;
    let limit = list_limit(&q)?;
    let records = state
        .store
        .list_scans(id, limit)
        .await
        .map_err(ApiError::store)?;
    Ok(Json(records.iter().map(ScanView::from).collect()))
}

async fn audit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    let id = parse_id(&id)?;
    let limit = list_limit(&q)?;
    let records = state
        .store
        .list_audit(id, limit)
        .await
        .map_err(ApiError::store)?;
    Ok(Json(records))
}

#[derive(Deserialize)]
struct ChangeBody {
    reason: String,
}

async fn change(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    body: Result<Json<ChangeBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<PassView>, ApiError> {
    let id = parse_id(&id)?;
    let action = match action.as_str() {
        "revoke" => AdminAction::Revoke,
        "suspend" => AdminAction::Suspend,
        "reactivate" => AdminAction::Reactivate,
        _ => {
            return Err(ApiError::not_found(
                "no such endpoint: expected revoke, suspend or reactivate",
            ));
        }
    };
    let Json(body) = body.map_err(ApiError::from_json)?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::invalid("reason", "a reason is required"));
    }
    check_len("reason", &body.reason, REASON_MAX_BYTES)
        .map_err(|e| ApiError::invalid("reason", e.to_string()))?;
    let change = AdminChange {
        action,
        reason: body.reason,
        who: "admin".to_owned(),
    };
    match state.registry.admin(id, change).await {
        Ok(pass) => Ok(Json(PassView::new(&pass, &state.keyring))),
        Err(AdminError::NotFound) => Err(ApiError::not_found(format!("no pass {id}"))),
        Err(AdminError::Transition(e)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            e.to_string(),
        )),
        Err(AdminError::Store(e)) => Err(ApiError::store(e)),
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}

impl ApiError {
    fn store(e: StoreError) -> Self {
        match e {
            StoreError::PassExists(id) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("pass {id} already exists"),
            ),
            StoreError::NotFound(id) => ApiError::not_found(format!("no pass {id}")),
            other => ApiError::unavailable(other.to_string()),
        }
    }
}
