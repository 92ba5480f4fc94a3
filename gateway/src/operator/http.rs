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

/// `router` with every request answered within `timeout`, or 503: the
/// plane's rule for every route ([`REQUEST_TIMEOUT`]). Routers merged into
/// the plane after [`router`]'s own layers (the phones' routes, also served
/// by the public listener) carry it themselves.
pub fn timed<S>(router: Router<S>, timeout: Duration) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        timeout,
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::time::Instant;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_handler_that_never_answers_gets_503_at_the_timeout() {
        let timeout = Duration::from_millis(100);
        let never = || std::future::pending::<&'static str>();
        let app: Router = timed(Router::new().route("/stuck", get(never)), timeout);
        let asked = Instant::now();
        let request = Request::get("/stuck").body(Body::empty()).expect("request");
        let answer = app.oneshot(request).await.expect("an answer");
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(asked.elapsed() >= timeout, "answered before the timeout");
    }
}
