//! Passes: issue (one spec, an array, or NDJSON), list, show, and status
//! changes through the pass's actor. The CSV import lives in
//! [`super::import`].

use super::failures::{admin_error, store_error};
use super::params::{PageView, Params, PathParam, page_view, parse_id};
use super::reason::{ReasonBody, ReasonJson, reason};
use super::routes::ISSUE_SPECS_MAX;
use super::schema::{IssueBody, Paging, PassIdParam, PassListQuery, StatusFilter};
use crate::operator::api::{self, ApiError, ErrorBody, ISSUE_MAX, IssueRequest, PassView};
use crate::operator::journal::{OperatorAction, OperatorRecord};
use crate::operator::state::AppState;
use crate::operator::state::Who;
use crate::operator::tokens::{Permission, Role};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use scangate_actors::{AdminChange, AdminError};
use scangate_core::pass::EVENT_MAX_BYTES;
use scangate_core::{AdminAction, Kind, Pass, PassId};
use scangate_storage::{PassQuery, StoreError};

/// The issue specs of a body: NDJSON (by content type), a JSON array, or
/// one object; with the body's form, for the operator journal.
fn specs(headers: &HeaderMap, body: &[u8]) -> Result<(Vec<IssueRequest>, &'static str), ApiError> {
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-ndjson"));
    let parse = |field: String, bytes: &[u8]| {
        api::from_json_object::<IssueRequest>(bytes)
            .map_err(|e| ApiError::invalid(&field, e.to_string()))
    };
    let (specs, form) = if ndjson {
        let mut out = Vec::new();
        for (n, line) in body.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if out.len() >= ISSUE_SPECS_MAX {
                return Err(too_many_specs());
            }
            out.push(parse(format!("line {}", n + 1), line)?);
        }
        (out, "NDJSON")
    } else if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let raw: Vec<&serde_json::value::RawValue> =
            serde_json::from_slice(body).map_err(|e| ApiError::invalid("body", e.to_string()))?;
        if raw.len() > ISSUE_SPECS_MAX {
            return Err(too_many_specs());
        }
        let specs = raw
            .iter()
            .enumerate()
            .map(|(n, r)| parse(format!("[{n}]"), r.get().as_bytes()))
            .collect::<Result<_, _>>()?;
        (specs, "a JSON array")
    } else {
        (vec![parse("body".into(), body)?], "one JSON object")
    };
    if specs.is_empty() {
        return Err(ApiError::invalid("body", "no pass to issue"));
    }
    Ok((specs, form))
}

fn too_many_specs() -> ApiError {
    ApiError::too_large(format!("at most {ISSUE_SPECS_MAX} issue specs per request"))
}

/// What an issue body asks for, checked: the passes (fresh ids), how many
/// specs held them and the body's form (for the journal).
#[derive(Debug)]
pub struct Issue {
    /// Every pass of every spec, in order.
    pub passes: Vec<Pass>,
    /// How many specs the body held.
    pub specs: usize,
    /// "one JSON object", "a JSON array" or "NDJSON".
    pub form: &'static str,
}

/// Reads and checks an issue body as `POST /v1/passes` does before the
/// store: all or none, at most [`ISSUE_MAX`] passes. The fuzz target
/// `admin_json` calls it too.
pub fn issue_body(headers: &HeaderMap, body: &[u8], now: i64) -> Result<Issue, ApiError> {
    let (specs, form) = specs(headers, body)?;
    let total: u64 = specs.iter().map(|s| u64::from(s.count.unwrap_or(1))).sum();
    if total > u64::from(ISSUE_MAX) {
        return Err(ApiError::invalid(
            "count",
            format!("at most {ISSUE_MAX} passes per request, {total} asked"),
        ));
    }
    let mut passes = Vec::new();
    for (n, spec) in specs.iter().enumerate() {
        let built = api::build_passes(spec, now).map_err(|mut e| {
            if specs.len() > 1 {
                e.field = Some(format!("[{n}].{}", e.field.as_deref().unwrap_or("pass")));
            }
            e
        })?;
        passes.extend(built);
    }
    Ok(Issue {
        passes,
        specs: specs.len(),
        form,
    })
}

