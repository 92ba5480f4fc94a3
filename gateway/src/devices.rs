//! Revoked scanner devices: `DATA/revoked-devices.json` (0600), written by
//! `scangate certs revoke` or `POST /v1/devices/{name}/revoke`, followed by
//! the running gateway ([`crate::watched`]). A revoked device's connection is
//! closed right after the handshake with [`crate::quic::codes::DEVICE_REVOKED`],
//! and its open connections are closed within [`RECHECK_INTERVAL`].

use crate::datadir::DataDir;
use crate::journal::{EditLock, Journal, OperatorAction, OperatorRecord};
use crate::watched::{self, Watched};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// How often the gateway looks at the file for changes made by the CLI, so
/// connections already open from a newly revoked device are closed.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Most revoked devices kept (bounded file, bounded memory).
pub const REVOKED_MAX: usize = 100_000;

/// One revoked device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokedDevice {
    /// The device (certificate) name.
    pub name: String,
    /// When (Unix ms).
    pub at_ms: i64,
    /// Who revoked it (a token name, or `cli:USER`).
    pub who: String,
}

/// `revoked-devices.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RevokedFile {
    /// The revoked devices.
    pub revoked: Vec<RevokedDevice>,
}

/// Adds `name` to the revoked list in `path`; false if it was there already.
pub fn revoke(path: &Path, name: &str, who: &str, now_ms: i64) -> Result<bool> {
    scangate_certs::validate_scanner_name(name)?;
    let mut file: RevokedFile = watched::read_json(path)?;
    if file.revoked.iter().any(|d| d.name == name) {
        return Ok(false);
    }
    if file.revoked.len() >= REVOKED_MAX {
        anyhow::bail!("there are already {REVOKED_MAX} revoked devices");
    }
    file.revoked.push(RevokedDevice {
        name: name.to_owned(),
        at_ms: now_ms,
        who: who.to_owned(),
    });
    watched::write_json(path, &file)?;
    Ok(true)
}

/// [`revoke`] under the file's edit lock, recorded in the operator journal
/// (`device.revoke`) when it changed anything, before it returns: what
/// `scangate certs revoke` and `POST /v1/devices/{name}/revoke` call. The
/// revocation stands even when the journal line cannot be written (that is
/// then the error): a lost device is never let back in because of a log.
pub fn revoke_recorded(
    data: &DataDir,
    name: &str,
    who: &str,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<bool> {
    crate::tokens::check_reason(reason)?;
    let path = data.revoked_devices();
    let _lock = EditLock::acquire(&path)?;
    if !revoke(&path, name, who, now_ms)? {
        return Ok(false);
    }
    let record =
        OperatorRecord::new(now_ms, who, OperatorAction::DeviceRevoke, name).reason(reason);
    Journal::new(data.operator_journal())
        .append(&record)
        .with_context(|| {
            format!("device {name} is revoked, but its audit line could not be written")
        })?;
    Ok(true)
}

/// The revoked devices.
pub fn list(path: &Path) -> Result<Vec<RevokedDevice>> {
    Ok(watched::read_json::<RevokedFile>(path)?.revoked)
}

/// The gateway's view of the revoked list, with a signal for open connections.
pub struct Revocations {
    file: Watched<RevokedFile>,
    changed: watch::Sender<u64>,
    /// Bumped on every refresh; read lock-free on the scan path.
    generation: std::sync::atomic::AtomicU64,
}

impl Revocations {
    /// Follows `path`.
    pub fn new(path: PathBuf) -> Self {
        let (changed, _) = watch::channel(0);
        Revocations {
            file: Watched::new(path),
            changed,
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether `device` is revoked now.
    pub fn is_revoked(&self, device: &str) -> bool {
        let file = self.file.get();
        file.revoked.iter().any(|d| d.name == device)
    }

    /// Tells open connections to look again (after a revoke through the API).
    pub fn refresh(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// How many times the list may have changed: a connection that saw the
    /// same number already knows its answer (one atomic read per scan).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A receiver that is told whenever the list may have changed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Refreshes every [`RECHECK_INTERVAL`] until `stop` is cancelled.
    pub async fn follow(self: std::sync::Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let mut last = self.file.get();
        let mut tick = tokio::time::interval(RECHECK_INTERVAL);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = self.file.get();
            if !std::sync::Arc::ptr_eq(&now, &last) {
                last = now;
                self.refresh();
            }
        }
    }
}

/// Scanner certificates issued in a PKI directory: their names, sorted;
/// at most [`REVOKED_MAX`].
pub fn issued(pki_dir: &Path) -> Result<Vec<String>> {
    let dir = pki_dir.join("scanners");
    let mut names = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e.into()),
    };
    for entry in entries.take(REVOKED_MAX) {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "pem")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_is_journaled_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path());
        assert!(revoke_recorded(&data, "lost-phone", "lead", Some("stolen"), 5).expect("revoke"));
        assert!(!revoke_recorded(&data, "lost-phone", "lead", None, 6).expect("again"));
        assert!(revoke_recorded(&data, "bad name", "lead", None, 7).is_err());
        let page = Journal::new(data.operator_journal())
            .read(&crate::journal::JournalQuery {
                limit: 10,
                ..Default::default()
            })
            .expect("read");
        assert_eq!(page.items.len(), 1, "only the change is journaled");
        let r = &page.items[0];
        assert_eq!(
            (
                r.action,
                r.subject.as_str(),
                r.who.as_str(),
                r.reason.as_deref()
            ),
            (
                OperatorAction::DeviceRevoke,
                "lost-phone",
                "lead",
                Some("stolen")
            )
        );
        assert!(is_listed(&data, "lost-phone"));
    }

    fn is_listed(data: &DataDir, name: &str) -> bool {
        list(&data.revoked_devices())
            .expect("list")
            .iter()
            .any(|d| d.name == name)
    }
}
