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
//!
//! The query parameter structs below only describe the parameters: the
//! handlers read the raw query themselves ([`super::params`]) so that every
//! problem is a 400 naming the parameter.

use super::{ROUTES, Route};
use crate::operator::api::{ApiError, ErrorBody, GateName, IssueRequest, PassView, ScanView};
use crate::operator::journal::{OperatorAction, OperatorRecord};
use crate::operator::tokens::Permission;
use axum::http::header;
use axum::response::IntoResponse;
use scangate_core::{AdminAction, AuditRecord, Kind, Reason, Status};
use serde::Serialize;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, Ref, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

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
            scanner devices. Every `/v1/` endpoint except this document needs \
            `Authorization: Bearer <admin token>`; the role each needs is in its description. \
            A `viewer` reads no pass token, QR code or display payload: those need \
            `operator`. Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`, \
            with the statuses each operation lists."
    ),
    paths(
        super::passes::issue,
        super::passes::list,
        super::passes::import,
        super::passes::show,
        super::qr::qr,
        super::logs::pass_scans,
        super::logs::pass_audit,
        super::passes::revoke,
        super::passes::suspend,
        super::passes::reactivate,
        super::logs::scans,
        super::logs::annul,
        super::logs::audit,
        super::operator::operator_audit,
        super::devices::list,
        super::devices::revoke,
        serve,
        crate::operator::http::healthz,
        crate::operator::http::readyz,
        crate::operator::http::metrics,
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
    )),
    modifiers(&FromRoutes),
    tags(
        (name = "passes", description = "Issue, import, find and change passes"),
        (name = "scans", description = "Scans, annulment and the audit log"),
        (name = "devices", description = "Scanner devices (certificates)"),
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
/// the `bearer` scheme, 401 and (where a role can be refused) 403.
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

/// The body of `POST /v1/passes` as JSON: one spec or an array of specs
/// (NDJSON, one spec a line, with `Content-Type: application/x-ndjson`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum IssueBody {
    /// One spec (its `count` may ask for many identical passes).
    One(IssueRequest),
    /// Several specs (1 to 1000), issued all or none.
    #[schema(value_type = IssueSpecs)]
    Many(Vec<IssueRequest>),
}

/// An array of issue specs as the document describes it: 1 to
/// [`super::passes::ISSUE_SPECS_MAX`] (an empty array issues nothing: 400).
pub struct IssueSpecs;

impl utoipa::PartialSchema for IssueSpecs {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ArrayBuilder::new()
            .items(Ref::from_schema_name("IssueRequest"))
            .min_items(Some(1))
            .max_items(Some(super::passes::ISSUE_SPECS_MAX))
            .into()
    }
}

impl ToSchema for IssueSpecs {}

pub use crate::operator::api::DecisionWord;

/// The `{id}` of every `/v1/passes/{id}/...` route: what `PassId` parses.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PassIdParam {
    /// The pass id, 32 hexadecimal digits.
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub id: String,
}

/// The `{scan_id}` of `/v1/scans/{scan_id}/annul`: what `ScanId` accepts.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ScanIdParam {
    /// The scan id the scanner sent: 1 to 64 of `A-Z a-z 0-9 . _ : -`.
    #[param(pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    pub scan_id: String,
}

/// The `{name}` of `/v1/devices/{name}/revoke`: what a scanner
/// certificate's name may be.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeviceNameParam {
    /// The device's certificate name: 1 to 64 of `A-Z a-z 0-9 - _ .`, not
    /// starting with `.`.
    #[param(pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
}

/// `GET /v1/passes` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PassListQuery {
    /// Only this event's passes (1 to 64 bytes).
    #[param(min_length = 1, max_length = 64)]
    pub event: Option<String>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only this status.
    pub status: Option<Status>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next` of the previous page: a cursor the server made (hex); any
    /// other value is refused with 400.
    #[param(pattern = "^([0-9a-fA-F]{2}){1,96}$")]
    pub after: Option<String>,
}

/// The time window and paging of every log list: scans, the audit log and
/// the operator journal.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogWindow {
    /// Records at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Records before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Page size, 1 to 1000 (default: 1000 for a pass's array, 100 for a page).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The cursor of the previous answer (`next`, or the `x-next-cursor`
    /// header of a pass's array): hex the server made; any other value is
    /// refused with 400.
    #[param(pattern = "^([0-9a-fA-F]{2}){1,96}$")]
    pub after: Option<String>,
}

/// The filters of every scan list (with a [`LogWindow`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanFilters {
    /// Only scans at this gate (1 to 64 bytes).
    #[param(min_length = 1, max_length = 64)]
    pub gate: Option<String>,
    /// Only grants or only denials.
    pub decision: Option<DecisionWord>,
    /// Only denials for this reason.
    pub reason: Option<Reason>,
}

/// `GET /v1/scans` scope: exactly one of `pass` or `event` (a rule the
/// parameters' schemas cannot state: neither or both is a 400).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanScopeQuery {
    /// The scans of this pass (32 hex digits).
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub pass: Option<String>,
    /// The scans of this event (1 to 64 bytes).
    #[param(min_length = 1, max_length = 64)]
    pub event: Option<String>,
}

/// `GET /v1/audit`'s own parameter.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditPassQuery {
    /// Only this pass's changes (32 hex digits).
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub pass: Option<String>,
}

/// `GET /v1/audit/operator` filters (with a [`LogWindow`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OperatorAuditQuery {
    /// Only this action.
    pub action: Option<OperatorAction>,
    /// Only actions by this token name (or `cli:USER`).
    pub who: Option<String>,
    /// Only actions on this subject: a token or device name, a pass or
    /// scan id, an event.
    pub subject: Option<String>,
}

/// `GET /v1/passes/{id}/qr` parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrFormat {
    /// `svg` (default) or `png`.
    #[param(pattern = "^(svg|png)$")]
    pub format: Option<String>,
}
