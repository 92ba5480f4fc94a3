//! The guard scanner page at `/scanner`: one HTML page, its CSS and JS and
//! the vendored QR decoder (jsQR 1.4.0, Apache-2.0: `assets/vendor/jsqr/`)
//! embedded in the binary (no CDN: venues often have no internet). The page
//! scans through the web transport ([`crate::edge::web`]); like the
//! dashboard it needs no token to load, and holds no data of its own.
//!
//! Routes: `/scanner` (the page), `/scanner.css`, `/scanner.js`,
//! `/scanner/jsQR.js`.

use crate::operator::http::REQUEST_TIMEOUT;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::timeout::TimeoutLayer;

const PAGE_HTML: &str = include_str!("../../../assets/scanner.html");
const PAGE_CSS: &str = include_str!("../../../assets/scanner.css");
const PAGE_JS: &str = include_str!("../../../assets/scanner.js");
const JSQR_JS: &str = include_str!("../../../assets/vendor/jsqr/jsQR.js");
/// Everything comes from this gateway and nothing inline runs; the camera's
/// stream is shown in a `<video>` (`media-src` for its `MediaStream`). The
/// camera itself needs a secure context (https, or http on 127.0.0.1):
/// see `--http-tls`. Only this page may use the camera (`Permissions-Policy`).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; media-src 'self' blob: mediastream:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page's routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/scanner", get(page))
        .route("/scanner.css", get(css))
        .route("/scanner.js", get(js))
        .route("/scanner/jsQR.js", get(jsqr))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::HeaderName::from_static("permissions-policy"),
                "camera=(self)",
            ),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE_HTML)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", PAGE_CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", PAGE_JS)
}

async fn jsqr() -> Response {
    asset("text/javascript; charset=utf-8", JSQR_JS)
}
