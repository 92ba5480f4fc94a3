//! The `{"reason": ...}` body of status changes and annulments: a JSON
//! object with a reason that is not blank and within the core's length bound.

use crate::operator::api::ApiError;
use axum::Json;
use scangate_core::pass::{REASON_MAX_BYTES, check_len};
use serde::Deserialize;
use serde_json::Map;
use utoipa::ToSchema;

/// A JSON object, as read before it becomes a typed body.
pub type JsonObject = Map<String, serde_json::Value>;

/// The body of a status change or an annul.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why (kept in the audit log): 1 to 256 bytes, not only white space.
    #[schema(min_length = 1, max_length = 256, pattern = "[^\\t\\n\\u000b\\f\\r ]")]
    pub reason: String,
}

/// The white space a reason may not consist of alone: ASCII's, which the
/// document's pattern `[^\t\n\u000b\f\r ]` spells in every regex dialect.
fn is_blank(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// Reads and checks a `{"reason": ...}` body: a JSON object (serde would
/// take `["why"]` for the struct too, which the document does not allow).
pub fn reason(body: ReasonJson) -> Result<String, ApiError> {
    let Json(object) = body.map_err(crate::operator::api::from_rejection)?;
    let body: ReasonBody = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| ApiError::invalid("body", e.to_string()))?;
    check_reason(&body.reason)?;
    Ok(body.reason)
}

/// A reason is not blank and within the core's length bound (every body
/// that carries one: status changes, annul, admit).
pub fn check_reason(reason: &str) -> Result<(), ApiError> {
    if reason.bytes().all(is_blank) {
        return Err(ApiError::invalid("reason", "a reason is required"));
    }
    check_len("reason", reason, REASON_MAX_BYTES)
        .map_err(|e| ApiError::invalid("reason", e.to_string()))
}

/// A `{"reason": ...}` body as axum reads it: a JSON object, or why not.
pub type ReasonJson = Result<Json<JsonObject>, axum::extract::rejection::JsonRejection>;
