//! `GET /v1/flags` (the fraud flags scans raised, from the scan records of
//! one event) and `GET /v1/incidents` (forged and malformed tokens, from
//! the edge's bounded in-memory log). A viewer reads both: neither holds a
//! token nor display text.

use super::failures::store_error;
use super::logs::next_header;
use super::params::{PageView, Params, page_view};
use super::schema::{FlagFilters, IncidentFilters, LogWindow, Paging};
use crate::edge::incidents::Incident;
use crate::operator::api::{ApiError, ErrorBody};
use crate::operator::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use scangate_api::{FlagView, IncidentView, rfc3339};
use scangate_core::flags::Flag;
use scangate_core::pass::EVENT_MAX_BYTES;
use scangate_storage::{FlagFilter, PAGE_MAX, ScanQuery, ScanScope};

/// Page size of both lists when no `limit` is given (as the scan list).
const PAGE_LIMIT_DEFAULT: usize = 100;

/// The parameters `/v1/flags` takes.
const FLAG_FILTERS: [&str; 6] = ["event", "kind", "from", "until", "limit", "after"];

/// The parameters `/v1/incidents` takes.
const INCIDENT_FILTERS: [&str; 3] = ["device", "limit", "after"];

/// `GET /v1/flags?event=&kind=&from=&until=&limit=&after=`: the flagged
/// scans of one event, oldest first, one view per flag; a page examines
/// at most a bounded number of scans, so it may be short with a `next`.
#[utoipa::path(
    get,
    path = "/v1/flags",
    operation_id = "list_flags",
    tag = "scans",
    params(FlagFilters, LogWindow, Paging),
    responses(
        (status = 200, description = "One page of fraud flags, oldest first (at most `limit` \
            scans, one item per flag)", body = PageView<FlagView>,
            headers(("x-next-cursor" = String, description = "Pass as `after` for the rest; absent at the end"))),
        (status = 400, description = "A bad or missing parameter (`field` names it)", body = ErrorBody),
        (status = 503, description = "The store could not be read", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_flags(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<(HeaderMap, Json<PageView<FlagView>>), ApiError> {
    let p = Params::parse(raw.as_deref(), &FLAG_FILTERS)?;
    let event = p
        .name("event", EVENT_MAX_BYTES)?
        .ok_or_else(|| ApiError::invalid("event", "name the event whose flags to list"))?;
    let kind = p.get("kind").map(flag).transpose()?;
    let q = ScanQuery {
        from_ms: p.time("from")?,
        until_ms: p.time("until")?,
        flagged: Some(kind.map_or(FlagFilter::Any, FlagFilter::Only)),
        after: p.cursor()?,
        ..ScanQuery::all(
            ScanScope::Event(event.to_owned()),
            p.limit(PAGE_LIMIT_DEFAULT)?,
        )
    };
    let page = state.store.query_scans(q).await.map_err(store_error)?;
    let mut view = page_view(page, |r| FlagView::of_record(r, kind));
    let items = view.items.drain(..).flatten().collect();
    let view = PageView {
        items,
        next: view.next,
    };
    Ok((next_header(view.next.as_deref()), Json(view)))
}

/// `GET /v1/incidents?device=&limit=&after=`: forged and malformed tokens
/// the gateway refused since it started, oldest first (the log keeps the
/// last [`INCIDENTS_MAX`](crate::edge::incidents::INCIDENTS_MAX)).
#[utoipa::path(
    get,
    path = "/v1/incidents",
    operation_id = "list_incidents",
    tag = "scans",
    params(IncidentFilters),
    responses(
        (status = 200, description = "One page of security incidents, oldest first",
            body = PageView<IncidentView>,
            headers(("x-next-cursor" = String, description = "Pass as `after` for the rest; absent at the end"))),
        (status = 400, description = "A bad parameter (`field` names it)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_incidents(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<(HeaderMap, Json<PageView<IncidentView>>), ApiError> {
    let p = Params::parse(raw.as_deref(), &INCIDENT_FILTERS)?;
    let after = p.get("after").map(seq).transpose()?;
    let device = p.get("device");
    let limit = p.limit(PAGE_LIMIT_DEFAULT)?.min(PAGE_MAX);
    let (items, next) = state.incidents.page(after, device, limit);
    let view = PageView {
        items: items.iter().map(view).collect(),
        next: next.map(|n| n.to_string()),
    };
    Ok((next_header(view.next.as_deref()), Json(view)))
}

/// Most digits of an incident's `seq` (as the document's pattern says):
/// 19 digits hold more incidents than a gateway refuses in its life.
const SEQ_MAX_DIGITS: usize = 19;

/// The `after` parameter of `/v1/incidents`: an incident's `seq`.
fn seq(text: &str) -> Result<u64, ApiError> {
    let digits = !text.is_empty() && text.len() <= SEQ_MAX_DIGITS;
    text.parse::<u64>()
        .ok()
        .filter(|_| digits && text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            ApiError::invalid(
                "after",
                format!("{text:?}: expected the seq of an incident, 1 to {SEQ_MAX_DIGITS} digits"),
            )
        })
}

fn view(i: &Incident) -> IncidentView {
    IncidentView {
        seq: i.seq,
        at: rfc3339(i.at_ms),
        device: i.device.clone(),
        gate: i.gate.clone(),
        reason: i.reason.as_str().to_owned(),
        fingerprint: i.fingerprint.clone(),
        flags: i.flags.iter().map(|f| f.as_str().to_owned()).collect(),
    }
}

/// The `kind` parameter; a bad one is a 400 naming `kind` and every flag.
fn flag(text: &str) -> Result<Flag, ApiError> {
    Flag::parse(text).ok_or_else(|| {
        let all = Flag::ALL.map(Flag::as_str);
        ApiError::invalid(
            "kind",
            format!("{text:?}; expected one of {}", all.join(", ")),
        )
    })
}
