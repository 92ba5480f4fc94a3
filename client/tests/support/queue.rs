//! An entry type and helpers for the offline queue's tests on real files.

use scangate_client::queue::QueueLimits;
use scangate_client::{OfflineQueue, Queued, ScanId};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a scanner would queue after an offline grant (the real entry type
/// comes with the offline decision; the queue takes any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfflineScan {
    pub scan_id: ScanId,
    pub token: String,
    pub gate: String,
    device_time_ms: i64,
    note: String,
}

impl Queued for OfflineScan {
    fn scan_id(&self) -> &ScanId {
        &self.scan_id
    }
}

pub fn scan(id: &str) -> OfflineScan {
    scan_with_note(id, "")
}

pub fn scan_with_note(id: &str, note: &str) -> OfflineScan {
    OfflineScan {
        scan_id: ScanId::new(id).expect("scan id"),
        token: "AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKKKLLLLMMMMNNNN".into(),
        gate: "north-1".into(),
        device_time_ms: 1_790_000_000_000,
        note: note.into(),
    }
}

pub fn open(dir: &Path) -> OfflineQueue<OfflineScan> {
    OfflineQueue::open(dir, QueueLimits::default()).expect("open")
}

pub fn ids(queue: &OfflineQueue<OfflineScan>) -> Vec<String> {
    queue
        .pending()
        .map(|e| e.scan_id.as_str().to_owned())
        .collect()
}

pub fn id(s: &str) -> ScanId {
    ScanId::new(s).expect("scan id")
}
