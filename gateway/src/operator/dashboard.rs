//! The live dashboard at `/`: one HTML page, its CSS and JS embedded in the
//! binary (no CDN, no build step: venues often have no internet), fed by
//! server-sent events from [`crate::edge::live`].
//!
//! Routes: `/` (the page), `/dashboard.css`, `/dashboard.js`,
//! `/live/events` (SSE, one `snapshot` event per second) and `/live/snapshot`
//! (the current snapshot as JSON). Like `/metrics` they need no token: they
//! show counts, gate names and 8-hex-digit pass prefixes, never a token or
//! personal data, and the HTTP plane listens on 127.0.0.1 unless asked.

use crate::edge::live::Live;
use crate::operator::http::REQUEST_TIMEOUT;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower_http::timeout::TimeoutLayer;

/// Live streams open at once. Each holds a connection and a task; a control
/// room has a few screens and phones, so 64 is plenty, and a runaway client
/// (a tab reopened in a loop) cannot exhaust the HTTP plane.
pub const LIVE_CLIENTS_MAX: usize = 64;
/// Browsers reconnect an `EventSource` after this long if the stream drops.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);
/// Comment lines sent when nothing else is, so proxies keep the stream open.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);

const INDEX_HTML: &str = include_str!("../../assets/dashboard.html");
const DASHBOARD_CSS: &str = include_str!("../../assets/dashboard.css");
const DASHBOARD_JS: &str = include_str!("../../assets/dashboard.js");
/// Everything the page loads comes from this gateway; nothing inline runs.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

#[derive(Clone)]
struct DashboardState {
    live: Arc<Live>,
    feed: watch::Receiver<Arc<str>>,
    clients: Arc<Semaphore>,
}

/// The dashboard's routes, over the aggregate `live` and its published `feed`
/// (see [`Live::publish`]).
pub fn router(live: Arc<Live>, feed: watch::Receiver<Arc<str>>) -> Router {
    let state = DashboardState {
        live,
        feed,
        clients: Arc::new(Semaphore::new(LIVE_CLIENTS_MAX)),
    };
    // The page and the snapshot answer under the plane's request timeout; the
    // stream's body is long-lived by design (the timeout covers its headers).
    Router::new()
        .route("/", get(index))
        .route("/dashboard.css", get(css))
        .route("/dashboard.js", get(js))
        .route("/live/snapshot", get(snapshot))
        .route("/live/events", get(events))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", DASHBOARD_CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", DASHBOARD_JS)
}

async fn snapshot(State(state): State<DashboardState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.live.json(crate::now_ms()).to_string(),
    )
        .into_response()
}

async fn events(State(state): State<DashboardState>) -> Response {
    let Ok(permit) = state.clients.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "10")],
            format!("too many live dashboards open (at most {LIVE_CLIENTS_MAX})\n"),
        )
            .into_response();
    };
    let mut feed = state.feed.clone();
    // The current snapshot goes out at once, then one per publish.
    feed.mark_changed();
    Sse::new(stream(feed, permit))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE_EVERY))
        .into_response()
}

/// One `snapshot` event per published snapshot. Ends when the publisher stops
/// (shutdown), which lets the HTTP plane drain; the permit is held until then.
fn stream(
    feed: watch::Receiver<Arc<str>>,
    permit: OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold((feed, permit), |(mut feed, permit)| async move {
        feed.changed().await.ok()?;
        let data = feed.borrow_and_update().clone();
        let event = Event::default()
            .event("snapshot")
            .retry(RECONNECT_AFTER)
            .data(&*data);
        Some((Ok(event), (feed, permit)))
    })
}
