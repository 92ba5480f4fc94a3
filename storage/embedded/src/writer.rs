//! The writer thread: the only code that writes to the database. It takes a
//! command, gathers more until the batch is full or the wait is over, logs
//! them with one `fdatasync`, answers them and hands them to the folder
//! thread (see `fold`), starts a new redo segment when one is full (the
//! folder checkpoints the full one), and between batches forgets old scan
//! ids.

use super::apply::{Batch, Command};
use super::config::CLOSE_FLUSH_LIMIT;
use super::fold::{Fold, Lag};
use super::layout::{Tables, backend};
use super::progress::Progress;
use super::redo::RedoLog;
use super::writer_state::{Pending, StateCache, WriterState};
use scangate_storage::StoreError;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// What the writer needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_batch: usize,
    /// Most bytes of redo record per batch (a larger command goes alone).
    pub max_batch_bytes: usize,
    /// How long to wait for more commands when the last batch was loaded.
    pub max_wait: Duration,
    /// Commands in a batch that mean "under load": the next batch waits
    /// up to `max_wait` for more.
    pub loaded_batch: usize,
    /// Scan-id retention in milliseconds; `None`: no sweep.
    pub retention_ms: Option<i64>,
    pub sweep_interval: Duration,
    pub purge_max: usize,
}

/// Runs until the store closes (a `Close` command) or is dropped (every
/// sender gone). Everything received before either is committed; a clean
/// stop checkpoints, so the next open has nothing to replay. `folds` is the
/// fold thread's queue and handle (started by the store's `open`, so a
/// failure to start it fails the open); the writer joins it before it ends.
pub fn run(
    tables: Tables,
    log: RedoLog,
    progress: Arc<Progress>,
    (folds, folder): (SyncSender<Fold>, JoinHandle<()>),
    rx: Receiver<Command>,
    settings: Settings,
    seq: u64,
) {
    let mut w = WriterState {
        tables,
        cache: StateCache::default(),
        pending: Pending::default(),
        log,
        folds,
        lag: Lag::default(),
        logged: progress.folded(),
        erased: false,
        erased_in_clear: false,
        progress,
    };
    take_commands(&mut w, &rx, &settings, seq);
    // The folder checkpoints the last segment before it ends, and the writer
    // joins it: a clean stop leaves nothing to replay.
    if let Err(e) = w.rotate() {
        tracing::error!(error = %e, "no checkpoint at close; the next start replays the redo log");
    }
    let (tables, progress) = (w.tables.clone(), Arc::clone(&w.progress));
    let erased = Erased {
        keys: w.erased,
        records: w.erased_in_clear,
    };
    drop(w);
    if folder.join().is_err() {
        tracing::error!("the store's fold thread panicked");
    } else if progress.failure().is_none() {
        flush_at_close(&tables, erased);
    }
    tracing::debug!("store writer stopped");
}