/// `POST /v1/passes`: all or none.
#[utoipa::path(
    post,
    path = "/v1/passes",
    operation_id = "issue_passes",
    tag = "passes",
    request_body(
        description = "One spec (`count` for many identical passes), a JSON array of specs, \
            or NDJSON (one spec a line). At most 1 000 specs and 10 000 passes; body at most 1 MiB.",
        content(
            (IssueBody = "application/json"),
            (IssueRequest = "application/x-ndjson"),
        )
    ),
    responses(
        (status = 201, description = "The passes, with their tokens", body = [PassView]),
        (status = 400, description = "A spec is invalid (`field` names it, e.g. `[2].valid_from`), \
            including what the schema cannot say: `valid_until` not after `valid_from`, both \
            `max_uses` and `unlimited`, more than 10 000 passes in all", body = ErrorBody),
        (status = 409, description = "A pass id already exists", body = ErrorBody),
        (status = 413, description = "Too many specs, or the body is over 1 MiB", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn issue(
    State(state): State<AppState>,
    who: Who,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Vec<PassView>>), ApiError> {
    let body = body.map_err(crate::operator::api::from_rejection)?;
    let now = crate::now_ms();
    let Issue {
        passes,
        specs,
        form,
    } = issue_body(&headers, &body, now)?;
    let specs_word = if specs == 1 { "spec" } else { "specs" };
    let batch = NewPasses {
        now,
        who: who.0.name,
        action: OperatorAction::PassesIssue,
        detail: format!("{specs} {specs_word} as {form}"),
        done: "issued",
    };
    let views = batch.store(&state, passes).await?;
    Ok((StatusCode::CREATED, Json(views)))
}

/// One request's new passes (an issue or an import) on their way in.
pub(super) struct NewPasses {
    /// When the request was taken (Unix ms).
    pub now: i64,
    /// The admin token's name (or `cli:USER`).
    pub who: String,
    /// `PassesIssue` or `PassesImport`.
    pub action: OperatorAction,
    /// What the request held, for the journal line.
    pub detail: String,
    /// The past participle the answer uses ("issued", "imported").
    pub done: &'static str,
}

impl NewPasses {
    /// Makes `passes` durable in one insert, tells the live view, writes the
    /// request's one journal line, and returns the passes as the API shows
    /// them (with their tokens). A store failure writes nothing.
    pub async fn store(
        self,
        state: &AppState,
        passes: Vec<Pass>,
    ) -> Result<Vec<PassView>, ApiError> {
        state
            .store
            .insert_passes(passes.clone())
            .await
            .map_err(store_error)?;
        state.live.issued(&passes);
        let entry = batch_record(self.now, self.who, self.action, &passes).detail(self.detail);
        let done = format!("{} passes were {}", passes.len(), self.done);
        super::operator::record(state, entry, &done).await?;
        Ok(passes
            .iter()
            .map(|p| api::pass_view(p, &state.keyring))
            .collect())
    }
}

/// The operator journal's line for an issue or import: one per request,
/// naming the events, the count and the first and last pass id.
fn batch_record(now: i64, who: String, action: OperatorAction, passes: &[Pass]) -> OperatorRecord {
    let ids: Vec<PassId> = passes.iter().map(|p| p.id).collect();
    OperatorRecord::passes(
        now,
        who,
        action,
        passes.iter().map(|p| p.event.as_str()),
        &ids,
    )
}

/// `GET /v1/passes?event=&kind=&status=&limit=&after=&tokens=`; `status` also
/// takes `used_up` and `expired` (at the gateway's clock).
#[utoipa::path(
    get,
    path = "/v1/passes",
    operation_id = "list_passes",
    tag = "passes",
    params(PassListQuery, Paging),
    responses(
        (status = 200, description = "One page of passes; `display` only for `operator` and \
            `admin`; `token` only with `tokens=true`, which needs `admin`", body = PageView<PassView>),
        (status = 400, description = "A bad or unknown parameter (`field` names it)", body = ErrorBody),
        (status = 403, description = "`tokens=true` from a role below `admin`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    who: Who,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageView<PassView>>, ApiError> {
    let p = Params::parse(
        raw.as_deref(),
        &["event", "kind", "status", "limit", "after", "tokens"],
    )?;
    let filter = p.parsed::<StatusFilter>("status")?;
    let (status, condition) = filter.map_or((None, None), |f| f.split(crate::now_ms()));
    let tokens = p.parsed::<bool>("tokens")?.unwrap_or(false);
    if tokens && who.0.role != Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token {:?} has role {}: a list with tokens (tokens=true) is for admin only",
                who.0.name,
                who.0.role.as_str()
            ),
        ));
    }
    let query = PassQuery {
        event: p.name("event", EVENT_MAX_BYTES)?.map(str::to_owned),
        kind: p.parsed::<Kind>("kind")?,
        status,
        condition,
        after: p.cursor()?,
        limit: p.limit(100)?,
    };
    let page = state.store.query_passes(query).await.map_err(store_error)?;
    Ok(Json(page_view(page, |pass: &Pass| {
        if tokens {
            return api::pass_view(pass, &state.keyring);
        }
        // No token in a list unless asked (and none is signed or minted).
        let mut view = PassView::withheld(pass);
        if who.0.role.allows(Permission::Operate) {
            view.display = pass.display.clone();
        }
        view
    })))
}

