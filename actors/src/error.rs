//! Failures of registry calls. Denials are never errors: they are
//! [`Decision`](scangate_core::Decision) values in a
//! [`ScanOutcome`](crate::ScanOutcome).

use scangate_core::pass::{PassError, TransitionError};
use scangate_core::protocol::{AdminFailure, FaultKind, ScanFailure, StoreFault};
use scangate_core::rules::AnnulRefusal;
use scangate_storage::{AnnulConflict, StoreError};
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
    /// An offline fact found the gateway busy (too many actors, the pass's
    /// queue or the store's commit queue full): nothing was recorded; the
    /// device uploads it again. (A scan answers `busy` as a denial instead.)
    #[error("the gateway is busy")]
    Busy,
    /// An offline fact names a pass the store does not hold: nothing was
    /// recorded for a pass (the caller records an `unknown_pass` conflict).
    #[error("no such pass")]
    UnknownPass,
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

/// A store error as the pass protocol sees it ([`StoreFault`]); the wrapper
/// the orphan rule asks for. Answers hand the error back unchanged.
#[derive(Debug)]
pub(crate) struct Fault(pub(crate) StoreError);

impl StoreFault for Fault {
    fn kind(&self) -> FaultKind<'_> {
        match &self.0 {
            StoreError::Busy => FaultKind::Busy,
            StoreError::Conflict { .. } => FaultKind::Conflict,
            StoreError::Erased(_) => FaultKind::Refused,
            StoreError::NotFound(_) => FaultKind::PassNotFound,
            StoreError::DuplicateScanId { existing } => FaultKind::DuplicateScanId(existing),
            StoreError::NotAnnullable { why, .. } => FaultKind::NotAnnullable(match why {
                AnnulConflict::OtherPass => Some(AnnulRefusal::OtherPass),
                AnnulConflict::NotGranted => Some(AnnulRefusal::NotGranted),
                AnnulConflict::AlreadyAnnulled => Some(AnnulRefusal::AlreadyAnnulled),
                _ => None,
            }),
            _ => FaultKind::Failed,
        }
    }
}

impl From<ScanFailure<Fault>> for ScanError {
    fn from(failure: ScanFailure<Fault>) -> Self {
        match failure {
            ScanFailure::ScanIdConflict => ScanError::ScanIdConflict,
            ScanFailure::Busy => ScanError::Busy,
            ScanFailure::Store(Fault(e)) => ScanError::Store(e),
        }
    }
}

/// A guard's override runs as a scan turn and is answered as an admin
/// request: its scan id is the gateway's own, so a conflict on it is a
/// store fault, not the caller's.
impl From<ScanFailure<Fault>> for AdminError {
    fn from(failure: ScanFailure<Fault>) -> Self {
        match failure {
            ScanFailure::ScanIdConflict => AdminError::Store(StoreError::Internal(
                "an override's fresh scan id is recorded already".into(),
            )),
            ScanFailure::Busy => AdminError::Busy,
            ScanFailure::Store(Fault(e)) => AdminError::Store(e),
        }
    }
}

impl From<AdminFailure<Fault>> for AdminError {
    fn from(failure: AdminFailure<Fault>) -> Self {
        match failure {
            AdminFailure::NotFound => AdminError::NotFound,
            AdminFailure::Transition(e) => AdminError::Transition(e),
            AdminFailure::ScanNotFound => AdminError::ScanNotFound,
            AdminFailure::Annul(e) => AdminError::Annul(e),
            AdminFailure::Invalid(e) => AdminError::Invalid(e),
            AdminFailure::Busy => AdminError::Busy,
            AdminFailure::Store(Fault(e)) => AdminError::Store(e),
        }
    }
}
