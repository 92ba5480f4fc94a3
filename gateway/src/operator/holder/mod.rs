//! The holder page: `/h/{secret}`, a pass's QR code and what it means, for
//! the person who holds it, with no operator token. Every asset is embedded
//! in the binary (venues often have no internet).
//!
//! Routes: `/h/{secret}` (the page, server-rendered, its QR code inline),
//! `/h/{secret}/code` (a freshly drawn code as JSON: what a dynamic pass's
//! page fetches before its current code expires), `/holder.css` and
//! `/holder.js` (static). A secret ([`secret`]) is checked before anything
//! else is read; unknown, revoked, malformed and guessed secrets all get one
//! generic 404. Each client address may make [`crate::config::HttpLimits::holder_rate`]
//! requests of `/h/...` ([`crate::operator::throttle`]); beyond it 429 with
//! `Retry-After`. Answers are `no-store` and `no-referrer` (the secret is in
//! the URL), and nothing is logged with the secret or the token.

pub mod page;
pub mod secret;

use crate::operator::admin::qr;
use crate::operator::api::{ApiError, signed_token};
use crate::operator::http;
use crate::operator::state::AppState;
use crate::operator::throttle::{Rate, Throttle, retry_after_s};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use scangate_core::Pass;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

const HOLDER_CSS: &str = include_str!("../../../assets/holder.css");
const HOLDER_JS: &str = include_str!("../../../assets/holder.js");
/// Everything the page loads comes from this gateway; nothing inline runs.
/// The QR code is inline SVG markup (no script), styled by `holder.css`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";
/// The one answer for every secret that opens nothing.
const NOT_FOUND: &str = "no such holder link";

#[derive(Clone)]
struct HolderState {
    app: AppState,
    views: Arc<Throttle<IpAddr>>,
}

/// The holder routes over the gateway's state, each address held to `rate`
/// (at most `addresses_max` tracked), each request answered within the
/// plane's [`http::REQUEST_TIMEOUT`] (503 past it).
pub fn router(app: AppState, rate: Rate, addresses_max: u64) -> Router {
    let state = HolderState {
        app,
        views: Arc::new(Throttle::new(rate, addresses_max)),
    };
    let routes = Router::new()
        .route("/h/{secret}", get(view))
        .route("/h/{secret}/code", get(code))
        .route("/holder.css", get(css))
        .route("/holder.js", get(js));
    // Merged into the operator plane after its own timeout layer: bounded
    // here, like the public listener's every request.
    http::timed(routes, http::REQUEST_TIMEOUT).with_state(state)
}

/// Why a holder request is not answered with its page or code.
enum Refused {
    /// The address is over its rate: 429, retry after this long.
    Limited(std::time::Duration),
    /// The generic 404 of every secret that opens nothing.
    NotFound,
    /// The store, the pass's actor or the QR encoder failed.
    Failed(ApiError),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (outcome, mut r) = match self {
            Refused::Limited(wait) => {
                let mut r = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many holder page requests from this address; try again shortly",
                )
                .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s(wait)));
                ("rate_limited", r)
            }
            Refused::NotFound => ("not_found", ApiError::not_found(NOT_FOUND).into_response()),
            Refused::Failed(e) => ("failed", e.into_response()),
        };
        metrics::counter!("scangate_holder_requests_total", "outcome" => outcome).increment(1);
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// Over its rate, `peer`'s address is refused.
fn admit(state: &HolderState, peer: SocketAddr) -> Result<(), Refused> {
    state.views.check(peer.ip()).map_err(Refused::Limited)
}

/// The pass `secret` opens.
async fn open(state: &HolderState, secret: &str) -> Result<Pass, Refused> {
    match secret::resolve(&state.app, secret).await {
        Ok(Some(pass)) => {
            metrics::counter!("scangate_holder_requests_total", "outcome" => "shown").increment(1);
            Ok(pass)
        }
        Ok(None) => Err(Refused::NotFound),
        Err(e) => Err(Refused::Failed(ApiError::unavailable(e.to_string()))),
    }
}

/// A fresh code for `pass`: for a dynamic pass a newly minted short-lived token.
fn draw(state: &HolderState, pass: &Pass) -> Result<page::Code, Refused> {
    let token = signed_token(pass, &state.app.keyring);
    let code = qr::encode(&token).map_err(Refused::Failed)?;
    let svg = qr::svg(&code);
    // Inline in HTML: the drawing without its XML declaration.
    let svg = svg
        .find("<svg")
        .map_or(svg.clone(), |at| svg[at..].to_owned());
    // The token was just signed, so it verifies; its end is the code's.
    let expires_at_ms = state
        .app
        .keyring
        .verify(&token)
        .ok()
        .and_then(|claims| claims.not_after_ms);
    Ok(page::Code { svg, expires_at_ms })
}

/// Headers every `/h/` answer carries: not cached, not indexed, no referrer
/// (the secret is in the URL), the page's own assets only.
fn private(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}

async fn view(
    State(state): State<HolderState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(secret): Path<String>,
) -> Response {
    let shown = async {
        admit(&state, peer)?;
        let pass = open(&state, &secret).await?;
        let code = draw(&state, &pass)?;
        let html = page::render(&pass, &code, crate::now_ms());
        Ok::<_, Refused>(
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        )
    };
    private(shown.await.unwrap_or_else(IntoResponse::into_response))
}

/// `GET /h/{secret}/code`: `{"svg", "expires_at_ms", "now_ms"}`.
async fn code(
    State(state): State<HolderState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(secret): Path<String>,
) -> Response {
    let drawn = async {
        admit(&state, peer)?;
        let pass = open(&state, &secret).await?;
        let code = draw(&state, &pass)?;
        Ok::<_, Refused>(
            Json(serde_json::json!({
                "svg": code.svg,
                "expires_at_ms": code.expires_at_ms,
                "now_ms": crate::now_ms(),
            }))
            .into_response(),
        )
    };
    private(drawn.await.unwrap_or_else(IntoResponse::into_response))
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        HOLDER_CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        HOLDER_JS,
    )
}
