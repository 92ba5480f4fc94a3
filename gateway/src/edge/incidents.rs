//! The security-incident log and the `forgery_burst` flag: forged and
//! malformed tokens, decided at the edge before any actor, cache or store.
//!
//! Each device keeps a one-minute window of its forged and malformed
//! tokens beside its rate-limit bucket (the same bounded per-device set).
//! A token past [`FlagThresholds::forgery_burst_per_minute`] in one window
//! raises `forgery_burst` (on the reply, on its incident, and once per
//! window in `scangate_flags_total{kind="forgery_burst"}`).
//!
//! Bounds: an incident is logged only for the first
//! [`INCIDENTS_PER_DEVICE_MINUTE`] tokens of a device's window (the rest
//! are counted in `scangate_incidents_skipped_total`, nothing else), and
//! the log holds at most [`INCIDENTS_MAX`] entries in memory, oldest dropped
//! first (`scangate_incidents_dropped_total`). So a flood costs one
//! uncontended lock per forged token. An incident never holds the token:
//! only a fingerprint, the first 8 hex digits of its SHA-256.
//!
//! Durability: with a data directory ([`Incidents::open`]) every logged
//! incident is also queued (never waited for) to a disk thread that appends
//! it to `DATA/incidents.jsonl` ([`file`](mod@file)); the log is read back
//! from there at start, its `seq` numbers continuing, so paging cursors
//! stay valid across a restart. The retention sweep removes incidents made
//! before the gateway-wide cut-off ([`Incidents::retain`]; a forged token
//! names no event that can be trusted, so no event's own period applies),
//! and the file is rewritten without them at most once per
//! [`REWRITE_MIN_INTERVAL`].
//!
//! [`FlagThresholds::forgery_burst_per_minute`]: scangate_core::flags::FlagThresholds

pub mod file;

use file::{FILE_LINES_MAX, FileError, ToDisk};
use metrics::counter;
use scangate_core::Reason;
use scangate_core::flags::Flag;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// Most incidents kept (10 000, about 2 MB): hours of a few misprinted
/// tickets, and under a flood the last minutes of up to
/// 10 000 / [`INCIDENTS_PER_DEVICE_MINUTE`] devices.
pub const INCIDENTS_MAX: usize = 10_000;

/// Most incidents one device logs per window (32): past the burst
/// threshold (10 by default) with room to see what it sent, yet one flooding
/// device cannot push every other device's incidents out of the log.
pub const INCIDENTS_PER_DEVICE_MINUTE: u32 = 32;

/// The window `forgery_burst` counts in.
pub const FORGERY_WINDOW: Duration = Duration::from_secs(60);

/// Hex digits of a token's SHA-256 an incident keeps: enough to tell a
/// replayed forgery from a new one, far too few to rebuild the token.
pub const FINGERPRINT_HEX: usize = 8;

/// Shortest time between two rewrites of the file for retention: the sweep
/// ticks every second, and a rewrite writes the whole log (about 2 MB), so
/// under a steady stream of expiring incidents the file is rewritten once a
/// minute, not sixty times; an incident stays on disk at most this long
/// past its period (it leaves memory, and `GET /v1/incidents`, at once).
pub const REWRITE_MIN_INTERVAL: Duration = Duration::from_secs(60);

/// One forged or malformed token, as the log keeps it (and as one line of
/// the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Its place in the log (increasing; the paging cursor).
    pub seq: u64,
    /// When the gateway refused it (Unix ms).
    pub at_ms: i64,
    /// The device that sent it (its certificate name).
    pub device: String,
    /// The gate it named.
    pub gate: String,
    /// `forged` or `malformed`.
    pub reason: Reason,
    /// The first [`FINGERPRINT_HEX`] hex digits of the token's SHA-256.
    pub fingerprint: String,
    /// The flags it raised (`forgery_burst` once past the threshold).
    pub flags: Vec<Flag>,
}

/// One device's forged and malformed tokens in its current window.
#[derive(Debug)]
pub struct ForgeryWindow {
    /// The window's start and the tokens counted in it.
    state: Mutex<Option<(Instant, u32)>>,
}

