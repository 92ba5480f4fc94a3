//! Scans and the audit log: per pass (JSON arrays, as before), per event or
//! globally (pages), and annul.

use super::failures::{admin_error, store_error};
use super::params::parse_id;
use super::params::{PageView, Params, PathParam, page_view};
use super::reason::{ReasonBody, ReasonJson, reason};
use super::schema::{
    AuditPassQuery, LogWindow, Paging, PassIdParam, ScanFilters, ScanIdParam, ScanScopeQuery,
};
use crate::operator::api::{ApiError, ErrorBody, ScanView};
use crate::operator::journal::{OperatorAction, OperatorRecord};
use crate::operator::state::AppState;
use crate::operator::state::Who;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use scangate_actors::AnnulRequest;
use scangate_core::pass::{EVENT_MAX_BYTES, GATE_MAX_BYTES};
use scangate_core::{AuditRecord, Reason, ScanId};
use scangate_storage::{AuditQuery, ScanQuery, ScanScope};

/// Page size of the per-pass arrays when no `limit` is given: the whole
/// history of a normal pass in one answer, as before.
const ARRAY_LIMIT_DEFAULT: usize = scangate_storage::PAGE_MAX;
/// Page size of `/v1/scans` and `/v1/audit` when no `limit` is given.
const PAGE_LIMIT_DEFAULT: usize = 100;
/// The header that carries the next cursor of an array answer.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

const SCAN_FILTERS: [&str; 7] = [
    "gate", "decision", "reason", "from", "until", "limit", "after",
];

/// The filters shared by every scan list.
fn scan_query(p: &Params, scope: ScanScope, default_limit: usize) -> Result<ScanQuery, ApiError> {
    let granted = match p.get("decision") {
        None => None,
        Some("granted") => Some(true),
        Some("denied") => Some(false),
        Some(other) => {
            return Err(ApiError::invalid(
                "decision",
                format!("{other:?}: expected granted or denied"),
            ));
        }
    };
    let reason = match p.get("reason") {
        None => None,
        Some(r) => Some(
            Reason::ALL
                .into_iter()
                .find(|x| x.as_str() == r)
                .ok_or_else(|| {
                    ApiError::invalid("reason", format!("{r:?} is not a denial reason"))
                })?,
        ),
    };
    Ok(ScanQuery {
        scope,
        gate: p.name("gate", GATE_MAX_BYTES)?.map(str::to_owned),
        granted,
        reason,
        from_ms: p.time("from")?,
        until_ms: p.time("until")?,
        flagged: None,
        after: p.cursor()?,
        limit: p.limit(default_limit)?,
    })
}

