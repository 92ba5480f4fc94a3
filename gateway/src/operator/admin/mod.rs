//! The admin API under `/v1/`: one table of routes ([`ROUTES`]) says what
//! each endpoint needs; the router, the role matrix test and the docs follow
//! it. Every request is authenticated by bearer token ([`crate::operator::tokens`]);
//! a missing or unknown token gets 401, a role without the permission 403.
//! A pass's token is a working ticket: only roles allowed
//! [`Permission::Operate`] read one (a pass view, a QR code, a minted
//! dynamic token); a `viewer` gets the pass without it
//! ([`crate::operator::api::pass_view_for_role`]).
//!
//! Modules: [`passes`] (issue, list, show, status changes), [`import`] (CSV),
//! [`logs`] (scans, audit, annul), [`devices`] (scanner revocation),
//! [`qr`] (QR images, minting dynamic tokens), [`operator`] (the operator
//! journal: every route that needs more than `Read` is an admin action and
//! records one line in it before answering; `GET /v1/audit/operator`),
//! [`params`] (query parameters and cursors), [`openapi`] (the OpenAPI
//! document, `GET /v1/openapi.json`).

pub mod devices;
pub mod import;
pub mod logs;
pub mod openapi;
pub mod operator;
pub mod params;
pub mod passes;
pub mod qr;

use crate::operator::api::ApiError;
use crate::operator::http::AppState;
use crate::operator::tokens::{Caller, Permission};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};

/// Largest CSV import body, bytes: 10 000 rows ([`passes::IMPORT_ROWS_MAX`])
/// of ~200 bytes each, with room to spare. Other endpoints keep the
/// gateway's 64 KiB default.
pub const IMPORT_BODY_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Largest issue body (JSON array or NDJSON of issue requests), bytes.
pub const ISSUE_BODY_MAX_BYTES: usize = 1024 * 1024;

/// One admin endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path, axum spelling (`{id}`).
    pub path: &'static str,
    /// What the caller's role must allow.
    pub needs: Permission,
    /// One line for the docs.
    pub summary: &'static str,
}

const fn route(
    method: &'static str,
    path: &'static str,
    needs: Permission,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        needs,
        summary,
    }
}

/// Every admin endpoint. The router is built from this table, so an
/// endpoint cannot exist without its permission.
pub const ROUTES: &[Route] = &[
    route(
        "POST",
        "/v1/passes",
        Permission::Admin,
        "issue passes: one spec (with count), a JSON array of specs, or NDJSON",
    ),
    route(
        "GET",
        "/v1/passes",
        Permission::Read,
        "list passes: event, kind, status, limit, after (tokens only for operator and admin)",
    ),
    route(
        "POST",
        "/v1/passes/import",
        Permission::Admin,
        "import passes from CSV, with a per-line report",
    ),
    route(
        "GET",
        "/v1/passes/{id}",
        Permission::Read,
        "one pass (its token only for operator and admin)",
    ),
    route(
        "GET",
        "/v1/passes/{id}/qr",
        Permission::Operate,
        "the pass's QR code, ?format=svg|png; a dynamic pass gets a freshly minted short-lived token",
    ),
    route(
        "GET",
        "/v1/passes/{id}/scans",
        Permission::Read,
        "a pass's scans (JSON array; filters as /v1/scans)",
    ),
    route(
        "GET",
        "/v1/passes/{id}/audit",
        Permission::Read,
        "a pass's admin changes (JSON array)",
    ),
    route(
        "POST",
        "/v1/passes/{id}/revoke",
        Permission::Operate,
        "revoke, with a reason",
    ),
    route(
        "POST",
        "/v1/passes/{id}/suspend",
        Permission::Operate,
        "suspend, with a reason",
    ),
    route(
        "POST",
        "/v1/passes/{id}/reactivate",
        Permission::Operate,
        "reactivate, with a reason",
    ),
    route(
        "GET",
        "/v1/scans",
        Permission::Read,
        "scans of a pass or an event: gate, decision, reason, from, until, limit, after",
    ),
    route(
        "POST",
        "/v1/scans/{scan_id}/annul",
        Permission::Operate,
        "annul a grant within the annul window, with a reason",
    ),
    route(
        "GET",
        "/v1/audit",
        Permission::Read,
        "the audit log: pass, from, until, limit, after",
    ),
    route(
        "GET",
        "/v1/audit/operator",
        Permission::Read,
        "the operator journal, every admin action (who, when, what, why): action, who, subject, from, until, limit, after",
    ),
    route(
        "GET",
        "/v1/devices",
        Permission::Read,
        "scanner devices: issued and revoked",
    ),
    route(
        "POST",
        "/v1/devices/{name}/revoke",
        Permission::Admin,
        "revoke a scanner device: it can no longer connect",
    ),
];

fn handler(r: &Route) -> MethodRouter<AppState> {
    match (r.method, r.path) {
        ("POST", "/v1/passes") => body_limit(post(passes::issue), ISSUE_BODY_MAX_BYTES),
        ("GET", "/v1/passes") => get(passes::list),
        ("POST", "/v1/passes/import") => body_limit(post(passes::import), IMPORT_BODY_MAX_BYTES),
        ("GET", "/v1/passes/{id}") => get(passes::show),
        ("GET", "/v1/passes/{id}/qr") => get(qr::qr),
        ("GET", "/v1/passes/{id}/scans") => get(logs::pass_scans),
        ("GET", "/v1/passes/{id}/audit") => get(logs::pass_audit),
        ("POST", "/v1/passes/{id}/revoke") => post(passes::revoke),
        ("POST", "/v1/passes/{id}/suspend") => post(passes::suspend),
        ("POST", "/v1/passes/{id}/reactivate") => post(passes::reactivate),
        ("GET", "/v1/scans") => get(logs::scans),
        ("POST", "/v1/scans/{scan_id}/annul") => post(logs::annul),
        ("GET", "/v1/audit") => get(logs::audit),
        ("GET", "/v1/audit/operator") => get(operator::operator_audit),
        ("GET", "/v1/devices") => get(devices::list),
        ("POST", "/v1/devices/{name}/revoke") => post(devices::revoke),
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
        Some(len) if len > max as u64 => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is {len} bytes; at most {max} are taken here"),
        )
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

/// 401 without a known token, 403 when its role lacks `needs`; otherwise
/// the caller goes into the request's extensions for the handler.
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
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The caller, as the route's permission check (`authorize`) left it.
pub type Who = axum::Extension<Caller>;

/// Whether `method` is the route's method (for the role matrix test).
pub fn method_of(r: &Route) -> Method {
    if r.method == "POST" {
        Method::POST
    } else {
        Method::GET
    }
}
