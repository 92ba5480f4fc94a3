//! The status changes operators make ([`AdminAction`]) and which of them
//! apply to a pass's current status ([`transition`]).

use super::Status;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An operator's change to a pass's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    /// Block the pass for good (until an explicit reactivate).
    Revoke,
    /// Block the pass for now.
    Suspend,
    /// Make a suspended or revoked pass usable again.
    Reactivate,
    /// Take back one granted scan (within the annul window), giving the use
    /// back; the status does not change.
    Annul,
    /// A guard's override: admit the pass at a gate by hand, counted like a
    /// grant; only an active pass, and the status does not change.
    Admit,
    /// Give the pass a new token: the old one is denied `superseded`; the
    /// status does not change.
    Reissue,
    /// Erase the holder's personal data (display text, card fields) for
    /// good and revoke the pass, in one act; applies to every status (an
    /// erase of an erased pass changes nothing more).
    Erase,
}

impl AdminAction {
    /// The contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::Revoke => "revoke",
            AdminAction::Suspend => "suspend",
            AdminAction::Reactivate => "reactivate",
            AdminAction::Annul => "annul",
            AdminAction::Admit => "admit",
            AdminAction::Reissue => "reissue",
            AdminAction::Erase => "erase",
        }
    }
}

/// An admin change that does not apply to the pass's current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("cannot {action} a pass that is {status}", action = .action.as_str(), status = .status.as_str())]
pub struct TransitionError {
    /// The change asked for.
    pub action: AdminAction,
    /// The status the pass has.
    pub status: Status,
}

/// The status after `action`, or why it does not apply.
///
/// Erase revokes from any status. Revoke wins over suspend: a revoked pass
/// cannot be suspended, and only `Reactivate` ever makes a revoked pass
/// active again. `Annul`, `Admit` and `Reissue` are not status changes and
/// never apply here.
pub fn transition(status: Status, action: AdminAction) -> Result<Status, TransitionError> {
    let next = match (status, action) {
        (Status::Active | Status::Suspended, AdminAction::Revoke) => Status::Revoked,
        (Status::Active, AdminAction::Suspend) => Status::Suspended,
        (Status::Suspended | Status::Revoked, AdminAction::Reactivate) => Status::Active,
        (_, AdminAction::Erase) => Status::Revoked,
        _ => return Err(TransitionError { action, status }),
    };
    Ok(next)
}
