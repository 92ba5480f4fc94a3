//! The public listener (`scangate serve --public-listen ADDR`): what phones
//! reach, on an address of its own, so that the operator plane (admin API,
//! dashboard, `/metrics`) can stay on 127.0.0.1.
//!
//! It serves exactly [`PUBLIC_PATHS`]: the holder pages (`/h/{secret}`, its
//! code endpoint and assets), the guard page (`/scanner` and its assets),
//! the web scanners' transport (`POST /v1/scan`, `POST /v1/scanner/enroll`)
//! and `/healthz` (the guard page's offline indicator). Every other path is
//! the one generic 404; the admin API, `/metrics`, `/readyz` and the
//! dashboard are never routed here.
//!
//! Bounds: its own connection cap, header-read and idle timeouts
//! ([`crate::config::PublicListener::limits`], served by the operator
//! plane's accept loop, [`crate::operator::http::listener`]); every request
//! answered within [`REQUEST_TIMEOUT`]; bodies at most [`BODY_MAX_BYTES`]
//! (the scan transport keeps its own, smaller
//! [`super::SCAN_BODY_MAX_BYTES`]). It always speaks TLS
//! ([`crate::config::PublicTls`]), plain HTTP to loopback clients only.

use crate::config::{HttpLimits, PublicListener, PublicTls};
use crate::datadir::DataDir;
use crate::operator::api::ApiError;
use crate::operator::http::{BODY_MAX_BYTES, REQUEST_TIMEOUT, tls};
use crate::operator::probes::healthz;
use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

/// Every path the public listener answers (axum spelling), for the docs
/// and the test that walks the admin routes against it.
pub const PUBLIC_PATHS: &[&str] = &[
    "/h/{secret}",
    "/h/{secret}/code",
    "/holder.css",
    "/holder.js",
    "/scanner",
    "/scanner.css",
    "/scanner.js",
    "/scanner/jsQR.js",
    "/v1/scan",
    "/v1/scanner/enroll",
    "/healthz",
];

/// The public listener's app: `phones` (the holder, guard page and scan
/// transport routes, the same routers the operator plane serves, so they
/// share their rate limits) and `/healthz`; anything else 404.
pub fn router(phones: Router) -> Router {
    phones
        .route("/healthz", get(healthz))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(BODY_MAX_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
}

/// The public listener's TCP socket (`None` without `--public-listen`),
/// once its limits are checked.
pub async fn bind(public: Option<&PublicListener>) -> anyhow::Result<Option<TcpListener>> {
    let Some(public) = public else {
        return Ok(None);
    };
    crate::operator::http::listener::check(&public.limits)?;
    let listener = TcpListener::bind(public.addr)
        .await
        .with_context(|| format!("cannot listen for phones on {}", public.addr))?;
    Ok(Some(listener))
}

/// The public listener's TLS identity and bounds, as the accept loop takes
/// them (`None` without `--public-listen`).
pub fn identity(
    public: Option<&PublicListener>,
    data: &DataDir,
) -> anyhow::Result<Option<(Arc<rustls::ServerConfig>, HttpLimits)>> {
    public
        .map(|p| Ok((tls_config(p, data)?, p.limits.clone())))
        .transpose()
}

/// The public listener's TLS identity: the gateway's certificate from the
/// data dir's PKI, or the venue's files.
pub fn tls_config(
    public: &PublicListener,
    data: &DataDir,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    match &public.tls {
        PublicTls::Gateway => tls::server_config(&scangate_certs::Pki::open(&data.pki())),
        PublicTls::Files { cert, key } => tls::from_files(cert, key),
    }
}
