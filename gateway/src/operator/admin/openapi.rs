//! The admin API's OpenAPI 3.1 document, generated from the code with
//! `utoipa` and served at `GET /v1/openapi.json` (no token: it describes the
//! API and holds no data).
//!
//! Each handler carries its own `#[utoipa::path]` (path, body, parameters,
//! its own answers and the `bearer` security requirement); [`FromRoutes`]
//! then walks [`ROUTES`] and adds what the table knows for every admin
//! operation: the one-line summary, the role it needs, 401, and 403 where a
//! role can be refused. The test `gateway/cli/tests/openapi.rs` holds the
//! document and [`ROUTES`] to each other in both directions.
//! The parameter and body types the handlers name live in [`super::schema`].

use super::routes::{ROUTES, Route};
use super::schema::{IssueBody, IssueSpecs};
use crate::operator::api::{ApiError, ErrorBody, GateName, IssueRequest, PassView, ScanView};
use crate::operator::journal::{OperatorAction, OperatorRecord};
use crate::operator::tokens::Permission;
use axum::http::header;
use axum::response::IntoResponse;
use scangate_api::{ConflictKindName, ConflictView, HolderLinkRevoked, HolderLinkView};
use scangate_core::event::EventDefinition;
use scangate_core::{AdminAction, AuditRecord, Kind, Reason, Status};
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The name of the security scheme every admin operation requires.
pub const SECURITY_SCHEME: &str = "bearer";
/// Where the document is served.
pub const PATH: &str = "/v1/openapi.json";
/// The endpoints outside [`ROUTES`] that need no token, as `(method, path)`;
/// the document describes them too, without a security requirement.
pub const PUBLIC: &[(&str, &str)] = &[
    ("GET", PATH),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "scangate admin API",
        description = "The operator HTTP plane of a scangate gateway: passes, scans, the audit log, \
            offline conflicts, scanner devices. Every `/v1/` endpoint except this document needs \
            `Authorization: Bearer <admin token>`; the role each needs is in its description. \
            A `viewer` reads no pass token, QR code or display payload: those need \
            `operator`. Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`, \
            with the statuses each operation lists."
    ),
    paths(
        super::passes::issue,
        super::passes::list,
        super::import::import,
        super::passes::show,
        super::qr::qr,
        super::links::link,
        super::links::unlink,
        super::logs::pass_scans,
        super::logs::pass_audit,
        super::passes::revoke,
        super::passes::suspend,
        super::passes::reactivate,
        super::gate::admit,
        super::passes::reissue,
        super::logs::scans,
        super::logs::annul,
        super::logs::audit,
        super::operator::operator_audit,
        super::conflicts::list,
        super::flags::list_flags,
        super::flags::list_incidents,
        super::devices::list,
        super::devices::revoke,
        super::erase::erase,
        super::events::put,
        super::events::show,
        super::occupancy::occupancy,
        serve,
        crate::operator::probes::healthz,
        crate::operator::probes::readyz,
        crate::operator::probes::metrics,
    ),
    components(schemas(
        ErrorBody,
        ApiError,
        IssueRequest,
        IssueBody,
        IssueSpecs,
        GateName,
        PassView,
        ScanView,
        DecisionWord,
        Kind,
        Status,
        Reason,
        AdminAction,
        AuditRecord,
        OperatorAction,
        OperatorRecord,
        ConflictView,
        ConflictKindName,
        super::gate::AdmitBody,
        super::schema::StatusFilter,
        scangate_core::scan::GuardOverride,
        HolderLinkView,
        HolderLinkRevoked,
        scangate_api::FlagView,
        scangate_api::IncidentView,
        scangate_api::FlagName,
        EventDefinition,
        super::occupancy::OccupancyView,
        scangate_core::event::ZoneCount,
    )),
    modifiers(&FromRoutes),
    tags(
        (name = "passes", description = "Issue, import, find and change passes"),
        (name = "scans", description = "Scans, annulment and the audit log"),
        (name = "devices", description = "Scanner devices (certificates)"),
        (name = "events", description = "Event definitions: gates, zones, policy"),
        (name = "ops", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| {
            format!("{{\"error\": \"cannot render the OpenAPI document: {e}\"}}")
        })
    })
}

/// `GET /v1/openapi.json`: this document (no token needed).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "openapi",
    tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")),
)]
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json())
}

/// Adds what [`ROUTES`] says to every admin operation: the summary, the role,
/// the `bearer` scheme, 401, 429 and (where a role can be refused) 403.
pub struct FromRoutes;

impl Modify for FromRoutes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc
            .components
            .get_or_insert_with(|| ComponentsBuilder::new().build());
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::Http({
                let mut http = Http::new(HttpAuthScheme::Bearer);
                http.description = Some(
                    "An admin token (`scangate token create --role admin|operator|viewer`)."
                        .to_owned(),
                );
                http
            }),
        );
        for route in ROUTES {
            let Some(item) = doc.paths.paths.get_mut(route.path) else {
                continue;
            };
            let op = match route.method {
                "POST" => item.post.as_mut(),
                "DELETE" => item.delete.as_mut(),
                "PUT" => item.put.as_mut(),
                _ => item.get.as_mut(),
            };
            if let Some(op) = op {
                annotate(op, route);
            }
        }
    }
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        utoipa::openapi::ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

fn annotate(op: &mut Operation, route: &Route) {
    let role = match route.needs {
        Permission::Read => "viewer",
        Permission::Operate => "operator",
        Permission::Admin => "admin",
    };
    let detail = op.description.take().or_else(|| op.summary.take());
    op.summary = Some(route.summary.to_owned());
    op.description = Some(match detail {
        Some(d) => format!("Needs role `{role}` or above.\n\n{d}"),
        None => format!("Needs role `{role}` or above."),
    });
    op.responses.responses.insert(
        "401".to_owned(),
        error_response("No `Authorization: Bearer` header, or an unknown token")
            .build()
            .into(),
    );
    op.responses.responses.insert(
        "429".to_owned(),
        error_response(
            "`rate_limited`: the token made more calls than its rate allows \
             (`--admin-rate`, `--admin-burst`); `Retry-After` says when to try again",
        )
        .build()
        .into(),
    );
    if route.needs != Permission::Read {
        op.responses.responses.insert(
            "403".to_owned(),
            error_response(&format!("The token's role is below `{role}`"))
                .build()
                .into(),
        );
        // Every change is an admin action, journaled before it is answered.
        op.responses.responses.insert(
            "500".to_owned(),
            error_response(
                "`journal_failed`: the change was made, but its line in the operator journal \
                 could not be written (the message says what was done)",
            )
            .build()
            .into(),
        );
    }
}

pub use crate::operator::api::DecisionWord;
