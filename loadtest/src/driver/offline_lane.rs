//! One offline-capable device's lane (runs with an outage): its due scans
//! in order, one at a time through the SDK's [`OfflineScanner`] (online
//! while the gateway answers, from the snapshot when it does not), each
//! answer recorded with who decided it. While the device is online again
//! with offline grants queued, it syncs; once the schedule is done and the
//! outage is over, it syncs until its queue is empty, at most
//! [`SYNC_DEADLINE`], and records every upload's acknowledgement.

use super::lane::{
    Due, LaneOutput, LaneSettings, OfflineLaneOutput, error_class, record, unanswered,
};
use crate::devices::OfflineDevice;
use crate::history::{UploadOp, UploadStatus, scan_seq};
use scangate_client::offline::SyncReport;
use scangate_client::{Mode, OfflineError, ScanInput};
use scangate_core::ScanId;
use scangate_core::offline::messages::{AckStatus, ScanAck};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long, after the outage is over and the schedule done, a device
/// keeps syncing before its queue counts as not uploaded: an upload batch
/// takes milliseconds, so a minute is room for a restart and a slow disk.
pub const SYNC_DEADLINE: Duration = Duration::from_secs(60);
/// Pause between two syncs of a queue that did not empty (the gateway
/// refused some scans for now, or could not be reached).
const SYNC_RETRY_PAUSE: Duration = Duration::from_millis(200);

impl OfflineLaneOutput {
    /// Adds another lane's figures: uploads and first offline decisions
    /// appended, the drain the latest.
    pub fn merge(&mut self, other: OfflineLaneOutput) {
        self.uploads.extend(other.uploads);
        self.first_offline.extend(other.first_offline);
        self.drained = self.drained.max(other.drained);
        self.pending += other.pending;
        self.sync_errors += other.sync_errors;
    }
}

/// One offline-capable device's lane (see the module's documentation).
pub(super) async fn offline_lane(
    mut rx: mpsc::Receiver<Due>,
    mut device: OfflineDevice,
    s: LaneSettings,
    mut out: LaneOutput,
) -> LaneOutput {
    let drain = async {
        s.ended.cancelled().await;
        tokio::time::sleep(s.drain).await;
    };
    tokio::pin!(drain);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut drain => None,
            next = rx.recv() => next,
        };
        let Some(due) = next else { break };
        scan(&mut device, &s, due, &mut out).await;
        let back = device.scanner.mode() == Mode::Online && s.outage_over.is_cancelled();
        if back && !device.scanner.queue().is_empty() {
            sync(&mut device, &s, &mut out).await;
        }
    }
    rx.close();
    let now = Instant::now();
    while let Ok(due) = rx.try_recv() {
        out.abandoned += 1;
        record(&mut out, &s, due, None, now, unanswered());
    }
    let deadline = tokio::time::sleep(SYNC_DEADLINE);
    tokio::pin!(deadline);
    tokio::select! {
        () = &mut deadline => {}
        () = sync_until_empty(&mut device, &s, &mut out) => {}
    }
    let pending: Vec<ScanId> = device
        .scanner
        .queue()
        .pending()
        .map(|p| p.scan_id.clone())
        .collect();
    out.offline.pending = pending.len() as u64;
    for id in pending {
        push_upload(&mut out, &s, &id, UploadStatus::Pending, &[]);
    }
    device.scanner.close().await;
    out
}

/// Scans one due job and records the decision and who made it.
async fn scan(device: &mut OfflineDevice, s: &LaneSettings, mut due: Due, out: &mut LaneOutput) {
    let input = ScanInput {
        token: std::mem::take(&mut due.job.token),
        gate: device.gate.clone(),
        event: None,
        scan_id: ScanId::new(crate::history::scan_id(&s.run_id, due.job.seq)).ok(),
    };
    let sent = Instant::now();
    let answer = device.scanner.scan(input, s.clock.unix_ms(sent)).await;
    let done = Instant::now();
    let answer = answer.map_err(|e| offline_error_class(&e));
    if answer.as_ref().is_ok_and(|d| d.is_offline()) && out.offline.first_offline.is_empty() {
        out.offline.first_offline.push(done);
    }
    record(out, s, due, Some(sent), done, answer);
}

/// Waits for the outage to be over, then syncs until the queue is empty.
async fn sync_until_empty(device: &mut OfflineDevice, s: &LaneSettings, out: &mut LaneOutput) {
    s.outage_over.cancelled().await;
    while !device.scanner.queue().is_empty() {
        if !sync(device, s, out).await {
            tokio::time::sleep(SYNC_RETRY_PAUSE).await;
        }
    }
}

/// One sync: records each acknowledgement (those that came before a failed
/// batch too); true when it left the queue empty.
async fn sync(device: &mut OfflineDevice, s: &LaneSettings, out: &mut LaneOutput) -> bool {
    let now_ms = s.clock.unix_ms_now();
    let mut acks = Vec::new();
    let synced = device.scanner.sync_recording(now_ms, &mut acks).await;
    for ScanAck {
        scan_id,
        status,
        conflicts,
    } in &acks
    {
        let status = match status {
            AckStatus::Recorded => UploadStatus::Recorded,
            AckStatus::Duplicate => UploadStatus::Duplicate,
            AckStatus::Refused(code) => UploadStatus::Refused(code.as_str().to_owned()),
        };
        let kinds: Vec<String> = conflicts.iter().map(|k| k.as_str().to_owned()).collect();
        push_upload(out, s, scan_id, status, &kinds);
    }
    match synced {
        Ok(SyncReport { pending, .. }) => {
            if pending == 0 && !acks.is_empty() {
                out.offline.drained = Some(Instant::now());
            }
            pending == 0
        }
        Err(e) => {
            out.offline.sync_errors += 1;
            tracing::debug!(device = %device.name, error = %e, "a sync failed");
            false
        }
    }
}

fn push_upload(
    out: &mut LaneOutput,
    s: &LaneSettings,
    scan_id: &ScanId,
    status: UploadStatus,
    conflicts: &[String],
) {
    // Every queued scan id is one this lane made from the run's id.
    if let Some(scan) = scan_seq(&s.run_id, scan_id.as_str()) {
        out.offline.uploads.push(UploadOp {
            scan,
            status,
            conflicts: conflicts.to_vec(),
        });
    }
}

/// A short class for an offline scan's error, used as a report key.
fn offline_error_class(e: &OfflineError) -> String {
    match e {
        OfflineError::Client(e) => error_class(e),
        OfflineError::Queue(_) => "offline_queue".into(),
        OfflineError::Snapshot { .. } | OfflineError::NoSnapshot { .. } => {
            "offline_no_usable_snapshot".into()
        }
        _ => "offline_other".into(),
    }
}
