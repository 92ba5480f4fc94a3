//! [`StoreError`]: every way a store call can fail, each variant saying what
//! the caller does about it. Business outcomes (denials) are never errors.
//!
//! What a caller does, by variant:
//!
//! | variant | nothing written? | the caller |
//! | --- | --- | --- |
//! | `PassExists`, `NotFound`, `DuplicateScanId`, `Conflict`, `NotAnnullable`, `TooLarge`, `BadCursor` | yes | answers the request (these are the request's own faults or races) |
//! | `Erased` | yes | answers that an erase is final (409 `pass_erased`): issue a new pass |
//! | `Busy` | yes | answers `busy` at once; the client retries later |
//! | `Timeout`, `OutcomeUnknown` | unknown | reads back before retrying (a blind retry of a conditional write may count twice) |
//! | `Unavailable` | yes | answers 503: retrying later may work |
//! | `Failed` | may have reached the log | answers 503; this gateway grants nothing until it restarts |
//! | `Closed` | yes | stops: the gateway is shutting down |
//! | `Corrupt`, `CorruptLog` | yes | answers 500; an operator repairs the store (retrying does not help) |
//! | `Config` | yes | stops at start: an operator fixes the configuration or data directory |
//! | `Internal` | yes | answers 500 and reports a bug (retrying does not help) |

use scangate_core::{PassId, ScanId, ScanRecord};
use std::time::Duration;

