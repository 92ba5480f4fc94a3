//! Revoked scanner devices: `DATA/revoked-devices.json` (0600), written by
//! `scangate certs revoke` or `POST /v1/devices/{name}/revoke`, followed by
//! the running gateway ([`crate::operator::watched`]). A revoked device's connection is
//! closed right after the handshake with [`crate::edge::codes::DEVICE_REVOKED`],
//! and its open connections are closed within [`RECHECK_INTERVAL`].

use crate::datadir::DataDir;
use crate::operator::journal::{EditLock, Journal, OperatorAction, OperatorRecord};
use crate::operator::watched::{self, Watched};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// How often the gateway looks at the file for changes made by the CLI, so
/// connections already open from a newly revoked device are closed. (The
/// CLI also asks a running gateway to look at once: see `docs/operations.md`.)
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Most revoked devices kept. A venue has tens to a few hundred scanners,
/// and lost ones are replaced, not revoked by the thousand; every revoke
/// rewrites and fsyncs the whole file and the gateway rereads it, so the
/// list stays small enough (at most [`REVOKED_FILE_MAX_BYTES`]) for that to
/// take milliseconds. A revoke past it is refused ([`RevokeError::Full`]).
pub const REVOKED_MAX: usize = 10_000;
/// Largest entry of the file as written (pretty JSON): a name of at most 64
/// bytes, `who` of at most [`crate::operator::journal::WHO_MAX_BYTES`], a timestamp
/// and the keys and indentation come to about 230 bytes.
pub const ENTRY_MAX_BYTES: usize = 256;
/// Largest `revoked-devices.json` written or read: [`REVOKED_MAX`] entries
/// of [`ENTRY_MAX_BYTES`] and the enclosing object (2.4 MiB).
pub const REVOKED_FILE_MAX_BYTES: u64 = (REVOKED_MAX * ENTRY_MAX_BYTES + 64) as u64;

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

/// Why a device could not be revoked; the list on disk is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevokeError {
    /// Not a scanner certificate name.
    #[error(transparent)]
    InvalidName(#[from] scangate_certs::CertError),
    /// The list holds [`REVOKED_MAX`] devices (or would pass
    /// [`REVOKED_FILE_MAX_BYTES`]).
    #[error("the revoked-devices list is full ({max} devices); nothing was written")]
    Full {
        /// The capacity, [`REVOKED_MAX`].
        max: usize,
    },
    /// The file could not be read or written.
    #[error("{0:#}")]
    File(anyhow::Error),
}

/// The revocation as it stands in the file after a revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The device's entry, as written (or as found, when it was there).
    pub entry: RevokedDevice,
    /// False when the device was revoked already (nothing was written).
    pub changed: bool,
}

/// Adds `name` to the revoked list in `path`, unless it is there already.
pub fn revoke(path: &Path, name: &str, who: &str, now_ms: i64) -> Result<Revoked, RevokeError> {
    scangate_certs::validate_scanner_name(name)?;
    let mut file = read(path).map_err(RevokeError::File)?;
    if let Some(entry) = file.revoked.iter().find(|d| d.name == name) {
        return Ok(Revoked {
            entry: entry.clone(),
            changed: false,
        });
    }
    let full = RevokeError::Full { max: REVOKED_MAX };
    if file.revoked.len() >= REVOKED_MAX {
        return Err(full);
    }
    let entry = RevokedDevice {
        name: name.to_owned(),
        at_ms: now_ms,
        who: who.to_owned(),
    };
    file.revoked.push(entry.clone());
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| RevokeError::File(e.into()))?;
    // Never write what the gateway would refuse to read.
    if bytes.len() as u64 > REVOKED_FILE_MAX_BYTES {
        return Err(full);
    }
    watched::write_bytes(path, &bytes).map_err(RevokeError::File)?;
    Ok(Revoked {
        entry,
        changed: true,
    })
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
) -> Result<Revoked> {
    crate::operator::tokens::check_reason(reason)?;
    let path = data.revoked_devices();
    let _lock = EditLock::acquire(&path)?;
    let revoked = revoke(&path, name, who, now_ms)?;
    if !revoked.changed {
        return Ok(revoked);
    }
    let record =
        OperatorRecord::new(now_ms, who, OperatorAction::DeviceRevoke, name).reason(reason);
    Journal::new(data.operator_journal())
        .append(&record)
        .with_context(|| {
            format!("device {name} is revoked, but its audit line could not be written")
        })?;
    Ok(revoked)
}

/// Reads the list (at most [`REVOKED_FILE_MAX_BYTES`]); missing is empty.
fn read(path: &Path) -> Result<RevokedFile> {
    watched::read_json_within(path, REVOKED_FILE_MAX_BYTES)
}

/// The revoked devices.
pub fn list(path: &Path) -> Result<Vec<RevokedDevice>> {
    Ok(read(path)?.revoked)
}

/// The revoked names, as the gateway looks them up (one hash per check).
#[derive(Debug, Default, Deserialize)]
#[serde(from = "RevokedFile")]
struct RevokedNames(HashSet<String>);

