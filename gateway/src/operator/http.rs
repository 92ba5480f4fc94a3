//! The operator HTTP plane: the admin API under `/v1/` ([`crate::operator::admin`]:
//! bearer tokens with roles; its OpenAPI document at `/v1/openapi.json`),
//! `/metrics`, `/healthz`, `/readyz` ([`crate::operator::probes`]), assembled
//! here from the handlers' modules (which never import this one). Every
//! handler runs under a timeout and every body under a size limit; every
//! connection under the bounds of [`listener`] (cap, header-read and idle
//! timeouts), over a router built once ([`idle`]: what counts as activity).

pub mod idle;
pub mod listener;
pub mod tls;

use crate::operator::admin::{self, openapi};
use crate::operator::api::ApiError;
use crate::operator::probes::{healthz, metrics, readyz};
use crate::operator::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;

/// Largest request body, bytes, unless a route says otherwise (issue:
/// [`crate::operator::admin::routes::ISSUE_BODY_MAX_BYTES`], import:
/// [`crate::operator::admin::routes::IMPORT_BODY_MAX_BYTES`]). Status changes and single issue
/// specs are a few hundred bytes.
pub const BODY_MAX_BYTES: usize = 64 * 1024;
/// Every request is answered within this, or gets 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most scans or audit records one list request returns.
pub const LIST_MAX: usize = scangate_storage::PAGE_MAX;

/// The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(admin::router::router(state.clone()))
        .route(openapi::PATH, get(openapi::serve))
        .route("/healthz", get(healthz))
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