/// `GET /v1/passes/{id}/scans`: a JSON array (the next cursor, if any, in
/// the `x-next-cursor` header).
#[utoipa::path(
    get,
    path = "/v1/passes/{id}/scans",
    operation_id = "pass_scans",
    tag = "scans",
    params(PassIdParam, ScanFilters, LogWindow, Paging),
    responses(
        (status = 200, description = "The pass's scans, oldest first", body = [ScanView],
            headers(("x-next-cursor" = String, description = "Pass as `after` for the rest; absent at the end"))),
        (status = 400, description = "A bad pass id or parameter (`field` names it)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn pass_scans(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<(HeaderMap, Json<Vec<ScanView>>), ApiError> {
    let id = parse_id(&id)?;
    let p = Params::parse(raw.as_deref(), &SCAN_FILTERS)?;
    let q = scan_query(&p, ScanScope::Pass(id), ARRAY_LIMIT_DEFAULT)?;
    let page = state.store.query_scans(q).await.map_err(store_error)?;
    let view = page_view(page, |r: &scangate_core::ScanRecord| ScanView::from(r));
    Ok((next_header(view.next.as_deref()), Json(view.items)))
}

/// `GET /v1/scans?pass=|event=&...`: one page.
#[utoipa::path(
    get,
    path = "/v1/scans",
    operation_id = "list_scans",
    tag = "scans",
    params(ScanScopeQuery, ScanFilters, LogWindow, Paging),
    responses(
        (status = 200, description = "One page of scans, oldest first", body = PageView<ScanView>),
        (status = 400, description = "Not exactly one of `pass` or `event`, or a bad parameter", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn scans(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageView<ScanView>>, ApiError> {
    let mut allowed = SCAN_FILTERS.to_vec();
    allowed.extend(["pass", "event"]);
    let p = Params::parse(raw.as_deref(), &allowed)?;
    let scope = match (p.get("pass"), p.name("event", EVENT_MAX_BYTES)?) {
        (Some(id), None) => ScanScope::Pass(pass_param(id)?),
        (None, Some(event)) => ScanScope::Event(event.to_owned()),
        _ => {
            return Err(ApiError::invalid(
                "event",
                "give exactly one of `pass` or `event`",
            ));
        }
    };
    let q = scan_query(&p, scope, PAGE_LIMIT_DEFAULT)?;
    let page = state.store.query_scans(q).await.map_err(store_error)?;
    Ok(Json(page_view(page, |r: &scangate_core::ScanRecord| {
        ScanView::from(r)
    })))
}

/// `GET /v1/passes/{id}/audit`: a JSON array.
#[utoipa::path(
    get,
    path = "/v1/passes/{id}/audit",
    operation_id = "pass_audit",
    tag = "scans",
    params(PassIdParam, LogWindow, Paging),
    responses(
        (status = 200, description = "The pass's admin changes, oldest first", body = [AuditRecord],
            headers(("x-next-cursor" = String, description = "Pass as `after` for the rest; absent at the end"))),
        (status = 400, description = "A bad pass id or parameter (`field` names it)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn pass_audit(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<(HeaderMap, Json<Vec<AuditRecord>>), ApiError> {
    let id = parse_id(&id)?;
    let p = Params::parse(raw.as_deref(), &["from", "until", "limit", "after"])?;
    let q = audit_query(&p, Some(id), ARRAY_LIMIT_DEFAULT)?;
    let page = state.store.query_audit(q).await.map_err(store_error)?;
    let view = page_view(page, |a: &AuditRecord| a.clone());
    Ok((next_header(view.next.as_deref()), Json(view.items)))
}

/// `GET /v1/audit?pass=&from=&until=&limit=&after=`: one page.
#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "list_audit",
    tag = "scans",
    params(AuditPassQuery, LogWindow, Paging),
    responses(
        (status = 200, description = "One page of the audit log (who, when, what, why)", body = PageView<AuditRecord>),
        (status = 400, description = "A bad parameter (`field` names it)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn audit(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageView<AuditRecord>>, ApiError> {
    let p = Params::parse(raw.as_deref(), &["pass", "from", "until", "limit", "after"])?;
    let pass = p.get("pass").map(pass_param).transpose()?;
    let q = audit_query(&p, pass, PAGE_LIMIT_DEFAULT)?;
    let page = state.store.query_audit(q).await.map_err(store_error)?;
    Ok(Json(page_view(page, |a: &AuditRecord| a.clone())))
}

/// The `pass` query parameter as a pass id; a bad one is a 400 naming
/// `pass`.
pub(super) fn pass_param(id: &str) -> Result<scangate_core::PassId, ApiError> {
    parse_id(id).map_err(|e| ApiError {
        field: Some("pass".into()),
        ..e
    })
}

fn audit_query(
    p: &Params,
    pass: Option<scangate_core::PassId>,
    default_limit: usize,
) -> Result<AuditQuery, ApiError> {
    Ok(AuditQuery {
        pass,
        from_ms: p.time("from")?,
        until_ms: p.time("until")?,
        after: p.cursor()?,
        limit: p.limit(default_limit)?,
    })
}

/// The `x-next-cursor` header of an answer whose next cursor is `next`.
pub(super) fn next_header(next: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(v) = next.and_then(|n| HeaderValue::from_str(n).ok()) {
        headers.insert(NEXT_CURSOR_HEADER, v);
    }
    headers
}

/// `POST /v1/scans/{scan_id}/annul` with `{"reason": ...}`: takes the grant
/// back through the pass's actor; answers the annulled scan.
#[utoipa::path(
    post,
    path = "/v1/scans/{scan_id}/annul",
    operation_id = "annul_scan",
    tag = "scans",
    params(ScanIdParam),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The annulled scan; the pass has its use back", body = ScanView),
        (status = 400, description = "Not a scan id, or no reason, or not the JSON body described", body = ErrorBody),
        (status = 404, description = "No such scan (or its id is no longer kept)", body = ErrorBody),
        (status = 409, description = "Not a grant, already annulled, or past the annul window", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn annul(
    State(state): State<AppState>,
    who: Who,
    PathParam(scan_id): PathParam,
    body: ReasonJson,
) -> Result<Json<ScanView>, ApiError> {
    let scan_id = ScanId::new(scan_id).map_err(|e| ApiError::invalid("scan_id", e.to_string()))?;
    let reason = reason(body)?;
    let record = state
        .store
        .find_scan(&scan_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::not_found(format!("no scan {scan_id} (or its id is no longer kept)"))
        })?;
    let request = AnnulRequest {
        scan_id: scan_id.clone(),
        reason: reason.clone(),
        who: who.0.name.clone(),
    };
    let annulled = state
        .registry
        .annul(record.pass_id, request)
        .await
        .map_err(|e| admin_error(record.pass_id, e))?;
    let entry = OperatorRecord::new(
        crate::now_ms(),
        who.0.name,
        OperatorAction::ScanAnnul,
        scan_id.as_str(),
    )
    .reason(Some(&reason))
    .detail(format!("pass {}", record.pass_id));
    let done = format!("scan {scan_id} was annulled");
    super::operator::record(&state, entry, &done).await?;
    Ok(Json(ScanView::from(&annulled)))
}