/// What one more forged token means for its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Tokens in the window, this one included.
    pub in_window: u32,
    /// Past the threshold: `forgery_burst`.
    pub burst: bool,
    /// The first token past the threshold in this window.
    pub first_burst: bool,
}

impl Default for ForgeryWindow {
    fn default() -> Self {
        ForgeryWindow {
            state: Mutex::new(None),
        }
    }
}

impl ForgeryWindow {
    /// Counts one forged or malformed token at `now`: a window starts at
    /// the first token after the last window ended and lasts [`FORGERY_WINDOW`].
    pub fn count(&self, now: Instant, threshold: u32) -> Counted {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let in_window = match *state {
            Some((start, n)) if now.saturating_duration_since(start) < FORGERY_WINDOW => {
                n.saturating_add(1)
            }
            _ => {
                *state = Some((now, 0));
                1
            }
        };
        if let Some((_, n)) = state.as_mut() {
            *n = in_window;
        }
        Counted {
            in_window,
            burst: in_window > threshold,
            first_burst: in_window == threshold.saturating_add(1),
        }
    }
}

/// The bounded security-incident log: in memory, and in its file when it
/// has one.
#[derive(Debug, Default)]
pub struct Incidents {
    log: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    entries: VecDeque<Incident>,
    next_seq: u64,
    /// The file's disk thread; `None`: memory only.
    disk: Option<SyncSender<ToDisk>>,
    /// Lines in the file (what was queued to it since the last rewrite).
    file_lines: usize,
    /// A rewrite could not be queued; the next note or sweep tries again.
    rewrite_due: bool,
    /// The file still holds incidents the sweep removed from memory; the
    /// sweep rewrites it once [`REWRITE_MIN_INTERVAL`] allows.
    expired_on_disk: bool,
    /// When the last rewrite for retention was queued (a rewrite for size
    /// or at start does not hold the next one back).
    last_rewrite: Option<Instant>,
}

impl Log {
    /// Queues `msg` to the disk thread (never waits); false when the queue
    /// is full or the thread has gone.
    fn queue(&self, msg: ToDisk) -> bool {
        match &self.disk {
            Some(tx) => match tx.try_send(msg) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => true,
        }
    }

    /// Queues a rewrite of the file with the entries in memory (and the
    /// next `seq`, so numbering goes on after every incident expired);
    /// false when it could not be queued (then it is due).
    fn rewrite(&mut self) -> bool {
        if self.disk.is_none() {
            return true;
        }
        let all: Vec<Incident> = self.entries.iter().cloned().collect();
        let queued = self.queue(ToDisk::Rewrite {
            all,
            next_seq: self.next_seq,
        });
        if queued {
            self.file_lines = self.entries.len() + 1;
            self.expired_on_disk = false;
        }
        self.rewrite_due = !queued;
        queued
    }

    /// Queues `incident` for the file, or a rewrite when one is due or the
    /// file has reached [`FILE_LINES_MAX`] lines.
    fn save(&mut self, incident: Incident) {
        if self.disk.is_none() {
            return;
        }
        if self.rewrite_due || self.file_lines >= FILE_LINES_MAX {
            self.rewrite();
        } else if self.queue(ToDisk::Append(incident)) {
            self.file_lines += 1;
        } else {
            counter!("scangate_incidents_unsaved_total").increment(1);
        }
    }
}

/// What a forged or malformed token left at the edge.
pub struct Refusal<'a> {
    /// When (Unix ms).
    pub at_ms: i64,
    /// Which device.
    pub device: &'a str,
    /// Which gate it named.
    pub gate: &'a str,
    /// `forged` or `malformed`.
    pub reason: Reason,
    /// The token as sent (only its fingerprint is kept).
    pub token: &'a str,
}

