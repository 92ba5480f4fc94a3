//! The operator HTTP plane: the admin API under `/v1/` ([`crate::operator::admin`]:
//! bearer tokens with roles; its OpenAPI document at `/v1/openapi.json`),
//! `/metrics`, `/healthz`, `/readyz`. Every
//! handler runs under a timeout and every body under a size limit; every
//! connection under the bounds of [`listener`] (cap, header-read and idle
//! timeouts), over a router built once ([`idle`]: what counts as activity).

pub mod idle;
pub mod listener;

use crate::datadir::DataDir;
use crate::operator::api::ApiError;
use crate::operator::devices::Revocations;
use crate::operator::tokens::TokenBook;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::gauge;
use metrics_exporter_prometheus::PrometheusHandle;
use scangate_actors::Registry;
use scangate_core::token::Keyring;
use scangate_storage::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;

/// Largest request body, bytes, unless a route says otherwise (issue:
/// [`crate::operator::admin::ISSUE_BODY_MAX_BYTES`], import:
/// [`crate::operator::admin::IMPORT_BODY_MAX_BYTES`]). Status changes and single issue
/// specs are a few hundred bytes.
pub const BODY_MAX_BYTES: usize = 64 * 1024;
/// Every request is answered within this, or gets 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most scans or audit records one list request returns.
pub const LIST_MAX: usize = scangate_storage::PAGE_MAX;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Per-pass actors (admin changes are ordered with scans through them).
    pub registry: Registry,
    /// The store, for issue and lists.
    pub store: Arc<dyn Store>,
    /// Signs tokens for issued passes. Shared, not copied: a keyring holds a
    /// keyed MAC for each of its 256 key ids (~40 KiB), and the router's
    /// every route holds a copy of this state.
    pub keyring: Arc<Keyring>,
    /// The admin API tokens (bootstrap plus `admin-tokens.json`).
    pub tokens: Arc<TokenBook>,
    /// Revoked scanner devices.
    pub devices: Arc<Revocations>,
    /// The data directory (PKI listing, revoked devices).
    pub data: DataDir,
    /// True once scans are accepted; false again while draining.
    pub ready: Arc<AtomicBool>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The live dashboard's aggregate (issued capacity per event).
    pub live: Arc<crate::edge::live::Live>,
    /// The store's state and the data dir's room.
    pub health: Arc<crate::operator::health::HealthProbe>,
}

/// The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::operator::admin::router(state.clone()))
        .route(
            crate::operator::admin::openapi::PATH,
            get(crate::operator::admin::openapi::serve),
        )
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

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")),
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: whether scans are accepted (not while starting or
/// draining, nor once the store can make nothing more durable).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, description = "`not ready`: starting or draining; or `not ready: the store failed: ...` once the store can make nothing more durable until a restart", body = String, content_type = "text/plain"),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    readiness(state.ready.load(Ordering::Acquire), state.store.failure())
}

/// The gauges read fresh at each scrape: whether the store can still make
/// anything durable, and the room left on the data dir's filesystem (a full
/// disk is what fails the store; alert well before).
fn sample_at_scrape(state: &AppState) {
    let health = state.health.sample();
    let failed = health.store_failure.is_some();
    gauge!("scangate_store_failed").set(if failed { 1.0 } else { 0.0 });
    if let Some(disk) = health.disk {
        gauge!("scangate_data_dir_available_bytes").set(disk.available_bytes as f64);
        gauge!("scangate_data_dir_size_bytes").set(disk.size_bytes as f64);
    }
}

/// The answer of `/readyz`. A failed store outranks everything: the gateway
/// would answer every first scan with an error, so scanners and load
/// balancers must go elsewhere until it is restarted.
fn readiness(accepting: bool, store_failure: Option<String>) -> (StatusCode, String) {
    match (accepting, store_failure) {
        (_, Some(why)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the store failed: {why}\n"),
        ),
        (true, None) => (StatusCode::OK, "ready\n".into()),
        (false, None) => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".into()),
    }
}

/// `GET /metrics`: Prometheus text format (no token; keep the address private).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses((status = 200, description = "Prometheus text exposition format", body = String,
        content_type = "text/plain; version=0.0.4")),
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    sample_at_scrape(&state);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_turns_away_scanners_while_starting_draining_or_failed() {
        assert_eq!(readiness(true, None), (StatusCode::OK, "ready\n".into()));
        assert_eq!(
            readiness(false, None),
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".into())
        );
        let why = "cannot write the redo log: No space left on device".to_owned();
        for accepting in [true, false] {
            let (status, body) = readiness(accepting, Some(why.clone()));
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(body, format!("not ready: the store failed: {why}\n"));
        }
    }
}
