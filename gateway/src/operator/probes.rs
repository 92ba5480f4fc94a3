//! The plane's unauthenticated probes: `GET /healthz` (the process is up),
//! `GET /readyz` (scans are accepted) and `GET /metrics` (Prometheus text,
//! with the store and disk gauges sampled at each scrape).

use crate::operator::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use metrics::gauge;
use std::sync::atomic::Ordering;

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
    let mut text = state.metrics.render();
    // Zone gauges follow the definitions as they stand (see `gauges_text`).
    text.push_str(&crate::operator::admin::occupancy::gauges_text(&state));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
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
