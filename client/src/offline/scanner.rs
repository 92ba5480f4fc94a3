//! [`OfflineScanner`]: online while the gateway answers, from the snapshot
//! on disk when it does not.

use super::files::{self, Held};
use super::uses::LocalUses;
use super::{OfflineConfig, OfflineError};
use crate::{
    Attempt, ClientError, Decided, Mode, ModeTracker, OfflineQueue, ScanInput, Scanner,
    ScannerConfig, random_scan_id,
};
use scangate_core::offline::messages::{AckStatus, OfflineScan, ScanAck};
use scangate_core::offline::{EntryIndex, Snapshot, SnapshotError, SnapshotVerifier};
use scangate_core::scan::ScanId;
use scangate_core::token::RawToken;
use scangate_core::wire::{ErrorCode, ScanReply};
use std::time::Instant;
use tracing::{debug, info};

mod refresh;

pub use refresh::Refreshed;

/// What [`OfflineScanner::sync`] did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Scans the gateway acknowledged (`recorded` or `duplicate`) and that
    /// left the queue.
    pub uploaded: usize,
    /// Of the uploaded, those the gateway flagged as a conflict.
    pub conflicts: usize,
    /// Scans the gateway refused for good (`invalid_request`,
    /// `scan_id_conflict`): they left the queue too.
    pub dropped: usize,
    /// Scans still waiting in the queue.
    pub pending: usize,
    /// The snapshot refresh after the upload: what it installed, or why it
    /// failed (the upload's counts above hold either way).
    pub refresh: Option<Result<Refreshed, OfflineError>>,
}

/// A scanner that decides online while the gateway answers and from its
/// snapshot when it does not (see [`crate::offline`]).
///
/// Calls take `&mut self`: one lane, one scan at a time. Offline grants
/// and refreshes write files synchronously (an `fdatasync` takes
/// milliseconds); run it on a multi-threaded runtime or its own thread.
pub struct OfflineScanner {
    config: OfflineConfig,
    scanner_config: ScannerConfig,
    /// Connected on first use; a failed connect is retried at the next
    /// online try.
    scanner: Option<Scanner>,
    tracker: ModeTracker,
    key: Option<SnapshotVerifier>,
    held: Held,
    queue: OfflineQueue<OfflineScan>,
    uses: LocalUses,
    last_refresh_ms: Option<i64>,
}

