//! Offline-capable scanners for end-to-end tests: device configs from the
//! gateway's PKI, the gateway's public snapshot key from its data dir, and
//! lanes: one SDK `OfflineScanner` each, admitting from a shared list of
//! tokens at a fixed pace and recording every decision it showed.

pub mod records;

use scangate_client::{Mode, OfflineScanner, ScanInput, ScannerConfig};
use scangate_core::Reason;
use scangate_core::offline::SnapshotVerifier;
use scangate_core::offline::key::KEY_BYTES;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A scanner config for `device` at the gateway on `addr`, its certificate
/// issued by the gateway's CA in `dir` (or reused if issued before).
pub fn device_config(dir: &Path, addr: SocketAddr, device: &str) -> ScannerConfig {
    let pki = scangate_certs::Pki::open(&dir.join("pki"));
    let files = pki.scanner_files(device).expect("scanner name");
    if !files.cert.exists() {
        pki.issue_scanner(device).expect("issue scanner cert");
    }
    ScannerConfig::from_files(addr, &pki.ca_cert_path(), &files.cert, &files.key)
        .expect("scanner config")
}

/// The public snapshot key the gateway wrote in `dir` for operators and
/// devices (what a device pins).
pub fn snapshot_key(dir: &Path) -> SnapshotVerifier {
    let text = std::fs::read_to_string(dir.join("offline-signing-key.pub")).expect("pub file");
    let bytes = data_encoding::HEXLOWER
        .decode(text.trim().as_bytes())
        .expect("hex");
    let bytes = <[u8; KEY_BYTES]>::try_from(bytes.as_slice()).expect("32 bytes");
    SnapshotVerifier::from_bytes(&bytes).expect("an Ed25519 key")
}

/// One decision a lane showed at its gate.
#[derive(Debug, Clone)]
pub struct Shown {
    /// Which token of [`Load::tokens`] was scanned.
    pub token: usize,
    /// The scan id (drawn by the SDK; the same online and offline).
    pub scan_id: String,
    /// `None`: granted; else the denial's reason.
    pub denied: Option<Reason>,
    /// Who decided: the gateway or the device.
    pub mode: Mode,
    /// When the scan was asked for.
    pub started: Instant,
    /// When its decision came back.
    pub at: Instant,
}

impl Shown {
    /// Whether the person was let in.
    pub fn granted(&self) -> bool {
        self.denied.is_none()
    }
}

/// What one lane did, as the test watches it.
#[derive(Debug, Default, Clone)]
pub struct LaneLog {
    /// Every decision shown, oldest first.
    pub shown: Vec<Shown>,
    /// Each change of the scanner's mode, after the scan that caused it.
    pub switches: Vec<(Instant, Mode)>,
    /// Offline grants waiting in the lane's queue after its last step.
    pub pending: usize,
    /// Scans the SDK answered with an error instead of a decision.
    pub errors: Vec<String>,
    /// Syncs that failed: when each started, and why.
    pub sync_failures: Vec<(Instant, String)>,
    /// Queued scans the gateway acknowledged, over every sync.
    pub uploaded: usize,
    /// Queued scans the gateway refused for good, over every sync.
    pub dropped: usize,
}

impl LaneLog {
    /// The lane's mode after its last step (online before its first).
    pub fn mode(&self) -> Mode {
        self.switches.last().map_or(Mode::Online, |(_, m)| *m)
    }

    /// Decisions made by `mode`.
    pub fn count(&self, mode: Mode) -> usize {
        self.shown.iter().filter(|s| s.mode == mode).count()
    }

    /// Decisions made by `mode` that were asked for after `since`.
    pub fn count_since(&self, mode: Mode, since: Instant) -> usize {
        self.shown
            .iter()
            .filter(|s| s.mode == mode && s.started > since)
            .count()
    }
}

/// What every lane did, one log per lane.
pub type Board = Vec<LaneLog>;

