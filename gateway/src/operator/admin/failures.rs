//! Store and actor failures as API errors: what each handler answers when
//! the store or a pass's actor says no or fails.

use crate::operator::api::ApiError;
use axum::http::StatusCode;
use scangate_actors::AdminError;
use scangate_core::PassId;
use scangate_storage::StoreError;

/// Store failures as API errors.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::PassExists(id) => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("pass {id} already exists"),
        ),
        StoreError::NotFound(id) => ApiError::not_found(format!("no pass {id}")),
        StoreError::Erased(id) => super::erase::refusal(id, "changed"),
        StoreError::BadCursor => {
            ApiError::invalid("after", "not a cursor from a previous page of this query")
        }
        StoreError::TooLarge { what, got, max } => {
            ApiError::too_large(format!("{what}: {got} is more than {max}"))
        }
        // Retrying does not help: the store is damaged there, or a bug.
        e @ (StoreError::Corrupt(_) | StoreError::CorruptLog { .. } | StoreError::Internal(_)) => {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_damaged",
                e.to_string(),
            )
        }
        other => ApiError::unavailable(other.to_string()),
    }
}

/// Admin failures as API errors.
pub fn admin_error(id: PassId, e: AdminError) -> ApiError {
    match e {
        AdminError::NotFound => ApiError::not_found(format!("no pass {id}")),
        AdminError::ScanNotFound => {
            ApiError::not_found("no such scan (or its id is no longer kept)")
        }
        AdminError::Transition(e) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        AdminError::Annul(e) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        AdminError::Invalid(e) => ApiError::invalid("reason", e.to_string()),
        // The write may have been taken, and is still waited for: say so,
        // or an operator's retry meets a 409 it cannot explain.
        e @ (AdminError::Store(StoreError::Timeout(_)) | AdminError::Timeout(_)) => {
            ApiError::unavailable(format!(
                "{e}; the change may still be applied: read the pass before trying again"
            ))
        }
        AdminError::Store(e) => store_error(e),
        e => ApiError::unavailable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_change_past_its_deadline_says_it_may_still_apply() {
        let id = PassId([7; 16]);
        for e in [
            AdminError::Store(StoreError::Timeout(Duration::from_secs(2))),
            AdminError::Timeout(Duration::from_secs(5)),
        ] {
            let api = admin_error(id, e);
            assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                api.message.contains("may still be applied"),
                "{}",
                api.message
            );
        }
        let failed = admin_error(
            id,
            AdminError::Store(StoreError::unavailable("disk", "full")),
        );
        assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!failed.message.contains("may still"), "{}", failed.message);
        let damaged = admin_error(
            id,
            AdminError::Store(StoreError::Corrupt("a bad record".into())),
        );
        assert_eq!(
            (damaged.status, damaged.code.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "store_damaged")
        );
    }
}