impl std::fmt::Debug for OfflineScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineScanner")
            .field("dir", &self.config.dir)
            .field("event", &self.config.event)
            .field("mode", &self.tracker.mode())
            .field("version", &self.version())
            .field("pending", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl OfflineScanner {
    /// Opens the state in `config.dir` without touching the network.
    /// `key`: the gateway's public snapshot key, pinned on first use; with
    /// `None` the pinned one is used. A key that differs from the pinned
    /// one is refused ([`OfflineError::KeyMismatch`]; re-pin with
    /// [`Self::pin_key`]). A held snapshot that fails its checks is kept
    /// aside: scans then fail offline saying why, and a refresh replaces it.
    pub fn open(
        scanner_config: ScannerConfig,
        config: OfflineConfig,
        key: Option<SnapshotVerifier>,
    ) -> Result<OfflineScanner, OfflineError> {
        scanner_config.validate()?;
        let tracker = ModeTracker::new(config.mode.clone())?;
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| OfflineError::Io {
            path: dir.clone(),
            op: "create the directory",
            source,
        })?;
        let queue: OfflineQueue<OfflineScan> = OfflineQueue::open(&dir, config.queue)?;
        let key = match (files::read_key(&dir)?, key) {
            (Some(pinned), Some(given)) if pinned != given => {
                return Err(OfflineError::KeyMismatch {
                    path: files::key_path(&dir),
                    pinned: pinned.fingerprint(),
                    given: given.fingerprint(),
                });
            }
            (None, Some(given)) => {
                files::write_key(&dir, &given)?;
                Some(given)
            }
            (pinned, given) => pinned.or(given),
        };
        let held = match &key {
            Some(key) => files::load(&dir, key, &config.event)?,
            None => Held::Missing,
        };
        let mut uses = LocalUses::default();
        for reached in files::read_uses(&dir)? {
            uses.reached(EntryIndex(reached.index), reached.at_ms);
        }
        for scan in queue.pending() {
            if let Some(entry) = entry_of(&scan.token) {
                uses.queued(scan.scan_id.clone(), entry);
            }
        }
        Ok(OfflineScanner {
            config,
            scanner_config,
            scanner: None,
            tracker,
            key,
            held,
            queue,
            uses,
            last_refresh_ms: None,
        })
    }

    /// Pins a new gateway key (the operator changed it on purpose) and
    /// reloads the held snapshot under it.
    pub fn pin_key(&mut self, key: SnapshotVerifier) -> Result<(), OfflineError> {
        files::write_key(&self.config.dir, &key)?;
        self.held = files::load(&self.config.dir, &key, &self.config.event)?;
        self.key = Some(key);
        Ok(())
    }

    /// Online or offline, as the tracker last said.
    pub fn mode(&self) -> Mode {
        self.tracker.mode()
    }

    /// The snapshot held, if it passed its checks (expiry aside).
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match &self.held {
            Held::Ready { snapshot, .. } => Some(snapshot),
            _ => None,
        }
    }

    /// The version held, if any.
    pub fn version(&self) -> Option<u64> {
        self.snapshot().map(Snapshot::version)
    }

    /// The queue of offline grants not yet acknowledged.
    pub fn queue(&self) -> &OfflineQueue<OfflineScan> {
        &self.queue
    }

    /// Decides a scan: online when the tracker says so (its outcome fed
    /// back), else, or when that online try fails for want of a gateway,
    /// from the snapshot at `now_ms` (Unix ms, the device's clock). An
    /// offline grant is in the queue file, synced, before this returns.
    /// The scan id (drawn when `input` has none) is the same online and
    /// offline, so a scan the gateway decided before its answer was lost
    /// is counted once when the offline grant is uploaded.
    pub async fn scan(&mut self, input: ScanInput, now_ms: i64) -> Result<Decided, OfflineError> {
        let scan_id = match &input.scan_id {
            Some(id) => id.clone(),
            None => random_scan_id()?,
        };
        let input = ScanInput {
            scan_id: Some(scan_id.clone()),
            ..input
        };
        if self.tracker.try_online(Instant::now()) {
            match self.scan_online(&input).await {
                Ok(reply) => {
                    // A replayed answer repeats a grant already counted.
                    if reply.decision.is_granted()
                        && !reply.replayed
                        && let Some(entry) = entry_of(&input.token)
                    {
                        self.uses.reached(entry, now_ms);
                    }
                    return Ok(Decided::online(reply));
                }
                Err(e) if Attempt::from_error(&e).is_none() => return Err(e.into()),
                Err(e) => debug!(error = %e, %scan_id, "no gateway; deciding offline"),
            }
        }
        self.scan_offline(input, scan_id, now_ms)
    }

    /// One online try, its outcome fed to the tracker.
    async fn scan_online(&mut self, input: &ScanInput) -> Result<ScanReply, ClientError> {
        let started = Instant::now();
        let result = match self.connected().await {
            Ok(scanner) => scanner.scan(input.clone()).await,
            Err(e) => Err(e),
        };
        self.feed(&result, started);
        result
    }

    /// Feeds the outcome of one online request that started at `started`
    /// to the tracker (errors that say nothing about the gateway are not).
    fn feed<T>(&mut self, result: &Result<T, ClientError>, started: Instant) {
        let attempt = match result {
            Ok(_) => Some(Attempt::Answered {
                latency: started.elapsed(),
            }),
            Err(e) => Attempt::from_error(e),
        };
        if let Some(attempt) = attempt {
            let before = self.tracker.mode();
            let after = self.tracker.record(attempt, Instant::now());
            if before != after {
                info!(mode = ?after, "scanner mode changed");
            }
        }
    }

    /// Decides from the snapshot; queues a grant before returning it.
    fn scan_offline(
        &mut self,
        input: ScanInput,
        scan_id: ScanId,
        now_ms: i64,
    ) -> Result<Decided, OfflineError> {
        let queued = self.queue.contains(&scan_id).then(|| {
            // Rare (a retried scan id): the scan through the queue is fine.
            self.queue.pending().find(|s| s.scan_id == scan_id)
        });
        if let Some(queued) = queued.flatten() {
            // The same scan again (a retry): its first decision, counted once.
            return Ok(Decided::offline(ScanReply {
                replayed: true,
                ..ScanReply::bare(scan_id, queued.decision)
            }));
        }
        let event = input.event.unwrap_or_else(|| self.config.event.clone());
        let snapshot = self.usable()?;
        let uses = &self.uses;
        let outcome = snapshot
            .decide(&input.token, &input.gate, Some(&event), now_ms, |e| {
                uses.count(e)
            })
            .map_err(|e| self.refused(e))?;
        if outcome.decision.is_granted() {
            self.queue.push(OfflineScan {
                token: input.token,
                gate: input.gate,
                event,
                scan_id: scan_id.clone(),
                device_time_ms: now_ms,
                snapshot_version: outcome.snapshot_version,
                decision: outcome.decision,
            })?;
            if let Some(entry) = outcome.entry {
                self.uses.queued(scan_id.clone(), entry);
            }
        }
        Ok(Decided::offline(ScanReply {
            uses: outcome.uses,
            max_uses: outcome.max_uses,
            ..ScanReply::bare(scan_id, outcome.decision)
        }))
    }

    /// Uploads the queue, drops what the gateway acknowledged (or refused
    /// for good), keeps the rest, then refreshes the snapshot. Each upload
    /// request's outcome is fed to the tracker like a scan's, so a gateway
    /// that answers brings the scanner back online. An error
    /// means the upload stopped (what was acknowledged before it has left
    /// the queue); a failed refresh is reported in [`SyncReport::refresh`].
    pub async fn sync(&mut self, now_ms: i64) -> Result<SyncReport, OfflineError> {
        self.sync_recording(now_ms, &mut Vec::new()).await
    }

    /// [`Self::sync`], pushing the gateway's acknowledgement of each
    /// uploaded scan onto `acks` as it comes (one per scan: a sync uploads
    /// each queued scan at most once), so that an app (the load test)
    /// keeps every upload's outcome even when a later batch fails.
    pub async fn sync_recording(
        &mut self,
        now_ms: i64,
        acks: &mut Vec<ScanAck>,
    ) -> Result<SyncReport, OfflineError> {
        let scanner = self.connected().await?;
        let mut report = SyncReport::default();
        // Kept scans stay at the front of the queue, in order: skip them.
        let mut kept = 0;
        loop {
            let batch: Vec<OfflineScan> = self
                .queue
                .pending()
                .skip(kept)
                .take(scangate_core::offline::messages::UPLOAD_BATCH_MAX)
                .cloned()
                .collect();
            if batch.is_empty() {
                break;
            }
            let started = Instant::now();
            let ack = scanner.upload(&batch).await;
            self.feed(&ack, started);
            let ack = ack?;
            // The uses file learns of each acknowledged grant before the
            // queue forgets it, so a crash in between keeps it counted.
            let mut done: Vec<ScanId> = Vec::with_capacity(batch.len());
            acks.extend(ack.scans.iter().cloned());
            for scan in ack.scans {
                match scan.status {
                    AckStatus::Recorded | AckStatus::Duplicate => {
                        report.uploaded += 1;
                        report.conflicts += usize::from(!scan.conflicts.is_empty());
                        self.uses.acknowledged(&scan.scan_id, now_ms);
                    }
                    AckStatus::Refused(code) if never_recorded(code) => {
                        report.dropped += 1;
                        self.uses.dropped(&scan.scan_id);
                    }
                    AckStatus::Refused(_) => {
                        kept += 1;
                        continue;
                    }
                }
                done.push(scan.scan_id);
            }
            files::write_uses(&self.config.dir, self.uses.reached_list())?;
            self.queue.ack(&done)?;
        }
        report.pending = self.queue.len();
        report.refresh = Some(self.refresh(now_ms).await);
        Ok(report)
    }

    /// Writes the uses the gateway has and the held snapshot may not count
    /// (online grants seen since the last upload or refresh) to the uses
    /// file now; otherwise they are written with the next upload or
    /// refresh. For a process that scans once and exits (`scangate scan
    /// --offline-dir`), so a ticket granted online is not granted again
    /// offline from a snapshot made before that grant.
    pub fn save_uses(&self) -> Result<(), OfflineError> {
        files::write_uses(&self.config.dir, self.uses.reached_list())
    }

    /// Closes the connection, if one was made.
    pub async fn close(self) {
        if let Some(scanner) = self.scanner {
            scanner.close().await;
        }
    }

    /// The scanner, connecting on first use.
    async fn connected(&mut self) -> Result<Scanner, ClientError> {
        if let Some(scanner) = &self.scanner {
            return Ok(scanner.clone());
        }
        let scanner = Scanner::connect(self.scanner_config.clone()).await?;
        self.scanner = Some(scanner.clone());
        Ok(scanner)
    }

    /// The held snapshot (its expiry is checked by the decision), or why
    /// there is none to decide from.
    fn usable(&self) -> Result<&Snapshot, OfflineError> {
        match &self.held {
            Held::Ready { snapshot, .. } => Ok(snapshot),
            Held::Refused(e) => Err(self.refused(e.clone())),
            Held::Missing if self.key.is_none() => Err(OfflineError::NoKey {
                path: files::key_path(&self.config.dir),
            }),
            Held::Missing => Err(OfflineError::NoSnapshot {
                event: self.config.event.clone(),
                dir: self.config.dir.clone(),
            }),
        }
    }

    fn refused(&self, source: SnapshotError) -> OfflineError {
        OfflineError::Snapshot {
            source,
            key_file: files::key_path(&self.config.dir),
        }
    }
}

/// The snapshot entry a token would find (`None`: not a static token).
fn entry_of(token: &str) -> Option<EntryIndex> {
    let raw = RawToken::parse(token).ok()?;
    (!raw.has_not_after()).then(|| EntryIndex::of_token(&raw))
}

/// Refusals that another upload cannot turn into a record.
fn never_recorded(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::InvalidRequest | ErrorCode::ScanIdConflict)
}

/// An app may move the scanner into a task or thread of its own.
const _: () = {
    const fn send<T: Send>() {}
    send::<OfflineScanner>();
};
