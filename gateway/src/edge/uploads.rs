//! Offline uploads at the gateway (issue 26, reconciliation): a scanner's
//! batch of scans it decided alone, each recorded as the fact it is and
//! flagged with every rule it broke. The gateway never decides them again.
//!
//! Per request ([`Uploads::admit`], cheap and synchronous, before any task):
//! the gateway is not shutting down, the batch passes
//! [`OfflineUpload::check`] (1 to `UPLOAD_BATCH_MAX` scans, distinct scan
//! ids), the store can still record, the device's rate bucket gives one
//! token (per batch, as a first snapshot request takes one), and the
//! connection has an in-flight slot. Otherwise the whole request is
//! refused with one error and nothing is recorded.
//!
//! Per scan, in the batch's order ([`Uploads::reconcile`]):
//! - a field over its limit ([`OfflineScan::check`]): `refused`
//!   (`invalid_request`), alone;
//! - a token that does not verify with the keyring: a pass-less `forged`
//!   conflict; a pass the store does not hold: a pass-less `unknown_pass`
//!   one. Never a grant, nothing counted. A device *denial* of such a token
//!   broke no rule and leaves nothing to record: acknowledged `recorded`
//!   with no conflict;
//! - otherwise [`Registry::reconcile`] through the pass's actor (another
//!   event's pass is recorded there, denied `wrong_event`, flagged
//!   `unknown_pass`): `recorded` or `duplicate` with its conflicts;
//!   busy, a store failure or a deadline: `refused` (`unavailable`), and the
//!   device uploads it again.
//!
//! Every write is durable before the acknowledgement is sent: the pass's
//! records by their actor, the batch's pass-less conflicts in one
//! [`Store::record_conflicts`] call (whose failure turns those scans into
//! `refused` (`unavailable`)). Then each new conflict is counted
//! (`scangate_offline_conflicts_total{kind}`) and written to the operator
//! journal, one line per conflict, in one append; every scan is counted in
//! `scangate_offline_scans_total{status}`. A duplicate counts no conflict
//! again and writes no line.

use crate::edge::ratelimit::Bucket;
use crate::edge::scan_service::{Throttle, error};
use crate::operator::api::rfc3339;
use crate::operator::journal::{self, Journal, OperatorAction, OperatorRecord};
use metrics::counter;
use scangate_actors::{OfflineFact, Reconcile, Registry, ScanError};
use scangate_core::PassId;
use scangate_core::offline::messages::{
    AckStatus, ConflictKind, OfflineAck, OfflineScan, OfflineUpload, ScanAck, UPLOAD_BATCH_MAX,
    UploadError,
};
use scangate_core::scan::{Conflict, ScanId};
use scangate_core::token::Keyring;
use scangate_core::wire::{ErrorCode, ResponseBody};
use scangate_storage::{RECORD_CONFLICTS_MAX, Store};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

// A batch's pass-less conflicts (at most one per scan) fit one
// `record_conflicts` call.
const _: () = assert!(UPLOAD_BATCH_MAX <= RECORD_CONFLICTS_MAX);

/// Why a whole upload request is refused: nothing of it is recorded. The
/// wire code a scanner acts on is [`UploadRefused::code`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UploadRefused {
    /// The batch is empty, too large, or repeats a scan id.
    #[error("{0}")]
    Invalid(UploadError),
    /// The gateway is shutting down.
    #[error("the gateway is shutting down; upload to another gateway")]
    ShuttingDown,
    /// The store can make nothing more durable until a restart.
    #[error(
        "this gateway's store has failed and records nothing until it is restarted; \
         upload to another gateway"
    )]
    StoreFailed,
    /// The device uploads faster than its scan rate allows.
    #[error("this device uploads faster than its scan rate allows; upload again later")]
    RateLimited,
    /// The connection has as many requests in flight as it may.
    #[error("too many requests in flight on this connection; upload again")]
    InFlight,
}

impl UploadRefused {
    /// The error code on the wire.
    pub fn code(&self) -> ErrorCode {
        match self {
            UploadRefused::Invalid(_) => ErrorCode::InvalidRequest,
            UploadRefused::ShuttingDown => ErrorCode::ShuttingDown,
            _ => ErrorCode::Unavailable,
        }
    }

    /// The error reply.
    pub fn body(&self) -> ResponseBody {
        error(self.code(), self.to_string())
    }
}

/// What became of one uploaded scan before the batch's pass-less
/// conflicts are written.
enum Outcome {
    /// Reconciled through the pass's actor.
    Reconciled {
        pass: PassId,
        status: Reconcile,
        /// The scan id the pass recorded it under (its conflicts' too).
        recorded_as: ScanId,
        conflicts: Vec<ConflictKind>,
    },
    /// A device grant that names no pass: one pass-less conflict to keep.
    PassLess(Conflict),
    /// A device denial that names no pass: nothing to keep.
    Nothing,
    /// Not recorded.
    Refused(ErrorCode),
}

