//! The admin API's route table ([`ROUTES`]: method, path, the permission
//! it needs, one line for the docs) and the bounds on request bodies. The
//! router, the OpenAPI document and the role matrix test all follow it.

use crate::operator::tokens::Permission;
use axum::http::Method;

/// Largest CSV import body, bytes: 10 000 rows ([`super::import::IMPORT_ROWS_MAX`])
/// of ~200 bytes each, with room to spare. Other endpoints keep the
/// gateway's 64 KiB default.
pub const IMPORT_BODY_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Largest issue body (JSON array or NDJSON of issue requests), bytes.
pub const ISSUE_BODY_MAX_BYTES: usize = 1024 * 1024;
/// Largest event definition body, bytes (the definition's own bound).
pub const EVENT_BODY_MAX_BYTES: usize = scangate_core::event::DEFINITION_MAX_BYTES;

/// One admin endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, `PUT` or `DELETE`.
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
        "list passes: event, kind, status (also used_up, expired), limit, after; tokens=true (admin only) adds each pass's token",
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
        "POST",
        "/v1/passes/{id}/link",
        Permission::Operate,
        "make the pass's holder link (/h/SECRET, the secret shown once); an earlier link stops working",
    ),
    route(
        "POST",
        "/v1/passes/{id}/link/revoke",
        Permission::Operate,
        "revoke the pass's holder link",
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
        "POST",
        "/v1/passes/{id}/reissue",
        Permission::Operate,
        "re-issue: a new token, the old one denied superseded; with a reason",
    ),
    route(
        "POST",
        "/v1/passes/{id}/admit",
        Permission::Operate,
        "a guard's override: admit the pass at a gate, with a reason; counted, marked, journaled",
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
        "/v1/conflicts",
        Permission::Read,
        "offline scans that broke a rule (conflicts): event, kind, pass, from, until, limit, after",
    ),
    route(
        "GET",
        "/v1/flags",
        Permission::Read,
        "fraud flags scans raised: event (required), kind, from, until, limit, after",
    ),
    route(
        "GET",
        "/v1/incidents",
        Permission::Read,
        "forged and malformed tokens refused (security incidents): device, limit, after",
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
    route(
        "PUT",
        "/v1/events/{event}",
        Permission::Admin,
        "set an event's definition (gates, zones, policy); every problem of a bad one is named",
    ),
    route(
        "GET",
        "/v1/events/{event}",
        Permission::Read,
        "an event's definition",
    ),
    route(
        "GET",
        "/v1/events/{event}/occupancy",
        Permission::Read,
        "who is inside each zone of an event now: inside, capacity, free (counts only)",
    ),
    // Last: the security matrix calls routes in this order, and an erase
    // revokes its fixture pass for good.
    route(
        "DELETE",
        "/v1/passes/{id}",
        Permission::Operate,
        "erase a pass's personal data for good and revoke it, with a reason (idempotent)",
    ),
];

/// Most issue specs in one array or NDJSON body.
pub const ISSUE_SPECS_MAX: usize = 1_000;

/// Whether `method` is the route's method (for the role matrix test).
pub fn method_of(r: &Route) -> Method {
    match r.method {
        "POST" => Method::POST,
        "DELETE" => Method::DELETE,
        "PUT" => Method::PUT,
        _ => Method::GET,
    }
}
