//! The operator journal over the API ([`crate::operator::journal`]): [`record`], which
//! every admin action (every route that needs more than
//! [`crate::operator::tokens::Permission::Read`]) calls before it answers, and
//! `GET /v1/audit/operator`, which reads it.

use super::params::{PageView, Params, page_view};
use super::schema::{LogWindow, OperatorAuditQuery, Paging};
use crate::operator::api::{ApiError, ErrorBody};
use crate::operator::journal::{
    self, Journal, JournalError, JournalQuery, OperatorAction, OperatorRecord,
};
use crate::operator::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;

/// Page size of `/v1/audit/operator` when no `limit` is given.
const PAGE_LIMIT_DEFAULT: usize = 100;

/// The operator journal of this gateway's data directory.
pub fn journal_of(state: &AppState) -> Journal {
    Journal::new(state.data.operator_journal())
}

/// Appends `record` to the operator journal (synced to disk) before the
/// action is answered. The change it describes is already made and stands;
/// when the line cannot be written the record goes to the error log and the
/// answer is 500 `journal_failed`, saying that `done` happened.
pub async fn record(state: &AppState, record: OperatorRecord, done: &str) -> Result<(), ApiError> {
    let action = record.action;
    let (who, subject) = (record.who.clone(), record.subject.clone());
    match journal::append_async(journal_of(state), record).await {
        Ok(()) => Ok(()),
        Err(e) => Err(journal_failed(action, &who, &subject, done, &e)),
    }
}

/// The answer when a change was made but its journal line was not written:
/// logged with the record (no secrets in it), 500 `journal_failed`.
pub fn journal_failed(
    action: OperatorAction,
    who: &str,
    subject: &str,
    done: &str,
    e: &dyn std::fmt::Display,
) -> ApiError {
    tracing::error!(
        action = action.as_str(),
        who = %who,
        subject = %subject,
        error = %e,
        "an admin action was made but its operator journal line could not be written"
    );
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "journal_failed",
        format!("{done}, but its audit line could not be written: {e}"),
    )
}

/// `GET /v1/audit/operator?action=&who=&subject=&from=&until=&limit=&after=`.
#[utoipa::path(
    get,
    path = "/v1/audit/operator",
    operation_id = "operator_audit",
    tag = "scans",
    params(OperatorAuditQuery, LogWindow, Paging),
    responses(
        (status = 200, description = "One page of the operator journal, oldest first: every \
            admin action (issue, import, status changes, annul, admin tokens, device revocation)",
            body = PageView<OperatorRecord>),
        (status = 400, description = "A bad parameter (`field` names it)", body = ErrorBody),
        (status = 503, description = "The journal could not be read", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn operator_audit(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageView<OperatorRecord>>, ApiError> {
    let p = Params::parse(
        raw.as_deref(),
        &[
            "action", "who", "subject", "from", "until", "limit", "after",
        ],
    )?;
    let q = JournalQuery {
        action: p.parsed::<OperatorAction>("action")?,
        who: p.get("who").map(str::to_owned),
        subject: p.get("subject").map(str::to_owned),
        from_ms: p.time("from")?,
        until_ms: p.time("until")?,
        after: p.cursor()?,
        limit: p.limit(PAGE_LIMIT_DEFAULT)?,
    };
    let j = journal_of(&state);
    let page = tokio::task::spawn_blocking(move || j.read(&q))
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?
        .map_err(|e| match e {
            JournalError::BadCursor => {
                ApiError::invalid("after", "not a cursor from a previous page of this query")
            }
            other => ApiError::unavailable(other.to_string()),
        })?;
    Ok(Json(page_view(page, OperatorRecord::clone)))
}
