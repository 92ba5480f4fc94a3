//! Refreshing the held snapshot: a delta when the gateway offers one and
//! the held deltas leave room, else the whole snapshot; verified against
//! the pinned key before anything is written.

use super::OfflineScanner;
use crate::Mode;
use crate::offline::OfflineError;
use crate::offline::files::{self, Held};
use scangate_core::offline::messages::Downloaded;
use scangate_core::offline::{Snapshot, SnapshotError, SnapshotVerifier};

/// What a refresh installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    /// The version now held.
    pub version: u64,
    /// Entries in it.
    pub entries: usize,
    /// Bytes downloaded (0 when already current).
    pub bytes: usize,
    /// Whether a delta (rather than a whole snapshot) was applied.
    pub delta: bool,
    /// When it expires (Unix ms).
    pub expires_ms: i64,
}

impl OfflineScanner {
    /// Whether a refresh is due at `now_ms`: online, and none in the last
    /// `refresh_interval_ms`. The app calls [`Self::refresh`] when it is.
    pub fn refresh_due(&self, now_ms: i64) -> bool {
        self.tracker.mode() == Mode::Online
            && self
                .last_refresh_ms
                .is_none_or(|last| now_ms.saturating_sub(last) >= self.config.refresh_interval_ms)
    }

    /// Fetches the event's newest snapshot: a delta from the held version
    /// when the gateway offers one (and fewer than
    /// [`files::DELTAS_HELD_MAX`] are held), else the whole snapshot. It is
    /// verified against the pinned key and checked at `now_ms` before
    /// anything is written.
    pub async fn refresh(&mut self, now_ms: i64) -> Result<Refreshed, OfflineError> {
        let key = self.key.clone().ok_or_else(|| OfflineError::NoKey {
            path: files::key_path(&self.config.dir),
        })?;
        let scanner = self.connected().await?;
        let have = match &self.held {
            Held::Ready { snapshot, deltas } if room_for_a_delta(deltas) => {
                Some(snapshot.version())
            }
            _ => None,
        };
        let downloaded = scanner.fetch_snapshot(&self.config.event, have).await?;
        let refreshed = match downloaded {
            Downloaded::Current => self.current()?,
            Downloaded::Snapshot(bytes) => self.install_whole(&key, bytes, now_ms)?,
            Downloaded::Delta(bytes) => self.install_delta(&key, bytes, now_ms)?,
        };
        self.last_refresh_ms = Some(now_ms);
        if self
            .uses
            .installed(self.snapshot().map_or(i64::MIN, Snapshot::created_ms))
        {
            files::write_uses(&self.config.dir, self.uses.reached_list())?;
        }
        Ok(refreshed)
    }

    fn current(&self) -> Result<Refreshed, OfflineError> {
        let snapshot = self.usable()?;
        Ok(refreshed(snapshot, 0, false))
    }

    fn install_whole(
        &mut self,
        key: &SnapshotVerifier,
        bytes: Vec<u8>,
        now_ms: i64,
    ) -> Result<Refreshed, OfflineError> {
        let snapshot = key
            .open_snapshot(&bytes, &self.config.event, now_ms)
            .map_err(|e| self.refused(e))?;
        files::write_atomic(&self.config.dir, files::SNAPSHOT_FILE, &bytes)?;
        files::write_atomic(&self.config.dir, files::DELTAS_FILE, &[])?;
        let done = refreshed(&snapshot, bytes.len(), false);
        self.held = Held::Ready {
            snapshot: Box::new(snapshot),
            deltas: Vec::new(),
        };
        Ok(done)
    }

    fn install_delta(
        &mut self,
        key: &SnapshotVerifier,
        bytes: Vec<u8>,
        now_ms: i64,
    ) -> Result<Refreshed, OfflineError> {
        let delta = key
            .open_delta(&bytes, &self.config.event, now_ms)
            .map_err(|e| self.refused(e))?;
        let Held::Ready { snapshot, deltas } = &self.held else {
            return Err(self.refused(SnapshotError::Malformed(
                "a delta came for a device that holds no snapshot",
            )));
        };
        let next = snapshot.apply(&delta).map_err(|e| self.refused(e))?;
        let mut blobs = deltas.clone();
        let len = bytes.len();
        blobs.push(bytes);
        files::write_atomic(
            &self.config.dir,
            files::DELTAS_FILE,
            &files::join_deltas(&blobs),
        )?;
        let done = refreshed(&next, len, true);
        self.held = Held::Ready {
            snapshot: Box::new(next),
            deltas: blobs,
        };
        Ok(done)
    }
}

fn refreshed(snapshot: &Snapshot, bytes: usize, delta: bool) -> Refreshed {
    Refreshed {
        version: snapshot.version(),
        entries: snapshot.entries().len(),
        bytes,
        delta,
        expires_ms: snapshot.expires_ms(),
    }
}

/// Whether one more delta fits the held ones' bounds.
fn room_for_a_delta(deltas: &[Vec<u8>]) -> bool {
    let held: usize = deltas.iter().map(|d| d.len() + 4).sum();
    deltas.len() < files::DELTAS_HELD_MAX
        && held + scangate_core::offline::DELTA_MAX_BYTES + 4 <= files::DELTAS_FILE_MAX_BYTES
}
