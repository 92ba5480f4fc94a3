//! Failures of registry calls. Denials are never errors: they are
//! [`Decision`](scangate_core::Decision) values in a
//! [`ScanOutcome`](crate::ScanOutcome).

use scangate_core::pass::{PassError, TransitionError};
use scangate_core::rules::AnnulRefusal;
use scangate_storage::StoreError;
use std::time::Duration;

/// Why a scan (or a pass lookup) could not be decided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The scan id is already recorded for another pass: the scanner reused
    /// an id, so this scan cannot be answered as a retry nor counted anew.
    #[error("the scan id is already recorded for another pass")]
    ScanIdConflict,
    /// No answer within the call deadline; the scan may or may not have been
    /// counted: retry with the same scan id to find out.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The registry is shutting down and takes no new work.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// The store failed; the pass's actor restarts from the store.
    #[error("the store failed: {0}")]
    Store(#[source] StoreError),
}

/// Why an admin change was not applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No pass with this id.
    #[error("no such pass")]
    NotFound,
    /// The change does not apply to the pass's current status.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// No scan with this id is kept (never recorded, or its id forgotten).
    #[error("no such scan")]
    ScanNotFound,
    /// The scan cannot be annulled (not a grant, annulled already, too late).
    #[error(transparent)]
    Annul(#[from] AnnulRefusal),
    /// The change itself is invalid (a reason longer than its limit).
    #[error(transparent)]
    Invalid(#[from] PassError),
    /// Too many actors or too many requests queued for this pass; retry later.
    #[error("the gateway is busy")]
    Busy,
    /// No answer within the call deadline; the change may or may not be applied.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The registry is shutting down and takes no new work.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// The store failed; nothing was applied in memory.
    #[error("the store failed: {0}")]
    Store(#[source] StoreError),
}