/// Writes fjall's memtables out, so that the next start does not replay
/// their journal (seconds after heavy writing). Skipped once the store has
/// failed (a disk that could not take a write): the next start replays.
///
/// Runs on a thread of its own, waited for at most [`CLOSE_FLUSH_LIMIT`]:
/// asking fjall for a flush is a blocking send into its workers' bounded
/// queue, which never returns if every worker is stuck; the close then ends
/// anyway (the thread, and with it fjall's database, is left to the
/// process's exit) and the next start replays fjall's journal.
fn flush_at_close(tables: &Tables, erased: Erased) {
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let flushing = tables.clone();
    let spawned = std::thread::Builder::new()
        .name("scangate-store-flush".into())
        .spawn(move || {
            let flushed = flushing.flush_memtables(CLOSE_FLUSH_LIMIT);
            let flushed = match flushed {
                Ok(true) => compact_erased(&flushing, erased).map(|()| true),
                other => other,
            };
            let _ = tx.send(flushed);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the close-time flush; the next start replays fjall's journal");
        return;
    }
    let not_flushed =
        "store tables not flushed within the limit; the next start replays fjall's journal";
    match rx.recv_timeout(CLOSE_FLUSH_LIMIT) {
        Ok(Ok(true)) => tracing::info!(took = ?started.elapsed(), "store tables flushed at close"),
        Ok(Ok(false)) => tracing::warn!(limit = ?CLOSE_FLUSH_LIMIT, "{not_flushed}"),
        Err(_) => tracing::warn!(
            limit = ?CLOSE_FLUSH_LIMIT,
            "{not_flushed} (fjall did not even take the flush request: its threads are stuck or starved)"
        ),
        Ok(Err(e)) => tracing::warn!(
            error = %e,
            "cannot flush the store tables at close; the next start replays fjall's journal"
        ),
    }
}

/// What was erased since the store opened (see [`WriterState::erased`]).
#[derive(Clone, Copy)]
struct Erased {
    keys: bool,
    records: bool,
}

/// After an erase, rewrites the keyspaces that held the erased bytes in one
/// major compaction each, once their memtables are on disk, so that an
/// erased pass's key (and a pre-sealing record's clear fields) is in no
/// table file any more. `pass_keys` and `personal` are small (tens of
/// bytes per pass); `passes` is compacted only after erasing a record
/// written before sealing.
fn compact_erased(tables: &Tables, erased: Erased) -> Result<(), StoreError> {
    if !erased.keys {
        return Ok(());
    }
    tables.pass_keys.major_compact().map_err(backend)?;
    tables.personal.major_compact().map_err(backend)?;
    if erased.records {
        tables.passes.major_compact().map_err(backend)?;
    }
    tracing::info!("erased personal data compacted out of the store's tables");
    Ok(())
}

fn take_commands(w: &mut WriterState, rx: &Receiver<Command>, settings: &Settings, mut seq: u64) {
    let mut next_sweep = Instant::now() + settings.sweep_interval;
    // Whether the last batch carried at least `loaded_batch` commands.
    let mut loaded = false;
    loop {
        let wait = next_sweep.saturating_duration_since(Instant::now());
        let first = match rx.recv_timeout(wait) {
            Ok(command) => command,
            Err(RecvTimeoutError::Timeout) => {
                next_sweep = sweep(w, settings, &mut seq);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = Batch::new(w, seq, settings.max_batch);
        let mut stop = matches!(first, Command::Close { .. });
        batch.add(first);
        if !stop {
            stop = gather(rx, &mut batch, settings, loaded);
        }
        loaded = batch.len() >= settings.loaded_batch;
        seq = commit(batch, seq);
        if stop {
            break;
        }
        if w.log.rotation_due()
            && let Err(e) = w.rotate()
        {
            tracing::error!(error = %e, "cannot start a new redo segment; retrying after the next batch");
        }
        if Instant::now() >= next_sweep {
            next_sweep = sweep(w, settings, &mut seq);
        }
    }
    // Any command queued after a close is dropped with `rx` (by the caller),
    // which answers its sender `Closed`.
}

/// Adds queued commands until the batch is full (in commands or bytes) or,
/// when the batch before was `loaded`, `max_wait` has passed without it
/// filling (otherwise only what is queued already). Returns true when the
/// writer must stop after this batch (a `Close` was taken, or every sender
/// is gone).
fn gather(
    rx: &Receiver<Command>,
    batch: &mut Batch<'_>,
    settings: &Settings,
    loaded: bool,
) -> bool {
    let window = if loaded {
        settings.max_wait
    } else {
        Duration::ZERO
    };
    let deadline = Instant::now() + window;
    while batch.len() < settings.max_batch && batch.bytes() < settings.max_batch_bytes {
        let next = match rx.try_recv() {
            Ok(command) => command,
            Err(TryRecvError::Disconnected) => return true,
            Err(TryRecvError::Empty) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                match rx.recv_timeout(left) {
                    Ok(command) => command,
                    Err(RecvTimeoutError::Timeout) => return false,
                    Err(RecvTimeoutError::Disconnected) => return true,
                }
            }
        };
        let close = matches!(next, Command::Close { .. });
        batch.add(next);
        if close {
            return true;
        }
    }
    false
}

/// Commits a batch and records its metrics before answering its commands
/// (so a sender that has its answer also finds the commit counted); returns
/// the next free sequence number (unchanged if the batch failed: nothing of
/// it was written).
fn commit(batch: Batch<'_>, seq: u64) -> u64 {
    let size = batch.len();
    metrics::counter!("scangate_store_reads_total", "op" => "commit_check").increment(batch.reads);
    let started = Instant::now();
    let logged = batch.log();
    if logged.synced() {
        // Only batches that wrote a record: a sweep with nothing to forget
        // syncs nothing and is no commit.
        metrics::counter!("scangate_store_commits_total").increment(1);
        metrics::histogram!("scangate_store_batch_size").record(size as f64);
        metrics::histogram!("scangate_store_commit_seconds")
            .record(started.elapsed().as_secs_f64());
    } else if !logged.is_durable() {
        metrics::counter!("scangate_store_commit_failures_total").increment(1);
    }
    logged.answer().unwrap_or_else(|e| {
        tracing::error!(error = %e, commands = size, "group commit failed; every command in it was answered with the error");
        seq
    })
}

/// Forgets one bounded chunk of expired scan ids. Returns when to sweep next:
/// at once if the chunk was full (more are waiting), else one interval on.
fn sweep(w: &mut WriterState, settings: &Settings, seq: &mut u64) -> Instant {
    let later = Instant::now() + settings.sweep_interval;
    let Some(retention_ms) = settings.retention_ms else {
        return later;
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let (tx, mut rx) = oneshot::channel();
    let mut batch = Batch::new(w, *seq, 1);
    batch.add(Command::Purge {
        before_ms: now_ms.saturating_sub(retention_ms),
        max: settings.purge_max,
        reply: Some(tx),
    });
    *seq = commit(batch, *seq);
    match rx.try_recv() {
        Ok(Ok(n)) => {
            if n > 0 {
                tracing::debug!(forgotten = n, "scan-id sweep");
            }
            if n as usize >= settings.purge_max {
                return Instant::now();
            }
            later
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "scan-id sweep failed");
            later
        }
        Err(_) => later,
    }
}

#[cfg(test)]
mod gather_tests {
    use super::*;
    use scangate_core::Decision;
    use scangate_storage::conformance::{new_pass, now_ms, scan};
    use std::sync::mpsc::sync_channel;

    fn settings(max_batch_bytes: usize, max_wait: Duration) -> Settings {
        Settings {
            max_batch: 256,
            max_batch_bytes,
            max_wait,
            loaded_batch: 8,
            retention_ms: None,
            sweep_interval: Duration::from_secs(60),
            purge_max: 16,
        }
    }

    /// A writer over a fresh store holding one unlimited pass, and grants
    /// of that pass as commands.
    fn writer() -> (tempfile::TempDir, WriterState, impl FnMut() -> Command) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = fjall::Database::builder(dir.path()).open().expect("db");
        let tables = Tables::open(db).expect("tables");
        let (mut w, _folds) = WriterState::unfolded(dir.path(), tables);
        let pass = new_pass(None);
        let mut batch = Batch::new(&mut w, 0, 1);
        batch.add(Command::Insert {
            passes: vec![pass.clone()],
            reply: oneshot::channel().0,
        });
        batch.log().answer().expect("commit");
        let mut uses = 0;
        let grant = move || {
            uses += 1;
            Command::Scan {
                record: Box::new(scan(pass.id, Decision::Granted, uses, now_ms())),
                reply: oneshot::channel().0,
            }
        };
        (dir, w, grant)
    }

    #[test]
    fn a_batch_takes_no_more_commands_once_it_holds_its_bytes() {
        let (_dir, mut w, mut grant) = writer();
        let (tx, rx) = sync_channel(8);
        for _ in 0..3 {
            tx.send(grant()).expect("queue");
        }
        let mut batch = Batch::new(&mut w, 0, 8);
        batch.add(rx.recv().expect("first"));
        assert!(batch.bytes() > 1);
        assert!(!gather(&rx, &mut batch, &settings(1, Duration::ZERO), true));
        assert_eq!(batch.len(), 1, "one command already passes 1 byte");
        assert_eq!(rx.try_iter().count(), 2, "the rest wait for the next batch");
    }

    #[test]
    fn only_a_loaded_writer_waits_for_more() {
        let (_dir, mut w, mut grant) = writer();
        let (tx, rx) = sync_channel(8);
        tx.send(grant()).expect("queue");
        tx.send(grant()).expect("queue");
        // Not loaded: what is queued, and no wait, however long the window.
        let long = settings(1 << 20, Duration::from_secs(30));
        let mut batch = Batch::new(&mut w, 0, 8);
        batch.add(rx.recv().expect("first"));
        let started = Instant::now();
        assert!(!gather(&rx, &mut batch, &long, false));
        assert_eq!(batch.len(), 2);
        assert!(started.elapsed() < Duration::from_secs(10), "no window");
        batch.log().answer().expect("commit");
        // Loaded: the window is waited out when nothing more comes.
        tx.send(grant()).expect("queue");
        let window = Duration::from_millis(20);
        let mut batch = Batch::new(&mut w, 1, 8);
        batch.add(rx.recv().expect("first"));
        let started = Instant::now();
        assert!(!gather(&rx, &mut batch, &settings(1 << 20, window), true));
        assert!(started.elapsed() >= window, "waited for more");
        assert_eq!(batch.len(), 1);
    }
}
