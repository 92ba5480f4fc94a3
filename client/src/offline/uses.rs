//! The device's own uses that its snapshot does not count yet, per entry
//! (sans I/O: the caller persists [`LocalUses::reached`] and passes the time).
//!
//! The rule: a use counts on top of the held snapshot's entry
//! - while its offline grant waits in the upload queue (no gateway knows it);
//! - after the gateway has it (an upload acknowledged, or an online grant
//!   seen by this device) at device time `at_ms`, until a snapshot created
//!   after `at_ms` (`created_ms > at_ms`) is installed: that snapshot was
//!   built from a state that holds the use.
//!
//! `created_ms` is the gateway's clock and `at_ms` the device's. A device
//! clock ahead of the gateway keeps uses longer than needed (a pass may be
//! denied `used_up` early, offline only); a device clock behind lets a use
//! go early, and at worst one more offline grant goes through, which the
//! gateway flags `over_limit` when it is uploaded.

use scangate_core::offline::EntryIndex;
use scangate_core::offline::format::INDEX_BYTES;
use scangate_core::scan::ScanId;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// Most uses kept as "the gateway has it, the held snapshot may not"
/// (100,000, like the queue's default bound: a day of one lane twice over).
/// Past it the oldest is forgotten: a snapshot installed since most likely
/// counts it, and at worst one more offline grant is flagged `over_limit`.
pub const REACHED_USES_MAX: usize = 100_000;

/// A use the gateway has, and when the device learned so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reached {
    /// The entry's index bytes.
    pub(crate) index: [u8; INDEX_BYTES],
    /// Device time (Unix ms) of the acknowledgement or the online grant.
    pub(crate) at_ms: i64,
}

/// Uses per entry that the held snapshot does not count (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct LocalUses {
    /// Grants waiting in the queue, by scan id.
    queued: HashMap<ScanId, EntryIndex>,
    /// Oldest first; at most [`REACHED_USES_MAX`].
    reached: VecDeque<Reached>,
    /// Queued and reached uses per entry.
    per_entry: HashMap<EntryIndex, u32>,
}

impl LocalUses {
    /// Uses of `entry` on top of the snapshot's count.
    pub(crate) fn count(&self, entry: &EntryIndex) -> u32 {
        self.per_entry.get(entry).copied().unwrap_or(0)
    }

    /// An offline grant went into the queue (a scan id counts once).
    pub(crate) fn queued(&mut self, scan_id: ScanId, entry: EntryIndex) {
        if self.queued.insert(scan_id, entry).is_none() {
            *self.per_entry.entry(entry).or_insert(0) += 1;
        }
    }

    /// The gateway acknowledged a queued grant at device time `at_ms`.
    pub(crate) fn acknowledged(&mut self, scan_id: &ScanId, at_ms: i64) {
        if let Some(entry) = self.queued.remove(scan_id) {
            self.sub(&entry);
            self.reached(entry, at_ms);
        }
    }

    /// A queued grant the gateway will never record (refused for good).
    pub(crate) fn dropped(&mut self, scan_id: &ScanId) {
        if let Some(entry) = self.queued.remove(scan_id) {
            self.sub(&entry);
        }
    }

    /// The gateway has a use of `entry` since device time `at_ms` (an
    /// acknowledged upload or an online grant).
    pub(crate) fn reached(&mut self, entry: EntryIndex, at_ms: i64) {
        if self.reached.len() >= REACHED_USES_MAX
            && let Some(oldest) = self.reached.pop_front()
        {
            self.sub(&EntryIndex(oldest.index));
        }
        self.reached.push_back(Reached {
            index: entry.0,
            at_ms,
        });
        *self.per_entry.entry(entry).or_insert(0) += 1;
        debug_assert!(self.reached.len() <= REACHED_USES_MAX);
    }

    /// A snapshot created at `created_ms` (gateway time) is installed: the
    /// uses the gateway had before then are in it. Returns whether any left.
    pub(crate) fn installed(&mut self, created_ms: i64) -> bool {
        let before = self.reached.len();
        let mut gone = Vec::new();
        self.reached.retain(|r| {
            let keep = r.at_ms >= created_ms;
            if !keep {
                gone.push(EntryIndex(r.index));
            }
            keep
        });
        for entry in &gone {
            self.sub(entry);
        }
        self.reached.len() != before
    }

    /// The reached uses, oldest first, to persist.
    pub(crate) fn reached_list(&self) -> impl Iterator<Item = &Reached> {
        self.reached.iter()
    }

    fn sub(&mut self, entry: &EntryIndex) {
        if let Some(n) = self.per_entry.get_mut(entry) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_entry.remove(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ScanId {
        ScanId::new(s).expect("scan id")
    }

    const A: EntryIndex = EntryIndex([1; INDEX_BYTES]);
    const B: EntryIndex = EntryIndex([2; INDEX_BYTES]);

    #[test]
    fn a_grant_counts_from_the_queue_until_a_snapshot_made_after_its_ack() {
        let mut uses = LocalUses::default();
        uses.queued(id("s1"), A);
        uses.queued(id("s1"), A);
        uses.queued(id("s2"), B);
        assert_eq!(
            (uses.count(&A), uses.count(&B)),
            (1, 1),
            "a scan id counts once"
        );
        uses.acknowledged(&id("s1"), 1_000);
        assert_eq!(uses.count(&A), 1, "acknowledged, not yet in a snapshot");
        assert!(
            !uses.installed(1_000),
            "a snapshot made at the ack may miss it"
        );
        assert_eq!(uses.count(&A), 1);
        assert!(uses.installed(1_001));
        assert_eq!(uses.count(&A), 0, "a snapshot made after the ack holds it");
        assert_eq!(uses.count(&B), 1, "still queued: no snapshot holds it");
        uses.dropped(&id("s2"));
        assert_eq!(uses.count(&B), 0, "refused for good: never counted");
    }

    #[test]
    fn reached_uses_are_bounded_and_forget_the_oldest() {
        let mut uses = LocalUses::default();
        uses.reached(A, 0);
        for at in 1..REACHED_USES_MAX as i64 {
            uses.reached(B, at);
        }
        assert_eq!(uses.count(&A), 1);
        uses.reached(B, i64::MAX);
        assert_eq!(uses.count(&A), 0, "the oldest went first");
        assert_eq!(uses.count(&B), REACHED_USES_MAX as u32);
        assert_eq!(uses.reached_list().count(), REACHED_USES_MAX);
    }
}