/// The gateway's side of offline uploads, shared by every connection.
pub struct Uploads {
    keyring: Arc<Keyring>,
    registry: Registry,
    store: Arc<dyn Store>,
    /// Deadline of the pass-less conflicts' write (the store's call deadline).
    store_timeout: Duration,
    journal: Journal,
    failures_log: Throttle,
}

impl Uploads {
    /// Uploads verified with `keyring`, reconciled through `registry`,
    /// pass-less conflicts kept in `store` (each write under
    /// `store_timeout`), conflicts written to `journal`. Registers every
    /// status and conflict kind at 0, so `/metrics` shows them before the
    /// first upload.
    pub fn new(
        keyring: Arc<Keyring>,
        registry: Registry,
        store: Arc<dyn Store>,
        store_timeout: Duration,
        journal: Journal,
    ) -> Self {
        for status in ["recorded", "duplicate", "refused"] {
            counter!("scangate_offline_scans_total", "status" => status).increment(0);
        }
        for kind in ConflictKind::ALL {
            counter!("scangate_offline_conflicts_total", "kind" => kind.as_str()).increment(0);
        }
        Uploads {
            keyring,
            registry,
            store,
            store_timeout,
            journal,
            failures_log: Throttle::new(),
        }
    }

    /// The checks of a whole request, cheapest first; the in-flight slot
    /// its task holds. A refused request's scans count as `refused`.
    pub fn admit(
        &self,
        upload: &OfflineUpload,
        shutting_down: bool,
        bucket: &Bucket,
        in_flight: &Arc<Semaphore>,
    ) -> Result<OwnedSemaphorePermit, UploadRefused> {
        let refused = if shutting_down {
            Some(UploadRefused::ShuttingDown)
        } else if let Err(e) = upload.check() {
            Some(UploadRefused::Invalid(e))
        } else if self.registry.store_failure().is_some() {
            Some(UploadRefused::StoreFailed)
        } else if !bucket.try_take() {
            Some(UploadRefused::RateLimited)
        } else {
            None
        };
        let refused = match (refused, in_flight.clone().try_acquire_owned()) {
            (None, Ok(permit)) => return Ok(permit),
            (refused, _) => refused.unwrap_or(UploadRefused::InFlight),
        };
        counter!("scangate_offline_scans_total", "status" => "refused")
            .increment(upload.scans.len() as u64);
        Err(refused)
    }

