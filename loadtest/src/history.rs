//! What a run did (the history) and what the gateway says it stored (the
//! observation): the two inputs of the checker.
//!
//! Every scan the tool sends becomes one [`Op`] with an [`Outcome`] in the
//! Jepsen sense: `ok` (granted: the gateway says it counted), `fail` (denied:
//! definitely not counted) or `info` (no answer: timeout, lost connection,
//! error; it may or may not have been counted).

use crate::floor::{FloorAsk, FloorLayout};
use crate::mix::ScanKind;
use scangate_core::{AuditRecord, Reason};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// How one scan ended, as the tool saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Granted.
    Ok,
    /// Denied, for this reason.
    Fail(Reason),
    /// No decision came back (why, in a few words).
    Info(String),
}

/// One scan sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// What kind of scan it was.
    pub kind: ScanKind,
    /// The pass (an index into [`History::passes`]); `None` for tokens of no
    /// stored pass (forged, unknown).
    pub pass: Option<u32>,
    /// The scan's sequence number; its scan id is [`History::scan_id`].
    /// A retry has the sequence number of the scan it repeats.
    pub scan: u64,
    /// When the tool handed it to the scanner SDK (Unix ms, the tool's clock).
    pub sent_ms: i64,
    /// When the answer (or the error) came back (Unix ms).
    pub done_ms: i64,
    /// How it ended.
    pub outcome: Outcome,
    /// True when the gateway said it answered from the stored first decision.
    pub replayed: bool,
    /// True when the device decided alone (offline, from its snapshot).
    pub offline: bool,
    /// The gate, direction and check-only flag of an event floor scan.
    pub floor: Option<FloorAsk>,
}

/// What the gateway said of one offline grant's upload (the last word the
/// tool had for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Recorded by this upload.
    Recorded,
    /// Recorded before (an earlier upload, or the online try that reached
    /// the gateway before its answer was lost): counted once.
    Duplicate,
    /// Refused, with the gateway's error code.
    Refused(String),
    /// Still in the device's queue when the run gave up syncing.
    Pending,
}

/// One offline grant's upload, as the device saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOp {
    /// The scan's sequence number (its scan id is [`History::scan_id`]).
    pub scan: u64,
    /// What the gateway answered.
    pub status: UploadStatus,
    /// The conflicts it flagged (kind spellings, `over_limit`, ...).
    pub conflicts: Vec<String>,
}

/// A revoke the tool asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeOp {
    /// The pass (an index into [`History::passes`]).
    pub pass: u32,
    /// When the request was sent (Unix ms).
    pub invoked_ms: i64,
    /// When the admin API confirmed it (Unix ms); `None` when it did not.
    pub completed_ms: Option<i64>,
}

/// Everything a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// This run's id: the prefix of every scan id it sends.
    pub run_id: String,
    /// Pass ids (32 hex digits), indexed by [`Op::pass`].
    pub passes: Vec<String>,
    /// The scans, in the order their answers came back.
    pub ops: Vec<Op>,
    /// The revokes.
    pub revokes: Vec<RevokeOp>,
    /// The uploads of offline grants, in the order the devices saw them.
    pub uploads: Vec<UploadOp>,
    /// The event floor of a `--floor` run.
    pub floor: Option<FloorHistory>,
}

/// What the checker must know of an event floor run besides its scans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloorHistory {
    /// The layout the run set.
    pub layout: Arc<FloorLayout>,
    /// The event.
    pub event: String,
}

impl History {
    /// The scan id of scan `seq` of this run.
    pub fn scan_id(&self, seq: u64) -> String {
        scan_id(&self.run_id, seq)
    }

    /// The pass id at `index` (or `?` for an index out of range).
    pub fn pass_id(&self, index: u32) -> &str {
        self.passes
            .get(index as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }
}

/// The scan id of scan `seq` of run `run_id`: `RUN-SEQ` (hex).
pub fn scan_id(run_id: &str, seq: u64) -> String {
    format!("{run_id}-{seq:x}")
}

/// The last upload seen for each offline grant, by sequence number (a
/// scan refused for now is uploaded again: the later word counts).
pub fn last_uploads(uploads: &[UploadOp]) -> HashMap<u64, &UploadOp> {
    let mut last = HashMap::with_capacity(uploads.len());
    for u in uploads {
        last.insert(u.scan, u);
    }
    last
}

/// The sequence number of a scan id of run `run_id` (`None`: not this
/// run's).
pub fn scan_seq(run_id: &str, scan_id: &str) -> Option<u64> {
    let hex = scan_id.strip_prefix(run_id)?.strip_prefix('-')?;
    u64::from_str_radix(hex, 16).ok()
}

/// A scan record as the admin API returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScan {
    /// The scan id.
    pub scan_id: String,
    /// When the gateway decided, or recorded an offline scan's upload
    /// (Unix ms, the gateway's clock).
    pub at_ms: i64,
    /// The scanner's clock at the scan (Unix ms): for an offline scan,
    /// when the device decided.
    pub scanner_ms: i64,
    /// Granted or denied.
    pub granted: bool,
    /// The denial reason.
    pub reason: Option<String>,
    /// The pass's use count after this scan.
    pub uses_after: u32,
}

/// One pass as the admin API returned it after the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassObservation {
    /// Its limit (`None`: unlimited).
    pub max_uses: Option<u32>,
    /// Its use count now.
    pub uses: u32,
    /// Its use count before the run (0 for passes the tool issued).
    pub uses_before: u32,
    /// Its scans, oldest first.
    pub scans: Vec<StoredScan>,
    /// False when the list hit the admin API's limit (it may miss scans).
    pub scans_complete: bool,
    /// Its admin changes (revoke, suspend, reactivate), oldest first.
    pub audit: Vec<AuditRecord>,
    /// The conflicts the gateway flagged on this run's scans of the pass.
    pub conflicts: Vec<FlaggedScan>,
    /// Where its holder is now: `outside`, `left` or `inside`, and the
    /// zone when inside (only an event with a definition moves it).
    pub presence: (String, Option<String>),
}

/// One conflict the gateway listed (`GET /v1/conflicts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlaggedScan {
    /// The scan id flagged.
    pub scan_id: String,
    /// The rule broken (`over_limit`, `revoked_before_scan`, ...).
    pub kind: String,
}
