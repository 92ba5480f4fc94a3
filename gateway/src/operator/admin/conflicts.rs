//! `GET /v1/conflicts`: the offline scans that broke a rule
//! ([`crate::edge::uploads`] records them), filtered and a page at a time,
//! each `over_limit` one with the devices of its pass's other grants. A
//! viewer reads it: a conflict holds no token and no display text.

use super::failures::store_error;
use super::logs::{next_header, pass_param};
use super::params::{PageView, Params, page_view};
use super::schema::{ConflictFilters, LogWindow, Paging};
use crate::operator::api::{ApiError, ErrorBody};
use crate::operator::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use scangate_actors::ConflictView as Found;
use scangate_api::ConflictView;
use scangate_core::offline::messages::ConflictKind;
use scangate_core::pass::EVENT_MAX_BYTES;
use scangate_storage::ConflictQuery;

/// Page size of `/v1/conflicts` when no `limit` is given (as the scan and
/// audit lists).
const PAGE_LIMIT_DEFAULT: usize = 100;

/// The parameters `/v1/conflicts` takes.
const FILTERS: [&str; 7] = ["event", "kind", "pass", "from", "until", "limit", "after"];

/// `GET /v1/conflicts?event=&kind=&pass=&from=&until=&limit=&after=`: one
/// page, oldest recorded first; the next cursor is `next` and also the
/// `x-next-cursor` header.
#[utoipa::path(
    get,
    path = "/v1/conflicts",
    operation_id = "list_conflicts",
    tag = "scans",
    params(ConflictFilters, LogWindow, Paging),
    responses(
        (status = 200, description = "One page of conflicts (offline scans that broke a rule), \
            oldest recorded first", body = PageView<ConflictView>,
            headers(("x-next-cursor" = String, description = "Pass as `after` for the rest; absent at the end"))),
        (status = 400, description = "A bad parameter (`field` names it)", body = ErrorBody),
        (status = 503, description = "The store could not be read", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<(HeaderMap, Json<PageView<ConflictView>>), ApiError> {
    let p = Params::parse(raw.as_deref(), &FILTERS)?;
    let q = ConflictQuery {
        event: p.name("event", EVENT_MAX_BYTES)?.map(str::to_owned),
        kind: p.get("kind").map(kind).transpose()?,
        pass: p.get("pass").map(pass_param).transpose()?,
        from_ms: p.time("from")?,
        until_ms: p.time("until")?,
        after: p.cursor()?,
        limit: p.limit(PAGE_LIMIT_DEFAULT)?,
    };
    let page = state.registry.conflicts(q).await.map_err(store_error)?;
    let view = page_view(page, |f: &Found| {
        ConflictView::new(&f.conflict, f.other_devices.clone())
    });
    Ok((next_header(view.next.as_deref()), Json(view)))
}

/// The `kind` parameter; a bad one is a 400 naming `kind` and every kind.
fn kind(text: &str) -> Result<ConflictKind, ApiError> {
    text.parse().map_err(|e: String| {
        let all = ConflictKind::ALL.map(ConflictKind::as_str);
        ApiError::invalid("kind", format!("{e}; expected one of {}", all.join(", ")))
    })
}