    /// Records every scan of an admitted upload from `device` (its
    /// certificate name) and answers one acknowledgement per scan, in order,
    /// once everything recorded is durable.
    pub async fn reconcile(&self, device: &str, upload: OfflineUpload) -> OfflineAck {
        let now_ms = crate::now_ms();
        let mut outcomes = Vec::with_capacity(upload.scans.len());
        for scan in upload.scans {
            let outcome = self.one(device, &scan, now_ms).await;
            outcomes.push((scan, outcome));
        }
        let pass_less: Vec<Conflict> = outcomes
            .iter()
            .filter_map(|(_, o)| match o {
                Outcome::PassLess(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        let kept = pass_less.is_empty() || self.keep(pass_less).await;
        let mut fresh = Vec::new();
        let scans = outcomes
            .into_iter()
            .map(|(scan, outcome)| {
                let (status, conflicts) = settle(outcome, kept, &scan, device, now_ms, &mut fresh);
                count(status);
                ScanAck {
                    scan_id: scan.scan_id,
                    status,
                    conflicts,
                }
            })
            .collect();
        self.flag(fresh).await;
        OfflineAck { scans }
    }

    /// One scan, up to its durable record (pass-less conflicts excepted).
    async fn one(&self, device: &str, scan: &OfflineScan, now_ms: i64) -> Outcome {
        if scan.check().is_err() {
            return Outcome::Refused(ErrorCode::InvalidRequest);
        }
        let Ok(claims) = self.keyring.verify(&scan.token) else {
            return pass_less(scan, device, None, ConflictKind::Forged, now_ms);
        };
        let fact = OfflineFact {
            scan_id: scan.scan_id.clone(),
            gate: scan.gate.clone(),
            event: scan.event.clone(),
            device: device.to_owned(),
            device_time_ms: scan.device_time_ms,
            snapshot_version: scan.snapshot_version,
            device_decision: scan.decision,
            token_not_after_ms: claims.not_after_ms,
            token_generation: claims.generation,
        };
        match self.registry.reconcile(claims.pass_id, fact).await {
            Ok(r) => Outcome::Reconciled {
                pass: claims.pass_id,
                status: r.status,
                recorded_as: r.scan_id,
                conflicts: r.conflicts,
            },
            Err(ScanError::UnknownPass) => {
                pass_less(scan, device, None, ConflictKind::UnknownPass, now_ms)
            }
            Err(ScanError::ScanIdConflict) => Outcome::Refused(ErrorCode::ScanIdConflict),
            Err(ScanError::ShuttingDown) => Outcome::Refused(ErrorCode::ShuttingDown),
            Err(e) => {
                self.log_failure(&e, Some(claims.pass_id));
                Outcome::Refused(ErrorCode::Unavailable)
            }
        }
    }

    /// Keeps the batch's pass-less conflicts (at most one per scan, so at
    /// most `UPLOAD_BATCH_MAX`, within `RECORD_CONFLICTS_MAX`) durably;
    /// whether they were.
    async fn keep(&self, conflicts: Vec<Conflict>) -> bool {
        let write = self.store.record_conflicts(conflicts);
        let failure = match tokio::time::timeout(self.store_timeout, write).await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) => ScanError::Store(e),
            Err(_) => ScanError::Timeout(self.store_timeout),
        };
        self.log_failure(&failure, None);
        false
    }

    /// Counts the conflicts recorded now and writes one journal line each
    /// (one append, one sync). A journal that cannot be written is logged:
    /// the conflicts are in the store, and listed from there.
    async fn flag(&self, fresh: Vec<Conflict>) {
        if fresh.is_empty() {
            return;
        }
        for c in &fresh {
            counter!("scangate_offline_conflicts_total", "kind" => c.kind.as_str()).increment(1);
        }
        let lines = fresh.iter().map(journal_line).collect();
        if let Err(e) = journal::append_all_async(self.journal.clone(), lines).await {
            tracing::error!(
                error = %e,
                conflicts = fresh.len(),
                "offline conflicts were recorded but their operator journal lines could not be written"
            );
        }
    }

    /// A store or actor failure, in the log at most once a second.
    fn log_failure(&self, e: &ScanError, pass: Option<PassId>) {
        if let Some(held_back) = self.failures_log.admit() {
            tracing::warn!(
                pass = %pass.map(|p| p.short()).unwrap_or_default(),
                error = %e,
                not_logged_since = held_back,
                "an uploaded offline scan was not recorded; the device uploads it again"
            );
        }
    }
}

/// A pass-less conflict for a device grant; nothing for a denial.
fn pass_less(
    scan: &OfflineScan,
    device: &str,
    pass_id: Option<PassId>,
    kind: ConflictKind,
    now_ms: i64,
) -> Outcome {
    if !scan.decision.is_granted() {
        return Outcome::Nothing;
    }
    Outcome::PassLess(conflict(scan, device, pass_id, kind, now_ms))
}

fn conflict(
    scan: &OfflineScan,
    device: &str,
    pass_id: Option<PassId>,
    kind: ConflictKind,
    now_ms: i64,
) -> Conflict {
    Conflict {
        at_ms: now_ms,
        scan_id: scan.scan_id.clone(),
        event: scan.event.clone(),
        pass_id,
        kind,
        device: device.to_owned(),
        gate: scan.gate.clone(),
        device_time_ms: scan.device_time_ms,
    }
}

/// A scan's acknowledgement once the pass-less conflicts were `kept` (or
/// not); the conflicts recorded now go to `fresh`.
fn settle(
    outcome: Outcome,
    kept: bool,
    scan: &OfflineScan,
    device: &str,
    now_ms: i64,
    fresh: &mut Vec<Conflict>,
) -> (AckStatus, Vec<ConflictKind>) {
    match outcome {
        Outcome::Reconciled {
            pass,
            status: Reconcile::Recorded,
            recorded_as,
            conflicts,
        } => {
            let of = |&kind: &ConflictKind| Conflict {
                scan_id: recorded_as.clone(),
                ..conflict(scan, device, Some(pass), kind, now_ms)
            };
            fresh.extend(conflicts.iter().map(of));
            (AckStatus::Recorded, conflicts)
        }
        Outcome::Reconciled {
            status: Reconcile::Duplicate,
            conflicts,
            ..
        } => (AckStatus::Duplicate, conflicts),
        Outcome::PassLess(c) if kept => {
            let kind = c.kind;
            fresh.push(c);
            (AckStatus::Recorded, vec![kind])
        }
        Outcome::PassLess(_) => (AckStatus::Refused(ErrorCode::Unavailable), Vec::new()),
        Outcome::Nothing => (AckStatus::Recorded, Vec::new()),
        Outcome::Refused(code) => (AckStatus::Refused(code), Vec::new()),
    }
}

fn count(status: AckStatus) {
    let label = match status {
        AckStatus::Recorded => "recorded",
        AckStatus::Duplicate => "duplicate",
        AckStatus::Refused(_) => "refused",
    };
    counter!("scangate_offline_scans_total", "status" => label).increment(1);
}

/// The operator journal's line for a conflict: who is the device, the
/// subject the scan id; no token, no display text.
fn journal_line(c: &Conflict) -> OperatorRecord {
    let pass = c
        .pass_id
        .map_or_else(|| "none".to_owned(), |p| p.to_string());
    OperatorRecord::new(
        c.at_ms,
        format!("device:{}", c.device),
        OperatorAction::OfflineConflict,
        c.scan_id.as_str(),
    )
    .detail(format!(
        "{}: pass {pass}, event {}, gate {}, device time {}",
        c.kind.as_str(),
        c.event,
        c.gate,
        rfc3339(c.device_time_ms)
    ))
}

#[cfg(test)]
mod tests;
