//! The admin router: every [`ROUTES`] entry bound to its handler, behind
//! its permission check and its body bound. Handlers never import this.

use super::routes::{
    EVENT_BODY_MAX_BYTES, IMPORT_BODY_MAX_BYTES, ISSUE_BODY_MAX_BYTES, ROUTES, Route,
};
use super::{
    conflicts, devices, erase, events, flags, gate, import, links, logs, occupancy, operator,
    passes, qr,
};
use crate::operator::api::ApiError;
use crate::operator::state::AppState;
use crate::operator::tokens::Permission;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};

fn handler(r: &Route) -> MethodRouter<AppState> {
    match (r.method, r.path) {
        ("POST", "/v1/passes") => body_limit(post(passes::issue), ISSUE_BODY_MAX_BYTES),
        ("GET", "/v1/passes") => get(passes::list),
        ("POST", "/v1/passes/import") => body_limit(post(import::import), IMPORT_BODY_MAX_BYTES),
        ("GET", "/v1/passes/{id}") => get(passes::show),
        ("GET", "/v1/passes/{id}/qr") => get(qr::qr),
        ("POST", "/v1/passes/{id}/link") => post(links::link),
        ("POST", "/v1/passes/{id}/link/revoke") => post(links::unlink),
        ("GET", "/v1/passes/{id}/scans") => get(logs::pass_scans),
        ("GET", "/v1/passes/{id}/audit") => get(logs::pass_audit),
        ("POST", "/v1/passes/{id}/revoke") => post(passes::revoke),
        ("POST", "/v1/passes/{id}/suspend") => post(passes::suspend),
        ("POST", "/v1/passes/{id}/reactivate") => post(passes::reactivate),
        ("POST", "/v1/passes/{id}/admit") => post(gate::admit),
        ("POST", "/v1/passes/{id}/reissue") => post(passes::reissue),
        ("GET", "/v1/scans") => get(logs::scans),
        ("POST", "/v1/scans/{scan_id}/annul") => post(logs::annul),
        ("GET", "/v1/audit") => get(logs::audit),
        ("GET", "/v1/audit/operator") => get(operator::operator_audit),
        ("GET", "/v1/conflicts") => get(conflicts::list),
        ("GET", "/v1/flags") => get(flags::list_flags),
        ("GET", "/v1/incidents") => get(flags::list_incidents),
        ("GET", "/v1/devices") => get(devices::list),
        ("POST", "/v1/devices/{name}/revoke") => post(devices::revoke),
        ("DELETE", "/v1/passes/{id}") => delete(erase::erase),
        ("PUT", "/v1/events/{event}") => body_limit(put(events::put), EVENT_BODY_MAX_BYTES),
        ("GET", "/v1/events/{event}") => get(events::show),
        ("GET", "/v1/events/{event}/occupancy") => get(occupancy::occupancy),
        _ => unreachable!("every route in ROUTES has a handler"),
    }
}

/// A route taking bodies of up to `max` bytes. A body declared larger
/// (`Content-Length`) is refused with 413 before a byte of it is read; one
/// that turns out larger while read (chunked) when it passes `max`.
fn body_limit(route: MethodRouter<AppState>, max: usize) -> MethodRouter<AppState> {
    route
        .layer(DefaultBodyLimit::max(max))
        .layer(middleware::from_fn_with_state(max, refuse_declared_over))
}

async fn refuse_declared_over(State(max): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > max as u64 => ApiError::too_large(format!(
            "the body is {len} bytes; at most {max} are taken here"
        ))
        .into_response(),
        _ => next.run(req).await,
    }
}

/// The admin router: every [`ROUTES`] entry behind its permission check.
pub fn router(state: AppState) -> Router<AppState> {
    let mut router = Router::new();
    for r in ROUTES {
        let guarded = handler(r).route_layer(middleware::from_fn_with_state(
            (state.clone(), r.needs),
            authorize,
        ));
        router = router.route(r.path, guarded);
    }
    router
}

/// 429 with `Retry-After`: the token made more calls than its rate allows.
fn rate_limited(name: &str, wait: std::time::Duration) -> Response {
    metrics::counter!("scangate_admin_rate_limited_total").increment(1);
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("token {name:?} made more calls than its rate allows; retry after the time in Retry-After"),
    )
    .into_response();
    r.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from(crate::operator::throttle::retry_after_s(wait)),
    );
    r
}

/// 401 without a known token, 403 when its role lacks `needs`, 429 when
/// the token is over its rate; otherwise the caller goes into the request's
/// extensions for the handler.
async fn authorize(
    State((state, needs)): State<(AppState, Permission)>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(presented) = presented else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing `Authorization: Bearer <admin token>`",
        )
        .into_response();
    };
    let Some(caller) = state.tokens.authenticate(presented.trim()) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin token is not valid",
        )
        .into_response();
    };
    if !caller.role.allows(needs) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token {:?} has role {}, which may not {}",
                caller.name,
                caller.role.as_str(),
                match needs {
                    Permission::Read => "read",
                    Permission::Operate => "change passes",
                    Permission::Admin => "do this (admin only)",
                }
            ),
        )
        .into_response();
    }
    if let Err(wait) = state.admin_calls.check(caller.name.clone()) {
        return rate_limited(&caller.name, wait);
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}
