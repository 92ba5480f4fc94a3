//! The messages a pass's actor takes. They live apart from the actor so the
//! directory (which holds actor handles and sends idle checks) and the actor
//! (which registers itself in the directory) do not import each other.

use crate::error::{AdminError, ScanError};
use crate::queue::Ticket;
use ractor::RpcReplyPort;
use scangate_core::protocol::{
    AdminChange, AdmitOrder, AnnulRequest, OfflineFact, Reconciled, Scan, ScanOutcome,
};
use scangate_core::{Pass, ScanRecord};

/// A request to a pass's actor. Every request but the actor's own idle check
/// carries the [`Ticket`] that bounds the mailbox.
pub(crate) enum PassMsg {
    /// Decide a scan.
    Scan {
        scan: Scan,
        reply: RpcReplyPort<Result<ScanOutcome, ScanError>>,
        ticket: Ticket,
    },
    /// Reconcile an offline fact (a scan an offline device decided).
    Offline {
        fact: OfflineFact,
        reply: RpcReplyPort<Result<Reconciled, ScanError>>,
        ticket: Ticket,
    },
    /// Apply an admin change.
    Admin {
        change: AdminChange,
        reply: RpcReplyPort<Result<Pass, AdminError>>,
        ticket: Ticket,
    },
    /// A guard's override: admit the pass by hand, counted like a scan.
    Admit {
        order: AdmitOrder,
        reply: RpcReplyPort<Result<ScanOutcome, AdminError>>,
        ticket: Ticket,
    },
    /// Annul a granted scan of this pass.
    Annul {
        request: AnnulRequest,
        reply: RpcReplyPort<Result<ScanRecord, AdminError>>,
        ticket: Ticket,
    },
    /// Read the pass as the actor holds it.
    Get {
        reply: RpcReplyPort<Pass>,
        ticket: Ticket,
    },
    /// Stop if nothing was admitted for `idle_ms` (sent by the registry's
    /// idle sweep).
    IdleCheck { idle_ms: u64 },
}
