//! For the offline CLI tests: a scanner played by the real `scangate`
//! binary on an offline dir, every run kept so a test can check that no
//! output ever held a token; the gateway's snapshot key; what a device
//! queued; and a snapshot signed with a gateway's own key that has expired.

use crate::common::bin;
use scangate_client::offline::files::read_key_file;
use scangate_client::{OfflineQueue, QueueLimits};
use scangate_core::offline::messages::OfflineScan;
use scangate_core::offline::{SnapshotMeta, SnapshotSigner, SnapshotVerifier, build};
use scangate_core::pass::Pass;
use serde_json::Value;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One `scangate` run: its exit code, what it printed, how long it took.
#[derive(Debug, Clone)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Ran {
    /// Its stdout as the one JSON object it must be.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {self:?}"))
    }
}

/// A scanner device: the gateway's data dir (PKI, `gateway.json`) and the
/// device's offline dir, with every run it made.
pub struct Lane {
    pub data: PathBuf,
    pub dir: PathBuf,
    runs: RefCell<Vec<Ran>>,
}

impl Lane {
    pub fn new(data: &Path, dir: &Path) -> Lane {
        Lane {
            data: data.to_owned(),
            dir: dir.to_owned(),
            runs: RefCell::new(Vec::new()),
        }
    }

    /// `scangate ARGS --offline-dir DIR --data-dir DATA`, whatever its exit.
    pub fn run(&self, args: &[&str]) -> Ran {
        let started = Instant::now();
        let out = Command::new(bin())
            .args(args)
            .arg("--offline-dir")
            .arg(&self.dir)
            .arg("--data-dir")
            .arg(&self.data)
            .env_remove("SCANGATE_LOG")
            .env_remove("SCANGATE_GATEWAY")
            .output()
            .expect("run scangate");
        let ran = Ran {
            code: out.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(out.stdout).expect("utf-8"),
            stderr: String::from_utf8(out.stderr).expect("utf-8"),
            took: started.elapsed(),
        };
        self.runs.borrow_mut().push(ran.clone());
        ran
    }

    /// `scangate scan TOKEN --gate A --json EXTRA...`.
    pub fn scan(&self, token: &str, extra: &[&str]) -> Ran {
        let mut args = vec!["scan", token, "--gate", "A", "--json"];
        args.extend(extra);
        self.run(&args)
    }

    /// Offline scans waiting in the device's queue.
    pub fn queued(&self) -> usize {
        OfflineQueue::<OfflineScan>::open(&self.dir, QueueLimits::default())
            .expect("open the queue")
            .len()
    }

    /// The held snapshot's file.
    pub fn snapshot_file(&self) -> PathBuf {
        self.dir
            .join(scangate_client::offline::files::SNAPSHOT_FILE)
    }

    /// No run printed any of `tokens` in full, on stdout or stderr.
    pub fn assert_never_printed(&self, tokens: &[&str]) {
        let runs = self.runs.borrow();
        assert!(!runs.is_empty());
        for ran in runs.iter() {
            for token in tokens {
                assert!(
                    !ran.stdout.contains(token) && !ran.stderr.contains(token),
                    "a token in full in {ran:?}"
                );
            }
        }
    }
}

/// The gateway's public snapshot key, from `DATA/offline-signing-key.pub`.
pub fn gateway_key(data: &Path) -> SnapshotVerifier {
    read_key_file(&data.join("offline-signing-key.pub"))
        .expect("a key file")
        .expect("present")
}

/// A snapshot of `event` (no passes) signed with the gateway's own key
/// (its seed, `DATA/offline-signing-key`), made two hours ago and expired
/// an hour ago: what a device holds after a day without a refresh. Its
/// bytes and its expiry.
pub fn expired_snapshot(data: &Path, event: &str) -> (Vec<u8>, i64) {
    let seed = std::fs::read(data.join("offline-signing-key")).expect("seed");
    let signer = SnapshotSigner::from_seed(seed.try_into().expect("32 bytes"));
    let now = scangate_gateway::now_ms();
    let meta = SnapshotMeta {
        event: event.to_owned(),
        version: u64::try_from(now - 7_200_000).expect("positive"),
        created_ms: now - 7_200_000,
        expires_ms: now - 3_600_000,
    };
    let snapshot = build(
        &meta,
        std::iter::empty::<&Pass>(),
        |_| Vec::<String>::new(),
        None,
    )
    .expect("build");
    (snapshot.to_signed_bytes(&signer), meta.expires_ms)
}