/// The shared offered load: tokens taken in a fixed (shuffled) order by
/// whichever lane is next, at `pace` per lane.
pub struct Load {
    /// The tokens, by index.
    pub tokens: Vec<String>,
    /// The order they are scanned in; lanes stop at its end.
    pub order: Vec<usize>,
    /// Between the starts of two scans of one lane (offered load).
    pub pace: Duration,
    next: AtomicUsize,
    stop: AtomicBool,
}

impl Load {
    /// A load over `tokens` in `order`, one scan per lane every `pace`.
    pub fn new(tokens: Vec<String>, order: Vec<usize>, pace: Duration) -> Arc<Load> {
        Arc::new(Load {
            tokens,
            order,
            pace,
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        })
    }

    /// Tells every lane to stop after its current step.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// The next token to scan; `None` once stopped or at the end.
    fn take(&self) -> Option<usize> {
        if self.stop.load(Ordering::Acquire) {
            return None;
        }
        let at = self.next.fetch_add(1, Ordering::Relaxed);
        self.order.get(at).copied()
    }
}

/// Runs lane `lane` of `board` until the load stops: scans the next
/// token at its gate, records what it showed, and while online uploads
/// whatever its queue holds (as a scanner app does between two people).
pub fn spawn_lane(
    lane: usize,
    mut scanner: OfflineScanner,
    gate: String,
    load: Arc<Load>,
    board: watch::Sender<Board>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut pace = tokio::time::interval(load.pace);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            pace.tick().await;
            let Some(token) = load.take() else { break };
            scan_one(lane, &mut scanner, &gate, &load, token, &board).await;
            if scanner.mode() == Mode::Online && !scanner.queue().is_empty() {
                sync(lane, &mut scanner, &board).await;
            }
        }
        scanner.close().await;
    })
}

/// One scan, recorded on the board.
async fn scan_one(
    lane: usize,
    scanner: &mut OfflineScanner,
    gate: &str,
    load: &Load,
    token: usize,
    board: &watch::Sender<Board>,
) {
    let input = ScanInput {
        token: load.tokens[token].clone(),
        gate: gate.to_owned(),
        event: None,
        scan_id: None,
    };
    let started = Instant::now();
    let result = scanner.scan(input, scangate_gateway::now_ms()).await;
    let at = Instant::now();
    let (mode, pending) = (scanner.mode(), scanner.queue().len());
    board.send_modify(|b| {
        let log = &mut b[lane];
        match result {
            Ok(decided) => log.shown.push(Shown {
                token,
                scan_id: decided.reply.scan_id.to_string(),
                denied: decided.reply.decision.reason(),
                mode: decided.mode,
                started,
                at,
            }),
            Err(e) => log.errors.push(e.to_string()),
        }
        if log.mode() != mode {
            log.switches.push((at, mode));
        }
        log.pending = pending;
    });
}

/// Uploads the lane's queue once, recorded on the board.
async fn sync(lane: usize, scanner: &mut OfflineScanner, board: &watch::Sender<Board>) {
    let started = Instant::now();
    let result = scanner.sync(scangate_gateway::now_ms()).await;
    let pending = scanner.queue().len();
    board.send_modify(|b| {
        let log = &mut b[lane];
        match result {
            Ok(report) => {
                log.uploaded += report.uploaded;
                log.dropped += report.dropped;
                if let Some(Err(e)) = report.refresh {
                    log.sync_failures.push((started, format!("refresh: {e}")));
                }
            }
            Err(e) => log.sync_failures.push((started, e.to_string())),
        }
        log.pending = pending;
    });
}

/// Waits until what the lanes did passes `ok`, at most `deadline`; panics
/// naming `what` otherwise.
pub async fn wait_for(
    board: &watch::Receiver<Board>,
    what: &str,
    deadline: Duration,
    ok: impl FnMut(&Board) -> bool,
) {
    let mut board = board.clone();
    tokio::time::timeout(deadline, board.wait_for(ok))
        .await
        .unwrap_or_else(|_| panic!("not within {deadline:?}: {what}"))
        .expect("the lanes hold the sender");
}
