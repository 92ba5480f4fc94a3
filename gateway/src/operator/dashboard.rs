//! The live dashboard at `/`: one HTML page, its CSS and JS embedded in the
//! binary (no CDN, no build step: venues often have no internet), fed by
//! server-sent events from [`crate::edge::live`] and from the conflicts
//! panel's sweep of the store ([`conflicts`]).
//!
//! Routes: `/` (the page), `/dashboard.css`, `/dashboard.js`,
//! `/live/events` (SSE, one `snapshot` event and one `conflicts` event per
//! second), `/live/snapshot` and `/live/conflicts` (the current ones as
//! JSON), `/live/flags` (the fraud flags panel, [`flags`], polled),
//! `/live/occupancy` (who is inside each zone, [`occupancy`], polled). Like `/metrics` they need no token: they show counts, gate and
//! device names and 8-hex-digit pass prefixes, never a token or personal
//! data, and the HTTP plane listens on 127.0.0.1 unless asked.

pub mod conflicts;
pub mod flags;
pub mod occupancy;

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

/// What the page is fed: the JSON of each, the latest only.
#[derive(Clone)]
pub struct Feeds {
    /// The live aggregate's snapshots ([`Live::publish`]).
    pub snapshot: watch::Receiver<Arc<str>>,
    /// The conflicts panel ([`conflicts::publish`]).
    pub conflicts: watch::Receiver<Arc<str>>,
    /// The fraud flags panel, read at each request (four counters and a
    /// screenful of entries).
    pub flags: Arc<flags::FlagBoard>,
    /// The occupancy panel, read at each request (every defined event's
    /// zones, at most [`occupancy::PANEL_EVENTS_MAX`] events).
    pub occupancy: occupancy::ZoneBoard,
}

#[derive(Clone)]
struct DashboardState {
    live: Arc<Live>,
    feeds: Feeds,
    clients: Arc<Semaphore>,
}

/// The dashboard's routes, over the aggregate `live` and the published `feeds`.
pub fn router(live: Arc<Live>, feeds: Feeds) -> Router {
    let state = DashboardState {
        live,
        feeds,
        clients: Arc::new(Semaphore::new(LIVE_CLIENTS_MAX)),
    };
    // The page and the snapshot answer under the plane's request timeout; the
    // stream's body is long-lived by design (the timeout covers its headers).
    Router::new()
        .route("/", get(index))
        .route("/dashboard.css", get(css))
        .route("/dashboard.js", get(js))
        .route("/live/snapshot", get(snapshot))
        .route("/live/conflicts", get(conflicts_panel))
        .route("/live/flags", get(flags_panel))
        .route("/live/occupancy", get(occupancy_panel))
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

fn json(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn snapshot(State(state): State<DashboardState>) -> Response {
    json(state.live.json(crate::now_ms()).to_string())
}

/// The panel as last published (a sweep reads the store once per refresh,
/// not once per request).
async fn conflicts_panel(State(state): State<DashboardState>) -> Response {
    json(state.feeds.conflicts.borrow().to_string())
}

async fn flags_panel(State(state): State<DashboardState>) -> Response {
    json(serde_json::to_string(&state.feeds.flags.panel()).unwrap_or_default())
}

async fn occupancy_panel(State(state): State<DashboardState>) -> Response {
    json(serde_json::to_string(&state.feeds.occupancy.panel()).unwrap_or_default())
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
    let mut feeds = state.feeds.clone();
    // The current ones go out at once, then one per publish.
    feeds.snapshot.mark_changed();
    feeds.conflicts.mark_changed();
    Sse::new(stream(feeds, permit))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE_EVERY))
        .into_response()
}

/// One `snapshot` event per published snapshot and one `conflicts` event per
/// published panel. Ends when either publisher stops (shutdown), which lets
/// the HTTP plane drain; the permit is held until then.
fn stream(
    feeds: Feeds,
    permit: OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold((feeds, permit), |(mut feeds, permit)| async move {
        let panel = tokio::select! {
            changed = feeds.snapshot.changed() => changed.map(|()| false),
            changed = feeds.conflicts.changed() => changed.map(|()| true),
        };
        let (name, feed) = match panel.ok()? {
            false => ("snapshot", &mut feeds.snapshot),
            true => ("conflicts", &mut feeds.conflicts),
        };
        let data = feed.borrow_and_update().clone();
        let event = Event::default()
            .event(name)
            .retry(RECONNECT_AFTER)
            .data(&*data);
        Some((Ok(event), (feeds, permit)))
    })
}
