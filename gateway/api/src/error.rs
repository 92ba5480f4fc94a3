//! The admin API's error answer, `{"error": {"code", "message", "field"}}`
//! with its status, and the status and code an extractor's refusal gets, so
//! every refusal has the shape and status the OpenAPI document says (the
//! server turns axum's rejections into [`ApiError::rejected`]).

use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An API error: `{"error": {"code", "message", "field"}}` with a status code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// HTTP status (not serialized).
    #[serde(skip, default = "internal")]
    #[schema(ignore)]
    pub status: StatusCode,
    /// Machine-readable code: `invalid`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `too_large`, `unsupported_media_type`,
    /// `unavailable`, `journal_failed`.
    pub code: String,
    /// One sentence.
    pub message: String,
    /// The offending field, if one.
    pub field: Option<String>,
}

fn internal() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

/// Every error answer's body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ApiError,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
        }
    }

    /// 400 for a field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 413 `too_large`: a body, a batch or a file over its limit (the
    /// message names the limit).
    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// An extractor's rejection as the documented error: 413 `too_large`
    /// (a body over its limit), 415 `unsupported_media_type` (a JSON body
    /// without `Content-Type: application/json`), and every other
    /// rejection, 422 (well-formed JSON of the wrong shape) included, 400
    /// `invalid`, which is the status the OpenAPI document declares for a
    /// bad request.
    pub fn rejected(status: StatusCode, message: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(message),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::new(status, "unsupported_media_type", message)
            }
            _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid", message),
        }
    }

    /// Parses an error body returned by the server.
    pub fn from_body(status: StatusCode, body: &str) -> Self {
        match serde_json::from_str::<ErrorBody>(body) {
            Ok(b) => ApiError { status, ..b.error },
            Err(_) => ApiError::new(status, "http", format!("HTTP {status}: {}", body.trim())),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        (self.status, axum::Json(ErrorBody { error: self })).into_response()
    }
}

/// Parses a JSON object into `T`. serde's derived structs also take a JSON
/// array of their fields in order, which the OpenAPI document does not
/// allow: a body that is not an object is refused here.
pub fn from_json_object<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, serde_json::Error> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)?;
    serde_json::from_value(serde_json::Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extractor_refusals_get_the_documented_status() {
        let e = |s| ApiError::rejected(s, "why".into());
        assert_eq!(
            e(StatusCode::UNPROCESSABLE_ENTITY).status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(e(StatusCode::UNPROCESSABLE_ENTITY).code, "invalid");
        assert_eq!(e(StatusCode::PAYLOAD_TOO_LARGE).code, "too_large");
        let media = e(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            (media.status, media.code.as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        );
        assert!(from_json_object::<crate::IssueRequest>(br#"["fest"]"#).is_err());
        assert!(from_json_object::<crate::IssueRequest>(br#"{"event": "fest"}"#).is_ok());
    }
}
