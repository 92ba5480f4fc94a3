//! The scanner a CLI command plays: which gateway, which device
//! certificate, and (for offline operation) which state directory. Shared
//! by `scangate scan`, `scangate scanner snapshot` and `scangate scanner
//! sync`, so the three take the same options with the same meaning.
//!
//! One CLI process is one try: it never waits for a second failure before
//! deciding offline ([`CLI_FAILURES_TO_OFFLINE`]), and a scan gives a dead
//! gateway [`SCAN_CONNECT_TIMEOUT_MS`] to answer.

use super::why::explain;
use anyhow::{Context, Result, anyhow};
use clap::Args;
use scangate_client::offline::files::{read_bounded, write_atomic};
use scangate_client::{OfflineConfig, OfflineScanner, ScannerConfig};
use scangate_core::name::check_name;
use scangate_core::offline::SnapshotVerifier;
use scangate_core::pass::EVENT_MAX_BYTES;
use scangate_gateway::datadir::{DEV_SCANNER, DataDir};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Failed online tries before a CLI process decides offline: one, since
/// the process makes only one (the SDK's long-lived default is three).
pub const CLI_FAILURES_TO_OFFLINE: u32 = 1;
/// How long `scangate scan --offline-dir` waits for a handshake with the
/// gateway before deciding from the snapshot, in milliseconds (1 s): a
/// gateway on the venue's network answers a handshake in milliseconds, and
/// a person at the gate should wait about a second, not the SDK's 5 s
/// default times its three attempts.
pub const SCAN_CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Attempts of an online scan with an offline dir: one, for the same reason
/// (a retry would only delay the offline decision).
pub const SCAN_ATTEMPTS: u32 = 1;

/// The file in the offline dir naming the event its snapshot was fetched
/// for (the event name and a newline), so `scan` and `sync` need no
/// `--event`. Written by `scangate scanner snapshot`.
pub const EVENT_FILE: &str = "event";
/// Longest event file: the longest event name and a newline.
const EVENT_FILE_MAX_BYTES: usize = EVENT_MAX_BYTES + 1;

/// `--gateway`, `--device` and `--offline-dir`.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The gateway's QUIC address (default: the one running on this data dir).
    #[arg(long, env = "SCANGATE_GATEWAY")]
    pub gateway: Option<SocketAddr>,
    /// The scanner certificate to use, by name, from the data dir's PKI.
    #[arg(long, default_value = DEV_SCANNER)]
    pub device: String,
    /// The device's offline state (snapshot, pinned key, queue of offline
    /// grants); with it, a scan the gateway cannot be reached for is
    /// decided from the snapshot and queued for upload.
    #[arg(long)]
    pub offline_dir: Option<PathBuf>,
}

impl DeviceArgs {
    /// The SDK config for this device: the gateway from `--gateway` or the
    /// data dir's `gateway.json`, the certificate from the data dir's PKI.
    pub fn scanner_config(&self, data: &DataDir) -> Result<ScannerConfig> {
        let addr = match self.gateway {
            Some(addr) => addr,
            None => data.read_endpoints()?.quic,
        };
        let pki = data.pki();
        let scanners = pki.join("scanners");
        Ok(ScannerConfig::from_files(
            addr,
            &pki.join("ca.pem"),
            &scanners.join(format!("{}.pem", self.device)),
            &scanners.join(format!("{}.key", self.device)),
        )?)
    }

    /// `--offline-dir`, which the scanner commands require.
    pub fn offline_dir(&self) -> Result<&Path> {
        self.offline_dir
            .as_deref()
            .ok_or_else(|| anyhow!("--offline-dir DIR is required"))
    }
}

/// Opens the device's offline state in `dir` for `event`, `key` pinned on
/// first use (a different pinned key is refused, saying both fingerprints).
pub fn open(
    config: ScannerConfig,
    dir: &Path,
    event: &str,
    key: Option<SnapshotVerifier>,
) -> Result<OfflineScanner> {
    let mut offline = OfflineConfig::new(dir, event);
    offline.mode.failures_to_offline = CLI_FAILURES_TO_OFFLINE;
    OfflineScanner::open(config, offline, key).map_err(|e| anyhow!(explain(&e)))
}

/// The event to admit to: `given`, else the one `dir`'s snapshot was
/// fetched for; refused when there is neither.
pub fn event_for(dir: &Path, given: Option<&str>) -> Result<String> {
    if let Some(event) = given {
        check_name("event", event, EVENT_MAX_BYTES)?;
        return Ok(event.to_owned());
    }
    let path = dir.join(EVENT_FILE);
    let bytes = read_bounded(&path, EVENT_FILE_MAX_BYTES)
        .map_err(|e| anyhow!(explain(&e)))?
        .ok_or_else(|| {
            anyhow!(
                "no event: {} holds no snapshot yet; fetch one with \
                 `scangate scanner snapshot --event E --offline-dir {}` (or give `scan` --event E)",
                dir.display(),
                dir.display()
            )
        })?;
    let event = std::str::from_utf8(&bytes)
        .ok()
        .map(|s| s.strip_suffix('\n').unwrap_or(s))
        .filter(|s| check_name("event", s, EVENT_MAX_BYTES).is_ok())
        .ok_or_else(|| {
            anyhow!(
                "{} does not name an event; remove it and fetch the snapshot again",
                path.display()
            )
        })?;
    Ok(event.to_owned())
}

/// Records that `dir`'s snapshot is of `event` (replacing the file whole).
pub fn remember_event(dir: &Path, event: &str) -> Result<()> {
    write_atomic(dir, EVENT_FILE, format!("{event}\n").as_bytes())
        .map_err(|e| anyhow!(explain(&e)))
        .with_context(|| format!("cannot record the event in {}", dir.display()))
}

/// Bytes of the signed snapshot and deltas held in `dir` (0 for a file
/// that is not there).
pub fn held_bytes(dir: &Path) -> u64 {
    use scangate_client::offline::files::{DELTAS_FILE, SNAPSHOT_FILE};
    [SNAPSHOT_FILE, DELTAS_FILE]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_comes_from_the_flag_or_the_file_and_a_bad_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let none = event_for(dir.path(), None).expect_err("neither");
        assert!(none.to_string().contains("holds no snapshot yet"), "{none}");
        remember_event(dir.path(), "fest").expect("write");
        assert_eq!(event_for(dir.path(), None).expect("file"), "fest");
        assert_eq!(event_for(dir.path(), Some("expo")).expect("flag"), "expo");
        assert!(event_for(dir.path(), Some("bad\nname")).is_err());
        std::fs::write(dir.path().join(EVENT_FILE), "a\u{1b}[2J\n").expect("write");
        let bad = event_for(dir.path(), None).expect_err("control characters");
        assert!(bad.to_string().contains("does not name an event"), "{bad}");
        std::fs::write(dir.path().join(EVENT_FILE), vec![b'e'; 200]).expect("write");
        assert!(event_for(dir.path(), None).is_err(), "over its bound");
    }
}
