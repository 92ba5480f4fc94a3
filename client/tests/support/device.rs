//! A device for the offline tests: a PKI in a temp dir, fast deadlines,
//! and an `OfflineScanner` whose state lives in `DIR/device`.

use super::gateway::{EVENT, FakeGateway, now_ms};
use super::scanner_config;
use scangate_certs::Pki;
use scangate_client::offline::files::SNAPSHOT_FILE;
use scangate_client::queue::QUEUE_FILE;
use scangate_client::{ModeConfig, OfflineConfig, OfflineScanner, ScannerConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temp dir and a PKI in it.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub pki: Pki,
}

pub fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::open(&dir.path().join("pki"));
    pki.init(&[]).expect("pki init");
    Env { dir, pki }
}

impl Env {
    /// The device's state directory.
    pub fn device(&self) -> PathBuf {
        self.dir.path().join("device")
    }

    /// A device scanner for the gateway at `addr` (nothing is connected yet).
    pub fn open(&self, addr: SocketAddr) -> OfflineScanner {
        OfflineScanner::open(
            fast(&self.pki, "lane", addr),
            offline_config(self.dir.path()),
            None,
        )
        .expect("open the device")
    }

    /// Opens a device that pins `gw`'s key and fetches its snapshot, then
    /// closes it; returns the snapshot file's bytes.
    pub async fn with_snapshot(&self, gw: &FakeGateway) -> Vec<u8> {
        let key = gw.state().signer.verifier();
        let mut s = OfflineScanner::open(
            fast(&self.pki, "lane", gw.addr),
            offline_config(self.dir.path()),
            Some(key),
        )
        .expect("open");
        s.refresh(now_ms()).await.expect("refresh");
        s.close().await;
        std::fs::read(self.device().join(SNAPSHOT_FILE)).expect("snapshot file")
    }

    /// The queue file's bytes.
    pub fn queue_bytes(&self) -> Vec<u8> {
        std::fs::read(self.device().join(QUEUE_FILE)).expect("queue file")
    }
}

/// Short deadlines, so an outage shows within a second; a new device
/// certificate each time (the PKI issues a name once).
pub fn fast(pki: &Pki, name: &str, addr: SocketAddr) -> ScannerConfig {
    static ISSUED: AtomicUsize = AtomicUsize::new(0);
    let n = ISSUED.fetch_add(1, Ordering::Relaxed);
    let mut config = scanner_config(pki, &format!("{name}-{}-{n}", std::process::id()), addr);
    config.request_timeout_ms = 300;
    config.connect_timeout_ms = 300;
    config.attempts = 1;
    config
}

/// The device's config: state in `DIR/device`, a probe every 200 ms.
pub fn offline_config(dir: &Path) -> OfflineConfig {
    let mut config = OfflineConfig::new(dir.join("device"), EVENT);
    config.mode = ModeConfig {
        probe_interval_ms: 200,
        // Slowness is not what these tests are about.
        slow_answer_ms: 10_000,
        ..ModeConfig::default()
    };
    config
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
