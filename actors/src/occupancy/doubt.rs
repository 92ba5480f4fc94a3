//! Zone places in doubt: the place of an entry whose write's outcome is
//! unknown (the store timed out or failed during the commit), kept by the
//! scan id until a later write of the same scan id, the scanner's retry,
//! says whether the entry is durable.
//!
//! The store answers the retry for certain, because it records a scan id
//! at most once: the retry is written only if the first write is not there
//! and never will be (on ScyllaDB a Paxos round left behind applies before
//! any later write to its partition, or never), and it is refused as a
//! duplicate, with the stored record, if the first write is there. Then
//! the doubt is settled under its event's lock: the place is given back,
//! and, when the first write is there, its movement moves the counts.

use super::{Counts, lock};
use scangate_core::ScanId;
use scangate_core::event::Place;
use scangate_storage::StoreError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Most places in doubt kept for a retry to settle (1,024). A place is in
/// doubt only when the store fails or times out during a commit: one per
/// entry into a zone with a capacity then in flight. A gateway takes a
/// few hundred entries a second and the store's deadline is seconds, so
/// one such spell leaves fewer than this. A place beyond it stays held
/// until the next start: the count errs high, never above a capacity.
pub const IN_DOUBT_MAX: usize = 1_024;

/// A place held for an entry whose write's outcome is unknown.
#[derive(Debug)]
pub(super) struct Doubt {
    counts: Counts,
    place: Place,
}

impl Doubt {
    pub(super) fn new(counts: Counts, place: Place) -> Self {
        Doubt { counts, place }
    }

    /// Gives the place back: another place stands for it.
    pub(super) fn give_back(self) {
        lock(&self.counts).release(&self.place);
    }

    /// Settles the doubt by `written`, the known outcome of a later write
    /// of its scan id: written, the scan id was free, so the entry in doubt
    /// is not there; refused as a duplicate, the stored record is the
    /// entry's, and its movement moves the counts if it was a grant. Any
    /// other answer tells nothing, and the doubt waits for the next write.
    pub(super) fn settle(self, written: &Result<(), StoreError>) -> Settled {
        let first = match written {
            Ok(()) => None,
            Err(StoreError::DuplicateScanId { existing }) => Some(existing),
            Err(_) => return Settled::Not(self),
        };
        let movement = first
            .filter(|r| r.decision.is_granted())
            .and_then(|r| r.movement.as_deref().copied());
        let mut c = lock(&self.counts);
        c.release(&self.place);
        if let Some(m) = &movement {
            c.apply(m);
        }
        let outcome = if movement.is_some() {
            "written"
        } else {
            "not_written"
        };
        metrics::counter!("scangate_zone_places_settled_total", "outcome" => outcome).increment(1);
        Settled::Done
    }
}

/// What [`Doubt::settle`] did.
#[derive(Debug)]
pub(super) enum Settled {
    /// The place was given back (and the counts moved, if it was written).
    Done,
    /// The write told nothing; the doubt waits for the next.
    Not(Doubt),
}

/// The places in doubt, by scan id, at most [`IN_DOUBT_MAX`].
#[derive(Debug, Default)]
pub(super) struct Doubts {
    by_scan: Mutex<HashMap<ScanId, Doubt>>,
    /// How many there are, read without the lock: a write takes the lock
    /// only while some place is in doubt.
    len: AtomicUsize,
}

impl Doubts {
    fn map(&self) -> MutexGuard<'_, HashMap<ScanId, Doubt>> {
        // A poisoned lock still holds a valid map.
        self.by_scan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `doubt` for a write of `scan_id` to settle; beyond
    /// [`IN_DOUBT_MAX`] its place stays held until the next start.
    pub(super) fn keep(&self, scan_id: ScanId, doubt: Doubt) {
        let mut map = self.map();
        let room = map.len() < IN_DOUBT_MAX || map.contains_key(&scan_id);
        if room && let Some(replaced) = map.insert(scan_id, doubt) {
            // Two writes of one scan id, at most one landed: one place
            // stands for both.
            replaced.give_back();
        }
        self.len.store(map.len(), Ordering::Release);
    }

    /// The doubt on `scan_id`, taken out for a write of it to settle.
    pub(super) fn take(&self, scan_id: &ScanId) -> Option<Doubt> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut map = self.map();
        let doubt = map.remove(scan_id);
        self.len.store(map.len(), Ordering::Release);
        doubt
    }

    /// How many places are in doubt.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }
}