impl Incidents {
    /// The log kept in the file at `path` (created when missing): what the
    /// file holds is read back, and new incidents are appended to it.
    pub fn open(path: PathBuf) -> Result<Incidents, FileError> {
        let loaded = file::load(&path)?;
        let disk = file::spawn(path)?;
        let next_seq = loaded
            .entries
            .back()
            .map_or(0, |i| i.seq.saturating_add(1))
            .max(loaded.next_seq);
        let mut log = Log {
            next_seq,
            disk: Some(disk),
            file_lines: loaded.lines,
            // Lines that did not parse or were dropped go at once.
            rewrite_due: loaded.lines != loaded.entries.len() + loaded.marks,
            ..Log::default()
        };
        log.entries = loaded.entries;
        if log.rewrite_due {
            log.rewrite();
        }
        Ok(Incidents {
            log: Mutex::new(log),
        })
    }

    /// Removes the incidents made before `before_ms` (Unix ms); the file is
    /// rewritten without them unless it was for retention within the last
    /// [`REWRITE_MIN_INTERVAL`] (then a later call does it). Returns how
    /// many left memory.
    pub fn retain(&self, before_ms: i64, now: Instant) -> u64 {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let before = log.entries.len();
        log.entries.retain(|i| i.at_ms >= before_ms);
        let removed = before - log.entries.len();
        if removed > 0 {
            log.expired_on_disk = true;
        }
        let recent = log
            .last_rewrite
            .is_some_and(|at| now.saturating_duration_since(at) < REWRITE_MIN_INTERVAL);
        if (log.rewrite_due || (log.expired_on_disk && !recent)) && log.rewrite() {
            log.last_rewrite = Some(now);
        }
        removed as u64
    }

    /// Waits (at most `limit`) until every incident noted so far is written
    /// and synced; false when that did not happen in time. At once without
    /// a file.
    pub async fn flush(&self, limit: Duration) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            if log.disk.is_none() {
                return true;
            }
            if log.rewrite_due {
                log.rewrite();
            }
            if !log.queue(ToDisk::Flush(tx)) {
                return false;
            }
        }
        matches!(tokio::time::timeout(limit, rx).await, Ok(Ok(())))
    }

    /// Notes a refused token and what its device's window says of it;
    /// returns the flags it raised.
    pub fn note(&self, refusal: Refusal<'_>, counted: Counted) -> Vec<Flag> {
        let flags = if counted.burst {
            vec![Flag::ForgeryBurst]
        } else {
            Vec::new()
        };
        if counted.first_burst {
            counter!("scangate_flags_total", "kind" => Flag::ForgeryBurst.as_str()).increment(1);
        }
        if counted.in_window > INCIDENTS_PER_DEVICE_MINUTE {
            counter!("scangate_incidents_skipped_total").increment(1);
            return flags;
        }
        let digest = Sha256::digest(refusal.token.as_bytes());
        let fingerprint: String = digest[..FINGERPRINT_HEX / 2]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let seq = log.next_seq;
        log.next_seq += 1;
        if log.entries.len() == INCIDENTS_MAX {
            log.entries.pop_front();
            counter!("scangate_incidents_dropped_total").increment(1);
        }
        let incident = Incident {
            seq,
            at_ms: refusal.at_ms,
            device: refusal.device.to_owned(),
            gate: refusal.gate.to_owned(),
            reason: refusal.reason,
            fingerprint,
            flags: flags.clone(),
        };
        log.entries.push_back(incident.clone());
        debug_assert!(log.entries.len() <= INCIDENTS_MAX);
        // Queued under the lock, so the file's order is the log's.
        log.save(incident);
        counter!("scangate_incidents_total", "reason" => refusal.reason.as_str()).increment(1);
        flags
    }

    /// Incidents after `after` (a `seq`), oldest first, at most `limit`,
    /// only of `device` when named; and the cursor of the next page.
    pub fn page(
        &self,
        after: Option<u64>,
        device: Option<&str>,
        limit: usize,
    ) -> (Vec<Incident>, Option<u64>) {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let start = after.map_or(0, |a| log.entries.partition_point(|e| e.seq <= a));
        let mut items = Vec::with_capacity(limit.min(log.entries.len()));
        let mut last = None;
        for e in log.entries.range(start..) {
            if items.len() == limit {
                return (items, last);
            }
            last = Some(e.seq);
            if device.is_none_or(|d| d == e.device) {
                items.push(e.clone());
            }
        }
        (items, None)
    }
}

#[cfg(test)]
mod tests;