impl From<RevokedFile> for RevokedNames {
    fn from(file: RevokedFile) -> Self {
        RevokedNames(file.revoked.into_iter().map(|d| d.name).collect())
    }
}

/// The gateway's view of the revoked list, with a signal for open connections.
/// It fails closed: a list that cannot be read at start stops the start, and
/// one that becomes unreadable later leaves the last good list in force
/// (`scangate_watched_file_unreadable{file="revoked-devices.json"}` = 1).
pub struct Revocations {
    file: Watched<RevokedNames>,
    changed: watch::Sender<u64>,
    /// Bumped on every refresh; read lock-free on the scan path.
    generation: std::sync::atomic::AtomicU64,
}

impl Revocations {
    /// Follows `path`, read now: an error if it cannot be read or parsed.
    pub fn new(path: PathBuf) -> Result<Self> {
        let (changed, _) = watch::channel(0);
        let file = Watched::keeping_last_good(path.clone(), REVOKED_FILE_MAX_BYTES).with_context(
            || {
                format!(
                    "the revoked-devices list {} cannot be read, so the gateway does not start \
                     (it would let revoked devices in): restore it, or repair it as \
                     docs/operations.md says",
                    path.display()
                )
            },
        )?;
        Ok(Revocations {
            file,
            changed,
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Whether `device` is revoked now.
    pub fn is_revoked(&self, device: &str) -> bool {
        self.file.get().0.contains(device)
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

/// Most scanner certificates listed by [`issued`]: bounds one listing's
/// memory (a directory entry each), far above any venue's scanners.
pub const ISSUED_LISTED_MAX: usize = 100_000;

/// Scanner certificates issued in a PKI directory: their names, sorted;
/// at most [`ISSUED_LISTED_MAX`].
pub fn issued(pki_dir: &Path) -> Result<Vec<String>> {
    let dir = pki_dir.join("scanners");
    let mut names = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e.into()),
    };
    for entry in entries.take(ISSUED_LISTED_MAX) {
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

/// Every device known here, sorted: scanner certificates issued in the
/// PKI and web scanners ([`crate::edge::web::scanners`], a link not yet
/// redeemed included). Both kinds share one namespace and one revoked list.
pub fn known(data: &DataDir) -> Result<Vec<String>> {
    let mut names = issued(&data.pki())?;
    let web = crate::edge::web::scanners::list(data)?;
    names.extend(web.into_iter().map(|s| s.name));
    names.sort();
    names.dedup();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_is_journaled_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path());
        let first =
            revoke_recorded(&data, "lost-phone", "lead", Some("stolen"), 5).expect("revoke");
        assert!(first.changed);
        let again = revoke_recorded(&data, "lost-phone", "lead", None, 6).expect("again");
        assert_eq!((again.changed, again.entry), (false, first.entry));
        assert!(revoke_recorded(&data, "bad name", "lead", None, 7).is_err());
        let page = Journal::new(data.operator_journal())
            .read(&crate::operator::journal::JournalQuery {
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

    /// The worst-case entry: the longest name and `who` allowed.
    fn longest(i: usize) -> RevokedDevice {
        RevokedDevice {
            name: format!("{i:05}{}", "n".repeat(59)),
            at_ms: i64::MIN,
            who: format!(
                "cli:{}",
                "u".repeat(crate::operator::journal::WHO_MAX_BYTES - 4)
            ),
        }
    }

    #[test]
    fn the_stated_capacity_fits_and_the_next_revoke_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("revoked-devices.json");
        let file = RevokedFile {
            revoked: (0..REVOKED_MAX - 1).map(longest).collect(),
        };
        watched::write_json(&path, &file).expect("write");
        let last = longest(REVOKED_MAX - 1);
        let added = revoke(&path, &last.name, &last.who, 9).expect("the last one fits");
        assert!(added.changed);
        assert_eq!(list(&path).expect("read back").len(), REVOKED_MAX);
        let before = std::fs::read(&path).expect("bytes");
        assert!(before.len() as u64 <= REVOKED_FILE_MAX_BYTES);
        let refused = revoke(&path, "one-more", "lead", 10);
        assert!(matches!(
            refused,
            Err(RevokeError::Full { max: REVOKED_MAX })
        ));
        assert_eq!(
            std::fs::read(&path).expect("bytes"),
            before,
            "nothing written"
        );
        let gateway = Revocations::new(path).expect("a full list is read");
        assert!(gateway.is_revoked(&last.name) && !gateway.is_revoked("one-more"));
    }

    #[test]
    fn an_unreadable_list_stops_the_start_and_later_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("revoked-devices.json");
        std::fs::write(&path, b"{\"revoked\": [").expect("corrupt");
        assert!(
            Revocations::new(path.clone()).is_err(),
            "never read as empty"
        );
        std::fs::remove_file(&path).expect("rm");
        revoke(&path, "lost-phone", "lead", 1).expect("revoke");
        let gateway = Revocations::new(path.clone()).expect("good");
        assert!(gateway.is_revoked("lost-phone"));
        std::fs::write(&path, b"not json, and longer than before").expect("corrupt");
        assert!(gateway.is_revoked("lost-phone"), "the last good list stays");
    }
}
