//! The messages a pass actor takes. They live apart from the actor so the
//! directory (which holds actor handles and sends idle checks) and the actor
//! (which registers the passes it starts in the directory) do not import
//! each other.

use crate::error::{AdminError, ScanError};
use crate::queue::{Queue, Ticket};
use ractor::RpcReplyPort;
use scangate_core::flags::RecentScans;
use scangate_core::protocol::{
    AdminChange, AdmitOrder, AnnulRequest, OfflineFact, Reconciled, Scan, ScanOutcome,
};
use scangate_core::{Pass, PassId, ScanRecord};
use std::sync::Arc;

/// A message to a pass actor, which holds the passes of one slot of
/// [`ACTORS`](crate::pass_actor::ACTORS).
pub(crate) enum ActorMsg {
    /// Hold this pass, freshly loaded by the registry with its recent scans,
    /// admitting requests through `queue`. Sent before any request for it.
    Start {
        pass: Box<Pass>,
        recent: RecentScans,
        queue: Arc<Queue>,
    },
    /// A request for one of the passes it holds. A request for a pass it
    /// does not hold (stopped after the request was admitted) is dropped
    /// unanswered: its caller sees the reply port closed and routes again.
    To(PassId, PassMsg),
    /// Let the pass go if nothing was admitted for it for `idle_ms` and
    /// nothing is queued (sent by the registry's idle sweep).
    IdleCheck { pass: PassId, idle_ms: u64 },
}

/// A request about one pass. Each carries the [`Ticket`] that bounds the
/// pass's share of its actor's mailbox.
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
}