/// An underlying error kept whole as a [`StoreError`]'s source: an
/// `std::io::Error`, a fjall or ScyllaDB driver error. Callers that must
/// tell causes apart downcast it (`source.downcast_ref::<std::io::Error>()`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Store failures, one enum for every operation of the
/// [`Store`](crate::Store) trait (each operation's docs name the variants it
/// answers with a meaning of their own). Business outcomes (denials) are
/// never errors. The module docs tabulate what a caller does with each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A pass with this id is already stored.
    #[error("pass {0} already exists")]
    PassExists(PassId),
    /// No pass with this id.
    #[error("pass {0} does not exist")]
    NotFound(PassId),
    /// The scan id is already recorded (possibly for another pass); the
    /// stored record is returned so the caller can answer with it.
    #[error("scan id {} is already recorded", .existing.scan_id)]
    DuplicateScanId {
        /// The record stored first under this scan id.
        existing: Box<ScanRecord>,
    },
    /// The commit queue is full: answer `busy`, do not wait.
    #[error("the store's commit queue is full")]
    Busy,
    /// The store did not answer within the deadline; the outcome is unknown
    /// until read back.
    #[error("the store did not answer within {0:?}")]
    Timeout(Duration),
    /// The store has been closed.
    #[error("the store is closed")]
    Closed,
    /// A conditional grant did not apply: the stored pass is not active, or
    /// its use count is not `uses_after - 1`, or `uses_after` exceeds
    /// `max_uses`. Nothing was written; reload the pass and decide again.
    #[error("pass {pass} changed underneath: stored uses {stored_uses}")]
    Conflict {
        /// The pass.
        pass: PassId,
        /// Its stored use count.
        stored_uses: u32,
    },
    /// The pass was erased, and an erase is final: the store refuses every
    /// change that would make it usable or reachable again (reactivate,
    /// re-issue, a holder link; any admin change but another erase).
    /// Nothing was written.
    #[error("pass {0} was erased, and an erase is final")]
    Erased(PassId),
    /// A request is larger than the store accepts in one call (for example
    /// more passes in one [`Store::insert_passes`](crate::Store::insert_passes)
    /// than its limit); split it.
    #[error("{what}: {got} is more than the limit of {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// How many were given.
        got: usize,
        /// The most accepted in one call.
        max: usize,
    },
    /// A cursor this backend did not hand out (or for another query).
    #[error("the cursor is not valid for this query")]
    BadCursor,
    /// An annul did not apply; nothing was written.
    #[error("cannot annul scan {scan_id}: {why}")]
    NotAnnullable {
        /// The scan.
        scan_id: ScanId,
        /// Why not.
        why: AnnulConflict,
    },
    /// The embedded store's redo log is damaged where it matters: records
    /// that the tables do not hold are unreadable or missing. The store
    /// refuses to open rather than lose acknowledged writes silently; the
    /// repair is in `docs/operations.md` ("A damaged redo log").
    #[error(
        "corrupt redo log: {} at byte {offset}: {detail}; the store refuses to start (see \"A damaged redo log\" in docs/operations.md)",
        path.display()
    )]
    CorruptLog {
        /// The damaged segment.
        path: std::path::PathBuf,
        /// Where in it the damage starts.
        offset: u64,
        /// What is wrong, in words.
        detail: String,
    },
    /// Something stored cannot be read back: a record that does not decode,
    /// an index entry that points at nothing, a state without its record.
    /// The store is damaged there, so retrying does not help (unlike
    /// [`StoreError::Unavailable`], which may pass); nothing was written.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The store can make nothing more durable until the gateway restarts:
    /// its redo log could not be written, or its tables stopped following
    /// the log ([`Store::failure`](crate::Store::failure) says the same).
    /// Retrying on this gateway is useless until then; the outcome of the
    /// request is settled by the restart's replay (the write may have
    /// reached the log).
    #[error("the store takes no more writes until the gateway restarts: {0}")]
    Failed(String),
    /// Something the store depends on failed: a file it could not read or
    /// write, fjall, the ScyllaDB driver or cluster (no node reachable, a
    /// request refused), a thread it could not start. Retrying later may
    /// work (answer 503). For a write to a cluster this is said only when
    /// the write was never executed; an unknown outcome is
    /// [`StoreError::OutcomeUnknown`].
    #[error("{what}: {source}")]
    Unavailable {
        /// What the store was doing, in words (a path, a statement name).
        what: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A write was sent but whether it applied is unknown (a connection lost
    /// after sending, a server-side timeout), and reading it back did not
    /// settle it. Like [`StoreError::Timeout`]: read before retrying, never
    /// retry a conditional write blindly.
    #[error("the outcome of {what} is unknown: {source}")]
    OutcomeUnknown {
        /// The write, in words.
        what: String,
        /// What the driver reported.
        #[source]
        source: BoxError,
    },
    /// The store refuses to work as configured or as found: a data
    /// directory of another format version, a configuration value out of
    /// range, a TLS CA that cannot be read. Nothing was written; an
    /// operator fixes it (retrying does not help).
    #[error("store configuration: {0}")]
    Config(String),
    /// The store broke one of its own rules (a record that cannot be
    /// encoded, a check that passed without what it checked, a thread that
    /// panicked, a driver answer without the column it always has). A bug:
    /// answer 500 and report it; retrying does not help.
    #[error("store internal error: {0}")]
    Internal(String),
}

/// Why the store refused an annul (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnulConflict {
    /// No scan with this id is kept (never recorded, or forgotten).
    #[error("no such scan")]
    NoSuchScan,
    /// The scan belongs to another pass than the audit record names.
    #[error("the scan belongs to another pass")]
    OtherPass,
    /// The scan was a denial.
    #[error("the scan was not a grant")]
    NotGranted,
    /// The scan was annulled before.
    #[error("the scan was already annulled")]
    AlreadyAnnulled,
}

impl StoreError {
    /// A [`StoreError::Unavailable`] while doing `what`, keeping `source`.
    pub fn unavailable(what: impl Into<String>, source: impl Into<BoxError>) -> StoreError {
        StoreError::Unavailable {
            what: what.into(),
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn unavailable_keeps_its_source_whole() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left");
        let e = StoreError::unavailable("cannot write /data/redo/1.log", io);
        assert_eq!(
            e.to_string(),
            "cannot write /data/redo/1.log: no space left"
        );
        let source = e.source().expect("a source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("the io::Error itself, not its text");
        assert_eq!(io.kind(), std::io::ErrorKind::StorageFull);
    }
}