/// `GET /v1/passes/{id}`: the pass and its uses; for `operator` and
/// `admin`, its token too (a dynamic pass: a freshly minted short-lived one).
#[utoipa::path(
    get,
    path = "/v1/passes/{id}",
    operation_id = "show_pass",
    tag = "passes",
    params(PassIdParam),
    responses(
        (status = 200, description = "The pass; `token` and `display` only for `operator` and \
            `admin` (a dynamic pass: a freshly minted token)", body = PassView),
        (status = 400, description = "Not a pass id", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn show(
    State(state): State<AppState>,
    who: Who,
    PathParam(id): PathParam,
) -> Result<Json<PassView>, ApiError> {
    let pass = load(&state, &id).await?;
    Ok(Json(crate::operator::api::pass_view_for_role(
        &pass,
        &state.keyring,
        who.0.role,
    )))
}

/// The pass with the id `id` (text from the path), as its actor has it.
pub async fn load(state: &AppState, id: &str) -> Result<Pass, ApiError> {
    let id = parse_id(id)?;
    match state.registry.pass(id).await {
        Ok(Some(pass)) => Ok(pass),
        Ok(None) => Err(ApiError::not_found(format!("no pass {id}"))),
        Err(e) => Err(ApiError::unavailable(e.to_string())),
    }
}

pub(super) async fn change(
    state: AppState,
    who: String,
    id: String,
    action: AdminAction,
    body: ReasonJson,
) -> Result<Json<PassView>, ApiError> {
    let id = parse_id(&id)?;
    let reason = reason(body)?;
    let change = AdminChange {
        action,
        reason: reason.clone(),
        who: who.clone(),
    };
    let pass = state
        .registry
        .admin(id, change)
        .await
        .map_err(|e| match e {
            // The store refused: the pass is erased, and an erase is final.
            AdminError::Store(e @ StoreError::Erased(_)) => {
                super::erase::change_error(id, refused_as(action), e)
            }
            e => admin_error(id, e),
        })?;
    let (journaled, done) = match action {
        AdminAction::Revoke => (OperatorAction::PassRevoke, "revoked"),
        AdminAction::Suspend => (OperatorAction::PassSuspend, "suspended"),
        AdminAction::Reactivate => (OperatorAction::PassReactivate, "reactivated"),
        AdminAction::Annul => (OperatorAction::ScanAnnul, "changed"),
        AdminAction::Admit => (OperatorAction::PassAdmit, "admitted"),
        AdminAction::Reissue => (OperatorAction::PassReissue, "re-issued"),
        AdminAction::Erase => (OperatorAction::PassErase, "erased"),
    };
    let detail = match action {
        AdminAction::Reissue => format!("token generation now {}", pass.token_generation),
        _ => format!("now {}", pass.status.as_str()),
    };
    let entry = OperatorRecord::new(crate::now_ms(), who, journaled, id.to_string())
        .reason(Some(&reason))
        .detail(detail);
    super::operator::record(&state, entry, &format!("pass {id} was {done}")).await?;
    Ok(Json(crate::operator::api::pass_view(&pass, &state.keyring)))
}

/// How a refused change of an erased pass is named in the answer.
fn refused_as(action: AdminAction) -> &'static str {
    match action {
        AdminAction::Reactivate => "reactivated",
        AdminAction::Reissue => "re-issued",
        _ => "changed",
    }
}

/// One `POST /v1/passes/{id}/ACTION` handler for each status change, with
/// `{"reason": ...}`: ordered with the pass's scans through its actor, and
/// kept in the audit log. Only the name, the action and the answer's words
/// differ, so the handler and its OpenAPI entry are written once.
macro_rules! status_change {
    ($name:ident, $action:ident, $path:literal, $operation:literal, $doc:literal, $done:literal) => {
        // utoipa reads literal doc attributes only, hence `$doc` whole.
        #[doc = $doc]
        #[doc = "the pass's scans through its actor, and kept in the audit log."]
        #[utoipa::path(
            post,
            path = $path,
            operation_id = $operation,
            tag = "passes",
            params(PassIdParam),
            request_body = ReasonBody,
            responses(
                (status = 200, description = $done, body = PassView),
                (status = 400, description = "Not a pass id, or no reason (or one over 256 bytes), or not the JSON body described", body = ErrorBody),
                (status = 404, description = "No such pass", body = ErrorBody),
                (status = 409, description = "The pass's status does not allow this change (`conflict`), or the pass was erased and an erase is final (`pass_erased`: no reactivation, no re-issue)", body = ErrorBody),
                (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
                (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
            ),
            security(("bearer" = [])),
        )]
        pub async fn $name(
            State(s): State<AppState>,
            who: Who,
            PathParam(id): PathParam,
            body: ReasonJson,
        ) -> Result<Json<PassView>, ApiError> {
            change(s, who.0.name, id, AdminAction::$action, body).await
        }
    };
}

status_change!(
    revoke,
    Revoke,
    "/v1/passes/{id}/revoke",
    "revoke_pass",
    "`POST /v1/passes/{id}/revoke`, with `{\"reason\": ...}`; ordered with",
    "Revoked: refused until reactivated; the pass as it is now"
);
status_change!(
    suspend,
    Suspend,
    "/v1/passes/{id}/suspend",
    "suspend_pass",
    "`POST /v1/passes/{id}/suspend`, with `{\"reason\": ...}`; ordered with",
    "Suspended: refused for now; the pass as it is now"
);
status_change!(
    reissue,
    Reissue,
    "/v1/passes/{id}/reissue",
    "reissue_pass",
    "`POST /v1/passes/{id}/reissue`, with `{\"reason\": ...}`: a new token (the old one is denied `superseded`), the status untouched; ordered with",
    "Re-issued: the pass as it is now, with its new token"
);
status_change!(
    reactivate,
    Reactivate,
    "/v1/passes/{id}/reactivate",
    "reactivate_pass",
    "`POST /v1/passes/{id}/reactivate`, with `{\"reason\": ...}`; ordered with",
    "Active again; the pass as it is now"
);
