//! What a conditional write's answer means, as pure functions: whether it
//! applied, whether a driver error leaves its outcome unknown, how a serial
//! read resolves an unknown outcome, and why a write that did not apply was
//! refused. No I/O here, so every branch is a unit test.

use scangate_core::{PassId, ScanRecord};
use scangate_storage::PassState;
use scangate_storage::{Annul, AnnulConflict, StoreError};
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::value::CqlValue;

/// The column every LWT result starts with.
pub const APPLIED: &str = "[applied]";

/// Whether a LWT applied, from its result's column names and first row.
/// ScyllaDB returns one row per conditional statement, all with the same
/// `[applied]`; anything else is a driver or server fault.
pub fn applied(
    columns: &[&str],
    first_row: Option<&[Option<CqlValue>]>,
) -> Result<bool, StoreError> {
    let missing = || StoreError::Internal("a conditional write answered without [applied]".into());
    let index = columns
        .iter()
        .position(|c| *c == APPLIED)
        .ok_or_else(missing)?;
    match first_row.and_then(|row| row.get(index)) {
        Some(Some(CqlValue::Boolean(b))) => Ok(*b),
        _ => Err(missing()),
    }
}

/// What a failed request says about a write.
#[derive(Debug)]
pub enum Failure {
    /// It was not executed: nothing was written. The error to answer.
    NotExecuted(StoreError),
    /// It may or may not have been applied (a timeout, a connection lost
    /// after sending). Resolve by reading; never retry.
    Unknown(String),
}

/// Sorts a driver error into [`Failure`]. Only errors that prove the
/// request never reached a replica's write path are `NotExecuted`; any
/// doubt is `Unknown`.
pub fn classify(error: &ExecutionError) -> Failure {
    let not_executed = |e: StoreError| Failure::NotExecuted(e);
    let backend = |what: &str| {
        not_executed(StoreError::unavailable(
            format!("scylla: {what}"),
            error.clone(),
        ))
    };
    match error {
        ExecutionError::BadQuery(_)
        | ExecutionError::PrepareError(_)
        | ExecutionError::UseKeyspaceError(_) => backend("request refused"),
        ExecutionError::EmptyPlan | ExecutionError::ConnectionPoolError(_) => {
            backend("no node to send to")
        }
        ExecutionError::LastAttemptError(attempt) => match attempt {
            RequestAttemptError::UnableToAllocStreamId => not_executed(StoreError::Busy),
            RequestAttemptError::SerializationError(_)
            | RequestAttemptError::CqlRequestSerialization(_) => backend("request not sent"),
            RequestAttemptError::DbError(db, _) => match db {
                DbError::Overloaded | DbError::RateLimitReached { .. } => {
                    not_executed(StoreError::Busy)
                }
                DbError::SyntaxError
                | DbError::Invalid
                | DbError::AlreadyExists { .. }
                | DbError::Unauthorized
                | DbError::AuthenticationError
                | DbError::ConfigError
                | DbError::IsBootstrapping
                | DbError::Unprepared { .. }
                | DbError::ProtocolError => backend("request refused"),
                // Timeouts and failures (and `Unavailable`, which a LWT's
                // learn phase can raise after the accept phase succeeded).
                _ => Failure::Unknown(error.to_string()),
            },
            _ => Failure::Unknown(error.to_string()),
        },
        _ => Failure::Unknown(error.to_string()),
    }
}

/// What a serial read of the record a write meant to store says.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution<T> {
    /// Our record is stored: the write applied (now, or completed by the
    /// serial read itself).
    Committed,
    /// Another record is stored under the same key: a concurrent write (a
    /// retry of the same scan id through another gateway) won.
    Other(Box<T>),
    /// Nothing is stored yet. The write is not applied as of the read, and
    /// Paxos lets it apply later only before any other write to the same
    /// partition commits, and then exactly as meant; so the caller answers
    /// "unknown" (a timeout), never "refused", and a retry of the same scan
    /// id finds the record or writes it once.
    StillUnknown,
}

/// Resolves an unknown outcome from what a serial read found.
pub fn resolve<T: PartialEq>(ours: &T, found: Option<T>) -> Resolution<T> {
    match found {
        Some(r) if r == *ours => Resolution::Committed,
        Some(r) => Resolution::Other(Box::new(r)),
        None => Resolution::StillUnknown,
    }
}

/// Who holds a scan id's claim, by a serial read after a claim that did not
/// apply (or whose outcome is unknown).
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimOwner {
    /// This pass: an earlier attempt of the same scan (a retry, a conflict
    /// redecided, or our own unknown claim). Go on; the scan-id row decides.
    Ours,
    /// Another pass: the scan id is taken. The claim's record is the answer
    /// unless that pass stored one of its own.
    Other {
        /// The pass that holds it.
        pass: PassId,
        /// The record its claimer meant to store.
        intended: Box<ScanRecord>,
    },
    /// No claim (not applied as of the read, or already expired).
    Nobody,
}

/// Who holds the claim, from the serial read of it.
pub fn claim_owner(ours: PassId, found: Option<(PassId, ScanRecord)>) -> ClaimOwner {
    match found {
        Some((pass, _)) if pass == ours => ClaimOwner::Ours,
        Some((pass, intended)) => ClaimOwner::Other {
            pass,
            intended: Box::new(intended),
        },
        None => ClaimOwner::Nobody,
    }
}

/// Why a scan's batch did not apply, from serial reads made after it: the
/// scan id's row in the pass's partition and the pass's state.
pub fn scan_refused(
    ours: &ScanRecord,
    row: Option<ScanRecord>,
    state: Option<PassState>,
) -> StoreError {
    if let Some(existing) = row {
        return StoreError::DuplicateScanId {
            existing: Box::new(existing),
        };
    }
    if ours.decision.is_granted() {
        StoreError::Conflict {
            pass: ours.pass_id,
            stored_uses: state.map_or(0, |s| s.uses),
        }
    } else {
        // A denial's only condition is the scan-id row's absence.
        StoreError::Internal(format!(
            "the scan-id row of {} refused a denial but cannot be read back",
            ours.scan_id
        ))
    }
}

/// [`Annul::check`] on the scan-id row as read: the record and its pass's
/// use count (`None` when the pass has no state).
pub fn annul_check(
    annul: &Annul,
    found: Option<(Option<u32>, ScanRecord)>,
) -> Result<ScanRecord, StoreError> {
    match found {
        Some((uses, record)) => annul.check(Some(record), uses),
        None => annul.check(None, None),
    }
}

/// An annul whose outcome is unknown and whose audit line is not stored:
/// if the scan is annulled anyway, another annul won (`AlreadyAnnulled`);
/// otherwise `None`, still unknown.
pub fn annul_unresolved(
    annul: &Annul,
    found: Option<(Option<u32>, ScanRecord)>,
) -> Option<StoreError> {
    match found {
        Some((_, r)) if r.annulled.is_some() => Some(StoreError::NotAnnullable {
            scan_id: annul.scan_id.clone(),
            why: AnnulConflict::AlreadyAnnulled,
        }),
        _ => None,
    }
}

/// Why an annul's batch did not apply, from the scan-id row read after it:
/// the first check that fails now, or a conflict if every check passes (the
/// state moved and moved back; decide again).
pub fn annul_refused(annul: &Annul, found: Option<(Option<u32>, ScanRecord)>) -> StoreError {
    match annul_check(annul, found) {
        Err(e) => e,
        Ok(record) => StoreError::Conflict {
            pass: record.pass_id,
            stored_uses: annul.expected_uses,
        },
    }
}
